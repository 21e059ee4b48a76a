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
