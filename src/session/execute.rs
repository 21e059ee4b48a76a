//! One run of a runbook, from the options to the exit code: the journal, the target, the
//! engine, confirmation, the script, its undo actions and the final report. The command line
//! (`vzrun NAME`, `plan`, `resume`, `abort`) builds a [`Job`] and calls [`execute`].

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::cluster::Cluster;
use crate::engine::Primitives;
use crate::engine::{self, Limits};
use crate::exit;
use crate::run::context::RunContext;
use crate::run::event::Event;
use crate::run::journal::{self, Journal};
use crate::run::options::RunOptions;
use crate::run::output::{printable, stderr_line, Renderer, Verbosity};
use crate::run::runner::{Mode, Runner};
use crate::run::sink::{Confirm, EventSink};
use crate::runbook::{Header, ImportDir, Runbook};

use super::targets::{cluster_for, describe_target};

/// What to run and how.
pub struct Job {
    pub runbook: Runbook,
    pub header: Header,
    pub args: rhai::Map,
    pub args_json: serde_json::Value,
    pub global: RunOptions,
    pub plan: bool,
    pub resume: Option<Resume>,
    /// For `vzrun abort`: the undo calls to make instead of running the runbook.
    pub undo: Vec<UndoCall>,
    /// For `vzrun abort`: the changes the runs it takes back made, oldest first, each
    /// `{host, argv, finished, code}` (see `cut_short_changes()` in the API).
    pub cut_short: Option<Vec<serde_json::Value>>,
    /// What a program embedding vzrun replaces; the command line keeps the defaults.
    pub embedding: Embedding,
}

/// The parts of a run a program embedding vzrun replaces.
#[derive(Clone)]
pub struct Embedding {
    /// Where events go instead of the renderer the options describe.
    pub sink: Option<Arc<dyn EventSink>>,
    /// Who answers confirmations instead of the terminal.
    pub confirm: Option<Arc<dyn Confirm>>,
    /// The hosts to act on instead of the options' lab or inventory, with the target as the
    /// journal records it.
    pub cluster: Option<(Cluster, serde_json::Value)>,
    /// Which primitives the engine has.
    pub primitives: Primitives,
    /// Write errors and hints to stderr (the command line); a library leaves them to the
    /// sink (the `run_finished` event carries the error).
    pub stderr: bool,
}

impl Default for Embedding {
    fn default() -> Self {
        Embedding {
            sink: None,
            confirm: None,
            cluster: None,
            primitives: Primitives::default(),
            stderr: true,
        }
    }
}

/// A journaled `defer(what, "function", [args])` that never ran.
pub struct UndoCall {
    pub what: String,
    pub function: String,
    pub args: rhai::Array,
}

/// A resumed run: which run, and how many times each step name completed there.
pub struct Resume {
    pub from: String,
    pub completed_steps: HashMap<String, usize>,
}

/// Where a runbook came from, so a resume finds the same one: `builtin:NAME` or a path.
pub fn location(runbook: &Runbook) -> String {
    match &runbook.import_dir {
        ImportDir::BuiltIn => format!("builtin:{}", runbook.name),
        ImportDir::Disk(_) => std::fs::canonicalize(&runbook.display_path)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| runbook.display_path.clone()),
    }
}

/// Calls the runbook's undo functions (last registered first) without running its top level.
fn run_undo_calls(
    engine: &rhai::Engine,
    scope: &mut rhai::Scope,
    ast: &rhai::AST,
    runner: &Runner,
    undo: Vec<UndoCall>,
) -> Result<(), (String, i32)> {
    let mut failed = Vec::new();
    for call in undo.into_iter().rev() {
        let options = rhai::CallFnOptions::new()
            .eval_ast(false)
            .rewind_scope(true);
        let result = engine.call_fn_with_options::<rhai::Dynamic>(
            options,
            scope,
            ast,
            &call.function,
            call.args,
        );
        let state = match result {
            Ok(_) => "done".to_string(),
            Err(e) => {
                let (message, _) = engine::describe(&e, "");
                failed.push(format!("{}: {message}", call.what));
                format!("FAILED: {message}")
            }
        };
        runner.emit(Event::Deferred {
            what: call.what,
            state,
            function: Some(call.function),
            args: None,
        });
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err((
            format!(
                "{} undo action(s) failed:\n  {}",
                failed.len(),
                failed.join("\n  ")
            ),
            exit::FAILED,
        ))
    }
}

/// Exit codes after which part of the run may have happened: the operator needs the run id.
/// (2 and 3 promise that nothing changed.)
fn may_have_changed(code: i32) -> bool {
    matches!(
        code,
        exit::FAILED | exit::LOCK_HELD | exit::TIMED_OUT | exit::INTERRUPTED
    )
}

fn status_word(code: i32) -> &'static str {
    match code {
        exit::OK => "ok",
        exit::REFUSED => "refused",
        exit::LOCK_HELD => "lock_held",
        exit::TIMED_OUT => "timed_out",
        exit::INTERRUPTED => "interrupted",
        _ => "failed",
    }
}

pub fn execute(job: Job, interrupted: Arc<AtomicBool>) -> i32 {
    let Job {
        runbook,
        header,
        args,
        args_json,
        global,
        plan,
        resume,
        undo,
        cut_short,
        embedding,
    } = job;
    let stderr = embedding.stderr;
    let aborting = !undo.is_empty();
    let started = std::time::Instant::now();
    let sink: Arc<dyn EventSink> = match embedding.sink {
        Some(sink) => sink,
        None => Arc::new(Renderer::new(
            global.output.unwrap_or_default(),
            Verbosity {
                quiet: global.quiet,
                verbose: global.verbose,
            },
        )),
    };
    let run_id = journal::new_run_id();
    let journal = match Journal::for_run(&run_id) {
        Ok(j) => Some(j),
        // A plan changes nothing: it may run without a record.
        Err(e) if plan => {
            if stderr {
                eprintln!("warning: planning without a journal: {e:#}");
            }
            None
        }
        // Resume and abort depend on the journal: no change runs unrecorded.
        Err(e) => {
            if stderr {
                eprintln!(
                    "error: {e:#}; nothing was changed (VZRUN_STATE_DIR sets where runs are journaled)"
                );
            }
            return exit::FAILED;
        }
    };
    let chosen = match embedding.cluster {
        Some((cluster, target)) => Ok((target, cluster)),
        None => describe_target(&global)
            .and_then(|target| cluster_for(&global).map(|cluster| (target, cluster))),
    };
    let (target, cluster) = match chosen {
        Ok((target, cluster)) => (target, Arc::new(cluster)),
        Err(e) => {
            if stderr {
                eprintln!("error: {e}");
            }
            return e.code();
        }
    };
    let mode = if plan { Mode::Plan } else { Mode::Apply };
    let holder = crate::transport::lock::holder_text(&run_id, &runbook.name);
    let lock_wait = std::time::Duration::from_secs(global.lock_wait.unwrap_or(0));
    let mut runner = Runner::new(mode, global.yes, sink, journal, interrupted.clone())
        .with_locking(holder, lock_wait);
    if let Some(confirm) = embedding.confirm {
        runner = runner.with_confirm(confirm);
    }
    let runner = Arc::new(runner);
    runner.emit(Event::RunStarted {
        run_id: run_id.clone(),
        runbook: runbook.display_path.clone(),
        location: location(&runbook),
        runbook_sha256: runbook.sha256(),
        plan,
        args: args_json,
        resumed_from: resume.as_ref().map(|r| r.from.clone()),
        pid: std::process::id(),
        target,
    });

    let context = RunContext {
        runner: runner.clone(),
        cluster: cluster.clone(),
        steps_to_skip: Arc::new(Mutex::new(
            resume.map(|r| r.completed_steps).unwrap_or_default(),
        )),
        deferred: Arc::default(),
        cut_short: cut_short.map(Arc::new),
    };
    let limits = Limits {
        max_operations: global
            .max_operations
            .unwrap_or(engine::DEFAULT_MAX_OPERATIONS),
        ..Limits::default()
    };
    let engine = engine::build_with(
        Some(context.clone()),
        Some(runbook.import_dir.clone()),
        limits,
        interrupted.clone(),
        &embedding.primitives,
    );
    let mut scope = engine::runbook_scope(args, cluster.name(), plan);

    let outcome: Result<(), (String, i32)> = (|| {
        // A destructive runbook that asks itself (with the facts, after its checks) is not
        // asked a second, vaguer question before its checks have run.
        let asks_itself = runbook.source.contains("confirm(");
        if header.destructive && !aborting && !asks_itself {
            runner
                .confirm(&format!(
                    "{}: {}. Go ahead?",
                    runbook.name,
                    header.summary.trim_end_matches('.')
                ))
                .map_err(|f| (f.message.clone(), f.kind.exit_code()))?;
        }
        let mut ast = engine
            .compile_with_scope(&scope, &runbook.source)
            .map_err(|e| {
                (
                    engine::describe_parse(&e, &runbook.display_path),
                    exit::FAILED,
                )
            })?;
        ast.set_source(runbook.display_path.clone());
        engine::refuse_args_assignment(&ast, &runbook.display_path)
            .map_err(|message| (message, exit::FAILED))?;
        if !aborting {
            // Not for an abort: what a killed run left must still be taken back.
            let finder = engine::SandboxResolver::new(Some(runbook.import_dir.clone()));
            engine::refuse_name_clashes(&engine, &finder, &runbook.display_path, &ast)
                .map_err(|message| (format!("{message} (nothing was run)"), exit::USAGE))?;
        }
        if aborting {
            return run_undo_calls(&engine, &mut scope, &ast, &runner, undo);
        }
        match catch_unwind(AssertUnwindSafe(|| {
            engine.run_ast_with_scope(&mut scope, &ast)
        })) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(engine::describe(&err, &runbook.display_path)),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Err((
                    format!("internal error in vzrun (please report): {what}"),
                    exit::FAILED,
                ))
            }
        }
    })();

    // Deferred undo actions run whatever happened; a first Ctrl-C must not stop them.
    interrupted.store(false, Ordering::SeqCst);
    // Nor the operation limit or the memory guard that stopped the script (they ran out in
    // the script; the undo actions count from where they were registered).
    runner.clear_script_stop();
    // Nor a question not answered yes (which stops further changes of the script): the run
    // still ends refused.
    let declined = runner.take_declined();
    let undo_failed = crate::api::run_deferred(&engine, &context);
    // What the run changed for a while is still changed: it did not end ok.
    let outcome = match outcome {
        Ok(()) if !undo_failed.is_empty() => Err((
            format!(
                "{} undo action(s) failed, so what they put back is still changed:\n  {}\nvzrun abort {run_id} runs them again",
                undo_failed.len(),
                undo_failed.join("\n  ")
            ),
            exit::FAILED,
        )),
        other => other,
    };

    let (code, error) = match (outcome, runner.lock_conflict()) {
        // A conflict the script caught (or a loop swallowed) still ends the run in exit 4.
        (Ok(()), Some(conflict)) => (exit::LOCK_HELD, Some(conflict)),
        (Err((message, code)), Some(_)) if code != exit::INTERRUPTED => {
            (exit::LOCK_HELD, Some(message))
        }
        (Ok(()), None) => match (runner.journal_error(), declined) {
            (Some(why), _) => (exit::FAILED, Some(why)),
            // A refused confirmation the script caught still ends the run refused.
            (None, Some(question)) => (exit::REFUSED, Some(question)),
            (None, None) => (exit::OK, None),
        },
        (Err((message, code)), _) => (code, Some(message)),
    };
    if let Some(message) = error.as_ref().filter(|_| stderr) {
        stderr_line(&format!("error: {}", printable(message)));
    }
    if plan && code == exit::OK {
        runner.log(format!(
            "plan: {} change(s) listed; nothing was changed",
            runner.planned_changes()
        ));
    }
    let journaled = runner.has_journal();
    runner.emit(Event::RunFinished {
        status: status_word(code).to_string(),
        exit_code: code,
        error,
        seconds: started.elapsed().as_secs_f64(),
    });
    runner.release_locks();
    if stderr && journaled && !plan && !aborting && may_have_changed(code) {
        stderr_line(&format!(
            "to finish it (completed steps are skipped): vzrun resume {run_id}\nto run the undo actions it left instead:      vzrun abort {run_id}"
        ));
    }
    code
}
