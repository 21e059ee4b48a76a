//! The Rhai API: what runbooks can call.
//!
//! Each submodule is a rhai plugin module whose doc comments (with a Rhai example each) are
//! kept in the engine's metadata; `vzrun doc` renders the reference from them. The functions
//! are thin: they convert Rhai values, then call typed Rust code that goes through the Runner.

mod deadline;
mod errors;
mod export;
mod flow;
mod host;
mod parallel;
mod run_info;

pub use crate::primitives::{output_to_map, seconds, strings_from_array, OptionMap};
pub use crate::run::context::{Deferred, DeferredAction, RunContext};
pub use errors::{describe, describe_parse, set_function_explainer};

use rhai::{Dynamic, Engine, NativeCallContext};

use crate::failure::{Failure, FailureKind};

/// Runs the deferred actions, last registered first; a failing one is reported and the
/// others still run. Returns what failed (`what: why` for each): the run did not put back
/// what it changed, so it must not end ok, and `vzrun abort` runs those again.
#[allow(deprecated)] // from_stored_data is marked volatile, not deprecated.
pub fn run_deferred(engine: &Engine, run: &RunContext) -> Vec<String> {
    let mut failed = Vec::new();
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
            Err(e) => {
                let why = describe(&e, "").0;
                failed.push(format!("{}: {why}", d.what));
                format!("FAILED: {why}")
            }
        };
        run.runner.emit(crate::run::event::Event::Deferred {
            what: d.what,
            state,
            function: None,
            args: None,
        });
    }
    failed
}

/// Registers the types and functions of the script API (the primitives are registered
/// beside it, by the engine: see [`crate::primitives::register`]).
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
