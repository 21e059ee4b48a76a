//! Host runbooks against traps of a real node: a CS disk that is not ext4; nodes that carry
//! storage only; a node that reaches only its own NTP server; a CS on the root file system;
//! pam_limits, which applies no wildcard line to root; a rebind that fails on a later node;
//! an ntpd that does not come back.

use crate::catalog::{unchanged, Lab};

#[test]
fn cs_reserved_blocks_reports_and_fixes_around_an_xfs_cs_disk() {
    // An older CS disk made by hand as xfs: xfs has no blocks reserved for root, and
    // tune2fs cannot read it (`Bad magic number in super-block`). That one disk stopped the
    // whole report (and the fix of every ext4 disk) with exit 1.
    let lab = Lab::with_scenario("cluster: r\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [storage]}\ncss:\n  - {id: 1, host: n1, fstype: xfs}\n  - {id: 2, host: n1, reserved_pct: 5}\n");
    unchanged(
        lab.run(&["cs-reserved-blocks"])
            .status(0)
            .stdout_has("not ext4 (xfs): no reserved blocks"),
    );
    lab.run(&["cs-reserved-blocks", "--fix"])
        .status(0)
        .stderr_has("tune2fs -m 0 /dev/sdc1")
        .stderr_lacks("tune2fs -m 0 /dev/sdb1");
    unchanged(lab.run(&["cs-reserved-blocks", "--fix"]).status(0));
}

/// n1 a hypervisor; s1 a storage node only (an MDS and a CS, no VEs), as larger clusters
/// have them.
const STORAGE_ONLY_NODE: &str = "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\n  - {name: s1, address: 10.0.0.2, tags: [storage, mds]}\ncss:\n  - {id: 1, host: n1}\n  - {id: 2, host: s1}\nmdss:\n  - {id: 1, host: s1, master: true}\n";

#[test]
fn ntp_keeps_time_on_the_storage_only_nodes_too() {
    // The header promises every host by default; the run went to the hypervisors only, and
    // the MDS node, where the cluster needs its clock right most, was left drifting.
    let lab = Lab::with_scenario(STORAGE_ONLY_NODE);
    lab.run(&["ntp", "--servers", "ntp1.example.org"])
        .status(0)
        .stderr_has("[n1] ")
        .stderr_has("[s1] ");
}

#[test]
fn zabbix_firewall_and_sysctl_baseline_reach_the_storage_only_nodes_too() {
    // Both promise every host by default: a storage node is monitored and hardened too.
    let lab = Lab::with_scenario(STORAGE_ONLY_NODE);
    lab.run(&["zabbix-firewall"])
        .status(0)
        .stderr_has("[s1] firewall-cmd --permanent --add-port=10050/tcp");
    lab.run(&["sysctl-baseline"]).status(0).stderr_has("[s1] ");
}

/// n1 keeps time with ntpd from the site's server 10.0.0.254, the only one its network
/// reaches; chrony is not installed yet.
const ISOLATED_NTPD_NODE: &str = "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], files: {/etc/ntp.conf: \"server 10.0.0.254 iburst\\n\"}, ops: {packages: [ploop], running_units: [ntpd.service], ntp_reachable: [10.0.0.254]}}\n";

#[test]
fn ntp_puts_ntpd_back_where_chronyd_cannot_synchronise() {
    // ntpd was stopped and disabled before chronyd had shown it can reach a server. With
    // servers the node cannot reach, the run failed and left it with no working time
    // daemon, now and after the next boot: the clock of a cluster node drifting freely.
    let lab = Lab::with_scenario(ISOLATED_NTPD_NODE);
    lab.run(&[
        "ntp",
        "--servers",
        "ntp1.example.net",
        "--sync-timeout",
        "2",
    ])
    .status(1)
    .stderr_has("n1: chronyd is not synchronised after 2s")
    .stderr_has("ntpd is back");
    let state = lab.state_value();
    let units = &crate::fieldnotes::node(&state, "n1")["units"];
    assert_eq!(units["ntpd.service"]["active"], true, "ntpd runs again");
    assert_eq!(units["ntpd.service"]["enabled"], true, "and starts at boot");
    assert_eq!(
        units["chronyd.service"]["active"], false,
        "no second daemon"
    );
    assert_eq!(
        units["chronyd.service"]["enabled"], false,
        "not at boot either"
    );
}

#[test]
fn cs_reserved_blocks_tells_a_cs_on_the_root_file_system_from_one_that_is_down() {
    // CS#1 runs, its repository a directory of the root file system (`make-cs -r
    // /var/lib/cs1`). It was reported "CS not running": at 3 am that sends the operator to
    // restart a healthy CS. Its blocks reserved for root are the OS's: left alone, and said so.
    let lab = Lab::with_scenario("cluster: r\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [storage]}\ncss:\n  - {id: 1, host: n1, repo: /var/lib/cs1}\n  - {id: 2, host: n1, reserved_pct: 5}\n");
    unchanged(
        lab.run(&["cs-reserved-blocks"])
            .status(0)
            .stdout_has("on the root file system")
            .stdout_lacks("not running"),
    );
    lab.run(&["cs-reserved-blocks", "--fix"])
        .status(0)
        .stderr_has("tune2fs -m 0 /dev/sdb1");
}

/// What a login of `user` on `node` gets from pam_limits: `su - USER -c 'ulimit ...'`.
fn login_limit(lab: &Lab, node: &str, user: &str, ulimit: &str) -> String {
    let out = lab
        .query(&format!(
            "log(`limit=${{host(\"{node}\").query([\"su\", \"-\", \"{user}\", \"-c\", \"{ulimit}\"]).stdout}}`);"
        ))
        .status(0);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("limit="))
        .unwrap_or_default();
    line.split("limit=")
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn sysctl_baseline_turns_core_dumps_off_for_root_too() {
    // `* hard core 0` is a wildcard line, and pam_limits applies no wildcard (or group) line
    // to root (limits.conf(5)): root, the user on these nodes, kept unlimited core dumps.
    let lab = Lab::new();
    lab.run(&["sysctl-baseline", "--nodes", "msk-01"]).status(0);
    assert_eq!(login_limit(&lab, "msk-01", "admin", "ulimit -H -c"), "0");
    assert_eq!(
        login_limit(&lab, "msk-01", "root", "ulimit -H -n"),
        "1048576"
    );
    assert_eq!(
        login_limit(&lab, "msk-01", "root", "ulimit -H -c"),
        "0",
        "root's core dumps"
    );
}

#[test]
fn ntp_names_the_server_ntpd_used_where_chronyd_cannot_synchronise() {
    // No --servers: chrony.conf keeps CentOS's pool servers, which the node cannot reach;
    // ntpd used the site's 10.0.0.254. The run must say which server to pass.
    let lab = Lab::with_scenario(ISOLATED_NTPD_NODE);
    lab.run(&["ntp", "--sync-timeout", "2"])
        .status(1)
        .stderr_has("ntpd is back")
        .stderr_has("ntpd used 10.0.0.254 (/etc/ntp.conf): pass --servers 10.0.0.254");
}

#[test]
fn bridge_network_binds_the_nodes_back_where_a_rebind_fails_on_a_later_one() {
    // Bridged moves from eth0 to eth1. n1 is rebound first; on n2 no host bridge holds
    // eth1 and the binding fails. The run stopped there with n1 on eth1 and n2 on eth0: the
    // same network on two segments, and a VE moved between the nodes lands on the other.
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor], ops: {unbridged: [eth1]}}\n",
    );
    lab.run(&["bridge-network", "Bridged", "eth1", "--yes"])
        .status(1)
        .stderr_has("bridge for the network adapter eth1 was not found")
        .stderr_has("n1: Bridged bound back to eth0");
    let state = lab.state_value();
    for n in ["n1", "n2"] {
        let nets = crate::fieldnotes::node(&state, n)["networks"]
            .as_array()
            .unwrap()
            .clone();
        assert!(
            nets.iter()
                .any(|x| x["name"] == "Bridged" && x["ifname"] == "eth0"),
            "{n}: {nets:?}"
        );
    }
}

#[test]
fn ntp_keeps_a_time_daemon_where_ntpd_cannot_be_put_back() {
    // chronyd cannot reach its servers, so ntpd is put back; but ntpd does not start again
    // (it exits at once). The run stopped there with chronyd stopped too: no time daemon
    // on the node, and the error named only the failed start of ntpd.
    let lab = Lab::with_scenario(&ISOLATED_NTPD_NODE.replace(
        "ntp_reachable: [10.0.0.254]",
        "ntp_reachable: [10.0.0.254], fail_once: [ntpd.service start]",
    ));
    lab.run(&[
        "ntp",
        "--servers",
        "ntp1.example.net",
        "--sync-timeout",
        "2",
    ])
    .status(1)
    .stderr_has("n1: chronyd is not synchronised after 2s")
    .stderr_has("ntpd could not be put back")
    .stderr_has("chronyd is left running");
    let state = lab.state_value();
    let units = &crate::fieldnotes::node(&state, "n1")["units"];
    assert_eq!(
        units["chronyd.service"]["active"], true,
        "a time daemon runs: {units}"
    );
    assert_eq!(
        units["chronyd.service"]["enabled"], true,
        "and starts at boot: {units}"
    );
}
