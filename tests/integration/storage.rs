//! Storage lifecycle on the lab, made as adversarial as a real node: each reproduction of
//! issue #12 (a CS's disk at a path vzrun did not choose, drives in other use, removals
//! that count CSs instead of hosts, overlapping maintenance, MDS removals) and the refusals,
//! which name the rule and the numbers and change nothing.

use crate::catalog::{unchanged, Lab};
use crate::test::Outcome;

/// A run (refused, bad input, or nothing to do): the expected exit, nothing echoed as a change, and the lab's
/// state exactly as before.
fn changes_nothing(lab: &Lab, args: &[&str], code: i32) -> Outcome {
    lab.query("log(\"look\");").status(0);
    let before = lab.state();
    let out = unchanged(lab.run(args).status(code));
    assert_eq!(before, lab.state(), "the run changed the lab");
    out
}

/// Tier 1 has four CSs on three hosts (n2 has two), for 3 replicas; n3 has none.
const TIERS: &str = "cluster: t\nspeed: 0\nstat_tiers: true\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor, storage]}\n  - {name: n3, address: 10.0.0.3, tags: [hypervisor, storage]}\n  - {name: n4, address: 10.0.0.4, tags: [hypervisor, storage]}\ncss:\n  - {id: 1, host: n1, tier: 1}\n  - {id: 2, host: n2, tier: 1}\n  - {id: 3, host: n2, tier: 1}\n  - {id: 5, host: n4, tier: 1}\nmdss:\n  - {id: 1, host: n1, master: true}\n";

#[test]
fn remove_cs_finds_the_disk_add_cs_mounted_and_the_drive_can_be_added_again() {
    let lab = Lab::new();
    lab.run(&["add-cs", "msk-04", "/dev/sdd", "--tier", "1", "--yes"])
        .status(0)
        .stderr_has("CS#1046 serves /vstorage/livelinux-sdd/data on msk-04 (tier 1)");
    lab.run(&["remove-cs", "1046", "--yes"])
        .status(0)
        .stderr_has("systemctl stop vstorage-csd.livelinux.1046.service")
        .stderr_has("umount /vstorage/livelinux-sdd")
        .stderr_has("-UUID=")
        .stderr_has("rmdir /vstorage/livelinux-sdd")
        .stderr_has("wipefs -a /dev/sdd1")
        .stderr_has("unmounted /vstorage/livelinux-sdd, the fstab line of /vstorage/livelinux-sdd, the mount point /vstorage/livelinux-sdd");
    lab.query("let h = host(\"msk-04\");\nlog(`mounted: ${disk::mount_of(h, \"/vstorage/livelinux-sdd\") != ()} fstab: ${fstab::list(h).filter(|e| e.file == \"/vstorage/livelinux-sdd\").len()} active: ${systemd::is_active(h, \"vstorage-csd.livelinux.1046.service\")} free: ${!disk::usage(h, \"/dev/sdd\").in_use}`);")
        .status(0)
        .stderr_has("mounted: false fstab: 0 active: false free: true");
    unchanged(
        lab.run(&["remove-cs", "1046", "--yes"])
            .status(0)
            // Its unit, stopped and disabled, is no longer loaded (systemd collects it), and
            // its record is gone: nothing of it is left anywhere.
            .stderr_has("CS#1046 is not in the cluster and no host has its unit: nothing to do"),
    );
    lab.run(&["add-cs", "msk-04", "/dev/sdd", "--tier", "1", "--yes"])
        .status(0)
        .stderr_has("serves /vstorage/livelinux-sdd/data on msk-04 (tier 1)");
}

#[test]
fn an_interrupted_removal_finishes_from_the_record_it_kept() {
    let lab = Lab::new();
    // As a run killed after stopping the CS leaves it: the record kept, csd gone.
    lab.query("import \"storage\" as storage;\nlet h = host(\"msk-07\");\nstorage::record_cs_disk(h, vstorage::cs_location(h, 1044));\nsystemd::stop(h, \"vstorage-csd.livelinux.1044.service\");\nlog(`process gone: ${vstorage::cs_location(h, 1044).repo == ()}`);")
        .status(0)
        .stderr_has("process gone: true");
    lab.run(&["remove-cs", "1044", "--yes"])
        .status(0)
        .stderr_has("umount /vstorage/livelinux-sdc")
        .stderr_has("vzrun's record of it");
    // Stopped with nothing recorded: the node cannot tell, and vzrun does not guess.
    lab.query("systemd::stop(host(\"msk-07\"), \"vstorage-csd.livelinux.1045.service\");")
        .status(0);
    changes_nothing(&lab, &["remove-cs", "1045", "--yes"], 2)
        .stderr_has("give its mount point with --repo");
    lab.run(&[
        "remove-cs",
        "1045",
        "--yes",
        "--repo",
        "/vstorage/livelinux-sde",
    ])
    .status(0)
    .stderr_has("umount /vstorage/livelinux-sde");
}

#[test]
fn remove_cs_counts_hosts_not_chunk_servers() {
    let lab = Lab::with_scenario(TIERS);
    // Tier 1 keeps CSs 2 and 3, but on n2 alone, and 5 on n4: 2 hosts for 3 replicas.
    changes_nothing(&lab, &["remove-cs", "1", "--yes"], 3)
        .stderr_has(
            "failure_domains: tier 1: 2 hosts with active CSs afterwards (n2, n4) for 3 replicas",
        )
        .stderr_has("pass --force");
    // Forced, it goes ahead and the journal keeps why.
    lab.run(&["remove-cs", "1", "--yes", "--force"])
        .status(0)
        .stderr_has(
            "--force: removing CS#1 although it is not safe (failure_domains: tier 1: 2 hosts",
        );
}

/// A CS made on the system disk (`make-cs -r /var/lib/vstorage-cs4`) has no mount of its
/// own: the mount holding its repository is `/`. Removing it must not unmount `/`, remove
/// its fstab line or wipe the root device.
#[test]
fn remove_cs_on_the_root_file_system_leaves_the_root_alone() {
    let lab = Lab::with_scenario(
        "cluster: r\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor, storage]}\n  - {name: n3, address: 10.0.0.3, tags: [hypervisor, storage]}\n  - {name: n4, address: 10.0.0.4, tags: [hypervisor, storage]}\ncss:\n  - {id: 1, host: n1}\n  - {id: 2, host: n2}\n  - {id: 3, host: n3}\n  - {id: 4, host: n4, repo: /var/lib/vstorage-cs4}\nmdss:\n  - {id: 1, host: n1, master: true}\n",
    );
    let loc = lab
        .query("let l = vstorage::cs_location(host(\"n4\"), 4);\nprint(`repo ${l.repo} mount ${l.mount} device ${l.device} loaded ${l.unit_loaded}`);\nprint(`unit of CS#9 loaded ${vstorage::cs_location(host(\"n4\"), 9).unit_loaded}`);")
        .status(0);
    assert_eq!(
        loc.stdout,
        "repo /var/lib/vstorage-cs4 mount  device  loaded true\nunit of CS#9 loaded false\n"
    );
    let out = lab.run(&["remove-cs", "4", "--yes"]).status(0);
    for never in ["umount", "wipefs", "virtuozzo-root", "fstab"] {
        assert!(!out.stderr.contains(never), "{never}:\n{}", out.stderr);
    }
    let mounts = lab
        .query("print(host(\"n4\").query([\"cat\", \"/proc/mounts\"]).stdout);")
        .status(0);
    assert!(
        mounts
            .stdout
            .starts_with("/dev/mapper/virtuozzo-root / xfs "),
        "{}",
        mounts.stdout
    );
}

/// A CS id the cluster does not have is bad input, named, before any rule is asked (a typo
/// must not answer "ok to stop" about chunk servers that are not the ones meant).
#[test]
fn ok_to_stop_names_a_cs_the_cluster_does_not_have() {
    let lab = Lab::with_scenario(TIERS);
    // Known: answered (CS#5 is one of tier 1's three hosts for 3 replicas: no).
    let known = lab
        .query("print(vstorage::ok_to_stop(host(\"n1\"), [5]).ok);")
        .status(0);
    assert_eq!(known.stdout, "false\n");
    lab.query("print(vstorage::ok_to_stop(host(\"n1\"), [5, 99]).ok);")
        .status(2)
        .stderr_has("invalid CS id: CS#99 is not in the cluster");
}

#[test]
fn remove_cs_refuses_on_a_degraded_cluster() {
    let lab = Lab::with_scenario(&format!(
        "{}  - {{id: 6, host: n3, tier: 1, status: offline}}\n  - {{id: 7, host: n1, tier: 1}}\n",
        TIERS.replace("mdss:\n  - {id: 1, host: n1, master: true}\n", "")
    ));
    changes_nothing(&lab, &["remove-cs", "7", "--yes"], 3)
        .stderr_has("healthy: the cluster is degraded (")
        .stderr_has("not active: CS#6 offline on n3");
    // The offline CS itself may go: the cluster is degraded only because of it.
    lab.run(&["remove-cs", "6", "--yes"])
        .status(0)
        .stderr_has("removed: CS#6 from the cluster");
}

#[test]
fn maintenance_is_one_node_at_a_time_and_the_timeout_waits_for_the_last() {
    let lab = Lab::new();
    lab.run(&["cs-maintenance", "msk-01", "on", "--yes"])
        .status(0)
        .stderr_has("set-config mds.wd.offline_tout_mnt=25200000");
    changes_nothing(&lab, &["cs-maintenance", "msk-02", "on", "--yes"], 3)
        .stderr_has(
            "one_node_at_a_time: already in maintenance: msk-01 (3 CSs: [1025, 1026, 1027])",
        )
        .stderr_has("healthy: the cluster is degraded");
    lab.run(&["cs-maintenance", "msk-02", "on", "--yes", "--force"])
        .status(0)
        .stderr_has("--force: maintenance of msk-02 although it is not safe");
    assert!(
        lab.journals()
            .contains("--force: maintenance of msk-02 although it is not safe (healthy: the cluster is degraded"),
        "the override and its reason are journaled"
    );
    // msk-01 comes back; msk-02 is still in: the timeout stays raised.
    lab.run(&["cs-maintenance", "msk-01", "off"])
        .status(0)
        .stderr_lacks("offline_tout_mnt=180000")
        .stderr_has("stays at 25200000 ms while [\"msk-02\"] remain in maintenance");
    lab.query("log(vstorage::get_config(host(\"msk-03\"))[\"mds.wd.offline_tout_mnt\"]);")
        .status(0)
        .stderr_has("25200000");
    lab.run(&["cs-maintenance", "msk-02", "off"])
        .status(0)
        .stderr_has("set-config mds.wd.offline_tout_mnt=180000")
        .stderr_has("no node remains in maintenance");
    unchanged(lab.run(&["cs-maintenance", "msk-02", "off"]).status(0));
}

#[test]
fn drives_in_other_use_are_refused_with_the_reason() {
    let lab = Lab::with_scenario(
        "cluster: d\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [storage], disks: [{device: /dev/sdc, kind: lvm-pv}, {device: /dev/sdd, kind: raid-member}, {device: /dev/sdf, kind: swap}, {device: /dev/sdg, kind: mounted}, {device: /dev/sdh, kind: partitioned}]}\n  - {name: n2, address: 10.0.0.2, tags: [storage]}\n  - {name: n3, address: 10.0.0.3, tags: [storage]}\ncss:\n  - {id: 1, host: n1}\n  - {id: 2, host: n2}\n  - {id: 3, host: n3}\n",
    );
    for (dev, reason) in [
        ("/dev/sdc", "/dev/sdc is an LVM physical volume"),
        (
            "/dev/sdc",
            "/dev/mapper/vg_sdc-lv_sdc is mounted on /srv/sdc",
        ),
        ("/dev/sdd", "/dev/sdd is a RAID member"),
        ("/dev/sdd", "/dev/md127 (raid1) is built on it"),
        ("/dev/sdf", "/dev/sdf is active swap"),
        ("/dev/sdg", "/dev/sdg1 is mounted on /srv/sdg"),
        ("/dev/sdh", "/dev/sdh1 holds an xfs file system"),
    ] {
        changes_nothing(&lab, &["add-cs", "n1", dev, "--tier", "0", "--yes"], 3)
            .stderr_has(&format!("{dev} on n1 is in use"))
            .stderr_has(reason);
    }
    // The primitive refuses on its own too, whoever calls it.
    lab.query("try { disk::prepare_vstorage_drive(host(\"n1\"), \"/dev/sdc\"); } catch (e) { log(`${e.kind}: ${e.message}`); }")
        .status(0)
        .stderr_has("refused: /dev/sdc is in use on n1: /dev/sdc is an LVM physical volume");
}

#[test]
fn add_cs_needs_a_tier_and_changes_nothing_without_one() {
    let lab = Lab::new();
    changes_nothing(&lab, &["add-cs", "msk-06", "/dev/sdd", "--yes"], 2)
        .stderr_has("give --tier 0-3");
    changes_nothing(
        &lab,
        &["add-cs", "msk-06", "/dev/sdd", "--tier", "7", "--yes"],
        2,
    )
    .stderr_has("7 is outside 0-3");
}

#[test]
fn mds_removals_keep_a_majority_and_the_master() {
    let lab = Lab::new();
    changes_nothing(&lab, &["remove-mds", "1", "--yes"], 3)
        .stderr_has("MDS#1 (10.30.17.31) is the master: hand the role over first");
    // The hand-over the refusal advises: restart the master's service, another is elected.
    lab.query("systemd::restart(host(\"msk-01\"), \"vstorage-mdsd.livelinux.1.service\");\nlog(`master: ${vstorage::stat(host(\"msk-01\")).mds.filter(|m| m.master)[0].id}`);")
        .status(0)
        .stderr_has("master: 2");
    lab.run(&["remove-mds", "3", "--yes"])
        .status(0)
        .stderr_has("rm-mds 3")
        .stderr_has("systemctl stop vstorage-mdsd.livelinux.3.service")
        .stderr_has("2 MDSs remain: an even count");
    unchanged(
        lab.run(&["remove-mds", "3", "--yes"])
            .status(0)
            .stderr_has("nothing to do"),
    );
    changes_nothing(&lab, &["remove-mds", "1", "--yes"], 3)
        .stderr_has("removing MDS#1 leaves 1 MDS: keep at least 2");
    // The primitive itself refuses too.
    lab.query("try { vstorage::rm_mds(host(\"msk-01\"), 1); } catch (e) { log(`${e.kind}`); }")
        .status(0)
        .stderr_has("refused");
    lab.run(&["add-mds", "msk-04", "10.30.17.34:2510", "--yes"])
        .status(0)
        .stderr_has("make-mds -a 10.30.17.34:2510")
        .stderr_has("the cluster has 3 MDSs");
    unchanged(
        lab.run(&["add-mds", "msk-04", "10.30.17.34", "--yes"])
            .status(0)
            .stderr_has("already listens"),
    );
}

#[test]
fn an_mds_removal_that_breaks_the_majority_is_refused() {
    // Three of five run: a majority, so the cluster answers (with two of four it would have
    // no master and answer nothing, as the lab now models). Removing a running one leaves
    // two running of four.
    let lab = Lab::with_scenario("cluster: m\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [storage]}\n  - {name: n2, address: 10.0.0.2, tags: [storage]}\n  - {name: n3, address: 10.0.0.3, tags: [storage]}\n  - {name: n4, address: 10.0.0.4, tags: [storage]}\n  - {name: n5, address: 10.0.0.5, tags: [storage]}\nmdss:\n  - {id: 1, host: n1, master: true}\n  - {id: 2, host: n2}\n  - {id: 3, host: n3, status: offline}\n  - {id: 4, host: n4, status: offline}\n  - {id: 5, host: n5}\n");
    changes_nothing(&lab, &["remove-mds", "2", "--yes"], 3)
        .stderr_has("removing MDS#2 leaves 2 running of 4 MDSs: no majority");
}

/// cs-reserved-blocks on n1 with CS#1 reserving `pct` % (`extra`: more of CS#1's scenario
/// fields) and CS#2 none: the report names CS#1 as `shown` %, `--fix` sets CS#1 (only) to
/// 0, a second `--fix` finds nothing to do.
fn reserved_blocks_found_and_fixed_once(pct: &str, extra: &str, shown: &str) {
    let lab = Lab::with_scenario(&format!("cluster: r\nspeed: 0\nhosts:\n  - {{name: n1, address: 10.0.0.1, tags: [storage]}}\ncss:\n  - {{id: 1, host: n1, reserved_pct: {pct}{extra}}}\n  - {{id: 2, host: n1}}\n"));
    unchanged(
        lab.run(&["cs-reserved-blocks"])
            .status(0)
            .stdout_has(&format!(
                "n1    1   /dev/sdb1  {shown}             run with --fix"
            ))
            .stderr_has("1 CS disks reserve blocks for root"),
    );
    lab.run(&["cs-reserved-blocks", "--fix"])
        .status(0)
        .stderr_has("tune2fs -m 0 /dev/sdb1")
        .stderr_lacks("tune2fs -m 0 /dev/sdc1");
    unchanged(
        lab.run(&["cs-reserved-blocks", "--fix"])
            .status(0)
            .stderr_has("nothing to do"),
    );
}

#[test]
fn reserved_blocks_are_read_first_and_fixed_once() {
    reserved_blocks_found_and_fixed_once("5", "", "5");
}

#[test]
fn reserved_blocks_under_one_percent_are_not_taken_for_none() {
    // `tune2fs -m 0.4` (fractions are allowed) on a 1 TB disk reserves 1 GB for root: the
    // percentage rounds to 0, the block count does not.
    reserved_blocks_found_and_fixed_once("0.4", ", space_gb: 1024", "1");
}

#[test]
fn add_cs_resumes_a_run_that_stopped_after_mounting_the_drive() {
    let lab = Lab::new();
    // As a run cut short after "mount it" leaves the drive: prepared, mounted, no CS.
    lab.query("let h = host(\"msk-05\");\ndisk::prepare_vstorage_drive(h, \"/dev/sdd\");\ndisk::mkdir(h, \"/vstorage/livelinux-sdd\");\nfstab::ensure(h, #{spec: `UUID=${disk::blkid(h, \"/dev/sdd1\").uuid}`, file: \"/vstorage/livelinux-sdd\", vfstype: \"ext4\", options: \"defaults,lazytime\", freq: 1, passno: 2});\ndisk::mount(h, \"/vstorage/livelinux-sdd\");")
        .status(0);
    lab.run(&["add-cs", "msk-05", "/dev/sdd", "--tier", "2", "--yes"])
        .status(0)
        .stderr_lacks("prepare_vstorage_drive")
        .stderr_has("make-cs -r /vstorage/livelinux-sdd/data -t 2")
        .stderr_has("serves /vstorage/livelinux-sdd/data on msk-05 (tier 2)");
    // Anything else mounted from it is in use, whatever the mount point.
    changes_nothing(
        &lab,
        &[
            "add-cs",
            "msk-05",
            "/dev/sdb",
            "--tier",
            "0",
            "--yes",
            "--repo",
            "/vstorage/elsewhere",
        ],
        0,
    )
    .stderr_has("already serves CS#1037");
}

#[test]
fn maintenance_opened_by_an_older_vzrun_restores_the_value_it_kept() {
    let lab = Lab::new();
    // The old runbook kept the original value on the node and raised the timeout.
    lab.query("let h = host(\"msk-03\");\ndisk::mkdir(h, \"/var/lib/vzrun\");\nfile::write(h, \"/var/lib/vzrun/offline_tout_mnt\", \"180000\\n\");\nvstorage::set_config(h, \"mds.wd.offline_tout_mnt\", 25200000);\nfor id in [1031, 1032, 1033] { vstorage::cs_maintenance(h, id, true); }")
        .status(0);
    lab.run(&["cs-maintenance", "msk-03", "off"])
        .status(0)
        .stderr_has("set-config mds.wd.offline_tout_mnt=180000");
}

#[test]
fn a_disk_shared_with_another_cs_stays_mounted() {
    let lab = Lab::new();
    lab.query("let h = host(\"msk-07\");\ndisk::mkdir(h, \"/vstorage/livelinux-sdb/data2\");\nlet id = vstorage::make_cs(h, #{repo: \"/vstorage/livelinux-sdb/data2\", tier: 0});\nsystemd::start(h, `vstorage-csd.livelinux.${id}.service`);\nlog(`CS#${id}`);")
        .status(0)
        .stderr_has("CS#1046");
    lab.run(&["remove-cs", "1043", "--yes"])
        .status(0)
        .stderr_has("/vstorage/livelinux-sdb also holds CS#1046: it stays mounted")
        .stderr_lacks("umount")
        .stderr_lacks("wipefs");
    lab.query("log(`CS#1046 is ${vstorage::stat(host(\"msk-07\")).cs.filter(|c| c.id == 1046)[0].status}`);")
        .status(0)
        .stderr_has("CS#1046 is active\n");
}

#[test]
fn add_mds_after_a_run_that_stopped_after_make_mds_starts_the_mds() {
    // make-mds starts nothing (reference §2.7: enable/start after make-mds). A run stopped
    // between make-mds and the start (Ctrl-C, a lost connection, a start that failed) left
    // an MDS the cluster counts but that does not run: the next run must start it, not
    // find it "already there".
    let lab = Lab::new();
    lab.query("vstorage::make_mds(host(\"msk-04\"), \"10.30.17.34:2510\");")
        .status(0)
        .stderr_has("make-mds -a 10.30.17.34:2510");
    lab.run(&["add-mds", "msk-04", "10.30.17.34:2510", "--yes"])
        .status(0)
        .stderr_has("systemctl enable vstorage-mdsd.livelinux.4.service")
        .stderr_has("systemctl start vstorage-mdsd.livelinux.4.service")
        .stderr_lacks("make-mds");
    lab.query("let m = vstorage::stat(host(\"msk-01\")).mds.filter(|m| m.id == 4)[0];\nlog(`MDS#4 ${m.status} active ${systemd::is_active(host(\"msk-04\"), \"vstorage-mdsd.livelinux.4.service\")}`);")
        .status(0)
        .stderr_has("MDS#4 avail active true");
    unchanged(
        lab.run(&["add-mds", "msk-04", "10.30.17.34:2510", "--yes"])
            .status(0)
            .stderr_has("already listens"),
    );
}

#[test]
fn add_cs_refuses_a_repo_on_the_cluster_mount_point_and_changes_nothing() {
    // --repo /vstorage/CLUSTER (or a path inside it) would put the new drive's fstab line
    // in place of the cluster's own and the CS's chunks inside the cluster it serves.
    let lab = Lab::new();
    for repo in ["/vstorage/livelinux", "/vstorage/livelinux/cs-sdd"] {
        changes_nothing(
            &lab,
            &[
                "add-cs", "msk-06", "/dev/sdd", "--tier", "1", "--repo", repo, "--yes",
            ],
            3,
        )
        .stderr_has("fuse.vstorage");
    }
}

#[test]
fn add_cs_checks_the_journal_path_before_erasing_the_drive() {
    // The journal was checked only by make-cs, after the drive was erased, mounted and
    // written into fstab: exit 2 with the drive half made.
    let lab = Lab::new();
    changes_nothing(
        &lab,
        &[
            "add-cs",
            "msk-06",
            "/dev/sdd",
            "--tier",
            "1",
            "--journal",
            "ssd/journal",
            "--journal-size",
            "1024",
            "--yes",
        ],
        2,
    )
    .stderr_has("invalid journal: \"ssd/journal\" is not an absolute path");
}

#[test]
fn add_cs_after_a_start_that_failed_starts_the_cs_it_made() {
    // The CS's start failed once (fault `csd start`): the CS exists, registered and
    // stopped, in the drive's data directory. The next run tried make-cs there again
    // (which fails: the directory holds a CS) after asking to "erase" the drive, so the CS
    // was never started.
    let lab = Lab::with_scenario(&crate::catalog::SMALL.replace(
        "disks: [/dev/sdd]}",
        "disks: [/dev/sdd], ops: {fail_once: [csd start]}}",
    ));
    lab.run(&["add-cs", "n1", "/dev/sdd", "--tier", "0", "--yes"])
        .status(1)
        .stderr_has("make-cs -r /vstorage/small-sdd/data")
        .stderr_has("systemctl start vstorage-csd.small.5.service");
    lab.run(&["add-cs", "n1", "/dev/sdd", "--tier", "0", "--yes"])
        .status(0)
        .stderr_lacks("make-cs")
        .stderr_lacks("Erase")
        .stderr_has("systemctl start vstorage-csd.small.5.service");
    lab.query("log(`CS#5 ${vstorage::stat(host(\"n1\")).cs.filter(|c| c.id == 5)[0].status}`);")
        .status(0)
        .stderr_has("CS#5 active");
    unchanged(
        lab.run(&["add-cs", "n1", "/dev/sdd", "--tier", "0", "--yes"])
            .status(0)
            .stderr_has("already serves CS#5"),
    );
}

/// Four MDSs, the fourth on n4, which is powered off (its MDS offline).
const MDS_NODE_DOWN: &str = "cluster: m\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [storage]}\n  - {name: n2, address: 10.0.0.2, tags: [storage]}\n  - {name: n3, address: 10.0.0.3, tags: [storage]}\n  - {name: n4, address: 10.0.0.4, tags: [storage], powered_off: true}\nmdss:\n  - {id: 1, host: n1, master: true}\n  - {id: 2, host: n2}\n  - {id: 3, host: n3}\n  - {id: 4, host: n4, status: offline}\n";

#[test]
fn remove_mds_of_a_dead_node_removes_it_and_names_the_unit_left_there() {
    // The usual reason to remove an MDS is that its node died. rm-mds worked, then the
    // run waited on the dead node to stop the unit and ended in a timeout (exit 5), and
    // every later run timed out the same way before saying anything.
    let lab = Lab::with_scenario(MDS_NODE_DOWN);
    lab.run(&["remove-mds", "4", "--yes"])
        .status(0)
        .stderr_has("rm-mds 4")
        .stderr_has("n4 does not answer: stop and disable vstorage-mdsd.m.4.service there");
    unchanged(
        lab.run(&["remove-mds", "4", "--yes"])
            .status(0)
            .stderr_has("n4 does not answer")
            .stderr_has("nothing to do"),
    );
}

#[test]
fn cs_reserved_blocks_checks_the_nodes_that_answer_when_one_is_down() {
    // One node powered off stopped the whole report (and the fix of every other node)
    // with a timeout at its `vstorage stat`.
    let lab = Lab::with_scenario("cluster: r\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [storage]}\n  - {name: n2, address: 10.0.0.2, tags: [storage], powered_off: true}\ncss:\n  - {id: 1, host: n1, reserved_pct: 5}\n  - {id: 2, host: n2, reserved_pct: 5}\n");
    lab.run(&["cs-reserved-blocks", "--fix"])
        .status(0)
        .stdout_has("does not answer")
        .stderr_has("n2 does not answer: its CS disks are not checked")
        .stderr_has("tune2fs -m 0 /dev/sdb1");
}

#[test]
fn add_mds_refuses_an_address_the_node_does_not_have_and_changes_nothing() {
    // A typo in the address (10.30.17.43 for msk-04's .34) only warned, then make-mds
    // put an MDS in the cluster that cannot bind its address: one more MDS counted for
    // the majority, none more running.
    let lab = Lab::new();
    changes_nothing(&lab, &["add-mds", "msk-04", "10.30.17.43:2510", "--yes"], 3)
        .stderr_has("10.30.17.43 is not an address of msk-04 (it has 10.30.17.34)");
}

/// Two runs: `first` (a script) takes a host's lock, says "locked", waits, then changes
/// what `second` is about to check, while `second` runs with --lock-wait. Returns `second`.
fn second_run_while_locked(first: &str, second: &[&str]) -> crate::test::Outcome {
    use crate::test::Test;
    let test = Test::new().file("first.rhai", first);
    let dir = test.path("");
    let args = |t: Test| {
        t.env("VZRUN_STATE_DIR", dir.join("journal"))
            .args(["--lab-speed", "0", "--lab-state"])
            .arg(dir.join("lab.json"))
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
fn add_cs_checks_the_drive_under_the_node_lock() {
    // The drive was checked before the node's lock was taken (at the first change): a run
    // waiting on the lock (--lock-wait) then prepared, i.e. erased, a drive the lock holder
    // had just made a chunk server of.
    let out = second_run_while_locked(
        "//! Take msk-06's lock, then its /dev/sdd.\nlet h = host(\"msk-06\");\nlock_host(h);\nlog(\"locked\");\nsleep(2);\ndisk::prepare_vstorage_drive(h, \"/dev/sdd\");\n",
        &["add-cs", "msk-06", "/dev/sdd", "--tier", "1", "--yes"],
    );
    unchanged(out.status(3).stderr_has("/dev/sdd on msk-06 is in use"));
}

#[test]
fn remove_mds_checks_the_majority_under_the_lock() {
    // Three MDSs. Another run holds the storage host's lock and removes MDS#3; this one,
    // waiting on the lock, had counted three MDSs before it and removed MDS#2 after: one
    // MDS left, no majority to lose.
    let out = second_run_while_locked(
        "//! Take msk-01's lock, then remove MDS#3.\nlet h = host(\"msk-01\");\nlock_host(h);\nlog(\"locked\");\nsleep(2);\nvstorage::rm_mds(h, 3);\n",
        &["remove-mds", "2", "--yes"],
    );
    unchanged(
        out.status(3)
            .stderr_has("removing MDS#2 leaves 1 MDS: keep at least 2"),
    );
}

#[test]
fn a_number_that_is_not_one_is_bad_input_and_changes_nothing() {
    // Was exit 1 with "to finish it: vzrun resume", as if a run had stopped half-way.
    let lab = Lab::new();
    changes_nothing(&lab, &["remove-mds", "abc", "--yes"], 2)
        .stderr_has("invalid id: abc is not a number");
    changes_nothing(
        &lab,
        &["add-cs", "msk-06", "/dev/sdd", "--tier", "x", "--yes"],
        2,
    )
    .stderr_has("invalid tier: x is not a number");
}

#[test]
fn remove_mds_after_a_stopped_run_finds_the_unit_left_on_an_mds_only_node() {
    // A run stopped after rm-mds left the unit of the MDS on its node. The next run
    // looked for it only on `storage` hosts (a dedicated MDS node is tagged `mds`) and
    // only for an active unit (one stopped but enabled starts the removed MDS at boot).
    let lab = Lab::with_scenario("cluster: m\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [storage]}\n  - {name: n2, address: 10.0.0.2, tags: [storage]}\n  - {name: n3, address: 10.0.0.3, tags: [storage]}\n  - {name: n4, address: 10.0.0.4, tags: [mds]}\nmdss:\n  - {id: 1, host: n1, master: true}\n  - {id: 2, host: n2}\n  - {id: 3, host: n3}\n  - {id: 4, host: n4}\n");
    lab.query("vstorage::rm_mds(host(\"n1\"), 4);\nsystemd::stop(host(\"n4\"), \"vstorage-mdsd.m.4.service\");")
        .status(0)
        .stderr_has("rm-mds 4");
    lab.run(&["remove-mds", "4", "--yes"])
        .status(0)
        .stderr_has("[n4] systemctl disable vstorage-mdsd.m.4.service");
    unchanged(
        lab.run(&["remove-mds", "4", "--yes"])
            .status(0)
            .stderr_has("nothing to do"),
    );
}

#[test]
fn add_mds_refuses_when_the_new_mds_would_cost_the_majority() {
    // Three MDSs, MDS#3 down. make-mds makes four members, of which two run until the
    // new one starts: no majority. If that start fails (fault `mdsd start`) the cluster
    // is left so. The safe order is remove-mds 3 first, then add-mds.
    let scenario = "cluster: m\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [storage]}\n  - {name: n2, address: 10.0.0.2, tags: [storage]}\n  - {name: n3, address: 10.0.0.3, tags: [storage]}\n  - {name: n4, address: 10.0.0.4, tags: [storage], ops: {fail_once: [mdsd start]}}\nmdss:\n  - {id: 1, host: n1, master: true}\n  - {id: 2, host: n2}\n  - {id: 3, host: n3, status: offline}\n";
    let lab = Lab::with_scenario(scenario);
    changes_nothing(&lab, &["add-mds", "n4", "10.0.0.4:2510", "--yes"], 3)
        .stderr_has("2 of 4 MDSs would run until the new one starts: no majority")
        .stderr_has("remove-mds 3");
    // The primitive refuses too.
    lab.query("try { vstorage::make_mds(host(\"n4\"), \"10.0.0.4:2510\"); } catch (e) { log(`${e.kind}`); }")
        .status(0)
        .stderr_has("refused");
    // The safe order works.
    lab.run(&["remove-mds", "3", "--yes"]).status(0);
    lab.run(&["add-mds", "n4", "10.0.0.4:2510", "--yes"])
        .status(1)
        .stderr_has("make-mds -a 10.0.0.4:2510");
    lab.query("let s = vstorage::stat(host(\"n1\")).mds;\nlog(`${s.filter(|m| m.status == \"avail\").len()} of ${s.len()} running`);")
        .status(0)
        .stderr_has("2 of 3 running");
}

#[test]
fn add_mds_refuses_a_second_mds_on_a_node_and_changes_nothing() {
    // MDS#1 listens on n1's storage-network address; given n1's other (inventory) address,
    // add-mds made a second MDS on n1, in the same repository: one node down would take
    // two MDSs, and the majority with them.
    let lab = Lab::with_scenario("cluster: m\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, storage_address: 10.40.0.1, tags: [storage]}\n  - {name: n2, address: 10.0.0.2, storage_address: 10.40.0.2, tags: [storage]}\n  - {name: n3, address: 10.0.0.3, storage_address: 10.40.0.3, tags: [storage]}\nmdss:\n  - {id: 1, host: n1, master: true}\n  - {id: 2, host: n2}\n  - {id: 3, host: n3}\n");
    changes_nothing(&lab, &["add-mds", "n1", "10.0.0.1:2510", "--yes"], 3)
        .stderr_has("n1 already runs MDS#1 (10.40.0.1)");
}

#[test]
fn add_cs_refuses_a_repo_where_another_cs_drive_is_mounted_and_changes_nothing() {
    // --repo at another CS's mount point (or device names that moved after a reboot, so
    // that the default /vstorage/CLUSTER-sdd holds another drive): the new drive's UUID
    // took that CS's fstab line, so at the next boot its disk was no longer mounted.
    let lab = Lab::new();
    changes_nothing(
        &lab,
        &[
            "add-cs",
            "msk-06",
            "/dev/sdd",
            "--tier",
            "1",
            "--repo",
            "/vstorage/livelinux-sdb",
            "--yes",
        ],
        3,
    )
    .stderr_has("/vstorage/livelinux-sdb on msk-06 is the mount point of /dev/sdb1 (ext4)");
}
