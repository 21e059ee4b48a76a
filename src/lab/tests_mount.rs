//! A cluster mounted elsewhere than /vstorage/CLUSTER (scenario `mount_point`): every
//! answer about paths under the mount follows it.

use super::tests::run;
use super::*;

fn mounted_at(mount: &str) -> LabState {
    load(
        &format!("mount_point: {mount}\n{DEFAULT_SCENARIO}"),
        "mounted elsewhere",
    )
    .expect("the scenario loads")
}

#[test]
fn every_path_under_the_mount_follows_the_scenario() {
    let mut s = mounted_at("/pcs/");
    assert_eq!(s.mount_root(), "/pcs", "one spelling, no trailing slash");
    let h = "msk-01";
    let fstab = &s.host(h).unwrap().files["/etc/fstab"].content;
    assert!(
        fstab.contains("vstorage://livelinux /pcs fuse.vstorage"),
        "{fstab}"
    );
    assert!(!fstab.contains("/vstorage/livelinux "), "{fstab}");
    let mounts = basics::generated_file(&s, h, "/proc/mounts").unwrap();
    assert!(
        mounts.contains("vstorage://livelinux /pcs fuse.vstorage"),
        "{mounts}"
    );
    assert!(s.cluster_mounted(h));
    assert!(s
        .ves
        .iter()
        .all(|v| v.home.starts_with("/pcs/") || v.home.starts_with("/vz/")));
    let attrs = run(&mut s, h, "vstorage get-attr /pcs/private");
    assert_eq!(attrs.code, 0, "{}", attrs.stderr);
    assert!(
        attrs
            .stdout
            .contains("Path: 'vstorage://livelinux/private/'"),
        "{}",
        attrs.stdout
    );
    let elsewhere = run(&mut s, h, "vstorage get-attr /vstorage/livelinux/private");
    assert_ne!(
        elsewhere.code, 0,
        "/vstorage/livelinux is no cluster path here"
    );
    assert_eq!(run(&mut s, h, "test -d /pcs/private").code, 0);
    assert_eq!(
        run(&mut s, h, "test -d /vstorage/livelinux/private").code,
        1
    );
}

#[test]
fn a_mount_point_must_be_one_absolute_fstab_field() {
    for bad in ["pcs", "/", "/my pcs", "/a/../b"] {
        let yaml = format!("mount_point: \"{bad}\"\n{DEFAULT_SCENARIO}");
        assert!(load(&yaml, "bad").is_err(), "{bad:?} accepted");
    }
}
