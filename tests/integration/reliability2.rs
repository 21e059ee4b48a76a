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

#[test]
fn a_local_fstab_edit_keeps_non_utf8_bytes_and_backs_up_the_old_bytes() {
    let test = Test::new().file(
        "r.rhai",
        r#"//! Test.
fstab::ensure(local(), #{spec: "/dev/sdc1", file: "/data", vfstype: "ext4"});
let e = fstab::list(local());
log(`entries ${e.len()}`);
"#,
    );
    let fstab = test.path("root/etc/fstab");
    fs::create_dir_all(fstab.parent().unwrap()).unwrap();
    fs::write(&fstab, FSTAB_BYTES).unwrap();
    let root = test.path("root");
    let _kept = test
        .env("VZRUN_LOCAL_ROOT", root)
        .arg("./r.rhai")
        .run()
        .status(0)
        .stdout_has("entries 3");
    let mut expected = FSTAB_BYTES.to_vec();
    expected.extend_from_slice(b"/dev/sdc1 /data ext4 defaults 0 0\n");
    assert_eq!(fs::read(&fstab).unwrap(), expected);
    assert_eq!(backup_of(&fstab), FSTAB_BYTES);
}

#[test]
fn a_local_fstab_remove_of_a_non_utf8_mount_point_removes_only_that_line() {
    // The mount point read from the file is handed back unchanged: it names the same bytes.
    let test = Test::new().file(
        "r.rhai",
        r#"//! Test.
for e in fstab::list(local()) { if e.spec == "/dev/sdb1" { fstab::remove(local(), e.file); } }
"#,
    );
    let fstab = test.path("root/etc/fstab");
    fs::create_dir_all(fstab.parent().unwrap()).unwrap();
    fs::write(&fstab, FSTAB_BYTES).unwrap();
    let root = test.path("root");
    let _kept = test
        .env("VZRUN_LOCAL_ROOT", root)
        .arg("./r.rhai")
        .run()
        .status(0);
    assert_eq!(
        fs::read(&fstab).unwrap(),
        b"# caf\xe9 cr\xe9\xe9 par l'installeur\nUUID=6f1c\t/\txfs\tdefaults\t0 0\n"
    );
    assert_eq!(backup_of(&fstab), FSTAB_BYTES);
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

#[test]
fn over_ssh_the_lock_outlives_a_killed_client_until_its_remote_change_ends() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let (marker, done) = (cluster.path("started"), cluster.path("done"));
    let first = Test::new().file("c.rhai", &long_change(&marker, &done));
    let mut client = first
        .command()
        .arg("--inventory")
        .arg(cluster.path("inventory.yaml"))
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
        Test::new()
            .file(
                "s.rhai",
                "//! Second.\nhost(\"msk-01\").run([\"true\"]);\nlog(\"changed\");\n",
            )
            .arg("--inventory")
            .arg(cluster.path("inventory.yaml"))
            .arg("./s.rhai")
            .run()
    };
    assert!(
        !done.exists(),
        "the remote change ended too early for this test"
    );
    second()
        .status(4)
        .stderr_has("msk-01 is locked by run ")
        .stdout_lacks("changed");
    wait_for(&done);
    std::thread::sleep(std::time::Duration::from_millis(300));
    second().status(0).stdout_has("changed");
}

#[test]
fn locally_the_lock_outlives_a_killed_vzrun_until_its_change_ends() {
    let test = Test::new();
    let (marker, done) = (test.path("started"), test.path("done"));
    let state = test.path("state");
    let runbook = long_change(&marker, &done).replace("host(\"msk-01\")", "local()");
    let first = Test::new()
        .file("c.rhai", &runbook)
        .env("VZRUN_STATE_DIR", &state);
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
    let second = || {
        Test::new()
            .file(
                "s.rhai",
                "//! Second.\nlocal().run([\"true\"]);\nlog(\"changed\");\n",
            )
            .env("VZRUN_STATE_DIR", &state)
            .arg("./s.rhai")
            .run()
    };
    assert!(!done.exists(), "the change ended too early for this test");
    second()
        .status(4)
        .stderr_has("local is locked by run ")
        .stdout_lacks("changed");
    wait_for(&done);
    std::thread::sleep(std::time::Duration::from_millis(300));
    second().status(0).stdout_has("changed");
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
        let (child, line) = crate::test::spawn_until_first_line(test.command().arg("./h.rhai"));
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
        .stdout_lacks("moved");
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
            .stdout_lacks("moved");
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
fn only_run(state: &Path) -> String {
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
    resume(&[]).status(0).stdout_has("through the gate");
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
        .stdout_lacks("through the gate");
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
        .file("s.rhai", "//! Sleeps.\nlog(\"up\");\nsleep(60);\n")
        .env("VZRUN_STATE_DIR", &live_journal);
    let (mut child, _) = crate::test::spawn_until_first_line(live.command().arg("./s.rhai"));
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
fn control_characters_and_hidden_separators_are_refused_by_every_file_editor() {
    let cases = [
        ("sysctl::persist(local(), \"vm.swappiness\", \"10\\r\\nkernel.sysrq = 1\", \"90-x.conf\");", "sysctl value"),
        ("sysctl::persist(local(), \"vm.swappiness\", \"10\\x00kernel.sysrq=1\", \"90-x.conf\");", "sysctl value"),
        ("sysctl::persist(local(), \"vm.swappiness\", \"10\\U0010FF0Akernel.sysrq=1\", \"90-x.conf\");", "sysctl value"),
        ("conf::set(local(), \"/etc/vz/vz.conf\", \"NAME\", \"x\\ry\");", "value"),
        ("conf::set(local(), \"/etc/vz/vz.conf\", \"NAME\", \"\\x1b[2J\");", "value"),
        ("file::ensure_line(local(), \"/etc/security/limits.d/90.conf\", \"* soft nofile 1\\r* hard nofile 1\");", "line"),
        ("fstab::ensure(local(), #{spec: \"/dev/sdb1\\r\", file: \"/data\", vfstype: \"ext4\"});", "spec"),
        ("fstab::ensure(local(), #{spec: \"/dev/sdb1\", file: \"/da\\x00ta\", vfstype: \"ext4\"});", "file"),
        ("fstab::ensure(local(), #{spec: \"/dev/sdb1\", file: \"/data\", vfstype: \"ext4\", options: [\"_netdev\", \"cache=/a,rw\"]});", "options"),
        ("fstab::ensure(local(), #{spec: \"/dev/sdb1\", file: \"/data\", vfstype: \"ext4\", options: \"_netdev,,rw\"});", "options"),
        ("fstab::ensure(local(), #{spec: \"/dev/sdb1\", file: \"/data\", vfstype: \"ext4\", options: \"_netdev\\x0b\"});", "options"),
        ("fstab::remove(local(), \"/data\\r\");", "mount point"),
    ];
    for (script, what) in cases {
        let test = Test::new()
            .file("r.rhai", &format!("//! Bad.\n{script}\n"))
            .file("root/etc/fstab", "/dev/sda1 / xfs defaults 0 0\n")
            .file("root/etc/vz/vz.conf", "NAME=old\n");
        let root = test.path("root");
        let out = test
            .env("VZRUN_LOCAL_ROOT", &root)
            .arg("./r.rhai")
            .run()
            .status(2)
            .stderr_has(&format!("invalid {what}"));
        assert_eq!(
            fs::read_to_string(out.path("root/etc/fstab")).unwrap(),
            "/dev/sda1 / xfs defaults 0 0\n",
            "{script}"
        );
        assert_eq!(
            fs::read_to_string(out.path("root/etc/vz/vz.conf")).unwrap(),
            "NAME=old\n"
        );
        assert!(
            !out.exists("root/etc/sysctl.d") && !out.exists("root/etc/security"),
            "{script}"
        );
    }
}

#[test]
fn an_array_of_mount_options_is_joined_by_commas() {
    let test = Test::new()
        .file(
            "r.rhai",
            "//! Options.\nfstab::ensure(local(), #{spec: \"/dev/sdb1\", file: \"/data\", vfstype: \"ext4\", options: [\"_netdev\", \"cache=/mnt/ssd/c\"]});\n",
        )
        .file("root/etc/fstab", "");
    let root = test.path("root");
    let out = test
        .env("VZRUN_LOCAL_ROOT", &root)
        .arg("./r.rhai")
        .run()
        .status(0);
    assert_eq!(
        fs::read_to_string(out.path("root/etc/fstab")).unwrap(),
        "/dev/sdb1 /data ext4 _netdev,cache=/mnt/ssd/c 0 0\n"
    );
}

/// A small tmpfs mounted for one test (we run as root in CI), unmounted when dropped. `None`
/// (after saying why) where mounting is not allowed; with CI=true that is a failure.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(kilobytes: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kilobytes}k"),
                "vzrun-test",
            ])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status();
        if status.is_ok_and(|s| s.success()) {
            return Some(Tmpfs { dir });
        }
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "cannot mount a tmpfs for the full-filesystem tests (CI needs root)"
        );
        eprintln!("skipping: cannot mount a tmpfs here (not root?)");
        None
    }

    fn path(&self, relative: &str) -> std::path::PathBuf {
        self.dir.path().join(relative)
    }

    /// Fills the filesystem completely, then frees `room` bytes.
    fn fill_leaving(&self, room: usize) {
        use std::io::Write;
        let mut filler = fs::File::create(self.path("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        while filler.write_all(&chunk).is_ok() {}
        let _ = filler.sync_all();
        let len = filler.metadata().unwrap().len();
        filler.set_len(len.saturating_sub(room as u64)).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_journal_that_cannot_be_written_stops_the_run_before_its_next_change() {
    let Some(fs_) = Tmpfs::mount(256) else {
        return;
    };
    let scratch = Test::new();
    let mark = scratch.path("changed");
    fs_.fill_leaving(16 * 1024);
    let script = format!(
        "//! Chatty.\nfor i in 0..400 {{ log(`line ${{i}} of a chatty runbook that fills its journal`); }}\nlocal().run([\"touch\", \"{}\"]);\n",
        mark.display()
    );
    Test::new()
        .file("c.rhai", &script)
        .env("VZRUN_STATE_DIR", fs_.path("state"))
        .arg("./c.rhai")
        .run()
        .status(1)
        .stderr_has("cannot write the journal");
    assert!(!mark.exists(), "a change ran without its journal record");
}

const OLD_CONTENT: &[u8] = b"# old \xff\nkeep me\n";

fn assert_untouched(dir: &Path, file: &str) {
    assert_eq!(fs::read(dir.join(file)).unwrap(), OLD_CONTENT);
    let leftovers: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".vzrun") && !n.ends_with(".vzrun.bak"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn a_write_into_a_full_filesystem_fails_and_leaves_the_old_file_locally_and_over_ssh() {
    let Some(fs_) = Tmpfs::mount(256) else {
        return;
    };
    let etc = fs_.path("etc");
    fs::create_dir_all(&etc).unwrap();
    fs::write(etc.join("big.conf"), OLD_CONTENT).unwrap();
    fs_.fill_leaving(0);
    let big = "x".repeat(64 * 1024);
    let local = Test::new()
        .file(
            "w.rhai",
            &format!("//! Write.\nfile::write(local(), \"/etc/big.conf\", \"{big}\");\n"),
        )
        .env("VZRUN_LOCAL_ROOT", fs_.path(""))
        .arg("./w.rhai")
        .run();
    assert_eq!(local.status, 1, "{}", local.stderr);
    assert!(
        local.stderr.contains("No space left on device"),
        "{}",
        local.stderr
    );
    assert_untouched(&etc, "big.conf");
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let over_ssh = Test::new()
        .file(
            "w.rhai",
            &format!(
                "//! Write.\nfile::write(host(\"msk-01\"), \"{}\", \"{big}\");\n",
                etc.join("big.conf").display()
            ),
        )
        .arg("--inventory")
        .arg(cluster.path("inventory.yaml"))
        .arg("./w.rhai")
        .run();
    assert_eq!(over_ssh.status, 1, "{}", over_ssh.stderr);
    assert!(
        over_ssh.stderr.contains("write failed on msk-01"),
        "{}",
        over_ssh.stderr
    );
    assert_untouched(&etc, "big.conf");
}

#[test]
fn a_transfer_cut_short_or_damaged_never_replaces_the_file() {
    // The remote write script, fed as sshd would feed it when the client dies mid-transfer.
    let scratch = Test::new();
    let dir = scratch.path("");
    fs::write(dir.join("f.conf"), OLD_CONTENT).unwrap();
    let content = b"new content that is longer than what arrives\n";
    let sha = {
        use sha2::Digest;
        sha2::Sha256::digest(content)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let feed = |arrived: &[u8], len: usize, sha: &str| {
        let mut child = std::process::Command::new("sh")
            .args(["-c", vzrun::transport::WRITE_SCRIPT, "sh"])
            .arg(dir.join("f.conf"))
            .args(["", &len.to_string(), sha])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(arrived).unwrap();
        child.wait_with_output().unwrap()
    };
    let cut = feed(&content[..10], content.len(), &sha);
    assert!(!cut.status.success());
    assert!(String::from_utf8_lossy(&cut.stderr).contains("10 of 45 bytes arrived"));
    assert_untouched(&dir, "f.conf");
    let mut damaged = content.to_vec();
    damaged[3] = b'X';
    assert!(!feed(&damaged, content.len(), &sha).status.success());
    assert_untouched(&dir, "f.conf");
    assert!(feed(content, content.len(), &sha).status.success());
    assert_eq!(fs::read(dir.join("f.conf")).unwrap(), content);
}

#[test]
fn a_file_reached_through_a_symlink_is_written_through_keeping_its_mode_on_every_transport() {
    use std::os::unix::fs::PermissionsExt;
    let setup = |root: &Path| {
        fs::create_dir_all(root.join("etc/sysctl.d")).unwrap();
        fs::write(root.join("etc/sysctl.conf"), "vm.swappiness = 60\n").unwrap();
        fs::set_permissions(
            root.join("etc/sysctl.conf"),
            fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        std::os::unix::fs::symlink("../sysctl.conf", root.join("etc/sysctl.d/99-sysctl.conf"))
            .unwrap();
    };
    let check = |root: &Path| {
        let link = root.join("etc/sysctl.d/99-sysctl.conf");
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "the link was replaced"
        );
        assert_eq!(
            fs::read_to_string(root.join("etc/sysctl.conf")).unwrap(),
            "vm.swappiness = 10\n"
        );
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&root.join("etc/sysctl.conf")), 0o640);
        let backup = root.join("etc/sysctl.d/99-sysctl.conf.vzrun.bak");
        assert_eq!(fs::read_to_string(&backup).unwrap(), "vm.swappiness = 60\n");
        assert_eq!(mode(&backup), 0o640, "the backup is as private as the file");
    };
    let script = |path: &str, h: &str| {
        format!("//! Link.\nfile::write({h}, \"{path}\", \"vm.swappiness = 10\\n\");\n")
    };
    let test = Test::new().file("w.rhai", &script("/etc/sysctl.d/99-sysctl.conf", "local()"));
    let root = test.path("root");
    setup(&root);
    let out = test
        .env("VZRUN_LOCAL_ROOT", &root)
        .arg("./w.rhai")
        .run()
        .status(0);
    check(&out.path("root"));
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let root = cluster.path("root");
    setup(&root);
    let path = root.join("etc/sysctl.d/99-sysctl.conf");
    Test::new()
        .file(
            "w.rhai",
            &script(&path.display().to_string(), "host(\"msk-01\")"),
        )
        .arg("--inventory")
        .arg(cluster.path("inventory.yaml"))
        .arg("./w.rhai")
        .run()
        .status(0);
    check(&root);
}

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
    // The operator still sees the diff.
    assert!(out.stdout.contains("hunter2") || out.stderr.contains("hunter2"));
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
        let (mut child, line) = crate::test::spawn_until_first_line(test.command().arg("./u.rhai"));
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
        .stdout_has("code 0");
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
            .stdout_lacks("extra");
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
        .stdout_has("code 127")
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
        out.stdout.contains("got started\n code 0"),
        "{}",
        out.stdout
    );
    let pid: i32 = fs::read_to_string(out.path("sleeper.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Gone, or a zombie nobody reaped yet (no init in a container).
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let alive = stat
        .rsplit(')')
        .next()
        .is_some_and(|rest| !rest.trim_start().starts_with('Z') && !rest.is_empty());
    assert!(!alive, "the background child outlived the deadline");
}

#[test]
fn terminal_escapes_from_tools_are_shown_escaped() {
    let out = Test::new()
        .file(
            "e.rhai",
            "//! Escapes.\nlet r = local().query([\"printf\", \"name\\x1b]0;owned\\x07\\n\"]);\nlog(`vm ${r.stdout}`);\nlocal().query([\"sh\", \"-c\", \"printf 'bad\\\\033[2J' >&2; exit 1\"]);\n",
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
        out.stdout.contains("vm name\\x1b]0;owned\\x07"),
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
        .stdout_has("kept");
}
