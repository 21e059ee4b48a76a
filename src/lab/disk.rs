//! Simulated disk tools: `prepare_vstorage_drive`, `blkid`, `lsblk`, `pvs`, `wipefs`,
//! `mkdir`, `rmdir`, `mount`, `umount`, `tune2fs`. A mount refuses to go away while a chunk
//! server or a running VE uses it. Disks can be LVM physical volumes, RAID members, swap or
//! hold mounted partitions (`DiskKind`), and a fresh ext4 holds `lost+found`, as on a real
//! node: the cases naive code gets wrong.

use super::reply::Reply;
use super::state::{uuid_from, Disk, DiskKind, LabState, Mount, Partition};

/// The logical volume the lab puts on an LVM physical volume (mounted on /srv/NAME).
pub fn lvm_volume(device: &str) -> String {
    let name = device.rsplit('/').next().unwrap_or(device);
    format!("/dev/mapper/vg_{name}-lv_{name}")
}

/// The md array the lab assembles from a RAID member.
const MD_ARRAY: &str = "/dev/md127";

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
    // Like the real script, it wipes whatever the disk was (the caller must check first).
    let part = format!("{dev}1");
    disk.kind = DiskKind::Blank;
    disk.partition = Some(Partition {
        device: part.clone(),
        uuid: uuid_from(&format!("fs-{host}-{dev}-{serial}")),
        fstype: "ext4".into(),
        reserved_pct: 5.0,
        // mke2fs makes lost+found in the root of every new ext4.
        content: vec!["lost+found".into()],
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
    // A whole disk: the signature of its kind (blkid(8) prints the disk's own tags; a
    // partition table shows as PTTYPE).
    if let Some(d) = devices
        .first()
        .and_then(|dev| h.disks.iter().find(|d| d.device == *dev))
    {
        let uuid = uuid_from(&format!("sig-{}", d.device));
        let tags = match (d.kind, &d.partition) {
            (DiskKind::LvmPv, _) => format!("UUID=\"{uuid}\" TYPE=\"LVM2_member\""),
            (DiskKind::RaidMember, _) => format!(
                "UUID=\"{uuid}\" UUID_SUB=\"{}\" LABEL=\"{host}:127\" TYPE=\"linux_raid_member\"",
                uuid_from(&format!("sub-{}", d.device))
            ),
            (DiskKind::Swap, _) => format!("UUID=\"{uuid}\" TYPE=\"swap\""),
            (_, Some(_)) => "PTTYPE=\"gpt\"".to_string(),
            (_, None) => return Reply::fail(2, ""),
        };
        return Reply::ok(format!("{}: {tags}\n", d.device));
    }
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
    // `-m MODE` takes the next word: it is no directory.
    let mode_at = args.iter().position(|a| a == "-m").map(|i| i + 1);
    let paths = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with('-') && Some(*i) != mode_at)
        .map(|(_, a)| a);
    for path in paths {
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
    let content = h
        .disks
        .iter_mut()
        .filter_map(|d| d.partition.as_mut())
        .find(|p| p.device == source)
        .map(|p| std::mem::take(&mut p.content))
        .unwrap_or_default();
    h.dirs
        .extend(content.iter().map(|dir| format!("{target}/{dir}")));
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
    let cluster_mount = state.mount_root();
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
    let gone = h.mounts.remove(pos);
    let cluster_gone = gone.fstype == "fuse.vstorage";
    // What is below the mount point lives on the file system: it leaves with it.
    let below = format!("{}/", gone.target);
    let content: Vec<String> = h
        .dirs
        .iter()
        .filter_map(|d| d.strip_prefix(&below).map(str::to_string))
        .collect();
    h.dirs.retain(|d| !d.starts_with(&below));
    if let Some(p) = h
        .disks
        .iter_mut()
        .filter_map(|d| d.partition.as_mut())
        .find(|p| p.device == gone.source)
    {
        p.content = content;
    }
    if cluster_gone {
        super::shaman::cluster_lost(state, host);
    }
    Reply::ok("")
}

pub fn tune2fs(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let pct = args
        .iter()
        .position(|a| a == "-m")
        .and_then(|i| args.get(i + 1))
        // strtod(3), as tune2fs reads it: `-m 0.5` is half a percent.
        .and_then(|v| v.parse::<f64>().ok().filter(|n| n.is_finite()));
    let Some(dev) = args.iter().rev().find(|a| a.starts_with('/')).cloned() else {
        return Reply::fail(1, "Usage: tune2fs [-m reserved_blocks_percent] device\n");
    };
    let head = "tune2fs 1.45.6 (20-Mar-2020)\n";
    let listing = args.iter().any(|a| a == "-l");
    let size_gb = state
        .host(host)
        .and_then(|h| {
            h.disks
                .iter()
                .find(|d| d.partition.as_ref().is_some_and(|p| p.device == dev))
        })
        .map_or(0, |d| d.size_gb);
    let h = state.host_mut(host);
    let Some(p) = h
        .disks
        .iter_mut()
        .filter_map(|d| d.partition.as_mut())
        .find(|p| p.device == dev)
    else {
        return Reply::fail(1, format!("tune2fs: No such file or directory while trying to open {dev}\nCouldn't find valid filesystem superblock.\n")).before(head);
    };
    // e2fsprogs reads only ext2/3/4 superblocks: on any other file system it stops at the
    // magic number (and names the file system it found there).
    if !p.fstype.starts_with("ext") {
        return Reply::fail(
            1,
            format!("tune2fs: Bad magic number in super-block while trying to open {dev}\n{dev} contains a {} file system\n", p.fstype),
        )
        .before(head);
    }
    if listing {
        return Reply::ok(format!("{head}{}", superblock(p, size_gb)));
    }
    match pct {
        Some(n) if (0.0..=50.0).contains(&n) => {
            p.reserved_pct = n;
            // printf("%g%% (%llu blocks)"): `0.5%`, `5%`.
            Reply::ok(format!(
                "{head}Setting reserved blocks percentage to {n}% ({} blocks)\n",
                reserved_blocks(size_gb * 262_144, n)
            ))
        }
        _ => Reply::fail(1, "tune2fs: bad reserved block ratio\n").before(head),
    }
}

/// `findmnt -n -o FSTYPE[,SOURCE,TARGET] --mountpoint PATH` (util-linux findmnt(8)): the
/// mount at exactly PATH, one line, columns separated by a space; exit 1 and no output
/// when nothing is mounted there.
pub fn findmnt(state: &LabState, host: &str, args: &[String]) -> Reply {
    let mut columns = vec!["TARGET", "SOURCE", "FSTYPE", "OPTIONS"];
    let mut mountpoint = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-n" | "--noheadings" => {}
            "-o" | "--output" => {
                let Some(list) = it.next() else {
                    return Reply::fail(1, "findmnt: option requires an argument -- 'o'\n");
                };
                columns = list.split(',').collect();
                if let Some(bad) = columns
                    .iter()
                    .find(|c| !matches!(**c, "TARGET" | "SOURCE" | "FSTYPE" | "OPTIONS"))
                {
                    return Reply::fail(1, format!("findmnt: unknown column: {bad}\n"));
                }
            }
            "-M" | "--mountpoint" => mountpoint = it.next().map(|p| p.trim_end_matches('/')),
            other => return Reply::fail(1, format!("findmnt: unrecognized option '{other}'\n")),
        }
    }
    let Some(target) = mountpoint else {
        return Reply::fail(1, "findmnt: the lab answers only --mountpoint PATH\n");
    };
    let Some(m) = state
        .host(host)
        .and_then(|h| h.mounts.iter().find(|m| m.target == target))
    else {
        return Reply::fail(1, "");
    };
    let cells: Vec<&str> = columns
        .iter()
        .map(|c| match *c {
            "TARGET" => m.target.as_str(),
            "SOURCE" => m.source.as_str(),
            "FSTYPE" => m.fstype.as_str(),
            _ => "rw,relatime",
        })
        .collect();
    Reply::ok(format!("{}\n", cells.join(" ")))
}

/// The reserved block count tune2fs sets for a ratio: `blocks * ratio / 100.0`, cut to a
/// whole block (so `-m 0.5` of a large disk still reserves many blocks, and a ratio of
/// under one percent is not zero).
fn reserved_blocks(blocks: u64, pct: f64) -> u64 {
    (blocks as f64 * pct / 100.0) as u64
}

/// The superblock as `tune2fs -l` (dumpe2fs -h) prints it, e2fsprogs 1.45 layout: one
/// `Name:` padded to column 27 per line. Only the lines a reader needs are kept.
fn superblock(p: &Partition, size_gb: u64) -> String {
    let blocks = size_gb * 262_144;
    let reserved = reserved_blocks(blocks, p.reserved_pct);
    let lines = [
        ("Filesystem volume name", "<none>".to_string()),
        ("Filesystem UUID", p.uuid.clone()),
        ("Filesystem magic number", "0xEF53".into()),
        ("Filesystem state", "clean".into()),
        ("Block count", blocks.to_string()),
        ("Reserved block count", reserved.to_string()),
        ("Free blocks", (blocks / 2).to_string()),
        ("Block size", "4096".into()),
        ("Reserved blocks uid", "0 (user root)".into()),
        ("Reserved blocks gid", "0 (group root)".into()),
    ];
    lines
        .iter()
        .map(|(k, v)| format!("{:<26}{v}\n", format!("{k}:")))
        .collect()
}

/// `lsblk -P -p -o NAME,TYPE,FSTYPE,MOUNTPOINT DEV...` (util-linux lsblk(8): `-P` prints
/// `KEY="value"` pairs, one device a line, the device first and then what is built on it).
pub fn lsblk(state: &LabState, host: &str, args: &[String]) -> Reply {
    let mut columns = vec!["NAME", "TYPE", "FSTYPE", "MOUNTPOINT"];
    let mut devices = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-P" | "-p" | "-n" | "-b" | "--pairs" | "--paths" | "--noheadings" | "--bytes" => {}
            "-o" | "--output" => {
                let Some(list) = it.next() else {
                    return Reply::fail(1, "lsblk: option requires an argument -- 'o'\n");
                };
                columns = list.split(',').collect();
            }
            o if o.starts_with('-') => {
                return Reply::fail(
                    1,
                    format!("lsblk: invalid option -- '{}'\n", o.trim_start_matches('-')),
                )
            }
            d => devices.push(d.to_string()),
        }
    }
    let h = state.host(host).expect("known host");
    // No device named: every disk, as lsblk(8) lists all block devices.
    if devices.is_empty() {
        devices = h.disks.iter().map(|d| d.device.clone()).collect();
    }
    let mut out = String::new();
    for dev in &devices {
        let Some(disk) = h
            .disks
            .iter()
            .find(|d| d.device == *dev || d.partition.as_ref().is_some_and(|p| p.device == *dev))
        else {
            return Reply::fail(32, format!("lsblk: {dev}: not a block device\n"));
        };
        let rows = device_rows(h, disk);
        // A partition: itself only (nothing is built on the lab's partitions).
        let rows = rows
            .into_iter()
            .filter(|r| disk.device == *dev || r.0 == *dev);
        for row in rows {
            // SIZE in bytes (`-b`): the lab knows the size of whole disks only.
            let size = if row.0 == disk.device {
                (disk.size_gb << 30).to_string()
            } else {
                String::new()
            };
            let values: Vec<String> = columns
                .iter()
                .map(|c| {
                    let v = match *c {
                        "NAME" => row.0.as_str(),
                        "TYPE" => row.1,
                        "FSTYPE" => row.2.as_str(),
                        "MOUNTPOINT" => row.3.as_str(),
                        "SIZE" => size.as_str(),
                        _ => "",
                    };
                    format!("{c}=\"{v}\"")
                })
                .collect();
            out.push_str(&values.join(" "));
            out.push('\n');
        }
    }
    Reply::ok(out)
}

/// A disk and what is on it: (name, type, fstype, mountpoint).
fn device_rows(
    h: &super::state::HostState,
    disk: &Disk,
) -> Vec<(String, &'static str, String, String)> {
    let mounted = |dev: &str| {
        h.mounts
            .iter()
            .find(|m| m.source == dev)
            .map_or(String::new(), |m| m.target.clone())
    };
    let (fstype, mountpoint) = match disk.kind {
        DiskKind::LvmPv => ("LVM2_member".to_string(), String::new()),
        DiskKind::RaidMember => ("linux_raid_member".into(), String::new()),
        DiskKind::Swap => ("swap".into(), "[SWAP]".into()),
        _ => (String::new(), mounted(&disk.device)),
    };
    let mut rows = vec![(disk.device.clone(), "disk", fstype, mountpoint)];
    if let Some(p) = &disk.partition {
        rows.push((
            p.device.clone(),
            "part",
            p.fstype.clone(),
            mounted(&p.device),
        ));
    }
    match disk.kind {
        DiskKind::LvmPv => {
            let lv = lvm_volume(&disk.device);
            let mp = mounted(&lv);
            rows.push((lv, "lvm", "xfs".into(), mp));
        }
        DiskKind::RaidMember => rows.push((MD_ARRAY.into(), "raid1", String::new(), String::new())),
        _ => {}
    }
    rows
}

/// `pvs --noheadings -o pv_name,vg_name` (LVM2 pvs(8)): the root PV and the scenario's PVs.
pub fn pvs(state: &LabState, host: &str, _args: &[String]) -> Reply {
    let h = state.host(host).expect("known host");
    let mut out = String::from("  /dev/sda2  centos\n");
    for d in h.disks.iter().filter(|d| d.kind == DiskKind::LvmPv) {
        let name = d.device.rsplit('/').next().unwrap_or(&d.device);
        out.push_str(&format!("  {}   vg_{name}\n", d.device));
    }
    Reply::ok(out)
}

/// `/proc/swaps` (proc(5)): the root volume's swap and any swap disk of the scenario.
pub fn proc_swaps(h: &super::state::HostState) -> String {
    let mut out = String::from("Filename\t\t\t\tType\t\tSize\tUsed\tPriority\n/dev/dm-1                               partition\t8388604\t0\t-2\n");
    for d in h.disks.iter().filter(|d| d.kind == DiskKind::Swap) {
        out.push_str(&format!(
            "{:<40}partition\t{}\t0\t-3\n",
            d.device,
            d.size_gb * 1_048_576
        ));
    }
    out
}

/// `wipefs -a DEV` (util-linux wipefs(8)): erases the signatures of a disk or partition;
/// busy (exclusive open fails) while mounted.
pub fn wipefs(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let Some(dev) = args.iter().find(|a| !a.starts_with('-')).cloned() else {
        return Reply::fail(1, "wipefs: no device specified\n");
    };
    let h = state.host_mut(host);
    if h.mounts.iter().any(|m| m.source == dev) {
        return Reply::fail(
            1,
            format!(
                "wipefs: error: {dev}: probing initialization failed: Device or resource busy\n"
            ),
        );
    }
    for disk in &mut h.disks {
        if disk.device == dev {
            let erased = match (disk.kind, &disk.partition) {
                (DiskKind::Blank, None) => String::new(),
                (DiskKind::Blank, Some(_)) => format!("{dev}: 8 bytes were erased at offset 0x00000200 (gpt): 45 46 49 20 50 41 52 54\n"),
                (DiskKind::LvmPv, _) => format!("{dev}: 8 bytes were erased at offset 0x00000218 (LVM2_member): 4c 56 4d 32 20 30 30 31\n"),
                (DiskKind::RaidMember, _) => format!("{dev}: 4 bytes were erased at offset 0x00001000 (linux_raid_member): fc 4e 2b a9\n"),
                (DiskKind::Swap, _) => format!("{dev}: 10 bytes were erased at offset 0x00000ff6 (swap): 53 57 41 50 53 50 41 43 45 32\n"),
                (_, _) => format!("{dev}: 8 bytes were erased at offset 0x00000200 (gpt): 45 46 49 20 50 41 52 54\n"),
            };
            disk.partition = None;
            disk.kind = DiskKind::Blank;
            return Reply::ok(erased);
        }
        if let Some(p) = disk.partition.as_mut().filter(|p| p.device == dev) {
            if p.fstype.is_empty() {
                return Reply::ok("");
            }
            let shown = format!(
                "{dev}: 2 bytes were erased at offset 0x00000438 ({}): 53 ef\n",
                p.fstype
            );
            p.fstype.clear();
            p.content.clear();
            return Reply::ok(shown);
        }
    }
    Reply::fail(
        1,
        format!("wipefs: error: {dev}: probing initialization failed: No such file or directory\n"),
    )
}

/// `rmdir DIR`: only an empty directory that is not a mount point.
pub fn rmdir(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let h = state.host_mut(host);
    for path in args.iter().filter(|a| !a.starts_with('-')) {
        let path = path.trim_end_matches('/').to_string();
        let fail = |why: &str| Reply::fail(1, format!("rmdir: failed to remove '{path}': {why}\n"));
        if !h.dirs.contains(&path) {
            return fail("No such file or directory");
        }
        if h.mounts.iter().any(|m| m.target == path) {
            return fail("Device or resource busy");
        }
        let below = format!("{path}/");
        if h.dirs.iter().any(|d| d.starts_with(&below))
            || h.files.keys().any(|f| f.starts_with(&below))
        {
            return fail("Directory not empty");
        }
        h.dirs.retain(|d| *d != path);
    }
    Reply::ok("")
}
