//! The operations of the operators' field notes on the lab, each done the way a careful
//! operator does it: the normal path, a fault path, and a second run that changes nothing.
//! A run refused (exit 3) or given bad input (exit 2) leaves the lab's state as it was.

use serde_json::Value;

use crate::catalog::{unchanged, Lab};

/// One host's state in the lab's state file.
pub(crate) fn node<'a>(state: &'a Value, name: &str) -> &'a Value {
    state["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no host {name}"))
}

pub(crate) fn file<'a>(state: &'a Value, host: &str, path: &str) -> Option<&'a str> {
    node(state, host)["files"][path]["content"].as_str()
}

/// Asserts a run was refused with `code` and left the lab exactly as it was.
pub(crate) fn refused_untouched(lab: &Lab, code: i32, args: &[&str], needle: &str) {
    let before = lab.state_value();
    unchanged(lab.run(args).status(code).stderr_has(needle));
    assert!(
        lab.state_value() == before,
        "{args:?} exited {code} but changed the lab"
    );
}

/// `refused_untouched` for each `(code, args, needle)`.
pub(crate) fn refused_all(lab: &Lab, cases: &[(i32, &[&str], &str)]) {
    for (code, args, needle) in cases {
        refused_untouched(lab, *code, args, needle);
    }
}

/// The pfcache image a host has mounted at /vz/pfcache, and whether pfcached runs.
pub(crate) fn pfcache(state: &Value, host: &str) -> (String, bool) {
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
    let state = lab.state_value();
    for host in ["msk-01", "msk-02"] {
        assert_eq!(
            pfcache(&state, host),
            ("/vz/pfcache2.hdd/DiskDescriptor.xml".into(), true)
        );
        assert!(file(&state, host, "/vz/pfcache.hdd/DiskDescriptor.xml").is_none());
        // The image is set in vz.conf, where the vz service reads PFCACHE_IMAGE
        // (reference §4.1); its mount point (PFCACHE) is not touched.
        let vz = file(&state, host, "/etc/vz/vz.conf").unwrap();
        assert!(vz.lines().any(|l| l == "PFCACHE_IMAGE=/vz/pfcache2.hdd"));
        assert!(!vz.contains("PFCACHE="));
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
        .stderr_has("msk-01: pfcache already in /vz/pfcache2.hdd"),
    );
}

#[test]
fn pfcache_move_puts_the_node_back_when_the_mount_fails() {
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], ops: {fail_once: [ploop mount]}}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\n",
    );
    let before = lab.state_value();
    lab.run(&["pfcache-move", "/vz/pfcache2.hdd"])
        .status(1)
        .stderr_has("Can't mount file system")
        .stderr_has("[n1] mv /vz/pfcache2.hdd /vz/pfcache.hdd")
        .stderr_has("undo: put the pfcache of n1 back");
    let after = lab.state_value();
    assert_eq!(
        pfcache(&after, "n1"),
        ("/vz/pfcache.hdd/DiskDescriptor.xml".into(), true)
    );
    assert_eq!(
        file(&after, "n1", "/etc/vz/pfcache.conf"),
        file(&before, "n1", "/etc/vz/pfcache.conf")
    );
    assert_eq!(
        file(&after, "n1", "/etc/vz/vz.conf"),
        file(&before, "n1", "/etc/vz/vz.conf")
    );
    // The run stopped at the failed node: n2 was not touched.
    assert_eq!(node(&after, "n2"), node(&before, "n2"));
    // The fault was transient: a second run moves both.
    lab.run(&["pfcache-move", "/vz/pfcache2.hdd"]).status(0);
    assert_eq!(
        pfcache(&lab.state_value(), "n1"),
        ("/vz/pfcache2.hdd/DiskDescriptor.xml".into(), true)
    );
}

#[test]
fn pfcache_move_checks_every_node_before_touching_one() {
    let lab = Lab::new();
    refused_all(
        &lab,
        &[
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
        ],
    );
}

/// The vstorage-limits.conf of the field notes: a comma is missing after the Max.
const NOTES_LIMITS: &str = "{\"VStorage\": {\"Path\": \"vstorage.slice/vstorage-services.slice\",\n    \"Limit\": {\"Max\": 34359738368\n              \"Min\": 0, \"Share\": 0.7},\n    \"Guarantee\": {\"Max\": 0, \"Min\": 0, \"Share\": 0.25},\n    \"Swap\": {\"Max\": 0, \"Min\": 0, \"Share\": 0}}}\n";

/// Sets the vstorage services' guarantee (8 GiB) and swap (2 GiB).
const GUARANTEE_AND_SWAP: &[&str] = &[
    "memory-tuning",
    "--cs-guarantee",
    "8589934592",
    "--cs-swap",
    "2147483648",
];

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
    lab.run(GUARANTEE_AND_SWAP)
        .status(0)
        .stderr_has("/etc/vz/vstorage-limits.conf on n2: added the comma missing after \"Max\"")
        .stderr_has("[n2] systemctl restart vcmmd");
    let state = lab.state_value();
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
    unchanged(lab.run(GUARANTEE_AND_SWAP).status(0));
}

/// vcmmd's file is written by people: a change shows in a diff as the values it changed,
/// never as the keys re-sorted and the file folded onto one line.
#[test]
fn memory_tuning_changes_only_the_bytes_of_the_values_it_sets() {
    let lab = two_nodes_with_limits(NOTES_LIMITS);
    lab.run(GUARANTEE_AND_SWAP).status(0);
    let state = lab.state_value();
    assert_eq!(
        file(&state, "n2", "/etc/vz/vstorage-limits.conf").unwrap(),
        NOTES_LIMITS
            .replace("34359738368\n", "34359738368,\n")
            .replace(
                "\"Guarantee\": {\"Max\": 0,",
                "\"Guarantee\": {\"Max\": 8589934592,"
            )
            .replace("\"Swap\": {\"Max\": 0,", "\"Swap\": {\"Max\": 2147483648,")
    );

    // A section the file lacks is added after the others, spaced like them.
    let without_swap = "{\"VStorage\": {\"Path\": \"vstorage.slice/vstorage-services.slice\",\n    \"Limit\": {\"Max\": -1, \"Min\": 0, \"Share\": 0.7}}}\n";
    let lab = two_nodes_with_limits(without_swap);
    lab.run(&["memory-tuning", "--cs-swap", "2147483648"])
        .status(0);
    assert_eq!(
        file(&lab.state_value(), "n2", "/etc/vz/vstorage-limits.conf").unwrap(),
        "{\"VStorage\": {\"Path\": \"vstorage.slice/vstorage-services.slice\",\n    \"Limit\": {\"Max\": -1, \"Min\": 0, \"Share\": 0.7},\n    \"Swap\": {\n      \"Max\": 2147483648,\n      \"Min\": 0,\n      \"Share\": 0.0\n    }}}\n"
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
            "'--swappiness <SWAPPINESS>': 200 is outside 0..100",
        ),
        (
            &["memory-tuning", "--overcommit-memory", "3"][..],
            "'--overcommit-memory <OVERCOMMIT_MEMORY>': 3 is outside 0..2",
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
    let state = lab.state_value();
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
    .stderr_has("compacted: 2 node(s)");
    let state = lab.state_value();
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
    assert_eq!(pcompact_runs(&degraded.state_value(), "n1"), 0);
    let lab = Lab::new();
    refused_all(
        &lab,
        &[
            (
                2,
                &["pcompact-rolling", "--cron", "off"][..],
                "invalid cron",
            ),
            (
                2,
                &["pcompact-rolling", "--min-free", "101"][..],
                "'--min-free <MIN_FREE>': 101 is outside 0..100",
            ),
            // The header's range says what the script accepts (it once said 1..).
            (
                2,
                &["pcompact-rolling", "--timeout", "30"][..],
                "'--timeout <TIMEOUT>': 30 is outside 60..604800",
            ),
        ],
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
        .stderr_has("waiting 1s before the next node");
    assert!(!out.stderr.contains("[n3]"), "{}", out.stderr);
    // One node, then the pause, then the next.
    let n1 = out.stderr.find("[n1] sysctl").unwrap();
    let n2 = out.stderr.find("[n2] sysctl").unwrap();
    assert!(n1 < n2);
    let state = lab.state_value();
    assert_eq!(node(&state, "n1")["caches_dropped"], 1);
    assert_eq!(node(&state, "n3")["caches_dropped"], 0);
    unchanged(
        lab.run(&["drop-caches", "--pause", "0"])
            .status(0)
            .stdout_has("left alone"),
    );
    refused_all(
        &lab,
        &[
            (
                2,
                &["drop-caches", "--below-free", "0"][..],
                "'--below-free <BELOW_FREE>': 0 is outside 1..100",
            ),
            (
                2,
                &["drop-caches", "--pause", "-1"][..],
                "'--pause <PAUSE>': -1 is outside 0..3600",
            ),
        ],
    );
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
        vstorage_fstab_line(&lab.state_value(), "n1"),
        "vstorage://c /vstorage/c fuse.vstorage rw,nosuid,nodev,cache=/mnt/ssd/vstorage-c-cache,cachesize=64000 0 0"
    );
    unchanged(
        lab.run(&["client-cache", "/mnt/ssd/vstorage-c-cache", "64000"])
            .status(0)
            .stderr_has("already /mnt/ssd/vstorage-c-cache"),
    );
    // A new size replaces the old one, keeping everything else.
    lab.run(&["client-cache", "/mnt/ssd/vstorage-c-cache", "32000"])
        .status(0);
    assert_eq!(
        vstorage_fstab_line(&lab.state_value(), "n1"),
        "vstorage://c /vstorage/c fuse.vstorage rw,nosuid,nodev,cache=/mnt/ssd/vstorage-c-cache,cachesize=32000 0 0"
    );
    refused_all(
        &lab,
        &[
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
        ],
    );
}
