//! The lab prints the real variants of the tools' output (scenario `variant`, storage
//! addresses, host names, operator fstabs), and the primitives read every one of them.

use crate::test::{Outcome, Test};

/// The default lab as a real cluster often is: vstorage knows each node by its
/// storage-network address, `hostname` prints an FQDN, the newer `vstorage stat` layout,
/// fstabs written by hand, and CTs without a CPU limit (`"cpus": "unlimited"`).
pub fn real_variant_scenario() -> String {
    real_scenario("vhi")
}

/// The real cluster of `real_variant_scenario` with `vstorage stat` in the given variant.
fn real_scenario(variant: &str) -> String {
    let mut yaml = format!("variant: {variant}\noperator_fstab: true\n");
    for line in include_str!("../../src/lab/default.yaml").lines() {
        let storage = line
            .split_once("address: 10.30.17.")
            .and_then(|(_, rest)| rest.split_once(','));
        match storage {
            Some((last, _)) if line.contains("name: msk-") => {
                let name = format!("msk-0{}", last.trim_start_matches('3'));
                yaml.push_str(&line.replacen(
                    &format!("address: 10.30.17.{last},"),
                    &format!(
                        "address: 10.30.17.{last}, storage_address: 10.40.0.{last}, hostname: {name}.stor.example.com,"
                    ),
                    1,
                ));
            }
            _ if line.contains("kind: CT") => {
                yaml.push_str(&line.replace(", cpus: 8,", ", cpus: 0,"))
            }
            _ => yaml.push_str(line),
        }
        yaml.push('\n');
    }
    yaml
}

/// The real variant with msk-07 not answering.
fn with_msk07_unreachable() -> String {
    real_variant_scenario().replacen(
        "name: msk-07, address: 10.30.17.37,",
        "name: msk-07, address: 10.30.17.37, unreachable: true,",
        1,
    )
}

fn lab(scenario: &str, args: &[&str]) -> Outcome {
    Test::new()
        .file("s.yaml", scenario)
        .args(["--lab=s.yaml", "--lab-speed", "0"])
        .args(args.iter().copied())
        .run()
}

fn query(scenario: &str, script: &str) -> Outcome {
    Test::new()
        .file("s.yaml", scenario)
        .file("r.rhai", &format!("//! Query.\n{script}"))
        .args(["--lab=s.yaml", "--lab-speed", "0", "./r.rhai"])
        .run()
}

#[test]
fn the_lab_prints_storage_addresses_in_the_newer_stat_layout() {
    query(
        &real_variant_scenario(),
        r#"print(host("msk-01").query(["vstorage", "-c", "livelinux", "stat"]).stdout);"#,
    )
    .status(0)
    .stdout_has(
        "CSID STATUS      SPACE  AVAIL REPLICAS UNIQUE IOWAIT IOLAT(ms) QDEPTH HOST BUILD_VERSION",
    )
    .stdout_has(" 10.40.0.31 7.0.123-4")
    .stdout_has("License: ACTIVE (expiration: 12/31/2027, capacity: 100TB");
}

#[test]
fn cs_node_is_found_by_the_address_the_node_reports() {
    query(
        &real_variant_scenario(),
        r#"
let s = vstorage::stat(host("msk-03"));
let cs = s.cs.filter(|c| c.id == 1025)[0];
log(`${cs.host} ${cs.node} ${type_of(cs.unique)} ${cs.build_version}`);
log(`mds ${s.mds[1].host} ${s.mds[1].node}`);
"#,
    )
    .status(0)
    .stderr_has("10.40.0.31 msk-01 i64 7.0.123-4")
    .stderr_has("mds 10.40.0.32 msk-02");
}

#[test]
fn cs_maintenance_finds_the_chunk_servers_of_a_node_known_by_its_storage_address() {
    lab(
        &real_variant_scenario(),
        &["cs-maintenance", "msk-01", "on", "--yes"],
    )
    .status(0)
    .stderr_lacks("runs no chunk servers")
    .stderr_has("rm-cs --maintenance 1025")
    .stderr_has("rm-cs --maintenance 1027");
}

/// vstorage may print a name the node does not report as its hostname: its CSs match no
/// node, and `cs-maintenance` stops (exit 2) naming the HOST and the inventory fix instead
/// of reporting "nothing to do".
#[test]
fn a_cs_host_that_matches_no_node_stops_the_run() {
    let scenario = real_variant_scenario().replacen(
        "storage_address: 10.40.0.31,",
        "storage_address: stor-msk-01.example.com,",
        1,
    );
    lab(&scenario, &["cs-maintenance", "msk-01", "on", "--yes"])
        .status(2)
        .stderr_has("HOST stor-msk-01.example.com of CS#1025, CS#1026, CS#1027, MDS#1 is no node of the inventory")
        .stderr_has("storage_address: <HOST>")
        .stderr_lacks("rm-cs --maintenance");
    lab(&scenario, &["remove-cs", "1025", "--yes"])
        .status(2)
        .stderr_has(
            "CS#1025 runs on HOST stor-msk-01.example.com, which is no node of the inventory",
        )
        .stderr_lacks("rm-cs");
}

/// A partial inventory, or a node that does not answer, leaves other nodes' IPs
/// unmatched: a node that gave its own addresses still knows its CSs for sure.
#[test]
fn unmatched_addresses_of_other_nodes_do_not_stop_a_node_that_answered() {
    let scenario = with_msk07_unreachable();
    lab(&scenario, &["cs-maintenance", "msk-01", "on", "--yes"])
        .status(0)
        .stderr_has("rm-cs --maintenance 1025");
    query(
        &scenario,
        r#"vstorage::stat(host("msk-01"), #{strict_nodes: true});"#,
    )
    .status(2)
    .stderr_has("HOST 10.40.0.37 of CS#1043, CS#1044, CS#1045 is no node of the inventory")
    .stderr_has("msk-07 did not answer");
}

#[test]
fn a_cs_host_that_two_nodes_claim_stops_the_run() {
    let scenario = real_variant_scenario().replacen(
        "storage_address: 10.40.0.32,",
        "storage_address: 10.40.0.31,",
        1,
    );
    lab(&scenario, &["cs-maintenance", "msk-01", "on", "--yes"])
        .status(2)
        .stderr_has("HOST 10.40.0.31 of CS#1025, CS#1026, CS#1027, CS#1028, CS#1029, CS#1030, MDS#1, MDS#2 names several nodes: msk-01, msk-02");
}

#[test]
fn a_report_can_do_without_the_mapping() {
    let scenario = with_msk07_unreachable();
    query(
        &scenario,
        r#"let s = vstorage::stat(host("msk-01"), #{strict_nodes: false});
log(`${s.cs.filter(|c| c.id == 1043)[0].node == ()} ${s.cs.filter(|c| c.id == 1025)[0].node}`);"#,
    )
    .status(0)
    .stderr_has("true msk-01");
}

/// The catalog plans on the real variants as it does on the default lab.
#[test]
fn every_runbook_plans_on_the_real_variants() {
    for variant in ["vz7", "vhi"] {
        crate::plan::plan_every_runbook(Some(&real_scenario(variant)));
    }
}

/// Nodes are asked their addresses once per run, however often `stat` is read.
#[test]
fn each_node_is_asked_its_addresses_once_per_run() {
    let out = Test::new()
        .file("s.yaml", &real_variant_scenario())
        .file(
            "r.rhai",
            "//! Query.\nfor i in 0..3 { vstorage::stat(host(\"msk-01\")); vstorage::node_css(host(\"msk-02\")); }\n",
        )
        .args(["--lab=s.yaml", "--lab-speed", "0", "--output", "json", "./r.rhai"])
        .run()
        .status(0);
    let asked: Vec<String> = out
        .events()
        .into_iter()
        .filter(|e| e["event"] == "command" && e["argv"][0] == "ip")
        .map(|e| e["host"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(asked.len(), 7, "one ask per node: {asked:?}");
    let mut unique = asked.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 7, "{asked:?}");
}

/// `prlsrvctl net list` cuts names longer than 15 characters with `~`: a long network
/// name is still seen as existing (a second add is no change) and set by its full name.
#[test]
fn long_network_names_survive_the_table() {
    let out = query(
        include_str!("../../src/lab/default.yaml"),
        r#"
let h = host("msk-03");
print(h.query(["prlsrvctl", "net", "list"]).stdout);
log(`add: ${prlsrvctl::net_add(h, "storage-vlan-1234")} ${prlsrvctl::net_add(h, "storage-vlan-1234")}`);
log(`set: ${prlsrvctl::net_set(h, "storage-vlan-1234", #{type: "bridged", ifname: "bond0.1234"})}`);
for n in prlsrvctl::net_list(h) { log(`net ${n.name}|${n.type}|${n.bound_to}`); }
"#,
    );
    out.status(0)
        .stderr_has("add: true false")
        .stderr_has("set: true")
        .stderr_has("net storage-vlan-1234|bridged|bond0.1234");
}

/// RHEL 7 `systemctl list-units` adds a JOB column when a unit has a pending job, blank for
/// the others; targets are "active active"; units neither active nor enabled are not loaded.
#[test]
fn list_units_reads_the_job_column_and_lists_loaded_units_only() {
    let scenario = include_str!("../../src/lab/default.yaml").replacen(
        "name: msk-01, address: 10.30.17.31,",
        "name: msk-01, address: 10.30.17.31, pending_jobs: {vstorage-csd.livelinux.1026.service: start},",
        1,
    );
    query(
        &scenario,
        r#"
let h = host("msk-01");
print(h.query(["systemctl", "list-units", "--all", "vstorage-csd*"]).stdout);
for u in systemd::units(h, "vstorage-csd*") { log(`unit ${u.unit}|${u.active}|${u.sub}|${u.job}|${u.description}`); }
systemd::stop(h, "chronyd");
systemd::disable(h, "chronyd");
log(`chronyd listed: ${systemd::units(h, "chronyd.service").len()}`);
"#,
    )
    .status(0)
    .stderr_has("unit vstorage-csd.livelinux.1026.service|inactive|dead|start|Virtuozzo Storage CS 1026")
    .stderr_has("unit vstorage-csd.livelinux.1025.service|active|running||Virtuozzo Storage CS 1025")
    .stderr_has("unit vstorage-csd.target|active|active||")
    .stderr_has("chronyd listed: 0");
}

/// prlctl exits 255 for every error, not only "not found": a VE whose config cannot be read
/// is that error, not a VE that is not there.
#[test]
fn only_the_not_found_message_means_not_found() {
    let scenario = include_str!("../../src/lab/default.yaml").replacen(
        "{name: web02, kind: CT, host: msk-01,",
        "{name: web02, kind: CT, broken_config: true, host: msk-01,",
        1,
    );
    query(&scenario, r#"prlctl::get(host("msk-01"), "nosuch");"#)
        .status(1)
        .stderr_has("VE \"nosuch\" is not registered on msk-01");
    query(&scenario, r#"prlctl::get(host("msk-01"), "web02");"#)
        .status(1)
        .stderr_lacks("is not registered")
        .stderr_has("exit 255")
        .stderr_has("Failed to get VM config: The virtual machine configuration file is damaged");
}

/// `prlctl list -i -j` says `"cpus": "unlimited"` for a CT without a CPU limit and ends a
/// VM's Home with a slash.
#[test]
fn unlimited_cpus_and_vm_homes_with_a_slash_are_read() {
    let scenario = include_str!("../../src/lab/default.yaml")
        .replacen("{name: web01, kind: CT, host: msk-01, status: running, ip: [10.30.20.11], memsize: 2048, cpus: 4,", "{name: web01, kind: CT, host: msk-01, status: running, ip: [10.30.20.11], memsize: 2048, cpus: 0,", 1);
    query(
        &scenario,
        r#"
let h = host("msk-01");
print(h.query(["prlctl", "list", "-i", "-j", "web01"]).stdout);
print(h.query(["prlctl", "list", "-i", "-j", "db03"]).stdout);
let ct = prlctl::info(h).filter(|v| v.name == "web01")[0];
log(`ct cpus ${ct.cpus == ()} memsize ${ct.memsize}`);
let vm = prlctl::info(h).filter(|v| v.name == "db03")[0];
log(`vm home ends with a slash: ${vm.home.ends_with("/")}`);
log(`vm attrs tier ${vstorage::get_attr(h, vm.home).tier}`);
"#,
    )
    .status(0)
    .stdout_has("\"cpus\": \"unlimited\"")
    .stdout_has("/vmprivate/")
    .stderr_has("ct cpus true memsize 2048")
    .stderr_has("vm home ends with a slash: false")
    .stderr_has("vm attrs tier 0");
}
