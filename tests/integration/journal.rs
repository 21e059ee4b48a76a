//! The journal: one JSON-lines file per run, listed by `vzrun runs`.

use std::fs;

use crate::test::Test;

#[test]
fn a_run_is_journaled_with_hash_args_and_changes() {
    let out = Test::new()
        .file(
            "j.rhai",
            "//! Journal me.\n//! opt who = \"ops\": who\nlocal().query([\"true\"]);\nlocal().run([\"true\"]);\n",
        )
        .args(["./j.rhai", "--who", "night-shift"])
        .run()
        .status(0);
    let runs = out.path("state/runs");
    let files: Vec<_> = fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let lines: Vec<serde_json::Value> = fs::read_to_string(&files[0])
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let start = &lines[0];
    assert_eq!(start["event"], "run_started");
    assert_eq!(start["args"]["who"], "night-shift");
    assert_eq!(start["runbook_sha256"].as_str().unwrap().len(), 64);
    // Probes are not journaled; the change is, with its result.
    let finished: Vec<_> = lines
        .iter()
        .filter(|l| l["event"] == "command_finished")
        .collect();
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["effect"], "change");
    assert_eq!(finished[0]["code"], 0);
    assert_eq!(lines.last().unwrap()["event"], "run_finished");
    assert_eq!(lines.last().unwrap()["status"], "ok");
}

#[test]
fn runs_lists_past_runs_with_their_status() {
    let test = Test::new()
        .file("ok.rhai", "//! Fine.\nlocal().run([\"true\"]);\n")
        .file("bad.rhai", "//! Broken.\nthrow \"nope\";\n");
    let state = test.path("state");
    let run = |args: &[&str]| {
        Test::new()
            .env("VZRUN_STATE_DIR", &state)
            .args(args.iter().map(|a| test.path(a).into_os_string()))
            .run()
    };
    run(&["ok.rhai"]).status(0);
    run(&["bad.rhai"]).status(1);
    Test::new()
        .env("VZRUN_STATE_DIR", &state)
        .arg("runs")
        .run()
        .status(0)
        .stdout_has("ok.rhai")
        .stdout_has("bad.rhai")
        .stdout_has("failed")
        .stdout_has("apply");
}

#[test]
fn runs_with_no_journal_says_so() {
    Test::new()
        .arg("runs")
        .run()
        .status(0)
        .stdout_has("no runs recorded");
}
