//! bonding against the ways a network restart cuts a node off: an address on an interface
//! about to become a slave (seen beforehand: refused), and a cut-off nothing could foresee
//! (the switch's port-channel lacks the node's VLAN), which the node undoes itself with the
//! rollback timer the run armed before the restart.

use serde_json::Value;

use crate::catalog::Lab;
use crate::fieldnotes::{file, node, refused_untouched};

const DIR: &str = "/etc/sysconfig/network-scripts";

/// Asserts `host` has no rollback timer pending and no rollback files left.
fn no_rollback_left(state: &Value, host: &str) {
    let n = node(state, host);
    assert_eq!(
        n["ops"]["timers"],
        serde_json::json!([]),
        "{host}: a timer is pending"
    );
    let leftovers: Vec<&String> = n["files"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|p| p.starts_with("/var/lib/vzrun/rollback/"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "{host}: rollback files left: {leftovers:?}"
    );
}

fn two_nodes(n1_ops: &str) -> Lab {
    Lab::with_scenario(&format!(
        "cluster: c\nspeed: 0\nhosts:\n  - {{name: n1, address: 10.0.0.1, storage_address: 10.1.0.1, tags: [hypervisor], ops: {{{n1_ops}}}}}\n  - {{name: n2, address: 10.0.0.2, tags: [hypervisor]}}\n"
    ))
}

#[test]
fn bonding_refuses_to_make_a_slave_of_an_interface_that_carries_an_address() {
    // n1 is reached at 10.0.0.1 on eth2, no bond yet: bonding eth2 would leave the address
    // on no interface (a slave has none, and the bond's file names none), and the node
    // would be gone until someone reaches its console.
    let lab = two_nodes("interfaces: [lo, eth0, eth1, eth2, eth3], address_on: eth2");
    refused_untouched(
        &lab,
        3,
        &["bonding", "eth2,eth3", "--yes"],
        "n1 has 10.0.0.1 on eth2, which would become a slave of bond0",
    );
    // The storage network's address (here on eth1, the first other interface) counts too:
    // without it the node's chunk servers drop out of the cluster.
    let lab = two_nodes("interfaces: [lo, eth0, eth1, eth2, eth3]");
    refused_untouched(
        &lab,
        3,
        &["bonding", "eth1,eth2", "--yes"],
        "n1 has 10.1.0.1 on eth1, which would become a slave of bond0",
    );
}

#[test]
fn a_node_cut_off_by_its_new_bond_comes_back_through_its_rollback_timer() {
    // n1 is reached over bond0.100; its switch's port-channel does not carry VLAN 100, so
    // once bond0 runs 802.3ad n1 answers no more. No check can run, no file can be put back
    // over SSH: only the timer armed on n1 before the restart can undo it.
    let lab = two_nodes("address_on: bond0.100, port_channel_without_vlans: true");
    let before = lab.state_value();
    lab.run(&["bonding", "eth2,eth3", "--yes", "--rollback-after", "60"])
        .status(1)
        .stderr_has("n1 does not answer since its network restart")
        .stderr_has("n1 answers again: its rollback timer put its previous network files back");
    let after = lab.state_value();
    let n1 = node(&after, "n1");
    assert_eq!(n1["unreachable"], false, "n1 is still cut off");
    assert_eq!(
        n1["ops"]["bonds"][0]["options"],
        "mode=active-backup miimon=100"
    );
    for f in ["ifcfg-bond0", "ifcfg-eth2", "ifcfg-eth3"] {
        let path = format!("{DIR}/{f}");
        assert_eq!(
            file(&after, "n1", &path),
            file(&before, "n1", &path),
            "{path}"
        );
    }
    assert_eq!(n1["ops"]["fired_timers"].as_array().unwrap().len(), 1);
    no_rollback_left(&after, "n1");
    // The run stopped at n1.
    let path = format!("{DIR}/ifcfg-bond0");
    assert_eq!(file(&after, "n2", &path), file(&before, "n2", &path));
}

#[test]
fn a_bond_that_works_leaves_no_timer_behind() {
    let lab = two_nodes("");
    lab.run(&["bonding", "eth2,eth3"])
        .status(0)
        .stderr_has("systemd-run --unit=vzrun-rollback-")
        .stderr_has("n2: bond0 runs 802.3ad");
    let state = lab.state_value();
    for host in ["n1", "n2"] {
        no_rollback_left(&state, host);
        assert_eq!(
            node(&state, host)["ops"]["fired_timers"],
            serde_json::json!([])
        );
    }
}

#[test]
fn arm_rollback_checks_its_input_first_and_never_arms_over_a_pending_one() {
    let lab = two_nodes("");
    for (script, needle) in [
        (
            r#"systemd::arm_rollback(host("n1"), #{"/etc/my file": ()}, 60, ());"#,
            "invalid arm_rollback path",
        ),
        (
            r#"systemd::arm_rollback(host("n1"), #{"/etc/motd": ()}, 10, ());"#,
            "10 is outside 30..=3600",
        ),
        (
            r#"systemd::arm_rollback(host("n1"), #{}, 60, ());"#,
            "no files to put back",
        ),
        (
            r#"systemd::arm_rollback(host("n1"), #{"/etc/motd": 5}, 60, ());"#,
            "expected the previous text or ()",
        ),
        (
            r#"systemd::disarm(host("n1"), "network");"#,
            "not a unit made by systemd::arm_rollback",
        ),
    ] {
        let before = lab.state_value();
        crate::catalog::unchanged(lab.query(script).status(2).stderr_has(needle));
        assert!(lab.state_value() == before, "{script} changed the lab");
    }
    // A run that armed and went away (killed, lost): its timer is pending. Another run must
    // not arm over it (that timer would put back its files in the middle of the new change).
    lab.query(r#"systemd::arm_rollback(host("n1"), #{"/etc/motd": "old\n"}, 600, "network");"#)
        .status(0);
    lab.query(r#"systemd::arm_rollback(host("n1"), #{"/etc/motd": ()}, 60, ());"#)
        .status(1)
        .stderr_has("n1 has a pending rollback timer of another run (vzrun-rollback-");
}

/// The texts the bonding runbook writes on a node for `bonding eth2,eth3` (defaults).
fn bonded_files() -> Vec<(String, String)> {
    let mut files = vec![(
        format!("{DIR}/ifcfg-bond0"),
        "DEVICE=bond0\nTYPE=Bond\nBONDING_MASTER=yes\nBOOTPROTO=none\nONBOOT=yes\nBONDING_OPTS=\"mode=802.3ad xmit_hash_policy=layer3+4 miimon=100 lacp_rate=fast\"\n".to_string(),
    )];
    for s in ["eth2", "eth3"] {
        files.push((
            format!("{DIR}/ifcfg-{s}"),
            format!(
                "DEVICE={s}\nTYPE=Ethernet\nBOOTPROTO=none\nONBOOT=yes\nMASTER=bond0\nSLAVE=yes\n"
            ),
        ));
    }
    files
}

#[test]
fn a_rerun_after_a_killed_run_does_not_skip_a_node_whose_rollback_is_still_pending() {
    // Run 1 armed n1's rollback, wrote the bond, restarted the network, and its check
    // passed; it was killed (kill -9, laptop lid, lost VPN) before `disarm`. This script
    // leaves n1 exactly as that run did.
    let lab = two_nodes("");
    let mut script = String::from("let h = host(\"n1\"); let old = #{};\n");
    for (path, _) in bonded_files() {
        script.push_str(&format!("old[\"{path}\"] = file::read(h, \"{path}\");\n"));
    }
    script.push_str("systemd::arm_rollback(h, old, 600, \"network\");\n");
    for (path, text) in bonded_files() {
        script.push_str(&format!("file::write(h, \"{path}\", {text:?});\n"));
    }
    script.push_str("systemd::restart(h, \"network\");\n");
    lab.query(&script).status(0);
    assert_eq!(
        node(&lab.state_value(), "n1")["ops"]["timers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The operator runs again well within the 600 s. n1's files are the new ones and its
    // bond runs, so the run used to call n1 done ("already runs"), go on to n2 and exit 0,
    // while n1's timer was still due to put the active-backup files back and restart n1's
    // network (possibly while n2's is restarting). It must stop first, nothing changed.
    refused_untouched(
        &lab,
        3,
        &["bonding", "eth2,eth3", "--yes"],
        "pending rollback",
    );
}

#[test]
fn bonding_keeps_the_address_and_mtu_that_the_bond_already_carries() {
    // The common case: an active-backup bond that carries the node's address (IPADDR in
    // ifcfg-bond0, as the refusal for an address on a slave tells the operator to do) is
    // turned into an LACP bond. Rewriting ifcfg-bond0 from scratch drops IPADDR, PREFIX,
    // GATEWAY and MTU: on a real node the address is gone after the restart.
    let bond0 = "DEVICE=bond0\nTYPE=Bond\nBONDING_MASTER=yes\nBOOTPROTO=none\nONBOOT=yes\nIPADDR=10.0.0.1\nPREFIX=24\nGATEWAY=10.0.0.254\nMTU=9000\nBONDING_OPTS=\"mode=active-backup miimon=100\"\n";
    let lab = two_nodes(&format!(
        "address_on: bond0}}, files: {{{DIR}/ifcfg-bond0: {bond0:?}"
    ));
    let before = lab.state_value();
    assert_eq!(
        file(&before, "n1", &format!("{DIR}/ifcfg-bond0")),
        Some(bond0)
    );
    lab.run(&["bonding", "eth2,eth3", "--yes"]);
    let after = lab.state_value();
    let text = file(&after, "n1", &format!("{DIR}/ifcfg-bond0")).unwrap();
    for key in [
        "IPADDR=10.0.0.1",
        "PREFIX=24",
        "GATEWAY=10.0.0.254",
        "MTU=9000",
    ] {
        assert!(
            text.lines().any(|l| l == key),
            "n1's new ifcfg-bond0 lost {key}:\n{text}"
        );
    }
}

#[test]
fn a_rollback_that_fired_for_a_killed_run_does_not_block_the_next_run_on_systemd_219() {
    // A run armed n1's rollback and was killed; the timer fired and put the files back.
    // systemd 219 keeps the transient timer loaded, "active (elapsed)", until someone stops
    // it. The next run arms the same unit (its name is a digest of the same files): that
    // must not fail with "Unit ... already exists", half-written, and block every run after.
    let mut lab = two_nodes("");
    lab.speed = "0.01"; // a lab second is 10 ms: sleep(1) is 100 of them
    let arm = r#"systemd::arm_rollback(host("n1"), #{"/etc/motd": "old\n"}, 30, ());"#;
    lab.query(&format!("{arm} sleep(1); host(\"n1\").query([\"true\"]);"))
        .status(0);
    let state = lab.state_value();
    assert_eq!(
        node(&state, "n1")["ops"]["fired_timers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    lab.query(arm).status(0);
    lab.query(
        r#"if systemd::pending_rollbacks(host("n1")).len() != 1 { throw "not one pending"; }"#,
    )
    .status(0);
}

#[test]
fn bonding_refuses_to_take_a_bridge_port_away_from_its_bridge() {
    // Virtuozzo 7 puts the node's address on br0, a bridge over the NIC (ifcfg-eth2 has
    // BRIDGE=br0; the VEs' bridged network runs over it too). Rewriting ifcfg-eth2 as a
    // slave drops BRIDGE=br0: br0 loses its only port, the node its address and the VEs
    // their network, until the rollback timer puts it back minutes later. The address is on
    // br0, not on eth2, so the check for addresses on slaves-to-be does not see it.
    let eth2 = "DEVICE=eth2\nTYPE=Ethernet\nBOOTPROTO=none\nONBOOT=yes\nBRIDGE=br0\n";
    let lab = two_nodes(&format!(
        "interfaces: [lo, eth0, eth1, eth2, eth3, br0], address_on: br0}}, files: {{{DIR}/ifcfg-eth2: {eth2:?}"
    ));
    refused_untouched(
        &lab,
        3,
        &["bonding", "eth2,eth3", "--yes"],
        "n1: eth2 is a port of bridge br0",
    );
}

#[test]
fn a_storage_vlan_the_new_bond_does_not_carry_is_caught_before_the_rollback_is_disarmed() {
    // n1 is managed over eth0, but its storage-network address is on bond0.200, which the
    // switch's port-channel does not carry: the bond itself checks out (LACP partner, every
    // slave in the aggregator), the node answers, yet its chunk servers drop out of the
    // cluster. Disarming on the bond check alone left them offline for good.
    let scenario = crate::catalog::SMALL.replace(
        "{name: n1, address: 10.0.0.1, tags: [hypervisor, storage], memory_mb: 65536, disks: [/dev/sdd]}",
        "{name: n1, address: 10.0.0.1, storage_address: 10.1.0.1, tags: [hypervisor, storage], memory_mb: 65536, disks: [/dev/sdd], ops: {interfaces: [lo, eth0, eth1, eth2, eth3, bond0, bond0.200], storage_on: bond0.200, port_channel_without_vlans: true}}",
    );
    let lab = Lab::with_scenario(&scenario);
    // The CSs must be checked before the rollback fires.
    refused_untouched(
        &lab,
        2,
        &[
            "bonding",
            "eth2,eth3",
            "--storage-timeout",
            "60",
            "--rollback-after",
            "60",
        ],
        "invalid storage-timeout: 60s",
    );
    let after = storage_cut_off_and_put_back(
        &lab,
        "n1",
        "the chunk servers of n1 (CS#1) are not all active",
    );
    let cs1 = after["css"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == 1)
        .unwrap();
    assert_eq!(
        cs1["status"], "active",
        "n1's chunk server is still cut off"
    );
}

/// Bonds eth2,eth3 on `host`, whose storage VLAN the port-channel does not carry (short
/// waits): the run must fail saying `said`, put the node's ifcfg-bond0 back and leave no
/// rollback. The lab after.
fn storage_cut_off_and_put_back(lab: &Lab, host: &str, said: &str) -> Value {
    let before = lab.state_value();
    lab.run(&[
        "bonding",
        "eth2,eth3",
        "--nodes",
        host,
        "--rollback-after",
        "60",
        "--storage-timeout",
        "1",
        "--healthy-timeout",
        "1",
    ])
    .status(1)
    .stderr_has(said)
    .stderr_has(&format!("{host}: putting its previous network files back"));
    let after = lab.state_value();
    let path = format!("{DIR}/ifcfg-bond0");
    assert_eq!(file(&after, host, &path), file(&before, host, &path));
    assert_eq!(
        node(&after, host)["ops"]["storage_lost_at"],
        Value::Null,
        "{host} is still cut off from the storage network"
    );
    no_rollback_left(&after, host);
    after
}

#[test]
fn a_node_without_chunk_servers_that_loses_its_storage_network_is_rolled_back() {
    // n4 runs no CS, but as every Virtuozzo hypervisor it mounts the cluster over its
    // storage network (its VEs' disks are there), on bond0.200, which the port-channel
    // does not carry. With no CS to wait for, nothing checked the storage network: the
    // rollback was disarmed and n4 kept a bond over which its VEs' storage hangs.
    let scenario = crate::catalog::SMALL.replace(
        "\ncss:\n",
        "\n  - {name: n4, address: 10.0.0.4, storage_address: 10.1.0.4, tags: [hypervisor], memory_mb: 65536, ops: {interfaces: [lo, eth0, eth1, eth2, eth3, bond0, bond0.200], storage_on: bond0.200, port_channel_without_vlans: true}}\ncss:\n",
    );
    storage_cut_off_and_put_back(
        &Lab::with_scenario(&scenario),
        "n4",
        "n4 does not reach the storage cluster",
    );
}

#[test]
fn a_storage_node_that_does_not_answer_does_not_fail_a_healthy_bond() {
    // n2, the first other storage node, does not answer over SSH (a hung sshd; its CS
    // still works). n1's new bond works, its CS is active: asking n2 only, and taking its
    // failure for the answer, put n1's old files back and restarted its network again.
    let scenario = crate::catalog::SMALL.replace(
        "{name: n2, address: 10.0.0.2, tags: [hypervisor, storage], memory_mb: 65536}",
        "{name: n2, address: 10.0.0.2, tags: [hypervisor, storage], memory_mb: 65536, unreachable: true}",
    );
    let lab = Lab::with_scenario(&scenario);
    lab.run(&["bonding", "eth2,eth3", "--nodes", "n1", "--yes"])
        .status(0)
        .stderr_has("n1: bond0 runs 802.3ad over");
    let after = lab.state_value();
    assert!(file(&after, "n1", &format!("{DIR}/ifcfg-bond0"))
        .unwrap()
        .contains("mode=802.3ad"));
    no_rollback_left(&after, "n1");
}

#[test]
fn a_new_bond_that_fails_its_check_is_taken_down_when_the_node_is_put_back() {
    // n1 has no bond yet; the switch does not speak LACP, so the new bond0 fails its check
    // while n1 answers. Writing the old files back (no ifcfg-bond0) and restarting the
    // network left bond0 up with eth2 and eth3 enslaved: the network scripts stop only what
    // their files name, and the files naming bond0 were gone by then.
    let lab = two_nodes("interfaces: [lo, eth0, eth1, eth2, eth3], switch_without_lacp: true");
    lab.run(&["bonding", "eth2,eth3", "--nodes", "n1"])
        .status(1)
        .stderr_has("no LACP partner")
        .stderr_has("n1: putting its previous network files back");
    let after = lab.state_value();
    let n1 = node(&after, "n1");
    assert_eq!(
        n1["ops"]["bonds"],
        serde_json::json!([]),
        "bond0 is still up on n1"
    );
    assert_eq!(file(&after, "n1", &format!("{DIR}/ifcfg-bond0")), None);
    no_rollback_left(&after, "n1");
}
