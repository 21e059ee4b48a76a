//! The set of hosts a run may touch, and the cluster's name.
//!
//! It comes from the inventory (real cluster) or from the lab scenario; `local()` is always
//! there, for runbooks that act on the machine vzrun runs on.

pub mod host;
pub mod inventory;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::cluster::host::Host;
use crate::failure::Failure;
use crate::transport::Local;

/// `local()`: this machine. `$VZRUN_LOCAL_ROOT` puts its files under a directory (for
/// tests, and for preparing a file tree before copying it to a host); commands still run here.
pub fn local_host() -> Host {
    let transport = match std::env::var_os("VZRUN_LOCAL_ROOT") {
        Some(root) => Local::with_root(root),
        None => Local::default(),
    };
    Host::new(
        "local",
        "localhost",
        vec!["local".into()],
        Arc::new(transport),
    )
}

/// An absolute path as one spelling: no doubled `/`, no `.` component, no trailing `/`.
/// Runbooks compose paths on the mount point (`${cluster_mount_point()}/private/UUID`) and
/// compare them with what the nodes' tools print and files hold (shaman's resources hold a
/// VE's path): "/vstorage/c/" would make "/vstorage/c//private/UUID", which matches none.
pub(crate) fn one_spelling(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

#[derive(Debug, Clone)]
pub struct Cluster {
    name: String,
    hosts: Vec<Host>,
    local: Host,
    /// What each node said its own addresses and names are; a cluster lives for one run,
    /// so each node is asked at most once per run.
    /// `None` for a node that did not answer.
    identities: Arc<Mutex<BTreeMap<String, Option<Vec<String>>>>>,
    /// Where the cluster file system is mounted on the nodes, when not `/vstorage/NAME`.
    mount: Option<String>,
    /// Where the nodes said they mount it (no `mount` given), once asked in this run.
    found_mount: Arc<Mutex<Option<String>>>,
    /// Whether the nodes agree with `mount`, once asked in this run.
    mount_checked: Arc<Mutex<Option<Result<(), Failure>>>>,
}

impl Cluster {
    pub fn new(name: impl Into<String>, hosts: Vec<Host>, local: Host) -> Self {
        Cluster {
            name: name.into(),
            hosts,
            local,
            identities: Arc::default(),
            mount: None,
            found_mount: Arc::default(),
            mount_checked: Arc::default(),
        }
    }

    /// Sets where the cluster file system is mounted on the nodes (default `/vstorage/NAME`).
    pub fn with_mount(mut self, mount: Option<String>) -> Self {
        self.mount = mount.map(|m| one_spelling(&m));
        self
    }

    /// Where the cluster file system is mounted on every node.
    pub fn mount_point(&self) -> String {
        self.mount
            .clone()
            .unwrap_or_else(|| format!("/vstorage/{}", self.name))
    }

    /// The mount point set (`with_mount`), once `check(hosts, mount)` found the nodes agree
    /// (asked once per run: its verdict stands for the rest of it); `None` when none is set.
    pub fn set_mount_checked_by(
        &self,
        check: impl FnOnce(&[Host], &str) -> Result<(), Failure>,
    ) -> Option<Result<String, Failure>> {
        let mount = self.mount.as_ref()?;
        let mut checked = self.mount_checked.lock().unwrap_or_else(|e| e.into_inner());
        let verdict = checked.get_or_insert_with(|| check(&self.hosts, mount));
        Some(verdict.clone().map(|()| mount.clone()))
    }

    /// Where the cluster file system is mounted: the one set (`with_mount`), else what
    /// `find(hosts)` says the nodes mount (asked once per run; it is not asked again
    /// when it found nothing), else `/vstorage/NAME`.
    pub fn mount_point_found_by(&self, find: impl FnOnce(&[Host]) -> Option<String>) -> String {
        if let Some(mount) = &self.mount {
            return mount.clone();
        }
        let mut found = self.found_mount.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mount) = &*found {
            return mount.clone();
        }
        let mount = find(&self.hosts)
            .filter(|m| m.starts_with('/'))
            .map(|m| one_spelling(&m))
            .unwrap_or_else(|| self.mount_point());
        *found = Some(mount.clone());
        mount
    }

    /// The same cluster with each host's transport replaced by `wrap(host)` (`local()`
    /// keeps its own).
    pub fn map_transports(
        mut self,
        wrap: impl Fn(&Host) -> Arc<dyn crate::transport::Transport>,
    ) -> Self {
        self.hosts = self
            .hosts
            .into_iter()
            .map(|h| {
                let transport = wrap(&h);
                h.with_transport(transport)
            })
            .collect();
        self
    }

    /// No inventory: only the local machine.
    pub fn local_only() -> Self {
        Cluster::new("", Vec::new(), local_host())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn host(&self, name: &str) -> Result<Host, Failure> {
        if name == self.local.name() {
            return Ok(self.local.clone());
        }
        self.hosts
            .iter()
            .find(|h| h.name() == name)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = self.hosts.iter().map(Host::name).collect();
                let known = if known.is_empty() {
                    "none: no inventory or lab is loaded (see --inventory, --lab)".to_string()
                } else {
                    known.join(", ")
                };
                Failure::bad_input(
                    "host",
                    format!("unknown host {name:?}; known hosts: {known}"),
                )
            })
    }

    /// The names and addresses `node` gave for itself earlier in this run, or asks them
    /// with `ask` (`None`: the node did not answer; it is not asked again in this run).
    pub fn identities_of(
        &self,
        node: &Host,
        ask: impl FnOnce(&Host) -> Option<Vec<String>>,
    ) -> Option<Vec<String>> {
        if let Some(known) = self.lock_identities().get(node.name()) {
            return known.clone();
        }
        let answer = ask(node);
        self.lock_identities()
            .insert(node.name().to_string(), answer.clone());
        answer
    }

    fn lock_identities(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Option<Vec<String>>>> {
        self.identities.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    pub fn hosts_tagged(&self, tag: &str) -> Vec<Host> {
        self.hosts
            .iter()
            .filter(|h| h.has_tag(tag))
            .cloned()
            .collect()
    }

    pub fn local(&self) -> &Host {
        &self.local
    }
}
