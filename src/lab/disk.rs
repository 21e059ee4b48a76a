//! Simulated disk tools: `prepare_vstorage_drive`, `blkid`, `mkdir`, `mount`, `umount`,
//! `tune2fs`. A mount refuses to go away while a chunk server or a running VE uses it.

use super::reply::Reply;
use super::state::{uuid_from, LabState, Mount, Partition};

pub fn prepare_drive(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let Some(dev) = args.iter().find(|a| !a.starts_with('-')) else {
        return Reply::fail(
            1,
            "Usage: prepare_vstorage_drive <device> [--noboot|--ssd]\n",
        );
    };
    if let Some(o) = args
        .iter()
        .find(|a| a.starts_with('-') && !matches!(a.as_str(), "--noboot" | "--ssd" | "-y"))
    {
        return Reply::fail(1, format!("prepare_vstorage_drive: unknown option {o}\n"));
    }
    state.serial += 1;
    let serial = state.serial;
    let h = state.host_mut(host);
    let mounted: Vec<String> = h.mounts.iter().map(|m| m.source.clone()).collect();
    let Some(disk) = h.disks.iter_mut().find(|d| d.device == *dev) else {
        return Reply::fail(1, format!("ERROR: {dev} is not a block device\n"));
    };
    if disk
        .partition
        .as_ref()
        .is_some_and(|p| mounted.contains(&p.device))
    {
        return Reply::fail(
            1,
            format!("ERROR: {dev} is in use (a partition of it is mounted)\n"),
        );
    }
    let part = format!("{dev}1");
    disk.partition = Some(Partition {
        device: part.clone(),
        uuid: uuid_from(&format!("fs-{host}-{dev}-{serial}")),
        fstype: "ext4".into(),
        reserved_pct: 5,
    });
    Reply::ok(format!(
        "Partitioning {dev} ...\nCreating ext4 file system on {part} ...\nDone\n"
    ))
    .takes(10.0)
}

fn partition<'a>(state: &'a LabState, host: &str, dev: &str) -> Option<&'a Partition> {
    state
        .host(host)?
        .disks
        .iter()
        .filter_map(|d| d.partition.as_ref())
        .find(|p| p.device == dev)
}

pub fn blkid(state: &LabState, host: &str, args: &[String]) -> Reply {
    let mut tag = None;
    let mut value_only = false;
    let mut devices = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-s" => tag = it.next().cloned(),
            "-o" => value_only = it.next().map(String::as_str) == Some("value"),
            o if o.starts_with('-') => {
                return Reply::fail(
                    4,
                    format!("blkid: invalid option -- '{}'\n", o.trim_start_matches('-')),
                )
            }
            d => devices.push(d.to_string()),
        }
    }
    let h = state.host(host).expect("known host");
    let all: Vec<&Partition> = h
        .disks
        .iter()
        .filter_map(|d| d.partition.as_ref())
        .collect();
    let chosen: Vec<&Partition> = if devices.is_empty() {
        all
    } else {
        devices
            .iter()
            .filter_map(|d| partition(state, host, d))
            .collect()
    };
    if chosen.is_empty() {
        // blkid exits 2 when nothing is found, printing nothing.
        return Reply::fail(2, "");
    }
    let mut out = String::new();
    for p in chosen {
        let tags = [("UUID", p.uuid.as_str()), ("TYPE", p.fstype.as_str())];
        let tags: Vec<_> = tags
            .iter()
            .filter(|(k, _)| tag.as_deref().is_none_or(|t| t == *k))
            .collect();
        if value_only {
            for (_, v) in tags {
                out.push_str(&format!("{v}\n"));
            }
        } else {
            let fields: Vec<String> = tags.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            out.push_str(&format!("{}: {}\n", p.device, fields.join(" ")));
        }
    }
    Reply::ok(out)
}

pub fn mkdir(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let parents = args.iter().any(|a| a == "-p");
    let h = state.host_mut(host);
    for path in args.iter().filter(|a| !a.starts_with('-')) {
        let path = path.trim_end_matches('/').to_string();
        if h.dirs.contains(&path) {
            if parents {
                continue;
            }
            return Reply::fail(
                1,
                format!("mkdir: cannot create directory '{path}': File exists\n"),
            );
        }
        h.dirs.push(path);
    }
    Reply::ok("")
}

/// The fstab line for a mount point: (spec, fstype).
fn fstab_entry(state: &LabState, host: &str, target: &str) -> Option<(String, String)> {
    let fstab = &state.host(host)?.files.get("/etc/fstab")?.content;
    fstab.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.len() >= 3 && !fields[0].starts_with('#') && fields[1] == target)
            .then(|| (fields[0].to_string(), fields[2].to_string()))
    })
}

pub fn mount(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let targets: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if targets.is_empty() && args.iter().any(|a| a == "-a") {
        return Reply::ok("");
    }
    let Some(target) = targets.last().map(|t| t.trim_end_matches('/').to_string()) else {
        return Reply::fail(1, "mount: bad usage\n");
    };
    let Some((spec, fstype)) = fstab_entry(state, host, &target) else {
        return Reply::fail(1, format!("mount: {target}: can't find in /etc/fstab.\n"));
    };
    let source = match spec.strip_prefix("UUID=") {
        Some(uuid) => match state
            .host(host)
            .into_iter()
            .flat_map(|h| h.disks.iter().filter_map(|d| d.partition.as_ref()))
            .find(|p| p.uuid == uuid)
        {
            Some(p) => p.device.clone(),
            None => {
                return Reply::fail(
                    32,
                    format!("mount: {target}: special device UUID={uuid} does not exist.\n"),
                )
            }
        },
        None => spec.clone(),
    };
    let h = state.host_mut(host);
    if !h.dirs.contains(&target) {
        return Reply::fail(
            32,
            format!("mount: {target}: mount point does not exist.\n"),
        );
    }
    if h.mounts.iter().any(|m| m.target == target) {
        return Reply::fail(
            32,
            format!("mount: {target}: {source} already mounted on {target}.\n"),
        );
    }
    if fstype == "fuse.vstorage" {
        h.ops.client_options = super::services::client_fstab_options(h);
    }
    h.mounts.push(Mount {
        source,
        target,
        fstype,
    });
    Reply::ok("").takes(1.0)
}

pub fn umount(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let lazy = args.iter().any(|a| a == "-l");
    let Some(target) = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .map(|t| t.trim_end_matches('/').to_string())
    else {
        return Reply::fail(1, "umount: bad usage\n");
    };
    let cluster_mount = format!("/vstorage/{}", state.cluster);
    let busy_cs = state.css.iter().any(|c| {
        c.host == host
            && (c.repo == target || c.repo.starts_with(&format!("{target}/")))
            && state
                .host(host)
                .and_then(|h| {
                    h.units
                        .get(&format!("vstorage-csd.{}.{}.service", state.cluster, c.id))
                })
                .is_some_and(|u| u.active)
    });
    let busy_ves = target == cluster_mount
        && state
            .ves
            .iter()
            .any(|v| v.host.as_deref() == Some(host) && super::state::is_up(&v.status));
    let h = state.host_mut(host);
    let Some(pos) = h
        .mounts
        .iter()
        .position(|m| m.target == target || m.source == target)
    else {
        return Reply::fail(32, format!("umount: {target}: not mounted.\n"));
    };
    if (busy_cs || busy_ves) && !lazy {
        return Reply::fail(32, format!("umount: {target}: target is busy.\n"));
    }
    if h.mounts[pos].fstype == "fuse.vstorage" {
        h.ops.client_options = None;
    }
    h.mounts.remove(pos);
    Reply::ok("")
}

pub fn tune2fs(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let pct = args
        .iter()
        .position(|a| a == "-m")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<u32>().ok());
    let Some(dev) = args.iter().rev().find(|a| a.starts_with('/')).cloned() else {
        return Reply::fail(1, "Usage: tune2fs [-m reserved_blocks_percent] device\n");
    };
    let head = "tune2fs 1.45.6 (20-Mar-2020)\n";
    let h = state.host_mut(host);
    let Some(p) = h
        .disks
        .iter_mut()
        .filter_map(|d| d.partition.as_mut())
        .find(|p| p.device == dev)
    else {
        return Reply::fail(1, format!("tune2fs: No such file or directory while trying to open {dev}\nCouldn't find valid filesystem superblock.\n")).before(head);
    };
    match pct {
        Some(n) if n <= 50 => {
            p.reserved_pct = n;
            Reply::ok(format!(
                "{head}Setting reserved blocks percentage to {n}% ({} blocks)\n",
                n as u64 * 4_882_812
            ))
        }
        _ => Reply::fail(1, "tune2fs: bad reserved block ratio\n").before(head),
    }
}
