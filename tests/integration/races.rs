//! Two operators at once: one reads a run's question while another run goes ahead. A check
//! made before the question is stale by the time it is answered when the other run has
//! acted meanwhile: vstorage::ok_to_stop allows one storage node out at a time, and a VE
//! taken over (force-register) must be registered on one node only.

use crate::catalog::{unchanged, Lab};

/// `node status` of every CS, as `vstorage stat` gives them.
fn cs_states(lab: &Lab) -> Vec<String> {
    let out = lab
        .query(
            "for c in vstorage::stat(host(\"msk-01\")).cs { print(`cs ${c.node} ${c.status}`); }",
        )
        .status(0);
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("cs "))
        .map(str::to_string)
        .collect()
}

/// The nodes with a CS in maintenance.
fn nodes_in_cs_maintenance(lab: &Lab) -> Vec<String> {
    let mut nodes: Vec<String> = cs_states(lab)
        .iter()
        .filter(|l| l.ends_with(" maintenance"))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    nodes.dedup();
    nodes
}

/// While `first` waits at its question (`prompt`), `second` runs with --yes: it must not get
/// in (exit 4, the lock `lock` held, nothing changed); then the first, answered yes, goes on.
/// Returns the first run's exit status and what it wrote.
fn while_one_holds(
    lab: &Lab,
    first: &[&str],
    prompt: &str,
    second: &[&str],
    lock: &str,
) -> (i32, String) {
    let (_keep, asking) = lab.at_prompt(prompt, first);
    let before = lab.state_value();
    unchanged(
        lab.run(second)
            .status(4)
            .stderr_has(&format!("the cluster lock \"{lock}\" is held")),
    );
    assert!(
        lab.state_value() == before,
        "{second:?} changed the lab while {first:?} asked"
    );
    asking.answer("yes")
}

/// `while_one_holds` for two runs taking storage out: the lock "storage".
fn while_one_asks(lab: &Lab, first: &[&str], prompt: &str, second: &[&str]) -> (i32, String) {
    while_one_holds(lab, first, prompt, second, "storage")
}

#[test]
fn cs_maintenance_of_a_second_node_waits_while_the_first_is_being_asked() {
    let lab = Lab::new();
    let (code, out) = while_one_asks(
        &lab,
        &["cs-maintenance", "msk-05", "on"],
        "into maintenance for up to",
        &["cs-maintenance", "msk-07", "on", "--yes"],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(nodes_in_cs_maintenance(&lab), ["msk-05"]);
}

#[test]
fn node_maintenance_and_cs_maintenance_do_not_both_take_a_storage_node_out() {
    let lab = Lab::new();
    let (code, out) = while_one_asks(
        &lab,
        &["maintenance", "msk-07", "on"],
        "in maintenance and move",
        &["cs-maintenance", "msk-05", "on", "--yes"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(nodes_in_cs_maintenance(&lab).is_empty());
    // msk-07 is cordoned now: msk-05's CSs must wait for it (ok_to_stop, exit 3).
    lab.run(&["cs-maintenance", "msk-05", "on", "--yes"])
        .status(3)
        .stderr_has("one_node_at_a_time");
}

#[test]
fn removing_a_chunk_server_waits_while_another_node_is_being_taken_out() {
    let lab = Lab::new();
    let (code, out) = while_one_asks(
        &lab,
        &["cs-maintenance", "msk-05", "on"],
        "into maintenance for up to",
        &["remove-cs", "1040", "--yes"],
    );
    assert_eq!(code, 0, "{out}");
    // CS#1040 of msk-06 was not removed: its node still has its three, active.
    let six = cs_states(&lab);
    assert_eq!(
        six.iter().filter(|l| *l == "msk-06 active").count(),
        3,
        "{six:?}"
    );
    assert_eq!(nodes_in_cs_maintenance(&lab), ["msk-05"]);
}

#[test]
fn evacuate_says_it_does_not_check_the_storage_of_a_node_with_chunk_servers() {
    // It moves VEs only (two nodes may be evacuated at once); the check is maintenance's.
    let lab = Lab::new();
    lab.run(&["cs-maintenance", "msk-05", "on", "--yes"])
        .status(0);
    lab.run(&["evacuate", "msk-07", "--yes"])
        .status(0)
        .stderr_has("msk-07 runs 3 chunk servers: evacuate does not check")
        .stderr_has("vzrun maintenance msk-07 on");
    lab.run(&["maintenance", "msk-06", "on", "--yes"])
        .status(3)
        .stderr_has("one_node_at_a_time");
}

#[test]
fn two_takeovers_of_one_ve_on_two_nodes_do_not_both_register_it() {
    // n1 is dead (powered off: no SSH, no session with the cluster). Two operators take its
    // VE over, on n2 and on n3. The lock lives on n2 and n3 (n1 cannot hold it).
    let uuid = "11111111-2222-4333-8444-555555555555";
    let lab = Lab::with_scenario(&format!(
        "cluster: c\nspeed: 0\nhosts:\n  - {{name: n1, address: 10.0.0.1, tags: [hypervisor], powered_off: true}}\n  - {{name: n2, address: 10.0.0.2, tags: [hypervisor]}}\n  - {{name: n3, address: 10.0.0.3, tags: [hypervisor]}}\nves:\n  - {{name: orphan, host: n1, uuid: {uuid}}}\n"
    ));
    let (code, out) = while_one_holds(
        &lab,
        &["force-register", uuid, "n2"],
        "Take 11111111-2222-4333-8444-555555555555 over on n2",
        &["force-register", uuid, "n3", "--yes"],
        &format!("ve-{uuid}"),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("skipped, not answering: n1"), "{out}");
    // Registered on n2 only; the second takeover, run again now, finds it there.
    lab.run(&["force-register", uuid, "n3", "--yes"])
        .status(3)
        .stderr_has("is registered on n2");
}

#[test]
fn force_register_takes_a_braced_uuid_and_refuses_what_is_no_uuid() {
    let uuid = "11111111-2222-4333-8444-555555555555";
    let lab = Lab::with_scenario(&format!(
        "cluster: c\nspeed: 0\nhosts:\n  - {{name: n1, address: 10.0.0.1, tags: [hypervisor], powered_off: true}}\n  - {{name: n2, address: 10.0.0.2, tags: [hypervisor]}}\nves:\n  - {{name: orphan, host: n1, uuid: {uuid}}}\n"
    ));
    unchanged(
        lab.run(&["force-register", "../../etc", "n2", "--yes"])
            .status(2)
            .stderr_has("../../etc is not a VE UUID"),
    );
    lab.run(&["force-register", &format!("{{{uuid}}}"), "n2", "--yes"])
        .status(0)
        .stderr_has(&format!("{uuid} runs on n2"));
}

#[test]
fn a_cluster_lock_cannot_live_on_a_host_that_does_not_answer() {
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], unreachable: true}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\n",
    );
    let script = |body: &str| {
        let dir = lab.dir.path().join("scripts");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("s{}.rhai", body.len()));
        std::fs::write(&path, format!("//! Lock.\n{body}\n")).unwrap();
        path.display().to_string()
    };
    // cluster_lock lives on the inventory's first host: while it is down, nobody holds it.
    lab.run(&[&script(r#"cluster_lock("x", || log("inside"));"#)])
        .status(1)
        .stderr_has("cluster lock \"x\" on n1:")
        .stderr_lacks("inside");
    // cluster_lock_on skips it, and says so.
    lab.run(&[&script(
        r#"cluster_lock_on(hosts(), "x", || log("inside"));"#,
    )])
    .status(0)
    .stderr_has("holding the lock \"x\" on n2 (skipped, not answering: n1 does not answer)")
    .stderr_has("inside");
    lab.run(&[&script(
        r#"cluster_lock_on([host("n1")], "x", || log("inside"));"#,
    )])
    .status(1)
    .stderr_has(
        "the lock \"x\" needs at least one host that answers; none did (n1 does not answer)",
    )
    .stderr_lacks("inside");
    lab.run(&[&script(
        r#"cluster_lock_on(["n2"], "x", || log("inside"));"#,
    )])
    .status(2)
    .stderr_has("cluster_lock_on hosts[0]: expected a host, got string");
}

/// A lab of two nodes, both hypervisor and storage, and a way to run a script on it.
fn two_node_lab() -> (Lab, impl Fn(&str, &str) -> String) {
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor, storage]}\n",
    );
    let dir = lab.dir.path().join("scripts");
    std::fs::create_dir_all(&dir).unwrap();
    let script = move |name: &str, body: &str| {
        let path = dir.join(format!("{name}.rhai"));
        std::fs::write(&path, format!("//! Lock.\n{body}\n")).unwrap();
        path.display().to_string()
    };
    (lab, script)
}

#[test]
fn a_run_that_names_a_host_twice_does_not_meet_its_own_cluster_lock() {
    // A node that is both a hypervisor and a storage node is in both lists: the second
    // lock on it was this run's own, and the run ended in exit 4 naming itself as holder.
    let (lab, script) = two_node_lab();
    lab.run(&[&script(
        "both",
        r#"cluster_lock_on(hosts("hypervisor") + hosts("storage"), "x", || log("inside"));"#,
    )])
    .status(0)
    .stderr_has("holding the lock \"x\" on n1, n2\n")
    .stderr_has("inside");
}

#[test]
fn cluster_lock_on_takes_its_hosts_in_one_order_whatever_order_they_are_given() {
    // Two runs given the same hosts in opposite orders (two inventories, a runbook's own
    // list) each took one and waited for the other's: with --lock-wait both waited it out
    // and ended in exit 4. In one order, a run waiting for its first host holds nothing.
    let (lab, script) = two_node_lab();
    let holder = script(
        "a",
        r#"cluster_lock_on([host("n1")], "x", || confirm("go on?"));"#,
    );
    let (_keep, asking) = lab.at_prompt("go on?", &[&holder]);
    let waiter = script(
        "b",
        r#"cluster_lock_on([host("n2"), host("n1")], "x", || log("b inside"));"#,
    );
    let test = lab.test(&["--lock-wait", "60", &waiter]);
    let mut waiting = test
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    // While it waits for n1, n2 is free.
    lab.run(&[&script(
        "c",
        r#"cluster_lock_on([host("n2")], "x", || log("c inside"));"#,
    )])
    .status(0)
    .stderr_has("c inside");
    assert_eq!(asking.answer("yes").0, 0);
    assert!(waiting.wait().unwrap().success());
}

/// Starts a run that changes `node` (taking its run lock) and holds it for a minute; the
/// process is returned with the scratch `Test` it runs in (kill it when done).
fn hold_node(lab: &Lab, node: &str) -> (crate::test::Test, std::process::Child) {
    let dir = lab.dir.path().join("scripts");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("hold-{node}.rhai"));
    std::fs::write(
        &path,
        format!(
            "//! Hold a node.\nhost(\"{node}\").run([\"true\"]);\nlog(\"held\");\nsleep(60);\n"
        ),
    )
    .unwrap();
    let (test, child, _) = lab.spawn_until("held", &[path.to_str().unwrap()]);
    (test, child)
}

#[test]
fn cs_maintenance_of_a_node_another_run_holds_changes_nothing_in_the_cluster() {
    // The node's lock, held by another run, was met at the first rm-cs --maintenance: exit 4
    // after the shared record named the node in maintenance and the MDS offline timeout was
    // raised to 7 h for the whole cluster (a node failing meanwhile is not re-replicated).
    let lab = Lab::new();
    let (_test, mut holder) = hold_node(&lab, "msk-03");
    let mut before = lab.state_value();
    before.as_object_mut().unwrap().remove("clock");
    let out = lab.run(&["cs-maintenance", "msk-03", "on", "--yes"]);
    holder.kill().unwrap();
    holder.wait().unwrap();
    unchanged(out.status(4).stderr_has("msk-03 is locked by run "));
    let mut after = lab.state_value();
    after.as_object_mut().unwrap().remove("clock");
    assert!(
        after == before,
        "cs-maintenance exited 4 but changed the lab"
    );
}

#[test]
fn a_takeover_answered_after_its_target_went_into_maintenance_registers_nothing() {
    // force-register checked that its target takes placements, then asked. Meanwhile an
    // operator put the target in maintenance (about to be serviced); the answer "yes" then
    // registered and started the dead node's VE on it.
    let uuid = "11111111-2222-4333-8444-555555555555";
    let lab = Lab::with_scenario(&format!(
        "cluster: c\nspeed: 0\nhosts:\n  - {{name: n1, address: 10.0.0.1, tags: [hypervisor], powered_off: true}}\n  - {{name: n2, address: 10.0.0.2, tags: [hypervisor]}}\n  - {{name: n3, address: 10.0.0.3, tags: [hypervisor]}}\nves:\n  - {{name: orphan, host: n1, uuid: {uuid}}}\n"
    ));
    let (_keep, asking) = lab.at_prompt(
        "Take 11111111-2222-4333-8444-555555555555 over on n2",
        &["force-register", uuid, "n2"],
    );
    lab.run(&["maintenance", "n2", "on", "--yes"]).status(0);
    let (code, out) = asking.answer("yes");
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("n2 went into maintenance"), "{out}");
    let listed = lab
        .query("for v in prlctl::list(host(\"n2\")) { print(`ve ${v.uuid}`); }")
        .status(0);
    assert!(!listed.stdout.contains(uuid), "{}", listed.stdout);
}

#[test]
fn pcompact_rolling_refused_by_a_running_one_leaves_the_cron_jobs_as_they_were() {
    // Its --cron disable edited /etc/cron.d/pcompact on every node, then met the lock of a
    // rolling run under way: exit 4 with every node's cron file changed.
    let lab = Lab::new();
    let dir = lab.dir.path().join("scripts");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rolling.rhai");
    std::fs::write(
        &path,
        "//! A rolling run under way.\ncluster_lock_on(hosts(\"hypervisor\"), \"pcompact\", || confirm(\"compact now?\"));\n",
    )
    .unwrap();
    let (_keep, asking) = lab.at_prompt("compact now?", &[path.to_str().unwrap()]);
    let mut before = lab.state_value();
    before.as_object_mut().unwrap().remove("clock");
    let out = lab.run(&["pcompact-rolling", "--cron", "disable", "--yes"]);
    asking.answer("no");
    unchanged(
        out.status(4)
            .stderr_has("the cluster lock \"pcompact\" is held"),
    );
    let mut after = lab.state_value();
    after.as_object_mut().unwrap().remove("clock");
    assert!(
        after == before,
        "pcompact-rolling exited 4 but changed the lab"
    );
}

#[test]
fn maintenance_refused_by_a_destination_another_run_holds_leaves_the_node_uncordoned() {
    // The node was cordoned after the question, then its destinations locked: one held by
    // another run ended it in exit 4 with the node left in maintenance, nothing moved, and
    // every other storage node's maintenance refused for it (one node at a time).
    let lab = Lab::new();
    let (_test, mut holder) = hold_node(&lab, "msk-02");
    let mut before = lab.state_value();
    before.as_object_mut().unwrap().remove("clock");
    let out = lab.run(&[
        "maintenance",
        "msk-07",
        "on",
        "--to",
        "msk-02,msk-03",
        "--yes",
    ]);
    holder.kill().unwrap();
    holder.wait().unwrap();
    unchanged(out.status(4).stderr_has("msk-02 is locked by run "));
    let mut after = lab.state_value();
    after.as_object_mut().unwrap().remove("clock");
    assert!(after == before, "maintenance exited 4 but changed the lab");
}
