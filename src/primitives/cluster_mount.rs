//! Where the nodes mount the cluster file system, when the inventory does not say.
//!
//! `/vstorage/CLUSTER` is the docs' example (`mkdir -p /vstorage/stor1`), not a rule: the
//! mount point is whatever the node's fstab line (`vstorage://CLUSTER PATH fuse.vstorage
//! ...`) or the operator's `vstorage-mount -c CLUSTER PATH` names. A node says where it
//! has it mounted in /proc/mounts (device `vstorage://CLUSTER`, type `fuse.vstorage`),
//! and where it mounts it at boot in /etc/fstab; the first node that says either is
//! believed, once per run.

use crate::cluster::host::Host;
use crate::failure::Failure;
use crate::run::context::RunContext;

use super::cluster_name;

/// The cluster's mount point: the inventory's `cluster_mount`, else where the first node
/// that answers has `vstorage://CLUSTER` mounted (/proc/mounts), else where a node's
/// /etc/fstab mounts it, else `/vstorage/CLUSTER`.
pub fn cluster_mount(run: &RunContext) -> Result<String, Failure> {
    let name = cluster_name(run)?;
    Ok(run
        .cluster
        .mount_point_found_by(|hosts| found(run, &name, hosts)))
}

/// The mount point the nodes show: mounted now on one, else in one's fstab.
fn found(run: &RunContext, name: &str, hosts: &[Host]) -> Option<String> {
    let device = format!("vstorage://{name}");
    let mut answering = Vec::new();
    for host in hosts {
        // A node that does not answer says nothing; the next one is asked.
        let Ok(mounts) = super::disk::proc_mounts(run, host) else {
            continue;
        };
        if let Some((_, target, _)) = mounts
            .iter()
            .find(|(source, _, fstype)| source == &device && fstype.starts_with("fuse"))
        {
            return Some(target.clone());
        }
        answering.push(host);
    }
    // Mounted nowhere now (unmounted for maintenance): where fstab would mount it.
    answering.into_iter().find_map(|host| {
        let text = run.runner.read_file(host, "/etc/fstab").ok()??;
        text.lines().find_map(|line| {
            let mut f = line.split_whitespace();
            (f.next()? == device)
                .then(|| f.next().map(crate::edit::fstab::unescape))
                .flatten()
        })
    })
}
