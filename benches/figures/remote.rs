//! The figures over SSH, against real sshd instances on loopback (tests/integration/sshd.rs:
//! one sshd per 127.0.x.y, each with a HOME without rc files, so a remote command starts as
//! fast as the remote shell can and vzrun's own cost is not hidden behind it).
//!
//! - `ssh`: one command from a runbook vs a raw native-mux exec of the same command;
//! - `fanout`: facts from 8..64 hosts, vzrun vs the strongest configuration of each peer:
//!   Ansible (`raw` module, ControlPersist, forks = hosts, `strategy: free`) cold and warm,
//!   pyinfra, and `xargs -P N ssh` with and without ControlMaster.
//!
//! Every OpenSSH client (vzrun's masters, Ansible's, xargs') reads one ssh config that pins
//! the key exchange (`$VZRUN_BENCH_KEX`, default curve25519-sha256), so all use the same.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use vzrun::cmd::Cmd;
use vzrun::inventory::SshSettings;
use vzrun::transport::{Ssh, Transport};

use crate::harness::{self, paired, vzrun_env, Contender, Report};
use crate::sides;
use crate::sshd::SshCluster;
use crate::test::vzrun_bin;

fn kex() -> String {
    std::env::var("VZRUN_BENCH_KEX").unwrap_or_else(|_| "curve25519-sha256".into())
}

/// The ssh config every OpenSSH peer uses: one `Host` block per host, then the shared
/// settings (kex, key, known hosts).
fn write_ssh_config(cluster: &SshCluster) -> PathBuf {
    let mut cfg = String::new();
    for h in &cluster.hosts {
        let _ = writeln!(
            cfg,
            "Host {}\n  HostName {}\n  Port {}",
            h.name, h.address, h.port
        );
    }
    let _ = writeln!(
        cfg,
        "Host *\n  User root\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  KexAlgorithms {}\n  BatchMode yes\n  LogLevel ERROR",
        cluster.path("id").display(),
        cluster.path("known_hosts").display(),
        kex()
    );
    let path = cluster.path("ssh_config");
    fs::write(&path, cfg).unwrap();
    path
}

/// A short directory for control sockets (a socket path is limited to ~100 bytes).
fn control_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in("/tmp")
        .unwrap()
}

/// vzrun's inventory for the cluster, with `ssh_config` (the kex) and `extra` SSH defaults.
fn inventory(cluster: &SshCluster, file: &str, extra: &str) -> PathBuf {
    cluster.write_inventory_with(
        file,
        "known_hosts",
        &format!(", ssh_config: ssh_config{extra}"),
    )
}

/// Whether this vzrun reads `persist:` in an inventory (the SSH work of issue #18 adds it):
/// runs `facts.rhai` once with `persist: 0`.
fn persist_supported(cluster: &SshCluster, runbook: &str) -> Result<(), String> {
    let inv = inventory(cluster, "probe.yaml", ", persist: 0");
    let ctl = control_dir("vzp");
    let out = Command::new(vzrun_bin())
        .args(["--inventory", inv.to_str().unwrap(), "-q", runbook])
        .current_dir(cluster.dir.path())
        .env("VZRUN_STATE_DIR", cluster.path("state"))
        .env("VZRUN_CONTROL_DIR", ctl.path())
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(err.lines().next().unwrap_or_default().to_string())
    }
}

fn ssh_settings(cluster: &SshCluster, i: usize) -> SshSettings {
    SshSettings {
        user: Some("root".into()),
        port: Some(cluster.hosts[i].port),
        identity: Some(cluster.path("id")),
        known_hosts: Some(cluster.path("known_hosts")),
        ssh_config: Some(cluster.path("ssh_config")),
        ..SshSettings::default()
    }
}

/// One command over SSH: a raw native-mux exec (the openssh crate, nothing else), vzrun's
/// transport, and a primitive called from a runbook (engine, validation, Runner, journal,
/// parsing; the process's start subtracted), each a batch of `n` commands per round.
pub fn per_command(report: &mut Report) {
    let Some(cluster) = SshCluster::start(1) else {
        report.note("ssh: skipped, no sshd".into());
        return;
    };
    write_ssh_config(&cluster);
    let n: u32 = 100;
    let h = &cluster.hosts[0];
    let runtime = Ssh::runtime().unwrap();
    let session = runtime.block_on(async {
        let mut b = openssh::SessionBuilder::default();
        b.user("root".into())
            .port(h.port)
            .keyfile(cluster.path("id"))
            .user_known_hosts_file(cluster.path("known_hosts"))
            .config_file(cluster.path("ssh_config"))
            .known_hosts_check(openssh::KnownHosts::Strict);
        b.connect_mux(&h.address).await.unwrap()
    });
    let ssh = Ssh::new(
        &h.name,
        &h.address,
        ssh_settings(&cluster, 0),
        false,
        runtime.clone(),
    );
    ssh.run(&Cmd::read(["true"])).unwrap();
    let dir = cluster.dir.path();
    fs::write(dir.join("status.rhai"), "//! Status.\n//! opt n = 0: calls\nlet h = host(\"msk-01\");\nfor i in 0..ARGS.n { prlctl::status(h, \"web01\"); }\n").unwrap();
    let inv = inventory(&cluster, "inv-status.yaml", "");
    let inv = inv.to_str().unwrap().to_string();
    let ctl = control_dir("vzc");
    let env = [("VZRUN_CONTROL_DIR", ctl.path())];
    let full = (n + 1).to_string();
    let contenders: Vec<Contender> = vec![
        (
            "raw".into(),
            Box::new(|| {
                runtime.block_on(async {
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
                })
            }),
        ),
        (
            "transport".into(),
            Box::new(|| {
                let started = Instant::now();
                for _ in 0..n {
                    ssh.run(&Cmd::read(["prlctl", "status", "web01"])).unwrap();
                }
                started.elapsed() / n
            }),
        ),
        (
            "primitive".into(),
            Box::new(|| {
                let zero = vzrun_env(
                    dir,
                    &["--inventory", &inv, "-q", "./status.rhai", "--n", "1"],
                    &env,
                );
                let all = vzrun_env(
                    dir,
                    &["--inventory", &inv, "-q", "./status.rhai", "--n", &full],
                    &env,
                );
                all.saturating_sub(zero) / n
            }),
        ),
    ];
    let p = paired(harness::rounds(7), contenders);
    let (raw, tr, prim) = (
        p.median("raw"),
        p.median("transport"),
        p.median("primitive"),
    );
    let ratio = p.ratio("primitive", "raw");
    report.row(&[
        "SSH: one command (`prlctl status`, lab shim)".into(),
        format!("raw native-mux exec {raw:.2} ms"),
        format!(
            "vzrun transport {tr:.2} ms ({:.2}x)",
            p.ratio("transport", "raw")
        ),
        format!("`prlctl::status` from a runbook {prim:.2} ms ({ratio:.2}x)"),
    ]);
    report.target(
        "per primitive over SSH",
        format!("{ratio:.2}x raw native-mux"),
        "<= 1.1x",
        Some(ratio <= 1.1),
    );
    drop(session);
}

/// A lab scenario with `hosts` hypervisors msk-01.. and `per_host` VEs each.
pub fn scenario(hosts: usize, per_host: usize) -> String {
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

/// Closes the ControlPersist masters whose sockets are in `dir` (not timed).
fn close_masters(cluster: &SshCluster, cfg: &Path, dir: &Path) {
    for h in &cluster.hosts {
        let _ = Command::new("ssh")
            .arg("-F")
            .arg(cfg)
            .arg("-o")
            .arg(format!("ControlPath={}/%C", dir.display()))
            .args(["-O", "exit", &h.name])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The peers' commands, set up once for a cluster.
struct Peers {
    ansible: Option<PathBuf>,
    pyinfra: Option<PathBuf>,
}

fn peers(report: &mut Report) -> Peers {
    let find = |var: &str, what: &str, report: &mut Report| {
        let path = std::env::var_os(var).map(PathBuf::from);
        if path.is_none() {
            report.note(format!("{what}: not run (set {var}, see bench/run)"));
        }
        path
    };
    Peers {
        ansible: find("ANSIBLE", "Ansible", report),
        pyinfra: find("PYINFRA", "pyinfra", report),
    }
}

/// Facts (`prlctl list -a -j`, /proc/meminfo) from every host.
pub fn fan_out(report: &mut Report, hosts: usize) {
    let Some(cluster) = SshCluster::start_with(hosts, &scenario(hosts, 3)) else {
        report.note("fanout: skipped, no sshd".into());
        return;
    };
    let peers = peers(report);
    let dir = cluster.dir.path();
    // The CPU of each side (see `sides`): the sshds of this cluster serve the "hosts".
    let sides = match sides::Sides::new() {
        Ok(s) if s.adopt_remote_sshds() == hosts => Some(s),
        Ok(_) => {
            report.note(
                "fan-out: CPU by side not measured: not every sshd could be moved into its group"
                    .into(),
            );
            None
        }
        Err(why) => {
            report.note(format!("fan-out: CPU by side not measured: {why}"));
            None
        }
    };
    let split = sides::Split::default();
    let cfg = write_ssh_config(&cluster);
    fs::write(
        dir.join("facts.rhai"),
        "//! Facts.\nlet facts = parallel(hosts(), 64, |h| #{ves: prlctl::list(h).len(), mem: mem::info(h).MemTotal});\nif facts.len() != hosts().len() { throw \"missing facts\"; }\n",
    )
    .unwrap();
    let persist = persist_supported(&cluster, "./facts.rhai");
    let cold_inv = match &persist {
        Ok(()) => inventory(&cluster, "cold.yaml", ", persist: 0"),
        Err(_) => inventory(&cluster, "cold.yaml", ""),
    };
    let warm_inv = inventory(&cluster, "warm.yaml", ", persist: 60");
    let warm_ctl = control_dir("vzw");
    let run_vzrun = |inv: &Path, ctl: &Path| {
        vzrun_env(
            dir,
            &["--inventory", inv.to_str().unwrap(), "-q", "./facts.rhai"],
            &[("VZRUN_CONTROL_DIR", ctl)],
        )
    };
    let mut contenders: Vec<Contender> = vec![(
        "vzrun cold".into(),
        Box::new(|| {
            let ctl = control_dir("vzc");
            run_vzrun(&cold_inv, ctl.path())
        }),
    )];
    match &persist {
        Ok(()) => {
            run_vzrun(&warm_inv, warm_ctl.path());
            contenders.push((
                "vzrun warm".into(),
                Box::new(|| run_vzrun(&warm_inv, warm_ctl.path())),
            ));
        }
        Err(why) => report.note(format!(
            "fan-out to {hosts}: vzrun warm not run: this vzrun has no `persist:` inventory setting yet ({why})"
        )),
    }
    // xargs: one ssh per host, both commands in one exec; fresh connections, then through
    // ControlPersist masters already up.
    let names: String = cluster
        .hosts
        .iter()
        .map(|h| format!("{}\n", h.name))
        .collect();
    fs::write(dir.join("hosts.txt"), names).unwrap();
    let xargs = |extra: &str| {
        let script = format!(
            "xargs -P {hosts} -I{{}} ssh -F {} {extra} {{}} 'prlctl list -a -j && cat /proc/meminfo' < hosts.txt > /dev/null",
            cfg.display()
        );
        move || harness::timed(Command::new("bash").args(["-c", &script]).current_dir(dir))
    };
    let xargs_cold = xargs("-o ControlMaster=no");
    contenders.push(("xargs ssh".into(), Box::new(xargs_cold)));
    let xargs_ctl = control_dir("xm");
    let xargs_warm = xargs(&format!(
        "-o ControlMaster=auto -o ControlPersist=60 -o ControlPath={}/%C",
        xargs_ctl.path().display()
    ));
    xargs_warm();
    contenders.push(("xargs ssh ControlMaster".into(), Box::new(xargs_warm)));
    if let Some(bin) = peers.ansible.clone() {
        ansible_files(&cluster);
        let ssh_args = format!(
            "-F {} -o ControlMaster=auto -o ControlPersist=60s",
            cfg.display()
        );
        let ansible = move |ctl: &Path| {
            harness::timed(
                Command::new(&bin)
                    .args(["-i", "hosts.ini", "-f", &hosts.to_string(), "facts.yml"])
                    .current_dir(dir)
                    .env("ANSIBLE_SSH_ARGS", &ssh_args)
                    .env("ANSIBLE_SSH_CONTROL_PATH_DIR", ctl)
                    .env("ANSIBLE_HOME", dir.join("ansible-home"))
                    .env("ANSIBLE_LOCAL_TEMP", dir.join("ansible-tmp"))
                    .env("ANSIBLE_HOST_KEY_CHECKING", "True")
                    .env("ANSIBLE_NOCOLOR", "1"),
            )
        };
        let ansible_ctl = control_dir("aw");
        ansible(ansible_ctl.path());
        let cfg2 = cfg.clone();
        let cluster_ref = &cluster;
        let ansible_cold = ansible.clone();
        contenders.push((
            "Ansible cold".into(),
            Box::new(move || {
                let ctl = control_dir("ac");
                let took = ansible_cold(ctl.path());
                close_masters(cluster_ref, &cfg2, ctl.path());
                took
            }),
        ));
        let ctl = ansible_ctl.path().to_path_buf();
        contenders.push(("Ansible warm".into(), Box::new(move || ansible(&ctl))));
        // The masters die with the sshds; the directory must outlive the rounds.
        std::mem::forget(ansible_ctl);
    }
    if let Some(bin) = peers.pyinfra.clone() {
        pyinfra_files(&cluster);
        contenders.push((
            "pyinfra".into(),
            Box::new(move || {
                harness::timed(
                    Command::new(&bin)
                        .args([
                            "-y",
                            "--parallel",
                            &hosts.to_string(),
                            "inventory.py",
                            "exec",
                            "--",
                        ])
                        .arg("prlctl list -a -j && cat /proc/meminfo")
                        .current_dir(dir)
                        .env("HOME", dir),
                )
            }),
        ));
    }
    let contenders = match &sides {
        Some(sides) => sides::recorded(sides, &split, contenders),
        None => contenders,
    };
    let p = paired(harness::rounds(5), contenders);
    let vz = p.median("vzrun cold");
    let mut cells = vec![
        format!("facts from {hosts} hosts"),
        format!("vzrun cold {vz:.0} ms"),
    ];
    if p.has("vzrun warm") {
        cells.push(format!("vzrun warm {:.0} ms", p.median("vzrun warm")));
    }
    report.row(&cells);
    let best_vz = if p.has("vzrun warm") {
        "vzrun warm"
    } else {
        "vzrun cold"
    };
    for peer in [
        "Ansible warm",
        "Ansible cold",
        "pyinfra",
        "xargs ssh",
        "xargs ssh ControlMaster",
    ] {
        if !p.has(peer) {
            continue;
        }
        let mut cells = vec![
            format!("facts from {hosts} hosts"),
            format!("{peer} {:.0} ms", p.median(peer)),
            format!("{:.2}x vzrun cold", p.ratio(peer, "vzrun cold")),
        ];
        if p.has("vzrun warm") {
            cells.push(format!("{:.2}x vzrun warm", p.ratio(peer, "vzrun warm")));
        }
        report.row(&cells);
    }
    if sides.is_some() {
        sides::report(
            report,
            &format!("facts from {hosts} hosts"),
            &split,
            best_vz,
        );
    }
    if hosts == 32 {
        match p.has("Ansible warm") {
            true => {
                let x = p.ratio("Ansible warm", best_vz);
                report.target(
                    "fan-out to 32 hosts vs Ansible warm",
                    format!("{best_vz} {x:.2}x faster"),
                    ">= 10x faster",
                    Some(x >= 10.0),
                );
            }
            false => report.target(
                "fan-out to 32 hosts vs Ansible warm",
                "Ansible not run".into(),
                ">= 10x faster",
                None,
            ),
        }
    }
}

fn ansible_files(cluster: &SshCluster) {
    let dir = cluster.dir.path();
    let mut ini = String::from("[all]\n");
    for h in &cluster.hosts {
        let _ = writeln!(ini, "{}", h.name);
    }
    fs::write(dir.join("hosts.ini"), ini).unwrap();
    fs::write(
        dir.join("facts.yml"),
        "- hosts: all\n  gather_facts: false\n  strategy: free\n  tasks:\n    - raw: prlctl list -a -j\n    - raw: cat /proc/meminfo\n",
    )
    .unwrap();
}

fn pyinfra_files(cluster: &SshCluster) {
    let mut py = String::from("hosts = [\n");
    for h in &cluster.hosts {
        let _ = writeln!(
            py,
            "    ({:?}, {{\"ssh_hostname\": {:?}, \"ssh_port\": {}, \"ssh_user\": \"root\", \"ssh_key\": {:?}, \"ssh_known_hosts_file\": {:?}, \"ssh_strict_host_key_checking\": \"yes\"}}),",
            h.name,
            h.address,
            h.port,
            cluster.path("id").display().to_string(),
            cluster.path("known_hosts").display().to_string()
        );
    }
    py.push_str("]\n");
    fs::write(cluster.path("inventory.py"), py).unwrap();
}
