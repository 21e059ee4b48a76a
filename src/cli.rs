//! The command line: global options and the built-in subcommands. Anything else is the name
//! (or path) of a runbook, whose own arguments come from its header.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use crate::run::options::RunOptions as GlobalOpts;

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    the runbook failed (a command failed, or the script raised an error)
  2    usage error or bad input; nothing was changed
  3    refused by a preflight check or not confirmed; nothing was changed
  4    a lock is held by another run
  5    a command or a wait passed its deadline
  130  interrupted by Ctrl-C (stopped at a safe point)";

/// Safe, reviewable runbooks for Virtuozzo 7 hypervisor and Virtuozzo Storage clusters.
///
/// `vzrun NAME [ARGS]` runs runbooks/NAME.rhai (or a .rhai file given by path); `vzrun NAME
/// --help` shows what it does and which arguments it takes.
#[derive(Debug, Parser)]
#[command(name = "vzrun", version, after_help = EXIT_CODES, subcommand_value_name = "RUNBOOK|COMMAND")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the runbooks, with the first line of each header.
    List,
    /// Compile and lint runbooks and stdlib modules without running anything.
    ///
    /// With no PATHS: every built-in runbook, every stdlib module and every runbook in
    /// $VZRUN_PATH. Errors are reported as file:line:col.
    Check {
        /// Runbook files (.rhai) to check.
        paths: Vec<PathBuf>,
    },
    /// Show what a runbook would do: probes run, changes are listed with their exact
    /// commands, nothing is changed.
    Plan {
        /// The runbook and its arguments.
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "RUNBOOK [ARGS]"
        )]
        runbook: Vec<OsString>,
    },
    /// List past runs from the journal (newest last), or show one run in detail.
    ///
    /// `vzrun runs RUN_ID` shows the run's steps, the changes it made and the undo actions it
    /// left pending; `--output json` prints the same as JSON.
    Runs {
        /// Show this run in detail.
        run_id: Option<String>,
        /// Only the N most recent runs.
        #[arg(long, value_name = "N")]
        last: Option<usize>,
        /// Only runs of this runbook (its name or path).
        #[arg(long, value_name = "NAME")]
        runbook: Option<String>,
        /// Only runs that did not end ok (failed, refused, interrupted, unfinished, ...).
        #[arg(long)]
        failed: bool,
    },
    /// Run the undo actions a crashed run registered and never ran (those registered as
    /// `defer(what, "function", [args])`), and nothing else.
    Abort {
        /// The run, as `vzrun runs` lists it.
        run_id: String,
    },
    /// Run a failed or interrupted run's runbook again with the same arguments, skipping
    /// the steps that completed.
    Resume {
        /// The run, as `vzrun runs` lists it.
        run_id: String,
    },
    /// Write the primitive reference and the runbook catalog into the book.
    Doc {
        /// The book's source directory.
        #[arg(long, default_value = "book/src")]
        dir: PathBuf,
        /// Only compare: exit 1 when a generated page is missing or stale.
        #[arg(long)]
        check: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) of vzrun.
    Man,
    /// Act as a lab tool (prlctl, vstorage, ...) over a shared state file; for SSH tests.
    ///
    /// Reads $VZRUN_LAB_STATE (state file), $VZRUN_LAB_HOST (which lab host this is) and
    /// optionally $VZRUN_LAB_SCENARIO. Also runs when vzrun is called as one of the tools.
    #[command(hide = true)]
    LabShim {
        /// The tool and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        argv: Vec<String>,
    },
    #[command(external_subcommand)]
    Run(Vec<OsString>),
}
