//! Which runs keep a journal, and for how long.
//!
//! The journal answers "what did vzrun change, and can this run be resumed or undone". A run
//! that changed nothing and ended well has nothing to answer for, yet monitoring runs one a
//! minute: so such a run leaves no file. Its events are held in memory and written out only
//! when it makes its first change (before the command runs, so a crash mid-change is
//! recorded), registers an undo, or ends badly. `VZRUN_JOURNAL=all` journals every run.
//!
//! Journals are pruned when a new one is written: older than `VZRUN_JOURNAL_KEEP_DAYS` (30)
//! or beyond the newest `VZRUN_JOURNAL_KEEP_RUNS` (1000); 0 turns a limit off. A run with
//! undo actions that never ran is kept whatever its age: `vzrun abort` needs it.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::run::event::Event;
use crate::transport::cmd::Effect;

pub const DEFAULT_KEEP_DAYS: u64 = 30;
pub const DEFAULT_KEEP_RUNS: usize = 1000;

/// True when every run is journaled (`VZRUN_JOURNAL=all`), not only those that change
/// (`VZRUN_JOURNAL=changes`, the default). Another value warns and keeps the default.
pub fn journal_every_run() -> bool {
    match std::env::var("VZRUN_JOURNAL").as_deref() {
        Ok("all") => true,
        Ok("changes") | Err(_) => false,
        Ok(other) => {
            eprintln!(
                "warning: VZRUN_JOURNAL={other:?} is not `all` or `changes`; using `changes`"
            );
            false
        }
    }
}

/// Whether this event means the run must be on disk from now on.
pub fn needs_journal(event: &Event) -> bool {
    match event {
        Event::Command {
            effect: Effect::Change,
            planned: false,
            ..
        } => true,
        Event::FileEdit { planned: false, .. } => true,
        Event::Deferred { .. } => true,
        Event::RunFinished { status, .. } => status != "ok",
        _ => false,
    }
}

/// The retention limits in force, from the environment (a bad value warns and uses the default).
pub fn limits() -> (Option<Duration>, Option<usize>) {
    limits_from(|var| std::env::var(var).ok())
}

/// The retention limits given by `var` (the environment's value of a variable, if set).
fn limits_from(var: impl Fn(&str) -> Option<String>) -> (Option<Duration>, Option<usize>) {
    let days = number("VZRUN_JOURNAL_KEEP_DAYS", &var, DEFAULT_KEEP_DAYS);
    let runs = number("VZRUN_JOURNAL_KEEP_RUNS", &var, DEFAULT_KEEP_RUNS as u64);
    (
        (days > 0).then(|| Duration::from_secs(days * 86_400)),
        (runs > 0).then_some(runs as usize),
    )
}

/// The number in the variable `name`, else `default` (a bad value warns).
fn number(name: &str, var: impl Fn(&str) -> Option<String>, default: u64) -> u64 {
    match var(name) {
        None => default,
        Some(text) => text.trim().parse().unwrap_or_else(|_| {
            eprintln!("warning: {name}={text:?} is not a number; using {default}");
            default
        }),
    }
}

/// A journaled run as pruning sees it: its id and how many undo actions it left pending.
pub struct Kept<'a> {
    pub run_id: &'a str,
    pub pending_undos: usize,
}

/// Deletes the journals of `runs` (the runs journaled in `dir`, oldest first) past the
/// limits, sparing `current` and runs with pending undo actions. Returns how many were
/// deleted. Best effort: a journal that cannot be deleted stays.
pub fn prune(
    dir: &Path,
    current: &Path,
    runs: &[Kept],
    max_age: Option<Duration>,
    max_runs: Option<usize>,
) -> usize {
    let now = SystemTime::now();
    let total = runs.len();
    let mut deleted = 0;
    for (i, run) in runs.iter().enumerate() {
        let path = dir.join(format!("{}.jsonl", run.run_id));
        if path == current || run.pending_undos > 0 {
            continue;
        }
        // Runs are oldest first: the first `total - max_runs` are beyond the count.
        let beyond_count = max_runs.is_some_and(|keep| i < total.saturating_sub(keep));
        let too_old = max_age.is_some_and(|age| {
            std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|modified| now.duration_since(modified).unwrap_or_default() > age)
        });
        if (beyond_count || too_old) && std::fs::remove_file(&path).is_ok() {
            deleted += 1;
        }
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_runs_that_end_well_need_no_journal() {
        let read = Event::Command {
            host: "h".into(),
            argv: vec!["prlctl".into()],
            effect: Effect::Read,
            planned: false,
        };
        assert!(!needs_journal(&read));
        let planned = Event::Command {
            host: "h".into(),
            argv: vec!["prlctl".into()],
            effect: Effect::Change,
            planned: true,
        };
        assert!(!needs_journal(&planned));
        let ok = Event::RunFinished {
            status: "ok".into(),
            exit_code: 0,
            error: None,
            seconds: 0.1,
        };
        assert!(!needs_journal(&ok));
        let failed = Event::RunFinished {
            status: "failed".into(),
            exit_code: 1,
            error: Some("x".into()),
            seconds: 0.1,
        };
        assert!(needs_journal(&failed));
    }

    fn edit(planned: bool) -> Event {
        Event::FileEdit {
            host: "h".into(),
            path: "/etc/motd".into(),
            diff: "-old\n+new\n".into(),
            planned,
        }
    }

    /// A file written and an undo registered each put the run on disk, even when no command
    /// changed anything; a planned edit does not, nor a probe's end.
    #[test]
    fn a_written_file_or_a_registered_undo_needs_a_journal() {
        assert!(needs_journal(&edit(false)));
        assert!(!needs_journal(&edit(true)));
        let undo = Event::Deferred {
            what: "uncordon n1".into(),
            state: "registered".into(),
            function: None,
            args: None,
        };
        assert!(needs_journal(&undo));
        let change = Event::Command {
            host: "h".into(),
            argv: vec!["touch".into(), "x".into()],
            effect: Effect::Change,
            planned: false,
        };
        assert!(needs_journal(&change));
        let finished_read = Event::CommandFinished {
            host: "h".into(),
            argv: vec!["true".into()],
            effect: Effect::Read,
            code: 0,
            millis: 1,
        };
        assert!(!needs_journal(&finished_read));
    }

    fn limits_with(vars: &[(&str, &str)]) -> (Option<Duration>, Option<usize>) {
        limits_from(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn retention_limits_come_from_the_environment_and_0_turns_one_off() {
        const DAY: u64 = 86_400;
        assert_eq!(
            limits_with(&[]),
            (Some(Duration::from_secs(30 * DAY)), Some(1000))
        );
        assert_eq!(
            limits_with(&[
                ("VZRUN_JOURNAL_KEEP_DAYS", " 7 "),
                ("VZRUN_JOURNAL_KEEP_RUNS", "3")
            ]),
            (Some(Duration::from_secs(7 * DAY)), Some(3))
        );
        assert_eq!(
            limits_with(&[
                ("VZRUN_JOURNAL_KEEP_DAYS", "1"),
                ("VZRUN_JOURNAL_KEEP_RUNS", "1")
            ]),
            (Some(Duration::from_secs(DAY)), Some(1))
        );
        assert_eq!(
            limits_with(&[
                ("VZRUN_JOURNAL_KEEP_DAYS", "0"),
                ("VZRUN_JOURNAL_KEEP_RUNS", "0")
            ]),
            (None, None)
        );
        // A bad value warns and keeps the default.
        assert_eq!(
            limits_with(&[
                ("VZRUN_JOURNAL_KEEP_DAYS", "a week"),
                ("VZRUN_JOURNAL_KEEP_RUNS", "-1")
            ]),
            (Some(Duration::from_secs(30 * DAY)), Some(1000))
        );
    }
}
