//! `vzrun abort RUN_ID`: run the undo actions a crashed run registered (with
//! `defer(what, "function", [args])`) and never ran, by calling those functions of its
//! runbook with the journaled arguments. Nothing else of the runbook runs. A chain of
//! resumes cut short is taken back whole, from its first run or its last.

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::cli::GlobalOpts;
use crate::exit;
use crate::run::event::{Envelope, Event};
use crate::session::RunError;

use crate::session::execute::{execute, Job, UndoCall};
use crate::session::past::{changes_in, load, options_for_past_target, to_dynamic};

pub fn run(run_id: &str, global: &GlobalOpts, interrupted: Arc<AtomicBool>) -> i32 {
    let past = match load(run_id) {
        Ok(r) => r,
        Err(e) => return super::report(e),
    };
    if let Err(e) = past.refuse_if_abort(run_id) {
        return super::report(e);
    }
    let global = &match options_for_past_target(run_id, &past, global) {
        Ok(g) => g,
        Err(e) => return super::report(e),
    };
    // A resume cut short too: the runs it resumes may have left undo actions pending (the
    // cordon of a drain, taken by the first run): they are part of what is taken back.
    let earlier = earlier_pending(&past.start);
    // Each pending action with the journal it is marked done in: the oldest run's first,
    // as registered (they run last registered first).
    let mut pending: Vec<(std::path::PathBuf, serde_json::Value)> = Vec::new();
    for (id, path, undos) in earlier.iter().rev() {
        if !undos.is_empty() {
            eprintln!(
                "{run_id} resumes {id}, which left {} undo action(s) pending: they run too",
                undos.len()
            );
        }
        pending.extend(undos.iter().map(|u| (path.clone(), u.clone())));
    }
    pending.extend(
        past.pending_undos()
            .into_iter()
            .map(|u| (past.path.clone(), u)),
    );
    // Resumes of this run cut short too (a chain of them): their undo actions take back
    // what they changed on its behalf, so they run as well, newest last registered first
    // (as `vzrun abort` of the last resume runs this run's). One still running is refused.
    let later = match later_pending(run_id) {
        Ok(later) => later,
        Err(e) => return super::report(e),
    };
    for (id, path, undos) in &later {
        if !undos.is_empty() {
            eprintln!(
                "{id} resumed {run_id} and was cut short too, leaving {} undo action(s) pending: they run too",
                undos.len()
            );
        }
        pending.extend(undos.iter().map(|u| (path.clone(), u.clone())));
    }
    if pending.is_empty() {
        return nothing_pending(run_id, &past);
    }
    let (callable, by_hand): (Vec<_>, Vec<_>) = pending
        .into_iter()
        .partition(|(_, p)| p["function"].is_string());
    for (_, p) in &by_hand {
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
        .map(|(_, p)| UndoCall {
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
    let whats: Vec<(std::path::PathBuf, String)> = callable
        .iter()
        .map(|(path, p)| {
            (
                path.clone(),
                p["what"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    // What the runs taken back changed, oldest first: an undo action tells by it the state
    // they left a VE in from one an operator put it in since (`cut_short_changes()`).
    // Earlier aborts of the chain, cut short or failed, count too: a VE one of them started
    // again and someone stopped since is not started again.
    let mut journals: Vec<(String, std::path::PathBuf)> = earlier
        .iter()
        .chain(later.iter())
        .map(|(id, path, _)| (id.clone(), path.clone()))
        .collect();
    journals.push((run_id.to_string(), past.path.clone()));
    let chain: Vec<String> = journals.iter().map(|(id, _)| id.clone()).collect();
    journals.extend(aborts_of(&chain));
    // Oldest first: by when each started, not by run id (an abort started within the
    // second its run started may have an id that sorts before the run's).
    oldest_first(&mut journals);
    let cut_short: Vec<serde_json::Value> =
        journals.iter().flat_map(|(_, p)| changes_in(p)).collect();
    let finished_ok = past.finished().is_some_and(|end| end["status"] == "ok");
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
            cut_short: Some(cut_short),
            embedding: Default::default(),
        },
        interrupted,
    );
    if code != exit::OK {
        // They stay pending in the cut-short run's journal: what is left is tried again.
        eprintln!("to try them again: vzrun abort {run_id}");
    }
    if code == exit::OK && !finished_ok {
        // What the undo actions leave changed (they say it) is finished by a resume.
        eprintln!(
            "to finish {run_id} instead (its completed steps are skipped): vzrun resume {run_id}"
        );
    }
    if code == exit::OK {
        // Mark them done in the journal of the run that registered each (the crashed run,
        // or one it resumes), so `vzrun runs` shows none pending.
        for (path, what) in whats {
            if let Ok(mut file) = std::fs::OpenOptions::new().append(true).open(&path) {
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

/// A run with no undo action pending: nothing to do when its undo actions already ran, when
/// it finished ok or when it changed nothing. Otherwise it changed the cluster and left
/// nothing that takes it back: those changes are named with the resume that finishes them,
/// and the abort fails (never "nothing to do" while the cluster is changed).
fn nothing_pending(run_id: &str, past: &crate::session::past::PastRun) -> i32 {
    let undone = past.events.iter().any(|e| {
        e["event"] == "deferred"
            && e["state"]
                .as_str()
                .is_some_and(|s| s == "done" || s.starts_with("done by"))
    });
    if undone {
        eprintln!("{run_id} left no undo action pending: its undo actions already ran (at its end or by vzrun abort); nothing to do");
        return exit::OK;
    }
    if past.finished().is_some_and(|end| end["status"] == "ok") {
        eprintln!("{run_id} finished ok and left no undo action pending: nothing to do");
        return exit::OK;
    }
    if past
        .events
        .iter()
        .any(|e| e["event"] == "log" && e["message"] == super::resume::FINISHED_BY_RESUME)
    {
        eprintln!(
            "{run_id} was finished by a resumed run and left no undo action pending: nothing to do"
        );
        return exit::OK;
    }
    let changes: Vec<String> = past
        .events
        .iter()
        .filter_map(|e| {
            let host = e["host"].as_str().unwrap_or_default();
            match e["event"].as_str() {
                Some("command") if e["effect"] == "change" && e["planned"] != true => {
                    let argv: Vec<&str> = e["argv"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                        .unwrap_or_default();
                    Some(format!("[{host}] {}", argv.join(" ")))
                }
                Some("file_edit") if e["planned"] != true => Some(format!(
                    "[{host}] edit {}",
                    e["path"].as_str().unwrap_or_default()
                )),
                _ => None,
            }
        })
        .collect();
    if changes.is_empty() {
        eprintln!("{run_id} left no undo action pending and changed nothing: nothing to do");
        return exit::OK;
    }
    eprintln!(
        "error: {run_id} did not finish, and registered no undo action for the {} change(s) it made; abort cannot take them back:\n  {}\nto finish it (its completed steps are skipped): vzrun resume {run_id}\nor take them back by hand",
        changes.len(),
        changes.join("\n  ")
    );
    exit::FAILED
}

/// The runs a resumed run (its journal's `start`) goes back through, nearest first, each with
/// its journal and the undo actions it left pending. A journal gone (pruned) or unreadable
/// ends the chain.
pub(crate) fn earlier_pending(
    start: &serde_json::Value,
) -> Vec<(String, std::path::PathBuf, Vec<serde_json::Value>)> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut next = start["resumed_from"].as_str().map(str::to_string);
    while let Some(id) = next.take() {
        if !seen.insert(id.clone()) {
            break;
        }
        let Ok(run) = crate::session::past::load(&id) else {
            break;
        };
        next = run.start["resumed_from"].as_str().map(str::to_string);
        let pending = run.pending_undos();
        out.push((id, run.path, pending));
    }
    out
}

/// The resumes of run `run_id` (and resumes of those: the chain after it), oldest first, each
/// with its journal and the undo actions it left pending. A resume still running is refused
/// (exit 4), as `vzrun abort` of it is; an abort run is not a resume.
fn later_pending(
    run_id: &str,
) -> Result<Vec<(String, std::path::PathBuf, Vec<serde_json::Value>)>, RunError> {
    let dir = crate::run::journal::runs_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    // Each journal's run id and the run it resumed.
    let mut resumes: Vec<(String, String)> = Vec::new();
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.extension().is_none_or(|x| x != "jsonl") {
            continue;
        }
        let Some(id) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let from = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["event"] == "run_started")
            .and_then(|e| e["resumed_from"].as_str().map(str::to_string));
        if let Some(from) = from {
            resumes.push((id, from));
        }
    }
    resumes.sort();
    let mut out = Vec::new();
    let mut chain = vec![run_id.to_string()];
    let mut seen: std::collections::HashSet<String> = chain.iter().cloned().collect();
    while let Some(current) = chain.pop() {
        for (id, from) in &resumes {
            if from != &current || !seen.insert(id.clone()) {
                continue;
            }
            // Nothing runs until every resume of the chain is read: its undo actions
            // are part of what this abort takes back.
            let run = crate::session::past::load(id).map_err(|e| {
                RunError::new(
                    e.code(),
                    format!("{id} resumed {run_id} (cut short too), and its undo actions cannot be run: {e}; nothing was changed"),
                )
            })?;
            out.push((id.clone(), run.path.clone(), run.pending_undos()));
            chain.push(id.clone());
        }
    }
    // Oldest first, by when each started (see `oldest_first`).
    out.sort_by_cached_key(|(id, path, _)| (started_at(path), id.clone()));
    Ok(out)
}

/// Sorts runs (id, journal) by when each started: a run id names the second a run started,
/// then a random salt, so two runs of one second sort by id in either order; the journal's
/// `run_started` record has the time to the millisecond. The id breaks a tie.
fn oldest_first(runs: &mut [(String, std::path::PathBuf)]) {
    runs.sort_by_cached_key(|(id, path)| (started_at(path), id.clone()));
}

/// When the run of a journal started (its `run_started` record's time); `None` (sorting
/// first) when the journal cannot be read or has none.
fn started_at(path: &std::path::Path) -> Option<std::time::SystemTime> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).ok()?;
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .find(|e| e["event"] == "run_started")
        .and_then(|e| humantime::parse_rfc3339(e["ts"].as_str()?).ok())
}

/// The journals of the aborts of any of the runs `ids` (their start's `args.aborts`), each
/// with its run id.
fn aborts_of(ids: &[String]) -> Vec<(String, std::path::PathBuf)> {
    let Ok(entries) = std::fs::read_dir(crate::run::journal::runs_dir()) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|x| x == "jsonl"))
        .filter_map(|path| {
            let id = path.file_stem()?.to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).ok()?;
            let start = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|e| e["event"] == "run_started")?;
            let aborts = start["args"]["aborts"].as_str()?;
            ids.iter().any(|i| i == aborts).then_some((id, path))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_one_second_sort_by_when_they_started_not_by_their_salt() {
        let dir = tempfile::tempdir().unwrap();
        let journal = |id: &str, ts: &str| {
            let path = dir.path().join(format!("{id}.jsonl"));
            std::fs::write(
                &path,
                format!(
                    "{{\"v\":1,\"ts\":\"{ts}\",\"event\":\"run_started\",\"run_id\":\"{id}\"}}\n"
                ),
            )
            .unwrap();
            (id.to_string(), path)
        };
        let run = journal("20261207-230500-ffff", "2026-12-07T23:05:00.100Z");
        let abort = journal("20261207-230500-0000", "2026-12-07T23:05:00.900Z");
        let later = journal("20261207-230501-0000", "2026-12-07T23:05:01.000Z");
        let mut runs = vec![later.clone(), abort.clone(), run.clone()];
        oldest_first(&mut runs);
        assert_eq!(runs, vec![run, abort, later]);
    }
}
