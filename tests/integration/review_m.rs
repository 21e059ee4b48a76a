//! Storage runbooks against what the real tools leave behind: the MDS bootstrap list
//! (`bs.list`) that `rm-mds` does not touch; (more below).

use crate::catalog::{unchanged, Lab};

/// Four MDSs on n1..n4 (n1 the master), n5 a client. Cluster discovery is manual: each
/// node's bs.list names the MDSs (the lab writes every MDS's ADDR:2510, one a line); n2's
/// was written by hand with ports and a comment, n3's names only MDS#4.
const BOOTSTRAP: &str = "cluster: b\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor, storage], files: {/etc/vstorage/clusters/b/bs.list: \"# MDSs of b\\n10.0.0.1:2510\\n10.0.0.4:2510\\n\"}}\n  - {name: n3, address: 10.0.0.3, tags: [hypervisor, storage], files: {/etc/vstorage/clusters/b/bs.list: \"10.0.0.4:2510\\n\"}}\n  - {name: n4, address: 10.0.0.4, tags: [hypervisor, storage]}\n  - {name: n5, address: 10.0.0.5, tags: [hypervisor]}\nmdss:\n  - {id: 1, host: n1, master: true}\n  - {id: 2, host: n2}\n  - {id: 3, host: n3}\n  - {id: 4, host: n4}\n";

const BS_LIST: &str = "/etc/vstorage/clusters/b/bs.list";

/// Each node's bs.list as one log line `NODE=[line|line|]`, or `NODE=none`.
fn bootstrap_lists(lab: &Lab) -> String {
    let out = lab
        .query(&format!(
            "for h in hosts() {{\n  if file::exists(h, \"{BS_LIST}\") {{ let t = file::read(h, \"{BS_LIST}\"); t.replace(\"\\n\", \"|\"); log(`${{h.name}}=[${{t}}]`); }} else {{ log(`${{h.name}}=none`); }}\n}}"
        ))
        .status(0);
    out.stderr
        .lines()
        .filter(|l| l.contains("=[") || l.ends_with("=none"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn remove_mds_takes_its_address_out_of_every_nodes_bootstrap_list() {
    // `vstorage rm-mds` removes the MDS from the cluster; the nodes' bs.list, written by
    // hand where discovery is manual, kept its address. A node restarted later bootstraps
    // from a dead address (or, once it is reused, from whatever listens there now).
    let lab = Lab::with_scenario(BOOTSTRAP);
    // n5 was never given one (discovery by DNS there): it must not get one.
    lab.query(&format!("host(\"n5\").run([\"rm\", \"{BS_LIST}\"]);"))
        .status(0);
    let before = bootstrap_lists(&lab);
    assert!(
        before.contains("n1=[10.0.0.1:2510|10.0.0.2:2510|10.0.0.3:2510|10.0.0.4:2510|]"),
        "{before}"
    );
    assert!(before.contains("n5=none"), "{before}");
    // The plan names the edits and makes none.
    lab.run(&["plan", "remove-mds", "4"])
        .status(0)
        .stderr_has(BS_LIST);
    assert_eq!(before, bootstrap_lists(&lab), "the plan changed a bs.list");
    lab.run(&["remove-mds", "4", "--yes"]).status(0);
    let after = bootstrap_lists(&lab);
    assert!(
        after.contains("n1=[10.0.0.1:2510|10.0.0.2:2510|10.0.0.3:2510|]"),
        "{after}"
    );
    assert!(
        after.contains("n4=[10.0.0.1:2510|10.0.0.2:2510|10.0.0.3:2510|]"),
        "{after}"
    );
    // Every other byte of a hand-written file stays as it was.
    assert!(after.contains("n2=[# MDSs of b|10.0.0.1:2510|]"), "{after}");
    // A file that named only the removed MDS is not left empty: the MDSs that remain.
    assert!(
        after.contains("n3=[10.0.0.1|10.0.0.2|10.0.0.3|]"),
        "{after}"
    );
    assert!(after.contains("n5=none"), "{after}");
    // A second run finds nothing to do.
    unchanged(
        lab.run(&["remove-mds", "4", "--yes"])
            .status(0)
            .stderr_has("nothing to do"),
    );
}

/// A newer (VHI-era) stat header, whose license line says how much is used: 1 TB licensed,
/// n1's CS holds 950 GB of its 1000 GB.
const NEAR_CAPACITY: &str = "cluster: l\nspeed: 0\nvariant: vhi\nlicense: {key: VZSTOR.74418710.0000, capacity_tb: 1}\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\ncss:\n  - {id: 1, host: n1, space_gb: 1000, free_gb: 50}\nmdss:\n  - {id: 1, host: n1, master: true}\n";

#[test]
fn license_warns_when_the_used_space_nears_the_licensed_capacity() {
    // `License: ACTIVE (expiration: ..., capacity: 1TB, used: 950GB)`: the run showed the
    // figures and warned only of the expiration; the license's capacity is what the used
    // space counts against (`vinfra cluster license show`: capacity, used_size, free_size).
    let lab = Lab::with_scenario(NEAR_CAPACITY);
    lab.run(&["license"])
        .status(0)
        .stderr_has("warning: the license's capacity is 93% used (950GB of 1TB)");
    // Under the operator's threshold: no warning.
    lab.run(&["license", "--warn-pct", "95"])
        .status(0)
        .stderr_lacks("% used");
    crate::fieldnotes::refused_untouched(&lab, 2, &["license", "--warn-pct", "0"], "warn-pct");
    crate::fieldnotes::refused_untouched(&lab, 2, &["license", "--warn-pct", "101"], "warn-pct");
    // The VZ7-era line has no used figure: said, not guessed.
    Lab::new()
        .run(&["license"])
        .status(0)
        .stderr_has("the license line does not say how much of its capacity is used");
}
