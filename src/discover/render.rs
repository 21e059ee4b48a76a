//! The discovered inventory as a commented `vzrun.yaml` (the format of `inventory`): what was
//! found where, each host with what it runs, and the hosts that could not be named as comments
//! for the operator to complete.

use super::{Discovery, CLUSTERS_DIR};

/// SSH settings to write under `defaults` (those the operator gave to reach the node).
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity: Option<String>,
    pub jump: Option<String>,
    pub sudo: bool,
    pub sudo_user: Option<String>,
}

/// A YAML scalar: plain when that reads back as the same string, quoted otherwise (a name
/// such as `1e3` or `no` would load as a number or a boolean).
fn scalar(text: &str) -> String {
    serde_yaml::to_string(text)
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| format!("{text:?}"))
}

fn list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| scalar(i)).collect();
    format!("[{}]", items.join(", "))
}

/// Text safe inside a YAML comment: one line, no control characters.
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

pub fn render(d: &Discovery, defaults: &Defaults) -> String {
    let mut out = format!(
        "# vzrun inventory of cluster '{cluster}', discovered on {source}.\n\
         # Read from {CLUSTERS_DIR}/ and `vstorage -c {cluster} stat` (MDS, CS and clients\n\
         # tables); names from `getent hosts` on {source}.\n\
         # Review before use: vzrun connects to each `address` over SSH, and runbooks choose\n\
         # hosts by their tags (hypervisor: mounts the cluster; storage: runs a CS; mds: runs an MDS).\n",
        cluster = d.cluster,
        source = comment(&d.source),
    );
    if !d.clients_table {
        out.push_str(
            "# `vstorage stat` printed no clients table: no host is tagged hypervisor.\n\
             # Add the tag to every node that runs VMs and containers.\n",
        );
    }
    out.push_str(&format!("cluster: {}\n", scalar(&d.cluster)));
    let mut settings = Vec::new();
    if let Some(user) = &defaults.user {
        settings.push(format!("user: {}", scalar(user)));
    }
    if let Some(port) = defaults.port {
        settings.push(format!("port: {port}"));
    }
    if let Some(identity) = &defaults.identity {
        settings.push(format!("identity: {}", scalar(identity)));
    }
    if let Some(jump) = &defaults.jump {
        settings.push(format!("jump: {}", scalar(jump)));
    }
    if defaults.sudo {
        settings.push("sudo: true".into());
    }
    if let Some(user) = &defaults.sudo_user {
        settings.push(format!("sudo_user: {}", scalar(user)));
    }
    if settings.is_empty() {
        out.push_str("# defaults: {user: root, port: 22, identity: ~/.ssh/id_ed25519}\n");
    } else {
        out.push_str(&format!("defaults: {{{}}}\n", settings.join(", ")));
    }
    let named: Vec<_> = d.nodes.iter().filter(|n| n.name.is_some()).collect();
    if named.is_empty() {
        out.push_str("hosts: []  # no host could be named: see below\n");
    } else {
        out.push_str("hosts:\n");
    }
    for n in &named {
        let name = n.name.as_deref().unwrap_or_default();
        out.push_str(&format!("  # {}\n", comment(&n.seen.join(", "))));
        out.push_str(&format!("  - name: {}\n", scalar(name)));
        out.push_str(&format!("    address: {}\n", scalar(&n.address)));
        if let Some(storage) = n.storage_address() {
            out.push_str(&format!(
                "    storage_address: {}  # as `vstorage stat` shows it\n",
                scalar(storage)
            ));
        }
        if !n.aliases.is_empty() {
            out.push_str(&format!("    aliases: {}\n", list(&n.aliases)));
        }
        out.push_str(&format!("    tags: {}\n", list(&n.tags)));
    }
    let unnamed: Vec<_> = d.nodes.iter().filter(|n| n.name.is_none()).collect();
    if !unnamed.is_empty() {
        out.push_str(&format!(
            "\n# Hosts that could not be named on {}: give each a name (and the address vzrun\n\
             # reaches it at) and move it into `hosts` to manage it.\n",
            comment(&d.source)
        ));
        for n in unnamed {
            out.push_str(&format!(
                "#  - {{name: ?, address: {}, tags: {}}}  # {}; {}\n",
                comment(&n.seen_as),
                comment(&list(&n.tags)),
                comment(&n.seen.join(", ")),
                comment(n.note.as_deref().unwrap_or("no name"))
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::Node;

    #[test]
    fn odd_names_are_quoted_and_unnamed_hosts_are_comments() {
        let d = Discovery {
            cluster: "c1".into(),
            source: "node".into(),
            nodes: vec![
                Node {
                    seen_as: "10.0.0.1".into(),
                    name: Some("1e3".into()),
                    address: "10.0.0.1".into(),
                    tags: vec!["storage".into()],
                    seen: vec!["CS#1 (active)".into()],
                    ..Node::default()
                },
                Node {
                    seen_as: "10.0.0.2".into(),
                    address: "10.0.0.2".into(),
                    tags: vec!["mds".into()],
                    seen: vec!["MDS#2 (avail)".into()],
                    note: Some("`getent hosts 10.0.0.2` knows no name for it".into()),
                    ..Node::default()
                },
            ],
            clients_table: false,
        };
        let text = render(&d, &Defaults::default());
        let inv =
            crate::inventory::Inventory::parse(&text, "discovered", std::path::Path::new("."))
                .unwrap();
        assert_eq!(inv.hosts.len(), 1);
        assert_eq!(inv.hosts[0].name, "1e3");
        assert!(text.contains("#  - {name: ?, address: 10.0.0.2, tags: [mds]}  # MDS#2 (avail); `getent hosts 10.0.0.2` knows no name for it"), "{text}");
        assert!(text.contains("no clients table"), "{text}");
    }
}
