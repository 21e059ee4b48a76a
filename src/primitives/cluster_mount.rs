//! Where the nodes mount the cluster file system, when the inventory does not say.
//!
//! `/vstorage/CLUSTER` is the docs' example (`mkdir -p /vstorage/stor1`), not a rule: the
//! mount point is whatever the node's fstab line (`vstorage://CLUSTER PATH fuse.vstorage
//! ...`) or the operator's `vstorage-mount -c CLUSTER PATH` names. A node says where it
//! has it mounted in /proc/mounts (device `vstorage://CLUSTER`, type `fuse.vstorage`),
//! and where it mounts it at boot in /etc/fstab; the first node that says either is
//! believed, once per run. An inventory's `cluster_mount` is checked the same way: the first
//! node that has the cluster mounted elsewhere refuses it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};

use crate::cluster::host::Host;
use crate::failure::Failure;
use crate::run::context::RunContext;

use super::cluster_name;

/// The cluster's mount point: the inventory's `cluster_mount` (refused when the first node
/// that answers with the cluster mounted has it elsewhere), else where the first node that
/// answers has `vstorage://CLUSTER` mounted (/proc/mounts), else where a node's /etc/fstab
/// mounts it, else `/vstorage/CLUSTER`.
pub fn cluster_mount(run: &RunContext) -> Result<String, Failure> {
    let name = cluster_name(run)?;
    if let Some(checked) = run
        .cluster
        .set_mount_checked_by(|hosts, said| agrees(run, &name, hosts, said))
    {
        return checked;
    }
    Ok(run
        .cluster
        .mount_point_found_by(|hosts| found(run, &name, hosts)))
}

/// How many nodes are asked at once whether they agree with the inventory: a few, so that
/// one or two that do not answer do not hold the check up, nor is every node of a large
/// cluster connected to for it.
const CHECK_AT_ONCE: usize = 4;

/// Whether the first node that has the cluster mounted has it where the inventory says
/// (`said`). One that does not answer, or has it unmounted now, says nothing either way.
/// Every path on the cluster is built from the mount point: a wrong one puts a VE home
/// "not on the cluster", a cordon beside the cluster, a client cache on it. The operator is
/// told which node says what, and the run stops before it builds any of them.
fn agrees(run: &RunContext, name: &str, hosts: &[Host], said: &str) -> Result<(), Failure> {
    let device = format!("vstorage://{name}");
    let Some((host, targets)) = first_mounted(run, &device, hosts, CHECK_AT_ONCE).0 else {
        return Ok(());
    };
    let targets: Vec<String> = targets
        .iter()
        .map(|t| crate::cluster::one_spelling(t))
        .collect();
    // Mounted twice (a bind mount as well): either is the cluster.
    if targets.iter().any(|t| t == said) {
        return Ok(());
    }
    Err(run.runner.bad_settings(format!(
        "the inventory says the cluster is mounted at {said} (cluster_mount), but {} has \
         {device} mounted at {}: every path on the cluster would be wrong; correct \
         cluster_mount in the inventory (or remove it, and the nodes are asked)",
        host.name(),
        targets.join(" and ")
    )))
}

/// The mount point the nodes show: mounted now on one, else in one's fstab.
fn found(run: &RunContext, name: &str, hosts: &[Host]) -> Option<String> {
    let device = format!("vstorage://{name}");
    let (mounted, answering) = first_mounted(run, &device, hosts, AT_ONCE);
    if let Some((_, targets)) = mounted {
        return targets.into_iter().next();
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

/// At most this many nodes asked at a time (each may run an ssh process).
const AT_ONCE: usize = 64;

/// The first host in inventory order that has `device` mounted, with where (each target);
/// and the hosts before it that answered without it mounted (all of them when none has it).
/// The nodes are asked `at_once` at a time, all together up to that: one after the other,
/// each node that does not answer in front of the first that does cost its whole connect
/// timeout. The first in inventory order is believed as soon as every node before it has
/// answered or not; no further node is asked then.
fn first_mounted<'a>(
    run: &RunContext,
    device: &str,
    hosts: &'a [Host],
    at_once: usize,
) -> (Option<(&'a Host, Vec<String>)>, Vec<&'a Host>) {
    let mut answering = Vec::new();
    let asked = ask_all(run, hosts, at_once);
    for (host, reply) in hosts.iter().zip(&asked.replies) {
        // A node that does not answer says nothing; the next one is heard.
        let Ok(Ok(mounts)) = reply.recv() else {
            continue;
        };
        let targets: Vec<String> = mounts
            .into_iter()
            .filter(|(source, _, fstype)| source == device && fstype.starts_with("fuse"))
            .map(|(_, target, _)| target)
            .collect();
        if !targets.is_empty() {
            return (Some((host, targets)), answering);
        }
        answering.push(host);
    }
    (None, answering)
}

/// The replies of `ask_all`, one per host in order. Dropped, it stops the asking: hosts
/// not asked yet are not asked.
struct Asked {
    replies: Vec<Receiver<Mounts>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Asked {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// /proc/mounts of each host, read on threads of their own (at most `at_once` at a time,
/// in inventory order). The threads are not waited for: a node that never greets is left
/// to its connect timeout while the nodes before it have already said where the cluster is
/// (see the Ssh transport: it is then not asked again for a while).
fn ask_all(run: &RunContext, hosts: &[Host], at_once: usize) -> Asked {
    let (senders, replies): (Vec<_>, Vec<_>) = hosts.iter().map(|_| channel()).unzip();
    let work: Arc<Mutex<VecDeque<_>>> =
        Arc::new(Mutex::new(hosts.iter().cloned().zip(senders).collect()));
    let stop = Arc::new(AtomicBool::new(false));
    // The runbook's deadline (`within`) holds on these threads too.
    let deadline = crate::deadline::current();
    for _ in 0..hosts.len().min(at_once.max(1)) {
        let (run, work, stop) = (run.clone(), work.clone(), stop.clone());
        std::thread::spawn(move || {
            crate::deadline::run_under(deadline, || loop {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let next = work.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                let Some((host, reply)) = next else { break };
                // The receiver is gone once the answer was found: nothing to say then.
                let _ = reply.send(super::disk::proc_mounts(&run, &host));
            })
        });
    }
    Asked { replies, stop }
}
