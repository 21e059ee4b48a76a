//! `vzrun resume RUN_ID`: run the same runbook, with the same arguments, again, skipping the
//! steps that completed in that run.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::cli::GlobalOpts;
use crate::exit;
use crate::journal;
use crate::runbook;

use super::run::{execute, location, Job, Resume};

/// JSON → Rhai, keeping integers integers.
fn to_dynamic(value: &serde_json::Value) -> rhai::Dynamic {
    use serde_json::Value;
    match value {
        Value::Null => rhai::Dynamic::UNIT,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => n
            .as_i64()
            .map(rhai::Dynamic::from)
            .unwrap_or_else(|| n.as_f64().unwrap_or_default().into()),
        Value::String(s) => s.clone().into(),
        other => other.to_string().into(),
    }
}

/// Undo actions a run registered but never ran (it crashed before its end).
pub fn pending_undos(events: &[serde_json::Value]) -> Vec<String> {
    let mut pending: Vec<String> = Vec::new();
    for e in events.iter().filter(|e| e["event"] == "deferred") {
        let what = e["what"].as_str().unwrap_or_default().to_string();
        if e["state"] == "registered" {
            pending.push(what);
        } else if let Some(i) = pending.iter().position(|p| *p == what) {
            pending.remove(i);
        }
    }
    pending
}

pub fn run(run_id: &str, global: &GlobalOpts, interrupted: Arc<AtomicBool>) -> i32 {
    let valid = !run_id.is_empty()
        && run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid {
        eprintln!("error: invalid run id {run_id:?}; `vzrun runs` lists them");
        return exit::USAGE;
    }
    let path = journal::runs_dir().join(format!("{run_id}.jsonl"));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(_) => {
            eprintln!(
                "error: no run {run_id} in {}; `vzrun runs` lists them",
                journal::runs_dir().display()
            );
            return exit::USAGE;
        }
    };
    let events: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let Some(start) = events.iter().find(|e| e["event"] == "run_started") else {
        eprintln!("error: the journal of {run_id} has no start record");
        return exit::FAILED;
    };
    if start["plan"].as_bool() == Some(true) {
        eprintln!("error: {run_id} was a plan; there is nothing to resume");
        return exit::USAGE;
    }
    if let Some(end) = events.iter().find(|e| e["event"] == "run_finished") {
        if end["status"] == "ok" {
            println!("{run_id} finished ok; there is nothing to resume");
            return exit::OK;
        }
    }
    let place = start["location"].as_str().unwrap_or_default();
    let found = match place.strip_prefix("builtin:") {
        Some(name) => runbook::find(name),
        None => runbook::from_path(Path::new(place)),
    };
    let runbook = match found {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot find the runbook of {run_id}: {e}");
            return exit::FAILED;
        }
    };
    if Some(runbook.sha256().as_str()) != start["runbook_sha256"].as_str() {
        eprintln!(
            "error: {} changed since run {run_id}; resuming would mix two versions, so run it anew",
            runbook.display_path
        );
        return exit::REFUSED;
    }
    let header = match runbook.header() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILED;
        }
    };
    let pending = pending_undos(&events);
    if !pending.is_empty() {
        eprintln!("warning: {run_id} ended before these undo actions ran; the runbook registers them again as it runs:");
        for what in &pending {
            eprintln!("  - {what}");
        }
    }
    let mut completed_steps: HashMap<String, usize> = HashMap::new();
    for e in events
        .iter()
        .filter(|e| e["event"] == "step_finished" && e["ok"] == true)
    {
        if let Some(name) = e["name"].as_str() {
            *completed_steps.entry(name.to_string()).or_default() += 1;
        }
    }
    let args_json = start["args"].clone();
    let args: rhai::Map = args_json
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
                .collect()
        })
        .unwrap_or_default();
    eprintln!(
        "resuming {run_id} ({}): {} completed step(s) will be skipped",
        location(&runbook),
        completed_steps.values().sum::<usize>()
    );
    let mut global = global.clone();
    // The resumed run was confirmed when it started.
    global.yes = global.yes || header.destructive;
    execute(
        Job {
            runbook,
            header,
            args,
            args_json,
            global,
            plan: false,
            resume: Some(Resume {
                from: run_id.to_string(),
                completed_steps,
            }),
        },
        interrupted,
    )
}
