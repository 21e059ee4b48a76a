//! `disk::` — drives and mounts for chunk servers: identify, prepare, tune, mount.
//! A drive in use is never prepared or wiped: "in use" is asked of every source a real node
//! has (lsblk's tree, /proc/swaps, pvs, /proc/mounts), because each one alone misses cases
//! (an LVM volume is mounted as /dev/mapper/..., swap and RAID members are not mounted).

use rhai::plugin::*;
use rhai::{Array, Dynamic, Map};

use super::{call, change, probe, read, validate};
use crate::api::RunContext;
use crate::cmd::Cmd;
use crate::failure::Failure;
use crate::host::Host;

pub const PREPARE_DRIVE: &str = "/usr/libexec/vstorage/prepare_vstorage_drive";

/// The mounts of the host from /proc/mounts (proc(5): source, target with octal escapes,
/// fstype, options, 0, 0): (source, target, fstype).
pub fn proc_mounts(
    run: &RunContext,
    host: &Host,
) -> Result<Vec<(String, String, String)>, Failure> {
    let text = run
        .runner
        .read_file(host, "/proc/mounts")?
        .unwrap_or_default();
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((
                f.next()?.to_string(),
                crate::edit::fstab::unescape(f.next()?),
                f.next()?.to_string(),
            ))
        })
        .collect())
}

/// The mounts of the host: (source, target).
fn mounts(run: &RunContext, host: &Host) -> Result<Vec<(String, String)>, Failure> {
    Ok(proc_mounts(run, host)?
        .into_iter()
        .map(|(source, target, _)| (source, target))
        .collect())
}

/// Removes a path with `argv` unless `test FLAG path` says it is not there (no change).
fn remove_path(
    run: &RunContext,
    host: &Host,
    path: &str,
    test_flag: &str,
    argv: &[&str],
) -> Result<bool, Failure> {
    let path = validate::abs_path("path", path)?;
    if probe(run, host, ["test", test_flag, path.as_str()])?.code != 0 {
        return Ok(run.runner.unchanged(host, format!("{path} does not exist")));
    }
    let mut full: Vec<&str> = argv.to_vec();
    full.push(&path);
    change(run, host, Cmd::change(full))?;
    Ok(true)
}

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

fn usage_map(dev: &str, uses: &[Use]) -> Map {
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
/// value), as a whole percentage rounded to nearest.
pub fn parse_reserved_pct(text: &str) -> Option<i64> {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().parse::<i64>().ok())?
        })
    };
    let blocks = field("Block count")?;
    let reserved = field("Reserved block count")?;
    if blocks <= 0 {
        return None;
    }
    Some((reserved * 100 + blocks / 2) / blocks)
}

/// `/dev/sdd1: UUID="..." TYPE="ext4"` → `#{uuid, type}` (tag names in lower case).
pub fn parse_blkid(text: &str) -> Map {
    let mut m = Map::new();
    let Some((_, tags)) = text.lines().next().and_then(|l| l.split_once(": ")) else {
        return m;
    };
    let mut rest = tags.trim();
    while let Some((key, after)) = rest.split_once("=\"") {
        let Some((value, next)) = after.split_once('"') else {
            break;
        };
        m.insert(key.trim().to_lowercase().into(), value.to_string().into());
        rest = next.trim_start();
    }
    m
}

#[export_module]
pub mod api {
    use super::*;

    /// What blkid knows of a device: `#{uuid, type, ...}`, or `#{}` when it has no file system.
    ///
    /// ```rhai
    /// let uuid = disk::blkid(h, "/dev/sdd1").uuid;
    /// ```
    #[rhai_fn(return_raw)]
    pub fn blkid(ctx: NativeCallContext, host: Host, dev: &str) -> Result<Map, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let dev = validate::device(dev)?;
            let out = probe(run, &host, ["blkid", dev.as_str()])?;
            match out.code {
                0 => Ok(parse_blkid(&out.stdout)),
                2 => Ok(Map::new()),
                _ => Err(crate::runner::command_failure(
                    &host,
                    &Cmd::read(["blkid", dev.as_str()]),
                    &out,
                )),
            }
        })
    }

    /// Why a drive is in use: `#{device, in_use, uses: [#{kind, reason}]}`; `kind` is
    /// mounted (itself or any partition or volume on it, by any name), swap, lvm (a physical
    /// volume), raid (a member), holder (something built on it), partition or signature (a
    /// file system or partition table). From lsblk, /proc/swaps, pvs and /proc/mounts.
    ///
    /// ```rhai
    /// let u = disk::usage(h, "/dev/sdd");
    /// if u.in_use { refuse(`/dev/sdd: ${u.uses.map(|x| x.reason)}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn usage(ctx: NativeCallContext, host: Host, dev: &str) -> Result<Map, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let dev = validate::device(dev)?;
            Ok(usage_map(&dev, &super::usage(run, &host, &dev)?))
        })
    }

    /// Erases the signatures of a disk or partition (`wipefs -a`). Refused (exit 3) while
    /// anything on it is mounted, swap, an LVM volume, a RAID member or holds something;
    /// a device with no signature is no change.
    ///
    /// ```rhai
    /// disk::wipe(h, "/dev/sdd1");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn wipe(ctx: NativeCallContext, host: Host, dev: &str) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let dev = validate::device(dev)?;
            let uses = super::usage(run, &host, &dev)?;
            let busy: Vec<&str> = uses
                .iter()
                .filter(|u| !matches!(u.kind, "signature" | "partition"))
                .map(|u| u.reason.as_str())
                .collect();
            if !busy.is_empty() {
                return Err(Failure::refused(format!(
                    "{dev} on {} is in use: {}; nothing was wiped",
                    host.name(),
                    busy.join("; ")
                )));
            }
            if !uses.iter().any(|u| u.kind == "signature")
                && probe(run, &host, ["blkid", dev.as_str()])?.code == 2
            {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("{dev} has no signature")));
            }
            change(run, &host, Cmd::change(["wipefs", "-a", dev.as_str()]))?;
            Ok(true)
        })
    }

    /// The reserved-blocks percentage of an ext4 file system (from `tune2fs -l`).
    ///
    /// ```rhai
    /// if disk::reserved_pct(h, "/dev/sdd1") > 0 { disk::reserved_blocks(h, "/dev/sdd1", 0); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn reserved_pct(
        ctx: NativeCallContext,
        host: Host,
        dev: &str,
    ) -> Result<i64, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let dev = validate::device(dev)?;
            let out = read(run, &host, ["tune2fs", "-l", dev.as_str()])?;
            parse_reserved_pct(&out.stdout).ok_or_else(|| {
                Failure::failed(format!(
                    "tune2fs -l {dev} on {} shows no block counts",
                    host.name()
                ))
            })
        })
    }

    /// Removes an empty directory (`rmdir`); one that does not exist is no change.
    ///
    /// ```rhai
    /// disk::rmdir(h, "/vstorage/livelinux-sdd");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn rmdir(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| remove_path(run, &host, path, "-d", &["rmdir"]))
    }

    /// Removes a file (`rm -f`); one that does not exist is no change.
    ///
    /// ```rhai
    /// disk::remove_file(h, "/var/lib/vzrun/cs-sdd.id");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn remove_file(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            remove_path(run, &host, path, "-e", &["rm", "-f"])
        })
    }

    /// Partitions and formats a drive for vstorage (`prepare_vstorage_drive DEV --noboot`).
    /// Refused (exit 3) when the drive is in use (see `disk::usage`): mounted, swap, an LVM
    /// physical volume, a RAID member, or holding any partition or signature.
    ///
    /// ```rhai
    /// disk::prepare_vstorage_drive(h, "/dev/sdd");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn prepare_vstorage_drive(
        ctx: NativeCallContext,
        host: Host,
        dev: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let dev = validate::device(dev)?;
            let uses = super::usage(run, &host, &dev)?;
            if !uses.is_empty() {
                let reasons: Vec<&str> = uses.iter().map(|u| u.reason.as_str()).collect();
                return Err(Failure::refused(format!(
                    "{dev} is in use on {}: {}; nothing was changed. Choose an empty drive, or free this one yourself once you are sure it holds nothing needed",
                    host.name(),
                    reasons.join("; ")
                )));
            }
            change(
                run,
                &host,
                Cmd::change([PREPARE_DRIVE, dev.as_str(), "--noboot"])
                    .with_timeout(std::time::Duration::from_secs(1800)),
            )?;
            Ok(true)
        })
    }

    /// Sets the reserved-blocks percentage of an ext4 file system (`tune2fs -m`); 0 for CS
    /// drives.
    ///
    /// ```rhai
    /// disk::reserved_blocks(h, "/dev/sdd1", 0);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn reserved_blocks(
        ctx: NativeCallContext,
        host: Host,
        dev: &str,
        pct: i64,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let dev = validate::device(dev)?;
            if !(0..=50).contains(&pct) {
                return Err(Failure::bad_input("pct", format!("{pct} is outside 0-50")));
            }
            let listed = probe(run, &host, ["tune2fs", "-l", dev.as_str()])?;
            if listed.code == 0 && parse_reserved_pct(&listed.stdout) == Some(pct) {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("{dev} already reserves {pct}%")));
            }
            change(
                run,
                &host,
                Cmd::change(["tune2fs".to_string(), "-m".into(), pct.to_string(), dev]),
            )?;
            Ok(true)
        })
    }

    /// Mounts a mount point listed in /etc/fstab, unless mounted.
    ///
    /// ```rhai
    /// disk::mount(h, "/vstorage/livelinux-cs3");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn mount(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let path = validate::abs_path("path", path)?;
            if mounts(run, &host)?.iter().any(|(_, t)| *t == path) {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("{path} is already mounted")));
            }
            change(run, &host, Cmd::change(["mount", path.as_str()]))?;
            Ok(true)
        })
    }

    /// Unmounts a mount point, unless not mounted.
    ///
    /// ```rhai
    /// disk::umount(h, "/vstorage/livelinux-cs3");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn umount(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| umount_with(run, &host, path, false))
    }

    /// `umount` with options: `lazy` (`umount -l`: detach now, clean up when no longer busy).
    ///
    /// ```rhai
    /// disk::umount(h, "/vstorage/livelinux", #{lazy: true});
    /// ```
    #[rhai_fn(name = "umount", return_raw)]
    pub fn umount_opts(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
        options: Map,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let mut opts = crate::api::OptionMap::new("disk::umount", options);
            let lazy = opts.bool("lazy")?.unwrap_or(false);
            opts.finish()?;
            umount_with(run, &host, path, lazy)
        })
    }

    /// Creates a directory (and its parents), unless it exists.
    ///
    /// ```rhai
    /// disk::mkdir(h, "/vstorage/livelinux-cs3");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn mkdir(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let path = validate::abs_path("path", path)?;
            if probe(run, &host, ["test", "-d", path.as_str()])?.code == 0 {
                return Ok(run.runner.unchanged(&host, format!("{path} exists")));
            }
            change(run, &host, Cmd::change(["mkdir", "-p", path.as_str()]))?;
            Ok(true)
        })
    }
}

fn umount_with(run: &RunContext, host: &Host, path: &str, lazy: bool) -> Result<bool, Failure> {
    let path = validate::abs_path("path", path)?;
    if !mounts(run, host)?.iter().any(|(_, t)| *t == path) {
        return Ok(run.runner.unchanged(host, format!("{path} is not mounted")));
    }
    let mut argv = vec!["umount"];
    if lazy {
        argv.push("-l");
    }
    argv.push(&path);
    change(run, host, Cmd::change(argv))?;
    Ok(true)
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
    }

    #[test]
    fn blkid_tags() {
        let m = super::parse_blkid(
            "/dev/sdd1: UUID=\"0b6e-11\" BLOCK_SIZE=\"4096\" TYPE=\"ext4\" PARTUUID=\"x-01\"\n",
        );
        assert_eq!(m["uuid"].to_string(), "0b6e-11");
        assert_eq!(m["type"].to_string(), "ext4");
        assert_eq!(m["partuuid"].to_string(), "x-01");
        assert!(super::parse_blkid("").is_empty());
    }
}
