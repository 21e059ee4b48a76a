//! How to reach one host over SSH: the settings an inventory gives (per host, over its
//! `defaults`).
//!
//! They live with the transport that uses them, not with the inventory that reads them from
//! its file, so the transport layer imports nothing from above it; `cluster::inventory`
//! re-exports them at their old path.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// SSH settings; per host they override `defaults`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSettings {
    /// The login user; `None`: ~/.ssh/config or the local user decides, as with plain ssh.
    pub user: Option<String>,
    /// The SSH port; `None`: ~/.ssh/config or 22.
    pub port: Option<u16>,
    /// Private key file (`~` and paths relative to the inventory are resolved).
    pub identity: Option<PathBuf>,
    /// A known_hosts file to use instead of ~/.ssh/known_hosts.
    pub known_hosts: Option<PathBuf>,
    /// An ssh config file to use instead of ~/.ssh/config.
    pub ssh_config: Option<PathBuf>,
    /// Jump host(s), as ssh's `-J`.
    pub jump: Option<String>,
    /// Seconds to wait for a connection.
    pub connect_timeout: Option<u64>,
    /// Where the per-host run lock lives on the host (default /run/lock).
    pub lock_dir: Option<String>,
    /// Extra directories put first on PATH for remote commands (e.g. a tool shim).
    pub path_prefix: Option<String>,
    /// Run everything on the host through `sudo -n` (like Ansible's `become`): commands,
    /// file reads and writes, modes and the run lock. The SSH user needs a NOPASSWD sudoers
    /// rule without `requiretty`; vzrun checks that when it connects.
    pub sudo: Option<bool>,
    /// The user sudo runs as (`sudo -u`); default root. Only with `sudo: true`.
    pub sudo_user: Option<String>,
    /// Seconds an idle master connection is kept after a run, for the next run to reuse
    /// (default `DEFAULT_PERSIST`; `0`: closed at the end of the run). See `transport::master`.
    #[serde(default, deserialize_with = "persist_seconds")]
    pub persist: Option<u64>,
    /// The key exchange algorithms to offer, as ssh's `KexAlgorithms` (comma-separated
    /// names, e.g. `curve25519-sha256`); `None`: ssh's own list.
    pub kex: Option<String>,
}

/// How long an idle master is kept when the inventory does not say (as Ansible's
/// ControlPersist).
pub const DEFAULT_PERSIST: u64 = 60;

/// The largest `persist`: an hour.
pub const MAX_PERSIST: u64 = 3600;

impl SshSettings {
    /// These settings, with `defaults` filling what is unset.
    pub fn or(&self, defaults: &SshSettings) -> SshSettings {
        SshSettings {
            user: self.user.clone().or_else(|| defaults.user.clone()),
            port: self.port.or(defaults.port),
            identity: self.identity.clone().or_else(|| defaults.identity.clone()),
            known_hosts: self
                .known_hosts
                .clone()
                .or_else(|| defaults.known_hosts.clone()),
            ssh_config: self
                .ssh_config
                .clone()
                .or_else(|| defaults.ssh_config.clone()),
            jump: self.jump.clone().or_else(|| defaults.jump.clone()),
            connect_timeout: self.connect_timeout.or(defaults.connect_timeout),
            lock_dir: self.lock_dir.clone().or_else(|| defaults.lock_dir.clone()),
            path_prefix: self
                .path_prefix
                .clone()
                .or_else(|| defaults.path_prefix.clone()),
            sudo: self.sudo.or(defaults.sudo),
            sudo_user: self
                .sudo_user
                .clone()
                .or_else(|| defaults.sudo_user.clone()),
            persist: self.persist.or(defaults.persist),
            kex: self.kex.clone().or_else(|| defaults.kex.clone()),
        }
    }

    /// Seconds an idle master is kept after a run (`persist`, else the default; never more
    /// than `MAX_PERSIST`, also for settings an embedder made without `check`).
    pub fn persist_secs(&self) -> u64 {
        self.persist.unwrap_or(DEFAULT_PERSIST).min(MAX_PERSIST)
    }

    /// Checks the settings that are passed on to ssh: `persist` in range and `kex` made of
    /// algorithm names only. The error names the setting and the bad value.
    pub fn check(&self) -> Result<(), String> {
        if let Some(secs) = self.persist {
            if secs > MAX_PERSIST {
                return Err(format!(
                    "persist {secs} is out of range: whole seconds from 0 to {MAX_PERSIST}"
                ));
            }
        }
        if let Some(kex) = &self.kex {
            let name_ok = |name: &str| {
                name.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-@.".contains(c))
            };
            if let Some(bad) = kex.split(',').find(|name| !name_ok(name)) {
                return Err(format!(
                    "kex {kex:?}: {bad:?} is not a key exchange algorithm name (letters, digits, '-', '@', '.'; several separated by commas, e.g. curve25519-sha256)"
                ));
            }
        }
        Ok(())
    }

    /// Resolves `~` and relative key, known_hosts and config paths against `base` (the
    /// inventory's directory).
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        for path in [
            &mut self.identity,
            &mut self.known_hosts,
            &mut self.ssh_config,
        ]
        .into_iter()
        .flatten()
        {
            *path = resolve(base, path);
        }
    }
}

/// `persist`: whole seconds, with an error that names the setting (a flattened host's own
/// errors would not).
fn persist_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let value = serde_yaml::Value::deserialize(d)?;
    match &value {
        serde_yaml::Value::Null => Ok(None),
        serde_yaml::Value::Number(n) if n.as_u64().is_some() => Ok(n.as_u64()),
        other => Err(serde::de::Error::custom(format!(
            "persist {}: must be whole seconds from 0 to {MAX_PERSIST}",
            serde_yaml::to_string(other).unwrap_or_default().trim_end()
        ))),
    }
}

/// `~/x` → `$HOME/x`; a relative path → relative to the inventory's directory.
fn resolve(base: &Path, path: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~") {
        let home = std::env::var_os("HOME").unwrap_or_default();
        return PathBuf::from(home).join(rest);
    }
    if path.is_relative() {
        base.join(path)
    } else {
        path.to_path_buf()
    }
}
