//! Cluster locks: a named lock that serialises work across the cluster (a rolling
//! operation, taking storage nodes out, taking a VE over), as opposed to a host's run lock.
//!
//! Two kinds, because where the lock lives decides what it survives. `with_cluster_lock`
//! takes it on one host (the inventory's first): simple and cheap, but nobody can take it
//! while that host is down. `with_lock_on_each` takes it on every host of a list that
//! answers: a host that is down is skipped, so it serves work around a dead node, and two
//! runs that can reach a common host never both hold it.

use crate::cluster::host::Host;
use crate::failure::{Failure, FailureKind};
use crate::run::runner::Runner;
use crate::transport::lock::{HeldLock, LockError};

impl Runner {
    /// Runs `body` holding the cluster-wide lock `name` (taken on `host`), so that two runs of
    /// a rolling operation never overlap. Plans take no lock.
    pub fn with_cluster_lock<T>(
        &self,
        host: &Host,
        name: &str,
        body: impl FnOnce() -> T,
    ) -> Result<T, Failure> {
        self.holding(std::slice::from_ref(host), name, Unanswered::Fails, body)
    }

    /// Runs `body` holding the lock `name` on each of `hosts` that answers (at least one
    /// must), taken once each, in the order of their names; a host that does not answer is skipped and named.
    /// Another run holding it on any of them: exit 4, nothing held. Plans take no lock.
    pub fn with_lock_on_each<T>(
        &self,
        hosts: &[Host],
        name: &str,
        body: impl FnOnce() -> T,
    ) -> Result<T, Failure> {
        self.holding(hosts, name, Unanswered::Skipped, body)
    }

    fn holding<T>(
        &self,
        hosts: &[Host],
        name: &str,
        unanswered: Unanswered,
        body: impl FnOnce() -> T,
    ) -> Result<T, Failure> {
        check_name(name)?;
        if self.is_plan() {
            return Ok(body());
        }
        let order = lock_order(hosts);
        connect_all(&order);
        let mut guards: Vec<Box<dyn HeldLock>> = Vec::new();
        let mut held_on = Vec::new();
        let mut skipped = Vec::new();
        for host in order {
            match self.take(host, name) {
                Ok(guard) => {
                    guards.push(guard);
                    held_on.push(host.name().to_string());
                }
                // The transport's text names the host already ("n1 does not answer").
                Err(Taken::Unreachable(why)) if unanswered == Unanswered::Skipped => {
                    skipped.push(why)
                }
                Err(Taken::Unreachable(why)) => {
                    return Err(Failure::failed(format!(
                        "cluster lock {name:?} on {}: {why}",
                        host.name()
                    )))
                }
                // Dropping `guards` lets go of what was taken.
                Err(Taken::Refused(failure)) => return Err(failure),
            }
        }
        if guards.is_empty() {
            return Err(Failure::failed(format!(
                "the lock {name:?} needs at least one host that answers; none did ({})",
                skipped.join("; ")
            )));
        }
        self.log(match unanswered {
            Unanswered::Fails => format!("holding the cluster lock {name:?} (on {})", held_on[0]),
            Unanswered::Skipped if skipped.is_empty() => {
                format!("holding the lock {name:?} on {}", held_on.join(", "))
            }
            Unanswered::Skipped => format!(
                "holding the lock {name:?} on {} (skipped, not answering: {})",
                held_on.join(", "),
                skipped.join("; ")
            ),
        });
        let result = body();
        drop(guards);
        Ok(result)
    }

    /// Takes `cluster-NAME` on one host.
    fn take(&self, host: &Host, name: &str) -> Result<Box<dyn HeldLock>, Taken> {
        host.transport()
            .lock(&format!("cluster-{name}"), self.holder(), self.lock_wait())
            .map_err(|e| match e {
                LockError::Held(who) => Taken::Refused(self.conflict(format!(
                    "the cluster lock {name:?} is held by {who} (--lock-wait SECONDS waits for it)"
                ))),
                LockError::Unreachable(why) => Taken::Unreachable(why),
                LockError::Failed(why) => Taken::Refused(Failure::failed(format!(
                    "cluster lock {name:?} on {}: {why}",
                    host.name()
                ))),
                LockError::Privilege(why) => Taken::Refused(Failure::new(
                    FailureKind::BadInput,
                    format!("cluster lock {name:?} on {}: {why}", host.name()),
                )),
            })
    }
}

/// What a host that does not answer does to a cluster lock.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unanswered {
    /// The lock lives there: it cannot be taken.
    Fails,
    /// It is skipped (at least one host must answer).
    Skipped,
}

/// Why a host's part of a cluster lock was not taken.
enum Taken {
    /// The host does not answer: skipped where the lock allows it.
    Unreachable(String),
    /// Held elsewhere, refused or failed: the run stops here.
    Refused(Failure),
}

/// The hosts a lock is taken on, in the order it is taken: each once (a host given twice,
/// as in `hosts("hypervisor") + hosts("storage")`, would otherwise meet this run's own lock
/// there and refuse it, naming itself), sorted by name. One order for every run: two runs
/// given the same hosts in different orders (two inventories, or a runbook's own list) would
/// otherwise each take one host and wait for the other's, both waiting out `--lock-wait`
/// and ending in exit 4 where one after the other would both have run.
fn lock_order(hosts: &[Host]) -> Vec<&Host> {
    let mut order: Vec<&Host> = hosts.iter().collect();
    order.sort_by(|a, b| a.name().cmp(b.name()));
    order.dedup_by(|a, b| a.name() == b.name());
    order
}

/// Connects to every host at once before the locks are taken one after the other (in name
/// order, see `lock_order`): one by one, a cluster of a hundred nodes paid a hundred SSH
/// handshakes in a row, and each node that does not answer its whole connect timeout. What
/// fails here is met again, at once, when its lock is taken (a host whose connect ran out of
/// time is not asked again for a while: see the Ssh transport).
fn connect_all(hosts: &[&Host]) {
    /// At most this many connects at a time (each runs an ssh process).
    const AT_ONCE: usize = 64;
    // The runbook's deadline (`within`) holds on these threads too, as on `parallel`'s: a
    // connect it cuts short says nothing of the host (see the Ssh transport).
    let deadline = crate::deadline::current();
    for batch in hosts.chunks(AT_ONCE) {
        std::thread::scope(|scope| {
            for host in batch {
                scope.spawn(move || {
                    crate::deadline::run_under(deadline, || host.transport().connect())
                });
            }
        });
    }
}

/// Lock names become file names on the hosts: letters, digits, '-' and '_' only.
fn check_name(name: &str) -> Result<(), Failure> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(Failure::bad_input(
            "lock name",
            format!("{name:?}: letters, digits, '-', '_'"),
        ))
    }
}
