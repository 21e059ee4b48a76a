//! The script engine: one `rhai::Engine`, sandboxed and bounded.
//!
//! Runbooks run against production clusters, so the engine is conservative: limits on
//! operations, call depth and sizes; no `eval`; no optimizer (rhai 1.27 panics assigning into
//! a constant map under `Simple`, and plans must reflect the script as written); strict
//! variables and map properties so typos fail at `vzrun check` or at the line, not later.

mod errors;
mod resolver;

pub use errors::{describe, describe_parse};
pub use resolver::SandboxResolver;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rhai::{Dynamic, Engine, OptimizationLevel, Scope};

use crate::api::{self, RunContext};
use crate::runbook::ImportDir;

/// Default for `--max-operations`: far above any real runbook, low enough to stop an
/// endless loop within seconds.
pub const DEFAULT_MAX_OPERATIONS: u64 = 50_000_000;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_operations: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: DEFAULT_MAX_OPERATIONS,
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
    let mut engine = Engine::new();
    engine.set_optimization_level(OptimizationLevel::None);
    engine.set_max_operations(limits.max_operations);
    // Debug builds default to 8 levels, too few for helpers calling helpers.
    engine.set_max_call_levels(64);
    engine.set_max_expr_depths(128, 64);
    engine.set_max_string_size(16 << 20);
    engine.set_max_array_size(1_000_000);
    engine.set_max_map_size(100_000);
    engine.set_max_modules(128);
    engine.disable_symbol("eval");
    engine.set_strict_variables(true);
    engine.set_fail_on_invalid_map_property(true);
    let mut resolver = SandboxResolver::new(runbook_dir);
    if let Some(run) = &run {
        let runner = run.runner.clone();
        resolver = resolver.on_load(move |import, path, sha256| {
            runner.emit(crate::event::Event::ModuleLoaded {
                import: import.to_string(),
                path: path.to_string(),
                sha256: sha256.to_string(),
            })
        });
    }
    engine.set_module_resolver(resolver);
    engine.on_progress(move |_| {
        interrupted
            .load(Ordering::Relaxed)
            .then(|| Dynamic::from("interrupted"))
    });
    if let Some(run) = &run {
        let runner = run.runner.clone();
        engine.on_print(move |text| runner.log(text));
        let runner = run.runner.clone();
        engine.on_debug(move |text, _, _| runner.log(text));
    }
    api::register(&mut engine);
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
