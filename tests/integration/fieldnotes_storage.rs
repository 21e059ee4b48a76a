//! The field notes' storage operations on the lab: replicas, tiers, license, pfcache
//! size, read cache, the top-like snapshot. Each: the normal path, a fault path, a second
//! run that changes nothing.

use crate::catalog::{unchanged, Lab};
use crate::fieldnotes::{file, refused_all, refused_untouched};

#[test]
fn set_replicas_sets_both_homes_refuses_too_many_and_asks_before_one() {
    let lab = Lab::with_scenario(crate::catalog::SMALL);
    lab.run(&["set-replicas", "homes", "2:1"])
        .status(0)
        .stderr_has("set-attr -R /vstorage/small/private replicas=2:1")
        .stderr_has("set-attr -R /vstorage/small/vmprivate replicas=2:1");
    unchanged(
        lab.run(&["set-replicas", "homes", "2:1"])
            .status(0)
            .stderr_has("already has replicas 2:1"),
    );
    // Three storage hosts: a norm of 4 could never be met.
    refused_all(
        &lab,
        &[
            (
                3,
                &["set-replicas", "homes", "4:2"][..],
                "small has 3 storage host(s) with an active CS, the norm needs 4",
            ),
            (
                3,
                &["set-replicas", "/vstorage/small/private", "1"][..],
                "Keep a single copy",
            ),
            (2, &["set-replicas", "homes", "2:3"][..], "invalid replicas"),
            (
                2,
                &["set-replicas", "/etc", "2"][..],
                "not under /vstorage/small",
            ),
        ],
    );
    lab.run(&["set-replicas", "/vstorage/small/private", "1", "--yes"])
        .status(0)
        .stderr_has("replicas=1");
}

/// Tier 0 on three hosts, tier 2 on two; web01's home on tier 0, db01's (set-tier) on 2.
const HOME_TIERS: &str = "cluster: t\nspeed: 0\nstat_tiers: true\nreplicas: \"2:1\"\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor, storage]}\n  - {name: n3, address: 10.0.0.3, tags: [hypervisor, storage]}\ncss:\n  - {id: 1, host: n1}\n  - {id: 2, host: n2}\n  - {id: 3, host: n3}\n  - {id: 4, host: n1, tier: 2}\n  - {id: 5, host: n2, tier: 2}\nmdss:\n  - {id: 1, host: n1, master: true}\nves:\n  - {name: web01, host: n1}\n  - {name: db01, host: n2, tier: 2}\n";

#[test]
fn set_replicas_of_a_directory_checks_each_ve_home_below_it_on_its_own_tier() {
    let lab = Lab::with_scenario(HOME_TIERS);
    // The directory is on tier 0 (three hosts), but -R reaches db01 on tier 2 (two hosts):
    // its chunks would stay degraded for good.
    refused_untouched(
        &lab,
        3,
        &["set-replicas", "homes", "3:2"],
        "db01) is on tier 2, which has 2 storage host(s) with an active CS, the norm needs 3",
    );
    // A VE below the directory with other replicas than asked: not "already" done.
    lab.run(&["set-replicas", "db01", "1", "--yes"]).status(0);
    lab.run(&["set-replicas", "/vstorage/t/private", "2:1"])
        .status(0)
        .stderr_lacks("already has replicas")
        .stderr_has("set-attr -R /vstorage/t/private replicas=2:1");
    unchanged(
        lab.run(&["set-replicas", "/vstorage/t/private", "2:1"])
            .status(0)
            .stderr_has("already has replicas 2:1"),
    );
    lab.run(&["vm-tiers"])
        .status(0)
        .stdout_has("db01")
        .stdout_lacks(" 1\n");
}

#[test]
fn set_tier_of_a_directory_checks_the_replicas_of_each_ve_home_below_it() {
    let lab = Lab::with_scenario(HOME_TIERS);
    // The directory keeps 2:1, which tier 2's two hosts can hold, but -R also moves web01,
    // whose home keeps 3 replicas: on tier 2 its chunks would stay degraded for good.
    lab.run(&["set-replicas", "web01", "3"]).status(0);
    refused_untouched(
        &lab,
        3,
        &["set-tier", "homes", "2"],
        "web01) keeps 3 replicas but tier 2 has 2 storage host(s) with an active CS",
    );
    // The directory is on tier 0 already, but -R would move db01 (tier 2) there: not done.
    lab.run(&["set-tier", "/vstorage/t/private", "0"])
        .status(0)
        .stderr_lacks("already has tier")
        .stderr_has("set-attr -R /vstorage/t/private tier=0");
    unchanged(
        lab.run(&["set-tier", "/vstorage/t/private", "0"])
            .status(0)
            .stderr_has("already has tier 0: no change"),
    );
    let tiers = lab.run(&["vm-tiers"]).status(0);
    let db01 = tiers
        .stdout
        .lines()
        .find(|l| l.starts_with("db01 "))
        .expect("db01 is listed");
    assert_eq!(db01.split_whitespace().nth(4), Some("0"), "{db01}");
}

/// HOME_TIERS with n3 not answering (alive: its cluster mount, its CS and its VE go on),
/// and web03 on n3, whose home keeps replicas 3 of its own.
fn silent_node_scenario() -> String {
    HOME_TIERS
        .replace(
            "{name: n3, address: 10.0.0.3, tags: [hypervisor, storage]}",
            "{name: n3, address: 10.0.0.3, tags: [hypervisor, storage], unreachable: true}",
        )
        .replace(
            "  - {name: db01, host: n2, tier: 2}\n",
            "  - {name: db01, host: n2, tier: 2}\n  - {name: web03, host: n3, uuid: 0c3e8a52-7d1b-4f6a-9b2e-3f4a5b6c7d8e, replicas: \"3\"}\n",
        )
}

#[test]
fn set_tier_of_a_directory_checks_the_homes_of_a_node_that_does_not_answer() {
    // `prlctl list` on n3 times out, but web03's home is on the cluster file system all the
    // same, and `set-attr -R tier=2` on the directory would move it to tier 2's two hosts
    // with its 3 replicas: degraded for good. Before, its home went unchecked (a warning).
    let lab = Lab::with_scenario(&silent_node_scenario());
    // The lab's clock moves on by the time n3 was waited for: all else stays as it was.
    let without_clock = |mut state: serde_json::Value| {
        state.as_object_mut().unwrap().remove("clock");
        state
    };
    let before = without_clock(lab.state_value());
    unchanged(
        lab.run(&["set-tier", "homes", "2"])
            .status(3)
            .stderr_has("/vstorage/t/private/0c3e8a52-7d1b-4f6a-9b2e-3f4a5b6c7d8e below it (VE 0c3e8a52-7d1b-4f6a-9b2e-3f4a5b6c7d8e) keeps 3 replicas but tier 2 has 2 storage host(s)"),
    );
    assert!(
        without_clock(lab.state_value()) == before,
        "set-tier homes 2 was refused but changed the lab"
    );
    // The listing of the directory itself (file::list on the storage host) names it too.
    lab.query(
        "let names = file::list(host(\"n1\"), \"/vstorage/t/private\"); log(`homes: ${names.len()} ${names.contains(\"0c3e8a52-7d1b-4f6a-9b2e-3f4a5b6c7d8e\")}`);",
    )
    .status(0)
    .stderr_has("homes: 3 true");
}

#[test]
fn set_replicas_of_a_directory_checks_the_homes_of_a_node_that_does_not_answer() {
    // web03 (on n3, which does not answer) was moved to tier 2, two hosts (db01 is not
    // here): replicas 3 for the directory would reach its home too, and leave its chunks
    // degraded.
    let scenario = silent_node_scenario()
        .replace("replicas: \"3\"}", "tier: 2}")
        .replace("{name: db01, host: n2, tier: 2}", "{name: db01, host: n2}");
    let lab = Lab::with_scenario(&scenario);
    let before = lab.state_value();
    let out = lab
        .run(&["set-replicas", "homes", "3"])
        .status(3)
        .stderr_has("/vstorage/t/private/0c3e8a52-7d1b-4f6a-9b2e-3f4a5b6c7d8e below it (VE 0c3e8a52-7d1b-4f6a-9b2e-3f4a5b6c7d8e) is on tier 2, which has 2 storage host(s)");
    unchanged(out);
    let mut after = lab.state_value();
    after["clock"] = before["clock"].clone();
    assert!(
        after == before,
        "set-replicas homes 3 was refused but changed the lab"
    );
}

/// Takes the cluster file system's mount away from the lab's first host (the storage host
/// runbooks ask): its mount point is then an empty local directory.
fn unmount_cluster_on_first_host(lab: &Lab) {
    let mut state = lab.state_value();
    state["hosts"][0]["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["fstype"] != "fuse.vstorage");
    std::fs::write(
        lab.dir.path().join("lab.json"),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_directory_target_is_refused_where_the_storage_host_has_no_cluster_mount() {
    // Unmounted, /vstorage/t on n1 is an empty local directory: listing it would find no
    // home, and -R would then reach them all unchecked.
    let lab = Lab::with_scenario(HOME_TIERS);
    unmount_cluster_on_first_host(&lab);
    refused_untouched(
        &lab,
        3,
        &["set-tier", "homes", "2"],
        "/vstorage/t is not mounted on n1: the VE homes below it cannot be listed",
    );
}

#[test]
fn set_tier_refuses_a_tier_without_enough_chunk_servers() {
    let lab = Lab::with_scenario(&format!(
        "{}stat_tiers: true\n",
        crate::catalog::SMALL.replace("{id: 4, host: n3}", "{id: 4, host: n3, tier: 1}")
    ));
    refused_all(
        &lab,
        &[
            (
                3,
                &["set-tier", "homes", "2"][..],
                "tier 2 has no active chunk server",
            ),
            (
                3,
                &["set-tier", "homes", "1"][..],
                "keeps 3 replicas but tier 1 has 1 storage host(s)",
            ),
        ],
    );
    lab.run(&["set-replicas", "/vstorage/small/vmprivate", "1", "--yes"])
        .status(0);
    lab.run(&["set-tier", "/vstorage/small/vmprivate", "1"])
        .status(0)
        .stderr_has("set-attr -R /vstorage/small/vmprivate tier=1");
    unchanged(
        lab.run(&["set-tier", "/vstorage/small/vmprivate", "1"])
            .status(0),
    );
}

#[test]
fn license_shows_expiration_days_left_and_every_nodes_hwid() {
    let lab = Lab::new();
    let out = lab.run(&["license"]).status(0).stdout_has("12/31/2027");
    let header = out.stdout.lines().next().unwrap();
    assert!(header.contains("days_left"), "{header}");
    let days: i64 = out
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(4)
        .unwrap()
        .parse()
        .unwrap();
    assert!(days > 0, "{}", out.stdout);
    for host in ["msk-01", "msk-07"] {
        let row = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{host} ")))
            .unwrap();
        assert!(row.ends_with("stat --license-hwid"), "{row}");
    }
    let expired = Lab::with_scenario(
        "cluster: c\nspeed: 0\nlicense: {key: VZSTOR.74418710.0000, status: EXPIRED, expiration: 01/10/2021}\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\n  - {name: n2, address: 10.0.0.2, tags: [storage], unreachable: true}\ncss:\n  - {id: 1, host: n1}\n",
    );
    let out = unchanged(
        expired
            .run(&["license"])
            .status(0)
            .stderr_has("the license is EXPIRED")
            .stderr_has("the license expired"),
    );
    // n2 does not answer: its HWID comes from view-license, and says so.
    let row = out.stdout.lines().find(|l| l.starts_with("n2 ")).unwrap();
    assert!(row.contains("view-license"), "{row}");
    refused_untouched(
        &lab,
        2,
        &["license", "--warn-days", "-1"],
        "'--warn-days <WARN_DAYS>': -1 is outside 0..3650",
    );
}

#[test]
fn pfcache_resize_grows_only_with_room_and_once() {
    let lab = Lab::new();
    lab.run(&["pfcache-resize", "20", "--nodes", "msk-01,msk-02"])
        .status(0)
        .stderr_has("[msk-01] prl_disk_tool resize --size 20G --hdd /vz/pfcache.hdd")
        .stderr_has("msk-02: /vz/pfcache.hdd grown from 10 GB to 20 GB");
    let descriptor = file(
        &lab.state_value(),
        "msk-02",
        "/vz/pfcache.hdd/DiskDescriptor.xml",
    )
    .unwrap()
    .to_string();
    assert!(
        descriptor.contains("<Disk_size>41943040</Disk_size>"),
        "{descriptor}"
    );
    unchanged(
        lab.run(&["pfcache-resize", "20", "--nodes", "msk-01,msk-02"])
            .status(0)
            .stderr_has("already 20 GB"),
    );
    refused_untouched(
        &lab,
        3,
        &["pfcache-resize", "15", "--nodes", "msk-01"],
        "shrinking a mounted image is not done",
    );
    // The root file system has 50000 MB free.
    refused_all(
        &lab,
        &[
            (
                3,
                &["pfcache-resize", "100"][..],
                "growing /vz/pfcache.hdd needs",
            ),
            (2, &["pfcache-resize", "20G"][..], "invalid size"),
        ],
    );
    // After a move the image is found where vz.conf says.
    lab.run(&["pfcache-move", "/vz/pfcache2.hdd", "--nodes", "msk-03"])
        .status(0);
    lab.run(&["pfcache-resize", "12", "--nodes", "msk-03"])
        .status(0)
        .stderr_has("--hdd /vz/pfcache2.hdd");
}

#[test]
fn read_cache_report_compares_the_mount_with_fstab() {
    let lab = Lab::new();
    let cache = "/mnt/ssd/vstorage-livelinux-cache";
    lab.run(&["client-cache", cache, "64000", "--nodes", "msk-02"])
        .status(0);
    let row = |out: &crate::test::Outcome, host: &str| -> Vec<String> {
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{host} ")))
            .unwrap();
        line.split_whitespace().map(str::to_string).collect()
    };
    // fstab says so, but the running client was mounted without a cache.
    let out = unchanged(
        lab.run(&["read-cache", "--nodes", "msk-01,msk-02"])
            .status(0)
            .stderr_has("the running cache differs from /etc/fstab on [\"msk-02\"]"),
    );
    assert_eq!(row(&out, "msk-02"), ["msk-02", "none", cache, "64000"]);
    assert_eq!(row(&out, "msk-01"), ["msk-01", "none"]);
    // The operator remounts the cluster: now the client uses it.
    lab.query("let h = host(\"msk-02\");\nh.run([\"umount\", \"-l\", \"/vstorage/livelinux\"]);\nh.run([\"mount\", \"/vstorage/livelinux\"]);")
        .status(0);
    let out = unchanged(lab.run(&["read-cache", "--nodes", "msk-02"]).status(0));
    assert!(!out.stderr.contains("differs"), "{}", out.stderr);
    assert_eq!(
        row(&out, "msk-02"),
        // cachesize is the whole cache: main and boot caches together (KB 122639's
        // 56000 + 8000 against the operator's cachesize=64000, reference §2.8).
        ["msk-02", cache, "56000", "8000", "enabled", cache, "64000"]
    );
    let dead = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor], unreachable: true}\n",
    );
    unchanged(dead.run(&["read-cache"]).status(5).stderr_has("n2"));
}

#[test]
fn storage_top_snapshot_flags_what_needs_a_look() {
    let lab = Lab::new();
    let out = unchanged(lab.run(&["storage-top", "--cs"]).status(0))
        .stdout_has("cluster livelinux: healthy")
        .stdout_has("280 healthy");
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with("msk-01 "))
        .unwrap();
    assert_eq!(
        row.split_whitespace().take(3).collect::<Vec<_>>(),
        ["msk-01", "master", "3/3"]
    );
    assert!(
        out.stdout.lines().any(|l| l.starts_with("1045 ")),
        "{}",
        out.stdout
    );
    let degraded = Lab::with_scenario(&crate::catalog::SMALL.replace(
        "{id: 4, host: n3}",
        "{id: 4, host: n3, status: offline, space_gb: 1000, free_gb: 20}",
    ));
    unchanged(
        degraded
            .run(&["storage-top", "--every", "1", "--count", "2"])
            .status(0)
            .stderr_has("warning: CS#4 on n3 is offline"),
    );
    refused_untouched(
        &lab,
        2,
        &["storage-top", "--count", "0", "--every", "1"],
        "'--count <COUNT>': 0 is outside 1..1000",
    );
}

#[test]
fn cs_maintenance_is_refused_where_its_record_would_land_on_a_local_directory() {
    // The record of which nodes are in CS maintenance (and the MDS timeout to put back)
    // lives on the cluster file system, read and written through the first storage host.
    // Where that host has the cluster unmounted, /vstorage/small is an empty local
    // directory: the record went there, hidden from every other node's run and from this
    // one's once the cluster is mounted again.
    let lab = Lab::with_scenario(crate::catalog::SMALL);
    unmount_cluster_on_first_host(&lab);
    refused_untouched(
        &lab,
        3,
        &["cs-maintenance", "n2", "on", "--force", "--yes"],
        "/vstorage/small is not mounted on n1: the CS maintenance record kept there",
    );
}
