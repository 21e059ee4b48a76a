//! The command line: global options and the built-in subcommands. Anything else is the name
//! (or path) of a runbook, whose own arguments come from its header.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// Run the undo actions a crashed run registered and never ran, or that failed (those
    /// registered as `defer(what, "function", [args])`), and nothing else; with none, name
    /// the changes the run made that nothing takes back. A resumed run's abort runs too those
    /// the runs it resumes left pending.
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
    /// Work with the inventory: `vzrun inventory discover` prints the one a cluster knows.
    Inventory {
        #[command(subcommand)]
        action: InventoryAction,
    },
    /// Lab tools: `vzrun lab capture` writes a scenario from a real cluster (`--inventory`)
    /// or a lab (`--lab`).
    Lab(crate::rehearse::LabArgs),
    /// Run a runbook many times on copies of the lab under random faults, and check that
    /// it never breaks the cluster's invariants (see the book's "Rehearse before you run").
    Rehearse(crate::rehearse::RehearseArgs),
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

#[derive(Debug, Subcommand)]
pub enum InventoryAction {
    /// Print the inventory of a cluster, read from the cluster's own tables, to review.
    ///
    /// Reads the cluster name from /etc/vstorage/clusters/, the MDS, CS and client hosts from
    /// `vstorage -c CLUSTER stat`, and names each host with `getent hosts` on the node. Tags:
    /// mds (runs an MDS), storage (runs a CS), hypervisor (mounts the cluster). Hosts that
    /// cannot be named are listed as comments. Runs on this machine, on `--from HOST` over SSH,
    /// or on a lab host with `--lab`. Prints the YAML; `-o FILE` writes it to a new file.
    Discover(DiscoverArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DiscoverArgs {
    /// Read the tables on HOST over SSH (with --lab: on this lab host); default: this machine.
    #[arg(long, value_name = "HOST")]
    pub from: Option<String>,
    /// The cluster to read, when the node belongs to several.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// Write the inventory to FILE, which must not exist yet (default: print it).
    #[arg(short = 'o', long = "to", value_name = "FILE")]
    pub to: Option<PathBuf>,
    /// SSH user for --from (also written as the inventory's default).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// SSH port for --from (also written as the inventory's default).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// SSH private key for --from (also written as the inventory's default).
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Jump host(s) for --from, as ssh's -J (also written as the inventory's default).
    #[arg(long, value_name = "HOST")]
    pub jump: Option<String>,
    /// Run the commands on --from through `sudo -n` (also written as the inventory's default).
    #[arg(long)]
    pub sudo: bool,
    /// With --sudo: run them as this user (`sudo -u`) instead of root.
    #[arg(long, value_name = "USER", requires = "sudo")]
    pub sudo_user: Option<String>,
    /// known_hosts file for --from instead of ~/.ssh/known_hosts.
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// ssh config file for --from instead of ~/.ssh/config.
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
}
