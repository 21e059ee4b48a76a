//! The output-stream rule (#20): stdout holds only the data a run produces (`print()`,
//! `table()`, a plan's listing), stderr the human log (narration, commands, diffs, the run's
//! start and end), so `-q RUNBOOK > file` keeps exactly the data and `2>&1 | tee` keeps
//! everything in order.

use std::fs;
use std::process::Stdio;

use crate::test::{Outcome, Test};

/// Narrates, prints, changes the host (a command and a file edit) and prints a table.
const MIXED: &str = r#"//! Everything at once.
let dir = local().query(["pwd"]).stdout;
dir.trim();
log("starting");
print("data 1");
step("change", || {
    local().run(["touch", "made"]);
    file::write(local(), `${dir}/edited.conf`, "KEY=new\n");
});
table([#{name: "web01", tier: 1}, #{name: "db03", tier: 2}], ["name", "tier"]);
print("data 2");
log("done");
"#;

const DATA: &str = "data 1\nname   tier\nweb01  1\ndb03   2\ndata 2\n";

fn mixed() -> Test {
    Test::new()
        .file("s.rhai", MIXED)
        .file("edited.conf", "KEY=old\n")
}

#[test]
fn stdout_holds_exactly_the_data_and_stderr_the_log() {
    let out = mixed().arg("./s.rhai").run().status(0);
    assert_eq!(out.stdout, DATA);
    let out = out
        .stderr_has("starting\n")
        .stderr_has("== change\n")
        .stderr_has("[local] touch made\n")
        .stderr_has("edited.conf\n    --- ")
        .stderr_has("\n    +KEY=new\n")
        .stderr_has("done\n")
        .stderr_has("ok after ")
        .stderr_lacks("data 1")
        .stderr_lacks("web01");
    assert!(
        out.stderr.starts_with("run ") && out.stderr.contains(": ./s.rhai\n"),
        "the log starts with the run's id: {}",
        out.stderr
    );
    assert!(out.exists("made"));
}

#[test]
fn quiet_keeps_the_same_data_and_no_narration() {
    let out = mixed().args(["-q", "./s.rhai"]).run().status(0);
    assert_eq!(out.stdout, DATA);
    assert_eq!(out.stderr, "", "-q leaves no narration");
    assert!(out.exists("made"));
}

#[test]
fn a_plan_lists_what_would_change_on_stdout_and_narrates_on_stderr() {
    let out = mixed().args(["plan", "./s.rhai"]).run().status(0);
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| !l.starts_with("    "))
            .collect::<Vec<_>>(),
        [
            "data 1",
            "would run on local: touch made",
            &format!(
                "would edit on local: {}",
                out.path("edited.conf").canonicalize().unwrap().display()
            ),
            "name   tier",
            "web01  1",
            "db03   2",
            "data 2",
        ]
    );
    let out = out
        .stdout_has("\n    +KEY=new\n")
        .stderr_has("starting\n")
        .stderr_has("== change\n")
        .stderr_has("plan: 2 change(s) listed; nothing was changed\n")
        .stderr_lacks("would run");
    assert!(!out.exists("made"));
    // -q silences the narration, not the listing.
    let quiet = mixed().args(["-q", "plan", "./s.rhai"]).run().status(0);
    assert_eq!(
        in_any_dir(&quiet.stdout, &quiet),
        in_any_dir(&out.stdout, &out)
    );
    assert_eq!(quiet.stderr, "");
}

/// `text` with the (canonical) path of `out`'s scratch directory written as `DIR`.
fn in_any_dir(text: &str, out: &Outcome) -> String {
    let dir = out.path("").canonicalize().unwrap();
    text.replace(dir.to_str().unwrap(), "DIR")
}

/// Runs `vzrun ARGS 2>&1` (both streams into one file) and returns what it wrote.
fn both_streams(test: &Test, args: &[&str]) -> String {
    let log = test.path("both.log");
    let file = fs::File::create(&log).unwrap();
    let status = test
        .command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .status()
        .unwrap();
    assert!(status.success(), "{}", fs::read_to_string(&log).unwrap());
    fs::read_to_string(&log).unwrap()
}

#[test]
fn both_streams_together_keep_the_order_things_happened_in() {
    let test = mixed();
    let text = both_streams(&test, &["./s.rhai"]);
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("    ")).collect();
    assert!(lines[0].starts_with("run "), "{text}");
    assert!(lines.last().unwrap().starts_with("ok after "), "{text}");
    assert_eq!(
        lines[1..lines.len() - 1],
        [
            "starting",
            "data 1",
            "== change",
            "[local] touch made",
            &format!(
                "[local] edit {}",
                test.path("edited.conf").canonicalize().unwrap().display()
            ),
            "name   tier",
            "web01  1",
            "db03   2",
            "data 2",
            "done",
        ],
        "{text}"
    );
}

#[test]
fn lines_of_parallel_branches_on_both_streams_are_never_cut() {
    let long = "x".repeat(300);
    let items: Vec<String> = (0..16).map(|i| i.to_string()).collect();
    let script = format!(
        "//! Chatter.\nparallel([{}], 16, |i| {{\n    local().run([\"sleep\", [\"0.1\", \"0.2\", \"0.3\", \"0.4\"][i % 4]]);\n    for j in 0..40 {{\n        print(`data ${{i}} ${{j}} {long}`);\n        log(`log ${{i}} ${{j}} {long}`);\n    }}\n}});\n",
        items.join(", ")
    );
    // Heartbeats of the longer sleeps (written by another thread) come while the branches
    // that slept less print.
    let test = Test::new()
        .file("p.rhai", &script)
        .env("VZRUN_HEARTBEAT", "0.05");
    let text = both_streams(&test, &["./p.rhai"]);
    let mut data = 0;
    let mut log = 0;
    let mut heartbeats = 0;
    for line in text.lines() {
        let whole = |kind: &str| {
            let mut words = line.split(' ');
            words.next() == Some(kind)
                && words.next().is_some_and(|i| i.parse::<u32>().is_ok())
                && words.next().is_some_and(|j| j.parse::<u32>().is_ok())
                && words.next() == Some(long.as_str())
                && words.next().is_none()
        };
        if whole("data") {
            data += 1;
        } else if whole("log") {
            log += 1;
        } else {
            let sleep = |l: &str| {
                l.strip_prefix("sleep 0.")
                    .is_some_and(|n| ["1", "2", "3", "4"].contains(&n))
            };
            let heartbeat = line
                .strip_prefix("still running on local: ")
                .and_then(|rest| rest.split_once(" ("))
                .is_some_and(|(cmd, time)| {
                    sleep(cmd) && time.ends_with("s)") && !time.contains(' ')
                });
            if heartbeat {
                heartbeats += 1;
            }
            assert!(
                heartbeat
                    || line.strip_prefix("[local] ").is_some_and(sleep)
                    || line.starts_with("run ")
                    || line.starts_with('(')
                    || line.starts_with("ok after "),
                "a cut line: {line:?}"
            );
        }
    }
    assert_eq!((data, log), (16 * 40, 16 * 40));
    assert!(heartbeats > 0, "no heartbeat came in between:\n{text}");
}
