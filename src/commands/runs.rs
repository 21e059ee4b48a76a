//! `vzrun runs`: past runs from the journal, filtered, or one run in detail.

use std::path::Path;

use crate::exit;
use crate::run::journal::{self, RunSummary};
use crate::run::output::{format_table, OutputFormat};
use crate::session::RunError;

/// Which runs to show.
#[derive(Debug, Default)]
pub struct Filter {
    /// One run, in detail.
    pub run_id: Option<String>,
    /// The N most recent.
    pub last: Option<usize>,
    /// Runs of this runbook (name or path; `evacuate` matches `runbooks/evacuate.rhai`).
    pub runbook: Option<String>,
    /// Runs that did not end ok.
    pub failed: bool,
}

pub fn run(filter: &Filter, format: OutputFormat) -> i32 {
    if let Some(id) = &filter.run_id {
        return show(id, format);
    }
    let runs = match journal::list_runs() {
        Ok(r) => r,
        Err(e) => {
            return super::report(RunError::new(exit::FAILED, format!("{e:#}")));
        }
    };
    let mut runs: Vec<RunSummary> = runs
        .into_iter()
        .filter(|r| !filter.failed || r.status != "ok")
        .filter(|r| {
            filter
                .runbook
                .as_deref()
                .is_none_or(|name| runbook_matches(&r.runbook, name))
        })
        .collect();
    if let Some(n) = filter.last {
        let skip = runs.len().saturating_sub(n);
        runs.drain(..skip);
    }
    if format == OutputFormat::Json {
        for r in &runs {
            println!("{}", summary_json(r));
        }
        return exit::OK;
    }
    if runs.is_empty() {
        println!("no runs recorded in {}", journal::runs_dir().display());
        return exit::OK;
    }
    let columns = [
        "RUN",
        "STARTED",
        "RUNBOOK",
        "MODE",
        "STATUS",
        "CHANGES",
        "UNDO PENDING",
    ]
    .map(String::from);
    let rows: Vec<Vec<String>> = runs
        .into_iter()
        .map(|r| {
            vec![
                r.run_id,
                r.started,
                r.runbook,
                if r.plan { "plan" } else { "apply" }.to_string(),
                r.status,
                r.changes.to_string(),
                if r.pending_undos == 0 {
                    String::new()
                } else {
                    r.pending_undos.to_string()
                },
            ]
        })
        .collect();
    print!("{}", format_table(&columns, &rows));
    exit::OK
}

/// `evacuate` matches the runbook `runbooks/evacuate.rhai`, `./x/evacuate.rhai` and
/// `evacuate` itself; a path matches itself.
fn runbook_matches(recorded: &str, wanted: &str) -> bool {
    let stem = Path::new(recorded)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    recorded == wanted || stem == wanted
}

fn summary_json(r: &RunSummary) -> serde_json::Value {
    serde_json::json!({
        "run_id": r.run_id,
        "started": r.started,
        "runbook": r.runbook,
        "plan": r.plan,
        "status": r.status,
        "changes": r.changes,
        "pending_undos": r.pending_undos,
    })
}

/// One run: its summary, then each step, change and undo action in order.
fn show(id: &str, format: OutputFormat) -> i32 {
    let valid = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let path = journal::runs_dir().join(format!("{id}.jsonl"));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) if valid => t,
        _ => {
            eprintln!(
                "error: no run {id:?} in {} (`vzrun runs` lists them)",
                journal::runs_dir().display()
            );
            return exit::USAGE;
        }
    };
    let events: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let lines = detail_lines(&events);
    if format == OutputFormat::Json {
        let summary = journal::list_runs()
            .ok()
            .and_then(|runs| runs.into_iter().find(|r| r.run_id == id));
        let value = serde_json::json!({
            "run": summary.as_ref().map(summary_json),
            "events": events,
        });
        println!("{value}");
        return exit::OK;
    }
    for line in lines {
        println!("{line}");
    }
    exit::OK
}

/// What an operator wants to know of a run, one line per event that matters.
fn detail_lines(events: &[serde_json::Value]) -> Vec<String> {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let argv = |v: &serde_json::Value| {
        v.as_array()
            .map(|a| {
                let words: Vec<String> = a.iter().map(text).collect();
                crate::transport::cmd::shell_join(&words)
            })
            .unwrap_or_default()
    };
    let mut lines = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    let mut finished = false;
    for e in events {
        let ts = text(&e["ts"]);
        match e["event"].as_str().unwrap_or_default() {
            "run_started" => lines.push(format!(
                "run {}: {} {} (pid {}){}\n  args: {}",
                ts,
                text(&e["runbook"]),
                if e["plan"].as_bool() == Some(true) {
                    "plan"
                } else {
                    "apply"
                },
                e["pid"],
                e["resumed_from"]
                    .as_str()
                    .map(|r| format!(", resuming {r}"))
                    .unwrap_or_default(),
                e["args"]
            )),
            "step_started" => lines.push(format!("{ts} step: {}", text(&e["name"]))),
            "step_skipped" => lines.push(format!(
                "{ts} step: {} (skipped: done before)",
                text(&e["name"])
            )),
            "command_finished" if e["effect"] == "change" => lines.push(format!(
                "{ts} change on {}: {} (exit {})",
                text(&e["host"]),
                argv(&e["argv"]),
                e["code"]
            )),
            "file_edit" if e["planned"] != true => lines.push(format!(
                "{ts} edit on {}: {}",
                text(&e["host"]),
                text(&e["path"])
            )),
            "warning" => lines.push(format!("{ts} warning: {}", text(&e["message"]))),
            "deferred" => {
                let what = text(&e["what"]);
                if e["state"] == "registered" {
                    pending.push(what);
                } else {
                    if let Some(i) = pending.iter().position(|p| *p == what) {
                        pending.remove(i);
                    }
                    lines.push(format!("{ts} undo: {what}: {}", text(&e["state"])));
                }
            }
            "run_finished" => {
                finished = true;
                lines.push(format!(
                    "{ts} finished: {} (exit {}){}",
                    text(&e["status"]),
                    e["exit_code"],
                    e["error"]
                        .as_str()
                        .map(|m| format!("\n  error: {}", m.replace('\n', "\n  ")))
                        .unwrap_or_default()
                ));
            }
            _ => {}
        }
    }
    if !finished {
        lines.push("not finished: it crashed, was killed, or still runs".into());
    }
    for what in pending {
        lines.push(format!("undo pending: {what} (`vzrun abort` runs it)"));
    }
    lines
}
