//! Runs cut short, then resumed or aborted later: what the kill left (a configuration half
//! written, a VE stopped by hand since, undo actions of later resumes) is named, refused or
//! taken back, never guessed at; a rebind cut short between its nodes is bound back.

use crate::abort_cut_short::create_cut_short;
use crate::catalog::unchanged;

#[test]
fn resume_of_a_create_cut_short_with_its_config_half_written_is_refused_naming_it() {
    let args = ["create-ct", "web99", "--on", "msk-04", "--yes"];
    // The kill lands inside `prlctl create`: the lab leaves its configuration half written
    // (as the real one may), so `prlctl list -i web99` fails.
    let (lab, _line, run_id) = create_cut_short(&args);
    let state = lab.state_value();
    let web99 = state["ves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "web99")
        .unwrap();
    assert_eq!(web99["broken_config"], true, "{web99}");
    // Was: exit 1, "Failed to get VM config: The virtual machine configuration file is
    // damaged" from the resumed run's check of the VE that exists.
    let before = lab.state_value();
    unchanged(
        lab.run(&["resume", &run_id])
            .status(3)
            .stderr_has("web99")
            .stderr_has("msk-04")
            .stderr_has("configuration prlctl cannot read (command failed on msk-04")
            .stderr_has("Failed to get VM config")
            .stderr_has("nothing was changed")
            .stderr_has(&format!("vzrun abort {run_id}")),
    );
    assert!(
        lab.state_value() == before,
        "the refused resume changed the lab"
    );
    // The way out it names works: the abort removes it, and the run can go again.
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_has("is removed");
    lab.run(&["resume", &run_id])
        .status(0)
        .stderr_has("web99 runs on msk-04");
}

#[test]
fn abort_of_the_first_run_of_a_chain_of_killed_resumes_takes_back_theirs_too() {
    let mut lab = crate::catalog::Lab::new();
    lab.speed = "0.1";
    let (_line, first) =
        lab.kill_after_log_line("(1/5)", &["evacuate", "msk-05", "--yes", "--parallel", "1"]);
    // Resumed, and killed again after one more move: the resume left undo actions of its own.
    let (_line, second) = lab.kill_after_log_line("(1/4)", &["resume", &first]);
    lab.speed = "0";
    let pending_of = |id: &str| {
        let out = lab.run(&["runs"]).status(0);
        out.stdout
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_default()
            .to_string()
    };
    assert!(!pending_of(&second).is_empty());
    // Was: only the first run's undo actions ran, not a word of the second's, left pending
    // for an abort nobody would think of running.
    lab.run(&["abort", &first])
        .status(0)
        .stderr_has(&second)
        .stderr_has("msk-05 stays in maintenance");
    // Done: neither run is left with an undo pending.
    unchanged(
        lab.run(&["abort", &second])
            .status(0)
            .stderr_has("already ran"),
    );
}

/// Where search01 is and its state.
const SEARCH01: &str = "for n in [\"msk-03\", \"msk-05\"] { for v in prlctl::list(host(n)).filter(|v| v.name == \"search01\") { log(`search01 ${v.status} on ${n}`); } }";

/// A drain of msk-05 killed after its first move (search01, running, to msk-03), and days
/// later an operator stops search01 by hand (a maintenance inside it, say): the lab and the
/// drain's run id.
fn drain_cut_short_then_search01_stopped_by_hand() -> (crate::catalog::Lab, String) {
    let mut lab = crate::catalog::Lab::new();
    // Slow enough that the kill lands after the first move.
    lab.speed = "0.1";
    let (_line, run_id) =
        lab.kill_after_log_line("(1/5)", &["evacuate", "msk-05", "--yes", "--parallel", "1"]);
    lab.speed = "0";
    lab.query(SEARCH01)
        .status(0)
        .stderr_has("search01 running on msk-03");
    lab.query("host(\"msk-03\").run([\"prlctl\", \"stop\", \"search01\"]);")
        .status(0);
    (lab, run_id)
}

#[test]
fn abort_long_after_a_drain_was_cut_short_does_not_start_a_ve_stopped_by_hand_since() {
    let (lab, run_id) = drain_cut_short_then_search01_stopped_by_hand();
    // `vzrun runs` still lists the killed drain with undo actions pending: it is aborted.
    // Was: "search01 was running before its move and is stopped on msk-03: starting it
    // again", and search01 running behind the operator's back.
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_lacks("starting it again")
        .stderr_has("search01")
        .stderr_has("not started")
        .stderr_has("prlctl start")
        // The rest of the abort goes on.
        .stderr_has("msk-05 stays in maintenance");
    lab.query(SEARCH01)
        .status(0)
        .stderr_has("search01 stopped on msk-03");
}

#[test]
fn abort_of_a_drain_cut_short_between_a_stop_and_its_start_starts_that_ve_again() {
    let mut lab = crate::catalog::Lab::new();
    lab.speed = "0.1";
    // Offline: stop, migrate, start; the kill lands while the first migrate runs.
    let (_line, run_id) = lab.kill_while_running(
        "[msk-05] prlctl migrate",
        &[
            "evacuate",
            "msk-05",
            "--yes",
            "--parallel",
            "1",
            "--mode",
            "offline",
        ],
        std::time::Duration::from_millis(100),
    );
    lab.speed = "0";
    let stopped = lab.query("for n in hosts() { for v in prlctl::list(n).filter(|v| v.status == \"stopped\") { log(`stopped ${v.name} on ${n.name}`); } }").status(0).stderr;
    // The run left it stopped: the abort starts it again, as it did before.
    let out = lab.run(&["abort", &run_id]).status(0);
    assert!(
        out.stderr.contains("starting it again"),
        "{stopped}\n{}",
        out.stderr
    );
}

#[test]
fn abort_long_after_a_move_back_was_cut_short_does_not_start_a_ve_stopped_by_hand_since() {
    let mut lab = crate::catalog::Lab::new();
    lab.run(&["evacuate", "msk-05", "--yes"]).status(0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    lab.speed = "0.1";
    let (_line, run_id) = lab.kill_after_log_line(
        "(1/5)",
        &["unevacuate", "msk-05", "--yes", "--parallel", "1"],
    );
    lab.speed = "0";
    let back = lab
        .query("for v in prlctl::list(host(\"msk-05\")).filter(|v| v.status == \"running\") { log(`back ${v.name}`); }")
        .status(0)
        .stderr;
    let name = back
        .lines()
        .find_map(|l| l.strip_prefix("back "))
        .unwrap_or_else(|| panic!("no VE running back on msk-05: {back}"))
        .to_string();
    // Later an operator stops it by hand.
    lab.query(&format!(
        "host(\"msk-05\").run([\"prlctl\", \"stop\", \"{name}\"]);"
    ))
    .status(0);
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_lacks("starting it again")
        .stderr_has("not started");
    lab.query(&format!("for v in prlctl::list(host(\"msk-05\")).filter(|v| v.name == \"{name}\") {{ log(`{name} ${{v.status}}`); }}"))
        .status(0)
        .stderr_has(&format!("{name} stopped"));
}

#[test]
fn abort_of_a_rebind_cut_short_binds_the_nodes_it_rebound_back() {
    // Bridged moves from eth0 to eth1 on n1, n2, n3, one after another; the kill lands while
    // n2's binding runs (the dispatcher reconfigures the host bridge: it takes a while),
    // once the lab shows n2 rebound (it changes its state as the command starts).
    // n1 and n2 are left on eth1, n3 on eth0: the network on two segments.
    let mut lab = crate::catalog::Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\n  - {name: n3, address: 10.0.0.3, tags: [hypervisor]}\n",
    );
    lab.speed = "0.5";
    let (_state, run_id) = lab.kill_once_lab_state(
        &["bridge-network", "Bridged", "eth1", "--yes"],
        "n2's Bridged on eth1",
        std::time::Duration::from_secs(60),
        |state| {
            state["hosts"].as_array().is_some_and(|hosts| {
                hosts.iter().any(|h| {
                    h["name"] == "n2"
                        && h["networks"].as_array().is_some_and(|nets| {
                            nets.iter()
                                .any(|x| x["name"] == "Bridged" && x["ifname"] == "eth1")
                        })
                })
            })
        },
    );
    lab.speed = "0";
    // Was: "registered no undo action for the change(s) it made; abort cannot take them
    // back" (exit 1), n1 left on eth1.
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_has("n1: Bridged bound back to eth0");
    let state = lab.state_value();
    for n in ["n1", "n2", "n3"] {
        let nets = crate::fieldnotes::node(&state, n)["networks"]
            .as_array()
            .unwrap()
            .clone();
        assert!(
            nets.iter()
                .any(|x| x["name"] == "Bridged" && x["ifname"] == "eth0"),
            "{n}: {nets:?}"
        );
    }
}

#[test]
fn resume_long_after_a_drain_was_cut_short_does_not_start_a_ve_stopped_by_hand_since() {
    let (lab, run_id) = drain_cut_short_then_search01_stopped_by_hand();
    // The operator then finishes the drain with the resume the tool names.
    lab.run(&["resume", &run_id])
        .status(0)
        .stderr_lacks(
            "search01 was running before its move and is stopped on msk-03: starting it again",
        )
        .stderr_has("not started");
    lab.query(SEARCH01)
        .status(0)
        .stderr_has("search01 stopped on msk-03");
}

#[test]
fn abort_again_after_an_abort_cut_short_does_not_start_a_ve_stopped_by_hand_since() {
    let mut lab = crate::catalog::Lab::new();
    let (run_id, name, on) = evacuation_killed_with_a_ve_left_stopped(&mut lab);
    // The first abort starts it again, then waits for msk-05, which does not answer: it is
    // cut short there (a lost laptop), its undo actions still pending. The kill lands once
    // the abort's own journal records the start's end (the journal an abort writes from its
    // first change on, `args.aborts` naming the run): it is waiting for msk-05 then, for
    // many seconds at this speed.
    // It waits a minute for msk-05 before the start.
    first_abort_killed_after_its_start(&mut lab, &run_id, &on, "0.1", 300);
    // Was: "starting it again", the first abort's start of it not counted.
    stopped_by_hand_then_aborted_again(&lab, &on, &name, &run_id);
}

/// msk-05 answers again; `name`, running on `on` (started by an abort cut short), is
/// stopped by hand, and the abort of `run_id` run again (as the tool says) must leave it
/// stopped, naming it as not started.
fn stopped_by_hand_then_aborted_again(
    lab: &crate::catalog::Lab,
    on: &str,
    name: &str,
    run_id: &str,
) {
    lab.answer_again("msk-05");
    let status = format!("for v in prlctl::list(host(\"{on}\")).filter(|v| v.name == \"{name}\") {{ log(`{name} ${{v.status}}`); }}");
    lab.query(&status)
        .status(0)
        .stderr_has(&format!("{name} running"));
    // Later an operator stops it by hand, then runs the abort again, as the tool says.
    lab.query(&format!(
        "host(\"{on}\").run([\"prlctl\", \"stop\", \"{name}\"]);"
    ))
    .status(0);
    lab.run(&["abort", run_id])
        .status(0)
        .stderr_lacks("starting it again")
        .stderr_has("not started");
    lab.query(&status)
        .status(0)
        .stderr_has(&format!("{name} stopped"));
}

#[test]
fn abort_again_counts_an_abort_cut_short_whose_run_id_sorts_before_the_run_it_aborts() {
    let mut lab = crate::catalog::Lab::new();
    let (run_id, name, on) = evacuation_killed_with_a_ve_left_stopped(&mut lab);
    // The abort starts it again, then waits for msk-05, which does not answer: it is killed
    // once it journaled the start's end, its undo actions still pending.
    let abort_id = first_abort_killed_after_its_start(&mut lab, &run_id, &on, "0.01", 120);
    // A run id is the second the run started and a random salt: an abort started within
    // the second its run started (a drain killed at once) sorts before it one time in two.
    // This one is given such an id: the same second, the lowest salt (the second before
    // when the run has that one).
    let runs = lab.dir.path().join("state").join("runs");
    let earlier = if run_id.ends_with("-0000") {
        let first = std::fs::read_to_string(runs.join(format!("{run_id}.jsonl"))).unwrap();
        let start: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
        let started = humantime::parse_rfc3339(start["ts"].as_str().unwrap()).unwrap();
        let second = humantime::format_rfc3339_seconds(started - std::time::Duration::from_secs(1))
            .to_string()
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>();
        format!("{}-{}-ffff", &second[..8], &second[8..14])
    } else {
        format!("{}-0000", &run_id[..15])
    };
    assert!(earlier < run_id, "{earlier} {run_id}");
    let journal = std::fs::read_to_string(runs.join(format!("{abort_id}.jsonl"))).unwrap();
    std::fs::write(
        runs.join(format!("{earlier}.jsonl")),
        journal.replace(&abort_id, &earlier),
    )
    .unwrap();
    std::fs::remove_file(runs.join(format!("{abort_id}.jsonl"))).unwrap();
    // Was: "starting it again": the journals taken in the order of their ids, the first
    // abort's start came before the run's stop.
    stopped_by_hand_then_aborted_again(&lab, &on, &name, &run_id);
}

/// An offline evacuation of msk-05 (stop, migrate, start) killed while its first migrate
/// runs, at speed 0.1: once the lab shows a VE that was running stopped off msk-05 (the lab
/// moves a VE as its migrate starts, then takes the migrate's time). (run id, that VE, the
/// node it is on); the lab is left at speed 0.1.
fn evacuation_killed_with_a_ve_left_stopped(
    lab: &mut crate::catalog::Lab,
) -> (String, String, String) {
    let ran: Vec<String> = lab.state_value()["ves"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["status"] == "running")
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect();
    let left_stopped = |state: &serde_json::Value| {
        state["ves"].as_array()?.iter().find_map(|v| {
            let (name, on) = (v["name"].as_str()?, v["host"].as_str()?);
            (v["status"] == "stopped" && on != "msk-05" && ran.iter().any(|r| r == name))
                .then(|| (name.to_string(), on.to_string()))
        })
    };
    lab.speed = "0.1";
    let (state, run_id) = lab.kill_once_lab_state(
        &[
            "evacuate",
            "msk-05",
            "--yes",
            "--parallel",
            "1",
            "--mode",
            "offline",
        ],
        "a VE that ran stopped off msk-05",
        std::time::Duration::from_secs(120),
        |state| left_stopped(state).is_some(),
    );
    let (name, on) = left_stopped(&state).unwrap();
    (run_id, name, on)
}

/// msk-05 stops answering; `vzrun abort RUN_ID` runs at `speed` and is killed once its
/// journal records the end of its `prlctl start` on `on` (within `within_secs`), its undo
/// actions still pending. The abort's run id; the lab is left at speed 0.
fn first_abort_killed_after_its_start(
    lab: &mut crate::catalog::Lab,
    run_id: &str,
    on: &str,
    speed: &'static str,
    within_secs: u64,
) -> String {
    lab.stop_answering("msk-05");
    lab.speed = speed;
    let (_started, abort_id) = lab.kill_once_journaled(
        &["abort", run_id],
        &format!("the end of `prlctl start` on {on}"),
        std::time::Duration::from_secs(within_secs),
        |r| {
            r["event"] == "command_finished"
                && r["host"] == on
                && r["argv"][0] == "prlctl"
                && r["argv"][1] == "start"
        },
    );
    lab.speed = "0";
    abort_id
}
