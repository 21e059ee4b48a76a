//! `vzrun check`: compile and lint without running.

use crate::test::Test;

#[test]
fn the_builtin_catalog_and_stdlib_pass() {
    Test::new()
        .arg("check")
        .run()
        .status(0)
        .stdout_has("ok    runbooks/hello.rhai")
        .stdout_has("ok    stdlib/vz.rhai")
        .stdout_has("0 failed");
}

#[test]
fn a_typo_fails_with_file_line_col_and_nothing_runs() {
    let out = Test::new()
        .file(
            "t.rhai",
            "//! Typo.\nlocal().run([\"touch\", \"ran\"]);\nlet node = 1;\nlog(nod);\n",
        )
        .file(
            "ok.rhai",
            "//! Fine.\n//! opt x: a value\nimport \"vz\" as vz;\nlog(ARGS.x);\n//! not a header line\n",
        )
        .args(["check", "t.rhai", "ok.rhai"])
        .run()
        .status(1)
        .stdout_has("FAIL  t.rhai:4:5: Undefined variable: nod")
        .stdout_has("ok    ok.rhai")
        .stdout_has("1 ok, 1 failed");
    assert!(!out.exists("ran"));
}

#[test]
fn a_syntax_error_is_located() {
    Test::new()
        .file("s.rhai", "//! Syntax.\nlet x = ;\n")
        .args(["check", "s.rhai"])
        .run()
        .status(1)
        .stdout_has("FAIL  s.rhai:2:");
}

#[test]
fn a_missing_import_fails_the_check() {
    Test::new()
        .file(
            "m.rhai",
            "//! Missing import.\nimport \"nothing-here\" as n;\n",
        )
        .args(["check", "m.rhai"])
        .run()
        .status(1)
        .stdout_has("nothing-here");
}

#[test]
fn unknown_primitives_wrong_arity_and_undeclared_args_fail_the_check() {
    Test::new()
        .file(
            "l.rhai",
            "//! Lint.\n//! arg node: a node\nimport \"vz\" as vz;\nlet h = host(ARGS.node);\nprlctl::lst(h);\nprlctl::start(h, \"a\", \"b\");\nvz::free_mb(h, 1);\nlog(ARGS.nodes);\n",
        )
        .args(["check", "l.rhai"])
        .run()
        .status(1)
        .stdout_has("l.rhai:5:9: unknown function prlctl::lst")
        .stdout_has("l.rhai:6:9: prlctl::start takes 2 argument(s), not 3")
        .stdout_has("l.rhai:7:5: vz::free_mb takes 1 argument(s), not 2")
        .stdout_has("l.rhai:8:9: ARGS.nodes is not declared in the header (declared: node)");
}

#[test]
fn a_misspelt_header_keyword_fails_instead_of_dropping_the_confirmation() {
    Test::new()
        .file(
            "d.rhai",
            "//! Destroy.\n//! destrucive\nlocal().run([\"touch\", \"ran\"]);\n",
        )
        .args(["check", "d.rhai"])
        .run()
        .status(1)
        .stdout_has("unknown header keyword \"destrucive\"");
}

#[test]
fn check_and_list_speak_json() {
    let out = Test::new()
        .args(["--output", "json", "list"])
        .run()
        .status(0);
    let first: serde_json::Value =
        serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["name"], "add-cs");
    let out = Test::new()
        .file("s.rhai", "//! Syntax.\nlet x = ;\n")
        .args(["--output", "json", "check", "s.rhai"])
        .run()
        .status(1);
    let row: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(row["ok"], false);
    assert!(row["problems"][0]
        .as_str()
        .unwrap()
        .starts_with("s.rhai:2:"));
}
