//! `prlctl::` and `prlsrvctl::` primitives against the lab.

use crate::test::Test;

fn lab(script: &str) -> Test {
    Test::new()
        .file("r.rhai", &format!("//! Test.\n{script}"))
        .args(["--lab", "--lab-speed", "0", "./r.rhai"])
}

#[test]
fn list_get_and_status() {
    lab(r#"
let h = host("msk-01");
let ves = prlctl::list(h);
log(`count=${ves.len()}`);
let web = prlctl::get(h, "web01");
log(`${web.name} ${web.kind} ${web.status} ${web.ip} ${web.host} ${web.uuid.len()}`);
log(`home=${web.home.starts_with("/vstorage/livelinux/private/")}`);
log(`status=${prlctl::status(h, web.uuid)}`);
"#)
    .run()
    .status(0)
    .stderr_has("count=7")
    .stderr_has("web01 CT running 10.30.20.11 msk-01 36")
    .stderr_has("home=true")
    .stderr_has("status=running");
}

#[test]
fn start_and_stop_are_idempotent_and_say_so() {
    lab(r#"
let h = host("msk-01");
log(`start running: ${prlctl::start(h, "web01")}`);
log(`stop: ${prlctl::stop(h, "web01")}`);
log(`stop again: ${prlctl::stop(h, "web01")}`);
log(`status: ${prlctl::status(h, "web01")}`);
log(`start: ${prlctl::start(h, "web01")}`);
"#)
    .run()
    .status(0)
    .stderr_has("[msk-01] web01 is already running (no change)")
    .stderr_has("start running: false")
    .stderr_has("stop: true")
    .stderr_has("[msk-01] web01 is already stopped (no change)")
    .stderr_has("stop again: false")
    .stderr_has("status: stopped")
    .stderr_has("start: true")
    .stderr_has("[msk-01] prlctl stop web01")
    .stderr_has("[msk-01] prlctl start web01");
}

#[test]
fn migrate_moves_and_a_second_migrate_is_no_change() {
    lab(r#"
let src = host("msk-01");
let dst = host("msk-02");
log(`first: ${prlctl::migrate(src, "web01", dst)}`);
log(`second: ${prlctl::migrate(src, "web01", dst)}`);
log(`on dst: ${prlctl::get(dst, "web01").status}`);
"#)
    .run()
    .status(0)
    .stderr_has("first: true")
    .stderr_has("[msk-02] web01 is already on msk-02 (no change)")
    .stderr_has("second: false")
    .stderr_has("on dst: running")
    .stderr_has("[msk-01] prlctl migrate web01 10.30.17.32");
}

#[test]
fn a_failing_migration_reports_the_tools_error() {
    Test::new()
        .file(
            "s.yaml",
            "cluster: c\nspeed: 0\nhosts:\n  - {name: a, address: 10.0.0.1}\n  - {name: b, address: 10.0.0.2}\nves:\n  - {name: v1, host: a, fail_migrations: 1}\n",
        )
        .file(
            "r.rhai",
            "//! Migrate.\nlet n = retry(3, 0.01, || prlctl::migrate(host(\"a\"), \"v1\", host(\"b\")));\nlog(`moved: ${n}`);\n",
        )
        .args(["--lab=s.yaml", "./r.rhai"])
        .run()
        .status(0)
        .stderr_has("attempt 1 of 3 failed")
        .stderr_has("Failed to migrate the CT")
        .stderr_lacks("deprecated CLI component")
        .stderr_has("moved: true");
}

#[test]
fn bad_input_is_refused_before_anything_runs() {
    for (call, needle) in [
        (
            "prlctl::start(h, \"web01; reboot\")",
            "invalid VE id: \"web01; reboot\" contains ';'",
        ),
        ("prlctl::stop(h, \"-rf\")", "starts with '-'"),
        (
            "prlctl::stop(h, \"web01\", #{kil: true})",
            "unknown option `kil`",
        ),
        (
            "prlctl::register(h, \"vstorage/x\", #{})",
            "invalid path: \"vstorage/x\" is not an absolute path",
        ),
        (
            "prlctl::set(h, \"web01\", #{cpu: 2})",
            "unknown setting `cpu`",
        ),
        (
            "prlctl::set(h, \"web01\", #{memsize: \"lots\"})",
            "invalid memsize",
        ),
        ("prlctl::migrate(h, \"web01\", h)", "is also the source"),
        ("prlctl::create(h, \"new ct\", #{})", "invalid VE name"),
        (
            "prlctl::create(h, \"newct\", #{vmtype: \"lxc\"})",
            "invalid vmtype",
        ),
    ] {
        lab(&format!("let h = host(\"msk-01\");\n{call};\n"))
            .run()
            .status(2)
            .stderr_has(needle)
            .stderr_lacks("[msk-01] prlctl");
    }
}

#[test]
fn unknown_ve_is_a_clear_failure() {
    lab("\n  prlctl::start(host(\"msk-01\"), \"nosuch\");\n")
        .run()
        .status(1)
        .stderr_has("r.rhai:3:11: VE \"nosuch\" is not registered on msk-01");
}

#[test]
fn register_needs_force_on_shared_storage() {
    lab(r#"
let home = prlctl::get(host("msk-01"), "web01").home;
let h2 = host("msk-02");
try { prlctl::register(h2, home, #{preserve_uuid: true}); } catch (e) { log(`refused: ${e.message.contains("on the shared storage")}`); }
log(`forced: ${prlctl::register(h2, home, #{preserve_uuid: true, force: true})}`);
log(`again: ${prlctl::register(h2, home, #{preserve_uuid: true, force: true})}`);
log(prlctl::status(h2, "web01"));
"#)
    .run()
    .status(0)
    .stderr_has("refused: true")
    .stderr_has("forced: true")
    .stderr_has("again: false")
    .stderr_has("stopped");
}

#[test]
fn create_set_and_network() {
    lab(r#"
let h = host("msk-04");
log(`created: ${prlctl::create(h, "web99", #{vmtype: "ct", ostemplate: "centos-7-x86_64"})}`);
log(`again: ${prlctl::create(h, "web99", #{})}`);
prlctl::set(h, "web99", #{cpus: 4, memsize: "8G", onboot: true, hostname: "web99.example"});
prlctl::set_disk(h, "web99", "hdd0", #{size: "100G"});
prlctl::add_netif(h, "web99", "eth0", #{network: "Bridged", ipadd: "10.30.20.99/24", gw: "10.30.20.1"});
log(prlctl::get(h, "web99").ip);
log(`net: ${prlsrvctl::net_add(h, "vlan100")} ${prlsrvctl::net_add(h, "vlan100")}`);
log(`set: ${prlsrvctl::net_set(h, "vlan100", #{type: "bridged", ifname: "bond0"})} ${prlsrvctl::net_set(h, "vlan100", #{type: "bridged", ifname: "bond0"})}`);
for n in prlsrvctl::net_list(h) { log(`${n.name}|${n.type}|${n.bound_to}`); }
"#)
    .run()
    .status(0)
    .stderr_has("created: true")
    .stderr_has("again: false")
    .stderr_has("10.30.20.99")
    .stderr_has("net: true false")
    .stderr_has("set: true false")
    .stderr_has("vlan100|bridged|bond0")
    .stderr_has("prlctl set web99 --cpus 4")
    .stderr_has("--memsize 8G");
}

#[test]
fn plan_lists_exact_argv_and_changes_nothing() {
    let test = Test::new().file(
        "r.rhai",
        "//! Plan.\nlet h = host(\"msk-01\");\nprlctl::stop(h, \"web01\");\nprlctl::migrate(h, \"web02\", host(\"msk-03\"));\nlog(prlctl::status(h, \"web01\"));\n",
    );
    let state = test.path("lab.json");
    test.args(["--lab-speed", "0", "--lab-state"])
        .arg(&state)
        .args(["plan", "./r.rhai"])
        .run()
        .status(0)
        .stdout_has("would run on msk-01: prlctl stop web01")
        .stdout_has("would run on msk-01: prlctl migrate web02 10.30.17.33")
        .stderr_has("running")
        .stderr_has("plan: 2 change(s) listed");
}

#[test]
fn exec_runs_inside_a_container() {
    lab("let r = prlctl::exec(host(\"msk-01\"), \"web01\", [\"hostname\"]);\nlog(r.stdout);\n")
        .run()
        .status(0)
        .stderr_has("web01.livelinux.local");
}
