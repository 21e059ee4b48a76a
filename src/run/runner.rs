//! The Runner: the one door every primitive goes through to touch a host.
//!
//! Keeping it single is what makes the safety model hold: plan mode, the journal, deadlines
//! and Ctrl-C handling are applied here once, not in each primitive.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cluster::host::Host;
use crate::edit::bytes;
use crate::failure::{Failure, FailureKind};
use crate::run::event::Event;
use crate::run::journal::Journal;
use crate::run::sink::{Confirm, EventSink, TerminalConfirm};
use crate::transport::cmd::{Cmd, Effect, Output};
use crate::transport::lock::{HeldLock, LockError};
use crate::transport::TransportError;

/// Whether Changes run, or are only listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    Plan,
}

#[derive(Debug)]
pub struct Runner {
    mode: Mode,
    assume_yes: bool,
    sink: Sink,
    confirm: Asker,
    journal: Mutex<Option<Journal>>,
    interrupted: Arc<AtomicBool>,
    planned: AtomicUsize,
    locking: Locking,
    /// Why the journal could not be written; set once, then no further change runs.
    journal_error: Mutex<Option<String>>,
    /// Why the engine stopped the script (operation limit, memory guard), once it did: every
    /// further operation stops it again, so a `catch` cannot turn it into a failure the
    /// script goes on from (see `engine::build`). Cleared before the undo actions run.
    script_stop: ScriptStop,
    /// The first question not answered yes. `confirm` stops the run as refused, but the
    /// script can catch that; from then on no change runs and the run ends refused (exit 3),
    /// as after a lock conflict.
    declined: Mutex<Option<String>>,
}

/// The engine's reason to stop the script, with a flag read at every operation.
#[derive(Debug, Default)]
struct ScriptStop {
    set: AtomicBool,
    token: Mutex<Option<rhai::Dynamic>>,
}

/// Where events go (shown in `Debug` by name only: the sink is the embedder's).
struct Sink(Arc<dyn EventSink>);

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventSink")
    }
}

/// Who answers confirmations.
struct Asker(Arc<dyn Confirm>);

impl std::fmt::Debug for Asker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Confirm({})", self.0.who())
    }
}

/// Who this run is, for lock holders, and how long to wait for a lock.
#[derive(Debug, Default)]
struct Locking {
    holder: String,
    wait: Duration,
    held: Mutex<HashMap<String, Box<dyn HeldLock>>>,
    /// The first lock conflict of this run. Once one happened, no further change runs and the
    /// run ends in exit 4, even when the script caught the error: a conflict is never
    /// retried or caught into success.
    conflict: Mutex<Option<String>>,
}

impl Runner {
    pub fn new(
        mode: Mode,
        assume_yes: bool,
        sink: Arc<dyn EventSink>,
        journal: Option<Journal>,
        interrupted: Arc<AtomicBool>,
    ) -> Self {
        Runner {
            mode,
            assume_yes,
            sink: Sink(sink),
            confirm: Asker(Arc::new(TerminalConfirm)),
            journal: Mutex::new(journal),
            interrupted,
            planned: AtomicUsize::new(0),
            locking: Locking::default(),
            journal_error: Mutex::new(None),
            script_stop: ScriptStop::default(),
            declined: Mutex::new(None),
        }
    }

    /// Sets who answers confirmations (the terminal by default).
    pub fn with_confirm(mut self, confirm: Arc<dyn Confirm>) -> Self {
        self.confirm = Asker(confirm);
        self
    }

    /// Sets who holds this run's locks and how long to wait for one held elsewhere.
    pub fn with_locking(mut self, holder: String, wait: Duration) -> Self {
        self.locking.holder = holder;
        self.locking.wait = wait;
        self
    }

    /// The first lock conflict this run met, if any (see [`Locking::conflict`]).
    pub fn lock_conflict(&self) -> Option<String> {
        self.locking
            .conflict
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn conflict(&self, message: String) -> Failure {
        self.locking
            .conflict
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(message.clone());
        Failure::new(FailureKind::LockHeld, message)
    }

    /// Takes the host's lock before its first Change; held until the run ends.
    fn lock_host(&self, host: &Host) -> Result<(), Failure> {
        if let Some(first) = self.declined() {
            return Err(Failure::refused(format!(
                "no further change after a question was not answered yes: {first}"
            )));
        }
        if let Some(first) = self.lock_conflict() {
            return Err(Failure::new(
                FailureKind::LockHeld,
                format!("no further change after a lock conflict: {first}"),
            ));
        }
        let mut held = self.locking.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.contains_key(host.name()) {
            return Ok(());
        }
        match host.transport().lock("run", &self.locking.holder, self.locking.wait) {
            Ok(guard) => {
                held.insert(host.name().to_string(), guard);
                Ok(())
            }
            Err(LockError::Held(who)) => Err(self.conflict(format!(
                "{} is locked by {who}; nothing was changed there (--lock-wait SECONDS waits for it)",
                host.name()
            ))),
            Err(LockError::Failed(why) | LockError::Unreachable(why)) => {
                Err(Failure::failed(format!("on {}: {why}", host.name())))
            }
            Err(LockError::Privilege(why)) => Err(privilege_failure(
                format!("on {}: {why}", host.name()),
                !held.is_empty(),
            )),
        }
    }

    /// Takes the host's lock now and holds it for the rest of the run, before any Change is
    /// made there: a run that moves work *into* a host locks it, so no other run drains it
    /// meanwhile. A plan takes no lock.
    pub fn lock(&self, host: &Host) -> Result<(), Failure> {
        if self.is_plan() {
            return Ok(());
        }
        self.lock_host(host)
    }

    /// Who holds this run's locks: run id, runbook, user@machine, pid and start time.
    pub fn holder(&self) -> &str {
        &self.locking.holder
    }

    /// How long this run waits for a lock another run holds (`--lock-wait`).
    pub(super) fn lock_wait(&self) -> Duration {
        self.locking.wait
    }

    /// Releases every lock this run holds.
    pub fn release_locks(&self) {
        self.locking
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Where this run's journal is (written from its first change on), if it keeps one.
    pub fn journal_path(&self) -> Option<std::path::PathBuf> {
        self.journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|j| j.path().to_path_buf())
    }

    /// Whether this run records a journal (so `resume`/`abort` can find it).
    pub fn has_journal(&self) -> bool {
        self.journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    pub fn is_plan(&self) -> bool {
        self.mode == Mode::Plan
    }

    /// Shows the event and records it in the journal.
    pub fn emit(&self, event: Event) {
        // Journaled first: a run killed right after it showed a change (its first one opens
        // the journal) must have recorded it, or abort and resume find no start record.
        self.record(&event);
        self.sink.0.event(&event);
    }

    /// Records an event in the journal (without showing it).
    fn record(&self, event: &Event) {
        if let Some(journal) = self
            .journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            if let Err(e) = journal.record(event) {
                let mut error = self.journal_error.lock().unwrap_or_else(|p| p.into_inner());
                if error.is_none() {
                    let why = format!("cannot write the journal {}: {e}", journal.path().display());
                    crate::run::output::stderr_line(&format!(
                        "error: {why}; no further change will run"
                    ));
                    *error = Some(why);
                }
            }
        }
    }

    /// Why the journal could not be written, if it could not: the run then fails.
    pub fn journal_error(&self) -> Option<String> {
        self.journal_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A change may run only while the journal records it: resume and abort trust it.
    fn check_journal(&self) -> Result<(), Failure> {
        match self.journal_error() {
            Some(why) => Err(Failure::failed(format!(
                "{why}; stopped before this change"
            ))),
            None => Ok(()),
        }
    }

    pub fn log(&self, message: impl Into<String>) {
        self.emit(Event::Log {
            message: message.into(),
            data: false,
        });
    }

    pub fn warn(&self, message: impl Into<String>) {
        self.emit(Event::Warning {
            message: message.into(),
        });
    }

    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Remembers that the engine stopped the script (`token`: why): from now on every
    /// operation of the script stops it again, until [`Runner::clear_script_stop`].
    pub fn stop_script(&self, token: rhai::Dynamic) {
        let mut held = self
            .script_stop
            .token
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        held.get_or_insert(token);
        self.script_stop.set.store(true, Ordering::SeqCst);
    }

    /// Why the engine stopped the script, once it did (read at every operation).
    pub fn script_stopped(&self) -> Option<rhai::Dynamic> {
        if !self.script_stop.set.load(Ordering::Relaxed) {
            return None;
        }
        self.script_stop
            .token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Lets script code run again (the undo actions, at the end of the run).
    pub fn clear_script_stop(&self) {
        self.script_stop.set.store(false, Ordering::SeqCst);
        *self
            .script_stop
            .token
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub fn check_interrupted(&self) -> Result<(), Failure> {
        if self.interrupted() {
            Err(Failure::interrupted())
        } else {
            Ok(())
        }
    }

    /// Sleeps, waking early (with an error) on Ctrl-C.
    pub fn sleep(&self, duration: Duration) -> Result<(), Failure> {
        let deadline = Instant::now() + duration;
        loop {
            self.check_interrupted()?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }

    /// Asks a yes/no question (on the terminal, or whoever [`Runner::with_confirm`] set). `--yes` answers yes; in plan mode nothing will
    /// change, so it answers yes too. Anything but yes, or no terminal to ask on, is a refusal.
    pub fn confirm(&self, question: &str) -> Result<(), Failure> {
        if self.assume_yes {
            self.log(format!("{question} yes (--yes)"));
            self.emit(Event::Confirmed {
                question: question.to_string(),
                by: "--yes".into(),
            });
            return Ok(());
        }
        if self.is_plan() {
            self.log(format!("{question} (would ask)"));
            return Ok(());
        }
        let refusal = match self.confirm.0.ask(question) {
            Ok(true) => {
                self.emit(Event::Confirmed {
                    question: question.to_string(),
                    by: self.confirm.0.who().into(),
                });
                return Ok(());
            }
            Ok(false) => Failure::refused(format!("{question} not confirmed")),
            Err(why) => Failure::refused(why),
        };
        self.declined
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(refusal.message.clone());
        Err(refusal)
    }

    /// The first question of this run not answered yes, if any (see `declined`).
    pub fn declined(&self) -> Option<String> {
        self.declined
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// [`Runner::declined`], forgotten: the undo actions at the end of the run put back
    /// what the run changed, also after a question was not answered yes.
    pub fn take_declined(&self) -> Option<String> {
        self.declined
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// How many Changes this run listed instead of running (plan mode).
    pub fn planned_changes(&self) -> usize {
        self.planned.load(Ordering::SeqCst)
    }

    /// Runs a command on a host, or, for a Change in plan mode, lists it and returns a
    /// `planned` stand-in. A non-zero exit is returned, not raised: see [`Runner::exec_checked`].
    pub fn exec(&self, host: &Host, cmd: &Cmd) -> Result<Output, Failure> {
        self.check_interrupted()?;
        cmd.validate()
            .map_err(|problem| Failure::bad_input("command", problem))?;
        let planned = self.is_plan() && cmd.effect == Effect::Change;
        // A change refused before it runs (a lock another run holds, a question not
        // answered yes, a journal that cannot be written) is neither shown nor journaled as
        // a command: resume, abort and `vzrun runs` would take it for one that ran.
        if cmd.effect == Effect::Change && !planned {
            self.check_journal()?;
            self.lock_host(host)?;
        }
        self.emit(Event::Command {
            host: host.name().to_string(),
            argv: cmd.argv.clone(),
            effect: cmd.effect,
            planned,
        });
        if planned {
            self.planned.fetch_add(1, Ordering::SeqCst);
            return Ok(Output::planned());
        }
        if cmd.effect == Effect::Change {
            // Its record opens the journal (the run's first change): it must be on disk
            // before the command runs.
            self.check_journal()?;
        }
        // Under `within(...)`, the command gets only what is left of that deadline.
        let limited = crate::deadline::limit(cmd.timeout)
            .map(|timeout| cmd.clone().with_timeout(timeout))
            .map_err(|d| deadline_passed(host, d))?;
        let started = Instant::now();
        let output = host
            .transport()
            .run(&limited)
            .map_err(|e| self.transport_failure(host, Some(cmd), e))?;
        self.emit(Event::CommandFinished {
            host: host.name().to_string(),
            argv: cmd.argv.clone(),
            effect: cmd.effect,
            code: output.code,
            millis: started.elapsed().as_millis() as u64,
        });
        Ok(output)
    }

    /// Reads a file on a host (a Read: also in plan mode); `None` when it does not exist.
    /// Bytes that are not UTF-8 are kept (see [`crate::edit::bytes`]), so writing the text
    /// back gives the same bytes.
    pub fn read_file(&self, host: &Host, path: &str) -> Result<Option<String>, Failure> {
        self.read_file_bytes(host, path)?
            .map(|bytes| decode_file(host, path, &bytes))
            .transpose()
    }

    fn read_file_bytes(&self, host: &Host, path: &str) -> Result<Option<Vec<u8>>, Failure> {
        self.check_interrupted()?;
        crate::deadline::limit(std::time::Duration::MAX).map_err(|d| deadline_passed(host, d))?;
        self.emit(Event::Command {
            host: host.name().to_string(),
            argv: vec!["read-file".into(), path.to_string()],
            effect: Effect::Read,
            planned: false,
        });
        host.transport()
            .read_file(path)
            .map_err(|e| self.transport_failure(host, None, e))
    }

    /// A file's permission bits (`0o644`), `None` when it does not exist.
    pub fn file_mode(&self, host: &Host, path: &str) -> Result<Option<u32>, Failure> {
        self.check_interrupted()?;
        host.transport()
            .mode(path)
            .map_err(|e| self.transport_failure(host, None, e))
    }

    /// Replaces a file's content: nothing when equal; else a unified diff is shown (and, in
    /// plan mode, that is all), the previous version is kept byte for byte as
    /// `<path>.vzrun.bak`, and the file is replaced atomically with its mode kept (or `mode`
    /// when given). Returns whether it changed (or would).
    pub fn write_file(
        &self,
        host: &Host,
        path: &str,
        content: &str,
        mode: Option<u32>,
    ) -> Result<bool, Failure> {
        self.check_interrupted()?;
        let current_bytes = self.read_file_bytes(host, path)?;
        let current = current_bytes
            .as_deref()
            .map(|bytes| decode_file(host, path, bytes))
            .transpose()?;
        let mode_differs = match mode {
            None => false,
            Some(wanted) => {
                host.transport()
                    .mode(path)
                    .map_err(|e| self.transport_failure(host, None, e))?
                    != Some(wanted)
            }
        };
        if current.as_deref() == Some(content) && !mode_differs {
            return Ok(self.unchanged(host, format!("{path} is already as wanted")));
        }
        let old = bytes::display(current.as_deref().unwrap_or_default());
        let new = bytes::display(content);
        let diff = similar::TextDiff::from_lines(old.as_str(), new.as_str())
            .unified_diff()
            .context_radius(2)
            .header(&format!("a{path}"), &format!("b{path}"))
            .to_string();
        let planned = self.is_plan();
        if !planned {
            // Refused before it is written (see `exec`): not shown nor journaled as an edit.
            self.check_journal()?;
            self.lock_host(host)?;
        }
        // A file others may not read (a 0600 file with a password line) is shown to the
        // operator, but its lines are not kept in the journal.
        let private = match mode {
            Some(m) => m & 0o004 == 0,
            None => host
                .transport()
                .mode(path)
                .map_err(|e| self.transport_failure(host, None, e))?
                .is_some_and(|m| m & 0o004 == 0),
        };
        let edit = |diff: String| Event::FileEdit {
            host: host.name().to_string(),
            path: path.to_string(),
            diff,
            planned,
        };
        if private {
            self.sink.0.event(&edit(diff));
            self.record(&edit(format!(
                "(not journaled: {path} is not world-readable; sha256 before {}, after {})\n",
                crate::digest::sha256_hex(current_bytes.as_deref().unwrap_or_default()),
                crate::digest::sha256_hex(&bytes::encode(content))
            )));
        } else {
            self.emit(edit(diff));
        }
        if planned {
            self.planned.fetch_add(1, Ordering::SeqCst);
            return Ok(true);
        }
        self.check_journal()?;
        let transport = host.transport();
        if let Some(previous) = &current_bytes {
            // The backup is as private as the file it keeps (a 0600 file stays 0600).
            let original_mode = transport
                .mode(path)
                .map_err(|e| self.transport_failure(host, None, e))?;
            transport
                .write_file_atomic(&format!("{path}.vzrun.bak"), previous, original_mode)
                .map_err(|e| self.transport_failure(host, None, e))?;
        }
        transport
            .write_file_atomic(path, &bytes::encode(content), mode)
            .map_err(|e| self.transport_failure(host, None, e))?;
        Ok(true)
    }

    /// Reports that a primitive had nothing to do; returns `false` ("not changed").
    pub fn unchanged(&self, host: &Host, message: impl Into<String>) -> bool {
        self.emit(Event::NoChange {
            host: host.name().to_string(),
            message: message.into(),
        });
        false
    }

    /// Like [`Runner::exec`], but a non-zero exit is a failure naming the host, the command and
    /// its stderr.
    pub fn exec_checked(&self, host: &Host, cmd: &Cmd) -> Result<Output, Failure> {
        let output = self.exec(host, cmd)?;
        if output.success() {
            Ok(output)
        } else {
            Err(command_failure(host, cmd, &output))
        }
    }

    fn transport_failure(&self, host: &Host, cmd: Option<&Cmd>, err: TransportError) -> Failure {
        let message = match (cmd, &err) {
            // A timeout already names the command.
            (Some(cmd), TransportError::Unreachable(_) | TransportError::Connect(_)) => {
                format!("on {}, `{cmd}`: {err}", host.name())
            }
            _ => format!("on {}: {err}", host.name()),
        };
        match err {
            TransportError::TimedOut { .. } | TransportError::Unreachable(_) => {
                Failure::timed_out(message)
            }
            TransportError::Privilege(_) => self.privilege_failure(message),
            _ => Failure::failed(message),
        }
    }

    /// Settings (the inventory's) the hosts contradict: exit 2 (bad settings, nothing
    /// changed) while this run has locked no host for a change yet, else exit 1.
    pub fn bad_settings(&self, message: impl Into<String>) -> Failure {
        self.privilege_failure(message.into())
    }

    /// Bad sudo settings for a host: nothing ran there. Exit 2 says "nothing changed", which
    /// holds only while this run has locked no host for a change yet.
    fn privilege_failure(&self, message: String) -> Failure {
        let held = self.locking.held.lock().unwrap_or_else(|p| p.into_inner());
        privilege_failure(message, !held.is_empty())
    }
}

/// Exit 2 (bad settings) while nothing was changed; exit 1 once `changing` (another host is
/// locked for a change), since exit 2 promises nothing changed.
fn privilege_failure(message: String, changing: bool) -> Failure {
    if changing {
        Failure::failed(format!(
            "{message}\n  (this run already changed other hosts: `vzrun runs` shows what)"
        ))
    } else {
        Failure::new(FailureKind::BadInput, message)
    }
}

pub fn command_failure(host: &Host, cmd: &Cmd, output: &Output) -> Failure {
    let mut message = format!(
        "command failed on {} (exit {}): {}",
        host.name(),
        output.code,
        cmd
    );
    // prlctl's deprecation banner is noise in an error message.
    let stderr: Vec<&str> = output
        .stderr
        .lines()
        .filter(|l| !l.starts_with("WARNING: You are using a deprecated CLI component"))
        .collect();
    let stderr = stderr.join("\n");
    let stderr = stderr.trim();
    if !stderr.is_empty() {
        message.push_str("\n  stderr: ");
        message.push_str(&stderr.replace('\n', "\n          "));
    }
    Failure::failed(message)
}

fn deadline_passed(host: &Host, deadline: crate::deadline::Deadline) -> Failure {
    Failure::timed_out(format!(
        "on {}: the {}s deadline passed",
        host.name(),
        deadline.budget.as_secs_f64()
    ))
}

/// A file's bytes as text that encodes back to the same bytes.
fn decode_file(host: &Host, path: &str, raw: &[u8]) -> Result<String, Failure> {
    bytes::decode(raw).map_err(|why| Failure::failed(format!("{path} on {}: {why}", host.name())))
}
