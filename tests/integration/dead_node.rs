//! A node that is dead for good (powered off: no SSH, no session with the cluster), and the
//! first of the inventory at that: the storage runbooks an operator needs then must still
//! work, asking a node that answers, and say what is left on the dead one.

use crate::catalog::{unchanged, Lab};
use crate::test::Test;

/// The built-in lab with msk-01 (first host, MDS master, three CSs) powered off.
fn msk_01_dead() -> Lab {
    let mut lab = Lab::with_scenario(&include_str!("../../src/lab/default.yaml").replacen(
        "{name: msk-01, address: 10.30.17.31, tags:",
        "{name: msk-01, address: 10.30.17.31, powered_off: true, tags:",
        1,
    ));
    lab.speed = "0";
    lab
}

/// The lab state but its virtual clock, which moves while a run waits for the dead node.
fn state_but_clock(lab: &Lab) -> serde_json::Value {
    let mut state = lab.state_value();
    if let Some(o) = state.as_object_mut() {
        o.remove("clock");
    }
    state
}

/// Refused with `code` and `needle`, the lab as it was (but its clock).
fn refused_untouched(lab: &Lab, code: i32, args: &[&str], needle: &str) {
    let before = state_but_clock(lab);
    unchanged(lab.run(args).status(code).stderr_has(needle));
    assert!(
        state_but_clock(lab) == before,
        "{args:?} exited {code} but changed the lab"
    );
}

#[test]
fn a_dead_first_node_does_not_stop_the_storage_runbooks() {
    let lab = msk_01_dead();
    lab.run(&["storage-top"])
        .status(0)
        .stderr_has("msk-01 does not answer: asking msk-02 about the storage cluster");
    lab.run(&["cs-maintenance", "msk-05", "on", "--yes", "--force"])
        .status(0)
        .stderr_has("holding the lock \"storage\" on msk-02,");
    lab.run(&["cs-maintenance", "msk-05", "off", "--yes"])
        .status(0);
}

#[test]
fn remove_cs_of_a_dead_node_removes_it_from_the_cluster_and_names_what_is_left_there() {
    let lab = msk_01_dead();
    let out = lab
        .run(&["remove-cs", "1025", "--yes", "--force"])
        .status(0)
        .stderr_has("vstorage -c livelinux rm-cs --wait 1025")
        .stderr_has("msk-01 does not answer: CS#1025's unit, disk and fstab line are left there; run \"vzrun remove-cs 1025 --on msk-01\" when it is back");
    assert!(
        !out.stderr.contains("[msk-01]"),
        "nothing ran on the dead node:\n{}",
        out.stderr
    );
    // Gone from the cluster; the node still silent: nothing more to do now, said so.
    unchanged(
        lab.run(&["remove-cs", "1025", "--on", "msk-01", "--yes"])
            .status(0)
            .stderr_has("msk-01 does not answer"),
    );
}

#[test]
fn the_mds_of_a_dead_node_is_offline_and_the_others_elect_a_master() {
    let lab = msk_01_dead();
    // msk-01 ran MDS#1, the master: the two others, a majority of three, elect one.
    lab.run(&["storage-top"])
        .status(0)
        .stdout_has("msk-02  master");
    // Adding a fourth now would leave 2 of 4 running until it starts: no majority.
    lab.run(&["add-mds", "msk-04", "10.30.17.34", "--yes"])
        .status(3)
        .stderr_has("2 of 4 MDSs would run until the new one starts: no majority");
    // The dead node's MDS can go (it is not the master any more); its unit is left there.
    lab.run(&["remove-mds", "1", "--yes"])
        .status(0)
        .stderr_has("vstorage -c livelinux rm-mds 1")
        .stderr_has(
            "msk-01 does not answer: stop and disable vstorage-mdsd.livelinux.1.service there",
        );
}

/// Runbooks that set something on every node: with one dead, each stops before its first
/// change, naming it and the --nodes that leaves it out (not a timeout after the others
/// were set, nor a 600 s wait).
#[test]
fn a_runbook_that_sets_every_node_names_the_dead_one_before_any_change() {
    let lab = msk_01_dead();
    let others = "--nodes msk-02,msk-03,msk-04,msk-05,msk-06,msk-07";
    for args in [
        &["ntp", "--yes"][..],
        &["sysctl-baseline", "--yes"],
        &["zabbix-firewall", "--yes"],
        &["memory-tuning", "--yes"],
        &["client-cache", "/var/cache/vstorage", "20480", "--yes"],
        &["pfcache-resize", "20", "--yes"],
        &["drop-caches", "--yes"],
        &["bridge-network", "vlan100", "eth0", "--yes"],
    ] {
        refused_untouched(
            &lab,
            3,
            args,
            &format!("msk-01 does not answer: nothing was changed; run again when it is back, or leave it out with {others}"),
        );
    }
    // Left out as said, the run goes on.
    lab.run(&[
        "sysctl-baseline",
        "--nodes",
        "msk-02,msk-03,msk-04,msk-05,msk-06,msk-07",
        "--yes",
    ])
    .status(0);
}

#[test]
fn read_cache_lists_the_nodes_that_answer_and_names_the_dead_one() {
    let lab = msk_01_dead();
    // The others' rows, the dead one named; the run still ends as its read did (exit 5).
    lab.run(&["read-cache"])
        .status(5)
        .stdout_has("msk-02")
        .stdout_has("msk-07")
        .stderr_has("warning: msk-01: its cache cannot be read");
}

#[test]
fn pcompact_rolling_runs_on_the_nodes_left_when_the_first_is_dead() {
    // n1 is off for good; its storage is gone from the cluster, which is healthy again.
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nreplicas: \"2:1\"\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], powered_off: true}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor, storage], memory_mb: 65536}\n  - {name: n3, address: 10.0.0.3, tags: [hypervisor, storage], memory_mb: 65536}\ncss:\n  - {id: 1, host: n2}\n  - {id: 2, host: n3}\nmdss:\n  - {id: 1, host: n2, master: true}\n",
    );
    // Every node is asked first: the dead one is named, with the --nodes that leaves it out.
    refused_untouched(
        &lab,
        3,
        &["pcompact-rolling", "--yes"],
        "n1 does not answer: nothing was changed; run again when it is back, or leave it out with --nodes n2,n3",
    );
    // Left out, the rolling lock does not live on it (the inventory's first host).
    lab.run(&["pcompact-rolling", "--nodes", "n2,n3", "--yes"])
        .status(0)
        .stderr_has(
            "holding the lock \"pcompact\" on n2, n3 (skipped, not answering: n1 does not answer)",
        )
        .stderr_has("compacted: 2 node(s)");
}

#[test]
fn a_ve_named_on_the_nodes_that_answer_is_found_while_another_node_is_dead() {
    // vz::find_ve asked every hypervisor and stopped at the dead one: set-replicas of a VE
    // of msk-02 failed (exit 5) while msk-01 was off. By name, the dead node may have one
    // of that name too (names are unique per node only): refused, naming the UUID to give.
    let lab = msk_01_dead();
    let uuid = lab
        .query(r#"for v in prlctl::list(host("msk-02")) { if v.name == "mail01" { print(`uuid ${v.uuid}`); } }"#)
        .status(0)
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("uuid ").map(str::to_string))
        .unwrap();
    refused_untouched(
        &lab,
        3,
        &["set-replicas", "mail01", "3:2"],
        &format!("msk-01 does not answer: whether it has a VE named mail01 too is not known; give the UUID of the one on msk-02 ({uuid})"),
    );
    lab.run(&["set-replicas", &uuid, "3:2"])
        .status(0)
        .stderr_has(&format!("/vstorage/livelinux/private/{uuid}"));
}

#[test]
fn cs_maintenance_off_of_a_node_that_died_in_maintenance_puts_the_offline_timeout_back() {
    // msk-03 stopped answering during its CS maintenance: the cluster keeps its 7 h offline timeout, so
    // the data of any CS that fails is not re-replicated for hours. `cs-maintenance msk-03
    // off` asked msk-03 for its CSs and ended there (exit 5): the timeout stayed.
    let mut lab = Lab::new();
    lab.speed = "0";
    lab.run(&["cs-maintenance", "msk-03", "on", "--yes"])
        .status(0);
    lab.stop_answering("msk-03");
    lab.run(&["cs-maintenance", "msk-03", "off", "--yes"])
        .status(0)
        .stderr_has("msk-03 does not answer")
        .stderr_has("rm-cs --maintenance --revert 1031")
        .stderr_has("set-config mds.wd.offline_tout_mnt=180000");
    let timeout = lab
        .query("print(`t ${vstorage::get_config(host(\"msk-01\"))[\"mds.wd.offline_tout_mnt\"]}`);")
        .status(0);
    assert!(timeout.stdout.contains("t 180000"), "{}", timeout.stdout);
}

#[test]
fn a_first_node_cut_off_from_the_storage_network_does_not_stop_the_storage_runbooks() {
    // msk-01 answers over SSH but lost its storage network (its vstorage reaches no MDS):
    // vz::storage_host chose it, and every storage runbook failed on its `vstorage stat`,
    // often while the operator was there to take that node's storage out.
    let mut lab = Lab::new();
    lab.speed = "0";
    lab.state_value();
    let path = lab.dir.path().join("lab.json");
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for h in state["hosts"].as_array_mut().unwrap() {
        if h["name"] == "msk-01" {
            h["ops"]["storage_lost_at"] = 0.0.into();
        }
    }
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
    lab.run(&["cs-maintenance", "msk-05", "on", "--yes"])
        .status(0)
        .stderr_has("msk-01 does not reach the storage cluster")
        .stderr_has("asking msk-02 about the storage cluster")
        .stderr_has("rm-cs --maintenance 1037");
}

#[test]
fn fill_margin_keeps_the_original_where_the_next_run_finds_it_whichever_node_it_asks() {
    let lab = Lab::new();
    let (line, _) =
        lab.kill_after_log_line(" minutes (was ", &["fill-margin", "1", "--minutes", "30"]);
    assert!(line.contains("(was 5)"), "{line}");
    // msk-01, which the killed run asked and where it kept the original, stops answering.
    lab.stop_answering("msk-01");
    // The next run asks msk-02: the original is still 5, not the 1 the killed run left.
    lab.run(&["fill-margin", "1", "--minutes", "0"])
        .status(0)
        .stderr_has("is 1 for 0.0 minutes (was 5)")
        .stderr_has("undo: restore mds.alloc.fill_margin to 5: done");
}

#[test]
fn fill_margin_still_finds_an_original_an_older_run_kept_on_the_storage_host() {
    // Runs before this one kept it on the storage host's own disk.
    let lab = Lab::new();
    lab.query("let h = host(\"msk-01\");\ndisk::mkdir(h, \"/var/lib/vzrun\");\nfile::write(h, \"/var/lib/vzrun/fill_margin\", \"7\\n\");")
        .status(0);
    lab.run(&["fill-margin", "1", "--minutes", "0"])
        .status(0)
        .stderr_has("(was 7)")
        .stderr_has("undo: restore mds.alloc.fill_margin to 7: done");
    // Taken over by the shared record: a second run finds the true value again.
    lab.run(&["fill-margin", "1", "--minutes", "0"])
        .status(0)
        .stderr_has("(was 7)");
}

#[test]
fn a_node_that_does_not_answer_is_refused_for_maintenance_saying_what_to_do_instead() {
    let lab = Lab::with_scenario(&include_str!("../../src/lab/default.yaml").replacen(
        "{name: msk-04, address: 10.30.17.34, tags:",
        "{name: msk-04, address: 10.30.17.34, unreachable: true, tags:",
        1,
    ));
    let neither = "msk-04 does not answer: it can be neither ";
    for (args, needle) in [
        (&["maintenance", "msk-04", "on", "--yes"][..], neither),
        (&["evacuate", "msk-04", "--yes"], neither),
        (
            &["cs-maintenance", "msk-04", "on", "--yes"],
            "msk-04 does not answer: its chunk servers are not put in maintenance",
        ),
    ] {
        refused_untouched(&lab, 3, args, needle);
    }
    lab.run(&["maintenance", "msk-04", "on", "--yes"])
        .status(3)
        .stderr_has("if it is down for good, take its VEs over elsewhere (vzrun force-register UUID NODE) and remove its chunk servers (vzrun remove-cs ID --force)");
}

#[test]
fn with_no_majority_of_mdss_running_nothing_reaches_the_cluster_and_health_says_so() {
    // msk-01 and msk-02 off: two of the three MDSs, so no master is elected.
    let lab = Lab::with_scenario(
        &include_str!("../../src/lab/default.yaml")
            .replacen(
                "{name: msk-01, address: 10.30.17.31, tags:",
                "{name: msk-01, address: 10.30.17.31, powered_off: true, tags:",
                1,
            )
            .replacen(
                "{name: msk-02, address: 10.30.17.32, tags:",
                "{name: msk-02, address: 10.30.17.32, powered_off: true, tags:",
                1,
            ),
    );
    lab.run(&["cluster-health", "--format", "prometheus"])
        .status(1)
        .stdout_has("vzrun_storage_up{cluster=\"livelinux\"} 0")
        .stderr_has("1 of 3 MDSs run, no majority");
    // A storage runbook fails on its first question, naming why, and changes nothing.
    refused_untouched(
        &lab,
        1,
        &["cs-maintenance", "msk-05", "on", "--yes"],
        "1 of 3 MDSs run, no majority",
    );
}

/// A two-node HA cluster (shaman on): n1 is off, its VE `web` a resource of n1's shaman,
/// which the master relocates by itself (VZ7 Users Guide §8.9).
fn ha_cluster(extra: &str) -> Lab {
    let mut lab = Lab::with_scenario(&format!(
        "cluster: c\nspeed: 0\nha: true\n{extra}hosts:\n  - {{name: n1, address: 10.0.0.1, tags: [hypervisor], powered_off: true}}\n  - {{name: n2, address: 10.0.0.2, tags: [hypervisor]}}\nves:\n  - {{name: web, host: n1, uuid: {HA_VE}}}\n"
    ));
    lab.speed = "0";
    lab
}

const HA_VE: &str = "11111111-2222-4333-8444-555555555555";

#[test]
fn force_register_leaves_a_ve_that_ha_relocates_to_ha() {
    // shaman's master relocates a dead node's VEs itself: registering one by hand as well,
    // while it does, makes two registrations (the second --force revokes the first one's
    // leases while it runs).
    let lab = ha_cluster("");
    refused_untouched(
        &lab,
        3,
        &["force-register", HA_VE, "n2", "--yes"],
        "check \"not managed by HA\" failed: 11111111-2222-4333-8444-555555555555 is a resource of HA (shaman): /vstorage/c/.shaman/md.",
    );
    lab.run(&["force-register", HA_VE, "--help"])
        .status(0)
        .stdout_has("--despite-ha");
    // The operator knows shaman runs nowhere (shaman stat): taken over, and out of HA.
    lab.run(&["force-register", HA_VE, "n2", "--despite-ha", "--yes"])
        .status(0)
        .stderr_has("prlctl register /vstorage/c/private/11111111-2222-4333-8444-555555555555 --preserve-uuid --force")
        .stderr_has("runs on n2");
}

#[test]
fn force_register_takes_over_a_ve_that_ha_gave_up_on() {
    // A resource shaman could not relocate is moved to .shaman/broken and left alone.
    let lab = ha_cluster(&format!("ha_broken: [{HA_VE}]\n"));
    lab.run(&["force-register", HA_VE, "n2", "--yes"])
        .status(0)
        .stderr_has("HA (shaman) gave up on 11111111-2222-4333-8444-555555555555")
        .stderr_has("runs on n2");
}

#[test]
fn the_cluster_mount_of_an_inventory_is_one_spelling_of_the_path() {
    // Runbooks compose paths on it (`${cluster_mount_point()}/private/UUID`). Written with a
    // trailing slash (or a doubled one) in the inventory, force-register looked for
    // "/vstorage/c//private/UUID" in shaman's resource files, which hold the VE's path as
    // "/vstorage/c/private/UUID": found none, and took over a VE that HA relocates itself.
    for written in ["/vstorage/c/", "/vstorage//c", "/vstorage/./c//"] {
        let test = Test::new()
            .file(
                "inv.yaml",
                &format!("cluster: c\ncluster_mount: {written}\nhosts:\n  - {{name: n1, address: 192.0.2.1, tags: [hypervisor]}}\n"),
            )
            .file("m.rhai", "//! Mount.\nlog(`mount=${cluster_mount_point()}|`);\n");
        let inv = test.path("inv.yaml");
        test.arg("--inventory")
            .arg(inv)
            .arg("./m.rhai")
            .run()
            .status(0)
            .stderr_has("mount=/vstorage/c|");
    }
}

#[test]
fn force_register_does_not_take_another_ves_resource_for_its_own() {
    // Containers kept from Virtuozzo 6 keep numeric IDs, and their homes with them:
    // /vstorage/c/private/101 is the beginning of /vstorage/c/private/1010. shaman gave up on
    // 101 (.shaman/broken), and 1010, alive on n2, is a resource of n2's shaman: a search
    // for the text of 101's home found 1010's resource too, and refused 101 as managed by
    // HA, naming the other container's file.
    let mut lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nha: true\nha_broken: [\"101\"]\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], powered_off: true}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\nves:\n  - {name: ct101, host: n1, uuid: \"101\"}\n  - {name: ct1010, host: n2, uuid: \"1010\"}\n",
    );
    lab.speed = "0";
    lab.run(&["force-register", "101", "n2", "--yes"])
        .status(0)
        .stderr_lacks("1010")
        .stderr_has("HA (shaman) gave up on 101")
        .stderr_has("runs on n2");
}

#[test]
fn force_register_despite_ha_says_what_it_overrides() {
    // An override is said where the run is read and journaled, as --force's reason is: the
    // confirmation named only the silent node, not the HA resource taken over regardless.
    let lab = ha_cluster("");
    lab.run(&["force-register", HA_VE, "n2", "--despite-ha", "--yes"])
        .status(0)
        .stderr_has("although HA (shaman) lists it (/vstorage/c/.shaman/md.")
        .stderr_has("--despite-ha");
}

#[test]
fn force_register_stops_when_ha_takes_the_ve_up_while_the_question_is_read() {
    // shaman had given up on the VE (broken); while the operator reads the question, a
    // colleague's `shaman cleanup-broken` hands it back to shaman, whose master starts
    // relocating it: its resource is in a repository again, the VE registered nowhere yet.
    let lab = ha_cluster(&format!("ha_broken: [{HA_VE}]\n"));
    let (_keep, asking) = lab.at_prompt(
        "revoking the old node's access?",
        &["force-register", HA_VE, "n2"],
    );
    let mut state = lab.state_value();
    let files = state["shared_files"].as_object_mut().unwrap();
    let broken: Vec<String> = files
        .keys()
        .filter(|p| p.contains("/.shaman/broken/"))
        .cloned()
        .collect();
    assert_eq!(broken.len(), 1, "{broken:?}");
    let file = files.remove(&broken[0]).unwrap();
    files.insert(
        broken[0].replace(
            "/.shaman/broken/",
            "/.shaman/md.0123456789abcdef/resources/",
        ),
        file,
    );
    std::fs::write(
        lab.dir.path().join("lab.json"),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();
    let (code, text) = asking.answer("yes");
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("check \"not managed by HA\" failed (checked again after the question; nothing was changed): HA (shaman) lists 11111111-2222-4333-8444-555555555555 now"),
        "{text}"
    );
    assert!(!text.contains("prlctl register"), "{text}");
}
