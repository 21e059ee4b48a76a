//! Flow builtins: waits with deadlines, retries, confirmations, steps, tables, Ctrl-C.

use std::io::{BufRead, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::test::Test;

#[test]
fn wait_until_returns_once_the_condition_holds() {
    Test::new()
        .file(
            "w.rhai",
            "//! Wait.\nlet n = 0;\nwait_until(30, || { n += 1; n >= 3 });\nlog(`polled ${n} times`);\n",
        )
        .arg("./w.rhai")
        .run()
        .status(0)
        .stderr_has("polled 3 times");
}

#[test]
fn wait_until_timeout_is_exit_5_and_says_what_it_waited_for() {
    Test::new()
        .file(
            "w.rhai",
            "//! Wait.\nwait_until(0.5, \"CS#1025 to drain\", || false);\n",
        )
        .arg("./w.rhai")
        .run()
        .status(5)
        .stderr_has("w.rhai:2:1: timed out after 0.5s waiting for CS#1025 to drain");
}

#[test]
fn wait_until_without_description_names_the_position() {
    Test::new()
        .file("w.rhai", "//! Wait.\n\nwait_until(0.2, || false);\n")
        .arg("./w.rhai")
        .run()
        .status(5)
        .stderr_has("waiting for the condition at line 3");
}

#[test]
fn wait_until_condition_must_be_boolean() {
    Test::new()
        .file("w.rhai", "//! Wait.\nwait_until(1, || 42);\n")
        .arg("./w.rhai")
        .run()
        .status(2)
        .stderr_has("must return true or false");
}

#[test]
fn retry_succeeds_after_failures_and_warns_about_each() {
    Test::new()
        .file(
            "r.rhai",
            "//! Retry.\nlet n = 0;\nlet v = retry(5, 0.01, || { n += 1; if n < 3 { throw \"flaky\"; } n * 10 });\nlog(`value ${v}`);\n",
        )
        .arg("./r.rhai")
        .run()
        .status(0)
        .stderr_has("value 30")
        .stderr_has("attempt 1 of 5 failed")
        .stderr_has("attempt 2 of 5 failed")
        .stderr_lacks("attempt 3 of 5");
}

#[test]
fn retry_gives_up_with_the_last_error() {
    Test::new()
        .file(
            "r.rhai",
            "//! Retry.\nretry(2, 0.01, || local().run([\"sh\", \"-c\", \"echo nope >&2; exit 4\"]));\n",
        )
        .arg("./r.rhai")
        .run()
        .status(1)
        .stderr_has("attempt 1 of 2 failed")
        .stderr_has("exit 4")
        .stderr_has("stderr: nope");
}

#[test]
fn retry_does_not_repeat_bad_input() {
    Test::new()
        .file(
            "r.rhai",
            "//! Retry.\nretry(3, 0.01, || host(\"nowhere\"));\n",
        )
        .arg("./r.rhai")
        .run()
        .status(2)
        .stderr_lacks("attempt 1 of 3 failed");
}

#[test]
fn confirm_without_terminal_or_yes_refuses() {
    Test::new()
        .file(
            "c.rhai",
            "//! Confirm.\nconfirm(\"Drop everything?\");\nlog(\"went ahead\");\n",
        )
        .arg("./c.rhai")
        .run()
        .status(3)
        .stderr_has("pass --yes")
        .stderr_lacks("went ahead");
}

#[test]
fn confirm_is_answered_by_yes() {
    Test::new()
        .file(
            "c.rhai",
            "//! Confirm.\nconfirm(\"Drop everything?\");\nlog(\"went ahead\");\n",
        )
        .args(["./c.rhai", "--yes"])
        .run()
        .status(0)
        .stderr_has("went ahead");
}

#[test]
fn destructive_runbook_needs_confirmation() {
    let runbook = "//! Wipe the lab.\n//! destructive\nlog(\"wiped\");\n";
    Test::new()
        .file("d.rhai", runbook)
        .arg("./d.rhai")
        .run()
        .status(3)
        .stderr_lacks("wiped");
    Test::new()
        .file("d.rhai", runbook)
        .args(["./d.rhai", "-y"])
        .run()
        .status(0)
        .stderr_has("wiped");
}

#[test]
fn refuse_is_exit_3() {
    Test::new()
        .file(
            "r.rhai",
            "//! Refuse.\nrefuse(\"only 2 CS on tier 1, 3 needed\");\n",
        )
        .arg("./r.rhai")
        .run()
        .status(3)
        .stderr_has("only 2 CS on tier 1, 3 needed");
}

#[test]
fn table_renders_maps_and_arrays() {
    Test::new()
        .file(
            "t.rhai",
            "//! Table.\ntable([#{name: \"web01\", tier: 1}, #{name: \"db-long-name\"}], [\"name\", \"tier\"]);\ntable([[\"a\", 2]], [\"x\", \"y\"]);\n",
        )
        .arg("./t.rhai")
        .run()
        .status(0)
        .stdout_has("name          tier\nweb01         1\ndb-long-name\n")
        .stdout_has("x  y\na  2\n");
}

#[test]
fn steps_are_headings_and_events() {
    let out = Test::new()
        .file(
            "s.rhai",
            "//! Steps.\nlet v = step(\"first\", || 41 + 1);\nlog(`${v}`);\n",
        )
        .args(["--output", "json", "./s.rhai"])
        .run()
        .status(0);
    let events = out.events();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "run_started",
            "step_started",
            "step_finished",
            "log",
            "run_finished"
        ]
    );
    assert!(events.iter().all(|e| e["v"] == 1));
    assert_eq!(events[3]["message"], "42");
}

#[test]
fn ctrl_c_stops_at_a_safe_point_with_130() {
    let test = Test::new().file(
        "slow.rhai",
        "//! Slow.\nlog(\"started\");\nsleep(60);\nlog(\"not reached\");\n",
    );
    let mut child = test
        .command()
        .arg("./slow.rhai")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the runbook has started (its log says so) before interrupting it.
    let mut log = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while line != "started\n" {
        line.clear();
        assert_ne!(log.read_line(&mut line).unwrap(), 0, "the log ended early");
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "vzrun did not stop after SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut rest = String::new();
    log.read_to_string(&mut rest).unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(rest.contains("interrupted after "), "{rest}");
    assert!(!rest.contains("not reached"), "{rest}");
}

#[test]
fn parallel_runs_every_item_and_keeps_order() {
    Test::new()
        .file(
            "p.rhai",
            "//! Parallel.\nimport \"vz\" as vz;\nlet base = 10;\nlet out = parallel(vz::split_list(\"a,b,c,d,e\"), 3, |x| `${x}${base}`);\nlog(`${out}`);\nlet names = parallel(hosts(), 4, |h| h.query([\"uname\", \"-n\"]).stdout.len());\nlog(`hosts answered: ${names.len()}`);\n",
        )
        .args(["--lab", "--lab-speed", "0", "./p.rhai"])
        .run()
        .status(0)
        .stderr_has("[\"a10\", \"b10\", \"c10\", \"d10\", \"e10\"]")
        .stderr_has("hosts answered: 7\n")
        .stderr_has("(5/5)");
}

#[test]
fn parallel_reports_all_failures_together_after_every_item() {
    Test::new()
        .file(
            "p.rhai",
            "//! Parallel failures.\nlet seen = [];\nparallel([1, 2, 3, 4], 2, |n| { if n % 2 == 0 { local().run([\"sh\", \"-c\", `echo bad${n} >&2; exit 3`]); } n });\n",
        )
        .arg("./p.rhai")
        .run()
        .status(1)
        .stderr_has("2 of 4 items failed:")
        .stderr_has("  2: command failed on local (exit 3)")
        .stderr_has("stderr: bad4")
        .stderr_has("(4/4)");
}

#[test]
fn parallel_limit_is_checked() {
    Test::new()
        .file("p.rhai", "//! Bad limit.\nparallel([1], 0, |n| n);\n")
        .arg("./p.rhai")
        .run()
        .status(2)
        .stderr_has("invalid parallel limit");
}
