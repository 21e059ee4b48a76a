//! `vstorage::` primitives against the lab.

use crate::test::Test;

fn lab(script: &str) -> Test {
    Test::new()
        .file("r.rhai", &format!("//! Test.\n{script}"))
        .args(["--lab", "--lab-speed", "0", "./r.rhai"])
}

#[test]
fn stat_is_typed_and_names_nodes() {
    lab(r#"
let s = vstorage::stat(host("msk-01"));
log(`${s.cluster} ${s.status} cs=${s.cs.len()} mds=${s.mds.len()} norm=${s.replicas_norm}`);
let cs = s.cs[0];
log(`${cs.id} ${cs.status} ${cs.node} ${cs.host} ${cs.space > cs.free} ${type_of(cs.tier)}`);
log(`master=${s.mds[0].master} healthy=${s.chunks.healthy} lic=${s.license.status}`);
log(`space=${s.space.total > 0}`);
"#)
    .run()
    .status(0)
    .stderr_has("livelinux healthy cs=21 mds=3 norm=3")
    .stderr_has("1025 active msk-01 10.30.17.31 true ()")
    .stderr_has("master=true")
    .stderr_has("lic=ACTIVE")
    .stderr_has("space=true");
}

#[test]
fn rm_cs_waits_and_is_idempotent() {
    lab(r#"
let h = host("msk-01");
log(`first: ${vstorage::rm_cs(h, 1025, #{wait: true})}`);
log(`second: ${vstorage::rm_cs(h, 1025, #{wait: true})}`);
log(`left: ${vstorage::stat(h).cs.len()}`);
"#)
    .run()
    .status(0)
    .stderr_has("first: true")
    .stderr_has("CS#1025 is not in the cluster (no change)")
    .stderr_has("second: false")
    .stderr_has("left: 20")
    .stderr_has("vstorage -c livelinux rm-cs --wait 1025");
}

#[test]
fn a_cs_that_never_drains_times_out() {
    Test::new()
        .file(
            "s.yaml",
            "cluster: c\nspeed: 0\nhosts:\n  - {name: a, address: 10.0.0.1}\ncss:\n  - {id: 7, host: a, never_drains: true}\n",
        )
        .file("r.rhai", "//! Drain.\nvstorage::rm_cs(host(\"a\"), 7, #{wait: true, timeout: 30});\n")
        .args(["--lab=s.yaml", "./r.rhai"])
        .run()
        .status(5)
        .stderr_has("rm-cs --wait 7` did not finish within 30s");
}

#[test]
fn maintenance_on_and_off() {
    lab(r#"
let h = host("msk-02");
log(`on: ${vstorage::cs_maintenance(h, 1028, true)} ${vstorage::cs_maintenance(h, 1028, true)}`);
log(`status: ${vstorage::stat(h).cs.filter(|c| c.id == 1028)[0].status}`);
log(`off: ${vstorage::cs_maintenance(h, 1028, false)} ${vstorage::cs_maintenance(h, 1028, false)}`);
"#)
    .run()
    .status(0)
    .stderr_has("on: true false")
    .stderr_has("status: maintenance\n")
    .stderr_has("off: true false");
}

#[test]
fn attributes_config_license_cache() {
    lab(r#"
let h = host("msk-02");
let ve = prlctl::get(h, "dns01");
let a = vstorage::get_attr(h, ve.home);
log(`tier=${a.tier} replicas=${a.replicas} fd=${a.failure_domain} chunk=${a.chunk_size}`);
log(`set: ${vstorage::set_attr(h, ve.home, #{tier: 2, replicas: "2:1"})} ${vstorage::set_attr(h, ve.home, #{tier: 2, replicas: "2:1"})}`);
log(`now=${vstorage::get_attr(h, ve.home).tier}`);
log(`cfg=${vstorage::get_config(h)["mds.wd.offline_tout_mnt"]}`);
log(`setcfg: ${vstorage::set_config(h, "mds.wd.offline_tout_mnt", 25200000)} ${vstorage::set_config(h, "mds.wd.offline_tout_mnt", 25200000)}`);
log(`lic=${vstorage::license(h).key}`);
log(`cache=${vstorage::cache_info(h).len()}`);
"#)
    .run()
    .status(0)
    .stderr_has("replicas=3:2 fd=host chunk=268435456")
    .stderr_has("set: true false")
    .stderr_has("now=2")
    .stderr_has("cfg=180000")
    .stderr_has("setcfg: true false")
    .stderr_has("lic=PCSS.02444715.0000")
    .stderr_has("cache=0");
}

#[test]
fn bad_storage_input_is_refused() {
    for (call, needle) in [
        (
            "vstorage::set_attr(h, \"/vstorage/livelinux\", #{tier: 4})",
            "invalid tier: 4 is outside 0-3",
        ),
        (
            "vstorage::set_attr(h, \"/vstorage/livelinux\", #{replicas: \"16\"})",
            "invalid replicas",
        ),
        (
            "vstorage::set_attr(h, \"/vstorage/livelinux\", #{replicas: \"3:4\"})",
            "minimum is above the norm",
        ),
        (
            "vstorage::set_attr(h, \"/vstorage/livelinux\", #{colour: 1})",
            "unknown attribute `colour`",
        ),
        ("vstorage::rm_cs(h, -3)", "invalid CS id"),
        (
            "vstorage::make_cs(h, #{repo: \"rel/path\"})",
            "invalid repo",
        ),
        (
            "vstorage::make_cs(h, #{repo: \"/x\", tier: 9})",
            "invalid tier",
        ),
        (
            "vstorage::make_cs(h, #{repo: \"/x\", journal: \"/j\"})",
            "journal_size",
        ),
        ("vstorage::make_mds(h, \"not-an-ip\")", "invalid addr"),
        ("vstorage::set_config(h, \"a b\", 1)", "invalid config key"),
    ] {
        lab(&format!("let h = host(\"msk-01\");\n{call};\n"))
            .run()
            .status(2)
            .stderr_has(needle);
    }
}

#[test]
fn vstorage_without_a_cluster_says_how_to_get_one() {
    Test::new()
        .file("r.rhai", "//! No cluster.\nvstorage::stat(local());\n")
        .arg("./r.rhai")
        .run()
        .status(2)
        .stderr_has("no cluster name");
}
