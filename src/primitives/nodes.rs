//! Which inventory node a HOST of `vstorage stat` is.
//!
//! vstorage prints the address a CS or MDS listens on, which on real clusters is often a
//! storage-network IP or a host name the inventory does not use. A wrong answer here is
//! dangerous both ways: "this node runs no chunk servers" lets an operator power it off
//! without maintenance mode. So a HOST is matched against every name and address a node is
//! known by (inventory name, address, `storage_address`, `aliases`, and what the node itself
//! reports from `ip -o addr show` and `hostname`, asked once per run and only when the
//! inventory alone does not settle it), and a HOST that matches no node or two is an error
//! that names it and says how to fix the inventory.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use super::probe;
use crate::cluster::host::Host;
use crate::failure::Failure;
use crate::parse::net;
use crate::run::context::RunContext;

/// The names and addresses one node is known by.
#[derive(Debug, Clone)]
pub struct Known {
    pub node: String,
    pub names: Vec<String>,
}

/// What a HOST value matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    One(String),
    NoNode,
    Several(Vec<String>),
}

/// `10.0.0.1:2510` → `10.0.0.1`, `[fe80::1]:2510` → `fe80::1`; names compare without case
/// and without a trailing dot.
fn normalize(value: &str) -> String {
    let value = value.trim().trim_end_matches('.');
    let value = match value.parse::<SocketAddr>() {
        Ok(socket) => socket.ip().to_string(),
        Err(_) => value.to_string(),
    };
    value.to_ascii_lowercase()
}

pub fn match_host(value: &str, known: &[Known]) -> Match {
    let wanted = normalize(value);
    let nodes: Vec<String> = known
        .iter()
        .filter(|k| k.names.iter().any(|n| normalize(n) == wanted))
        .map(|k| k.node.clone())
        .fold(Vec::new(), |mut acc, n| {
            if !acc.contains(&n) {
                acc.push(n);
            }
            acc
        });
    match nodes.as_slice() {
        [] => Match::NoNode,
        [one] => Match::One(one.clone()),
        _ => Match::Several(nodes),
    }
}

fn from_inventory(hosts: &[Host]) -> Vec<Known> {
    hosts
        .iter()
        .map(|h| Known {
            node: h.name().to_string(),
            names: [h.name(), h.address()]
                .into_iter()
                .map(str::to_string)
                .chain(h.aliases().iter().cloned())
                .collect(),
        })
        .collect()
}

/// Asks a node its own addresses and host names; `None` when it does not answer.
fn ask(run: &RunContext, node: &Host) -> Option<Vec<String>> {
    let addresses = probe(run, node, ["ip", "-o", "addr", "show"]).ok()?;
    let hostname = probe(run, node, ["hostname"]).ok()?;
    if addresses.code != 0 {
        return None;
    }
    let mut names = net::ip_addresses(&addresses.stdout);
    if hostname.code == 0 {
        names.extend(net::host_names(&hostname.stdout));
    }
    Some(names)
}

/// What each HOST value of a `vstorage stat` matched, and which nodes did not answer.
pub struct Resolution {
    /// `(what, HOST, match)`, e.g. `("CS#1025", "10.40.0.31", One("msk-01"))`.
    pub rows: Vec<(String, String, Match)>,
    /// Nodes asked for their addresses that did not answer.
    pub silent: Vec<String>,
    /// Nodes that gave their own addresses.
    pub answered: Vec<String>,
}

impl Resolution {
    /// HOST → node, for the values matched to exactly one node.
    pub fn found(&self) -> BTreeMap<String, String> {
        self.rows
            .iter()
            .filter_map(|(_, value, m)| match m {
                Match::One(node) => Some((value.clone(), node.clone())),
                _ => None,
            })
            .collect()
    }

    /// Checks that the services of `node` are all known: no HOST names it and another node,
    /// and no unmatched HOST may be it. An unmatched IP is surely not `node` when `node` gave
    /// its own addresses; an unmatched name may be a DNS name of it. Else the operator's
    /// error names each HOST and the inventory fix.
    pub fn complete_for(&self, node: &str) -> Result<(), Failure> {
        self.report(|value, m| !matches!(m, Match::One(_)) && self.may_be(node, value, m))
    }

    /// Whether a HOST value is or may be `node`: it names `node` (alone or with others), or
    /// it names no node and `node` cannot rule it out (it did not give its own addresses,
    /// or the value is a name, which may be a DNS name of it).
    fn may_be(&self, node: &str, value: &str, m: &Match) -> bool {
        match m {
            Match::One(n) => n == node,
            Match::NoNode => {
                !self.answered.iter().any(|n| n == node)
                    || normalize(value).parse::<IpAddr>().is_err()
            }
            Match::Several(nodes) => nodes.iter().any(|n| n == node),
        }
    }

    /// The rows that are or may be `node`: `(what, HOST, sure)`, `sure` when the HOST
    /// names `node` and no other.
    pub fn rows_of(&self, node: &str) -> Vec<(&str, &str, bool)> {
        self.rows
            .iter()
            .filter(|(_, value, m)| self.may_be(node, value, m))
            .map(|(what, value, m)| {
                (
                    what.as_str(),
                    value.as_str(),
                    *m == Match::One(node.to_string()),
                )
            })
            .collect()
    }

    /// Checks that every HOST is exactly one node.
    pub fn complete(&self) -> Result<(), Failure> {
        self.report(|_, m| !matches!(m, Match::One(_)))
    }

    fn report(&self, doubtful: impl Fn(&str, &Match) -> bool) -> Result<(), Failure> {
        // One line per HOST, naming its services.
        let mut by_host: BTreeMap<&str, (Vec<&str>, &Match)> = BTreeMap::new();
        for (what, value, m) in self.rows.iter().filter(|(_, v, m)| doubtful(v, m)) {
            by_host.entry(value).or_insert((Vec::new(), m)).0.push(what);
        }
        if by_host.is_empty() {
            return Ok(());
        }
        let silent = if self.silent.is_empty() {
            String::new()
        } else {
            format!("; {} did not answer", self.silent.join(", "))
        };
        let problems: Vec<String> = by_host
            .into_iter()
            .map(|(value, (whats, m))| match m {
                Match::Several(nodes) => format!(
                    "HOST {value} of {} names several nodes: {}",
                    whats.join(", "),
                    nodes.join(", ")
                ),
                _ => format!(
                    "HOST {value} of {} is no node of the inventory (not a name, address, \
                     storage_address or alias, nor an address a node reports{silent})",
                    whats.join(", ")
                ),
            })
            .collect();
        Err(Failure::bad_input(
            "inventory",
            format!(
                "vstorage stat's {}. Give the node that runs them `storage_address: <HOST>` \
                 (or `aliases: [<HOST>]`) in the inventory, and make each address name one \
                 node (HOST is the address the service listens on)",
                problems.join("; ")
            ),
        ))
    }
}

/// Matches `(what, HOST)` pairs to nodes. The nodes in `ask_first` are asked their
/// addresses whatever the inventory says; the others only when the inventory alone leaves
/// a value unmatched or ambiguous. Each node is asked at most once per run.
pub fn resolve(run: &RunContext, values: &[(String, String)], ask_first: &[&Host]) -> Resolution {
    let hosts = run.cluster.hosts();
    let mut known = from_inventory(hosts);
    let mut silent = Vec::new();
    let mut answered = Vec::new();
    let mut ask_node = |node: &Host, known: &mut Vec<Known>| match run
        .cluster
        .identities_of(node, |n| ask(run, n))
    {
        Some(names) => {
            answered.push(node.name().to_string());
            known.push(Known {
                node: node.name().to_string(),
                names,
            });
        }
        None => silent.push(node.name().to_string()),
    };
    for node in ask_first {
        ask_node(node, &mut known);
    }
    let settled = values
        .iter()
        .all(|(_, v)| matches!(match_host(v, &known), Match::One(_)));
    if !settled {
        for node in hosts.iter().filter(|h| !ask_first.contains(h)) {
            ask_node(node, &mut known);
        }
    }
    let rows = values
        .iter()
        .map(|(what, value)| (what.clone(), value.clone(), match_host(value, &known)))
        .collect();
    Resolution {
        rows,
        silent,
        answered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<Known> {
        vec![
            Known {
                node: "msk-01".into(),
                names: vec!["msk-01".into(), "10.30.17.31".into(), "10.40.0.31".into()],
            },
            Known {
                node: "msk-02".into(),
                names: vec![
                    "msk-02".into(),
                    "10.30.17.32".into(),
                    "MSK-02.example.com.".into(),
                ],
            },
            // The same node again, from its own answer.
            Known {
                node: "msk-01".into(),
                names: vec!["10.40.0.31".into()],
            },
        ]
    }

    #[test]
    fn a_host_matches_by_any_name_or_address() {
        assert_eq!(
            match_host("10.40.0.31", &known()),
            Match::One("msk-01".into())
        );
        assert_eq!(
            match_host("10.30.17.32:2510", &known()),
            Match::One("msk-02".into())
        );
        assert_eq!(
            match_host("msk-02.example.com", &known()),
            Match::One("msk-02".into())
        );
        assert_eq!(match_host("10.99.0.1", &known()), Match::NoNode);
    }

    #[test]
    fn a_host_two_nodes_claim_is_several() {
        let mut k = known();
        k.push(Known {
            node: "msk-03".into(),
            names: vec!["10.40.0.31".into()],
        });
        assert_eq!(
            match_host("10.40.0.31", &k),
            Match::Several(vec!["msk-01".into(), "msk-03".into()])
        );
    }

    fn resolution(rows: &[(&str, &str, Match)], answered: &[&str]) -> Resolution {
        Resolution {
            rows: rows
                .iter()
                .map(|(w, v, m)| (w.to_string(), v.to_string(), m.clone()))
                .collect(),
            silent: Vec::new(),
            answered: answered.iter().map(|n| n.to_string()).collect(),
        }
    }

    #[test]
    fn a_node_is_sure_of_its_css_only_when_nothing_may_be_it() {
        let other_ip = ("CS#1", "10.99.0.1", Match::NoNode);
        let other_name = ("CS#2", "stor-x.example.com", Match::NoNode);
        let mine = ("CS#3", "10.40.0.31", Match::One("msk-01".into()));
        let shared = (
            "CS#4",
            "10.40.0.9",
            Match::Several(vec!["msk-01".into(), "msk-02".into()]),
        );
        // An unknown IP is not a node that gave all its addresses.
        assert!(resolution(&[other_ip.clone(), mine.clone()], &["msk-01"])
            .complete_for("msk-01")
            .is_ok());
        // ... but may be one that did not answer.
        assert!(resolution(&[other_ip.clone(), mine.clone()], &[])
            .complete_for("msk-01")
            .is_err());
        // An unknown name may be a DNS name of it.
        let e = resolution(&[other_name, mine.clone()], &["msk-01"])
            .complete_for("msk-01")
            .unwrap_err();
        assert!(
            e.message.contains("HOST stor-x.example.com of CS#2"),
            "{}",
            e.message
        );
        // A HOST it shares with another node is an error for both, not for a third.
        assert!(resolution(std::slice::from_ref(&shared), &["msk-01"])
            .complete_for("msk-01")
            .is_err());
        assert!(resolution(&[shared], &["msk-03"])
            .complete_for("msk-03")
            .is_ok());
        assert!(resolution(&[other_ip, mine], &["msk-01"])
            .complete()
            .is_err());
    }

    #[test]
    fn the_rows_of_a_node_are_those_it_is_or_may_be() {
        let other_ip = ("c1", "10.99.0.1", Match::NoNode);
        let other_name = ("c2", "stor-x.example.com", Match::NoNode);
        let mine = ("c3", "10.40.0.31", Match::One("msk-01".into()));
        let theirs = ("c4", "10.40.0.32", Match::One("msk-02".into()));
        let shared = (
            "c5",
            "10.40.0.9",
            Match::Several(vec!["msk-01".into(), "msk-02".into()]),
        );
        let rows = [other_ip, other_name, mine, theirs, shared];
        // msk-01 gave its addresses: an unknown IP is not it, an unknown name may be.
        assert_eq!(
            resolution(&rows, &["msk-01"]).rows_of("msk-01"),
            [
                ("c2", "stor-x.example.com", false),
                ("c3", "10.40.0.31", true),
                ("c5", "10.40.0.9", false)
            ]
        );
        // Silent, any HOST that is no node may be it; another node's never is.
        assert_eq!(
            resolution(&rows, &[]).rows_of("msk-01"),
            [
                ("c1", "10.99.0.1", false),
                ("c2", "stor-x.example.com", false),
                ("c3", "10.40.0.31", true),
                ("c5", "10.40.0.9", false)
            ]
        );
    }
}
