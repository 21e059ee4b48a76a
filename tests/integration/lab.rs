//! The lab through the CLI: --lab, scenarios, persisted state, faults, the shim.

use std::process::Command;

use crate::test::{vzrun_bin, Test};

const STATUS: &str = "//! Status of a VE.\n//! arg ve: name\n//! opt on = \"msk-01\": host\nlet r = host(ARGS.on).query([\"prlctl\", \"status\", ARGS.ve], #{check: false});\nlog(r.stdout);\n";

#[test]
fn hello_greets_every_lab_host() {
    let out = Test::new()
        .args(["--lab", "--lab-speed", "0", "hello"])
        .run()
        .status(0);
    for i in 1..=7 {
        assert!(
            out.stderr.contains(&format!("hello from msk-0{i}")),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn lab_hosts_are_known_by_name_with_tags() {
    Test::new()
        .file(
            "h.rhai",
            "//! Hosts.\nlog(`${hosts().len()} ${hosts(\"mds\").len()} ${host(\"msk-03\").address} ${CLUSTER}`);\nhost(\"msk-99\");\n",
        )
        .args(["--lab", "./h.rhai"])
        .run()
        .status(2)
        .stderr_has("7 3 10.30.17.33 livelinux")
        .stderr_has("known hosts: msk-01, msk-02");
}

#[test]
fn bad_scenario_is_reported_with_line_and_column_and_nothing_runs() {
    Test::new()
        .file(
            "bad.yaml",
            "cluster: x\nhosts:\n  - {name: a, address: b, colour: red}\n",
        )
        .file("r.rhai", "//! Touch.\nlocal().run([\"touch\", \"ran\"]);\n")
        .args(["--lab=bad.yaml", "./r.rhai"])
        .run()
        .status(2)
        .stderr_has("bad.yaml:3:")
        .stderr_has("colour");
}

#[test]
fn a_scenario_file_replaces_the_default_cluster() {
    Test::new()
        .file(
            "small.yaml",
            "cluster: tiny\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1}\n  - {name: n2, address: 10.0.0.2}\nves:\n  - {name: ct1, host: n2}\n",
        )
        .file(STATUS_FILE, STATUS)
        .args(["--lab=small.yaml", STATUS_PATH, "ct1", "--on", "n2"])
        .run()
        .status(0)
        .stderr_has("CT ct1 exist running");
}

const STATUS_FILE: &str = "status.rhai";
const STATUS_PATH: &str = "./status.rhai";

#[test]
fn the_scenario_may_follow_lab_with_a_space() {
    Test::new()
        .file(
            "small.yaml",
            "cluster: tiny\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1}\n",
        )
        .args(["--lab", "small.yaml", "hello"])
        .run()
        .status(0)
        .stderr_has("hello from n1");
}

#[test]
fn lab_state_persists_between_runs() {
    let test = Test::new()
        .file(
            "stop.rhai",
            "//! Stop web01.\nhost(\"msk-01\").run([\"prlctl\", \"stop\", \"web01\"]);\n",
        )
        .file(STATUS_FILE, STATUS);
    let state = test.path("lab.json");
    let dir = test.path("");
    let run = |runbook: &str, args: &[&str]| {
        Test::new()
            .env("VZRUN_STATE_DIR", dir.join("state"))
            .args(["--lab-speed", "0", "--lab-state"])
            .arg(&state)
            .arg(dir.join(runbook))
            .args(args)
            .run()
    };
    run("status.rhai", &["web01"])
        .status(0)
        .stderr_has("exist running");
    run("stop.rhai", &[]).status(0);
    run("status.rhai", &["web01"])
        .status(0)
        .stderr_has("exist stopped");
}

#[test]
fn an_unreachable_host_times_out_naming_host_and_command() {
    Test::new()
        .file(
            "s.yaml",
            "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, unreachable: true}\n",
        )
        .file(
            "r.rhai",
            "//! Probe.\nhost(\"n1\").query([\"prlctl\", \"list\"], #{timeout: 5});\n",
        )
        .args(["--lab=s.yaml", "./r.rhai"])
        .run()
        .status(5)
        .stderr_has("on n1: `prlctl list` did not finish within 5s");
}

#[test]
fn a_start_slower_than_its_deadline_times_out_and_keeps_starting() {
    Test::new()
        .file(
            "s.yaml",
            "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1}\nves:\n  - {name: slow, host: n1, status: stopped, slow_start_s: 900}\n",
        )
        .file(
            "r.rhai",
            "//! Start.\nlet h = host(\"n1\");\ntry { h.run([\"prlctl\", \"start\", \"slow\"], #{timeout: 60}); } catch (e) { log(`${e.kind}`); }\nlog(h.query([\"prlctl\", \"status\", \"slow\"]).stdout);\n",
        )
        .args(["--lab=s.yaml", "./r.rhai"])
        .run()
        .status(0)
        .stderr_has("timed_out")
        .stderr_has("exist");
}

#[test]
fn a_program_the_lab_does_not_simulate_is_named() {
    Test::new()
        .file(
            "r.rhai",
            "//! Unknown.\nhost(\"msk-01\").query([\"frobctl\"]);\n",
        )
        .args(["--lab", "./r.rhai"])
        .run()
        .status(1)
        .stderr_has("cannot run `frobctl`");
}

#[test]
fn lab_speed_must_be_sane() {
    Test::new()
        .args(["--lab-speed=500", "hello"])
        .run()
        .status(2)
        .stderr_has("invalid --lab-speed 500");
}

#[test]
fn the_shim_answers_as_prlctl_from_a_state_file() {
    let test = Test::new();
    let state = test.path("lab.json");
    let out = Command::new(vzrun_bin())
        .args(["lab-shim", "prlctl", "status", "web01"])
        .env("VZRUN_LAB_STATE", &state)
        .env("VZRUN_LAB_HOST", "msk-01")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "CT web01 exist running\n"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("WARNING: You are using a deprecated CLI")
    );
    // Called by the tool's name (a symlink), as on a shim PATH.
    let link = test.path("prlctl");
    std::os::unix::fs::symlink(vzrun_bin(), &link).unwrap();
    let out = Command::new(&link)
        .args(["stop", "web01"])
        .env("VZRUN_LAB_STATE", &state)
        .env("VZRUN_LAB_HOST", "msk-01")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(std::fs::read_to_string(&state)
        .unwrap()
        .contains("\"stopped\""));
}

#[test]
fn concurrent_shims_do_not_lose_updates() {
    let test = Test::new();
    let state = test.path("lab.json");
    let names = ["web01", "web02", "web03", "web04", "db01", "db02"];
    let children: Vec<_> = names
        .iter()
        .map(|name| {
            Command::new(vzrun_bin())
                .args(["lab-shim", "prlctl", "stop", name])
                .env("VZRUN_LAB_STATE", &state)
                .env("VZRUN_LAB_HOST", "msk-01")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let out = Command::new(vzrun_bin())
        .args(["lab-shim", "prlctl", "list", "-S", "-H", "-o", "name"])
        .env("VZRUN_LAB_STATE", &state)
        .env("VZRUN_LAB_HOST", "msk-01")
        .output()
        .unwrap();
    let stopped = String::from_utf8_lossy(&out.stdout);
    for name in names {
        assert!(
            stopped.lines().any(|l| l.trim() == name),
            "{name} not stopped: {stopped}"
        );
    }
}

#[test]
fn a_shim_that_changes_nothing_leaves_the_state_file_alone() {
    use std::os::unix::fs::MetadataExt;
    let test = Test::new();
    let state = test.path("lab.json");
    let shim = |args: &[&str]| {
        let out = Command::new(vzrun_bin())
            .arg("lab-shim")
            .args(args)
            .env("VZRUN_LAB_STATE", &state)
            .env("VZRUN_LAB_HOST", "msk-01")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        std::fs::metadata(&state).unwrap().ino()
    };
    // The first command creates the file; reads keep it (the file is replaced by a rename
    // when written, so the inode tells); a change replaces it.
    let created = shim(&["prlctl", "list", "-a", "-j"]);
    assert_eq!(shim(&["prlctl", "status", "web01"]), created);
    assert_eq!(shim(&["prlctl", "list", "-a", "-i", "-j"]), created);
    assert_ne!(shim(&["prlctl", "stop", "web01"]), created);
}
