//! `vzrun abort RUN_ID`: run the undo actions a crashed run registered (with
//! `defer(what, "function", [args])`) and never ran, by calling those functions of its
//! runbook with the journaled arguments. Nothing else of the runbook runs.

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::cli::GlobalOpts;
use crate::exit;
use crate::run::event::{Envelope, Event};
use crate::session::RunError;

use crate::session::execute::{execute, Job, UndoCall};
use crate::session::past::{load, options_for_past_target, to_dynamic};

pub fn run(run_id: &str, global: &GlobalOpts, interrupted: Arc<AtomicBool>) -> i32 {
    let past = match load(run_id) {
        Ok(r) => r,
        Err(e) => return super::report(e),
    };
    let global = &match options_for_past_target(run_id, &past, global) {
        Ok(g) => g,
        Err(e) => return super::report(e),
    };
    let pending = past.pending_undos();
    if pending.is_empty() {
        eprintln!("{run_id} left no undo action pending: nothing to do");
        return exit::OK;
    }
    let (callable, by_hand): (Vec<_>, Vec<_>) =
        pending.into_iter().partition(|p| p["function"].is_string());
    for p in &by_hand {
        eprintln!(
            "warning: {run_id} registered {:?} as a closure, which cannot run after a crash: do it by hand",
            p["what"].as_str().unwrap_or_default()
        );
    }
    if callable.is_empty() {
        return exit::FAILED;
    }
    let undo: Vec<UndoCall> = callable
        .iter()
        .map(|p| UndoCall {
            what: p["what"].as_str().unwrap_or_default().to_string(),
            function: p["function"].as_str().unwrap_or_default().to_string(),
            args: p["args"]
                .as_array()
                .map(|a| a.iter().map(to_dynamic).collect())
                .unwrap_or_default(),
        })
        .collect();
    let header = match past.runbook.header() {
        Ok(h) => h,
        Err(e) => {
            return super::report(RunError::new(exit::FAILED, e.to_string()));
        }
    };
    let whats: Vec<String> = undo.iter().map(|u| u.what.clone()).collect();
    eprintln!("aborting {run_id}: running {} undo action(s)", undo.len());
    let code = execute(
        Job {
            runbook: past.runbook,
            header,
            args: rhai::Map::new(),
            args_json: serde_json::json!({"aborts": run_id}),
            global: global.clone(),
            plan: false,
            resume: None,
            undo,
            embedding: Default::default(),
        },
        interrupted,
    );
    if code == exit::OK {
        // Mark them done in the crashed run's journal, so `vzrun runs` shows none pending.
        if let Ok(mut file) = std::fs::OpenOptions::new().append(true).open(&past.path) {
            for what in whats {
                let event = Event::Deferred {
                    what,
                    state: "done by vzrun abort".into(),
                    function: None,
                    args: None,
                };
                let _ = writeln!(
                    file,
                    "{}",
                    serde_json::to_string(&Envelope::now(&event)).expect("serializes")
                );
            }
        }
    }
    code
}
