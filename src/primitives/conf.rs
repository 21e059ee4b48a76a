//! `conf::` — shell-style `KEY=value` files (/etc/vz/vz.conf, /etc/vz/pfcache.conf).
//! Comments and order are kept; values are quoted when they need it.

use rhai::plugin::*;

use super::file::read_or_empty;
use super::{call, validate};
use crate::cluster::host::Host;
use crate::edit::conf;
use crate::failure::Failure;

fn key(name: &str) -> Result<&str, Failure> {
    if conf::valid_key(name) {
        Ok(name)
    } else {
        Err(Failure::bad_input(
            "key",
            format!("{name:?}: letters, digits and '_', not starting with a digit"),
        ))
    }
}

#[export_module]
pub mod api {
    use super::*;

    /// The value a shell would give `key` (quotes removed), or `()` when it is not set.
    ///
    /// ```rhai
    /// let template = conf::get(h, "/etc/vz/vz.conf", "DEF_OSTEMPLATE");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
        name: &str,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let text = read_or_empty(run, &host, path)?;
            Ok(conf::get(&text, key(name)?).map_or(Dynamic::UNIT, Dynamic::from))
        })
    }

    /// Sets `key` (in place, where it is set; else appended), quoting as needed. An equal
    /// value writes nothing.
    ///
    /// ```rhai
    /// conf::set(h, "/etc/vz/vz.conf", "PAGECACHE_ISOLATION", "yes");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn set(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
        name: &str,
        value: Dynamic,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let value = value.to_string();
            validate::file_text("value", &value, false)?;
            let text = read_or_empty(run, &host, path)?;
            let new = conf::set(&text, key(name)?, &value);
            if new == text {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("{name} is already {value:?} in {path}")));
            }
            run.runner.write_file(&host, path, &new, None)
        })
    }

    /// Removes every assignment of `key`; not set is no change.
    ///
    /// ```rhai
    /// conf::unset(h, "/etc/vz/pfcache.conf", "PFCACHE_IOLIMIT");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn unset(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
        name: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let text = read_or_empty(run, &host, path)?;
            let new = conf::unset(&text, key(name)?);
            if new == text {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("{name} is not set in {path}")));
            }
            run.runner.write_file(&host, path, &new, None)
        })
    }
}
