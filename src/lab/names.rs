//! How a lab node names its peers: its `/etc/hosts`, `getent hosts KEY` over it, and `ls`
//! of a directory (how discovery finds the clusters under /etc/vstorage/clusters/).
//!
//! Formats: `/etc/hosts` as hosts(5); `getent hosts` as glibc's getent (`%-15s %s` address
//! and canonical name, then the aliases; an address key is a reverse lookup; exit 2 when a
//! key is not found, with nothing printed for it); `ls -1` as GNU coreutils (one name per
//! line, sorted, no quoting when stdout is not a terminal).
//! Invented (no public sample; a plausible operator's file): the generated /etc/hosts
//! content, which names each node on the management network by its hostname (FQDN first
//! when the scenario gives one) and on the storage network by `NAME.stor.CLUSTER.local
//! NAME-stor`. A scenario's own `files: {/etc/hosts: ...}` replaces it, which is how tests
//! leave a node unnamed.

use super::reply::Reply;
use super::state::{HostState, LabState};

/// The /etc/hosts every lab node starts with (see the module doc: invented content).
pub fn hosts_file(cluster: &str, hosts: &[HostState]) -> String {
    let mut text = String::from(
        "127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4\n\
         ::1         localhost localhost.localdomain localhost6 localhost6.localdomain6\n\n\
         # cluster nodes\n",
    );
    for h in hosts {
        let names = match h.hostname.as_deref() {
            Some(fqdn) if fqdn != h.name => format!("{fqdn} {}", h.name),
            _ => h.name.clone(),
        };
        text.push_str(&format!("{:<15} {names}\n", h.address));
    }
    let storage: Vec<&HostState> = hosts
        .iter()
        .filter(|h| h.storage_address.is_some())
        .collect();
    if !storage.is_empty() {
        text.push_str("\n# storage network\n");
        for h in storage {
            text.push_str(&format!(
                "{:<15} {name}.stor.{cluster}.local {name}-stor\n",
                h.stat_address(),
                name = h.name
            ));
        }
    }
    text
}

/// `getent hosts KEY...` over the node's /etc/hosts: the first line whose address is KEY
/// (an address key), else the first line naming KEY (case-insensitive, as the files
/// backend compares names).
pub fn getent(state: &LabState, host: &str, args: &[&str]) -> Reply {
    let args: Vec<&str> = args.iter().copied().filter(|a| *a != "--").collect();
    let Some((&"hosts", keys)) = args.split_first() else {
        return Reply::fail(1, "Unknown database: lab getent knows only `hosts`\n");
    };
    if keys.is_empty() {
        // Enumeration: the whole database, one line per entry.
        let entries = entries(state, host);
        return Reply::ok(entries.iter().map(|e| line(&e.0, &e.1)).collect::<String>());
    }
    let entries = entries(state, host);
    let mut out = String::new();
    let mut missing = false;
    for key in keys {
        let is_address = key.parse::<std::net::IpAddr>().is_ok();
        let found = entries.iter().find(|(address, names)| {
            if is_address {
                address == key
            } else {
                names.iter().any(|n| n.eq_ignore_ascii_case(key))
            }
        });
        match found {
            Some((address, names)) => out.push_str(&line(address, names)),
            None => missing = true,
        }
    }
    Reply {
        code: if missing { 2 } else { 0 },
        ..Reply::ok(out)
    }
}

fn line(address: &str, names: &[String]) -> String {
    format!("{address:<15} {}\n", names.join(" "))
}

/// (address, names) of every line of the node's /etc/hosts, comments dropped.
fn entries(state: &LabState, host: &str) -> Vec<(String, Vec<String>)> {
    let text = state
        .file(host, "/etc/hosts")
        .map(|f| f.content.clone())
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next().unwrap_or("");
            let mut words = l.split_whitespace();
            let address = words.next()?.to_string();
            let names: Vec<String> = words.map(str::to_string).collect();
            (!names.is_empty()).then_some((address, names))
        })
        .collect()
}

/// `ls -1 [--] DIR`: the entries directly below DIR (files and directories the lab knows).
pub fn ls(state: &LabState, host: &str, args: &[&str]) -> Reply {
    let paths: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with('-'))
        .collect();
    let [dir] = paths.as_slice() else {
        return Reply::fail(2, "ls: the lab lists one directory at a time\n");
    };
    let Some(h) = state.host(host) else {
        return Reply::fail(2, "ls: unknown lab host\n");
    };
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    let mut names: Vec<&str> = h
        .files
        .keys()
        .chain(&h.dirs)
        .filter_map(|p| p.strip_prefix(&prefix))
        .filter_map(|rest| rest.split('/').next())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() && !h.dirs.iter().any(|d| d.trim_end_matches('/') == *dir) {
        return Reply::fail(
            2,
            format!("ls: cannot access '{dir}': No such file or directory\n"),
        );
    }
    names.sort_unstable();
    names.dedup();
    Reply::ok(names.iter().map(|n| format!("{n}\n")).collect::<String>())
}
