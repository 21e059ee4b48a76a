//! set-replicas and set-tier against what a real cluster places replicas by: the path's
//! failure domain (`get-attr`'s `failure-domain=disk|host|rack|row|room`, reference
//! virtuozzo-cli.md §2.5), and a `vstorage stat` without a TIER column (the documented
//! VZ7 and VHI tables have none, §2.3).

use crate::catalog::Lab;
use crate::fieldnotes::refused_untouched;

/// Two storage hosts with two CSs each: four disks.
fn two_hosts_four_disks(domain: &str) -> String {
    format!(
        "cluster: d\nspeed: 0\nreplicas: \"2:1\"\nfailure_domain: {domain}\nhosts:\n  - {{name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}}\n  - {{name: n2, address: 10.0.0.2, tags: [hypervisor, storage]}}\ncss:\n  - {{id: 1, host: n1}}\n  - {{id: 2, host: n1}}\n  - {{id: 3, host: n2}}\n  - {{id: 4, host: n2}}\nmdss:\n  - {{id: 1, host: n1, master: true}}\nves:\n  - {{name: web01, host: n1}}\n"
    )
}

#[test]
fn set_replicas_with_failure_domain_disk_counts_chunk_servers_not_hosts() {
    // failure-domain=disk: two replicas may share a host but not a disk. Four CSs hold
    // three replicas, though there are only two hosts.
    let lab = Lab::with_scenario(&two_hosts_four_disks("disk"));
    lab.run(&["set-replicas", "homes", "3:2"])
        .status(0)
        .stderr_has("set-attr -R /vstorage/d/private replicas=3:2");
    refused_untouched(
        &lab,
        3,
        &["set-replicas", "homes", "5:2"],
        "4 active chunk server(s) (failure domain disk), the norm needs 5",
    );
}

#[test]
fn set_replicas_with_failure_domain_rack_says_it_cannot_count_racks() {
    // failure-domain=rack: each replica needs its own rack, and `vstorage stat` says
    // nothing of racks. Three hosts may be in one rack: the host count is only an upper
    // bound, and the run says so instead of passing as checked.
    let lab = Lab::with_scenario(&two_hosts_four_disks("rack"));
    refused_untouched(
        &lab,
        3,
        &["set-replicas", "homes", "3:2"],
        "d has 2 storage host(s) with an active CS (failure domain rack: as many racks at most), the norm needs 3",
    );
    lab.run(&["set-replicas", "homes", "2:2"])
        .status(0)
        .stderr_has("failure domain is rack: vstorage stat does not say which rack a host is in")
        .stderr_has("set-attr -R /vstorage/d/private replicas=2:2");
}

#[test]
fn set_tier_with_failure_domain_disk_counts_chunk_servers_of_the_tier() {
    let scenario = two_hosts_four_disks("disk")
        .replace("{id: 3, host: n2}", "{id: 3, host: n2, tier: 1}")
        .replace("{id: 4, host: n2}", "{id: 4, host: n2, tier: 1}")
        .replace("{id: 2, host: n1}", "{id: 2, host: n1, tier: 1}")
        .replace("speed: 0\n", "speed: 0\nstat_tiers: true\n");
    let lab = Lab::with_scenario(&scenario);
    // Tier 1: CSs 2, 3, 4 on two hosts; with failure domain disk, 3 replicas fit.
    lab.run(&["set-replicas", "web01", "3:2"]).status(3);
    lab.run(&["set-tier", "web01", "1"])
        .status(0)
        .stderr_has("tier=1");
    lab.run(&["set-replicas", "web01", "3:2"])
        .status(0)
        .stderr_has("replicas=3:2");
}

#[test]
fn fill_margin_checks_its_input_and_the_current_value_before_changing_anything() {
    let lab = Lab::new();
    // Not a number: bad input (exit 2), not a script error.
    refused_untouched(&lab, 2, &["fill-margin", "abc"], "invalid pct");
    // Raising the margin (5 now) takes allocatable space away from a full cluster: the
    // opposite of what the runbook is for.
    refused_untouched(
        &lab,
        3,
        &["fill-margin", "10", "--minutes", "0"],
        "mds.alloc.fill_margin is 5: 10 would not lower it",
    );
    // Lowering it is allowed, and it is put back.
    lab.run(&["fill-margin", "1", "--minutes", "0"]).status(0);
}

#[test]
fn fill_margin_refuses_when_get_config_does_not_list_the_parameter() {
    // get-config's format, and whether it lists parameters left at their defaults, are
    // not documented: without the current value there is nothing to restore, so the run
    // must refuse, naming what is missing (before: a script error, "Property not found").
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nconfig: {mds.alloc.fill_margin: \"\"}\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\ncss:\n  - {id: 1, host: n1}\n",
    );
    refused_untouched(
        &lab,
        3,
        &["fill-margin", "1", "--minutes", "0"],
        "vstorage get-config on n1 does not list mds.alloc.fill_margin",
    );
}

#[test]
fn set_replicas_without_a_tier_column_says_the_tier_was_not_checked() {
    // The documented CS tables (VZ7 and VHI) have no TIER column, so the per-tier check
    // cannot run: db01 is on tier 1, two hosts; three hosts in all. A norm of 3 passes the
    // whole-cluster check and leaves db01's chunks degraded: the run must say what it did
    // not check (before: silent).
    let lab = Lab::with_scenario(
        "cluster: t\nspeed: 0\nreplicas: \"2:1\"\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor, storage]}\n  - {name: n3, address: 10.0.0.3, tags: [hypervisor, storage]}\ncss:\n  - {id: 1, host: n1}\n  - {id: 2, host: n2}\n  - {id: 3, host: n3}\n  - {id: 4, host: n1, tier: 1}\n  - {id: 5, host: n2, tier: 1}\nmdss:\n  - {id: 1, host: n1, master: true}\nves:\n  - {name: db01, host: n2, tier: 1}\n",
    );
    lab.run(&["set-replicas", "db01", "3"])
        .status(0)
        .stderr_has("vstorage stat shows no tiers (its CS table has no TIER column): the norm 3 was checked against the whole cluster's 3 storage host(s) with an active CS, not those of tier 1");
}

#[test]
fn memory_tuning_refuses_a_min_free_kbytes_the_node_cannot_keep_free() {
    // n1 runs a VE of 60000 MB on 64 GiB: about 1.4 GiB is left. The kernel keeps
    // vm.min_free_kbytes free and reclaims up to half as much again; past what is left,
    // "setting this too high will OOM your machine instantly" (kernel vm.rst), and the lab's
    // n1 stops answering. Before: vz.conf and vcmmd set on n1, then the sysctl took it down,
    // the run timed out on it, and n2 was never reached.
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], memory_mb: 65536}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor], memory_mb: 65536}\nves:\n  - {name: big, host: n1, memsize: 60000}\n",
    );
    refused_untouched(
        &lab,
        3,
        &["memory-tuning"],
        "vm.min_free_kbytes 1048576 on n1: the kernel would keep 1572864 kB free (and reclaim up to it), but only",
    );
    // A value that fits goes through on both.
    lab.run(&["memory-tuning", "--min-free-kbytes", "262144"])
        .status(0)
        .stderr_has("[n1] sysctl -w vm.min_free_kbytes=262144");
}

#[test]
fn client_cache_growing_the_cache_checks_the_room_beyond_the_present_one() {
    // The cache of 64000 MB is there already (the mount made it): the drive has 36000 MB
    // left. Growing it to 500000 MB cannot fit; the next mount would fail to make it.
    // Before, any new size for the same path skipped the room check.
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - name: n1\n    address: 10.0.0.1\n    tags: [hypervisor]\n    files: {/etc/fstab: \"vstorage://c /vstorage/c fuse.vstorage rw,nosuid,nodev,cache=/mnt/ssd/vc-cache,cachesize=64000 0 0\\n\"}\n    ops: {filesystems: [{source: /dev/sdb1, target: /mnt/ssd, fstype: ext4, avail_mb: 36000}]}\n",
    );
    refused_untouched(
        &lab,
        3,
        &["client-cache", "/mnt/ssd/vc-cache", "500000"],
        "n1: /mnt/ssd has 36000 MB free besides the 64000 MB of the present cache, the cache needs 500000 MB",
    );
    // Growing within the room is fine.
    lab.run(&["client-cache", "/mnt/ssd/vc-cache", "90000"])
        .status(0)
        .stderr_has("cachesize=90000");
}

/// Three hosts, 1000 GB each with 300 GB free (2100 GB in use), replicas 2:1.
const NEARLY_FULL: &str = "cluster: f\nspeed: 0\nreplicas: \"2:1\"\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor, storage]}\n  - {name: n3, address: 10.0.0.3, tags: [hypervisor, storage]}\ncss:\n  - {id: 1, host: n1, space_gb: 1000, free_gb: 300}\n  - {id: 2, host: n2, space_gb: 1000, free_gb: 300}\n  - {id: 3, host: n3, space_gb: 1000, free_gb: 300}\nmdss:\n  - {id: 1, host: n1, master: true}\nves:\n  - {name: web01, host: n1}\n";

#[test]
fn set_replicas_refuses_a_raise_the_cluster_has_no_room_for() {
    // 2100 GB in use with 2 replicas: a third copy of it all is 1050 GB more, and the
    // cluster has 855 GB allocatable. vstorage would fill every CS and then stop writes.
    // Before: three hosts, so it passed.
    let lab = Lab::with_scenario(NEARLY_FULL);
    refused_untouched(
        &lab,
        3,
        &["set-replicas", "homes", "3:2"],
        "replicas 3:2 (from 2) copies the data 1 more time(s): up to 1050GB, and the cluster has 855GB allocatable (2100GB in use): it would fill up",
    );
    // One VE's home: vstorage does not say how much of the data is below it: a warning.
    lab.run(&["set-replicas", "web01", "3:2"])
        .status(0)
        .stderr_has("if all its data were below")
        .stderr_has("replicas=3:2");
}

#[test]
fn set_tier_refuses_a_tier_without_room_for_the_data_moved_there() {
    // Tier 0: three hosts with 700 GB each in use; tier 1: three small CSs, 100 GB free
    // each. Moving every home to tier 1 brings 2100 GB to 300 GB of room.
    let scenario = NEARLY_FULL
        .replace("speed: 0\n", "speed: 0\nstat_tiers: true\n")
        .replace(
            "mdss:",
            "  - {id: 4, host: n1, tier: 1, space_gb: 100, free_gb: 100}\n  - {id: 5, host: n2, tier: 1, space_gb: 100, free_gb: 100}\n  - {id: 6, host: n3, tier: 1, space_gb: 100, free_gb: 100}\nmdss:",
        );
    let lab = Lab::with_scenario(&scenario);
    refused_untouched(
        &lab,
        3,
        &["set-tier", "homes", "1"],
        "tier 1 has 300GB free on its active chunk servers, and the data moved there takes 2100GB on the other tiers now",
    );
}

#[test]
fn read_cache_reads_the_info_directory_under_its_compatibility_name() {
    // The client's info directory may have only its compatibility name, .pstorage.info
    // (reference §2.8; the read-cache KB's own path). Before: read as "no cache", and the
    // report said the running cache differs from fstab, which it does not.
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - name: n1\n    address: 10.0.0.1\n    tags: [hypervisor]\n    files: {/etc/fstab: \"vstorage://c /vstorage/c fuse.vstorage rw,nosuid,nodev,cache=/mnt/ssd/vc-cache,cachesize=64000 0 0\\n\"}\n    ops: {info_dir_compat: true, filesystems: [{source: /dev/sdb1, target: /mnt/ssd, fstype: ext4, avail_mb: 36000}]}\n",
    );
    let out = lab.run(&["read-cache"]).status(0).stderr_lacks("differs");
    let row: Vec<&str> = out
        .stdout
        .lines()
        .find(|l| l.starts_with("n1 "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        row,
        [
            "n1",
            "/mnt/ssd/vc-cache",
            "56000",
            "8000",
            "enabled",
            "/mnt/ssd/vc-cache",
            "64000"
        ]
    );
    lab.run(&["cluster-health", "--format", "prometheus"])
        .status(0)
        .stdout_has("vzrun_node_read_cache_size_bytes{cluster=\"c\",node=\"n1\"} 67108864000");
}

#[test]
fn fill_margin_after_a_crash_restores_the_true_original_when_the_first_node_is_gone() {
    // A run lowered the margin to 2 and was killed; its note of the original (5) was on
    // msk-01 only. msk-01 then stops answering (often why the operator is back): a new run
    // asks msk-02, which had no note, took the lowered 2 for the original, and put 2 back
    // at its end. The note is on the cluster file system too now, seen from every node.
    let lab = Lab::new();
    let (line, _run_id) =
        lab.kill_after_log_line(" minutes (was ", &["fill-margin", "2", "--minutes", "30"]);
    assert!(line.contains("(was 5)"), "{line}");
    let mut state = lab.state_value();
    state["hosts"][0]["unreachable"] = serde_json::Value::Bool(true);
    std::fs::write(
        lab.dir.path().join("lab.json"),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();
    lab.run(&["fill-margin", "1", "--minutes", "0"])
        .status(0)
        .stderr_has("(was 5)")
        .stderr_has("undo: restore mds.alloc.fill_margin to 5: done");
    lab.query(
        "log(`fill_margin ${vstorage::get_config(host(\"msk-02\"))[\"mds.alloc.fill_margin\"]}`);",
    )
    .status(0)
    .stderr_has("fill_margin 5\n");
}

#[test]
fn storage_top_does_not_flag_chunks_that_are_being_deleted() {
    // After VEs are removed, vstorage counts their chunks as `deleting` until the space is
    // freed: no fault. Before, storage-top warned "12 chunk(s) are not healthy".
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nreplicas: \"1\"\ndeleting_chunks: 12\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\ncss:\n  - {id: 1, host: n1}\nmdss:\n  - {id: 1, host: n1, master: true}\n",
    );
    lab.run(&["storage-top"])
        .status(0)
        .stdout_has("cluster c: healthy")
        .stderr_lacks("not healthy");
    lab.run(&["cluster-health", "--format", "prometheus"])
        .status(0)
        .stdout_has("vzrun_cluster_chunks_healthy_ratio{cluster=\"c\"} 1.0\n");
    let degraded = Lab::with_scenario(
        "cluster: c\nspeed: 0\nreplicas: \"2:1\"\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor, storage]}\ncss:\n  - {id: 1, host: n1}\n  - {id: 2, host: n2, status: offline}\nmdss:\n  - {id: 1, host: n1, master: true}\n",
    );
    degraded
        .run(&["storage-top"])
        .status(0)
        .stderr_has("chunk(s) are not healthy");
}
