//! The script engine: one `rhai::Engine`, sandboxed and bounded.
//!
//! Runbooks run against production clusters, so the engine is conservative: limits on
//! operations, call depth and sizes; no `eval`; no optimizer (rhai 1.27 panics assigning into
//! a constant map under `Simple`, and plans must reflect the script as written); strict
//! variables and map properties so typos fail at `vzrun check` or at the line, not later;
//! a number ordered against text or `()` fails at the line instead of answering false.
//!
//! The operation limit and the memory guard stop the script for good. rhai wraps an error
//! raised in a closure that an array method runs (`filter`, `map`, `some`, ...) in a
//! catchable `ErrorInFunctionCall`, even when the error inside (too many operations, the
//! guard's termination) is not catchable, and counts the closure's operations on a copy of
//! the counter: a `try { ... } catch { }` around it took the limit for an ordinary failure
//! and the script went on, to exit 0. So once either trips, the Runner remembers it and the
//! progress callback stops every further operation (as it does after Ctrl-C), until the
//! undo actions run.

mod name_clash;
mod resolver;
mod signatures;
mod strict_compare;

pub use crate::api::{describe, describe_parse};
pub use name_clash::check as refuse_name_clashes;
pub use name_clash::{
    check_with as refuse_name_clashes_with, compiled_module, native_names, NativeNames,
};
pub use resolver::{library_dirs, ImportDir, SandboxResolver, StdlibCache};
pub use signatures::rhai_type;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rhai::{Dynamic, Engine, OptimizationLevel, Scope};

use crate::api;
use crate::run::context::RunContext;

/// Default for `--max-operations`: far above any real runbook, low enough to stop an
/// endless loop within seconds.
pub const DEFAULT_MAX_OPERATIONS: u64 = 50_000_000;

/// Default memory a runbook's process may hold before the script is stopped
/// (`$VZRUN_MAX_MEMORY_MB` changes it): far above any real runbook (a 4000-VE evacuation
/// takes tens of MB).
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 2 << 30;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_operations: u64,
    /// The process's resident memory above which the script is stopped.
    pub max_memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        let max_memory_bytes = std::env::var("VZRUN_MAX_MEMORY_MB")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|mb| *mb > 0)
            .map_or(DEFAULT_MAX_MEMORY_BYTES, |mb| mb << 20);
        Limits {
            max_operations: DEFAULT_MAX_OPERATIONS,
            max_memory_bytes,
        }
    }
}

/// The resident set size of this process, from /proc/self/statm (pages × page size).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no failure mode for _SC_PAGESIZE on Linux.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * page.max(4096) as u64)
}

/// Registers script functions into an engine: a rhai `Package` an embedder adds.
pub type Extension = Arc<dyn Fn(&mut Engine) + Send + Sync>;

/// Which primitives an engine has: vzrun's own (unless left out) and the embedder's.
#[derive(Clone)]
pub struct Primitives {
    /// Register [`crate::primitives::VzPrimitives`].
    pub builtin: bool,
    /// Registered after the built-in ones, in order.
    pub extensions: Vec<Extension>,
}

impl Default for Primitives {
    fn default() -> Self {
        Primitives {
            builtin: true,
            extensions: Vec::new(),
        }
    }
}

/// An engine with the API registered. `run` is `None` for an engine that only compiles.
pub fn build(
    run: Option<RunContext>,
    runbook_dir: Option<ImportDir>,
    limits: Limits,
    interrupted: Arc<AtomicBool>,
) -> Engine {
    build_with(
        run,
        runbook_dir,
        limits,
        interrupted,
        &Primitives::default(),
    )
}

/// [`build`], with the primitives chosen.
pub fn build_with(
    run: Option<RunContext>,
    runbook_dir: Option<ImportDir>,
    limits: Limits,
    interrupted: Arc<AtomicBool>,
    primitives: &Primitives,
) -> Engine {
    let mut engine = Engine::new();
    engine.set_optimization_level(OptimizationLevel::None);
    engine.set_max_operations(limits.max_operations);
    // Debug builds default to 8 levels, too few for helpers calling helpers.
    engine.set_max_call_levels(64);
    engine.set_max_expr_depths(128, 64);
    // No string/array/map size limits: with any of them set, rhai re-measures a whole array
    // on every push, which made scripts quadratic (8000 pushed maps: 1.67 s with, 40 ms
    // without). A runaway script is still stopped, by the operation limit and by the memory
    // guard in `on_progress` below.
    engine.set_max_modules(128);
    engine.disable_symbol("eval");
    engine.set_strict_variables(true);
    engine.set_fail_on_invalid_map_property(true);
    // `"12" < 100` and `() >= 90` fail instead of answering false (see strict_compare).
    strict_compare::register(&mut engine);
    let mut resolver = SandboxResolver::new(runbook_dir);
    if let Some(run) = &run {
        let runner = run.runner.clone();
        resolver = resolver.on_load(move |import, path, sha256| {
            runner.emit(crate::run::event::Event::ModuleLoaded {
                import: import.to_string(),
                path: path.to_string(),
                sha256: sha256.to_string(),
            })
        });
    }
    engine.set_module_resolver(resolver);
    let memory_limit = limits.max_memory_bytes;
    let max_operations = limits.max_operations;
    // The operation limit and the memory guard stop the script for good (see `stops`).
    let stops = run.as_ref().map(|run| run.runner.clone());
    engine.on_progress(move |operations| {
        if interrupted.load(Ordering::Relaxed) {
            return Some(Dynamic::from("interrupted"));
        }
        if let Some(token) = stops.as_ref().and_then(|runner| runner.script_stopped()) {
            return Some(token);
        }
        // The last operation rhai allows: it raises ErrorTooManyOperations at the next one.
        if max_operations > 0 && operations >= max_operations {
            if let Some(runner) = &stops {
                runner.stop_script(Dynamic::from(crate::failure::OperationLimit));
            }
        }
        // Reading /proc/self/statm costs microseconds: every 65536 operations is enough to
        // stop a runaway loop long before it takes the machine's memory.
        if operations % 65_536 == 0 {
            if let Some(rss) = resident_bytes().filter(|rss| *rss > memory_limit) {
                let token = Dynamic::from(crate::failure::MemoryExceeded {
                    used: rss,
                    limit: memory_limit,
                });
                if let Some(runner) = &stops {
                    runner.stop_script(token.clone());
                }
                return Some(token);
            }
        }
        None
    });
    if let Some(run) = &run {
        let runner = run.runner.clone();
        // print() is data, not narration: its own event, shown whatever `-q` says.
        engine.on_print(move |text| {
            runner.emit(crate::run::event::Event::Log {
                message: text.to_string(),
                data: true,
            })
        });
        let runner = run.runner.clone();
        engine.on_debug(move |text, _, _| runner.log(text));
    }
    api::set_function_explainer(signatures::explain_not_found);
    api::register(&mut engine);
    if primitives.builtin {
        use rhai::packages::Package;
        crate::primitives::VzPrimitives::new().register_into_engine(&mut engine);
    }
    for extension in &primitives.extensions {
        extension(&mut engine);
    }
    if let Some(run) = run {
        engine.set_default_tag(Dynamic::from(run));
    }
    engine
}

/// The variables every runbook sees: `ARGS` (read-only), `CLUSTER`, `DRY_RUN`.
pub fn runbook_scope(args: rhai::Map, cluster: &str, dry_run: bool) -> Scope<'static> {
    let mut scope = Scope::new();
    scope.push_constant("ARGS", args);
    scope.push_constant("CLUSTER", cluster.to_string());
    scope.push_constant("DRY_RUN", dry_run);
    scope
}

/// Refuses assignments into `ARGS` (`ARGS.x = 1`, `ARGS["x"] = 1`): the script sees the
/// arguments the operator gave and nothing else. rhai 1.27 refuses `ARGS = ...` and mutating
/// methods on the constant, but lets a property or index assignment through, so the AST is
/// checked before the script runs.
pub fn refuse_args_assignment(ast: &rhai::AST, display: &str) -> Result<(), String> {
    use rhai::{ASTNode, Expr, Stmt};
    /// The variable an assignment target starts from (`ARGS` in `ARGS.a["b"]`).
    fn root(expr: &Expr) -> Option<(&str, rhai::Position)> {
        match expr {
            Expr::Dot(x, ..) | Expr::Index(x, ..) => root(&x.lhs),
            Expr::Variable(x, ..) if x.2.is_empty() => Some((x.1.as_str(), expr.position())),
            _ => None,
        }
    }
    let mut found = None;
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Assignment(x))) = path.last() {
            if let Some(("ARGS", pos)) = root(&x.1.lhs) {
                found = Some(pos);
                return false;
            }
        }
        true
    });
    match found {
        Some(pos) => Err(format!(
            "{display}:{}:{}: cannot assign to ARGS: it is read-only (copy it: `let args = ARGS;`)",
            pos.line().unwrap_or(0),
            pos.position().unwrap_or(0)
        )),
        None => Ok(()),
    }
}
