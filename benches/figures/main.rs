//! Performance figures, each printed as a ratio measured in one run on this machine:
//!
//! - per-command cost of a primitive over SSH vs a raw native-mux exec to the same sshd;
//! - fan-out of per-host facts over 16 and 32 loopback sshd hosts: vzrun vs Ansible
//!   (forks = hosts, pipelining on; when `ANSIBLE` names an ansible-playbook) vs a
//!   sequential bash ssh loop;
//! - `vzrun check` of every runbook;
//! - a lab evacuation of 200 VEs: engine overhead per command at --lab-speed 0, and wall
//!   time vs the critical-path bound with latencies, for several --parallel;
//! - vzrun's own peak RSS during that evacuation (wait4 on the vzrun child), and the time
//!   per VE and RSS of lab evacuations of 1k, 4k and 16k VEs.
//!
//! Run: `bench/run` (installs ansible-core in a venv), or `cargo bench --bench figures`.
//! Not a test: nothing here asserts a time.

#[allow(dead_code)]
#[path = "../tests/integration/test.rs"]
mod test;

#[allow(dead_code)]
#[path = "../tests/integration/sshd.rs"]
mod sshd;

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sshd::SshCluster;
use test::vzrun_bin;
use vzrun::cmd::Cmd;
use vzrun::inventory::SshSettings;
use vzrun::transport::{Ssh, Transport};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs vzrun; returns its wall time.
fn vzrun(dir: &Path, args: &[&str]) -> Duration {
    let started = Instant::now();
    let out = Command::new(vzrun_bin())
        .args(args)
        .current_dir(dir)
        .env("VZRUN_STATE_DIR", dir.join("state"))
        .stdin(Stdio::null())
        .output()
        .expect("vzrun runs");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "vzrun {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// A lab scenario with `hosts` hypervisors msk-01.. and `per_host` VEs each.
fn scenario(hosts: usize, per_host: usize) -> String {
    let mut y = String::from("cluster: bench\nspeed: 0\nhosts:\n");
    for i in 1..=hosts {
        let _ = writeln!(
            y,
            "  - {{name: msk-{i:02}, address: 10.30.17.{}, tags: [hypervisor]}}",
            30 + i
        );
    }
    y.push_str("ves:\n");
    for i in 1..=hosts {
        for j in 0..per_host {
            let _ = writeln!(
                y,
                "  - {{name: ve-{i:02}-{j:03}, host: msk-{i:02}, memsize: 512}}"
            );
        }
    }
    y
}

fn ssh_settings(cluster: &SshCluster, i: usize) -> SshSettings {
    SshSettings {
        user: Some("root".into()),
        port: Some(cluster.hosts[i].port),
        identity: Some(cluster.path("id")),
        known_hosts: Some(cluster.path("known_hosts")),
        ..SshSettings::default()
    }
}

fn per_command_cost(report: &mut String) {
    let Some(cluster) = SshCluster::start(1) else {
        return;
    };
    let n = 200;
    let h = &cluster.hosts[0];
    // Raw: the openssh crate's native mux, nothing else.
    let runtime = Ssh::runtime().unwrap();
    let raw = runtime.block_on(async {
        let mut b = openssh::SessionBuilder::default();
        b.user("root".into())
            .port(h.port)
            .keyfile(cluster.path("id"))
            .user_known_hosts_file(cluster.path("known_hosts"))
            .known_hosts_check(openssh::KnownHosts::Strict);
        let session = b.connect_mux(&h.address).await.unwrap();
        let started = Instant::now();
        for _ in 0..n {
            let out = session
                .command("prlctl")
                .args(["status", "web01"])
                .output()
                .await
                .unwrap();
            assert!(out.status.success());
        }
        started.elapsed() / n
    });
    // vzrun's transport: the same command under `timeout`.
    let ssh = Ssh::new(
        &h.name,
        &h.address,
        ssh_settings(&cluster, 0),
        false,
        runtime.clone(),
    );
    ssh.run(&Cmd::read(["true"])).unwrap();
    let started = Instant::now();
    for _ in 0..n {
        ssh.run(&Cmd::read(["prlctl", "status", "web01"])).unwrap();
    }
    let transport = started.elapsed() / n;
    // A primitive from a runbook: engine, validation, Runner, parsing; startup subtracted.
    let dir = cluster.dir.path();
    fs::write(dir.join("status.rhai"), "//! Status.\n//! opt n = 0: calls\nlet h = host(\"msk-01\");\nfor i in 0..ARGS.n { prlctl::status(h, \"web01\"); }\n").unwrap();
    let inv = cluster.path("inventory.yaml");
    let inv = inv.to_str().unwrap();
    let zero = vzrun(
        dir,
        &["--inventory", inv, "-q", "./status.rhai", "--n", "1"],
    );
    let full = vzrun(
        dir,
        &[
            "--inventory",
            inv,
            "-q",
            "./status.rhai",
            "--n",
            &(n + 1).to_string(),
        ],
    );
    let primitive = (full.saturating_sub(zero)) / n;
    let _ = writeln!(
        report,
        "| SSH: one command | raw native-mux exec {:.2} ms | vzrun transport {:.2} ms ({:.2}x) | `prlctl::status` from a runbook {:.2} ms ({:.2}x) |",
        ms(raw),
        ms(transport),
        ms(transport) / ms(raw),
        ms(primitive),
        ms(primitive) / ms(raw)
    );
}

fn fan_out(report: &mut String, hosts: usize) {
    let Some(cluster) = SshCluster::start_with(hosts, &scenario(hosts, 3)) else {
        return;
    };
    let dir = cluster.dir.path();
    let inv = cluster.path("inventory.yaml");
    fs::write(
        dir.join("facts.rhai"),
        "//! Facts.\nlet facts = parallel(hosts(), 64, |h| #{ves: prlctl::list(h).len(), mem: mem::info(h).MemTotal});\nif facts.len() != hosts().len() { throw \"missing facts\"; }\n",
    )
    .unwrap();
    let vz = vzrun(
        dir,
        &["--inventory", inv.to_str().unwrap(), "-q", "./facts.rhai"],
    );
    // Operators' loop: one new ssh connection per host, one after the other.
    let mut script = String::from("set -e\n");
    for h in &cluster.hosts {
        let _ = writeln!(
            script,
            "ssh -q -i id -o UserKnownHostsFile=known_hosts -o StrictHostKeyChecking=yes -p {} root@{} 'prlctl list -a -j >/dev/null && cat /proc/meminfo >/dev/null'",
            h.port, h.address
        );
    }
    fs::write(dir.join("loop.sh"), script).unwrap();
    let started = Instant::now();
    let ok = Command::new("bash")
        .arg("loop.sh")
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    let bash = started.elapsed();
    assert!(ok, "the bash loop failed");
    let ansible = std::env::var("ANSIBLE").ok().map(|playbook_bin| {
        let mut ini = String::from("[all]\n");
        for h in &cluster.hosts {
            let _ = writeln!(ini, "{} ansible_host={} ansible_port={}", h.name, h.address, h.port);
        }
        let _ = writeln!(ini, "[all:vars]\nansible_user=root\nansible_ssh_private_key_file={}\nansible_python_interpreter=/usr/bin/python3\nansible_ssh_common_args='-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes'", cluster.path("id").display(), cluster.path("known_hosts").display());
        fs::write(dir.join("hosts.ini"), ini).unwrap();
        fs::write(dir.join("facts.yml"), "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: prlctl list -a -j\n    - command: cat /proc/meminfo\n").unwrap();
        let started = Instant::now();
        let out = Command::new(&playbook_bin)
            .args(["-i", "hosts.ini", "-f", &hosts.to_string(), "facts.yml"])
            .current_dir(dir)
            .env("ANSIBLE_PIPELINING", "True")
            .env("ANSIBLE_HOST_KEY_CHECKING", "False")
            .output()
            .unwrap();
        assert!(out.status.success(), "ansible failed: {}", String::from_utf8_lossy(&out.stdout));
        started.elapsed()
    });
    let ansible_cell = match ansible {
        Some(a) => format!("Ansible {:.0} ms ({:.1}x vzrun)", ms(a), ms(a) / ms(vz)),
        None => "Ansible: not run (set ANSIBLE, see bench/run)".into(),
    };
    let _ = writeln!(
        report,
        "| facts from {hosts} hosts | vzrun {:.0} ms | {ansible_cell} | bash ssh loop {:.0} ms ({:.1}x vzrun) |",
        ms(vz),
        ms(bash),
        ms(bash) / ms(vz)
    );
}

fn check_all(report: &mut String) {
    let dir = tempfile::tempdir().unwrap();
    vzrun(dir.path(), &["check"]);
    let runs = 5;
    let started = Instant::now();
    for _ in 0..runs {
        vzrun(dir.path(), &["check"]);
    }
    let count = fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks"))
        .unwrap()
        .count();
    let _ = writeln!(
        report,
        "| `vzrun check` of {count} runbooks + stdlib | {:.0} ms per run | | |",
        ms(started.elapsed() / runs)
    );
}

/// Runs a command to its end: its wall time, its stdout and its **own** peak RSS in MB
/// (wait4 on that child: RUSAGE_CHILDREN would report the largest child of the whole bench,
/// which was Ansible's).
// The child is reaped by wait4 (for its rusage), not by Child::wait.
#[allow(clippy::zombie_processes)]
fn run_measured(cmd: &mut Command) -> (Duration, String, f64) {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    let mut status = 0;
    // SAFETY: wait4 on our own child; fills the structs we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{stderr}"
    );
    (wall, stdout, usage.ru_maxrss as f64 / 1024.0)
}

/// A lab of one source hypervisor with `ves` VEs and four roomy destinations.
fn evacuation_lab(dir: &Path, ves: usize) -> String {
    let mut yaml = String::from("cluster: bench\nspeed: 0\nhosts:\n  - {name: src, address: 10.0.0.1, tags: [hypervisor], memory_mb: 67108864, cpus: 4096}\n");
    for i in 1..=4 {
        let _ = writeln!(
            yaml,
            "  - {{name: dst{i}, address: 10.0.0.{}, tags: [hypervisor], memory_mb: 67108864, cpus: 4096}}",
            i + 1
        );
    }
    yaml.push_str("ves:\n");
    for i in 0..ves {
        let _ = writeln!(
            yaml,
            "  - {{name: ve{i:05}, host: src, memsize: 256, cpus: 1}}"
        );
    }
    let path = dir.join(format!("s{ves}.yaml"));
    fs::write(&path, &yaml).unwrap();
    format!("--lab={}", path.display())
}

/// Evacuation time per VE and vzrun's own peak RSS as the VE count grows: the time per VE
/// should stay flat (the target: within 20% from 1k to 16k VEs).
fn evacuation_scaling(report: &mut String) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut first = None;
    for ves in [1000, 4000, 16000] {
        let lab = evacuation_lab(d, ves);
        let (wall, _, rss) = run_measured(
            Command::new(vzrun_bin())
                .args([
                    lab.as_str(),
                    "--lab-speed",
                    "0",
                    "-q",
                    "evacuate",
                    "src",
                    "--yes",
                ])
                .args(["--parallel", "8"])
                .current_dir(d)
                .env("VZRUN_STATE_DIR", d.join(format!("state{ves}"))),
        );
        let per_ve = ms(wall) / ves as f64;
        let base = *first.get_or_insert(per_ve);
        let _ = writeln!(
            report,
            "| evacuate {ves} VEs, --lab-speed 0 | {:.0} ms | {per_ve:.2} ms per VE ({:.2}x the 1k figure) | vzrun's peak RSS {rss:.0} MB |",
            ms(wall),
            per_ve / base
        );
    }
}

fn evacuation(report: &mut String) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The same lab as the scaling series, at 200 VEs.
    let lab = evacuation_lab(d, 200);
    let (wall, stdout, rss) = run_measured(
        Command::new(vzrun_bin())
            .args([
                lab.as_str(),
                "--lab-speed",
                "0",
                "--output",
                "json",
                "evacuate",
                "src",
            ])
            .args(["--yes", "--parallel", "8"])
            .current_dir(d)
            .env("VZRUN_STATE_DIR", d.join("state")),
    );
    let commands = stdout
        .lines()
        .filter(|l| l.contains("\"event\":\"command_finished\""))
        .count();
    let _ = writeln!(
        report,
        "| evacuate 200 VEs, --lab-speed 0 | {:.0} ms for {commands} commands | {:.2} ms per command (engine + lab) | vzrun's peak RSS {rss:.0} MB |",
        ms(wall),
        ms(wall) / commands as f64
    );
    // With latencies: a live migration takes 8 s x speed.
    let speed = 0.002;
    for parallel in [1, 4, 8] {
        let started = Instant::now();
        vzrun(
            d,
            &[
                lab.as_str(),
                "--lab-speed",
                &speed.to_string(),
                "-q",
                "evacuate",
                "src",
                "--yes",
                "--parallel",
                &parallel.to_string(),
            ],
        );
        let wall = started.elapsed();
        let bound = Duration::from_secs_f64((200f64 / parallel as f64).ceil() * 8.0 * speed);
        let _ = writeln!(
            report,
            "| evacuate 200 VEs, migration 16 ms, --parallel {parallel} | wall {:.0} ms | critical-path bound {:.0} ms | {:.2}x the bound |",
            ms(wall),
            ms(bound),
            ms(wall) / ms(bound)
        );
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass other flags: run only
    // when asked to measure.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // `cargo bench --bench figures -- scaling check` runs only the named sections.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let mut report = String::from("| what | | | |\n| --- | --- | --- | --- |\n");
    if wanted("ssh") {
        per_command_cost(&mut report);
    }
    if wanted("fanout") {
        fan_out(&mut report, 16);
        fan_out(&mut report, 32);
    }
    if wanted("check") {
        check_all(&mut report);
    }
    if wanted("evacuation") {
        evacuation(&mut report);
    }
    if wanted("scaling") {
        evacuation_scaling(&mut report);
    }
    println!("{report}");
}
