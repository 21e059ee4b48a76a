//! Deadlines of remote probes without a `timeout` process.
//!
//! A probe (a `Read` command) starts by saying which remote process it is: the login shell
//! that sshd starts for the channel prints `vzrun-pid` and its own `/proc/PID/stat` line on
//! stderr, then `exec`s the command, so the command keeps that pid and no process stays in
//! between (through sudo, a `sh -c` after sudo does the same). The client enforces the
//! deadline; when it passes, it sends TERM to the process group of that pid over a second
//! channel (through sudo when sudo is on), then KILL after `GRACE` seconds, as `timeout -k`
//! did, and reports the command as timed out. The pid's start time is checked first, so a
//! pid the kernel gave to another process since is never signalled.
//!
//! If the client itself dies, its channel closes: the probe sees EOF on stdin, and its output
//! has nowhere to go, so it dies of SIGPIPE at its next write (a probe that never writes
//! runs to its own end). Changes keep their `timeout` (see `ssh`), which outlives the client.

use std::time::Duration;

/// What the login shell runs before the probe's argv (quoted by the crate) when there is no
/// sudo: no user data in it. Needs a POSIX login shell (sh, bash, ksh, zsh), as the crate's
/// quoting does.
pub const READ_PREFIX: &str =
    r#"read -r s 2>/dev/null </proc/$$/stat; printf 'vzrun-pid %s\n' "$s" >&2; exec"#;

/// The same, as a script for `sh -c SCRIPT sh ARGV...` (after sudo).
pub const READ_SCRIPT: &str =
    r#"read -r s 2>/dev/null </proc/$$/stat; printf 'vzrun-pid %s\n' "$s" >&2; exec "$@""#;

/// Stops a probe that ran past its deadline: $1 its pid, $2 its start time (from /proc), $3
/// the grace in seconds. Signals the pid's process group (the channel's session, or the
/// command's own group under sudo), only while that pid is still the same process.
const KILL_SCRIPT: &str = r#"read -r s 2>/dev/null <"/proc/$1/stat" || exit 0
s=${s##*) }; set -- "$1" "$2" "$3" $s
[ "${23}" = "$2" ] || exit 0
g=$6
[ "$g" -gt 1 ] || g=$1
kill -s TERM -- "-$g" 2>/dev/null || kill -s TERM "$1" 2>/dev/null
i=0
while kill -0 "-$g" 2>/dev/null && [ "$i" -lt "$(($3 * 10))" ]; do sleep 0.1; i=$((i + 1)); done
kill -s KILL -- "-$g" 2>/dev/null
exit 0"#;

/// Seconds between TERM and KILL (as `timeout -k 5`).
pub const GRACE: u64 = 5;

const MARKER: &[u8] = b"vzrun-pid ";

/// A remote process: its pid and start time (clock ticks after boot, /proc/PID/stat field 22).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteProcess {
    pid: u32,
    start: u64,
}

impl RemoteProcess {
    /// The argv that stops it (to be put after the sudo prefix, when sudo is on).
    pub fn kill_argv(&self) -> Vec<String> {
        vec![
            "sh".into(),
            "-c".into(),
            KILL_SCRIPT.into(),
            "sh".into(),
            self.pid.to_string(),
            self.start.to_string(),
            GRACE.to_string(),
        ]
    }

    /// How long the client waits for the kill to be done.
    pub fn kill_deadline() -> Duration {
        Duration::from_secs(GRACE + 10)
    }
}

/// The process a probe's stderr names (its first `vzrun-pid` line), if it came.
pub fn announced(stderr: &[u8]) -> Option<RemoteProcess> {
    let (start, end) = marker_line(stderr)?;
    let line = std::str::from_utf8(&stderr[start + MARKER.len()..end]).ok()?;
    let pid = line.split(' ').next()?.parse().ok()?;
    let (_, rest) = line.rsplit_once(") ")?;
    let start = rest.split(' ').nth(19)?.parse().ok()?;
    Some(RemoteProcess { pid, start })
}

/// The probe's stderr without the `vzrun-pid` line (what the command itself wrote, and what
/// came before it, e.g. a login shell's noise).
pub fn without_announcement(mut stderr: Vec<u8>) -> Vec<u8> {
    if let Some((start, end)) = marker_line(&stderr) {
        let end = (end + 1).min(stderr.len());
        stderr.drain(start..end);
    }
    stderr
}

/// Where the first line starting with the marker is: (its start, the index of its newline).
/// Only a complete line counts.
fn marker_line(stderr: &[u8]) -> Option<(usize, usize)> {
    let mut start = 0;
    while start < stderr.len() {
        let end = start + stderr[start..].iter().position(|b| *b == b'\n')?;
        if stderr[start..end].starts_with(MARKER) {
            return Some((start, end));
        }
        start = end + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "vzrun-pid 2678 (ba sh) R 2673 2673 8512 0 -1 4194304 167 0 0 0 0 0 0 0 20 0 1 0 149407 4464640 762\n";

    #[test]
    fn the_announcement_names_the_process_and_is_taken_out() {
        let stderr = format!("motd noise\n{STAT}prlctl: warning\n");
        assert_eq!(
            announced(stderr.as_bytes()),
            Some(RemoteProcess {
                pid: 2678,
                start: 149407
            })
        );
        assert_eq!(
            without_announcement(stderr.into_bytes()),
            b"motd noise\nprlctl: warning\n"
        );
        // Not (yet) a whole line, or none at all: nothing is named, nothing removed.
        assert_eq!(announced(&STAT.as_bytes()[..20]), None);
        assert_eq!(announced(b"vzrun-pid \n"), None);
        assert_eq!(without_announcement(b"sudo: no\n".to_vec()), b"sudo: no\n");
    }

    /// The start time of a local process, as the announcement gives it.
    fn local(pid: u32) -> RemoteProcess {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        announced(format!("vzrun-pid {stat}").as_bytes()).unwrap()
    }

    fn run_kill(target: &RemoteProcess) {
        let argv = target.kill_argv();
        let status = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .status()
            .unwrap();
        assert!(status.success());
    }

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

    #[test]
    fn the_kill_script_stops_the_group_but_never_another_process() {
        use std::os::unix::process::CommandExt;
        let marker = format!("300.{}{}", std::process::id(), line!());
        let mut child = std::process::Command::new("sh")
            .args(["-c", &format!("sleep {marker} & exec sleep 301")])
            .process_group(0)
            .spawn()
            .unwrap();
        // A pid whose start time is not the announced one: left alone.
        let mut stale = local(child.id());
        stale.start += 1;
        run_kill(&stale);
        assert!(
            child.try_wait().unwrap().is_none(),
            "another process was killed"
        );
        // The announced process: it and its group (the background sleep) are stopped.
        let target = local(child.id());
        let waiter = std::thread::spawn(move || child.wait().unwrap());
        run_kill(&target);
        let status = waiter.join().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(15)
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while live(&marker) > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the group outlived the kill"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn the_kill_argv_carries_pid_start_and_grace() {
        let argv = RemoteProcess { pid: 7, start: 99 }.kill_argv();
        assert_eq!(argv[..2], ["sh", "-c"]);
        assert_eq!(argv[3..], ["sh", "7", "99", "5"]);
    }
}
