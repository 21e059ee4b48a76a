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

/// Tiers 0 (three storage hosts) and 2 (two), replicas 2:1; web01 on n1.
const STAT_TIERS: &str = "cluster: t\nspeed: 0\nstat_tiers: true\nreplicas: \"2:1\"\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor, storage]}\n  - {name: n3, address: 10.0.0.3, tags: [hypervisor, storage]}\ncss:\n  - {id: 1, host: n1}\n  - {id: 2, host: n2}\n  - {id: 3, host: n3}\n  - {id: 4, host: n1, tier: 2}\n  - {id: 5, host: n2, tier: 2}\nmdss:\n  - {id: 1, host: n1, master: true}\nves:\n  - {name: web01, host: n1, uuid: 31111111-2222-4333-8444-555555555555}\n";

const WEB01_HOME: &str = "/vstorage/t/private/31111111-2222-4333-8444-555555555555";

#[test]
fn set_tier_and_set_replicas_are_not_done_while_a_disk_image_is_elsewhere() {
    let lab = Lab::with_scenario(STAT_TIERS);
    // The home alone moved (set-attr without -R): its image is still on tier 0.
    lab.query(&format!(
        "host(\"n1\").run([\"vstorage\", \"set-attr\", \"{WEB01_HOME}\", \"tier=2\"]);"
    ))
    .status(0);
    lab.run(&["set-tier", "web01", "2"])
        .status(0)
        .stderr_lacks("already has tier 2")
        .stderr_has(&format!("set-attr -R {WEB01_HOME} tier=2"));
    let out = lab.run(&["vm-tiers"]).status(0);
    assert_eq!(
        row(&out.stdout, "web01")[4..],
        ["2", "2:1", "2"],
        "{}",
        out.stdout
    );
    out.stderr_lacks("root.hdd");
    // The same for replicas.
    lab.query(&format!(
        "host(\"n1\").run([\"vstorage\", \"set-attr\", \"{WEB01_HOME}\", \"replicas=1\"]);"
    ))
    .status(0);
    lab.run(&["set-replicas", "web01", "1", "--yes"])
        .status(0)
        .stderr_lacks("already has replicas 1")
        .stderr_has(&format!("set-attr -R {WEB01_HOME} replicas=1"));
    let out = lab.run(&["vm-tiers"]).status(0);
    assert_eq!(
        row(&out.stdout, "web01")[4..],
        ["2", "1", "2"],
        "{}",
        out.stdout
    );
    out.stderr_lacks("root.hdd");
}
