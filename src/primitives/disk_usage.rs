//! Is a drive in use? Asked of every source a real node has, because each one alone misses
//! cases: an LVM volume is mounted as /dev/mapper/..., swap and RAID members are not
//! mounted at all, a partition under another name escapes a match on /proc/mounts.

use rhai::{Array, Dynamic, Map};

use super::disk::mounts;
use super::{probe, read};
use crate::cluster::host::Host;
use crate::failure::Failure;
use crate::run::context::RunContext;

/// One finding of why a device is in use: `kind` is mounted, swap, lvm, raid, holder,
/// partition or signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Use {
    pub kind: &'static str,
    pub reason: String,
}

/// Whether `name` is `dev` or one of its partitions (`/dev/sdd1`, `/dev/nvme0n1p1`), not a
/// sibling whose name merely starts the same (`/dev/sdda`).
fn on_device(name: &str, dev: &str) -> bool {
    match name.strip_prefix(dev) {
        Some("") => true,
        Some(rest) => {
            let rest = rest.strip_prefix('p').unwrap_or(rest);
            !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// `lsblk -P` output (util-linux lsblk(8) `--pairs`: `KEY="value"` per column, one device a
/// line) → one map of column → value per line.
pub fn parse_lsblk_pairs(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut row = std::collections::BTreeMap::new();
            let mut rest = line.trim();
            while let Some((key, after)) = rest.split_once("=\"") {
                let Some((value, next)) = after.split_once('"') else {
                    break;
                };
                row.insert(key.trim().to_string(), value.to_string());
                rest = next.trim_start();
            }
            row
        })
        .collect()
}

/// What lsblk shows on and under a device.
fn lsblk_uses(text: &str) -> Vec<Use> {
    let mut uses = Vec::new();
    for (i, row) in parse_lsblk_pairs(text).iter().enumerate() {
        let get = |k: &str| row.get(k).map(String::as_str).unwrap_or("");
        let (name, kind, fstype, mountpoint) =
            (get("NAME"), get("TYPE"), get("FSTYPE"), get("MOUNTPOINT"));
        if mountpoint == "[SWAP]" {
            uses.push(Use {
                kind: "swap",
                reason: format!("{name} is active swap"),
            });
        } else if !mountpoint.is_empty() {
            uses.push(Use {
                kind: "mounted",
                reason: format!("{name} is mounted on {mountpoint}"),
            });
        }
        match fstype {
            "" => {}
            "LVM2_member" => uses.push(Use {
                kind: "lvm",
                reason: format!("{name} is an LVM physical volume"),
            }),
            "linux_raid_member" => uses.push(Use {
                kind: "raid",
                reason: format!("{name} is a RAID member"),
            }),
            "swap" if mountpoint != "[SWAP]" => uses.push(Use {
                kind: "signature",
                reason: format!("{name} holds a swap signature"),
            }),
            "swap" => {}
            other => uses.push(Use {
                kind: "signature",
                reason: format!(
                    "{name} holds a{} {other} file system",
                    if other.starts_with(['a', 'e', 'i', 'o', 'u', 'x']) {
                        "n"
                    } else {
                        ""
                    }
                ),
            }),
        }
        if i > 0 {
            if kind == "part" {
                uses.push(Use {
                    kind: "partition",
                    reason: format!("it has partition {name}"),
                });
            } else {
                uses.push(Use {
                    kind: "holder",
                    reason: format!("{name} ({kind}) is built on it"),
                });
            }
        }
    }
    uses
}

/// Every reason `dev` is in use on the host; empty when it is free to erase.
pub fn usage(run: &RunContext, host: &Host, dev: &str) -> Result<Vec<Use>, Failure> {
    let mut uses = Vec::new();
    let lsblk = read(
        run,
        host,
        [
            "lsblk",
            "-P",
            "-p",
            "-o",
            "NAME,TYPE,FSTYPE,MOUNTPOINT",
            dev,
        ],
    )?;
    uses.extend(lsblk_uses(&lsblk.stdout));
    // /proc/swaps (proc(5)): `Filename Type Size Used Priority`, a header line first.
    let swaps = run
        .runner
        .read_file(host, "/proc/swaps")?
        .unwrap_or_default();
    for name in swaps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
    {
        if on_device(name, dev) {
            uses.push(Use {
                kind: "swap",
                reason: format!("{name} is active swap"),
            });
        }
    }
    // pvs(8) `--noheadings -o pv_name,vg_name`: `  PV VG` per line. A node without LVM
    // tools has no PVs.
    let pvs = probe(run, host, ["pvs", "--noheadings", "-o", "pv_name,vg_name"])?;
    if pvs.code == 0 {
        for line in pvs.stdout.lines() {
            let mut f = line.split_whitespace();
            if let (Some(pv), vg) = (f.next(), f.next()) {
                if on_device(pv, dev) {
                    uses.push(Use {
                        kind: "lvm",
                        reason: format!(
                            "{pv} is an LVM physical volume of volume group {}",
                            vg.unwrap_or("(none)")
                        ),
                    });
                }
            }
        }
    }
    for (source, target) in mounts(run, host)? {
        if on_device(&source, dev) {
            uses.push(Use {
                kind: "mounted",
                reason: format!("{source} is mounted on {target}"),
            });
        }
    }
    // The same fact seen by two sources is said once.
    let mut said: Vec<Use> = Vec::new();
    for u in uses {
        let same = |s: &Use| {
            s.kind == u.kind
                && s.reason.split_whitespace().next() == u.reason.split_whitespace().next()
        };
        if !said.iter().any(same) {
            said.push(u);
        }
    }
    Ok(said)
}

pub fn usage_map(dev: &str, uses: &[Use]) -> Map {
    let list: Array = uses
        .iter()
        .map(|u| {
            Dynamic::from_map(super::map([
                ("kind", u.kind.into()),
                ("reason", u.reason.clone().into()),
            ]))
        })
        .collect();
    super::map([
        ("device", dev.to_string().into()),
        ("in_use", (!uses.is_empty()).into()),
        ("uses", Dynamic::from_array(list)),
    ])
}

/// `Reserved block count` over `Block count` of `tune2fs -l` (e2fsprogs: `Name:` then the
/// value), as a whole percentage rounded up.
pub fn parse_reserved_pct(text: &str) -> Option<i64> {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().parse::<i64>().ok())?
        })
    };
    let blocks = field("Block count")?;
    let reserved = field("Reserved block count")?;
    if blocks <= 0 || reserved < 0 {
        return None;
    }
    // Rounded up, never to the nearest: `tune2fs -m 0.4` of a 1 TB disk keeps 1 GB for root
    // and must not read as 0 (nothing to fix). tune2fs cuts `blocks * ratio / 100` to a
    // whole block, so a whole ratio N reads back as N.
    Some((reserved * 100 + blocks - 1) / blocks)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lsblk_tree_names_every_use() {
        // lsblk -P -p -o NAME,TYPE,FSTYPE,MOUNTPOINT /dev/sdc on a disk holding an LVM PV.
        let uses = super::lsblk_uses("NAME=\"/dev/sdc\" TYPE=\"disk\" FSTYPE=\"LVM2_member\" MOUNTPOINT=\"\"\nNAME=\"/dev/mapper/vg-lv\" TYPE=\"lvm\" FSTYPE=\"xfs\" MOUNTPOINT=\"/srv\"\n");
        let kinds: Vec<&str> = uses.iter().map(|u| u.kind).collect();
        assert_eq!(kinds, ["lvm", "mounted", "signature", "holder"]);
        assert!(super::on_device("/dev/nvme0n1p2", "/dev/nvme0n1"));
        assert!(!super::on_device("/dev/sdda", "/dev/sdd"));
    }

    #[test]
    fn reserved_percentage_from_tune2fs_listing() {
        let text = "tune2fs 1.45.6 (20-Mar-2020)\nBlock count:              488378368\nReserved block count:     24418918\n";
        assert_eq!(super::parse_reserved_pct(text), Some(5));
        assert_eq!(super::parse_reserved_pct("nothing"), None);
        // -m 0.4 of 268435456 blocks, and a single reserved block: not 0.
        let small = "Block count:              268435456\nReserved block count:     1073741\n";
        assert_eq!(super::parse_reserved_pct(small), Some(1));
        let one = "Block count:              268435456\nReserved block count:     1\n";
        assert_eq!(super::parse_reserved_pct(one), Some(1));
        let none = "Block count:              268435456\nReserved block count:     0\n";
        assert_eq!(super::parse_reserved_pct(none), Some(0));
    }
}
