//! The lab's disks and chunk-server processes, as a real node shows them (lsblk, blkid,
//! pvs, /proc/swaps, systemctl show, /proc/PID/cmdline, tune2fs -l).

use super::tests::{lab, run};
use super::*;

#[test]
fn disks_in_other_use_show_as_on_a_real_node() {
    let mut s = crate::lab::load(
        "cluster: c\nhosts:\n  - {name: n1, address: 10.0.0.1, disks: [/dev/sdd, {device: /dev/sdc, kind: lvm-pv}, {device: /dev/sde, kind: raid-member}, {device: /dev/sdf, kind: swap}, {device: /dev/sdg, kind: mounted}]}\n",
        "test",
    )
    .unwrap();
    let lsblk = |s: &mut LabState, dev: &str| {
        run(
            s,
            "n1",
            &format!("lsblk -P -p -o NAME,TYPE,FSTYPE,MOUNTPOINT {dev}"),
        )
        .stdout
    };
    assert_eq!(
        lsblk(&mut s, "/dev/sdc"),
        "NAME=\"/dev/sdc\" TYPE=\"disk\" FSTYPE=\"LVM2_member\" MOUNTPOINT=\"\"\nNAME=\"/dev/mapper/vg_sdc-lv_sdc\" TYPE=\"lvm\" FSTYPE=\"xfs\" MOUNTPOINT=\"/srv/sdc\"\n"
    );
    assert!(lsblk(&mut s, "/dev/sde").contains("NAME=\"/dev/md127\" TYPE=\"raid1\""));
    assert!(lsblk(&mut s, "/dev/sdf").contains("FSTYPE=\"swap\" MOUNTPOINT=\"[SWAP]\""));
    assert!(lsblk(&mut s, "/dev/sdg")
        .contains("NAME=\"/dev/sdg1\" TYPE=\"part\" FSTYPE=\"xfs\" MOUNTPOINT=\"/srv/sdg\""));
    assert_eq!(
        lsblk(&mut s, "/dev/sdd"),
        "NAME=\"/dev/sdd\" TYPE=\"disk\" FSTYPE=\"\" MOUNTPOINT=\"\"\n"
    );
    assert!(run(&mut s, "n1", "pvs --noheadings -o pv_name,vg_name")
        .stdout
        .contains("  /dev/sdc   vg_sdc\n"));
    assert!(run(&mut s, "n1", "cat /proc/swaps")
        .stdout
        .contains("\n/dev/sdf "));
    assert!(run(&mut s, "n1", "blkid /dev/sde")
        .stdout
        .contains("TYPE=\"linux_raid_member\""));
    assert_eq!(run(&mut s, "n1", "blkid /dev/sdd").code, 2);
}

#[test]
fn a_cs_process_names_its_repository() {
    let mut s = lab();
    let pid = run(
        &mut s,
        "msk-07",
        "systemctl show -p MainPID -p LoadState vstorage-csd.livelinux.1043.service",
    )
    .stdout;
    assert_eq!(pid, "MainPID=21043\nLoadState=loaded\n");
    assert_eq!(
        run(&mut s, "msk-07", "cat /proc/21043/cmdline").stdout,
        "/usr/bin/csd\0-r\0/vstorage/livelinux-sdb/data\0-u\0vstorage\0"
    );
    run(
        &mut s,
        "msk-07",
        "systemctl stop vstorage-csd.livelinux.1043.service",
    );
    assert!(run(
        &mut s,
        "msk-07",
        "systemctl show -p MainPID vstorage-csd.livelinux.1043.service"
    )
    .stdout
    .contains("MainPID=0"));
    // Unmounted, the file system keeps its directories; mounted again, they are back.
    assert_eq!(
        run(&mut s, "msk-07", "umount /vstorage/livelinux-sdb").code,
        0
    );
    assert_eq!(
        run(&mut s, "msk-07", "rmdir /vstorage/livelinux-sdb").code,
        0
    );
    assert_eq!(
        run(&mut s, "msk-07", "mkdir /vstorage/livelinux-sdb").code,
        0
    );
    assert_eq!(
        run(&mut s, "msk-07", "mount /vstorage/livelinux-sdb").code,
        0
    );
    assert_eq!(
        run(
            &mut s,
            "msk-07",
            "test -d /vstorage/livelinux-sdb/data/control"
        )
        .code,
        0
    );
    assert!(run(&mut s, "msk-07", "tune2fs -l /dev/sdb1")
        .stdout
        .contains("\nReserved block count:     0\n"));
}
