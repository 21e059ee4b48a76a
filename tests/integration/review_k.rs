//! Runbooks against a real cluster at 3 am: an MDS given the node's public address where the
//! MDSs talk over a separate storage network; (more below).

use crate::catalog::Lab;
use crate::fieldnotes::refused_untouched;

/// n1..n3 run the MDSs on the storage network (10.40.0.0/24); the inventory reaches the
/// nodes on their public addresses (10.0.0.0/24), which is what an operator has at hand.
const TWO_NETWORKS: &str = "cluster: m\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, storage_address: 10.40.0.1, tags: [storage]}\n  - {name: n2, address: 10.0.0.2, storage_address: 10.40.0.2, tags: [storage]}\n  - {name: n3, address: 10.0.0.3, storage_address: 10.40.0.3, tags: [storage]}\n  - {name: n4, address: 10.0.0.4, storage_address: 10.40.0.4, tags: [storage]}\n  - {name: n5, address: 10.0.0.5, storage_address: 10.40.0.5, tags: [storage]}\nmdss:\n  - {id: 1, host: n1, master: true}\n  - {id: 2, host: n2}\n  - {id: 3, host: n3}\n";

#[test]
fn add_mds_refuses_the_public_address_where_the_mdss_are_on_the_storage_network() {
    // Given n4's inventory (public) address, add-mds did not even warn (the warning fired
    // only for an address other than the inventory's) and made an MDS its peers on the
    // storage network never hear from: four members, three running, and the next MDS lost
    // costs the majority.
    let lab = Lab::with_scenario(TWO_NETWORKS);
    refused_untouched(
        &lab,
        3,
        &["add-mds", "n4", "10.0.0.4:2510", "--yes"],
        "10.0.0.4 is not on the network of the cluster's MDSs (10.40.0.1, 10.40.0.2, 10.40.0.3)",
    );
    lab.run(&["add-mds", "n4", "10.0.0.4:2510", "--yes"])
        .stderr_has("n4's address there is 10.40.0.4");
    // Its storage-network address works, and the new MDS runs.
    lab.run(&["add-mds", "n4", "10.40.0.4:2510", "--yes"])
        .status(0);
    lab.query("let s = vstorage::stat(host(\"n1\")).mds;\nlog(`${s.filter(|m| m.status == \"avail\").len()} of ${s.len()} running`);")
        .status(0)
        .stderr_has("4 of 4 running");
}

#[test]
fn add_mds_does_not_say_the_mds_runs_when_its_peers_never_list_it() {
    // With --routed on a network that is not routed (or a firewall that drops its port),
    // the new MDS's unit starts, its peers never hear from it, and add-mds ended with "n4
    // runs an MDS", exit 0: the operator left a member that counts for the majority and
    // does not run.
    let lab = Lab::with_scenario(TWO_NETWORKS);
    lab.run(&[
        "add-mds",
        "n4",
        "10.0.0.4:2510",
        "--routed",
        "--join-timeout",
        "2",
        "--yes",
    ])
    .status(1)
    .stderr_lacks("n4 runs an MDS")
    .stderr_has("MDS#4 on n4 (10.0.0.4) started, but the cluster does not list it avail")
    .stderr_has("vzrun remove-mds 4");
}

#[test]
fn pcompact_rolling_refuses_while_the_nightly_pcompact_still_runs() {
    // At 3 am the stock 02:00 job (`pcompact -t 2h`) still compacts n2. pcompact holds
    // /var/run/pcompact.pid: the rolling run's own pcompact there printed "Can't lock",
    // compacted nothing and exited 0 (OpenVZ/pcompact main.c), and the run said
    // "compacted: 3 node(s)" while the nightly job went on, every node at once; commenting
    // the cron line out (--cron disable) stops no pcompact already running.
    let lab = Lab::with_scenario(&crate::catalog::SMALL.replace(
        "{name: n2, address: 10.0.0.2, tags: [hypervisor, storage], memory_mb: 65536}",
        "{name: n2, address: 10.0.0.2, tags: [hypervisor, storage], memory_mb: 65536, ops: {pcompact_running: true}}",
    ));
    refused_untouched(
        &lab,
        3,
        &["pcompact-rolling", "--cron", "disable"],
        "a pcompact already runs on n2",
    );
    lab.run(&["pcompact-rolling", "--nodes", "n1,n2"])
        .stderr_lacks("compacted: 2 node(s)")
        .stderr_has("pgrep -x pcompact");
}
