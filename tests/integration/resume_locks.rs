//! kill -9, `resume` and `abort` of the runbooks whose changes run inside closures under
//! locks (the storage lock, cluster_lock_on): what a killed run already did must be
//! finished or undone, never left half done.

use crate::catalog::{unchanged, Lab};

/// A query of the fill margin and of the original fill-margin keeps on the cluster file system.
const MARGIN: &str = "let h = host(\"msk-01\");\nlog(`margin ${vstorage::get_config(h)[\"mds.alloc.fill_margin\"]} kept '${file::read(h, \"/vstorage/livelinux/.vzrun/fill-margin\")}'`);";

#[test]
fn fill_margin_killed_while_its_set_config_runs_is_restored_by_abort() {
    // Slow enough that the kill lands while the MDS commits the lowered margin: the change
    // is made (a remote command outlives a killed vzrun), the run is gone.
    let mut lab = Lab::new();
    lab.speed = "2";
    let (_test, mut child, line) = lab.spawn_until(
        "set-config mds.alloc.fill_margin=2",
        &["fill-margin", "2", "--minutes", "30"],
    );
    assert!(line.contains("[msk-01]"), "{line}");
    // Well inside the 2 s the command takes, after it reached the MDS.
    std::thread::sleep(std::time::Duration::from_millis(700));
    child.kill().unwrap();
    child.wait().unwrap();
    let run_id = crate::test::run_ids(&lab.dir.path().join("state"))
        .pop()
        .unwrap();
    // Let the set-config the killed run started finish.
    std::thread::sleep(std::time::Duration::from_secs(3));
    lab.query(MARGIN)
        .status(0)
        .stderr_has("margin 2 kept '5\n'");
    // Was: "no undo action pending", exit 0, the margin left at 2 for good.
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_has("undo: restore mds.alloc.fill_margin to 5: done");
    lab.query(MARGIN).status(0).stderr_has("margin 5 kept ''");
    unchanged(
        lab.run(&["abort", &run_id])
            .status(0)
            .stderr_has("no undo action pending"),
    );
}

#[test]
fn create_ct_killed_after_its_create_is_finished_by_resume() {
    let lab = Lab::new();
    let args = [
        "create-ct",
        "web99",
        "--on",
        "msk-04",
        "--ip",
        "10.30.20.99/24",
        "--yes",
    ];
    let (line, run_id) = lab.kill_after_log_line("prlctl set web99 --cpus", &args);
    assert!(line.starts_with("[msk-04]"), "{line}");
    // Was: exit 3, "web99 already exists on msk-04 (...): create-ct does not change an
    // existing VE": the resumed run refused the container its own first part had made.
    lab.run(&["resume", &run_id])
        .status(0)
        .stderr_has("web99 runs on msk-04");
    lab.query("let h = host(\"msk-04\");\nlet v = prlctl::list(h).filter(|v| v.name == \"web99\")[0];\nlet i = prlctl::info(h, v.uuid);\nlog(`web99 ${v.status} cpus ${i.cpus} memsize ${i.memsize} disk ${i.disk} ips ${v.ips}`);")
        .status(0)
        .stderr_has("web99 running cpus 2 memsize 2048 disk 20480 ips [\"10.30.20.99\"]");
    // A second, separate run of the same arguments still changes nothing.
    unchanged(
        lab.run(&args)
            .status(0)
            .stderr_has("web99 already exists on msk-04 as asked: nothing to do"),
    );
}

#[test]
fn maintenance_of_a_storage_node_killed_after_its_cordon_is_finished_by_resume() {
    let lab = Lab::new();
    let (_line, run_id) = lab.kill_after_log_line(
        "maintenance/msk-02.json",
        &["maintenance", "msk-02", "on", "--yes"],
    );
    // Its own cordon is no other node in maintenance: the storage check passes again.
    lab.run(&["resume", &run_id])
        .status(0)
        .stderr_has("msk-02 is evacuated");
    lab.run(&["maintenance", "msk-02", "off", "--move-back", "--yes"])
        .status(0)
        .stderr_has("msk-02 is out of maintenance");
}

#[test]
fn remove_cs_of_a_dead_node_killed_during_its_drain_waits_for_it_on_resume() {
    // A drain that does not end: what the resumed run waits for is plain.
    let mut lab = Lab::with_scenario(
        &include_str!("../../src/lab/default.yaml")
            .replacen(
                "{name: msk-01, address: 10.30.17.31, tags:",
                "{name: msk-01, address: 10.30.17.31, powered_off: true, tags:",
                1,
            )
            .replacen(
                "{id: 1025, host: msk-01,",
                "{id: 1025, never_drains: true, host: msk-01,",
                1,
            ),
    );
    lab.speed = "0.1";
    let args = [
        "remove-cs",
        "1025",
        "--yes",
        "--force",
        "--drain-timeout",
        "30",
    ];
    let (_test, mut child, line) = lab.spawn_until("rm-cs --wait 1025", &args);
    assert!(line.starts_with("[msk-02]"), "{line}");
    // Inside the drain, its first change journaled.
    std::thread::sleep(std::time::Duration::from_secs(1));
    child.kill().unwrap();
    child.wait().unwrap();
    let run_id = crate::test::run_ids(&lab.dir.path().join("state"))
        .pop()
        .unwrap();
    // Was: exit 0 at once, "CS#1025 is out of the cluster", while it was still dropped with
    // its data to re-replicate: the wait the killed run was doing was never done.
    let out = lab
        .run(&["resume", &run_id])
        .status(5)
        .stderr_has("holding the lock \"storage\"")
        .stderr_has("CS#1025 is leaving livelinux")
        // Awaited in `stat`, not removed again: vstorage refuses a second rm-cs of a CS
        // already being removed (the killed run's `rm-cs --wait` was the one).
        .stderr_has("CS#1025 is already being removed: waiting up to 30s")
        .stderr_lacks("rm-cs --wait 1025")
        .stderr_has("did not finish within 30s");
    assert!(!out.stderr.contains("out of the cluster"), "{}", out.stderr);
}

#[test]
fn cs_maintenance_on_resumed_after_its_node_died_says_what_the_killed_run_did() {
    let mut lab = Lab::new();
    lab.speed = "1";
    let (_test, mut child, _line) = lab.spawn_until(
        "set-config mds.wd.offline_tout_mnt=25200000",
        &["cs-maintenance", "msk-02", "on", "--yes"],
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    let run_id = crate::test::run_ids(&lab.dir.path().join("state"))
        .pop()
        .unwrap();
    // msk-02 dies before the run is resumed.
    lab.stop_answering("msk-02");
    lab.speed = "0";
    // Was: "...; nothing was changed; run again when it answers": the killed run had
    // recorded msk-02 in maintenance and raised the cluster's offline timeout for 7 h.
    let out = lab
        .run(&["resume", &run_id])
        .status(3)
        .stderr_has("vzrun cs-maintenance msk-02 off");
    assert!(
        !out.stderr.contains("nothing was changed"),
        "{}",
        out.stderr
    );
}
