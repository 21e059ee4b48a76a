//! What a run knows about itself and the hosts it holds: `run_holder()`, `now_utc()`,
//! `cluster_name()`, `cluster_mount_point()`, `lock_host(h)`, `cut_short_changes()`.
//!
//! Records other runs must see (a node's maintenance cordon) say who made them, when and in
//! which run; and a run that moves work into a host takes that host's lock before it does,
//! so a concurrent run cannot drain it meanwhile.

use rhai::plugin::*;

use crate::cluster::host::Host;
use crate::failure::ApiResult;

use super::RunContext;

#[export_module]
pub mod run_info_api {
    use super::*;

    /// Who this run is, as its locks name it: run id, runbook, user@machine, pid, start time.
    ///
    /// ```rhai
    /// let record = #{why: "kernel update", by: run_holder(), since: now_utc()};
    /// ```
    #[rhai_fn(return_raw)]
    pub fn run_holder(ctx: NativeCallContext) -> ApiResult<String> {
        Ok(RunContext::of(&ctx)?.runner.holder().to_string())
    }

    /// The current time, UTC, as RFC 3339 to the second (`2026-11-25T17:37:07Z`).
    ///
    /// ```rhai
    /// log(`started at ${now_utc()}`);
    /// ```
    pub fn now_utc() -> String {
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
    }

    /// The cluster's name (from the inventory or the lab); functions cannot see `CLUSTER`.
    ///
    /// ```rhai
    /// let mount = `/vstorage/${cluster_name()}`;
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cluster_name(ctx: NativeCallContext) -> ApiResult<String> {
        Ok(crate::primitives::cluster_name(&RunContext::of(&ctx)?)?)
    }

    /// Where the cluster file system is mounted on every node: the inventory's
    /// `cluster_mount`; without one, where the first node (in inventory order) that
    /// answers has `vstorage://CLUSTER` mounted (/proc/mounts), else where a node's
    /// /etc/fstab mounts it, else `/vstorage/CLUSTER` (the docs' example: fstab or
    /// `vstorage-mount -c CLUSTER PATH` may name any directory). Asked of the nodes once
    /// per run, all at once (a node that does not answer costs one connect timeout, not
    /// one each). An inventory `cluster_mount` that the first node with the cluster mounted
    /// contradicts is refused (exit 2 while nothing was changed), naming the node and both
    /// paths: every path built on it would be wrong.
    ///
    /// ```rhai
    /// let records = `${cluster_mount_point()}/.vzrun`;
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cluster_mount_point(ctx: NativeCallContext) -> ApiResult<String> {
        Ok(crate::primitives::cluster_mount::cluster_mount(
            &RunContext::of(&ctx)?,
        )?)
    }

    /// In `vzrun abort` and `vzrun resume`: what the runs it takes back or finishes (the
    /// run cut short and the other runs of its resume chain; in an abort, earlier aborts of
    /// them too) changed, then what this run changed so far, oldest first, each `#{host, argv, finished, code}` (`finished`: the
    /// command returned, with exit `code`; else it was cut short while it ran). `()` in any
    /// other run. An undo action run long after a kill tells by it the state the runs left a
    /// VE in from one an operator put it in since.
    ///
    /// ```rhai
    /// let done = cut_short_changes();
    /// if done != () { log(`the runs cut short made ${done.len()} changes`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cut_short_changes(ctx: NativeCallContext) -> ApiResult<rhai::Dynamic> {
        let run = RunContext::of(&ctx)?;
        let Some(earlier) = &run.cut_short else {
            return Ok(rhai::Dynamic::UNIT);
        };
        let own = run
            .runner
            .journal_path()
            .map(|p| crate::session::past::changes_in(&p))
            .unwrap_or_default();
        Ok(earlier
            .iter()
            .chain(own.iter())
            .map(|c| rhai::serde::to_dynamic(c).unwrap_or(rhai::Dynamic::UNIT))
            .collect::<rhai::Array>()
            .into())
    }

    /// Takes the host's lock now and holds it until the run ends (a plan takes none). A run
    /// that moves work into hosts locks them all before the first move; another run holding
    /// one fails this with `lock_held` (exit 4), never retried.
    ///
    /// ```rhai
    /// for t in targets { lock_host(t); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn lock_host(ctx: NativeCallContext, host: Host) -> ApiResult<()> {
        Ok(RunContext::of(&ctx)?.runner.lock(&host)?)
    }
}
