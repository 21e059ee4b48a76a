//! What a run reports, as one stream of typed events.
//!
//! The text view and `--output json` render the same events, and the journal stores them, so
//! what an operator saw, what a monitoring script parsed and what was recorded never disagree.

use serde::Serialize;

use crate::transport::cmd::Effect;

/// Version of the JSON event format; bump when a field changes meaning or goes away.
pub const EVENT_FORMAT_VERSION: u32 = 1;

/// Everything a run reports, in order; serialized with an `event` tag in snake_case.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A run began (or, when `plan`, a plan listing began).
    RunStarted {
        /// The run's id: the journal's name, for `vzrun resume`/`abort`.
        run_id: String,
        /// The runbook's name (a builtin's name or the file's stem).
        runbook: String,
        /// `builtin:NAME` or the runbook file's absolute path, for `vzrun resume`.
        location: String,
        /// SHA-256 (hex) of the runbook text: a resume refuses when it changed since.
        runbook_sha256: String,
        /// True for `--plan`: nothing is changed, changes are listed.
        plan: bool,
        /// The runbook's arguments as given, a JSON object by name.
        args: serde_json::Value,
        /// The run this one resumes, `None` for a fresh run.
        resumed_from: Option<String>,
        /// The vzrun process, so `vzrun abort` can tell a crashed run from a running one.
        pid: u32,
        /// What the run acts on (inventory path and hash, or lab scenario and state), so a
        /// resume goes to the same cluster and nowhere else.
        target: serde_json::Value,
    },
    /// A confirmation was given (by `--yes` or at the terminal): a resume keeps it.
    Confirmed {
        /// The question that was confirmed.
        question: String,
        /// Who confirmed: `--yes`, or the `Confirm` implementation's `who()`.
        by: String,
    },
    /// A module was imported: a resume refuses when it changed since.
    ModuleLoaded {
        /// The module name as written in the runbook's `import`.
        import: String,
        /// The module file it resolved to.
        path: String,
        /// SHA-256 (hex) of the module text when loaded.
        sha256: String,
    },
    /// A line of narration (`log()`) or data (`print()`) from the runbook or vzrun.
    Log {
        /// The text, as written.
        message: String,
        /// True for what a runbook printed with `print()` (metrics, a report): data, shown on
        /// stdout whatever `-q` says, because it is what the run was for. `log()` lines are
        /// narration: the text view shows them on stderr, with the rest of the human log, and
        /// `-q` silences them (see `run::output` for the whole rule).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        data: bool,
    },
    /// Something an operator should notice that does not stop the run.
    Warning {
        /// The warning text.
        message: String,
    },
    /// A command is about to run, or, when `planned`, would run.
    Command {
        /// The host name from the inventory (or the lab), as the runbook names it.
        host: String,
        /// The program and its arguments, unquoted.
        argv: Vec<String>,
        /// Whether the command only reads or changes the host.
        effect: Effect,
        /// True when the run is a plan and the command was not run.
        planned: bool,
    },
    /// A command ran; how it ended.
    CommandFinished {
        /// The host it ran on.
        host: String,
        /// The program and its arguments, unquoted.
        argv: Vec<String>,
        /// Whether the command only reads or changes the host.
        effect: Effect,
        /// The exit code (killed by a signal: 128 + signal, locally and over SSH).
        code: i32,
        /// How long it took, in milliseconds.
        millis: u64,
    },
    /// A file is (or, when `planned`, would be) replaced; `diff` is unified.
    FileEdit {
        /// The host holding the file.
        host: String,
        /// The file's absolute path on that host.
        path: String,
        /// Unified diff from the old content to the new.
        diff: String,
        /// True when the run is a plan and the file was not written.
        planned: bool,
    },
    /// A primitive found nothing to do (the VE already runs, the line is already there...).
    NoChange {
        /// The host it looked at.
        host: String,
        /// What was already as wanted.
        message: String,
    },
    /// A table the runbook produced (a report); data, shown on stdout whatever `-q` says.
    Table {
        /// Column headings, in order.
        columns: Vec<String>,
        /// One row per entry, cells in column order.
        rows: Vec<Vec<String>>,
    },
    /// A `step` began.
    StepStarted {
        /// The step's name, unique within the runbook (resume skips completed ones by name).
        name: String,
    },
    /// A `step` ended.
    StepFinished {
        /// The step's name.
        name: String,
        /// True when the step completed without error.
        ok: bool,
    },
    /// A step that completed in the resumed run, not run again.
    StepSkipped {
        /// The step's name.
        name: String,
    },
    /// An undo action registered with `defer`, and later how it went.
    Deferred {
        /// What the undo action does, as the runbook described it.
        what: String,
        /// `registered` when added, then `done` or `FAILED: reason` when it ran at the end.
        state: String,
        /// For `defer(what, "function", [args])`: what `vzrun abort` calls.
        #[serde(skip_serializing_if = "Option::is_none")]
        function: Option<String>,
        /// The function's arguments as JSON, when `function` is set.
        #[serde(skip_serializing_if = "Option::is_none")]
        args: Option<serde_json::Value>,
    },
    /// A `parallel` call starts `total` items (`id` tells nested calls apart).
    ParallelStarted {
        /// The call's id, unique within the run.
        id: u64,
        /// How many items it runs.
        total: usize,
    },
    /// A `parallel` call ended.
    ParallelFinished {
        /// The call's id.
        id: u64,
        /// How many items failed, were interrupted or never started.
        failed: usize,
    },
    /// One item of a `parallel` call finished.
    ParallelItem {
        /// The call's id.
        id: u64,
        /// The item, as the runbook named it (usually a host).
        item: String,
        /// How many items have finished so far, this one included.
        done: usize,
        /// How many items the call runs.
        total: usize,
        /// True when the item finished without error.
        ok: bool,
        /// `done`, `FAILED`, `INTERRUPTED` (Ctrl-C reached it part-way) or `not started`.
        outcome: String,
    },
    /// A wait (for a VE, a service, a condition) is still going on; repeated while it lasts.
    Waiting {
        /// What is being waited for.
        what: String,
        /// Seconds waited so far.
        elapsed_s: u64,
        /// Seconds after which the wait gives up.
        timeout_s: u64,
    },
    /// The run ended; always the last event.
    RunFinished {
        /// `ok`, `failed`, `refused`, `lock_held`, `timed_out` or `interrupted`.
        status: String,
        /// The process exit code vzrun returns for this outcome.
        exit_code: i32,
        /// Why the run did not end `ok`; `None` when it did.
        error: Option<String>,
        /// Wall-clock seconds the run took.
        #[serde(default)]
        seconds: f64,
    },
}

/// One line of the JSON stream and of the journal.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    pub v: u32,
    pub ts: String,
    #[serde(flatten)]
    pub event: &'a Event,
}

impl<'a> Envelope<'a> {
    pub fn now(event: &'a Event) -> Self {
        Envelope {
            v: EVENT_FORMAT_VERSION,
            ts: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            event,
        }
    }
}
