//! Past runs read back from the journal, for `resume` and `abort`: the records, the runbook
//! and modules unchanged since (or a refusal), the undo actions left pending, and the target
//! the run acted on.

use std::path::Path;

use crate::exit;
use crate::run::journal;
use crate::run::options::RunOptions;
use crate::runbook::{self, Runbook};

use super::error::RunError;
use super::targets::{describe_target, names_a_target, options_for_target, same_target};

/// JSON → Rhai, keeping integers integers.
pub fn to_dynamic(value: &serde_json::Value) -> rhai::Dynamic {
    rhai::serde::to_dynamic(value).unwrap_or(rhai::Dynamic::UNIT)
}

/// A past run: its journal events and its runbook, unchanged since.
pub struct PastRun {
    pub path: std::path::PathBuf,
    pub events: Vec<serde_json::Value>,
    pub start: serde_json::Value,
    pub runbook: Runbook,
}

impl PastRun {
    pub fn finished(&self) -> Option<&serde_json::Value> {
        self.events.iter().find(|e| e["event"] == "run_finished")
    }

    /// The run this one aborted, when it is a `vzrun abort` (its journal names it in place of
    /// arguments): it is not a run of its own, to resume or abort.
    pub fn aborts(&self) -> Option<&str> {
        self.start["args"]["aborts"].as_str()
    }

    /// A refusal (exit 2) for `vzrun resume`/`abort` of an abort run, naming what to do.
    pub fn refuse_if_abort(&self, run_id: &str) -> Result<(), RunError> {
        match self.aborts() {
            Some(original) => Err(RunError::new(
                exit::USAGE,
                format!("{run_id} is `vzrun abort {original}`, not a run of its own: run `vzrun abort {original}` again (its undo actions take back what is still changed)"),
            )),
            None => Ok(()),
        }
    }

    /// Registrations of undo actions that never ran, or failed (their journal entries): a
    /// failed one left its change in place, and `vzrun abort` runs it again.
    pub fn pending_undos(&self) -> Vec<serde_json::Value> {
        pending_in(&self.events)
    }
}

/// `PastRun::pending_undos` of a journal's records.
/// A record names its action only by `what`; several of one name are told apart as the run
/// did: `cancel_defer` drops the last registered, the end of the run runs the last first.
/// One whose run failed stays pending (its change is in place) and is passed over by the
/// records that follow, but for one that says it ran after all (`vzrun abort`).
pub fn pending_in(events: &[serde_json::Value]) -> Vec<serde_json::Value> {
    // Each registration, and whether its action failed.
    let mut pending: Vec<(serde_json::Value, bool)> = Vec::new();
    for e in events.iter().filter(|e| e["event"] == "deferred") {
        if e["state"] == "registered" {
            pending.push((e.clone(), false));
            continue;
        }
        let last = |failed: bool| {
            pending
                .iter()
                .rposition(|(p, f)| p["what"] == e["what"] && *f == failed)
        };
        if journal::undo_failed(e) {
            if let Some(i) = last(false) {
                pending[i].1 = true;
            }
        } else if let Some(i) = last(false).or_else(|| last(true)) {
            pending.remove(i);
        }
    }
    pending.into_iter().map(|(p, _)| p).collect()
}

/// The journal's records. A last line cut short (the run was killed while writing it) is
/// named and ignored; a bad line anywhere else means the journal can not be trusted.
fn read_events(run_id: &str, text: &str) -> Result<Vec<serde_json::Value>, RunError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut events = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(event) => events.push(event),
            Err(_) if index + 1 == lines.len() && !text.ends_with('\n') => {
                let shown: String = line.chars().take(80).collect();
                eprintln!("warning: the last record of {run_id}'s journal is cut off (the run was killed while writing it) and is ignored: {shown}");
            }
            Err(e) => {
                return Err(RunError::new(
                    exit::REFUSED,
                    format!(
                        "the journal of {run_id} is damaged at line {}: {e}; resume it by hand",
                        index + 1
                    ),
                ));
            }
        }
    }
    Ok(events)
}

/// Loads run `run_id`'s journal and finds its runbook; refuses when the runbook changed.
pub fn load(run_id: &str) -> Result<PastRun, RunError> {
    let valid = !run_id.is_empty()
        && run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid {
        return Err(RunError::new(
            exit::USAGE,
            format!("invalid run id {run_id:?}; `vzrun runs` lists them"),
        ));
    }
    let path = journal::runs_dir().join(format!("{run_id}.jsonl"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Err(RunError::new(
            exit::USAGE,
            format!(
                "no run {run_id} in {}; `vzrun runs` lists them",
                journal::runs_dir().display()
            ),
        ));
    };
    if journal::is_live(&path) {
        return Err(RunError::new(exit::LOCK_HELD, format!("run {run_id} is still running; it must end (or be stopped with Ctrl-C) before it can be resumed or aborted")));
    }
    let events = read_events(run_id, &text)?;
    let Some(start) = events.iter().find(|e| e["event"] == "run_started").cloned() else {
        return Err(RunError::new(
            exit::FAILED,
            format!("the journal of {run_id} has no start record"),
        ));
    };
    let place = start["location"].as_str().unwrap_or_default();
    let found = match place.strip_prefix("builtin:") {
        Some(name) => runbook::find(name),
        None => runbook::from_path(Path::new(place)),
    };
    let runbook = match found {
        Ok(r) => r,
        Err(e) => {
            return Err(RunError::new(
                exit::FAILED,
                format!("cannot find the runbook of {run_id}: {e}"),
            ));
        }
    };
    if Some(runbook.sha256().as_str()) != start["runbook_sha256"].as_str() {
        return Err(RunError::new(
            exit::REFUSED,
            format!(
                "{} changed since run {run_id}; it would mix two versions, so run it anew",
                runbook.display_path
            ),
        ));
    }
    let resolver = crate::engine::SandboxResolver::new(Some(runbook.import_dir.clone()));
    for module in events.iter().filter(|e| e["event"] == "module_loaded") {
        let import = module["import"].as_str().unwrap_or_default();
        if resolver.sha256_of(import).as_deref() != module["sha256"].as_str() {
            return Err(RunError::new(
                exit::REFUSED,
                format!(
                    "the module {} that run {run_id} imported changed since; it would mix two versions, so run it anew",
                module["path"].as_str().unwrap_or(import)
                ),
            ));
        }
    }
    Ok(PastRun {
        path,
        events,
        start,
        runbook,
    })
}

/// The options that make a resume (or abort) act on the run's own target: the recorded one
/// when none is given; a different one given on the command line is refused (exit 2).
pub fn options_for_past_target(
    run_id: &str,
    past: &PastRun,
    global: &RunOptions,
) -> Result<RunOptions, RunError> {
    let recorded = &past.start["target"];
    if recorded.is_null() {
        return Err(RunError::new(exit::REFUSED, format!("the journal of {run_id} does not say which cluster it ran against (made by an older vzrun); run it anew")));
    }
    let chosen = if names_a_target(global) {
        global.clone()
    } else {
        options_for_target(global, recorded)
    };
    let now = describe_target(&chosen)?;
    if !same_target(recorded, &now) {
        return Err(RunError::new(
            exit::USAGE,
            format!(
                "run {run_id} ran against {}; this would act on {}. Resume it against its own target (give no --inventory/--lab: it is taken from the journal), or start a new run",
            describe(recorded),
            describe(&now)
            ),
        ));
    }
    Ok(chosen)
}

/// A target in words.
fn describe(target: &serde_json::Value) -> String {
    let text = |k: &str| target[k].as_str().unwrap_or("?").to_string();
    match target["kind"].as_str() {
        Some("lab") => format!(
            "the lab (scenario {}, state {})",
            text("scenario"),
            target["state"].as_str().unwrap_or("in memory")
        ),
        Some("inventory") => format!(
            "the inventory {} (sha256 {})",
            text("path"),
            &text("sha256")[..12.min(text("sha256").len())]
        ),
        _ => "this machine only".into(),
    }
}

/// The commands that changed something in the journal at `path`, in order, each
/// `{host, argv, finished, code}`: `finished` once its end is recorded (a command cut short
/// by the kill has none), with its exit code.
pub(crate) fn changes_in(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out: Vec<serde_json::Value> = Vec::new();
    for e in text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["effect"] == "change" && e["planned"] != true)
    {
        match e["event"].as_str() {
            Some("command") => out.push(serde_json::json!({
                "host": e["host"], "argv": e["argv"], "finished": false, "code": null,
            })),
            Some("command_finished") => {
                let open = out.iter_mut().rev().find(|c| {
                    c["finished"] == false && c["host"] == e["host"] && c["argv"] == e["argv"]
                });
                if let Some(c) = open {
                    c["finished"] = true.into();
                    c["code"] = e["code"].clone();
                }
            }
            _ => {}
        }
    }
    out
}
