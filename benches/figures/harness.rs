//! How every figure is taken: paired, interleaved runs and their medians, a process's own
//! peak RSS (wait4), and the targets each figure is held against.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::test::vzrun_bin;

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Rounds of paired runs: `$VZRUN_BENCH_ROUNDS`, else `default`.
pub fn rounds(default: usize) -> usize {
    std::env::var("VZRUN_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|r| *r > 0)
        .unwrap_or(default)
}

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The times of several contenders measured in the same rounds: each round runs every
/// contender once, starting one further along each round, so a slow moment of the machine
/// falls on all of them alike.
pub struct Paired {
    pub names: Vec<String>,
    /// `times[contender][round]`, in ms.
    pub times: Vec<Vec<f64>>,
}

/// A contender: what it is called and one timed run (its own measure of the time, e.g. a
/// difference of two runs; `None`: not run, with the reason already said).
pub type Contender<'a> = (String, Box<dyn FnMut() -> Duration + 'a>);

pub fn paired(rounds: usize, mut contenders: Vec<Contender<'_>>) -> Paired {
    let k = contenders.len();
    let mut times = vec![Vec::with_capacity(rounds); k];
    for round in 0..rounds {
        for step in 0..k {
            let i = (round + step) % k;
            let took = (contenders[i].1)();
            times[i].push(ms(took));
        }
    }
    Paired {
        names: contenders.into_iter().map(|(n, _)| n).collect(),
        times,
    }
}

impl Paired {
    fn index(&self, name: &str) -> usize {
        self.names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no contender {name}"))
    }

    pub fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// The median time of a contender, ms.
    pub fn median(&self, name: &str) -> f64 {
        median(&self.times[self.index(name)])
    }

    /// The median over rounds of `a / b`, each round's pair taken together.
    pub fn ratio(&self, a: &str, b: &str) -> f64 {
        let (a, b) = (&self.times[self.index(a)], &self.times[self.index(b)]);
        let per_round: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b).collect();
        median(&per_round)
    }
}

/// A figure held against a target, printed at the end with met / not met.
pub struct Target {
    pub what: String,
    pub figure: String,
    pub goal: String,
    /// `None`: not measured in this run (the figure says why).
    pub met: Option<bool>,
}

pub struct Report {
    pub rows: String,
    pub targets: Vec<Target>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn new() -> Report {
        Report {
            rows: String::from("| what | | | |\n| --- | --- | --- | --- |\n"),
            targets: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: &[String]) {
        let mut line = String::from("|");
        for c in cells {
            let _ = write!(line, " {c} |");
        }
        for _ in cells.len()..4 {
            line.push_str(" |");
        }
        self.rows.push_str(&line);
        self.rows.push('\n');
        // Rows as they come: a long bench shows its progress.
        eprintln!("{line}");
    }

    pub fn target(&mut self, what: &str, figure: String, goal: &str, met: Option<bool>) {
        self.targets.push(Target {
            what: what.into(),
            figure,
            goal: goal.into(),
            met,
        });
    }

    pub fn note(&mut self, note: String) {
        eprintln!("note: {note}");
        self.notes.push(note);
    }

    pub fn print(&self) {
        println!("{}", self.rows);
        if !self.targets.is_empty() {
            println!("| target | measured | goal | |\n| --- | --- | --- | --- |");
            for t in &self.targets {
                let verdict = match t.met {
                    Some(true) => "met",
                    Some(false) => "NOT met",
                    None => "not measured",
                };
                println!("| {} | {} | {} | {verdict} |", t.what, t.figure, t.goal);
            }
            println!();
        }
        for n in &self.notes {
            println!("- {n}");
        }
    }
}

/// Runs vzrun in `dir` (its own state dir there); returns its wall time. Panics, with its
/// stderr, when it fails.
pub fn vzrun(dir: &Path, args: &[&str]) -> Duration {
    vzrun_env(dir, args, &[])
}

pub fn vzrun_env(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Duration {
    let started = Instant::now();
    let out = Command::new(vzrun_bin())
        .args(args)
        .current_dir(dir)
        .env("VZRUN_STATE_DIR", dir.join("state"))
        .envs(env.iter().map(|(k, v)| (k, v)))
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

/// Runs a command to its end, output discarded; its wall time. Panics when it fails.
pub fn timed(cmd: &mut Command) -> Duration {
    let started = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().expect("starts");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// What one run of a command took, from wait4 on it: its **own** peak RSS and CPU
/// (RUSAGE_CHILDREN would report the largest child of the whole bench, which was Ansible's).
pub struct Measured {
    pub wall: Duration,
    pub stdout: String,
    /// Its own peak RSS, MB.
    pub rss_mb: f64,
    /// Its own CPU time (user + system): less sensitive than the wall time to other work
    /// on a shared machine.
    pub cpu: Duration,
}

// The child is reaped by wait4 (for its rusage), not by Child::wait.
#[allow(clippy::zombie_processes)]
pub fn measured(cmd: &mut Command) -> Measured {
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
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Measured {
        wall,
        stdout,
        rss_mb: usage.ru_maxrss as f64 / 1024.0,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
    }
}
