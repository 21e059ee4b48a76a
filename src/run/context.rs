//! The per-run state the script API reaches through the engine's tag: the Runner, the
//! cluster, the steps a resume skips and the undo actions registered with `defer`.
//!
//! It lives with the run, not in the API, so the primitives (below the API) and the API
//! (which the engine registers) both read it without importing each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rhai::NativeCallContext;

use crate::cluster::Cluster;
use crate::failure::Failure;
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
    /// For `vzrun abort`: the changes of the runs it takes back (`cut_short_changes()`).
    pub cut_short: Option<Arc<Vec<serde_json::Value>>>,
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

impl RunContext {
    /// The run context of the current call. An engine built only to compile (`vzrun check`)
    /// has none, and never calls API functions.
    pub fn of(ctx: &NativeCallContext) -> Result<RunContext, Failure> {
        ctx.tag()
            .and_then(|tag| tag.read_lock::<RunContext>().map(|c| c.clone()))
            .ok_or_else(|| Failure::failed("this engine has no run context (compile-only)"))
    }
}
