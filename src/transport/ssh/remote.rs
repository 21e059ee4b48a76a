//! A command as it is sent to a host over its own channel (`Remote`), and how a run of it
//! can fail (`Spawn`): split from `ssh` so the transport's flow reads apart from the
//! exchange with the channel.

use std::time::Duration;

use openssh::{Session, Stdio};
use tokio::io::AsyncWriteExt;

use super::output;
use crate::transport::remote_deadline;

pub(super) enum Spawn {
    NotStarted(openssh::Error),
    Failed(openssh::Error),
    /// A probe ran past its deadline.
    Expired,
    /// The connection gave no answer: a change's long after its remote `timeout`, or any
    /// command's channel never opened in time.
    Hung,
    /// Its stdout or stderr passed `max_output()`.
    TooLarge,
}

/// Whole seconds of a deadline, at least 1 (what `timeout` is given; a probe gets as long).
pub(super) fn deadline_secs(timeout: Duration) -> u64 {
    timeout.as_secs_f64().ceil().max(1.0) as u64
}

/// A command as it is sent to the host (see `Ssh::remote_argv`).
pub(super) struct Remote {
    /// Text the login shell runs before the quoted argv (a probe's mark, without sudo).
    pub(super) raw_prefix: Option<String>,
    pub(super) argv: Vec<String>,
    /// `Some`: a probe, and how it is marked; `None`: a change.
    pub(super) probe: Option<remote_deadline::Probe>,
}

impl Remote {
    /// The probe as one text for the probe shell (see `probe_shell`): what the login shell
    /// would be given, with the program `exec`ed through `setsid`, so the probe and whatever
    /// it leaves running form a process group the shell can look for once the probe ended.
    /// A program that is not there exits 127 before `setsid` (whose own exit for it is 1
    /// before util-linux 2.27, as on Virtuozzo 7). A file script (`inline_script`: `cat` or
    /// `stat`, which start nothing) runs as it is.
    pub(super) fn shell_text(&self) -> String {
        let argv = crate::transport::cmd::shell_join(&self.argv);
        let Some(program) = self.argv.first() else {
            return self.raw_prefix.clone().unwrap_or_default();
        };
        let found = format!(
            "command -v {} >/dev/null 2>&1 || exit 127",
            crate::transport::cmd::shell_quote(program)
        );
        match &self.raw_prefix {
            // The prefix ends in `exec`.
            Some(prefix) => format!("{found}; {prefix} setsid {argv}"),
            None => format!("{found}; exec setsid {argv}"),
        }
    }

    /// Runs it once: (exit code, stdout, stderr).
    pub(super) async fn run(
        &self,
        session: &Session,
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<(i32, Vec<u8>, Vec<u8>), Spawn> {
        let mut command = match &self.raw_prefix {
            Some(prefix) => {
                let mut c = session.raw_command(prefix);
                c.args(&self.argv);
                c
            }
            // The login shell waits for the command instead of becoming it (`; exit $?`):
            // killed by a signal, the command (or `timeout`, which then kills itself the same
            // way when it leads the process group) gives its exit as 128 + signal, where the
            // crate, which has no exit status for a signal, made it a lost connection.
            None => session.raw_command(format!(
                "{}; exit $?",
                crate::transport::cmd::shell_join(&self.argv)
            )),
        };
        command
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // A change: a little longer than its remote `timeout -k`, for a hung connection. A
        // probe: the client keeps the deadline (the caller then stops the probe). The deadline
        // covers the whole exchange: opening the channel hangs too when the connection does
        // not answer (a kept master's peer gone silent), and a probe under `within(2, ..)`
        // waited for the master to give up on its peer instead (15 s and more).
        let (limit, expired) = match self.probe {
            None => (
                timeout + Duration::from_secs(remote_deadline::GRACE + 5),
                Spawn::Hung,
            ),
            Some(_) => (Duration::from_secs(deadline_secs(timeout)), Spawn::Expired),
        };
        let deadline = tokio::time::Instant::now() + limit;
        let mut child = match tokio::time::timeout_at(deadline, command.spawn()).await {
            Ok(spawned) => spawned.map_err(Spawn::NotStarted)?,
            // No answer to the channel's opening: the connection is useless (a kill could
            // not get through it either).
            Err(_) => return Err(Spawn::Hung),
        };
        if let (Some(mut pipe), Some(bytes)) = (child.stdin().take(), stdin) {
            let fed = tokio::time::timeout_at(deadline, async {
                let _ = pipe.write_all(bytes).await;
                let _ = pipe.shutdown().await;
            })
            .await;
            if fed.is_err() {
                return Err(expired);
            }
        }
        let limit = crate::transport::max_output();
        let (out, err) = (child.stdout().take(), child.stderr().take());
        let exchange = async move {
            let (out, err) = tokio::join!(
                output::read_capped(out, limit),
                output::read_capped(err, limit)
            );
            match (out, err) {
                (Some(out), Some(err)) => match child.wait().await {
                    Ok(status) => Ok((status.code().unwrap_or(255), out, err)),
                    Err(e) => Err(Spawn::Failed(e)),
                },
                // Dropping the child closes its channel: the command's next write fails.
                _ => Err(Spawn::TooLarge),
            }
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Ok(done) => done,
            Err(_) => Err(expired),
        }
    }
}
