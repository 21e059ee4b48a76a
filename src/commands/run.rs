//! `vzrun NAME [ARGS]`, `vzrun plan NAME [ARGS]`: run a runbook (or plan it).

use std::ffi::OsString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::api::RunContext;
use crate::cli::GlobalOpts;
use crate::cluster::Cluster;
use crate::engine::{self, Limits};
use crate::event::Event;
use crate::exit;
use crate::host::Host;
use crate::inventory::Inventory;
use crate::journal::{self, Journal};
use crate::lab::{self, Lab};
use crate::output::{Renderer, Verbosity};
use crate::runbook::{self, BindError};
use crate::runner::{Mode, Runner};
use crate::transport::Ssh;

/// The hosts this run may touch: the lab's, or (until an inventory is given) only `local()`.
fn cluster_for(global: &GlobalOpts) -> Result<Cluster, (String, i32)> {
    let lab_wanted =
        global.lab.is_some() || global.lab_state.is_some() || global.lab_speed.is_some();
    if !lab_wanted {
        return match Inventory::locate(global.inventory.as_deref()) {
            None => Ok(Cluster::local_only()),
            Some(path) => {
                let inventory = Inventory::load(&path)
                    .map_err(|e| (format!("bad inventory: {e}"), exit::USAGE))?;
                inventory_cluster(&inventory, global.accept_new_hosts)
            }
        };
    }
    if let Some(speed) = global.lab_speed {
        if !(0.0..=100.0).contains(&speed) {
            return Err((
                format!("invalid --lab-speed {speed}: expected 0 to 100"),
                exit::USAGE,
            ));
        }
    }
    let scenario = match global.lab.clone().flatten() {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                (
                    format!("cannot read lab scenario {}: {e}", path.display()),
                    exit::USAGE,
                )
            })?;
            lab::load(&text, &path.display().to_string())
        }
        None => lab::load(lab::DEFAULT_SCENARIO, "the default lab scenario"),
    }
    .map_err(|e| (format!("bad lab scenario: {e}"), exit::USAGE))?;
    let lab = match &global.lab_state {
        Some(path) => Lab::with_state_file(path.clone(), scenario, global.lab_speed),
        None => Lab::in_memory(scenario, global.lab_speed),
    };
    lab.cluster().map_err(|e| (e.to_string(), exit::FAILED))
}

/// One Ssh host per inventory entry, sharing one async runtime.
fn inventory_cluster(inventory: &Inventory, accept_new: bool) -> Result<Cluster, (String, i32)> {
    let runtime =
        Ssh::runtime().map_err(|e| (format!("cannot start the SSH runtime: {e}"), exit::FAILED))?;
    let hosts = inventory
        .hosts
        .iter()
        .map(|h| {
            let settings = h.ssh.or(&inventory.defaults);
            let transport = Ssh::new(&h.name, &h.address, settings, accept_new, runtime.clone());
            Host::new(
                h.name.clone(),
                h.address.clone(),
                h.tags.clone(),
                Arc::new(transport),
            )
        })
        .collect();
    Ok(Cluster::new(
        inventory.cluster.clone(),
        hosts,
        crate::cluster::local_host(),
    ))
}

/// Runs the runbook named by `argv[0]` with the rest of `argv` as its arguments.
pub fn run(
    argv: &[OsString],
    before: &GlobalOpts,
    plan: bool,
    interrupted: Arc<AtomicBool>,
) -> i32 {
    let Some(name) = argv.first() else {
        eprintln!("error: which runbook? `vzrun list` shows them");
        return exit::USAGE;
    };
    let name = name.to_string_lossy();
    let runbook = match runbook::find(&name) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let header = match runbook.header() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILED;
        }
    };
    let bound = match runbook::bind_args(&runbook, &header, &argv[1..], before) {
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
            eprintln!("error: {e}");
            return exit::FAILED;
        }
    };
    let global = bound.global;
    let plan = plan || global.dry_run;
    let renderer = Renderer::new(
        global.output.unwrap_or_default(),
        Verbosity {
            quiet: global.quiet,
            verbose: global.verbose,
        },
    );
    let run_id = journal::new_run_id();
    let journal = match Journal::create(&run_id) {
        Ok(j) => Some(j),
        Err(e) => {
            eprintln!("warning: running without a journal: {e:#}");
            None
        }
    };
    let cluster = match cluster_for(&global) {
        Ok(c) => Arc::new(c),
        Err((message, code)) => {
            eprintln!("error: {message}");
            return code;
        }
    };
    let mode = if plan { Mode::Plan } else { Mode::Apply };
    let holder = crate::lock::holder_text(&run_id, &runbook.name);
    let lock_wait = std::time::Duration::from_secs(global.lock_wait.unwrap_or(0));
    let runner = Arc::new(
        Runner::new(mode, global.yes, renderer, journal, interrupted.clone())
            .with_locking(holder, lock_wait),
    );
    runner.emit(Event::RunStarted {
        run_id: run_id.clone(),
        runbook: runbook.display_path.clone(),
        runbook_sha256: runbook.sha256(),
        plan,
        args: bound.json.clone(),
    });

    let context = RunContext {
        runner: runner.clone(),
        cluster: cluster.clone(),
    };
    let limits = Limits {
        max_operations: global
            .max_operations
            .unwrap_or(engine::DEFAULT_MAX_OPERATIONS),
    };
    let engine = engine::build(
        Some(context),
        Some(runbook.import_dir.clone()),
        limits,
        interrupted,
    );
    let mut scope = engine::runbook_scope(bound.map, cluster.name(), plan);

    let outcome: Result<(), (String, i32)> = (|| {
        if header.destructive {
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

    let (status, code, error) = match outcome {
        Ok(()) => ("ok", exit::OK, None),
        Err((message, code)) => {
            let status = match code {
                exit::REFUSED => "refused",
                exit::LOCK_HELD => "lock_held",
                exit::TIMED_OUT => "timed_out",
                exit::INTERRUPTED => "interrupted",
                _ => "failed",
            };
            (status, code, Some(message))
        }
    };
    if let Some(message) = &error {
        eprintln!("error: {message}");
    }
    if plan && code == exit::OK {
        runner.log(format!(
            "plan: {} change(s) listed; nothing was changed",
            runner.planned_changes()
        ));
    }
    runner.emit(Event::RunFinished {
        status: status.to_string(),
        exit_code: code,
        error,
    });
    runner.release_locks();
    code
}
