//! `firewall::` — firewalld ports, opened and closed in both the permanent and the runtime
//! configuration, each only where needed (checked with `--query-port`).

use rhai::plugin::*;
use rhai::Array;

use super::{call, change, probe, read, validate};
use crate::cluster::host::Host;
use crate::failure::Failure;
use crate::run::context::RunContext;
use crate::transport::cmd::Cmd;

/// Whether the port is open (`permanent` or runtime). `--query-port` answers by exit code.
fn is_open(run: &RunContext, host: &Host, port: &str, permanent: bool) -> Result<bool, Failure> {
    let query = format!("--query-port={port}");
    let argv: Vec<&str> = if permanent {
        vec!["firewall-cmd", "--permanent", &query]
    } else {
        vec!["firewall-cmd", &query]
    };
    let out = probe(run, host, argv.clone())?;
    match out.code {
        0 => Ok(true),
        1 => Ok(false),
        _ => Err(crate::run::runner::command_failure(
            host,
            &Cmd::read(argv),
            &out,
        )),
    }
}

/// Opens (`open`) or closes a port where it is not yet so.
fn set_port(run: &RunContext, host: &Host, port: &str, open: bool) -> Result<bool, Failure> {
    let port = validate::port(port)?;
    let action = if open { "--add-port" } else { "--remove-port" };
    let mut changed = false;
    for permanent in [true, false] {
        if is_open(run, host, &port, permanent)? != open {
            let mut argv = vec!["firewall-cmd".to_string()];
            if permanent {
                argv.push("--permanent".into());
            }
            argv.push(format!("{action}={port}"));
            change(run, host, Cmd::change(argv))?;
            changed = true;
        }
    }
    if !changed {
        let state = if open { "open" } else { "closed" };
        run.runner
            .unchanged(host, format!("{port} is already {state}"));
    }
    Ok(changed)
}

#[export_module]
pub mod api {
    use super::*;

    /// The ports open at runtime (`firewall-cmd --list-ports`), e.g. `["22/tcp", "2510/tcp"]`.
    ///
    /// ```rhai
    /// if !firewall::ports(h).contains("10050/tcp") { warn("zabbix agent port closed"); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn ports(ctx: NativeCallContext, host: Host) -> Result<Array, Box<EvalAltResult>> {
        call(&ctx, |run| {
            // firewalld 0.6.3 (reference §5): the ports on one line, separated by spaces.
            let out = read(run, &host, ["firewall-cmd", "--list-ports"])?;
            Ok(out
                .stdout
                .split_whitespace()
                .map(|p| Dynamic::from(p.to_string()))
                .collect())
        })
    }

    /// Opens a port (`"10050/tcp"`, `"8000-8100/udp"`) permanently and at runtime; where it
    /// is already open, nothing is done.
    ///
    /// ```rhai
    /// firewall::open(h, "10050/tcp");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn open(
        ctx: NativeCallContext,
        host: Host,
        port: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| set_port(run, &host, port, true))
    }

    /// Closes a port permanently and at runtime; where it is closed, nothing is done.
    ///
    /// ```rhai
    /// firewall::close(h, "5001/tcp");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn close(
        ctx: NativeCallContext,
        host: Host,
        port: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| set_port(run, &host, port, false))
    }

    /// Checks a port spec without touching any host: an error (exit 2) naming it when it is
    /// not `port[-port]/protocol`. For runbooks that validate all input before changing.
    ///
    /// ```rhai
    /// for p in ports { firewall::check_port(p); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn check_port(ctx: NativeCallContext, port: &str) -> Result<(), Box<EvalAltResult>> {
        call(&ctx, |_| validate::port(port).map(|_| ()))
    }

    /// Reloads firewalld: the runtime configuration becomes the permanent one.
    ///
    /// ```rhai
    /// firewall::reload(h);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn reload(ctx: NativeCallContext, host: Host) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            change(run, &host, Cmd::change(["firewall-cmd", "--reload"]))?;
            Ok(true)
        })
    }
}
