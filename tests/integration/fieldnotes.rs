//! The operations of the operators' field notes on the lab, each done the way a careful
//! operator does it: the normal path, a fault path, and a second run that changes nothing.
//! A run refused (exit 3) or given bad input (exit 2) leaves the lab's state as it was.

use serde_json::Value;

use crate::catalog::{unchanged, Lab};

/// One host's state in the lab's state file.
fn node<'a>(state: &'a Value, name: &str) -> &'a Value {
    state["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no host {name}"))
}

fn file<'a>(state: &'a Value, host: &str, path: &str) -> Option<&'a str> {
    node(state, host)["files"][path]["content"].as_str()
}

/// Asserts a run was refused with `code` and left the lab exactly as it was.
fn refused_untouched(lab: &Lab, code: i32, args: &[&str], needle: &str) {
    let before = lab.state();
    unchanged(lab.run(args).status(code).stderr_has(needle));
    assert!(
        lab.state() == before,
        "{args:?} exited {code} but changed the lab"
    );
}

/// The pfcache image a host has mounted at /vz/pfcache, and whether pfcached runs.
fn pfcache(state: &Value, host: &str) -> (String, bool) {
    let h = node(state, host);
    let mounted = h["ops"]["ploops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["mountpoint"] == "/vz/pfcache")
        .map(|m| m["descriptor"].as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    (mounted, h["units"]["pfcached.service"]["active"] == true)
}

#[test]
fn pfcache_move_unmounts_moves_remounts_and_a_second_run_changes_nothing() {
    let lab = Lab::new();
    lab.run(&[
        "pfcache-move",
        "/vz/pfcache2.hdd",
        "--nodes",
        "msk-01,msk-02",
    ])
    .status(0)
    .stderr_has("[msk-01] systemctl stop pfcached")
    .stderr_has("[msk-01] ploop umount -m /vz/pfcache")
    .stderr_has("[msk-01] mv /vz/pfcache.hdd /vz/pfcache2.hdd")
    .stderr_has("+PFCACHE_IMAGE=/vz/pfcache2.hdd")
    .stderr_has("[msk-01] ploop mount -m /vz/pfcache /vz/pfcache2.hdd/DiskDescriptor.xml")
    .stderr_has("[msk-02] systemctl start pfcached");
    let state = lab.state();
    for host in ["msk-01", "msk-02"] {
        assert_eq!(
            pfcache(&state, host),
            ("/vz/pfcache2.hdd/DiskDescriptor.xml".into(), true)
        );
        assert!(file(&state, host, "/vz/pfcache.hdd/DiskDescriptor.xml").is_none());
        // vz.conf is not where the image is set.
        assert!(!file(&state, host, "/etc/vz/vz.conf")
            .unwrap()
            .contains("PFCACHE"));
    }
    assert_eq!(
        pfcache(&state, "msk-03"),
        ("/vz/pfcache.hdd/DiskDescriptor.xml".into(), true)
    );
    unchanged(
        lab.run(&[
            "pfcache-move",
            "/vz/pfcache2.hdd",
            "--nodes",
            "msk-01,msk-02",
        ])
        .status(0)
        .stdout_has("msk-01: pfcache already in /vz/pfcache2.hdd"),
    );
}

#[test]
fn pfcache_move_puts_the_node_back_when_the_mount_fails() {
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], ops: {fail_once: [ploop mount]}}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\n",
    );
    let before = lab.state();
    lab.run(&["pfcache-move", "/vz/pfcache2.hdd"])
        .status(1)
        .stderr_has("Can't mount file system")
        .stderr_has("[n1] mv /vz/pfcache2.hdd /vz/pfcache.hdd")
        .stderr_has("undo: put the pfcache of n1 back");
    let after = lab.state();
    assert_eq!(
        pfcache(&after, "n1"),
        ("/vz/pfcache.hdd/DiskDescriptor.xml".into(), true)
    );
    assert_eq!(
        file(&after, "n1", "/etc/vz/pfcache.conf"),
        file(&before, "n1", "/etc/vz/pfcache.conf")
    );
    // The run stopped at the failed node: n2 was not touched.
    assert_eq!(node(&after, "n2"), node(&before, "n2"));
    // The fault was transient: a second run moves both.
    lab.run(&["pfcache-move", "/vz/pfcache2.hdd"]).status(0);
    assert_eq!(
        pfcache(&lab.state(), "n1"),
        ("/vz/pfcache2.hdd/DiskDescriptor.xml".into(), true)
    );
}

#[test]
fn pfcache_move_checks_every_node_before_touching_one() {
    let lab = Lab::new();
    for (code, args, needle) in [
        (2, &["pfcache-move", "rel/dir"][..], "invalid dir"),
        (
            2,
            &["pfcache-move", "/vz/pfcache 2"][..],
            "' ' is not allowed",
        ),
        (
            2,
            &["pfcache-move", "/vstorage/livelinux/pf"][..],
            "local file system",
        ),
        // mv into an existing directory would move the image inside it.
        (
            3,
            &["pfcache-move", "/etc/vz"][..],
            "/etc/vz already exists",
        ),
        (
            3,
            &["pfcache-move", "/vz2/pfcache.hdd"][..],
            "/vz2 does not exist",
        ),
    ] {
        refused_untouched(&lab, code, args, needle);
    }
}

/// The vstorage-limits.conf of the field notes: a comma is missing after the Max.
const NOTES_LIMITS: &str = "{\"VStorage\": {\"Path\": \"vstorage.slice/vstorage-services.slice\",\n    \"Limit\": {\"Max\": 34359738368\n              \"Min\": 0, \"Share\": 0.7},\n    \"Guarantee\": {\"Max\": 0, \"Min\": 0, \"Share\": 0.25},\n    \"Swap\": {\"Max\": 0, \"Min\": 0, \"Share\": 0}}}\n";

/// Two hypervisors; n2 has `limits` as its vstorage-limits.conf.
fn two_nodes_with_limits(limits: &str) -> Lab {
    let indented: String = limits.lines().map(|l| format!("        {l}\n")).collect();
    Lab::with_scenario(&format!(
        "cluster: c\nspeed: 0\nhosts:\n  - {{name: n1, address: 10.0.0.1, tags: [hypervisor], memory_mb: 131072}}\n  - name: n2\n    address: 10.0.0.2\n    tags: [hypervisor]\n    memory_mb: 131072\n    files:\n      /etc/vz/vstorage-limits.conf: |\n{indented}"
    ))
}

fn limits(state: &Value, host: &str) -> Value {
    serde_json::from_str(file(state, host, "/etc/vz/vstorage-limits.conf").unwrap()).unwrap()
}

#[test]
fn memory_tuning_repairs_the_field_notes_limits_and_sets_guarantee_and_swap() {
    let lab = two_nodes_with_limits(NOTES_LIMITS);
    lab.run(&[
        "memory-tuning",
        "--cs-guarantee",
        "8589934592",
        "--cs-swap",
        "2147483648",
    ])
    .status(0)
    .stderr_has("/etc/vz/vstorage-limits.conf on n2: added the comma missing after \"Max\"")
    .stderr_has("[n2] systemctl restart vcmmd");
    let state = lab.state();
    let l = limits(&state, "n2");
    // The notes' own values are kept; the options set their sections' Max.
    assert_eq!(l["VStorage"]["Limit"]["Max"], 34359738368_i64);
    assert_eq!(l["VStorage"]["Limit"]["Share"], 0.7);
    assert_eq!(l["VStorage"]["Guarantee"]["Max"], 8589934592_i64);
    assert_eq!(l["VStorage"]["Guarantee"]["Share"], 0.25);
    assert_eq!(l["VStorage"]["Swap"]["Max"], 2147483648_i64);
    assert_eq!(
        limits(&state, "n1")["VStorage"]["Guarantee"]["Max"],
        8589934592_i64
    );
    for host in ["n1", "n2"] {
        assert_eq!(node(&state, host)["units"]["vcmmd.service"]["active"], true);
    }
    unchanged(
        lab.run(&[
            "memory-tuning",
            "--cs-guarantee",
            "8589934592",
            "--cs-swap",
            "2147483648",
        ])
        .status(0),
    );
}

#[test]
fn memory_tuning_refuses_an_unreadable_limits_file_naming_file_and_host() {
    for (broken, needle) in [
        (
            NOTES_LIMITS.replace("\"Min\": 0, \"Share\": 0.7}", "\"Min\": 0 \"Share\": 0.7}"),
            "/etc/vz/vstorage-limits.conf on n2 is not valid JSON",
        ),
        (
            NOTES_LIMITS.replace("\"Swap\"", "\"Swapp\""),
            "/etc/vz/vstorage-limits.conf on n2: unknown field VStorage.Swapp",
        ),
    ] {
        let lab = two_nodes_with_limits(&broken);
        // n1 comes first and is fine: nothing may change on it either.
        refused_untouched(
            &lab,
            3,
            &["memory-tuning", "--cs-limit", "17179869184"],
            needle,
        );
    }
    let lab = Lab::new();
    for (args, needle) in [
        (
            &["memory-tuning", "--cs-limit", "32"][..],
            "less than 1 GiB",
        ),
        (
            &["memory-tuning", "--cs-swap", "lots"][..],
            "invalid cs-swap",
        ),
        (
            &["memory-tuning", "--swappiness", "200"][..],
            "outside 0-100",
        ),
        (
            &["memory-tuning", "--overcommit-memory", "3"][..],
            "not 0, 1 or 2",
        ),
    ] {
        refused_untouched(&lab, 2, args, needle);
    }
    refused_untouched(
        &lab,
        3,
        &["memory-tuning", "--cs-guarantee", "999999999999999"],
        "more than the",
    );
}

#[test]
fn the_lab_vcmmd_does_not_start_on_the_field_notes_file() {
    // What the old runbook met: vcmmd cannot read the notes' file.
    let lab = two_nodes_with_limits(NOTES_LIMITS);
    lab.query("host(\"n2\").run([\"systemctl\", \"restart\", \"vcmmd\"]);")
        .status(1)
        .stderr_has("Job for vcmmd.service failed");
}

fn pcompact_runs(state: &Value, host: &str) -> u64 {
    node(state, host)["pcompact_runs"].as_u64().unwrap()
}

#[test]
fn pcompact_rolling_reports_or_disables_the_stock_cron_job() {
    let lab = Lab::new();
    lab.run(&["pcompact-rolling", "--nodes", "msk-01"])
        .status(0)
        .stderr_has("the stock nightly job /etc/cron.d/pcompact compacts every node at once")
        .stderr_has("[msk-01] pcompact -v");
    let state = lab.state();
    let stock = "0 2 * * * root /usr/sbin/pcompact -t 2h -q >/dev/null\n";
    assert_eq!(file(&state, "msk-01", "/etc/cron.d/pcompact"), Some(stock));
    lab.run(&[
        "pcompact-rolling",
        "--nodes",
        "msk-01,msk-02",
        "--cron",
        "disable",
    ])
    .status(0)
    .stderr_has("[msk-02] edit /etc/cron.d/pcompact")
    .stdout_has("compacted: 2 node(s)");
    let state = lab.state();
    for host in ["msk-01", "msk-02"] {
        let cron = file(&state, host, "/etc/cron.d/pcompact").unwrap();
        assert!(cron.starts_with("# disabled by vzrun"), "{cron}");
    }
    assert_eq!(pcompact_runs(&state, "msk-01"), 2);
    assert_eq!(file(&state, "msk-03", "/etc/cron.d/pcompact"), Some(stock));
    // A second run compacts again but has nothing left to disable or report.
    let again = lab
        .run(&[
            "pcompact-rolling",
            "--nodes",
            "msk-01,msk-02",
            "--cron",
            "disable",
        ])
        .status(0);
    assert!(
        !again.stderr.contains("edit /etc/cron.d/pcompact"),
        "{}",
        again.stderr
    );
    assert!(
        !again.stderr.contains("stock nightly job"),
        "{}",
        again.stderr
    );
}

#[test]
fn pcompact_rolling_refuses_before_the_first_node() {
    let degraded = Lab::with_scenario(
        &crate::catalog::SMALL.replace("{id: 4, host: n3}", "{id: 4, host: n3, status: offline}"),
    );
    refused_untouched(
        &degraded,
        3,
        &["pcompact-rolling", "--cron", "disable"],
        "is degraded",
    );
    assert_eq!(pcompact_runs(&degraded.state(), "n1"), 0);
    let lab = Lab::new();
    refused_untouched(
        &lab,
        2,
        &["pcompact-rolling", "--cron", "off"],
        "invalid cron",
    );
    refused_untouched(
        &lab,
        2,
        &["pcompact-rolling", "--min-free", "101"],
        "invalid min-free",
    );
}

#[test]
fn drop_caches_picks_nodes_by_mem_free_one_at_a_time() {
    // n1 and n2 are full of page cache: little MemFree, plenty of MemAvailable.
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], memory_mb: 65536, ops: {page_cache_mb: 60000}}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor], memory_mb: 65536, ops: {page_cache_mb: 60000}}\n  - {name: n3, address: 10.0.0.3, tags: [hypervisor], memory_mb: 65536}\n",
    );
    let out = lab
        .run(&["drop-caches", "--pause", "1"])
        .status(0)
        .stderr_has("[n1] sysctl -w vm.drop_caches=3")
        .stderr_has("[n2] sysctl -w vm.drop_caches=3")
        .stdout_has("waiting 1s before the next node");
    assert!(!out.stderr.contains("[n3]"), "{}", out.stderr);
    // One node, then the pause, then the next.
    let n1 = out.stderr.find("[n1] sysctl").unwrap();
    let n2 = out.stderr.find("[n2] sysctl").unwrap();
    assert!(n1 < n2);
    let state = lab.state();
    assert_eq!(node(&state, "n1")["caches_dropped"], 1);
    assert_eq!(node(&state, "n3")["caches_dropped"], 0);
    unchanged(
        lab.run(&["drop-caches", "--pause", "0"])
            .status(0)
            .stdout_has("left alone"),
    );
    refused_untouched(
        &lab,
        2,
        &["drop-caches", "--below-free", "0"],
        "invalid below-free",
    );
    refused_untouched(&lab, 2, &["drop-caches", "--pause", "-1"], "invalid pause");
}

fn vstorage_fstab_line(state: &Value, host: &str) -> String {
    file(state, host, "/etc/fstab")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("vstorage://"))
        .unwrap()
        .to_string()
}

#[test]
fn client_cache_merges_into_the_mount_options_and_checks_the_drive() {
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - name: n1\n    address: 10.0.0.1\n    tags: [hypervisor]\n    files: {/etc/fstab: \"vstorage://c /vstorage/c fuse.vstorage rw,nosuid,nodev 0 0\\n\"}\n    ops: {filesystems: [{source: /dev/sdb1, target: /mnt/ssd, fstype: ext4, avail_mb: 100000}, {source: \"nas:/export\", target: /mnt/nas, fstype: nfs4, avail_mb: 900000}]}\n",
    );
    lab.run(&["client-cache", "/mnt/ssd/vstorage-c-cache", "64000"])
        .status(0)
        .stderr_has("[n1] edit /etc/fstab");
    assert_eq!(
        vstorage_fstab_line(&lab.state(), "n1"),
        "vstorage://c /vstorage/c fuse.vstorage rw,nosuid,nodev,cache=/mnt/ssd/vstorage-c-cache,cachesize=64000 0 0"
    );
    unchanged(
        lab.run(&["client-cache", "/mnt/ssd/vstorage-c-cache", "64000"])
            .status(0)
            .stdout_has("already /mnt/ssd/vstorage-c-cache"),
    );
    // A new size replaces the old one, keeping everything else.
    lab.run(&["client-cache", "/mnt/ssd/vstorage-c-cache", "32000"])
        .status(0);
    assert_eq!(
        vstorage_fstab_line(&lab.state(), "n1"),
        "vstorage://c /vstorage/c fuse.vstorage rw,nosuid,nodev,cache=/mnt/ssd/vstorage-c-cache,cachesize=32000 0 0"
    );
    for (code, args, needle) in [
        (
            2,
            &["client-cache", "/mnt/ssd/a,b", "2048"][..],
            "',' is not allowed",
        ),
        (
            2,
            &["client-cache", "/mnt/ssd/a b", "2048"][..],
            "' ' is not allowed",
        ),
        (
            2,
            &["client-cache", "/mnt/ssd/c=d", "2048"][..],
            "'=' is not allowed",
        ),
        (
            2,
            &["client-cache", "/vstorage/c/cache", "2048"][..],
            "inside the cluster",
        ),
        (
            3,
            &["client-cache", "/mnt/nvme/cache", "2048"][..],
            "/mnt/nvme does not exist",
        ),
        (
            3,
            &["client-cache", "/mnt/nas/cache", "2048"][..],
            "on nfs4",
        ),
        (
            3,
            &["client-cache", "/mnt/ssd/other-cache", "200000"][..],
            "has 100000 MB free",
        ),
    ] {
        refused_untouched(&lab, code, args, needle);
    }
}

#[test]
fn sysctl_baseline_sets_no_core_dumps_and_checks_nofile_against_nr_open() {
    let lab = Lab::new();
    lab.run(&["sysctl-baseline", "--nodes", "msk-01"])
        .status(0)
        .stderr_has("[msk-01] edit /etc/security/limits.d/90-vzrun-core.conf");
    let state = lab.state();
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
    refused_untouched(
        &lab,
        3,
        &["sysctl-baseline", "--nofile", "2000000"],
        "above fs.nr_open 1048576",
    );
    refused_untouched(
        &lab,
        2,
        &["sysctl-baseline", "--sysrq", "512"],
        "invalid sysrq",
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
    let state = lab.state();
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
        node(&lab.state(), "n1")["units"]["ntpd.service"]["active"],
        true
    );
    refused_untouched(&lab, 2, &["ntp", "--max-offset", "0"], "invalid max-offset");
    refused_untouched(&lab, 2, &["ntp", "--servers", "a;b"], "invalid servers");
}

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
            .stdout_has("already has replicas 2:1"),
    );
    // Three storage hosts: a norm of 4 could never be met.
    refused_untouched(
        &lab,
        3,
        &["set-replicas", "homes", "4:2"],
        "small has 3 storage host(s) with an active CS, the norm needs 4",
    );
    refused_untouched(
        &lab,
        3,
        &["set-replicas", "/vstorage/small/private", "1"],
        "Keep a single copy",
    );
    refused_untouched(
        &lab,
        2,
        &["set-replicas", "homes", "2:3"],
        "invalid replicas",
    );
    refused_untouched(
        &lab,
        2,
        &["set-replicas", "/etc", "2"],
        "not under /vstorage/small",
    );
    lab.run(&["set-replicas", "/vstorage/small/private", "1", "--yes"])
        .status(0)
        .stderr_has("replicas=1");
}

#[test]
fn set_tier_refuses_a_tier_without_enough_chunk_servers() {
    let lab = Lab::with_scenario(&format!(
        "{}stat_tiers: true\n",
        crate::catalog::SMALL.replace("{id: 4, host: n3}", "{id: 4, host: n3, tier: 1}")
    ));
    refused_untouched(
        &lab,
        3,
        &["set-tier", "homes", "2"],
        "tier 2 has no active chunk server",
    );
    refused_untouched(
        &lab,
        3,
        &["set-tier", "homes", "1"],
        "keeps 3 replicas but tier 1 has 1 storage host(s)",
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
        "invalid warn-days",
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
    refused_untouched(
        &lab,
        3,
        &["bridge-network", "vlan200", "bond0.200"],
        "msk-01 has no interface bond0.200",
    );
    refused_untouched(
        &lab,
        2,
        &["bridge-network", "vlan200", "bond0;reboot"],
        "invalid ifname",
    );
    // db03 (a running VM on msk-01) has its adapter on Bridged.
    let before = lab.state();
    unchanged(
        lab.run(&["bridge-network", "Bridged", "eth1", "--nodes", "msk-01"])
            .status(3)
            .stderr_has("msk-01: Bridged is bound to eth0, used by running [\"db03 (net0)\"]")
            .stderr_has("pass --yes"),
    );
    assert!(lab.state() == before);
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
        .stdout_has("msk-02: bond0 runs 802.3ad over");
    let state = lab.state();
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
            .stdout_has("nothing to do"),
    );
    refused_untouched(
        &lab,
        3,
        &["bonding", "eth2,eth9"],
        "msk-01 has no interface eth9",
    );
    refused_untouched(&lab, 2, &["bonding", "eth2"], "at least two interfaces");
    refused_untouched(
        &lab,
        2,
        &["bonding", "eth2,eth3", "--lacp-rate", "medium"],
        "invalid lacp-rate",
    );
}

#[test]
fn bonding_puts_the_old_files_back_when_the_restart_fails() {
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], ops: {fail_once: [network restart]}}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\n",
    );
    let before = lab.state();
    lab.run(&["bonding", "eth2,eth3"])
        .status(1)
        .stderr_has("Job for network.service failed")
        .stderr_has("n1: putting its previous network files back");
    let after = lab.state();
    assert_eq!(bond_options(&after, "n1"), "mode=active-backup miimon=100");
    let ifcfg = "/etc/sysconfig/network-scripts/ifcfg-bond0";
    assert_eq!(file(&after, "n1", ifcfg), file(&before, "n1", ifcfg));
    assert_eq!(file(&after, "n2", ifcfg), file(&before, "n2", ifcfg));
    let degraded = Lab::with_scenario(
        &crate::catalog::SMALL.replace("{id: 4, host: n3}", "{id: 4, host: n3, status: offline}"),
    );
    refused_untouched(&degraded, 3, &["bonding", "eth2,eth3"], "is degraded");
}

#[test]
fn pfcache_resize_grows_only_with_room_and_once() {
    let lab = Lab::new();
    lab.run(&["pfcache-resize", "20", "--nodes", "msk-01,msk-02"])
        .status(0)
        .stderr_has("[msk-01] prl_disk_tool resize --size 20G --hdd /vz/pfcache.hdd")
        .stdout_has("msk-02: /vz/pfcache.hdd grown from 10 GB to 20 GB");
    let descriptor = file(&lab.state(), "msk-02", "/vz/pfcache.hdd/DiskDescriptor.xml")
        .unwrap()
        .to_string();
    assert!(
        descriptor.contains("<Disk_size>41943040</Disk_size>"),
        "{descriptor}"
    );
    unchanged(
        lab.run(&["pfcache-resize", "20", "--nodes", "msk-01,msk-02"])
            .status(0)
            .stdout_has("already 20 GB"),
    );
    refused_untouched(
        &lab,
        3,
        &["pfcache-resize", "15", "--nodes", "msk-01"],
        "shrinking a mounted image is not done",
    );
    // The root file system has 50000 MB free.
    refused_untouched(
        &lab,
        3,
        &["pfcache-resize", "100"],
        "growing /vz/pfcache.hdd needs",
    );
    refused_untouched(&lab, 2, &["pfcache-resize", "20G"], "invalid size");
    // After a move the image is found where pfcache.conf says.
    lab.run(&["pfcache-move", "/vz/pfcache2.hdd", "--nodes", "msk-03"])
        .status(0);
    lab.run(&["pfcache-resize", "12", "--nodes", "msk-03"])
        .status(0)
        .stderr_has("--hdd /vz/pfcache2.hdd");
}

#[test]
fn read_cache_report_compares_the_mount_with_fstab() {
    let lab = Lab::new();
    lab.run(&[
        "client-cache",
        "/mnt/ssd/vstorage-livelinux-cache",
        "64000",
        "--nodes",
        "msk-02",
    ])
    .status(0);
    let out = unchanged(
        lab.run(&["read-cache", "--nodes", "msk-01,msk-02"])
            .status(0),
    );
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with("msk-02 "))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "msk-02",
            "/mnt/ssd/vstorage-livelinux-cache",
            "64000",
            "8000",
            "enabled",
            "/mnt/ssd/vstorage-livelinux-cache",
            "64000"
        ]
    );
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with("msk-01 "))
        .unwrap();
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        ["msk-01", "none"]
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
        "invalid count",
    );
}
