//! The Ssh transport: a remote host over one multiplexed OpenSSH connection.
//!
//! One master connection per host (openssh native-mux), made on first use and reused by every
//! command of the run; by default it is also kept, idle, for the next run (inventory
//! `persist`, see `master`). Arguments are escaped by the crate (`arg`, never `raw_arg` with
//! user data); file contents travel on stdin; file operations use fixed scripts that receive
//! paths as arguments. Every remote command runs under `timeout`, so a local deadline also
//! stops the remote command. A master exits by itself after its idle time (ControlPersist), so
//! a killed run leaves nothing that acts on a host.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openssh::{Session, Stdio};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::runtime::Runtime;

use super::control_dir::{clean_stale_control_dirs, control_dir, private_control_dir};
use super::master::{self, Identity, Master, MasterError};
use super::sudo::{ProbeError, Sudo};
use super::SshSettings;
use super::{Transport, TransportError};
use crate::transport::cmd::{Cmd, Output};
use crate::transport::lock::{HeldLock, LockError};

/// Reads a file: exit 3 when it does not exist.
const READ_SCRIPT: &str = r#"if [ -e "$1" ]; then exec cat -- "$1"; else exit 3; fi"#;

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

/// The permission bits of a file in octal: exit 3 when it does not exist.
/// Follows a symlink (`-L`): the mode that matters is the target's, never a link's 0777.
const MODE_SCRIPT: &str = r#"if [ -e "$1" ]; then exec stat -L -c %a -- "$1"; else exit 3; fi"#;

/// Holds the run lock (`flock` on the lock file, taken by the caller) while its stdin, the SSH
/// channel, is open. First it waits for the guard file ($3) to be free of changes that a
/// previous holder started and that still run (they hold it shared, see GUARD_SCRIPT), up to
/// $4 seconds. The holder file ($2) is replaced by rename, never written through a symlink.
const LOCK_SCRIPT: &str = r#"flock -w "$4" -E 75 -- "$3" true || exit $?
t=$(mktemp "$(dirname -- "$2")/.vzrun-holder.XXXXXX") || exit 1
if printf '%s\n' "$1" > "$t" && mv -f -- "$t" "$2"; then :; else rm -f -- "$t"; exit 1; fi
echo locked; exec cat"#;

/// Runs a change only while this run holds the host's lock: under a shared `flock` on the
/// guard file (inherited by the command, so it is held as long as the command runs, even when
/// the client was killed), and only if the holder file still names this run ($2). A new run's
/// lock holder waits for the guard, so it never takes the lock while an old change runs.
const GUARD_SCRIPT: &str = r#"if [ "$(cat -- "$1" 2>/dev/null)" != "$2" ]; then echo "vzrun: lock lost: this run no longer holds the host's run lock" >&2; exit 75; fi
shift 2; exec "$@""#;

/// Runs a command with directories put first on PATH.
const PATH_SCRIPT: &str = r#"PATH="$1:$PATH"; export PATH; shift; exec "$@""#;

/// Exit code `flock -E` gives when the lock is held elsewhere.
const LOCK_CONFLICT: i32 = 75;

/// A host reached over SSH (one multiplexed OpenSSH connection per host).
#[derive(Debug)]
pub struct Ssh {
    name: String,
    address: String,
    settings: SshSettings,
    accept_new: bool,
    runtime: Arc<Runtime>,
    /// The master connection, made on first use (see `master`).
    session: Mutex<Option<Master>>,
    /// Set while this run holds the host's run lock: how its changes prove it.
    guard: Arc<Mutex<Option<Guard>>>,
    /// `sudo: true`: every remote argv runs through sudo (see `sudo`).
    sudo: Option<Sudo>,
    /// The SSH user, as sudo reported it at connect (for the lock holder).
    ssh_user: Mutex<Option<String>>,
}

/// What a change runs under while the run lock is held (see GUARD_SCRIPT).
#[derive(Debug, Clone)]
struct Guard {
    guard_file: String,
    holder_file: String,
    holder: String,
}

impl Guard {
    /// `flock -s GUARD sh -c GUARD_SCRIPT sh HOLDER_FILE HOLDER`, to be followed by the argv.
    fn prefix(&self) -> Vec<String> {
        vec![
            "flock".into(),
            "-s".into(),
            "--".into(),
            self.guard_file.clone(),
            "sh".into(),
            "-c".into(),
            GUARD_SCRIPT.into(),
            "sh".into(),
            self.holder_file.clone(),
            self.holder.clone(),
        ]
    }
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
            name: name.to_string(),
            address: address.to_string(),
            sudo: Sudo::from_settings(&settings),
            settings,
            accept_new,
            runtime,
            session: Mutex::new(None),
            guard: Arc::default(),
            ssh_user: Mutex::new(None),
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
            MasterError::TimedOut(why) => self.unreachable(why),
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
                Err(ProbeError::Lost(why)) => return Err(self.unreachable(why)),
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
        let master = self
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(socket) = master.and_then(|m| m.persisted) {
            master::retire(&socket);
        }
    }

    /// The remote argv: under `timeout`, under the run lock's guard for a change, with the
    /// PATH prefix when configured.
    fn remote_argv(&self, argv: &[String], timeout: Duration, change: bool) -> Vec<String> {
        let secs = timeout.as_secs_f64().ceil().max(1.0) as u64;
        // sudo outermost: `timeout` then runs as root and can kill what it started.
        let mut full = self.sudo.as_ref().map(Sudo::prefix).unwrap_or_default();
        full.extend([
            "timeout".to_string(),
            "-k".into(),
            "5".into(),
            secs.to_string(),
        ]);
        if change {
            if let Some(guard) = self
                .guard
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
            {
                full.extend(guard.prefix());
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
        full
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
        let mut last_error = None;
        for _attempt in 0..2 {
            let session = self.session()?;
            let result = self.runtime.block_on(async {
                let mut command = session.command(remote[0].as_str());
                command
                    .args(&remote[1..])
                    .stdin(if stdin.is_some() {
                        Stdio::piped()
                    } else {
                        Stdio::null()
                    })
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let mut child = command.spawn().await.map_err(Spawn::NotStarted)?;
                if let (Some(mut pipe), Some(bytes)) = (child.stdin().take(), stdin) {
                    let _ = pipe.write_all(bytes).await;
                    let _ = pipe.shutdown().await;
                }
                // A little longer than the remote `timeout -k 5`, for a hung connection.
                match tokio::time::timeout(
                    timeout + Duration::from_secs(10),
                    child.wait_with_output(),
                )
                .await
                {
                    Ok(result) => result.map_err(Spawn::Failed),
                    Err(_) => Err(Spawn::Hung),
                }
            });
            match result {
                Ok(out) => {
                    let code = out.status.code().unwrap_or(255);
                    // `timeout` exits 124 (137 after the KILL) when the deadline passed.
                    if (code == 124 || code == 137) && started.elapsed() >= timeout {
                        return Err(TransportError::TimedOut {
                            command: crate::transport::cmd::shell_join(argv),
                            timeout,
                        });
                    }
                    if change
                        && code == LOCK_CONFLICT
                        && out.stderr.starts_with(b"vzrun: lock lost")
                    {
                        return Err(TransportError::CannotRun {
                            program: argv.first().cloned().unwrap_or_default(),
                            reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                        });
                    }
                    return Ok((code, out.stdout, out.stderr));
                }
                Err(Spawn::NotStarted(e)) => {
                    self.forget_session();
                    last_error = Some(error_chain(&e));
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
                Err(Spawn::Hung) => {
                    self.forget_session();
                    return Err(TransportError::TimedOut {
                        command: crate::transport::cmd::shell_join(argv),
                        timeout,
                    });
                }
            }
        }
        Err(self.unreachable(last_error.unwrap_or_default()))
    }

    /// Takes the host's run lock: a remote `flock` holder whose stdin is kept open.
    pub fn lock(
        &self,
        name: &str,
        holder: &str,
        wait: Duration,
    ) -> Result<Box<dyn HeldLock>, LockError> {
        let dir = self
            .settings
            .lock_dir
            .clone()
            .unwrap_or_else(|| "/run/lock".into());
        let lock_file = format!("{dir}/vzrun-{name}.lock");
        let holder_file = format!("{dir}/vzrun-{name}.holder");
        let guard_file = format!("{dir}/vzrun-{name}.guard");
        let session = self.session().map_err(|e| match e {
            TransportError::Privilege(why) => LockError::Privilege(why),
            e => LockError::Failed(e.to_string()),
        })?;
        let holder = &self.holder_here(holder);
        let wait_secs = wait.as_secs().to_string();
        let mut argv: Vec<String> = self.sudo.as_ref().map(Sudo::prefix).unwrap_or_default();
        argv.extend(
            [
                "flock",
                "-w",
                &wait_secs,
                "-E",
                "75",
                "--",
                &lock_file,
                "sh",
                "-c",
                LOCK_SCRIPT,
                "sh",
                holder,
                &holder_file,
                &guard_file,
                &wait_secs,
            ]
            .map(str::to_string),
        );
        let spawned = self.runtime.block_on(async {
            let mut command = Session::to_command(session.clone(), argv[0].as_str());
            command
                .args(&argv[1..])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = command.spawn().await.map_err(|e| error_chain(&e))?;
            let stdout = child.stdout().take().ok_or("no stdout")?;
            let mut line = String::new();
            let mut reader = BufReader::new(stdout);
            let read = reader.read_line(&mut line);
            match tokio::time::timeout(wait + Duration::from_secs(20), read).await {
                Ok(Ok(_)) if line.trim() == "locked" => Ok(Ok(child)),
                Ok(_) => {
                    let out = child
                        .wait_with_output()
                        .await
                        .map_err(|e| error_chain(&e))?;
                    Ok(Err((
                        out.status.code().unwrap_or(255),
                        String::from_utf8_lossy(&out.stderr).into_owned(),
                    )))
                }
                Err(_) => Err("no answer from the lock holder".to_string()),
            }
        });
        match spawned {
            Ok(Ok(child)) => {
                let guards_changes = name == "run";
                if guards_changes {
                    *self.guard.lock().unwrap_or_else(|p| p.into_inner()) = Some(Guard {
                        guard_file,
                        holder_file,
                        holder: holder.trim().to_string(),
                    });
                }
                Ok(Box::new(RemoteLock {
                    child: Mutex::new(Some(child)),
                    runtime: self.runtime.clone(),
                    guard: guards_changes.then(|| self.guard.clone()),
                }))
            }
            Ok(Err((LOCK_CONFLICT, _))) => {
                let who = self
                    .exec(
                        &["cat".into(), holder_file],
                        None,
                        Duration::from_secs(30),
                        false,
                    )
                    .map(|(_, out, _)| String::from_utf8_lossy(&out).trim().to_string())
                    .unwrap_or_default();
                Err(LockError::Held(if who.is_empty() {
                    "another run".into()
                } else {
                    who
                }))
            }
            Ok(Err((code, stderr))) => Err(LockError::Failed(format!(
                "flock exited {code}: {}",
                stderr.trim()
            ))),
            Err(e) => Err(LockError::Failed(e)),
        }
    }
}

enum Spawn {
    NotStarted(openssh::Error),
    Failed(openssh::Error),
    Hung,
}

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

#[derive(Debug)]
struct RemoteLock {
    child: Mutex<Option<openssh::Child<Arc<Session>>>>,
    runtime: Arc<Runtime>,
    /// The transport's guard, cleared when the lock is released.
    guard: Option<Arc<Mutex<Option<Guard>>>>,
}

impl HeldLock for RemoteLock {}

impl Drop for RemoteLock {
    fn drop(&mut self) {
        if let Some(guard) = &self.guard {
            guard.lock().unwrap_or_else(|p| p.into_inner()).take();
        }
        if let Some(mut child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            // Closing stdin ends the remote `cat`, which releases the flock.
            drop(child.stdin().take());
            let _ = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(5), child.wait()).await
            });
        }
    }
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
