//! Reliability under crashes and contention, with bounded counts: kill -9 at random points,
//! concurrent runs, and a corpus of bad inputs that must change nothing.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::catalog::unchanged;
use crate::test::Test;

/// A small deterministic generator: the same delays every run, different ones per round.
pub(crate) fn delays(seed: u64, count: usize, max_ms: u64) -> Vec<u64> {
    let mut x = seed;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            40 + x % max_ms
        })
        .collect()
}

/// Starts the command without output and kills it (-9) after `delay_ms`.
fn kill_after(cmd: &mut Command, delay_ms: u64) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(delay_ms));
    let _ = child.kill();
    child.wait().unwrap();
}

/// VE name → (host, status) from a lab state file.
pub(crate) fn placement(state: &Path) -> BTreeMap<String, Vec<(String, String)>> {
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(state).unwrap()).unwrap();
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for ve in json["ves"].as_array().unwrap() {
        out.entry(ve["name"].as_str().unwrap().to_string())
            .or_default()
            .push((
                ve["host"].as_str().unwrap_or("-").to_string(),
                ve["status"].as_str().unwrap().to_string(),
            ));
    }
    out
}

pub(crate) fn evacuation_scenario() -> String {
    let mut yaml = String::from("cluster: rel\nspeed: 0.01\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\n  - {name: n3, address: 10.0.0.3, tags: [hypervisor]}\n  - {name: n4, address: 10.0.0.4, tags: [hypervisor]}\nves:\n");
    for i in 0..24 {
        let status = if i % 3 == 0 { "stopped" } else { "running" };
        yaml.push_str(&format!(
            "  - {{name: ve{i:02}, host: n1, status: {status}, memsize: 1024}}\n"
        ));
    }
    yaml
}

#[test]
fn a_killed_evacuation_resumes_and_every_ve_ends_up_exactly_once() {
    for (round, delay) in delays(7, 4, 700).into_iter().enumerate() {
        let test = Test::new().file("s.yaml", &evacuation_scenario());
        let dir = test.path("");
        let state = dir.join("lab.json");
        let base = |t: Test| {
            t.env("VZRUN_STATE_DIR", dir.join("journal"))
                .arg(format!("--lab={}", dir.join("s.yaml").display()))
                .arg("--lab-state")
                .arg(&state)
        };
        // The state as it starts, to compare statuses with.
        base(Test::new()).arg("hello").command_in(&dir).status(0);
        let before = placement(&state);
        let mut evacuation = base(Test::new())
            .args(["evacuate", "n1", "--yes", "--parallel", "2"])
            .command();
        kill_after(evacuation.current_dir(&dir), delay);
        let runs = crate::test::run_ids(&dir.join("journal"));
        let journal_of =
            |id: &str| fs::read_to_string(dir.join(format!("journal/runs/{id}.jsonl"))).unwrap();
        let killed = runs
            .iter()
            .find(|id| journal_of(id).contains("runbooks/evacuate.rhai"));
        match killed {
            // Killed before it even started its journal: run it again.
            None => base(Test::new())
                .args(["evacuate", "n1", "--yes"])
                .command_in(&dir)
                .status(0),
            // Killed before its confirmation was journaled: resume asks again, and without
            // --yes (no terminal) refuses having changed nothing; the final run does the job.
            Some(id) if !journal_of(id).contains("\"event\":\"confirmed\"") => unchanged(
                base(Test::new())
                    .args(["resume", id])
                    .command_in(&dir)
                    .status(3)
                    .stderr_has("there is no terminal to ask on, so pass --yes"),
            ),
            // Confirmed: resumed, it finishes the job (or finds it had finished before the kill).
            Some(id) => {
                let resumed = base(Test::new())
                    .args(["resume", id])
                    .command_in(&dir)
                    .status(0);
                assert!(
                    resumed.stderr.contains("n1 is evacuated: ")
                        || resumed.stderr.contains("there is nothing to resume"),
                    "round {round}: resume did not finish the evacuation:\n{}\n{}",
                    resumed.stdout,
                    resumed.stderr
                );
                resumed
            }
        };
        // Nothing is left for a final evacuation: it changes nothing and says so.
        unchanged(
            base(Test::new())
                .args(["evacuate", "n1", "--yes"])
                .command_in(&dir)
                .status(0)
                .stderr_has("nothing to do"),
        );
        let after = placement(&state);
        assert_eq!(
            after.len(),
            before.len(),
            "round {round}: VEs lost or duplicated"
        );
        for (name, places) in &after {
            assert_eq!(
                places.len(),
                1,
                "round {round}: {name} is registered {places:?}"
            );
            let (host, status) = &places[0];
            assert_ne!(
                host, "n1",
                "round {round}: {name} is still on the evacuated node"
            );
            assert_eq!(
                status, &before[name][0].1,
                "round {round}: {name} changed state"
            );
        }
    }
}

#[test]
fn a_file_is_always_the_old_or_the_new_version_when_vzrun_is_killed() {
    let a = "A".repeat(200_000) + "\n";
    let b = "B".repeat(150_000) + "\n";
    let script = format!(
        "//! Flip a file.\nlet a = \"{}\";\nlet b = \"{}\";\nlet h = local();\nfor i in 0..100000 {{ file::write(h, \"/etc/data.conf\", if i % 2 == 0 {{ a }} else {{ b }}); }}\n",
        "A".repeat(200_000) + "\\n",
        "B".repeat(150_000) + "\\n"
    );
    for (round, delay) in delays(11, 6, 900).into_iter().enumerate() {
        let test = Test::new()
            .file("flip.rhai", &script)
            .file("root/etc/data.conf", &a);
        let root = test.path("root");
        // Keep `test` (and so its directory) alive while the child runs.
        let test = test
            .env("VZRUN_LOCAL_ROOT", &root)
            .args(["./flip.rhai", "--quiet"]);
        let dir = root.parent().unwrap().to_path_buf();
        kill_after(test.command().current_dir(&dir), delay);
        let content = fs::read_to_string(root.join("etc/data.conf")).unwrap();
        assert!(
            content == a || content == b,
            "round {round}: a torn file of {} bytes",
            content.len()
        );
        drop(test);
    }
}

#[test]
fn two_runs_on_one_host_one_waits_or_is_refused() {
    let test = Test::new().file(
        "hold.rhai",
        "//! Change and hold.\n//! opt hold = 0: seconds\nhost(\"msk-01\").run([\"prlctl\", \"stop\", \"web01\"], #{check: false});\nlog(\"changed\");\nsleep(ARGS.hold);\n",
    );
    let dir = test.path("");
    let args = |t: Test| {
        t.env("VZRUN_STATE_DIR", dir.join("journal"))
            .args(["--lab-speed", "0", "--lab-state"])
            .arg(dir.join("lab.json"))
    };
    let mut first = args(Test::new())
        .args(["./hold.rhai", "--hold", "3"])
        .command();
    let (mut first, line) =
        crate::test::spawn_until_stderr_line(first.current_dir(&dir), "changed");
    assert_eq!(line.trim(), "changed");
    args(Test::new())
        .arg("./hold.rhai")
        .command_in(&dir)
        .status(4)
        .stderr_has("msk-01 is locked by run");
    args(Test::new())
        .args(["--lock-wait", "30", "./hold.rhai"])
        .command_in(&dir)
        .status(0)
        .stderr_has("changed");
    assert!(first.wait().unwrap().success());
}

#[test]
fn a_corpus_of_bad_inputs_each_fails_clearly_and_changes_nothing() {
    let test = Test::new()
        .file(
            "bad.yaml",
            "cluster: c\nhosts:\n  - {name: n1, address: 10.0.0.1\n",
        )
        .file(
            "bin/prlctl",
            "#!/bin/sh\necho '{not json'\necho 'garbage line'\n",
        );
    let dir = test.path("");
    let state = dir.join("lab.json");
    let run = |script: &str| {
        fs::write(dir.join("case.rhai"), format!("//! Case.\n{script}\n")).unwrap();
        Test::new()
            .env("VZRUN_STATE_DIR", dir.join("journal"))
            .args(["--lab-speed", "0", "--lab-state"])
            .arg(&state)
            .arg("./case.rhai")
            .command_in(&dir)
    };
    run("log(\"warm up\");").status(0);
    let before = fs::read_to_string(&state).unwrap();
    let corpus: &[(&str, i32, &str)] = &[
        ("host(\"msk-99\")", 2, "invalid host: unknown host \"msk-99\"; known hosts: msk-01, msk-02, msk-03, msk-04, msk-05, msk-06, msk-07\n"),
        ("host(\"\")", 2, "invalid host: unknown host \"\"; known hosts: msk-01, msk-02, msk-03, msk-04, msk-05, msk-06, msk-07\n"),
        ("prlctl::start(host(\"msk-01\"), \"web01 && reboot\")", 2, "invalid VE id: \"web01 && reboot\" contains '&'; names use letters, digits, '.', '_', '-' and spaces\n"),
        ("prlctl::stop(host(\"msk-01\"), \"$(id)\")", 2, "invalid VE id: \"$(id)\" contains '$'; names use letters, digits, '.', '_', '-' and spaces\n"),
        ("prlctl::migrate(host(\"msk-01\"), \"--force\", host(\"msk-02\"))", 2, "invalid VE id: \"--force\" starts with '-'\n"),
        ("vstorage::set_attr(host(\"msk-01\"), \"/vstorage/livelinux\", #{tier: 4})", 2, "invalid tier: 4 is outside 0-3\n"),
        ("vstorage::set_attr(host(\"msk-01\"), \"/vstorage/livelinux\", #{tier: -1})", 2, "invalid tier: -1 is outside 0-3\n"),
        ("vstorage::set_attr(host(\"msk-01\"), \"/vstorage/livelinux\", #{replicas: \"0\"})", 2, "invalid replicas: \"0\": expected N or N:M with each 1-15\n"),
        ("vstorage::set_attr(host(\"msk-01\"), \"/vstorage/livelinux\", #{replicas: \"3:2:1\"})", 2, "invalid replicas: \"3:2:1\": expected N or N:M with each 1-15\n"),
        ("firewall::open(host(\"msk-01\"), \"ssh\")", 2, "invalid port: \"ssh\": expected port[-port]/protocol with ports 1-65535, e.g. 10050/tcp\n"),
        ("firewall::open(host(\"msk-01\"), \"22/tcp 23/tcp\")", 2, "invalid port: \"22/tcp 23/tcp\": protocol \"tcp 23/tcp\" is not tcp, udp, sctp or dccp\n"),
        ("file::write(host(\"msk-01\"), \"etc/fstab\", \"\")", 2, "invalid path: \"etc/fstab\" is not an absolute path\n"),
        ("file::write(host(\"msk-01\"), \"/etc/../etc/passwd\", \"x\")", 2, "invalid path: \"/etc/../etc/passwd\" contains `..`\n"),
        ("disk::mount(host(\"msk-01\"), \"mnt\")", 2, "invalid path: \"mnt\" is not an absolute path\n"),
        ("systemd::stop(host(\"msk-01\"), \"sshd; reboot\")", 2, "invalid unit: \"sshd; reboot\" is not a systemd unit name\n"),
        ("sysctl::set(host(\"msk-01\"), \"vm.swappiness\\nkernel.panic\", 1)", 2, "invalid sysctl key: \"vm.swappiness\\nkernel.panic\" is not a sysctl key\n"),
    ];
    for (script, code, needle) in corpus {
        run(script).status(*code).stderr_has(needle);
        assert_eq!(
            fs::read_to_string(&state).unwrap(),
            before,
            "{script} changed the lab"
        );
    }
    // Bad YAML: line and column, and no run.
    Test::new()
        .args(["--lab=bad.yaml", "hello"])
        .command_in(&dir)
        .status(2)
        .stderr_has("bad.yaml:");
    Test::new()
        .args(["--inventory", "bad.yaml", "hello"])
        .command_in(&dir)
        .status(2)
        .stderr_has("bad.yaml:");
    // Malformed tool output is an error naming what was expected, not a wrong answer.
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    fs::set_permissions(
        dir.join("bin/prlctl"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    for (script, needle) in [
        ("prlctl::list(local())", "unexpected prlctl list output"),
        (
            "prlctl::status(local(), \"web01\")",
            "unexpected prlctl status output",
        ),
    ] {
        fs::write(dir.join("case.rhai"), format!("//! Case.\n{script};\n")).unwrap();
        Test::new()
            .env("PATH", &path)
            .arg("./case.rhai")
            .command_in(&dir)
            .status(1)
            .stderr_has(needle);
    }
}
