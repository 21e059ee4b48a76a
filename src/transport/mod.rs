//! How commands and file operations reach a host.
//!
//! Every transport takes an argv, never a shell string, so no user data is ever parsed by a
//! shell on the way. Three implementations exist: `Local` (this machine), `Lab` (the built-in
//! simulator) and `Ssh` (a remote host over one multiplexed connection).

pub mod cmd;
mod control_dir;
mod local;
pub mod lock;
mod master;
mod remote_deadline;
mod ssh;
mod ssh_settings;
mod sudo;

pub use local::Local;
pub use ssh::{Ssh, WRITE_SCRIPT};
pub use ssh_settings::SshSettings;

use std::fmt;
use std::time::Duration;

use crate::transport::cmd::{Cmd, Output};
use crate::transport::lock::{HeldLock, LockError};

/// A deadline in seconds, to a tenth, without a trailing `.0`: "0.3", "2" (a deadline cut
/// to what is left of a `within` is 1.9998... s; "5" as given).
fn deadline_text(timeout: Duration) -> String {
    let tenths = (timeout.as_secs_f64() * 10.0).round() as u64;
    if tenths % 10 == 0 {
        (tenths / 10).to_string()
    } else {
        format!("{}.{}", tenths / 10, tenths % 10)
    }
}

/// The most a command's stdout (or stderr) may bring back, in bytes: `$VZRUN_MAX_OUTPUT_MB`
/// (1 to 65536), else 256 MB. A command that writes more (a log read by mistake, a device
/// file, `cat /dev/zero`) is stopped and fails, instead of filling this machine's memory
/// until its deadline.
pub fn max_output() -> usize {
    let mb = std::env::var("VZRUN_MAX_OUTPUT_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|mb| (1..=65536).contains(mb))
        .unwrap_or(256);
    mb * 1024 * 1024
}

/// The error of a command whose output passed `max_output()`.
pub fn output_too_large(program: &str) -> TransportError {
    TransportError::CannotRun {
        program: program.to_string(),
        reason: format!(
            "its output passed {} MB and it was stopped ($VZRUN_MAX_OUTPUT_MB raises the limit)",
            max_output() / (1024 * 1024)
        ),
    }
}

/// Why a command could not be run to completion. A command that ran and exited non-zero is
/// not an error at this level: that is an `Output` with its code.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("`{command}` did not finish within {}s", deadline_text(*timeout))]
    /// The command ran past its deadline and was killed.
    TimedOut {
        /// The command, shell-quoted.
        command: String,
        /// The deadline it ran past.
        timeout: Duration,
    },
    #[error("cannot run `{program}`: {reason}")]
    /// The program could not be started (not found, not executable...).
    CannotRun {
        /// The program's name (argv\[0\]).
        program: String,
        /// The system's error message.
        reason: String,
    },
    #[error("{path}: {reason}")]
    /// A file could not be read, written or inspected.
    File {
        /// The file's path on the host.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// No answer in time: the host is down or hangs.
    #[error("host is unreachable: {0}")]
    Unreachable(String),
    /// The connection was refused (host key, authentication, connection refused).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The host was reached but will not run commands as the inventory asks (`sudo: true`
    /// and sudo wants a password or a terminal): bad settings, nothing was run.
    #[error("{0}")]
    Privilege(String),
}

/// A way to run commands on, and read and write files of, one host.
pub trait Transport: Send + Sync + fmt::Debug {
    /// Runs the argv with its stdin and deadline; on the deadline the command is killed.
    fn run(&self, cmd: &Cmd) -> Result<Output, TransportError>;

    /// The file's content, or `None` when it does not exist.
    fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, TransportError>;

    /// The permission bits of a file, or `None` when it does not exist.
    fn mode(&self, path: &str) -> Result<Option<u32>, TransportError>;

    /// Replaces the file atomically (temp file in the same directory, fsync, rename). The mode
    /// of an existing file is kept unless `mode` is given.
    fn write_file_atomic(
        &self,
        path: &str,
        bytes: &[u8],
        mode: Option<u32>,
    ) -> Result<(), TransportError>;

    /// Opens what the transport needs before its first command (over SSH, the master
    /// connection), so that a caller about to use many hosts one after the other can open
    /// them all at once first. Nothing to open: `Ok`. An error here is the one the first
    /// command would meet.
    fn connect(&self) -> Result<(), TransportError> {
        Ok(())
    }

    /// Takes the lock `name` on this host (`run` for the per-run host lock), waiting up to
    /// `wait`; held until the guard is dropped, and released by the operating system if the
    /// holder dies.
    fn lock(
        &self,
        name: &str,
        holder: &str,
        wait: Duration,
    ) -> Result<Box<dyn HeldLock>, LockError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_read_as_given() {
        let said = |secs: f64| {
            TransportError::TimedOut {
                command: "true".into(),
                timeout: Duration::from_secs_f64(secs),
            }
            .to_string()
        };
        assert_eq!(said(1.999854103), "`true` did not finish within 2s");
        assert_eq!(said(0.3), "`true` did not finish within 0.3s");
        assert_eq!(said(5.0), "`true` did not finish within 5s");
        assert_eq!(said(7200.0), "`true` did not finish within 7200s");
    }
}
