//! Flow control for runbooks: waits with deadlines, retries, steps, confirmations, output.
//!
//! Every wait here has a deadline and says what it waits for; every sleep wakes on Ctrl-C.
//! These are the things the bash one-liners got wrong.

use std::time::{Duration, Instant};

use rhai::plugin::*;
use rhai::FnPtr;

use crate::failure::{ApiResult, Failure, FailureKind};
use crate::run::event::Event;

use super::{seconds, strings_from_array, RunContext};

const FIRST_POLL: Duration = Duration::from_millis(250);
const MAX_POLL: Duration = Duration::from_secs(5);
const REPORT_EVERY: Duration = Duration::from_secs(10);

fn wait(
    ctx: &NativeCallContext,
    timeout: &Dynamic,
    what: &str,
    condition: &FnPtr,
) -> ApiResult<bool> {
    let run = RunContext::of(ctx)?;
    let timeout = seconds(timeout, "wait_until timeout")?;
    let started = Instant::now();
    let mut delay = FIRST_POLL;
    let mut last_report = Instant::now();
    if run.runner.is_plan() {
        // Nothing changed, so waiting would only burn the deadline (and a condition about a
        // planned change may not even be checkable yet): check once, say what would be awaited.
        let holds = condition
            .call_within_context::<Dynamic>(ctx, ())
            .is_ok_and(|r| r.as_bool().unwrap_or(false));
        if !holds {
            run.runner.log(format!(
                "would wait up to {}s for {what}",
                timeout.as_secs_f64()
            ));
        }
        return Ok(true);
    }
    loop {
        run.runner.check_interrupted()?;
        let result: Dynamic = condition.call_within_context(ctx, ())?;
        let done = result.as_bool().map_err(|_| {
            Failure::bad_input(
                "wait_until condition",
                format!("must return true or false, returned {}", result.type_name()),
            )
        })?;
        if done {
            return Ok(true);
        }
        let elapsed = started.elapsed();
        if elapsed >= timeout {
            return Err(Failure::timed_out(format!(
                "timed out after {}s waiting for {what}",
                timeout.as_secs_f64()
            ))
            .into());
        }
        if last_report.elapsed() >= REPORT_EVERY {
            last_report = Instant::now();
            run.runner.emit(Event::Waiting {
                what: what.to_string(),
                elapsed_s: elapsed.as_secs(),
                timeout_s: timeout.as_secs(),
            });
        }
        run.runner.sleep(delay.min(timeout - elapsed))?;
        delay = (delay * 2).min(MAX_POLL);
    }
}

fn retry_with(
    ctx: &NativeCallContext,
    times: i64,
    delay: Duration,
    action: &FnPtr,
) -> ApiResult<Dynamic> {
    let run = RunContext::of(ctx)?;
    if !(1..=1000).contains(&times) {
        return Err(
            Failure::bad_input("retry times", format!("{times} is not within 1..=1000")).into(),
        );
    }
    let mut delay = delay;
    for attempt in 1..=times {
        match action.call_within_context::<Dynamic>(ctx, ()) {
            Ok(value) => return Ok(value),
            Err(err) => {
                let failure = Failure::from_rhai(&err);
                let final_kind = failure.as_ref().is_some_and(|f| {
                    matches!(
                        f.kind,
                        FailureKind::BadInput
                            | FailureKind::Interrupted
                            | FailureKind::Refused
                            // Another run changes that host: retrying would race it.
                            | FailureKind::LockHeld
                    )
                });
                // The engine stopped the script (operation limit, memory guard): every
                // attempt would stop at once.
                let stopped = run.runner.script_stopped().is_some();
                if attempt == times || final_kind || stopped {
                    return Err(err);
                }
                let message = failure
                    .map(|f| f.message)
                    .unwrap_or_else(|| err.to_string());
                run.runner.warn(format!(
                    "attempt {attempt} of {times} failed, retrying in {}s: {message}",
                    delay.as_secs_f64()
                ));
                run.runner.sleep(delay)?;
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        }
    }
    unreachable!("the loop returns on the last attempt")
}

fn sleep_for(ctx: &NativeCallContext, secs: Dynamic) -> ApiResult<()> {
    let duration = seconds(&secs, "sleep seconds")?;
    let run = RunContext::of(ctx)?;
    if run.runner.is_plan() {
        run.runner
            .log(format!("would sleep {}s", duration.as_secs_f64()));
        return Ok(());
    }
    Ok(run.runner.sleep(duration)?)
}

/// Whether the runbook itself defines `name` with `arity` parameters.
///
/// A journaled undo (`defer(what, "name", [args])`) is called by name at the end of the run
/// in the context it was registered in, where a module's own function is found; but after a
/// crash `vzrun abort` compiles the runbook and calls `name` among the runbook's functions
/// only (it runs nothing else, so no module is loaded). One that only a module defines (a
/// runbook calling `vz::drain` without the wrappers the shipped runbooks have), or a
/// misspelt name, ran fine or failed only at the end of the run, and the abort of a killed
/// run could not take its change back. So it is refused where it is registered, before the
/// change it is for. The runbook's functions are the first library of the evaluation (rhai
/// pushes the AST's own first), in closures, `parallel` branches and modules alike.
fn runbook_defines(ctx: &NativeCallContext, name: &str, arity: usize) -> bool {
    ctx.global_runtime_state()
        .lib
        .first()
        .is_some_and(|lib| lib.get_script_fn(name, arity).is_some())
}

fn cell(value: Option<&Dynamic>) -> String {
    match value {
        None => String::new(),
        Some(v) if v.is_unit() => String::new(),
        Some(v) => v.to_string(),
    }
}

#[export_module]
pub mod flow_api {
    use super::*;

    /// Tells the operator what the run is doing: a line of the log on stderr, which `-q`
    /// silences (and records it in the journal). What the run is for — a report, metrics,
    /// an answer — goes to stdout with `print()` or `table()`.
    ///
    /// ```rhai
    /// log(`moving ${ve.name} to ${dst.name}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn log(ctx: NativeCallContext, message: &str) -> ApiResult<()> {
        RunContext::of(&ctx)?.runner.log(message);
        Ok(())
    }

    /// Prints a warning on stderr (and records it in the journal).
    ///
    /// ```rhai
    /// warn("msk-03 is short of memory; skipping it");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn warn(ctx: NativeCallContext, message: &str) -> ApiResult<()> {
        RunContext::of(&ctx)?.runner.warn(message);
        Ok(())
    }

    /// Sleeps for a number of seconds (int or float); Ctrl-C wakes it and stops the run.
    /// In a plan it only says how long it would sleep.
    ///
    /// ```rhai
    /// sleep(0.5);
    /// ```
    ///
    /// (Typed overloads: Rhai's own `sleep` would otherwise win, and it ignores Ctrl-C.)
    #[rhai_fn(return_raw)]
    pub fn sleep(ctx: NativeCallContext, secs: i64) -> ApiResult<()> {
        sleep_for(&ctx, Dynamic::from(secs))
    }

    #[rhai_fn(name = "sleep", return_raw)]
    pub fn sleep_float(ctx: NativeCallContext, secs: f64) -> ApiResult<()> {
        sleep_for(&ctx, Dynamic::from(secs))
    }

    /// Calls `condition` until it returns true, with a backoff from 0.25 s to 5 s between
    /// calls. Past `timeout` seconds the run fails (exit 5) saying what it waited for. In a
    /// plan it checks once and, when the condition does not hold yet, says what it would wait for.
    ///
    /// ```rhai
    /// wait_until(120, || prlctl::status(h, "web01") == "running");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn wait_until(
        ctx: NativeCallContext,
        timeout: Dynamic,
        condition: FnPtr,
    ) -> ApiResult<bool> {
        let what = format!("the condition at {}", ctx.call_position());
        wait(&ctx, &timeout, &what, &condition)
    }

    /// `wait_until` with a description of what is awaited, used in progress lines and in the
    /// timeout error.
    ///
    /// ```rhai
    /// wait_until(600, "CS#1025 to drain", || cs_gone(1025));
    /// ```
    #[rhai_fn(name = "wait_until", return_raw)]
    pub fn wait_until_described(
        ctx: NativeCallContext,
        timeout: Dynamic,
        what: &str,
        condition: FnPtr,
    ) -> ApiResult<bool> {
        wait(&ctx, &timeout, what, &condition)
    }

    /// Calls `action` up to `times` times until it does not raise an error, waiting 1 s,
    /// then 2 s, 4 s ... between attempts; returns the action's value. Bad input, refusals,
    /// Ctrl-C and the script's operation or memory limit are not retried.
    ///
    /// ```rhai
    /// retry(3, || prlctl::migrate(src, "web01", dst));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn retry(ctx: NativeCallContext, times: i64, action: FnPtr) -> ApiResult<Dynamic> {
        retry_with(&ctx, times, Duration::from_secs(1), &action)
    }

    /// `retry` with the first delay given in seconds (it doubles after each attempt).
    ///
    /// ```rhai
    /// retry(5, 0.5, || h.run(["systemctl", "start", "vcmmd"]));
    /// ```
    #[rhai_fn(name = "retry", return_raw)]
    pub fn retry_delay(
        ctx: NativeCallContext,
        times: i64,
        delay: Dynamic,
        action: FnPtr,
    ) -> ApiResult<Dynamic> {
        let delay = seconds(&delay, "retry delay")?;
        retry_with(&ctx, times, delay, &action)
    }

    /// Runs `action` as a named step: shown as a heading and recorded in the journal with
    /// its outcome. Returns the action's value.
    ///
    /// ```rhai
    /// step("stop services", || systemd::stop(h, "vstorage-csd.target"));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn step(ctx: NativeCallContext, name: &str, action: FnPtr) -> ApiResult<Dynamic> {
        let run = RunContext::of(&ctx)?;
        {
            let mut skip = run.steps_to_skip.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(left) = skip.get_mut(name).filter(|n| **n > 0) {
                *left -= 1;
                run.runner.emit(Event::StepSkipped {
                    name: name.to_string(),
                });
                // Journaled as finished, so a resume of this run skips it too.
                run.runner.emit(Event::StepFinished {
                    name: name.to_string(),
                    ok: true,
                });
                return Ok(Dynamic::UNIT);
            }
        }
        run.runner.emit(Event::StepStarted {
            name: name.to_string(),
        });
        let result = action.call_within_context::<Dynamic>(&ctx, ());
        run.runner.emit(Event::StepFinished {
            name: name.to_string(),
            ok: result.is_ok(),
        });
        result
    }

    /// Runs `action` holding a cluster-wide lock, so that two runs of the same rolling
    /// operation never overlap (the lock lives on the first host of the inventory and is
    /// freed if this run dies; while that host is down nobody can take it: see
    /// `cluster_lock_on`). Returns the action's value.
    ///
    /// ```rhai
    /// cluster_lock("pcompact", || for h in hosts("hypervisor") { h.run(["pcompact"]); });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cluster_lock(ctx: NativeCallContext, name: &str, action: FnPtr) -> ApiResult<Dynamic> {
        let run = RunContext::of(&ctx)?;
        let host = run
            .cluster
            .hosts()
            .first()
            .cloned()
            .unwrap_or_else(|| run.cluster.local().clone());
        run.runner.with_cluster_lock(&host, name, || {
            action.call_within_context::<Dynamic>(&ctx, ())
        })?
    }

    /// Runs `action` holding the lock `name` on each of `hosts` that answers, taken once each
    /// in the order of their names, whatever order they are given in (so two runs never each
    /// hold a part and wait for the other's); at least one must answer, those that do not
    /// are skipped and named. Two
    /// runs that can reach a common host never both hold it, and a dead host does not block
    /// it, unlike `cluster_lock`: for work around a dead node. Another run holding it on any
    /// of them: exit 4, nothing held. Returns the action's value.
    ///
    /// ```rhai
    /// cluster_lock_on(hosts("hypervisor"), "ve-takeover", || log("one takeover at a time"));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cluster_lock_on(
        ctx: NativeCallContext,
        hosts: rhai::Array,
        name: &str,
        action: FnPtr,
    ) -> ApiResult<Dynamic> {
        let run = RunContext::of(&ctx)?;
        if hosts.is_empty() {
            return Err(Failure::bad_input("cluster_lock_on hosts", "no host given").into());
        }
        let mut list = Vec::with_capacity(hosts.len());
        for (i, item) in hosts.into_iter().enumerate() {
            let type_name = item.type_name();
            match item.try_cast::<crate::cluster::host::Host>() {
                Some(host) => list.push(host),
                None => {
                    return Err(Failure::bad_input(
                        &format!("cluster_lock_on hosts[{i}]"),
                        format!("expected a host, got {type_name}"),
                    )
                    .into())
                }
            }
        }
        run.runner.with_lock_on_each(&list, name, || {
            action.call_within_context::<Dynamic>(&ctx, ())
        })?
    }

    /// True when this run is a plan (`vzrun plan`, `--dry-run`): changes are listed, not made.
    /// The same as `DRY_RUN`, which functions cannot see; use it to skip checking the result
    /// of a change that was only planned.
    ///
    /// ```rhai
    /// fn move_and_check(h, id, dst) { prlctl::migrate(h, id, dst); if !dry_run() { prlctl::get(dst, id); } }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn dry_run(ctx: NativeCallContext) -> ApiResult<bool> {
        Ok(RunContext::of(&ctx)?.runner.is_plan())
    }

    /// Registers an undo action: it runs at the end of the run whatever happens — success,
    /// failure or Ctrl-C — last registered first. Use it to put back what the runbook
    /// changed only for a while (vzrun undoes only what it set). One that fails makes the
    /// run fail (what it puts back is still changed) and stays pending for `vzrun abort`.
    /// Not registered in a plan.
    ///
    /// ```rhai
    /// vstorage::set_config(h, "mds.alloc.fill_margin", 1);
    /// defer("restore the fill margin", || vstorage::set_config(h, "mds.alloc.fill_margin", 5));
    /// ```
    #[rhai_fn(name = "defer", return_raw)]
    #[allow(deprecated)] // store_data is marked volatile, not deprecated.
    pub fn defer_action(ctx: NativeCallContext, what: &str, action: FnPtr) -> ApiResult<()> {
        let run = RunContext::of(&ctx)?;
        if run.runner.is_plan() {
            run.runner.log(format!("would undo at the end: {what}"));
            return Ok(());
        }
        run.runner.emit(Event::Deferred {
            what: what.to_string(),
            state: "registered".into(),
            function: None,
            args: None,
        });
        run.deferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(crate::api::Deferred {
                what: what.to_string(),
                action: crate::api::DeferredAction::Closure(action),
                context: ctx.store_data(),
            });
        Ok(())
    }

    /// Registers an undo action as a call of a function of the runbook with plain
    /// arguments (strings, numbers, bools, arrays, maps — pass `h.name`, not `h`). It runs
    /// like the closure form, and it is journaled, so `vzrun abort RUN_ID` can run it after
    /// a crash. The function must be the runbook's own, even when a module registers it (the
    /// abort calls it there; wrap a module's: `fn f(x) { m::f(x); }`): else the run stops
    /// where it is registered.
    ///
    /// ```rhai
    /// fn restore(host_name, value) { vstorage::set_config(host(host_name), "mds.alloc.fill_margin", value); }
    /// defer("restore the fill margin", "restore", [h.name, 5]);
    /// ```
    #[rhai_fn(name = "defer", return_raw)]
    #[allow(deprecated)] // store_data is marked volatile, not deprecated.
    pub fn defer_call(
        ctx: NativeCallContext,
        what: &str,
        function: &str,
        args: rhai::Array,
    ) -> ApiResult<()> {
        let run = RunContext::of(&ctx)?;
        let named = !function.is_empty()
            && function
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !named {
            return Err(Failure::bad_input(
                "defer function",
                format!("{function:?} is not a function name"),
            )
            .into());
        }
        let json: serde_json::Value = rhai::serde::from_dynamic(&Dynamic::from_array(args.clone()))
            .map_err(|_| {
                Failure::bad_input(
                    "defer arguments",
                    "only plain values (strings, numbers, bools, arrays, maps): pass h.name, not h",
                )
            })?;
        // `vzrun abort` calls it as a function of the runbook (see `runbook_defines`).
        if !runbook_defines(&ctx, function, args.len()) {
            return Err(Failure::failed(format!(
                "the undo {function:?} ({} argument(s)) registered for {what:?} is not a function of the runbook: after a crash `vzrun abort` calls it there, and could not take the change back; define `fn {function}(...)` in the runbook (calling the module's: `module::{function}(...)`), or fix the name",
                args.len()
            ))
            .into());
        }
        if run.runner.is_plan() {
            run.runner.log(format!("would undo at the end: {what}"));
            return Ok(());
        }
        run.runner.emit(Event::Deferred {
            what: what.to_string(),
            state: "registered".into(),
            function: Some(function.to_string()),
            args: Some(json),
        });
        run.deferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(crate::api::Deferred {
                what: what.to_string(),
                action: crate::api::DeferredAction::Function {
                    name: function.to_string(),
                    args,
                },
                context: ctx.store_data(),
            });
        Ok(())
    }

    /// Drops the undo action last registered as `what` (by `defer`): the change it would
    /// take back is now meant to stay, so it runs neither at the end of the run nor by
    /// `vzrun abort`. For a change that is to be taken back only when the run does not get
    /// to its end (killed, failed, Ctrl-C): register the undo before the first change, drop
    /// it after the last. Returns whether such an action was registered (never in a plan).
    ///
    /// ```rhai
    /// defer("take the CSs out of maintenance", "take_back", [h.name]);
    /// for id in ids { vstorage::cs_maintenance(h, id, true); }
    /// cancel_defer("take the CSs out of maintenance");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cancel_defer(ctx: NativeCallContext, what: &str) -> ApiResult<bool> {
        let run = RunContext::of(&ctx)?;
        let found = {
            let mut deferred = run.deferred.lock().unwrap_or_else(|p| p.into_inner());
            let at = deferred.iter().rposition(|d| d.what == what);
            at.map(|i| deferred.remove(i)).is_some()
        };
        if found {
            // Journaled, so that `vzrun abort` and `vzrun runs` no longer count it pending.
            run.runner.emit(Event::Deferred {
                what: what.to_string(),
                state: "cancelled".into(),
                function: None,
                args: None,
            });
        }
        Ok(found)
    }

    /// Asks the operator a yes/no question on the terminal; `--yes` answers yes. Anything
    /// but yes, or no terminal and no `--yes`, stops the run as refused (exit 3); a script
    /// that catches that runs no further change, and still ends refused (its undo actions
    /// run). In plan mode nothing will change, so it answers yes.
    ///
    /// ```rhai
    /// confirm(`Remove CS#${ARGS.cs_id} from ${CLUSTER}?`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn confirm(ctx: NativeCallContext, question: &str) -> ApiResult<bool> {
        RunContext::of(&ctx)?.runner.confirm(question)?;
        Ok(true)
    }

    /// Prints rows as a table with the given columns, on stdout (data: `-q` does not silence
    /// it). Rows are maps (cells taken by column name) or arrays (cells in column order).
    /// With `--output json` it is one `table` event.
    ///
    /// ```rhai
    /// table([#{name: "web01", tier: 1}], ["name", "tier"]);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn table(ctx: NativeCallContext, rows: rhai::Array, columns: rhai::Array) -> ApiResult<()> {
        let run = RunContext::of(&ctx)?;
        let columns = strings_from_array(&columns, "table columns")?;
        let mut cells = Vec::with_capacity(rows.len());
        for (i, row) in rows.into_iter().enumerate() {
            let line: Vec<String> = if let Some(map) = row.clone().try_cast::<rhai::Map>() {
                columns.iter().map(|c| cell(map.get(c.as_str()))).collect()
            } else if let Some(array) = row.clone().try_cast::<rhai::Array>() {
                (0..columns.len()).map(|c| cell(array.get(c))).collect()
            } else {
                return Err(Failure::bad_input(
                    &format!("table rows[{i}]"),
                    format!("expected a map or an array, got {}", row.type_name()),
                )
                .into());
            };
            cells.push(line);
        }
        run.runner.emit(Event::Table {
            columns,
            rows: cells,
        });
        Ok(())
    }
}
