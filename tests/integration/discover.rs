//! `vzrun inventory discover`: the inventory read from the cluster's own tables (on a lab
//! node), loaded back as an inventory.

use std::fs;

use crate::test::{Outcome, Test};

/// Logs every host of the inventory as `name address storage tags`, without connecting.
const SHOW_HOSTS: &str =
    "//! Show the hosts.\nfor h in hosts() { log(`HOST ${h.name} ${h.address} ${h.tags}`); }\n";

/// The lines `HOST name address tags` of the hosts in the inventory written to `inv.yaml`.
fn loaded_hosts(discovered: Outcome) -> Vec<String> {
    let inventory = fs::read_to_string(discovered.path("inv.yaml")).expect("inventory written");
    let shown = Test::new()
        .file("inv.yaml", &inventory)
        .file("show.rhai", SHOW_HOSTS)
        .args(["--inventory", "inv.yaml", "./show.rhai"])
        .run()
        .status(0);
    let mut lines: Vec<String> = shown
        .stderr
        .lines()
        .filter_map(|l| l.find("HOST ").map(|i| l[i..].to_string()))
        .collect();
    lines.sort();
    lines
}

/// A three-node lab; `extra` is added to msk-01's host entry (e.g. its files).
fn scenario(msk02: &str, msk01_extra: &str) -> String {
    format!(
        "cluster: stor1\nhosts:\n  - {{name: msk-01, address: 10.30.17.31, tags: [hypervisor, storage, mds]{msk01_extra}}}\n  - {{name: msk-02, address: 10.30.17.32, tags: [hypervisor, storage]{msk02}}}\n  - {{name: msk-03, address: 10.30.17.33, tags: [hypervisor, storage]}}\nmdss:\n  - {{id: 1, host: msk-01, master: true}}\ncss:\n  - {{id: 1025, host: msk-01, tier: 0, space_gb: 100, free_gb: 50}}\n  - {{id: 1026, host: msk-02, tier: 0, space_gb: 100, free_gb: 50}}\n  - {{id: 1027, host: msk-03, tier: 0, space_gb: 100, free_gb: 50}}\n"
    )
}

#[test]
fn the_built_in_lab_discovers_every_host_with_its_tags() {
    let discovered = Test::new()
        .args(["inventory", "discover", "--lab", "-o", "inv.yaml"])
        .run()
        .status(0)
        .stderr_has("wrote inv.yaml (7 hosts)");
    let hosts = loaded_hosts(discovered);
    let expected: Vec<String> = (1..=7)
        .map(|i| {
            let tags = if i <= 3 {
                "[\"hypervisor\", \"storage\", \"mds\"]"
            } else {
                "[\"hypervisor\", \"storage\"]"
            };
            format!("HOST msk-0{i} 10.30.17.3{i} {tags}")
        })
        .collect();
    assert_eq!(hosts, expected);
}

#[test]
fn a_storage_network_host_resolves_to_the_nodes_name_and_address() {
    let discovered = Test::new()
        .file("lab.yaml", &scenario(", storage_address: 10.40.0.32", ""))
        .args(["inventory", "discover", "--lab=lab.yaml", "-o", "inv.yaml"])
        .run()
        .status(0);
    let text = fs::read_to_string(discovered.path("inv.yaml")).unwrap();
    assert!(
        text.contains(
            "  - name: msk-02\n    address: 10.30.17.32\n    storage_address: 10.40.0.32"
        ),
        "{text}"
    );
    let hosts = loaded_hosts(discovered);
    assert_eq!(
        hosts[1],
        "HOST msk-02 10.30.17.32 [\"hypervisor\", \"storage\"]"
    );
}

#[test]
fn an_unresolvable_host_is_listed_not_dropped() {
    // msk-01's /etc/hosts knows only itself and msk-02: msk-03 has no name there.
    let hosts_file =
        "127.0.0.1 localhost\\n10.30.17.31 msk-01\\n10.30.17.32 msk-02.example.com msk-02\\n";
    let discovered = Test::new()
        .file(
            "lab.yaml",
            &scenario("", &format!(", files: {{/etc/hosts: \"{hosts_file}\"}}")),
        )
        .args(["inventory", "discover", "--lab=lab.yaml", "-o", "inv.yaml"])
        .run()
        .status(0)
        .stderr_has("1 host(s) could not be named on msk-01");
    let text = fs::read_to_string(discovered.path("inv.yaml")).unwrap();
    assert!(
        text.contains("#  - {name: ?, address: 10.30.17.33, tags: [hypervisor, storage]}  # CS#1027 (active), client #"),
        "{text}"
    );
    assert!(
        text.contains("`getent hosts 10.30.17.33` knows no name for it"),
        "{text}"
    );
    assert!(text.contains("aliases: [msk-02.example.com]"), "{text}");
    let hosts = loaded_hosts(discovered);
    assert_eq!(hosts.len(), 2, "{hosts:?}");
}

#[test]
fn an_existing_file_is_never_overwritten() {
    Test::new()
        .file("inv.yaml", "mine\n")
        .args(["inventory", "discover", "--lab", "-o", "inv.yaml"])
        .run()
        .status(2)
        .stderr_has("inv.yaml exists: not overwritten");
    let printed = Test::new()
        .args(["inventory", "discover", "--lab"])
        .run()
        .status(0)
        .stdout_has("cluster: livelinux\n");
    assert!(!printed.exists("vzrun.yaml"));
}

#[test]
fn a_node_of_two_clusters_asks_which() {
    let lab = scenario(
        "",
        ", files: {/etc/vstorage/clusters/backup2/bs.list: \"10.50.0.1\\n\"}",
    );
    Test::new()
        .file("lab.yaml", &lab)
        .args(["inventory", "discover", "--lab=lab.yaml"])
        .run()
        .status(2)
        .stderr_has("belongs to 2 clusters (backup2, stor1): choose one with --cluster NAME");
    Test::new()
        .file("lab.yaml", &lab)
        .args([
            "inventory",
            "discover",
            "--lab=lab.yaml",
            "--cluster",
            "stor1",
        ])
        .run()
        .status(0)
        .stdout_has("cluster: stor1\n");
    Test::new()
        .args(["inventory", "discover", "--lab", "--user", "ops"])
        .run()
        .status(0)
        .stdout_has("defaults: {user: ops}");
    Test::new()
        .args(["inventory", "discover", "--user", "ops"])
        .run()
        .status(2)
        .stderr_has("need --from HOST");
}

#[test]
fn discovery_reads_a_node_over_ssh() {
    let Some(cluster) = crate::sshd::SshCluster::start(2) else {
        return;
    };
    for tool in ["getent", "ls"] {
        std::os::unix::fs::symlink(crate::test::vzrun_bin(), cluster.path("shim").join(tool))
            .unwrap();
    }
    let (first, second) = (&cluster.hosts[0], &cluster.hosts[1]);
    let out = Test::new()
        .args([
            "inventory",
            "discover",
            "--from",
            &first.address,
            "--user",
            "root",
        ])
        .args(["--port", &first.port.to_string()])
        .arg("--identity")
        .arg(cluster.path("id"))
        .arg("--known-hosts")
        .arg(cluster.path("known_hosts"))
        .run()
        .status(0)
        .stdout_has(&format!("discovered on {}.", first.address))
        .stdout_has(&format!(
            "  - name: msk-02\n    address: {}\n    tags: [hypervisor, storage, mds]\n",
            second.address
        ))
        .stdout_has(&format!(
            "defaults: {{user: root, port: {}, identity: ",
            first.port
        ));
    assert!(out.stdout.contains("  - name: msk-07\n"), "{}", out.stdout);
}
