//! Run locks: one run at a time may change a host.
//!
//! A lock is held by a process, never by a file's mere existence, so a crashed run can not
//! leave a stale lock: locally it is an flock held by vzrun itself and inherited by every
//! change it runs; over SSH it is an flock held by a remote process whose stdin is the SSH
//! channel, and a guard every remote change holds (see `transport::ssh`). Either way the lock
//! outlives a killed vzrun for as long as a change it started still runs.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A held lock; dropping it releases it.
pub trait HeldLock: Send + Sync + fmt::Debug {}

/// Why a host's run lock could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// Someone else holds it; the text says who.
    #[error("held by {0}")]
    Held(String),
    /// The host does not answer (the text says how): nothing could be asked of it.
    #[error("does not answer: {0}")]
    Unreachable(String),
    /// Taking the lock failed for another reason (the text says why).
    #[error("cannot take the lock: {0}")]
    Failed(String),
    /// The host will not run the lock holder as the inventory asks (sudo refused).
    #[error("{0}")]
    Privilege(String),
}

/// Who holds a lock: written next to it so a refused run can name the holder.
pub fn holder_text(run_id: &str, runbook: &str) -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        // SAFETY: getuid has no failure mode.
        .unwrap_or_else(|_| format!("uid {}", unsafe { libc::getuid() }));
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let since = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    format!(
        "run {run_id} ({runbook}) by {user}@{} pid {} since {since}",
        machine.trim(),
        std::process::id()
    )
}

#[derive(Debug)]
struct LocalLock {
    file: File,
}

impl HeldLock for LocalLock {}

/// The descriptors of the local locks this process holds. Local changes inherit them (see
/// `transport::local`), so a lock stays held while a change it guards runs, even when vzrun
/// itself was killed: an flock lasts as long as any process holds its open file.
static HELD_FDS: std::sync::Mutex<Vec<std::os::fd::RawFd>> = std::sync::Mutex::new(Vec::new());

/// The descriptors a local change must inherit.
pub fn inheritable_fds() -> Vec<std::os::fd::RawFd> {
    HELD_FDS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

impl Drop for LocalLock {
    fn drop(&mut self) {
        let fd = self.file.as_raw_fd();
        HELD_FDS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|held| *held != fd);
    }
}

/// A lock that protects nothing (a lab that lives only in this process).
#[derive(Debug)]
pub struct NoLock;

impl HeldLock for NoLock {}

/// Takes the local lock `key` (under the state directory), waiting up to `wait`.
pub fn local(key: &str, holder: &str, wait: Duration) -> Result<Box<dyn HeldLock>, LockError> {
    let dir = crate::state_dir::state_dir().join("locks");
    crate::state_dir::ensure_state_dir()
        .and_then(|()| crate::state_dir::private_dir(&dir))
        .map_err(|e| LockError::Failed(format!("{e:#}")))?;
    local_in(&dir, key, holder, wait)
}

/// Takes the lock `key` in the directory `dir`, waiting up to `wait`.
pub(crate) fn local_in(
    dir: &std::path::Path,
    key: &str,
    holder: &str,
    wait: Duration,
) -> Result<Box<dyn HeldLock>, LockError> {
    let safe: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path: PathBuf = dir.join(format!("{safe}.lock"));
    let holder_path = dir.join(format!("{safe}.holder"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| LockError::Failed(format!("{}: {e}", path.display())))?;
    let deadline = Instant::now() + wait;
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            // Written aside and renamed: a run that meets the lock reads the whole holder or
            // the previous one, never the empty file a truncating write shows for a moment.
            let aside = dir.join(format!("{safe}.holder.{}", std::process::id()));
            let _ = fs::File::create(&aside)
                .and_then(|mut f| f.write_all(holder.as_bytes()))
                .and_then(|()| fs::rename(&aside, &holder_path));
            HELD_FDS
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(file.as_raw_fd());
            return Ok(Box::new(LocalLock { file }));
        }
        if Instant::now() >= deadline {
            // The holder names itself just after it takes the lock (the first time, the file
            // does not exist yet): give it a moment before saying only "another run".
            let mut who = String::new();
            for _ in 0..20 {
                who = fs::read_to_string(&holder_path).unwrap_or_default();
                if !who.trim().is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let who = match who.trim() {
                "" => "another run".to_string(),
                named => named.to_string(),
            };
            return Err(LockError::Held(who));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The unit tests that take local locks run one at a time: they look at this process's
/// held locks.
#[cfg(test)]
pub(crate) static TEST_SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(test)]
mod tests {
    use super::*;

    use crate::transport::lock::TEST_SERIAL as SERIAL;

    fn take(
        dir: &std::path::Path,
        key: &str,
        holder: &str,
        wait: Duration,
    ) -> Result<Box<dyn HeldLock>, LockError> {
        local_in(dir, key, holder, wait)
    }

    /// A refused run names the holder: the run, its runbook, who, where, which process.
    #[test]
    fn the_holder_text_names_the_run_and_the_process() {
        let text = holder_text("20261125-074512-3f2a", "evacuate");
        let re = regex::Regex::new(r"^run 20261125-074512-3f2a \(evacuate\) by .+@\S* pid (\d+) since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").unwrap();
        let pid = re.captures(&text).unwrap_or_else(|| panic!("{text}"))[1].to_string();
        assert_eq!(pid, std::process::id().to_string());
    }

    /// The lock's files are named after the key with anything but letters, digits and '-'
    /// made '_', and the holder file says who holds it.
    #[test]
    fn a_lock_is_a_file_named_after_its_key_with_its_holder_beside_it() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let _held = take(dir.path(), "local-cluster-a_b.c/d", "run 1", Duration::ZERO).unwrap();
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["local-cluster-a_b_c_d.holder", "local-cluster-a_b_c_d.lock"]
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("local-cluster-a_b_c_d.holder")).unwrap(),
            "run 1"
        );
    }

    /// Held elsewhere: refused at once naming the holder with no wait, taken once freed
    /// within the wait; a different key is another lock.
    #[test]
    fn a_held_lock_is_refused_naming_its_holder_or_waited_for() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let first = take(
            dir.path(),
            "local-run",
            "run 1 (evacuate)\n",
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!(
            take(dir.path(), "local-run", "run 2", Duration::ZERO).unwrap_err(),
            LockError::Held("run 1 (evacuate)".into())
        );
        let started = Instant::now();
        assert_eq!(
            take(dir.path(), "local-run", "run 2", Duration::from_millis(300)).unwrap_err(),
            LockError::Held("run 1 (evacuate)".into())
        );
        assert!(started.elapsed() >= Duration::from_millis(300));
        let _other = take(dir.path(), "local-ruN", "run 3", Duration::ZERO).unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
        });
        let second = take(dir.path(), "local-run", "run 2", Duration::from_secs(30));
        release.join().unwrap();
        assert!(second.is_ok(), "{second:?}");
        assert_eq!(
            fs::read_to_string(dir.path().join("local-run.holder")).unwrap(),
            "run 2"
        );
    }

    /// Local changes inherit exactly the locks held now: a freed lock's descriptor is
    /// forgotten, the others stay.
    #[test]
    fn changes_inherit_the_held_locks_and_no_freed_one() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let taken = |key: &str| {
            let before = inheritable_fds();
            let lock = take(dir.path(), key, "run 1", Duration::ZERO).unwrap();
            let new: Vec<_> = inheritable_fds()
                .into_iter()
                .filter(|fd| !before.contains(fd))
                .collect();
            assert_eq!(new.len(), 1, "{new:?}");
            (lock, new[0])
        };
        let (first, fd1) = taken("local-a");
        let (second, fd2) = taken("local-b");
        drop(first);
        let fds = inheritable_fds();
        assert!(!fds.contains(&fd1) && fds.contains(&fd2), "{fds:?}");
        drop(second);
        assert!(!inheritable_fds().contains(&fd2));
    }
}
