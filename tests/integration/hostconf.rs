//! Host configuration primitives: file edits on real files (under VZRUN_LOCAL_ROOT), and
//! every module on the lab.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::test::Test;

const FSTAB: &str = "#\n# /etc/fstab\n  # indented comment\nUUID=6f1c\t/\txfs\tdefaults\t0 0\n/dev/sdb1   /data   ext4    noatime   # four fields\n\nvstorage://livelinux /vstorage/livelinux fuse.vstorage _netdev 0 0";

fn local(script: &str) -> Test {
    let test = Test::new()
        .file("r.rhai", &format!("//! Test.\n{script}"))
        .file("root/etc/fstab", FSTAB);
    let root = test.path("root");
    test.env("VZRUN_LOCAL_ROOT", root).arg("./r.rhai")
}

#[test]
fn fstab_edits_keep_every_other_byte_and_back_up() {
    let out = local(
        r#"
let h = local();
fstab::ensure(h, #{spec: "vstorage://livelinux", file: "/vstorage/livelinux", vfstype: "fuse.vstorage",
    options: "_netdev,cache=/mnt/ssd/vstorage-livelinux-cache,cachesize=64000"});
log(`again: ${fstab::ensure(h, #{spec: "vstorage://livelinux", file: "/vstorage/livelinux", vfstype: "fuse.vstorage",
    options: "_netdev,cache=/mnt/ssd/vstorage-livelinux-cache,cachesize=64000"})}`);
fstab::ensure(h, #{spec: "UUID=abcd", file: "/vstorage/livelinux-cs9", vfstype: "ext4", options: "defaults,lazytime", freq: 1, passno: 2});
fstab::remove(h, "/data");
log(`entries: ${fstab::list(h).len()}`);
"#,
    )
    .run()
    .status(0)
    .stderr_has("again: false")
    .stderr_has("entries: 3")
    .stderr_has("[local] edit /etc/fstab")
    .stderr_has("+vstorage://livelinux /vstorage/livelinux fuse.vstorage _netdev,cache=/mnt/ssd/vstorage-livelinux-cache,cachesize=64000 0 0");
    let text = fs::read_to_string(out.path("root/etc/fstab")).unwrap();
    assert_eq!(
        text,
        "#\n# /etc/fstab\n  # indented comment\nUUID=6f1c\t/\txfs\tdefaults\t0 0\n\nvstorage://livelinux /vstorage/livelinux fuse.vstorage _netdev,cache=/mnt/ssd/vstorage-livelinux-cache,cachesize=64000 0 0\nUUID=abcd /vstorage/livelinux-cs9 ext4 defaults,lazytime 1 2\n"
    );
    assert!(out.exists("root/etc/fstab.vzrun.bak"));
}

#[test]
fn plan_shows_the_diff_and_writes_nothing() {
    let out = local("fstab::remove(local(), \"/data\");\n")
        .arg("--dry-run")
        .run()
        .status(0)
        .stdout_has("would edit on local: /etc/fstab")
        .stdout_has("-/dev/sdb1   /data   ext4    noatime   # four fields")
        .stderr_has("plan: 1 change(s) listed");
    assert_eq!(
        fs::read_to_string(out.path("root/etc/fstab")).unwrap(),
        FSTAB
    );
    assert!(!out.exists("root/etc/fstab.vzrun.bak"));
}

#[test]
fn conf_files_keep_comments_quote_and_keep_mode() {
    let test = local(
        r#"
let h = local();
let f = "/etc/vz/vz.conf";
log(`get: ${conf::get(h, f, "VE_ROOT")}`);
conf::set(h, f, "PAGECACHE_ISOLATION", "yes");
conf::set(h, f, "DESCRIPTION", "two words and $HOME");
log(`same: ${conf::set(h, f, "VIRTUOZZO", "yes")}`);
conf::unset(h, f, "LOGGING");
log(`back: ${conf::get(h, f, "DESCRIPTION")}`);
log(`missing: ${conf::get(h, f, "NOPE")}`);
"#,
    )
    .file(
        "root/etc/vz/vz.conf",
        "## Global\nVIRTUOZZO=yes\nLOGGING=yes\n# comment\nVE_ROOT=/vz/root/$VEID\n",
    );
    let conf = test.path("root/etc/vz/vz.conf");
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o600)).unwrap();
    let out = test
        .run()
        .status(0)
        .stderr_has("get: /vz/root/$VEID")
        .stderr_has("same: false")
        .stderr_has("back: two words and $HOME")
        .stderr_has("missing: ");
    assert_eq!(
        fs::read_to_string(&conf).unwrap(),
        "## Global\nVIRTUOZZO=yes\n# comment\nVE_ROOT=/vz/root/$VEID\nPAGECACHE_ISOLATION=yes\nDESCRIPTION='two words and $HOME'\n"
    );
    assert_eq!(
        fs::metadata(&conf).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let backup = out.path("root/etc/vz/vz.conf.vzrun.bak");
    assert_eq!(
        fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600,
        "the backup is as private as the file it keeps"
    );
}

#[test]
fn files_and_sysctl_drop_ins() {
    let out = local(
        r#"
let h = local();
log(`w1: ${file::write(h, "/etc/motd", "hello\n", #{mode: 0o640})} w2: ${file::write(h, "/etc/motd", "hello\n")}`);
log(`l1: ${file::ensure_line(h, "/etc/security/limits.d/90-nofile.conf", "* soft nofile 65536")}`);
log(`l2: ${file::ensure_line(h, "/etc/security/limits.d/90-nofile.conf", "* soft nofile 65536")}`);
log(`p1: ${sysctl::persist(h, "vm.swappiness", 10, "90-vzrun.conf")} p2: ${sysctl::persist(h, "vm.swappiness", 10, "90-vzrun.conf")}`);
log(`exists: ${file::exists(h, "/etc/motd")} ${file::exists(h, "/etc/nothing")} ${file::exists(h, "/etc")}`);
file::read(h, "/etc/nothing");
"#,
    )
    .file("root/etc/security/limits.d/.keep", "")
    .file("root/etc/sysctl.d/90-vzrun.conf", "# managed\nvm.swappiness=60\n")
    .run()
    .status(1)
    .stderr_has("w1: true w2: false")
    .stderr_has("l1: true")
    .stderr_has("l2: false")
    .stderr_has("p1: true p2: false")
    .stderr_has("exists: true false true")
    .stderr_has("/etc/nothing does not exist on local");
    assert_eq!(
        fs::read_to_string(out.path("root/etc/sysctl.d/90-vzrun.conf")).unwrap(),
        "# managed\nvm.swappiness = 10\n"
    );
    assert_eq!(
        fs::metadata(out.path("root/etc/motd"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    assert_eq!(
        fs::read_to_string(out.path("root/etc/security/limits.d/90-nofile.conf")).unwrap(),
        "* soft nofile 65536\n"
    );
}

fn lab(script: &str) -> Test {
    Test::new()
        .file("r.rhai", &format!("//! Test.\n{script}"))
        .args(["--lab", "--lab-speed", "0", "./r.rhai"])
}

#[test]
fn sysctl_runtime_only_when_different() {
    lab(r#"
let h = host("msk-01");
log(`get=${sysctl::get(h, "vm.swappiness")}`);
log(`s1=${sysctl::set(h, "vm.swappiness", 10)} s2=${sysctl::set(h, "vm.swappiness", "10")}`);
log(`rmem=${sysctl::get(h, "net.ipv4.tcp_rmem").contains("\t")} same=${sysctl::set(h, "net.ipv4.tcp_rmem", "4096 87380 6291456")}`);
sysctl::get(h, "net.no.such");
"#)
    .run()
    .status(1)
    .stderr_has("get=60")
    .stderr_has("s1=true s2=false")
    .stderr_has("rmem=true same=false")
    .stderr_has("cannot stat /proc/sys/net/no/such");
}

#[test]
fn firewall_open_close_idempotent_in_both_configurations() {
    lab(r#"
let h = host("msk-05");
log(`o1=${firewall::open(h, "10050/tcp")} o2=${firewall::open(h, "10050/tcp")}`);
log(`ports=${firewall::ports(h)}`);
firewall::reload(h);
log(`after reload=${firewall::ports(h).contains("10050/tcp")}`);
log(`c1=${firewall::close(h, "10050/tcp")} c2=${firewall::close(h, "10050/tcp")}`);
"#)
    .run()
    .status(0)
    .stderr_has("o1=true o2=false")
    .stderr_has("10050/tcp")
    .stderr_has("after reload=true")
    .stderr_has("c1=true c2=false")
    .stderr_has("[msk-05] firewall-cmd --permanent --add-port=10050/tcp")
    .stderr_has("[msk-05] firewall-cmd --add-port=10050/tcp");
}

#[test]
fn malformed_ports_are_refused_before_anything_runs() {
    for port in [
        "10050",
        "10050/xyz",
        "0/tcp",
        "99999/tcp",
        "10050/tcp;reboot",
    ] {
        lab(&format!("firewall::open(host(\"msk-01\"), \"{port}\");\n"))
            .run()
            .status(2)
            .stderr_has("invalid port")
            .stderr_lacks("firewall-cmd");
    }
}

#[test]
fn systemd_units() {
    lab(r#"
let h = host("msk-01");
let u = "vstorage-csd.livelinux.1025.service";
log(`a=${systemd::is_active(h, u)} stop=${systemd::stop(h, u)} again=${systemd::stop(h, u)} a2=${systemd::is_active(h, u)}`);
log(`dis=${systemd::disable(h, u)} dis2=${systemd::disable(h, u)} en=${systemd::enable(h, u)}`);
log(`start=${systemd::start(h, u)} restart=${systemd::restart(h, "vcmmd")}`);
log(`cs units=${systemd::units(h, "vstorage-csd.*").len()}`);
log(`cs=${vstorage::stat(h).cs[0].status}`);
systemd::start(h, "no-such-unit");
"#)
    .run()
    .status(1)
    .stderr_has("a=true stop=true again=false a2=false")
    .stderr_has("dis=true dis2=false en=true")
    .stderr_has("start=true restart=true")
    .stderr_has("cs units=4")
    .stderr_has("cs=active")
    .stderr_has("Unit no-such-unit.service not found");
}

#[test]
fn memory_info_and_drop_caches() {
    lab(r#"
let h = host("msk-02");
let m = mem::info(h);
log(`total=${m.MemTotal} avail<total=${m.MemAvailable < m.MemTotal}`);
mem::drop_caches(h);
"#)
    .run()
    .status(0)
    .stderr_has("total=268435456")
    .stderr_has("avail<total=true")
    .stderr_has("[msk-02] sync")
    .stderr_has("[msk-02] sysctl -w vm.drop_caches=3");
}

#[test]
fn a_new_drive_from_raw_disk_to_mounted_repository() {
    lab(r#"
let h = host("msk-06");
log(`blank=${disk::blkid(h, "/dev/sdd1").len()}`);
disk::prepare_vstorage_drive(h, "/dev/sdd");
let id = disk::blkid(h, "/dev/sdd1");
log(`type=${id.type} uuid=${id.uuid.len()}`);
log(`mk=${disk::mkdir(h, "/vstorage/livelinux-cs9")} mk2=${disk::mkdir(h, "/vstorage/livelinux-cs9")}`);
fstab::ensure(h, #{spec: `UUID=${id.uuid}`, file: "/vstorage/livelinux-cs9", vfstype: "ext4", options: "defaults,lazytime", freq: 1, passno: 2});
log(`m=${disk::mount(h, "/vstorage/livelinux-cs9")} m2=${disk::mount(h, "/vstorage/livelinux-cs9")}`);
disk::reserved_blocks(h, "/dev/sdd1", 0);
try { disk::prepare_vstorage_drive(h, "/dev/sdd"); } catch (e) { log(`refused: ${e.kind}`); }
log(`u=${disk::umount(h, "/vstorage/livelinux-cs9")} u2=${disk::umount(h, "/vstorage/livelinux-cs9", #{lazy: true})}`);
"#)
    .run()
    .status(0)
    .stderr_has("blank=0")
    .stderr_has("type=ext4 uuid=36")
    .stderr_has("mk=true mk2=false")
    .stderr_has("m=true m2=false")
    .stderr_has("refused: refused")
    .stderr_has("u=true u2=false")
    .stderr_has("/usr/libexec/vstorage/prepare_vstorage_drive /dev/sdd --noboot")
    .stderr_has("tune2fs -m 0 /dev/sdd1");
}

#[test]
fn bad_host_config_input_is_refused() {
    for (call, needle) in [
        ("sysctl::set(h, \"vm swappiness\", 1)", "invalid sysctl key"),
        (
            "sysctl::persist(h, \"vm.swappiness\", 1, \"../../etc/passwd\")",
            "invalid file",
        ),
        (
            "fstab::ensure(h, #{spec: \"a\", file: \"rel\", vfstype: \"ext4\"})",
            "invalid file",
        ),
        (
            "fstab::ensure(h, #{file: \"/x\", vfstype: \"ext4\"})",
            "`spec` is required",
        ),
        (
            "fstab::ensure(h, #{spec: \"a b\", file: \"/x\", vfstype: \"ext4\"})",
            "invalid spec",
        ),
        (
            "conf::set(h, \"/etc/vz/vz.conf\", \"1BAD\", 1)",
            "invalid key",
        ),
        (
            "conf::set(h, \"/etc/vz/vz.conf\", \"A\", \"x\\ny\")",
            "single line",
        ),
        ("systemd::start(h, \"-x\")", "invalid unit"),
        (
            "disk::prepare_vstorage_drive(h, \"/etc/passwd\")",
            "invalid device",
        ),
        ("disk::reserved_blocks(h, \"/dev/sdd1\", 90)", "invalid pct"),
        ("file::write(h, \"relative\", \"x\")", "invalid path"),
        (
            "file::write(h, \"/x\", \"x\", #{mode: \"999\"})",
            "invalid mode",
        ),
    ] {
        lab(&format!("let h = host(\"msk-01\");\n{call};\n"))
            .run()
            .status(2)
            .stderr_has(needle);
    }
}
