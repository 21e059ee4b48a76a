//! Monitoring: `cluster-health` reports what it can when the cluster does not answer, its
//! data reaches stdout whatever `-q` says, and its output is valid for Prometheus and Zabbix.

use std::path::PathBuf;

use tempfile::TempDir;

use crate::test::{Outcome, Test};

/// A lab from a scenario, whose state persists across the runs of a test.
struct Lab {
    dir: TempDir,
    scenario: PathBuf,
}

impl Lab {
    fn new(yaml: &str) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let scenario = dir.path().join("scenario.yaml");
        std::fs::write(&scenario, yaml).unwrap();
        Lab { dir, scenario }
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A runbook that changes a sysctl on n1 (a Change, so the run is journaled).
    fn change_script(&self) -> String {
        let path = self.dir.path().join("change.rhai");
        std::fs::write(
            &path,
            "//! Change.\nsysctl::set(host(\"n1\"), \"vm.swappiness\", 10);\n",
        )
        .unwrap();
        path.display().to_string()
    }

    fn run(&self, args: &[&str]) -> Outcome {
        let mut flag = std::ffi::OsString::from("--lab=");
        flag.push(&self.scenario);
        Test::new()
            .env("VZRUN_STATE_DIR", self.state_dir())
            .args(["--lab-speed", "0", "--lab-state"])
            .arg(self.dir.path().join("lab.json"))
            .arg(flag)
            .args(args.iter().copied())
            .run()
    }
}

/// Three hypervisors with storage (a CS and an MDS each); those named stop answering.
fn three_nodes(unreachable: &[&str]) -> String {
    let mut yaml = String::from("cluster: small\nspeed: 0\nhosts:\n");
    for (i, name) in ["n1", "n2", "n3"].iter().enumerate() {
        yaml.push_str(&format!(
            "  - {{name: {name}, address: 10.0.0.{}, tags: [hypervisor, storage], memory_mb: 65536, unreachable: {}}}\n",
            i + 1,
            unreachable.contains(name)
        ));
    }
    yaml.push_str("css:\n  - {id: 1, host: n1, tier: 0}\n  - {id: 2, host: n2, tier: 0}\n  - {id: 3, host: n3, tier: 1}\n");
    yaml.push_str("mdss:\n  - {id: 1, host: n1, master: true}\n  - {id: 2, host: n2}\n  - {id: 3, host: n3}\n");
    yaml.push_str("ves:\n  - {name: web1, host: n1}\n  - {name: web2, host: n2}\n");
    yaml
}

#[test]
fn one_unreachable_hypervisor_is_reported_down_and_the_rest_is_still_reported() {
    let lab = Lab::new(&three_nodes(&["n3"]));
    lab.run(&["cluster-health", "--format", "prometheus"])
        .status(0)
        .stdout_has("vzrun_node_up{cluster=\"small\",node=\"n1\"} 1")
        .stdout_has("vzrun_node_up{cluster=\"small\",node=\"n3\"} 0")
        .stdout_has("vzrun_node_running_ves{cluster=\"small\",node=\"n1\"} 1")
        .stdout_lacks("vzrun_node_running_ves{cluster=\"small\",node=\"n3\"}")
        .stdout_has("vzrun_cluster_healthy{cluster=\"small\"}")
        // The probe gave up at its own short deadline, not the 600 s command default.
        .stderr_has("n3 did not answer within 10s")
        .stderr_has("did not finish within")
        .stderr_lacks("within 600s");
}

#[test]
fn the_storage_is_asked_through_the_next_node_when_the_first_is_down() {
    let lab = Lab::new(&three_nodes(&["n1"]));
    lab.run(&["cluster-health", "--format", "prometheus"])
        .status(0)
        .stdout_has("vzrun_node_up{cluster=\"small\",node=\"n1\"} 0")
        .stdout_has("vzrun_storage_up{cluster=\"small\"} 1")
        .stdout_has("vzrun_cluster_chunk_servers{cluster=\"small\",state=\"active\"} 3");
}

#[test]
fn no_storage_node_answering_fails_after_reporting_the_nodes() {
    let lab = Lab::new(&three_nodes(&["n1", "n2", "n3"]));
    lab.run(&["cluster-health", "--format", "prometheus"])
        .status(1)
        .stdout_has("vzrun_node_up{cluster=\"small\",node=\"n2\"} 0")
        .stdout_has("vzrun_storage_up{cluster=\"small\"} 0")
        .stdout_lacks("vzrun_cluster_healthy")
        .stderr_has("could not reach the storage of cluster small: n1: down; n2: down; n3: down");
}

#[test]
fn bad_options_are_refused_before_anything_runs() {
    let lab = Lab::new(&three_nodes(&[]));
    lab.run(&["cluster-health", "--timeout", "0"])
        .status(2)
        .stderr_has("timeout");
    lab.run(&["cluster-health", "--timeout", "121"]).status(2);
    lab.run(&["cluster-health", "--textfile", "/nonexistent/textfile-dir"])
        .status(2)
        .stderr_has("/nonexistent/textfile-dir does not exist");
}

#[test]
fn printed_data_reaches_stdout_even_with_quiet_and_narration_does_not() {
    Test::new()
        .file(
            "r.rhai",
            "//! Print and log.\nprint(\"data line\");\nlog(\"narration\");\nwarn(\"careful\");\n",
        )
        .args(["--lab", "--lab-speed", "0", "-q", "./r.rhai"])
        .run()
        .status(0)
        .stdout_has("data line")
        .stdout_lacks("narration")
        .stderr_has("warning: careful");
    let lab = Lab::new(&three_nodes(&[]));
    let out = lab
        .run(&["-q", "cluster-health", "--format", "prometheus"])
        .status(0)
        .stdout_has("vzrun_node_up{cluster=\"small\",node=\"n3\"} 1");
    // Nothing but the exposition: every line is a comment or a sample.
    for line in out.stdout.lines() {
        assert!(
            line.starts_with("# ") || line.starts_with("vzrun_"),
            "not a metric line: {line:?}"
        );
    }
}

#[test]
fn read_only_runs_leave_no_journal_unless_asked_and_changes_still_do() {
    let lab = Lab::new(&three_nodes(&[]));
    lab.run(&["cluster-health", "--format", "prometheus"])
        .status(0);
    lab.run(&["cluster-health"]).status(0);
    assert_eq!(crate::test::run_ids(&lab.state_dir()), Vec::<String>::new());
    // A failed read-only run is kept: the operator will want to know why.
    lab.run(&["cluster-health", "--timeout", "0"]).status(2);
    assert_eq!(crate::test::run_ids(&lab.state_dir()).len(), 1);
    // A change is journaled.
    lab.run(&[&lab.change_script()]).status(0);
    assert_eq!(crate::test::run_ids(&lab.state_dir()).len(), 2);
    // VZRUN_JOURNAL=all journals every run.
    let mut flag = std::ffi::OsString::from("--lab=");
    flag.push(&lab.scenario);
    Test::new()
        .env("VZRUN_STATE_DIR", lab.state_dir())
        .env("VZRUN_JOURNAL", "all")
        .args(["--lab-speed", "0", "--lab-state"])
        .arg(lab.dir.path().join("lab.json"))
        .arg(flag)
        .arg("cluster-health")
        .run()
        .status(0);
    assert_eq!(crate::test::run_ids(&lab.state_dir()).len(), 3);
}

#[test]
fn journals_are_pruned_by_count_when_a_run_writes_one() {
    let lab = Lab::new(&three_nodes(&[]));
    let runs = lab.state_dir().join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    for day in 1..=5 {
        let id = format!("202601{day:02}-000000-000{day}");
        let line = format!("{{\"v\":1,\"ts\":\"2026-01-{day:02}T00:00:00Z\",\"event\":\"run_started\",\"runbook\":\"old\"}}\n");
        std::fs::write(runs.join(format!("{id}.jsonl")), line).unwrap();
    }
    let mut flag = std::ffi::OsString::from("--lab=");
    flag.push(&lab.scenario);
    Test::new()
        .env("VZRUN_STATE_DIR", lab.state_dir())
        .env("VZRUN_JOURNAL_KEEP_RUNS", "3")
        .args(["--lab-speed", "0", "--lab-state"])
        .arg(lab.dir.path().join("lab.json"))
        .arg(flag)
        .arg(lab.change_script())
        .run()
        .status(0);
    let ids = crate::test::run_ids(&lab.state_dir());
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(&ids[..2], ["20260104-000000-0004", "20260105-000000-0005"]);
}
