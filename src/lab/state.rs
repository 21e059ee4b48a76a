//! The lab's model of a cluster: everything the simulated tools read and change.
//!
//! It is plain data (serde), so it can live in memory for one run or in a state file that
//! consecutive commands, and the `lab-shim` behind a real sshd, share.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use super::ve_index::VeIndex;
use serde::{Deserialize, Serialize};

/// Wall-clock seconds since the epoch; completion times are stored as such so they survive
/// between processes sharing a state file.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// When something started at `start` (the lab's time, see `LabState::lab_now`) and taking
/// `lab_seconds` finishes: scaled wall seconds at a speed above 0, else virtual seconds.
pub fn done_at(start: f64, speed: f64, lab_seconds: f64) -> f64 {
    if speed > 0.0 {
        start + lab_seconds * speed
    } else {
        start + lab_seconds
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VeKind {
    CT,
    VM,
}

impl VeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VeKind::CT => "CT",
            VeKind::VM => "VM",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ve {
    /// Without braces.
    pub uuid: String,
    pub name: String,
    pub kind: VeKind,
    /// A status word of prlctl (`running`, `stopped`, `starting`, ...).
    pub status: String,
    pub ip: Vec<String>,
    /// The hypervisor it is registered on; `None` when unregistered.
    pub host: Option<String>,
    /// The host named as owner in its config (shared storage); may differ from `host` after
    /// a node dies.
    pub owner: Option<String>,
    pub home: String,
    pub hostname: String,
    /// `prlctl set --description`: free text, new lines and all.
    #[serde(default)]
    pub description: String,
    pub ostemplate: String,
    pub memsize_mb: u64,
    /// 0: no CPU limit (`unlimited`).
    pub cpus: u32,
    pub disk_mb: u64,
    pub onboot: bool,
    pub tier: u8,
    pub replicas: String,
    pub netifs: Vec<String>,
    /// The virtual network of each adapter that has one (`net0` → `Bridged`); routed
    /// `venet0` has none.
    #[serde(default)]
    pub networks: BTreeMap<String, String>,
    /// Fault: a start takes this many lab seconds.
    pub slow_start_s: Option<f64>,
    /// Fault: this many more migrations fail before one succeeds.
    pub fail_migrations: u32,
    /// Fault: its configuration cannot be read (prlctl exits 255 with another message
    /// than "not found").
    #[serde(default)]
    pub broken_config: bool,
    /// A slow start that is still going: when it will be running (wall clock).
    pub running_at: Option<f64>,
    /// Fault: every live migration fails (a container with half-open sockets cannot be
    /// checkpointed); an offline migration works.
    #[serde(default)]
    pub live_migration_fails: bool,
    /// HA priority (`prlctl list -i -f`: `High Availability: enabled=yes prio=N`).
    #[serde(default)]
    pub ha_prio: u32,
    /// Disk images (by device, `hdd0`) whose vstorage attributes are no longer the home's
    /// (see `ve_images`); an image not named here has the home's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, super::ve_images::ImageAttrs>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cs {
    pub id: u32,
    pub host: String,
    pub tier: u8,
    pub repo: String,
    pub space_gb: u64,
    pub free_gb: u64,
    pub replicas: u64,
    /// `active`, `inactive`, `offline`, `dropped`, `maintenance`, ...
    pub status: String,
    pub journal: Option<String>,
    /// Being removed: gone at this wall-clock time; `None` with `never_drains`.
    pub drained_at: Option<f64>,
    /// Fault: a removal never finishes.
    pub never_drains: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mds {
    pub id: u32,
    pub host: String,
    pub address: String,
    pub master: bool,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct License {
    pub key: String,
    pub status: String,
    pub capacity_tb: u64,
    pub expiration: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabFile {
    pub content: String,
    pub mode: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub active: bool,
    pub enabled: bool,
    pub description: String,
    /// A pending job (`start`, `stop`, ...), shown in list-units' JOB column.
    #[serde(default)]
    pub job: Option<String>,
    /// A chunk server's unit: the repository its `csd -r DIR` process serves (csd(1)).
    #[serde(default)]
    pub repo: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disk {
    pub device: String,
    pub size_gb: u64,
    /// Set once prepare_vstorage_drive made a partition and a file system on it.
    pub partition: Option<Partition>,
    /// What else the whole disk is (see `DiskKind`): the disks naive code wipes.
    #[serde(default)]
    pub kind: DiskKind,
}

/// What a disk that is not a blank spare is used for. Each kind is what `lsblk`, `blkid`,
/// `/proc/swaps` and `pvs` show on a real node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskKind {
    /// No signature at all (or one made by prepare_vstorage_drive, see `partition`).
    #[default]
    Blank,
    /// An LVM physical volume whose logical volume is mounted as `/dev/mapper/...`: mounted
    /// under a name that does not start with the disk's.
    LvmPv,
    /// A member of an md RAID array (`/dev/md127`).
    RaidMember,
    /// Swap on the whole disk, active.
    Swap,
    /// A partition with an xfs file system, not mounted.
    Partitioned,
    /// A partition with an xfs file system, mounted on /srv/<name>.
    Mounted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partition {
    pub device: String,
    pub uuid: String,
    pub fstype: String,
    /// As `tune2fs -m` takes it: a ratio, fractions included (`-m 0.5`).
    pub reserved_pct: f64,
    /// Directories on the file system (relative) while it is not mounted; once mounted they
    /// are the host's `dirs` below the mount point. A fresh ext4 holds `lost+found`.
    #[serde(default)]
    pub content: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mount {
    pub source: String,
    pub target: String,
    pub fstype: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub kind: String,
    pub ifname: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostState {
    pub name: String,
    pub address: String,
    /// The address the node has on the storage network, which `vstorage stat` prints as the
    /// HOST of its CSs and MDSs; `None`: the same as `address`.
    #[serde(default)]
    pub storage_address: Option<String>,
    /// What `hostname` prints; `None`: the inventory name.
    #[serde(default)]
    pub hostname: Option<String>,
    pub tags: Vec<String>,
    pub cpus: u32,
    pub memory_mb: u64,
    /// Fault: every command times out.
    pub unreachable: bool,
    pub files: BTreeMap<String, LabFile>,
    pub dirs: Vec<String>,
    pub sysctl: BTreeMap<String, String>,
    pub ports_runtime: Vec<String>,
    pub ports_permanent: Vec<String>,
    pub units: BTreeMap<String, Unit>,
    pub disks: Vec<Disk>,
    pub mounts: Vec<Mount>,
    pub networks: Vec<Network>,
    /// Written to /proc/sys/vm/drop_caches so far.
    pub caches_dropped: u32,
    /// pcompact runs so far.
    pub pcompact_runs: u32,
    /// pfcache, local file systems, packages, clock, interfaces (see `services`).
    #[serde(default)]
    pub ops: super::services::OpsState,
}

/// Where a cluster is mounted when the scenario does not say: the docs' `/vstorage/CLUSTER`.
pub fn default_mount(cluster: &str) -> String {
    format!("/vstorage/{cluster}")
}

/// The states in which a VE holds memory on its host.
pub fn is_up(status: &str) -> bool {
    matches!(status, "running" | "starting" | "paused" | "migrating")
}

/// The whole simulated cluster: hosts, VEs, storage services, license and settings; what
/// `--lab-state` files hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabState {
    /// The storage cluster's name (`vstorage://CLUSTER`).
    pub cluster: String,
    /// Where the nodes mount the cluster file system, when not `/vstorage/CLUSTER` (the
    /// scenario's `mount_point`); see `mount_root`.
    #[serde(default)]
    pub mount_point: Option<String>,
    /// Latency multiplier: 0 answers at once, 1 takes as long as a real cluster.
    pub speed: f64,
    /// Lab seconds passed at speed 0: the virtual clock. Only the simulated commands' own
    /// durations move it (`rm-cs --wait` waits out the drain), so at speed 0 drains and slow
    /// starts still finish in order and a runbook that does not wait sees them unfinished.
    #[serde(default)]
    pub clock: f64,
    /// The hosts, with their services, files and packages.
    pub hosts: Vec<HostState>,
    /// Every VM and container, wherever it lives.
    pub ves: Vec<Ve>,
    /// The chunk servers of the storage cluster.
    pub css: Vec<Cs>,
    /// The metadata servers of the storage cluster.
    pub mdss: Vec<Mds>,
    /// The storage license `vstorage stat` reports.
    pub license: License,
    /// Normal number of replicas of each chunk (the `NORM` of `NORM:MIN`).
    pub replicas_norm: u32,
    /// Minimum number of replicas for writes to go on (the `MIN` of `NORM:MIN`).
    pub replicas_min: u32,
    /// `vstorage stat` prints a TIER column.
    #[serde(default)]
    pub stat_tiers: bool,
    /// Which release's output formats the simulated tools print.
    #[serde(default)]
    pub variant: Variant,
    /// `prlctl list -j` writes values without JSON escapes (see the scenario's
    /// `prlctl_json_unescaped`).
    #[serde(default)]
    pub prlctl_json_unescaped: bool,
    /// `vstorage get-config` values.
    pub config: BTreeMap<String, String>,
    /// Attributes of paths that are not VE homes (the cluster mount and below).
    pub path_attrs: BTreeMap<String, PathAttrs>,
    /// Chunks being deleted (VEs or files removed lately): `vstorage stat` counts them in
    /// the `deleting` state, which is no fault (reference §2.3, chunk states).
    #[serde(default)]
    pub deleting_chunks: u64,
    /// Counter behind generated UUIDs and ids.
    pub serial: u64,
    /// High availability (shaman) runs on the cluster: its repositories live under
    /// `MOUNT/.shaman` (see `shaman`).
    #[serde(default)]
    pub ha: bool,
    /// Files under the cluster mount (`mount_root`): one file system shared by every host that has
    /// it mounted (a host where it is not mounted sees its own local directory instead).
    #[serde(default)]
    pub shared_files: BTreeMap<String, LabFile>,
    /// How VEs are found fast (see `VeIndex`); not part of the state.
    #[serde(skip)]
    pub ve_index: VeIndex,
}

/// The output variants of the real tools that the lab can print (see `variant` in a
/// scenario), so tests meet each of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// Virtuozzo 7 as documented for its storage (reference §2.3, "older variant"):
    /// `License: KEY is STATE`, the 9-column CS table with FREE.
    #[default]
    Vz7,
    /// The newer storage releases (VHI 4.7 docs, reference §2.3): `cluster version`,
    /// `License: STATE (expiration: …)`, more chunk states, and the 11-column CS table
    /// `CSID STATUS SPACE AVAIL REPLICAS UNIQUE IOWAIT IOLAT QDEPTH HOST BUILD_VERSION`.
    Vhi,
}

impl HostState {
    /// The HOST `vstorage stat` prints for this node's services.
    pub fn stat_address(&self) -> &str {
        self.storage_address.as_deref().unwrap_or(&self.address)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathAttrs {
    pub replicas: String,
    pub tier: u8,
    pub failure_domain: String,
}

impl LabState {
    /// The host named `name`, if the lab has one.
    pub fn host(&self, name: &str) -> Option<&HostState> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The host named `name`, for changing it; panics when there is none (commands only
    /// reach known hosts).
    pub fn host_mut(&mut self, name: &str) -> &mut HostState {
        self.hosts
            .iter_mut()
            .find(|h| h.name == name)
            .expect("commands run on known hosts")
    }

    /// A host given by name or address, as prlctl's `dst_node` may be.
    pub fn host_by_node(&self, node: &str) -> Option<&HostState> {
        let node = node.rsplit('@').next().unwrap_or(node);
        let node = node.split(':').next().unwrap_or(node);
        self.hosts
            .iter()
            .find(|h| h.name == node || h.address == node)
    }

    /// The lab's time now: wall seconds at a speed above 0, else the virtual clock.
    pub fn lab_now(&self) -> f64 {
        if self.speed > 0.0 {
            now()
        } else {
            self.clock
        }
    }

    /// When something that takes `lab_seconds` (from now) finishes, on the lab's time.
    pub fn done_after(&self, lab_seconds: f64) -> f64 {
        done_at(self.lab_now(), self.speed, lab_seconds)
    }

    /// Lab seconds from `at` to `now` (both on the lab's time): wall seconds scaled back by
    /// the speed above 0, virtual seconds at 0.
    pub fn lab_seconds_between(&self, at: f64, now: f64) -> f64 {
        if self.speed > 0.0 {
            (now - at) / self.speed
        } else {
            now - at
        }
    }

    /// Lab seconds until `at` (on the lab's time), never negative.
    pub fn lab_seconds_until(&self, at: f64) -> f64 {
        if self.speed > 0.0 {
            ((at - now()) / self.speed).max(0.0)
        } else {
            (at - self.clock).max(0.0)
        }
    }

    /// A command took `lab_seconds`: at speed 0 the virtual clock moves on (at a speed above
    /// 0 the caller sleeps and the wall clock does it), and what finished meanwhile applies.
    pub fn pass(&mut self, lab_seconds: f64) {
        if self.speed == 0.0 && lab_seconds.is_finite() && lab_seconds > 0.0 {
            self.clock += lab_seconds;
            self.advance(self.clock);
        }
    }

    /// Applies what finished while nobody looked: slow starts that are now running, removed
    /// CSs that have drained.
    pub fn advance(&mut self, now: f64) {
        let due_from = self.ve_index.due_from();
        if now >= due_from {
            let mut next = f64::INFINITY;
            for ve in &mut self.ves {
                if let Some(at) = ve.running_at {
                    if now >= at {
                        ve.running_at = None;
                        ve.status = "running".into();
                    } else {
                        next = next.min(at);
                    }
                }
            }
            self.ve_index.set_due_from(next);
        } else {
            #[cfg(debug_assertions)]
            assert!(
                !self.ves.iter().any(|v| v.running_at.is_some_and(|at| now >= at)),
                "the lab skipped a slow start that had ended: a change set `running_at` without `note_due`"
            );
        }
        self.css
            .retain(|cs| !cs.drained_at.is_some_and(|at| now >= at));
        super::power::anchor(self, now);
        super::network::storage_silence(self, now);
    }

    /// A fresh UUID (deterministic from the serial, so runs are reproducible).
    pub fn next_uuid(&mut self) -> String {
        self.serial += 1;
        uuid_from(&format!("lab-serial-{}", self.serial))
    }

    /// Where the nodes mount the cluster file system (no trailing `/`): the scenario's
    /// `mount_point`, else `/vstorage/CLUSTER` (the documented example, not a rule: the
    /// mount point is whatever fstab or `vstorage-mount -c CLUSTER PATH` names).
    pub fn mount_root(&self) -> String {
        self.mount_point
            .clone()
            .unwrap_or_else(|| default_mount(&self.cluster))
    }

    /// Whether the cluster file system is mounted on the host (as /proc/mounts shows it).
    pub fn cluster_mounted(&self, host: &str) -> bool {
        let target = self.mount_root();
        self.host(host).is_some_and(|h| {
            h.mounts
                .iter()
                .any(|m| m.target == target && m.fstype == "fuse.vstorage")
        })
    }

    /// Whether a path lies on the cluster file system as the host sees it now.
    pub fn on_shared_fs(&self, host: &str, path: &str) -> bool {
        path.starts_with(&format!("{}/", self.mount_root())) && self.cluster_mounted(host)
    }

    /// The file at `path` as the host sees it: on the shared file system, or its own.
    pub fn file(&self, host: &str, path: &str) -> Option<&LabFile> {
        if self.on_shared_fs(host, path) {
            self.shared_files.get(path)
        } else {
            self.host(host)?.files.get(path)
        }
    }

    /// The files the host writes `path` into: the shared file system's, or its own.
    pub fn files_mut(&mut self, host: &str, path: &str) -> &mut BTreeMap<String, LabFile> {
        if self.on_shared_fs(host, path) {
            &mut self.shared_files
        } else {
            &mut self.host_mut(host).files
        }
    }

    /// The id of the master MDS (the first MDS when none is marked master, 1 when there are
    /// none).
    pub fn master_mds(&self) -> u32 {
        self.mdss
            .iter()
            .find(|m| m.master)
            .or(self.mdss.first())
            .map_or(1, |m| m.id)
    }
}

/// A UUID-shaped string derived from a seed.
pub fn uuid_from(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(seed.as_bytes());
    let h: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}
