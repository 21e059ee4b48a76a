//! How a run is made: plan or apply, who confirms, how events are shown, which target
//! (lab or inventory) and its limits. The command line parses these as its global options
//! (with the `cli` feature); a program embedding vzrun fills them in itself.

use std::path::PathBuf;

use crate::run::output::OutputFormat;

// Options that may stand before or after the runbook name. (A plain comment, hence the
// `allow`: a doc comment here would become the about text of every runbook command.)
#[allow(missing_docs)]
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(next_help_heading = "Global options"))]
pub struct RunOptions {
    /// Plan only: probes run, changes are listed, nothing is changed (same as `vzrun plan`).
    #[cfg_attr(feature = "cli", arg(long, global = true))]
    pub dry_run: bool,
    /// Answer yes to confirmations (needed to run destructive runbooks without a terminal).
    #[cfg_attr(feature = "cli", arg(short = 'y', long, global = true))]
    pub yes: bool,
    /// How to print the run's events.
    #[cfg_attr(
        feature = "cli",
        arg(long, value_enum, global = true, value_name = "FORMAT")
    )]
    pub output: Option<OutputFormat>,
    /// No narration: only the data (printed lines, tables, plans) and warnings and errors.
    #[cfg_attr(feature = "cli", arg(short, long, global = true))]
    pub quiet: bool,
    /// Also print the read-only commands (probes) as they run.
    #[cfg_attr(feature = "cli", arg(short, long, global = true))]
    pub verbose: bool,
    /// Stop a runbook after this many script operations (guards against endless loops; at
    /// least 1: rhai reads 0 as "no limit", which this option must never mean).
    #[cfg_attr(feature = "cli", arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u64).range(1..)))]
    pub max_operations: Option<u64>,
    /// The inventory of hosts (default: $VZRUN_INVENTORY, else ./vzrun.yaml).
    #[cfg_attr(feature = "cli", arg(long, global = true, value_name = "FILE"))]
    pub inventory: Option<PathBuf>,
    /// Trust the host key of hosts not yet in known_hosts (and record it); otherwise unknown
    /// hosts are refused.
    #[cfg_attr(feature = "cli", arg(long, global = true))]
    pub accept_new_hosts: bool,
    /// Wait up to this many seconds for a host another run has locked (default: fail at once).
    #[cfg_attr(feature = "cli", arg(long, global = true, value_name = "SECONDS"))]
    pub lock_wait: Option<u64>,
    /// Run against the built-in simulated cluster, or the lab scenario in FILE (`--lab=FILE`,
    /// or `--lab FILE.yaml`).
    #[cfg_attr(feature = "cli", arg(long, global = true, value_name = "FILE", num_args = 0..=1, require_equals = true))]
    pub lab: Option<Option<PathBuf>>,
    /// Keep the lab's state in FILE, so consecutive runs see each other's changes.
    #[cfg_attr(feature = "cli", arg(long, global = true, value_name = "FILE"))]
    pub lab_state: Option<PathBuf>,
    /// Scale the lab's latencies: 0 answers at once, 1 is as slow as a real cluster.
    #[cfg_attr(feature = "cli", arg(long, global = true, value_name = "X"))]
    pub lab_speed: Option<f64>,
}

impl RunOptions {
    /// Options given after the runbook name complete (and win over) those given before it.
    pub fn merge(self, later: RunOptions) -> RunOptions {
        RunOptions {
            dry_run: self.dry_run || later.dry_run,
            yes: self.yes || later.yes,
            output: later.output.or(self.output),
            quiet: self.quiet || later.quiet,
            verbose: self.verbose || later.verbose,
            max_operations: later.max_operations.or(self.max_operations),
            inventory: later.inventory.or(self.inventory),
            accept_new_hosts: self.accept_new_hosts || later.accept_new_hosts,
            lock_wait: later.lock_wait.or(self.lock_wait),
            lab: later.lab.or(self.lab),
            lab_state: later.lab_state.or(self.lab_state),
            lab_speed: later.lab_speed.or(self.lab_speed),
        }
    }
}
