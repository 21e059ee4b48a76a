//! Privilege escalation over real sshd on loopback: vzrun logs in as a non-root user and
//! runs everything through `sudo -n` (inventory `sudo: true`).
//!
//! Each test creates its own user (useradd) and a sudoers drop-in named after it in
//! /etc/sudoers.d (the only place sudo reads drop-ins from), and removes both when it ends,
//! pass or fail: the machine is left as it was. Skipped with a message where sudo or
//! useradd is missing (`.ci/run` installs them) or when not run as root.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::sshd::SshCluster;
use crate::test::Test;

/// A throw-away user with a sudoers drop-in; both removed on drop.
struct SudoUser {
    name: String,
    sudoers: PathBuf,
}

impl SudoUser {
    /// Creates the user and installs `rules` (sudoers lines; `{user}` is replaced) as its
    /// drop-in, checked by `visudo -c` first. `None` (after saying why) when it cannot.
    fn create(rules: &str) -> Option<SudoUser> {
        // SAFETY: geteuid has no failure mode.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipping: the sudo tests create a user and need root");
            return None;
        }
        for tool in ["/usr/bin/sudo", "/usr/sbin/useradd", "/usr/sbin/visudo"] {
            if !Path::new(tool).exists() {
                eprintln!("skipping: {tool} is not installed (.ci/run installs sudo)");
                return None;
            }
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "vzsudo{}x{}",
            std::process::id() % 100_000,
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        // `*`: no password, but not locked (sshd refuses a `!` account without PAM).
        let made = Command::new("/usr/sbin/useradd")
            .args(["-M", "-d", "/", "-s", "/bin/sh", "-p", "*", &name])
            .status()
            .expect("useradd runs");
        assert!(made.success(), "useradd {name} failed");
        let sudoers = PathBuf::from(format!("/etc/sudoers.d/vzrun-test-{name}"));
        let user = SudoUser { name, sudoers };
        let staged = tempfile::NamedTempFile::new().unwrap();
        fs::write(staged.path(), rules.replace("{user}", &user.name)).unwrap();
        let checked = Command::new("/usr/sbin/visudo")
            .args(["-c", "-q", "-f"])
            .arg(staged.path())
            .status()
            .expect("visudo runs");
        assert!(checked.success(), "visudo rejects {rules:?}");
        fs::copy(staged.path(), &user.sudoers).unwrap();
        fs::set_permissions(&user.sudoers, fs::Permissions::from_mode(0o440)).unwrap();
        Some(user)
    }
}

impl Drop for SudoUser {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.sudoers);
        let _ = Command::new("/usr/sbin/userdel")
            .args(["-f", &self.name])
            .status();
    }
}

/// An sshd the test user may log into, a root-only file and root-only lock directories.
struct Setup {
    cluster: SshCluster,
    user: SudoUser,
}

impl Setup {
    fn start(rules: &str) -> Option<Setup> {
        let user = SudoUser::create(rules)?;
        let cluster = SshCluster::start(1)?;
        // sshd reads authorized_keys as the user: let it through the temp directory.
        fs::set_permissions(cluster.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(
            cluster.path("authorized_keys"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        for dir in ["root-only", "locks-1", "locks-2"] {
            fs::create_dir(cluster.path(dir)).unwrap();
            fs::set_permissions(cluster.path(dir), fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::write(cluster.path("root-only/app.conf"), "before\n").unwrap();
        fs::set_permissions(
            cluster.path("root-only/app.conf"),
            fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        Some(Setup { cluster, user })
    }

    /// An inventory logging in as the test user, with `sudo` as given for msk-01; msk-02 is
    /// the same sshd with `sudo_user: daemon`.
    fn inventory(&self, sudo: bool) -> PathBuf {
        let c = &self.cluster;
        let h = &c.hosts[0];
        let yaml = format!(
            "cluster: livelinux\ndefaults: {{user: {user}, identity: {id}, known_hosts: {kh}, connect_timeout: 5}}\nhosts:\n  - {{name: msk-01, address: {a}, port: {p}, sudo: {sudo}, lock_dir: {l1}}}\n  - {{name: msk-02, address: {a}, port: {p}, sudo: true, sudo_user: daemon, lock_dir: {l2}}}\n",
            user = self.user.name,
            id = c.path("id").display(),
            kh = c.path("known_hosts").display(),
            a = h.address,
            p = h.port,
            l1 = c.path("locks-1").display(),
            l2 = c.path("locks-2").display(),
        );
        let path = c.path(&format!("inventory-sudo-{sudo}.yaml"));
        fs::write(&path, yaml).unwrap();
        path
    }

    fn run(&self, sudo: bool, script: &str) -> crate::test::Outcome {
        Test::new()
            .file("r.rhai", &format!("//! As root through sudo.\n{script}"))
            .arg("--inventory")
            .arg(self.inventory(sudo))
            .arg("./r.rhai")
            .run()
    }

    fn root_file(&self) -> String {
        fs::read_to_string(self.cluster.path("root-only/app.conf")).unwrap()
    }
}

const WRITE_AS_ROOT: &str = "let h = host(\"msk-01\");\nlet who = h.query([\"id\", \"-un\"]).stdout;\nlog(`WHO ${who}`);\nfile::write(h, \"FILE\", \"after\\n\");\nlog(`READ ${file::read(h, \"FILE\")}`);\n";

#[test]
fn sudo_runs_commands_files_and_locks_as_root() {
    let Some(s) = Setup::start("{user} ALL=(ALL:ALL) NOPASSWD: ALL\n") else {
        return;
    };
    let file = s.cluster.path("root-only/app.conf");
    let script = WRITE_AS_ROOT.replace("FILE", &file.display().to_string());

    // Without sudo the SSH user cannot write it: the file really is root's.
    s.run(false, &script)
        .status(1)
        .stderr_has("Permission denied");
    assert_eq!(s.root_file(), "before\n");

    // The argv reaches the command word for word through sudo: no shell splits it.
    let odd = s.cluster.path("root-only/a b; touch c");
    let script = format!(
        "{script}host(\"msk-01\").run([\"touch\", \"{}\"]);\n",
        odd.display()
    );
    let out = s.run(true, &script).status(0).stderr_has("WHO root");
    assert!(odd.exists() && !s.cluster.path("root-only/c").exists());
    assert!(!s.cluster.path("c").exists() && !Path::new("c").exists());
    assert!(out.stderr.contains("READ after"), "{}", out.stderr);
    assert_eq!(s.root_file(), "after\n");
    let meta = fs::metadata(&file).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o640));
    // The run lock was taken as root in a root-only directory, naming the real operator.
    let holder = fs::read_to_string(s.cluster.path("locks-1/vzrun-run.holder")).unwrap();
    assert!(
        holder.contains(&format!("SSH user {}", s.user.name)),
        "{holder}"
    );

    // sudo_user: commands run as that user.
    s.run(
        true,
        "let who = host(\"msk-02\").query([\"id\", \"-un\"]).stdout;\nlog(`WHO ${who}`);\n",
    )
    .status(0)
    .stderr_has("WHO daemon");
}

#[test]
fn a_sudo_that_wants_a_password_is_refused_before_any_change() {
    let Some(s) = Setup::start("{user} ALL=(ALL:ALL) ALL\n") else {
        return;
    };
    let file = s.cluster.path("root-only/app.conf");
    let script = WRITE_AS_ROOT.replace("FILE", &file.display().to_string());
    s.run(true, &script)
        .status(2)
        .stderr_has("msk-01")
        .stderr_has("sudo wants a password")
        .stderr_has("nothing was run there");
    assert_eq!(s.root_file(), "before\n");
    assert!(!s.cluster.path("locks-1/vzrun-run.holder").exists());
}

#[test]
fn a_sudo_that_wants_a_tty_is_refused_before_any_change() {
    let Some(s) = Setup::start("Defaults:{user} requiretty\n{user} ALL=(ALL:ALL) NOPASSWD: ALL\n")
    else {
        return;
    };
    let file = s.cluster.path("root-only/app.conf");
    let script = format!(
        "file::write(host(\"msk-01\"), \"{}\", \"after\\n\");\n",
        file.display()
    );
    s.run(true, &script)
        .status(2)
        .stderr_has("msk-01")
        .stderr_has("sudo wants a terminal (requiretty)");
    assert_eq!(s.root_file(), "before\n");
}

/// After msk-01 was changed, msk-02's sudo refusal is exit 1 and says so, whether it comes
/// from a query or from taking msk-02's lock for a change (the latter kills `lock_host`
/// reporting exit 2 there, its `!` dropped).
#[test]
fn a_refusal_after_changes_elsewhere_is_not_exit_2() {
    // root without a password, daemon (msk-02's sudo_user) only with one.
    let Some(s) = Setup::start("{user} ALL=(root) NOPASSWD: ALL\n{user} ALL=(daemon) ALL\n") else {
        return;
    };
    let file = s.cluster.path("root-only/app.conf");
    for call in ["query", "run"] {
        let script = format!(
            "file::write(host(\"msk-01\"), \"{}\", \"after {call}\\n\");\nhost(\"msk-02\").{call}([\"true\"]);\n",
            file.display()
        );
        s.run(true, &script)
            .status(1)
            .stderr_has("msk-02")
            .stderr_has("sudo wants a password")
            .stderr_has("this run already changed other hosts");
        assert_eq!(s.root_file(), format!("after {call}\n"));
    }
}

#[test]
fn sudo_is_checked_again_by_a_run_that_reuses_the_connection() {
    let Some(s) = Setup::start("{user} ALL=(ALL:ALL) NOPASSWD: ALL\n") else {
        return;
    };
    let probe = "print(host(\"msk-01\").query([\"id\", \"-un\"]).stdout);\n";
    s.run(true, probe).status(0).stdout_has("root");
    // The master stays for the next run (inventory default `persist`); sudo's rules change.
    fs::write(
        &s.user.sudoers,
        format!("{} ALL=(ALL:ALL) ALL\n", s.user.name),
    )
    .unwrap();
    s.run(true, probe)
        .status(2)
        .stderr_has("msk-01")
        .stderr_has("sudo wants a password");
    assert_eq!(
        s.cluster.connections("msk-01"),
        1,
        "the second run reused the master"
    );
}

#[test]
fn a_probe_past_its_deadline_is_stopped_through_sudo() {
    let Some(s) = Setup::start("{user} ALL=(ALL:ALL) NOPASSWD: ALL\n") else {
        return;
    };
    let marker = format!("42.{}{}", std::process::id(), line!());
    s.run(
        true,
        &format!("within(1, || host(\"msk-01\").query([\"sleep\", \"{marker}\"]));\n"),
    )
    .status(5)
    .stderr_has(&format!("`sleep {marker}` did not finish within"));
    // The probe ran as root: only a kill through sudo can stop it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !crate::ssh::processes_running(&format!("sleep {marker}")).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the remote sleep {marker} still runs"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn the_sudo_check_over_a_silent_kept_connection_keeps_the_deadline_and_the_run_reconnects() {
    let Some(s) = Setup::start("{user} ALL=(ALL:ALL) NOPASSWD: ALL\n") else {
        return;
    };
    let scratch = Test::new();
    let control = scratch.path("ctl");
    let run = |script: &str| {
        Test::new()
            .file("r.rhai", &format!("//! Through sudo.\n{script}"))
            .env("VZRUN_CONTROL_DIR", &control)
            .arg("--inventory")
            .arg(s.inventory(true))
            .arg("./r.rhai")
            .run()
    };
    // The inventory keeps masters (persist defaults to 60 s): the next run resumes this one.
    run("print(host(\"msk-01\").query([\"id\", \"-un\"]).stdout);")
        .status(0)
        .stdout_has("root");
    // Its connection goes silent; the master lives and answers its own checks.
    let frozen = s.cluster.freeze_connections("msk-01");
    let started = std::time::Instant::now();
    let out = run("let h = host(\"msk-01\");\ntry { within(3, || h.query([\"true\"])); print(\"first answered\"); } catch (e) { print(`first failed: ${e}`); }\nprint(`second ${within(60, || h.query([\"id\", \"-un\"])).stdout}`);");
    let took = started.elapsed();
    drop(frozen);
    // The sudo check, run on the resumed connection, gave up at the deadline (it waited
    // 30 s) and the master was retired: the second probe went over a new one.
    out.status(0)
        .stdout_has("first failed")
        .stdout_has("`sudo -n` gave no answer within 3s")
        .stdout_has("second root");
    assert!(took < std::time::Duration::from_secs(15), "took {took:?}");
}

#[test]
fn probes_through_sudo_share_the_shell_and_keep_their_words() {
    let Some(s) = Setup::start("{user} ALL=(ALL:ALL) NOPASSWD: ALL\n") else {
        return;
    };
    // Words a shell would act on, a newline, 120 KB; each probe as root, the same shell
    // (the parent of sudo) for all of them.
    let canary = s.cluster.path("root-only/canary");
    let runbook = format!(
        "let h = host(\"msk-01\");\nlet big = \"\";\nbig.pad(120000, \"y\");\nlet words = [\"two\\nlines\", \"it's\", \"$(touch {c})\", \"`touch {c}`\", \"\", big];\nfor w in words {{ let o = h.query([\"printf\", \"%s\", w]); if o.stdout != w || o.code != 0 {{ print(`bad ${{w.len()}} ${{o.code}} ${{o.stderr}}`); }} }}\nlet a = h.query([\"sh\", \"-c\", \"echo $(id -un) $(ps -o ppid= -p $PPID)\"]).stdout;\nlet b = h.query([\"sh\", \"-c\", \"echo $(id -un) $(ps -o ppid= -p $PPID)\"]).stdout;\na.trim();\nb.trim();\nprint(`shells ${{a}} / ${{b}}`);\nlet first = h.query([\"sh\", \"-c\", \"(sleep 0.3; echo late) & echo now\"]).stdout;\nlet next = h.query([\"sh\", \"-c\", \"sleep 0.6; echo mine\"]).stdout;\nprint(`late ${{first.len()}} ${{next.len()}}`);\n",
        c = canary.display()
    );
    let out = s.run(true, &runbook).status(0);
    assert!(!out.stdout.contains("bad "), "{}", out.stdout);
    assert!(!canary.exists());
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("shells "))
        .unwrap();
    let (a, b) = line["shells ".len()..].split_once(" / ").unwrap();
    assert!(a.starts_with("root "), "{line}");
    assert_eq!(a, b, "two probes, two shells: {line}");
    // A child that writes after its probe through sudo: its output is its probe's.
    assert!(out.stdout.contains("late 9 5"), "{}", out.stdout);
}
