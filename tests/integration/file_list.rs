//! `file::list` on the real GNU find, locally and over SSH: names with spaces, newlines and
//! a leading dot come back exactly; a missing directory, or a file, is an error naming
//! host and path.

use std::fs;

use crate::sshd::SshCluster;
use crate::test::Test;

/// A runbook that lists `dir` on `host_expr` and checks every name, then lists what is not
/// a directory.
fn script(host_expr: &str, dir: &str) -> String {
    format!(
        "//! List.\nlet h = {host_expr};\nlet names = file::list(h, \"{dir}/d\");\nnames.sort();\n\
         log(`count ${{names.len()}}`);\n\
         if names != [\".hidden\", \"a b\", \"sub\", \"two\\nlines\"] {{ throw `got ${{names}}`; }}\n\
         if file::list(h, \"{dir}/d/sub\").len() != 0 {{ throw \"sub is not empty\"; }}\n\
         try {{ file::list(h, \"{dir}/d/a b\"); throw \"a file listed\"; }} catch (e) {{ log(`file: ${{e.message}}`); }}\n\
         file::list(h, \"{dir}/nosuch\");\n"
    )
}

fn fill(dir: &std::path::Path) {
    let d = dir.join("d");
    fs::create_dir_all(d.join("sub")).unwrap();
    for name in ["a b", "two\nlines", ".hidden"] {
        fs::write(d.join(name), "x").unwrap();
    }
}

#[test]
fn list_names_entries_exactly_on_the_local_host() {
    let test = Test::new();
    let dir = test.path("");
    fill(&dir);
    let dir = dir.display().to_string();
    let test = test.file("r.rhai", &script("local()", &dir));
    test.arg("./r.rhai")
        .run()
        .status(1)
        .stderr_has("count 4")
        .stderr_has(&format!("file: {dir}/d/a b is not a directory on local"))
        .stderr_has(&format!("{dir}/nosuch does not exist on local"));
}

#[test]
fn list_names_entries_exactly_over_ssh() {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let dir = cluster.path("listing");
    fill(&dir);
    let dir = dir.display().to_string();
    Test::new()
        .file("r.rhai", &script("host(\"msk-01\")", &dir))
        .arg("--inventory")
        .arg(cluster.path("inventory.yaml"))
        .arg("./r.rhai")
        .run()
        .status(1)
        .stderr_has("count 4")
        .stderr_has(&format!("file: {dir}/d/a b is not a directory on msk-01"))
        .stderr_has(&format!("{dir}/nosuch does not exist on msk-01"));
}
