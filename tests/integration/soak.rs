//! The soak: hundreds of kill -9 / resume cycles of an evacuation, on the lab and over SSH,
//! checking after each that every VE is registered exactly once, on the right side, in its
//! old state, and that no lock was left behind. Ignored by `cargo test` (it takes minutes);
//! `bench/soak` runs it and prints "N cycles, 0 lost".

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::reliability::{delays, evacuation_scenario, placement};
use crate::sshd::SshCluster;
use crate::test::{run_ids, Test};

fn cycles() -> usize {
    std::env::var("VZRUN_SOAK_CYCLES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(200)
}

/// Runs `test` with `--lock-wait 60`, killing it (-9) after `delay_ms` unless that is
/// `None`; its exit code (`None` when killed).
fn run_maybe_killed(test: Test, delay_ms: Option<u64>) -> Option<i32> {
    // The scratch directory lives as long as the run.
    let test = test.arg("--lock-wait").arg("60");
    let mut cmd: Command = test.command();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    if let Some(ms) = delay_ms {
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill();
    }
    child.wait().unwrap().code()
}

/// One target of the soak: how to build a vzrun command against it, where its lab state is,
/// and which node is evacuated.
struct Target<'a> {
    name: &'static str,
    base: &'a dyn Fn() -> Test,
    state: &'a Path,
    journal: &'a Path,
    node: &'static str,
    evacuate: &'a [&'a str],
}

/// Problems after one cycle: VEs lost, duplicated, left behind or changed.
fn problems(
    before: &BTreeMap<String, Vec<(String, String)>>,
    after: &BTreeMap<String, Vec<(String, String)>>,
    node: &str,
) -> Vec<String> {
    let mut found = Vec::new();
    if after.len() != before.len() {
        found.push(format!("{} VEs instead of {}", after.len(), before.len()));
    }
    for (name, places) in after {
        match places.as_slice() {
            [(host, status)] => {
                if host == node {
                    found.push(format!("{name} is still on {node}"));
                }
                if before.get(name).is_some_and(|b| &b[0].1 != status) {
                    found.push(format!("{name} changed state to {status}"));
                }
            }
            _ => found.push(format!("{name} is registered {places:?}")),
        }
    }
    found
}

fn soak(target: &Target, initial: &[u8]) {
    let total = cycles();
    let mut lost = 0;
    let waits = delays(0x5eed ^ total as u64, total * 4, 900);
    for cycle in 0..total {
        fs::write(target.state, initial).unwrap();
        let before = placement(target.state);
        let evacuate = || (target.base)().args(target.evacuate.iter().copied());
        run_maybe_killed(evacuate(), Some(waits[cycle * 4]));
        // Resume the newest unfinished evacuation, itself killed now and then, until it ends.
        for attempt in 1..=4 {
            let Some(id) = run_ids(target.journal).into_iter().last() else {
                break;
            };
            let cmd = (target.base)().args(["resume", id.as_str()]);
            let wait = waits[cycle * 4 + attempt % 4];
            let kill = (attempt < 4 && wait % 2 == 0).then_some(wait);
            if run_maybe_killed(cmd, kill).is_some() {
                break;
            }
        }
        // Whatever was left, a last evacuation must finish the job, and no lock is stale.
        let last = evacuate().arg("--lock-wait").arg("60").run();
        let mut found = problems(&before, &placement(target.state), target.node);
        if last.status != 0 {
            found.push(format!(
                "the final evacuation exited {}: {}",
                last.status,
                last.stderr.trim()
            ));
        }
        if !found.is_empty() {
            lost += 1;
            eprintln!("{} cycle {cycle}: {}", target.name, found.join("; "));
        }
    }
    println!("{}: {total} cycles, {lost} lost", target.name);
    assert_eq!(
        lost, 0,
        "{}: {lost} of {total} cycles lost or broke VEs",
        target.name
    );
}

#[test]
#[ignore = "minutes long: bench/soak runs it"]
fn soak_lab() {
    let test = Test::new().file("s.yaml", &evacuation_scenario());
    let dir = test.path("");
    let (state, journal) = (dir.join("lab.json"), dir.join("journal"));
    let base = || {
        Test::new()
            .env("VZRUN_STATE_DIR", &journal)
            .arg(format!("--lab={}", dir.join("s.yaml").display()))
            .arg("--lab-state")
            .arg(&state)
    };
    let _created = base().arg("hello").run().status(0);
    let initial = fs::read(&state).unwrap();
    soak(
        &Target {
            name: "lab",
            base: &base,
            state: &state,
            journal: &journal,
            node: "n1",
            evacuate: &["evacuate", "n1", "--yes", "--parallel", "2"],
        },
        &initial,
    );
}

#[test]
#[ignore = "minutes long: bench/soak runs it"]
fn soak_ssh() {
    let mut scenario = String::from("cluster: livelinux\nspeed: 0\nhosts:\n");
    for i in 1..=3 {
        scenario.push_str(&format!(
            "  - {{name: msk-0{i}, address: 10.30.17.3{i}, tags: [hypervisor], memory_mb: 65536}}\n"
        ));
    }
    scenario.push_str("ves:\n");
    for i in 0..12 {
        let status = if i % 3 == 0 { "stopped" } else { "running" };
        scenario.push_str(&format!(
            "  - {{name: ve{i:02}, host: msk-01, status: {status}, memsize: 1024}}\n"
        ));
    }
    let Some(cluster) = SshCluster::start_with(3, &scenario) else {
        panic!("the SSH soak needs sshd");
    };
    let journal = cluster.path("journal");
    let inventory = cluster.path("inventory.yaml");
    let base = || {
        Test::new()
            .env("VZRUN_STATE_DIR", &journal)
            .arg("--inventory")
            .arg(&inventory)
    };
    let _created = base()
        .file("p.rhai", "//! Probe.\nprlctl::list(host(\"msk-01\"));\n")
        .arg("./p.rhai")
        .run()
        .status(0);
    let state = cluster.path("lab.json");
    let initial = fs::read(&state).unwrap();
    soak(
        &Target {
            name: "ssh",
            base: &base,
            state: &state,
            journal: &journal,
            node: "msk-01",
            evacuate: &["evacuate", "msk-01", "--yes", "--to", "msk-02,msk-03"],
        },
        &initial,
    );
}
