//! The figures that need no network: `vzrun check`, and lab evacuations (engine overhead
//! per command, wall time against the critical-path bound, time per VE and vzrun's own peak
//! RSS as the VE count grows).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{self, measured, median, ms, paired, vzrun, Contender, Measured, Report};
use crate::test::vzrun_bin;

/// `vzrun check` of every runbook and stdlib module, paired with `vzrun --version` (the
/// process's start alone); wall and CPU time.
pub fn check_all(report: &mut Report) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    vzrun(d, &["check"]);
    let cpu = std::cell::RefCell::new(Vec::new());
    let run = |args: &[&str]| {
        measured(
            Command::new(vzrun_bin())
                .args(args)
                .current_dir(d)
                .env("VZRUN_STATE_DIR", d.join("state")),
        )
    };
    let contenders: Vec<Contender> = vec![
        (
            "check".into(),
            Box::new(|| {
                let m = run(&["check"]);
                cpu.borrow_mut().push(ms(m.cpu));
                m.wall
            }),
        ),
        ("version".into(), Box::new(|| run(&["--version"]).wall)),
    ];
    let p = paired(harness::rounds(21), contenders);
    let cpu = median(&cpu.borrow());
    let count = fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks"))
        .unwrap()
        .count();
    let check = p.median("check");
    report.row(&[
        format!("`vzrun check` of {count} runbooks + stdlib"),
        format!("{check:.1} ms (median wall)"),
        format!("{cpu:.1} ms CPU (user + system)"),
        format!(
            "`vzrun --version` {:.1} ms (check is {:.2}x it)",
            p.median("version"),
            p.ratio("check", "version")
        ),
    ]);
    report.target(
        "`vzrun check`",
        format!("{check:.1} ms"),
        "< 20 ms",
        Some(check < 20.0),
    );
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

/// Runs one evacuation of the lab `lab` (a fresh state dir each time) with vzrun's options
/// `global` and the runbook's `--parallel`; wall, stdout, RSS.
fn evacuate(d: &Path, lab: &str, state: &str, global: &[&str], parallel: &str) -> Measured {
    let state = d.join(state);
    let _ = fs::remove_dir_all(&state);
    measured(
        Command::new(vzrun_bin())
            .arg(lab)
            .args(global)
            .args(["evacuate", "src", "--yes", "--parallel", parallel])
            .current_dir(d)
            .env("VZRUN_STATE_DIR", state),
    )
}

/// Evacuation time per VE and vzrun's own peak RSS as the VE count grows (targets: time per
/// VE within 20% from 1k to 16k VEs; peak RSS under 30 MB at 4000 VEs). The sizes run
/// interleaved, round after round.
pub fn evacuation_scaling(report: &mut Report) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sizes = [1000usize, 4000, 16000];
    let labs: Vec<String> = sizes.iter().map(|v| evacuation_lab(d, *v)).collect();
    let rss = std::cell::RefCell::new(vec![Vec::new(); sizes.len()]);
    // CPU time per run: what vzrun and the lab compute, without the waits for the journal's
    // fsyncs, which depend on what else writes to the disk.
    let cpu = std::cell::RefCell::new(vec![Vec::new(); sizes.len()]);
    let contenders: Vec<Contender> = sizes
        .iter()
        .enumerate()
        .map(|(i, ves)| {
            let (lab, rss, cpu) = (&labs[i], &rss, &cpu);
            let c: Contender = (
                ves.to_string(),
                Box::new(move || {
                    let args = ["--lab-speed", "0", "-q"];
                    let run = evacuate(d, lab, &format!("state{ves}"), &args, "8");
                    rss.borrow_mut()[i].push(run.rss_mb);
                    cpu.borrow_mut()[i].push(ms(run.cpu));
                    run.wall
                }),
            );
            c
        })
        .collect();
    let p = paired(harness::rounds(3), contenders);
    let rss = rss.into_inner();
    let cpu = cpu.into_inner();
    let mut worst: f64 = 1.0;
    let mut worst_cpu: f64 = 1.0;
    for (i, ves) in sizes.iter().enumerate() {
        let name = ves.to_string();
        let wall = p.median(&name);
        let per_ve = wall / *ves as f64;
        // Per round: this size's time per VE over the 1k run's of the same round.
        let scale = p.ratio(&name, "1000") * 1000.0 / *ves as f64;
        worst = worst.max(scale).max(1.0 / scale);
        let peak = median(&rss[i]);
        report.row(&[
            format!("evacuate {ves} VEs, --lab-speed 0"),
            format!("{wall:.0} ms"),
            format!("{per_ve:.3} ms per VE ({scale:.2}x the 1k figure)"),
            format!("vzrun's peak RSS {peak:.1} MB"),
        ]);
        let per_round: Vec<f64> = cpu[i]
            .iter()
            .zip(&cpu[0])
            .map(|(this, first)| this / first * 1000.0 / *ves as f64)
            .collect();
        let cpu_scale = median(&per_round);
        worst_cpu = worst_cpu.max(cpu_scale).max(1.0 / cpu_scale);
        let cpu_ms = median(&cpu[i]);
        report.row(&[
            format!("evacuate {ves} VEs, CPU (user + system)"),
            format!("{cpu_ms:.0} ms"),
            format!(
                "{:.3} ms per VE ({cpu_scale:.2}x the 1k figure)",
                cpu_ms / *ves as f64
            ),
        ]);
        if *ves == 4000 {
            report.target(
                "peak RSS, evacuation of 4000 VEs",
                format!("{peak:.1} MB"),
                "< 30 MB",
                Some(peak < 30.0),
            );
        }
    }
    report.target(
        "lab evacuation time per VE, 1k to 16k VEs",
        format!(
            "largest deviation {:.0}% (CPU time: {:.0}%)",
            (worst - 1.0) * 100.0,
            (worst_cpu - 1.0) * 100.0
        ),
        "within 20%",
        Some(worst <= 1.2),
    );
}

/// A 200-VE evacuation: engine overhead per command at --lab-speed 0, then wall time with
/// latencies against the critical-path bound, for several --parallel.
pub fn evacuation(report: &mut Report) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lab = evacuation_lab(d, 200);
    let json = ["--lab-speed", "0", "--output", "json"];
    let stdout = evacuate(d, &lab, "count", &json, "8").stdout;
    let commands = stdout
        .lines()
        .filter(|l| l.contains("\"event\":\"command_finished\""))
        .count();
    // A live migration takes 8 s x speed.
    let speed = 0.002;
    let speed_arg = speed.to_string();
    let parallels = ["1", "4", "8"];
    let rss = std::cell::RefCell::new(Vec::new());
    let mut contenders: Vec<Contender> = vec![(
        "speed 0".into(),
        Box::new(|| {
            let run = evacuate(d, &lab, "s0", &["--lab-speed", "0", "-q"], "8");
            rss.borrow_mut().push(run.rss_mb);
            run.wall
        }),
    )];
    for parallel in parallels {
        let (lab, speed_arg) = (&lab, &speed_arg);
        contenders.push((
            parallel.into(),
            Box::new(move || {
                let args = ["--lab-speed", speed_arg, "-q"];
                evacuate(d, lab, &format!("p{parallel}"), &args, parallel).wall
            }),
        ));
    }
    let p = paired(harness::rounds(3), contenders);
    let wall = p.median("speed 0");
    report.row(&[
        "evacuate 200 VEs, --lab-speed 0".into(),
        format!("{wall:.0} ms for {commands} commands"),
        format!(
            "{:.3} ms per command (engine + lab + journal fsync)",
            wall / commands as f64
        ),
        format!("vzrun's peak RSS {:.1} MB", median(&rss.borrow())),
    ]);
    for parallel in parallels {
        let n: f64 = parallel.parse().unwrap();
        let bound = ms(Duration::from_secs_f64((200.0 / n).ceil() * 8.0 * speed));
        let wall = p.median(parallel);
        report.row(&[
            format!("evacuate 200 VEs, migration 16 ms, --parallel {parallel}"),
            format!("wall {wall:.0} ms"),
            format!("critical-path bound {bound:.0} ms"),
            format!("{:.2}x the bound", wall / bound),
        ]);
    }
}
