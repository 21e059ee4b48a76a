//! The journal: one JSON-lines file per run under the state directory.
//!
//! It records what the run was (runbook, its hash, args) and every Change with its result,
//! so an operator can answer "what did vzrun do on msk-07 last night" without shell history.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};

use crate::run::event::{Envelope, Event};
use crate::run::journal_policy::{prune, Kept};
use crate::transport::cmd::Effect;

pub use crate::state_dir::{ensure_state_dir, private_dir, state_dir};

pub fn runs_dir() -> PathBuf {
    state_dir().join("runs")
}

/// Whether a journaled `deferred` record says its undo action failed (`FAILED: why`).
pub fn undo_failed(event: &serde_json::Value) -> bool {
    event["state"]
        .as_str()
        .is_some_and(|s| s.starts_with("FAILED"))
}

/// A sortable, unique run id: `20261125-074512-3f2a`.
pub fn new_run_id() -> String {
    let dir = runs_dir();
    unused_run_id(SystemTime::now(), std::process::id(), |id| {
        dir.join(format!("{id}.jsonl")).exists()
    })
}

/// The id of a run started at `now` by process `pid`; `taken` says whether one is in use.
/// The salt mixes the clock and the whole pid (two processes at one instant differ); an id
/// whose journal exists (the run that `vzrun abort` or `resume`, started within the same
/// second, ends) is passed over for the next salt.
fn unused_run_id(now: SystemTime, pid: u32, taken: impl Fn(&str) -> bool) -> String {
    let stamp = humantime::format_rfc3339_seconds(now).to_string();
    let digits: String = stamp
        .chars()
        .filter(|c| c.is_ascii_digit())
        .take(14)
        .collect();
    let nanos = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let id = |salt: u32| format!("{}-{}-{salt:04x}", &digits[..8], &digits[8..]);
    let first = (nanos ^ pid ^ (pid >> 16)) & 0xffff;
    (0..0x10000)
        .map(|step| id((first + step) & 0xffff))
        .find(|candidate| !taken(candidate))
        // Every salt of that second in use: the journal's creation says so.
        .unwrap_or_else(|| id(first))
}

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// `None` until the run needs a journal (see `journal_policy`); lines wait in `pending`.
    file: Option<File>,
    pending: Vec<String>,
}

impl Journal {
    /// The journal of a new run, on disk at once.
    pub fn create(run_id: &str) -> Result<Journal> {
        let mut journal = Journal::deferred(run_id);
        journal.open()?;
        Ok(journal)
    }

    /// The journal of a new run, written only once the run changes something, registers an
    /// undo or fails (every run with `VZRUN_JOURNAL=all`).
    pub fn for_run(run_id: &str) -> Result<Journal> {
        if crate::run::journal_policy::journal_every_run() {
            Journal::create(run_id)
        } else {
            Ok(Journal::deferred(run_id))
        }
    }

    fn deferred(run_id: &str) -> Journal {
        Journal {
            path: runs_dir().join(format!("{run_id}.jsonl")),
            file: None,
            pending: Vec::new(),
        }
    }

    /// Creates the file (0600 in a 0700 directory), writes what waited, syncs it, takes the
    /// run's liveness lock on it, and prunes old journals.
    fn open(&mut self) -> Result<()> {
        let dir = runs_dir();
        ensure_state_dir()?;
        private_dir(&dir)?;
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .with_context(|| format!("cannot create the journal {}", self.path.display()))?;
        // Held for the run's life and freed by the kernel when the process ends however it
        // ends, so `resume` and `abort` can tell a live run from a dead one.
        // SAFETY: flock on a descriptor we own.
        unsafe {
            libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB);
        }
        let waiting: String = self.pending.drain(..).collect();
        file.write_all(waiting.as_bytes())
            .and_then(|()| file.sync_data())
            .with_context(|| format!("cannot write the journal {}", self.path.display()))?;
        // The directory entry must be durable too, or a crash could lose the whole journal.
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync the journal directory {}", dir.display()))?;
        self.file = Some(file);
        let (max_age, max_runs) = crate::run::journal_policy::limits();
        prune_dir(&dir, &self.path, max_age, max_runs);
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records the events worth keeping: everything but read-only probes and waits. Until
    /// the run needs a journal (a change, an undo, a failure) they wait in memory; from then
    /// on each record is on disk (fsynced) before the run goes on: resume and abort trust
    /// it. An error means the journal can no longer be trusted; the runner stops before the
    /// next change.
    pub fn record(&mut self, event: &Event) -> std::io::Result<()> {
        let keep = match event {
            Event::Command { effect, .. } | Event::CommandFinished { effect, .. } => {
                *effect == Effect::Change
            }
            Event::Waiting { .. } => false,
            _ => true,
        };
        if !keep {
            return Ok(());
        }
        let mut line = serde_json::to_string(&Envelope::now(event)).expect("events serialize");
        line.push('\n');
        let Some(file) = &mut self.file else {
            self.pending.push(line);
            if crate::run::journal_policy::needs_journal(event) {
                self.open()
                    .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
            }
            return Ok(());
        };
        // One write per record, so a kill leaves at most the last line cut short.
        file.write_all(line.as_bytes())?;
        // What resume and abort act on is synced before the run goes on (and with it every
        // record written before); a log line alone can wait for the next one.
        let trusted = !matches!(
            event,
            Event::Log { .. }
                | Event::Warning { .. }
                | Event::Table { .. }
                | Event::NoChange { .. }
                | Event::ParallelStarted { .. }
                | Event::ParallelItem { .. }
                | Event::ParallelFinished { .. }
        );
        if trusted {
            file.sync_data()?;
        }
        Ok(())
    }
}

/// Whether the run that writes this journal is still alive (it holds the journal's flock).
pub fn is_live(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    // SAFETY: flock on a descriptor we own; released when `file` closes.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) != 0 }
}

/// One finished or unfinished run, read back from its journal.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_id: String,
    pub started: String,
    pub runbook: String,
    pub plan: bool,
    pub status: String,
    pub changes: usize,
    /// Undo actions registered and not run: a crashed run left them.
    pub pending_undos: usize,
}

/// Every run in the journal directory, oldest first.
pub fn list_runs() -> Result<Vec<RunSummary>> {
    list_runs_in(&runs_dir())
}

/// Deletes the journals in `dir` past the limits (the policy: `journal_policy::prune`).
fn prune_dir(
    dir: &Path,
    current: &Path,
    max_age: Option<std::time::Duration>,
    max_runs: Option<usize>,
) -> usize {
    let Ok(runs) = list_runs_in(dir) else {
        return 0;
    };
    let kept: Vec<Kept> = runs
        .iter()
        .map(|r| Kept {
            run_id: &r.run_id,
            pending_undos: r.pending_undos,
        })
        .collect();
    prune(dir, current, &kept, max_age, max_runs)
}

/// Every run journaled in `dir`, oldest first.
pub fn list_runs_in(dir: &Path) -> Result<Vec<RunSummary>> {
    let paths: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut runs: Vec<RunSummary> = paths.iter().filter_map(|p| summarize(p)).collect();
    runs.sort_by(|a, b| (&a.started, &a.run_id).cmp(&(&b.started, &b.run_id)));
    Ok(runs)
}

fn summarize(path: &Path) -> Option<RunSummary> {
    let reader = BufReader::new(File::open(path).ok()?);
    let mut summary = RunSummary {
        run_id: path.file_stem()?.to_string_lossy().into_owned(),
        started: String::new(),
        runbook: String::new(),
        plan: false,
        // A run with no end record crashed or is still running.
        status: "unfinished".into(),
        changes: 0,
        pending_undos: 0,
    };
    for line in reader.lines().map_while(|l| l.ok()) {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        match value["event"].as_str() {
            Some("run_started") => {
                summary.started = value["ts"].as_str().unwrap_or_default().to_string();
                summary.runbook = value["runbook"].as_str().unwrap_or_default().to_string();
                summary.plan = value["plan"].as_bool().unwrap_or(false);
            }
            Some("command_finished") if value["effect"] == "change" => summary.changes += 1,
            Some("file_edit") if value["planned"] != true => summary.changes += 1,
            Some("deferred") if value["state"] == "registered" => summary.pending_undos += 1,
            // Still pending: its change is in place (see `undo_failed`).
            Some("deferred") if undo_failed(&value) => {}
            Some("deferred") => summary.pending_undos = summary.pending_undos.saturating_sub(1),
            Some("run_finished") => {
                summary.status = value["status"].as_str().unwrap_or_default().to_string();
            }
            _ => {}
        }
    }
    Some(summary)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_run_id_is_not_one_in_use_nor_that_of_another_process_at_the_same_instant() {
        let now = std::time::UNIX_EPOCH + std::time::Duration::new(1_796_665_498, 167_388_316);
        let first = super::unused_run_id(now, 4242, |_| false);
        // The run `vzrun abort` (or `resume`) starts within the second of the one it ends:
        // its journal is there.
        let next = super::unused_run_id(now, 4242, |id| id == first);
        assert_ne!(next, first);
        assert!(next.starts_with("20261207-"), "{next}");
        // Two processes at the same instant (a coarse clock): their pids tell them apart.
        assert_ne!(
            super::unused_run_id(now, 4243, |_| false),
            first,
            "the pid is not in the salt"
        );
    }

    use super::*;
    use std::time::{Duration, SystemTime};

    fn journal(dir: &Path, id: &str, lines: &[&str]) -> std::path::PathBuf {
        let path = dir.join(format!("{id}.jsonl"));
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    }

    fn started(ts: &str) -> String {
        format!(r#"{{"v":1,"ts":"{ts}","event":"run_started","runbook":"r"}}"#)
    }

    #[test]
    fn keeps_the_newest_runs_and_those_with_pending_undos() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let pending = r#"{"v":1,"event":"deferred","what":"x","state":"registered"}"#;
        journal(
            d,
            "20260101-000000-0001",
            &[&started("2026-01-01T00:00:00Z"), pending],
        );
        journal(
            d,
            "20260102-000000-0002",
            &[&started("2026-01-02T00:00:00Z")],
        );
        journal(
            d,
            "20260103-000000-0003",
            &[&started("2026-01-03T00:00:00Z")],
        );
        let current = journal(
            d,
            "20260104-000000-0004",
            &[&started("2026-01-04T00:00:00Z")],
        );
        assert_eq!(prune_dir(d, &current, None, Some(2)), 1);
        let mut left: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "20260101-000000-0001.jsonl",
                "20260103-000000-0003.jsonl",
                "20260104-000000-0004.jsonl"
            ]
        );
        // Every file was just written: no age limit reaches them.
        assert_eq!(
            prune_dir(d, &current, Some(Duration::from_secs(3600)), None),
            0
        );
        // Two days old: past a one-day limit, unless undos are pending.
        let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 86_400);
        for id in ["20260101-000000-0001", "20260103-000000-0003"] {
            let file = std::fs::File::options()
                .append(true)
                .open(d.join(format!("{id}.jsonl")))
                .unwrap();
            file.set_modified(two_days_ago).unwrap();
        }
        assert_eq!(
            prune_dir(d, &current, Some(Duration::from_secs(86_400)), None),
            1
        );
        assert!(d.join("20260101-000000-0001.jsonl").exists());
        assert!(!d.join("20260103-000000-0003.jsonl").exists());
    }

    #[test]
    fn run_ids_sort_by_time_and_have_a_fixed_shape() {
        let id = new_run_id();
        let re = regex::Regex::new(r"^\d{8}-\d{6}-[0-9a-f]{4}$").unwrap();
        assert!(re.is_match(&id), "{id}");
    }

    /// What `vzrun runs` shows of a run: changes made (a planned file edit and a probe are
    /// not), undos registered and not yet run, the end status, and the start's details.
    #[test]
    fn a_summary_counts_changes_and_pending_undos_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = journal(
            dir.path(),
            "20260105-000000-0005",
            &[
                r#"{"v":1,"ts":"2026-01-05T00:00:00Z","event":"run_started","runbook":"evacuate","plan":true}"#,
                r#"{"v":1,"event":"command_finished","effect":"change","code":0}"#,
                r#"{"v":1,"event":"command_finished","effect":"read","code":0}"#,
                r#"{"v":1,"event":"command_finished","effect":"change","code":1}"#,
                r#"{"v":1,"event":"file_edit","path":"/etc/a","planned":false}"#,
                r#"{"v":1,"event":"file_edit","path":"/etc/c","planned":false}"#,
                r#"{"v":1,"event":"file_edit","path":"/etc/b","planned":true}"#,
                r#"{"v":1,"event":"deferred","what":"a","state":"registered"}"#,
                r#"{"v":1,"event":"deferred","what":"b","state":"registered"}"#,
                r#"{"v":1,"event":"deferred","what":"c","state":"registered"}"#,
                r#"{"v":1,"event":"deferred","what":"a","state":"done"}"#,
                "a line cut short by a kill {\"event\":",
                r#"{"v":1,"event":"run_finished","status":"failed"}"#,
            ],
        );
        let s = summarize(&path).unwrap();
        assert_eq!(s.run_id, "20260105-000000-0005");
        assert_eq!(s.started, "2026-01-05T00:00:00Z");
        assert_eq!(s.runbook, "evacuate");
        assert!(s.plan);
        assert_eq!(s.status, "failed");
        assert_eq!((s.changes, s.pending_undos), (4, 2));
        // With no end record, the run crashed or still runs; an undo that ran without one
        // registered (a damaged journal) does not count below zero.
        let path = journal(
            dir.path(),
            "20260106-000000-0006",
            &[
                &started("2026-01-06T00:00:00Z"),
                r#"{"v":1,"event":"deferred","what":"a","state":"done"}"#,
            ],
        );
        let s = summarize(&path).unwrap();
        assert_eq!((s.status.as_str(), s.plan), ("unfinished", false));
        assert_eq!((s.changes, s.pending_undos), (0, 0));
    }

    /// Only `*.jsonl` files are runs, listed oldest first by start time (not by name); no
    /// directory yet means no runs.
    #[test]
    fn runs_are_the_jsonl_files_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(list_runs_in(&d.join("runs")).unwrap().is_empty());
        journal(
            d,
            "20260102-000000-000b",
            &[&started("2026-01-02T00:00:00Z")],
        );
        journal(
            d,
            "20260103-000000-000a",
            &[&started("2026-01-01T00:00:00Z")],
        );
        std::fs::write(d.join("notes.txt"), started("2026-01-01T00:00:00Z")).unwrap();
        let ids: Vec<String> = list_runs_in(d)
            .unwrap()
            .into_iter()
            .map(|r| r.run_id)
            .collect();
        assert_eq!(ids, ["20260103-000000-000a", "20260102-000000-000b"]);
        // A journal directory that cannot be read is an error, not "no runs".
        let err = list_runs_in(&d.join("notes.txt")).unwrap_err();
        assert!(format!("{err:#}").starts_with("cannot read "), "{err:#}");
    }

    /// A run is live while it holds its journal's lock (any other holder than this check).
    #[test]
    fn a_run_is_live_while_its_journal_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let path = journal(dir.path(), "20260107-000000-0007", &[&started("x")]);
        assert!(!is_live(&path));
        assert!(!is_live(&dir.path().join("missing.jsonl")));
        let held = File::open(&path).unwrap();
        // SAFETY: flock on a descriptor we own.
        let got = unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(got, 0);
        assert!(is_live(&path));
        drop(held);
        assert!(!is_live(&path));
    }

    /// What is kept: changes and their results, narration; not probes, their results, or a
    /// wait's progress reports. Each record is one JSON line.
    #[test]
    fn an_open_journal_keeps_changes_and_narration_not_probes_or_waits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("20260108-000000-0008.jsonl");
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .unwrap();
        let mut journal = Journal {
            path: path.clone(),
            file: Some(file),
            pending: Vec::new(),
        };
        let command = |effect| Event::Command {
            host: "h".into(),
            argv: vec!["prlctl".into(), "list".into()],
            effect,
            planned: false,
        };
        let finished = |effect| Event::CommandFinished {
            host: "h".into(),
            argv: vec!["prlctl".into(), "list".into()],
            effect,
            code: 0,
            millis: 5,
        };
        let events = [
            command(Effect::Read),
            finished(Effect::Read),
            Event::Waiting {
                what: "CS#1 to drain".into(),
                elapsed_s: 10,
                timeout_s: 60,
            },
            command(Effect::Change),
            finished(Effect::Change),
            Event::Log {
                message: "moved".into(),
                data: false,
            },
        ];
        for event in &events {
            journal.record(event).unwrap();
        }
        let kept: Vec<String> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                format!("{} {}", v["event"].as_str().unwrap(), v["effect"])
            })
            .collect();
        assert_eq!(
            kept,
            [
                r#"command "change""#,
                r#"command_finished "change""#,
                "log null"
            ]
        );
    }
}
