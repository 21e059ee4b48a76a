//! Host runbooks against traps of a real node: a CS disk that is not ext4.

use crate::catalog::{unchanged, Lab};

#[test]
fn cs_reserved_blocks_reports_and_fixes_around_an_xfs_cs_disk() {
    // An older CS disk made by hand as xfs: xfs has no blocks reserved for root, and
    // tune2fs cannot read it (`Bad magic number in super-block`). That one disk stopped the
    // whole report (and the fix of every ext4 disk) with exit 1.
    let lab = Lab::with_scenario("cluster: r\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [storage]}\ncss:\n  - {id: 1, host: n1, fstype: xfs}\n  - {id: 2, host: n1, reserved_pct: 5}\n");
    unchanged(
        lab.run(&["cs-reserved-blocks"])
            .status(0)
            .stdout_has("not ext4 (xfs): no reserved blocks"),
    );
    lab.run(&["cs-reserved-blocks", "--fix"])
        .status(0)
        .stderr_has("tune2fs -m 0 /dev/sdc1")
        .stderr_lacks("tune2fs -m 0 /dev/sdb1");
    unchanged(lab.run(&["cs-reserved-blocks", "--fix"]).status(0));
}
