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
    lab.query(MARGIN).status(0).stderr_has("margin 2 kept '5\n'");
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
