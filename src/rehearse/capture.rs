//! `vzrun lab capture`: a lab scenario made from what a cluster shows, so that runbooks can be
//! planned and rehearsed against a copy of the operator's own cluster instead of the
//! built-in one.
//!
//! Every probe is read-only and goes through the host's transport (SSH for an inventory, the
//! lab for `--lab`), and every answer is read by the parser the primitives use: the capture
//! sees the cluster exactly as runbooks will. Secrets (sudoers, keys) are never read. What
//! could not be read, or what the scenario cannot express, is written into the scenario as
//! YAML comments, so the operator knows where the copy differs from the original.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cluster::host::Host;
use crate::cluster::Cluster;
use crate::cmd::Cmd;
use crate::parse;

use super::capture_storage::{
    cluster_mount, mount_point, storage_extras, storage_from_stat, CapturedCs, CapturedLicense,
    CapturedMds,
};

/// The configuration files the catalog's runbooks read or edit; captured verbatim.
/// `/etc/sudoers` is left out on purpose: it is a secret, and no runbook plans from it.
const CONF_FILES: &[&str] = &[
    "/etc/fstab",
    "/etc/vz/vz.conf",
    "/etc/vz/pfcache.conf",
    "/etc/vz/pcompact.conf",
    "/etc/vz/vstorage-limits.conf",
    "/etc/sysctl.d/99-vzctl.conf",
    "/etc/hostname",
];

/// Files never captured, named in the scenario so their absence is not a surprise.
const SECRETS: &[&str] = &["/etc/sudoers", "/root/.ssh", "/etc/ssh/ssh_host_*_key"];

/// The sysctl keys the catalog's runbooks read or set (sysctl-baseline, memory-tuning,
/// drop-caches, ...).
const SYSCTL_KEYS: &[&str] = &[
    "net.ipv4.ip_forward",
    "fs.file-max",
    "kernel.sysrq",
    "kernel.panic",
    "vm.min_free_kbytes",
    "vm.overcommit_memory",
    "vm.swappiness",
    "vm.vfs_cache_pressure",
    "net.ipv4.tcp_rmem",
    "kernel.pid_max",
    "fs.nr_open",
    "vm.drop_caches",
];

/// The units every scenario host has (see the lab's scenario builder): a capture names
/// those that are not running.
const BASE_UNITS: &[&str] = &[
    "firewalld.service",
    "prl-disp.service",
    "vcmmd.service",
    "vstorage-fs.service",
    "vstorage-csd.target",
    "vstorage-mdsd.target",
    "chronyd.service",
    "sshd.service",
];

#[derive(Debug, Default, Serialize)]
pub struct CapturedScenario {
    pub(super) cluster: String,
    /// Where the nodes mount the cluster, when not `/vstorage/CLUSTER`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) mount_point: Option<String>,
    pub(super) speed: f64,
    pub(super) replicas: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) license: Option<CapturedLicense>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) stat_tiers: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) config: BTreeMap<String, String>,
    pub(super) hosts: Vec<CapturedHost>,
    pub(super) mdss: Vec<CapturedMds>,
    pub(super) css: Vec<CapturedCs>,
    pub(super) ves: Vec<CapturedVe>,
    /// Not serialized: written as comments at the top.
    #[serde(skip)]
    pub gaps: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub(super) struct CapturedHost {
    pub(super) name: String,
    pub(super) address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) storage_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) hostname: Option<String>,
    pub(super) tags: Vec<String>,
    pub(super) cpus: u32,
    pub(super) memory_mb: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) disks: Vec<CapturedDisk>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) files: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) sysctl: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) pending_jobs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) stopped_units: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) firewall_ports: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) firewall_permanent_ports: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum CapturedDisk {
    Spare(String),
    Used {
        device: String,
        kind: &'static str,
        size_gb: u64,
    },
}

#[derive(Debug, Serialize)]
pub(super) struct CapturedVe {
    pub(super) name: String,
    pub(super) uuid: String,
    pub(super) kind: String,
    pub(super) host: String,
    pub(super) status: String,
    pub(super) ip: Vec<String>,
    pub(super) memsize: u64,
    pub(super) cpus: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(super) ostemplate: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub(super) tier: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub(super) ha_prio: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) network: Option<String>,
    /// Its replication (get-attr); a scenario gives every VE the cluster's.
    #[serde(skip)]
    pub(super) replicas: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

pub(super) const GB: u64 = 1 << 30;

/// Runs one read-only probe; its stdout, or why it could not be read.
pub(super) fn probe(host: &Host, argv: &[&str]) -> Result<String, String> {
    let cmd = Cmd::read(argv.iter().copied());
    match host.transport().run(&cmd) {
        Ok(out) if out.success() => Ok(out.stdout),
        Ok(out) => Err(format!(
            "`{}` exited {}: {}",
            argv.join(" "),
            out.code,
            out.stderr.trim()
        )),
        Err(e) => Err(format!("`{}`: {e}", argv.join(" "))),
    }
}

fn read_file(host: &Host, path: &str) -> Result<String, String> {
    match host.transport().read_file(path) {
        Ok(Some(bytes)) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Ok(None) => Err(format!("{path}: no such file")),
        Err(e) => Err(format!("{path}: {e}")),
    }
}

/// Captures every host of the cluster. A host that does not answer is kept (name, address,
/// tags) with a comment saying so; the capture never fails half-way.
pub fn capture(cluster: &Cluster) -> CapturedScenario {
    let mut scenario = CapturedScenario {
        cluster: cluster.name().to_string(),
        speed: 0.05,
        replicas: "3:2".into(),
        ..Default::default()
    };
    for secret in SECRETS {
        scenario
            .gaps
            .push(format!("not captured (secret): {secret}"));
    }
    // Hosts are probed at once (each over its own connection): a capture of a large
    // cluster takes as long as its slowest host, not the sum of them.
    let captures: Vec<HostCapture> = std::thread::scope(|scope| {
        let workers: Vec<_> = cluster
            .hosts()
            .iter()
            .map(|host| scope.spawn(move || capture_host(host, cluster.name())))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a host's capture does not panic"))
            .collect()
    });
    let mut mounts: Vec<(String, String)> = Vec::new();
    let mut addresses: BTreeMap<String, String> = BTreeMap::new();
    let mut stat_text = None;
    let mut license_view = None;
    for (host, capture) in cluster.hosts().iter().zip(captures) {
        for address in capture.addresses {
            addresses.entry(address).or_insert(host.name().to_string());
        }
        scenario.gaps.extend(
            capture
                .gaps
                .into_iter()
                .map(|gap| format!("{}: {gap}", host.name())),
        );
        scenario.ves.extend(capture.ves);
        if let Some(mount) = capture.mount {
            mounts.push((host.name().to_string(), mount));
        }
        if stat_text.is_none() && capture.answers {
            stat_text = probe(host, &["vstorage", "-c", cluster.name(), "stat"]).ok();
            if stat_text.is_some() {
                storage_extras(
                    host,
                    cluster.name(),
                    &mut scenario.config,
                    &mut license_view,
                );
            }
        }
        scenario.hosts.push(capture.host);
    }
    match stat_text.as_deref().map(parse::vstorage::stat) {
        Some(Ok(stat)) => {
            storage_from_stat(&stat, &addresses, &mut scenario);
            if let Some(license) = &mut scenario.license {
                if license.expiration.is_empty() {
                    license.expiration = license_view.unwrap_or_else(|| "12/31/2027".into());
                }
            }
        }
        Some(Err(e)) => scenario.gaps.push(format!("vstorage stat: {e}")),
        None => scenario
            .gaps
            .push("vstorage stat: no host answered; no CS, MDS or license captured".into()),
    }
    scenario.mount_point = mount_point(&scenario.cluster, &mounts, &mut scenario.gaps);
    let replicas = scenario.replicas.clone();
    for ve in &scenario.ves {
        if let Some(own) = ve.replicas.as_ref().filter(|r| **r != replicas) {
            scenario.gaps.push(format!(
                "{}: replicas {own}; the scenario gives every VE the cluster's {replicas}",
                ve.name
            ));
        }
    }
    scenario
}

/// What one host showed: its entry, its VEs, the addresses it answers on (inventory,
/// aliases, `ip addr`), and what could not be read.
struct HostCapture {
    host: CapturedHost,
    ves: Vec<CapturedVe>,
    gaps: Vec<String>,
    addresses: Vec<String>,
    /// It answered its first probe (a host that does not is not probed further).
    answers: bool,
    /// Where it mounts the cluster (/proc/mounts, else its fstab).
    mount: Option<String>,
}

/// Probes one host, read-only.
fn capture_host(host: &Host, cluster: &str) -> HostCapture {
    let mut gaps = Vec::new();
    let mut gap = |what: String| gaps.push(what);
    let mut captured = CapturedHost {
        name: host.name().to_string(),
        address: host.address().to_string(),
        tags: host.tags().to_vec(),
        cpus: 32,
        memory_mb: 262_144,
        ..Default::default()
    };
    let mut addresses: Vec<String> = std::iter::once(host.address())
        .chain(host.aliases().iter().map(String::as_str))
        .map(str::to_string)
        .collect();
    let mut ves = Vec::new();
    match probe(host, &["nproc"]).map(|t| t.trim().parse::<u32>()) {
        Ok(Ok(cpus)) => captured.cpus = cpus,
        Ok(Err(e)) => gap(format!("nproc: {e}; 32 CPUs assumed")),
        Err(e) => {
            // A host that does not answer is not probed further: every probe would wait
            // for its deadline.
            gap(format!(
                "does not answer ({e}); only its inventory entry is kept"
            ));
            return HostCapture {
                host: captured,
                ves,
                gaps,
                addresses,
                answers: false,
                mount: None,
            };
        }
    }
    match read_file(host, "/proc/meminfo") {
        Ok(text) => match meminfo_total_mb(&text) {
            Some(mb) => captured.memory_mb = mb,
            None => gap("/proc/meminfo has no MemTotal; 256 GB assumed".into()),
        },
        Err(e) => gap(format!("{e}; 256 GB assumed")),
    }
    if let Ok(name) = probe(host, &["hostname"]) {
        let name = name.trim();
        if !name.is_empty() && name != host.name() {
            captured.hostname = Some(name.to_string());
        }
    }
    match probe(host, &["ip", "-o", "-4", "addr", "show"]) {
        Ok(text) => {
            addresses.extend(parse::net::ip_addresses(&text));
        }
        Err(e) => gap(format!("its addresses: {e}")),
    }
    for path in CONF_FILES {
        match read_file(host, path) {
            Ok(text) => {
                captured.files.insert(path.to_string(), text);
            }
            Err(e) => gap(e),
        }
    }
    let bs_list = format!("/etc/vstorage/clusters/{}/bs.list", cluster);
    match read_file(host, &bs_list) {
        Ok(text) => {
            captured.files.insert(bs_list, text);
        }
        Err(e) => gap(e),
    }
    for key in SYSCTL_KEYS {
        match probe(host, &["sysctl", "-n", key]) {
            Ok(value) => {
                captured
                    .sysctl
                    .insert(key.to_string(), value.trim_end_matches('\n').to_string());
            }
            Err(e) => gap(e),
        }
    }
    capture_units(host, cluster, &mut captured, &mut gap);
    capture_firewall(host, &mut captured, &mut gap);
    capture_disks(host, &mut captured, &mut gap);
    capture_ves(host, cluster, &mut ves, &mut gap);
    if let Ok(networks) = probe(host, &["prlsrvctl", "net", "list", "-j"]) {
        let default = ["Bridged/bridged", "Host-Only/host-only"];
        match crate::primitives::prlsrvctl::parse_net_list_json(&networks) {
            Ok(list) => {
                let seen: Vec<String> = list
                    .iter()
                    .map(|n| format!("{}/{}", n.name, n.kind))
                    .collect();
                if seen != default {
                    gap(format!(
                        "virtual networks {seen:?}: the scenario gives every host Bridged and Host-Only"
                    ));
                }
            }
            Err(e) => gap(format!("prlsrvctl net list -j: {e}")),
        }
    }
    let mount = read_file(host, "/proc/mounts")
        .ok()
        .and_then(|text| cluster_mount(&text, cluster))
        .or_else(|| {
            captured
                .files
                .get("/etc/fstab")
                .and_then(|text| cluster_mount(text, cluster))
        });
    HostCapture {
        host: captured,
        ves,
        gaps,
        addresses,
        answers: true,
        mount,
    }
}

/// `MemTotal:       263921900 kB` (proc(5)) in MB.
fn meminfo_total_mb(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn capture_units(
    host: &Host,
    cluster: &str,
    captured: &mut CapturedHost,
    gap: &mut impl FnMut(String),
) {
    let text = match probe(
        host,
        &["systemctl", "list-units", "--all", "--no-legend", "--plain"],
    ) {
        Ok(text) => text,
        Err(e) => return gap(e),
    };
    let rows = parse::systemd::list_units(&text);
    for row in &rows {
        let base = BASE_UNITS.contains(&row.unit.as_str());
        let storage = row.unit.starts_with(&format!("vstorage-csd.{cluster}."))
            || row.unit.starts_with(&format!("vstorage-mdsd.{cluster}."));
        if !row.job.is_empty() && (base || storage) {
            captured
                .pending_jobs
                .insert(row.unit.clone(), row.job.clone());
        } else if base && row.active != "active" {
            captured.stopped_units.push(row.unit.clone());
        } else if !base && !storage && row.active == "active" {
            gap(format!(
                "unit {} runs; the scenario's hosts have only the Virtuozzo units",
                row.unit
            ));
        }
    }
}

fn capture_firewall(host: &Host, captured: &mut CapturedHost, gap: &mut impl FnMut(String)) {
    let words =
        |text: String| -> Vec<String> { text.split_whitespace().map(str::to_string).collect() };
    match probe(host, &["firewall-cmd", "--list-ports"]) {
        Ok(text) => captured.firewall_ports = Some(words(text)),
        Err(e) => gap(e),
    }
    match probe(host, &["firewall-cmd", "--permanent", "--list-ports"]) {
        Ok(text) => captured.firewall_permanent_ports = Some(words(text)),
        Err(e) => gap(e),
    }
}

/// Whole disks from `lsblk -P -p` (util-linux pairs, parsed as the disk primitives do):
/// blank ones are spares; CS disks are left out (each CS brings its own disk); others are
/// kept with their kind.
fn capture_disks(host: &Host, captured: &mut CapturedHost, gap: &mut impl FnMut(String)) {
    let text = match probe(
        host,
        &[
            "lsblk",
            "-P",
            "-p",
            "-b",
            "-o",
            "NAME,TYPE,FSTYPE,MOUNTPOINT,SIZE",
        ],
    ) {
        Ok(text) => text,
        Err(e) => return gap(e),
    };
    let rows = crate::primitives::disk_usage::parse_lsblk_pairs(&text);
    let get = |row: &BTreeMap<String, String>, key: &str| row.get(key).cloned().unwrap_or_default();
    for (i, row) in rows.iter().enumerate() {
        if get(row, "TYPE") != "disk" {
            continue;
        }
        let device = get(row, "NAME");
        let children: Vec<&BTreeMap<String, String>> = rows[i + 1..]
            .iter()
            .take_while(|r| get(r, "TYPE") != "disk")
            .collect();
        let mounted = children
            .iter()
            .map(|c| get(c, "MOUNTPOINT"))
            .find(|m| !m.is_empty());
        let size_gb = get(row, "SIZE").parse::<u64>().map_or(1862, |b| b / GB);
        let kind = match (get(row, "FSTYPE").as_str(), &mounted) {
            (_, Some(m)) if m.starts_with("/vstorage/") => continue,
            ("LVM2_member", _) => "lvm-pv",
            ("linux_raid_member", _) => "raid-member",
            ("swap", _) => "swap",
            (_, Some(_)) => "mounted",
            _ if !children.is_empty() => "partitioned",
            _ => {
                captured.disks.push(CapturedDisk::Spare(device));
                continue;
            }
        };
        captured.disks.push(CapturedDisk::Used {
            device,
            kind,
            size_gb,
        });
    }
}

fn capture_ves(
    host: &Host,
    cluster: &str,
    ves: &mut Vec<CapturedVe>,
    gap: &mut impl FnMut(String),
) {
    let info = match probe(host, &["prlctl", "list", "-a", "-i", "-f", "-j"])
        .and_then(|t| parse::prlctl::info_json(&t).map_err(|e| e.to_string()))
    {
        Ok(info) => info,
        Err(e) => return gap(e),
    };
    let rows = match probe(
        host,
        &[
            "prlctl",
            "list",
            "-a",
            "-j",
            "-o",
            parse::prlctl::LIST_FIELDS,
        ],
    )
    .and_then(|t| parse::prlctl::list_json(&t).map_err(|e| e.to_string()))
    {
        Ok(rows) => rows,
        Err(e) => {
            gap(e);
            Vec::new()
        }
    };
    for ve in info {
        let ips = rows
            .iter()
            .find(|r| r.uuid == ve.uuid)
            .map(|r| {
                r.ips
                    .iter()
                    .map(|ip| ip.split('/').next().unwrap_or(ip).to_string())
                    .collect()
            })
            .unwrap_or_default();
        let default_network = if ve.kind == "VM" {
            Some("Bridged")
        } else {
            None
        };
        let network = ve.networks.first().cloned();
        if ve.networks.len() > 1 {
            gap(format!(
                "{}: adapters on {:?}; the scenario keeps the first",
                ve.name, ve.networks
            ));
        }
        // Tier and replicas are attributes of the VE's home on the cluster file system.
        let attrs = probe(host, &["vstorage", "-c", cluster, "get-attr", &ve.home])
            .and_then(|t| parse::vstorage::attrs(&t).map_err(|e| e.to_string()));
        let tier = match &attrs {
            Ok(a) => a
                .values
                .get("tier")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0),
            Err(e) => {
                gap(format!("{}: its tier ({e}); 0 assumed", ve.name));
                0
            }
        };
        ves.push(CapturedVe {
            name: ve.name.clone(),
            tier,
            uuid: ve.uuid.clone(),
            kind: ve.kind.clone(),
            host: host.name().to_string(),
            status: ve.status.clone(),
            ip: ips,
            memsize: ve.memsize_mb.unwrap_or(2048),
            cpus: ve.cpus.unwrap_or(0),
            ostemplate: ve.os.clone(),
            ha_prio: ve.ha_prio,
            replicas: attrs.ok().and_then(|a| a.values.get("replicas").cloned()),
            network: network.filter(|n| Some(n.as_str()) != default_network),
        });
    }
}

impl CapturedScenario {
    /// The scenario as YAML, with what was not captured as comments on top.
    pub fn to_yaml(&self) -> String {
        let mut out = String::from(
            "# Captured by `vzrun lab capture`: load it with `vzrun --lab=FILE ...`.\n",
        );
        if !self.gaps.is_empty() {
            out.push_str("# Not captured, or not expressible in a scenario:\n");
            for gap in &self.gaps {
                out.push_str(&format!("#   - {}\n", gap.replace('\n', " ")));
            }
        }
        out.push_str(&serde_yaml::to_string(self).expect("a scenario serializes"));
        out
    }
}
