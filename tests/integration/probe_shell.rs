//! Probes through the shell kept on each host for the run (src/transport/ssh/probe_shell.rs),
//! against real sshd instances on loopback: the probes of a host share one shell, each as
//! isolated as in a session of its own, and no shell outlives its run.

use std::time::{Duration, Instant};

use vzrun::cmd::Cmd;
use vzrun::transport::{Transport, TransportError};

use crate::ssh::transport;
use crate::sshd::SshCluster;
use crate::test::Test;

/// The pid of the process that started the probe (the host's probe shell, if it was one).
fn parent_of_a_probe(ssh: &dyn Transport) -> u32 {
    let out = ssh.run(&Cmd::read(["sh", "-c", "echo $PPID"])).unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout.trim().parse().unwrap()
}

fn is_probe_shell(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|env| {
            env.split(|&b| b == 0)
                .any(|entry| entry == b"VZRUN_PROBE_SHELL=1")
        })
        .unwrap_or(false)
}

fn wait_gone(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && is_probe_shell(pid) {
        assert!(
            Instant::now() < deadline,
            "{what}: the shell {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_probes_of_a_host_share_one_shell_that_ends_with_the_run() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let ssh = transport(&cluster, 0);
    let shell = parent_of_a_probe(&ssh);
    assert!(
        is_probe_shell(shell),
        "the probe's parent {shell} is no probe shell"
    );
    assert_eq!(
        parent_of_a_probe(&ssh),
        shell,
        "a second probe, another shell"
    );
    // A file read too (the login shell's inline script), and a missing program.
    assert_eq!(ssh.read_file("/proc/self/comm").unwrap().unwrap(), b"cat\n");
    let missing = ssh.run(&Cmd::read(["no-such-program-here"])).unwrap();
    assert_eq!(missing.code, 127, "{missing:?}");
    assert!(
        missing.stderr.contains("command not found on msk-01"),
        "{missing:?}"
    );
    assert_eq!(parent_of_a_probe(&ssh), shell);
    // A change has a session of its own, as before.
    let change = ssh.run(&Cmd::change(["sh", "-c", "echo $PPID"])).unwrap();
    assert_ne!(change.stdout.trim(), shell.to_string());
    drop(ssh);
    wait_gone(shell, "after the transport was dropped");
}

#[test]
fn a_probe_in_the_shell_is_as_isolated_as_in_its_own_session() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let ssh = transport(&cluster, 0);
    let shell = parent_of_a_probe(&ssh);
    // stdin is empty: a probe that reads it cannot eat the shell's next commands.
    let read = ssh.run(&Cmd::read(["cat"])).unwrap();
    assert_eq!((read.code, read.stdout.as_str()), (0, ""));
    // Output as written (no newline at the end, a line like the shell's own), both streams,
    // the exit status; what a probe sets or where it goes stays with it.
    let out = ssh
        .run(&Cmd::read([
            "sh",
            "-c",
            "printf 'a\\nvzrun-end-0 0\\nb'; printf 'e' >&2; cd /; export X=1; exit 42",
        ]))
        .unwrap();
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (42, "a\nvzrun-end-0 0\nb", "e")
    );
    let after = ssh
        .run(&Cmd::read(["sh", "-c", "echo \"${X:-unset} $PWD\""]))
        .unwrap();
    assert_ne!(after.stdout, "1 /\n");
    assert!(after.stdout.starts_with("unset "), "{after:?}");
    // A probe past its deadline is stopped with its shell; the next one gets a new shell.
    let err = ssh
        .run(&Cmd::read(["sleep", "30"]).with_timeout(Duration::from_secs(1)))
        .unwrap_err();
    assert!(matches!(err, TransportError::TimedOut { .. }), "{err}");
    wait_gone(shell, "after its probe ran out of time");
    let next = parent_of_a_probe(&ssh);
    assert_ne!(next, shell);
    assert!(is_probe_shell(next));
}

#[test]
fn a_killed_run_leaves_no_shell_on_the_host() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    // One probe leaves the shell idle; then the run waits here, on this machine.
    let runbook = "//! Probe, then wait.\nlet h = host(\"msk-01\");\nlet parent = h.query([\"sh\", \"-c\", \"echo $PPID\"]).stdout;\nparent.trim();\nlog(`shell ${parent}`);\nlocal().query([\"sleep\", \"30\"]);\n";
    let test = Test::new().file("p.rhai", runbook);
    let (mut client, line) = crate::test::spawn_until_stderr_line(
        test.command()
            .arg("--inventory")
            .arg(cluster.path("inventory.yaml"))
            .arg("./p.rhai"),
        "shell ",
    );
    let shell: u32 = line
        .split("shell ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"));
    assert!(is_probe_shell(shell), "{line}");
    client.kill().unwrap(); // SIGKILL
    client.wait().unwrap();
    wait_gone(shell, "after kill -9 of the run");
}

#[test]
fn a_probe_through_a_shell_whose_connection_went_silent_fails_within_its_deadline() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    // A probe leaves the shell idle; the connection then stops answering (a dead switch
    // port): the next probe's deadline must hold, and the one after it gets a new
    // connection, without first waiting on the dead one to stop the probe.
    let scratch = Test::new();
    let go = scratch.path("go");
    let runbook = format!(
        "//! Probe, wait, probe again.\nlet h = host(\"msk-01\");\nh.query([\"true\"]);\nlog(\"ready\");\nlocal().query([\"sh\", \"-c\", \"while [ ! -e '{}' ]; do sleep 0.05; done\"]);\nlet first = \"answered\";\ntry {{ within(2, || h.query([\"true\"])); }} catch (e) {{ first = `${{e}}`; }}\nif !first.contains(\"did not finish within 2s\") {{ exit(7); }}\nif within(60, || h.query([\"true\"])).code != 0 {{ exit(8); }}\n",
        go.display()
    );
    let test = Test::new().file("p.rhai", &runbook);
    let (client, _) = crate::test::spawn_until_stderr_line(
        test.command()
            .arg("--inventory")
            .arg(cluster.path("inventory.yaml"))
            .arg("./p.rhai"),
        "ready",
    );
    let frozen = cluster.freeze_connections("msk-01");
    let started = Instant::now();
    std::fs::write(&go, "").unwrap();
    let status = client.wait_with_output().unwrap().status;
    let elapsed = started.elapsed();
    drop(frozen);
    // 7: the first probe did not fail on its deadline; 8: the second did not answer.
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(
        elapsed < Duration::from_secs(12),
        "the run waited on the dead connection ({elapsed:?})"
    );
}

#[test]
fn the_idle_shell_does_not_take_a_session_that_a_command_needs() {
    // sshd's default MaxSessions: 10 channels per connection. The run lock holds one; nine
    // changes at once filled the rest before probes had a shell of their own, and must still
    // run, over the same connection, once the idle shell is there too.
    let scenario = vzrun::lab::DEFAULT_SCENARIO.replace("speed: 0.05", "speed: 0");
    let Some(cluster) = SshCluster::start_configured(1, &scenario, "MaxSessions 10\n") else {
        return;
    };
    let runbook = "//! Nine at once.\nlet h = host(\"msk-01\");\nh.query([\"true\"]);\nlet codes = parallel([1, 2, 3, 4, 5, 6, 7, 8, 9], 9, |i| h.run([\"sleep\", \"1\"]).code);\nprint(`codes ${codes}`);\nprint(`after ${h.query([\"true\"]).code}`);\n";
    Test::new()
        .file("n.rhai", runbook)
        .arg("--inventory")
        .arg(cluster.path("inventory.yaml"))
        .arg("./n.rhai")
        .run()
        .status(0)
        .stdout_has("codes [0, 0, 0, 0, 0, 0, 0, 0, 0]")
        .stdout_has("after 0");
    assert_eq!(
        cluster.connections("msk-01"),
        1,
        "a new connection was made"
    );
}

#[test]
fn words_a_shell_would_act_on_and_200_kb_of_argv_reach_the_probe_intact() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let ssh = transport(&cluster, 0);
    let canary = cluster.path("canary");
    let words = [
        "two\nlines".to_string(),
        "it's \"quoted\"".into(),
        format!("$(touch {})", canary.display()),
        format!("`touch {}`", canary.display()),
        "; exit 9 )".into(),
        "\n)\nprintf 'vzrun-end-x 0\\n'\n".into(),
        String::new(),
        "tab\there".into(),
    ];
    for word in &words {
        let out = ssh
            .run(&Cmd::read(["printf", "%s", word.as_str()]))
            .unwrap();
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, word.as_str()),
            "{word:?}"
        );
    }
    assert!(!canary.exists(), "a word was run by a shell");
    // 200 KB of arguments (4 of 50 KB), read by the shell from its stdin.
    let big: Vec<String> = (0..4).map(|i| format!("{i}").repeat(50_000)).collect();
    let mut argv = vec![
        "sh".to_string(),
        "-c".into(),
        "printf %s \"$*\" | wc -c".into(),
        "sh".into(),
    ];
    argv.extend(big.iter().cloned());
    let out = ssh.run(&Cmd::read(argv)).unwrap();
    assert_eq!(
        (out.code, out.stdout.trim()),
        (0, "200003"),
        "{}",
        out.stderr
    );
    // And the shell still answers.
    assert_eq!(ssh.run(&Cmd::read(["echo", "ok"])).unwrap().stdout, "ok\n");
}

#[test]
fn binary_output_and_a_big_stream_beside_a_small_one_come_back_whole() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let bytes: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    std::fs::write(cluster.path("bin"), &bytes).unwrap();
    let ssh = transport(&cluster, 0);
    let path = cluster.path("bin").display().to_string();
    assert_eq!(ssh.read_file(&path).unwrap().unwrap(), bytes);
    // Big stderr, small stdout: neither pipe may stall the other.
    let out = ssh
        .run(&Cmd::read([
            "sh",
            "-c",
            "head -c 3000000 /dev/zero | tr '\\0' e >&2; echo small",
        ]))
        .unwrap();
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.len()),
        (0, "small\n", 3_000_000)
    );
    let out = ssh
        .run(&Cmd::read([
            "sh",
            "-c",
            "head -c 3000000 /dev/zero | tr '\\0' o; echo small >&2",
        ]))
        .unwrap();
    assert_eq!(
        (out.code, out.stdout.len(), out.stderr.as_str()),
        (0, 3_000_000, "small\n")
    );
    assert_eq!(ssh.read_file(&path).unwrap().unwrap(), bytes);
}

#[test]
fn output_of_exactly_the_cap_is_read_and_one_byte_more_is_refused() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let script = "let h = host(\"msk-01\");\nprint(`exact ${h.query([\"head\", \"-c\", \"1048576\", \"/dev/zero\"]).stdout.len()}`);\nprint(`exacterr ${h.query([\"sh\", \"-c\", \"head -c 1048576 /dev/zero >&2\"]).stderr.len()}`);\ntry { h.query([\"head\", \"-c\", \"1048577\", \"/dev/zero\"]); print(\"over read\"); } catch (e) { print(`over ${e}`); }\nprint(`after ${h.query([\"echo\", \"ok\"]).stdout}`);\n";
    let out = Test::new()
        .file("c.rhai", &format!("//! Cap.\n{script}"))
        .arg("--inventory")
        .arg(cluster.path("inventory.yaml"))
        .arg("./c.rhai")
        .env("VZRUN_MAX_OUTPUT_MB", "1")
        .run()
        .status(0)
        .stdout_has("exact 1048576")
        .stdout_has("exacterr 1048576")
        .stdout_has("after ok");
    assert!(
        out.stdout.contains("over ") && out.stdout.contains("passed 1 MB"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_probe_that_closes_its_output_and_goes_on_is_waited_for() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let ssh = transport(&cluster, 0);
    let started = Instant::now();
    let out = ssh
        .run(&Cmd::read([
            "sh",
            "-c",
            "echo a; exec >&- 2>&-; sleep 1; exit 3",
        ]))
        .unwrap();
    assert_eq!((out.code, out.stdout.as_str()), (3, "a\n"));
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(ssh.run(&Cmd::read(["echo", "ok"])).unwrap().stdout, "ok\n");
}

#[test]
fn the_next_probe_works_after_the_idle_shell_was_killed_on_the_host() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let ssh = transport(&cluster, 0);
    for sig in [libc::SIGKILL, libc::SIGTERM, libc::SIGHUP] {
        let shell = parent_of_a_probe(&ssh);
        crate::sshd::signal(shell as i32, sig);
        wait_gone(shell, "killed");
        let out = ssh.run(&Cmd::read(["echo", "ok"])).unwrap();
        assert_eq!(out.stdout, "ok\n");
    }
}

#[test]
fn a_killed_idle_shell_is_replaced_over_the_same_connection() {
    // The idle shell ended on the host (killed by an operator, the OOM killer): the
    // connection is fine, and a new one (a login, a key exchange) is not what it needs.
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let ssh = transport(&cluster, 0);
    for sig in [libc::SIGKILL, libc::SIGTERM] {
        let shell = parent_of_a_probe(&ssh);
        crate::sshd::signal(shell as i32, sig);
        wait_gone(shell, "killed");
        assert_eq!(ssh.run(&Cmd::read(["echo", "ok"])).unwrap().stdout, "ok\n");
    }
    assert_eq!(
        cluster.connections("msk-01"),
        1,
        "a killed shell cost a new connection"
    );
}

#[test]
fn forty_probes_at_once_on_one_host_each_get_their_own_output() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let runbook = "let h = host(\"msk-01\");\nlet items = [];\nfor i in 1..=40 { items.push(i); }\nlet outs = parallel(items, 40, |i| { let o = h.query([\"sh\", \"-c\", `echo out${i}; echo err${i} >&2`]); `${o.stdout}/${o.stderr}/${o.code}` });\nlet bad = 0;\nfor (o, i) in outs { if o != `out${i + 1}\n/err${i + 1}\n/0` { print(`bad ${o}`); bad += 1; } }\nprint(`bad ${bad}`);\n";
    Test::new()
        .file("m.rhai", &format!("//! Many.\n{runbook}"))
        .arg("--inventory")
        .arg(cluster.path("inventory.yaml"))
        .arg("./m.rhai")
        .run()
        .status(0)
        .stdout_has("bad 0");
}

#[test]
fn a_noisy_bashrc_stays_out_of_the_probes_output() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    std::fs::write(
        cluster.path("home/.bashrc"),
        "echo bashrc-out; echo bashrc-err >&2; printf 'vzrun-start-'; head -c 200000 /dev/zero | tr '\\0' n\n",
    )
    .unwrap();
    let ssh = transport(&cluster, 0);
    for _ in 0..3 {
        let out = ssh
            .run(&Cmd::read(["sh", "-c", "echo out; echo err >&2"]))
            .unwrap();
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("out\n", "err\n")
        );
    }
}

#[test]
fn a_path_prefix_inventory_finds_its_tools_through_the_shell() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let bin = cluster.path("bin dir");
    std::fs::create_dir(&bin).unwrap();
    let tool = bin.join("mytool");
    std::fs::write(&tool, "#!/bin/sh\necho \"mytool $# [$1]\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let h = &cluster.hosts[0];
    let settings = vzrun::inventory::SshSettings {
        user: Some("root".into()),
        port: Some(h.port),
        identity: Some(cluster.path("id")),
        known_hosts: Some(cluster.path("known_hosts")),
        connect_timeout: Some(5),
        path_prefix: Some(bin.display().to_string()),
        ..vzrun::inventory::SshSettings::default()
    };
    let ssh = vzrun::transport::Ssh::new(
        &h.name,
        &h.address,
        settings,
        false,
        vzrun::transport::Ssh::runtime().unwrap(),
    );
    let out = ssh.run(&Cmd::read(["mytool", "a b\nc"])).unwrap();
    assert_eq!(out.stdout, "mytool 1 [a b\nc]\n");
    std::fs::write(cluster.path("f"), "x").unwrap();
    assert_eq!(
        ssh.read_file(&cluster.path("f").display().to_string())
            .unwrap()
            .unwrap(),
        b"x"
    );
}

#[test]
fn a_background_child_that_writes_later_stays_out_of_the_next_probe() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let ssh = transport(&cluster, 0);
    // The child keeps the probe's stdout and stderr and writes after the probe ended; the
    // next probe runs while it does.
    let first = ssh
        .run(&Cmd::read([
            "sh",
            "-c",
            "(sleep 0.5; echo late; echo late >&2) & echo now",
        ]))
        .unwrap();
    let second = ssh
        .run(&Cmd::read(["sh", "-c", "sleep 1.5; echo mine"]))
        .unwrap();
    assert_eq!(
        (second.stdout.as_str(), second.stderr.as_str()),
        ("mine\n", ""),
        "the next probe got the child's output"
    );
    // As in a session of its own: the probe ends when its output is closed.
    assert_eq!(
        (first.code, first.stdout.as_str(), first.stderr.as_str()),
        (0, "now\nlate\n", "late\n")
    );
}

#[test]
fn a_probe_killed_by_a_signal_gives_128_and_the_signal_as_locally() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let ssh = transport(&cluster, 0);
    for (signal, code) in [("KILL", 137), ("TERM", 143)] {
        let argv = ["sh", "-c", &format!("echo before; kill -{signal} $$")];
        let here = vzrun::transport::Local::default()
            .run(&Cmd::read(argv))
            .unwrap();
        let there = ssh.run(&Cmd::read(argv)).unwrap();
        assert_eq!((there.code, there.stdout.as_str()), (code, "before\n"));
        assert_eq!((here.code, here.stderr.as_str()), (code, ""));
        assert_eq!(
            there.stderr, "",
            "the shell's note on the signal is no output of the probe"
        );
    }
    assert_eq!(ssh.run(&Cmd::read(["echo", "ok"])).unwrap().stdout, "ok\n");
}

#[test]
fn a_probe_whose_child_holds_its_output_past_the_deadline_is_stopped_with_the_child() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let ssh = transport(&cluster, 0);
    let marker = format!("31.{}{}", std::process::id(), line!());
    // The child keeps the output open: the probe ends at its deadline, as over a session of
    // its own, and the child is stopped with it. A child that lets go of the output does
    // not hold the probe.
    let started = Instant::now();
    let err = ssh
        .run(
            &Cmd::read(["sh", "-c", &format!("sleep {marker} & echo x")])
                .with_timeout(Duration::from_secs(2)),
        )
        .unwrap_err();
    assert!(matches!(err, TransportError::TimedOut { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !crate::ssh::processes_running(&format!("sleep {marker}")).is_empty() {
        assert!(Instant::now() < deadline, "the child still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    let out = ssh
        .run(&Cmd::read(["sh", "-c", "sleep 5 >/dev/null 2>&1 & echo x"]))
        .unwrap();
    assert_eq!(out.stdout, "x\n");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(ssh.run(&Cmd::read(["echo", "ok"])).unwrap().stdout, "ok\n");
}

#[test]
fn a_login_shell_slower_than_the_deadline_times_the_probe_out_and_the_next_one_works() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    // The login shell (bash, reading .bashrc) takes 2 s before it starts the probe shell.
    std::fs::write(cluster.path("home/.bashrc"), "sleep 2\n").unwrap();
    let ssh = transport(&cluster, 0);
    let started = Instant::now();
    let err = ssh
        .run(&Cmd::read(["echo", "hi"]).with_timeout(Duration::from_secs(1)))
        .unwrap_err();
    assert!(matches!(err, TransportError::TimedOut { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let out = ssh
        .run(&Cmd::read(["echo", "hi"]).with_timeout(Duration::from_secs(20)))
        .unwrap();
    assert_eq!(out.stdout, "hi\n");
}
