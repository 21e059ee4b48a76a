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
        self.run_with_env(&[], args)
    }

    fn run_with_env(&self, env: &[(&str, &str)], args: &[&str]) -> Outcome {
        let mut flag = std::ffi::OsString::from("--lab=");
        flag.push(&self.scenario);
        let mut test = Test::new();
        for (key, value) in env {
            test = test.env(key, value);
        }
        test.env("VZRUN_STATE_DIR", self.state_dir())
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
fn the_table_for_people_reports_a_node_that_is_down_too() {
    // The default format: a down node's row has no VE count, which ended the run (exit 1,
    // "Property not found: running") exactly when the table mattered.
    let lab = Lab::new(&three_nodes(&["n3"]));
    let out = lab.run(&["cluster-health"]).status(0);
    let row = |node: &str| -> Vec<String> {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{node} ")))
            .unwrap_or_else(|| panic!("no row for {node}:\n{}", out.stdout))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(row("n3"), ["n3", "NO"]);
    assert_eq!(row("n1")[..3], ["n1", "yes", "1"]);
    // A storage-only node (no hypervisor tag) has no VE count either.
    let lab = Lab::new(&three_nodes(&[]).replace(
        "{name: n3, address: 10.0.0.3, tags: [hypervisor, storage]",
        "{name: n3, address: 10.0.0.3, tags: [storage]",
    ));
    let out = lab.run(&["cluster-health"]).status(0);
    let n3 = out
        .stdout
        .lines()
        .find(|l| l.starts_with("n3 "))
        .unwrap_or_default();
    assert_eq!(
        n3.split_whitespace().take(2).collect::<Vec<_>>(),
        ["n3", "yes"],
        "{}",
        out.stdout
    );
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
        .stderr_lacks("narration")
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
    let failing = lab.dir.path().join("failing.rhai");
    std::fs::write(
        &failing,
        "//! Probe that fails.\nhost(\"n1\").query([\"false\"]);\n",
    )
    .unwrap();
    lab.run(&[failing.to_str().unwrap()]).status(1);
    assert_eq!(crate::test::run_ids(&lab.state_dir()).len(), 1);
    // A change is journaled.
    lab.run(&[&lab.change_script()]).status(0);
    assert_eq!(crate::test::run_ids(&lab.state_dir()).len(), 2);
    // VZRUN_JOURNAL=all journals every run.
    lab.run_with_env(&[("VZRUN_JOURNAL", "all")], &["cluster-health"])
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
    lab.run_with_env(&[("VZRUN_JOURNAL_KEEP_RUNS", "3")], &[&lab.change_script()])
        .status(0);
    let ids = crate::test::run_ids(&lab.state_dir());
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(&ids[..2], ["20260104-000000-0004", "20260105-000000-0005"]);
}

/// `promtool`, or `None` (saying why) where it is not installed; under CI it must be there
/// (`.ci/run` installs Debian's prometheus package), so its absence fails the test.
fn promtool() -> Option<&'static str> {
    let found = std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("promtool");
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "promtool is missing under CI: .ci/run installs it (Debian package prometheus)"
    );
    eprintln!("skipped: promtool is not installed (apt-get install prometheus)");
    None
}

fn promtool_check(args: &[&str], stdin: &[u8]) {
    let Some(promtool) = promtool() else { return };
    use std::io::Write;
    let mut child = std::process::Command::new(promtool)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn prometheus_output_passes_promtool_and_has_space_per_tier() {
    let lab = Lab::new(&format!("stat_tiers: true\n{}", three_nodes(&["n3"])));
    let out = lab
        .run(&["-q", "cluster-health", "--format", "prometheus"])
        .status(0)
        .stdout_has("# TYPE vzrun_tier_space_total_bytes gauge")
        .stdout_has("vzrun_tier_space_total_bytes{cluster=\"small\",tier=\"0\"}")
        .stdout_has("vzrun_tier_space_free_bytes{cluster=\"small\",tier=\"1\"}")
        .stdout_has("vzrun_cluster_chunks{cluster=\"small\",state=\"healthy\"}")
        .stdout_has("vzrun_license_capacity_bytes{cluster=\"small\"}")
        .stdout_has("vzrun_node_memory_available_bytes{cluster=\"small\",node=\"n1\"}")
        .stdout_has("vzrun_node_memory_free_bytes{cluster=\"small\",node=\"n2\"}");
    promtool_check(&["check", "metrics"], out.stdout.as_bytes());
    // Without a TIER column the report says that it cannot tell space per tier.
    Lab::new(&three_nodes(&[]))
        .run(&["cluster-health", "--format", "prometheus"])
        .status(0)
        .stdout_lacks("vzrun_tier_")
        .stderr_has("vstorage stat shows no tiers");
}

#[test]
fn textfile_mode_writes_the_exposition_atomically_for_node_exporter() {
    let lab = Lab::new(&three_nodes(&["n2"]));
    let dir = lab.dir.path().join("textfile");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("vzrun_cluster.prom"), "stale\n").unwrap();
    lab.run(&["-q", "cluster-health", "--textfile", dir.to_str().unwrap()])
        .status(0);
    let text = std::fs::read_to_string(dir.join("vzrun_cluster.prom")).unwrap();
    assert!(
        text.contains("vzrun_node_up{cluster=\"small\",node=\"n2\"} 0\n"),
        "{text}"
    );
    assert!(text.ends_with('\n'));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["vzrun_cluster.prom"], "no temporary file is left");
    promtool_check(&["check", "metrics"], text.as_bytes());
}

#[test]
fn zabbix_output_is_sender_input_with_low_level_discovery() {
    let lab = Lab::new(&format!("stat_tiers: true\n{}", three_nodes(&["n3"])));
    let out = lab
        .run(&[
            "-q",
            "cluster-health",
            "--format",
            "zabbix",
            "--zabbix-host",
            "VZ small",
        ])
        .status(0)
        .stdout_has("\"VZ small\" vzrun.node.up[n1] 1\n")
        .stdout_has("\"VZ small\" vzrun.node.up[n3] 0\n")
        .stdout_has("\"VZ small\" vzrun.cluster.cs_active 3\n")
        .stdout_has("\"VZ small\" vzrun.tier.space_free_bytes[0] ");
    // Every line is HOST KEY VALUE; the discovery value is quoted JSON with {#NODE} rows.
    let discovery = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("\"VZ small\" vzrun.node.discovery "))
        .expect("a node discovery line");
    let json = discovery
        .strip_prefix('"')
        .and_then(|d| d.strip_suffix('"'))
        .unwrap()
        .replace("\\\"", "\"");
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let nodes: Vec<&str> = value["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["{#NODE}"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["n1", "n2", "n3"]);
}

/// The alert rules of book/src/monitoring.md, as printed there.
fn book_alert_rules() -> String {
    let page = include_str!("../../book/src/monitoring.md");
    let after = page
        .split_once("<!-- alert-rules:")
        .expect("the alert rules marker")
        .1;
    let block = after.split_once("```yaml\n").unwrap().1;
    block.split_once("```").unwrap().0.to_string()
}

#[test]
fn the_books_alert_rules_are_valid_and_fire_on_the_metrics_we_export() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("vzrun.rules.yml");
    std::fs::write(&rules, book_alert_rules()).unwrap();
    promtool_check(&["check", "rules", rules.to_str().unwrap()], b"");
    // Unit tests of the rules: a node down for 5 minutes, a license ending in 10 days.
    let tests = dir.path().join("tests.yml");
    std::fs::write(
        &tests,
        "rule_files: [vzrun.rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n      - series: 'vzrun_node_up{cluster=\"small\",node=\"n3\"}'\n        values: '0x10'\n      - series: 'vzrun_license_expiry_timestamp_seconds{cluster=\"small\"}'\n        values: '864000x10'\n    alert_rule_test:\n      - eval_time: 5m\n        alertname: VzrunNodeDown\n        exp_alerts:\n          - exp_labels: {severity: critical, cluster: small, node: n3}\n            exp_annotations: {summary: 'n3 (small) does not answer'}\n      - eval_time: 5m\n        alertname: VzrunLicenseExpiresSoon\n        exp_alerts:\n          - exp_labels: {severity: warning, cluster: small}\n            exp_annotations: {summary: 'The storage license of small expires in 9.997 days'}\n",
    )
    .unwrap();
    promtool_check(&["test", "rules", tests.to_str().unwrap()], b"");
}

#[test]
fn over_ssh_a_hung_node_is_cut_off_at_the_probe_deadline() {
    // msk-03 accepts SSH but its tools hang: the remote `timeout` must end them at the
    // probe's deadline, not at the command default.
    let scenario = vzrun::lab::DEFAULT_SCENARIO
        .replace("speed: 0.05", "speed: 0")
        .replace("{name: msk-03, ", "{name: msk-03, unreachable: true, ");
    let Some(cluster) = crate::sshd::SshCluster::start_with(3, &scenario) else {
        return;
    };
    Test::new()
        .arg("--inventory")
        .arg(cluster.path("inventory.yaml"))
        .args(["cluster-health", "--format", "prometheus", "--timeout", "2"])
        .run()
        .status(0)
        .stdout_has("vzrun_node_up{cluster=\"livelinux\",node=\"msk-01\"} 1")
        .stdout_has("vzrun_node_up{cluster=\"livelinux\",node=\"msk-03\"} 0")
        .stdout_has("vzrun_storage_up{cluster=\"livelinux\"} 1")
        .stderr_has("msk-03 did not answer within 2s")
        .stderr_has("did not finish within")
        .stderr_lacks("within 600s");
}

#[test]
fn every_metric_family_vzrun_can_export_passes_promtool() {
    // Also those the lab's `stat` does not print (IO rates, license use): their names and
    // HELP texts must be valid before a real cluster shows them.
    let out = Test::new()
        .file(
            "all.rhai",
            "//! Every family.\nimport \"metrics\" as metrics;\nlet samples = [];\nfor name in metrics::families().keys() { samples.push(metrics::sample(name, #{cluster: \"c\", node: \"a\\\"b\"}, 1)); }\nlet text = metrics::prometheus(samples);\ntext.trim();\nprint(text);\n",
        )
        .args(["--lab", "--lab-speed", "0", "-q", "./all.rhai"])
        .run()
        .status(0)
        .stdout_has("vzrun_cluster_read_bytes_per_second{cluster=\"c\",node=\"a\\\"b\"} 1")
        .stdout_has("# TYPE vzrun_license_used_bytes gauge");
    promtool_check(&["check", "metrics"], out.stdout.as_bytes());
}
