//! A node that died a moment ago (the lab's `off_for_s`): the cluster has not caught up.
//! Its CSs are still listed `active` until the MDS misses them, then `inactive` for their
//! first 5 minutes of silence, `offline` after; its client session is still listed for a
//! while. The runbooks must decide on what the node is, not on what the cluster says yet.

use crate::catalog::{unchanged, Lab};

/// The built-in lab with `node` (one of msk-01..msk-07) off for `off_for` lab seconds.
pub(crate) fn died(node: &str, off_for: u32) -> Lab {
    let address = format!("10.30.17.3{}", &node[node.len() - 1..]);
    let mut lab = Lab::with_scenario(&include_str!("../../src/lab/default.yaml").replacen(
        &format!("{{name: {node}, address: {address}, tags:"),
        &format!(
            "{{name: {node}, address: {address}, powered_off: true, off_for_s: {off_for}, tags:"
        ),
        1,
    ));
    lab.speed = "0";
    lab
}

/// The UUID of the first VE of `node` in the lab.
fn a_ve_of(lab: &Lab, node: &str) -> String {
    let state = lab.state_value();
    state["ves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["host"] == node)
        .map(|v| v["uuid"].as_str().unwrap().to_string())
        .unwrap()
}

#[test]
fn force_register_waits_while_the_cluster_still_lists_the_dead_nodes_session() {
    // msk-04 went off a moment ago: its client session is still in `vstorage stat`, so
    // nothing tells it from a node that lost only its management network and still runs
    // the VE. Refused, saying to wait or declare it fenced; once the session is gone, the
    // takeover goes ahead.
    let lab = died("msk-04", 0);
    let uuid = a_ve_of(&lab, "msk-04");
    unchanged(
        lab.run(&["force-register", &uuid, "msk-02", "--yes"])
            .status(3)
            .stderr_has(
                "msk-04 does not answer over SSH, but the cluster still has a session of it",
            )
            .stderr_has("Wait until vstorage stat no longer lists it"),
    );
    lab.run(&["force-register", &uuid, "msk-02", "--yes"])
        .status(0)
        .stderr_has("--preserve-uuid --force")
        .stderr_has(&format!("{uuid} runs on msk-02"));
}

#[test]
fn storage_is_not_taken_from_another_node_while_the_cluster_still_lists_a_dead_nodes_css_active() {
    // msk-04 went off a moment ago; the MDS still lists its three CSs active. The runs
    // below each took the lock "storage" skipping msk-04 ("not answering"), then asked
    // ok_to_stop, which saw a healthy cluster: msk-05's CSs went into maintenance (or
    // msk-05 was drained, or CS#1037 removed) with msk-04's CSs gone too, two hosts' replicas
    // at once, below the minimum for the chunks they shared.
    for args in [
        &["cs-maintenance", "msk-05", "on", "--yes"][..],
        &["maintenance", "msk-05", "on", "--yes"],
        &["remove-cs", "1037", "--yes"],
    ] {
        let lab = died("msk-04", 0);
        unchanged(
            lab.run(args)
                .status(3)
                .stderr_has("msk-04 does not answer, yet the cluster lists its chunk servers active (CS#1034, CS#1035, CS#1036)")
                .stderr_has("pass --force to override"),
        );
        // The dead node's CSs fade as the clock moves; none was taken out.
        let css = lab.state_value()["css"].clone();
        let out: Vec<&serde_json::Value> = css
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "maintenance" || c["status"] == "dropped")
            .collect();
        assert!(out.is_empty(), "{args:?} took CSs out: {out:?}");
    }
}

/// The node boots again (the lab's state edited between two commands of a run): it answers,
/// mounts the cluster (a client session), its CSs and MDSs are back, and its dispatcher
/// starts the VEs registered there that start on boot (Autostart).
fn power_on(lab: &Lab, node: &str) {
    let mut state = lab.state_value();
    let cluster = state["cluster"].as_str().unwrap().to_string();
    for h in state["hosts"].as_array_mut().unwrap() {
        if h["name"] == node {
            h["unreachable"] = false.into();
            h["ops"]["powered_off"] = false.into();
            h["ops"]["powered_off_at"] = serde_json::Value::Null;
            h["ops"]["mds_cut_off"] = serde_json::json!([]);
            h["ops"]["storage_cut_off"] = serde_json::json!([]);
            h["mounts"].as_array_mut().unwrap().push(serde_json::json!({
                "source": format!("vstorage://{cluster}"),
                "target": format!("/vstorage/{cluster}"),
                "fstype": "fuse.vstorage",
            }));
        }
    }
    for c in state["css"].as_array_mut().unwrap() {
        if c["host"] == node {
            c["status"] = "active".into();
        }
    }
    for m in state["mdss"].as_array_mut().unwrap() {
        if m["host"] == node {
            m["status"] = "avail".into();
        }
    }
    for v in state["ves"].as_array_mut().unwrap() {
        if v["host"] == node && v["onboot"] == true {
            v["status"] = "running".into();
        }
    }
    std::fs::write(
        lab.dir.path().join("lab.json"),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();
}

#[test]
fn force_register_changes_nothing_when_the_old_node_comes_back_while_the_question_is_read() {
    // msk-04 died ten minutes ago: no session, its CSs offline; the checks pass. While the
    // operator reads the question, msk-04 boots and starts the VE (Autostart). The run
    // checked only that the target had not gone into maintenance meanwhile, then registered
    // the VE with --force and started it on msk-02: one VE running on two nodes.
    let lab = died("msk-04", 600);
    let uuid = a_ve_of(&lab, "msk-04");
    let (_keep, asking) = lab.at_prompt(
        "revoking the old node's access?",
        &["force-register", &uuid, "msk-02"],
    );
    power_on(&lab, "msk-04");
    let (code, text) = asking.answer("yes");
    assert_eq!(code, 3, "{text}");
    assert!(text.contains(&format!("{uuid} (")), "names the VE: {text}");
    assert!(
        text.contains("is registered on msk-04 (running), which answers (checked again after the question; nothing was changed)"),
        "{text}"
    );
    assert!(!text.contains("prlctl register"), "{text}");
    lab.query(&format!(
        "print(`on msk-02: ${{prlctl::list(host(\"msk-02\")).filter(|v| v.uuid == \"{uuid}\").len()}}`);"
    ))
    .status(0)
    .stdout_has("on msk-02: 0");
}

#[test]
fn the_mds_count_does_not_trust_an_mds_whose_node_just_died() {
    // msk-03 went off a moment ago; MDS#3 is still listed avail (its peers have not missed
    // it yet). remove-mds 2 counted 2 running of the 2 left and removed MDS#2: once MDS#3
    // was missed, 1 of 2 ran, no majority, and no vstorage command reached the cluster.
    // add-mds counted 3 running of 4 and made a fourth: 2 of 4 until it starts.
    for (args, needle) in [
        (
            &["remove-mds", "2", "--yes"][..],
            "removing MDS#2 leaves 1 running of 2 MDSs",
        ),
        (
            &["add-mds", "msk-04", "10.30.17.34", "--yes"],
            "2 of 4 MDSs would run until the new one starts",
        ),
    ] {
        let lab = died("msk-03", 0);
        unchanged(
            lab.run(args)
                .status(3)
                .stderr_has(needle)
                .stderr_has("MDS#3 is listed avail, but msk-03 does not answer"),
        );
        let mdss = lab.state_value()["mdss"].as_array().unwrap().len();
        assert_eq!(mdss, 3, "{args:?} changed the MDSs");
    }
    // The dead node's own MDS may go: the two others run.
    let lab = died("msk-03", 0);
    lab.run(&["remove-mds", "3", "--yes"])
        .status(0)
        .stderr_has("rm-mds 3");
}

#[test]
fn cluster_health_says_when_a_node_is_down_but_the_cluster_still_lists_its_chunk_servers_active() {
    // Right after msk-04 died the report read "healthy, 21/21 active" with msk-04 down and
    // nothing tying the two: the MDS had not missed msk-04's CSs yet.
    let lab = died("msk-04", 0);
    lab.run(&["cluster-health"])
        .status(0)
        .stderr_has("msk-04 did not answer, yet the cluster lists its 3 chunk servers active (CS#1034, CS#1035, CS#1036)");
    let lab = died("msk-04", 0);
    lab.run(&["cluster-health", "--format", "prometheus"])
        .status(0)
        .stdout_has("vzrun_node_active_chunk_servers{cluster=\"livelinux\",node=\"msk-04\"} 3")
        .stdout_has("vzrun_node_active_chunk_servers{cluster=\"livelinux\",node=\"msk-05\"} 3");
}

#[test]
fn set_replicas_does_not_count_a_node_that_just_died_as_a_failure_domain() {
    // msk-04 went off a moment ago; the cluster still lists its CSs active, and
    // set-replicas counted 7 storage hosts with an active CS for a norm of 7: its chunks
    // would stay degraded, as only 6 hosts remain to hold the replicas.
    let lab = died("msk-04", 0);
    unchanged(
        lab.run(&["set-replicas", "homes", "7", "--yes"])
            .status(3)
            .stderr_has("livelinux has 6 storage host(s) with an active CS, the norm needs 7")
            .stderr_has("msk-04 does not answer, yet the cluster lists its chunk servers active"),
    );
    // --force counts it as it is listed (for a node that lost only its management network).
    let lab = died("msk-04", 0);
    lab.run(&["set-replicas", "homes", "7", "--yes", "--force"])
        .status(0)
        .stderr_has(
            "--force: replicas 7 for /vstorage/livelinux/private: without msk-04 (not answering)",
        )
        .stderr_has("/vstorage/livelinux/private: replicas 7");
    // A norm the 6 others can hold goes ahead, saying which node was not counted.
    let lab = died("msk-04", 0);
    lab.run(&["set-replicas", "homes", "6", "--yes"])
        .status(0)
        .stderr_has("msk-04 does not answer, yet the cluster lists its chunk servers active")
        .stderr_has("/vstorage/livelinux/private: replicas 6");
}

#[test]
fn set_tier_does_not_count_a_node_that_just_died_as_a_failure_domain() {
    // web01 keeps 7 replicas; every tier has a CS on each of the 7 nodes. msk-04 went off a
    // moment ago, its CSs still listed active: set-tier counted 7 hosts on tier 2 and moved
    // web01 there, where 6 are left to hold its replicas.
    let mut lab = died("msk-04", 0);
    let yaml = std::fs::read_to_string(lab.dir.path().join("scenario.yaml"))
        .unwrap()
        .replacen("cluster: livelinux\n", "cluster: livelinux\nstat_tiers: true\n", 1)
        .replacen(
            "{name: web01, kind: CT, host: msk-01, status: running, ip: [10.30.20.11], memsize: 2048, cpus: 4, tier: 1}",
            "{name: web01, kind: CT, host: msk-01, status: running, ip: [10.30.20.11], memsize: 2048, cpus: 4, tier: 1, replicas: \"7:2\"}",
            1,
        );
    lab = Lab::with_scenario(&yaml);
    lab.speed = "0";
    unchanged(
        lab.run(&["set-tier", WEB01_HOME, "2"])
            .status(3)
            .stderr_has("tier 2 has 6 storage host(s) with an active CS")
            .stderr_has("msk-04 does not answer, yet the cluster lists its chunk servers active"),
    );
    // --force counts it as it is listed (a fresh lab: by now the MDS has missed msk-04).
    let mut lab = Lab::with_scenario(&yaml);
    lab.speed = "0";
    lab.run(&["set-tier", WEB01_HOME, "2", "--force"])
        .status(0)
        .stderr_has("--force:")
        .stderr_has("tier 2");
}

/// web01's home in the built-in lab (its UUID derives from its name): given as a path, no
/// hypervisor is asked to find it.
const WEB01_HOME: &str = "/vstorage/livelinux/private/5ff4bf17-809a-474d-a9e7-e5900856f0eb";

#[test]
fn cs_maintenance_off_of_a_node_that_is_off_leaves_its_chunk_servers_silent_and_says_so() {
    // msk-03 was powered off during its CS maintenance (as the support KB has it: CSs in
    // maintenance, then the node serviced). The lab listed its CSs offline at once, out of
    // maintenance though nobody took them out; and `cs-maintenance msk-03 off` made them
    // active while the node was still off, and said "CSs back in service".
    let mut yaml = include_str!("../../src/lab/default.yaml").replacen(
        "{name: msk-03, address: 10.30.17.33, tags:",
        "{name: msk-03, address: 10.30.17.33, powered_off: true, tags:",
        1,
    );
    for id in 1031..=1033 {
        yaml = yaml.replacen(
            &format!("{{id: {id}, host: msk-03,"),
            &format!("{{id: {id}, host: msk-03, status: maintenance,"),
            1,
        );
    }
    let mut lab = Lab::with_scenario(&yaml);
    lab.speed = "0";
    let statuses = |lab: &Lab| -> Vec<String> {
        lab.state_value()["css"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["host"] == "msk-03")
            .map(|c| c["status"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(statuses(&lab), ["maintenance"; 3]);
    let out = lab
        .run(&["cs-maintenance", "msk-03", "off", "--yes"])
        .status(0)
        .stderr_has("rm-cs --maintenance --revert 1031")
        .stderr_has(
            "msk-03 does not answer: its 3 chunk servers are out of maintenance but silent",
        );
    assert!(
        !out.stderr.contains("CSs back in service"),
        "{}",
        out.stderr
    );
    assert_eq!(statuses(&lab), ["offline"; 3]);
}

#[test]
fn a_refusal_for_a_dead_nodes_silent_chunk_servers_says_how_to_proceed() {
    // msk-04 went off 20 s ago: its CSs are inactive. Taking msk-05's storage out is refused
    // (the cluster is degraded), but the refusal said only "fix that first": nothing says
    // that the fix is msk-04 back, or its CSs removed if it is gone for good.
    let lab = died("msk-04", 20);
    unchanged(
        lab.run(&["cs-maintenance", "msk-05", "on", "--yes"])
            .status(3)
            .stderr_has("not active: CS#1034 inactive on msk-04")
            .stderr_has("msk-04 has chunk servers inactive or offline (CS#1034, CS#1035, CS#1036): bring it back, or if it is gone for good remove them first (vzrun remove-cs 1034 --force, one by one)"),
    );
}

#[test]
fn force_register_changes_nothing_when_the_old_node_mounts_the_cluster_again_while_the_question_is_read(
) {
    // msk-04 boots during the question but its management network stays down: it does not
    // answer, yet it mounts the cluster again (a session) and may run the VE.
    let lab = died("msk-04", 600);
    let uuid = a_ve_of(&lab, "msk-04");
    let (_keep, asking) = lab.at_prompt(
        "revoking the old node's access?",
        &["force-register", &uuid, "msk-02"],
    );
    power_on(&lab, "msk-04");
    lab.stop_answering("msk-04");
    let (code, text) = asking.answer("yes");
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains(
            "msk-04 does not answer over SSH, but the cluster still has a session of it (client "
        ) && text.contains("(checked again after the question; nothing was changed)"),
        "{text}"
    );
    assert!(!text.contains("prlctl register"), "{text}");
}

#[test]
fn remove_cs_of_a_dead_node_that_comes_back_during_the_question_does_not_say_it_is_still_silent() {
    // msk-04 died long ago; its CS#1034 goes through msk-01. While the question is read,
    // msk-04 boots. The run drained the CS, then said "msk-04 does not answer: ... left
    // there; run ... when it is back", of a node that was back.
    let lab = died("msk-04", 600);
    let (_keep, asking) = lab.at_prompt(
        "Remove CS#1034 from livelinux",
        &["remove-cs", "1034", "--force"],
    );
    power_on(&lab, "msk-04");
    let (code, text) = asking.answer("yes");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("rm-cs --wait 1034"), "{text}");
    assert!(!text.contains("msk-04 does not answer: CS#1034"), "{text}");
    assert!(
        text.contains("msk-04 answers again: CS#1034's unit, disk and fstab line are still there; run \"vzrun remove-cs 1034 --on msk-04\" now"),
        "{text}"
    );
    // Which cleans them up.
    lab.run(&["remove-cs", "1034", "--on", "msk-04", "--yes"])
        .status(0)
        .stderr_has("[msk-04] systemctl stop vstorage-csd.livelinux.1034.service")
        .stderr_has("[msk-04] umount ");
}

#[test]
fn pcompact_rolling_does_not_start_while_a_node_that_just_died_is_still_listed_healthy() {
    // pcompact-rolling refuses a cluster that is not healthy (compaction competes with
    // recovery). msk-04 went off a moment ago: vstorage stat still said healthy, the lock
    // skipped msk-04 as not answering, and msk-05 was compacted while the recovery of
    // msk-04's data was minutes away.
    let lab = died("msk-04", 0);
    let out = unchanged(
        lab.run(&["pcompact-rolling", "--nodes", "msk-05"])
            .status(3)
            .stderr_has("msk-04 does not answer, yet the cluster lists its chunk servers active"),
    );
    assert!(!out.stderr.contains("pcompact -v"), "{}", out.stderr);
}
