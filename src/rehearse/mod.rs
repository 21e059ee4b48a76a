//! Rehearsal: a copy of the operator's cluster in the lab (`vzrun lab capture`), and a
//! runbook run many times on it under random faults with the cluster's invariants checked
//! after each run (`vzrun rehearse`).
//!
//! The lab alone agrees with vzrun's own assumptions; a rehearsal makes it disagree on
//! purpose (slow starts, failing migrations, a CS that never drains, a host that stops
//! answering, a kill -9 followed by `resume` or `abort`) and on the operator's own layout,
//! so that a runbook that would break the cluster at 3 am breaks it here first.

pub mod capture;
mod capture_storage;
pub mod faults;
pub mod invariants;
pub mod runs;

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::exit;
use crate::run::options::RunOptions as GlobalOpts;

#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Write a lab scenario (YAML) of the cluster: of the hosts of `--inventory` (read-only
    /// probes over SSH), or of a lab (`--lab[=SCENARIO]`). Load it with `--lab=FILE`.
    ///
    /// Secrets (sudoers, keys) are not read; what could not be read, or what a scenario
    /// cannot express, is listed as comments at the top of the file.
    Capture {
        /// Write the scenario to FILE instead of stdout.
        #[arg(short = 'o', long = "out", id = "capture_file", value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct RehearseArgs {
    /// How many runs (each on a fresh copy of the lab).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub runs: u32,
    /// The seed the faults are drawn from (default: from the clock; printed, to replay).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Only the run with this number (with --seed: replays one run of a rehearsal).
    #[arg(long, value_name = "K")]
    pub only: Option<u32>,
    /// The runbook and its arguments (`--yes` is added).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "RUNBOOK [ARGS]"
    )]
    pub runbook: Vec<String>,
}

/// `vzrun lab ...`
pub fn lab_command(args: &LabArgs, global: &GlobalOpts) -> i32 {
    match &args.command {
        LabCommand::Capture { output } => capture_command(output.as_deref(), global),
    }
}

fn capture_command(output: Option<&std::path::Path>, global: &GlobalOpts) -> i32 {
    let lab_wanted = global.lab.is_some() || global.lab_state.is_some();
    if !lab_wanted && crate::inventory::Inventory::locate(global.inventory.as_deref()).is_none() {
        eprintln!(
            "error: what to capture? give --inventory FILE (real hosts, over SSH) or --lab[=SCENARIO]"
        );
        return exit::USAGE;
    }
    let cluster = match crate::session::targets::cluster_for(global) {
        Ok(cluster) => cluster,
        Err(e) => {
            eprintln!("error: {e}");
            return e.code();
        }
    };
    let yaml = capture::capture(&cluster).to_yaml();
    match output {
        Some(path) => match std::fs::write(path, &yaml) {
            Ok(()) => {
                eprintln!("captured {} into {}", cluster.name(), path.display());
                exit::OK
            }
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                exit::FAILED
            }
        },
        None => {
            print!("{yaml}");
            exit::OK
        }
    }
}

/// `vzrun rehearse ...`
pub fn rehearse_command(args: &RehearseArgs, global: &GlobalOpts) -> i32 {
    runs::rehearse(args, global)
}
