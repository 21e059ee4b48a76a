//! The inventory: which hosts make up the cluster, and how to reach them over SSH.
//!
//! ```yaml
//! cluster: livelinux
//! defaults: {user: root, port: 22, identity: ~/.ssh/id_ed25519}
//! hosts:
//!   - {name: msk-01, address: 10.30.17.31, tags: [hypervisor, storage, mds]}
//!   - {name: msk-02, address: 10.30.17.32, tags: [hypervisor, storage], port: 2222,
//!      storage_address: 10.40.0.32, aliases: [msk-02.stor.example.com]}
//! ```
//!
//! `sudo: true` (optionally `sudo_user: NAME`) runs everything on a host through `sudo -n`,
//! for teams that log in as themselves (see `transport::sudo`).
//!
//! `persist: SECONDS` (default 60, 0 to 3600) keeps a host's master connection open, idle, for
//! the next run; `kex: NAMES` picks the key exchange (ssh's `KexAlgorithms`). See
//! `transport::master` and the book's Inventory page.
//!
//! `storage_address` and `aliases` tell vzrun which node a `vstorage stat` HOST is when
//! that is not the name or address above (vzrun also asks each node its own addresses).
//!
//! Found as `--inventory FILE`, else `$VZRUN_INVENTORY`, else `./vzrun.yaml`. Anything not
//! set here comes from ~/.ssh/config (user, ProxyJump, agent), as with plain ssh.

use std::path::{Path, PathBuf};

use serde::Deserialize;

// SshSettings lives with the transport that uses it; the inventory, which reads it from its
// file, keeps the name at this path.
pub use crate::transport::SshSettings;

/// The parsed inventory file: the cluster's name, SSH defaults and hosts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// The cluster's name (`vstorage` cluster name; the default mount is `/vstorage/CLUSTER`).
    pub cluster: String,
    /// Where the cluster file system is mounted on the nodes (default: where the nodes say
    /// they mount it, else `/vstorage/CLUSTER`); shared records (node maintenance) live
    /// below it.
    #[serde(default)]
    pub cluster_mount: Option<String>,
    /// SSH settings for every host; a host's own settings override them.
    #[serde(default)]
    pub defaults: SshSettings,
    /// The hosts a run may touch, in file order.
    pub hosts: Vec<InventoryHost>,
}

/// One host of the inventory: its name, how to reach it, what it is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryHost {
    /// The name runbooks and events use for the host.
    pub name: String,
    /// The host name or IP address vzrun connects to.
    pub address: String,
    /// The node's address on the storage network, when `vstorage stat` shows that one.
    #[serde(default)]
    pub storage_address: Option<String>,
    /// Other names or addresses the node is known by (e.g. its FQDN in `vstorage stat`).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Roles runbooks select hosts by (`hosts_tagged("hypervisor")`), e.g. `storage`, `mds`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// This host's SSH settings; unset ones come from `defaults`.
    #[serde(flatten)]
    pub ssh: SshSettings,
}

/// A user name as `sudo -u` takes it: letters, digits, `.`, `_`, `-` (not first), at most 32
/// (useradd's rule); a `#UID` is not accepted.
pub fn user_name_ok(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= 32
        && !user.starts_with('-')
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// An inventory that cannot be read or is invalid, with where and why.
#[derive(Debug, thiserror::Error)]
#[error("{origin}{}: {message}", location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct InventoryError {
    /// What the inventory came from, as errors name it (usually its file path).
    pub origin: String,
    /// Line and column (1-based) of the problem in the file, when known.
    pub location: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl Inventory {
    /// Parses and checks an inventory; `origin` names it in errors and relative paths are
    /// resolved against `base`.
    pub fn parse(yaml: &str, origin: &str, base: &Path) -> Result<Inventory, InventoryError> {
        let error = |location, message: String| InventoryError {
            origin: origin.to_string(),
            location,
            message,
        };
        let mut inv: Inventory = serde_yaml::from_str(yaml)
            .map_err(|e| error(e.location().map(|l| (l.line(), l.column())), e.to_string()))?;
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.len() <= 63
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !name_ok(&inv.cluster) {
            return Err(error(
                None,
                format!(
                    "cluster name {:?} must be 1-63 of a-z A-Z 0-9 - _",
                    inv.cluster
                ),
            ));
        }
        if let Some(mount) = &inv.cluster_mount {
            if crate::parse::rules::check_abs_path(mount).is_err() {
                return Err(error(
                    None,
                    format!("cluster_mount {mount:?} must be an absolute path"),
                ));
            }
        }
        if inv.hosts.is_empty() {
            return Err(error(None, "no hosts".into()));
        }
        for (i, h) in inv.hosts.iter().enumerate() {
            let host_ok = !h.name.is_empty()
                && h.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !host_ok || h.name == "local" {
                return Err(error(None, format!("hosts[{i}]: name {:?} must be letters, digits, '-', '_', '.' (and not \"local\")", h.name)));
            }
            if h.address.is_empty()
                || h.address.starts_with('-')
                || h.address.contains(char::is_whitespace)
            {
                return Err(error(
                    None,
                    format!(
                        "hosts[{i}] ({}): address {:?} is not a host name or IP",
                        h.name, h.address
                    ),
                ));
            }
            if inv.hosts[..i].iter().any(|o| o.name == h.name) {
                return Err(error(None, format!("host {:?} is listed twice", h.name)));
            }
        }
        for h in &inv.hosts {
            for alias in h.storage_address.iter().chain(&h.aliases) {
                if alias.is_empty() || alias.contains(char::is_whitespace) {
                    return Err(error(
                        None,
                        format!(
                            "host {:?}: alias {alias:?} is not a host name or IP",
                            h.name
                        ),
                    ));
                }
            }
        }
        if let Err(why) = inv.defaults.check() {
            return Err(error(None, format!("defaults: {why}")));
        }
        for h in &inv.hosts {
            let settings = h.ssh.or(&inv.defaults);
            if let Err(why) = settings.check() {
                return Err(error(None, format!("host {:?}: {why}", h.name)));
            }
            if let Some(user) = &settings.sudo_user {
                if !user_name_ok(user) {
                    return Err(error(
                        None,
                        format!("host {:?}: sudo_user {user:?} is not a user name", h.name),
                    ));
                }
                if settings.sudo != Some(true) {
                    return Err(error(
                        None,
                        format!(
                            "host {:?}: sudo_user {user:?} is set but sudo is not: add `sudo: true`",
                            h.name
                        ),
                    ));
                }
            }
        }
        inv.defaults.resolve_paths(base);
        for h in &mut inv.hosts {
            h.ssh.resolve_paths(base);
        }
        Ok(inv)
    }

    /// The inventory to use: `explicit`, else `$VZRUN_INVENTORY`, else `./vzrun.yaml` when it
    /// exists; `None` when there is none.
    pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = explicit {
            return Some(p.to_path_buf());
        }
        if let Some(p) = std::env::var_os("VZRUN_INVENTORY").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        let here = PathBuf::from("vzrun.yaml");
        here.is_file().then_some(here)
    }

    /// Reads and checks the inventory file at `path`; relative paths in it are resolved from
    /// its directory.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|e| InventoryError {
            origin: path.display().to_string(),
            location: None,
            message: e.to_string(),
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Inventory::parse(&text, &path.display().to_string(), base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_hosts_and_paths_resolve() {
        let inv = Inventory::parse(
            "cluster: livelinux\ndefaults: {user: root, identity: keys/id, port: 22}\nhosts:\n  - {name: msk-01, address: 10.0.0.1, tags: [hypervisor]}\n  - {name: msk-02, address: 10.0.0.2, port: 2222}\n",
            "inv.yaml",
            Path::new("/etc/vzrun"),
        )
        .unwrap();
        let s = inv.hosts[1].ssh.or(&inv.defaults);
        assert_eq!((s.user.as_deref(), s.port), (Some("root"), Some(2222)));
        assert_eq!(s.identity.unwrap(), PathBuf::from("/etc/vzrun/keys/id"));
        assert_eq!(inv.hosts[0].tags, vec!["hypervisor"]);
    }

    #[test]
    fn errors_have_line_and_column() {
        let e = Inventory::parse(
            "cluster: c\nhosts:\n  - {name: a, addres: b}\n",
            "inv.yaml",
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("inv.yaml:3:"), "{e}");
        let e = Inventory::parse(
            "cluster: c\nhosts:\n  - {name: a, address: b}\n  - {name: a, address: c}\n",
            "i",
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.message.contains("twice"));
        let e = Inventory::parse(
            "cluster: c\nhosts:\n  - {name: a, address: \"-oProxyCommand=x\"}\n",
            "i",
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.message.contains("address"));
    }

    #[test]
    fn sudo_per_host_or_by_default() {
        let inv = Inventory::parse(
            "cluster: c\ndefaults: {user: ops, sudo: true}\nhosts:\n  - {name: a, address: 10.0.0.1}\n  - {name: b, address: 10.0.0.2, sudo: false}\n  - {name: c, address: 10.0.0.3, sudo_user: vzadmin}\n",
            "i",
            Path::new("."),
        )
        .unwrap();
        let settings: Vec<SshSettings> =
            inv.hosts.iter().map(|h| h.ssh.or(&inv.defaults)).collect();
        assert_eq!(settings[0].sudo, Some(true));
        assert_eq!(settings[1].sudo, Some(false));
        assert_eq!(settings[2].sudo_user.as_deref(), Some("vzadmin"));
        for (yaml, problem) in [
            (
                "{name: a, address: b, sudo: true, sudo_user: \"-x\"}",
                "not a user name",
            ),
            ("{name: a, address: b, sudo_user: ops}", "add `sudo: true`"),
        ] {
            let e = Inventory::parse(
                &format!("cluster: c\nhosts:\n  - {yaml}\n"),
                "i",
                Path::new("."),
            )
            .unwrap_err();
            assert!(e.message.contains(problem), "{e}");
        }
    }

    #[test]
    fn persist_and_kex_are_checked_naming_the_host() {
        let inv = Inventory::parse(
            "cluster: c\ndefaults: {persist: 300, kex: curve25519-sha256}\nhosts:\n  - {name: a, address: 10.0.0.1}\n  - {name: b, address: 10.0.0.2, persist: 0, kex: \"sntrup761x25519-sha512@openssh.com,curve25519-sha256\"}\n",
            "i",
            Path::new("."),
        )
        .unwrap();
        let a = inv.hosts[0].ssh.or(&inv.defaults);
        let b = inv.hosts[1].ssh.or(&inv.defaults);
        assert_eq!(
            (a.persist_secs(), a.kex.as_deref()),
            (300, Some("curve25519-sha256"))
        );
        assert_eq!(b.persist_secs(), 0);
        assert_eq!(SshSettings::default().persist_secs(), 60);
        for (yaml, problem) in [
            (
                "{name: a, address: b, persist: 3601}",
                "host \"a\": persist 3601 is out of range",
            ),
            (
                "{name: a, address: b, persist: -1}",
                "persist -1: must be whole seconds",
            ),
            (
                "{name: a, address: b, persist: 1.5}",
                "persist 1.5: must be whole seconds",
            ),
            (
                "{name: a, address: b, persist: soon}",
                "persist soon: must be whole seconds",
            ),
            (
                "{name: a, address: b, kex: \"curve25519-sha256 -oProxyCommand=x\"}",
                "host \"a\": kex",
            ),
            (
                "{name: a, address: b, kex: \"+diffie-hellman-group1-sha1\"}",
                "\"+diffie-hellman-group1-sha1\" is not a key exchange algorithm name",
            ),
            (
                "{name: a, address: b, kex: \"curve25519-sha256,\"}",
                "\"\" is not a key exchange",
            ),
        ] {
            let e = Inventory::parse(
                &format!("cluster: c\nhosts:\n  - {yaml}\n"),
                "i",
                Path::new("."),
            )
            .unwrap_err();
            assert!(e.to_string().contains(problem), "{yaml}: {e}");
        }
        let e = Inventory::parse(
            "cluster: c\ndefaults: {persist: 9000}\nhosts:\n  - {name: a, address: b}\n",
            "i",
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.message.starts_with("defaults: persist 9000"), "{e}");
    }

    #[test]
    fn storage_addresses_and_aliases() {
        let inv = Inventory::parse(
            "cluster: c\nhosts:\n  - {name: a, address: 10.0.0.1, storage_address: 10.40.0.1, aliases: [a.stor.example.com]}\n",
            "i",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(inv.hosts[0].storage_address.as_deref(), Some("10.40.0.1"));
        assert_eq!(inv.hosts[0].aliases, ["a.stor.example.com"]);
        let e = Inventory::parse(
            "cluster: c\nhosts:\n  - {name: a, address: b, aliases: [\"two words\"]}\n",
            "i",
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.message.contains("alias"), "{e}");
    }
}
