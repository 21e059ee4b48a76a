//! The field notes' host operations on the lab: sysctl baseline, time, networks, bonds.
//! Each: the normal path, a fault path, a second run that changes nothing.

use serde_json::Value;

use crate::catalog::{unchanged, Lab};
use crate::fieldnotes::{file, node, refused_all, refused_untouched};

#[test]
fn sysctl_baseline_sets_no_core_dumps_and_checks_nofile_against_nr_open() {
    let lab = Lab::new();
    lab.run(&["sysctl-baseline", "--nodes", "msk-01"])
        .status(0)
        .stderr_has("[msk-01] edit /etc/security/limits.d/90-vzrun-core.conf");
    let state = lab.state_value();
    let core = file(
        &state,
        "msk-01",
        "/etc/security/limits.d/90-vzrun-core.conf",
    )
    .unwrap();
    assert!(
        core.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["*", "hard", "core", "0"]),
        "{core}"
    );
    unchanged(lab.run(&["sysctl-baseline", "--nodes", "msk-01"]).status(0));
    refused_all(
        &lab,
        &[
            (
                3,
                &["sysctl-baseline", "--nofile", "2000000"][..],
                "above fs.nr_open 1048576",
            ),
            (
                2,
                &["sysctl-baseline", "--sysrq", "512"][..],
                "'--sysrq <SYSRQ>': 512 is outside 0..511",
            ),
        ],
    );
}

const NTPD_NODE: &str = "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], ops: {packages: [ploop], running_units: [ntpd.service], clock_offset_s: 120.5}}\n";

#[test]
fn ntp_installs_chrony_retires_ntpd_steps_once_and_verifies_sync() {
    let lab = Lab::with_scenario(NTPD_NODE);
    lab.run(&["ntp", "--servers", "ntp1.example.net"])
        .status(0)
        .stderr_has("[n1] yum -y install chrony")
        .stderr_has("[n1] systemctl stop ntpd")
        .stderr_has("[n1] systemctl disable ntpd")
        .stderr_has("+server ntp1.example.net iburst")
        .stderr_has("[n1] systemctl enable chronyd")
        .stderr_has("n1: the clock is 120.5s off NTP time; stepping it once")
        .stderr_has("[n1] chronyc makestep")
        .stdout_has("n1    Normal");
    let state = lab.state_value();
    let units = &node(&state, "n1")["units"];
    assert_eq!(units["ntpd.service"]["active"], false);
    assert_eq!(units["ntpd.service"]["enabled"], false);
    assert_eq!(units["chronyd.service"]["active"], true);
    assert!(
        node(&state, "n1")["ops"]["clock_offset_s"]
            .as_f64()
            .unwrap()
            < 1.0
    );
    unchanged(lab.run(&["ntp", "--servers", "ntp1.example.net"]).status(0));
}

#[test]
fn ntp_stops_at_a_node_where_chrony_cannot_be_installed() {
    let lab = Lab::with_scenario(&NTPD_NODE.replace(
        "clock_offset_s: 120.5",
        "clock_offset_s: 120.5, fail_once: [yum install]",
    ));
    lab.run(&["ntp"])
        .status(1)
        .stderr_has("Cannot find a valid baseurl");
    // Nothing after the failed install ran: ntpd still keeps the time.
    assert_eq!(
        node(&lab.state_value(), "n1")["units"]["ntpd.service"]["active"],
        true
    );
    refused_all(
        &lab,
        &[
            (
                2,
                &["ntp", "--max-offset", "0"][..],
                "'--max-offset <MAX_OFFSET>': 0 is outside 1..86400",
            ),
            (2, &["ntp", "--servers", "a;b"][..], "invalid servers"),
        ],
    );
}

#[test]
fn bridge_network_checks_the_interface_and_names_the_ves_a_rebind_cuts_off() {
    let lab = Lab::new();
    lab.run(&[
        "bridge-network",
        "vlan100",
        "bond0.100",
        "--nodes",
        "msk-01",
    ])
    .status(0)
    .stderr_has("[msk-01] prlsrvctl net set vlan100 -t bridged --ifname bond0.100");
    unchanged(
        lab.run(&[
            "bridge-network",
            "vlan100",
            "bond0.100",
            "--nodes",
            "msk-01",
        ])
        .status(0),
    );
    refused_all(
        &lab,
        &[
            (
                3,
                &["bridge-network", "vlan200", "bond0.200"][..],
                "msk-01 has no interface bond0.200",
            ),
            (
                2,
                &["bridge-network", "vlan200", "bond0;reboot"][..],
                "invalid ifname",
            ),
        ],
    );
    // db03 (a running VM on msk-01) has its adapter on Bridged.
    let before = lab.state_value();
    unchanged(
        lab.run(&["bridge-network", "Bridged", "eth1", "--nodes", "msk-01"])
            .status(3)
            .stderr_has("msk-01: Bridged is bound to eth0, used by running [\"db03 (net0)\"]")
            .stderr_has("pass --yes"),
    );
    assert!(lab.state_value() == before);
    lab.run(&[
        "bridge-network",
        "Bridged",
        "eth1",
        "--nodes",
        "msk-01",
        "--yes",
    ])
    .status(0)
    .stderr_has("--ifname eth1");
}

fn bond_options(state: &Value, host: &str) -> String {
    node(state, host)["ops"]["bonds"][0]["options"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn bonding_restarts_one_node_at_a_time_and_checks_the_bond() {
    let lab = Lab::new();
    lab.run(&["bonding", "eth2,eth3", "--nodes", "msk-01,msk-02"])
        .status(0)
        .stderr_has(
            "+BONDING_OPTS=\"mode=802.3ad xmit_hash_policy=layer3+4 miimon=100 lacp_rate=fast\"",
        )
        .stderr_has("[msk-01] systemctl restart network")
        .stderr_has("msk-02: bond0 runs 802.3ad over");
    let state = lab.state_value();
    assert_eq!(
        bond_options(&state, "msk-02"),
        "mode=802.3ad xmit_hash_policy=layer3+4 miimon=100 lacp_rate=fast"
    );
    assert_eq!(
        bond_options(&state, "msk-03"),
        "mode=active-backup miimon=100"
    );
    unchanged(
        lab.run(&["bonding", "eth2,eth3", "--nodes", "msk-01,msk-02"])
            .status(0)
            .stderr_has("nothing to do"),
    );
    refused_all(
        &lab,
        &[
            (
                3,
                &["bonding", "eth2,eth9"][..],
                "msk-01 has no interface eth9",
            ),
            (2, &["bonding", "eth2"][..], "at least two interfaces"),
            (
                2,
                &["bonding", "eth2,eth3", "--lacp-rate", "medium"][..],
                "invalid lacp-rate",
            ),
        ],
    );
}

/// Runs `bonding eth2,eth3` on n1 (with `n1_ops`) and n2: it must fail at n1 saying `said`,
/// put n1's previous files and bond back, and leave n2 untouched.
fn bonding_rolls_back_n1(n1_ops: &str, said: &[&str]) {
    let lab = Lab::with_scenario(&format!(
        "cluster: c\nspeed: 0\nhosts:\n  - {{name: n1, address: 10.0.0.1, tags: [hypervisor], ops: {{{n1_ops}}}}}\n  - {{name: n2, address: 10.0.0.2, tags: [hypervisor]}}\n"
    ));
    let before = lab.state_value();
    let mut out = lab.run(&["bonding", "eth2,eth3"]).status(1);
    for needle in said
        .iter()
        .chain(&["n1: putting its previous network files back"])
    {
        out = out.stderr_has(needle);
    }
    let after = lab.state_value();
    assert_eq!(bond_options(&after, "n1"), "mode=active-backup miimon=100");
    let ifcfg = "/etc/sysconfig/network-scripts/ifcfg-bond0";
    assert_eq!(file(&after, "n1", ifcfg), file(&before, "n1", ifcfg));
    // The run stopped at n1: n2 was not touched.
    assert_eq!(file(&after, "n2", ifcfg), file(&before, "n2", ifcfg));
}

#[test]
fn bonding_puts_the_old_files_back_when_the_restart_fails() {
    bonding_rolls_back_n1(
        "fail_once: [network restart]",
        &["Job for network.service failed"],
    );
    let degraded = Lab::with_scenario(
        &crate::catalog::SMALL.replace("{id: 4, host: n3}", "{id: 4, host: n3, status: offline}"),
    );
    refused_untouched(&degraded, 3, &["bonding", "eth2,eth3"], "is degraded");
}

#[test]
fn bonding_without_lacp_on_the_switch_is_not_taken_for_a_running_bond() {
    // n1's switch ports are not in a port-channel: the 802.3ad bond comes up with every
    // slave's link up, but no LACP partner answers (partner MAC all zeros, one port per
    // aggregator). Checking the links alone said "runs 802.3ad"; the node would then carry
    // its traffic on one link, or lose it when the switch blocks the others.
    bonding_rolls_back_n1(
        "switch_without_lacp: true",
        &["no LACP partner", "is the switch port-channel set up?"],
    );
}

#[test]
fn bonding_asks_before_cutting_the_connection_it_runs_over() {
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], ops: {address_on: bond0.100}}\n",
    );
    refused_untouched(
        &lab,
        3,
        &["bonding", "eth2,eth3"],
        "n1 is reached at 10.0.0.1 on bond0.100: restarting bond0 cuts that connection",
    );
    lab.run(&["bonding", "eth2,eth3", "--yes"])
        .status(0)
        .stderr_has("n1: bond0 runs 802.3ad");
}
