//! File edits under faults: control characters and hidden separators in values, a journal
//! that cannot be written, full filesystems (a small tmpfs), transfers cut short, symlinks.

use std::fs;
use std::path::Path;

use crate::sshd::SshCluster;
use crate::test::Test;

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
    // A write bigger than the room left: it must fail with the old file intact.
    let write_big = |test: Test, host: &str, path: &Path, error: &str| {
        let script = format!(
            "//! Write.\nfile::write({host}, \"{}\", \"{}\");\n",
            path.display(),
            "x".repeat(64 * 1024)
        );
        let out = test.file("w.rhai", &script).arg("./w.rhai").run();
        assert_eq!(out.status, 1, "{}", out.stderr);
        assert!(out.stderr.contains(error), "{}", out.stderr);
        assert_untouched(&etc, "big.conf");
    };
    write_big(
        Test::new().env("VZRUN_LOCAL_ROOT", fs_.path("")),
        "local()",
        Path::new("/etc/big.conf"),
        "No space left on device",
    );
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    write_big(
        Test::new()
            .arg("--inventory")
            .arg(cluster.path("inventory.yaml")),
        "host(\"msk-01\")",
        &etc.join("big.conf"),
        "write failed on msk-01",
    );
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
