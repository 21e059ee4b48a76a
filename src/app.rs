//! Dispatch from the parsed command line to a subcommand.

use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::commands;
use crate::exit;

/// First Ctrl-C: stop at the next safe point. Second: abort at once. SIGTERM and SIGHUP (a
/// `kill`, a closed SSH session to the operator's shell) are handled the same way, so the
/// run's undo actions still run (ctrlc's `termination` feature).
fn install_interrupt_handler() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let seen = flag.clone();
    let _ = ctrlc::set_handler(move || {
        if seen.swap(true, Ordering::SeqCst) {
            std::process::exit(exit::INTERRUPTED);
        }
        eprintln!("\nstopping at the next safe point (Ctrl-C again to abort at once)");
    });
    flag
}

/// The command line as shells complete it: the built-in commands (without the internal
/// `lab-shim`) and every runbook of the catalog and `$VZRUN_PATH` with its own options.
fn completion_command() -> clap::Command {
    let cli = Cli::command();
    let builtin: Vec<String> = cli
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    let mut command = clap::Command::new("vzrun")
        .args(cli.get_arguments().cloned().collect::<Vec<_>>())
        .subcommands(
            cli.get_subcommands()
                .filter(|s| !s.is_hide_set())
                .cloned()
                .collect::<Vec<_>>(),
        );
    for runbook in crate::runbook::list_all() {
        if builtin.contains(&runbook.name) {
            continue;
        }
        let Ok(header) = runbook.header() else {
            continue;
        };
        if let Ok(sub) = crate::commands::args::command_for(&runbook, &header) {
            command = command.subcommand(sub);
        }
    }
    command
}

/// Runs vzrun with these arguments (the first is the program name) and returns the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    let program = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if crate::lab::shim::TOOLS.contains(&program.as_str()) {
        let mut argv = vec![program];
        argv.extend(args[1..].iter().map(|a| a.to_string_lossy().into_owned()));
        return crate::lab::shim::run(&argv);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    let Some(command) = cli.command else {
        let _ = Cli::command().print_help();
        return exit::USAGE;
    };
    match command {
        Command::List => commands::list::run(cli.global.output.unwrap_or_default()),
        Command::Check { paths } => {
            commands::check::run(&paths, cli.global.output.unwrap_or_default())
        }
        Command::Runs {
            run_id,
            last,
            runbook,
            failed,
        } => commands::runs::run(
            &commands::runs::Filter {
                run_id,
                last,
                runbook,
                failed,
            },
            cli.global.output.unwrap_or_default(),
        ),
        Command::Abort { run_id } => {
            commands::abort::run(&run_id, &cli.global, install_interrupt_handler())
        }
        Command::Resume { run_id } => {
            commands::resume::run(&run_id, &cli.global, install_interrupt_handler())
        }
        Command::Inventory {
            action: crate::cli::InventoryAction::Discover(args),
        } => commands::discover::run(&args, &cli.global),
        Command::Lab(args) => crate::rehearse::lab_command(&args, &cli.global),
        Command::Rehearse(args) => crate::rehearse::rehearse_command(&args, &cli.global),
        Command::Doc { dir, check } => commands::doc::run(&dir, check),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut completion_command(),
                "vzrun",
                &mut std::io::stdout(),
            );
            exit::OK
        }
        Command::Man => {
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => exit::OK,
                Err(e) => {
                    commands::report(crate::session::RunError::new(exit::FAILED, e.to_string()))
                }
            }
        }
        Command::LabShim { argv } => crate::lab::shim::run(&argv),
        Command::Plan { runbook } => {
            commands::run::run(&runbook, &cli.global, true, install_interrupt_handler())
        }
        Command::Run(argv) => {
            commands::run::run(&argv, &cli.global, false, install_interrupt_handler())
        }
    }
}
