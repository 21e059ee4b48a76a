//! How a lab node names its peers: its `/etc/hosts`, `getent hosts KEY` over it, and `ls`
//! of a directory (how discovery finds the clusters under /etc/vstorage/clusters/); and
//! `find DIR/ -mindepth 1 -maxdepth 1 -printf '%f\0'` (file::list), which on the cluster
//! file system shows what every node sees there.
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
use super::state::{uuid_from, HostState, LabState, VeKind};

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

/// `find DIR/ -mindepth 1 -maxdepth 1 -printf %f\0` (GNU findutils; the only form the lab
/// answers): the names of DIR's entries, each followed by a NUL, in directory order (not
/// sorted: the lab gives a hash order, so a caller cannot lean on one). Messages and exit
/// codes as GNU find: `find: 'X': No such file or directory` and, for a file named with a
/// trailing slash, `find: 'X/': Not a directory`, exit 1.
///
/// Where the cluster file system is mounted, a directory below its mount point is the
/// shared one: the home of every VE below it, registered anywhere or nowhere (a VE of a
/// node that does not answer, or unregistered after a node loss, has its home there all
/// the same), the shared files and the paths set-attr named; the root always holds
/// `private` and `vmprivate`. Invented (no public listing): what a VE home holds, here
/// `root.hdd` and `ve.conf` for a CT, `config.pvs` and `harddisk.hdd` for a VM.
pub fn find(state: &LabState, host: &str, args: &[String]) -> Reply {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let [arg, "-mindepth", "1", "-maxdepth", "1", "-printf", "%f\\0"] = args.as_slice() else {
        return Reply::fail(
            1,
            "find: the lab answers only `find DIR/ -mindepth 1 -maxdepth 1 -printf '%f\\0'`\n",
        );
    };
    let dir = if *arg == "/" {
        "/"
    } else {
        arg.trim_end_matches('/')
    };
    let Some(mut names) = entries_of(state, host, dir) else {
        if arg.ends_with('/') && state.file(host, dir).is_some() {
            return Reply::fail(1, format!("find: '{arg}': Not a directory\n"));
        }
        return Reply::fail(1, format!("find: '{arg}': No such file or directory\n"));
    };
    names.sort_by_cached_key(|n| uuid_from(&format!("dirent-{n}")));
    Reply::ok(names.iter().map(|n| format!("{n}\0")).collect::<String>())
}

/// Whether `dir` is a directory of the cluster file system as `host` sees it (where it is
/// mounted): what `test -d` answers there, as `find` lists it.
pub fn shared_dir(state: &LabState, host: &str, dir: &str) -> bool {
    let root = state.mount_root();
    let dir = dir.trim_end_matches('/');
    state.cluster_mounted(host)
        && (dir == root || dir.starts_with(&format!("{root}/")))
        && entries_of(state, host, dir).is_some()
}

/// The entries directly below `dir` as `host` sees it, or `None` when it is no directory.
fn entries_of(state: &LabState, host: &str, dir: &str) -> Option<Vec<String>> {
    let h = state.host(host)?;
    let root = state.mount_root();
    let prefix = if dir == "/" {
        "/".to_string()
    } else {
        format!("{dir}/")
    };
    let below = |p: &str| -> Option<String> {
        let rest = p.strip_prefix(&prefix)?;
        rest.split('/')
            .next()
            .filter(|n| !n.is_empty())
            .map(str::to_string)
    };
    let shared =
        state.cluster_mounted(host) && (dir == root || dir.starts_with(&format!("{root}/")));
    let mut names: Vec<String> = Vec::new();
    let mut exists;
    if shared {
        exists = dir == root || state.path_attrs.contains_key(dir);
        if dir == root {
            names.extend(["private".to_string(), "vmprivate".to_string()]);
        }
        if dir == format!("{root}/private") || dir == format!("{root}/vmprivate") {
            exists = true;
        }
        for ve in &state.ves {
            let home = ve.home.trim_end_matches('/');
            if home == dir {
                exists = true;
                names.extend(
                    match ve.kind {
                        VeKind::CT => ["root.hdd", "ve.conf"],
                        VeKind::VM => ["config.pvs", "harddisk.hdd"],
                    }
                    .map(str::to_string),
                );
            }
            names.extend(below(home));
        }
        names.extend(state.shared_files.keys().filter_map(|p| below(p)));
        names.extend(state.path_attrs.keys().filter_map(|p| below(p)));
    } else {
        exists = dir == "/" || h.dirs.iter().any(|d| d.trim_end_matches('/') == dir);
        names.extend(h.files.keys().chain(&h.dirs).filter_map(|p| below(p)));
    }
    if names.is_empty() && !exists {
        return None;
    }
    names.sort_unstable();
    names.dedup();
    Some(names)
}

/// `grep -rlF -- TEXT DIR`: the files below `dir` (as `host` sees it) that hold `text`, one
/// path a line; exit 1 when none does, 2 when `dir` does not exist (GNU grep's codes). The
/// lab answers this form only.
pub fn grep(state: &LabState, host: &str, args: &[String]) -> Reply {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (text, dir) = match args.as_slice() {
        ["-rlF", "--", text, dir] | ["-r", "-l", "-F", "--", text, dir] => (*text, *dir),
        _ => return Reply::fail(2, "grep: the lab answers only `grep -rlF -- TEXT DIR`\n"),
    };
    let dir = dir.trim_end_matches('/');
    if entries_of(state, host, dir).is_none() {
        return Reply::fail(2, format!("grep: {dir}: No such file or directory\n"));
    }
    let prefix = format!("{dir}/");
    let files = if state.on_shared_fs(host, &prefix) {
        &state.shared_files
    } else {
        match state.host(host) {
            Some(h) => &h.files,
            None => return Reply::fail(2, "grep: no such host\n"),
        }
    };
    let found: String = files
        .iter()
        .filter(|(path, file)| path.starts_with(&prefix) && file.content.contains(text))
        .map(|(path, _)| format!("{path}\n"))
        .collect();
    if found.is_empty() {
        Reply::fail(1, "")
    } else {
        Reply::ok(found)
    }
}
