//! `parallel(items, limit, |item| ...)`: the same action over many items (hosts, VEs) with at
//! most `limit` at once, on threads.
//!
//! Each worker rebuilds the caller's context (functions, imports, the run) from stored data,
//! so the closure behaves as if called in place. A failure does not stop the other items:
//! every failure is collected and reported together once all items ran.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use rhai::plugin::*;
use rhai::{Array, FnPtr};

use crate::failure::{ApiResult, Failure, FailureKind};
use crate::run::event::Event;

use super::RunContext;

const MAX_PARALLEL: i64 = 256;

/// One item's outcome, filled in by whichever worker ran it.
type Slot = Mutex<Option<Result<Dynamic, Box<EvalAltResult>>>>;

/// A short name for an item in progress lines: a host's or a map's `name` (or that of the
/// first map it holds), else its text.
fn label(item: &Dynamic) -> String {
    if let Some(host) = item.read_lock::<crate::cluster::host::Host>() {
        return host.name().to_string();
    }
    if let Some(map) = item.read_lock::<rhai::Map>() {
        if let Some(name) = map.get("name") {
            return name.to_string();
        }
        // A plan entry such as #{ve: #{name: ..}, to: host}: name it by what it holds.
        if let Some(inner) = map.values().find(|v| v.is_map()) {
            return label(inner);
        }
    }
    item.to_string()
}

/// The action with each host it captured as a value of its own.
///
/// rhai shares a variable that a closure captures (the closure's curried arguments), and
/// holds a shared value's write lock for the whole of a method call on it: branches calling
/// `h.query(...)` or `h.run(...)` on a captured `h` at once each waited 50 ms for the lock,
/// then failed ("Data race detected"): one item ran, the others failed, the change half
/// made. A host is a read-only handle, so each branch gets a copy, which behaves the same.
/// Other captured values stay shared: a branch may push to a captured array for the caller
/// to read (a method call on one of those that lasts holds the others back the same way).
fn with_hosts_unshared(action: &FnPtr) -> FnPtr {
    let mut action = action.clone();
    let curry: Vec<Dynamic> = action
        .curry()
        .iter()
        .map(|value| {
            if value.is_shared() {
                let inner = value.clone().flatten();
                if inner.is::<crate::cluster::host::Host>() {
                    return inner;
                }
            }
            value.clone()
        })
        .collect();
    action.set_curry(curry);
    action
}

#[allow(deprecated)] // NativeCallContext::store_data/from_stored_data are marked volatile, not deprecated.
fn run_all(ctx: &NativeCallContext, items: Array, limit: i64, action: &FnPtr) -> ApiResult<Array> {
    let run = RunContext::of(ctx)?;
    if !(1..=MAX_PARALLEL).contains(&limit) {
        return Err(Failure::bad_input(
            "parallel limit",
            format!("{limit} is not within 1..={MAX_PARALLEL}"),
        )
        .into());
    }
    let total = items.len();
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
    run.runner.emit(Event::ParallelStarted { id, total });
    let action = &with_hosts_unshared(action);
    let store = ctx.store_data();
    let engine = ctx.engine();
    // Each branch runs under the caller's `within` deadline, if any.
    let deadline = crate::deadline::current();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Vec<Slot> = (0..total).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..(limit as usize).min(total) {
            scope.spawn(|| {
                crate::deadline::run_under(deadline, || loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= total {
                        break;
                    }
                    // After Ctrl-C, items not yet begun are left alone and said so: they did
                    // not fail, they never started.
                    let result = if run.runner.interrupted() {
                        None
                    } else {
                        let context = NativeCallContext::from_stored_data(engine, &store);
                        Some(action.call_within_context::<Dynamic>(&context, (items[i].clone(),)))
                    };
                    let outcome = Outcome::of(result.as_ref());
                    run.runner.emit(Event::ParallelItem {
                        id,
                        item: label(&items[i]),
                        done: done.fetch_add(1, Ordering::SeqCst) + 1,
                        total,
                        ok: outcome == Outcome::Done,
                        // In a plan nothing was done: the item was only planned.
                        outcome: if outcome == Outcome::Done && run.runner.is_plan() {
                            "planned".to_string()
                        } else {
                            outcome.word().to_string()
                        },
                    });
                    *results[i].lock().unwrap_or_else(|p| p.into_inner()) = result;
                })
            });
        }
    });
    let mut values = Array::with_capacity(total);
    let mut failures = Vec::new();
    let mut not_started = Vec::new();
    for (i, slot) in results.into_iter().enumerate() {
        match slot.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(Ok(v)) => values.push(v),
            Some(Err(e)) => {
                let failure = Failure::from_rhai(&e)
                    .unwrap_or_else(|| Failure::failed(super::describe(&e, "").0));
                failures.push((label(&items[i]), failure));
            }
            None => not_started.push(label(&items[i])),
        }
    }
    run.runner.emit(Event::ParallelFinished {
        id,
        failed: failures.len() + not_started.len(),
    });
    if failures.is_empty() && not_started.is_empty() {
        return Ok(values);
    }
    let interrupted = !not_started.is_empty()
        || failures
            .iter()
            .any(|(_, f)| f.kind == FailureKind::Interrupted);
    let kind = if interrupted {
        FailureKind::Interrupted
    } else if failures.iter().all(|(_, f)| f.kind == failures[0].1.kind) {
        failures[0].1.kind
    } else {
        FailureKind::Failed
    };
    Err(Failure::new(kind, summary(total, values.len(), &failures, &not_started)).into())
}

/// What became of one item: the truth an operator acts on after a failure or Ctrl-C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    Failed,
    /// Ctrl-C reached it while it ran: part of it may have happened.
    Interrupted,
    NotStarted,
}

impl Outcome {
    fn of(result: Option<&Result<Dynamic, Box<EvalAltResult>>>) -> Outcome {
        match result {
            None => Outcome::NotStarted,
            Some(Ok(_)) => Outcome::Done,
            Some(Err(e)) => match Failure::from_rhai(e) {
                Some(f) if f.kind == FailureKind::Interrupted => Outcome::Interrupted,
                _ => Outcome::Failed,
            },
        }
    }

    fn word(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Failed => "FAILED",
            Outcome::Interrupted => "INTERRUPTED",
            Outcome::NotStarted => "not started",
        }
    }
}

/// "3 of 5 items done; 1 failed: ...; 1 not started: ...".
fn summary(
    total: usize,
    done: usize,
    failures: &[(String, Failure)],
    not_started: &[String],
) -> String {
    let (interrupted, failed): (Vec<_>, Vec<_>) = failures
        .iter()
        .partition(|(_, f)| f.kind == FailureKind::Interrupted);
    let mut message = format!("{done} of {total} items done");
    if !failed.is_empty() {
        message.push_str(&format!("; {} of {total} items failed:", failed.len()));
        for (item, failure) in &failed {
            message.push_str(&format!(
                "\n  {item}: {}",
                failure.message.replace('\n', "\n    ")
            ));
        }
    }
    if !interrupted.is_empty() {
        message.push_str(&format!(
            "\n{} interrupted part-way (check their state before going on):",
            interrupted.len()
        ));
        for (item, failure) in &interrupted {
            message.push_str(&format!("\n  {item}: {}", failure.message));
        }
    }
    if !not_started.is_empty() {
        message.push_str(&format!(
            "\n{} not started (untouched): {}",
            not_started.len(),
            not_started.join(", ")
        ));
    }
    message
}

#[export_module]
pub mod parallel_api {
    use super::*;

    /// Calls `action` for every item, at most `limit` at once (threads), and returns the
    /// results in item order. Failures do not stop the other items; when any item failed,
    /// all failures are reported together (the run fails after every item ran). A host the
    /// closure captures is each branch's own; other captured variables are shared, and a
    /// method call on one (`m.h.query(...)` on a captured map) holds the other branches
    /// back until they fail: take the host out first (`let h = m.h;`) or pass it as an
    /// argument.
    ///
    /// ```rhai
    /// parallel(hosts("hypervisor"), 4, |h| sysctl::set(h, "vm.swappiness", 10));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn parallel(
        ctx: NativeCallContext,
        items: Array,
        limit: i64,
        action: FnPtr,
    ) -> ApiResult<Array> {
        run_all(&ctx, items, limit, &action)
    }
}
