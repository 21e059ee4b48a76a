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
        .stderr_has("probe says Linux")
        .stdout_has("would run on local: touch 'made by vzrun'")
        .stderr_has("planned=true dry=true")
        .stderr_has("plan: 1 change(s) listed; nothing was changed");
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
        .stderr_has("planned=false dry=false")
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

/// Every runbook of the catalog can be planned on the lab, and a plan changes nothing.
#[test]
fn every_runbook_plans_on_the_lab_without_changing_it() {
    plan_every_runbook(None);
}

/// One plan case per catalog runbook: the runbook and its arguments.
pub const PLAN_CASES: &[&[&str]] = &[
    &["hello"],
    &["evacuate", "msk-07"],
    &["unevacuate", "msk-07"],
    &["maintenance", "msk-07", "on"],
    &["maintenance", "msk-07", "off", "--move-back"],
    &["maintenance", "msk-07", "status"],
    &["remove-cs", "1043"],
    &["add-cs", "msk-06", "/dev/sdd", "--tier", "1"],
    &["cs-maintenance", "msk-02", "on"],
    &["cs-maintenance", "msk-02", "off"],
    &["add-mds", "msk-04", "10.30.17.34:2510"],
    &["remove-mds", "3"],
    &["cs-reserved-blocks", "--fix"],
    &["pcompact-rolling"],
    &["memory-tuning", "--cs-limit", "17179869184"],
    &["drop-caches"],
    &["client-cache", "/mnt/ssd/cache", "64000"],
    &["zabbix-firewall"],
    &["sysctl-baseline"],
    &["ntp", "--servers", "ntp1.example.net"],
    &["pfcache-move", "/vz/pfcache2"],
    &["bridge-network", "vlan100", "bond0.100"],
    &["vm-tiers"],
    &["set-replicas", "web01", "2:1"],
    &["set-tier", "web01", "2"],
    &[
        "force-register",
        "5ff4bf17-809a-474d-a9e7-e5900856f0eb",
        "msk-02",
    ],
    &[
        "create-ct",
        "web99",
        "--on",
        "msk-04",
        "--ip",
        "10.30.20.99/24",
    ],
    &["unmount-cluster", "msk-07"],
    &["fill-margin", "1", "--minutes", "60"],
    &["license"],
    &["cluster-health"],
    &["bonding", "eth2,eth3"],
    &["pfcache-resize", "20"],
    &["read-cache"],
    &["storage-top", "--cs"],
];

/// Plans every runbook of the catalog on the lab (the default one, or `scenario`) and checks
/// that each succeeds and changes nothing.
pub fn plan_every_runbook(scenario: Option<&str>) {
    let cases = PLAN_CASES;
    let listed = Test::new().arg("list").run().status(0);
    let names: Vec<&str> = listed
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for name in &names {
        assert!(
            cases.iter().any(|c| c[0] == *name),
            "no plan case for runbook {name}"
        );
    }
    let test = match scenario {
        Some(yaml) => Test::new().file("scenario.yaml", yaml),
        None => Test::new(),
    };
    let state = test.path("lab.json");
    let dir = test.path("");
    let run = |args: &[&str]| {
        let mut t = Test::new()
            .env("VZRUN_STATE_DIR", dir.join("journal"))
            .args(["--lab-speed", "0", "--lab-state"])
            .arg(&state);
        if scenario.is_some() {
            let mut flag = std::ffi::OsString::from("--lab=");
            flag.push(dir.join("scenario.yaml"));
            t = t.arg(flag);
        }
        t.args(args.iter().copied()).run()
    };
    run(&["hello"]).status(0);
    let before = std::fs::read_to_string(&state).unwrap();
    for case in cases {
        let mut args = vec!["plan"];
        args.extend_from_slice(case);
        // Where the MDSs use a storage network (the real variants), the new MDS listens on
        // msk-04's address there, as an operator gives it: add-mds refuses the public one.
        if case[0] == "add-mds"
            && scenario.is_some_and(|y| y.contains("storage_address: 10.40.0.34"))
        {
            args[3] = "10.40.0.34:2510";
        }
        let out = run(&args);
        // unmount-cluster refuses while VEs run, force-register while the VE runs on a
        // healthy node: a plan of a refusal is a refusal.
        let expected = if matches!(case[0], "unmount-cluster" | "force-register") {
            3
        } else {
            0
        };
        let out = out.status(expected);
        assert!(
            out.changes().is_empty(),
            "planning {case:?} made changes: {:?}",
            out.changes()
        );
        assert_eq!(
            std::fs::read_to_string(&state).unwrap(),
            before,
            "planning {case:?} changed the lab"
        );
    }
}
