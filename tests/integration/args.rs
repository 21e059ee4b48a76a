//! Runbook headers become command lines: required args, typed options, flags, --help.

use crate::test::Test;

const DEPLOY: &str = "//! Deploy something somewhere.\n//! A second line of description.\n//! arg node: target host\n//! opt parallel = 2: at once\n//! opt ratio = 0.5: a fraction\n//! opt to: destinations\n//! flag force: skip checks\n//! flag yes: no questions\nlog(`node=${ARGS.node} parallel=${ARGS.parallel} type=${type_of(ARGS.parallel)} ratio=${ARGS.ratio} to=${ARGS.to} force=${ARGS.force} yes=${ARGS.yes}`);\n";

#[test]
fn binds_args_with_types_and_defaults() {
    Test::new()
        .file("deploy.rhai", DEPLOY)
        .args(["./deploy.rhai", "msk-07"])
        .run()
        .status(0)
        .stderr_has("node=msk-07 parallel=2 type=i64 ratio=0.5 to= force=false yes=false");
}

#[test]
fn options_and_flags_after_the_name_and_global_yes() {
    Test::new()
        .file("deploy.rhai", DEPLOY)
        .args([
            "--yes",
            "./deploy.rhai",
            "--parallel",
            "4",
            "--to=a,b",
            "msk-07",
            "--force",
        ])
        .run()
        .status(0)
        .stderr_has("node=msk-07 parallel=4 type=i64 ratio=0.5 to=a,b force=true yes=true");
}

#[test]
fn missing_argument_is_a_usage_error() {
    Test::new()
        .file("deploy.rhai", DEPLOY)
        .arg("./deploy.rhai")
        .run()
        .status(2)
        .stderr_has("<NODE>")
        .stderr_has("Usage: vzrun deploy");
}

#[test]
fn unknown_option_is_a_usage_error() {
    Test::new()
        .file("deploy.rhai", DEPLOY)
        .args(["./deploy.rhai", "msk-07", "--bogus"])
        .run()
        .status(2)
        .stderr_has("--bogus");
}

#[test]
fn wrongly_typed_option_names_the_option() {
    Test::new()
        .file("deploy.rhai", DEPLOY)
        .args(["./deploy.rhai", "msk-07", "--parallel", "many"])
        .run()
        .status(2)
        .stderr_has("--parallel")
        .stderr_has("many");
}

#[test]
fn help_renders_the_header() {
    Test::new()
        .file("deploy.rhai", DEPLOY)
        .args(["./deploy.rhai", "--help"])
        .run()
        .status(0)
        .stdout_has("Deploy something somewhere.")
        .stdout_has("A second line of description.")
        .stdout_has("--parallel <PARALLEL>")
        .stdout_has("[default: 2]")
        .stdout_has("<NODE>");
}

#[test]
fn unknown_runbook_is_a_usage_error() {
    Test::new()
        .arg("no-such-runbook")
        .run()
        .status(2)
        .stderr_has("unknown runbook or command `no-such-runbook`");
}

#[test]
fn no_command_prints_usage() {
    Test::new().run().status(2).stdout_has("Usage: vzrun");
}

#[test]
fn broken_header_names_the_line() {
    Test::new()
        .file("bad.rhai", "//! Bad.\n//! opt 9x: nope\n")
        .arg("./bad.rhai")
        .run()
        .status(1)
        .stderr_has("bad.rhai:line 2");
}

#[test]
fn runbook_parameter_may_not_shadow_a_vzrun_option() {
    Test::new()
        .file("bad.rhai", "//! Bad.\n//! opt output: where\n")
        .arg("./bad.rhai")
        .run()
        .status(1)
        .stderr_has("`output` is a vzrun option");
}

#[test]
fn runbooks_are_found_in_vzrun_path() {
    let test = Test::new().file("mine/custom.rhai", "//! Mine.\nlog(\"custom ran\");\n");
    let dir = test.path("mine");
    test.env("VZRUN_PATH", dir)
        .arg("custom")
        .run()
        .status(0)
        .stderr_has("custom ran");
}

#[test]
fn list_shows_builtin_and_user_runbooks() {
    let test = Test::new().file("mine/custom.rhai", "//! My own runbook.\n");
    let dir = test.path("mine");
    test.env("VZRUN_PATH", dir)
        .arg("list")
        .run()
        .status(0)
        .stdout_has("hello")
        .stdout_has("custom")
        .stdout_has("My own runbook.");
}
