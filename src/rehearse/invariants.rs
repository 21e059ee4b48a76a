//! What must hold after every rehearsed run, whatever the faults did: every VE exists
//! exactly once, no VE changed state unless the runbook says it may (`//! changes:`), no
//! lock is left, no undo is pending after `abort`, the journal explains every change seen
//! in the lab, and after a successful run the runbook's own `//! ensure:` conditions hold.
//!
//! The conditions are a small fixed vocabulary, read from the runbook header, so that
//! `vzrun check` rejects a misspelt one instead of a rehearsal silently checking nothing:
//!
//! - `no-ve-on {ARG}`: no VE is registered on the host named by argument ARG;
//! - `cs-gone {ARG}`: the chunk server ARG is no longer in the cluster;
//! - `cs-status-on {ARG} STATUS`: every CS of host ARG has this status (`maintenance`, ...);
//!
//! each optionally followed by `when {ARG} = VALUE` (only when that argument has that value).

use std::collections::BTreeMap;
use std::path::Path;

use crate::lab::LabState;

use crate::runbook::postcondition::Condition;
pub use crate::runbook::postcondition::Postcondition;

impl Postcondition {
    /// A violation, or `None` when it holds (or does not apply to these arguments).
    fn violation(&self, args: &BTreeMap<String, String>, end: &LabState) -> Option<String> {
        let arg = |name: &str| args.get(name).cloned().unwrap_or_default();
        if let Some((name, value)) = &self.when {
            if arg(name) != *value {
                return None;
            }
        }
        match &self.condition {
            Condition::NoVeOn(name) => {
                let host = arg(name);
                let left: Vec<&str> = end
                    .ves
                    .iter()
                    .filter(|v| v.host.as_deref() == Some(host.as_str()))
                    .map(|v| v.name.as_str())
                    .collect();
                (!left.is_empty())
                    .then(|| format!("ensure no-ve-on {host}: still there: {}", left.join(", ")))
            }
            Condition::CsGone(name) => {
                let id = arg(name);
                end.css
                    .iter()
                    .any(|c| c.id.to_string() == id)
                    .then(|| format!("ensure cs-gone {id}: CS#{id} is still in the cluster"))
            }
            Condition::CsStatusOn(name, status) => {
                let host = arg(name);
                let wrong: Vec<String> = end
                    .css
                    .iter()
                    .filter(|c| c.host == host && c.status != *status)
                    .map(|c| format!("CS#{} is {}", c.id, c.status))
                    .collect();
                (!wrong.is_empty())
                    .then(|| format!("ensure cs-status-on {host} {status}: {}", wrong.join(", ")))
            }
        }
    }
}

/// Everything a check needs to know about one rehearsed run.
pub struct RunRecord<'a> {
    pub start: &'a LabState,
    pub end: &'a LabState,
    /// The runbook's arguments, by name, as text.
    pub args: &'a BTreeMap<String, String>,
    pub ensures: &'a [Postcondition],
    pub changes: &'a [String],
    /// The last process of the run (the runbook, or its `resume`) exited 0.
    pub succeeded: bool,
    /// The run was aborted (`vzrun abort`) after a kill.
    pub aborted: bool,
    /// The journal directory of the run (`VZRUN_STATE_DIR`).
    pub state_dir: &'a Path,
}

/// Every invariant the run broke, in words.
pub fn check(run: &RunRecord) -> Vec<String> {
    let mut broken = Vec::new();
    let may = |what: &str| run.changes.iter().any(|c| c == what);
    // Every VE exists exactly once, registered on one host.
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for ve in &run.end.ves {
        *seen.entry(ve.name.as_str()).or_default() += 1;
        if ve.host.is_none() {
            broken.push(format!("{} is registered on no host", ve.name));
        }
    }
    for (name, count) in &seen {
        if *count > 1 {
            broken.push(format!("{name} exists {count} times"));
        }
    }
    if !may("ve-set") {
        for ve in &run.start.ves {
            if !seen.contains_key(ve.name.as_str()) {
                broken.push(format!("{} was lost", ve.name));
            }
        }
        for ve in &run.end.ves {
            if !run.start.ves.iter().any(|v| v.name == ve.name) {
                broken.push(format!(
                    "{} appeared (the runbook declares no `changes: ve-set`)",
                    ve.name
                ));
            }
        }
    }
    // No VE changed state unless the runbook says so.
    if !may("ve-state") {
        for before in &run.start.ves {
            if let Some(after) = run.end.ves.iter().find(|v| v.name == before.name) {
                if after.status != before.status {
                    broken.push(format!(
                        "{} was {} and is {} (the runbook declares no `changes: ve-state`)",
                        before.name, before.status, after.status
                    ));
                }
            }
        }
    }
    broken.extend(network_problems(run));
    broken.extend(held_locks(run.state_dir));
    broken.extend(journal_problems(run));
    if run.succeeded {
        for ensure in run.ensures {
            broken.extend(ensure.violation(run.args, run.end));
        }
    }
    broken
}

/// No node is left cut off (its address, or its storage network's, gone) unless a rollback
/// armed on it is still to fire and bring it back; a run that succeeded left none armed.
fn network_problems(run: &RunRecord) -> Vec<String> {
    let mut problems = Vec::new();
    for h in &run.end.hosts {
        let armed = h.ops.timers.iter().any(|t| !t.elapsed);
        if !armed && h.ops.cut_off {
            problems.push(format!(
                "{} is cut off (its address is gone) and no rollback will bring it back",
                h.name
            ));
        }
        if !armed && h.ops.storage_lost_at.is_some() {
            problems.push(format!(
                "{} is cut off from the storage network and no rollback will bring it back",
                h.name
            ));
        }
        if armed && run.succeeded {
            problems.push(format!(
                "the run succeeded but left a rollback armed on {}",
                h.name
            ));
        }
    }
    problems
}

/// Locks still held once every process of the run has exited (a lock is an flock: one
/// still held means a process of the run outlived it).
fn held_locks(state_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(state_dir.join("locks")) else {
        return Vec::new();
    };
    let mut held = Vec::new();
    for entry in entries.flatten() {
        let Ok(file) = std::fs::File::open(entry.path()) else {
            continue;
        };
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor we own, released when the file is closed.
        let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if !free {
            held.push(format!("lock {} is still held", entry.path().display()));
        }
    }
    held
}

/// The journal against the lab: every VE that moved, was started or stopped, and every CS
/// that left, is named by a change the journals recorded; after `abort`, no undo is pending.
fn journal_problems(run: &RunRecord) -> Vec<String> {
    let runs_dir = run.state_dir.join("runs");
    let mut changes = String::new();
    if let Ok(entries) = std::fs::read_dir(&runs_dir) {
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            for line in text.lines() {
                let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                if value["effect"] == "change" || value["event"] == "file_edit" {
                    changes.push_str(&value.to_string());
                    changes.push('\n');
                }
            }
        }
    }
    let mut problems = Vec::new();
    for before in &run.start.ves {
        let Some(after) = run.end.ves.iter().find(|v| v.name == before.name) else {
            continue;
        };
        let named = changes.contains(&before.name) || changes.contains(&before.uuid);
        if (after.host != before.host || after.status != before.status) && !named {
            problems.push(format!(
                "{} changed ({:?} {} → {:?} {}) and no journaled change names it",
                before.name, before.host, before.status, after.host, after.status
            ));
        }
    }
    for cs in &run.start.css {
        if !run.end.css.iter().any(|c| c.id == cs.id) && !changes.contains(&cs.id.to_string()) {
            problems.push(format!(
                "CS#{} left the cluster and no journaled change names it",
                cs.id
            ));
        }
    }
    if run.aborted {
        for summary in crate::run::journal::list_runs_in(&runs_dir).unwrap_or_default() {
            if summary.pending_undos > 0 {
                problems.push(format!(
                    "run {} still has {} undo action(s) pending after abort",
                    summary.run_id, summary.pending_undos
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> LabState {
        crate::lab::load(crate::lab::DEFAULT_SCENARIO, "default").unwrap()
    }

    fn broken(start: &LabState, end: &LabState, changes: &[String]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        check(&RunRecord {
            start,
            end,
            args: &BTreeMap::new(),
            ensures: &[],
            changes,
            succeeded: true,
            aborted: false,
            state_dir: dir.path(),
        })
    }

    #[test]
    fn a_node_left_cut_off_with_no_rollback_to_come_is_named() {
        let start = lab();
        let mut end = start.clone();
        end.hosts[0].ops.storage_lost_at = Some(0.0);
        end.hosts[1].ops.cut_off = true;
        let b = broken(&start, &end, &[]);
        assert!(
            b.iter().any(|p| p
                == "msk-01 is cut off from the storage network and no rollback will bring it back"),
            "{b:?}"
        );
        assert!(
            b.iter().any(|p| p
                == "msk-02 is cut off (its address is gone) and no rollback will bring it back"),
            "{b:?}"
        );
        // A rollback still to fire brings them back; a run that succeeded leaves none armed.
        for host in ["msk-01", "msk-02"] {
            let argv: Vec<String> = [
                "systemd-run",
                "--unit=vzrun-rollback-0a",
                "--on-active=60",
                "true",
            ]
            .map(String::from)
            .to_vec();
            assert_eq!(crate::lab::dispatch(&mut end, host, &argv).unwrap().code, 0);
        }
        let b = broken(&start, &end, &[]);
        assert!(!b.iter().any(|p| p.contains("cut off")), "{b:?}");
        assert!(
            b.iter()
                .any(|p| p == "the run succeeded but left a rollback armed on msk-01"),
            "{b:?}"
        );
    }

    #[test]
    fn a_lost_a_doubled_or_a_stopped_ve_is_named_and_the_journal_must_explain_it() {
        let start = lab();
        assert_eq!(broken(&start, &start, &[]), Vec::<String>::new());
        let mut end = start.clone();
        let lost = end.ves.remove(0);
        end.ves.push(end.ves[0].clone());
        let stopped = end.ves.iter_mut().find(|v| v.status == "running").unwrap();
        stopped.status = "stopped".into();
        let stopped = stopped.name.clone();
        let found = broken(&start, &end, &[]).join("\n");
        assert!(
            found.contains(&format!("{} was lost", lost.name)),
            "{found}"
        );
        assert!(found.contains("exists 2 times"), "{found}");
        assert!(
            found.contains(&format!("{stopped} was running and is stopped")),
            "{found}"
        );
        assert!(found.contains("no journaled change names it"), "{found}");
        // A runbook that declares it may change VE states is held to the rest only.
        let declared = broken(&start, &end, &["ve-state".to_string()]).join("\n");
        assert!(!declared.contains("is stopped (the runbook"), "{declared}");
    }

    #[test]
    fn conditions_parse_and_misspellings_are_refused() {
        assert!(Postcondition::parse("no-ve-on {node}").is_ok());
        assert!(Postcondition::parse("no-ve-on {node} when {action} = on").is_ok());
        assert!(Postcondition::parse("cs-status-on {node} maintenance when {state} = on").is_ok());
        assert!(Postcondition::parse("no-ves-on {node}").is_err());
        assert!(Postcondition::parse("no-ve-on node").is_err());
        assert!(Postcondition::parse("cs-gone {cs} when {x}").is_err());
    }
}
