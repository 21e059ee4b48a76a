//! Lab scenarios: a YAML description of a cluster, turned into the lab's state.
//!
//! The embedded default (`default.yaml`) is the cluster a newcomer meets with `--lab`; a
//! scenario file describes another one, with faults to rehearse against.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::scenario_disks::{scenario_disk, DiskSpec};
use super::state::*;

/// The built-in lab scenario (`src/lab/default.yaml`): what `vzrun --lab` runs against.
pub const DEFAULT_SCENARIO: &str = include_str!("default.yaml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    cluster: String,
    /// Where every node mounts the cluster file system (fstab line, /proc/mounts, VE
    /// homes, `.vstorage.info`), when not `/vstorage/CLUSTER`: the documented mount point
    /// is an example (`mkdir -p /vstorage/stor1`), fstab or `vstorage-mount -c C PATH`
    /// may name any directory.
    #[serde(default)]
    mount_point: Option<String>,
    #[serde(default = "default_speed")]
    speed: f64,
    hosts: Vec<HostSpec>,
    #[serde(default)]
    ves: Vec<VeSpec>,
    #[serde(default)]
    css: Vec<CsSpec>,
    #[serde(default)]
    mdss: Vec<MdsSpec>,
    #[serde(default)]
    license: Option<LicenseSpec>,
    /// Print a TIER column in `vstorage stat`'s CS table (the documented layouts have none;
    /// a build that prints one lets runbooks check per tier).
    #[serde(default)]
    stat_tiers: bool,
    /// Which release's output the tools print: `vz7` (default) or `vhi` (the newer storage
    /// layouts). See `Variant`.
    #[serde(default)]
    variant: Variant,
    /// `prlctl list -j` writes values as they are, without JSON escapes, as the JSON
    /// formatter of OpenVZ/prlctl's `PrlOutFormatter.cpp` does in the versions published
    /// (commit 7e13fcc: `out << '"' << value << '"'`); reference §1.2 says vz7-u22 escapes
    /// `\\ \" \n \t \b \f \r`. A name holding `"` or a backslash then makes the document invalid.
    #[serde(default)]
    prlctl_json_unescaped: bool,
    /// Write each host's /etc/fstab as operators leave it (tabs, a trailing slash on the
    /// cluster's mount point, comments) instead of the installer's layout.
    #[serde(default)]
    operator_fstab: bool,
    #[serde(default = "default_replicas")]
    replicas: String,
    /// The cluster root's `failure-domain` (`get-attr`): `host` (the default), `disk`,
    /// `rack`, `row` or `room` (reference virtuozzo-cli.md §2.5). Directories and files
    /// below inherit it.
    #[serde(default = "default_failure_domain")]
    failure_domain: String,
    /// Chunks `vstorage stat` counts as `deleting` (space being freed after a removal).
    #[serde(default)]
    deleting_chunks: u64,
    /// High availability (shaman) on: each VE a resource in its node's repository on the
    /// cluster file system (see `shaman`).
    #[serde(default)]
    ha: bool,
    /// With `ha`: VEs (UUIDs) whose resource shaman gave up on (in `.shaman/broken`).
    #[serde(default)]
    ha_broken: Vec<String>,
    /// Cluster parameters (`vstorage get-config`) besides, or instead of, the defaults. An
    /// empty value leaves the parameter out of get-config's list (the format and whether
    /// it lists parameters left at their defaults are not documented: reference §7).
    #[serde(default)]
    config: BTreeMap<String, String>,
}

fn default_speed() -> f64 {
    0.05
}

fn default_replicas() -> String {
    "3:2".into()
}

fn default_failure_domain() -> String {
    "host".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostSpec {
    name: String,
    address: String,
    /// The node's storage-network address: `vstorage stat` prints it as HOST.
    #[serde(default)]
    storage_address: Option<String>,
    /// What `hostname` prints (default: the name).
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default = "default_cpus")]
    cpus: u32,
    #[serde(default = "default_memory")]
    memory_mb: u64,
    /// Fault: SSH does not answer, but the node is alive: it keeps its cluster mount (a
    /// client session in `vstorage stat`), its CSs and its running VEs.
    #[serde(default)]
    unreachable: bool,
    /// The node is off: SSH does not answer, and the cluster no longer sees it (no client
    /// session, its CSs offline, its VEs not running).
    #[serde(default)]
    powered_off: bool,
    /// With `powered_off`: it went off this many lab seconds before the scenario starts
    /// (default: long ago, all of the above). The cluster has not caught up yet: the MDS
    /// lists its CSs active until it misses them, inactive for their first 5 minutes of
    /// silence, offline after; its client session is still listed for a while (`power`).
    #[serde(default)]
    off_for_s: Option<f64>,
    /// Spare disks, e.g. `[/dev/sdc, /dev/sdd]`, or disks in other use:
    /// `{device: /dev/sdc, kind: lvm-pv}` (kinds: blank, lvm-pv, raid-member, swap,
    /// partitioned, mounted).
    #[serde(default)]
    disks: Vec<DiskSpec>,
    /// Extra files: path → content.
    #[serde(default)]
    files: BTreeMap<String, String>,
    #[serde(default)]
    sysctl: BTreeMap<String, String>,
    /// Units with a pending job: unit → job (`start`, `stop`); the unit waits inactive.
    #[serde(default)]
    pending_jobs: BTreeMap<String, String>,
    /// Units of the host's base set (firewalld, chronyd, ...) that are stopped and disabled.
    #[serde(default)]
    stopped_units: Vec<String>,
    /// Open firewalld ports (runtime, `--list-ports`); default `22/tcp` plus 2510/tcp on an
    /// MDS host. Given (e.g. by `vzrun lab capture`), they replace the default.
    #[serde(default)]
    firewall_ports: Option<Vec<String>>,
    /// Open firewalld ports in the permanent configuration; as `firewall_ports`.
    #[serde(default)]
    firewall_permanent_ports: Option<Vec<String>>,
    /// pfcache, local file systems, packages, clock, interfaces, faults (lab `services`).
    #[serde(default)]
    ops: super::services::OpsState,
}

fn default_cpus() -> u32 {
    32
}

fn default_memory() -> u64 {
    262_144
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VeSpec {
    name: String,
    #[serde(default = "default_kind")]
    kind: String,
    host: String,
    #[serde(default = "default_status")]
    status: String,
    #[serde(default)]
    ip: Vec<String>,
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default = "default_memsize")]
    memsize: u64,
    #[serde(default = "default_ve_cpus")]
    cpus: u32,
    #[serde(default)]
    tier: u8,
    /// Replicas of its home (`N` or `N:M`) when set-attr gave it its own; default: the
    /// cluster's `replicas`.
    #[serde(default)]
    replicas: Option<String>,
    #[serde(default)]
    ostemplate: Option<String>,
    #[serde(default)]
    slow_start_s: Option<f64>,
    #[serde(default)]
    fail_migrations: u32,
    #[serde(default)]
    broken_config: bool,
    /// Fault: live migration always fails (half-open sockets); offline works.
    #[serde(default)]
    live_migration_fails: bool,
    #[serde(default)]
    ha_prio: u32,
    /// Virtual network of its adapter (default: `Bridged` for VMs, none for routed CTs).
    #[serde(default)]
    network: Option<String>,
    /// Its home is on the node's local disk, not on the cluster: `VE_PRIVATE=/vz/private/$VEID`
    /// is vz.conf's stock value (reference §4.1), so a CT created without `--private` on
    /// the cluster lives in /vz/private (a VM in /vz/vmprivate), where `vstorage get-attr`
    /// has nothing to say.
    #[serde(default)]
    local: bool,
    /// Its description (`prlctl list -i`'s `Description`), new lines and all.
    #[serde(default)]
    description: String,
}

fn default_kind() -> String {
    "CT".into()
}
fn default_status() -> String {
    "running".into()
}
fn default_memsize() -> u64 {
    2048
}
fn default_ve_cpus() -> u32 {
    2
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CsSpec {
    id: u32,
    host: String,
    #[serde(default)]
    tier: u8,
    #[serde(default = "default_space")]
    space_gb: u64,
    #[serde(default)]
    free_gb: Option<u64>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    never_drains: bool,
    /// Reserved-blocks percentage of its ext4 (`tune2fs -m`, fractions allowed as in
    /// `-m 0.5`); 0 as add-cs leaves it.
    #[serde(default)]
    reserved_pct: f64,
    /// A repository directory on the root file system (no disk of its own, no mount, no
    /// fstab line), as `make-cs -r /var/lib/cs1` leaves it; default: a disk of its own.
    #[serde(default)]
    repo: Option<String>,
    /// The file system of its disk (default ext4, as prepare_vstorage_drive makes it); an
    /// older or hand-made CS disk may be xfs, which has no reserved blocks (tune2fs fails).
    #[serde(default)]
    fstype: Option<String>,
}

/// A scenario's CS as the lab's cluster holds it.
fn cs_state(c: &CsSpec, repo: String) -> Cs {
    Cs {
        id: c.id,
        host: c.host.clone(),
        tier: c.tier,
        repo,
        space_gb: c.space_gb,
        free_gb: c.free_gb.unwrap_or(c.space_gb * 7 / 10),
        replicas: 40,
        status: c.status.clone().unwrap_or_else(|| "active".into()),
        journal: None,
        drained_at: None,
        never_drains: c.never_drains,
    }
}

pub(super) fn default_space() -> u64 {
    1862
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MdsSpec {
    id: u32,
    host: String,
    #[serde(default)]
    master: bool,
    /// `avail` unless given (e.g. `offline` for an MDS whose node is down).
    #[serde(default)]
    status: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenseSpec {
    key: String,
    #[serde(default = "default_license_status")]
    status: String,
    #[serde(default = "default_capacity")]
    capacity_tb: u64,
    #[serde(default = "default_expiration")]
    expiration: String,
}

fn default_license_status() -> String {
    "ACTIVE".into()
}
fn default_capacity() -> u64 {
    100
}
fn default_expiration() -> String {
    "12/31/2027".into()
}

/// A scenario that could not be read; `line`/`column` point into the YAML when known.
#[derive(Debug, thiserror::Error)]
#[error("{origin}{}: {message}", location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct ScenarioError {
    /// What the scenario came from, as errors name it (usually its file path).
    pub origin: String,
    /// Line and column (1-based) of the problem in the YAML, when known.
    pub location: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

/// Parses a scenario and builds the initial state. `origin` names the file in errors.
pub fn load(yaml: &str, origin: &str) -> Result<LabState, ScenarioError> {
    let scenario: Scenario = serde_yaml::from_str(yaml).map_err(|e| ScenarioError {
        origin: origin.to_string(),
        location: e.location().map(|l| (l.line(), l.column())),
        message: e.to_string(),
    })?;
    build(scenario).map_err(|message| ScenarioError {
        origin: origin.to_string(),
        location: None,
        message,
    })
}

/// The installer's /etc/fstab (anaconda's header and spacing), or, with `operator`, one as
/// operators leave it: tabs, comments, a trailing slash on the mount point (mount(8) takes
/// `/vstorage/c/` and `/vstorage/c` as one). The operator layout is invented from the
/// public fstab lines of reference §2.8.
fn fstab(cluster: &str, mount: &str, operator: bool) -> String {
    if operator {
        format!(
            "#\n# /etc/fstab\n# Created by anaconda on Tue Mar  3 10:12:44 2020\n#\nUUID=6f1c0e52-8f0b-4a57-9c55-0d3c2a8e4b11\t/\txfs\tdefaults\t0 0\nUUID=2b7d5a9e-13c4-4a0e-8d7f-5e2c1b0a9f33\t/boot\txfs\tdefaults\t0 0\n# swap moved to the SSD, 2021-04\nUUID=9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d\tswap\tswap\tdefaults\t0 0\n\n# Virtuozzo Storage\nvstorage://{cluster}\t{mount}/\tfuse.vstorage\trw,nosuid,nodev,_netdev\t0 0\n"
        )
    } else {
        format!(
            "#\n# /etc/fstab\n# Created by anaconda\n#\nUUID=6f1c0e52-8f0b-4a57-9c55-0d3c2a8e4b11 /                       xfs     defaults        0 0\nUUID=2b7d5a9e-13c4-4a0e-8d7f-5e2c1b0a9f33 /boot                   xfs     defaults        0 0\nUUID=9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d swap                    swap    defaults        0 0\nvstorage://{cluster} {mount} fuse.vstorage _netdev 0 0\n"
        )
    }
}

/// The scenario's `mount_point` as one spelling (no trailing or doubled `/`), or why it
/// cannot be one: an absolute path other than `/`, one fstab field (no blanks).
fn mount_point(text: &str) -> Result<String, String> {
    crate::parse::rules::check_abs_path(text)
        .map_err(|why| format!("mount_point {text:?} {why}"))?;
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "mount_point {text:?} holds a blank or control character"
        ));
    }
    let parts: Vec<&str> = text
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() {
        return Err(format!("mount_point {text:?} is the root directory"));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The fstab line of a CS disk, in the file's style.
fn cs_fstab_line(uuid: &str, repo: &str, operator: bool) -> String {
    if operator {
        format!("# chunk server disk\nUUID={uuid}\t{repo}/\text4\tdefaults,lazytime\t1 2\n")
    } else {
        format!("UUID={uuid} {repo} ext4 defaults,lazytime 1 2\n")
    }
}

fn default_files(
    cluster: &str,
    mount: &str,
    host: &HostSpec,
    operator_fstab: bool,
) -> BTreeMap<String, LabFile> {
    let file = |content: &str| LabFile {
        content: content.to_string(),
        mode: 0o644,
    };
    let mut files = BTreeMap::new();
    files.insert(
        "/etc/fstab".into(),
        file(&fstab(cluster, mount, operator_fstab)),
    );
    files.insert(
        "/etc/vz/vz.conf".into(),
        file("## Global parameters\nVIRTUOZZO=yes\nLOCKDIR=/vz/lock\nDUMPDIR=/vz/dump\nVE0CPUUNITS=1000\n\n## Logging parameters\nLOGGING=yes\nLOGFILE=/var/log/vzctl.log\nLOG_LEVEL=0\nVERBOSE=0\n\n## Disk quota parameters\nDISK_QUOTA=yes\n\n## Network traffic parameters\nTRAFFIC_SHAPING=no\n\n## Template parameters\nTEMPLATE=/vz/template\n\n## Defaults for containers\nVE_ROOT=/vz/root/$VEID\nVE_PRIVATE=/vz/private/$VEID\nCONFIGFILE=\"basic\"\nDEF_OSTEMPLATE=\".centos-7\"\n\n## Load vzwdog module\nVZWDOG=\"no\"\n\nVEFSTYPE=\"ext4\"\nVE_STOP_MODE=stop\n"),
    );
    files.insert(
        "/etc/vz/pfcache.conf".into(),
        file("COUNT=2\nMINSIZE=0\nMAXSIZE=2147483648\nTIMEOUT=5\nLOGLEVEL=1\nPAGEMIN=1\nPURGEAHEAD=20\n"),
    );
    files.insert(
        "/etc/vz/pcompact.conf".into(),
        file("THRESHOLD=10\nDELTA=5\nDEFRAG=yes\n"),
    );
    files.insert(
        "/etc/vz/vstorage-limits.conf".into(),
        file("{\"VStorage\": {\"Path\": \"vstorage.slice/vstorage-services.slice\", \"Limit\": {\"Max\": -1, \"Min\": 0, \"Share\": 0.7}, \"Guarantee\": {\"Max\": 0, \"Min\": 0, \"Share\": 0.25}, \"Swap\": {\"Max\": 0, \"Min\": 0, \"Share\": 0}}}\n"),
    );
    files.insert(
        "/etc/sysctl.d/99-vzctl.conf".into(),
        file("net.ipv4.ip_forward=1\nnet.ipv6.conf.all.forwarding=1\nkernel.pid_max = 1048576\nfs.file-max = 18446744073709551615\n"),
    );
    files.insert(
        format!("/etc/vstorage/clusters/{cluster}/bs.list"),
        file("10.30.17.31\n"),
    );
    files.insert("/etc/hostname".into(), file(&format!("{}\n", host.name)));
    files.insert(
        "/etc/sudoers".into(),
        LabFile {
            content: "Defaults    requiretty\nroot    ALL=(ALL)       ALL\n".into(),
            mode: 0o440,
        },
    );
    for (path, content) in &host.files {
        files.insert(path.clone(), file(content));
    }
    files
}

fn default_sysctl() -> BTreeMap<String, String> {
    [
        ("net.ipv4.ip_forward", "1"),
        ("fs.file-max", "18446744073709551615"),
        ("kernel.sysrq", "16"),
        ("kernel.panic", "0"),
        ("vm.min_free_kbytes", "90112"),
        ("vm.overcommit_memory", "0"),
        ("vm.swappiness", "60"),
        ("vm.vfs_cache_pressure", "100"),
        ("net.ipv4.tcp_rmem", "4096\t87380\t6291456"),
        ("kernel.pid_max", "1048576"),
        ("fs.nr_open", "1048576"),
        ("vm.drop_caches", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn unit(description: &str, active: bool) -> Unit {
    Unit {
        active,
        enabled: active,
        description: description.to_string(),
        job: None,
        repo: None,
    }
}

fn build(s: Scenario) -> Result<LabState, String> {
    if s.cluster.is_empty()
        || s.cluster.len() > 63
        || !s
            .cluster
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "cluster name {:?} must be 1-63 of a-z A-Z 0-9 - _",
            s.cluster
        ));
    }
    if !(0.0..=100.0).contains(&s.speed) {
        return Err(format!("speed {} must be within 0..=100", s.speed));
    }
    let (norm, min) = parse_replicas(&s.replicas)?;
    if !matches!(
        s.failure_domain.as_str(),
        "disk" | "host" | "rack" | "row" | "room"
    ) {
        return Err(format!(
            "failure_domain {:?}: expected disk, host, rack, row or room",
            s.failure_domain
        ));
    }
    let known = |host: &str, what: &str| {
        if s.hosts.iter().any(|h| h.name == host) {
            Ok(())
        } else {
            Err(format!("{what} names unknown host {host:?}"))
        }
    };
    let cluster = s.cluster.clone();
    let mount = match &s.mount_point {
        Some(m) => Some(mount_point(m)?),
        None => None,
    };
    let root = mount.clone().unwrap_or_else(|| default_mount(&cluster));
    let mut hosts = Vec::new();
    for h in &s.hosts {
        if hosts.iter().any(|x: &HostState| x.name == h.name) {
            return Err(format!("host {:?} is listed twice", h.name));
        }
        let mut units = BTreeMap::new();
        for (name, desc) in [
            ("firewalld.service", "firewalld - dynamic firewall daemon"),
            ("prl-disp.service", "Virtuozzo Dispatcher Service"),
            ("vcmmd.service", "Virtuozzo memory management daemon"),
            ("vstorage-fs.service", "Virtuozzo Storage client mount"),
            ("vstorage-csd.target", "Virtuozzo Storage chunk servers"),
            ("vstorage-mdsd.target", "Virtuozzo Storage metadata servers"),
            ("chronyd.service", "NTP client/server"),
            ("sshd.service", "OpenSSH server daemon"),
        ] {
            units.insert(name.to_string(), unit(desc, true));
        }
        let mut sysctl = default_sysctl();
        sysctl.extend(h.sysctl.clone());
        let mut mounts = vec![Mount {
            source: format!("vstorage://{cluster}"),
            target: root.clone(),
            fstype: "fuse.vstorage".into(),
        }];
        let mut dirs = vec![
            "/vz".into(),
            "/vz/pfcache".into(),
            root.clone(),
            "/etc/sysctl.d".into(),
            "/etc/security/limits.d".into(),
            "/etc/vz".into(),
        ];
        let disks = h
            .disks
            .iter()
            .map(|d| scenario_disk(d, &mut mounts, &mut dirs))
            .collect();
        hosts.push(HostState {
            name: h.name.clone(),
            address: h.address.clone(),
            storage_address: h.storage_address.clone(),
            hostname: h.hostname.clone(),
            tags: h.tags.clone(),
            cpus: h.cpus,
            memory_mb: h.memory_mb,
            unreachable: h.unreachable || h.powered_off,
            files: default_files(&cluster, &root, h, s.operator_fstab),
            dirs,
            sysctl,
            ports_runtime: h
                .firewall_ports
                .clone()
                .unwrap_or_else(|| vec!["22/tcp".into()]),
            ports_permanent: h
                .firewall_permanent_ports
                .clone()
                .unwrap_or_else(|| vec!["22/tcp".into()]),
            units,
            disks,
            mounts,
            networks: vec![
                Network {
                    name: "Bridged".into(),
                    kind: "bridged".into(),
                    ifname: Some("eth0".into()),
                },
                Network {
                    name: "Host-Only".into(),
                    kind: "host-only".into(),
                    ifname: None,
                },
            ],
            caches_dropped: 0,
            pcompact_runs: 0,
            ops: h.ops.clone(),
        });
        super::services::provision(hosts.last_mut().expect("just pushed"));
    }
    // Every node names its peers in /etc/hosts, unless the scenario gives its own file.
    let etc_hosts = super::names::hosts_file(&cluster, &hosts);
    for h in &mut hosts {
        h.files.entry("/etc/hosts".into()).or_insert(LabFile {
            content: etc_hosts.clone(),
            mode: 0o644,
        });
    }
    let mut ves = Vec::new();
    // A set, not a search of the VEs made so far: that was quadratic (a 16000-VE scenario
    // spent seconds here).
    let mut names = std::collections::HashSet::new();
    for v in &s.ves {
        known(&v.host, &format!("VE {:?}", v.name))?;
        let kind = match v.kind.as_str() {
            "CT" | "ct" => VeKind::CT,
            "VM" | "vm" => VeKind::VM,
            other => return Err(format!("VE {:?}: kind {other:?} is not CT or VM", v.name)),
        };
        // Per node: each node's dispatcher knows its own VEs only, so two nodes may each
        // have one of a name (a VE's home is named by its UUID).
        if !names.insert((v.host.as_str(), v.name.as_str())) {
            return Err(format!("VE {:?} is listed twice on {}", v.name, v.host));
        }
        if v.tier > 3 {
            return Err(format!("VE {:?}: tier {} is outside 0-3", v.name, v.tier));
        }
        if let Some(r) = &v.replicas {
            parse_replicas(r).map_err(|e| format!("VE {:?}: replicas {r:?}: {e}", v.name))?;
        }
        let uuid = v
            .uuid
            .clone()
            .unwrap_or_else(|| uuid_from(&format!("ve-{}", v.name)));
        let dir = if kind == VeKind::CT {
            "private"
        } else {
            "vmprivate"
        };
        let ve_root = if v.local { "/vz" } else { root.as_str() };
        ves.push(Ve {
            home: format!("{ve_root}/{dir}/{uuid}"),
            uuid,
            name: v.name.clone(),
            kind,
            status: v.status.clone(),
            ip: v.ip.clone(),
            host: Some(v.host.clone()),
            owner: Some(v.host.clone()),
            // A name that is no host name label ("Win 2019") gives the VE no host name
            // (prlctl prints `-`), as a VM created by its display name has none.
            description: v.description.clone(),
            hostname: if v
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                format!("{}.livelinux.local", v.name)
            } else {
                String::new()
            },
            ostemplate: v.ostemplate.clone().unwrap_or_else(|| {
                if kind == VeKind::CT {
                    "centos-7-x86_64"
                } else {
                    "centos7"
                }
                .into()
            }),
            memsize_mb: v.memsize,
            cpus: v.cpus,
            disk_mb: 65536,
            onboot: true,
            tier: v.tier,
            replicas: v.replicas.clone().unwrap_or_else(|| s.replicas.clone()),
            netifs: vec![if kind == VeKind::CT { "venet0" } else { "net0" }.into()],
            // A VM's adapter is on a virtual network (`Bridged` by default); a CT's venet0
            // is routed unless the scenario puts it on one.
            networks: match (&v.network, kind) {
                (Some(n), VeKind::CT) => [("venet0".to_string(), n.clone())].into(),
                (Some(n), VeKind::VM) => [("net0".to_string(), n.clone())].into(),
                (None, VeKind::VM) => [("net0".to_string(), "Bridged".to_string())].into(),
                (None, VeKind::CT) => Default::default(),
            },
            slow_start_s: v.slow_start_s,
            fail_migrations: v.fail_migrations,
            broken_config: v.broken_config,
            running_at: None,
            live_migration_fails: v.live_migration_fails,
            ha_prio: v.ha_prio,
            images: Default::default(),
        });
    }
    let mut css = Vec::new();
    for c in &s.css {
        known(&c.host, &format!("CS#{}", c.id))?;
        if c.tier > 3 {
            return Err(format!("CS#{}: tier {} is outside 0-3", c.id, c.tier));
        }
        let h = hosts
            .iter_mut()
            .find(|h| h.name == c.host)
            .expect("checked");
        // Each CS sits on its own disk, mounted by UUID through fstab at a mount point named
        // after the disk, its repository a `data` directory in it (the operators' layout:
        // make-cs wants an empty directory, and the file system root holds lost+found).
        let letter = ['b', 'c', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n']
            .into_iter()
            .find(|l| !h.disks.iter().any(|d| d.device == format!("/dev/sd{l}")))
            .unwrap_or('z');
        let device = format!("/dev/sd{letter}");
        let mount = format!("/vstorage/{cluster}-sd{letter}");
        if let Some(repo) = &c.repo {
            if !repo.starts_with('/') || repo.trim_end_matches('/').is_empty() {
                return Err(format!(
                    "CS#{}: repo {repo:?} must be an absolute directory",
                    c.id
                ));
            }
            let mut cs_unit = unit(&format!("Virtuozzo Storage CS {}", c.id), true);
            cs_unit.repo = Some(repo.clone());
            h.units
                .insert(format!("vstorage-csd.{cluster}.{}.service", c.id), cs_unit);
            h.dirs.push(repo.clone());
            h.dirs.push(format!("{repo}/control"));
            css.push(cs_state(c, repo.clone()));
            continue;
        }
        let repo = format!("{mount}/data");
        let part = Partition {
            device: format!("{device}1"),
            uuid: uuid_from(&format!("cs-{}-{}", c.host, c.id)),
            fstype: c.fstype.clone().unwrap_or_else(|| "ext4".into()),
            reserved_pct: c.reserved_pct,
            content: Vec::new(),
        };
        // A scenario that gives the whole fstab (a capture) already has the CS's line.
        if let Some(fstab) = h.files.get_mut("/etc/fstab") {
            if !fstab.content.contains(&part.uuid) {
                fstab
                    .content
                    .push_str(&cs_fstab_line(&part.uuid, &mount, s.operator_fstab));
            }
        }
        h.mounts.push(Mount {
            source: part.device.clone(),
            target: mount.clone(),
            fstype: part.fstype.clone(),
        });
        h.disks.push(Disk {
            device,
            size_gb: c.space_gb,
            partition: Some(part),
            kind: DiskKind::Blank,
        });
        let mut cs_unit = unit(&format!("Virtuozzo Storage CS {}", c.id), true);
        cs_unit.repo = Some(repo.clone());
        h.units
            .insert(format!("vstorage-csd.{cluster}.{}.service", c.id), cs_unit);
        for dir in [
            mount.clone(),
            format!("{mount}/lost+found"),
            repo.clone(),
            format!("{repo}/control"),
        ] {
            h.dirs.push(dir);
        }
        css.push(cs_state(c, repo));
    }
    let mut mdss = Vec::new();
    for m in &s.mdss {
        known(&m.host, &format!("MDS#{}", m.id))?;
        let h = hosts
            .iter_mut()
            .find(|h| h.name == m.host)
            .expect("checked");
        h.units.insert(
            format!("vstorage-mdsd.{cluster}.{}.service", m.id),
            unit(&format!("Virtuozzo Storage MDS {}", m.id), true),
        );
        for ports in [&mut h.ports_runtime, &mut h.ports_permanent] {
            if !ports.iter().any(|p| p == "2510/tcp") {
                ports.push("2510/tcp".into());
            }
        }
        mdss.push(Mds {
            id: m.id,
            host: m.host.clone(),
            address: h.stat_address().to_string(),
            master: m.master,
            status: m.status.clone().unwrap_or_else(|| "avail".into()),
        });
    }
    bootstrap_lists(&cluster, &s.hosts, &mut hosts, &mdss);
    for spec in &s.hosts {
        let h = hosts
            .iter_mut()
            .find(|h| h.name == spec.name)
            .expect("built above");
        for name in &spec.stopped_units {
            let unit = h.units.get_mut(name).ok_or_else(|| {
                format!(
                    "host {:?}: stopped unit {name:?} is not one the lab has",
                    spec.name
                )
            })?;
            unit.active = false;
            unit.enabled = false;
        }
        for (name, job) in &spec.pending_jobs {
            let unit = h.units.get_mut(name).ok_or_else(|| {
                format!(
                    "host {:?}: pending job for unknown unit {name:?}",
                    spec.name
                )
            })?;
            unit.active = false;
            unit.job = Some(job.clone());
        }
    }
    let license = s.license.map_or_else(
        || License {
            key: "PCSS.02444715.0000".into(),
            status: "ACTIVE".into(),
            capacity_tb: 100,
            expiration: "12/31/2027".into(),
        },
        |l| License {
            key: l.key,
            status: l.status,
            capacity_tb: l.capacity_tb,
            expiration: l.expiration,
        },
    );
    let mut path_attrs = BTreeMap::new();
    path_attrs.insert(
        root.clone(),
        PathAttrs {
            replicas: s.replicas.clone(),
            tier: 0,
            failure_domain: s.failure_domain.clone(),
        },
    );
    let config = [
        ("mds.wd.offline_tout_mnt", "180000"),
        ("mds.wd.offline_tout", "300000"),
        ("mds.alloc.fill_margin", "5"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain(s.config.clone())
    .collect::<BTreeMap<String, String>>()
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .collect();
    let mut state = LabState {
        cluster,
        mount_point: mount,
        speed: s.speed,
        clock: 0.0,
        hosts,
        ves,
        css,
        mdss,
        license,
        replicas_norm: norm,
        stat_tiers: s.stat_tiers,
        variant: s.variant,
        prlctl_json_unescaped: s.prlctl_json_unescaped,
        replicas_min: min,
        config,
        path_attrs,
        serial: 0,
        shared_files: BTreeMap::new(),
        ha: false,
        deleting_chunks: s.deleting_chunks,
        ve_index: Default::default(),
    };
    if s.ha {
        super::shaman::seed(&mut state, &s.ha_broken);
    }
    for spec in &s.hosts {
        match (spec.powered_off, spec.off_for_s) {
            (false, Some(_)) => {
                return Err(format!(
                    "host {:?}: off_for_s needs powered_off: true",
                    spec.name
                ))
            }
            (true, Some(s)) if !(s.is_finite() && s >= 0.0) => {
                return Err(format!(
                    "host {:?}: off_for_s {s} must be 0 or more seconds",
                    spec.name
                ))
            }
            (true, off_for) => super::power::power_off(&mut state, &spec.name, off_for),
            (false, None) => {}
        }
    }
    Ok(state)
}

/// Every node's `/etc/vstorage/clusters/CLUSTER/bs.list` names the cluster's MDSs, one
/// address a line, as the operator wrote it at set-up when cluster discovery is manual
/// (Virtuozzo Storage CLI guide §2.2 "Configuring Cluster Discovery": DNS SRV records,
/// zeroconf, or the MDSs "specified manually"). Nothing in `vstorage` edits it afterwards:
/// `rm-mds` leaves the removed MDS's address in every node's file. A scenario's own file
/// (host `files:`) is kept as given.
fn bootstrap_lists(cluster: &str, specs: &[HostSpec], hosts: &mut [HostState], mdss: &[Mds]) {
    if mdss.is_empty() {
        return;
    }
    let path = format!("/etc/vstorage/clusters/{cluster}/bs.list");
    // With the MDS port, as the docs' example writes it (`echo ADDR:2510 >> bs.list`),
    // while `vstorage stat` names the MDS by its address alone.
    let listed: String = mdss
        .iter()
        .map(|m| format!("{}:2510\n", m.address))
        .collect();
    for spec in specs.iter().filter(|s| !s.files.contains_key(&path)) {
        if let Some(h) = hosts.iter_mut().find(|h| h.name == spec.name) {
            h.files.insert(
                path.clone(),
                LabFile {
                    content: listed.clone(),
                    mode: 0o644,
                },
            );
        }
    }
}

pub use crate::parse::rules::parse_replicas;
