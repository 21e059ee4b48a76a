//! CPU time by side: what a contender spends on the client (its process, its forks, its ssh
//! clients and masters) and what its commands cost the hosts (sshd sessions, shells, the lab
//! shim).
//!
//! On loopback both sides share this machine's cores, so a fan-out's wall time mixes the
//! client's work with the hosts'. On a cluster the hosts' work runs on the hosts; what stays
//! on the operator's machine is the client side. Two cgroup v2 groups tell them apart: the
//! bench moves itself into `client` (every contender it starts inherits it, and a
//! daemonized ssh master stays in it when it is re-parented), and the sshd daemons into
//! `remote` (every session and command they start inherits it). A group's `cpu.stat` counts
//! its processes' CPU, those that exited included; nothing else on the machine is counted,
//! so the figures hold on a busy machine better than wall times do. Needs a writable cgroup2
//! mount (root); without one the split is not measured and the bench says so.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{median, Contender, Report};

pub struct Sides {
    base: PathBuf,
    /// The bench's own group before the move: where everything goes back at the end.
    home: PathBuf,
}

/// CPU used so far by each side.
#[derive(Clone, Copy)]
pub struct Usage {
    pub client: Duration,
    pub remote: Duration,
}

impl std::ops::Sub for Usage {
    type Output = Usage;
    fn sub(self, earlier: Usage) -> Usage {
        Usage {
            client: self.client.saturating_sub(earlier.client),
            remote: self.remote.saturating_sub(earlier.remote),
        }
    }
}

fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[2] == "cgroup2").then(|| PathBuf::from(f[1]))
    })
}

/// The cgroup2 path of this process (`0::/path` in /proc/self/cgroup).
fn own_group(mount: &Path) -> Option<PathBuf> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(mount.join(rel.trim_start_matches('/')))
}

fn usage_of(group: &Path) -> Duration {
    let stat = fs::read_to_string(group.join("cpu.stat")).unwrap_or_default();
    let usec = stat
        .lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Duration::from_micros(usec)
}

fn move_to(group: &Path, pid: u32) -> bool {
    fs::write(group.join("cgroup.procs"), pid.to_string()).is_ok()
}

impl Sides {
    /// The two groups, with the bench moved into `client`; `Err(why)` when they cannot be
    /// made here.
    pub fn new() -> Result<Sides, String> {
        let mount = cgroup2_mount().ok_or("no cgroup2 mount")?;
        let home = own_group(&mount).ok_or("no cgroup2 entry in /proc/self/cgroup")?;
        let base = mount.join(format!("vzrun-bench-{}", std::process::id()));
        for side in ["client", "remote"] {
            fs::create_dir_all(base.join(side))
                .map_err(|e| format!("cannot make {}: {e}", base.join(side).display()))?;
        }
        let sides = Sides { base, home };
        if !move_to(&sides.base.join("client"), std::process::id()) {
            return Err(format!(
                "cannot move the bench into {}",
                sides.base.join("client").display()
            ));
        }
        Ok(sides)
    }

    /// Moves this process's children called `sshd` (the daemons of the cluster it started;
    /// no session is open yet) into `remote`; how many were moved.
    pub fn adopt_remote_sshds(&self) -> usize {
        let me = std::process::id().to_string();
        let mut moved = 0;
        for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            // stat: `pid (comm) state ppid ...`; comm may hold spaces, so split after the ')'.
            let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let Some((head, tail)) = stat.rsplit_once(')') else {
                continue;
            };
            let ppid = tail.split_whitespace().nth(1);
            if head.ends_with("(sshd")
                && ppid == Some(me.as_str())
                && move_to(&self.base.join("remote"), pid)
            {
                moved += 1;
            }
        }
        moved
    }

    pub fn usage(&self) -> Usage {
        Usage {
            client: usage_of(&self.base.join("client")),
            remote: usage_of(&self.base.join("remote")),
        }
    }
}

impl Drop for Sides {
    /// Everything back where the bench was, then the groups removed (a master still alive
    /// moves back too).
    fn drop(&mut self) {
        for side in ["client", "remote"] {
            let group = self.base.join(side);
            let procs = fs::read_to_string(group.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|p| p.trim().parse().ok()) {
                move_to(&self.home, pid);
            }
            let _ = fs::remove_dir(&group);
        }
        let _ = fs::remove_dir(&self.base);
    }
}

/// Each contender's CPU by side, round by round.
pub type Split = std::cell::RefCell<std::collections::BTreeMap<String, Vec<Usage>>>;

/// The same contenders, each run also recording what it cost each side into `split`.
pub fn recorded<'a>(
    sides: &'a Sides,
    split: &'a Split,
    contenders: Vec<Contender<'a>>,
) -> Vec<Contender<'a>> {
    contenders
        .into_iter()
        .map(|(name, mut run)| {
            let key = name.clone();
            let wrapped: Box<dyn FnMut() -> Duration + 'a> = Box::new(move || {
                let before = sides.usage();
                let took = run();
                let cost = sides.usage() - before;
                split
                    .borrow_mut()
                    .entry(key.clone())
                    .or_default()
                    .push(cost);
                took
            });
            (name, wrapped)
        })
        .collect()
}

/// Rows: each contender's median client and host CPU per run, and each peer's client CPU
/// over `reference`'s (the median of the per-round ratios).
pub fn report(report: &mut Report, what: &str, split: &Split, reference: &str) {
    let split = split.borrow();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let Some(base) = split.get(reference) else {
        return;
    };
    for (name, runs) in split.iter() {
        let client: Vec<f64> = runs.iter().map(|u| ms(u.client)).collect();
        let remote: Vec<f64> = runs.iter().map(|u| ms(u.remote)).collect();
        let mut cells = vec![
            format!("{what}, CPU per run"),
            format!("{name}: client {:.0} ms", median(&client)),
            format!("hosts {:.0} ms", median(&remote)),
        ];
        if name != reference {
            let ratios: Vec<f64> = runs
                .iter()
                .zip(base)
                .map(|(a, b)| ms(a.client) / ms(b.client).max(0.001))
                .collect();
            cells.push(format!("client {:.1}x {reference}'s", median(&ratios)));
        }
        report.row(&cells);
    }
}
