//! `vzrun inventory discover`: the inventory a cluster already knows about itself.
//!
//! An operator logged into one node should not have to type the host list: the cluster's
//! own tables hold it. The cluster name comes from /etc/vstorage/clusters/ (one directory per
//! cluster the node belongs to), the MDS and CS hosts from `vstorage -c C stat`, and the
//! hosts that mount the cluster (the hypervisors) from its clients table where stat prints
//! one. Those tables show addresses, often on the storage network, so each one is named the
//! way the node itself names it (`getent hosts ADDR`: /etc/hosts, then DNS, as nsswitch.conf
//! says), and the name is looked up again to find the node's own address when that differs.
//!
//! The result is text for a human to review, never a file written behind the operator's back:
//! every host carries a comment with the services it was seen running, and hosts that cannot
//! be named are listed as comments with what is known of them, not dropped.

mod render;

pub use render::{render, Defaults};

use std::collections::BTreeSet;

use crate::cmd::Cmd;
use crate::parse::vstorage::Stat;
use crate::transport::{Transport, TransportError};

/// Where the clusters a node belongs to are configured, one directory each (reference §2.1).
pub const CLUSTERS_DIR: &str = "/etc/vstorage/clusters";

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The node is not set up the way discovery needs (no cluster, several): exit 2.
    #[error("{0}")]
    Input(String),
    /// A command failed or its output could not be read: exit 1.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// One host of the cluster's tables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    /// The HOST the tables print (an address, often on the storage network).
    pub seen_as: String,
    /// The node's name, when `getent hosts` named it.
    pub name: Option<String>,
    /// The address vzrun should reach it at: the name's own address when it differs from
    /// `seen_as`, else `seen_as`.
    pub address: String,
    /// Other names getent gave (FQDN, storage-network names).
    pub aliases: Vec<String>,
    /// `hypervisor`, `storage`, `mds`, in that order.
    pub tags: Vec<String>,
    /// What it runs, as the tables say: `MDS#1 (master, avail)`, `CS#1025 (active)`, ...
    pub seen: Vec<String>,
    /// Why it has no name, or anything else the operator should check.
    pub note: Option<String>,
}

impl Node {
    /// The storage-network address, when it is not the address vzrun connects to.
    pub fn storage_address(&self) -> Option<&str> {
        (self.seen_as != self.address).then_some(self.seen_as.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovery {
    pub cluster: String,
    /// The node the tables were read on, as the operator named it.
    pub source: String,
    pub nodes: Vec<Node>,
    /// Whether `vstorage stat` printed a clients table (without one no host is a known
    /// hypervisor).
    pub clients_table: bool,
}

/// A cluster name as vstorage allows it: 1-63 of `a-z A-Z 0-9 - _` (reference §2.1).
pub fn cluster_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn run(node: &dyn Transport, argv: &[&str]) -> Result<crate::cmd::Output, DiscoverError> {
    Ok(node.run(&Cmd::read(argv.iter().copied()))?)
}

/// The cluster to read: `wanted`, else the only one configured on the node.
fn cluster_of(
    node: &dyn Transport,
    source: &str,
    wanted: Option<&str>,
) -> Result<String, DiscoverError> {
    if let Some(name) = wanted {
        if !cluster_name_ok(name) {
            return Err(DiscoverError::Input(format!(
                "--cluster {name:?}: a cluster name is 1-63 of a-z A-Z 0-9 - _"
            )));
        }
        return Ok(name.to_string());
    }
    let listing = run(node, &["ls", "-1", "--", CLUSTERS_DIR])?;
    if !listing.success() {
        return Err(DiscoverError::Input(format!(
            "{source} has no {CLUSTERS_DIR}/ ({}): run discovery on a node of a Virtuozzo Storage cluster",
            listing.stderr.trim()
        )));
    }
    let names: Vec<&str> = listing
        .stdout
        .lines()
        .map(str::trim)
        .filter(|n| cluster_name_ok(n))
        .collect();
    match names.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(DiscoverError::Input(format!(
            "{source}: {CLUSTERS_DIR}/ holds no cluster: run discovery on a node of a Virtuozzo Storage cluster"
        ))),
        many => Err(DiscoverError::Input(format!(
            "{source} belongs to {} clusters ({}): choose one with --cluster NAME",
            many.len(),
            many.join(", ")
        ))),
    }
}

/// An address as a table prints it, without a `:port` after an IPv4 address or a host name.
fn without_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((addr, port)) if !addr.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            addr
        }
        _ => host,
    }
}

/// The hosts of the tables in order of appearance (MDSs, CSs, clients), with their tags.
fn nodes_of(stat: &Stat) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut add = |host: &str, tag: &str, what: String| {
        let host = without_port(host.trim());
        if host.is_empty() {
            return;
        }
        let index = match nodes.iter().position(|n| n.seen_as == host) {
            Some(i) => i,
            None => {
                nodes.push(Node {
                    seen_as: host.to_string(),
                    address: host.to_string(),
                    ..Node::default()
                });
                nodes.len() - 1
            }
        };
        let node = &mut nodes[index];
        if !node.tags.iter().any(|t| t == tag) {
            node.tags.push(tag.to_string());
        }
        node.seen.push(what);
    };
    for m in &stat.mds {
        let master = if m.master { "master, " } else { "" };
        add(
            &m.host,
            "mds",
            format!("MDS#{} ({master}{})", m.id, m.status),
        );
    }
    for c in &stat.cs {
        add(&c.host, "storage", format!("CS#{} ({})", c.id, c.status));
    }
    for c in &stat.clients {
        add(&c.host, "hypervisor", format!("client #{}", c.id));
    }
    let order = ["hypervisor", "storage", "mds"];
    for n in &mut nodes {
        n.tags.sort_by_key(|t| order.iter().position(|o| o == t));
    }
    nodes
}

/// `getent hosts KEY` as glibc prints it: `ADDRESS NAME ALIAS...` (one line per address);
/// `None` when the key is unknown (exit 2).
fn getent(node: &dyn Transport, key: &str) -> Result<Option<(String, Vec<String>)>, DiscoverError> {
    let out = run(node, &["getent", "hosts", "--", key])?;
    if out.code == 2 {
        return Ok(None);
    }
    if !out.success() {
        return Err(DiscoverError::Failed(format!(
            "`getent hosts {key}` failed (exit {}): {}",
            out.code,
            out.stderr.trim()
        )));
    }
    let mut words = out.stdout.lines().next().unwrap_or("").split_whitespace();
    let address = words.next().unwrap_or("").to_string();
    Ok(Some((address, words.map(str::to_string).collect())))
}

/// A name an inventory accepts (letters, digits, `-`, `_`, `.`; not `local`).
fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name != "local"
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// The node's name among those getent gave: the shortest first label, so that
/// `msk-02.example.com`, `msk-02` and `msk-02.stor.example.com` all name `msk-02`.
fn pick_name(names: &[String]) -> Option<String> {
    names
        .iter()
        .filter(|n| name_ok(n) && n.parse::<std::net::IpAddr>().is_err())
        .map(|n| n.split('.').next().unwrap_or(n))
        .min_by_key(|label| label.len())
        .map(str::to_string)
}

fn same_family(a: &str, b: &str) -> bool {
    matches!(
        (a.parse::<std::net::IpAddr>(), b.parse::<std::net::IpAddr>()),
        (Ok(x), Ok(y)) if x.is_ipv4() == y.is_ipv4()
    )
}

/// Names the node through `getent hosts` on `source`, and finds its own address.
fn name_node(
    source: &dyn Transport,
    node: &mut Node,
    taken: &mut BTreeSet<String>,
) -> Result<(), DiscoverError> {
    let Some((_, names)) = getent(source, &node.seen_as)? else {
        node.note = Some(format!(
            "`getent hosts {}` knows no name for it",
            node.seen_as
        ));
        return Ok(());
    };
    let Some(name) = pick_name(&names) else {
        node.note = Some(format!(
            "`getent hosts {}` gave no usable name ({})",
            node.seen_as,
            names.join(" ")
        ));
        return Ok(());
    };
    if !taken.insert(name.clone()) {
        node.note = Some(format!("its name {name} is already another host's"));
        return Ok(());
    }
    node.aliases = names.into_iter().filter(|n| *n != name).collect();
    if let Some((address, more)) = getent(source, &name)? {
        if address != node.seen_as && same_family(&address, &node.seen_as) {
            node.address = address;
        }
        for alias in more {
            if alias != name && !node.aliases.contains(&alias) {
                node.aliases.push(alias);
            }
        }
    }
    node.name = Some(name);
    Ok(())
}

/// Reads the cluster's tables on `node` (reached as `source`) and names every host in them.
pub fn discover(
    node: &dyn Transport,
    source: &str,
    cluster: Option<&str>,
) -> Result<Discovery, DiscoverError> {
    let cluster = cluster_of(node, source, cluster)?;
    let out = run(node, &["vstorage", "-c", &cluster, "stat"])?;
    if !out.success() {
        return Err(DiscoverError::Failed(format!(
            "`vstorage -c {cluster} stat` on {source} failed (exit {}): {}",
            out.code,
            out.stderr.trim()
        )));
    }
    let stat = crate::parse::vstorage::stat(&out.stdout)
        .map_err(|e| DiscoverError::Failed(format!("{source}: {e}")))?;
    let mut nodes = nodes_of(&stat);
    let mut taken = BTreeSet::new();
    for n in &mut nodes {
        name_node(node, n, &mut taken)?;
    }
    Ok(Discovery {
        cluster,
        source: source.to_string(),
        nodes,
        clients_table: !stat.clients.is_empty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_shortest_first_label() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            pick_name(&names(&["msk-02.stor.livelinux.local", "msk-02-stor"])).as_deref(),
            Some("msk-02")
        );
        assert_eq!(
            pick_name(&names(&["msk-02.example.com", "msk-02"])).as_deref(),
            Some("msk-02")
        );
        assert_eq!(pick_name(&names(&["local", "10.0.0.1"])), None);
    }

    #[test]
    fn ports_are_dropped_from_ipv4_and_names_only() {
        assert_eq!(without_port("10.30.17.38:2510"), "10.30.17.38");
        assert_eq!(without_port("msk-01:2510"), "msk-01");
        assert_eq!(without_port("fe80::1"), "fe80::1");
    }
}
