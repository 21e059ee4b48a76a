//! The node services the operators' field notes touch, modelled with the traps that broke
//! runbooks on real nodes: the pfcache image (a ploop image mounted at /vz/pfcache that
//! pfcached holds, so it cannot be unmounted under it; moving its directory while mounted
//! leaves the mount on a path that no longer exists), `mv` into an existing directory (it
//! moves *inside* it), local file systems and their free space (`df`), vcmmd's limits file.
//! Packages and the clock are in `packages`, interfaces and bonds in `network`.
//!
//! Kept apart from `basics` so that the per-host state these need lives in one place
//! ([`OpsState`]) that a scenario can set (`hosts[].ops`).

use serde::{Deserialize, Serialize};

use super::reply::Reply;
use super::state::{HostState, LabFile, LabState, Mount, Unit};

/// Where the stock pfcache image lives and is mounted (vz-docs: `PFCACHE_IMAGE`, `PFCACHE`).
pub const PFCACHE_IMAGE: &str = "/vz/pfcache.hdd";
pub const PFCACHE_MOUNT: &str = "/vz/pfcache";
/// The page cache left right after dropping caches, in MB (invented).
pub const DROPPED_CACHE_MB: u64 = 256;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsState {
    /// Mounted ploop images.
    pub ploops: Vec<PloopMount>,
    /// Local file systems besides the root (which `df` reports as xfs with `root_avail_mb`).
    pub filesystems: Vec<LocalFs>,
    pub root_avail_mb: u64,
    /// Installed packages (rpm names).
    pub packages: Vec<String>,
    /// How far the clock is behind NTP time, in seconds (negative: ahead).
    pub clock_offset_s: f64,
    /// Network interfaces (`ip link`).
    pub interfaces: Vec<String>,
    /// The interface that carries the host's (inventory) address.
    pub address_on: String,
    /// The interface that carries its storage-network address (`storage_address`); `None`:
    /// the first interface other than `lo` and `address_on`.
    pub storage_on: Option<String>,
    /// The chunk servers that fell silent when a network start took the storage address
    /// away (see `network::storage_reach`), or when the node went off (`powered_off_at`);
    /// empty while it has it and runs.
    pub storage_cut_off: Vec<u32>,
    /// When (lab time) a network start took the storage address away; `None` while it has
    /// it. Meanwhile the node's `vstorage` reaches no MDS.
    pub storage_lost_at: Option<f64>,
    /// When (lab time) the node went off, for a node that died while the lab watched (a
    /// scenario's `off_for_s`): its chunk servers (`storage_cut_off`) fall silent from then
    /// and its client session lingers a while (`power`). `None` while it runs, or when it
    /// went off long ago.
    pub powered_off_at: Option<f64>,
    /// A scenario's `off_for_s` not yet put on the lab's clock: the speed the lab runs at
    /// (`--lab-speed`) is known only once it runs, so the first command anchors it
    /// (`power::anchor`).
    pub off_for_s: Option<f64>,
    /// The MDSs of a node that went off (`powered_off_at`) that the others have not missed
    /// yet: listed `avail` until `network::MDS_MISSES_CS_S` after, then offline.
    pub mds_cut_off: Vec<u32>,
    /// The node is off (`power`): a chunk server of it taken out of maintenance is silent,
    /// not active.
    pub powered_off: bool,
    /// Page cache in MB; `None`: a quarter of the free memory.
    pub page_cache_mb: Option<u64>,
    /// Fault: commands (`ploop mount`, `pfcached start`, `csd start`,
    /// `mdsd start`, `UNIT start` for a systemd unit: `ntpd.service start`) that fail once
    /// each.
    pub fail_once: Vec<String>,
    /// A pcompact already runs there (the stock cron job started at 02:00 with `-t 2h`):
    /// it holds /var/run/pcompact.pid, so another one prints `Can't lock …`, compacts
    /// nothing and exits 0 (OpenVZ/pcompact main.c: `open_state_file`, `main` returns 0).
    pub pcompact_running: bool,
    /// The options the cluster client was mounted with: its read cache is what they said
    /// then, not what /etc/fstab says now. `None` while the cluster is not mounted.
    pub client_options: Option<String>,
    /// The client's info directory has only its compatibility name, `.pstorage.info`
    /// (reference §2.8: `PCS_INFO_DIR_COMPAT`; the read-cache KB's path), not
    /// `.vstorage.info`.
    pub info_dir_compat: bool,
    /// Extra units, active and enabled (e.g. `ntpd.service`).
    pub running_units: Vec<String>,
    /// Fault: interfaces that no host bridge has as its port (a VLAN interface made
    /// without a BRIDGE= line). A bridged virtual network cannot be bound to one: the
    /// dispatcher looks for the bridge whose master is the adapter and fails with
    /// PRL_ERR_BRIDGE_NOT_FOUND_FOR_NETWORK_ADAPTER (prl-disp-service, network Dao
    /// `craftBridge`; the message text is invented).
    pub unbridged: Vec<String>,
    /// chronyd (re)started and has not measured its servers yet: its next `chronyc
    /// tracking` says `Not synchronised` with no offset (`System time : 0.000000000
    /// seconds fast`): chronyd knows the clock's error only from its first updates.
    pub chrony_unmeasured: bool,
    /// The NTP servers the node can reach (an isolated management or storage network reaches
    /// only the site's own); empty: any. chronyd synchronises only with a `server`/`pool`
    /// of /etc/chrony.conf in this list.
    #[serde(default)]
    pub ntp_reachable: Vec<String>,
    /// firewalld zones of interfaces bound to a zone other than the default one
    /// (`public`), e.g. `{bond0: internal}`: traffic that arrives there meets that zone's
    /// ports, not the default zone's (firewalld: a connection is handled by the zone of
    /// its source, else of its interface, else the default zone).
    pub firewall_zones: std::collections::BTreeMap<String, String>,
    /// Bindings made at runtime only (`--change-interface` without `--permanent`): they win
    /// over `firewall_zones` until `--reload` or a boot, which bring the permanent ones back.
    #[serde(default)]
    pub firewall_zones_runtime: std::collections::BTreeMap<String, String>,
    /// Open ports of the zones other than the default one: zone → (runtime, permanent).
    /// The default zone's are the host's `ports_runtime` / `ports_permanent`.
    pub zone_ports: std::collections::BTreeMap<String, (Vec<String>, Vec<String>)>,
    /// Bonds as the kernel runs them (from the ifcfg files at the last network start).
    pub bonds: Vec<Bond>,
    /// Fault: the switch ports of this node are not in an LACP port-channel. An 802.3ad bond
    /// still comes up with every slave's link up (what `MII Status` says), but no LACP
    /// partner answers: each slave sits in an aggregator of its own, partner MAC all zeros.
    pub switch_without_lacp: bool,
    /// Fault: the switch's port-channel for this node does not carry the VLANs its ports
    /// carried one by one (a port-channel has its own allowed-VLAN list). Once the bond runs
    /// 802.3ad (its ports join the port-channel), the VLAN interfaces on it (`bond0.100`)
    /// reach nothing: a node reached over one is cut off.
    pub port_channel_without_vlans: bool,
    /// The last network start took away the address the node is reached at (see
    /// `network::start_network`): it does not answer until a network start gives it back.
    pub cut_off: bool,
    /// Pending transient timers (`systemd-run --on-active=`).
    pub timers: Vec<super::timers::Timer>,
    /// Timers that fired: `UNIT: exit CODE`.
    pub fired_timers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bond {
    pub name: String,
    /// BONDING_OPTS as applied: `mode=802.3ad xmit_hash_policy=layer3+4 ...`.
    pub options: String,
    pub slaves: Vec<String>,
}

impl Default for OpsState {
    fn default() -> Self {
        OpsState {
            ploops: Vec::new(),
            // Invented: a local SSD for the client read cache, as the field notes use.
            filesystems: vec![LocalFs {
                source: "/dev/nvme0n1p1".into(),
                target: "/mnt/ssd".into(),
                fstype: "xfs".into(),
                avail_mb: 400_000,
            }],
            root_avail_mb: 50_000,
            pcompact_running: false,
            packages: ["chrony", "ploop", "pcompact", "vstorage-client", "prlctl"]
                .map(String::from)
                .to_vec(),
            clock_offset_s: 0.000_012,
            interfaces: ["lo", "eth0", "eth1", "eth2", "eth3", "bond0", "bond0.100"]
                .map(String::from)
                .to_vec(),
            address_on: "eth0".into(),
            storage_on: None,
            storage_cut_off: Vec::new(),
            storage_lost_at: None,
            powered_off_at: None,
            off_for_s: None,
            mds_cut_off: Vec::new(),
            powered_off: false,
            page_cache_mb: None,
            fail_once: Vec::new(),
            running_units: Vec::new(),
            unbridged: Vec::new(),
            chrony_unmeasured: false,
            ntp_reachable: Vec::new(),
            firewall_zones: Default::default(),
            firewall_zones_runtime: Default::default(),
            zone_ports: Default::default(),
            bonds: Vec::new(),
            switch_without_lacp: false,
            port_channel_without_vlans: false,
            cut_off: false,
            timers: Vec::new(),
            fired_timers: Vec::new(),
            client_options: None,
            info_dir_compat: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PloopMount {
    pub descriptor: String,
    pub device: String,
    pub mountpoint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalFs {
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub avail_mb: u64,
}

/// The stock services and files of a Virtuozzo node that this module models.
pub fn provision(h: &mut HostState) {
    super::packages::provision(h);
    let unit = |description: &str| Unit {
        active: true,
        enabled: true,
        description: description.into(),
        job: None,
        repo: None,
    };
    h.units
        .insert("pfcached.service".into(), unit("Containers pfcache daemon"));
    for name in h.ops.running_units.clone() {
        h.units.insert(name.clone(), unit(&name));
    }
    // The image is where PFCACHE_IMAGE in /etc/vz/vz.conf says (reference §4.1: vz.conf
    // holds PFCACHE, PFCACHE_IMAGE, PFCACHE_IMAGE_SIZE; /etc/vz/pfcache.conf, §4.2, holds
    // only pfcached's tuning). A scenario may give a vz.conf naming another place.
    let image = configured_pfcache_image(h);
    // Invented content (no public sample of the pfcache image's descriptor): enough for
    // `ploop mount` to find it.
    let descriptor = format!("{image}/DiskDescriptor.xml");
    h.files.entry(descriptor.clone()).or_insert(LabFile {
        content: "<?xml version=\"1.0\"?>\n<Parallels_disk_image>\n  <Disk_Parameters><Disk_size>20971520</Disk_size></Disk_Parameters>\n  <StorageData><Storage><Image><File>pfcache.hdd</File></Image></Storage></StorageData>\n</Parallels_disk_image>\n".into(),
        mode: 0o644,
    });
    h.files
        .entry(format!("{image}/pfcache.hdd"))
        .or_insert(LabFile {
            content: "(lab ploop image)\n".into(),
            mode: 0o600,
        });
    // The stock cron job of pcompact (OpenVZ/pcompact vz7-u21 etc/cron.d/pcompact).
    h.files
        .entry("/etc/cron.d/pcompact".into())
        .or_insert(LabFile {
            content: "0 2 * * * root /usr/sbin/pcompact -t 2h -q >/dev/null\n".into(),
            mode: 0o644,
        });
    h.dirs.push(image);
    h.dirs.push(PFCACHE_MOUNT.into());
    h.dirs.push("/etc/cron.d".into());
    for fs in h.ops.filesystems.clone() {
        h.dirs.push(fs.target);
    }
    mount_ploop(h, &descriptor, PFCACHE_MOUNT, 11751);
    super::network::provision(h);
    if h.ops.client_options.is_none() {
        h.ops.client_options = client_fstab_options(h);
    }
}

/// The pfcache image directory a node's vz service mounts at boot: `PFCACHE_IMAGE` in
/// /etc/vz/vz.conf (the last assignment, quotes removed), else the stock place. Only
/// vz.conf is read for it (reference §4.1); a `PFCACHE_IMAGE` in /etc/vz/pfcache.conf
/// (§4.2) is not.
pub fn configured_pfcache_image(h: &HostState) -> String {
    h.files
        .get("/etc/vz/vz.conf")
        .and_then(|f| {
            f.content.lines().rev().find_map(|l| {
                let v = l.trim().strip_prefix("PFCACHE_IMAGE=")?;
                let v = v.trim().trim_matches('"').trim_matches('\'');
                (!v.is_empty()).then(|| v.to_string())
            })
        })
        .unwrap_or_else(|| PFCACHE_IMAGE.to_string())
}

/// The options of the cluster client's line in /etc/fstab (`vstorage://… fuse.vstorage`).
pub fn client_fstab_options(h: &HostState) -> Option<String> {
    h.files.get("/etc/fstab")?.content.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 4 && f[0].starts_with("vstorage://") && f[2] == "fuse.vstorage")
            .then(|| f[3].to_string())
    })
}

fn mount_ploop(h: &mut HostState, descriptor: &str, mountpoint: &str, number: u64) -> String {
    let device = format!("/dev/ploop{number}");
    h.mounts.push(Mount {
        source: format!("{device}p1"),
        target: mountpoint.into(),
        fstype: "ext4".into(),
    });
    h.ops.ploops.push(PloopMount {
        descriptor: descriptor.into(),
        device: device.clone(),
        mountpoint: mountpoint.into(),
    });
    device
}

/// True (and forgets it) when `what` is a fault of this host that fails once.
pub fn fails_once(state: &mut LabState, host: &str, what: &str) -> bool {
    let faults = &mut state.host_mut(host).ops.fail_once;
    match faults.iter().position(|f| f == what) {
        Some(i) => {
            faults.remove(i);
            true
        }
        None => false,
    }
}

pub fn run(state: &mut LabState, host: &str, program: &str, args: &[String]) -> Option<Reply> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let reply = match program {
        "ploop" => ploop(state, host, &args),
        "mv" => mv(state, host, &args),
        "df" => df(state, host, &args),
        "du" => du(state, host, &args),
        "rpm" => super::packages::rpm(state, host, &args),
        "yum" => super::packages::yum(state, host, &args),
        "chronyc" => super::packages::chronyc(state, host, &args),
        "ip" => super::network::ip(state, host, &args),
        "date" => date(&args),
        "prl_disk_tool" => prl_disk_tool(state, host, &args),
        _ => return None,
    };
    Some(reply)
}

/// `ploop mount -m DIR DiskDescriptor.xml`, `ploop umount -m DIR | DiskDescriptor.xml`.
/// Messages follow ploop's `Adding delta dev=… img=…` / `Mounted … at …` log lines; the
/// error texts and exit codes are invented (ploop's SYSEXIT numbers were not checked).
fn ploop(state: &mut LabState, host: &str, args: &[&str]) -> Reply {
    let (verb, rest) = args.split_first().map_or(("", &[][..]), |(v, r)| (*v, r));
    let mut mountpoint = None;
    let mut positional = Vec::new();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match *a {
            "-m" => mountpoint = it.next().copied(),
            o if o.starts_with('-') => {
                return Reply::fail(18, format!("Unsupported option in the lab: {o}\n"))
            }
            p => positional.push(p),
        }
    }
    match verb {
        "mount" => {
            let (Some(dir), [descriptor]) = (mountpoint, positional.as_slice()) else {
                return Reply::fail(18, "Usage: ploop mount [-m DIR] DiskDescriptor.xml\n");
            };
            if fails_once(state, host, "ploop mount") {
                return Reply::fail(
                    32,
                    format!("Error in ploop_mount_image: Can't mount file system dev=/dev/ploop0p1 target={dir}: Input/output error\n"),
                );
            }
            let h = state.host(host).expect("known host");
            if !h.files.contains_key(*descriptor) {
                return Reply::fail(
                    19,
                    format!("Unable to open {descriptor}: No such file or directory\n"),
                );
            }
            if let Some(m) = h.ops.ploops.iter().find(|m| m.descriptor == *descriptor) {
                return Reply::fail(
                    37,
                    format!("Image {descriptor} already used by device {}\n", m.device),
                );
            }
            if h.mounts.iter().any(|m| m.target == dir) {
                return Reply::fail(32, format!("{dir} is busy: something is mounted there\n"));
            }
            state.serial += 1;
            let number = 11751 + state.serial;
            let h = state.host_mut(host);
            let device = mount_ploop(h, descriptor, dir, number);
            let image = descriptor.trim_end_matches("DiskDescriptor.xml");
            Reply::ok(format!(
                "Adding delta dev={device} img={image}pfcache.hdd (rw)\nMounted {device}p1 at {dir} fstype=ext4 data=''\n"
            ))
            .takes(1.0)
        }
        "umount" => {
            let h = state.host(host).expect("known host");
            let found = h.ops.ploops.iter().position(|m| {
                mountpoint == Some(m.mountpoint.as_str())
                    || positional.first() == Some(&m.descriptor.as_str())
            });
            let Some(i) = found else {
                return Reply::fail(20, "Image is not mounted\n");
            };
            let m = h.ops.ploops[i].clone();
            let busy = m.mountpoint == PFCACHE_MOUNT
                && h.units.get("pfcached.service").is_some_and(|u| u.active);
            if busy {
                return Reply::fail(
                    21,
                    format!("Failed to umount {}p1: Device or resource busy\n", m.device),
                );
            }
            let h = state.host_mut(host);
            h.ops.ploops.remove(i);
            h.mounts.retain(|x| x.target != m.mountpoint);
            Reply::ok(format!("Unmounting file system at {}\n", m.mountpoint)).takes(1.0)
        }
        _ => Reply::fail(
            18,
            format!("Unsupported ploop command in the lab: {verb}\n"),
        ),
    }
}

fn is_dir(h: &HostState, path: &str) -> bool {
    let prefix = format!("{}/", path.trim_end_matches('/'));
    h.dirs.iter().any(|d| d == path || d.starts_with(&prefix))
        || h.files.keys().any(|f| f.starts_with(&prefix))
}

fn parent(path: &str) -> &str {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) => "/",
        Some((p, _)) => p,
        None => ".",
    }
}

/// `mv SRC DST` (coreutils): into DST when DST is a directory, as the real one does.
fn mv(state: &mut LabState, host: &str, args: &[&str]) -> Reply {
    let paths: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with('-'))
        .collect();
    let [src, dst] = paths.as_slice() else {
        return Reply::fail(1, "mv: the lab moves one path to another\n");
    };
    let h = state.host_mut(host);
    let src_is_dir = is_dir(h, src);
    if !src_is_dir && !h.files.contains_key(*src) {
        return Reply::fail(
            1,
            format!("mv: cannot stat '{src}': No such file or directory\n"),
        );
    }
    let target = if is_dir(h, dst) {
        format!(
            "{}/{}",
            dst.trim_end_matches('/'),
            src.rsplit('/').next().unwrap_or(src)
        )
    } else {
        dst.to_string()
    };
    if !is_dir(h, parent(&target)) {
        return Reply::fail(
            1,
            format!("mv: cannot move '{src}' to '{dst}': No such file or directory\n"),
        );
    }
    // Across file systems GNU mv copies the tree, then removes the source only once all of
    // it is copied (coreutils `mv`: copy, then remove): a disk that fills up (or the fault
    // `mv`, once) leaves the source whole and a partial copy at the destination.
    let (src_fs, dst_fs) = (fs_of(h, src).3, fs_of(h, parent(&target)));
    if src_is_dir && src_fs != dst_fs.3 {
        let need = tree_mb(h, src);
        let full = need > dst_fs.2;
        if full || fails_once(state, host, "mv") {
            let h = state.host_mut(host);
            let partial = h
                .files
                .keys()
                .find(|p| p.starts_with(&format!("{src}/")) && p.ends_with(".hdd"))
                .map(|p| format!("{target}/{}", &p[src.len() + 1..]))
                .unwrap_or_else(|| format!("{target}/data"));
            h.dirs.push(target.clone());
            h.files.insert(
                partial.clone(),
                LabFile {
                    content: "(partial copy)\n".into(),
                    mode: 0o600,
                },
            );
            return Reply::fail(
                1,
                format!("mv: error writing '{partial}': No space left on device\n"),
            )
            .takes(2.0);
        }
    }
    let h = state.host_mut(host);
    let moved = |p: &str| -> Option<String> {
        if p == *src {
            Some(target.clone())
        } else {
            p.strip_prefix(&format!("{src}/"))
                .map(|rest| format!("{target}/{rest}"))
        }
    };
    let files = std::mem::take(&mut h.files);
    h.files = files
        .into_iter()
        .map(|(p, f)| (moved(&p).unwrap_or(p), f))
        .collect();
    for d in &mut h.dirs {
        if let Some(n) = moved(d) {
            *d = n;
        }
    }
    if src_is_dir && !h.dirs.contains(&target) {
        h.dirs.push(target);
    }
    Reply::ok("").takes(2.0)
}

/// `df -P -T -k PATH`: POSIX format with the type column (coreutils 8.22).
fn df(state: &LabState, host: &str, args: &[&str]) -> Reply {
    let Some(path) = args.iter().rev().find(|a| !a.starts_with('-')) else {
        return Reply::fail(1, "df: the lab needs a path\n");
    };
    let h = state.host(host).expect("known host");
    if !is_dir(h, path) && !h.files.contains_key(*path) {
        return Reply::fail(1, format!("df: '{path}': No such file or directory\n"));
    }
    let (source, fstype, avail_mb, target) = fs_of(h, path);
    let avail = avail_mb * 1024;
    let size = avail * 2;
    Reply::ok(format!(
        "Filesystem                 Type      1024-blocks      Used Available Capacity Mounted on\n{source} {fstype} {size} {} {avail} 50% {target}\n",
        size - avail
    ))
}

/// The file system holding `path`: (source, type, free MB, mount point).
fn fs_of(h: &HostState, path: &str) -> (String, String, u64, String) {
    let under = |target: &str| {
        path == target || path.starts_with(&format!("{}/", target.trim_end_matches('/')))
    };
    let local = h.ops.filesystems.iter().map(|f| {
        (
            f.source.clone(),
            f.fstype.clone(),
            f.avail_mb,
            f.target.clone(),
        )
    });
    // Other mounts (cluster client, CS disks, ploop): 1 TB free, invented.
    let mounted = h.mounts.iter().map(|m| {
        (
            m.source.clone(),
            m.fstype.clone(),
            1_000_000,
            m.target.clone(),
        )
    });
    local
        .chain(mounted)
        .filter(|(_, _, _, target)| under(target))
        .max_by_key(|(_, _, _, target)| target.len())
        .unwrap_or((
            "/dev/mapper/virtuozzo-root".into(),
            "xfs".into(),
            h.ops.root_avail_mb,
            "/".into(),
        ))
}

/// The space a tree takes, in MB (rounded up): a ploop image file (`*.hdd` beside its
/// DiskDescriptor.xml) as its `Disk_size` (the pfcache image is filled up to it), any
/// other file as its length.
fn tree_mb(h: &HostState, path: &str) -> u64 {
    let below = format!("{}/", path.trim_end_matches('/'));
    let mut bytes = 0u64;
    for (p, f) in &h.files {
        if p != path && !p.starts_with(&below) {
            continue;
        }
        let descriptor = format!("{}/DiskDescriptor.xml", parent(p));
        let image = p
            .ends_with(".hdd")
            .then(|| h.files.get(&descriptor))
            .flatten()
            .and_then(|d| disk_size_sectors(&d.content));
        bytes += image.map_or(f.content.len() as u64, |sectors| sectors * 512);
    }
    bytes.div_ceil(1024 * 1024)
}

/// `du -sk PATH` (coreutils): the KB it takes, a TAB, the path.
fn du(state: &LabState, host: &str, args: &[&str]) -> Reply {
    let h = state.host(host).expect("known host");
    let Some(path) = args.iter().rev().find(|a| !a.starts_with('-')) else {
        return Reply::fail(1, "du: the lab needs a path\n");
    };
    if !is_dir(h, path) && !h.files.contains_key(*path) {
        return Reply::fail(
            1,
            format!("du: cannot access '{path}': No such file or directory\n"),
        );
    }
    Reply::ok(format!("{}\t{path}\n", tree_mb(h, path) * 1024))
}

/// Why vcmmd would not start with this host's vstorage-limits.conf, if it would not: the
/// file must be JSON, and only `Path/Limit/Guarantee/Swap` and `Share/Min/Max` are allowed
/// (vcmmd dist-vz7-u22 `config.py`: `Unknown fields in …`).
pub fn vcmmd_config_error(state: &LabState, host: &str) -> Option<String> {
    let path = "/etc/vz/vstorage-limits.conf";
    let text = &state.host(host)?.files.get(path)?.content;
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Some(format!("{path}: {e}")),
    };
    for (service, section) in value.as_object()? {
        for (key, limits) in section.as_object()? {
            let known = match key.as_str() {
                "Path" => true,
                "Limit" | "Guarantee" | "Swap" => limits.as_object().is_some_and(|m| {
                    m.keys()
                        .all(|k| matches!(k.as_str(), "Share" | "Min" | "Max"))
                }),
                _ => false,
            };
            if !known {
                return Some(format!("Unknown fields in {path}: {service}.{key}"));
            }
        }
    }
    None
}

/// The HWID that `vstorage -c C stat --license-hwid` prints on a node. Invented: the flag
/// is named in operators' notes but its output was not found in any source; the same value
/// as the lab's (equally invented) `view-license` HWID lines.
pub fn license_hwid(state: &LabState, host: &str) -> Reply {
    let hwid = &super::state::uuid_from(&format!("hwid-{host}")).replace('-', "")[..16];
    let _ = state;
    Reply::ok(format!("{hwid}\n"))
}

/// `date +%s` (coreutils): seconds since the epoch, the lab's wall clock.
fn date(args: &[&str]) -> Reply {
    match args {
        ["+%s"] => Reply::ok(format!("{}\n", super::state::now() as u64)),
        _ => Reply::fail(1, "date: the lab prints only +%s\n"),
    }
}

/// `prl_disk_tool resize --size N[K|M|G] --hdd DIR`: grows a ploop image, mounted or not,
/// by rewriting `<Disk_size>` (512-byte sectors) in its DiskDescriptor.xml. A smaller size
/// is refused, as shrinking a mounted image is. Messages and codes are invented.
fn prl_disk_tool(state: &mut LabState, host: &str, args: &[&str]) -> Reply {
    let value = |flag: &str| {
        args.iter()
            .position(|a| *a == flag)
            .and_then(|i| args.get(i + 1))
            .copied()
    };
    let (Some(&"resize"), Some(size), Some(hdd)) = (args.first(), value("--size"), value("--hdd"))
    else {
        return Reply::fail(
            1,
            "prl_disk_tool: the lab knows only resize --size N --hdd DIR\n",
        );
    };
    let mb = match size.split_at(size.len().saturating_sub(1)) {
        (n, "G") => n.parse::<u64>().ok().map(|n| n * 1024),
        (n, "M") => n.parse::<u64>().ok(),
        (n, "K") => n.parse::<u64>().ok().map(|n| n / 1024),
        _ => size.parse::<u64>().ok(),
    };
    let Some(mb) = mb else {
        return Reply::fail(1, format!("Invalid size: {size}\n"));
    };
    let path = format!("{}/DiskDescriptor.xml", hdd.trim_end_matches('/'));
    let h = state.host_mut(host);
    let Some(descriptor) = h.files.get_mut(&path) else {
        return Reply::fail(
            1,
            format!("Unable to open {path}: No such file or directory\n"),
        );
    };
    let current = disk_size_sectors(&descriptor.content).unwrap_or(0);
    let wanted = mb * 2048;
    if wanted < current {
        return Reply::fail(
            1,
            format!("Shrinking the mounted image {hdd} is not supported\n"),
        );
    }
    descriptor.content = descriptor.content.replace(
        &format!("<Disk_size>{current}</Disk_size>"),
        &format!("<Disk_size>{wanted}</Disk_size>"),
    );
    Reply::ok(format!("Resize the disk {hdd} to {mb}M\n")).takes(10.0)
}

fn disk_size_sectors(descriptor: &str) -> Option<u64> {
    let start = descriptor.find("<Disk_size>")? + "<Disk_size>".len();
    let end = descriptor[start..].find("</Disk_size>")? + start;
    descriptor[start..end].trim().parse().ok()
}
