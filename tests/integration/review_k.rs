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

#[test]
fn add_mds_counts_the_mdss_under_the_lock_a_second_add_or_remove_takes() {
    // Four MDSs, three running. Two operators add one each at once (n5 and n6): each run
    // counted 3 running of 5 members, a majority, and both made theirs: 3 of 6, no
    // majority until both start. add-mds locked only its own node; remove-mds and
    // make_mds counted under different locks too.
    let scenario = "cluster: m\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [storage]}\n  - {name: n2, address: 10.0.0.2, tags: [storage]}\n  - {name: n3, address: 10.0.0.3, tags: [storage]}\n  - {name: n4, address: 10.0.0.4, tags: [storage]}\n  - {name: n5, address: 10.0.0.5, tags: [storage]}\n  - {name: n6, address: 10.0.0.6, tags: [storage]}\nmdss:\n  - {id: 1, host: n1, master: true}\n  - {id: 2, host: n2}\n  - {id: 3, host: n3}\n  - {id: 4, host: n4, status: offline}\n";
    let out = second_run_while_locked_in(
        scenario,
        "//! Another add-mds: the storage host's lock, then an MDS on n5.\nlet h = host(\"n1\");\nlock_host(h);\nlog(\"locked\");\nsleep(2);\nvstorage::make_mds(host(\"n5\"), \"10.0.0.5:2510\");\n",
        &["add-mds", "n6", "10.0.0.6:2510", "--yes"],
    );
    crate::catalog::unchanged(
        out.status(3)
            .stderr_has("3 of 6 MDSs would run until the new one starts: no majority"),
    );
}

/// Two runs on the lab of `scenario`: `first` (a script) takes a host's lock, says
/// "locked", waits, then changes what `second` is about to check, while `second` runs with
/// --lock-wait. Returns `second`.
fn second_run_while_locked_in(
    scenario: &str,
    first: &str,
    second: &[&str],
) -> crate::test::Outcome {
    use crate::test::Test;
    let test = Test::new()
        .file("first.rhai", first)
        .file("scenario.yaml", scenario);
    let dir = test.path("");
    let args = |t: Test| {
        let mut lab = std::ffi::OsString::from("--lab=");
        lab.push(dir.join("scenario.yaml"));
        t.env("VZRUN_STATE_DIR", dir.join("journal"))
            .args(["--lab-speed", "0", "--lab-state"])
            .arg(dir.join("lab.json"))
            .arg(lab)
    };
    let mut cmd = args(Test::new()).arg("./first.rhai").command();
    let (mut first, line) = crate::test::spawn_until_stderr_line(cmd.current_dir(&dir), "locked");
    assert_eq!(line.trim(), "locked");
    let out = args(Test::new())
        .args(["--lock-wait", "30"])
        .args(second)
        .command_in(&dir);
    assert!(first.wait().unwrap().success());
    out
}

#[test]
fn client_cache_refuses_the_mount_point_itself_and_a_chunk_servers_disk() {
    // `cache=/vstorage/livelinux`, the cluster's mount point itself (only paths below it
    // were refused): the next mount has a directory where the cache file goes. And a cache
    // on a chunk server's disk (/vstorage/livelinux-sdb): its cachesize MB come out of the
    // CS's free space, and every cache read competes with the CS's own I/O.
    let lab = Lab::new();
    refused_untouched(
        &lab,
        2,
        &[
            "client-cache",
            "/vstorage/livelinux",
            "2048",
            "--nodes",
            "msk-01",
        ],
        "/vstorage/livelinux is the cluster's mount point",
    );
    refused_untouched(
        &lab,
        3,
        &[
            "client-cache",
            "/vstorage/livelinux-sdb/cache",
            "2048",
            "--nodes",
            "msk-01",
        ],
        "msk-01: /vstorage/livelinux-sdb/cache is on the disk of CS#",
    );
    lab.run(&[
        "client-cache",
        "/mnt/ssd/cache",
        "2048",
        "--nodes",
        "msk-01",
    ])
    .status(0);
}
