//! Performance figures, each taken from paired, interleaved runs in one run on this machine
//! (every round runs each contender once, starting one further along each round; figures
//! are medians, ratios are medians of the per-round ratios), printed with the targets of
//! issue #18 and whether each is met:
//!
//! - `ssh`: a primitive over SSH vs a raw native-mux exec to the same sshd (target <= 1.1x);
//! - `fanout`: facts from 8, 16, 32 and 64 loopback sshd hosts (`$VZRUN_BENCH_HOSTS`, e.g.
//!   `32`), vzrun cold and warm vs Ansible (raw module, ControlPersist, forks = hosts,
//!   strategy free) cold and warm, pyinfra, and `xargs -P N ssh` with and without
//!   ControlMaster (target: 10x faster than Ansible warm at 32 hosts);
//! - `check`: `vzrun check` of every runbook (target < 20 ms);
//! - `evacuation`: a 200-VE lab evacuation, per command and against the critical-path bound;
//! - `scaling`: lab evacuations of 1k, 4k and 16k VEs: time per VE (target: within 20%) and
//!   vzrun's own peak RSS (wait4 on the vzrun process; target < 30 MB at 4000 VEs).
//!
//! Run: `bench/run` (installs the peers in a venv), or `cargo bench --bench figures --
//! SECTION...`. `$VZRUN_BENCH_ROUNDS` sets the rounds. Traffic goes to loopback only, and
//! every loop is bounded. Not a test: nothing here asserts a time.

#[allow(dead_code)]
#[path = "../../tests/integration/test.rs"]
mod test;

#[allow(dead_code)]
#[path = "../../tests/integration/sshd.rs"]
mod sshd;

mod harness;
mod lab;
mod remote;
mod sides;

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
    let mut report = harness::Report::new();
    if wanted("ssh") {
        remote::per_command(&mut report);
    }
    if wanted("fanout") {
        let hosts: Vec<usize> = std::env::var("VZRUN_BENCH_HOSTS")
            .unwrap_or_else(|_| "8,16,32,64".into())
            .split(',')
            .filter_map(|h| h.trim().parse().ok())
            .filter(|h| (1..=200).contains(h))
            .collect();
        for n in hosts {
            remote::fan_out(&mut report, n);
        }
    }
    if wanted("check") {
        lab::check_all(&mut report);
    }
    if wanted("evacuation") {
        lab::evacuation(&mut report);
    }
    if wanted("scaling") {
        lab::evacuation_scaling(&mut report);
    }
    report.print();
}
