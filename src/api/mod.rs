//! The Rhai API: what runbooks can call.
//!
//! Each submodule is a rhai plugin module whose doc comments (with a Rhai example each) are
//! kept in the engine's metadata; `vzrun doc` renders the reference from them. The functions
//! are thin: they convert Rhai values, then call typed Rust code that goes through the Runner.

mod deadline;
mod export;
mod flow;
mod host;
mod options;
mod parallel;
mod run_info;

pub use host::output_to_map;
pub use options::OptionMap;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rhai::{Array, Dynamic, Engine, NativeCallContext};

use crate::cluster::Cluster;
use crate::failure::{Failure, FailureKind};
use crate::run::runner::Runner;

/// What the API functions need from the run; stored as the engine's default tag so plugin
/// functions (which cannot capture) can reach it through their call context.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub runner: Arc<Runner>,
    pub cluster: Arc<Cluster>,
    /// When resuming: how many more times each step name is to be skipped.
    pub steps_to_skip: Arc<Mutex<HashMap<String, usize>>>,
    /// Undo actions registered with `defer`, run at the end of the run (last first).
    pub deferred: Arc<Mutex<Vec<Deferred>>>,
}

/// An undo action and the script context to call it in.
#[derive(Debug)]
#[allow(deprecated)] // NativeCallContextStore is marked volatile, not deprecated.
pub struct Deferred {
    pub what: String,
    pub action: DeferredAction,
    pub context: rhai::NativeCallContextStore,
}

/// A closure (runs only at the end of this run), or a runbook function with plain
/// arguments (journaled, so `vzrun abort` can also run it after a crash).
#[derive(Debug)]
pub enum DeferredAction {
    Closure(rhai::FnPtr),
    Function { name: String, args: rhai::Array },
}

/// Runs the deferred actions, last registered first; a failing one is reported and the
/// others still run.
#[allow(deprecated)] // from_stored_data is marked volatile, not deprecated.
pub fn run_deferred(engine: &Engine, run: &RunContext) {
    let actions: Vec<Deferred> =
        std::mem::take(&mut *run.deferred.lock().unwrap_or_else(|p| p.into_inner()));
    for d in actions.into_iter().rev() {
        let ctx = NativeCallContext::from_stored_data(engine, &d.context);
        let result = match &d.action {
            DeferredAction::Closure(f) => f.call_within_context::<Dynamic>(&ctx, ()),
            DeferredAction::Function { name, args } => ctx.call_fn::<Dynamic>(name, args.clone()),
        };
        let state = match result {
            Ok(_) => "done".to_string(),
            Err(e) => format!("FAILED: {}", crate::engine::describe(&e, "").0),
        };
        run.runner.emit(crate::run::event::Event::Deferred {
            what: d.what,
            state,
            function: None,
            args: None,
        });
    }
}

impl RunContext {
    /// The run context of the current call. An engine built only to compile (`vzrun check`)
    /// has none, and never calls API functions.
    pub fn of(ctx: &NativeCallContext) -> Result<RunContext, Failure> {
        ctx.tag()
            .and_then(|tag| tag.read_lock::<RunContext>().map(|c| c.clone()))
            .ok_or_else(|| Failure::failed("this engine has no run context (compile-only)"))
    }
}

/// Registers the types and functions of the whole API.
pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<crate::cluster::host::Host>("Host");
    engine.register_type_with_name::<Failure>("Failure");
    engine.register_type_with_name::<RunContext>("RunContext");
    engine.register_global_module(rhai::exported_module!(host::host_api).into());
    engine.register_global_module(rhai::exported_module!(flow::flow_api).into());
    engine.register_global_module(rhai::exported_module!(failure_api).into());
    engine.register_global_module(rhai::exported_module!(parallel::parallel_api).into());
    engine.register_global_module(rhai::exported_module!(deadline::deadline_api).into());
    engine.register_global_module(rhai::exported_module!(export::export_api).into());
    engine.register_global_module(rhai::exported_module!(run_info::run_info_api).into());
    crate::primitives::register(engine);
}

/// Converts a Rhai array of strings (numbers are accepted and printed) into an argv.
pub fn strings_from_array(array: &Array, what: &str) -> Result<Vec<String>, Failure> {
    array
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if item.is_string() || item.is_int() || item.is_float() || item.is_bool() {
                Ok(item.to_string())
            } else {
                Err(Failure::bad_input(
                    &format!("{what}[{i}]"),
                    format!("expected a string, got {}", item.type_name()),
                ))
            }
        })
        .collect()
}

/// Seconds given as an int or a float.
pub fn seconds(value: &Dynamic, what: &str) -> Result<std::time::Duration, Failure> {
    let secs = if let Some(i) = value.clone().try_cast::<i64>() {
        i as f64
    } else if let Some(f) = value.clone().try_cast::<f64>() {
        f
    } else {
        return Err(Failure::bad_input(
            what,
            format!("expected seconds as a number, got {}", value.type_name()),
        ));
    };
    if !(0.0..=31_536_000.0).contains(&secs) {
        return Err(Failure::bad_input(
            what,
            format!("{secs} seconds is out of range"),
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// A failure raised by the runtime: what a `catch (e)` block receives.
#[rhai::plugin::export_module]
mod failure_api {
    use super::{Failure, FailureKind};

    /// Why the operation failed: `failed`, `bad_input`, `refused`, `lock_held`, `timed_out`
    /// or `interrupted`.
    ///
    /// ```rhai
    /// try { h.run(["false"]); } catch (e) { if e.kind == "failed" { warn(e.message); } }
    /// ```
    #[rhai_fn(get = "kind", pure)]
    pub fn kind(failure: &mut Failure) -> String {
        failure.kind.as_str().to_string()
    }

    /// The message for the operator, naming the host, command and stderr where there are.
    #[rhai_fn(get = "message", pure)]
    pub fn message(failure: &mut Failure) -> String {
        failure.message.clone()
    }

    #[rhai_fn(global, name = "to_string", pure)]
    pub fn to_string(failure: &mut Failure) -> String {
        failure.message.clone()
    }

    #[rhai_fn(global, name = "to_debug", pure)]
    pub fn to_debug(failure: &mut Failure) -> String {
        format!("Failure({}: {})", failure.kind.as_str(), failure.message)
    }

    /// Stops the run for bad input (exit code 2), naming the argument.
    ///
    /// ```rhai
    /// if ARGS.state != "on" && ARGS.state != "off" { bad_input("state", "expected on or off"); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn bad_input(argument: &str, problem: &str) -> Result<(), Box<rhai::EvalAltResult>> {
        Err(Failure::bad_input(argument, problem).into())
    }

    /// Stops the run as refused by a preflight check (exit code 3); nothing further runs.
    ///
    /// ```rhai
    /// if free < need { refuse(`only ${free} MB free, ${need} MB needed`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn refuse(message: &str) -> Result<(), Box<rhai::EvalAltResult>> {
        Err(Failure::new(FailureKind::Refused, message).into())
    }
}
