//! Master connections kept between runs (inventory `persist`) and the key exchange an
//! inventory picks (`kex`), against real sshd instances on loopback.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::sshd::{signal, SshCluster};
use crate::test::{Outcome, Test};

const PROBE: &str = "//! Probe.\nprint(`code ${host(\"msk-01\").query([\"true\"]).code}`);\n";

/// One run of a probe of msk-01 with its own control directory.
fn probe(inventory: &Path, control: &Path) -> Outcome {
    Test::new()
        .file("p.rhai", PROBE)
        .env("VZRUN_CONTROL_DIR", control)
        .arg("--inventory")
        .arg(inventory)
        .arg("./p.rhai")
        .run()
}

/// The persisted masters' sockets in a control directory.
fn sockets(control: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(control)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("m-") && !name.contains('.')
        })
        .collect();
    found.sort();
    found
}

/// The pid of the master answering on `socket` (`ssh -O check`), if one answers.
fn master_pid(socket: &Path) -> Option<i32> {
    let out = Command::new("ssh")
        .args(["-F", "/dev/null", "-S"])
        .arg(socket)
        .args(["-O", "check", "x"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    let pid = text.split("pid=").nth(1)?.split(')').next()?;
    pid.parse().ok()
}

fn connection_dirs(control: &Path) -> usize {
    fs::read_dir(control)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".ssh-connection")
        })
        .count()
}

fn age(path: &Path) {
    let aged = Command::new("touch")
        .args(["-h", "-d", "2 minutes ago"])
        .arg(path)
        .status()
        .unwrap();
    assert!(aged.success());
}

/// What a first run with `persist: 60` leaves: its control directory (in `_scratch`), the
/// inventory, and the kept master's socket and pid.
struct Kept {
    _scratch: Test,
    control: PathBuf,
    inventory: PathBuf,
    socket: PathBuf,
    pid: i32,
}

fn kept_master(cluster: &SshCluster) -> Kept {
    let scratch = Test::new();
    let control = scratch.path("ctl");
    let inventory = cluster.write_inventory_with("persist.yaml", "known_hosts", ", persist: 60");
    probe(&inventory, &control).status(0).stdout_has("code 0");
    let socket = sockets(&control).remove(0);
    let pid = master_pid(&socket).expect("the master is kept");
    Kept {
        _scratch: scratch,
        control,
        inventory,
        socket,
        pid,
    }
}

/// Runs `script` against the kept master's control directory and inventory.
fn run_kept(kept: &Kept, script: &str) -> Outcome {
    Test::new()
        .file("k.rhai", &format!("//! Kept.\n{script}"))
        .env("VZRUN_CONTROL_DIR", &kept.control)
        .arg("--inventory")
        .arg(&kept.inventory)
        .arg("./k.rhai")
        .run()
}

/// A run of a runbook that changes msk-01 (so takes its lock), logs "changed" and sleeps
/// `--hold` seconds; global options may follow, then `./c.rhai`.
fn change_and_hold(inventory: &Path, control: &Path) -> Test {
    Test::new()
        .file(
            "c.rhai",
            "//! Change and hold.\n//! opt hold = 0: seconds\nhost(\"msk-01\").run([\"true\"]);\nlog(\"changed\");\nsleep(ARGS.hold);\n",
        )
        .env("VZRUN_CONTROL_DIR", control)
        .arg("--inventory")
        .arg(inventory)
}

/// Starts `run` holding msk-01's lock for 600 s; returns once it has changed the host, with
/// the run's directory (kept while it runs).
fn holding(run: Test) -> (Test, std::process::Child) {
    let (holder, line) =
        crate::test::spawn_until_stderr_line(run.command().args(["--hold", "600"]), "changed");
    assert_eq!(line.trim(), "changed");
    (run, holder)
}

/// Waits (at most 10 s) until no process has `pid`.
fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "process {pid} is still there");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_next_run_reuses_the_master_and_persist_0_closes_it_at_the_end() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let scratch = Test::new();
    let control = scratch.path("ctl");
    let inventory = cluster.path("inventory.yaml");
    probe(&inventory, &control).status(0).stdout_has("code 0");
    probe(&inventory, &control).status(0).stdout_has("code 0");
    assert_eq!(cluster.connections("msk-01"), 1, "the second run reused it");
    let kept = sockets(&control);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(master_pid(&kept[0]).is_some(), "the master is left running");

    // persist: 0, today's behaviour: a connection per run, closed when the run ends.
    let closing = cluster.write_inventory_with("closing.yaml", "known_hosts", ", persist: 0");
    probe(&closing, &control).status(0).stdout_has("code 0");
    probe(&closing, &control).status(0).stdout_has("code 0");
    assert_eq!(cluster.connections("msk-01"), 3);
    assert_eq!(sockets(&control), kept, "persist 0 keeps no master");
    assert_eq!(connection_dirs(&control), 0, "its master was closed");
}

#[test]
fn relative_key_and_known_hosts_paths_still_work_from_the_inventorys_directory() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let test = Test::new().file("p.rhai", PROBE);
    let (runbook, control) = (test.path("p.rhai"), test.path("ctl"));
    // `--inventory inventory.yaml` run in its directory: `id` and `known_hosts` relative.
    test.env("VZRUN_CONTROL_DIR", control)
        .arg("--inventory")
        .arg("inventory.yaml")
        .arg(runbook)
        .command_in(cluster.dir.path())
        .status(0)
        .stdout_has("code 0");
}

#[test]
fn a_dead_master_is_replaced_and_the_cleaning_keeps_live_ones() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let scratch = Test::new();
    let control = scratch.path("ctl");
    let inventory = cluster.path("inventory.yaml");
    probe(&inventory, &control).status(0);
    let socket = sockets(&control).remove(0);
    let first = master_pid(&socket).expect("a live master");
    // SAFETY: kill(2) on the master this test's run launched.
    unsafe {
        libc::kill(first, libc::SIGKILL);
    }
    wait_gone(first);
    assert!(socket.exists(), "kill -9 leaves the socket");
    // Another dead master's socket, old: the cleaning removes it.
    let dead = control.join("m-0123456789abcdef0123");
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    age(&dead);

    probe(&inventory, &control).status(0).stdout_has("code 0");
    assert_eq!(cluster.connections("msk-01"), 2, "a new master replaced it");
    let second = master_pid(&socket).expect("a live master at the same path");
    assert_ne!(first, second);
    assert!(!dead.exists(), "the dead master's socket was left");

    // A live master's socket, however old, is kept (and used).
    age(&socket);
    probe(&inventory, &control).status(0).stdout_has("code 0");
    assert_eq!(master_pid(&socket), Some(second));
    assert_eq!(cluster.connections("msk-01"), 2);
}

#[test]
fn two_runs_that_start_at_once_launch_one_master() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let scratch = Test::new();
    let control = scratch.path("ctl");
    let runs: Vec<(Test, std::process::Child)> = (0..2)
        .map(|_| {
            let test = Test::new()
                .file("p.rhai", PROBE)
                .env("VZRUN_CONTROL_DIR", &control)
                .arg("--inventory")
                .arg(cluster.path("inventory.yaml"))
                .arg("./p.rhai");
            let child = test
                .command()
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (test, child)
        })
        .collect();
    for (_test, child) in runs {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("code 0"));
    }
    assert_eq!(cluster.connections("msk-01"), 1);
}

#[test]
fn a_run_killed_with_9_frees_its_host_lock_though_its_master_stays() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let scratch = Test::new();
    let control = scratch.path("ctl");
    let inventory = cluster.write_inventory_with("persist.yaml", "known_hosts", ", persist: 60");
    let run = || change_and_hold(&inventory, &control).arg("./c.rhai");
    let (_first, mut holder) = holding(run());
    run().run().status(4).stderr_has("msk-01 is locked by run ");
    let lock_file = cluster.path("locks/msk-01/vzrun-run.lock");
    let holders = || crate::ssh::processes_running(&lock_file.display().to_string());
    assert!(!holders().is_empty(), "the remote lock holder runs");
    holder.kill().unwrap(); // SIGKILL
    holder.wait().unwrap();
    let socket = sockets(&control).remove(0);
    assert!(master_pid(&socket).is_some(), "the master outlives the run");
    // The holder's remote `cat` saw EOF when the killed client's pipe closed: the remote
    // `flock` ends although the master that carried it still runs...
    let holder_gone = Instant::now() + Duration::from_secs(10);
    while !holders().is_empty() {
        assert!(
            Instant::now() < holder_gone,
            "the remote lock holder outlived its run"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // ...and the next run takes the lock without waiting for it.
    run().run().status(0).stderr_has("changed");
    assert_eq!(
        cluster.connections("msk-01"),
        1,
        "all three runs used one master"
    );
}

#[test]
fn kex_picks_the_key_exchange_and_keeps_the_ssh_config_and_host_key_checks() {
    // An sshd that offers one key exchange only.
    let Some(cluster) = SshCluster::start_configured(
        1,
        "cluster: livelinux\nhosts:\n  - {name: msk-01, address: 10.30.17.31}\n",
        "KexAlgorithms curve25519-sha256\n",
    ) else {
        return;
    };
    let scratch = Test::new();
    let control = scratch.path("ctl");
    let matching =
        cluster.write_inventory_with("kex.yaml", "known_hosts", ", kex: curve25519-sha256");
    probe(&matching, &control).status(0).stdout_has("code 0");

    let other = cluster.write_inventory_with(
        "other.yaml",
        "known_hosts",
        ", kex: diffie-hellman-group14-sha256",
    );
    probe(&other, &control)
        .status(1)
        .stderr_has("cannot connect: msk-01 (")
        .stderr_has("no matching key exchange method found");

    // The ssh config file is still read: its own KexAlgorithms fails alone, and the
    // inventory's `kex` wins over it.
    fs::write(
        cluster.path("ssh_config"),
        "Host *\n  KexAlgorithms diffie-hellman-group14-sha256\n",
    )
    .unwrap();
    let config_only =
        cluster.write_inventory_with("config.yaml", "known_hosts", ", ssh_config: ssh_config");
    probe(&config_only, &control)
        .status(1)
        .stderr_has("no matching key exchange method found");
    let both = cluster.write_inventory_with(
        "both.yaml",
        "known_hosts",
        ", ssh_config: ssh_config, kex: curve25519-sha256",
    );
    probe(&both, &control).status(0).stdout_has("code 0");

    // Host keys are checked as always.
    fs::write(cluster.path("empty_known_hosts"), "").unwrap();
    let unknown = cluster.write_inventory_with(
        "unknown.yaml",
        "empty_known_hosts",
        ", kex: curve25519-sha256",
    );
    probe(&unknown, &control)
        .status(1)
        .stderr_has("cannot connect: msk-01 (")
        .stderr_has("Host key verification failed");
}

#[test]
fn a_bad_persist_or_kex_is_refused_before_anything_runs() {
    for (setting, problem) in [
        (
            "persist: 4000",
            "host \"msk-01\": persist 4000 is out of range",
        ),
        ("persist: later", "persist later: must be whole seconds"),
        (
            "kex: \"curve25519-sha256;touch x\"",
            "\"curve25519-sha256;touch x\" is not a key exchange algorithm name",
        ),
    ] {
        crate::ssh::inventory_refused_before_anything_runs(
            &format!(
                "cluster: c\nhosts:\n  - {{name: msk-01, address: 10.255.255.1, {setting}}}\n"
            ),
            problem,
        );
    }
}

#[test]
fn a_kept_master_whose_connection_hangs_is_retired_and_the_run_goes_on_over_a_new_one() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let kept = kept_master(&cluster);
    // The kept master's connection stops answering; its process lives and still answers on
    // its socket (a master answers `check` itself), so nothing local tells it is useless.
    let frozen = cluster.freeze_connections("msk-01");
    let hung = "let h = host(\"msk-01\");\ntry { within(2, || h.query([\"true\"])); print(\"first answered\"); } catch (e) { print(`first failed: ${e}`); }\nprint(`second ${within(60, || h.query([\"true\"])).code}`);\n";
    let started = Instant::now();
    let out = run_kept(&kept, hung);
    drop(frozen);
    // The probe under a 2 s deadline fails within it (it used to wait for the master to
    // give up on its peer, 3 keepalives of 5 s, and then answered over a new one).
    out.status(0)
        .stdout_has("first failed")
        .stdout_has("did not finish within 2s")
        .stdout_has("second 0");
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "the run waited on the dead connection ({:?})",
        started.elapsed()
    );
    assert_eq!(
        cluster.connections("msk-01"),
        2,
        "a new connection was made"
    );
    let new = master_pid(&kept.socket).expect("a new master at the same path");
    assert_ne!(new, kept.pid, "the hung master was retired");
}

#[test]
fn a_host_whose_sshd_hangs_during_the_login_holds_a_probe_no_longer_than_its_deadline() {
    // sshd accepts the connection and sends its banner, then waits on a key lookup that
    // never returns (a hung NFS home, LDAP or DNS behind AuthorizedKeysCommand).
    let hangs = "Match User root\n  AuthorizedKeysFile none\n  AuthorizedKeysCommand /bin/sleep 600\n  AuthorizedKeysCommandUser root\n";
    let scenario = vzrun::lab::DEFAULT_SCENARIO.replace("speed: 0.05", "speed: 0");
    let Some(cluster) = SshCluster::start_configured(1, &scenario, hangs) else {
        return;
    };
    let scratch = Test::new();
    let inventory = cluster.write_inventory_with("persist.yaml", "known_hosts", ", persist: 60");
    let probe = "//! Probe.\nlet h = host(\"msk-01\");\ntry { within(3, || h.query([\"true\"])); print(\"answered\"); } catch (e) { print(`failed: ${e}`); }\n";
    let started = Instant::now();
    Test::new()
        .file("h.rhai", probe)
        .env("VZRUN_CONTROL_DIR", scratch.path("ctl"))
        .arg("--inventory")
        .arg(&inventory)
        .arg("./h.rhai")
        .run()
        .status(0)
        .stdout_has("failed: ")
        .stdout_has("no connection within the deadline of 3s");
    // ssh alone gave up after 15 s (keepalives); the run ends at its deadline.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the probe outlived its deadline ({:?})",
        started.elapsed()
    );
}

#[test]
fn a_kept_master_that_does_not_answer_at_all_is_replaced_within_the_deadline() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let kept = kept_master(&cluster);
    // The master process itself stops (its socket still accepts: the kernel queues the
    // connection, nobody answers).
    signal(kept.pid, libc::SIGSTOP);
    let started = Instant::now();
    let out = run_kept(
        &kept,
        "let h = host(\"msk-01\");\nprint(`code ${within(4, || h.query([\"true\"])).code}`);\n",
    );
    let took = started.elapsed();
    signal(kept.pid, libc::SIGKILL);
    out.status(0).stdout_has("code 0");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(
        cluster.connections("msk-01"),
        2,
        "a new master was launched"
    );
}

#[test]
fn a_run_whose_machine_goes_silent_lets_its_host_lock_go_after_four_missed_heartbeats() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let scratch = Test::new();
    let inventory = cluster.write_inventory_with("persist.yaml", "known_hosts", ", persist: 60");
    let run = |control: &str| {
        change_and_hold(&inventory, &scratch.path(control)).env("VZRUN_LOCK_HEARTBEAT", "1")
    };
    let (_first, mut holder) = holding(run("ctl-a").arg("./c.rhai"));
    // Its machine goes silent: the run and its master stop, nothing is closed, so sshd keeps
    // the session (ClientAliveInterval is off) as for a laptop that lost its network.
    let master = master_pid(&sockets(&scratch.path("ctl-a")).remove(0)).expect("a master");
    signal(holder.id() as i32, libc::SIGSTOP);
    signal(master, libc::SIGSTOP);
    // Another machine's run waits for the lock and gets it once four heartbeats (1 s here)
    // were missed, instead of never (the session stayed for hours).
    let started = Instant::now();
    let second = run("ctl-b")
        .arg("--lock-wait")
        .arg("60")
        .arg("./c.rhai")
        .run();
    let took = started.elapsed();
    signal(holder.id() as i32, libc::SIGKILL);
    signal(master, libc::SIGKILL);
    let _ = holder.wait();
    second.status(0).stderr_has("changed");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn cluster_lock_on_skips_a_host_that_died_behind_a_kept_master() {
    // A master kept from an earlier run (or made earlier in this one) to a node that has
    // died since: the master process still answers locally, the lock holder never starts
    // over it, and no new connection is greeted. cluster_lock_on took that for a failed
    // lock and ended the run (exit 1) where it skips a node that does not answer.
    let Some(cluster) = SshCluster::start(2) else {
        return;
    };
    let kept = kept_master(&cluster);
    let _frozen = cluster.freeze_connections("msk-01");
    cluster.hang_sshd("msk-01");
    run_kept(
        &kept,
        "cluster_lock_on(hosts(), \"x\", || log(\"inside\"));\n",
    )
    .status(0)
    .stderr_has("holding the lock \"x\" on msk-02 (skipped, not answering: ")
    .stderr_has("msk-01")
    .stderr_has("inside");
}

#[test]
fn cluster_lock_on_waiting_for_one_host_does_not_skip_another_whose_idle_master_ended() {
    // cluster_lock_on connects to all its hosts first, then takes the lock on each in turn,
    // waiting (--lock-wait) for one another run holds. Meanwhile the masters made for the
    // others sit idle, and a master with nothing to carry exits after its ControlPersist
    // (`persist`, 60 s by default; 30 s with persist 0). The lock on such a host then met a
    // dead master, and a host that answers was skipped as "not answering": the lock was not
    // held there, and the changes made there ran without its guard.
    let Some(cluster) = SshCluster::start(2) else {
        return;
    };
    let scratch = Test::new();
    let inventory = cluster.write_inventory_with("persist.yaml", "known_hosts", ", persist: 2");
    let first = Test::new()
        .file(
            "h.rhai",
            "//! Holds it on msk-01.\ncluster_lock_on([host(\"msk-01\")], \"x\", || { log(\"inside\"); sleep(6); });\n",
        )
        .env("VZRUN_CONTROL_DIR", scratch.path("ctl-a"))
        .arg("--inventory")
        .arg(&inventory)
        .arg("./h.rhai");
    let (mut holder, _) = crate::test::spawn_until_stderr_line(&mut first.command(), "inside");
    let second = Test::new()
        .file(
            "t.rhai",
            "//! Takes it on both.\ncluster_lock_on(hosts(), \"x\", || log(\"inside\"));\n",
        )
        .env("VZRUN_CONTROL_DIR", scratch.path("ctl-b"))
        .arg("--inventory")
        .arg(&inventory)
        .arg("--lock-wait")
        .arg("60")
        .arg("./t.rhai")
        .run();
    let _ = holder.wait();
    second
        .status(0)
        .stderr_has("holding the lock \"x\" on msk-01, msk-02")
        .stderr_lacks("skipped")
        .stderr_has("inside");
}
