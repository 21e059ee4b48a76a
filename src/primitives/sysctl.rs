//! `sysctl::` — kernel parameters: read, set at runtime (only when different), persist in a
//! drop-in under /etc/sysctl.d.

use rhai::plugin::*;

use super::file::read_or_empty;
use super::{call, change, read, validate};
use crate::cluster::host::Host;
use crate::edit::sysctl_conf;
use crate::failure::Failure;
use crate::transport::cmd::Cmd;

/// Values compare by their words: `4096 87380 6291456` equals `4096\t87380\t6291456`.
fn same(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

fn value_text(value: &Dynamic) -> Result<String, Failure> {
    let v = value.to_string();
    if v.trim().is_empty() {
        return Err(Failure::bad_input(
            "sysctl value",
            format!("{v:?} is empty"),
        ));
    }
    // systemd-sysctl ends a line at CR and NUL too: a second directive could follow.
    validate::file_text("sysctl value", &v, false)?;
    Ok(v)
}

#[export_module]
pub mod api {
    use super::*;

    /// The current value (`sysctl -n`), white space inside kept.
    ///
    /// ```rhai
    /// let swappiness = sysctl::get(h, "vm.swappiness").parse_int();
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get(
        ctx: NativeCallContext,
        host: Host,
        key: &str,
    ) -> Result<String, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let key = validate::sysctl_key(key)?;
            let out = read(run, &host, ["sysctl", "-n", key.as_str()])?;
            Ok(out.stdout.trim_end_matches('\n').to_string())
        })
    }

    /// Sets a value at runtime (`sysctl -w`), only when it differs.
    ///
    /// ```rhai
    /// sysctl::set(h, "vm.min_free_kbytes", 1048576);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn set(
        ctx: NativeCallContext,
        host: Host,
        key: &str,
        value: Dynamic,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let key = validate::sysctl_key(key)?;
            let value = value_text(&value)?;
            let current = read(run, &host, ["sysctl", "-n", key.as_str()])?.stdout;
            if same(&current, &value) {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("{key} is already {value}")));
            }
            change(
                run,
                &host,
                Cmd::change(["sysctl".to_string(), "-w".into(), format!("{key}={value}")]),
            )?;
            Ok(true)
        })
    }

    /// Persists a value: exactly one `key = value` line in /etc/sysctl.d/FILE (FILE ends in
    /// `.conf`). Does not change the runtime value: pair with `sysctl::set`.
    ///
    /// ```rhai
    /// sysctl::persist(h, "vm.swappiness", 10, "90-vzrun.conf");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn persist(
        ctx: NativeCallContext,
        host: Host,
        key: &str,
        value: Dynamic,
        file: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let key = validate::sysctl_key(key)?;
            let value = value_text(&value)?;
            let valid_file = file.ends_with(".conf")
                && file.len() > 5
                && file
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !valid_file {
                return Err(Failure::bad_input(
                    "file",
                    format!("{file:?}: a file name in /etc/sysctl.d ending in .conf"),
                ));
            }
            let path = format!("/etc/sysctl.d/{file}");
            let text = read_or_empty(run, &host, &path)?;
            let new = sysctl_conf::persist(&text, &key, &value);
            if new == text {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("{path} already sets {key} = {value}")));
            }
            run.runner.write_file(&host, &path, &new, None)
        })
    }
}
