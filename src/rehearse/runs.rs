//! `vzrun rehearse`: the runs of a rehearsal, each a real `vzrun` child process on its own
//! copy of the lab (a state file in a temporary directory, with its own journal and locks),
//! then the invariants checked on what it left.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::faults::{Faults, Recovery, Rng};
use super::invariants::{self, Postcondition, RunRecord};
use super::RehearseArgs;
use crate::commands::args::{self as runbook_args, BindError};
use crate::exit;
use crate::lab::{self, Lab, LabState};
use crate::run::options::RunOptions as GlobalOpts;
use crate::runbook;

/// Lab speed of a rehearsal unless `--lab-speed` says otherwise: slow enough that a kill or
/// a host that stops answering can land between two steps, fast enough for many runs (a
/// live migration, 8 lab seconds, takes 16 ms).
const DEFAULT_SPEED: f64 = 0.002;

/// What a rehearsal needs to start a run, validated once.
struct Plan {
    runbook_argv: Vec<String>,
    args: BTreeMap<String, String>,
    ensures: Vec<Postcondition>,
    changes: Vec<String>,
    initial: LabState,
    speed: f64,
    seed: u64,
    exe: PathBuf,
    base: PathBuf,
}

/// One run's result.
struct RunResult {
    run: u32,
    faults: String,
    outcome: String,
    broken: Vec<String>,
    dir: PathBuf,
}

pub fn rehearse(args: &RehearseArgs, global: &GlobalOpts) -> i32 {
    let plan = match prepare(args, global) {
        Ok(plan) => plan,
        Err((message, code)) => {
            eprintln!("error: {message}");
            return code;
        }
    };
    let runs: Vec<u32> = match args.only {
        Some(k) => vec![k],
        None => (0..args.runs).collect(),
    };
    eprintln!(
        "rehearsing {} ({} run{}, seed {})",
        plan.runbook_argv.join(" "),
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        plan.seed
    );
    // How long a run without faults takes: kills and outages land within it.
    let calibration = Instant::now();
    let baseline = run_once(&plan, 0, &Faults::default());
    let span_ms = calibration.elapsed().as_millis() as u64;
    let bar = progress_bar(runs.len() as u64);
    let mut results = Vec::new();
    for &k in &runs {
        let result = if k == 0 {
            RunResult {
                run: 0,
                faults: "none".into(),
                outcome: baseline.outcome.clone(),
                broken: baseline.broken.clone(),
                dir: baseline.dir.clone(),
            }
        } else {
            let focus: Vec<String> = plan.args.values().cloned().collect();
            let mut rng = Rng::for_run(plan.seed, k);
            let faults = Faults::draw(&mut rng, k, &plan.initial, span_ms, &focus);
            run_once(&plan, k, &faults)
        };
        bar.inc(1);
        results.push(result);
    }
    bar.finish_and_clear();
    print_table(&results);
    let failed: Vec<&RunResult> = results.iter().filter(|r| !r.broken.is_empty()).collect();
    for r in &results {
        if r.broken.is_empty() && r.run != 0 {
            let _ = fs::remove_dir_all(&r.dir);
        }
    }
    if baseline.broken.is_empty() {
        let _ = fs::remove_dir_all(&baseline.dir);
    }
    if failed.is_empty() {
        let _ = fs::remove_dir(&plan.base);
        eprintln!("every invariant held in every run");
        return exit::OK;
    }
    for r in &failed {
        eprintln!("\nrun {} (seed {}) broke:", r.run, plan.seed);
        for b in &r.broken {
            eprintln!("  - {b}");
        }
        eprintln!("  its lab state and journal: {}", r.dir.display());
        eprintln!("  replay: {}", replay_command(&plan, global, r.run));
    }
    exit::FAILED
}

fn prepare(args: &RehearseArgs, global: &GlobalOpts) -> Result<Plan, (String, i32)> {
    let usage = |m: String| (m, exit::USAGE);
    if args.runs == 0 || args.runs > 10_000 {
        return Err(usage(format!("--runs {}: expected 1 to 10000", args.runs)));
    }
    if args.only.is_some() && args.seed.is_none() {
        return Err(usage(
            "--only replays one run of a rehearsal: give its --seed too".into(),
        ));
    }
    if global.inventory.is_some() {
        return Err(usage(
            "a rehearsal runs on the lab only: capture the cluster first (`vzrun lab capture --inventory FILE -o cluster.yaml`) and rehearse with --lab=cluster.yaml".into(),
        ));
    }
    let speed = global.lab_speed.unwrap_or(DEFAULT_SPEED);
    if !(0.0..=100.0).contains(&speed) {
        return Err(usage(format!("--lab-speed {speed}: expected 0 to 100")));
    }
    let name = &args.runbook[0];
    let (runbook, _) = runbook::resolve(name).map_err(|e| usage(e.to_string()))?;
    let header = runbook
        .header()
        .map_err(|e| usage(format!("{name}: {e}")))?;
    let argv: Vec<OsString> = args.runbook[1..].iter().map(OsString::from).collect();
    let bound = match runbook_args::bind_args(&runbook, &header, &argv, global) {
        Ok(bound) => bound,
        Err(BindError::Usage(e)) => return Err(usage(e.to_string().trim_end().to_string())),
        Err(BindError::Header(e)) => return Err(usage(e)),
    };
    let bound_args = bound
        .json
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| {
                    let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default();
    let ensures = header
        .ensures
        .iter()
        .map(|e| Postcondition::parse(e).map_err(|m| usage(format!("{name}: {m}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let initial = match global.lab.clone().flatten() {
        Some(path) => {
            let text = fs::read_to_string(&path)
                .map_err(|e| usage(format!("cannot read lab scenario {}: {e}", path.display())))?;
            lab::load(&text, &path.display().to_string())
        }
        None => lab::load(lab::DEFAULT_SCENARIO, "the default lab scenario"),
    }
    .map_err(|e| usage(format!("bad lab scenario: {e}")))?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64 % 1_000_000_007)
    });
    let exe = std::env::current_exe()
        .map_err(|e| (format!("cannot find the vzrun binary: {e}"), exit::FAILED))?;
    let base = std::env::temp_dir().join(format!("vzrun-rehearse-{}-{seed}", std::process::id()));
    fs::create_dir_all(&base).map_err(|e| {
        (
            format!("cannot create {}: {e}", base.display()),
            exit::FAILED,
        )
    })?;
    Ok(Plan {
        runbook_argv: args.runbook.clone(),
        args: bound_args,
        ensures,
        changes: header.changes.clone(),
        initial,
        speed,
        seed,
        exe,
        base,
    })
}

/// A `vzrun` child on this run's lab, journal and locks; its output goes to `log`.
fn child(plan: &Plan, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(&plan.exe);
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("output.log"));
    cmd.env("VZRUN_STATE_DIR", dir)
        // local() files go under the run's directory, never the machine's.
        .env("VZRUN_LOCAL_ROOT", dir.join("local"))
        .env("VZRUN_JOURNAL", "all")
        .env_remove("VZRUN_INVENTORY")
        .arg("--lab-state")
        .arg(dir.join("lab.json"))
        .arg("--lab-speed")
        .arg(plan.speed.to_string())
        .args(args)
        .stdin(Stdio::null());
    match log.and_then(|l| Ok((l.try_clone()?, l))) {
        Ok((out, err)) => cmd.stdout(out).stderr(err),
        Err(_) => cmd.stdout(Stdio::null()).stderr(Stdio::null()),
    };
    cmd
}

fn exit_word(code: Option<i32>) -> String {
    match code {
        Some(0) => "ok".into(),
        Some(1) => "failed".into(),
        Some(2) => "bad input".into(),
        Some(3) => "refused".into(),
        Some(4) => "locked".into(),
        Some(5) => "timed out".into(),
        Some(130) => "interrupted".into(),
        Some(c) => format!("exit {c}"),
        None => "killed".into(),
    }
}

/// Sets whether `host` answers, in the run's state file (under the lab's own lock).
fn set_unreachable(state: &Path, initial: &LabState, host: &str, unreachable: bool) {
    let lab = Lab::with_state_file(state.to_path_buf(), initial.clone(), None);
    let _ = lab.with_state(|s| {
        if let Some(h) = s.hosts.iter_mut().find(|h| h.name == host) {
            h.unreachable = unreachable;
        }
    });
}

fn run_once(plan: &Plan, k: u32, faults: &Faults) -> RunResult {
    let dir = plan.base.join(format!("run-{k}"));
    let _ = fs::remove_dir_all(&dir);
    let mut result = RunResult {
        run: k,
        faults: faults.describe(),
        outcome: String::new(),
        broken: Vec::new(),
        dir: dir.clone(),
    };
    let state = dir.join("lab.json");
    let mut lab = plan.initial.clone();
    faults.apply(&mut lab);
    let written = fs::create_dir_all(dir.join("local")).and_then(|_| {
        fs::write(
            &state,
            serde_json::to_vec(&lab).expect("the lab state serializes"),
        )
    });
    if let Err(e) = written {
        result
            .broken
            .push(format!("cannot prepare {}: {e}", dir.display()));
        return result;
    }
    let mut argv: Vec<&str> = vec!["--yes"];
    argv.extend(plan.runbook_argv.iter().map(String::as_str));
    let started = Instant::now();
    let mut first = match child(plan, &dir, &argv).spawn() {
        Ok(c) => c,
        Err(e) => {
            result.broken.push(format!("cannot start vzrun: {e}"));
            return result;
        }
    };
    let outage = faults.unreachable.clone().map(|(host, at)| {
        let state = state.clone();
        let initial = plan.initial.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(at));
            set_unreachable(&state, &initial, &host, true);
            host
        })
    });
    let mut killed = false;
    if let Some((at, _)) = faults.kill {
        let deadline = started + Duration::from_millis(at);
        loop {
            if matches!(first.try_wait(), Ok(Some(_))) {
                break;
            }
            if Instant::now() >= deadline {
                let _ = first.kill();
                killed = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let first_code = first.wait().ok().and_then(|s| s.code());
    // The host comes back: the recovery and the checks see it again.
    if let Some(thread) = outage {
        if let Ok(host) = thread.join() {
            set_unreachable(&state, &plan.initial, &host, false);
        }
    }
    let mut outcome = exit_word(if killed { None } else { first_code });
    if faults.kill.is_some() && !killed {
        outcome.push_str(" (ended before the kill)");
    }
    let mut last_code = first_code;
    let mut aborted = false;
    // After a kill, the drawn recovery. After a run that failed while a host did not
    // answer, what the run advises once the host is back: resume it.
    let recovery = if killed {
        faults.kill.map(|(_, r)| r)
    } else if faults.unreachable.is_some() && matches!(first_code, Some(1) | Some(5)) {
        Some(Recovery::Resume)
    } else {
        None
    };
    if let Some(recovery) = recovery {
        match journaled_runs(&dir).first() {
            None if killed => {
                outcome.push_str(" before its journal; nothing to recover");
                last_code = None;
            }
            None => {}
            Some(id) => {
                let word = match recovery {
                    Recovery::Resume => "resume",
                    Recovery::Abort => "abort",
                };
                aborted = recovery == Recovery::Abort;
                let code = child(plan, &dir, &["--yes", word, id])
                    .status()
                    .ok()
                    .and_then(|s| s.code());
                outcome.push_str(&format!(" → {word} {}", exit_word(code)));
                last_code = code;
            }
        }
    }
    result.outcome = outcome;
    let end = match fs::read(&state)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice::<LabState>(&bytes).map_err(|e| e.to_string()))
    {
        Ok(mut end) => {
            // What the run set going finishes without it: a slow start that was issued
            // runs, a CS whose removal was asked for drains. The invariants are about where
            // the cluster settles, not an instant of its way there.
            end.advance(f64::INFINITY);
            end
        }
        Err(e) => {
            result
                .broken
                .push(format!("cannot read the lab state: {e}"));
            return result;
        }
    };
    let mut start = plan.initial.clone();
    faults.apply(&mut start);
    result.broken = invariants::check(&RunRecord {
        start: &start,
        end: &end,
        args: &plan.args,
        ensures: &plan.ensures,
        changes: &plan.changes,
        succeeded: last_code == Some(0) && !aborted,
        aborted,
        state_dir: &dir,
    });
    if matches!(first_code, Some(2)) && !killed {
        result
            .broken
            .push("the runbook refused its arguments (exit 2) on the lab copy".into());
    }
    result
}

/// The run ids journaled in the run's directory, oldest first.
fn journaled_runs(dir: &Path) -> Vec<String> {
    crate::run::journal::list_runs_in(&dir.join("runs"))
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.run_id)
        .collect()
}

fn progress_bar(len: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}

fn print_table(results: &[RunResult]) {
    let faults_width = results
        .iter()
        .map(|r| r.faults.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 80);
    let outcome_width = results
        .iter()
        .map(|r| r.outcome.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    println!(
        "{:>4}  {:<faults_width$}  {:<outcome_width$}  INVARIANTS",
        "RUN", "FAULTS", "OUTCOME"
    );
    for r in results {
        let verdict = if r.broken.is_empty() {
            "held".to_string()
        } else {
            format!("BROKEN ({})", r.broken.len())
        };
        println!(
            "{:>4}  {:<faults_width$}  {:<outcome_width$}  {verdict}",
            r.run, r.faults, r.outcome
        );
    }
}

/// The command that replays run `k`: same seed, same lab, same speed, same runbook.
fn replay_command(plan: &Plan, global: &GlobalOpts, k: u32) -> String {
    let mut words = vec![
        "vzrun".to_string(),
        "rehearse".into(),
        "--seed".into(),
        plan.seed.to_string(),
        "--only".into(),
        k.to_string(),
    ];
    if let Some(Some(path)) = &global.lab {
        words.push(format!("--lab={}", path.display()));
    }
    if let Some(speed) = global.lab_speed {
        words.push("--lab-speed".into());
        words.push(speed.to_string());
    }
    words.extend(plan.runbook_argv.iter().cloned());
    crate::cmd::shell_join(&words)
}
