//! Runs killed after their first change, then `vzrun abort`: what the run changed is taken
//! back, or named with the command that takes it back; never "nothing to do" while the
//! cluster is changed.

use crate::catalog::{unchanged, Lab};

/// The offline timeout, the CSs in maintenance and the shared maintenance record.
const CS_MAINTENANCE: &str = "let h = host(\"msk-01\");\nlet n = vstorage::stat(h).cs.filter(|c| c.status == \"maintenance\").len();\nlet path = \"/vstorage/livelinux/.vzrun/cs-maintenance.json\";\nlet record = if file::exists(h, path) { file::read(h, path) } else { \"none\" };\nlog(`timeout ${vstorage::get_config(h)[\"mds.wd.offline_tout_mnt\"]} in maintenance ${n} record ${record}`);";

/// A lab where `args` (a create-ct of web99) was killed while its `prlctl create` ran (5 s
/// at lab speed 1): the container is registered, half made. The lab answers at once after.
/// Returns the lab, the `prlctl create` log line and the run's id.
pub(crate) fn create_cut_short(args: &[&str]) -> (Lab, String, String) {
    let mut lab = Lab::new();
    lab.speed = "1";
    let (line, run_id) = lab.kill_while_running(
        "prlctl create web99",
        args,
        std::time::Duration::from_millis(500),
    );
    lab.speed = "0";
    (lab, line, run_id)
}

#[test]
fn cs_maintenance_on_killed_after_its_first_changes_is_taken_back_by_abort() {
    let lab = Lab::new();
    let (line, run_id) = lab.kill_after_log_line(
        "rm-cs --maintenance",
        &["cs-maintenance", "msk-02", "on", "--yes"],
    );
    assert!(line.starts_with("[msk-02]"), "{line}");
    lab.query(CS_MAINTENANCE)
        .status(0)
        .stderr_has("timeout 25200000");
    // Was: "left no undo action pending: nothing to do", exit 0, with msk-02 in the
    // maintenance record, its CSs in maintenance and the offline timeout at 7 h for good.
    let out = lab.run(&["abort", &run_id]).status(0);
    assert!(!out.stderr.contains("nothing to do"), "{}", out.stderr);
    lab.query(CS_MAINTENANCE)
        .status(0)
        .stderr_has("timeout 180000 in maintenance 0 record {\"nodes\":[]");
    // Taken back once: a second abort has nothing left to run, and says why.
    unchanged(
        lab.run(&["abort", &run_id])
            .status(0)
            .stderr_has("already ran"),
    );
}

#[test]
fn cs_maintenance_on_killed_then_resumed_to_its_end_is_not_taken_back_by_abort() {
    let lab = Lab::new();
    let (_line, run_id) = lab.kill_after_log_line(
        "rm-cs --maintenance",
        &["cs-maintenance", "msk-02", "on", "--yes"],
    );
    lab.run(&["resume", &run_id]).status(0);
    // The resumed run finished the maintenance: an abort of the killed run must not undo it.
    lab.run(&["abort", &run_id]).status(0);
    lab.query(CS_MAINTENANCE)
        .status(0)
        .stderr_has("timeout 25200000 in maintenance 3 record {\"nodes\":[\"msk-02\"]");
}

#[test]
fn evacuate_killed_after_its_cordon_is_uncordoned_by_abort() {
    let lab = Lab::new();
    let (_line, run_id) =
        lab.kill_after_log_line("maintenance/msk-05.json", &["evacuate", "msk-05", "--yes"]);
    // Was: "left no undo action pending: nothing to do", msk-05 cordoned for good.
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_has("nothing was moved off msk-05");
    lab.run(&["maintenance", "msk-05", "status"])
        .status(0)
        .stdout_has("msk-05 is not in maintenance");
}

#[test]
fn maintenance_on_killed_after_its_cordon_is_uncordoned_by_abort() {
    let lab = Lab::new();
    let (_line, run_id) = lab.kill_after_log_line(
        "maintenance/msk-02.json",
        &["maintenance", "msk-02", "on", "--yes"],
    );
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_has("nothing was moved off msk-02");
    lab.run(&["maintenance", "msk-02", "status"])
        .status(0)
        .stdout_has("msk-02 is not in maintenance");
}

#[test]
fn evacuate_killed_after_a_move_says_on_abort_what_stays_changed_and_how_to_take_it_back() {
    let mut lab = Lab::new();
    // Slow enough that the kill lands between the first and the last move.
    lab.speed = "0.1";
    let (_line, run_id) =
        lab.kill_after_log_line("(1/5)", &["evacuate", "msk-05", "--yes", "--parallel", "1"]);
    lab.speed = "0";
    // Was: only "undo: check that the VEs moved off msk-05 that ran still run ...: done",
    // not a word about msk-05 staying cordoned with some of its VEs elsewhere.
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_has("msk-05 stays in maintenance")
        .stderr_has("search01")
        .stderr_has("vzrun maintenance msk-05 off --move-back")
        .stderr_has(&format!("vzrun resume {run_id}"));
    lab.run(&["maintenance", "msk-05", "status"])
        .status(0)
        .stdout_has("msk-05 is in maintenance");
}

#[test]
fn abort_of_a_killed_run_without_undo_names_its_changes_and_the_resume() {
    let lab = Lab::new();
    // `off` registers no undo (taking a node out of maintenance is what it is for).
    lab.run(&["cs-maintenance", "msk-02", "on", "--yes"])
        .status(0);
    // Run ids sort by the second they start in: the killed run must be the newest.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (_line, run_id) = lab.kill_after_log_line(
        "rm-cs --maintenance --revert",
        &["cs-maintenance", "msk-02", "off", "--yes"],
    );
    // Was: "left no undo action pending: nothing to do", exit 0.
    let out = lab
        .run(&["abort", &run_id])
        .status(1)
        .stderr_has("rm-cs --maintenance --revert")
        .stderr_has(&format!("vzrun resume {run_id}"));
    assert!(!out.stderr.contains("nothing to do"), "{}", out.stderr);
}

#[test]
fn remove_cs_killed_during_its_drain_waits_on_resume_without_removing_it_again() {
    let mut lab = Lab::new();
    // The drain takes 3 s: the kill lands inside it, the resume outlives it.
    lab.speed = "0.1";
    let (line, run_id) = lab.kill_while_running(
        "rm-cs --wait 1025",
        &["remove-cs", "1025", "--yes"],
        std::time::Duration::from_millis(500),
    );
    assert!(line.starts_with("[msk-01]"), "{line}");
    // Was: `rm-cs --wait 1025` again on a CS already dropped, which vstorage refuses.
    lab.run(&["resume", &run_id])
        .status(0)
        .stderr_lacks("rm-cs --wait 1025")
        .stderr_has("CS#1025 is removed from livelinux");
    lab.query("log(`left ${vstorage::stat(host(\"msk-02\")).cs.filter(|c| c.id == 1025).len()}`);")
        .status(0)
        .stderr_has("left 0");
}

#[test]
fn create_ct_killed_while_prlctl_create_runs_is_removed_by_abort_and_made_again() {
    // The create takes 5 s: the kill lands while it runs, the container registered.
    let args = [
        "create-ct",
        "web99",
        "--on",
        "msk-04",
        "--ip",
        "10.30.20.99/24",
        "--yes",
    ];
    let (lab, line, run_id) = create_cut_short(&args);
    assert!(line.starts_with("[msk-04]"), "{line}");
    let count =
        "log(`web99 ${prlctl::list(host(\"msk-04\")).filter(|v| v.name == \"web99\").len()}`);";
    lab.query(count).status(0).stderr_has("web99 1");
    // Half made (its create never said it finished): a resume does not configure and start
    // it, and says what removes it.
    unchanged(
        lab.run(&["resume", &run_id])
            .status(3)
            .stderr_has(&format!("vzrun abort {run_id}")),
    );
    // Was: "left no undo action pending: nothing to do", web99 left registered half made.
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_has("web99")
        .stderr_has("is removed");
    lab.query(count).status(0).stderr_has("web99 0");
    // Taken back: the run can go again, and makes it whole.
    lab.run(&["resume", &run_id])
        .status(0)
        .stderr_has("web99 runs on msk-04");
}

#[test]
fn pfcache_move_killed_after_its_mv_is_put_back_by_abort() {
    let lab = Lab::new();
    let args = ["pfcache-move", "/vz/pfcache2.hdd", "--nodes", "msk-01"];
    let (line, run_id) = lab.kill_after_log_line("mv /vz/pfcache.hdd /vz/pfcache2.hdd", &args);
    assert!(line.starts_with("[msk-01]"), "{line}");
    // Was: "registered ... as a closure, which cannot run after a crash: do it by hand",
    // exit 1, with pfcached stopped and the image unmounted (and moved) on msk-01.
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_has("undo: put the pfcache of msk-01 back in /vz/pfcache.hdd");
    let state = lab.state_value();
    assert_eq!(
        crate::fieldnotes::pfcache(&state, "msk-01"),
        ("/vz/pfcache.hdd/DiskDescriptor.xml".into(), true)
    );
    let vz = crate::fieldnotes::file(&state, "msk-01", "/etc/vz/vz.conf").unwrap();
    assert!(!vz.contains("pfcache2"), "{vz}");
    // Put back whole: the move can run again.
    lab.run(&args).status(0);
    assert_eq!(
        crate::fieldnotes::pfcache(&lab.state_value(), "msk-01"),
        ("/vz/pfcache2.hdd/DiskDescriptor.xml".into(), true)
    );
}

#[test]
fn add_cs_killed_while_make_cs_runs_is_finished_by_resume() {
    let mut lab = Lab::new();
    // make-cs takes 2 s: the kill lands while it runs, the CS registered, nothing recorded.
    lab.speed = "1";
    let args = ["add-cs", "msk-06", "/dev/sdd", "--tier", "2", "--yes"];
    let (line, run_id) =
        lab.kill_while_running("make-cs", &args, std::time::Duration::from_millis(500));
    assert!(line.starts_with("[msk-06]"), "{line}");
    lab.speed = "0";
    // Was: exit 1, "make-cs: ... already holds a chunk server repository": the resumed run
    // made the CS again in the directory where the killed run had made it.
    lab.run(&["resume", &run_id])
        .status(0)
        .stderr_lacks("vstorage -c livelinux make-cs")
        .stderr_has("CS#1046 serves /vstorage/livelinux-sdd/data on msk-06");
    unchanged(
        lab.run(&args)
            .status(0)
            .stderr_has("already serves CS#1046"),
    );
}

#[test]
fn move_back_killed_after_a_move_is_finished_by_resume_knowing_what_is_back() {
    let mut lab = Lab::new();
    lab.run(&["evacuate", "msk-05", "--yes"]).status(0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    lab.speed = "0.1";
    let (_line, run_id) = lab.kill_after_log_line(
        "(1/5)",
        &[
            "maintenance",
            "msk-05",
            "off",
            "--move-back",
            "--yes",
            "--parallel",
            "1",
        ],
    );
    lab.speed = "0";
    // Was: "search01 is no longer on msk-03, where evacuate put it; left where it is" for
    // the VE the killed run had moved back already.
    lab.run(&["resume", &run_id])
        .status(0)
        .stderr_lacks("no longer on")
        .stderr_has("already back on msk-05");
    lab.query("log(`record ${file::exists(host(\"msk-01\"), \"/vstorage/livelinux/.vzrun/evacuations/msk-05.json\")} ves ${prlctl::list(host(\"msk-05\")).len()}`);")
        .status(0)
        .stderr_has("record false ves 5");
}

/// Every host of the default lab answers (`true`) or not.
fn all_answer(lab: &Lab, answer: bool) {
    let mut state = lab.state_value();
    for h in state["hosts"].as_array_mut().unwrap() {
        h["unreachable"] = (!answer).into();
    }
    std::fs::write(
        lab.dir.path().join("lab.json"),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();
}

#[test]
fn an_undo_that_failed_at_the_end_of_its_run_is_run_again_by_abort() {
    let lab = Lab::new();
    let (_test, mut child, _line) =
        lab.spawn_until("is 2 for", &["fill-margin", "2", "--minutes", "0.05"]);
    // The storage nodes stop answering while the margin is lowered: its restore fails.
    all_answer(&lab, false);
    let status = child.wait().unwrap();
    let run_id = crate::test::run_ids(&lab.dir.path().join("state"))
        .pop()
        .unwrap();
    // The cluster is left changed: the run does not end ok.
    assert_ne!(
        status.code(),
        Some(0),
        "the run ended ok with its undo failed"
    );
    all_answer(&lab, true);
    // Was: "finished ok and left no undo action pending: nothing to do", the margin left
    // at 2 for good.
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_has("undo: restore mds.alloc.fill_margin to 5: done");
    lab.query(
        "log(`margin ${vstorage::get_config(host(\"msk-01\"))[\"mds.alloc.fill_margin\"]}`);",
    )
    .status(0)
    .stderr_has("margin 5");
}

#[test]
fn an_abort_that_failed_is_neither_resumed_nor_aborted_but_run_again() {
    let lab = Lab::new();
    let (_line, run_id) = lab.kill_after_log_line(
        "set-config mds.alloc.fill_margin=2",
        &["fill-margin", "2", "--minutes", "30"],
    );
    all_answer(&lab, false);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    lab.run(&["abort", &run_id]).status(1);
    let abort_id = crate::test::run_ids(&lab.dir.path().join("state"))
        .pop()
        .unwrap();
    assert_ne!(abort_id, run_id);
    all_answer(&lab, true);
    // Was: the resume ran fill-margin's top level with the abort's arguments.
    for command in ["resume", "abort"] {
        unchanged(
            lab.run(&[command, &abort_id])
                .status(2)
                .stderr_has(&format!("vzrun abort {run_id}")),
        );
    }
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_has("undo: restore mds.alloc.fill_margin to 5: done");
}

#[test]
fn a_resume_of_a_killed_resume_that_finishes_settles_the_first_run_too() {
    let lab = Lab::new();
    let (_line, first) = lab.kill_after_log_line(
        "rm-cs --maintenance",
        &["cs-maintenance", "msk-02", "on", "--yes"],
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (_line, second) = lab.kill_after_log_line("rm-cs --maintenance", &["resume", &first]);
    assert_ne!(first, second);
    lab.run(&["resume", &second]).status(0);
    // The maintenance was finished by the chain of resumes: an abort of the first run
    // must not take it back. Was: its undo action still pending, run by this abort.
    lab.run(&["abort", &first]).status(0);
    lab.query(CS_MAINTENANCE)
        .status(0)
        .stderr_has("timeout 25200000 in maintenance 3 record {\"nodes\":[\"msk-02\"]");
}

#[test]
fn abort_of_a_cut_short_drain_whose_node_was_uncordoned_since_says_so() {
    let mut lab = Lab::new();
    lab.speed = "0.1";
    let (_line, run_id) =
        lab.kill_after_log_line("(1/5)", &["evacuate", "msk-05", "--yes", "--parallel", "1"]);
    lab.speed = "0";
    lab.run(&["maintenance", "msk-05", "off"]).status(0);
    // Was: "msk-05 stays in maintenance: ...", of a node out of maintenance.
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_lacks("stays in maintenance")
        .stderr_has("msk-05 is not in maintenance")
        .stderr_has("vzrun unevacuate msk-05");
}

#[test]
fn add_cs_killed_after_it_prepared_the_drive_is_finished_by_resume() {
    let lab = Lab::new();
    let args = ["add-cs", "msk-06", "/dev/sdd", "--tier", "2", "--yes"];
    let (_line, run_id) = lab.kill_after_log_line("mkdir -p /vstorage/livelinux-sdd", &args);
    // Was: exit 3, "/dev/sdd on msk-06 is in use: /dev/sdd1 holds an ext4 file system ...
    // choose an empty drive": the file system the killed run had made on it.
    lab.run(&["resume", &run_id])
        .status(0)
        .stderr_lacks("prepare_vstorage_drive")
        .stderr_has("CS#1046 serves /vstorage/livelinux-sdd/data on msk-06");
}

#[test]
fn pfcache_move_killed_before_its_mount_is_finished_by_resume() {
    let args = ["pfcache-move", "/vz/pfcache2.hdd", "--nodes", "msk-01"];
    for needle in [
        "edit /etc/vz/vz.conf",
        "ploop mount -m /vz/pfcache /vz/pfcache2.hdd",
    ] {
        let lab = Lab::new();
        let (_line, run_id) = lab.kill_after_log_line(needle, &args);
        // Was: "msk-01: pfcache already in /vz/pfcache2.hdd", exit 0, the image unmounted
        // and pfcached stopped (vz.conf already named the new place); or, vz.conf not yet
        // changed, exit 3: "no pfcache image at /vz/pfcache.hdd".
        lab.run(&["resume", &run_id]).status(0);
        assert_eq!(
            crate::fieldnotes::pfcache(&lab.state_value(), "msk-01"),
            ("/vz/pfcache2.hdd/DiskDescriptor.xml".into(), true),
            "killed at {needle}"
        );
    }
}

/// Where search01 is and its state.
const SEARCH01: &str = "for n in [\"msk-03\", \"msk-05\"] { for v in prlctl::list(host(n)).filter(|v| v.name == \"search01\") { log(`search01 ${v.status} on ${n}`); } }";

#[test]
fn a_move_back_cut_short_after_it_stopped_a_ve_starts_it_again_on_resume_and_abort() {
    for command in ["resume", "abort"] {
        let lab = Lab::new();
        lab.run(&["evacuate", "msk-05", "--yes"]).status(0);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let (_line, run_id) = lab.kill_after_log_line(
            "[msk-03] prlctl migrate",
            &[
                "unevacuate",
                "msk-05",
                "--yes",
                "--mode",
                "offline",
                "--parallel",
                "1",
            ],
        );
        // Was: search01, running before, left stopped (it moved back in the state it had
        // then: the one the killed run put it in).
        lab.run(&[command, &run_id]).status(0);
        lab.query(SEARCH01)
            .status(0)
            .stderr_has("search01 running on");
    }
}

#[test]
fn fill_margin_killed_before_it_lowered_the_margin_is_aborted_cleanly() {
    let lab = Lab::new();
    let (_line, run_id) = lab.kill_after_log_line(
        "mkdir -p /vstorage/livelinux/.vzrun",
        &["fill-margin", "2", "--minutes", "30"],
    );
    // Was: exit 1, "registered no undo action for the 1 change(s) it made": its undo was
    // registered only after it kept the original on the cluster file system.
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_has("undo: restore mds.alloc.fill_margin to 5: done");
}

#[test]
fn abort_of_a_create_cut_short_long_ago_keeps_the_container_a_later_run_made() {
    let args = [
        "create-ct",
        "web99",
        "--on",
        "msk-04",
        "--ip",
        "10.30.20.99/24",
        "--yes",
    ];
    let (lab, _line, run_id) = create_cut_short(&args);
    // The operator removes the half-made container by hand and makes it again with a new
    // run, which configures and starts it; later it is stopped (for a while).
    lab.query("host(\"msk-04\").run([\"prlctl\", \"delete\", \"web99\"]);")
        .status(0);
    lab.run(&args).status(0).stderr_has("web99 runs on msk-04");
    lab.query("host(\"msk-04\").run([\"prlctl\", \"stop\", \"web99\"]);")
        .status(0);
    // `vzrun runs` still lists the killed run with an undo pending: the operator aborts it.
    // Was: the container the later run made (configured, with its address) was deleted.
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_has("not removed");
    lab.query(
        "log(`web99 ${prlctl::list(host(\"msk-04\")).filter(|v| v.name == \"web99\").len()}`);",
    )
    .status(0)
    .stderr_has("web99 1");
}

#[test]
fn abort_of_a_drain_cut_short_long_ago_keeps_the_cordon_a_later_run_made() {
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], memory_mb: 65536}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor], memory_mb: 65536}\nves:\n  - {name: v1, host: n1, memsize: 1024, status: stopped}\n",
    );
    let (_line, run_id) =
        lab.kill_after_log_line("maintenance/n1.json", &["evacuate", "n1", "--yes"]);
    // The operator takes n1 out by hand and moves its VE elsewhere; days later a colleague
    // puts the empty n1 in maintenance for a disk swap (a run that finished).
    lab.run(&["maintenance", "n1", "off", "--yes"]).status(0);
    lab.query("host(\"n1\").run([\"prlctl\", \"migrate\", \"v1\", \"n2\"]);")
        .status(0);
    lab.run(&["maintenance", "n1", "on", "--reason", "disk swap", "--yes"])
        .status(0);
    lab.run(&["maintenance", "n1", "status"])
        .status(0)
        .stdout_has("disk swap");
    // `vzrun runs` still lists the killed evacuate with an undo pending: it is aborted.
    // Was: "nothing was moved off n1: it is out of maintenance again", the colleague's
    // cordon gone, and placements targeting n1 during the disk swap.
    lab.run(&["abort", &run_id]).status(0);
    lab.run(&["maintenance", "n1", "status"])
        .status(0)
        .stdout_has("disk swap");
}

#[test]
fn abort_of_a_cs_maintenance_cut_short_long_ago_keeps_the_maintenance_a_later_run_began() {
    let lab = Lab::new();
    let (_line, run_id) = lab.kill_after_log_line(
        "rm-cs --maintenance",
        &["cs-maintenance", "msk-02", "on", "--yes"],
    );
    // The operator takes it back by hand; days later msk-02 goes into maintenance again
    // for a disk swap (a run that finished).
    lab.run(&["cs-maintenance", "msk-02", "off", "--yes"])
        .status(0);
    lab.run(&["cs-maintenance", "msk-02", "on", "--yes"])
        .status(0);
    lab.query(CS_MAINTENANCE)
        .status(0)
        .stderr_has("timeout 25200000 in maintenance 3 record {\"nodes\":[\"msk-02\"]");
    // `vzrun runs` still lists the killed run with an undo pending: it is aborted.
    // Was: msk-02's CSs out of maintenance and the offline timeout back at 3 min while
    // its disks are being swapped.
    lab.run(&["abort", &run_id]).status(0);
    lab.query(CS_MAINTENANCE)
        .status(0)
        .stderr_has("timeout 25200000 in maintenance 3 record {\"nodes\":[\"msk-02\"]");
}

#[test]
fn abort_of_a_pfcache_move_finished_by_a_second_run_leaves_the_move_in_place() {
    let lab = Lab::new();
    let args = ["pfcache-move", "/vz/pfcache2.hdd", "--nodes", "msk-01"];
    let (_line, run_id) = lab.kill_after_log_line("edit /etc/vz/vz.conf", &args);
    // The header's way: a second run finishes the move.
    lab.run(&args)
        .status(0)
        .stderr_has("the pfcache move to /vz/pfcache2.hdd a run cut short is finished");
    // `vzrun runs` still lists the killed run with its undo ("... unless its move
    // finished") pending: it is aborted. Was: pfcached stopped, the image unmounted and moved
    // back, vz.conf put back: the finished move undone.
    lab.run(&["abort", &run_id]).status(0);
    let state = lab.state_value();
    assert_eq!(
        crate::fieldnotes::pfcache(&state, "msk-01"),
        ("/vz/pfcache2.hdd/DiskDescriptor.xml".into(), true)
    );
    let vz = crate::fieldnotes::file(&state, "msk-01", "/etc/vz/vz.conf").unwrap();
    assert!(vz.contains("pfcache2"), "{vz}");
}

#[test]
fn cancel_defer_drops_in_the_journal_the_same_undo_it_drops_in_the_run() {
    let lab = Lab::new();
    // Two undo actions of one name (one per item, say), the last one dropped: the first is
    // the one left pending, for the end of the run and for `vzrun abort` alike.
    let path = lab.dir.path().join("two.rhai");
    std::fs::write(
        &path,
        "//! Two undos of one name.\nfn put_back(n) { log(`putting back ${n}`); }\ndefer(\"put it back\", \"put_back\", [1]);\ndefer(\"put it back\", \"put_back\", [2]);\ncancel_defer(\"put it back\");\nlog(\"waiting\");\nsleep(600);\n",
    )
    .unwrap();
    let (_line, run_id) = lab.kill_after_log_line("waiting", &[path.to_str().unwrap()]);
    // Was: "putting back 2", the action cancel_defer had dropped, and 1 never run.
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_has("putting back 1")
        .stderr_lacks("putting back 2");
}

#[test]
fn abort_removes_a_container_whose_create_was_cut_short_leaving_its_config_damaged() {
    let args = ["create-ct", "web99", "--on", "msk-04", "--yes"];
    let (lab, _line, run_id) = create_cut_short(&args);
    // A create cut short may leave the configuration half written: prlctl list -i of it
    // fails ("configuration file is damaged").
    let mut state = lab.state_value();
    for ve in state["ves"].as_array_mut().unwrap() {
        if ve["name"] == "web99" {
            ve["broken_config"] = true.into();
        }
    }
    std::fs::write(
        lab.dir.path().join("lab.json"),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_has("is removed");
    lab.query(
        "log(`web99 ${prlctl::list(host(\"msk-04\")).filter(|v| v.name == \"web99\").len()}`);",
    )
    .status(0)
    .stderr_has("web99 0");
}

#[test]
fn abort_of_a_killed_resume_takes_back_what_the_run_it_resumed_left_pending() {
    let mut lab = Lab::new();
    lab.speed = "0.1";
    let (_line, first) =
        lab.kill_after_log_line("(1/5)", &["evacuate", "msk-05", "--yes", "--parallel", "1"]);
    // Resumed, and killed again after one more move: the cordon's undo is the first run's.
    let (_line, second) = lab.kill_after_log_line("(1/4)", &["resume", &first]);
    lab.speed = "0";
    // Was: only the second run's "check that the VEs ... still run: done", exit 0, not a
    // word about msk-05 staying cordoned with two of its VEs elsewhere (that undo pending
    // in the first run's journal).
    lab.run(&["abort", &second])
        .status(0)
        .stderr_has("msk-05 stays in maintenance")
        .stderr_has("vzrun maintenance msk-05 off --move-back");
    // Done: neither run is left with an undo pending.
    unchanged(
        lab.run(&["abort", &first])
            .status(0)
            .stderr_has("already ran"),
    );
}
