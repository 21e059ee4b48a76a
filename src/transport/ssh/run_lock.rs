//! The host's run lock over SSH: a remote `flock` holder whose stdin is the SSH channel, and
//! the guard every change of the run holds (see `transport::lock`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use openssh::{Session, Stdio};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::runtime::Runtime;

use super::{error_chain, Ssh};
use crate::transport::lock::{HeldLock, LockError};
use crate::transport::sudo::Sudo;
use crate::transport::TransportError;

/// Holds the run lock (`flock` on the lock file, taken by the caller) while its stdin, the SSH
/// channel, is open and the run's heartbeat arrives: a byte at least every $5 seconds. First
/// it waits for the guard file ($3) to be free of changes that a previous holder started and
/// that still run (they hold it shared, see GUARD_SCRIPT), up to $4 seconds. The holder file
/// ($2) is replaced by rename, never written through a symlink.
///
/// Why a heartbeat and not only the end of stdin: a run killed on a machine that stays up
/// closes its channel at once, but a machine that vanishes (power lost, network cut, a laptop
/// suspended) closes nothing, and sshd, whose ClientAliveInterval is off by default, kept
/// the session, and so the lock, for hours. Without the heartbeat the holder ends within $5
/// seconds; a change the run still had running keeps the guard, so the next holder waits for
/// it, and the run's own next change finds the lock lost.
const LOCK_SCRIPT: &str = r#"flock -w "$4" -E 75 -- "$3" true || exit $?
t=$(mktemp "$(dirname -- "$2")/.vzrun-holder.XXXXXX") || exit 1
if printf '%s\n' "$1" > "$t" && mv -f -- "$t" "$2"; then :; else rm -f -- "$t"; exit 1; fi
echo locked
while b=$(timeout "$5" head -c 1) && [ -n "$b" ]; do :; done"#;

/// How often a run tells its lock holders that it lives; `$VZRUN_LOCK_HEARTBEAT` (seconds,
/// 1..60) changes it (tests). A holder that hears nothing for four of them lets the lock go.
fn heartbeat() -> Duration {
    std::env::var("VZRUN_LOCK_HEARTBEAT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| (1..=60).contains(s))
        .map_or(Duration::from_secs(15), Duration::from_secs)
}

/// Runs a change only while this run holds the host's lock: under a shared `flock` on the
/// guard file (inherited by the command, so it is held as long as the command runs, even when
/// the client was killed), and only if the holder file still names this run ($2). A new run's
/// lock holder waits for the guard, so it never takes the lock while an old change runs.
const GUARD_SCRIPT: &str = r#"if [ "$(cat -- "$1" 2>/dev/null)" != "$2" ]; then echo "vzrun: lock lost: this run no longer holds its lock on this host ($1)" >&2; exit 75; fi
shift 2; exec "$@""#;

/// Exit code `flock -E` gives when the lock is held elsewhere.
pub(super) const LOCK_CONFLICT: i32 = 75;

/// What a change runs under while the run lock is held (see GUARD_SCRIPT).
#[derive(Debug, Clone)]
pub(super) struct Guard {
    guard_file: String,
    holder_file: String,
    holder: String,
}

impl Guard {
    /// `flock -s GUARD sh -c GUARD_SCRIPT sh HOLDER_FILE HOLDER`, to be followed by the argv.
    pub(super) fn prefix(&self) -> Vec<String> {
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
        let wait_secs = wait.as_secs().to_string();
        let beat = heartbeat();
        let silence_secs = (beat.as_secs() * 4).to_string();
        // Twice at most: a master that ended before the holder started over it (one made
        // ahead of its use, as cluster_lock_on makes them, then left idle past its
        // ControlPersist while the lock of another host was waited for) says nothing of the
        // host; a fresh connection does, and one to a host that no longer answers fails.
        let mut attempts = 0;
        let (holder, spawned) = loop {
            attempts += 1;
            let session = self.session().map_err(|e| match e {
                TransportError::Privilege(why) => LockError::Privilege(why),
                TransportError::Unreachable(why) => LockError::Unreachable(why),
                TransportError::Connect(why) if takes_no_connection(&why) => {
                    LockError::Unreachable(why)
                }
                e => LockError::Failed(e.to_string()),
            })?;
            let holder = &self.holder_here(holder);
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
                    &silence_secs,
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
                // One deadline for the whole exchange: opening the channel hangs too on a
                // connection whose peer went silent.
                let deadline = tokio::time::Instant::now() + wait + Duration::from_secs(20);
                let no_answer = || Lost::Failed("no answer from the lock holder".to_string());
                let mut child = tokio::time::timeout_at(deadline, command.spawn())
                    .await
                    .map_err(|_| no_answer())?
                    .map_err(|e| Lost::NotStarted(error_chain(&e)))?;
                let stdout = child
                    .stdout()
                    .take()
                    .ok_or(Lost::Failed("no stdout".into()))?;
                let mut line = String::new();
                let mut reader = BufReader::new(stdout);
                let read = reader.read_line(&mut line);
                match tokio::time::timeout_at(deadline, read).await {
                    Ok(Ok(_)) if line.trim() == "locked" => Ok(Ok(child)),
                    Ok(_) => {
                        let out = tokio::time::timeout_at(deadline, child.wait_with_output())
                            .await
                            .map_err(|_| no_answer())?
                            .map_err(|e| Lost::Failed(error_chain(&e)))?;
                        Ok(Err((
                            out.status.code().unwrap_or(255),
                            String::from_utf8_lossy(&out.stderr).into_owned(),
                        )))
                    }
                    Err(_) => Err(no_answer()),
                }
            });
            match spawned {
                Err(Lost::NotStarted(_)) if attempts < 2 => self.forget_session(),
                spawned => break (holder.clone(), spawned.map_err(Lost::into_text)),
            }
        };
        let holder = &holder;
        match spawned {
            Ok(Ok(child)) => {
                // Every lock guards the changes made here while it is held: a cluster lock
                // too outlives a killed run for as long as a change it started runs.
                let guard_of_lock = Guard {
                    guard_file,
                    holder_file,
                    holder: holder.trim().to_string(),
                };
                self.guard
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(guard_of_lock.clone());
                let mut child = child;
                let heartbeat = child.stdin().take().map(|mut stdin| {
                    self.runtime.spawn(async move {
                        use tokio::io::AsyncWriteExt;
                        loop {
                            tokio::time::sleep(beat).await;
                            if stdin.write_all(b"x").await.is_err() || stdin.flush().await.is_err()
                            {
                                break;
                            }
                        }
                    })
                });
                Ok(Box::new(RemoteLock {
                    child: Mutex::new(Some(child)),
                    heartbeat: Mutex::new(heartbeat),
                    runtime: self.runtime.clone(),
                    guard: Some((self.guard.clone(), guard_of_lock.guard_file)),
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
            Err(e) => {
                // The connection failed or does not answer: the next command connects afresh.
                // The host does not answer, as one that refuses a new connection (a node
                // that died behind a connection made before): no lock holder runs there.
                self.forget_session();
                Err(LockError::Unreachable(format!(
                    "{} ({}): {e}",
                    self.name, self.address
                )))
            }
        }
    }
}

/// Why the lock holder did not report: `NotStarted`, its channel could not be opened (the
/// master is gone); `Failed`, anything after that.
enum Lost {
    NotStarted(String),
    Failed(String),
}

impl Lost {
    fn into_text(self) -> String {
        match self {
            Lost::NotStarted(why) | Lost::Failed(why) => why,
        }
    }
}

#[derive(Debug)]
struct RemoteLock {
    child: Mutex<Option<openssh::Child<Arc<Session>>>>,
    /// Writes the heartbeat to the holder's stdin; it owns that stdin.
    heartbeat: Mutex<Option<tokio::task::JoinHandle<()>>>,
    runtime: Arc<Runtime>,
    /// The transport's guards and this lock's guard file: its guard is taken out of them
    /// when the lock is released.
    guard: Option<(Arc<Mutex<Vec<Guard>>>, String)>,
}

impl HeldLock for RemoteLock {}

impl Drop for RemoteLock {
    fn drop(&mut self) {
        if let Some((guards, file)) = &self.guard {
            guards
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|g| &g.guard_file != file);
        }
        if let Some(beating) = self
            .heartbeat
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            // Ending the task drops the holder's stdin: the remote holder sees its end.
            beating.abort();
            let _ = self.runtime.block_on(beating);
        }
        if let Some(mut child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            // Closing stdin ends the remote holder, which releases the flock.
            drop(child.stdin().take());
            let _ = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(5), child.wait()).await
            });
        }
    }
}

/// Whether ssh's words say the host's address took no connection at all: nothing listens
/// (a node booting or shutting down, its sshd dead) or nothing is there (a powered-off node
/// on the same network: "No route to host" once ARP gets no answer). Such a host runs no lock
/// holder, as one that times out does not: a lock that skips unanswering hosts skips it.
/// A host key or login that ssh refused is no such case: that host answered.
fn takes_no_connection(said: &str) -> bool {
    [
        "Connection refused",
        "No route to host",
        "Network is unreachable",
        "Host is down",
        "Connection timed out",
    ]
    .iter()
    .any(|words| said.contains(words))
}
