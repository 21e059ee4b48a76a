//! Storage tiers as the data has them: the disk images in a VE's home keep the tier they
//! were created with ("File attributes are inherited from directory attributes on
//! creation", pstorage-set-attr(1)), whatever the home says since.

use crate::catalog::Lab;

const TIERS: &str = "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor, storage]}\nves:\n  - {name: ct1, host: n1, uuid: 11111111-2222-4333-8444-555555555555}\n  - {name: vm1, host: n2, kind: VM, uuid: 21111111-2222-4333-8444-555555555555}\n";

const CT1_HOME: &str = "/vstorage/c/private/11111111-2222-4333-8444-555555555555";

/// The cells of a VE's row in `vm-tiers`' table.
fn row(stdout: &str, name: &str) -> Vec<String> {
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} is listed: {stdout}"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn vm_tiers_reads_the_tier_of_each_disk_image_not_only_of_the_home() {
    let lab = Lab::with_scenario(TIERS);
    // An operator's `vstorage set-attr HOME tier=2` without -R: the home directory moves,
    // its root.hdd (the data) stays on tier 0.
    lab.query(&format!(
        "host(\"n1\").run([\"vstorage\", \"set-attr\", \"{CT1_HOME}\", \"tier=2\"]);"
    ))
    .status(0);
    let out = lab.run(&["vm-tiers"]).status(0);
    let ct1 = row(&out.stdout, "ct1");
    // The existing columns stay (name hostname node status tier replicas); the home's tier
    // is 2, its image's 0.
    assert_eq!(
        ct1[..6],
        ["ct1", "ct1.livelinux.local", "n1", "running", "2", "3:2"]
    );
    assert_eq!(ct1.get(6).map(String::as_str), Some("0"), "{}", out.stdout);
    let vm1 = row(&out.stdout, "vm1");
    assert_eq!(vm1[4..], ["0", "3:2", "0"], "{}", out.stdout);
    // The image whose data is elsewhere is named, with its tier.
    out.stderr_has(&format!("{CT1_HOME}/root.hdd"))
        .stderr_has("tier 0")
        .stderr_lacks("harddisk.hdd");
    // A home whose replicas changed without -R: its image kept the old norm.
    lab.query(&format!(
        "host(\"n1\").run([\"vstorage\", \"set-attr\", \"-R\", \"{CT1_HOME}\", \"tier=2\"]);\nhost(\"n1\").run([\"vstorage\", \"set-attr\", \"{CT1_HOME}\", \"replicas=2:1\"]);"
    ))
    .status(0);
    let out = lab.run(&["vm-tiers"]).status(0);
    let ct1 = row(&out.stdout, "ct1");
    assert_eq!(ct1[4..], ["2", "2:1", "2"], "{}", out.stdout);
    out.stderr_has(&format!("{CT1_HOME}/root.hdd"))
        .stderr_has("replicas 3:2");
    // Moved with -R: nothing to say.
    lab.query(&format!(
        "host(\"n1\").run([\"vstorage\", \"set-attr\", \"-R\", \"{CT1_HOME}\", \"replicas=2:1\"]);"
    ))
    .status(0);
    lab.run(&["vm-tiers"])
        .status(0)
        .stderr_lacks("root.hdd")
        .stdout_has("ct1 ");
}
