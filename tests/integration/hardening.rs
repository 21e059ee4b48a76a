//! Hardening: import cycles, a private journal, signals, the SSH control directory, limits
//! that cannot be switched off, read-only ARGS, honest exit codes and deadlines, and terminal
//! output that tools cannot take over.

use std::fs;
use std::path::Path;

use crate::reliability2::only_run;
use crate::sshd::SshCluster;
use crate::test::Test;

#[test]
fn a_module_that_imports_itself_is_a_clear_error_in_runs_and_in_check() {
    let test = Test::new()
        .file("a.rhai", "import \"b\" as b;\nfn one() { 1 }\n")
        .file("b.rhai", "import \"a\" as a;\nfn two() { 2 }\n")
        .file("self.rhai", "import \"self\" as me;\nfn x() { 1 }\n")
        .file(
            "r.rhai",
            "//! Cycle.\nimport \"a\" as a;\nlog(\"never\");\n",
        )
        .file(
            "s.rhai",
            "//! Self.\nimport \"self\" as me;\nlog(\"never\");\n",
        );
    let dir = test.path("");
    let out = test.arg("./r.rhai").run();
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("import cycle: a -> b -> a"),
        "{}",
        out.stderr
    );
    let out = Test::new().arg(dir.join("s.rhai")).run();
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("import cycle: self -> self"),
        "{}",
        out.stderr
    );
    let check = Test::new().arg("check").arg(dir.join("s.rhai")).run();
    assert_eq!(check.status, 1, "{}", check.stderr);
    assert!(
        check.stdout.contains("import cycle: self -> self"),
        "{}{}",
        check.stdout,
        check.stderr
    );
}

#[test]
fn the_journal_is_private_and_keeps_no_lines_of_private_files() {
    use std::os::unix::fs::PermissionsExt;
    let test = Test::new()
        .file(
            "r.rhai",
            "//! Private.\nconf::set(local(), \"/etc/app.conf\", \"PORT\", \"8080\");\nconf::set(local(), \"/etc/public.conf\", \"PORT\", \"8080\");\n",
        )
        .file("root/etc/app.conf", "PASSWORD=hunter2-secret\n")
        .file("root/etc/public.conf", "GREETING=hello-world\n");
    let root = test.path("root");
    fs::set_permissions(root.join("etc/app.conf"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(
        root.join("etc/public.conf"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let state = test.path("state");
    let out = test
        .env("VZRUN_LOCAL_ROOT", &root)
        .env("VZRUN_STATE_DIR", &state)
        .arg("./r.rhai")
        .run()
        .status(0);
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("runs")), 0o700);
    let journal = state
        .join("runs")
        .join(format!("{}.jsonl", only_run(&state)));
    assert_eq!(mode(&journal), 0o600);
    let text = fs::read_to_string(&journal).unwrap();
    assert!(
        !text.contains("hunter2"),
        "a private file's line is in the journal"
    );
    assert!(text.contains("not journaled: /etc/app.conf is not world-readable"));
    assert!(
        text.contains("GREETING=hello-world"),
        "public diffs are kept"
    );
    // The operator still sees the diff, in the log of what was changed.
    assert!(out.stderr.contains("hunter2"), "{}", out.stderr);
}

#[test]
fn sigterm_and_sighup_stop_at_a_safe_point_and_run_the_undo_actions() {
    for signal in [libc::SIGTERM, libc::SIGHUP] {
        let test = Test::new();
        let mark = test.path("undone");
        let script = format!(
            "//! Undo.\ndefer(\"restore\", || local().run([\"touch\", \"{}\"]));\nlog(\"up\");\nsleep(30);\n",
            mark.display()
        );
        let test = test.file("u.rhai", &script);
        let (mut child, line) =
            crate::test::spawn_until_stderr_line(test.command().arg("./u.rhai"), "up");
        assert_eq!(line.trim(), "up");
        // SAFETY: kill(2) on the child this test started.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "signal {signal}");
        assert!(
            mark.exists(),
            "signal {signal}: the undo action did not run"
        );
    }
}

fn probe_over_ssh(cluster: &SshCluster, control: &Path) -> crate::test::Outcome {
    Test::new()
        .file(
            "p.rhai",
            "//! Probe.\nlog(`code ${host(\"msk-01\").query([\"true\"]).code}`);\n",
        )
        .env("VZRUN_CONTROL_DIR", control)
        .arg("--inventory")
        .arg(cluster.path("inventory.yaml"))
        .arg("./p.rhai")
        .run()
}

#[test]
fn a_control_directory_of_another_user_is_refused_and_stale_ones_are_cleaned() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let scratch = Test::new();
    let control = scratch.path("ctl");
    fs::create_dir(&control).unwrap();
    std::os::unix::fs::chown(&control, Some(65534), Some(65534)).unwrap();
    probe_over_ssh(&cluster, &control)
        .status(5)
        .stderr_has("is not a directory owned by uid");
    std::os::unix::fs::chown(&control, Some(0), Some(0)).unwrap();
    // What a kill -9 leaves: a connection directory whose master is gone.
    let stale = control.join(".ssh-connectionAbC123");
    let fresh = control.join(".ssh-connectionXyZ789");
    for dir in [&stale, &fresh] {
        fs::create_dir(dir).unwrap();
        fs::write(dir.join("master"), "").unwrap();
    }
    let aged = std::process::Command::new("touch")
        .args(["-d", "2 minutes ago"])
        .arg(&stale)
        .status()
        .unwrap();
    assert!(aged.success());
    probe_over_ssh(&cluster, &control)
        .status(0)
        .stderr_has("code 0");
    assert!(!stale.exists(), "the stale control directory was left");
    assert!(
        fresh.exists(),
        "a recent one (maybe another run's) was removed"
    );
}

#[test]
fn max_operations_0_is_refused_and_args_keys_cannot_be_added() {
    Test::new()
        .file("l.rhai", "//! Loop.\nloop {}\n")
        .args(["--max-operations", "0", "./l.rhai"])
        .run()
        .status(2)
        .stderr_has("--max-operations");
    for assignment in [
        "ARGS.extra = 1;",
        "ARGS[\"extra\"] = 1;",
        "ARGS.greeting = \"x\";",
    ] {
        let test = Test::new().file(
            "a.rhai",
            &format!("//! Args.\n//! opt greeting = \"hi\": what to say\n{assignment}\nlog(`${{ARGS}}`);\n"),
        );
        let dir = test.path("");
        let _kept = test
            .arg("./a.rhai")
            .run()
            .status(1)
            .stderr_has("cannot assign to ARGS: it is read-only")
            .stderr_lacks("extra");
        Test::new()
            .args(["check"])
            .arg(dir.join("a.rhai"))
            .run()
            .status(1)
            .stdout_has("cannot assign to ARGS");
    }
}

#[test]
fn a_missing_remote_program_is_exit_127_not_an_unreachable_host() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    Test::new()
        .file(
            "m.rhai",
            "//! Missing.\nlet r = host(\"msk-01\").query([\"no-such-tool-vzrun\"], #{check: false});\nlog(`code ${r.code}`);\nhost(\"msk-01\").query([\"no-such-tool-vzrun\", \"--x\"]);\n",
        )
        .arg("--inventory")
        .arg(cluster.path("inventory.yaml"))
        .arg("./m.rhai")
        .run()
        .status(1)
        .stderr_has("code 127")
        .stderr_has("command failed on msk-01 (exit 127): no-such-tool-vzrun --x")
        .stderr_lacks("unreachable");
}

#[test]
fn a_background_child_holding_stdout_does_not_outlive_the_deadline() {
    let test = Test::new();
    let marker = test.path("sleeper.pid");
    let script = format!(
        "//! Background.\nlet r = local().query([\"sh\", \"-c\", \"sleep 300 & echo $! > {}; echo started\"], #{{timeout: 2}});\nlog(`got ${{r.stdout}} code ${{r.code}}`);\n",
        marker.display()
    );
    let started = std::time::Instant::now();
    let out = test.file("b.rhai", &script).arg("./b.rhai").run();
    // Not a performance assertion: without the deadline this waits for the 300 s sleep.
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("got started\n code 0"),
        "{}",
        out.stderr
    );
    let pid: i32 = fs::read_to_string(out.path("sleeper.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Gone, or a zombie nobody reaped yet (no init in a container). The SIGKILL was sent
    // before vzrun exited, but a loaded machine may take a moment to run the dying process:
    // a few seconds, against the 300 s it would live without the kill.
    let alive = || {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z') && !rest.is_empty())
    };
    let mut tries = 0;
    while alive() && tries < 50 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        tries += 1;
    }
    assert!(!alive(), "the background child outlived the deadline");
}

#[test]
fn terminal_escapes_from_tools_are_shown_escaped() {
    let out = Test::new()
        .file(
            "e.rhai",
            "//! Escapes.\nlet r = local().query([\"printf\", \"name\\x1b]0;owned\\x07\\n\"]);\nlog(`vm ${r.stdout}`);\nprint(`data ${r.stdout}`);\nlocal().query([\"sh\", \"-c\", \"printf 'bad\\\\033[2J' >&2; exit 1\"]);\n",
        )
        .arg("./e.rhai")
        .run()
        .status(1);
    assert!(
        !out.stdout.contains('\x1b') && !out.stderr.contains('\x1b'),
        "{out:?}",
        out = (&out.stdout, &out.stderr)
    );
    assert!(
        out.stderr.contains("vm name\\x1b]0;owned\\x07"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("data name\\x1b]0;owned\\x07"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("bad\\x1b[2J"), "{}", out.stderr);
}

#[test]
fn a_multibyte_size_string_is_bad_input_not_a_panic() {
    for size in ["1Ж", "Ж", "10€", "2ГБ"] {
        Test::new()
            .file(
                "s.rhai",
                &format!("//! Size.\nprlctl::set(host(\"msk-01\"), \"web01\", #{{memsize: \"{size}\"}});\n"),
            )
            .args(["--lab", "./s.rhai"])
            .run()
            .status(2)
            .stderr_has("memsize")
            .stderr_lacks("internal error");
        Test::new()
            .file(
                "s.rhai",
                &format!("//! Size.\nprlctl::set_disk(host(\"msk-01\"), \"web01\", \"hdd0\", #{{size: \"{size}\"}});\n"),
            )
            .args(["--lab", "./s.rhai"])
            .run()
            .status(2)
            .stderr_lacks("internal error");
    }
}

#[test]
fn the_remote_lock_holder_file_is_never_written_through_a_symlink() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let victim = cluster.path("victim");
    fs::write(&victim, "precious\n").unwrap();
    let holder = cluster.path("locks/msk-01/vzrun-run.holder");
    std::os::unix::fs::symlink(&victim, &holder).unwrap();
    Test::new()
        .file("c.rhai", "//! Change.\nhost(\"msk-01\").run([\"true\"]);\n")
        .arg("--inventory")
        .arg(cluster.path("inventory.yaml"))
        .arg("./c.rhai")
        .run()
        .status(0);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    let meta = fs::symlink_metadata(&holder).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the holder is a file of its own now"
    );
    assert!(fs::read_to_string(&holder).unwrap().starts_with("run "));
}
