//! The storage side of a capture: chunk servers, metadata servers, replication and the
//! license from `vstorage stat` (placed on the hosts whose addresses `stat` prints), the
//! cluster's parameters (`get-config`) and the license's expiration (`view-license`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::capture::{probe, CapturedScenario, GB};
use crate::cluster::host::Host;
use crate::parse;

#[derive(Debug, Serialize)]
pub(super) struct CapturedLicense {
    pub(super) key: String,
    pub(super) status: String,
    pub(super) capacity_tb: u64,
    pub(super) expiration: String,
}

#[derive(Debug, Serialize)]
pub(super) struct CapturedMds {
    pub(super) id: u64,
    pub(super) host: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) master: bool,
    pub(super) status: String,
}

#[derive(Debug, Serialize)]
pub(super) struct CapturedCs {
    pub(super) id: u64,
    pub(super) host: String,
    pub(super) tier: u64,
    pub(super) space_gb: u64,
    pub(super) free_gb: u64,
    pub(super) status: String,
}

/// The cluster's parameters (`get-config`) and the license's expiration, which the VZ7
/// `stat` does not print.
pub(super) fn storage_extras(
    host: &Host,
    cluster: &str,
    config: &mut BTreeMap<String, String>,
    expiration: &mut Option<String>,
) {
    if let Ok(text) = probe(host, &["vstorage", "-c", cluster, "get-config"]) {
        *config = parse::vstorage::config(&text);
    }
    // view-license: the lab's `Key: value` layout is invented (no public sample); only the
    // `Expiration:` field is read, as the license runbook reads it.
    if let Ok(text) = probe(host, &["vstorage", "-c", cluster, "view-license"]) {
        *expiration = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Expiration:"))
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty());
    }
}

/// CSs, MDSs, license and replication from `vstorage stat`, each placed on the host whose
/// address (inventory, storage alias or `ip addr`) `stat` prints.
pub(super) fn storage_from_stat(
    stat: &parse::vstorage::Stat,
    addresses: &BTreeMap<String, String>,
    scenario: &mut CapturedScenario,
) {
    if let (Some(norm), Some(min)) = (stat.replicas_norm, stat.replicas_limit) {
        scenario.replicas = format!("{norm}:{min}");
    }
    let host_of = |address: &str| addresses.get(address.split(':').next().unwrap_or(address));
    let tiers_known = stat.cs.iter().any(|c| c.tier.is_some());
    scenario.stat_tiers = tiers_known;
    if !tiers_known && !stat.cs.is_empty() {
        scenario.gaps.push(
            "CS tiers: vstorage stat prints no TIER column; tier 0 written for each CS".into(),
        );
    }
    // The host a service's address belongs to, noting it as the storage address when it is
    // not the inventory's; a gap when no host has it.
    let place = |scenario: &mut CapturedScenario, what: String, address: &str| {
        let Some(host) = host_of(address) else {
            scenario.gaps.push(format!(
                "{what} on {address}: no host of the inventory has that address"
            ));
            return None;
        };
        note_storage_address(scenario, host, address);
        Some(host.clone())
    };
    for cs in &stat.cs {
        let Some(host) = place(scenario, format!("CS#{}", cs.id), &cs.host) else {
            continue;
        };
        scenario.css.push(CapturedCs {
            id: cs.id,
            host: host.clone(),
            tier: cs.tier.unwrap_or(0),
            space_gb: cs.space.map_or(0, |b| b / GB),
            free_gb: cs.free.map_or(0, |b| b / GB),
            status: cs.status.clone(),
        });
    }
    for mds in &stat.mds {
        let Some(host) = place(scenario, format!("MDS#{}", mds.id), &mds.host) else {
            continue;
        };
        scenario.mdss.push(CapturedMds {
            id: mds.id,
            host: host.clone(),
            master: mds.master,
            status: mds.status.clone(),
        });
    }
    let license = &stat.license;
    if license.key.is_empty() {
        scenario
            .gaps
            .push("license: vstorage stat shows no key; the scenario's default is used".into());
    } else {
        scenario.license = Some(CapturedLicense {
            key: license.key.clone(),
            status: license.status.clone(),
            capacity_tb: license
                .capacity
                .trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .unwrap_or(100),
            expiration: license.expiration.clone(),
        });
    }
}

/// A host whose CSs or MDSs `stat` shows under another address than its inventory one has
/// that address as its storage address.
fn note_storage_address(scenario: &mut CapturedScenario, host: &str, stat_host: &str) {
    let address = stat_host.split(':').next().unwrap_or(stat_host);
    if let Some(h) = scenario.hosts.iter_mut().find(|h| h.name == host) {
        if h.address != address {
            h.storage_address = Some(address.to_string());
        }
    }
}

/// Where a /proc/mounts or /etc/fstab text mounts `vstorage://CLUSTER` (a `fuse.*` type),
/// as one spelling (fstab may write `/pcs/`).
pub(super) fn cluster_mount(text: &str, cluster: &str) -> Option<String> {
    let device = format!("vstorage://{cluster}");
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() >= 3 && f[0] == device && f[2].starts_with("fuse")).then(|| {
            let target = crate::edit::fstab::unescape(f[1]);
            let trimmed = target.trim_end_matches('/');
            if trimmed.is_empty() {
                "/".to_string()
            } else {
                trimmed.to_string()
            }
        })
    })
}

/// The scenario's `mount_point` from where each answering host mounts the cluster
/// (`(host, path)`): `None` for `/vstorage/CLUSTER` (the lab's default) or when no host
/// said; hosts that differ are named as a gap (a scenario mounts it at one place).
pub(super) fn mount_point(
    cluster: &str,
    mounts: &[(String, String)],
    gaps: &mut Vec<String>,
) -> Option<String> {
    let (_, first) = mounts.first()?;
    let others: Vec<String> = mounts
        .iter()
        .filter(|(_, m)| m != first)
        .map(|(h, m)| format!("{h} at {m}"))
        .collect();
    if !others.is_empty() {
        gaps.push(format!(
            "the cluster is mounted at {first} on some nodes but {}: the scenario mounts it at {first} on every node",
            others.join(", ")
        ));
    }
    if first.chars().any(char::is_whitespace) || first == "/" {
        gaps.push(format!(
            "the cluster is mounted at {first:?}, which a scenario cannot say: it mounts it at /vstorage/{cluster}"
        ));
        return None;
    }
    (*first != format!("/vstorage/{cluster}")).then(|| first.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_mount_is_read_from_mounts_and_fstab_as_written() {
        let mounts = "/dev/mapper/virtuozzo-root / xfs rw 0 0\nvstorage://other /other fuse.vstorage rw 0 0\nvstorage://c /mnt/my\\040pcs fuse.vstorage rw 0 0\n";
        assert_eq!(cluster_mount(mounts, "c").as_deref(), Some("/mnt/my pcs"));
        let fstab = "# comment\nvstorage://c\t/pcs/\tfuse.vstorage\trw,nosuid,nodev,_netdev\t0 0\n";
        assert_eq!(cluster_mount(fstab, "c").as_deref(), Some("/pcs"));
        assert_eq!(cluster_mount(fstab, "other"), None);
        let mut gaps = Vec::new();
        let seen = [("n1".to_string(), "/vstorage/c".to_string())];
        assert_eq!(mount_point("c", &seen, &mut gaps), None);
        let seen = [
            ("n1".to_string(), "/pcs".to_string()),
            ("n2".to_string(), "/mnt/c".to_string()),
        ];
        assert_eq!(mount_point("c", &seen, &mut gaps).as_deref(), Some("/pcs"));
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert!(gaps[0].contains("n2 at /mnt/c"), "{gaps:?}");
        let seen = [("n1".to_string(), "/mnt/my pcs".to_string())];
        assert_eq!(mount_point("c", &seen, &mut gaps), None);
        assert_eq!(gaps.len(), 2, "{gaps:?}");
    }
}
