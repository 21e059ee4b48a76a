//! `vzrun lab capture` and `vzrun rehearse`: a captured lab plans like the original, the
//! catalog's runbooks that move VEs or storage keep every invariant under random faults,
//! and a runbook that breaks one is caught with the command that replays it.

use std::collections::BTreeMap;

use crate::plan::PLAN_CASES;
use crate::test::Test;

/// The planned changes of a plan, comparable across two labs: (host, command) and
/// (host, path, diff) with run ids and times masked, sorted (parallel moves are planned in
/// any order).
fn planned_changes(events: &[serde_json::Value]) -> Vec<String> {
    let run_id = regex::Regex::new(r"\d{8}-\d{6}-[0-9a-f]{4}").unwrap();
    let time = regex::Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?").unwrap();
    let pid = regex::Regex::new(r"pid \d+").unwrap();
    let mut changes: Vec<String> = events
        .iter()
        .filter(|e| e["planned"] == true)
        .map(|e| {
            let text = format!("{} {} {} {}", e["event"], e["host"], e["argv"], e["path"])
                + e["diff"].as_str().unwrap_or_default();
            let text = run_id.replace_all(&text, "RUN");
            let text = time.replace_all(&text, "TIME");
            pid.replace_all(&text, "pid N").into_owned()
        })
        .collect();
    changes.sort();
    changes
}

/// Plans every catalog case on a lab: case → (exit code, planned changes).
fn plans(scenario: Option<&std::path::Path>) -> BTreeMap<String, (i32, Vec<String>)> {
    let mut out = BTreeMap::new();
    for case in PLAN_CASES {
        let mut t = Test::new().args(["--lab-speed", "0", "--output", "json"]);
        if let Some(path) = scenario {
            t = t.arg(format!("--lab={}", path.display()));
        }
        let outcome = t.arg("plan").args(case.iter().copied()).run();
        let changes = planned_changes(&outcome.events());
        out.insert(case.join(" "), (outcome.status, changes));
    }
    out
}

#[test]
fn a_capture_of_the_lab_plans_every_runbook_as_the_lab_does() {
    let test = Test::new()
        .args(["--lab", "lab", "capture", "-o"])
        .arg("captured.yaml");
    let path = test.path("captured.yaml");
    // The outcome holds the scratch directory: keep it while the capture is read.
    let _captured = test.run().status(0);
    let yaml = std::fs::read_to_string(&path).unwrap();
    // Secrets are named as not captured, and their content is nowhere in the file.
    assert!(
        yaml.contains("not captured (secret): /etc/sudoers"),
        "{yaml}"
    );
    assert!(!yaml.contains("requiretty"), "sudoers content leaked");
    // What a scenario cannot say is listed, not dropped.
    assert!(yaml.contains("# Not captured"), "{yaml}");
    let original = plans(None);
    let copy = plans(Some(&path));
    for (case, (code, changes)) in &original {
        let (copy_code, copy_changes) = &copy[case];
        assert_eq!(code, copy_code, "{case}: exit code differs on the capture");
        assert_eq!(
            changes, copy_changes,
            "{case}: planned changes differ on the capture"
        );
    }
    // At least the runbooks that change something planned something.
    assert!(!original["evacuate msk-07"].1.is_empty());
}

#[test]
fn capture_needs_a_source_and_writes_to_stdout_by_default() {
    Test::new()
        .args(["lab", "capture"])
        .run()
        .status(2)
        .stderr_has("--inventory");
    Test::new()
        .args(["--lab", "lab", "capture"])
        .run()
        .status(0)
        .stdout_has("cluster: livelinux")
        .stdout_has("- name: msk-07");
}

/// A rehearsal whose scratch directories go under the test's own directory.
fn rehearsal(test: Test) -> Test {
    let tmp = test.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    test.env("TMPDIR", &tmp).arg("rehearse")
}

/// Rehearses a runbook file (written into the test's directory) with `args`.
fn rehearse_file(text: &str, args: &[&str]) -> crate::test::Outcome {
    let test = Test::new().file("runbook.rhai", text);
    let runbook = test.path("runbook.rhai");
    rehearsal(test)
        .args(args.iter().copied())
        .arg(runbook)
        .args(["msk-07"])
        .run()
}

/// Rehearses `argv` for a few runs and expects every invariant to hold.
fn rehearse_holds(argv: &[&str]) {
    for seed in ["11", "12"] {
        let out = rehearsal(Test::new())
            .args(["--runs", "4", "--seed", seed])
            .args(argv.iter().copied())
            .run();
        assert_eq!(
            out.status, 0,
            "rehearsing {argv:?} seed {seed}:\n{}\n{}",
            out.stdout, out.stderr
        );
        assert!(out.stdout.contains("RUN"), "{}", out.stdout);
        assert!(
            out.stderr.contains("every invariant held"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn evacuate_keeps_every_invariant_under_faults() {
    rehearse_holds(&["evacuate", "msk-07"]);
}

#[test]
fn maintenance_keeps_every_invariant_under_faults() {
    rehearse_holds(&["maintenance", "msk-06", "on"]);
}

#[test]
fn unevacuate_keeps_every_invariant_under_faults() {
    rehearse_holds(&["unevacuate", "msk-07"]);
}

#[test]
fn remove_cs_keeps_every_invariant_under_faults() {
    rehearse_holds(&["remove-cs", "1043", "--drain-timeout", "120"]);
}

#[test]
fn cs_maintenance_keeps_every_invariant_under_faults() {
    rehearse_holds(&["cs-maintenance", "msk-02", "on"]);
}

/// Stops a VE and forgets to start it again: the rehearsal must catch it.
const LEAVES_A_VE_STOPPED: &str = "//! Restart dev01 (broken on purpose: it never starts it again).\n//! arg node: the node it runs on\nprlctl::stop(host(ARGS.node), \"dev01\");\n";

/// Claims an empty node and does nothing: its own postcondition must catch it.
const CLAIMS_WHAT_IT_DOES_NOT_DO: &str = "//! Empty a node (broken on purpose: it moves nothing).\n//! arg node: the node\n//! ensure: no-ve-on {node}\nlog(`would empty ${ARGS.node}`);\n";

#[test]
fn a_runbook_that_leaves_a_ve_stopped_is_caught_with_its_replay_command() {
    let out = rehearse_file(LEAVES_A_VE_STOPPED, &["--runs", "2", "--seed", "5"])
        .status(1)
        .stdout_has("BROKEN")
        .stderr_has("dev01 was running and is stopped");
    let runbook = out.path("runbook.rhai").display().to_string();
    out.stderr_has(&format!(
        "replay: vzrun rehearse --seed 5 --only 0 {runbook} msk-07"
    ));
}

#[test]
fn a_runbook_whose_postcondition_fails_is_caught() {
    rehearse_file(CLAIMS_WHAT_IT_DOES_NOT_DO, &["--runs", "1", "--seed", "3"])
        .status(1)
        .stderr_has("ensure no-ve-on msk-07: still there");
}

#[test]
fn a_rehearsal_with_bad_input_exits_2() {
    Test::new()
        .args(["rehearse", "--runs", "0", "evacuate", "msk-07"])
        .run()
        .status(2)
        .stderr_has("--runs 0");
    Test::new()
        .args(["rehearse", "no-such-runbook"])
        .run()
        .status(2);
    Test::new().args(["rehearse", "evacuate"]).run().status(2);
    Test::new()
        .args(["rehearse", "--only", "3", "evacuate", "msk-07"])
        .run()
        .status(2)
        .stderr_has("--seed");
}

#[test]
fn check_refuses_a_misspelt_ensure() {
    let test = Test::new().file(
        "typo.rhai",
        "//! Empty a node.\n//! arg node: the node\n//! ensure: no-ves-on {node}\nlog(\"x\");\n",
    );
    let path = test.path("typo.rhai");
    test.arg("check")
        .arg(&path)
        .run()
        .status(1)
        .stdout_has("unknown `ensure: no-ves-on {node}`");
}

#[test]
fn a_capture_over_ssh_reads_each_host_through_its_own_tools() {
    let Some(cluster) = crate::sshd::SshCluster::start(2) else {
        return;
    };
    let inventory = cluster.path("inventory.yaml");
    let test = Test::new().arg("--inventory").arg(&inventory).args([
        "lab",
        "capture",
        "-o",
        "captured.yaml",
    ]);
    let path = test.path("captured.yaml");
    let _captured = test.run().status(0);
    let yaml = std::fs::read_to_string(&path).unwrap();
    for expected in [
        "- name: msk-01",
        "- name: msk-02",
        // VEs come from each host's prlctl, CSs and MDSs from vstorage stat.
        "name: web01",
        "name: mail01",
        "id: 1025",
        "not captured (secret): /etc/sudoers",
        // The lab's other nodes are not in this inventory: named, not dropped.
        "#   - CS#1031 on 10.30.17.33: no host of the inventory has that address",
    ] {
        assert!(yaml.contains(expected), "no {expected:?} in:\n{yaml}");
    }
    // What was captured loads as a lab again.
    Test::new()
        .arg(format!("--lab={}", path.display()))
        .args(["--lab-speed", "0", "hello"])
        .run()
        .status(0);
}
