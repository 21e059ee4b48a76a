//! Hosts that do not answer over SSH, as a powered-off node or a dead switch port looks
//! from the operator's machine: the TCP connection is taken (or not) and the SSH banner never
//! comes, so every attempt costs the host's `connect_timeout`. Runbooks ask such a node
//! again and again (`vz::storage_host()` on each storage call, `answers()` before each
//! step); each time used to wait the full timeout.

use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::test::{Outcome, Test};

/// A listener that accepts and never speaks, noting when each connection came.
struct SilentHost {
    port: u16,
    accepted: Arc<Mutex<Vec<Instant>>>,
}

impl SilentHost {
    fn start() -> SilentHost {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let seen = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                seen.lock().unwrap().push(Instant::now());
                // Held open, silent, until the client gives up.
                std::thread::spawn(move || {
                    let mut sink = [0u8; 256];
                    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
                });
            }
        });
        SilentHost { port, accepted }
    }

    fn accepted(&self) -> Vec<Instant> {
        self.accepted.lock().unwrap().clone()
    }

    fn inventory_line(&self, name: &str) -> String {
        format!(
            "  - {{name: {name}, address: 127.0.0.1, port: {}, tags: [hypervisor, storage]}}\n",
            self.port
        )
    }
}

fn inventory(hosts: &[(&str, &SilentHost)]) -> String {
    let mut yaml = String::from("cluster: c\ndefaults: {connect_timeout: 2}\nhosts:\n");
    for (name, host) in hosts {
        yaml.push_str(&host.inventory_line(name));
    }
    yaml
}

/// Runs `script` (a runbook's body) against `hosts`, with `env` set.
fn run(hosts: &[(&str, &SilentHost)], env: &[(&str, &str)], script: &str) -> Outcome {
    let mut test = Test::new()
        .file("inv.yaml", &inventory(hosts))
        .file("r.rhai", &format!("//! Probes.\n{script}"));
    for (key, value) in env {
        test = test.env(*key, *value);
    }
    let inv = test.path("inv.yaml");
    test.arg("--inventory").arg(inv).arg("./r.rhai").run()
}

#[test]
fn a_host_that_did_not_answer_is_not_asked_again_at_once() {
    // Four probes of a dead node in a row: one connection attempt (2 s), not four (8 s); the
    // later ones fail at once, saying so.
    let dead = SilentHost::start();
    run(
        &[("dead-01", &dead)],
        &[],
        "for i in 0..4 {\n    try { host(\"dead-01\").query([\"true\"]); log(\"answered\"); } catch (e) { log(`probe ${i}: ${e}`); }\n}\n",
    )
        .status(0)
        .stderr_has("probe 0: ")
        .stderr_has("probe 3: ")
        .stderr_has("dead-01 (127.0.0.1)")
        .stderr_has("not asked again before")
        .stderr_lacks("answered");
    assert_eq!(dead.accepted().len(), 1, "connection attempts");
}

#[test]
fn a_host_that_did_not_answer_is_asked_again_later() {
    // A node coming back (a reboot, a network restart rolled back) must be seen again: a
    // runbook that waits for it to answer tries again once the pause is over.
    let dead = SilentHost::start();
    run(
        &[("dead-01", &dead)],
        &[("VZRUN_UNANSWERED_PAUSE_S", "1")],
        "for i in 0..2 {\n    try { host(\"dead-01\").query([\"true\"]); } catch (e) { log(`probe ${i}: ${e}`); }\n    sleep(2);\n}\n",
    )
        .status(0);
    assert_eq!(dead.accepted().len(), 2, "connection attempts");
}

#[test]
fn cluster_lock_on_connects_to_its_hosts_at_once() {
    // A lock on every storage host connects to each first; one after the other, three dead
    // nodes cost three connect timeouts (and a large cluster, a handshake per node in a row).
    let dead = [
        SilentHost::start(),
        SilentHost::start(),
        SilentHost::start(),
    ];
    let test = Test::new()
        .file(
            "inv.yaml",
            &inventory(&[("n1", &dead[0]), ("n2", &dead[1]), ("n3", &dead[2])]),
        )
        .file(
            "l.rhai",
            "//! Lock.\ncluster_lock_on(hosts(), \"x\", || log(\"inside\"));\n",
        );
    let inv = test.path("inv.yaml");
    test.arg("--inventory")
        .arg(inv)
        .arg("./l.rhai")
        .run()
        .status(1)
        .stderr_has("needs at least one host that answers")
        .stderr_lacks("inside");
    let mut times: Vec<Instant> = dead.iter().flat_map(SilentHost::accepted).collect();
    assert_eq!(times.len(), 3, "one connection attempt per host");
    times.sort();
    // Started together: the last attempt began before the first one's timeout (2 s) ran out.
    let spread = times[2] - times[0];
    assert!(
        spread < Duration::from_millis(1900),
        "attempts spread over {spread:?}"
    );
}

#[test]
fn a_connect_cut_short_by_the_runbook_deadline_does_not_count_as_not_answering() {
    // `within(1, ..)` ended the connect before the host's own timeout: the host may just be
    // slow (a loaded node's sshd); the next command without that deadline must try it.
    let dead = SilentHost::start();
    run(
        &[("slow-01", &dead)],
        &[],
        "try { within(1, || host(\"slow-01\").query([\"true\"])); } catch (e) { log(`first: ${e}`); }\ntry { host(\"slow-01\").query([\"true\"]); } catch (e) { log(`second: ${e}`); }\n",
    )
        .status(0)
        .stderr_has("first: ")
        .stderr_has("second: ")
        .stderr_lacks("not asked again");
    assert_eq!(dead.accepted().len(), 2, "connection attempts");
}

#[test]
fn cluster_lock_on_under_a_runbook_deadline_connects_under_it_too() {
    // cluster_lock_on connects to its hosts on threads of its own: they must keep the
    // runbook's deadline (`within`), as `parallel`'s branches do. Without it the connect
    // ran past the deadline to the host's own timeout, and the host then counted as not
    // answering although only the runbook's deadline had run out.
    let slow = SilentHost::start();
    run(
        &[("slow-01", &slow)],
        &[],
        "try { within(1, || cluster_lock_on(hosts(), \"x\", || log(\"inside\"))); } catch (e) { log(`first: ${e}`); }\ntry { host(\"slow-01\").query([\"true\"]); } catch (e) { log(`second: ${e}`); }\n",
    )
    .status(0)
    .stderr_has("first: ")
    .stderr_has("second: ")
    .stderr_lacks("inside")
    .stderr_lacks("not asked again");
}
