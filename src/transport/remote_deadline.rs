//! Deadlines of remote probes without a `timeout` process.
//!
//! A probe (a `Read` command) carries a mark: the login shell that sshd starts for the
//! channel sets `VZRUN_PROBE=TOKEN` (a token unique to this command) in its environment and
//! `exec`s the command, so no process stays in between and nothing extra is written (through
//! sudo, which resets the environment, a `sh -c` after sudo does the same). The client
//! enforces the deadline; when it passes, it finds the processes whose environment holds the
//! mark (the probe and whatever it started, which inherit it) over a second channel (through
//! sudo when sudo is on), sends them TERM, then KILL after `GRACE` seconds, as `timeout -k`
//! did, and reports the command as timed out. Only processes with that exact token are
//! signalled.
//!
//! If the client itself dies, its channel closes: the probe sees EOF on stdin, and its output
//! has nowhere to go, so it dies of SIGPIPE at its next write (a probe that never writes runs
//! to its own end). Changes keep their `timeout` (see `ssh`), which outlives the client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The environment variable that marks a probe's processes.
const MARK: &str = "VZRUN_PROBE";

/// Seconds between TERM and KILL (as `timeout -k 5`).
pub const GRACE: u64 = 5;

/// Marks the processes of a probe, after sudo: $1 the token, then the argv.
const MARK_SCRIPT: &str = r#"VZRUN_PROBE=$1; export VZRUN_PROBE; shift; exec "$@""#;

/// Stops the processes marked with token $1 (their environment holds `VZRUN_PROBE=$1`): TERM,
/// then KILL after $2 seconds if any is left. GNU grep reads the environments (`-z`: entries
/// end with NUL, `-x`: the whole entry).
const KILL_SCRIPT: &str = r#"marked() { grep -lxzF -e "VZRUN_PROBE=$1" /proc/[0-9]*/environ 2>/dev/null | sed 's|^/proc/||; s|/environ$||'; }
p=$(marked "$1"); [ -n "$p" ] || exit 0
kill -s TERM $p 2>/dev/null
i=0
while [ "$i" -lt "$(($2 * 10))" ]; do
  sleep 0.1; i=$((i + 1))
  p=$(marked "$1"); [ -n "$p" ] || exit 0
done
kill -s KILL $p 2>/dev/null
exit 0"#;

/// The mark of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    token: String,
}

impl Probe {
    /// A mark no other command has: a digest of this process, a counter and the time.
    pub fn new() -> Probe {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let seed = format!(
            "{} {} {nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Probe {
            token: crate::digest::sha256_hex(seed.as_bytes())[..24].to_string(),
        }
    }

    /// The token: hex digits, unique to this probe.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// What the login shell runs before the quoted argv when there is no sudo: fixed text
    /// and the token (hex digits), no user data. Needs a POSIX login shell (sh, bash, ksh,
    /// zsh), as the crate's quoting does.
    pub fn shell_prefix(&self) -> String {
        format!("{}; exec", self.mark_prefix())
    }

    /// The mark alone, for text the login shell runs itself (its last command an `exec`, so
    /// the process that does the work carries the mark).
    pub fn mark_prefix(&self) -> String {
        format!("{MARK}={}; export {MARK}", self.token)
    }

    /// The same as an argv prefix, for after sudo.
    pub fn argv_prefix(&self) -> Vec<String> {
        vec![
            "sh".into(),
            "-c".into(),
            MARK_SCRIPT.into(),
            "sh".into(),
            self.token.clone(),
        ]
    }

    /// The argv that stops the probe (to be put after the sudo prefix when sudo is on).
    pub fn kill_argv(&self) -> Vec<String> {
        vec![
            "sh".into(),
            "-c".into(),
            KILL_SCRIPT.into(),
            "sh".into(),
            self.token.clone(),
            GRACE.to_string(),
        ]
    }

    /// How long the client waits for the kill to be done.
    pub fn kill_deadline() -> Duration {
        Duration::from_secs(GRACE + 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Live (not zombie) processes whose command line contains `needle`.
    fn live(needle: &str) -> usize {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                String::from_utf8_lossy(&cmdline).contains(needle) && !stat.contains(") Z ")
            })
            .count()
    }

    fn run(argv: &[String]) -> std::process::Child {
        std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .spawn()
            .unwrap()
    }

    #[test]
    fn tokens_differ_and_are_hex() {
        let (a, b) = (Probe::new(), Probe::new());
        assert_ne!(a, b);
        assert!(a.token.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            a.shell_prefix(),
            format!("VZRUN_PROBE={}; export VZRUN_PROBE; exec", a.token)
        );
    }

    #[test]
    fn the_kill_stops_the_marked_processes_and_no_other() {
        let marker = format!("300.{}{}", std::process::id(), line!());
        let (probe, other) = (Probe::new(), Probe::new());
        let start = |p: &Probe| {
            let mut argv = p.argv_prefix();
            argv.extend([
                "sh".into(),
                "-c".into(),
                format!("sleep {marker} & exec sleep {marker}"),
            ]);
            run(&argv)
        };
        let (mut marked, mut spared) = (start(&probe), start(&other));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while live(&marker) < 4 {
            assert!(
                std::time::Instant::now() < deadline,
                "the sleeps did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let waiter = std::thread::spawn(move || marked.wait().unwrap());
        let status = run(&probe.kill_argv()).wait().unwrap();
        assert!(status.success());
        let killed = waiter.join().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&killed),
            Some(15)
        );
        // Its background sleep went too; the other probe's two sleeps are left.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while live(&marker) > 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "a marked sleep is left"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            spared.try_wait().unwrap().is_none(),
            "another probe was killed"
        );
        let _ = run(&other.kill_argv()).wait();
        let _ = spared.wait();
    }
}
