//! The lab's model of a cluster: everything the simulated tools read and change.
//!
//! It is plain data (serde), so it can live in memory for one run or in a state file that
//! consecutive commands, and the `lab-shim` behind a real sshd, share.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Wall-clock seconds since the epoch; completion times are stored as such so they survive
/// between processes sharing a state file.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
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
    pub ostemplate: String,
    pub memsize_mb: u64,
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
    /// A slow start that is still going: when it will be running (wall clock).
    pub running_at: Option<f64>,
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disk {
    pub device: String,
    pub size_gb: u64,
    /// Set once prepare_vstorage_drive made a partition and a file system on it.
    pub partition: Option<Partition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partition {
    pub device: String,
    pub uuid: String,
    pub fstype: String,
    pub reserved_pct: u32,
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

impl HostState {
    /// Memory the host's running VEs take, in MB.
    pub fn used_mb(&self, ves: &[Ve]) -> u64 {
        ves.iter()
            .filter(|v| v.host.as_deref() == Some(&self.name) && is_up(&v.status))
            .map(|v| v.memsize_mb)
            .sum()
    }
}

/// The states in which a VE holds memory on its host.
pub fn is_up(status: &str) -> bool {
    matches!(status, "running" | "starting" | "paused" | "migrating")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabState {
    pub cluster: String,
    /// Latency multiplier: 0 answers at once, 1 takes as long as a real cluster.
    pub speed: f64,
    pub hosts: Vec<HostState>,
    pub ves: Vec<Ve>,
    pub css: Vec<Cs>,
    pub mdss: Vec<Mds>,
    pub license: License,
    pub replicas_norm: u32,
    pub replicas_min: u32,
    /// `vstorage stat` prints a TIER column.
    #[serde(default)]
    pub stat_tiers: bool,
    /// `vstorage get-config` values.
    pub config: BTreeMap<String, String>,
    /// Attributes of paths that are not VE homes (`/vstorage/<cluster>` and below).
    pub path_attrs: BTreeMap<String, PathAttrs>,
    /// Counter behind generated UUIDs and ids.
    pub serial: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathAttrs {
    pub replicas: String,
    pub tier: u8,
    pub failure_domain: String,
}

impl LabState {
    pub fn host(&self, name: &str) -> Option<&HostState> {
        self.hosts.iter().find(|h| h.name == name)
    }

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

    /// Applies what finished while nobody looked: slow starts that are now running, removed
    /// CSs that have drained.
    pub fn advance(&mut self, now: f64) {
        for ve in &mut self.ves {
            if let Some(at) = ve.running_at {
                if now >= at {
                    ve.running_at = None;
                    ve.status = "running".into();
                }
            }
        }
        self.css
            .retain(|cs| !cs.drained_at.is_some_and(|at| now >= at));
    }

    /// A fresh UUID (deterministic from the serial, so runs are reproducible).
    pub fn next_uuid(&mut self) -> String {
        self.serial += 1;
        uuid_from(&format!("lab-serial-{}", self.serial))
    }

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
