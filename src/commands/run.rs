//! `vzrun NAME [ARGS]`, `vzrun plan NAME [ARGS]` and `vzrun resume RUN_ID`: run a runbook
//! (or plan it). All three build a [`Job`] and hand it to [`execute`], the library's run.

use std::ffi::OsString;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::args::{bind_args, BindError};
use crate::cli::GlobalOpts;
use crate::exit;
use crate::runbook;
use crate::session::execute::{execute, Job};
use crate::session::RunError;

/// Runs the runbook named by `argv[0]` with the rest of `argv` as its arguments.
pub fn run(
    argv: &[OsString],
    before: &GlobalOpts,
    plan: bool,
    interrupted: Arc<AtomicBool>,
) -> i32 {
    // `--lab FILE.yaml NAME`: clap took FILE for the runbook; a scenario is never a runbook.
    let mut before = before.clone();
    let mut argv = argv;
    if let (Some(None), Some(first)) = (&before.lab, argv.first()) {
        let text = first.to_string_lossy();
        if text.ends_with(".yaml") || text.ends_with(".yml") {
            before.lab = Some(Some(std::path::PathBuf::from(first)));
            argv = &argv[1..];
        }
    }
    let before = &before;
    let Some(name) = argv.first() else {
        return super::report(RunError::new(
            exit::USAGE,
            "which runbook? `vzrun list` shows them",
        ));
    };
    let runbook = match runbook::resolve(&name.to_string_lossy()) {
        Ok((r, note)) => {
            if let Some(note) = note {
                eprintln!("note: {note}");
            }
            r
        }
        Err(e) => {
            return super::report(RunError::new(exit::USAGE, e.to_string()));
        }
    };
    let header = match runbook.header() {
        Ok(h) => h,
        Err(e) => {
            return super::report(RunError::new(exit::FAILED, e.to_string()));
        }
    };
    let bound = match bind_args(&runbook, &header, &argv[1..], before) {
        Ok(b) => b,
        Err(BindError::Usage(e)) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
        Err(BindError::Header(e)) => {
            return super::report(RunError::new(exit::FAILED, e.to_string()));
        }
    };
    let plan = plan || bound.global.dry_run;
    execute(
        Job {
            runbook,
            header,
            args: bound.map,
            args_json: bound.json,
            global: bound.global,
            plan,
            resume: None,
            undo: Vec::new(),
            cut_short: None,
            embedding: Default::default(),
        },
        interrupted,
    )
}
