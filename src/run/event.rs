//! What a run reports, as one stream of typed events.
//!
//! The text view and `--output json` render the same events, and the journal stores them, so
//! what an operator saw, what a monitoring script parsed and what was recorded never disagree.

use serde::Serialize;

use crate::transport::cmd::Effect;

/// Version of the JSON event format; bump when a field changes meaning or goes away.
pub const EVENT_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        runbook: String,
        /// `builtin:NAME` or the runbook file's absolute path, for `vzrun resume`.
        location: String,
        runbook_sha256: String,
        plan: bool,
        args: serde_json::Value,
        resumed_from: Option<String>,
        /// The vzrun process, so `vzrun abort` can tell a crashed run from a running one.
        pid: u32,
        /// What the run acts on (inventory path and hash, or lab scenario and state), so a
        /// resume goes to the same cluster and nowhere else.
        target: serde_json::Value,
    },
    /// A confirmation was given (by `--yes` or at the terminal): a resume keeps it.
    Confirmed {
        question: String,
        by: String,
    },
    /// A module was imported: a resume refuses when it changed since.
    ModuleLoaded {
        import: String,
        path: String,
        sha256: String,
    },
    Log {
        message: String,
        /// True for what a runbook printed with `print()` (metrics, a report): data, shown on
        /// stdout whatever `-q` says, because it is what the run was for. `log()` lines are
        /// narration, which `-q` silences.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        data: bool,
    },
    Warning {
        message: String,
    },
    /// A command is about to run, or, when `planned`, would run.
    Command {
        host: String,
        argv: Vec<String>,
        effect: Effect,
        planned: bool,
    },
    CommandFinished {
        host: String,
        argv: Vec<String>,
        effect: Effect,
        code: i32,
        millis: u64,
    },
    /// A file is (or, when `planned`, would be) replaced; `diff` is unified.
    FileEdit {
        host: String,
        path: String,
        diff: String,
        planned: bool,
    },
    /// A primitive found nothing to do (the VE already runs, the line is already there...).
    NoChange {
        host: String,
        message: String,
    },
    Table {
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    StepStarted {
        name: String,
    },
    StepFinished {
        name: String,
        ok: bool,
    },
    /// A step that completed in the resumed run, not run again.
    StepSkipped {
        name: String,
    },
    /// An undo action registered with `defer`, and later how it went.
    Deferred {
        what: String,
        state: String,
        /// For `defer(what, "function", [args])`: what `vzrun abort` calls.
        #[serde(skip_serializing_if = "Option::is_none")]
        function: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        args: Option<serde_json::Value>,
    },
    /// A `parallel` call starts `total` items (`id` tells nested calls apart).
    ParallelStarted {
        id: u64,
        total: usize,
    },
    /// A `parallel` call ended.
    ParallelFinished {
        id: u64,
        failed: usize,
    },
    /// One item of a `parallel` call finished.
    ParallelItem {
        id: u64,
        item: String,
        done: usize,
        total: usize,
        ok: bool,
        /// `done`, `FAILED`, `INTERRUPTED` (Ctrl-C reached it part-way) or `not started`.
        outcome: String,
    },
    Waiting {
        what: String,
        elapsed_s: u64,
        timeout_s: u64,
    },
    RunFinished {
        status: String,
        exit_code: i32,
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
