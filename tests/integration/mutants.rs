//! Tests that fail when the code is wrong (issue #21): each one kills a deliberate mutation
//! of critical code that once survived the whole suite. The mutation each test kills is
//! named in its comment; `bench/mutants` looks for new survivors.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::catalog::{unchanged, Lab};
use crate::sshd::SshCluster;
use crate::test::Test;

/// Three targets, the roomiest not first, so "always the first target" shows.
const PLACEMENT_CAPS: &str = r#"import "vz" as vz;
let cap = |name, free| #{host: #{name: name}, free_mb: free, cpus: 8, vcpus: 0, networks: ["Bridged"], planned_mb: 0};
let caps = [cap.call("a", 4096), cap.call("b", 30000), cap.call("c", 20000)];
let ve = |name, status, mem, prio| #{name: name, status: status, memsize: mem, cpus: 1, ha_prio: prio, networks: ["Bridged"]};
"#;

/// Kills `plan_placement` choosing the first fitting target (`best < 0` alone) and the
/// order dropping HA priority: the exact placement, not merely "something moved".
#[test]
fn plan_placement_picks_the_target_with_the_most_room_left_not_the_first() {
    let lab = Lab::new();
    let out = lab
        .query(&format!(
            "{PLACEMENT_CAPS}let ves = [ve.call(\"s1\", \"stopped\", 2048, 0), ve.call(\"big\", \"running\", 8192, 0), ve.call(\"s2\", \"stopped\", 2048, 0), ve.call(\"vip\", \"running\", 1024, 9), ve.call(\"s3\", \"stopped\", 2048, 0)];\nlet p = vz::plan_placement(ves, caps, 4);\nlog(`moves ${{p.moves.map(|m| `${{m.ve.name}}->${{m.to.name}}`)}} unplaced ${{p.unplaced.len()}}`);\n"
        ))
        .status(0);
    // vip (HA priority 9) first, to b (the most room); big after it, still b (20784 MB left
    // against c's 20000); then each stopped one goes where most would be left once it runs:
    // s1 b (18736 vs 17952), s2 c (16688 vs 17952), s3 b (16688 vs 15904).
    assert_eq!(
        out.stderr.lines().find(|l| l.starts_with("moves ")),
        Some(r#"moves ["vip->b", "big->b", "s1->b", "s2->c", "s3->b"] unplaced 0"#),
        "{}",
        out.stderr
    );
}

/// Kills `plan_placement` counting a running VE's memory twice when it ranks targets (once
/// out of `free_mb`, again as `planned_mb`): a second running VE then looks for room
/// elsewhere although the first target still has the most left.
#[test]
fn plan_placement_counts_a_placed_running_ve_once() {
    let lab = Lab::new();
    let out = lab
        .query(&format!(
            "{PLACEMENT_CAPS}let two = [cap.call(\"x\", 10000), cap.call(\"y\", 5500)];\nlet p = vz::plan_placement([ve.call(\"v1\", \"running\", 4000, 0), ve.call(\"v2\", \"running\", 1000, 0)], two, 4);\nprint(`moves ${{p.moves.map(|m| `${{m.ve.name}}->${{m.to.name}}`)}}`);\n"
        ))
        .status(0);
    // v1 to x (6000 MB left against y's 1500); v2 to x again: 5000 left there, 4500 on y.
    assert_eq!(
        out.stdout.lines().find(|l| l.starts_with("moves ")),
        Some(r#"moves ["v1->x", "v2->x"]"#),
        "{}",
        out.stdout
    );
}

/// Kills `plan_placement` ignoring a target's CPU count or memory: a VE that fits nowhere
/// is unplaced with every target's reason, and nothing is moved for it.
#[test]
fn plan_placement_leaves_a_ve_that_fits_nowhere_unplaced_with_each_reason() {
    let lab = Lab::new();
    let out = lab
        .query(&format!(
            "{PLACEMENT_CAPS}let wide = ve.call(\"wide\", \"running\", 1024, 0); wide.cpus = 16;\nlet p = vz::plan_placement([ve.call(\"huge\", \"running\", 40000, 0), wide], caps, 4);\nlog(`moves ${{p.moves.len()}}`);\nfor u in p.unplaced {{ log(`${{u.ve.name}}: ${{u.why}}`); }}\n"
        ))
        .status(0);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("moves ") || l.starts_with("huge:") || l.starts_with("wide:"))
        .collect();
    assert_eq!(
        lines,
        [
            "moves 0",
            r#"huge: ["a has 4096 MB free", "b has 30000 MB free", "c has 20000 MB free"]"#,
            r#"wide: ["a has 8 CPUs, fewer than 16", "b has 8 CPUs, fewer than 16", "c has 8 CPUs, fewer than 16"]"#,
        ],
        "{}",
        out.stderr
    );
}

/// Kills `vz::place` keeping `targets[0]` (the loop that looks for more room removed): the
/// largest VEs go where most memory is free, then the next, and nothing is short.
#[test]
fn place_puts_each_ve_where_most_memory_is_free() {
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], memory_mb: 65536}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor], memory_mb: 16384}\n  - {name: n3, address: 10.0.0.3, tags: [hypervisor], memory_mb: 32768}\n",
    );
    let out = lab
        .query(
            r#"import "vz" as vz;
let ts = [host("n2"), host("n3")];
log(`free ${ts.map(|t| vz::free_mb(t))}`);
let ves = [#{name: "a", status: "running", memsize: 8192}, #{name: "c", status: "stopped", memsize: 4096}, #{name: "b", status: "running", memsize: 12288}];
let p = vz::place(ves, ts, 0);
log(`moves ${p.moves.map(|m| `${m.ve.name}->${m.to.name}`)} short ${p.short_mb}`);
"#,
        )
        .status(0);
    // n2 has 12288 MB free, n3 28672: b (12288) and a (8192) go to n3, which then has
    // 8192 left; c (stopped, needs nothing now) goes to n2, which has more.
    out.stderr_has("free [12288, 28672]")
        .stderr_has(r#"moves ["b->n3", "a->n3", "c->n2"] short 0"#);
}

/// Kills a local write done in place (truncate and write the same inode) instead of temp
/// file + rename: a hard link to the old file keeps the old bytes, and the path gets a new
/// inode. In place, the link would show the new content and the inode would stay.
#[test]
fn a_local_write_replaces_the_file_by_rename_never_in_place() {
    let test = Test::new()
        .file(
            "r.rhai",
            "//! Write.\nfile::write(local(), \"/etc/motd\", \"new\\n\");\n",
        )
        .file("root/etc/motd", "old\n");
    let root = test.path("root");
    fs::hard_link(root.join("etc/motd"), test.path("old-motd")).unwrap();
    let inode_before = fs::metadata(root.join("etc/motd")).unwrap().ino();
    let out = test
        .env("VZRUN_LOCAL_ROOT", &root)
        .arg("./r.rhai")
        .run()
        .status(0);
    assert_eq!(
        fs::read_to_string(out.path("root/etc/motd")).unwrap(),
        "new\n"
    );
    assert_eq!(
        fs::read_to_string(out.path("old-motd")).unwrap(),
        "old\n",
        "the old inode was written in place"
    );
    assert_ne!(
        fs::metadata(out.path("root/etc/motd")).unwrap().ino(),
        inode_before
    );
}

/// Kills `vstorage::ok_to_stop`'s `free_space` rule disabled (or `>=` made `>`): CS#1 holds
/// 90 GB; the others have 60 GB free, so removing it is refused, naming the numbers, and
/// nothing changes. With exactly 90 GB free on the others it goes ahead.
#[test]
fn remove_cs_refuses_when_the_other_chunk_servers_lack_room() {
    let scenario = |free: u64| {
        format!("cluster: t\nspeed: 0\nhosts:\n  - {{name: n1, address: 10.0.0.1, tags: [storage]}}\n  - {{name: n2, address: 10.0.0.2, tags: [storage]}}\n  - {{name: n3, address: 10.0.0.3, tags: [storage]}}\n  - {{name: n4, address: 10.0.0.4, tags: [storage]}}\ncss:\n  - {{id: 1, host: n1, space_gb: 100, free_gb: 10}}\n  - {{id: 2, host: n2, space_gb: 100, free_gb: {free}}}\n  - {{id: 3, host: n3, space_gb: 100, free_gb: {free}}}\n  - {{id: 4, host: n4, space_gb: 100, free_gb: {free}}}\nmdss:\n  - {{id: 1, host: n2, master: true}}\n")
    };
    let short = Lab::with_scenario(&scenario(20));
    short.query("log(\"look\");").status(0);
    let before = short.state();
    unchanged(short.run(&["remove-cs", "1", "--yes"]).status(3)).stderr_has(
        "free_space: all tiers (vstorage stat shows no tiers): 60 GB free on the other active CSs to re-replicate 90 GB",
    );
    assert_eq!(before, short.state(), "the refused run changed the lab");

    let enough = Lab::with_scenario(&scenario(30));
    enough
        .run(&["remove-cs", "1", "--yes"])
        .status(0)
        .stderr_has("removed: CS#1 from the cluster");
}

/// Kills a reference example that calls what does not exist: the pages as committed pass
/// the type check, and the same pages with one call renamed do not.
#[test]
fn a_reference_example_calling_a_missing_function_fails_the_doc_lint() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/book/src/reference");
    let mut pages = std::collections::BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = format!("reference/{}", path.file_name().unwrap().to_string_lossy());
        pages.insert(name, fs::read_to_string(&path).unwrap());
    }
    assert!(pages.len() > 5, "reference pages found: {}", pages.len());
    assert_eq!(vzrun::testing::lint_examples(&pages), Vec::<String>::new());
    let page = pages.get_mut("reference/prlctl.md").unwrap();
    assert!(page.contains("prlctl::info(h)"), "the page has the call");
    *page = page.replacen("prlctl::info(h)", "prlctl::inf(h)", 1);
    let problems = vzrun::testing::lint_examples(&pages);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("reference/prlctl.md example ")
            && problems[0].contains("unknown function prlctl::inf"),
        "{problems:?}"
    );
    // And `vzrun doc` itself fails on such pages, not only the library call.
    Test::new()
        .args([
            "doc",
            "--check",
            "--dir",
            concat!(env!("CARGO_MANIFEST_DIR"), "/book/src"),
        ])
        .run()
        .status(0);
}

/// Kills the SSH write dropping the requested mode (`$2` not applied): over real sshd, an
/// existing 0600 file written with mode 0440 ends 0440, and a new file gets the mode asked
/// for, not the default 0644.
#[test]
fn a_file_written_over_ssh_gets_the_mode_asked_for() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let existing = cluster.path("sudoers-zabbix");
    fs::write(&existing, "old\n").unwrap();
    fs::set_permissions(&existing, fs::Permissions::from_mode(0o600)).unwrap();
    let created = cluster.path("new.conf");
    Test::new()
        .file(
            "r.rhai",
            &format!(
                "//! Modes.\nlet h = host(\"msk-01\");\nfile::write(h, \"{}\", \"zabbix ALL=(ALL) NOPASSWD: /usr/bin/vstorage\\n\", #{{mode: 0o440}});\nfile::write(h, \"{}\", \"x=1\\n\", #{{mode: \"0640\"}});\n",
                existing.display(),
                created.display()
            ),
        )
        .arg("--inventory")
        .arg(cluster.path("inventory.yaml"))
        .arg("./r.rhai")
        .run()
        .status(0);
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(
        fs::read_to_string(&existing).unwrap(),
        "zabbix ALL=(ALL) NOPASSWD: /usr/bin/vstorage\n"
    );
    assert_eq!(mode(&existing), 0o440);
    assert_eq!(fs::read_to_string(&created).unwrap(), "x=1\n");
    assert_eq!(mode(&created), 0o640);
}

/// The test's files under `root/` are this machine's files for the run.
fn under_root(test: Test) -> Test {
    let root = test.path("root");
    test.env("VZRUN_LOCAL_ROOT", root)
}

/// The run's journal, as text (the test's state directory holds one run).
fn journal_text(out: &crate::test::Outcome) -> String {
    let state = out.path("state");
    let id = crate::reliability2::only_run(&state);
    fs::read_to_string(state.join("runs").join(format!("{id}.jsonl"))).unwrap()
}

/// Kills the runner's cluster-lock name check weakened (`&&` made `||`, `-` or `_` no
/// longer allowed): a name with a space is refused before anything runs (exit 2); a name
/// with '-' and '_' is held around the action.
#[test]
fn a_cluster_lock_name_is_letters_digits_dash_and_underscore() {
    let bad = Test::new()
        .file(
            "r.rhai",
            "//! Bad name.\ncluster_lock(\"roll out\", || { local().run([\"touch\", \"inside\"]); });\n",
        )
        .arg("./r.rhai")
        .run()
        .status(2)
        .stderr_has(r#"lock name: "roll out": letters, digits, '-', '_'"#);
    assert!(!bad.path("inside").exists(), "the action ran");
    let good = Test::new()
        .file(
            "r.rhai",
            "//! Good name.\nlet n = cluster_lock(\"roll-out_1\", || { log(\"inside the lock\"); 7 });\nlog(`returned ${n}`);\n",
        )
        .arg("./r.rhai")
        .run()
        .status(0);
    let text = format!("{}{}", good.stdout, good.stderr);
    let held = text
        .find(r#"holding the cluster lock "roll-out_1" (on local)"#)
        .unwrap_or_else(|| panic!("{text}"));
    let inside = text.find("inside the lock").unwrap();
    assert!(held < inside, "{text}");
    assert!(text.contains("returned 7"), "{text}");
    assert!(good
        .path("state/locks/local-cluster-roll-out_1.lock")
        .exists());
}

/// Kills the runner's "is this file private" test for an explicit mode (`m & 0o004 == 0`
/// inverted or its `&` changed): a file written 0600 keeps its lines out of the journal, a
/// file written 0644 has them in it.
#[test]
fn a_file_written_with_a_private_mode_stays_out_of_the_journal() {
    let test = Test::new()
        .file(
            "r.rhai",
            "//! Modes.\nfile::write(local(), \"/etc/token\", \"token=hunter3\\n\", #{mode: 0o600});\nfile::write(local(), \"/etc/motd\", \"visible-line\\n\", #{mode: 0o644});\nfile::write(local(), \"/etc/group-only\", \"group-line\\n\", #{mode: 0o640});\n",
        )
        .file("root/etc/.keep", "");
    let root = test.path("root");
    let out = under_root(test).arg("./r.rhai").run().status(0);
    let text = journal_text(&out);
    assert!(!text.contains("hunter3"), "{text}");
    assert!(!text.contains("group-line"), "{text}");
    assert!(
        text.contains("not journaled: /etc/token is not world-readable"),
        "{text}"
    );
    assert!(text.contains("+visible-line"), "{text}");
    assert_eq!(
        fs::read_to_string(root.join("etc/token")).unwrap(),
        "token=hunter3\n"
    );
}

/// Kills the runner comparing only the content (`mode_differs` inverted, `&&` made `||`):
/// the same text with another mode changes the mode; asked again, nothing changes.
#[test]
fn the_same_text_with_another_mode_changes_the_mode_and_then_nothing() {
    let test = Test::new()
        .file(
            "r.rhai",
            "//! Mode only.\nlet first = file::write(local(), \"/etc/app.conf\", \"x=1\\n\", #{mode: 0o600});\nlet second = file::write(local(), \"/etc/app.conf\", \"x=1\\n\", #{mode: 0o600});\nlog(`changed ${first} then ${second}`);\n",
        )
        .file("root/etc/app.conf", "x=1\n");
    let root = test.path("root");
    fs::set_permissions(root.join("etc/app.conf"), fs::Permissions::from_mode(0o644)).unwrap();
    let out = test
        .env("VZRUN_LOCAL_ROOT", &root)
        .arg("./r.rhai")
        .run()
        .status(0);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("changed true then false"), "{text}");
    assert!(
        text.contains("/etc/app.conf is already as wanted"),
        "{text}"
    );
    let mode = fs::metadata(root.join("etc/app.conf"))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o600);
}

/// Kills `Runner::planned_changes` answering a constant: a plan of three changes says 3.
#[test]
fn a_plan_counts_every_change_it_lists() {
    let test = Test::new().file(
            "r.rhai",
            "//! Three changes.\nlet h = local();\nh.run([\"touch\", \"a\"]);\nh.run([\"touch\", \"b\"]);\nfile::write(h, \"/tmp/vzrun-never-written\", \"x\\n\");\n",
        )
        .file("root/tmp/.keep", "");
    let root = test.path("root");
    under_root(test)
        .args(["plan", "./r.rhai"])
        .run()
        .status(0)
        .stderr_has("plan: 3 change(s) listed; nothing was changed");
    assert!(!root.join("tmp/vzrun-never-written").exists());
}

/// Kills the error of a failed command showing an empty `stderr:` line (`!` dropped): a
/// command that failed silently is named with its exit code and nothing after it.
#[test]
fn a_command_that_failed_silently_has_no_stderr_line() {
    let out = Test::new()
        .file(
            "r.rhai",
            "//! Fail.\nlocal().run([\"sh\", \"-c\", \"exit 7\"]);\n",
        )
        .arg("./r.rhai")
        .run()
        .status(1);
    let lines: Vec<&str> = out.stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("{}", out.stderr));
    assert_eq!(
        lines[at],
        "error: ./r.rhai:2:9: command failed on local (exit 7): sh -c 'exit 7'"
    );
    assert!(lines[at + 1].starts_with("failed after "), "{}", out.stderr);
    assert!(!out.stderr.contains("stderr:"), "{}", out.stderr);
}

/// Kills `Runner::sleep` waking at once (its deadline computed backwards): `sleep(1.2)`
/// takes at least 1.2 seconds.
#[test]
fn sleep_sleeps_as_long_as_asked() {
    let started = std::time::Instant::now();
    Test::new()
        .file("r.rhai", "//! Nap.\nsleep(1.2);\nlog(\"awake\");\n")
        .arg("./r.rhai")
        .run()
        .status(0);
    assert!(started.elapsed() >= std::time::Duration::from_millis(1200));
}
