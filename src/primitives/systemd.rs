//! `systemd::` — units: state, start/stop/restart, enable/disable, listing. Start, stop,
//! enable and disable act only when the unit is not already so.

use rhai::plugin::*;
use rhai::Array;

use super::{call, change, map, probe, read, validate};
use crate::cluster::host::Host;
use crate::failure::Failure;
use crate::parse::systemd as parse;
use crate::run::context::RunContext;
use crate::transport::cmd::Cmd;

fn active(run: &RunContext, host: &Host, unit: &str) -> Result<bool, Failure> {
    // is-active: exit 0 when active, 3 (and "inactive", "failed", ...) otherwise.
    Ok(probe(run, host, ["systemctl", "is-active", unit])?.code == 0)
}

fn enabled(run: &RunContext, host: &Host, unit: &str) -> Result<bool, Failure> {
    let out = probe(run, host, ["systemctl", "is-enabled", unit])?;
    Ok(out.code == 0 && out.stdout.trim() == "enabled")
}

fn act(
    run: &RunContext,
    host: &Host,
    verb: &str,
    unit: &str,
    already: bool,
    state: &str,
) -> Result<bool, Failure> {
    if already {
        return Ok(run
            .runner
            .unchanged(host, format!("{unit} is already {state}")));
    }
    change(run, host, Cmd::change(["systemctl", verb, unit]))?;
    Ok(true)
}

#[export_module]
pub mod api {
    use super::*;

    /// Whether the unit is active.
    ///
    /// ```rhai
    /// if !systemd::is_active(h, "vcmmd") { warn("vcmmd is down"); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn is_active(
        ctx: NativeCallContext,
        host: Host,
        unit: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| active(run, &host, &validate::unit(unit)?))
    }

    /// Starts the unit unless it is active.
    ///
    /// ```rhai
    /// systemd::start(h, "vstorage-csd.target");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn start(
        ctx: NativeCallContext,
        host: Host,
        unit: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let unit = validate::unit(unit)?;
            act(
                run,
                &host,
                "start",
                &unit,
                active(run, &host, &unit)?,
                "active",
            )
        })
    }

    /// Stops the unit unless it is inactive.
    ///
    /// ```rhai
    /// systemd::stop(h, "vstorage-csd.livelinux.1025.service");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn stop(
        ctx: NativeCallContext,
        host: Host,
        unit: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let unit = validate::unit(unit)?;
            act(
                run,
                &host,
                "stop",
                &unit,
                !active(run, &host, &unit)?,
                "inactive",
            )
        })
    }

    /// Restarts the unit (always acts).
    ///
    /// ```rhai
    /// systemd::restart(h, "vcmmd");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn restart(
        ctx: NativeCallContext,
        host: Host,
        unit: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let unit = validate::unit(unit)?;
            act(run, &host, "restart", &unit, false, "")
        })
    }

    /// Enables the unit at boot unless it is enabled.
    ///
    /// ```rhai
    /// systemd::enable(h, "chronyd");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn enable(
        ctx: NativeCallContext,
        host: Host,
        unit: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let unit = validate::unit(unit)?;
            act(
                run,
                &host,
                "enable",
                &unit,
                enabled(run, &host, &unit)?,
                "enabled",
            )
        })
    }

    /// Disables the unit at boot unless it is disabled.
    ///
    /// ```rhai
    /// systemd::disable(h, "vstorage-csd.livelinux.1025.service");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn disable(
        ctx: NativeCallContext,
        host: Host,
        unit: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let unit = validate::unit(unit)?;
            act(
                run,
                &host,
                "disable",
                &unit,
                !enabled(run, &host, &unit)?,
                "disabled",
            )
        })
    }

    /// Loaded units matching a pattern (`*` and `?`), active or not: `#{unit, load, active,
    /// sub, job, description}` (`job`: the pending job, `""` when none).
    ///
    /// ```rhai
    /// for u in systemd::units(h, "vstorage-csd.*") { log(`${u.unit} ${u.active}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn units(
        ctx: NativeCallContext,
        host: Host,
        pattern: &str,
    ) -> Result<Array, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let ok = !pattern.is_empty()
                && !pattern.starts_with('-')
                && pattern
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "@:._-*?[]".contains(c));
            if !ok {
                return Err(Failure::bad_input(
                    "pattern",
                    format!("{pattern:?} is not a unit pattern"),
                ));
            }
            // The legend stays on: its header says whether there is a JOB column.
            let out = read(
                run,
                &host,
                [
                    "systemctl",
                    "list-units",
                    "--all",
                    "--plain",
                    "--full",
                    pattern,
                ],
            )?;
            Ok(parse::list_units(&out.stdout)
                .into_iter()
                .map(|u| {
                    Dynamic::from_map(map([
                        ("unit", u.unit.into()),
                        ("load", u.load.into()),
                        ("active", u.active.into()),
                        ("sub", u.sub.into()),
                        ("job", u.job.into()),
                        ("description", u.description.into()),
                    ]))
                })
                .collect())
        })
    }
}
