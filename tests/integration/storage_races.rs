//! Two runs that each take chunk servers out of service, started by two operators at once.
//! vstorage::ok_to_stop allows one node at a time; a check made before the question is stale
//! by the time the operator answers it, when another run has taken its node out meanwhile.

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
/// in (exit 4, the storage lock held, nothing changed); then the first, answered yes, goes
/// on. Returns the first run's exit status and what it wrote.
fn while_one_asks(lab: &Lab, first: &[&str], prompt: &str, second: &[&str]) -> (i32, String) {
    let (_keep, asking) = lab.at_prompt(prompt, first);
    let before = lab.state_value();
    unchanged(
        lab.run(second)
            .status(4)
            .stderr_has("the cluster lock \"storage\" is held"),
    );
    assert!(
        lab.state_value() == before,
        "{second:?} changed the lab while {first:?} asked"
    );
    asking.answer("yes")
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
