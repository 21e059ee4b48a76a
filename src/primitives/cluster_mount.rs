//! Where the nodes mount the cluster file system, when the inventory does not say.
//!
//! `/vstorage/CLUSTER` is the docs' example (`mkdir -p /vstorage/stor1`), not a rule: the
//! mount point is whatever the node's fstab line (`vstorage://CLUSTER PATH fuse.vstorage
//! ...`) or the operator's `vstorage-mount -c CLUSTER PATH` names. A node says where it
//! has it mounted in /proc/mounts (device `vstorage://CLUSTER`, type `fuse.vstorage`),
//! and where it mounts it at boot in /etc/fstab; the first node that says either is
//! believed, once per run.

use std::collections::VecDeque;
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};

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
    // Asked all at once: one after the other, each node that does not answer in front of
    // the first that does cost its whole connect timeout. The first in inventory order
    // that has it mounted is believed, as soon as every node before it has answered or not.
    for (host, reply) in hosts.iter().zip(ask_all(run, hosts)) {
        // A node that does not answer says nothing; the next one is heard.
        let Ok(Ok(mounts)) = reply.recv() else {
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

/// A host's /proc/mounts (source, target, type), or why it did not answer.
type Mounts = Result<Vec<(String, String, String)>, Failure>;

/// /proc/mounts of each host, read on threads of their own (at most `AT_ONCE` at a time,
/// in inventory order): one receiver per host, in the same order. The threads are not
/// waited for: a node that never greets is left to its connect timeout while the nodes
/// before it have already said where the cluster is (see the Ssh transport: it is then not
/// asked again for a while).
fn ask_all(run: &RunContext, hosts: &[Host]) -> Vec<Receiver<Mounts>> {
    /// At most this many reads at a time (each may run an ssh process).
    const AT_ONCE: usize = 64;
    let (senders, receivers): (Vec<_>, Vec<_>) = hosts.iter().map(|_| channel()).unzip();
    let work: Arc<Mutex<VecDeque<_>>> =
        Arc::new(Mutex::new(hosts.iter().cloned().zip(senders).collect()));
    // The runbook's deadline (`within`) holds on these threads too.
    let deadline = crate::deadline::current();
    for _ in 0..hosts.len().min(AT_ONCE) {
        let (run, work) = (run.clone(), work.clone());
        std::thread::spawn(move || {
            crate::deadline::run_under(deadline, || loop {
                let next = work.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                let Some((host, reply)) = next else { break };
                // The receiver is gone once the answer was found: nothing to say then.
                let _ = reply.send(super::disk::proc_mounts(&run, &host));
            })
        });
    }
    receivers
}
