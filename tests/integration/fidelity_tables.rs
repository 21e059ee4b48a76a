//! The tools' tables as real builds print them, where a cell holds what a split on white
//! space cannot take: names with spaces and quotes, builds that do not escape their JSON.

use crate::test::{Outcome, Test};

/// The default lab with `extra` top-level options and `rename` applied to its VE lines.
fn scenario(extra: &str, rename: &[(&str, &str)]) -> String {
    let mut yaml = String::from(extra);
    for line in include_str!("../../src/lab/default.yaml").lines() {
        let mut line = line.to_string();
        for (from, to) in rename {
            line = line.replacen(from, to, 1);
        }
        yaml.push_str(&line);
        yaml.push('\n');
    }
    yaml
}

fn query(scenario: &str, script: &str) -> Outcome {
    Test::new()
        .file("s.yaml", scenario)
        .file("r.rhai", &format!("//! Query.\n{script}"))
        .args(["--lab=s.yaml", "--lab-speed", "0", "./r.rhai"])
        .run()
}

/// Each VE of msk-01 as `ve NAME|STATUS|KIND|IP`.
const LIST_MSK01: &str = "for v in prlctl::list(host(\"msk-01\")) { log(`ve ${v.name}|${v.status}|${v.kind}|${v.ip}`); }";

/// prlctl builds whose JSON formatter writes values raw (OpenVZ/prlctl `PrlOutFormatter.cpp`
/// at 7e13fcc) print invalid JSON for a VE named with a `"`; vzrun then reads the plain
/// table, where a name holding spaces ("Win 2019", allowed: reference §1.2 pads NAME to 32
/// and does not cut it) must not push its words into STATUS and T.
#[test]
fn a_name_with_spaces_and_quotes_keeps_its_status_when_json_is_unescaped() {
    let yaml = scenario(
        "prlctl_json_unescaped: true\n",
        &[("{name: db03,", "{name: 'Win 2019 \"gold\"',")],
    );
    query(&yaml, LIST_MSK01)
        .status(0)
        .stderr_has("ve Win 2019 \"gold\"|running|VM|10.30.20.17\n")
        .stderr_has("ve web01|running|CT|");
}

/// A CS status word wider than its column runs into the right-aligned SPACE after it, with
/// no space between (`%-8s%8s` as reference §2.3 infers the layout; the lab's newer layout
/// prints `maintenance1.82TB`). The CS is still in maintenance, on its node, and ending its
/// maintenance is a change, not "nothing to do".
#[test]
fn a_status_run_into_the_space_column_is_still_read() {
    let yaml = scenario("variant: vhi\n", &[]);
    query(
        &yaml,
        "let h = host(\"msk-01\");\nvstorage::cs_maintenance(h, 1026, true);\nlet c = vstorage::stat(h).cs.filter(|c| c.id == 1026)[0];\nlog(`in ${c.status}|${c.space == ()}|${c.node}`);\nlet changed = vstorage::cs_maintenance(h, 1026, false);\nlet c = vstorage::stat(h).cs.filter(|c| c.id == 1026)[0];\nlog(`out ${changed} ${c.status}`);",
    )
    .status(0)
    .stderr_has("in maintenance|false|msk-01\n")
    .stderr_has("out true active\n");
}

/// The same unescaping build writes `list -i -j` raw too: a VE named with a quote and a
/// backslash (a Windows path) does not make the configuration of every VE of its node
/// unreadable, which would stop a drain of that node, or onto it, from planning at all.
#[test]
fn the_configuration_of_a_node_is_read_when_json_is_unescaped() {
    let yaml = scenario(
        "prlctl_json_unescaped: true\n",
        &[("{name: db03,", "{name: 'Win 2019 \"gold\" C:\\vm',")],
    );
    query(
        &yaml,
        "for v in prlctl::info(host(\"msk-01\")) { log(`info ${v.name}|${v.status}|${v.memsize}`); }",
    )
    .status(0)
    .stderr_has("info Win 2019 \"gold\" C:\\vm|running|16384\n")
    .stderr_has("info web01|running|2048\n");
}

/// A description of two lines, written raw by the unescaping build, splits its JSON value
/// over two lines: the node's configuration is still read.
#[test]
fn a_description_of_two_lines_is_read_when_json_is_unescaped() {
    let yaml = scenario(
        "prlctl_json_unescaped: true\n",
        &[(
            "{name: db03,",
            "{name: db03, description: \"Billing DB\\nowner: \\\"ops\\\"\",",
        )],
    );
    query(
        &yaml,
        "for v in prlctl::info(host(\"msk-01\")) { log(`info ${v.name}|${v.status}|${v.memsize}`); }",
    )
    .status(0)
    .stderr_has("info db03|running|16384\n")
    .stderr_has("info web01|running|2048\n");
}
