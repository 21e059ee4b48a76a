//! A host as runbooks see it: a name, an address, tags, and the transport that reaches it.
//!
//! Cloning is cheap (one `Arc`), because Rhai clones values freely.

use std::fmt;
use std::sync::Arc;

use crate::transport::Transport;

/// A host a run may touch: its name, address, tags and the transport that reaches it.
#[derive(Clone)]
pub struct Host(Arc<HostInner>);

struct HostInner {
    name: String,
    address: String,
    tags: Vec<String>,
    /// Other names and addresses the node is known by (inventory `storage_address` and
    /// `aliases`), e.g. as HOST in `vstorage stat`.
    aliases: Vec<String>,
    transport: Arc<dyn Transport>,
}

impl Host {
    /// A host reached through `transport`, with no aliases.
    pub fn new(
        name: impl Into<String>,
        address: impl Into<String>,
        tags: Vec<String>,
        transport: Arc<dyn Transport>,
    ) -> Self {
        Host(Arc::new(HostInner {
            name: name.into(),
            address: address.into(),
            tags,
            aliases: Vec::new(),
            transport,
        }))
    }

    /// This host, also known by `aliases`.
    pub fn with_aliases(self, aliases: Vec<String>) -> Self {
        Host(Arc::new(HostInner {
            name: self.0.name.clone(),
            address: self.0.address.clone(),
            tags: self.0.tags.clone(),
            aliases,
            transport: self.0.transport.clone(),
        }))
    }

    /// Other names and addresses the node is known by (see `with_aliases`).
    pub fn aliases(&self) -> &[String] {
        &self.0.aliases
    }

    /// The host's name, as in the inventory and in runbooks.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The address it is reached at (inventory `address`).
    pub fn address(&self) -> &str {
        &self.0.address
    }

    /// Its inventory tags (roles such as `hypervisor`).
    pub fn tags(&self) -> &[String] {
        &self.0.tags
    }

    /// True when the host carries `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.0.tags.iter().any(|t| t == tag)
    }

    /// How commands and file operations reach this host.
    pub fn transport(&self) -> &dyn Transport {
        self.0.transport.as_ref()
    }

    /// The transport, shared (to wrap it: [`Host::with_transport`]).
    pub fn shared_transport(&self) -> Arc<dyn Transport> {
        self.0.transport.clone()
    }

    /// This host reached through another transport (a wrapper around its own, say).
    pub fn with_transport(self, transport: Arc<dyn Transport>) -> Self {
        Host(Arc::new(HostInner {
            name: self.0.name.clone(),
            address: self.0.address.clone(),
            tags: self.0.tags.clone(),
            aliases: self.0.aliases.clone(),
            transport,
        }))
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Host({})", self.0.name)
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.name)
    }
}

impl PartialEq for Host {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}
