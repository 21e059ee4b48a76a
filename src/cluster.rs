//! The set of hosts a run may touch, and the cluster's name.
//!
//! It comes from the inventory (real cluster) or from the lab scenario; `local()` is always
//! there, for runbooks that act on the machine vzrun runs on.

use std::sync::Arc;

use crate::failure::Failure;
use crate::host::Host;
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

#[derive(Debug, Clone)]
pub struct Cluster {
    name: String,
    hosts: Vec<Host>,
    local: Host,
    /// Where the cluster file system is mounted on the nodes, when not `/vstorage/NAME`.
    mount: Option<String>,
}

impl Cluster {
    pub fn new(name: impl Into<String>, hosts: Vec<Host>, local: Host) -> Self {
        Cluster {
            name: name.into(),
            hosts,
            local,
            mount: None,
        }
    }

    /// Sets where the cluster file system is mounted on the nodes (default `/vstorage/NAME`).
    pub fn with_mount(mut self, mount: Option<String>) -> Self {
        self.mount = mount;
        self
    }

    /// Where the cluster file system is mounted on every node.
    pub fn mount_point(&self) -> String {
        self.mount
            .clone()
            .unwrap_or_else(|| format!("/vstorage/{}", self.name))
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
