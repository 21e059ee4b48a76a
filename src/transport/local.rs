//! The Local transport: commands run on this machine with std::process.
//!
//! Each command gets its own process group so that a deadline kills the whole tree (a
//! `prlctl` that forked helpers), and so that Ctrl-C reaches vzrun, which stops at a safe
//! point, instead of killing a half-done operation.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

use super::{Transport, TransportError};
use crate::transport::cmd::{Cmd, Output};

/// This machine. File paths are taken under `root` (default `/`), which lets tests edit a
/// throw-away tree with the same code that edits /etc on a real host.
#[derive(Debug, Clone)]
pub struct Local {
    root: PathBuf,
}

impl Default for Local {
    fn default() -> Self {
        Local {
            root: PathBuf::from("/"),
        }
    }
}

impl Local {
    /// This machine, with file paths taken under `root`.
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        Local { root: root.into() }
    }

    fn resolve(&self, path: &str) -> Result<PathBuf, TransportError> {
        let relative = path.strip_prefix('/').ok_or_else(|| TransportError::File {
            path: path.to_string(),
            reason: "path must be absolute".into(),
        })?;
        Ok(self.root.join(relative))
    }
}

fn file_error(path: &Path, err: std::io::Error) -> TransportError {
    TransportError::File {
        path: path.display().to_string(),
        reason: err.to_string(),
    }
}

/// Reads a pipe to its end on a thread: the bytes so far, and a signal when it ended. Past
/// `max_output()` it stops reading and closes the pipe (the writer then dies of SIGPIPE).
struct Reader {
    bytes: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
    overflowed: Arc<std::sync::atomic::AtomicBool>,
}

fn read_all(mut pipe: impl Read + Send + 'static) -> Reader {
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let overflowed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tx, done) = mpsc::channel();
    let (sink, too_much) = (bytes.clone(), overflowed.clone());
    let limit = super::max_output();
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut sink = sink.lock().unwrap_or_else(|p| p.into_inner());
                    if sink.len() + n > limit {
                        too_much.store(true, std::sync::atomic::Ordering::SeqCst);
                        break;
                    }
                    sink.extend_from_slice(&buf[..n]);
                }
            }
        }
        drop(pipe);
        let _ = tx.send(());
    });
    Reader {
        bytes,
        done,
        overflowed,
    }
}

impl Reader {
    /// Waits for the end of the pipe until `deadline`; whether it ended.
    fn wait_until(&self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        !matches!(
            self.done.recv_timeout(left),
            Err(mpsc::RecvTimeoutError::Timeout)
        )
    }

    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.bytes.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn overflowed(&self) -> bool {
        self.overflowed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Transport for Local {
    fn run(&self, cmd: &Cmd) -> Result<Output, TransportError> {
        let cannot_run = |reason: String| TransportError::CannotRun {
            program: cmd.program().to_string(),
            reason,
        };
        cmd.validate().map_err(cannot_run)?;
        let mut command = Command::new(&cmd.argv[0]);
        if cmd.effect == crate::transport::cmd::Effect::Change {
            // The change holds this run's locks too, so they outlive a killed vzrun while it
            // runs (see `lock`).
            let fds = crate::transport::lock::inheritable_fds();
            // SAFETY: between fork and exec only fcntl(2), async-signal-safe, is called, on
            // descriptors this process owns.
            unsafe {
                command.pre_exec(move || {
                    for fd in &fds {
                        let flags = libc::fcntl(*fd, libc::F_GETFD);
                        if flags >= 0 {
                            libc::fcntl(*fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
                        }
                    }
                    Ok(())
                });
            }
        }
        let mut child = command
            .args(&cmd.argv[1..])
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| cannot_run(e.to_string()))?;

        let writer = match (child.stdin.take(), cmd.stdin.clone()) {
            (Some(mut pipe), Some(bytes)) => Some(thread::spawn(move || {
                // A command that exits without reading its stdin is not an error here.
                let _ = pipe.write_all(&bytes);
            })),
            _ => None,
        };
        let stdout = read_all(child.stdout.take().expect("stdout is piped"));
        let stderr = read_all(child.stderr.take().expect("stderr is piped"));

        let started = Instant::now();
        let status = match child.wait_timeout(cmd.timeout) {
            Ok(Some(status)) => status,
            Ok(None) => {
                // SAFETY: kill(2) on the process group we created; no memory is touched.
                unsafe {
                    libc::kill(-(child.id() as i32), libc::SIGKILL);
                }
                let _ = child.wait();
                return Err(TransportError::TimedOut {
                    command: cmd.to_string(),
                    timeout: cmd.timeout,
                });
            }
            Err(e) => return Err(cannot_run(e.to_string())),
        };
        // A background process the command left (`daemon &`) may hold its stdout open: the
        // command's deadline still holds. Past it, its process group is killed and the
        // output so far is the output.
        let deadline = started + cmd.timeout;
        if !(stdout.wait_until(deadline) && stderr.wait_until(deadline)) {
            // SAFETY: kill(2) on the process group we created; no memory is touched.
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            }
            let grace = Instant::now() + Duration::from_secs(1);
            stdout.wait_until(grace);
            stderr.wait_until(grace);
        }
        if let Some(writer) = writer {
            if writer.is_finished() {
                let _ = writer.join();
            }
        }
        if stdout.overflowed() || stderr.overflowed() {
            // SAFETY: kill(2) on the process group we created; no memory is touched.
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            }
            return Err(super::output_too_large(cmd.program()));
        }
        let stdout = stdout.take();
        let stderr = stderr.take();
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        Ok(Output {
            code,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            planned: false,
        })
    }

    fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, TransportError> {
        let full = self.resolve(path)?;
        let file = match fs::File::open(&full) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(file_error(&full, e)),
        };
        // At most `max_output()` bytes, as over SSH: a device file or a runaway log is
        // refused, not read into memory without end.
        let limit = super::max_output();
        let mut bytes = Vec::new();
        file.take(limit as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| file_error(&full, e))?;
        if bytes.len() > limit {
            return Err(TransportError::File {
                path: path.to_string(),
                reason: format!(
                    "larger than {} MB: not read ($VZRUN_MAX_OUTPUT_MB raises the limit)",
                    limit / (1024 * 1024)
                ),
            });
        }
        Ok(Some(bytes))
    }

    fn mode(&self, path: &str) -> Result<Option<u32>, TransportError> {
        let full = self.resolve(path)?;
        match fs::metadata(&full) {
            Ok(meta) => Ok(Some(meta.mode() & 0o7777)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(file_error(&full, e)),
        }
    }

    fn write_file_atomic(
        &self,
        path: &str,
        bytes: &[u8],
        mode: Option<u32>,
    ) -> Result<(), TransportError> {
        let mut full = self.resolve(path)?;
        // A symlink is written through: its target is replaced and the link stays a link (the
        // same policy as over SSH).
        if fs::symlink_metadata(&full).is_ok_and(|m| m.file_type().is_symlink()) {
            full = fs::canonicalize(&full).map_err(|e| file_error(&full, e))?;
        }
        let dir = full.parent().ok_or_else(|| TransportError::File {
            path: path.to_string(),
            reason: "has no parent directory".into(),
        })?;
        let existing = fs::metadata(&full).ok();
        let file_name = full
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = dir.join(format!(".{file_name}.vzrun-{}.tmp", std::process::id()));
        let result = (|| {
            let mut file = fs::File::create(&temp)?;
            file.write_all(bytes)?;
            let mode = mode
                .or_else(|| existing.as_ref().map(|m| m.mode() & 0o7777))
                .unwrap_or(0o644);
            file.set_permissions(fs::Permissions::from_mode(mode))?;
            if let Some(meta) = &existing {
                // Keeping the owner needs privileges; without them the file stays ours.
                let _ = std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()));
            }
            file.sync_all()?;
            fs::rename(&temp, &full)?;
            fs::File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result.map_err(|e| file_error(&full, e))
    }

    fn lock(
        &self,
        name: &str,
        holder: &str,
        wait: std::time::Duration,
    ) -> Result<Box<dyn crate::transport::lock::HeldLock>, crate::transport::lock::LockError> {
        crate::transport::lock::local(&format!("local-{name}"), holder, wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_argv_with_stdin_and_splits_streams() {
        let out = Local::default()
            .run(&Cmd::read(["sh", "-c", "cat; echo err >&2; exit 3"]).with_stdin("in put"))
            .unwrap();
        assert_eq!(out.code, 3);
        assert_eq!(out.stdout, "in put");
        assert_eq!(out.stderr, "err\n");
    }

    #[test]
    fn kills_a_command_past_its_deadline() {
        let err = Local::default()
            .run(&Cmd::read(["sleep", "30"]).with_timeout(Duration::from_millis(200)))
            .unwrap_err();
        assert!(matches!(err, TransportError::TimedOut { .. }), "{err}");
    }

    #[test]
    fn missing_program_is_an_error_naming_it() {
        let err = Local::default()
            .run(&Cmd::read(["/nonexistent/prlctl"]))
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/prlctl"), "{err}");
    }

    /// A transport whose files are under `root`, checked before any test writes through it:
    /// a mutant that loses the root must not write to this machine's `/`.
    fn under(root: &Path) -> Local {
        let local = Local::with_root(root);
        assert_eq!(local.resolve("/f.conf").unwrap(), root.join("f.conf"));
        local
    }

    #[test]
    fn atomic_write_keeps_mode_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let local = under(dir.path());
        fs::write(dir.path().join("f.conf"), "old").unwrap();
        fs::set_permissions(dir.path().join("f.conf"), fs::Permissions::from_mode(0o600)).unwrap();
        local.write_file_atomic("/f.conf", b"new", None).unwrap();
        assert_eq!(local.read_file("/f.conf").unwrap().unwrap(), b"new");
        let mode = fs::metadata(dir.path().join("f.conf")).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(local.read_file("/missing").unwrap(), None);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    /// The file's permission bits (setuid and sticky included, the file type not); `None`
    /// for a missing file; an error for a path that cannot be looked at, never `None`.
    #[test]
    fn mode_is_the_permission_bits_and_only_a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let local = Local::with_root(dir.path());
        fs::write(dir.path().join("f"), "x").unwrap();
        fs::set_permissions(dir.path().join("f"), fs::Permissions::from_mode(0o4751)).unwrap();
        assert_eq!(local.mode("/f").unwrap(), Some(0o4751));
        assert_eq!(local.mode("/missing").unwrap(), None);
        let err = local.mode("/f/under-a-file").unwrap_err();
        assert!(matches!(err, TransportError::File { .. }), "{err}");
        let err = local.read_file("/f/under-a-file").unwrap_err();
        assert!(err.to_string().contains("Not a directory"), "{err}");
        assert!(local.read_file("/").is_err(), "a directory is not a file");
        assert!(local.read_file("relative").is_err());
    }

    /// Written under the root given, never at the same path on this machine: a new file
    /// gets the mode asked for, else 0644.
    #[test]
    fn an_atomic_write_lands_under_the_root_with_the_mode_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let local = under(dir.path());
        let name = format!("vzrun-unit-{}.conf", std::process::id());
        local
            .write_file_atomic(&format!("/{name}"), b"a=1\n", None)
            .unwrap();
        assert_eq!(fs::read(dir.path().join(&name)).unwrap(), b"a=1\n");
        let mode = |p: &str| fs::metadata(dir.path().join(p)).unwrap().mode() & 0o7777;
        assert_eq!(mode(&name), 0o644);
        local
            .write_file_atomic("/secret", b"pw\n", Some(0o600))
            .unwrap();
        assert_eq!(mode("secret"), 0o600);
        assert_eq!(fs::read(dir.path().join("secret")).unwrap(), b"pw\n");
    }

    /// A command killed by a signal exits 128 + the signal, as a shell reports it.
    #[test]
    fn a_command_killed_by_a_signal_exits_128_plus_the_signal() {
        let out = Local::default()
            .run(&Cmd::read(["sh", "-c", "kill -KILL $$"]))
            .unwrap();
        assert_eq!(out.code, 137);
    }

    /// `marker` appears a second after the command starts unless its whole process group was
    /// killed.
    fn never_appears(marker: &Path) {
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists(), "a process of the command outlived it");
    }

    /// Past its deadline the whole process group is killed, not only the command itself.
    #[test]
    fn a_command_past_its_deadline_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("marker");
        let script = format!("(sleep 1; touch '{}') & sleep 30", marker.display());
        let err = Local::default()
            .run(&Cmd::read(["sh", "-c", &script]).with_timeout(Duration::from_millis(300)))
            .unwrap_err();
        assert!(matches!(err, TransportError::TimedOut { .. }), "{err}");
        never_appears(&marker);
    }

    /// A command that exits leaving a process that holds its stderr open: vzrun waits for
    /// the output until the command's deadline, then kills the group and returns what came.
    #[test]
    fn output_held_open_by_a_leftover_process_is_cut_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("marker");
        let script = format!(
            "echo out; echo err >&2; (sleep 1; touch '{}') >/dev/null & exit 0",
            marker.display()
        );
        let started = Instant::now();
        let out = Local::default()
            .run(&Cmd::read(["sh", "-c", &script]).with_timeout(Duration::from_millis(600)))
            .unwrap();
        let took = started.elapsed();
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (0, "out\n", "err\n")
        );
        assert!(took >= Duration::from_millis(550), "{took:?}");
        never_appears(&marker);
    }

    /// A change holds this run's locks too (its process inherits their descriptors, so a
    /// lock outlives a killed vzrun while the change runs); a read does not.
    #[test]
    fn a_change_inherits_the_held_locks_and_a_read_does_not() {
        let _serial = crate::transport::lock::TEST_SERIAL
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let _held =
            crate::transport::lock::local_in(dir.path(), "local-run", "run 1", Duration::ZERO)
                .unwrap();
        let lock = dir.path().join("local-run.lock").display().to_string();
        let open_files = |cmd: Cmd| Local::default().run(&cmd).unwrap().stdout;
        let argv = [
            "sh",
            "-c",
            "for f in /proc/$$/fd/*; do readlink \"$f\"; done",
        ];
        let change = open_files(Cmd::change(argv));
        assert!(change.lines().any(|l| l == lock), "{change}");
        let read = open_files(Cmd::read(argv));
        assert!(!read.lines().any(|l| l == lock), "{read}");
    }
}
