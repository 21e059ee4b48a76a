//! A change refused before it ran (a lock another run holds, a question not answered yes)
//! is not journaled as a command: `vzrun abort`, `resume` and `runs` must not take it for
//! something that ran.

use crate::catalog::{unchanged, Lab};

/// The change commands a run's journal records (`command` records of effect `change`).
fn journaled_changes(lab: &Lab, run_id: &str) -> Vec<String> {
    let path = lab
        .dir
        .path()
        .join("state")
        .join("runs")
        .join(format!("{run_id}.jsonl"));
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "command" && e["effect"] == "change")
        .map(|e| e["argv"].to_string())
        .collect()
}

fn last_run(lab: &Lab) -> String {
    crate::test::run_ids(&lab.dir.path().join("state"))
        .pop()
        .unwrap()
}

#[test]
fn a_change_refused_by_a_held_lock_is_not_journaled_as_a_command() {
    let lab = Lab::new();
    let scratch = tempfile::tempdir().unwrap();
    let holder = scratch.path().join("hold.rhai");
    std::fs::write(
        &holder,
        "//! Hold msk-03.\nlock_host(host(\"msk-03\"));\nlog(\"holding msk-03\");\nsleep(60);\n",
    )
    .unwrap();
    let change = scratch.path().join("touch.rhai");
    std::fs::write(
        &change,
        "//! Touch a file on msk-03.\nhost(\"msk-03\").run([\"touch\", \"/root/refused\"]);\n",
    )
    .unwrap();
    let (test, mut child, _) = lab.spawn_until("holding msk-03", &[holder.to_str().unwrap()]);
    let out = lab.run(&[change.to_str().unwrap()]);
    child.kill().unwrap();
    child.wait().unwrap();
    drop(test);
    unchanged(out.status(4).stderr_has("msk-03"));
    let run_id = last_run(&lab);
    // Was: `["touch","/root/refused"]` journaled as a change, and the abort below exit 1,
    // "registered no undo action for the 1 change(s) it made: [msk-03] touch /root/refused".
    assert_eq!(journaled_changes(&lab, &run_id), Vec::<String>::new());
    unchanged(
        lab.run(&["abort", &run_id])
            .status(0)
            .stderr_has("changed nothing"),
    );
}

#[test]
fn a_change_after_a_declined_question_is_not_journaled_as_a_command() {
    let lab = Lab::new();
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("ask.rhai");
    // The script catches the refusal and goes on to a change: it must not run, nor be
    // recorded as if it had.
    std::fs::write(
        &path,
        "//! Ask, then touch a file on msk-03.\ntry { confirm(\"Touch it?\"); } catch (e) { log(\"not confirmed\"); }\nhost(\"msk-03\").run([\"touch\", \"/root/declined\"]);\n",
    )
    .unwrap();
    // No terminal and no --yes: the question is not answered yes.
    unchanged(lab.run(&[path.to_str().unwrap()]).status(3));
    let run_id = last_run(&lab);
    assert_eq!(journaled_changes(&lab, &run_id), Vec::<String>::new());
    unchanged(
        lab.run(&["abort", &run_id])
            .status(0)
            .stderr_has("changed nothing"),
    );
}
