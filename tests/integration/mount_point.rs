//! A cluster mounted elsewhere than /vstorage/CLUSTER (`mount_point: /pcs`): the docs'
//! path is an example, fstab or `vstorage-mount -c CLUSTER PATH` names any directory.
//! The run is not told (no inventory `cluster_mount`): runbooks must follow the nodes.

use crate::catalog::{unchanged, Lab};

/// The fields of `name`'s row in a table on stdout.
fn row<'a>(stdout: &'a str, name: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
        .unwrap_or_else(|| panic!("no row for {name} in:\n{stdout}"))
}

#[test]
fn vm_tiers_reads_the_tier_of_homes_under_the_mount() {
    // Default: web01 (msk-01, tier 1); its home /pcs/private/UUID is on the cluster.
    let out = Lab::mounted_at("/pcs").run(&["vm-tiers"]).status(0);
    let web01 = row(&out.stdout, "web01");
    assert_eq!(
        web01[4], "1",
        "web01's home is on tier 1, not local: {web01:?}"
    );
}

#[test]
fn maintenance_records_the_cordon_on_the_cluster_mounted_elsewhere() {
    let lab = Lab::mounted_at("/pcs");
    lab.run(&["maintenance", "msk-03", "on", "--yes"])
        .status(0)
        .stderr_has("/pcs/.vzrun/maintenance/msk-03.json");
    lab.run(&["maintenance", "msk-03", "status"])
        .status(0)
        .stdout_has("msk-03 is in maintenance");
    lab.run(&["maintenance", "msk-03", "off", "--yes"])
        .status(0)
        .stderr_has("rm -f /pcs/.vzrun/maintenance/msk-03.json");
}

#[test]
fn set_tier_homes_names_the_homes_under_the_mount() {
    Lab::mounted_at("/pcs")
        .run(&["plan", "set-tier", "homes", "2"])
        .status(0)
        .stdout_has("vstorage set-attr -R /pcs/private tier=2")
        .stdout_has("vstorage set-attr -R /pcs/vmprivate tier=2");
}

#[test]
fn unmount_cluster_unmounts_the_mount_point_the_node_has() {
    let lab = Lab::mounted_at("/pcs");
    lab.run(&["evacuate", "msk-07", "--yes"]).status(0);
    lab.run(&["unmount-cluster", "msk-07", "--yes"])
        .status(0)
        .stderr_has("umount /pcs");
}

#[test]
fn a_client_cache_inside_the_cluster_mounted_elsewhere_is_bad_input() {
    unchanged(
        Lab::mounted_at("/pcs")
            .run(&["client-cache", "/pcs/cache", "2048", "--yes"])
            .status(2)
            .stderr_has("inside the cluster"),
    );
}

#[test]
fn a_pfcache_image_on_the_cluster_mounted_elsewhere_is_bad_input() {
    // Refused as input (exit 2, before anything is probed), as under /vstorage/.
    unchanged(
        Lab::mounted_at("/pcs")
            .run(&[
                "pfcache-move",
                "/pcs/pfcache.hdd",
                "--nodes",
                "msk-01",
                "--yes",
            ])
            .status(2)
            .stderr_has("local file system"),
    );
}

/// Two empty nodes of cluster `c`, mounted at /pcs.
fn two_empty_nodes() -> Lab {
    Lab::with_scenario(
        "cluster: c\nspeed: 0\nmount_point: /pcs\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\n",
    )
}

/// A runbook that logs what `cluster_mount_point()` says.
const MOUNT_SCRIPT: &str = "//! Mount.\nlog(`mount=${cluster_mount_point()}|`);\n";

/// What `cluster_mount_point()` says in a run on `lab`.
fn mount_seen(lab: &Lab) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("m.rhai");
    std::fs::write(&path, MOUNT_SCRIPT).unwrap();
    let out = lab.run(&[path.to_str().unwrap()]).status(0);
    let line = out.stderr.lines().find(|l| l.contains("mount=")).unwrap();
    line[line.find("mount=").unwrap() + 6..line.find('|').unwrap()].to_string()
}

#[test]
fn the_mount_point_is_asked_of_a_node_that_has_the_cluster_mounted() {
    let lab = two_empty_nodes();
    assert_eq!(mount_seen(&lab), "/pcs");
    // n1, asked first, has it no more: n2 says where.
    lab.run(&["unmount-cluster", "n1", "--yes"])
        .status(0)
        .stderr_has("umount /pcs");
    lab.run(&["unmount-cluster", "n2", "--yes"])
        .status(0)
        .stderr_has("umount /pcs");
    // Mounted nowhere now: where fstab mounts it at boot.
    assert_eq!(mount_seen(&lab), "/pcs");
}

#[test]
fn force_register_finds_the_home_under_the_mount_and_its_ha_resource() {
    // shaman's repositories are on the cluster file system too: the VE is a resource of
    // the dead node's shaman, found under /pcs/.shaman.
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nha: true\nmount_point: /pcs\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], powered_off: true}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\nves:\n  - {name: web, host: n1, uuid: 11111111-2222-4333-8444-555555555555}\n",
    );
    unchanged(
        lab.run(&[
            "force-register",
            "11111111-2222-4333-8444-555555555555",
            "n2",
            "--yes",
        ])
        .status(3)
        .stderr_has("is a resource of HA (shaman): /pcs/.shaman/md."),
    );
    lab.run(&[
        "force-register",
        "11111111-2222-4333-8444-555555555555",
        "n2",
        "--despite-ha",
        "--yes",
    ])
    .status(0)
    .stderr_has("prlctl register /pcs/private/11111111-2222-4333-8444-555555555555");
}

#[test]
fn a_capture_of_a_cluster_mounted_elsewhere_keeps_its_mount_point() {
    // A capture is a rehearsal of the real cluster: one mounted at /pcs must not become a
    // lab at /vstorage/CLUSTER (its captured fstab saying /pcs, its /proc/mounts not).
    let lab = Lab::mounted_at("/pcs");
    let path = lab.dir.path().join("captured.yaml");
    lab.test(&["lab", "capture", "-o", path.to_str().unwrap()])
        .run()
        .status(0);
    let yaml = std::fs::read_to_string(&path).unwrap();
    assert!(yaml.contains("mount_point: /pcs"), "{yaml}");
    Lab::with_scenario(&yaml)
        .run(&["plan", "set-tier", "homes", "2"])
        .status(0)
        .stdout_has("vstorage set-attr -R /pcs/private tier=2");
}

#[test]
fn read_cache_reads_the_cache_info_under_the_mount() {
    // The cache is set in fstab, in use from the next mount: .vstorage.info under /pcs
    // then says so (read at /vstorage/livelinux it would say none).
    let lab = Lab::mounted_at("/pcs");
    lab.run(&[
        "client-cache",
        "/mnt/ssd/vstorage-cache",
        "2048",
        "--nodes",
        "msk-07",
        "--yes",
    ])
    .status(0)
    .stderr_has("vstorage://livelinux /pcs fuse.vstorage _netdev,cache=/mnt/ssd/vstorage-cache,cachesize=2048");
    lab.run(&["evacuate", "msk-07", "--yes"]).status(0);
    lab.run(&["unmount-cluster", "msk-07", "--yes"]).status(0);
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("mount.rhai");
    std::fs::write(
        &path,
        "//! Mount.\ndisk::mount(host(\"msk-07\"), cluster_mount_point());\n",
    )
    .unwrap();
    lab.run(&[path.to_str().unwrap(), "--yes"])
        .status(0)
        .stderr_has("mount /pcs");
    let out = lab.run(&["read-cache"]).status(0);
    let msk07 = row(&out.stdout, "msk-07");
    assert_eq!(msk07[1], "/mnt/ssd/vstorage-cache", "{msk07:?}");
}

#[test]
fn a_dead_first_node_does_not_hide_where_the_cluster_is_mounted() {
    // msk-01, asked first, is powered off: the next node that answers says /pcs.
    let lab = Lab::with_scenario(&format!(
        "mount_point: /pcs\n{}",
        include_str!("../../src/lab/default.yaml").replacen(
            "{name: msk-01, address: 10.30.17.31, tags:",
            "{name: msk-01, address: 10.30.17.31, powered_off: true, tags:",
            1,
        )
    ));
    assert_eq!(mount_seen(&lab), "/pcs");
    lab.run(&["plan", "set-tier", "homes", "2"])
        .status(0)
        .stdout_has("vstorage set-attr -R /pcs/private tier=2");
}

#[test]
fn nodes_that_never_greet_ahead_of_one_that_answers_cost_one_connect_timeout_not_one_each() {
    // Over SSH the nodes were asked one after the other: three hung nodes (the kernel takes
    // the connection, sshd never greets) in front of the first live one cost three whole
    // connect timeouts before `cluster_mount_point()` said anything, and a runbook's
    // `within(...)` could pass meanwhile. Asked together, the wait is one timeout.
    let Some(cluster) = crate::sshd::SshCluster::start(4) else {
        return;
    };
    let inventory = cluster.path("inventory.yaml");
    let yaml = std::fs::read_to_string(&inventory).unwrap();
    std::fs::write(
        &inventory,
        yaml.replace("connect_timeout: 5", "connect_timeout: 3"),
    )
    .unwrap();
    for host in ["msk-01", "msk-02", "msk-03"] {
        cluster.hang_sshd(host);
    }
    let started = std::time::Instant::now();
    mount_run_over(&inventory).status(0).stderr_has("mount=/");
    let took = started.elapsed();
    // One after the other: at least 3 x 3 s. Together: one timeout (3 s) and a handshake.
    assert!(
        took < std::time::Duration::from_secs(7),
        "cluster_mount_point() took {took:?}"
    );
    assert_eq!(cluster.connections("msk-04"), 1, "msk-04 was asked");
}

/// Two hosts over real sshd whose /proc/mounts shows cluster `livelinux` mounted at /pcs (a
/// `cat` ahead of the real one on the sessions' PATH adds the line a mounted node has), with
/// an inventory that says `cluster_mount: {said}` (when given).
fn mounted_at_pcs_over_ssh(
    said: Option<&str>,
) -> Option<(crate::sshd::SshCluster, std::path::PathBuf)> {
    let cluster = crate::sshd::SshCluster::start(2)?;
    let cat = cluster.path("shim/cat");
    std::fs::write(
        &cat,
        "#!/bin/sh\nif [ \"$1\" = -- ] && [ \"$2\" = /proc/mounts ]; then\n  /bin/cat /proc/mounts && echo 'vstorage://livelinux /pcs fuse.vstorage rw,nosuid,nodev,relatime,user_id=0,group_id=0,allow_other 0 0'\nelse\n  exec /bin/cat \"$@\"\nfi\n",
    )
    .unwrap();
    std::fs::set_permissions(&cat, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let inventory = cluster.path("inventory.yaml");
    let yaml = std::fs::read_to_string(&inventory).unwrap();
    let said = said.map_or(String::new(), |said| format!("cluster_mount: {said}\n"));
    std::fs::write(&inventory, format!("{said}{yaml}")).unwrap();
    Some((cluster, inventory))
}

#[test]
fn an_inventory_cluster_mount_the_nodes_contradict_is_refused_naming_both_paths_and_the_node() {
    // The inventory says /vstorage/livelinux, the nodes have it at /pcs: every path built
    // on it is wrong (a VE home "not on the cluster", a cordon written beside the cluster,
    // a client cache put on the cluster). It was believed without a word.
    let Some((_cluster, inventory)) = mounted_at_pcs_over_ssh(Some("/vstorage/livelinux")) else {
        return;
    };
    mount_run_over(&inventory)
        .status(2)
        .stderr_has("/vstorage/livelinux")
        .stderr_has("msk-01 has vstorage://livelinux mounted at /pcs")
        .stderr_lacks("mount=");
}

/// A run over `inventory` that logs what `cluster_mount_point()` says (`mount=PATH|`).
fn mount_run_over(inventory: &std::path::Path) -> crate::test::Outcome {
    crate::test::Test::new()
        .file("m.rhai", MOUNT_SCRIPT)
        .arg("--inventory")
        .arg(inventory)
        .arg("./m.rhai")
        .run()
}

/// What `cluster_mount_point()` says in a run over `inventory`.
fn mount_seen_over(inventory: &std::path::Path) -> String {
    let out = mount_run_over(inventory).status(0);
    let line = out.stderr.lines().find(|l| l.contains("mount=")).unwrap();
    line[line.find("mount=").unwrap() + 6..line.find('|').unwrap()].to_string()
}

#[test]
fn an_inventory_cluster_mount_the_nodes_agree_with_is_used_in_any_spelling() {
    let Some((_cluster, inventory)) = mounted_at_pcs_over_ssh(Some("/pcs/")) else {
        return;
    };
    assert_eq!(mount_seen_over(&inventory), "/pcs");
}

#[test]
fn over_ssh_a_node_that_never_greets_first_does_not_hide_the_mount_point() {
    let Some((cluster, inventory)) = mounted_at_pcs_over_ssh(None) else {
        return;
    };
    cluster.hang_sshd("msk-01");
    assert_eq!(mount_seen_over(&inventory), "/pcs");
}
