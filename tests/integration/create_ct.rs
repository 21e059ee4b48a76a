//! create-ct creates; it never changes a container that exists. Names are unique per node
//! only (each node's dispatcher knows its own VEs), so "exists" is asked of every node.

use crate::catalog::{unchanged, Lab};
use crate::fieldnotes::refused_untouched;

#[test]
fn create_ct_of_an_existing_name_changes_nothing() {
    let lab = Lab::new();
    // web01 runs on msk-01 with 4 CPUs: a typo'd or reused name must not resize it, grow
    // or shrink its disk, or give it another address.
    refused_untouched(
        &lab,
        3,
        &[
            "create-ct",
            "web01",
            "--on",
            "msk-01",
            "--ip",
            "10.30.20.200/24",
            "--yes",
        ],
        "web01 already exists on msk-01 (cpus 4, not 2;",
    );
    // The refusal comes from inside the lock's closure: named as such, not by Rhai's hash.
    lab.run(&["create-ct", "web01", "--on", "msk-01", "--yes"])
        .status(3)
        .stderr_has("in a closure called at runbooks/create-ct.rhai:")
        .stderr_lacks("anon$");
    // Without --on it would have been placed on another node: a second web01.
    refused_untouched(
        &lab,
        3,
        &["create-ct", "web01", "--yes"],
        "web01 already exists on msk-01",
    );
    // Elsewhere than --on, even as asked.
    lab.run(&["create-ct", "web99", "--on", "msk-04", "--yes"])
        .status(0);
    refused_untouched(
        &lab,
        3,
        &["create-ct", "web99", "--on", "msk-05", "--yes"],
        "web99 already exists on msk-04, not on msk-05",
    );
}

#[test]
fn create_ct_run_again_without_on_finds_the_container_it_made() {
    let lab = Lab::new();
    let args = [
        "create-ct",
        "web99",
        "--memsize",
        "65536",
        "--ip",
        "10.30.20.99/24",
        "--yes",
    ];
    let first = lab.run(&args).status(0);
    let on = first
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("web99 runs on "))
        .expect("where it went")
        .to_string();
    // The most free memory is elsewhere now: a second run placed it there again.
    unchanged(lab.run(&args).status(0).stderr_has(&format!(
        "web99 already exists on {on} as asked: nothing to do"
    )));
}

#[test]
fn a_name_two_nodes_carry_is_refused_where_a_ve_is_named() {
    // Two nodes each have a container "twin" (a real cluster allows it): set-tier must not
    // move whichever it meets first.
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor, storage]}\ncss:\n  - {id: 1, host: n1, tier: 2}\n  - {id: 2, host: n2, tier: 2}\nves:\n  - {name: twin, host: n1, uuid: 11111111-2222-4333-8444-555555555551}\n  - {name: twin, host: n2, uuid: 11111111-2222-4333-8444-555555555552}\n",
    );
    refused_untouched(
        &lab,
        2,
        &["set-tier", "twin", "2"],
        "twin names 2 VEs (11111111-2222-4333-8444-555555555551 on n1, 11111111-2222-4333-8444-555555555552 on n2): give the UUID of the one you mean",
    );
}
