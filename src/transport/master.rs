//! The master connection to a host, and its reuse by the next run.
//!
//! vzrun launches the `ssh -M` master itself (the same options the openssh crate's
//! `launch_master` gives, plus the inventory's `kex`), so that it can choose the control
//! socket's path and pass options the crate's builder does not offer. Commands then reach the
//! master through the crate's native mux client.
//!
//! - `persist: 0`: the master lives in a fresh `.ssh-connection*` directory of the control
//!   directory, as the crate makes them, and is shut down when the run ends (the `Session`
//!   owns it).
//! - `persist: N` (default 60): the socket is `m-HASH` in the private (0700) control
//!   directory, HASH a digest of everything that decides what the connection is (address,
//!   user, port, key, known_hosts, ssh config, jump hosts, kex, host-key policy, persist, and
//!   the size and age of those files). A run resumes a live master there, or, when there is
//!   none or it is dead, removes what is left and launches one; an flock on `m-HASH.lock`
//!   around that makes two runs that start at once launch one master (without it, the
//!   second `ssh -M` would find the socket taken and, as ssh does, go on as a plain
//!   connection that nothing uses or ends). At the end of the run
//!   the master is left (the `Session` was resumed, so dropping it does not close the master):
//!   it relays only for clients that connect to its socket, which only this user can reach,
//!   and exits after N idle seconds (`ControlPersist`). A run killed with -9 leaves only that.
//!   What a run holds on a host (its run lock's remote `cat`) ends with the run: the channel's
//!   stdin is the client's pipe, so the master sees EOF when the client dies.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use wait_timeout::ChildExt;

use openssh::Session;
use tokio::runtime::Runtime;

use super::SshSettings;

/// ControlPersist of a master that is closed at the end of its run (`persist: 0`): only a
/// killed run leaves it, and only for this long.
const UNPERSISTED_IDLE: u64 = 30;

/// Why a master could not be had.
#[derive(Debug)]
pub enum MasterError {
    /// No answer in time (ssh said it timed out).
    TimedOut(String),
    /// The caller's deadline (`within`) ended before the host's own connect timeout: the
    /// host may only be slow, nothing is known of it.
    CutShort(String),
    /// ssh refused or failed (host key, authentication, key exchange, refused connection).
    Refused(String),
    /// The local side: control directory, lock file, ssh missing.
    Local(String),
}

/// A master connection and whether it outlives the run.
#[derive(Debug, Clone)]
pub struct Master {
    /// The session commands are sent through.
    pub session: std::sync::Arc<Session>,
    /// `Some(socket)`: a persisted master, left running at the end of the run.
    pub persisted: Option<PathBuf>,
}

/// What identifies a connection: the master of another identity is never reused.
pub struct Identity<'a> {
    /// The address ssh connects to.
    pub address: &'a str,
    /// The host's SSH settings.
    pub settings: &'a SshSettings,
    /// Unknown host keys are added instead of refused.
    pub accept_new: bool,
}

impl Identity<'_> {
    /// The socket's name: `m-` and 20 hex digits of a SHA-256 over the identity. Short, so
    /// the path fits a socket address under the control directory's 61 bytes.
    pub fn socket_name(&self) -> String {
        let s = self.settings;
        let mut text = format!(
            "vzrun master v1\naddress {}\nuser {:?}\nport {:?}\nidentity {:?}\nknown_hosts {:?}\nssh_config {:?}\njump {:?}\nkex {:?}\naccept_new {}\npersist {}\n",
            self.address,
            s.user,
            s.port,
            s.identity.as_deref().map(absolute),
            s.known_hosts.as_deref().map(absolute),
            s.ssh_config.as_deref().map(absolute),
            s.jump,
            s.kex,
            self.accept_new,
            s.persist_secs(),
        );
        // A changed key, known_hosts or config (e.g. a host key revoked) means a new master.
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let known_hosts = s
            .known_hosts
            .clone()
            .or_else(|| home.as_ref().map(|h| h.join(".ssh/known_hosts")));
        let config = s
            .ssh_config
            .clone()
            .or_else(|| home.as_ref().map(|h| h.join(".ssh/config")));
        for path in [s.identity.clone(), known_hosts, config]
            .into_iter()
            .flatten()
        {
            let stamp = std::fs::metadata(&path).ok().map(|m| {
                let modified = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .unwrap_or_default();
                (m.len(), modified.as_nanos())
            });
            text.push_str(&format!("file {} {stamp:?}\n", path.display()));
        }
        let digest = crate::digest::sha256_hex(text.as_bytes());
        format!("m-{}", &digest[..20])
    }

    /// The `ssh` options of the master, without `-S`, `-E` and the destination.
    fn options(&self, idle: u64) -> Vec<String> {
        let s = self.settings;
        let mut args: Vec<String> = vec![
            "-M".into(),
            "-f".into(),
            "-N".into(),
            "-o".into(),
            format!("ControlPersist={idle}s"),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            if self.accept_new {
                "StrictHostKeyChecking=accept-new".into()
            } else {
                "StrictHostKeyChecking=yes".into()
            },
            "-o".into(),
            format!("ConnectTimeout={}", s.connect_timeout.unwrap_or(10)),
            "-o".into(),
            "ServerAliveInterval=5".into(),
        ];
        if let Some(port) = s.port {
            args.extend(["-p".into(), port.to_string()]);
        }
        if let Some(user) = &s.user {
            args.extend(["-l".into(), user.clone()]);
        }
        if let Some(key) = &s.identity {
            args.extend([
                "-o".into(),
                "IdentitiesOnly=yes".into(),
                "-i".into(),
                absolute(key).display().to_string(),
            ]);
        }
        if let Some(config) = &s.ssh_config {
            args.extend(["-F".into(), absolute(config).display().to_string()]);
        }
        if let Some(jump) = &s.jump {
            args.extend(["-J".into(), jump.clone()]);
        }
        if let Some(known_hosts) = &s.known_hosts {
            args.extend([
                "-o".into(),
                format!("UserKnownHostsFile={}", absolute(known_hosts).display()),
            ]);
        }
        // Checked by `SshSettings::check`: algorithm names only. A command-line option wins
        // over ~/.ssh/config and `-F`, which are still read for everything else.
        if let Some(kex) = &s.kex {
            args.extend(["-o".into(), format!("KexAlgorithms={kex}")]);
        }
        args
    }
}

/// A path made absolute against the current directory: the master runs in `/`, and the same
/// relative path from elsewhere is another file.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Launches `ssh -M` with its socket at `socket` and its log at `log`; returns when the
/// master is connected (ssh `-f` forks then) or why it failed. Under a deadline (`within`)
/// the connecting ssh is ended when it passes: ssh's own limits (ConnectTimeout for the TCP
/// connection and the banner, keepalives afterwards) let a host whose sshd hangs in the
/// middle of a login hold a `within(2, ..)` probe for 15 s.
fn launch(identity: &Identity, idle: u64, socket: &Path, log: &Path) -> Result<(), MasterError> {
    let mut child = Command::new("ssh")
        .arg("-E")
        .arg(log)
        .arg("-S")
        .arg(socket)
        .args(identity.options(idle))
        .arg("--")
        .arg(identity.address)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // The master may outlive the run: it must not keep the run's directory busy.
        .current_dir("/")
        .spawn()
        .map_err(|e| MasterError::Local(format!("cannot run ssh: {e}")))?;
    let waited = match crate::deadline::current() {
        None => child.wait().map(Some),
        Some(d) => child.wait_timeout(d.at.saturating_duration_since(Instant::now())),
    }
    .map_err(|e| MasterError::Local(format!("cannot wait for ssh: {e}")))?;
    let Some(status) = waited else {
        // Still logging in: ended before it forks its master (a master that came up in
        // between is found dead by the next connect and replaced).
        let _ = child.kill();
        let _ = child.wait();
        let budget = crate::deadline::current().map_or(0.0, |d| d.budget.as_secs_f64());
        return Err(MasterError::CutShort(format!(
            "no connection within the deadline of {}s (ssh was still logging in)",
            (budget * 10.0).round() / 10.0
        )));
    };
    if status.success() {
        return Ok(());
    }
    let said = std::fs::read_to_string(log).unwrap_or_default();
    let said = said
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
        .collect::<Vec<_>>()
        .join("; ");
    let said = if said.is_empty() {
        format!("ssh exited {}", status.code().unwrap_or(255))
    } else {
        said
    };
    if said.contains("timed out") || said.contains("Timeout") {
        Err(MasterError::TimedOut(said))
    } else {
        Err(MasterError::Refused(said))
    }
}

/// Whether a master answers on its socket. A live master answers at once (it answers a
/// check itself); one that does not within a few seconds is taken for dead (a stopped
/// process still accepts connections on its socket). `Err` when the caller's deadline
/// (`within`) ends first: nothing is known then.
fn alive(session: &Session, runtime: &Runtime) -> Result<bool, MasterError> {
    const WAIT: Duration = Duration::from_secs(3);
    let left = crate::deadline::current().map(|d| d.at.saturating_duration_since(Instant::now()));
    let limit = left.map_or(WAIT, |left| left.min(WAIT));
    let answered = runtime.block_on(async { tokio::time::timeout(limit, session.check()).await });
    match answered {
        Ok(checked) => Ok(checked.is_ok()),
        Err(_) if left.is_some_and(|left| left < WAIT) => Err(MasterError::CutShort(
            "the master connection did not answer within the deadline".into(),
        )),
        Err(_) => Ok(false),
    }
}

/// The master for `identity`: resumed, or launched (see the module's doc).
pub fn connect(
    identity: &Identity,
    control_dir: &Path,
    runtime: &Runtime,
) -> Result<Master, MasterError> {
    // An inventory checked them already; settings an embedder made are checked here, so
    // nothing but algorithm names ever reaches ssh's `-o`.
    identity.settings.check().map_err(MasterError::Local)?;
    let persist = identity.settings.persist_secs();
    if persist == 0 {
        let dir = tempfile::Builder::new()
            .prefix(".ssh-connection")
            .tempdir_in(control_dir)
            .map_err(|e| MasterError::Local(format!("{}: {e}", control_dir.display())))?;
        launch(
            identity,
            UNPERSISTED_IDLE,
            &dir.path().join("master"),
            &dir.path().join("log"),
        )?;
        // The session owns the directory: dropping it shuts the master down.
        let session = Session::new_native_mux(dir);
        return Ok(Master {
            session: std::sync::Arc::new(session),
            persisted: None,
        });
    }
    let name = identity.socket_name();
    let socket = control_dir.join(&name);
    let log = control_dir.join(format!("{name}.log"));
    let _lock = LaunchLock::take(&control_dir.join(format!("{name}.lock")))?;
    let resumed = Session::resume_mux(socket.clone().into_boxed_path(), None);
    if socket.exists() && alive(&resumed, runtime)? {
        return Ok(Master {
            session: std::sync::Arc::new(resumed),
            persisted: Some(socket),
        });
    }
    // Dead or stale (a master killed with -9 leaves its socket): ssh would not replace it.
    let _ = std::fs::remove_file(&socket);
    let _ = std::fs::remove_file(&log);
    launch(identity, persist, &socket, &log)?;
    if !alive(&resumed, runtime)? {
        return Err(MasterError::Local(format!(
            "the master connection launched at {} does not answer",
            socket.display()
        )));
    }
    Ok(Master {
        session: std::sync::Arc::new(resumed),
        persisted: Some(socket),
    })
}

/// Asks a persisted master to stop taking new commands (it exits when those it runs end):
/// the next command launches a fresh one. A master that does not answer within a few
/// seconds (a stopped process still accepts on its socket) has its socket removed instead,
/// so nothing waits on it again.
pub fn retire(socket: &Path) {
    let asked = Command::new("ssh")
        .args(["-F", "/dev/null", "-S"])
        .arg(socket)
        .args(["-O", "stop", "vzrun-master"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/")
        .spawn();
    if let Ok(mut ssh) = asked {
        if let Ok(None) = ssh.wait_timeout(Duration::from_secs(5)) {
            let _ = ssh.kill();
            let _ = ssh.wait();
            let _ = std::fs::remove_file(socket);
        }
    }
}

/// The flock that makes launching a master one run's job at a time.
pub struct LaunchLock {
    _file: std::fs::File,
}

impl LaunchLock {
    /// Waits for the lock on `path` (held only while a master is checked or launched).
    pub fn take(path: &Path) -> Result<LaunchLock, MasterError> {
        let file = Self::open(path)?;
        // SAFETY: flock on a descriptor we own; released when the file is closed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(MasterError::Local(format!("{}: {e}", path.display())));
        }
        Ok(LaunchLock { _file: file })
    }

    /// The lock if it is free now.
    pub fn try_take(path: &Path) -> Option<LaunchLock> {
        let file = Self::open(path).ok()?;
        // SAFETY: as above.
        let got = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        got.then_some(LaunchLock { _file: file })
    }

    fn open(path: &Path) -> Result<std::fs::File, MasterError> {
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| MasterError::Local(format!("{}: {e}", path.display())))
    }
}

/// Whether `name` is a persisted master's socket (`m-` and 20 hex digits).
pub fn is_socket_name(name: &str) -> bool {
    name.len() == 22 && name.starts_with("m-") && name[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity_name(settings: &SshSettings, accept_new: bool) -> String {
        Identity {
            address: "10.0.0.1",
            settings,
            accept_new,
        }
        .socket_name()
    }

    #[test]
    fn the_socket_name_is_short_and_changes_with_the_identity() {
        let base = SshSettings {
            user: Some("root".into()),
            port: Some(22),
            ..SshSettings::default()
        };
        let name = identity_name(&base, false);
        assert!(is_socket_name(&name), "{name}");
        assert_eq!(name, identity_name(&base.clone(), false));
        assert_ne!(name, identity_name(&base, true));
        for other in [
            SshSettings {
                port: Some(2222),
                ..base.clone()
            },
            SshSettings {
                kex: Some("curve25519-sha256".into()),
                ..base.clone()
            },
            SshSettings {
                jump: Some("bastion".into()),
                ..base.clone()
            },
            SshSettings {
                persist: Some(300),
                ..base.clone()
            },
        ] {
            assert_ne!(name, identity_name(&other, false));
        }
        assert!(!is_socket_name("m-xyz"));
        assert!(!is_socket_name(&format!("{name}.lock")));
    }

    #[test]
    fn settings_made_without_the_inventory_are_checked_before_ssh_runs() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let settings = SshSettings {
            kex: Some("curve25519-sha256 ProxyCommand=touch".into()),
            ..SshSettings::default()
        };
        let identity = Identity {
            address: "192.0.2.1",
            settings: &settings,
            accept_new: false,
        };
        match connect(&identity, dir.path(), &runtime) {
            Err(MasterError::Local(why)) => assert!(why.contains("kex"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let huge = SshSettings {
            persist: Some(u64::MAX),
            ..SshSettings::default()
        };
        assert_eq!(
            huge.persist_secs(),
            crate::transport::ssh_settings::MAX_PERSIST
        );
    }

    #[test]
    fn kex_reaches_ssh_as_one_option() {
        let settings = SshSettings {
            kex: Some("curve25519-sha256,ecdh-sha2-nistp256".into()),
            ..SshSettings::default()
        };
        let options = Identity {
            address: "h",
            settings: &settings,
            accept_new: false,
        }
        .options(60);
        assert!(options
            .windows(2)
            .any(|w| w == ["-o", "KexAlgorithms=curve25519-sha256,ecdh-sha2-nistp256"]));
        assert!(options.contains(&"StrictHostKeyChecking=yes".to_string()));
        assert!(options.contains(&"ControlPersist=60s".to_string()));
    }
}
