//! Node maintenance (cordon), evacuation and placement on the lab, as an operator on call
//! needs them to behave: every reproduction of issue #23 is a test here.

use crate::catalog::{unchanged, Lab};
use crate::test::Outcome;

/// The lab state's bytes: a refused run must leave them as they were.
fn snapshot(lab: &Lab) -> Vec<u8> {
    std::fs::read(lab.dir.path().join("lab.json")).expect("the lab state exists")
}

/// A refusal (or bad input) that changed nothing: no change echoed, state bytes equal.
fn refused_unchanged(lab: &Lab, args: &[&str], code: i32, needle: &str) -> Outcome {
    let before = snapshot(lab);
    let out = unchanged(lab.run(args).status(code).stderr_has(needle));
    assert!(
        snapshot(lab) == before,
        "the lab state changed:\n{}",
        out.stderr
    );
    out
}

/// How many VEs a host has registered, and their names.
fn ves_on(lab: &Lab, node: &str) -> Vec<String> {
    let out = lab
        .query(&format!(
            "for v in prlctl::list(host(\"{node}\")) {{ print(`ve ${{v.name}} ${{v.status}}`); }}"
        ))
        .status(0);
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ve "))
        .map(str::to_string)
        .collect()
}

/// The `to` column of a plan table, for each VE row (the table ends where the plan's
/// listing of what would change begins, or at the first VE placed nowhere).
fn plan_targets(out: &Outcome) -> Vec<(String, String)> {
    let mut lines = out.stdout.lines();
    let header = lines.find(|l| l.starts_with("ve ")).expect("a plan table");
    let to_at = header.find(" to ").expect("a to column") + 1;
    lines
        .take_while(|l| !l.trim().is_empty() && !l.contains('?') && !l.starts_with("would "))
        .map(|l| {
            let name = l.split_whitespace().next().unwrap().to_string();
            let to = l[to_at..].split_whitespace().next().unwrap().to_string();
            (name, to)
        })
        .collect()
}

#[test]
fn a_cordoned_node_is_never_a_placement_target() {
    let lab = Lab::new();
    lab.run(&["evacuate", "msk-07", "--yes"]).status(0);
    let plan = lab.run(&["plan", "evacuate", "msk-06"]).status(0);
    let targets = plan_targets(&plan);
    assert_eq!(targets.len(), 5, "{}", plan.stdout);
    assert!(targets.iter().all(|(_, to)| to != "msk-07"), "{targets:?}");
    plan.stderr_has("msk-07 is in maintenance (evacuate): not a placement target");
    // A plan lists its changes on stdout: none of them goes to msk-07.
    let create = lab
        .run(&["plan", "create-ct", "web99"])
        .status(0)
        .stdout_has("would run on ");
    assert!(!create.stdout.contains(" on msk-07: "), "{}", create.stdout);
    lab.run(&["evacuate", "msk-06", "--yes"]).status(0);
    assert!(ves_on(&lab, "msk-07").is_empty());
    assert!(ves_on(&lab, "msk-06").is_empty());
}

#[test]
fn a_node_without_the_cluster_file_system_is_never_a_target() {
    let lab = Lab::new();
    lab.run(&["evacuate", "msk-05", "--yes"]).status(0);
    lab.run(&["unmount-cluster", "msk-05", "--yes"]).status(0);
    // Out of maintenance, but still without /vstorage/livelinux: not a target either.
    lab.run(&["maintenance", "msk-05", "off"]).status(0);
    lab.run(&["evacuate", "msk-04", "--yes"])
        .status(0)
        .stderr_has(
            "msk-05 has no /vstorage/livelinux mounted (fuse.vstorage): not a placement target",
        );
    assert!(ves_on(&lab, "msk-05").is_empty());
    assert!(ves_on(&lab, "msk-04").is_empty());
}

#[test]
fn the_cluster_file_system_is_shared_by_the_hosts_that_mount_it() {
    let lab = Lab::new();
    lab.query("disk::mkdir(host(\"msk-01\"), \"/vstorage/livelinux/notes\");\nfile::write(host(\"msk-01\"), \"/vstorage/livelinux/notes/a.txt\", \"hello\\n\");")
        .status(0);
    lab.query("print(file::read(host(\"msk-06\"), \"/vstorage/livelinux/notes/a.txt\"));")
        .status(0)
        .stdout_has("hello");
    lab.run(&["evacuate", "msk-03", "--yes"]).status(0);
    lab.run(&["unmount-cluster", "msk-03", "--yes"]).status(0);
    lab.query(
        "print(`seen: ${file::exists(host(\"msk-03\"), \"/vstorage/livelinux/notes/a.txt\")}`);",
    )
    .status(0)
    .stdout_has("seen: false");
    // Without the mount, the directory under it does not exist: nothing can be written there.
    lab.query("file::write(host(\"msk-03\"), \"/vstorage/livelinux/notes/b.txt\", \"x\\n\");")
        .status(1)
        .stderr_has("No such file or directory");
}

#[test]
fn maintenance_on_status_and_off_with_move_back() {
    let lab = Lab::new();
    lab.run(&["maintenance", "msk-07", "status"])
        .status(0)
        .stdout_has("no node is in maintenance");
    lab.run(&[
        "maintenance",
        "msk-07",
        "on",
        "--reason",
        "kernel update",
        "--yes",
    ])
    .status(0)
    .stderr_has("msk-07 is evacuated: 5 VEs moved");
    let status = lab.run(&["maintenance", "msk-01", "status"]).status(0);
    status
        .stdout_has("msk-07")
        .stdout_has("kernel update")
        .stdout_has("(maintenance) by ")
        .stdout_has("msk-01 is not in maintenance");
    // The record is on the cluster file system: any node reads it.
    lab.query("print(file::read(host(\"msk-02\"), \"/vstorage/livelinux/.vzrun/maintenance/msk-07.json\"));")
        .status(0)
        .stdout_has("\"why\":\"kernel update\"");
    lab.run(&["maintenance", "msk-07", "off", "--move-back", "--yes"])
        .status(0)
        .stderr_has("msk-07 is out of maintenance; 5 VEs moved back");
    lab.run(&["maintenance", "msk-07", "status"])
        .status(0)
        .stdout_has("no node is in maintenance");
    assert_eq!(ves_on(&lab, "msk-07").len(), 5);
}

#[test]
fn maintenance_bad_input_and_refusals_change_nothing() {
    let lab = Lab::new();
    lab.run(&["maintenance", "msk-07", "status"]).status(0);
    refused_unchanged(&lab, &["maintenance", "msk-07", "up"], 2, "invalid action");
    refused_unchanged(
        &lab,
        &["maintenance", "msk-07", "on", "--mode", "fast", "--yes"],
        2,
        "invalid mode",
    );
    refused_unchanged(
        &lab,
        &["maintenance", "msk-07", "on", "--move-back", "--yes"],
        2,
        "only with off",
    );
    refused_unchanged(&lab, &["maintenance", "msk-07", "on"], 3, "pass --yes");
    refused_unchanged(
        &lab,
        &["evacuate", "msk-07", "--to", "msk-07", "--yes"],
        2,
        "is the node being evacuated",
    );
}

#[test]
fn evacuate_refuses_to_crowd_and_a_refusal_changes_nothing() {
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], memory_mb: 65536}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor], memory_mb: 16384}\nves:\n  - {name: big, host: n1, memsize: 32768}\n",
    );
    lab.run(&["maintenance", "n1", "status"]).status(0);
    refused_unchanged(
        &lab,
        &["evacuate", "n1", "--yes"],
        3,
        "big (running, 32768 MB, 2 vCPUs): n2 has 8192 MB free",
    );
}

const TWO_TARGETS: &str = "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], cpus: 32, memory_mb: 131072}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor], cpus: 8, memory_mb: 65536}\n  - {name: n3, address: 10.0.0.3, tags: [hypervisor], cpus: 32, memory_mb: 65536}\n";

#[test]
fn placement_spreads_and_honours_cpu_networks_and_ha_priority() {
    let lab = Lab::with_scenario(&format!(
        "{TWO_TARGETS}ves:\n  - {{name: s1, host: n1, status: stopped, memsize: 4096}}\n  - {{name: s2, host: n1, status: stopped, memsize: 4096}}\n  - {{name: s3, host: n1, status: stopped, memsize: 4096}}\n  - {{name: s4, host: n1, status: stopped, memsize: 4096}}\n  - {{name: wide, host: n1, cpus: 16, memsize: 1024}}\n  - {{name: vip, host: n1, memsize: 1024, ha_prio: 5}}\n"
    ));
    let plan = lab.run(&["plan", "evacuate", "n1"]).status(0);
    let targets = plan_targets(&plan);
    // HA priority first.
    assert_eq!(targets[0].0, "vip", "{}", plan.stdout);
    let to = |name: &str| targets.iter().find(|(n, _)| n == name).unwrap().1.clone();
    // 16 vCPUs do not go to a host with 8 CPUs.
    assert_eq!(to("wide"), "n3");
    // Stopped VEs spread rather than pile onto one node.
    let on_n2 = ["s1", "s2", "s3", "s4"]
        .iter()
        .filter(|n| to(n) == "n2")
        .count();
    assert_eq!(on_n2, 2, "{targets:?}");
    plan.stdout_has("how").stdout_has("offline (stays stopped)");
}

#[test]
fn a_ve_goes_only_where_its_network_exists() {
    let lab = Lab::with_scenario(&format!(
        "{TWO_TARGETS}ves:\n  - {{name: app, kind: VM, host: n1, memsize: 1024, network: Backend}}\n"
    ));
    lab.run(&["maintenance", "n1", "status"]).status(0);
    refused_unchanged(
        &lab,
        &["evacuate", "n1", "--yes"],
        3,
        "n2 lacks network [\"Backend\"]",
    );
    lab.query("prlsrvctl::net_add(host(\"n3\"), \"Backend\");")
        .status(0);
    lab.run(&["evacuate", "n1", "--yes"]).status(0);
    assert_eq!(ves_on(&lab, "n3"), ["app running"]);
}

#[test]
fn an_unreachable_target_is_skipped_with_a_warning() {
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor], unreachable: true}\n  - {name: n3, address: 10.0.0.3, tags: [hypervisor]}\nves:\n  - {name: a, host: n1}\n  - {name: b, host: n1}\n",
    );
    lab.run(&["evacuate", "n1", "--yes"])
        .status(0)
        .stderr_has("warning: n2 does not answer")
        .stderr_has("n1 is evacuated: 2 VEs moved");
    assert_eq!(ves_on(&lab, "n3").len(), 2);
}

#[test]
fn modes_live_offline_and_auto() {
    let yaml = "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\nves:\n  - {name: sockets, host: n1, live_migration_fails: true}\n  - {name: calm, host: n1}\n  - {name: idle, host: n1, status: stopped}\n";
    // live: the VE whose live migration fails stays, and the run says so.
    let live = Lab::with_scenario(yaml);
    live.run(&["evacuate", "n1", "--mode", "live", "--yes"])
        .status(1)
        .stderr_has("Connected TCP socket in SYN_SENT state")
        .stderr_has("n1 is not empty: [\"sockets (running)\"] still registered there");
    // auto: live, then stop → migrate → start for that one.
    let auto = Lab::with_scenario(yaml);
    let plan = auto.run(&["plan", "evacuate", "n1"]).status(0);
    plan.stdout_has("live, else stop-migrate-start");
    auto.run(&["evacuate", "n1", "--yes"])
        .status(0)
        .stderr_has("live migration of sockets failed; moving it offline")
        .stderr_has("[n1] prlctl stop sockets")
        .stderr_has("[n2] prlctl start sockets");
    assert_eq!(ves_on(&auto, "n2").len(), 3);
    // offline: the operators' recipe for every running VE, and a stopped one stays stopped.
    let offline = Lab::with_scenario(yaml);
    offline
        .run(&["plan", "evacuate", "n1", "--mode", "offline"])
        .status(0)
        .stdout_has("offline: stop, migrate, start");
    let out = offline
        .run(&["evacuate", "n1", "--mode", "offline", "--yes"])
        .status(0);
    let calm: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with('[') && l.contains(" calm"))
        .collect();
    assert_eq!(
        calm,
        [
            "[n1] prlctl stop calm",
            "[n1] prlctl migrate calm 10.0.0.2",
            "[n2] prlctl start calm"
        ]
    );
    let mut on_n2 = ves_on(&offline, "n2");
    on_n2.sort();
    assert_eq!(on_n2, ["calm running", "idle stopped", "sockets running"]);
}

#[test]
fn live_migration_needs_room_and_refuses_a_ve_already_there() {
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor], memory_mb: 8192}\nves:\n  - {name: big, host: n1, memsize: 16384}\n  - {name: twin, host: n1, status: stopped, uuid: 11111111-2222-4333-8444-555555555555}\n  - {name: twin-seen-on-n2, host: n2, status: stopped, uuid: 11111111-2222-4333-8444-555555555555}\n",
    );
    lab.query("prlctl::migrate(host(\"n1\"), \"big\", host(\"n2\"));")
        .status(1)
        .stderr_has("Not enough memory on the destination server");
    lab.query("prlctl::migrate(host(\"n1\"), \"twin\", host(\"n2\"));")
        .status(1)
        .stderr_has("is already registered on the destination server");
}

#[test]
fn a_ve_stuck_stopping_is_named_and_the_drain_fails_unless_empty() {
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0.001\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\nves:\n  - {name: hung, host: n1, status: stopping}\n  - {name: fine, host: n1}\n",
    );
    let out = lab
        .run(&["evacuate", "n1", "--yes", "--start-timeout", "1"])
        .status(1)
        .stderr_has("hung is stuck in state stopping on n1 after 1s; not moved")
        .stderr_has("n1 is not empty: [\"hung (stopping)\"] still registered there");
    assert!(!out.stderr.contains("is evacuated"), "{}", out.stderr);
    assert_eq!(ves_on(&lab, "n2"), ["fine running"]);
}

#[test]
fn unevacuate_keeps_the_state_a_ve_has_now_and_its_record_is_shared() {
    let lab = Lab::new();
    lab.run(&["evacuate", "msk-07", "--yes"]).status(0);
    // The operator stops dev01 on purpose where it went.
    lab.query("let r = parse_json(file::read(host(\"msk-03\"), \"/vstorage/livelinux/.vzrun/evacuations/msk-07.json\"));\nlet m = r.moves.filter(|m| m.name == \"dev01\")[0];\nprlctl::stop(host(m.to), \"dev01\");")
        .status(0);
    // A reinstall of msk-07 loses its local files; the record is not among them.
    lab.query("let h = host(\"msk-07\"); if file::exists(h, \"/var/lib/vzrun/evacuation.json\") { throw \"local record\"; }")
        .status(0);
    lab.run(&["unevacuate", "msk-07", "--yes"])
        .status(0)
        .stderr_has("5 VEs are back on msk-07");
    let mut back = ves_on(&lab, "msk-07");
    back.sort();
    assert!(back.contains(&"dev01 stopped".to_string()), "{back:?}");
    assert!(back.contains(&"win-sql01 running".to_string()), "{back:?}");
}

#[test]
fn force_register_refuses_while_the_ve_is_registered_on_a_healthy_node() {
    let lab = Lab::new();
    let uuid_of = lab
        .query("print(prlctl::get(host(\"msk-01\"), \"db01\").uuid);")
        .status(0);
    let uuid = uuid_of.stdout.trim().to_string();
    // Declaring the healthy node fenced does not help while it has the VE registered.
    for (fenced, code, needle) in [
        (None, 3, "is registered on msk-01 (running)"),
        (Some("msk-01"), 3, "is registered on msk-01 (running)"),
        (Some("msk-99"), 2, "invalid fenced"),
    ] {
        let mut args = vec!["force-register", &uuid, "msk-02", "--yes"];
        if let Some(node) = fenced {
            args.extend(["--fenced", node]);
        }
        refused_unchanged(&lab, &args, code, needle);
    }
}

#[test]
fn force_register_needs_the_old_node_down_or_declared_fenced() {
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\nves:\n  - {name: orphan, host: n1, status: stopped, uuid: 11111111-2222-4333-8444-555555555555}\n",
    );
    lab.query("prlctl::unregister(host(\"n1\"), \"orphan\");")
        .status(0);
    refused_unchanged(
        &lab,
        &[
            "force-register",
            "11111111-2222-4333-8444-555555555555",
            "n2",
            "--yes",
        ],
        3,
        "every hypervisor answers",
    );
    lab.run(&[
        "force-register",
        "11111111-2222-4333-8444-555555555555",
        "n2",
        "--fenced",
        "n1",
        "--yes",
    ])
    .status(0)
    .stderr_has("runs on n2");
}

/// A node that lost its management network answers no SSH but still mounts the cluster and
/// runs its VEs: not answering is not down. The takeover waits for the cluster to drop the
/// node's session, or for the operator to fence it.
#[test]
fn force_register_refuses_a_silent_node_that_still_mounts_the_cluster() {
    let scenario = |n1: &str| {
        format!("cluster: c\nspeed: 0\nhosts:\n  - {{name: n1, address: 10.0.0.1, storage_address: 10.9.0.1, tags: [hypervisor], {n1}: true}}\n  - {{name: n2, address: 10.0.0.2, storage_address: 10.9.0.2, tags: [hypervisor]}}\nves:\n  - {{name: web, host: n1, uuid: 11111111-2222-4333-8444-555555555555}}\n")
    };
    let uuid = "11111111-2222-4333-8444-555555555555";
    let lab = Lab::with_scenario(&scenario("unreachable"));
    // Everything but the virtual clock, which moves while vzrun waits for the silent n1.
    let state = || {
        let mut s = lab.state_value();
        s.as_object_mut().unwrap().remove("clock");
        s
    };
    let before = state();
    // The session's HOST is a storage address the inventory does not know, and n1 cannot
    // be asked its own: it may be n1.
    unchanged(lab.run(&["force-register", uuid, "n2", "--yes"]).status(3).stderr_has(
        "check \"old node down or fenced\" failed: n1 does not answer over SSH, but the cluster still has a session of it (client 2089 at 10.9.0.1 (may be it)): it still mounts the cluster and may run 11111111-2222-4333-8444-555555555555. Wait until vstorage stat no longer lists it, or power n1 off or cut it from the storage network, then pass --fenced n1",
    ));
    assert_eq!(state(), before, "a refusal changes nothing");
    // Declared fenced by the operator: taken over.
    lab.run(&["force-register", uuid, "n2", "--fenced", "n1", "--yes"])
        .status(0)
        .stderr_has("prlctl register /vstorage/c/private/11111111-2222-4333-8444-555555555555 --preserve-uuid --force");
    // Powered off, the cluster lists no session of it: taken over without --fenced.
    let lab = Lab::with_scenario(&scenario("powered_off"));
    lab.run(&["force-register", uuid, "n2", "--yes"])
        .status(0)
        .stderr_has("prlctl register /vstorage/c/private/11111111-2222-4333-8444-555555555555 --preserve-uuid --force");
}

#[test]
fn create_ct_places_on_a_schedulable_node_and_refuses_a_used_ip() {
    let lab = Lab::new();
    lab.run(&["maintenance", "msk-04", "on", "--yes"]).status(0);
    refused_unchanged(
        &lab,
        &["create-ct", "web99", "--on", "msk-04", "--yes"],
        3,
        "msk-04 is not a placement target",
    );
    refused_unchanged(
        &lab,
        &["create-ct", "web99", "--ip", "10.30.20.15/24", "--yes"],
        3,
        "10.30.20.15 is already used by db01 on msk-01",
    );
    refused_unchanged(
        &lab,
        &["create-ct", "web99", "--netif", "eth 0"],
        2,
        "invalid netif",
    );
    refused_unchanged(
        &lab,
        &["create-ct", "web99", "--swappages", "-1"],
        2,
        "invalid swappages",
    );
    // The header's range is the script's (it said 256.. while the script wanted 1024).
    refused_unchanged(
        &lab,
        &["create-ct", "web99", "--disk", "512"],
        2,
        "'--disk <DISK>': 512 is outside 1024..67108864",
    );
    let out = lab
        .run(&[
            "create-ct",
            "web99",
            "--hostname",
            "web99.example.com",
            "--swappages",
            "262144",
            "--netif",
            "eth1",
            "--ip",
            "10.30.20.99/24",
            "--yes",
        ])
        .status(0)
        .stderr_has("--hostname web99.example.com")
        .stderr_has("--swappages 262144")
        .stderr_has("--netif_add eth1");
    assert!(!out.stderr.contains("[msk-04]"), "{}", out.stderr);
}

/// Runs two commands at once on the same lab state (two processes).
fn at_once(lab: &Lab, first: &[&str], second: &[&str]) -> (Outcome, Outcome) {
    std::thread::scope(|scope| {
        let a = scope.spawn(|| lab.run(first));
        let b = scope.spawn(|| lab.run(second));
        (a.join().unwrap(), b.join().unwrap())
    })
}

/// A run that did not succeed lost a lock race, or found a destination cordoned under its
/// lock: it says which, and never that the node is evacuated.
fn lost_cleanly(out: &Outcome) {
    assert!(
        (out.status == 4 && out.stderr.contains("is locked by run "))
            || (out.status == 1 && out.stderr.contains("went into maintenance after the plan"))
            || (out.status == 1 && out.stderr.contains("arrived after the plan was made")),
        "unexpected failure:\n--- status {}\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    assert!(!out.stderr.contains("is evacuated"), "{}", out.stderr);
}

#[test]
fn two_evacuations_at_once_never_move_into_each_others_node() {
    let mut lab = Lab::new();
    lab.speed = "0.05";
    let seven = ves_on(&lab, "msk-07");
    let six = ves_on(&lab, "msk-06");
    let (a, b) = at_once(
        &lab,
        &["evacuate", "msk-07", "--yes"],
        &["evacuate", "msk-06", "--yes"],
    );
    for (out, node) in [(&a, "msk-07"), (&b, "msk-06")] {
        if out.status == 0 {
            assert!(
                ves_on(&lab, node).is_empty(),
                "{node} reported evacuated but is not empty"
            );
        } else {
            lost_cleanly(out);
        }
    }
    let name = |v: &String| v.split_whitespace().next().unwrap().to_string();
    let now_six: Vec<String> = ves_on(&lab, "msk-06").iter().map(name).collect();
    let now_seven: Vec<String> = ves_on(&lab, "msk-07").iter().map(name).collect();
    // Crossing is both drains moving work: a node may receive the other's VEs only when
    // its own drain lost before it began (it never cordoned the node, moved nothing off it)
    // — then it is an ordinary schedulable node.
    let untouched =
        |before: &[String], now: &[String]| before.iter().map(name).all(|v| now.contains(&v));
    if seven.iter().map(name).any(|v| now_six.contains(&v)) {
        assert!(
            b.status != 0 && untouched(&six, &now_six),
            "msk-07's VEs went to msk-06 while msk-06 was being drained: {now_six:?}\n{}",
            b.stderr
        );
    }
    if six.iter().map(name).any(|v| now_seven.contains(&v)) {
        assert!(
            a.status != 0 && untouched(&seven, &now_seven),
            "msk-06's VEs went to msk-07 while msk-07 was being drained: {now_seven:?}\n{}",
            a.stderr
        );
    }
    // And never both ways at once.
    assert!(
        !(seven.iter().map(name).any(|v| now_six.contains(&v))
            && six.iter().map(name).any(|v| now_seven.contains(&v))),
        "the drains crossed: {now_six:?} / {now_seven:?}"
    );
}

#[test]
fn evacuate_and_unevacuate_of_one_node_at_once_do_not_both_succeed() {
    let mut lab = Lab::new();
    lab.run(&["evacuate", "msk-07", "--yes"]).status(0);
    // One VE comes back meanwhile, so each run has work to do.
    lab.query("for h in hosts(\"hypervisor\") { if prlctl::list(h).some(|v| v.name == \"dev01\") && h.name != \"msk-07\" { prlctl::migrate(h, \"dev01\", host(\"msk-07\")); } }")
        .status(0);
    lab.speed = "0.05";
    let (evacuate, unevacuate) = at_once(
        &lab,
        &["evacuate", "msk-07", "--yes"],
        &["unevacuate", "msk-07", "--yes"],
    );
    assert!(
        !(evacuate.status == 0 && unevacuate.status == 0),
        "both succeeded:\n{}\n{}\n{}\n{}",
        evacuate.stdout,
        evacuate.stderr,
        unevacuate.stdout,
        unevacuate.stderr
    );
    // The one that loses says so: the lock's holder (exit 4), or — when the unevacuation
    // finished between the evacuation's plan and its cordon — the VEs that arrived after
    // the plan (exit 1, the node not reported evacuated).
    for out in [&evacuate, &unevacuate] {
        if out.status != 0 {
            lost_cleanly(out);
        }
    }
    if evacuate.status == 0 {
        assert!(ves_on(&lab, "msk-07").is_empty());
    }
}

#[test]
fn maintenance_on_a_storage_node_asks_ok_to_stop_first() {
    // A CS of another node is offline: taking msk-07's CSs away too would leave chunks
    // with too few replicas. The refusal names the rule and changes nothing.
    let default = include_str!("../../src/lab/default.yaml");
    let line = "  - {id: 1043, host: msk-07, tier: 0, space_gb: 894, free_gb: 582}";
    assert!(default.contains(line), "the default scenario changed");
    let lab = Lab::with_scenario(&default.replace(
        line,
        &format!("{line}\n  - {{id: 1099, host: msk-06, tier: 0, space_gb: 894, free_gb: 582, status: offline}}"),
    ));
    lab.run(&["maintenance", "msk-07", "status"]).status(0);
    refused_unchanged(
        &lab,
        &["maintenance", "msk-07", "on", "--yes"],
        3,
        "maintenance of msk-07 (its 3 CSs stop with it) is not safe: healthy:",
    );
    // --force goes ahead, and says why in a warning (journaled).
    lab.run(&["maintenance", "msk-07", "on", "--force", "--yes"])
        .status(0)
        .stderr_has("warning: --force: maintenance of msk-07");
}

#[test]
fn a_cordoned_storage_node_counts_as_in_maintenance_for_ok_to_stop() {
    // msk-07 is in maintenance (cordoned, VEs moved off); its CSs still run but stop when it
    // is serviced: taking msk-05's CSs away as well must wait.
    let lab = Lab::new();
    lab.run(&["maintenance", "msk-07", "on", "--yes"]).status(0);
    refused_unchanged(
        &lab,
        &["cs-maintenance", "msk-05", "on", "--yes"],
        3,
        "one_node_at_a_time: msk-07 in maintenance (cordoned) with chunk servers",
    );
    refused_unchanged(
        &lab,
        &["maintenance", "msk-05", "on", "--yes"],
        3,
        "one_node_at_a_time: msk-07 in maintenance (cordoned) with chunk servers",
    );
    // The cordoned node itself may go on (its own CSs are the ones stopping).
    lab.run(&["cs-maintenance", "msk-07", "on", "--yes"])
        .status(0);
    lab.run(&["cs-maintenance", "msk-07", "off", "--yes"])
        .status(0);
    lab.run(&["maintenance", "msk-07", "off", "--yes"])
        .status(0);
    lab.run(&["cs-maintenance", "msk-05", "on", "--yes"])
        .status(0);
}

#[test]
fn taking_a_node_out_of_maintenance_says_when_its_chunk_servers_are_still_in() {
    let lab = Lab::new();
    lab.run(&["maintenance", "msk-07", "on", "--yes"]).status(0);
    lab.run(&["cs-maintenance", "msk-07", "on", "--yes"])
        .status(0);
    lab.run(&["maintenance", "msk-07", "off", "--yes"])
        .status(0)
        .stderr_has("msk-07's 3 chunk servers are still in maintenance")
        .stderr_has("vzrun cs-maintenance msk-07 off");
    lab.run(&["cs-maintenance", "msk-07", "off", "--yes"])
        .status(0);
    lab.run(&["maintenance", "msk-07", "on", "--yes"]).status(0);
    lab.run(&["maintenance", "msk-07", "off", "--yes"])
        .status(0)
        .stderr_lacks("still in maintenance");
}
