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
            "//! Fine.\nimport \"vz\" as vz;\nlog(ARGS.x);\n//! not a header line\n",
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
