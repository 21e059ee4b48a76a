//! The Ssh transport: a remote host over one multiplexed OpenSSH connection.
//!
//! One master connection per host (openssh native-mux), made on first use and reused by every
//! command of the run; by default it is also kept, idle, for the next run (inventory
//! `persist`, see `master`). Arguments are escaped by the crate (`arg`, never `raw_arg` with
//! user data); file contents travel on stdin; file operations use fixed scripts that receive
//! paths as arguments.
//!
//! Every remote command has a deadline. A change runs under `timeout` (and the run lock's
//! guard, see `run_lock`), so its deadline holds on the host even if the client dies. A probe
//! runs without a process in between: it is marked (an environment variable its login shell
//! sets before it `exec`s the probe) and the client stops the marked processes over another
//! channel when the deadline passes (see `remote_deadline`); if the client dies, the probe
//! dies of SIGPIPE at its next write. A master exits by itself after its idle time
//! (ControlPersist) and only relays for clients of this user, so a killed run leaves nothing
//! that acts on a host.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openssh::{Session, Stdio};
use tokio::runtime::Runtime;

use super::control_dir::{clean_stale_control_dirs, control_dir, private_control_dir};
use super::master::{self, Identity, Master, MasterError};
use super::remote_deadline;
use super::sudo::{ProbeError, Sudo};
use super::SshSettings;
use super::{Transport, TransportError};
use crate::transport::cmd::{Cmd, Output};
use crate::transport::lock::{HeldLock, LockError};

mod output;
mod probe_scripts;
mod probe_shell;
mod remote;
mod run_lock;
mod unanswered;
use probe_scripts::{inline_script, MODE_SCRIPT, READ_SCRIPT};
use remote::{deadline_secs, Remote, Spawn};
use run_lock::{Guard, LOCK_CONFLICT};
use unanswered::Unanswered;

/// Replaces a file atomically with stdin: temp file in the same directory, mode and owner of
/// the old file (or $2 when given), fsync, rename. What arrived is checked first: exactly $3
/// bytes with SHA-256 $4, so a transfer cut short (a killed client closes stdin early) or a
/// full disk never replaces the file. A symlink is written through: its target is replaced,
/// keeping the target's mode and owner, and the link stays a link (the same on every
/// transport; see the book's safety page).
pub const WRITE_SCRIPT: &str = r#"set -e
p="$1"
if [ -L "$p" ]; then p=$(readlink -f -- "$p"); fi
d=$(dirname -- "$p")
t=$(mktemp "$d/.vzrun.XXXXXX")
trap 'rm -f -- "$t"' EXIT
cat > "$t"
n=$(wc -c < "$t")
if [ "$n" -ne "$3" ]; then echo "vzrun: $n of $3 bytes arrived; $p is left as it was" >&2; exit 1; fi
s=$(sha256sum < "$t"); s=${s%% *}
if [ "$s" != "$4" ]; then echo "vzrun: the content arrived damaged; $p is left as it was" >&2; exit 1; fi
if [ -e "$p" ]; then chmod --reference="$p" -- "$t"; chown --reference="$p" -- "$t" 2>/dev/null || true; else chmod 644 -- "$t"; fi
if [ -n "$2" ]; then chmod "$2" -- "$t"; fi
sync -- "$t" 2>/dev/null || sync
mv -f -- "$t" "$p"
trap - EXIT"#;

/// Runs a command with directories put first on PATH.
const PATH_SCRIPT: &str = r#"PATH="$1:$PATH"; export PATH; shift; exec "$@""#;

/// A host reached over SSH (one multiplexed OpenSSH connection per host).
#[derive(Debug)]
pub struct Ssh {
    /// The shell kept for probes (see `probe_shell`); first, so it ends before the runtime.
    idle_shell: probe_shell::Idle,
    name: String,
    address: String,
    settings: SshSettings,
    accept_new: bool,
    runtime: Arc<Runtime>,
    /// The master connection, made on first use (see `master`).
    session: Mutex<Option<Master>>,
    /// One for each lock this run holds on the host (its run lock, the cluster locks held
    /// there): how its changes prove they hold them, and keep them while they run.
    guard: Arc<Mutex<Vec<Guard>>>,
    /// `sudo: true`: every remote argv runs through sudo (see `sudo`).
    sudo: Option<Sudo>,
    /// The SSH user, as sudo reported it at connect (for the lock holder).
    ssh_user: Mutex<Option<String>>,
    /// When a connect last ran out of time: for a while after, commands fail at once
    /// instead of waiting out the connect timeout again.
    unanswered: Unanswered,
}

impl Ssh {
    /// A host reached over SSH with `settings`; `accept_new` adds unknown host keys to
    /// known_hosts instead of refusing them.
    pub fn new(
        name: &str,
        address: &str,
        settings: SshSettings,
        accept_new: bool,
        runtime: Arc<Runtime>,
    ) -> Ssh {
        Ssh {
            idle_shell: probe_shell::Idle::default(),
            name: name.to_string(),
            address: address.to_string(),
            sudo: Sudo::from_settings(&settings),
            settings,
            accept_new,
            runtime,
            session: Mutex::new(None),
            guard: Arc::default(),
            ssh_user: Mutex::new(None),
            unanswered: Unanswered::default(),
        }
    }

    /// A runtime for every Ssh transport of a run.
    pub fn runtime() -> std::io::Result<Arc<Runtime>> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map(Arc::new)
    }

    fn unreachable(&self, what: impl std::fmt::Display) -> TransportError {
        TransportError::Unreachable(format!("{} ({}): {what}", self.name, self.address))
    }

    fn session(&self) -> Result<Arc<Session>, TransportError> {
        let mut slot = self.session.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(master) = slot.as_ref() {
            return Ok(master.session.clone());
        }
        // Checked under the slot's lock: callers that queued behind a connect that ran out of
        // time fail at once too.
        if let Some(why) = self.unanswered.still_paused() {
            return Err(self.unreachable(why));
        }
        let dir = control_dir();
        private_control_dir(&dir)
            .map_err(|e| self.unreachable(format!("control directory {}: {e}", dir.display())))?;
        static CLEANED: std::sync::Once = std::sync::Once::new();
        CLEANED.call_once(|| clean_stale_control_dirs(&dir));
        let identity = Identity {
            address: &self.address,
            settings: &self.settings,
            accept_new: self.accept_new,
        };
        let master = master::connect(&identity, &dir, &self.runtime).map_err(|e| match e {
            MasterError::TimedOut(why) => {
                self.unanswered.failed(&why);
                self.unreachable(why)
            }
            MasterError::CutShort(why) => self.unreachable(why),
            MasterError::Refused(why) | MasterError::Local(why) => {
                TransportError::Connect(format!("{} ({}): {why}", self.name, self.address))
            }
        })?;
        let session = master.session.clone();
        if let Some(sudo) = &self.sudo {
            // Before the first command: a sudo that would ask stops the run here.
            match sudo.check(&session, &self.runtime) {
                Ok(user) => {
                    *self.ssh_user.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(user).filter(|u| !u.is_empty());
                }
                Err(ProbeError::Refused(code, stderr)) => {
                    let user = self.settings.user.as_deref().unwrap_or("the SSH user");
                    return Err(TransportError::Privilege(format!(
                        "{} ({}): {}",
                        self.name,
                        self.address,
                        sudo.refusal(user, code, &stderr)
                    )));
                }
                Err(ProbeError::Lost(why)) => {
                    // The connection failed or went silent: the next command connects afresh.
                    if let Some(socket) = &master.persisted {
                        master::retire(socket);
                    }
                    return Err(self.unreachable(why));
                }
            }
        }
        *slot = Some(master);
        Ok(session)
    }

    /// The lock holder as recorded on this host: the run's holder (local user and machine)
    /// and the SSH user it logged in as, through sudo when it did.
    fn holder_here(&self, holder: &str) -> String {
        let user = self
            .ssh_user
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .or_else(|| self.settings.user.clone());
        let via = match &self.sudo {
            Some(sudo) => format!(" through sudo as {}", sudo.target()),
            None => String::new(),
        };
        match user {
            Some(user) => format!("{}, SSH user {user}{via}", holder.trim()),
            None => holder.trim().to_string(),
        }
    }

    /// Drops the master after a failure, so the next command connects afresh; a persisted
    /// master is told to stop taking commands (it ends when those it runs end).
    fn forget_session(&self) {
        drop(self.idle_shell.take_any());
        let master = self
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(socket) = master.and_then(|m| m.persisted) {
            master::retire(&socket);
        }
    }

    /// The remote command: for a change, the argv under `timeout` and the run lock's guard;
    /// for a probe, the argv after its mark (see `remote_deadline`): a raw prefix for the
    /// login shell (fixed text and a hex token, no user data), or after sudo a `sh -c`.
    /// Either way with the PATH prefix when configured.
    fn remote_argv(&self, argv: &[String], timeout: Duration, change: bool) -> Remote {
        let secs = deadline_secs(timeout);
        // sudo outermost: `timeout` (or the probe) then runs as root and can be stopped.
        let mut full = self.sudo.as_ref().map(Sudo::prefix).unwrap_or_default();
        let mut raw_prefix = None;
        let probe = (!change).then(remote_deadline::Probe::new);
        if change {
            full.extend([
                "timeout".to_string(),
                "-k".into(),
                remote_deadline::GRACE.to_string(),
                secs.to_string(),
            ]);
            // Under the guard of every lock this run holds here (its run lock, and the
            // cluster locks it holds on this host): each waits for the change to end.
            for guard in self.guard.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                full.extend(guard.prefix());
            }
        } else if let Some(probe) = &probe {
            if self.sudo.is_some() {
                full.extend(probe.argv_prefix());
            } else if let (None, Some(inline)) = (&self.settings.path_prefix, inline_script(argv)) {
                // The login shell runs the script itself: one process less on the host
                // for every file read.
                return Remote {
                    raw_prefix: Some(format!("{}; {inline}", probe.mark_prefix())),
                    argv: Vec::new(),
                    probe: Some(probe.clone()),
                };
            } else {
                raw_prefix = Some(probe.shell_prefix());
            }
        }
        if let Some(prefix) = &self.settings.path_prefix {
            full.extend([
                "sh".into(),
                "-c".into(),
                PATH_SCRIPT.into(),
                "sh".into(),
                prefix.clone(),
            ]);
        }
        full.extend(argv.iter().cloned());
        Remote {
            raw_prefix,
            argv: full,
            probe,
        }
    }

    /// Runs an argv, returning raw bytes; reconnects once when the master went away before
    /// the command started.
    fn exec(
        &self,
        argv: &[String],
        stdin: Option<&[u8]>,
        timeout: Duration,
        change: bool,
    ) -> Result<(i32, Vec<u8>, Vec<u8>), TransportError> {
        let remote = self.remote_argv(argv, timeout, change);
        let started = Instant::now();
        let timed_out = || TransportError::TimedOut {
            command: crate::transport::cmd::shell_join(argv),
            timeout,
        };
        let mut last_error = None;
        let mut attempts = 0;
        // When the idle probe shell was ended to free its session (see below).
        let mut shell_ended: Option<Instant> = None;
        while attempts < 2 {
            let session = self.session()?;
            let result = match (&remote.probe, stdin) {
                (Some(_), None) => self.runtime.block_on(probe_shell::probe(
                    &self.idle_shell,
                    &session,
                    &remote.shell_text(),
                    self.sudo.is_some(),
                    Duration::from_secs(deadline_secs(timeout)),
                )),
                _ => self.runtime.block_on(remote.run(&session, stdin, timeout)),
            };
            match result {
                Ok((code, stdout, stderr)) => {
                    // `timeout` exits 124 (137 after the KILL) when the deadline passed.
                    if change && (code == 124 || code == 137) && started.elapsed() >= timeout {
                        return Err(timed_out());
                    }
                    if change && code == LOCK_CONFLICT && stderr.starts_with(b"vzrun: lock lost") {
                        return Err(TransportError::CannotRun {
                            program: argv.first().cloned().unwrap_or_default(),
                            reason: String::from_utf8_lossy(&stderr).trim().to_string(),
                        });
                    }
                    return Ok((code, stdout, stderr));
                }
                Err(Spawn::NotStarted(e)) => {
                    let why = error_chain(&e);
                    // sshd refuses a channel past its MaxSessions (10 by default), and the
                    // idle probe shell holds one: end it, and try again over the same
                    // connection while sshd lets that session go (the shell exits at the
                    // end of its input). Any other failure, or a refusal that lasts, and the
                    // connection is taken for broken.
                    if why.contains("open refused") {
                        if shell_ended.is_none() && self.idle_shell.take_any().is_some() {
                            shell_ended = Some(Instant::now());
                        }
                        if shell_ended.is_some_and(|at| at.elapsed() < SESSION_FREED_WITHIN) {
                            std::thread::sleep(Duration::from_millis(20));
                            continue;
                        }
                    }
                    attempts += 1;
                    self.forget_session();
                    last_error = Some(why);
                }
                // The crate turns a remote exit 127 into this error (and drops the
                // output): the host answered, the program is missing. A command result,
                // not an unreachable host.
                Err(Spawn::Failed(openssh::Error::Remote(e)))
                    if e.kind() == std::io::ErrorKind::NotFound =>
                {
                    let program = argv.first().cloned().unwrap_or_default();
                    return Ok((
                        127,
                        Vec::new(),
                        format!("{program}: command not found on {} (exit 127)", self.name)
                            .into_bytes(),
                    ));
                }
                Err(Spawn::Failed(e)) => {
                    self.forget_session();
                    return Err(self.unreachable(format!(
                        "`{}`: {}",
                        crate::transport::cmd::shell_join(argv),
                        error_chain(&e)
                    )));
                }
                // A probe past its deadline: stopped over another channel.
                Err(Spawn::Expired) => {
                    if let Some(probe) = &remote.probe {
                        self.stop_remote(&session, probe);
                    }
                    return Err(timed_out());
                }
                Err(Spawn::Hung) => {
                    self.forget_session();
                    return Err(timed_out());
                }
                Err(Spawn::TooLarge) => {
                    if let Some(probe) = &remote.probe {
                        self.stop_remote(&session, probe);
                    }
                    return Err(super::output_too_large(
                        argv.first().map_or("", String::as_str),
                    ));
                }
            }
        }
        Err(self.unreachable(last_error.unwrap_or_default()))
    }

    /// Stops a probe that ran past its deadline (TERM, then KILL after the grace), through
    /// sudo when sudo is on. A connection that does not carry it is forgotten.
    fn stop_remote(&self, session: &Session, probe: &remote_deadline::Probe) {
        let mut argv = self.sudo.as_ref().map(Sudo::prefix).unwrap_or_default();
        argv.extend(probe.kill_argv());
        let stopped = self.runtime.block_on(async {
            let mut command = session.command(argv[0].as_str());
            command
                .args(&argv[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            tokio::time::timeout(remote_deadline::Probe::kill_deadline(), command.status()).await
        });
        if !matches!(stopped, Ok(Ok(_))) {
            self.forget_session();
        }
    }
}

/// How long a command whose channel sshd refused waits for it to free the session of the
/// idle probe shell it ended (a few milliseconds on a host that answers).
const SESSION_FREED_WITHIN: Duration = Duration::from_secs(2);

/// The error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl Transport for Ssh {
    fn run(&self, cmd: &Cmd) -> Result<Output, TransportError> {
        cmd.validate().map_err(|reason| TransportError::CannotRun {
            program: cmd.program().to_string(),
            reason,
        })?;
        let change = cmd.effect == crate::transport::cmd::Effect::Change;
        let (code, stdout, stderr) =
            self.exec(&cmd.argv, cmd.stdin.as_deref(), cmd.timeout, change)?;
        Ok(Output {
            code,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            planned: false,
        })
    }

    fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, TransportError> {
        let argv = [
            "sh".into(),
            "-c".into(),
            READ_SCRIPT.into(),
            "sh".into(),
            path.to_string(),
        ];
        match self.exec(
            &argv,
            None,
            within_deadline(Duration::from_secs(120)),
            false,
        )? {
            (0, out, _) => Ok(Some(out)),
            (3, _, _) => Ok(None),
            (code, _, err) => Err(TransportError::File {
                path: path.to_string(),
                reason: format!(
                    "read failed on {} (exit {code}): {}",
                    self.name,
                    String::from_utf8_lossy(&err).trim()
                ),
            }),
        }
    }

    fn mode(&self, path: &str) -> Result<Option<u32>, TransportError> {
        let argv = [
            "sh".into(),
            "-c".into(),
            MODE_SCRIPT.into(),
            "sh".into(),
            path.to_string(),
        ];
        match self.exec(&argv, None, within_deadline(Duration::from_secs(60)), false)? {
            (0, out, _) => Ok(u32::from_str_radix(String::from_utf8_lossy(&out).trim(), 8).ok()),
            (3, _, _) => Ok(None),
            (code, _, err) => Err(TransportError::File {
                path: path.to_string(),
                reason: format!(
                    "stat failed on {} (exit {code}): {}",
                    self.name,
                    String::from_utf8_lossy(&err).trim()
                ),
            }),
        }
    }

    fn write_file_atomic(
        &self,
        path: &str,
        bytes: &[u8],
        mode: Option<u32>,
    ) -> Result<(), TransportError> {
        let mode = mode.map(|m| format!("{m:o}")).unwrap_or_default();
        let argv = [
            "sh".into(),
            "-c".into(),
            WRITE_SCRIPT.into(),
            "sh".into(),
            path.to_string(),
            mode,
            bytes.len().to_string(),
            crate::digest::sha256_hex(bytes),
        ];
        match self.exec(
            &argv,
            Some(bytes),
            within_deadline(Duration::from_secs(120)),
            true,
        )? {
            (0, _, _) => Ok(()),
            (code, _, err) => Err(TransportError::File {
                path: path.to_string(),
                reason: format!(
                    "write failed on {} (exit {code}): {}",
                    self.name,
                    String::from_utf8_lossy(&err).trim()
                ),
            }),
        }
    }

    fn connect(&self) -> Result<(), TransportError> {
        self.session().map(|_| ())
    }

    fn lock(
        &self,
        name: &str,
        holder: &str,
        wait: Duration,
    ) -> Result<Box<dyn HeldLock>, LockError> {
        Ssh::lock(self, name, holder, wait)
    }
}

/// A file operation's own deadline, cut to what is left of a runbook's `within(...)`.
fn within_deadline(timeout: Duration) -> Duration {
    crate::deadline::limit(timeout).unwrap_or(Duration::from_millis(1))
}
