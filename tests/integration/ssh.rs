//! The Ssh transport against real sshd instances on loopback.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use vzrun::cmd::Cmd;
use vzrun::inventory::SshSettings;
use vzrun::transport::{Ssh, Transport, TransportError};

use crate::sshd::SshCluster;
use crate::test::Test;

pub(crate) fn transport(cluster: &SshCluster, index: usize) -> Ssh {
    let h = &cluster.hosts[index];
    let settings = SshSettings {
        user: Some("root".into()),
        port: Some(h.port),
        identity: Some(cluster.path("id")),
        known_hosts: Some(cluster.path("known_hosts")),
        connect_timeout: Some(5),
        ..SshSettings::default()
    };
    Ssh::new(
        &h.name,
        &h.address,
        settings,
        false,
        Ssh::runtime().unwrap(),
    )
}

fn run_over(cluster: &SshCluster, script: &str) -> Test {
    Test::new()
        .file("r.rhai", &format!("//! Over SSH.\n{script}"))
        .arg("--inventory")
        .arg(cluster.path("inventory.yaml"))
        .arg("./r.rhai")
}

#[test]
fn a_runbook_runs_end_to_end_over_ssh_with_one_connection_per_host() {
    let Some(cluster) = SshCluster::start(3) else {
        return;
    };
    run_over(
        &cluster,
        r#"
let counts = parallel(hosts(), 3, |h| prlctl::list(h).len());
log(`counts ${counts}`);
let s = vstorage::stat(host("msk-01"));
log(`cs ${s.cs.len()} node ${s.cs[0].node}`);
prlctl::migrate(host("msk-01"), "web01", host("msk-02"));
log(`moved: ${prlctl::status(host("msk-02"), "web01")}`);
"#,
    )
    .run()
    .status(0)
    .stderr_has("counts [7, 6, 6]")
    .stderr_has("cs 21 node msk-01")
    .stderr_has("moved: running");
    for h in &cluster.hosts {
        assert_eq!(
            cluster.connections(&h.name),
            1,
            "one master connection to {}",
            h.name
        );
    }
}

#[test]
fn files_travel_through_stdin_and_keep_their_mode() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let ssh = transport(&cluster, 0);
    let path = cluster.path("remote.conf");
    std::fs::write(&path, "old").unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let content: Vec<u8> = (1..=255u8)
        .chain(b"\n'$(x)' \"end\"\n".iter().copied())
        .collect();
    let p = path.to_str().unwrap();
    ssh.write_file_atomic(p, &content, None).unwrap();
    assert_eq!(ssh.read_file(p).unwrap().unwrap(), content);
    assert_eq!(std::fs::read(&path).unwrap(), content);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        ssh.read_file(cluster.path("missing").to_str().unwrap())
            .unwrap(),
        None
    );
    // No temp file is left beside it.
    let leftovers = std::fs::read_dir(cluster.dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".vzrun.")
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn a_deadline_also_stops_the_remote_command() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let ssh = transport(&cluster, 0);
    // A probe (the client stops it over another channel) and a change (under `timeout`).
    for (n, make) in [Cmd::read::<String> as fn(_) -> Cmd, Cmd::change::<String>]
        .into_iter()
        .enumerate()
    {
        // A duration no other process on the machine has (this test's pid and the time):
        // the check below looks for exactly this command, never at other tests' or users'
        // sleeps.
        let marker = format!(
            "4{n}.{}{:09}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let err = ssh
            .run(
                &make(vec!["sleep".to_string(), marker.clone()])
                    .with_timeout(Duration::from_secs(1)),
            )
            .unwrap_err();
        assert!(matches!(err, TransportError::TimedOut { .. }), "{err}");
        let sleep = format!("sleep {marker}");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !processes_running(&sleep).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the remote `{sleep}` still runs: {:?}",
                processes_running(&sleep)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // The connection still works, and a probe's own stderr comes back as it was written.
    let out = ssh
        .run(&Cmd::read(["sh", "-c", "echo out; echo err >&2; exit 3"]))
        .unwrap();
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (3, "out\n", "err\n")
    );
}

#[test]
fn a_probe_whose_client_was_killed_dies_at_its_next_write() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    // A probe that writes now and then and would run for ever; $0 marks it in /proc.
    let marker = format!("probe-{}-{}", std::process::id(), line!());
    let runbook = format!(
        "//! Probe for ever.\nlog(\"started\");\nhost(\"msk-01\").query([\"sh\", \"-c\", \"while :; do echo tick; sleep 0.2; done\", \"{marker}\"]);\n"
    );
    let test = Test::new().file("p.rhai", &runbook);
    let (mut client, line) = crate::test::spawn_until_stderr_line(
        test.command()
            .arg("--inventory")
            .arg(cluster.path("inventory.yaml"))
            .arg("./p.rhai"),
        "started",
    );
    assert_eq!(line.trim(), "started");
    let wait_for = |running: bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while processes_running(&marker).is_empty() == running {
            assert!(
                std::time::Instant::now() < deadline,
                "the remote probe {marker}: expected running = {running}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for(true);
    client.kill().unwrap(); // SIGKILL: nothing of the client's runs any more
    client.wait().unwrap();
    // Its channel closed with it: the probe's next `echo` gets SIGPIPE.
    wait_for(false);
}

/// The pids whose command line (arguments joined by spaces) contains `needle`, read from
/// /proc: no external `pgrep`.
pub fn processes_running(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn argv_travels_intact() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let ssh = Arc::new(transport(&cluster, 0));
    let word =
        "[^\u{0}]{0,12}|-{1,2}[a-z]{1,5}|\\$\\([a-z ]{1,6}\\)|['\"`\\\\;&|<>*?~#! \n\t]{1,6}";
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    });
    runner
        .run(&prop::collection::vec(word, 1..6), |args| {
            let mut argv = vec!["printf".to_string(), "%s\\0".to_string()];
            argv.extend(args.iter().cloned());
            let out = ssh.run(&Cmd::read(argv)).unwrap();
            prop_assert_eq!(out.code, 0, "{}", out.stderr);
            let mut expected = String::new();
            for a in &args {
                expected.push_str(a);
                expected.push('\0');
            }
            prop_assert_eq!(out.stdout, expected);
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_second_run_on_a_locked_host_gets_exit_4_and_a_killed_holder_frees_it() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let runbook = "//! Change and hold.\n//! opt hold = 0: seconds\nhost(\"msk-01\").run([\"true\"]);\nlog(\"changed\");\nsleep(ARGS.hold);\n";
    let first = Test::new().file("c.rhai", runbook);
    let (mut holder, line) = crate::test::spawn_until_stderr_line(
        first
            .command()
            .arg("--inventory")
            .arg(cluster.path("inventory.yaml"))
            .args(["./c.rhai", "--hold", "60"]),
        "changed",
    );
    assert_eq!(line.trim(), "changed");
    let second = || {
        Test::new()
            .file("c.rhai", runbook)
            .arg("--inventory")
            .arg(cluster.path("inventory.yaml"))
            .arg("./c.rhai")
            .run()
    };
    second()
        .status(4)
        .stderr_has("msk-01 is locked by run ")
        .stderr_has(&format!("pid {}", holder.id()));
    holder.kill().unwrap();
    holder.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    second().status(0).stderr_has("changed");
}

#[test]
fn unknown_host_keys_are_refused_unless_accepted() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    std::fs::write(cluster.path("empty_known_hosts"), "").unwrap();
    let inventory = cluster.write_inventory("strict.yaml", "empty_known_hosts");
    let script = "//! Probe.\nlog(host(\"msk-01\").query([\"uname\", \"-s\"]).stdout);\n";
    Test::new()
        .file("r.rhai", script)
        .arg("--inventory")
        .arg(&inventory)
        .arg("./r.rhai")
        .run()
        .status(1)
        .stderr_has("on msk-01, `uname -s`: cannot connect: msk-01");
    Test::new()
        .file("r.rhai", script)
        .arg("--inventory")
        .arg(&inventory)
        .args(["--accept-new-hosts", "./r.rhai"])
        .run()
        .status(0)
        .stderr_has("Linux");
    // Recorded (Debian hashes the entry, so only its presence is checked).
    assert!(!std::fs::read_to_string(cluster.path("empty_known_hosts"))
        .unwrap()
        .trim()
        .is_empty());
}

#[test]
fn a_host_that_does_not_answer_times_out_naming_host_and_command() {
    // A listener that accepts and never speaks: the SSH banner never comes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let test = Test::new()
        .file(
            "inv.yaml",
            &format!("cluster: c\ndefaults: {{connect_timeout: 1}}\nhosts:\n  - {{name: dead-01, address: 127.0.0.1, port: {port}}}\n"),
        )
        .file("r.rhai", "//! Probe.\nhost(\"dead-01\").query([\"prlctl\", \"list\"]);\n");
    let inv = test.path("inv.yaml");
    test.arg("--inventory")
        .arg(inv)
        .arg("./r.rhai")
        .run()
        .status(5)
        .stderr_has("on dead-01, `prlctl list`: host is unreachable: dead-01 (127.0.0.1)");
    drop(silent);
}

/// Runs a runbook that changes a local file with `inventory`: it must stop with exit 2,
/// saying `problem`, before the change.
pub fn inventory_refused_before_anything_runs(inventory: &str, problem: &str) {
    let test = Test::new()
        .file("inv.yaml", inventory)
        .file("r.rhai", "//! Touch.\nlocal().run([\"touch\", \"ran\"]);\n");
    let inv = test.path("inv.yaml");
    let out = test
        .arg("--inventory")
        .arg(inv)
        .arg("./r.rhai")
        .run()
        .status(2)
        .stderr_has(problem);
    assert!(!out.exists("ran"), "{inventory}: something ran");
}

#[test]
fn a_malformed_inventory_is_an_error_with_line_and_column() {
    inventory_refused_before_anything_runs(
        "cluster: c\nhosts:\n  - {name: a, adress: b}\n",
        "inv.yaml:3:",
    );
}

#[test]
fn the_inventory_is_found_in_the_environment_and_the_current_directory() {
    let test = Test::new()
        .file(
            "vzrun.yaml",
            "cluster: here\nhosts:\n  - {name: n1, address: 10.255.255.1}\n",
        )
        .file(
            "r.rhai",
            "//! Which.\nlog(`${CLUSTER} ${hosts().len()} ${host(\"n1\").address}`);\n",
        );
    test.arg("./r.rhai")
        .run()
        .status(0)
        .stderr_has("here 1 10.255.255.1");
    let test = Test::new()
        .file(
            "other.yaml",
            "cluster: env\nhosts:\n  - {name: n2, address: 10.255.255.2}\n",
        )
        .file("r.rhai", "//! Which.\nlog(`${CLUSTER}`);\n");
    let inv = test.path("other.yaml");
    test.env("VZRUN_INVENTORY", inv)
        .arg("./r.rhai")
        .run()
        .status(0)
        .stderr_has("env");
}

#[test]
fn a_cordon_made_over_ssh_is_seen_by_a_second_run() {
    // Small VEs: over SSH, memory and CPUs are this machine's (/proc/meminfo, nproc).
    let scenario = "cluster: livelinux\nspeed: 0\nhosts:\n  - {name: msk-01, address: 10.30.17.31, tags: [hypervisor]}\n  - {name: msk-02, address: 10.30.17.32, tags: [hypervisor]}\nves:\n  - {name: web01, host: msk-02, memsize: 64, cpus: 1}\n  - {name: web02, host: msk-02, memsize: 64, cpus: 1, status: stopped}\n";
    let Some(cluster) = SshCluster::start_with(2, scenario) else {
        return;
    };
    // The cluster file system: one directory both sshd "nodes" see (they share this
    // machine), mounted as fuse.vstorage in the lab's mount table the shim's findmnt reads.
    let mount = cluster.path("vstorage/livelinux");
    std::fs::create_dir_all(&mount).unwrap();
    let inventory = std::fs::read_to_string(cluster.path("inventory.yaml")).unwrap();
    std::fs::write(
        cluster.path("inventory.yaml"),
        inventory.replacen(
            "cluster: livelinux\n",
            &format!("cluster: livelinux\ncluster_mount: {}\n", mount.display()),
            1,
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Test::new()
            .arg("--inventory")
            .arg(cluster.path("inventory.yaml"))
            .args(args.iter().copied())
            .run()
    };
    // Before the mount is where the inventory says, no node has it: the records cannot be read.
    run(&["maintenance", "msk-01", "status"])
        .status(3)
        .stderr_has("the maintenance records on the cluster file system cannot be read");
    let state = cluster.path("lab.json");
    let text = std::fs::read_to_string(&state).unwrap();
    let moved = text.replace(
        "\"target\":\"/vstorage/livelinux\"",
        &format!("\"target\":\"{}\"", mount.display()),
    );
    assert_ne!(text, moved, "the lab state has the cluster mount");
    std::fs::write(&state, moved).unwrap();

    run(&[
        "maintenance",
        "msk-02",
        "on",
        "--reason",
        "ssh test",
        "--reserve",
        "0",
        "--yes",
    ])
    .status(0)
    .stderr_has("msk-02 is evacuated: 2 VEs moved");
    let record = std::fs::read_to_string(mount.join(".vzrun/maintenance/msk-02.json")).unwrap();
    assert!(record.contains("\"why\":\"ssh test\""), "{record}");
    // A second run, with its own connections, sees the cordon.
    run(&["maintenance", "msk-01", "status"])
        .status(0)
        .stdout_has("msk-02")
        .stdout_has("ssh test");
    run(&["plan", "create-ct", "web99"])
        .status(0)
        .stderr_has("msk-02 is in maintenance (ssh test): not a placement target");
    run(&["plan", "evacuate", "msk-01"])
        .status(3)
        .stderr_has("no placement target for the VEs of msk-01");
}

#[test]
fn output_past_the_limit_stops_the_command_instead_of_filling_memory() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    // 1 MB here ($VZRUN_MAX_OUTPUT_MB); 256 MB by default. Over SSH (a command, then a file
    // read of a device that never ends) and locally.
    let script = "let h = host(\"msk-01\");\nprint(`small ${h.query([\"head\", \"-c\", \"600000\", \"/dev/zero\"]).stdout.len()}`);\nfor what in [|| h.query([\"cat\", \"/dev/zero\"]), || file::read(h, \"/dev/zero\"), || local().query([\"cat\", \"/dev/zero\"])] {\n  try { what.call(); print(\"read it all\"); } catch (e) { print(`refused: ${e}`); }\n}\n";
    let started = std::time::Instant::now();
    let out = run_over(&cluster, script)
        .env("VZRUN_MAX_OUTPUT_MB", "1")
        .run()
        .status(0)
        .stdout_has("small 600000");
    let refusals = out
        .stdout
        .matches("its output passed 1 MB and it was stopped")
        .count();
    assert_eq!(refusals, 3, "{}", out.stdout);
    assert!(!out.stdout.contains("read it all"));
    // Stopped at the limit, not at the commands' deadlines (minutes).
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn cluster_lock_on_skips_a_host_that_refuses_connections_as_the_lab_skips_a_dead_node() {
    // A node that refuses SSH (booting, shutting down, its sshd dead) runs no lock holder,
    // as in the lab: the lock is taken on the others and the one passed over is named.
    // Before, ssh's "Connection refused" counted as a failed lock and the run ended there
    // (exit 1), so a dead node stopped every storage runbook over SSH, not in the lab.
    let Some(mut cluster) = SshCluster::start(2) else {
        return;
    };
    cluster.stop_sshd("msk-01");
    Test::new()
        .file(
            "l.rhai",
            "//! Lock.\ncluster_lock_on(hosts(), \"x\", || log(\"inside\"));\n",
        )
        .arg("--inventory")
        .arg(cluster.path("inventory.yaml"))
        .arg("./l.rhai")
        .run()
        .status(0)
        .stderr_has("holding the lock \"x\" on msk-02 (skipped, not answering: msk-01 (")
        .stderr_has("Connection refused")
        .stderr_has("inside");
}

#[test]
fn cluster_lock_on_skips_a_host_whose_sshd_never_greets() {
    // A node hung under load: its kernel takes the connection, its sshd never answers.
    let Some(cluster) = SshCluster::start(2) else {
        return;
    };
    cluster.hang_sshd("msk-01");
    let started = std::time::Instant::now();
    Test::new()
        .file(
            "l.rhai",
            "//! Lock.\ncluster_lock_on(hosts(), \"x\", || log(\"inside\"));\n",
        )
        .arg("--inventory")
        .arg(cluster.path("inventory.yaml"))
        .arg("./l.rhai")
        .run()
        .status(0)
        .stderr_has("holding the lock \"x\" on msk-02 (skipped, not answering: ")
        .stderr_has("msk-01 (")
        .stderr_has("inside");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_cluster_lock_outlives_a_killed_run_while_its_change_still_runs() {
    // kill -9 of a run inside cluster_lock_on (remove-cs in `rm-cs --wait`, hours long):
    // the change goes on on the node under `timeout`, and the host's run lock waits for it,
    // but the cluster lock was let go at once: a second storage run took it and passed its
    // check while the first one's change still ran.
    let Some(cluster) = SshCluster::start(2) else {
        return;
    };
    let runbook = "//! Change under a cluster lock.\ncluster_lock_on(hosts(), \"x\", || host(\"msk-01\").run([\"sleep\", \"20\"]));\n";
    let first = Test::new().file("c.rhai", runbook);
    let (mut holder, _) = crate::test::spawn_until_stderr_line(
        first
            .command()
            .arg("--inventory")
            .arg(cluster.path("inventory.yaml"))
            .arg("./c.rhai"),
        "[msk-01] sleep 20",
    );
    std::thread::sleep(Duration::from_millis(1500));
    holder.kill().unwrap();
    holder.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    Test::new()
        .file(
            "l.rhai",
            "//! Lock.\ncluster_lock_on(hosts(), \"x\", || log(\"inside\"));\n",
        )
        .arg("--inventory")
        .arg(cluster.path("inventory.yaml"))
        .arg("./l.rhai")
        .run()
        .status(4)
        .stderr_has("the cluster lock \"x\" is held by run ")
        .stderr_lacks("inside");
}

#[test]
fn cluster_lock_on_skips_a_host_that_does_not_answer_over_ssh_and_two_runs_never_both_hold_it() {
    let Some(cluster) = SshCluster::start(2) else {
        return;
    };
    // A listener that accepts and never speaks: a node whose sshd hangs.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut yaml = std::fs::read_to_string(cluster.path("inventory.yaml")).unwrap();
    yaml.push_str(&format!(
        "  - {{name: dead-01, address: 127.0.0.1, port: {port}, tags: [hypervisor], connect_timeout: 1}}\n"
    ));
    let inventory = cluster.path("inventory-dead.yaml");
    std::fs::write(&inventory, yaml).unwrap();
    let script =
        "//! Holds it.\ncluster_lock_on(hosts(), \"x\", || { log(\"inside\"); sleep(30); });\n";
    let first = Test::new()
        .file("h.rhai", script)
        .arg("--inventory")
        .arg(&inventory)
        .arg("./h.rhai");
    let (mut holder, _) = crate::test::spawn_until_stderr_line(&mut first.command(), "inside");
    // The second run meets it on msk-01 and msk-02: exit 4, naming the holder.
    Test::new()
        .file("h.rhai", script)
        .arg("--inventory")
        .arg(&inventory)
        .arg("./h.rhai")
        .run()
        .status(4)
        .stderr_has("the cluster lock \"x\" is held by run ")
        .stderr_lacks("inside");
    holder.kill().unwrap();
    holder.wait().unwrap();
    // Killed, it holds nothing: the next run takes it on the hosts that answer.
    Test::new()
        .file(
            "h.rhai",
            "//! Takes it.\ncluster_lock_on(hosts(), \"x\", || log(\"inside\"));\n",
        )
        .arg("--inventory")
        .arg(&inventory)
        .arg("./h.rhai")
        .run()
        .status(0)
        .stderr_has(
            "holding the lock \"x\" on msk-01, msk-02 (skipped, not answering: dead-01 (127.0.0.1)",
        )
        .stderr_has("inside");
    drop(silent);
}

#[test]
fn a_change_killed_by_a_signal_is_its_exit_not_a_lost_host() {
    // An OOM-killed `prlctl migrate`: the host answered, the command died. It was reported
    // as an unreachable host (the crate has no exit status for a signal) and the connection
    // was dropped and made again.
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let ssh = transport(&cluster, 0);
    let out = ssh
        .run(&Cmd::change(["sh", "-c", "echo before; kill -KILL $$"]))
        .unwrap();
    assert_eq!((out.code, out.stdout.as_str()), (137, "before\n"));
    assert_eq!(ssh.run(&Cmd::change(["true"])).unwrap().code, 0);
    assert_eq!(
        cluster.connections("msk-01"),
        1,
        "the connection was made again"
    );
}
