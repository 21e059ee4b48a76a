//! unmount-cluster: refused while VEs run on the node, and the node locked before it looks;
//! refused on an HA node.

use crate::catalog::{unchanged, Lab};

#[test]
fn unmount_cluster_refuses_while_ves_run() {
    let lab = Lab::new();
    unchanged(
        lab.run(&["unmount-cluster", "msk-07", "--yes"])
            .status(3)
            .stderr_has("still run on msk-07"),
    );
    lab.run(&["evacuate", "msk-07", "--yes"]).status(0);
    lab.run(&["unmount-cluster", "msk-07", "--yes"])
        .status(0)
        .stderr_has("umount /vstorage/livelinux");
    unchanged(lab.run(&["unmount-cluster", "msk-07", "--yes"]).status(0));
}

#[test]
fn unmount_cluster_locks_the_node_before_it_looks_at_its_ves() {
    // Another run holds msk-07 (it could be starting or moving a VE onto it). Looking first
    // and locking at the unmount, the VE check answered for a node that could change under
    // it; now the lock comes first, so the held lock is what the run meets (exit 4).
    let lab = Lab::new();
    let holder =
        "//! Hold msk-07.\nlock_host(host(\"msk-07\"));\nlog(\"holding msk-07\");\nsleep(60);\n";
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("hold.rhai");
    std::fs::write(&path, holder).unwrap();
    let (test, mut child, _) = lab.spawn_until("holding msk-07", &[path.to_str().unwrap()]);
    let out = lab.run(&["unmount-cluster", "msk-07", "--yes"]);
    child.kill().unwrap();
    child.wait().unwrap();
    drop(test);
    unchanged(out.status(4).stderr_has("msk-07"));
}

/// The lab state but its virtual clock.
fn state_but_clock(lab: &Lab) -> serde_json::Value {
    let mut state = lab.state_value();
    if let Some(o) = state.as_object_mut() {
        o.remove("clock");
    }
    state
}

/// SMALL with HA on (shaman-monitor running on every node that mounts the cluster).
fn ha_small() -> Lab {
    Lab::with_scenario(&crate::catalog::SMALL.replacen(
        "cluster: small\n",
        "cluster: small\nha: true\n",
        1,
    ))
}

#[test]
fn unmount_cluster_refuses_a_node_whose_shaman_would_fence_it() {
    // On an HA cluster, shaman-monitor keeps its node's lease on the cluster file system; a
    // node that loses the cluster is fenced by its watchdog (WATCHDOG_ACTION, reboot by
    // default: Parallels KB 119207). The node is empty, the unmount would go through, and the
    // node would reboot under the operator: refused, nothing changed, the node still up.
    let lab = ha_small();
    let before = state_but_clock(&lab);
    unchanged(
        lab.run(&["unmount-cluster", "n1", "--yes"])
            .status(3)
            .stderr_has("shaman")
            .stderr_has("n1"),
    );
    assert!(
        state_but_clock(&lab) == before,
        "a refused unmount changed the lab"
    );
    lab.query("log(`${host(\"n1\").query([\"true\"]).code}`)")
        .status(0);
}
