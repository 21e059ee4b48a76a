//! Probes through a shell kept open on the host for the run.
//!
//! Every command over SSH costs the host a session: sshd forks for the channel and starts the
//! user's login shell (which, for bash started by sshd, also reads root's `.bashrc`), and only
//! then the command. Measured on loopback (Debian's sshd, bash as the login shell): 2.45 ms of
//! the host's CPU per `/bin/true` in a session of its own, 0.71 ms for the same started by a
//! shell already running. A runbook asks each host many questions (`prlctl list`, files,
//! `vstorage stat`), so probes (commands that change nothing and take no stdin) go through
//! one `/bin/sh` per host, opened on the first probe and kept for the run: each probe is one
//! fork of that shell and an `exec`.
//!
//! Each probe runs in a subshell with stdin from `/dev/null` (it cannot read the shell's
//! script), carrying its mark (see `remote_deadline`), so a probe past its deadline is stopped
//! as before, over another channel; a shell whose probe ran out of time, wrote too much or
//! ended oddly is dropped, never reused. The shell prints a start line before the probe and an
//! end line with its exit status after it, on stdout and on stderr, each with a token unique
//! to the probe (random hex, unknown to the probe): what the probe wrote lies between them;
//! anything before the start line (a noisy `.bashrc`) is dropped. The probe's program runs
//! through `setsid`, in a process group of its own: the end line says whether any process of
//! it is left (a child in the background holding its output, which would write into the next
//! probe's); then the shell is ended and its output read until it closes, as a session of the
//! probe's own would have been.
//!
//! Nothing outlives the run: the shell's stdin is the channel, so when the client goes (at
//! the end of the run, or killed), the shell reads EOF and exits once its current probe is
//! done (which, with nowhere to write, dies of SIGPIPE at its next write, as before). At most
//! one idle shell is kept per host, so a run holds one session more than the commands it runs
//! at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use openssh::{ChildStderr, ChildStdin, ChildStdout, Session, Stdio};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::Spawn;
use crate::transport::remote_deadline::Probe;

/// What the login shell runs for the channel: a POSIX shell reading the probes from stdin,
/// marked so an operator (or a test) can tell it apart.
const OPEN: &str = "VZRUN_PROBE_SHELL=1; export VZRUN_PROBE_SHELL; exec /bin/sh -s";

/// A shell on the host, reading probes from its stdin.
pub(super) struct ProbeShell {
    // Held so the channel stays open; dropping it (or stdin) ends the shell.
    _child: openssh::Child<Arc<Session>>,
    /// The connection it runs over.
    session: Arc<Session>,
    stdin: ChildStdin,
    stdout: ChildStdout,
    stderr: ChildStderr,
}

impl std::fmt::Debug for ProbeShell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProbeShell")
    }
}

/// Why a probe through a shell gave no result.
pub(super) enum ShellError {
    /// The shell's channel ended before the probe's end line (the shell or its connection
    /// is gone).
    Lost(std::io::Error),
    /// The probe wrote more than the limit on stdout or stderr.
    TooLarge,
}

impl ProbeShell {
    /// Opens a shell on the host (one channel of `session`).
    pub(super) async fn open(session: Arc<Session>) -> Result<ProbeShell, openssh::Error> {
        let mut child = session
            .clone()
            .arc_raw_command(OPEN)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .await?;
        let missing = || openssh::Error::ChildIo(std::io::Error::other("a pipe was not given"));
        let stdin = child.stdin().take().ok_or_else(missing)?;
        let stdout = child.stdout().take().ok_or_else(missing)?;
        let stderr = child.stderr().take().ok_or_else(missing)?;
        Ok(ProbeShell {
            _child: child,
            session,
            stdin,
            stdout,
            stderr,
        })
    }

    /// Runs `command` (text for a POSIX shell: a probe's mark and its quoted argv) in a
    /// subshell: (exit status, stdout, stderr). `token` must be unique to this probe and
    /// unknown to it; `limit` caps each of stdout and stderr. The caller keeps the deadline.
    /// `answered` is set once the shell printed the probe's start line. `other_user`: the
    /// probe runs as another user than the shell (sudo).
    pub(super) async fn run(
        &mut self,
        command: &str,
        other_user: bool,
        token: &str,
        limit: usize,
        answered: &AtomicBool,
    ) -> Result<Ran, ShellError> {
        let script = probe_script(command, other_user, token);
        self.stdin
            .write_all(script.as_bytes())
            .await
            .map_err(ShellError::Lost)?;
        self.stdin.flush().await.map_err(ShellError::Lost)?;
        let start = format!("vzrun-start-{token}\n");
        // On stdout the status follows the end line; on stderr a newline.
        let (out_end, err_end) = (
            format!("\nvzrun-end-{token} "),
            format!("\nvzrun-end-{token}\n"),
        );
        // The first error ends both reads (the probe may never end).
        let (mut out, mut err) = tokio::try_join!(
            read_framed(&mut self.stdout, &start, &out_end, limit, Some(answered)),
            read_framed(&mut self.stderr, &start, &err_end, limit, None)
        )?;
        // The end line on stdout goes on with the status, whether processes were left, and
        // a newline.
        let (status, left) = read_status(&mut self.stdout, &mut out.rest).await?;
        if left {
            // What they wrote after the end lines is theirs too.
            out.body.append(&mut out.rest);
            err.body.append(&mut err.rest);
        } else if !out.rest.is_empty() || !err.rest.is_empty() {
            // More than the end line: something still writes there; not reused.
            return Err(ShellError::Lost(std::io::Error::other(
                "output after the probe's end",
            )));
        }
        Ok(Ran {
            status,
            stdout: out.body,
            stderr: err.body,
            left,
        })
    }

    /// Ends the shell after a probe that left processes writing to its output, and reads on
    /// until they closed it, as over a session of its own (whose end waits for the output
    /// to close): what they write is the probe's, never the next probe's.
    async fn drain(self, ran: &mut Ran, limit: usize) -> Result<(), ShellError> {
        let ProbeShell {
            _child,
            session: _,
            stdin,
            mut stdout,
            mut stderr,
        } = self;
        // The shell exits at the end of its input; the channel ends when the output closes.
        drop(stdin);
        tokio::try_join!(
            read_to_end(&mut stdout, &mut ran.stdout, limit),
            read_to_end(&mut stderr, &mut ran.stderr, limit)
        )?;
        Ok(())
    }
}

/// What a probe through a shell gave.
pub(super) struct Ran {
    status: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Processes of the probe were left when it ended (see `probe_script`).
    left: bool,
}

/// Reads `pipe` to its end onto `body` (more than `limit` in all: `TooLarge`).
async fn read_to_end(
    pipe: &mut (impl AsyncRead + Unpin),
    body: &mut Vec<u8>,
    limit: usize,
) -> Result<(), ShellError> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if body.len() > limit {
            return Err(ShellError::TooLarge);
        }
        match pipe.read(&mut buf).await.map_err(ShellError::Lost)? {
            0 => return Ok(()),
            n => body.extend_from_slice(&buf[..n]),
        }
    }
}

/// The text sent for one probe: the start lines, the probe in a subshell (stdin from
/// /dev/null, so it cannot read the shell's script), the end lines with its status and
/// whether processes of its group (see `Remote::shell_text`: the probe runs through
/// `setsid`) are left, which may still write to the shell's output. The subshell runs in the
/// background only so that `$!` names it: the shell waits for it at once, its own stderr on
/// /dev/null meanwhile (the probe's is the shell's, as fd 3), so its note on a probe killed by
/// a signal ("Killed") is not taken for the probe's. A probe run as another user
/// (`other_user`: through sudo) may leave processes the shell may not signal: `kill -0`
/// fails for them too, so only its "No such process" (in the C locale) means none is left;
/// that takes a fork, so only then.
fn probe_script(command: &str, other_user: bool, token: &str) -> String {
    let left = if other_user {
        "case $(LC_ALL=C; export LC_ALL; kill -0 \"-$p\" 2>&1) in \
         *'No such process'*) l=0;; *) l=1;; esac"
    } else {
        "l=0"
    };
    format!(
        "printf 'vzrun-start-%s\\n' {token}; printf 'vzrun-start-%s\\n' {token} >&2; \
         {{ ( {command}\n) </dev/null 2>&3 3>&- & p=$!; wait \"$p\"; s=$?; }} 3>&2 2>/dev/null; \
         if kill -0 \"-$p\" 2>/dev/null; then l=1; else {left}; fi; \
         printf '\\nvzrun-end-%s %d %d\\n' {token} \"$s\" \"$l\"; printf '\\nvzrun-end-%s\\n' {token} >&2\n"
    )
}

/// What a stream brought between the start and the end line, and what followed the end.
struct Framed {
    body: Vec<u8>,
    rest: Vec<u8>,
}

/// Reads `pipe` past `start` and up to `end`: the bytes between them (more than `limit`:
/// `TooLarge`) and what came after `end` in the same reads. `started` is set once `start`
/// was read.
async fn read_framed(
    pipe: &mut (impl AsyncRead + Unpin),
    start: &str,
    end: &str,
    limit: usize,
    started: Option<&AtomicBool>,
) -> Result<Framed, ShellError> {
    let (start, end) = (start.as_bytes(), end.as_bytes());
    let mut seen = Vec::new();
    let mut body_from = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = pipe.read(&mut buf).await.map_err(ShellError::Lost)?;
        if n == 0 {
            return Err(ShellError::Lost(std::io::ErrorKind::UnexpectedEof.into()));
        }
        let searched = seen.len().saturating_sub(end.len().max(start.len()));
        seen.extend_from_slice(&buf[..n]);
        if body_from.is_none() {
            // Only the start line itself, never a probe's output, can hold the token yet.
            if let Some(at) = find(&seen[searched..], start) {
                body_from = Some(searched + at + start.len());
                if let Some(started) = started {
                    started.store(true, Ordering::Relaxed);
                }
            }
        }
        if let Some(from) = body_from {
            if let Some(at) = find(&seen[from.max(searched)..], end) {
                let at = from.max(searched) + at;
                if at - from > limit {
                    return Err(ShellError::TooLarge);
                }
                return Ok(Framed {
                    body: seen[from..at].to_vec(),
                    rest: seen[at + end.len()..].to_vec(),
                });
            }
            if seen.len() - from > limit + end.len() {
                return Err(ShellError::TooLarge);
            }
        } else if seen.len() > limit + start.len() {
            return Err(ShellError::TooLarge);
        }
    }
}

/// The status after the end line on stdout (`STATUS LEFT\n`): `rest` holds what was read
/// after the end marker; reads on until the newline, and leaves what followed it in `rest`.
/// LEFT is 1 when processes of the probe were left (see `probe_script`).
async fn read_status(
    pipe: &mut (impl AsyncRead + Unpin),
    rest: &mut Vec<u8>,
) -> Result<(i32, bool), ShellError> {
    let mut byte = [0u8; 1];
    while !rest.contains(&b'\n') {
        if rest.len() > 16 || pipe.read(&mut byte).await.map_err(ShellError::Lost)? == 0 {
            return Err(ShellError::Lost(std::io::Error::other("no exit status")));
        }
        rest.push(byte[0]);
    }
    let newline = rest.iter().position(|&b| b == b'\n').unwrap_or_default();
    let status = std::str::from_utf8(&rest[..newline])
        .ok()
        .and_then(|s| s.split_once(' '))
        .and_then(|(status, left)| Some((status.parse().ok()?, left == "1")))
        .ok_or_else(|| ShellError::Lost(std::io::Error::other("no exit status")))?;
    rest.drain(..=newline);
    Ok(status)
}

/// Where `needle` first occurs in `haystack` (the needles are a few dozen bytes, and each
/// read is searched once, with the overlap of a needle).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Runs a probe (`command`: its mark and quoted argv, see `Remote::shell_text`; run as
/// `other_user` than the shell: through sudo) through the
/// host's idle shell, or a new one; within `limit` from now (past it: `Expired`, and the
/// caller stops the probe). A shell is kept for the next probe only after a probe that ended
/// as expected; a reused shell found gone is `NotStarted` (the probe, a read, runs again on a
/// new connection).
pub(super) async fn probe(
    idle: &Idle,
    session: &Arc<Session>,
    command: &str,
    other_user: bool,
    limit: std::time::Duration,
) -> Result<(i32, Vec<u8>, Vec<u8>), Spawn> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut kept = idle.take(session);
    loop {
        let reused = kept.is_some();
        let shell = match kept.take() {
            Some(shell) => shell,
            None => {
                match tokio::time::timeout_at(deadline, ProbeShell::open(session.clone())).await {
                    Ok(opened) => opened.map_err(Spawn::NotStarted)?,
                    // No answer to the channel's opening: the connection is useless.
                    Err(_) => return Err(Spawn::Hung),
                }
            }
        };
        match run_once(shell, command, other_user, deadline).await {
            // The kept shell was gone (ended on the host): a new one over the same
            // connection; if that fails too, the connection is the caller's to judge.
            Err(Spawn::NotStarted(_)) if reused => continue,
            Err(Spawn::NotStarted(e)) => return Err(Spawn::Failed(e)),
            Err(other) => return Err(other),
            Ok((ran, shell)) => {
                if let Some(shell) = shell {
                    idle.put(shell);
                }
                return match (ran.status, ran.stdout, ran.stderr) {
                    // As the crate reports a remote exit 127 (see `Ssh::exec`).
                    (127, _, _) => Err(Spawn::Failed(openssh::Error::Remote(
                        std::io::ErrorKind::NotFound.into(),
                    ))),
                    result => Ok(result),
                };
            }
        }
    }
}

/// One probe through `shell` by `deadline`: what it gave, and the shell when it can be kept.
/// A shell whose channel ended before the probe's end line is `NotStarted` (the probe, a
/// read, may run again).
async fn run_once(
    mut shell: ProbeShell,
    command: &str,
    other_user: bool,
    deadline: tokio::time::Instant,
) -> Result<(Ran, Option<ProbeShell>), Spawn> {
    let token = Probe::new();
    let answered = AtomicBool::new(false);
    let limit = crate::transport::max_output();
    let answered_ref = &answered;
    let ran = async move {
        let mut ran = shell
            .run(command, other_user, token.token(), limit, answered_ref)
            .await?;
        if ran.left {
            // Not reused: its output is still written to.
            shell.drain(&mut ran, limit).await?;
            return Ok((ran, None));
        }
        Ok((ran, Some(shell)))
    };
    match tokio::time::timeout_at(deadline, ran).await {
        // The shell prints the start line before the probe: without it, the connection gave
        // no answer (the probe did not start, and a kill could not get through either).
        Err(_) if !answered.load(Ordering::Relaxed) => Err(Spawn::Hung),
        Err(_) => Err(Spawn::Expired),
        Ok(Err(ShellError::TooLarge)) => Err(Spawn::TooLarge),
        Ok(Err(ShellError::Lost(e))) => Err(Spawn::NotStarted(openssh::Error::ChildIo(e))),
        Ok(Ok(done)) => Ok(done),
    }
}

/// The idle shell of a host (at most one).
#[derive(Debug, Default)]
pub(super) struct Idle(Mutex<Option<ProbeShell>>);

impl Idle {
    /// The idle shell, if there is one (it is then the caller's), and only if it runs over
    /// `session`: one a probe on a connection given up since put back is ended here, not
    /// used (its failure would be taken for the new connection's).
    pub(super) fn take(&self, session: &Arc<Session>) -> Option<ProbeShell> {
        let shell = self.0.lock().unwrap_or_else(|p| p.into_inner()).take()?;
        Arc::ptr_eq(&shell.session, session).then_some(shell)
    }

    /// The idle shell, whatever connection it runs over (to end it).
    pub(super) fn take_any(&self) -> Option<ProbeShell> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Keeps `shell` for the next probe, or drops it (ending it) when one is kept already.
    pub(super) fn put(&self, shell: ProbeShell) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(shell);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the probe script in a local `sh -s` as the shell on a host would: (stdout,
    /// stderr) as they arrive.
    fn through_sh(command: &str, token: &str) -> (Vec<u8>, Vec<u8>) {
        through("/bin/sh", command, token)
    }

    /// dash and bash (/bin/sh on Debian and on Virtuozzo 7), those this machine has.
    fn installed_shells() -> Vec<&'static str> {
        ["dash", "bash"]
            .into_iter()
            .filter(|shell| {
                std::process::Command::new(shell)
                    .arg("-c")
                    .arg("true")
                    .status()
                    .is_ok()
            })
            .collect()
    }

    /// `through_sh` with another shell (`bash`: /bin/sh on Virtuozzo 7).
    fn through(shell: &str, command: &str, token: &str) -> (Vec<u8>, Vec<u8>) {
        use std::io::Write;
        let mut sh = std::process::Command::new(shell)
            .arg("-s")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = sh.stdin.take().unwrap();
        stdin
            .write_all(
                format!(
                    "echo noise; echo noise >&2\n{}",
                    probe_script(command, false, token)
                )
                .as_bytes(),
            )
            .unwrap();
        drop(stdin);
        let out = sh.wait_with_output().unwrap();
        (out.stdout, out.stderr)
    }

    fn framed(
        out: &[u8],
        token: &str,
        end: &str,
        limit: usize,
    ) -> Result<(Vec<u8>, Vec<u8>), ShellError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut pipe = out;
        let start = format!("vzrun-start-{token}\n");
        let end = format!("\nvzrun-end-{token}{end}");
        runtime
            .block_on(read_framed(&mut pipe, &start, &end, limit, None))
            .map(|f| (f.body, f.rest))
    }

    #[test]
    fn a_probe_output_is_what_lies_between_its_lines() {
        let token = "0123abcd";
        // No newline at the end, a line that looks like a marker of another token, stdin.
        let command = "printf 'one\\ntwo'; echo 'vzrun-end-ffff 0'; printf err >&2; cat; exit 7";
        let (out, err) = through_sh(command, token);
        let (body, rest) = framed(&out, token, " ", 1 << 20).ok().unwrap();
        assert_eq!(body, b"one\ntwovzrun-end-ffff 0\n");
        assert_eq!(rest, b"7 0\n");
        let (body, rest) = framed(&err, token, "\n", 1 << 20).ok().unwrap();
        assert_eq!(body, b"err");
        assert!(rest.is_empty());
    }

    #[test]
    fn a_probe_killed_by_a_signal_gives_128_and_the_signal_and_no_word_of_the_shell() {
        // As on the local transport: the shell's own note ("Killed", bash's "line 1: 123
        // Killed ...") is not the probe's stderr.
        for shell in installed_shells() {
            let token = "5e5e";
            let (out, err) = through(shell, "exec sh -c 'echo before; kill -KILL $$'", token);
            let (body, rest) = framed(&out, token, " ", 1 << 20).ok().unwrap();
            assert_eq!(
                (body, rest),
                (b"before\n".to_vec(), b"137 0\n".to_vec()),
                "{shell}"
            );
            let (body, _) = framed(&err, token, "\n", 1 << 20).ok().unwrap();
            assert_eq!(String::from_utf8_lossy(&body), "", "{shell}");
        }
    }

    #[test]
    fn processes_a_probe_left_are_named_in_its_end_line_in_dash_and_bash() {
        for shell in installed_shells() {
            let token = "1ef7".to_string();
            let (out, _) = through(
                shell,
                "exec setsid sh -c '(sleep 0.2; echo late) & echo now; exit 5'",
                &token,
            );
            let (body, rest) = framed(&out, &token, " ", 1 << 20).ok().unwrap();
            assert_eq!(
                (body, rest),
                (b"now\n".to_vec(), b"5 1\nlate\n".to_vec()),
                "{shell}"
            );
            // A child that let go of the output is seen too (the shell is then not reused);
            // a probe that leaves nothing is not taken for one that did.
            let (out, _) = through(
                shell,
                "exec setsid sh -c 'sleep 0.1 >/dev/null & exit 0'",
                &token,
            );
            assert!(
                framed(&out, &token, " ", 1 << 20)
                    .ok()
                    .unwrap()
                    .1
                    .starts_with(b"0 1\n"),
                "{shell}"
            );
            let (out, _) = through(shell, "exec setsid true", &token);
            assert_eq!(
                framed(&out, &token, " ", 1 << 20).ok().unwrap().1,
                b"0 0\n",
                "{shell}"
            );
        }
    }

    #[test]
    fn output_past_the_limit_or_cut_short_is_an_error() {
        let token = "77aa";
        let (out, _) = through_sh("printf 0123456789", token);
        assert!(framed(&out, token, " ", 10).is_ok());
        assert!(matches!(
            framed(&out, token, " ", 9),
            Err(ShellError::TooLarge)
        ));
        let cut = &out[..out.len() - 8];
        assert!(matches!(
            framed(cut, token, " ", 1 << 20),
            Err(ShellError::Lost(_))
        ));
    }

    #[test]
    fn the_status_follows_the_end_line() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut rest = b"12".to_vec();
        let mut pipe: &[u8] = b"7 0\n";
        let status = runtime.block_on(read_status(&mut pipe, &mut rest));
        assert!(matches!(status, Ok((127, false))));
        assert!(rest.is_empty());
        let mut rest = b"0 1\nlate".to_vec();
        let status = runtime.block_on(read_status(&mut &b""[..], &mut rest));
        assert!(matches!(status, Ok((0, true))));
        assert_eq!(rest, b"late");
        let mut rest = Vec::new();
        let mut pipe: &[u8] = b"x\n";
        assert!(runtime.block_on(read_status(&mut pipe, &mut rest)).is_err());
    }
}
