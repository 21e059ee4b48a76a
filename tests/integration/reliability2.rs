//! Reliability, second part: bytes nobody asked to change, locks that outlive the changes they
//! guard, lock conflicts that are never retried into success, options checked before anything
//! runs, and resumes that stay on the run's own target.

use std::fs;
use std::path::Path;

use crate::sshd::SshCluster;
use crate::test::Test;

/// An fstab whose second entry's mount point is not UTF-8 (`/mnt/\xff\xfe`), with a Latin-1
/// comment: what an old installer may leave behind.
const FSTAB_BYTES: &[u8] =
    b"# caf\xe9 cr\xe9\xe9 par l'installeur\nUUID=6f1c\t/\txfs\tdefaults\t0 0\n/dev/sdb1 /mnt/\xff\xfe ext4 noatime 0 0\n";

fn backup_of(path: &Path) -> Vec<u8> {
    let mut name = path.file_name().unwrap().to_os_string();
    name.push(".vzrun.bak");
    fs::read(path.with_file_name(name)).unwrap()
}

/// Runs `script` against a local root whose /etc/fstab is [`FSTAB_BYTES`]; checks that the
/// file became `expected` and that the backup is the old file byte for byte.
fn edit_local_fstab(script: &str, expected: &[u8]) -> crate::test::Outcome {
    let test = Test::new().file("r.rhai", &format!("//! Test.\n{script}"));
    let fstab = test.path("root/etc/fstab");
    fs::create_dir_all(fstab.parent().unwrap()).unwrap();
    fs::write(&fstab, FSTAB_BYTES).unwrap();
    let root = test.path("root");
    let out = test
        .env("VZRUN_LOCAL_ROOT", root)
        .arg("./r.rhai")
        .run()
        .status(0);
    assert_eq!(fs::read(&fstab).unwrap(), expected);
    assert_eq!(backup_of(&fstab), FSTAB_BYTES);
    out
}

#[test]
fn a_local_fstab_edit_keeps_non_utf8_bytes_and_backs_up_the_old_bytes() {
    let mut expected = FSTAB_BYTES.to_vec();
    expected.extend_from_slice(b"/dev/sdc1 /data ext4 defaults 0 0\n");
    edit_local_fstab(
        r#"fstab::ensure(local(), #{spec: "/dev/sdc1", file: "/data", vfstype: "ext4"});
log(`entries ${fstab::list(local()).len()}`);
"#,
        &expected,
    )
    .stderr_has("entries 3");
}

#[test]
fn a_local_fstab_remove_of_a_non_utf8_mount_point_removes_only_that_line() {
    // The mount point read from the file is handed back unchanged: it names the same bytes.
    edit_local_fstab(
        r#"for e in fstab::list(local()) { if e.spec == "/dev/sdb1" { fstab::remove(local(), e.file); } }"#,
        b"# caf\xe9 cr\xe9\xe9 par l'installeur\nUUID=6f1c\t/\txfs\tdefaults\t0 0\n",
    );
}

#[test]
fn an_edit_over_ssh_keeps_non_utf8_bytes_and_backs_up_the_old_bytes() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let conf = cluster.path("vz.conf");
    let old: &[u8] = b"# \xe9t\xe9 \xff\nVE_ROOT=\"/vz/root/$VEID\"\nNAME=\"caf\xe9\"\n";
    fs::write(&conf, old).unwrap();
    let lines = cluster.path("lines.conf");
    fs::write(&lines, old).unwrap();
    let script = format!(
        "//! Over SSH.\nlet h = host(\"msk-01\");\nconf::set(h, \"{}\", \"PFCACHE\", \"yes\");\nfile::ensure_line(h, \"{}\", \"* soft nofile 65536\");\n",
        conf.display(),
        lines.display()
    );
    Test::new()
        .file("r.rhai", &script)
        .arg("--inventory")
        .arg(cluster.path("inventory.yaml"))
        .arg("./r.rhai")
        .run()
        .status(0);
    let mut expected = old.to_vec();
    expected.extend_from_slice(b"PFCACHE=yes\n");
    assert_eq!(fs::read(&conf).unwrap(), expected);
    assert_eq!(backup_of(&conf), old);
    let mut expected = old.to_vec();
    expected.extend_from_slice(b"* soft nofile 65536\n");
    assert_eq!(fs::read(&lines).unwrap(), expected);
    assert_eq!(backup_of(&lines), old);
}

/// A runbook that starts a long change on msk-01 and says so once the remote command runs.
fn long_change(marker: &Path, done: &Path) -> String {
    format!(
        "//! Long change.\nhost(\"msk-01\").run([\"sh\", \"-c\", \"touch {m}; sleep 4; touch {d}\"]);\n",
        m = marker.display(),
        d = done.display()
    )
}

fn wait_for(path: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Starts a long change on `host` (named `name`), kills vzrun (-9) once the change runs, and
/// checks that a second run is refused (exit 4) until the change ended, then let through.
/// `target` adds what reaches the host (an inventory, a state directory).
fn check_the_lock_outlives_a_kill(
    name: &str,
    host: &str,
    dir: &Path,
    target: &dyn Fn(Test) -> Test,
) {
    let (marker, done) = (dir.join("started"), dir.join("done"));
    let runbook = long_change(&marker, &done).replace("host(\"msk-01\")", host);
    let first = target(Test::new().file("c.rhai", &runbook));
    let mut client = first
        .command()
        .arg("./c.rhai")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&marker);
    client.kill().unwrap();
    client.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let second = || {
        let script = format!("//! Second.\n{host}.run([\"true\"]);\nlog(\"changed\");\n");
        target(Test::new().file("s.rhai", &script))
            .arg("./s.rhai")
            .run()
    };
    assert!(!done.exists(), "the change ended too early for this test");
    second()
        .status(4)
        .stderr_has(&format!("{name} is locked by run "))
        .stderr_lacks("\nchanged\n");
    wait_for(&done);
    std::thread::sleep(std::time::Duration::from_millis(300));
    second().status(0).stderr_has("changed");
}

#[test]
fn over_ssh_the_lock_outlives_a_killed_client_until_its_remote_change_ends() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let inventory = cluster.path("inventory.yaml");
    check_the_lock_outlives_a_kill("msk-01", "host(\"msk-01\")", cluster.dir.path(), &|t| {
        t.arg("--inventory").arg(&inventory)
    });
}

#[test]
fn locally_the_lock_outlives_a_killed_vzrun_until_its_change_ends() {
    let scratch = Test::new();
    let state = scratch.path("state");
    check_the_lock_outlives_a_kill("local", "local()", &scratch.path(""), &|t| {
        t.env("VZRUN_STATE_DIR", &state)
    });
}

/// Starts a run that holds `local`'s lock for a minute; killed when dropped.
struct Holder(std::process::Child);

impl Holder {
    fn start(state: &Path) -> Holder {
        let test = Test::new()
            .file(
                "h.rhai",
                "//! Hold.\nlocal().run([\"true\"]);\nlog(\"holding\");\nsleep(60);\n",
            )
            .env("VZRUN_STATE_DIR", state);
        let (child, line) =
            crate::test::spawn_until_stderr_line(test.command().arg("./h.rhai"), "holding");
        assert_eq!(line.trim(), "holding");
        Holder(child)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Kills `Runner::lock` taking no lock (`lock_host` before the first move) and
/// `Runner::holder` naming nobody: with the host held, `lock_host` alone fails (exit 4)
/// before the next line; a plan takes no lock; `run_holder()` names this run.
#[test]
fn lock_host_takes_the_lock_before_any_change_and_a_plan_takes_none() {
    let scratch = Test::new();
    let state = scratch.path("state");
    let run = |args: &[&str]| {
        Test::new()
            .file(
                "r.rhai",
                "//! Lock first.\nlog(`holder ${run_holder()}`);\nlock_host(local());\nlog(\"locked\");\n",
            )
            .env("VZRUN_STATE_DIR", &state)
            .args(args)
            .run()
    };
    // The log is on stderr, where "is locked by" may stand too: the line itself is looked for.
    let logged = |out: &crate::test::Outcome, line: &str| out.stderr.lines().any(|l| l == line);
    let alone = run(&["./r.rhai"]).status(0);
    assert!(logged(&alone, "locked"), "{}", alone.stderr);
    let holder = alone
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("holder "))
        .unwrap_or_else(|| panic!("{}", alone.stderr));
    let re = regex::Regex::new(
        r"^run \d{8}-\d{6}-[0-9a-f]{4} \(\S*r(\.rhai)?\) by .+@\S* pid \d+ since \S+Z$",
    )
    .unwrap();
    assert!(re.is_match(holder), "{holder}");
    let _holder = Holder::start(&state);
    let refused = run(&["./r.rhai"])
        .status(4)
        .stderr_has("local is locked by run ");
    assert!(!logged(&refused, "locked"), "{}", refused.stderr);
    let plan = run(&["plan", "./r.rhai"]).status(0);
    assert!(logged(&plan, "locked"), "{}", plan.stderr);
}

#[test]
fn a_held_lock_is_never_retried_and_never_caught_into_success() {
    let scratch = Test::new();
    let state = scratch.path("state");
    let _holder = Holder::start(&state);
    let run = |script: &str| {
        Test::new()
            .file("r.rhai", &format!("//! Contend.\n{script}"))
            .env("VZRUN_STATE_DIR", &state)
            .arg("./r.rhai")
            .run()
    };
    run("retry(3, 0.1, || local().run([\"true\"]));\nlog(\"moved\");\n")
        .status(4)
        .stderr_has("local is locked by run ")
        .stderr_lacks("retrying")
        .stderr_lacks("moved");
    // A script (or a stdlib loop) that catches the conflict still ends in exit 4, and makes
    // no further change anywhere.
    run("for i in 0..3 { try { local().run([\"true\"]); } catch (e) { warn(`skipped: ${e}`); } }\nlog(\"5 VEs moved\");\n")
        .status(4)
        .stderr_has("local is locked by run ");
}

#[test]
fn out_of_range_options_exit_2_before_anything_changes() {
    let scratch = Test::new();
    let state = scratch.path("lab.json");
    let cases: [&[&str]; 4] = [
        &["evacuate", "msk-07", "--start-timeout", "-5", "--yes"],
        &["evacuate", "msk-07", "--parallel", "0", "--yes"],
        &["fill-margin", "--minutes", "-1", "--yes"],
        &["evacuate", "msk-07", "--parallel", "65", "--yes"],
    ];
    Test::new()
        .arg("--lab")
        .arg("--lab-state")
        .arg(&state)
        .arg("hello")
        .run()
        .status(0);
    let before = fs::read(&state).unwrap();
    for argv in cases {
        Test::new()
            .arg("--lab")
            .arg("--lab-state")
            .arg(&state)
            .args(argv.iter().copied())
            .run()
            .status(2)
            .stderr_has("is outside")
            .stderr_lacks("moved");
        assert_eq!(
            fs::read(&state).unwrap(),
            before,
            "{argv:?} changed the lab"
        );
    }
}

#[test]
fn every_numeric_option_of_the_catalog_declares_its_range() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks");
    let mut missing = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rhai") {
            continue;
        }
        let header = vzrun::runbook::Header::parse(&fs::read_to_string(&path).unwrap()).unwrap();
        for p in &header.params {
            let numeric = matches!(
                p.kind,
                vzrun::runbook::ParamKind::Opt {
                    default: Some(vzrun::runbook::Value::Int(_) | vzrun::runbook::Value::Float(_))
                }
            );
            if numeric && p.range.is_none() {
                missing.push(format!("{}: {}", path.display(), p.name));
            }
        }
    }
    assert!(missing.is_empty(), "options without a range: {missing:#?}");
}

/// A destructive runbook beside a helper module: it confirms, writes a file on msk-01, then
/// fails until `gate` exists.
fn gated_runbook(test: Test, gate: &Path) -> Test {
    test.file("helper.rhai", "fn note() { \"from the helper\" }\n").file(
        "g.rhai",
        &format!(
            "//! Gated.\n//! destructive\nimport \"helper\" as helper;\nstep(\"write\", || file::write(host(\"msk-01\"), \"/etc/motd\", helper::note()));\nif !file::exists(local(), \"{}\") {{ throw \"the gate is closed\"; }}\nlog(\"through the gate\");\n",
            gate.display()
        ),
    )
}

/// The id of the only run journaled under `state`.
pub(crate) fn only_run(state: &Path) -> String {
    let ids = crate::test::run_ids(state);
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids[0].clone()
}

#[test]
fn resume_stays_on_the_runs_own_lab_and_refuses_another() {
    let scratch = Test::new();
    let (journal, gate) = (scratch.path("journal"), scratch.path("gate"));
    let (lab, other) = (scratch.path("lab.json"), scratch.path("other.json"));
    let _first = gated_runbook(Test::new(), &gate)
        .env("VZRUN_STATE_DIR", &journal)
        .arg("--lab")
        .arg("--lab-state")
        .arg(&lab)
        .args(["./g.rhai", "--yes"])
        .run()
        .status(1)
        .stderr_has("the gate is closed");
    let id = only_run(&journal);
    fs::write(&gate, "").unwrap();
    let resume = |extra: &[&std::ffi::OsStr]| {
        Test::new()
            .env("VZRUN_STATE_DIR", &journal)
            .args(extra.iter().copied())
            .args(["resume", id.as_str()])
            .run()
    };
    resume(&["--lab".as_ref(), "--lab-state".as_ref(), other.as_os_str()])
        .status(2)
        .stderr_has(&format!("run {id} ran against the lab"));
    assert!(!other.exists(), "the other lab was touched");
    // Without a target, the run's own is taken from the journal; its confirmation is kept.
    resume(&[]).status(0).stderr_has("through the gate");
}

#[test]
fn resume_refuses_another_inventory_and_a_changed_one() {
    let scratch = Test::new()
        .file(
            "inv.yaml",
            "cluster: c\nhosts:\n  - {name: msk-01, address: 127.0.0.1}\n",
        )
        .file(
            "inv2.yaml",
            "cluster: c\nhosts:\n  - {name: msk-01, address: 127.0.0.2}\n",
        );
    let journal = scratch.path("journal");
    let (inv, inv2) = (scratch.path("inv.yaml"), scratch.path("inv2.yaml"));
    // A run that fails before touching any host, so no SSH is needed.
    let _first = Test::new()
        .file("f.rhai", "//! Fails.\nthrow \"stop\";\n")
        .env("VZRUN_STATE_DIR", &journal)
        .arg("--inventory")
        .arg(&inv)
        .arg("./f.rhai")
        .run()
        .status(1);
    let id = only_run(&journal);
    let resume = |inventory: &Path| {
        Test::new()
            .env("VZRUN_STATE_DIR", &journal)
            .arg("--inventory")
            .arg(inventory)
            .args(["resume", id.as_str()])
            .run()
    };
    resume(&inv2)
        .status(2)
        .stderr_has("ran against the inventory");
    fs::write(
        &inv,
        "cluster: c\nhosts:\n  - {name: msk-01, address: 127.0.0.3}\n",
    )
    .unwrap();
    resume(&inv)
        .status(2)
        .stderr_has("ran against the inventory");
}

#[test]
fn resume_asks_again_when_the_run_was_never_confirmed() {
    let scratch = Test::new();
    let (journal, gate) = (scratch.path("journal"), scratch.path("gate"));
    fs::write(&gate, "").unwrap();
    let _first = gated_runbook(Test::new(), &gate)
        .env("VZRUN_STATE_DIR", &journal)
        .arg("--lab")
        .arg("./g.rhai")
        .run()
        .status(3)
        .stderr_has("pass --yes");
    let id = only_run(&journal);
    Test::new()
        .env("VZRUN_STATE_DIR", &journal)
        .args(["resume", id.as_str()])
        .run()
        .status(3)
        .stderr_has("pass --yes")
        .stderr_lacks("through the gate");
}

#[test]
fn resume_refuses_a_changed_module_a_live_run_and_a_damaged_journal() {
    let scratch = Test::new();
    let (journal, gate) = (scratch.path("journal"), scratch.path("gate"));
    let runbooks = gated_runbook(Test::new(), &gate);
    let dir = runbooks.path("");
    let failed = runbooks
        .env("VZRUN_STATE_DIR", &journal)
        .arg("--lab")
        .args(["./g.rhai", "--yes"])
        .run()
        .status(1);
    let id = only_run(&journal);
    let resume = || {
        Test::new()
            .env("VZRUN_STATE_DIR", &journal)
            .args(["resume", id.as_str()])
            .run()
    };
    // A record cut off by a kill at the end is named and ignored.
    let path = journal.join("runs").join(format!("{id}.jsonl"));
    let whole = fs::read_to_string(&path).unwrap();
    fs::write(&path, format!("{whole}{{\"event\":\"step_fini")).unwrap();
    resume()
        .status(1)
        .stderr_has("is cut off")
        .stderr_has("the gate is closed");
    // A damaged record inside the journal is refused.
    let lines: Vec<&str> = whole.lines().collect();
    let damaged = format!("{}\n{{bad\n{}\n", lines[0], lines[1..].join("\n"));
    fs::write(&path, damaged).unwrap();
    resume().status(3).stderr_has("is damaged at line 2");
    fs::write(&path, &whole).unwrap();
    // The imported module changed since the run: refused.
    fs::write(dir.join("helper.rhai"), "fn note() { \"changed\" }\n").unwrap();
    resume()
        .status(3)
        .stderr_has("helper.rhai")
        .stderr_has("changed since");
    drop(failed);
    // A run that is still alive is refused too.
    let live_journal = scratch.path("live");
    let live = Test::new()
        // A change first: a run that has changed nothing yet keeps no journal.
        .file(
            "s.rhai",
            "//! Sleeps.\nlocal().run([\"true\"]);\nlog(\"up\");\nsleep(60);\n",
        )
        .env("VZRUN_STATE_DIR", &live_journal);
    let (mut child, _) = crate::test::spawn_until_stderr_line(live.command().arg("./s.rhai"), "up");
    Test::new()
        .env("VZRUN_STATE_DIR", &live_journal)
        .args(["resume", only_run(&live_journal).as_str()])
        .run()
        .status(4)
        .stderr_has("is still running");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn the_lab_keeps_non_utf8_bytes_too() {
    // "\U0010FFFE" is how a script holds the byte 0xFE read from a file (see edit::bytes).
    let scratch = Test::new();
    Test::new()
        .file(
            "l.rhai",
            "//! Lab bytes.\nlet h = host(\"msk-01\");\nfile::write(h, \"/etc/odd.conf\", \"a\\U0010FFFEb\\n\");\nfile::ensure_line(h, \"/etc/odd.conf\", \"c\");\nif file::read(h, \"/etc/odd.conf\") != \"a\\U0010FFFEb\\nc\\n\" { throw \"the file lost a byte\"; }\nif file::read(h, \"/etc/odd.conf.vzrun.bak\") != \"a\\U0010FFFEb\\n\" { throw \"the backup lost a byte\"; }\nlog(\"kept\");\n",
        )
        .arg("--lab")
        .arg("--lab-state")
        .arg(scratch.path("lab.json"))
        .arg("./l.rhai")
        .run()
        .status(0)
        .stderr_has("kept");
}
