//! Plan mode: probes run, Changes are listed with their exact argv and not run.

use crate::test::Test;

const TOUCH: &str = "//! Touch a file.\nlet h = local();\nlet os = h.query([\"uname\", \"-s\"]).stdout;\nos.trim();\nlog(`probe says ${os}`);\nlet r = h.run([\"touch\", \"made by vzrun\"]);\nlog(`planned=${r.planned} dry=${DRY_RUN}`);\n";

#[test]
fn plan_lists_changes_and_runs_probes() {
    let out = Test::new()
        .file("t.rhai", TOUCH)
        .args(["plan", "./t.rhai"])
        .run()
        .status(0)
        .stdout_has("probe says Linux")
        .stdout_has("would run on local: touch 'made by vzrun'")
        .stdout_has("planned=true dry=true")
        .stdout_has("plan: 1 change(s) listed; nothing was changed");
    assert!(!out.exists("made by vzrun"));
}

#[test]
fn dry_run_flag_after_the_name_is_the_same_as_plan() {
    let out = Test::new()
        .file("t.rhai", TOUCH)
        .args(["./t.rhai", "--dry-run"])
        .run()
        .status(0)
        .stdout_has("would run on local");
    assert!(!out.exists("made by vzrun"));
}

#[test]
fn apply_runs_changes() {
    let out = Test::new()
        .file("t.rhai", TOUCH)
        .arg("./t.rhai")
        .run()
        .status(0)
        .stdout_has("planned=false dry=false")
        .stderr_has("[local] touch 'made by vzrun'");
    assert!(out.exists("made by vzrun"));
}

#[test]
fn plan_as_json_marks_planned_commands() {
    let out = Test::new()
        .file("t.rhai", TOUCH)
        .args(["plan", "--output", "json", "./t.rhai"])
        .run()
        .status(0);
    let commands: Vec<_> = out
        .events()
        .into_iter()
        .filter(|e| e["event"] == "command")
        .collect();
    assert_eq!(commands.len(), 2);
    assert_eq!(commands[0]["effect"], "read");
    assert_eq!(commands[0]["planned"], false);
    assert_eq!(commands[1]["effect"], "change");
    assert_eq!(commands[1]["planned"], true);
    assert_eq!(
        commands[1]["argv"],
        serde_json::json!(["touch", "made by vzrun"])
    );
}
