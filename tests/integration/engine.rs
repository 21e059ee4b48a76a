//! The sandbox: limits, read-only ARGS, no eval, imports only from stdlib and beside the
//! runbook, errors that name the line and the command.

use crate::test::Test;

#[test]
fn endless_loop_stops_at_the_operation_limit() {
    Test::new()
        .file("loop.rhai", "//! Loop.\nlet x = 0;\nloop { x += 1; }\n")
        .args(["./loop.rhai", "--max-operations", "100000"])
        .run()
        .status(1)
        .stderr_has("loop.rhai:3:")
        .stderr_has("operation limit");
}

#[test]
fn assigning_into_args_is_a_clear_error() {
    Test::new()
        .file(
            "a.rhai",
            "//! Assign.\n//! opt node = \"a\": n\nARGS.node = \"b\";\n",
        )
        .arg("./a.rhai")
        .run()
        .status(1)
        .stderr_has("a.rhai:3:1: cannot assign to ARGS: it is read-only");
}

#[test]
fn replacing_args_is_a_clear_error() {
    Test::new()
        .file("a.rhai", "//! Assign.\nARGS = #{};\n")
        .arg("./a.rhai")
        .run()
        .status(1)
        .stderr_has("ARGS");
}

#[test]
fn eval_is_disabled() {
    Test::new()
        .file("e.rhai", "//! Eval.\neval(\"1 + 1\");\n")
        .arg("./e.rhai")
        .run()
        .status(1)
        .stderr_has("e.rhai:2:1");
}

#[test]
fn misspelt_args_property_is_an_error_not_unit() {
    Test::new()
        .file(
            "p.rhai",
            "//! Props.\n//! opt node = \"a\": n\nlog(ARGS.nod);\n",
        )
        .arg("./p.rhai")
        .run()
        .status(1)
        .stderr_has("nod");
}

#[test]
fn failed_command_error_names_line_host_command_and_stderr() {
    Test::new()
        .file(
            "f.rhai",
            "//! Fail.\nfn helper(h) {\n  h.run([\"sh\", \"-c\", \"echo boom >&2; exit 3\"]);\n}\nhelper(local());\n",
        )
        .arg("./f.rhai")
        .run()
        .status(1)
        .stderr_has("f.rhai:3:5: command failed on local (exit 3): sh -c 'echo boom >&2; exit 3'")
        .stderr_has("stderr: boom")
        .stderr_has("in `helper` called at ./f.rhai:5:1");
}

#[test]
fn thrown_failure_can_be_caught_and_inspected() {
    Test::new()
        .file(
            "c.rhai",
            "//! Catch.\ntry { local().run([\"false\"]); } catch (e) { log(`caught ${e.kind}: ${e.message}`); }\n",
        )
        .arg("./c.rhai")
        .run()
        .status(0)
        .stderr_has("caught failed: command failed on local (exit 1): false");
}

#[test]
fn unchecked_run_returns_the_exit_code() {
    Test::new()
        .file(
            "u.rhai",
            "//! Unchecked.\nlet r = local().query([\"sh\", \"-c\", \"echo out; exit 7\"], #{check: false});\nlog(`code=${r.code} out=${r.stdout}`);\n",
        )
        .arg("./u.rhai")
        .run()
        .status(0)
        .stderr_has("code=7 out=out");
}

#[test]
fn command_past_its_timeout_is_exit_5() {
    Test::new()
        .file(
            "t.rhai",
            "//! Timeout.\nlocal().query([\"sleep\", \"30\"], #{timeout: 0.3});\n",
        )
        .arg("./t.rhai")
        .run()
        .status(5)
        .stderr_has("on local: `sleep 30` did not finish within 0.3s");
}

#[test]
fn unknown_option_key_is_bad_input() {
    Test::new()
        .file(
            "o.rhai",
            "//! Options.\nlocal().query([\"true\"], #{chek: false});\n",
        )
        .arg("./o.rhai")
        .run()
        .status(2)
        .stderr_has("unknown option `chek`");
}

#[test]
fn stdin_reaches_the_command() {
    Test::new()
        .file(
            "s.rhai",
            "//! Stdin.\nlet r = local().query([\"cat\"], #{stdin: \"fed $(not run) 'x'\"});\nlog(r.stdout);\n",
        )
        .arg("./s.rhai")
        .run()
        .status(0)
        .stderr_has("fed $(not run) 'x'");
}

#[test]
fn argv_is_never_parsed_by_a_shell() {
    Test::new()
        .file(
            "q.rhai",
            "//! Quoting.\nlet r = local().query([\"printf\", \"%s|\", \"a b\", \"$(touch pwned)\", \";rm -rf x\"]);\nlog(r.stdout);\n",
        )
        .arg("./q.rhai")
        .run()
        .status(0)
        .stderr_has("a b|$(touch pwned)|;rm -rf x|");
}

#[test]
fn unknown_host_lists_known_ones() {
    Test::new()
        .file("h.rhai", "//! Host.\nhost(\"msk-99\");\n")
        .arg("./h.rhai")
        .run()
        .status(2)
        .stderr_has("unknown host \"msk-99\"");
}

#[test]
fn imports_resolve_from_stdlib_and_beside_the_runbook() {
    Test::new()
        .file(
            "i.rhai",
            "//! Imports.\nimport \"vz\" as vz;\nimport \"helpers\" as hp;\nlog(`${vz::split_list(\" a, b ,,c\").len()} ${hp::twice(21)}`);\n",
        )
        .file("helpers.rhai", "fn twice(x) { x * 2 }\n")
        .arg("./i.rhai")
        .run()
        .status(0)
        .stderr_has("3 42");
}

#[test]
fn absolute_and_parent_imports_are_refused() {
    for path in ["/etc/passwd", "../secret", "a/../../b"] {
        Test::new()
            .file(
                "b.rhai",
                &format!("//! Bad import.\nimport \"{path}\" as p;\n"),
            )
            .arg("./b.rhai")
            .run()
            .status(2)
            .stderr_has("is refused");
    }
}

#[test]
fn missing_module_is_named() {
    Test::new()
        .file("m.rhai", "//! Missing.\nimport \"nope\" as n;\n")
        .arg("./m.rhai")
        .run()
        .status(1)
        .stderr_has("nope");
}

#[test]
fn print_goes_to_the_event_stream() {
    Test::new()
        .file("p.rhai", "//! Print.\nprint(\"printed\");\n")
        .args(["--output", "json", "./p.rhai"])
        .run()
        .status(0)
        .stdout_has(r#""event":"log","message":"printed""#);
}

#[test]
fn two_modules_with_a_function_of_one_name_are_refused_before_anything_runs() {
    // rhai shares the cache of which function an unqualified call resolved to between
    // modules: once m7's functions called its `join` (twice: the first hit is not cached),
    // m8's `b` got m7's `join`, run in m8's environment, where m7's closure does not exist
    // ("Function not found: anon$..."), half-way through the run.
    let test = Test::new()
        .file(
            "m7.rhai",
            "fn join(items, sep) { items.reduce(|all, item| if all == \"\" { `${item}` } else { all + sep + item }, \"\") }\nfn a() { join([\"x\", \"y\"], \"+\") }\n",
        )
        .file(
            "m8.rhai",
            "fn join(items, sep) { let out = \"\"; for i in items { if out != \"\" { out += sep; } out += `${i}`; } out }\nfn b() { join([\"p\", \"q\"], \"-\") }\n",
        )
        .file(
            "r.rhai",
            "//! Joins.\nimport \"m7\" as m7;\nimport \"m8\" as m8;\nlocal().run([\"touch\", \"ran\"]);\nprint(m8::b());\nprint(m7::a());\nprint(m7::a());\nprint(m8::b());\n",
        );
    let outcome = test.arg("./r.rhai").run();
    let outcome = outcome
        .status(2)
        .stderr_has("function join (2 argument(s)) is defined in ./m7.rhai, ./m8.rhai and called without a module prefix in ./m7.rhai, ./m8.rhai")
        .stderr_has("(nothing was run)");
    assert!(!outcome.exists("ran"), "refused before the first change");
}

#[test]
fn vzrun_check_finds_the_clash_too() {
    Test::new()
        .file("m1.rhai", "fn f(x) { 1 }\nfn g() { f(1) }\n")
        .file("r.rhai", "//! Clash.\nimport \"m1\" as m1;\nfn f(x) { 2 }\nprint(m1::g());\nprint(f(3));\n")
        .args(["check", "./r.rhai"])
        .run()
        .status(1)
        .stdout_has("function f (1 argument(s)) is defined in ./m1.rhai, ./r.rhai and called without a module prefix in ./m1.rhai, ./r.rhai");
}

/// rhai answers `false` to `<`, `<=`, `>` and `>=` between a number and a value of another
/// type (text, `()`, a bool): a guard on a number still in text form (tool output not yet
/// parsed) or on a missing value never fires, and the run goes ahead as if it held.
#[test]
fn comparing_text_with_a_number_is_an_error_not_false() {
    Test::new()
        .file(
            "c.rhai",
            "//! Compare.\nlet free_gb = \"12\";\nif free_gb < 100 { refuse(`only ${free_gb} GB free`); }\nprint(\"went ahead\");\n",
        )
        .arg("./c.rhai")
        .run()
        .status(1)
        .stderr_has("c.rhai:3:")
        .stderr_has("cannot compare")
        .stdout_lacks("went ahead");
}

#[test]
fn comparing_unit_with_a_number_is_an_error_not_false() {
    Test::new()
        .file(
            "u.rhai",
            "//! Compare.\nlet m = #{used: ()};\nif m.used >= 90 { refuse(\"nearly full\"); }\nprint(\"went ahead\");\n",
        )
        .arg("./u.rhai")
        .run()
        .status(1)
        .stderr_has("u.rhai:3:")
        .stderr_has("cannot compare")
        .stdout_lacks("went ahead");
}

/// rhai answers `false` to `==` (and `true` to `!=`) between text and a number: an id still
/// in text form (an argument not yet parsed, a field of tool output) never matches the
/// number it names, and a filter on it quietly keeps or drops everything.
#[test]
fn equality_of_text_and_a_number_is_an_error_not_an_answer() {
    for (op, verdict) in [("==", "matched"), ("!=", "differs")] {
        Test::new()
            .file(
                "e.rhai",
                &format!("//! Compare.\nlet id = \"3\";\nif id {op} 3 {{ print(\"{verdict}\"); }} else {{ print(\"went ahead\"); }}\n"),
            )
            .arg("./e.rhai")
            .run()
            .status(1)
            .stderr_has("e.rhai:3:")
            .stderr_has("cannot compare")
            .stdout_lacks("went ahead")
            .stdout_lacks(verdict);
    }
}

/// What stays as it was: numbers of both kinds, text with text, chars, and `== ()` / `!= ()`.
#[test]
fn comparisons_that_make_sense_still_work() {
    Test::new()
        .file(
            "ok.rhai",
            "//! Compare.\nlet x = ();\nprint(`${1 < 2.5} ${2.5 > 1} ${\"a\" < \"b\"} ${'a' < 'b'} ${x == ()} ${5 != ()} ${\"a\" == \"a\"}`);\n",
        )
        .arg("./ok.rhai")
        .run()
        .status(0)
        .stdout_has("true true true true true true true");
}

/// rhai wraps an error raised in a closure that an array method (`map`, `filter`, `some`,
/// ...) runs, and the wrapper is catchable even when the error inside is not: the
/// operation limit, hit there, went to the `catch` block as an ordinary failure and the
/// run went on to exit 0 (the closure's operations are counted on a copy of the counter).
#[test]
fn a_catch_does_not_swallow_the_operation_limit_hit_in_a_closure() {
    Test::new()
        .file(
            "o.rhai",
            "//! Ops.\nlet answered = true;\ntry { [1, 2, 3].filter(|x| { let i = 0; loop { i += 1; } }); } catch { answered = false; }\nprint(`answered: ${answered}`);\nprint(\"went ahead\");\n",
        )
        .args(["./o.rhai", "--max-operations", "100000"])
        .run()
        .status(1)
        .stderr_has("operation limit")
        .stdout_lacks("went ahead");
}

/// The same for the memory guard: a catch turned it into a failure and the run went on.
#[test]
fn a_catch_does_not_swallow_the_memory_guard_hit_in_a_closure() {
    Test::new()
        .file(
            "m.rhai",
            "//! Memory.\nlet answered = true;\ntry { [1].map(|x| { let i = 0; loop { i += 1; } }); } catch { answered = false; }\nprint(`answered: ${answered}`);\nprint(\"went ahead\");\n",
        )
        .arg("./m.rhai")
        .env("VZRUN_MAX_MEMORY_MB", "1")
        .run()
        .status(1)
        .stderr_has("over its limit of 1 MB")
        .stdout_lacks("went ahead");
}

/// `vzrun abort` calls a journaled undo (`defer(what, "name", [args])`) as a function of the
/// runbook, whoever registered it. One registered by a module the runbook does not wrap, or
/// a name misspelt, was found only at the end of the run (or, after a crash, by the abort
/// that could not take the change back): it is refused where it is registered, before the
/// change it is to take back.
#[test]
fn a_journaled_undo_the_runbook_does_not_define_stops_the_run_where_it_is_registered() {
    Test::new()
        .file(
            "m.rhai",
            "fn begin() { defer(\"take it back\", \"undo_it\", [\"x\"]); }\nfn undo_it(x) { print(`undone ${x}`); }\n",
        )
        .file(
            "r.rhai",
            "//! Undo by name.\nimport \"m\" as m;\nm::begin();\nprint(\"changed\");\n",
        )
        .arg("./r.rhai")
        .run()
        .status(1)
        .stderr_has("undo_it")
        .stderr_has("vzrun abort")
        .stdout_lacks("changed");
}

#[test]
fn a_misspelt_journaled_undo_stops_the_run_before_the_change() {
    Test::new()
        .file(
            "t.rhai",
            "//! Undo by name.\nfn restore(v) { print(`restored ${v}`); }\ndefer(\"restore it\", \"restor\", [5]);\nprint(\"changed\");\n",
        )
        .arg("./t.rhai")
        .run()
        .status(1)
        .stderr_has("t.rhai:3:")
        .stderr_has("restor")
        .stdout_lacks("changed");
}

#[test]
fn a_journaled_undo_the_runbook_wraps_runs_at_the_end() {
    Test::new()
        .file(
            "m.rhai",
            "fn begin() { defer(\"take it back\", \"undo_it\", [\"x\"]); }\nfn undo_it(x) { print(`undone ${x}`); }\n",
        )
        .file(
            "w.rhai",
            "//! Undo by name.\nimport \"m\" as m;\nfn undo_it(x) { m::undo_it(x); }\nm::begin();\nprint(\"changed\");\n",
        )
        .arg("./w.rhai")
        .run()
        .status(0)
        .stdout_has("changed")
        .stdout_has("undone x");
}

/// rhai shares a variable a closure captures, and holds the write lock of a shared variable
/// for the whole of a method call on it (`h.query(...)`): `parallel` branches calling a
/// method of a captured host each waited 50 ms for the lock, then failed ("Data race
/// detected"), so one item ran and the others failed, a change half made.
#[test]
fn parallel_branches_call_methods_of_a_captured_host_at_once() {
    Test::new()
        .file(
            "p.rhai",
            "//! Race.\nlet h = local();\nlet codes = parallel([1, 2, 3, 4], 4, |i| h.query([\"sleep\", \"0.3\"]).code);\nprint(`codes: ${codes}`);\n",
        )
        .arg("./p.rhai")
        .run()
        .status(0)
        .stdout_has("codes: [0, 0, 0, 0]");
}

/// rhai reports a call of a function that exists nowhere only when it is made, as an error
/// that `catch` takes like any other: `try { answers(h); up = true; } catch { }` with a
/// misspelt or missing function said "does not answer" for every node, and the run went
/// on. Refused before anything runs (exit 2), and by `vzrun check`.
#[test]
fn a_call_of_a_function_defined_nowhere_is_refused_before_the_run() {
    let script = "//! Nowhere.\nlet up = false;\ntry { answer(local(), 15); up = true; } catch { }\nprint(\"went ahead\");\n";
    Test::new()
        .file("n.rhai", script)
        .arg("./n.rhai")
        .run()
        .status(2)
        .stderr_has("answer (2 argument(s))")
        .stdout_lacks("went ahead");
    let checked = Test::new()
        .file("n.rhai", script)
        .args(["check", "./n.rhai"])
        .run()
        .status(1);
    assert!(
        format!("{}{}", checked.stdout, checked.stderr).contains("answer (2 argument(s))"),
        "{}{}",
        checked.stdout,
        checked.stderr
    );
}

/// The same for a call with a module prefix: a function the module does not have, or a
/// primitive misspelt.
#[test]
fn a_qualified_call_of_a_function_the_module_does_not_have_is_refused_before_the_run() {
    for (call, named) in [
        ("vz::answer(local(), 15)", "vz::answer (2 argument(s))"),
        ("prlctl::lsit(local())", "prlctl::lsit (1 argument(s))"),
    ] {
        Test::new()
            .file(
                "q.rhai",
                &format!("//! Nowhere.\nimport \"vz\" as vz;\nlet up = false;\ntry {{ {call}; up = true; }} catch {{ }}\nprint(\"went ahead\");\n"),
            )
            .arg("./q.rhai")
            .run()
            .status(2)
            .stderr_has(named)
            .stdout_lacks("went ahead");
    }
}

/// `confirm` promises that anything but yes stops the run as refused, but its refusal is an
/// error a `catch` can take: `try { confirm(...); } catch { }` went on to the change the
/// operator had not agreed to. After a question not answered yes, no change runs, and the
/// run ends refused (exit 3), whatever the script caught.
#[test]
fn a_caught_refusal_of_a_confirmation_still_stops_every_change() {
    let t = Test::new();
    let marker = t.path("changed");
    let out = t.file(
        "c.rhai",
        &format!(
            "//! Ask.\ntry {{ confirm(\"Go ahead?\"); }} catch {{ }}\nlocal().run([\"touch\", \"{}\"]);\nprint(\"went ahead\");\n",
            marker.display()
        ),
    )
    .arg("./c.rhai")
    .run()
    .status(3)
    .stderr_has("no further change after a question was not answered yes: Go ahead?")
    .stdout_lacks("went ahead");
    assert!(!out.exists("changed"), "the change ran");
}

/// What the run registered to undo still runs after a question not answered yes.
#[test]
fn undo_actions_run_after_a_caught_refusal_of_a_confirmation() {
    let t = Test::new();
    let marker = t.path("undone");
    let out = t
        .file(
            "u.rhai",
            &format!(
                "//! Ask.\ndefer(\"put it back\", || local().run([\"touch\", \"{}\"]));\ntry {{ confirm(\"Go ahead?\"); }} catch {{ }}\n",
                marker.display()
            ),
        )
        .arg("./u.rhai")
        .run()
        .status(3);
    assert!(out.exists("undone"), "the undo did not run");
}
