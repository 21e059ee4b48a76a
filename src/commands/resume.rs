//! `vzrun resume RUN_ID`: run the same runbook, with the same arguments, again, skipping the
//! steps that completed in that run.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::cli::GlobalOpts;
use crate::exit;
use crate::journal;
use crate::runbook::{self, Runbook};

use super::run::{execute, location, Job, Resume};

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

    /// Registrations of undo actions that never ran (their journal entries).
    pub fn pending_undos(&self) -> Vec<serde_json::Value> {
        let mut pending: Vec<serde_json::Value> = Vec::new();
        for e in self.events.iter().filter(|e| e["event"] == "deferred") {
            if e["state"] == "registered" {
                pending.push(e.clone());
            } else if let Some(i) = pending.iter().position(|p| p["what"] == e["what"]) {
                pending.remove(i);
            }
        }
        pending
    }
}

/// Loads run `run_id`'s journal and finds its runbook; refuses when the runbook changed.
pub fn load(run_id: &str) -> Result<PastRun, i32> {
    let valid = !run_id.is_empty()
        && run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid {
        eprintln!("error: invalid run id {run_id:?}; `vzrun runs` lists them");
        return Err(exit::USAGE);
    }
    let path = journal::runs_dir().join(format!("{run_id}.jsonl"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "error: no run {run_id} in {}; `vzrun runs` lists them",
            journal::runs_dir().display()
        );
        return Err(exit::USAGE);
    };
    let events: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let Some(start) = events.iter().find(|e| e["event"] == "run_started").cloned() else {
        eprintln!("error: the journal of {run_id} has no start record");
        return Err(exit::FAILED);
    };
    let place = start["location"].as_str().unwrap_or_default();
    let found = match place.strip_prefix("builtin:") {
        Some(name) => runbook::find(name),
        None => runbook::from_path(Path::new(place)),
    };
    let runbook = match found {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot find the runbook of {run_id}: {e}");
            return Err(exit::FAILED);
        }
    };
    if Some(runbook.sha256().as_str()) != start["runbook_sha256"].as_str() {
        eprintln!(
            "error: {} changed since run {run_id}; it would mix two versions, so run it anew",
            runbook.display_path
        );
        return Err(exit::REFUSED);
    }
    Ok(PastRun {
        path,
        events,
        start,
        runbook,
    })
}

pub fn run(run_id: &str, global: &GlobalOpts, interrupted: Arc<AtomicBool>) -> i32 {
    let past = match load(run_id) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if past.start["plan"].as_bool() == Some(true) {
        eprintln!("error: {run_id} was a plan; there is nothing to resume");
        return exit::USAGE;
    }
    if past.finished().is_some_and(|end| end["status"] == "ok") {
        println!("{run_id} finished ok; there is nothing to resume");
        return exit::OK;
    }
    let header = match past.runbook.header() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILED;
        }
    };
    let pending = past.pending_undos();
    if !pending.is_empty() {
        eprintln!("warning: {run_id} ended before these undo actions ran; the runbook registers them again as it runs (or `vzrun abort {run_id}` runs them):");
        for p in &pending {
            eprintln!("  - {}", p["what"].as_str().unwrap_or_default());
        }
    }
    let mut completed_steps: HashMap<String, usize> = HashMap::new();
    for e in past
        .events
        .iter()
        .filter(|e| e["event"] == "step_finished" && e["ok"] == true)
    {
        if let Some(name) = e["name"].as_str() {
            *completed_steps.entry(name.to_string()).or_default() += 1;
        }
    }
    let args_json = past.start["args"].clone();
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
        location(&past.runbook),
        completed_steps.values().sum::<usize>()
    );
    let mut global = global.clone();
    // The resumed run was confirmed when it started.
    global.yes = global.yes || header.destructive;
    execute(
        Job {
            runbook: past.runbook,
            header,
            args,
            args_json,
            global,
            plan: false,
            resume: Some(Resume {
                from: run_id.to_string(),
                completed_steps,
            }),
            undo: Vec::new(),
        },
        interrupted,
    )
}
