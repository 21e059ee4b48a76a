//! The typed primitives: one module per tool, each a Rhai module (`prlctl::start(h, id)`).
//!
//! Every primitive validates its input before anything runs, declares its commands as Read
//! or Change, and makes idempotent what the tool is not (starting a running VE is reported as
//! "no change", not an error).

pub mod cluster_mount;
pub mod conf;
pub mod disk;
pub mod disk_usage;
pub mod file;
pub mod firewall;
pub mod fstab;
pub mod json;
pub mod mem;
pub mod nodes;
mod options;
pub mod prlctl;
mod prlctl_config;
pub mod prlsrvctl;
pub mod rollback;
pub mod sysctl;
pub mod systemd;
pub mod validate;
pub mod vstorage;
mod vstorage_figures;
mod vstorage_map;
pub mod vstorage_safety;

use rhai::{Dynamic, Engine, EvalAltResult, Map, NativeCallContext};

pub use options::{output_to_map, seconds, strings_from_array, OptionMap};

use crate::cluster::host::Host;
use crate::failure::{ApiResult, Failure};
use crate::run::context::RunContext;
use crate::transport::cmd::{Cmd, Output};

rhai::def_package! {
    /// vzrun's typed primitives as a rhai package: each tool under its namespace
    /// (`prlctl::start(h, id)`, `vstorage::stat(h)`, ...). The engine registers it unless an
    /// embedder leaves it out; an embedder adds its own packages beside it.
    pub VzPrimitives(_module) {} |> |engine| { register(engine); }
}

/// Registers every primitive module under its namespace.
pub fn register(engine: &mut Engine) {
    engine.register_static_module("prlctl", rhai::exported_module!(prlctl::api).into());
    engine.register_static_module("prlsrvctl", rhai::exported_module!(prlsrvctl::api).into());
    let mut storage = rhai::exported_module!(vstorage::api);
    storage.combine_flatten(rhai::exported_module!(vstorage_safety::api));
    storage.combine_flatten(rhai::exported_module!(vstorage_safety::mds_api));
    engine.register_static_module("vstorage", storage.into());
    engine.register_static_module("sysctl", rhai::exported_module!(sysctl::api).into());
    engine.register_static_module("fstab", rhai::exported_module!(fstab::api).into());
    engine.register_static_module("conf", rhai::exported_module!(conf::api).into());
    engine.register_static_module("file", rhai::exported_module!(file::api).into());
    engine.register_static_module("json", rhai::exported_module!(json::api).into());
    engine.register_static_module("firewall", rhai::exported_module!(firewall::api).into());
    let mut units = rhai::exported_module!(systemd::api);
    units.combine_flatten(rhai::exported_module!(rollback::api));
    engine.register_static_module("systemd", units.into());
    engine.register_static_module("mem", rhai::exported_module!(mem::api).into());
    let mut disks = rhai::exported_module!(disk::api);
    disks.combine_flatten(rhai::exported_module!(vstorage_safety::disk_api));
    engine.register_static_module("disk", disks.into());
}

/// Runs a primitive's body with the run context, and places any failure at the call in the
/// script: Rhai does not fill in positions for namespaced calls (`prlctl::start`).
pub fn call<T>(
    ctx: &NativeCallContext,
    body: impl FnOnce(&RunContext) -> Result<T, Failure>,
) -> ApiResult<T> {
    RunContext::of(ctx)
        .and_then(|run| body(&run))
        .map_err(|failure| {
            Box::new(EvalAltResult::ErrorRuntime(
                Dynamic::from(failure),
                ctx.call_position(),
            ))
        })
}

/// Runs a probe; a non-zero exit is a failure.
pub fn read<S: Into<String>>(
    run: &RunContext,
    host: &Host,
    argv: impl IntoIterator<Item = S>,
) -> Result<Output, Failure> {
    run.runner.exec_checked(host, &Cmd::read(argv))
}

/// Runs a probe and returns its output whatever the exit code.
pub fn probe<S: Into<String>>(
    run: &RunContext,
    host: &Host,
    argv: impl IntoIterator<Item = S>,
) -> Result<Output, Failure> {
    run.runner.exec(host, &Cmd::read(argv))
}

/// Runs (or, in plan mode, lists) a change; a non-zero exit is a failure.
pub fn change(run: &RunContext, host: &Host, cmd: Cmd) -> Result<Output, Failure> {
    run.runner.exec_checked(host, &cmd)
}

/// A Rhai map from key/value pairs.
pub fn map<'a>(pairs: impl IntoIterator<Item = (&'a str, Dynamic)>) -> Map {
    pairs.into_iter().map(|(k, v)| (k.into(), v)).collect()
}

pub fn opt_int(value: Option<u64>) -> Dynamic {
    value.map_or(Dynamic::UNIT, |v| Dynamic::from(v as i64))
}

pub fn strings(items: &[String]) -> Dynamic {
    Dynamic::from(
        items
            .iter()
            .cloned()
            .map(Dynamic::from)
            .collect::<rhai::Array>(),
    )
}

/// The cluster name vstorage commands need.
pub fn cluster_name(run: &RunContext) -> Result<String, Failure> {
    let name = run.cluster.name();
    if name.is_empty() {
        Err(Failure::bad_input(
            "cluster",
            "no cluster name: run with an inventory (--inventory) or the lab (--lab)",
        ))
    } else {
        Ok(name.to_string())
    }
}
