//! The lab's answers, checked against the formats of reference/virtuozzo-cli.md.

use super::*;

pub(super) fn lab() -> LabState {
    load(DEFAULT_SCENARIO, "default").expect("the default scenario loads")
}

pub(super) fn run(state: &mut LabState, host: &str, line: &str) -> Reply {
    let argv: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    dispatch(state, host, &argv).expect("a simulated program")
}

#[test]
fn default_scenario_has_the_promised_shape() {
    let s = lab();
    assert_eq!(s.cluster, "livelinux");
    assert_eq!(s.hosts.len(), 7);
    assert_eq!(s.hosts[6].name, "msk-07");
    assert!((35..=45).contains(&s.ves.len()));
    assert_eq!(s.mdss.len(), 3);
    for tier in 0..=2 {
        assert!(s.css.iter().any(|c| c.tier == tier));
    }
    let hosts_with_ves: std::collections::BTreeSet<_> =
        s.ves.iter().filter_map(|v| v.host.clone()).collect();
    assert_eq!(hosts_with_ves.len(), 7);
}

#[test]
fn prlctl_list_columns_start_where_the_format_puts_them() {
    let mut s = lab();
    let r = run(&mut s, "msk-01", "prlctl list -a");
    assert_eq!(r.code, 0);
    assert_eq!(r.stderr, "", "list prints no deprecation banner");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "UUID                                    STATUS       IP_ADDR         T  NAME"
    );
    // Columns at 0/40/53/69/72; the last one unpadded, no trailing space.
    let row = lines[1];
    assert_eq!(&row[0..1], "{");
    assert_eq!(&row[39..40], " ");
    assert!(row[40..53].starts_with("running") || row[40..53].starts_with("stopped"));
    assert!(row[69..71] == *"CT" || row[69..71] == *"VM");
    assert!(!row.ends_with(' '));
    // Sorted by name, byte-wise.
    let names: Vec<&str> = lines[1..].iter().map(|l| &l[72..]).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn prlctl_list_without_all_shows_only_running() {
    let mut s = lab();
    let all = run(&mut s, "msk-05", "prlctl list -a")
        .stdout
        .lines()
        .count();
    let running = run(&mut s, "msk-05", "prlctl list").stdout;
    assert!(running.lines().count() < all);
    assert!(running.lines().skip(1).all(|l| l.contains(" running ")));
    let stopped = run(&mut s, "msk-05", "prlctl list -S -H").stdout;
    assert!(stopped.lines().all(|l| l.contains(" stopped ")));
}

#[test]
fn prlctl_list_json_is_tab_indented_strings_without_braces() {
    let mut s = lab();
    let r = run(&mut s, "msk-01", "prlctl list -a -j");
    assert!(r.stdout.starts_with("[\n\t{\n\t\t\"uuid\": \""));
    assert!(r.stdout.ends_with("\n\t}\n]\n"));
    let parsed: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let first = &parsed[0];
    assert_eq!(first.as_object().unwrap().keys().count(), 5);
    assert_eq!(first["uuid"].as_str().unwrap().len(), 36);
    assert!(first.as_object().unwrap().values().all(|v| v.is_string()));
    // An empty list.
    let empty = run(&mut s, "msk-01", "prlctl list -j --vmtype vm -S");
    assert_eq!(empty.stdout, "[\n\n]\n");
}

#[test]
fn prlctl_list_ip_as_last_column_lists_all_with_trailing_spaces() {
    let mut s = lab();
    let r = run(&mut s, "msk-01", "prlctl list -a -H -o name,ip_configured");
    let web01 = r.stdout.lines().find(|l| l.starts_with("web01 ")).unwrap();
    assert!(web01.ends_with("10.30.20.11  "), "{web01:?}");
    let r = run(&mut s, "msk-01", "prlctl list -a -o bogus");
    assert_eq!(
        (r.code, r.stderr.as_str(), r.stdout.as_str()),
        (1, "Unknown field: bogus\n", "")
    );
}

#[test]
fn prlctl_status_says_exist_and_banner_goes_to_stderr() {
    let mut s = lab();
    let r = run(&mut s, "msk-01", "prlctl status web01");
    assert_eq!(r.stdout, "CT web01 exist running\n");
    assert_eq!(r.stderr, prlctl::BANNER);
    let r = run(&mut s, "msk-01", "prlctl status nothere");
    assert_eq!(r.code, 255);
    assert!(r
        .stderr
        .contains("Failed to get VM config: The virtual machine could not be found."));
}

#[test]
fn lifecycle_messages_and_idempotence_codes() {
    let mut s = lab();
    let r = run(&mut s, "msk-01", "prlctl start web01");
    assert_eq!(r.code, 255);
    assert!(r
        .stderr
        .contains("Failed to start the CT: The virtual machine \"web01\" is running."));
    let r = run(&mut s, "msk-01", "prlctl stop web01");
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (
            0,
            "Stopping the CT...\nThe CT has been successfully stopped.\n"
        )
    );
    let r = run(&mut s, "msk-01", "prlctl stop web01");
    assert_eq!(r.code, 0, "stop of a stopped VE maps to success");
    assert!(r.stderr.contains("is not started"));
    let r = run(&mut s, "msk-01", "prlctl start web01");
    assert_eq!(
        r.stdout,
        "Starting the CT...\nThe CT has been successfully started.\n"
    );
    let r = run(&mut s, "msk-01", "prlctl stop web01 --kill");
    assert!(r.stdout.ends_with("The CT has been forcibly stopped\n"));
    let r = run(&mut s, "msk-01", "prlctl stop web01 --bogus");
    assert_eq!(
        (r.code, r.stderr.ends_with("Unrecognized option: --bogus\n")),
        (1, true)
    );
    let r = run(&mut s, "msk-01", "prlctl frobnicate web01");
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("Unknown action: frobnicate"));
}

#[test]
fn migrate_moves_live_and_prints_the_migrate_line() {
    let mut s = lab();
    let r = run(&mut s, "msk-01", "prlctl migrate web01 msk-03");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "Migrate the CT web01 on msk-03  ()\n\nThe CT has been successfully migrated.\n"
    );
    let ve = s.ves.iter().find(|v| v.name == "web01").unwrap();
    assert_eq!(
        (ve.host.as_deref(), ve.status.as_str()),
        (Some("msk-03"), "running")
    );
    // Now it is not on msk-01 any more.
    assert_eq!(run(&mut s, "msk-01", "prlctl status web01").code, 255);
    let r = run(&mut s, "msk-03", "prlctl migrate web01 10.30.17.31");
    assert_eq!(r.code, 0, "by address");
    assert_eq!(run(&mut s, "msk-01", "prlctl migrate web01").code, 1);
}

#[test]
fn migration_faults_fail_then_succeed() {
    let mut s = lab();
    s.ves
        .iter_mut()
        .find(|v| v.name == "web01")
        .unwrap()
        .fail_migrations = 2;
    for _ in 0..2 {
        let r = run(&mut s, "msk-01", "prlctl migrate web01 msk-02");
        assert_eq!(r.code, 255);
        assert!(r.stderr.starts_with(prlctl::BANNER));
        assert!(r.stderr.contains("\nFailed to migrate the CT: "));
    }
    assert_eq!(run(&mut s, "msk-01", "prlctl migrate web01 msk-02").code, 0);
}

#[test]
fn slow_start_stays_starting_until_its_time() {
    let mut s = lab();
    let ve = s.ves.iter_mut().find(|v| v.name == "dev02").unwrap();
    ve.slow_start_s = Some(900.0);
    let host = ve.host.clone().unwrap();
    s.speed = 1.0;
    let r = run(&mut s, &host, "prlctl start dev02");
    assert_eq!(r.takes, 900.0);
    assert_eq!(
        run(&mut s, &host, "prlctl status dev02").stdout,
        "CT dev02 exist starting\n"
    );
    s.advance(state::now() + 901.0);
    assert_eq!(
        run(&mut s, &host, "prlctl status dev02").stdout,
        "CT dev02 exist running\n"
    );
}

#[test]
fn register_on_shared_storage_needs_force() {
    let mut s = lab();
    let home = s
        .ves
        .iter()
        .find(|v| v.name == "web01")
        .unwrap()
        .home
        .clone();
    let uuid = s
        .ves
        .iter()
        .find(|v| v.name == "web01")
        .unwrap()
        .uuid
        .clone();
    let r = run(
        &mut s,
        "msk-02",
        &format!("prlctl register {home} --preserve-uuid"),
    );
    assert_eq!(r.code, 255);
    assert!(r.stderr.contains("Failed to register the virtual machine \"web01\" on the shared storage. You can force the registration"));
    let r = run(
        &mut s,
        "msk-02",
        &format!("prlctl register {home} --preserve-uuid --force"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "Register the virtual environment...\nThe virtual environment has been successfully registered.\n");
    let ve = s.ves.iter().find(|v| v.name == "web01").unwrap();
    assert_eq!(
        (ve.host.as_deref(), ve.uuid.as_str(), ve.status.as_str()),
        (Some("msk-02"), uuid.as_str(), "stopped")
    );
}

#[test]
fn set_and_create() {
    let mut s = lab();
    let r = run(&mut s, "msk-01", "prlctl set web01 --memsize 1024 --cpus 4");
    assert_eq!(r.stdout, "Set the memsize parameter to 1024Mb.\nSet the cpus parameter to 4.\n\nThe CT has been successfully configured.\n");
    assert_eq!(
        run(&mut s, "msk-01", "prlctl set web01 --cpus many").code,
        1
    );
    assert_eq!(
        run(
            &mut s,
            "msk-01",
            "prlctl create new01 --vmtype ct --ostemplate centos-7-x86_64"
        )
        .code,
        0
    );
    assert_eq!(
        run(&mut s, "msk-01", "prlctl status new01").stdout,
        "CT new01 exist stopped\n"
    );
    assert_eq!(
        run(&mut s, "msk-01", "prlctl create new01 --vmtype ct").code,
        255
    );
}

#[test]
fn vstorage_stat_matches_the_documented_layout() {
    let mut s = lab();
    let r = run(&mut s, "msk-04", "vstorage -c livelinux stat");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "connected to MDS#1");
    assert_eq!(lines[1], "Cluster 'livelinux': healthy");
    assert!(lines[4].starts_with("CS nodes:  21 of 21 (21 avail, 0 inactive, 0 offline)"));
    assert_eq!(
        lines[5],
        "License: PCSS.02444715.0000 is ACTIVE, 100TB capacity"
    );
    let mds_header = lines.iter().position(|l| l.starts_with(" MDSID")).unwrap();
    assert_eq!(
        lines[mds_header],
        " MDSID STATUS   %CTIME   COMMITS   %CPU    MEM   UPTIME HOST"
    );
    assert_eq!(
        lines[mds_header + 1],
        " M   1 avail      0.1%       1/s   0.4%   102m   19d 5h 10.30.17.31"
    );
    let cs_header = lines.iter().position(|l| l.starts_with(" CSID")).unwrap();
    assert_eq!(
        lines[cs_header],
        " CSID  STATUS     SPACE   FREE REPLICAS IOWAIT IOLAT(ms) QDEPTH HOST"
    );
    assert!(lines[cs_header + 1].starts_with(" 1025  active     894GB"));
    let q = run(&mut s, "msk-04", "vstorage -q -c livelinux stat");
    assert!(q.stdout.starts_with("Cluster 'livelinux'"));
    assert_eq!(run(&mut s, "msk-04", "vstorage -c other stat").code, 1);
}

#[test]
fn rm_cs_drops_then_drains_and_leaves_its_unit_behind() {
    let mut s = lab();
    s.speed = 1.0;
    let r = run(&mut s, "msk-01", "vstorage -c livelinux rm-cs 1025");
    assert_eq!(r.stdout, "connected to MDS#1\nRemoving CS#1025 ...\n");
    assert_eq!(
        s.css.iter().find(|c| c.id == 1025).unwrap().status,
        "dropped"
    );
    assert!(run(&mut s, "msk-01", "vstorage -c livelinux stat")
        .stdout
        .contains("Cluster 'livelinux': degraded"));
    s.advance(state::now() + 31.0);
    assert!(!s.css.iter().any(|c| c.id == 1025));
    // The service is still there: the "tail" a runbook must clean up.
    let unit = run(
        &mut s,
        "msk-01",
        "systemctl is-active vstorage-csd.livelinux.1025",
    );
    assert_eq!(unit.stdout, "active\n");
    let r = run(&mut s, "msk-01", "vstorage -c livelinux rm-cs --wait 1026");
    assert_eq!(
        (r.stdout.as_str(), r.takes.round()),
        ("connected to MDS#1\nRemoving CS#1026 ...\ndone\n", 30.0)
    );
    s.css
        .iter_mut()
        .find(|c| c.id == 1027)
        .unwrap()
        .never_drains = true;
    assert!(
        run(&mut s, "msk-01", "vstorage -c livelinux rm-cs --wait 1027")
            .takes
            .is_infinite()
    );
    assert_eq!(
        run(&mut s, "msk-01", "vstorage -c livelinux rm-cs 9999").code,
        1
    );
}

#[test]
fn maintenance_and_revert() {
    let mut s = lab();
    run(
        &mut s,
        "msk-02",
        "vstorage -c livelinux rm-cs --maintenance 1028",
    );
    assert_eq!(
        s.css.iter().find(|c| c.id == 1028).unwrap().status,
        "maintenance"
    );
    run(
        &mut s,
        "msk-02",
        "vstorage -c livelinux rm-cs --maintenance --revert 1028",
    );
    assert_eq!(
        s.css.iter().find(|c| c.id == 1028).unwrap().status,
        "active"
    );
}

#[test]
fn attributes_are_read_and_set_recursively() {
    let mut s = lab();
    let r = run(&mut s, "msk-01", "vstorage get-attr /vstorage/livelinux");
    assert_eq!(r.stdout, "connected to MDS#1\nPath: 'vstorage://livelinux/'\nAttributes:\n  directory\n  replicas=3:2\n  failure-domain=host\n  tier=0\n  chunk-size=268435456\n");
    assert_eq!(
        run(
            &mut s,
            "msk-01",
            "vstorage set-attr -R /vstorage/livelinux/private tier=2 replicas=2:1"
        )
        .code,
        0
    );
    assert!(s
        .ves
        .iter()
        .filter(|v| v.home.contains("/private/"))
        .all(|v| v.tier == 2 && v.replicas == "2:1"));
    assert_eq!(
        run(
            &mut s,
            "msk-01",
            "vstorage set-attr /vstorage/livelinux tier=4"
        )
        .code,
        1
    );
    assert_eq!(
        run(
            &mut s,
            "msk-01",
            "vstorage set-attr /vstorage/livelinux replicas=16"
        )
        .code,
        1
    );
    assert_eq!(run(&mut s, "msk-01", "vstorage get-attr /etc").code, 1);
}

#[test]
fn sysctl_reads_writes_and_counts_failures() {
    let mut s = lab();
    assert_eq!(
        run(&mut s, "msk-01", "sysctl -n vm.swappiness").stdout,
        "60\n"
    );
    assert_eq!(
        run(&mut s, "msk-01", "sysctl vm.swappiness").stdout,
        "vm.swappiness = 60\n"
    );
    assert_eq!(
        run(&mut s, "msk-01", "sysctl -w vm.swappiness=10").stdout,
        "vm.swappiness = 10\n"
    );
    assert_eq!(
        run(&mut s, "msk-01", "sysctl -n net.ipv4.tcp_rmem").stdout,
        "4096\t87380\t6291456\n"
    );
    let r = run(&mut s, "msk-01", "sysctl net.foo.bar");
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            255,
            "sysctl: cannot stat /proc/sys/net/foo/bar: No such file or directory\n"
        )
    );
    assert_eq!(run(&mut s, "msk-01", "sysctl a.b c.d").code, 254);
}

#[test]
fn firewall_ports_are_idempotent_and_validated() {
    let mut s = lab();
    let q = run(&mut s, "msk-05", "firewall-cmd --query-port=10050/tcp");
    assert_eq!((q.code, q.stdout.as_str()), (1, "no\n"));
    assert_eq!(
        run(
            &mut s,
            "msk-05",
            "firewall-cmd --permanent --add-port=10050/tcp"
        )
        .stdout,
        "success\n"
    );
    assert_eq!(
        run(&mut s, "msk-05", "firewall-cmd --query-port=10050/tcp").code,
        1,
        "runtime not yet"
    );
    run(&mut s, "msk-05", "firewall-cmd --reload");
    assert_eq!(
        run(&mut s, "msk-05", "firewall-cmd --query-port=10050/tcp").code,
        0
    );
    let again = run(&mut s, "msk-05", "firewall-cmd --add-port=10050/tcp");
    assert_eq!(
        (again.code, again.stderr.as_str()),
        (0, "Warning: ALREADY_ENABLED: 10050:tcp\n")
    );
    assert_eq!(
        run(&mut s, "msk-05", "firewall-cmd --list-ports").stdout,
        "22/tcp 10050/tcp\n"
    );
    assert_eq!(
        run(&mut s, "msk-05", "firewall-cmd --add-port=10050").code,
        102
    );
    assert_eq!(
        run(&mut s, "msk-05", "firewall-cmd --add-port=10050/xyz").code,
        103
    );
    run(&mut s, "msk-05", "systemctl stop firewalld");
    let down = run(&mut s, "msk-05", "firewall-cmd --list-ports");
    assert_eq!(
        (down.code, down.stderr.as_str()),
        (252, "FirewallD is not running\n")
    );
}

#[test]
fn cs_units_drive_cs_status() {
    let mut s = lab();
    run(
        &mut s,
        "msk-03",
        "systemctl stop vstorage-csd.livelinux.1031",
    );
    assert_eq!(
        s.css.iter().find(|c| c.id == 1031).unwrap().status,
        "inactive"
    );
    run(&mut s, "msk-03", "systemctl restart vstorage-csd.target");
    assert_eq!(
        s.css.iter().find(|c| c.id == 1031).unwrap().status,
        "active"
    );
    let r = run(&mut s, "msk-03", "systemctl start nothing");
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            5,
            "Failed to start nothing.service: Unit nothing.service not found.\n"
        )
    );
    let listed = run(
        &mut s,
        "msk-03",
        "systemctl list-units --no-legend vstorage-csd.*",
    );
    assert_eq!(
        listed.stdout.lines().count(),
        4,
        "three CS units and the target: {}",
        listed.stdout
    );
}

#[test]
fn a_new_drive_becomes_a_chunk_server() {
    let mut s = lab();
    let h = "msk-07";
    assert_eq!(
        run(
            &mut s,
            h,
            "/usr/libexec/vstorage/prepare_vstorage_drive /dev/sdd --noboot"
        )
        .code,
        0
    );
    let uuid = run(&mut s, h, "blkid -s UUID -o value /dev/sdd1")
        .stdout
        .trim()
        .to_string();
    assert_eq!(uuid.len(), 36);
    assert_eq!(run(&mut s, h, "blkid /dev/sdx1").code, 2);
    run(&mut s, h, "mkdir -p /vstorage/livelinux-cs-new");
    let fstab = s.host(h).unwrap().files["/etc/fstab"].content.clone();
    s.host_mut(h).files.get_mut("/etc/fstab").unwrap().content =
        format!("{fstab}UUID={uuid} /vstorage/livelinux-cs-new ext4 defaults,lazytime 1 2\n");
    assert_eq!(run(&mut s, h, "mount /vstorage/livelinux-cs-new").code, 0);
    assert_eq!(run(&mut s, h, "mount /vstorage/livelinux-cs-new").code, 32);
    assert!(run(&mut s, h, "tune2fs -m 0 /dev/sdd1")
        .stdout
        .contains("Setting reserved blocks percentage to 0%"));
    // A fresh ext4 root holds lost+found: make-cs wants an empty directory.
    let root = run(
        &mut s,
        h,
        "vstorage -c livelinux make-cs -r /vstorage/livelinux-cs-new -t 1",
    );
    assert_eq!(root.code, 1);
    assert!(
        root.stderr.contains("not empty (lost+found found)"),
        "{}",
        root.stderr
    );
    run(&mut s, h, "mkdir /vstorage/livelinux-cs-new/data");
    let r = run(
        &mut s,
        h,
        "vstorage -c livelinux make-cs -r /vstorage/livelinux-cs-new/data -t 1",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cs = s.css.last().unwrap().clone();
    assert_eq!(
        (cs.tier, cs.status.as_str(), cs.space_gb),
        (1, "inactive", 1862)
    );
    run(&mut s, h, "systemctl restart vstorage-csd.target");
    assert_eq!(s.css.last().unwrap().status, "active");
    assert_eq!(
        run(&mut s, h, "umount /vstorage/livelinux-cs-new").code,
        32,
        "busy while the CS runs"
    );
    assert_eq!(
        run(
            &mut s,
            h,
            "/usr/libexec/vstorage/prepare_vstorage_drive /dev/sdd"
        )
        .code,
        1,
        "in use"
    );
}

#[test]
fn meminfo_reflects_running_ves() {
    let mut s = lab();
    let before = basics::generated_file(&s, "msk-01", "/proc/meminfo").unwrap();
    run(&mut s, "msk-01", "prlctl stop web01");
    let after = basics::generated_file(&s, "msk-01", "/proc/meminfo").unwrap();
    let free = |t: &str| -> u64 {
        t.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(free(&after) > free(&before));
}

#[test]
fn scenario_errors_carry_line_and_column() {
    let err = load(
        "cluster: x\nhosts:\n  - {name: a, address: b, colour: red}\n",
        "s.yaml",
    )
    .unwrap_err();
    assert_eq!(err.location.map(|l| l.0), Some(3));
    assert!(err.to_string().starts_with("s.yaml:3:"), "{err}");
    let err = load(
        "cluster: x\nhosts: []\nves:\n  - {name: v, host: nowhere}\n",
        "s.yaml",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("unknown host \"nowhere\""),
        "{err}"
    );
}

#[test]
fn a_ve_listed_twice_on_one_node_is_refused_by_name() {
    // Names are unique per node (each node's dispatcher knows its own VEs): twice on one
    // node is an error, once on each of two nodes is what a real cluster may have.
    let twice = "cluster: x\nhosts:\n  - {name: a, address: 10.0.0.1}\n  - {name: b, address: 10.0.0.2}\nves:\n  - {name: v1, host: a}\n  - {name: v2, host: a}\n  - {name: v1, host: a}\n";
    let err = load(twice, "s.yaml").unwrap_err();
    assert!(
        err.to_string().contains("VE \"v1\" is listed twice on a"),
        "{err}"
    );
    let across = twice.replacen("name: v1, host: a}\n", "name: v1, host: b}\n", 1);
    let lab = load(&across, "s.yaml").expect("one v1 on each node");
    assert_eq!(lab.ves.iter().filter(|v| v.name == "v1").count(), 2);
}

#[test]
fn ve_lookups_follow_migrations_registrations_and_creations() {
    // Debug builds check every indexed answer against a search of all VEs: this walks the
    // changes that move, add or re-register VEs, looking each one up after every step.
    let mut s = lab();
    let look =
        |s: &LabState, host: &str, id: &str| s.ve_position(host, id).map(|i| s.ves[i].name.clone());
    assert_eq!(look(&s, "msk-01", "web01").as_deref(), Some("web01"));
    let uuid = s.ves[s.ve_position("msk-01", "web01").unwrap()]
        .uuid
        .clone();
    let run = |s: &mut LabState, host: &str, argv: &[&str]| {
        let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        super::dispatch(s, host, &argv).expect("known command")
    };
    assert_eq!(
        run(&mut s, "msk-01", &["prlctl", "migrate", "web01", "msk-02"]).code,
        0
    );
    // The destination first: a stale index would not know it there yet.
    assert_eq!(look(&s, "msk-02", "web01").as_deref(), Some("web01"));
    assert_eq!(
        look(&s, "msk-02", &format!("{{{uuid}}}")).as_deref(),
        Some("web01")
    );
    assert_eq!(look(&s, "msk-01", "web01"), None);
    let before = s.used_mb("msk-02");
    assert_eq!(run(&mut s, "msk-02", &["prlctl", "stop", "web01"]).code, 0);
    assert!(s.used_mb("msk-02") < before);
    assert_eq!(
        run(&mut s, "msk-02", &["prlctl", "unregister", "web01"]).code,
        0
    );
    assert_eq!(look(&s, "msk-02", "web01"), None);
    assert_eq!(
        run(
            &mut s,
            "msk-03",
            &["prlctl", "create", "fresh01", "--vmtype", "ct"]
        )
        .code,
        0
    );
    assert_eq!(look(&s, "msk-03", "fresh01").as_deref(), Some("fresh01"));
    // A clone arrives under its new name; the original stays.
    assert_eq!(
        run(
            &mut s,
            "msk-03",
            &["prlctl", "migrate", "fresh01", "msk-01/copy01", "--clone"]
        )
        .code,
        0
    );
    assert_eq!(look(&s, "msk-01", "copy01").as_deref(), Some("copy01"));
    assert_eq!(look(&s, "msk-03", "fresh01").as_deref(), Some("fresh01"));
}

#[test]
fn a_name_twice_on_a_host_is_found_as_a_search_finds_it() {
    let mut s = lab();
    let first = s.ve_position("msk-01", "web01").unwrap();
    let mut twin = s.ves[first].clone();
    twin.uuid = "0c0c0c0c-0000-4000-8000-000000000001".into();
    s.ves.insert(0, twin);
    s.ve_index.invalidate();
    // The name is ambiguous: the first in order, as `prlctl` would meet it.
    assert_eq!(s.ve_position("msk-01", "web01"), Some(0));
    assert_eq!(
        s.ve_position("msk-01", "0c0c0c0c-0000-4000-8000-000000000001"),
        Some(0)
    );
    assert_eq!(
        s.ve_position("msk-01", &s.ves[first + 1].uuid.clone()),
        Some(first + 1)
    );
}

/// `find DIR/ -mindepth 1 -maxdepth 1 -printf %f\0` as file::list runs it.
fn find(state: &mut LabState, host: &str, dir: &str) -> Reply {
    let argv: Vec<String> = [
        "find",
        dir,
        "-mindepth",
        "1",
        "-maxdepth",
        "1",
        "-printf",
        "%f\\0",
    ]
    .map(str::to_string)
    .to_vec();
    dispatch(state, host, &argv).expect("find is simulated")
}

#[test]
fn find_lists_the_shared_file_system_with_every_home_registered_or_not() {
    let mut s = lab();
    assert!(s.cluster_mounted("msk-01"));
    // A VE that no hypervisor has registered (its node was lost): its home is still there.
    let lost = s
        .ves
        .iter()
        .position(|v| v.kind == state::VeKind::CT)
        .unwrap();
    s.ves[lost].host = None;
    s.ve_index.invalidate();
    let uuid = s.ves[lost].uuid.clone();
    let cts = s.ves.iter().filter(|v| v.kind == state::VeKind::CT).count();
    let r = find(&mut s, "msk-02", "/vstorage/livelinux/private/");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let names = crate::parse::find::entries(&r.stdout).unwrap();
    assert_eq!(names.len(), cts);
    assert!(names.contains(&uuid));
    // Hidden entries are listed; the root always holds private and vmprivate.
    s.shared_files.insert(
        "/vstorage/livelinux/.vzrun/maintenance/msk-03.json".into(),
        state::LabFile {
            content: "{}".into(),
            mode: 0o644,
        },
    );
    let r = find(&mut s, "msk-01", "/vstorage/livelinux/");
    let mut names = crate::parse::find::entries(&r.stdout).unwrap();
    names.sort();
    assert_eq!(names, [".vzrun", "private", "vmprivate"]);
    // As GNU find: a missing directory, and a file named as one.
    let r = find(&mut s, "msk-01", "/vstorage/livelinux/nosuch/");
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            1,
            "find: '/vstorage/livelinux/nosuch/': No such file or directory\n"
        )
    );
    let r = find(
        &mut s,
        "msk-01",
        "/vstorage/livelinux/.vzrun/maintenance/msk-03.json/",
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.ends_with("Not a directory\n"), "{}", r.stderr);
    // `test -d` agrees with the listing.
    for (dir, code) in [
        ("/vstorage/livelinux/private", 0),
        ("/vstorage/livelinux/vmprivate", 0),
        ("/vstorage/livelinux/.vzrun/maintenance", 0),
        ("/vstorage/livelinux/nosuch", 1),
        ("/vstorage/livelinux/.vzrun/maintenance/msk-03.json", 1),
    ] {
        assert_eq!(
            run(&mut s, "msk-01", &format!("test -d {dir}")).code,
            code,
            "{dir}"
        );
    }
    // Any other form of find is not simulated, so a caller cannot lean on it by mistake.
    let r = run(&mut s, "msk-01", "find /vstorage/livelinux/private -type d");
    assert_eq!(r.code, 1);
}

#[test]
fn a_position_that_no_longer_matches_is_not_used() {
    // A change to `ves` behind the index's back (a test, or a command that forgot the
    // index): the stale position is checked against the VE, not trusted.
    let mut s = lab();
    let i = s.ve_position("msk-01", "web01").unwrap();
    s.ves[i].host = Some("msk-02".into());
    assert_eq!(s.ve_position("msk-01", "web01"), None);
    // Found stale, the index was rebuilt: it knows the VE's new host.
    assert_eq!(s.ve_position("msk-02", "web01"), Some(i));
}

#[test]
fn a_slow_start_shorter_than_a_lab_second_ends_on_time() {
    // The clock step skips the VEs only while no slow start can have ended: one that ends
    // half a lab second after its start must be running when the clock gets there.
    let state = load(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1}\nves:\n  - {name: v1, host: n1, status: stopped, slow_start_s: 0.5}\n",
        "s.yaml",
    )
    .unwrap();
    let lab = Lab::in_memory(state, None);
    let argv = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    let (started, _) = lab
        .answer("n1", &argv(&["prlctl", "start", "v1"]))
        .unwrap()
        .unwrap();
    assert_eq!(started.code, 0);
    let (status, _) = lab
        .answer("n1", &argv(&["prlctl", "status", "v1"]))
        .unwrap()
        .unwrap();
    assert_eq!(status.stdout, "CT v1 exist running\n");
}

#[test]
fn rm_cs_of_a_cs_already_being_removed_is_refused_naming_it() {
    let mut s = lab();
    s.speed = 1.0;
    assert_eq!(
        run(&mut s, "msk-01", "vstorage -c livelinux rm-cs 1025").code,
        0
    );
    let again = run(&mut s, "msk-01", "vstorage -c livelinux rm-cs --wait 1025");
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("CS#1025"), "{}", again.stderr);
}
