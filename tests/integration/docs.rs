//! The book is generated from the code; these fail when it is stale.

use crate::test::Test;

#[test]
fn the_book_is_up_to_date() {
    let book = concat!(env!("CARGO_MANIFEST_DIR"), "/book/src");
    Test::new()
        .args(["doc", "--check", "--dir", book])
        .run()
        .status(0)
        .stdout_has("are up to date");
}

#[test]
fn doc_check_reports_stale_pages() {
    let out = Test::new().args(["doc", "--dir", "book"]).run().status(0);
    std::fs::write(out.path("book/reference/prlctl.md"), "stale").unwrap();
    Test::new()
        .args(["doc", "--check", "--dir"])
        .arg(out.path("book"))
        .run()
        .status(1)
        .stderr_has("reference/prlctl.md");
}

#[test]
fn every_primitive_is_documented_with_an_example() {
    let out = Test::new().args(["doc", "--dir", "book"]).run().status(0);
    for module in [
        "prlctl",
        "prlsrvctl",
        "vstorage",
        "sysctl",
        "fstab",
        "conf",
        "file",
        "firewall",
        "systemd",
        "mem",
        "disk",
    ] {
        let page =
            std::fs::read_to_string(out.path(&format!("book/reference/{module}.md"))).unwrap();
        let sections = page.matches("\n## `").count();
        let examples = page.matches("```rhai").count();
        assert!(sections > 0, "{module} documents nothing");
        assert_eq!(
            sections, examples,
            "{module}: every function needs a Rhai example"
        );
    }
}

#[test]
fn completions_and_man_page() {
    Test::new()
        .args(["completions", "bash"])
        .run()
        .status(0)
        .stdout_has("_vzrun()");
    Test::new()
        .args(["completions", "zsh"])
        .run()
        .status(0)
        .stdout_has("#compdef vzrun");
    Test::new()
        .arg("man")
        .run()
        .status(0)
        .stdout_has(".TH vzrun");
}

#[test]
fn every_rhai_example_in_the_reference_compiles() {
    let out = Test::new().args(["doc", "--dir", "book"]).run().status(0);
    // Syntax only: examples use variables (h, ve, ...) they do not define.
    let engine = rhai::Engine::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(out.path("book/reference")).unwrap() {
        let path = entry.unwrap().path();
        let page = std::fs::read_to_string(&path).unwrap();
        for block in page.split("```rhai\n").skip(1) {
            let code = block.split("```").next().unwrap();
            if let Err(e) = engine.compile(code) {
                panic!("{}: example does not compile: {e}\n{code}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked > 80, "only {checked} examples found");
}
