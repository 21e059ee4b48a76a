//! Hosts and the escape hatch: `host()`, `hosts()`, `local()`, `h.run()`, `h.query()`.

use rhai::plugin::*;

use crate::cluster::host::Host;
use crate::failure::ApiResult;
use crate::transport::cmd::{Cmd, Effect};

use super::{output_to_map, strings_from_array, OptionMap, RunContext};

fn run_raw(
    ctx: &NativeCallContext,
    host: &Host,
    effect: Effect,
    argv: &rhai::Array,
    options: rhai::Map,
) -> ApiResult<rhai::Map> {
    let run = RunContext::of(ctx)?;
    let name = if effect == Effect::Change {
        "run"
    } else {
        "query"
    };
    let mut cmd = Cmd::new(effect, strings_from_array(argv, "argv")?);
    let mut opts = OptionMap::new(name, options);
    let check = opts.bool("check")?.unwrap_or(true);
    if let Some(timeout) = opts.seconds("timeout")? {
        cmd = cmd.with_timeout(timeout);
    }
    if let Some(stdin) = opts.string("stdin")? {
        cmd = cmd.with_stdin(stdin);
    }
    opts.finish()?;
    let output = if check {
        run.runner.exec_checked(host, &cmd)?
    } else {
        run.runner.exec(host, &cmd)?
    };
    Ok(output_to_map(output))
}

#[export_module]
pub mod host_api {
    use super::*;

    /// The host of the inventory (or lab) with this name. An unknown name is an error listing
    /// the known hosts.
    ///
    /// ```rhai
    /// let h = host("msk-01");
    /// log(h.address);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn host(ctx: NativeCallContext, name: &str) -> ApiResult<Host> {
        Ok(RunContext::of(&ctx)?.cluster.host(name)?)
    }

    /// Every host of the inventory (or lab), in inventory order.
    ///
    /// ```rhai
    /// for h in hosts() { log(h.name); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn hosts(ctx: NativeCallContext) -> ApiResult<rhai::Array> {
        let run = RunContext::of(&ctx)?;
        Ok(run
            .cluster
            .hosts()
            .iter()
            .cloned()
            .map(Dynamic::from)
            .collect())
    }

    /// The hosts carrying a tag, such as `"hypervisor"` or `"storage"`.
    ///
    /// ```rhai
    /// let hvs = hosts("hypervisor");
    /// ```
    #[rhai_fn(name = "hosts", return_raw)]
    pub fn hosts_tagged(ctx: NativeCallContext, tag: &str) -> ApiResult<rhai::Array> {
        let run = RunContext::of(&ctx)?;
        Ok(run
            .cluster
            .hosts_tagged(tag)
            .into_iter()
            .map(Dynamic::from)
            .collect())
    }

    /// The machine vzrun runs on.
    ///
    /// ```rhai
    /// let me = local();
    /// me.query(["uname", "-r"]);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn local(ctx: NativeCallContext) -> ApiResult<Host> {
        Ok(RunContext::of(&ctx)?.cluster.local().clone())
    }

    /// The host's name in the inventory.
    #[rhai_fn(get = "name", pure)]
    pub fn name(host: &mut Host) -> String {
        host.name().to_string()
    }

    /// The address vzrun connects to.
    #[rhai_fn(get = "address", pure)]
    pub fn address(host: &mut Host) -> String {
        host.address().to_string()
    }

    /// The host's tags from the inventory.
    #[rhai_fn(get = "tags", pure)]
    pub fn tags(host: &mut Host) -> rhai::Array {
        host.tags().iter().cloned().map(Dynamic::from).collect()
    }

    #[rhai_fn(global, name = "to_string", pure)]
    pub fn to_string(host: &mut Host) -> String {
        host.name().to_string()
    }

    #[rhai_fn(global, name = "to_debug", pure)]
    pub fn to_debug(host: &mut Host) -> String {
        format!("Host({})", host.name())
    }

    #[rhai_fn(global, name = "==", pure)]
    pub fn eq(host: &mut Host, other: Host) -> bool {
        *host == other
    }

    /// Escape hatch: runs an argv on the host as a **Change** (not run in plan mode). Returns
    /// `#{code, stdout, stderr, planned}`; a non-zero exit raises an error naming the host,
    /// the command and its stderr.
    ///
    /// ```rhai
    /// h.run(["systemctl", "restart", "vcmmd"]);
    /// ```
    #[rhai_fn(global, return_raw)]
    pub fn run(ctx: NativeCallContext, host: &mut Host, argv: rhai::Array) -> ApiResult<rhai::Map> {
        run_raw(&ctx, host, Effect::Change, &argv, rhai::Map::new())
    }

    /// `run` with options: `check` (false: return a non-zero exit instead of raising),
    /// `timeout` (seconds), `stdin` (text fed to the command).
    ///
    /// ```rhai
    /// let r = h.run(["grep", "-q", "x", "/etc/hosts"], #{check: false, timeout: 10});
    /// ```
    #[rhai_fn(global, name = "run", return_raw)]
    pub fn run_with(
        ctx: NativeCallContext,
        host: &mut Host,
        argv: rhai::Array,
        options: rhai::Map,
    ) -> ApiResult<rhai::Map> {
        run_raw(&ctx, host, Effect::Change, &argv, options)
    }

    /// Escape hatch for probes: runs an argv as a **Read**, also in plan mode. Same result
    /// and options as `run`.
    ///
    /// ```rhai
    /// let kernel = h.query(["uname", "-r"]).stdout;
    /// ```
    #[rhai_fn(global, return_raw)]
    pub fn query(
        ctx: NativeCallContext,
        host: &mut Host,
        argv: rhai::Array,
    ) -> ApiResult<rhai::Map> {
        run_raw(&ctx, host, Effect::Read, &argv, rhai::Map::new())
    }

    /// `query` with options (`check`, `timeout`, `stdin`).
    ///
    /// ```rhai
    /// let r = h.query(["test", "-e", "/vz"], #{check: false});
    /// ```
    #[rhai_fn(global, name = "query", return_raw)]
    pub fn query_with(
        ctx: NativeCallContext,
        host: &mut Host,
        argv: rhai::Array,
        options: rhai::Map,
    ) -> ApiResult<rhai::Map> {
        run_raw(&ctx, host, Effect::Read, &argv, options)
    }
}
