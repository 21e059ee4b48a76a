//! `vzrun resume RUN_ID`: run the same runbook, with the same arguments, again, skipping the
//! steps that completed in that run.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::cli::GlobalOpts;
use crate::exit;
use crate::run::event::{Envelope, Event};
use crate::session::RunError;

use crate::session::execute::{execute, location, Job, Resume};
use crate::session::past::{load, options_for_past_target, to_dynamic};

pub fn run(run_id: &str, global: &GlobalOpts, interrupted: Arc<AtomicBool>) -> i32 {
    let past = match load(run_id) {
        Ok(r) => r,
        Err(e) => return super::report(e),
    };
    if let Err(e) = past.refuse_if_abort(run_id) {
        return super::report(e);
    }
    if past.start["plan"].as_bool() == Some(true) {
        return super::report(RunError::new(
            exit::USAGE,
            format!("{run_id} was a plan; there is nothing to resume"),
        ));
    }
    if past.finished().is_some_and(|end| end["status"] == "ok") {
        eprintln!("{run_id} finished ok; there is nothing to resume");
        return exit::OK;
    }
    let header = match past.runbook.header() {
        Ok(h) => h,
        Err(e) => {
            return super::report(RunError::new(exit::FAILED, e.to_string()));
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
    let mut global = match options_for_past_target(run_id, &past, global) {
        Ok(g) => g,
        Err(e) => return super::report(e),
    };
    // A run that was confirmed keeps its confirmation; one that was not asks again. Any
    // runbook may ask (evacuate asks through the stdlib without being `destructive`).
    let confirmed = past.events.iter().any(|e| e["event"] == "confirmed");
    global.yes = global.yes || confirmed;
    let path = past.path.clone();
    let start = past.start.clone();
    // What the runs this one finishes changed, oldest first: an undo action at its end tells
    // by it the state they left a VE in from one an operator put it in since
    // (`cut_short_changes()`, which adds this run's own).
    let mut chain: Vec<std::path::PathBuf> = super::abort::earlier_pending(&start)
        .into_iter()
        .rev()
        .map(|(_, p, _)| p)
        .collect();
    chain.push(path.clone());
    let cut_short: Vec<serde_json::Value> = chain
        .iter()
        .flat_map(|p| crate::session::past::changes_in(p))
        .collect();
    let code = execute(
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
            cut_short: Some(cut_short),
            embedding: Default::default(),
        },
        interrupted,
    );
    if code == exit::OK {
        settle(&path, &pending);
        settle_earlier(&start);
    }
    code
}

/// The runs a chain of resumes goes back through (this run resumed one that resumed
/// another, each cut short): the resume that finished finished them all, so each is settled
/// too. A journal gone (pruned) or unreadable ends the chain.
fn settle_earlier(start: &serde_json::Value) {
    let mut next = start["resumed_from"].as_str().map(str::to_string);
    let mut seen = std::collections::HashSet::new();
    while let Some(id) = next.take() {
        if !seen.insert(id.clone()) {
            break;
        }
        let path = crate::run::journal::runs_dir().join(format!("{id}.jsonl"));
        let Ok(text) = std::fs::read_to_string(&path) else {
            break;
        };
        let events: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        settle(&path, &crate::session::past::pending_in(&events));
        next = events
            .iter()
            .find(|e| e["event"] == "run_started")
            .and_then(|e| e["resumed_from"].as_str())
            .map(str::to_string);
    }
}

/// Journaled in a cut-short run once a resume of it finished ok.
pub const FINISHED_BY_RESUME: &str = "finished by a resumed run";

/// The resumed run got to its end: the undo actions the cut-short run left pending are
/// settled in its journal (the resumed run registered its own and dealt with them), so a
/// later `vzrun abort` of it does not take back a finished run's work.
fn settle(path: &std::path::Path, pending: &[serde_json::Value]) {
    use std::io::Write;
    let Ok(mut file) = std::fs::OpenOptions::new().append(true).open(path) else {
        return;
    };
    let settled = pending.iter().map(|p| Event::Deferred {
        what: p["what"].as_str().unwrap_or_default().to_string(),
        state: "settled by a resumed run that finished ok".into(),
        function: None,
        args: None,
    });
    // Also for a run with no undo pending: `vzrun abort` of it then says it was finished.
    let finished = Event::Log {
        message: FINISHED_BY_RESUME.into(),
        data: false,
    };
    for event in settled.chain(std::iter::once(finished)) {
        let _ = writeln!(
            file,
            "{}",
            serde_json::to_string(&Envelope::now(&event)).expect("serializes")
        );
    }
}
