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

const PHASES: &str = "//! Three phases.\nlet h = local();\nstep(\"first\", || h.run([\"sh\", \"-c\", \"echo first >> log\"]));\nstep(\"second\", || h.run([\"sh\", \"-c\", \"test -e ready && echo second >> log\"]));\nstep(\"third\", || h.run([\"sh\", \"-c\", \"echo third >> log\"]));\n";

/// The newest run (only meaningful when a single run is recorded so far).
fn last_run_id(state: &std::path::Path) -> String {
    crate::test::run_ids(state).pop().unwrap()
}

#[test]
fn resume_skips_the_steps_that_completed() {
    let test = Test::new().file("phases.rhai", PHASES);
    let dir = test.path("");
    let state = test.path("state");
    let run = |args: &[&str]| {
        let mut t = Test::new().env("VZRUN_STATE_DIR", &state);
        for a in args {
            t = t.arg(if a.ends_with(".rhai") {
                dir.join(a).into_os_string()
            } else {
                a.into()
            });
        }
        t.command_in(&dir)
    };
    run(&["phases.rhai"]).status(1).stderr_has("test -e ready");
    let failed = last_run_id(&state);
    fs::write(dir.join("ready"), "").unwrap();
    run(&["resume", &failed])
        .status(0)
        .stderr_has("== first (done in the resumed run; skipped)")
        .stderr_has("== second")
        .stderr_has("== third");
    assert_eq!(
        fs::read_to_string(dir.join("log")).unwrap(),
        "first\nsecond\nthird\n"
    );
    let resumed = crate::test::run_ids(&state)
        .into_iter()
        .find(|id| *id != failed)
        .unwrap();
    run(&["resume", &resumed])
        .status(0)
        .stderr_has("finished ok; there is nothing to resume");
}

#[test]
fn resume_refuses_a_changed_runbook_and_unknown_runs() {
    let test = Test::new().file("phases.rhai", PHASES);
    let dir = test.path("");
    let state = test.path("state");
    Test::new()
        .env("VZRUN_STATE_DIR", &state)
        .arg(dir.join("phases.rhai"))
        .command_in(&dir)
        .status(1);
    let failed = last_run_id(&state);
    fs::write(
        dir.join("phases.rhai"),
        format!("{PHASES}log(\"edited\");\n"),
    )
    .unwrap();
    Test::new()
        .env("VZRUN_STATE_DIR", &state)
        .args(["resume", &failed])
        .command_in(&dir)
        .status(3)
        .stderr_has("changed since run");
    Test::new()
        .env("VZRUN_STATE_DIR", &state)
        .args(["resume", "20990101-000000-beef"])
        .command_in(&dir)
        .status(2)
        .stderr_has("no run");
}

#[test]
fn deferred_undo_runs_on_success_failure_and_ctrl_c() {
    let script = "//! Defer.\n//! opt then = \"ok\": what happens next\nlet h = local();\ndefer(\"clean up\", || h.run([\"sh\", \"-c\", \"echo undone >> undo.log\"]));\nif ARGS.then == \"fail\" { throw \"broken\"; }\nif ARGS.then == \"wait\" { log(\"waiting\"); sleep(60); }\n";
    for (then, status) in [("ok", 0), ("fail", 1)] {
        let out = Test::new()
            .file("d.rhai", script)
            .args(["./d.rhai", "--then", then])
            .run()
            .status(status)
            .stderr_has("undo: clean up: done");
        assert_eq!(
            fs::read_to_string(out.path("undo.log")).unwrap(),
            "undone\n"
        );
    }
    let test = Test::new().file("d.rhai", script);
    let (mut child, line) = crate::test::spawn_until_stderr_line(
        test.command().args(["./d.rhai", "--then", "wait"]),
        "waiting",
    );
    assert_eq!(line.trim(), "waiting");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_eq!(
        fs::read_to_string(test.path("undo.log")).unwrap(),
        "undone\n"
    );
}

#[test]
fn plans_register_no_undo() {
    Test::new()
        .file(
            "d.rhai",
            "//! Defer.\ndefer(\"clean up\", || local().run([\"touch\", \"undone\"]));\n",
        )
        .args(["plan", "./d.rhai"])
        .run()
        .status(0)
        .stderr_has("would undo at the end: clean up");
}
