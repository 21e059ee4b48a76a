//! What an operator meets around a run: its id, how to resume it, the journal listing,
//! truthful per-item outcomes after Ctrl-C, completions, README links.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::test::Test;

const FAILING: &str = "//! Fail on purpose.\nlocal().run([\"sh\", \"-c\", \"exit 7\"]);\n";

#[test]
fn a_run_prints_its_id_at_start_and_how_to_resume_it_on_failure() {
    let out = Test::new()
        .file("fail.rhai", FAILING)
        .arg("./fail.rhai")
        .run()
        .status(1);
    let first = out.stderr.lines().next().unwrap_or_default().to_string();
    let re = regex::Regex::new(r"^run (\d{8}-\d{6}-[0-9a-f]{4}): \./fail\.rhai$").unwrap();
    let id = re
        .captures(&first)
        .unwrap_or_else(|| panic!("first stderr line {first:?} does not name the run"))[1]
        .to_string();
    let out = out
        .stderr_has(&format!("vzrun resume {id}"))
        .stderr_has(&format!("vzrun abort {id}"))
        .stderr_has("failed after ");
    // The id printed is the id the journal knows.
    assert_eq!(crate::test::run_ids(&out.path("state")), vec![id]);
}

#[test]
fn refused_and_bad_input_runs_do_not_offer_resume() {
    Test::new()
        .file("no.rhai", "//! Refuse.\nrefuse(\"not today\");\n")
        .arg("./no.rhai")
        .run()
        .status(3)
        .stderr_has("refused after ")
        .stderr_lacks("vzrun resume");
}

#[test]
fn runs_filters_and_shows_one_run_in_detail() {
    let test = Test::new()
        .file("ok.rhai", "//! Fine.\nlocal().run([\"true\"]);\n")
        .file("fail.rhai", FAILING);
    let state = test.path("state");
    let run = |args: &[&str]| {
        Test::new()
            .env("VZRUN_STATE_DIR", &state)
            .args(
                args.iter()
                    .map(|a| a.replace("DIR", &test.path("").display().to_string())),
            )
            .run()
    };
    run(&["DIR/ok.rhai"]).status(0);
    run(&["DIR/fail.rhai"]).status(1);
    run(&["DIR/ok.rhai"]).status(0);
    let all = run(&["runs"]).status(0);
    assert_eq!(all.stdout.lines().count(), 4, "{}", all.stdout);
    let last = run(&["runs", "--last", "1"]).status(0);
    assert_eq!(last.stdout.lines().count(), 2, "{}", last.stdout);
    assert!(last.stdout.contains("ok.rhai"));
    let failed = run(&["runs", "--failed"]).status(0);
    assert_eq!(failed.stdout.lines().count(), 2, "{}", failed.stdout);
    assert!(
        failed.stdout.contains("fail.rhai  apply  failed  1"),
        "{}",
        failed.stdout
    );
    let by_name = run(&["runs", "--runbook", "ok", "--output", "json"]).status(0);
    let rows: Vec<serde_json::Value> = by_name
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["status"] == "ok"));
    let failed_id = serde_json::from_str::<serde_json::Value>(
        run(&["runs", "--failed", "--output", "json"])
            .stdout
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    run(&["runs", &failed_id])
        .status(0)
        .stdout_has("change on local: sh -c 'exit 7' (exit 7)")
        .stdout_has("finished: failed (exit 1)")
        .stdout_has("error: ");
    run(&["runs", "20990101-000000-beef"])
        .status(2)
        .stderr_has("no run \"20990101-000000-beef\"");
}

#[test]
fn ctrl_c_reports_each_item_truthfully() {
    // Item 1 finishes, item 2 is interrupted while it sleeps, items 3-5 never start.
    let test = Test::new().file(
        "p.rhai",
        "//! Items.\nparallel([1, 2, 3, 4, 5], 1, |n| { if n == 2 { print(\"sleeping\"); sleep(60); } n });\n",
    );
    let mut child = test
        .command()
        .arg("./p.rhai")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 8];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"sleeping");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "vzrun did not stop after SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130), "{stderr}");
    for line in [
        "(1/5) 1: done",
        "(2/5) 2: INTERRUPTED",
        "1 of 5 items done",
        "1 interrupted part-way",
        "3 not started (untouched): 3, 4, 5",
    ] {
        assert!(stderr.contains(line), "stderr lacks {line:?}:\n{stderr}");
    }
    assert!(!stderr.contains("3: FAILED"), "{stderr}");
}

#[test]
fn completions_offer_runbooks_and_their_options_but_not_internal_commands() {
    let out = Test::new().args(["completions", "bash"]).run().status(0);
    assert!(!out.stdout.contains("lab-shim"), "lab-shim is internal");
    for word in ["evacuate", "--start-timeout", "cs-maintenance", "resume"] {
        assert!(out.stdout.contains(word), "bash completion lacks {word}");
    }
}

#[test]
fn readme_links_point_inside_the_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let link = regex::Regex::new(r"\]\(([^)#]+)(#[^)]*)?\)").unwrap();
    let mut checked = 0;
    for caps in link.captures_iter(&readme) {
        let target = &caps[1];
        if target.starts_with("http://") || target.starts_with("https://") {
            continue;
        }
        let path = root.join(target);
        assert!(
            path.starts_with(root) && !target.contains(".."),
            "README links outside the repository: {target}"
        );
        assert!(path.exists(), "README links to a missing file: {target}");
        checked += 1;
    }
    assert!(checked > 3, "expected the README to link into the book");
}

#[test]
fn a_wrong_argument_type_is_explained_in_words() {
    Test::new()
        .file("t.rhai", "//! Wrong type.\nprlctl::start(host(\"msk-01\"), 5);\n")
        .args(["--lab", "--lab-speed", "0", "./t.rhai"])
        .run()
        .status(1)
        .stderr_has("t.rhai:2:9: prlctl::start: argument 2 (`id`) must be a string, not an integer; it takes prlctl::start(host: Host, id: string)");
}

#[test]
fn a_long_command_keeps_saying_that_it_runs_and_for_how_long() {
    Test::new()
        .file(
            "long.rhai",
            "//! Long.\nlocal().run([\"sleep\", \"2.5\"]);\n",
        )
        .env("VZRUN_HEARTBEAT", "1")
        .arg("./long.rhai")
        .run()
        .status(0)
        .stderr_has("still running on local: sleep 2.5 (1.0s)")
        .stderr_has("ok after 2.");
    // Quiet runs stay quiet.
    let quiet = Test::new()
        .file(
            "long.rhai",
            "//! Long.\nlocal().run([\"sleep\", \"1.5\"]);\n",
        )
        .env("VZRUN_HEARTBEAT", "0.5")
        .args(["-q", "./long.rhai"])
        .run()
        .status(0);
    assert!(!quiet.stderr.contains("still running"), "{}", quiet.stderr);
}

/// Runs vzrun under a pseudo-terminal (util-linux `script`), returning what the terminal saw.
fn under_a_terminal(test: &Test, args: &str) -> Option<String> {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").is_err(),
            "`script` (util-linux) is needed for the terminal tests"
        );
        eprintln!("skipped: no `script` to make a pseudo-terminal");
        return None;
    }
    let line = format!("{} {args}", crate::test::vzrun_bin());
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(test.path(""))
        .env("TERM", "xterm")
        .env("VZRUN_STATE_DIR", test.path("state"))
        .output()
        .unwrap();
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn on_a_terminal_parallel_work_shows_a_bar_with_elapsed_time_and_eta() {
    let test = Test::new().file(
        "bars.rhai",
        "//! Bars.\nparallel([1, 2, 3], 1, |n| { sleep(0.4); n });\n",
    );
    let Some(screen) = under_a_terminal(&test, "./bars.rhai") else {
        return;
    };
    assert!(screen.contains("] 3/3 "), "{screen}");
    assert!(screen.contains("(ETA "), "{screen}");
    assert!(screen.contains("3: done"), "{screen}");
    assert!(screen.contains("ok after "), "{screen}");
}

#[test]
fn name_dot_rhai_runs_the_catalog_runbook_unless_such_a_file_is_here() {
    Test::new()
        .args([
            "--lab",
            "--lab-speed",
            "0",
            "plan",
            "evacuate.rhai",
            "msk-07",
        ])
        .run()
        .status(0)
        .stderr_has("note: no file evacuate.rhai here: running evacuate (runbooks/evacuate.rhai)")
        .stdout_has("would run on msk-07: prlctl migrate");
    Test::new()
        .file(
            "evacuate.rhai",
            "//! My own.\n//! arg node: a node\nlog(`mine: ${ARGS.node}`);\n",
        )
        .args(["evacuate.rhai", "msk-07"])
        .run()
        .status(0)
        .stderr_has("note: running the file evacuate.rhai, not the built-in runbook evacuate")
        .stderr_has("mine: msk-07");
}

#[test]
fn user_runbooks_shadowed_by_built_ins_are_listed_and_reachable() {
    let test = Test::new()
        .file(
            "lib/evacuate.rhai",
            "//! My evacuate.\nlog(\"user evacuate\");\n",
        )
        .file("lib/helpers.rhai", "fn twice(x) { x * 2 }\n")
        .file("lib/mine.rhai", "//! Mine.\nlog(\"mine\");\n");
    let lib = test.path("lib");
    let out = Test::new()
        .env("VZRUN_PATH", &lib)
        .arg("list")
        .run()
        .status(0);
    assert!(out.stdout.contains("mine "), "{}", out.stdout);
    assert!(
        out.stdout.contains("user:evacuate")
            && out.stdout.contains("hidden by the built-in evacuate"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("helpers"),
        "a module is not a runbook: {}",
        out.stdout
    );
    Test::new()
        .env("VZRUN_PATH", &lib)
        .arg("user:evacuate")
        .run()
        .status(0)
        .stderr_has("user evacuate");
}

#[test]
fn modules_of_the_operators_library_are_importable_from_any_runbook() {
    let runbook = "//! Mine.\nimport \"site\" as site;\nlog(site::greet(\"msk-07\"));\n";
    let test = Test::new()
        .file(
            "lib/site.rhai",
            "fn greet(name) { `site says hi to ${name}` }\n",
        )
        .file("elsewhere/mine.rhai", runbook);
    let lib = test.path("lib");
    test.env("VZRUN_PATH", &lib)
        .arg("./elsewhere/mine.rhai")
        .run()
        .status(0)
        .stderr_has("site says hi to msk-07");
    // Without the library on $VZRUN_PATH the module is not found.
    Test::new()
        .file("elsewhere/mine.rhai", runbook)
        .arg("./elsewhere/mine.rhai")
        .run()
        .status(1)
        .stderr_has("site");
}

#[test]
fn a_runaway_script_is_stopped_by_the_memory_guard() {
    // No size limits (they made every push re-measure the array): memory is what is guarded.
    Test::new()
        .file(
            "runaway.rhai",
            "//! Runaway.\nlet a = [];\nlet s = \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\";\nloop { a.push(s + a.len()); }\n",
        )
        .env("VZRUN_MAX_MEMORY_MB", "64")
        .arg("./runaway.rhai")
        .run()
        .status(1)
        .stderr_has("over its limit of 64 MB (a runaway loop?); $VZRUN_MAX_MEMORY_MB raises it");
}

#[test]
fn every_link_in_the_book_points_to_a_page_that_exists() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src");
    let link = regex::Regex::new(r"\]\(([^)#\s]+)(#[^)]*)?\)").unwrap();
    let mut pages = vec![root.clone()];
    let mut broken = Vec::new();
    let mut checked = 0;
    while let Some(dir) = pages.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pages.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "md") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for caps in link.captures_iter(&text) {
                let target = &caps[1];
                if target.starts_with("http://") || target.starts_with("https://") {
                    continue;
                }
                checked += 1;
                if !path.parent().unwrap().join(target).exists() {
                    broken.push(format!("{}: {target}", path.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links: {broken:#?}");
    assert!(checked > 50, "only {checked} links found");
}

#[test]
fn in_a_plan_parallel_items_are_planned_not_done() {
    Test::new()
        .args(["--lab", "--lab-speed", "0", "plan", "evacuate", "msk-07"])
        .run()
        .status(0)
        // Items finish in any order (two at once): each says planned, none says done.
        .stderr_has("(5/5) ")
        .stderr_has(" test01: planned")
        .stderr_has(" win-sql01: planned")
        .stderr_lacks(": done");
}
