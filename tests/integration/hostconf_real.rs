//! Host-configuration runbooks against what a real Virtuozzo 7 node reads: the files the
//! real services take their settings from, in the order they read them.

use crate::catalog::Lab;
use crate::fieldnotes::{file, node};

/// A node whose pfcache image was put elsewhere by hand, the documented way:
/// `PFCACHE_IMAGE` in /etc/vz/vz.conf (reference §4.1; /etc/vz/pfcache.conf, §4.2, holds
/// only pfcached's tuning and is not where the vz service looks for the image).
const PFCACHE_ELSEWHERE: &str = "cluster: c\nspeed: 0\nhosts:\n  - name: n1\n    address: 10.0.0.1\n    tags: [hypervisor]\n    files:\n      /etc/vz/vz.conf: \"VIRTUOZZO=yes\\nPFCACHE=/vz/pfcache\\nPFCACHE_IMAGE=/vz/pfcache-local.hdd\\n\"\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\n";

fn mounted_image(state: &serde_json::Value, host: &str) -> String {
    node(state, host)["ops"]["ploops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["mountpoint"] == "/vz/pfcache")
        .map(|m| m["descriptor"].as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn pfcache_resize_grows_the_image_vz_conf_names() {
    let lab = Lab::with_scenario(PFCACHE_ELSEWHERE);
    lab.run(&["pfcache-resize", "20"])
        .status(0)
        .stderr_has("[n1] prl_disk_tool resize --size 20G --hdd /vz/pfcache-local.hdd");
    let state = lab.state_value();
    assert!(
        file(&state, "n1", "/vz/pfcache-local.hdd/DiskDescriptor.xml")
            .unwrap()
            .contains("<Disk_size>41943040</Disk_size>")
    );
}

#[test]
fn pfcache_move_sets_the_image_in_vz_conf_where_the_vz_service_reads_it() {
    let lab = Lab::with_scenario(PFCACHE_ELSEWHERE);
    let before = lab.state_value();
    lab.run(&["pfcache-move", "/vz/pfcache2.hdd"])
        .status(0)
        .stderr_has("[n1] mv /vz/pfcache-local.hdd /vz/pfcache2.hdd")
        .stderr_has("[n2] mv /vz/pfcache.hdd /vz/pfcache2.hdd");
    let state = lab.state_value();
    for h in ["n1", "n2"] {
        assert_eq!(
            mounted_image(&state, h),
            "/vz/pfcache2.hdd/DiskDescriptor.xml"
        );
        let vz = file(&state, h, "/etc/vz/vz.conf").unwrap();
        assert!(
            vz.lines().any(|l| l == "PFCACHE_IMAGE=/vz/pfcache2.hdd"),
            "{h}: vz.conf does not name the new image: {vz}"
        );
        assert_eq!(
            file(&state, h, "/etc/vz/pfcache.conf"),
            file(&before, h, "/etc/vz/pfcache.conf"),
            "{h}: pfcache.conf changed"
        );
    }
}

/// What a node's kernel has for `key` after a reboot applies its sysctl files.
fn after_boot(lab: &Lab, host: &str, key: &str) -> String {
    let out = lab
        .query(&format!(
            "let h = host(\"{host}\");\nh.run([\"sysctl\", \"--system\"], #{{check: false}});\nlog(`after boot: ${{sysctl::get(h, \"{key}\")}}`);"
        ))
        .status(0);
    out.stderr
        .lines()
        .find_map(|l| l.split_once("after boot: ").map(|(_, v)| v.to_string()))
        .expect("the query logged the value")
}

#[test]
fn sysctl_baseline_does_not_persist_what_a_later_sysctl_file_overrides_at_boot() {
    let lab = Lab::new();
    // /etc/sysctl.d/99-vzctl.conf (vzctl, reference §4.5) sets fs.file-max and is applied
    // after 90-vzrun-baseline.conf: a different value kept there would be lost at the next
    // boot. Refused before anything changes, naming the file.
    crate::fieldnotes::refused_untouched(
        &lab,
        3,
        &["sysctl-baseline", "--file-max", "6815744"],
        "/etc/sysctl.d/99-vzctl.conf",
    );
    // The value it shares with 99-vzctl.conf is applied and survives a boot.
    lab.run(&["sysctl-baseline"]).status(0);
    assert_eq!(
        after_boot(&lab, "msk-02", "fs.file-max"),
        "18446744073709551615"
    );
    assert_eq!(after_boot(&lab, "msk-02", "kernel.panic"), "10");
}

#[test]
fn vm_tiers_lists_a_ve_on_local_disk_instead_of_failing() {
    // vz.conf's stock VE_PRIVATE is /vz/private/$VEID (reference §4.1): a CT made without
    // --private on the cluster lives on the node's disk, and `vstorage get-attr` fails
    // there ("not on a vstorage file system"). One such VE must not cost the whole list.
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\nves:\n  - {name: shared01, host: n1, tier: 2}\n  - {name: local01, host: n1, local: true}\n  - {name: localvm, kind: VM, host: n1, local: true, status: stopped}\n",
    );
    let out = lab.run(&["vm-tiers"]).status(0);
    let row = |name: &str| {
        out.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{}", out.stdout))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("shared01")[4], "2");
    assert_eq!(row("local01")[4], "local");
    assert_eq!(row("localvm")[4], "local");
}

#[test]
fn zabbix_firewall_checks_firewalld_on_every_node_before_opening_a_port() {
    // firewall-cmd answers 'FirewallD is not running' (exit 252, reference §5) on a node
    // whose firewalld is stopped, --permanent included: that node cannot be done, and it
    // is known before the first port is opened anywhere.
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor], stopped_units: [firewalld.service]}\n",
    );
    crate::fieldnotes::refused_untouched(
        &lab,
        3,
        &["zabbix-firewall"],
        "n2: firewalld is not running",
    );
}

#[test]
fn sysctl_baseline_checks_file_max_before_anything_changes() {
    // A node whose vzctl does not set fs.file-max (no 99-vzctl.conf line for it).
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - name: n1\n    address: 10.0.0.1\n    tags: [hypervisor]\n    files:\n      /etc/sysctl.d/99-vzctl.conf: \"net.ipv4.ip_forward=1\\n\"\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\n",
    );
    // The kernel takes fs.file-max = 5 (it is a number): every node would be left unable
    // to open a file, sshd included. Below the per-process limit it makes no sense.
    crate::fieldnotes::refused_untouched(
        &lab,
        2,
        &["sysctl-baseline", "--file-max", "5", "--nodes", "n1"],
        "invalid file-max",
    );
    // Not a number: the kernel refuses it (EINVAL) only after the run began.
    crate::fieldnotes::refused_untouched(
        &lab,
        2,
        &["sysctl-baseline", "--file-max", "lots", "--nodes", "n1"],
        "invalid file-max",
    );
    crate::fieldnotes::refused_untouched(
        &lab,
        2,
        &[
            "sysctl-baseline",
            "--file-max",
            "18446744073709551616",
            "--nodes",
            "n1",
        ],
        "invalid file-max",
    );
    lab.run(&["sysctl-baseline", "--file-max", "26000000", "--nodes", "n1"])
        .status(0);
    assert_eq!(after_boot(&lab, "n1", "fs.file-max"), "26000000");
}

#[test]
fn bridge_network_leaves_no_half_made_network_where_binding_fails() {
    // bond0.100 exists on n2 (`ip link` finds it) but no host bridge holds it: the
    // dispatcher cannot bind a bridged network to it. n1 is done first; on n2 the network
    // was added, then binding failed: it must not stay behind, unbound.
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor], ops: {unbridged: [bond0.100]}}\n",
    );
    let before = lab.state_value();
    lab.run(&["bridge-network", "vlan100", "bond0.100"])
        .status(1)
        .stderr_has("bridge for the network adapter bond0.100 was not found")
        .stderr_has("[n2] prlsrvctl net del vlan100");
    let after = lab.state_value();
    assert_eq!(
        node(&after, "n2")["networks"],
        node(&before, "n2")["networks"],
        "n2 kept a half-made network"
    );
    let n1 = node(&after, "n1")["networks"].as_array().unwrap().clone();
    assert!(n1
        .iter()
        .any(|n| n["name"] == "vlan100" && n["ifname"] == "bond0.100"));
}

#[test]
fn ntp_steps_a_clock_that_is_far_off_once_chronyd_has_measured_it() {
    // A node with chrony already installed, running, its clock 300 s behind. New servers
    // restart chronyd, which then knows nothing of the error until its first updates:
    // `System time` reads 0 until then, and without makestep in chrony.conf it would slew
    // 300 s away for days. The step must come after chronyd has measured the offset.
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], ops: {packages: [chrony], clock_offset_s: 300.0}}\n",
    );
    lab.run(&["ntp", "--servers", "ntp1.example.net"])
        .status(0)
        .stderr_has("[n1] systemctl restart chronyd")
        .stderr_has("n1: the clock is 300.0s off NTP time; stepping it once")
        .stderr_has("[n1] chronyc makestep");
    assert!(
        node(&lab.state_value(), "n1")["ops"]["clock_offset_s"]
            .as_f64()
            .unwrap()
            < 1.0
    );
}

/// n1 with a second local file system at /vz2 (`avail_mb` free) and the stock 10 GB
/// pfcache image on /.
fn pfcache_and_vz2(avail_mb: u64, faults: &str) -> String {
    format!(
        "cluster: c\nspeed: 0\nhosts:\n  - {{name: n1, address: 10.0.0.1, tags: [hypervisor], ops: {{filesystems: [{{source: /dev/sdb1, target: /vz2, fstype: ext4, avail_mb: {avail_mb}}}], fail_once: [{faults}]}}}}\n"
    )
}

fn paths_under<'a>(state: &'a serde_json::Value, host: &str, dir: &str) -> Vec<&'a str> {
    let below = format!("{dir}/");
    let mut out: Vec<&str> = node(state, host)["files"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|p| *p == dir || p.starts_with(&below))
        .collect();
    out.extend(
        node(state, host)["dirs"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d.as_str())
            .filter(|d| *d == dir || d.starts_with(&below)),
    );
    out
}

#[test]
fn pfcache_move_to_a_file_system_without_room_is_refused_before_anything_stops() {
    // mv to another file system copies: 10 GB do not fit in 2 GB. Found out by mv, it
    // stopped pfcached and unmounted the image first, and left a partial copy behind.
    let lab = Lab::with_scenario(&pfcache_and_vz2(2048, ""));
    crate::fieldnotes::refused_untouched(&lab, 3, &["pfcache-move", "/vz2/pfcache.hdd"], "MB free");
}

#[test]
fn pfcache_move_cut_short_removes_its_partial_copy_instead_of_moving_it_into_the_image() {
    // The copy fails midway (the disk filled up meanwhile): the source is whole, the
    // destination holds a partial copy. 'mv back' would put that copy inside the image's
    // directory (mv into an existing directory), onto the file system of every CT.
    let lab = Lab::with_scenario(&pfcache_and_vz2(50_000, "mv"));
    let before = lab.state_value();
    lab.run(&["pfcache-move", "/vz2/pfcache.hdd"])
        .status(1)
        .stderr_has("No space left on device");
    let after = lab.state_value();
    assert_eq!(
        paths_under(&after, "n1", "/vz/pfcache.hdd"),
        paths_under(&before, "n1", "/vz/pfcache.hdd"),
        "the image directory changed"
    );
    assert!(paths_under(&after, "n1", "/vz2/pfcache.hdd").is_empty());
    assert_eq!(
        mounted_image(&after, "n1"),
        "/vz/pfcache.hdd/DiskDescriptor.xml"
    );
    assert_eq!(
        node(&after, "n1")["units"]["pfcached.service"]["active"],
        true
    );
    assert_eq!(
        file(&after, "n1", "/etc/vz/vz.conf"),
        file(&before, "n1", "/etc/vz/vz.conf")
    );
}

#[test]
fn vm_tiers_lists_what_answers_when_one_hypervisor_does_not() {
    // One hypervisor down (the night one looks at tiers): the others' VEs are still
    // listed, and the run ends as that listing did (timed out: exit 5), naming the node.
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor], unreachable: true}\nves:\n  - {name: web01, host: n1, tier: 1}\n  - {name: db01, host: n2}\n",
    );
    lab.run(&["vm-tiers"])
        .status(5)
        .stdout_has("web01")
        .stderr_has("n2");
}

#[test]
fn zabbix_firewall_opens_the_ports_in_the_zone_of_the_nodes_address() {
    // n1's address is on eth0, which is bound to the zone 'internal'; the default zone is
    // 'public'. Zabbix traffic arrives on eth0 and meets internal's ports, so that is
    // where they must be opened (firewall-cmd without --zone changes the default zone).
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], ops: {firewall_zones: {eth0: internal}}}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\n",
    );
    lab.run(&["zabbix-firewall", "--ports", "10050/tcp"])
        .status(0)
        .stderr_has("[n1] firewall-cmd --permanent --zone=internal --add-port=10050/tcp")
        .stderr_has("[n2] firewall-cmd --permanent --add-port=10050/tcp");
    let state = lab.state_value();
    let internal = &node(&state, "n1")["ops"]["zone_ports"]["internal"];
    assert_eq!(internal[0], serde_json::json!(["10050/tcp"]), "runtime");
    assert_eq!(internal[1], serde_json::json!(["10050/tcp"]), "permanent");
    crate::catalog::unchanged(
        lab.run(&["zabbix-firewall", "--ports", "10050/tcp"])
            .status(0),
    );
}

#[test]
fn memory_tuning_does_not_persist_what_etc_sysctl_conf_sets_otherwise_at_boot() {
    // /etc/sysctl.conf is applied last at boot; it often sets vm.swappiness. The value kept
    // in 90-vzrun-memory.conf would hold until the next reboot only.
    let lab = Lab::new();
    lab.query("file::write(host(\"msk-02\"), \"/etc/sysctl.conf\", \"# site settings\\nvm.swappiness = 60\\n\");")
        .status(0);
    crate::fieldnotes::refused_untouched(
        &lab,
        3,
        &["memory-tuning", "--yes"],
        "msk-02: /etc/sysctl.conf: vm.swappiness = 60 is applied after /etc/sysctl.d/90-vzrun-memory.conf at boot",
    );
    // Its value asked for, nothing is overridden: applied, and it survives a boot.
    lab.run(&["memory-tuning", "--swappiness", "60", "--yes"])
        .status(0);
    assert_eq!(after_boot(&lab, "msk-02", "vm.swappiness"), "60");
    assert_eq!(after_boot(&lab, "msk-02", "vm.min_free_kbytes"), "1048576");
}

#[test]
fn sysctl_baseline_refuses_where_a_later_limits_d_file_sets_nofile_or_core_otherwise() {
    // pam_limits reads limits.d in name order, a later line for the same domain and item
    // winning: 95-site.conf would keep the 4096 open files vzrun's 90-vzrun-nofile.conf
    // raises, at every login, while the run said it was done.
    let lab = Lab::new();
    lab.query("let h = host(\"msk-03\");\ndisk::mkdir(h, \"/etc/security/limits.d\");\nfile::write(h, \"/etc/security/limits.d/95-site.conf\", \"# site\\n*\\tsoft\\tnofile\\t4096\\n\");")
        .status(0);
    crate::fieldnotes::refused_untouched(
        &lab,
        3,
        &["sysctl-baseline"],
        "msk-03: /etc/security/limits.d/95-site.conf: *\tsoft\tnofile\t4096 is read after /etc/security/limits.d/90-vzrun-nofile.conf",
    );
    // An earlier file, or one for another user, is overridden by ours or does not touch it.
    lab.query("let h = host(\"msk-03\");\nfile::write(h, \"/etc/security/limits.d/95-site.conf\", \"zabbix soft nofile 4096\\n\");\nfile::write(h, \"/etc/security/limits.d/20-nproc.conf\", \"*  soft  nproc  4096\\n* soft nofile 1024\\n\");")
        .status(0);
    lab.run(&["sysctl-baseline"]).status(0);
    // Core dumps, off by 90-vzrun-core.conf, back on through a later file.
    lab.query("file::write(host(\"msk-05\"), \"/etc/security/limits.d/99-debug.conf\", \"* hard core unlimited\\n\");")
        .status(0);
    crate::fieldnotes::refused_untouched(
        &lab,
        3,
        &["sysctl-baseline"],
        "msk-05: /etc/security/limits.d/99-debug.conf: * hard core unlimited is read after /etc/security/limits.d/90-vzrun-core.conf",
    );
}

#[test]
fn zabbix_firewall_refuses_an_interface_whose_zone_is_runtime_only() {
    // n1's eth0 was moved to 'internal' at runtime only (`firewall-cmd --zone=internal
    // --change-interface=eth0`, no --permanent): its permanent zone is still the default,
    // 'public'. Ports opened in 'internal' (permanent and runtime) work until the next
    // `firewall-cmd --reload` or boot, when eth0 goes back to 'public', where they are closed.
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], ops: {firewall_zones_runtime: {eth0: internal}}}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\n",
    );
    crate::fieldnotes::refused_untouched(
        &lab,
        3,
        &["zabbix-firewall", "--ports", "10050/tcp"],
        "n1: eth0 (which holds 10.0.0.1) is in zone internal now, but in public after a firewall reload or a boot",
    );
    // The other way round: bound to 'internal' in the permanent configuration only (no
    // reload since). Opened in 'public' now, the ports would be lost at the next reload.
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], ops: {firewall_zones: {eth0: internal}, firewall_zones_runtime: {eth0: public}}}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\n",
    );
    crate::fieldnotes::refused_untouched(
        &lab,
        3,
        &["zabbix-firewall", "--ports", "10050/tcp"],
        "n1: eth0 (which holds 10.0.0.1) is in zone public now, but in internal after a firewall reload or a boot",
    );
}
