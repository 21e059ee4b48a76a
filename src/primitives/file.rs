//! `file::` — whole files: read, test, write (idempotent, atomic, backed up, diffed in
//! plans), make sure a line is present, and list a directory.

use rhai::plugin::*;
use rhai::Map;

use super::OptionMap;
use super::{call, probe, validate};
use crate::cluster::host::Host;
use crate::failure::Failure;
use crate::run::context::RunContext;

/// The file's text, or a failure naming host and path when it does not exist.
pub fn read_text(run: &RunContext, host: &Host, path: &str) -> Result<String, Failure> {
    let path = validate::abs_path("path", path)?;
    run.runner
        .read_file(host, &path)?
        .ok_or_else(|| Failure::failed(format!("{path} does not exist on {}", host.name())))
}

/// The file's text, or empty when it does not exist (for files vzrun may create).
pub fn read_or_empty(run: &RunContext, host: &Host, path: &str) -> Result<String, Failure> {
    let path = validate::abs_path("path", path)?;
    Ok(run.runner.read_file(host, &path)?.unwrap_or_default())
}

/// The names of a directory's entries (`.` and `..` left out, hidden ones in), in the
/// order the directory gives them, from `find DIR/ -mindepth 1 -maxdepth 1 -printf '%f\0'`
/// (GNU findutils): NUL-separated, so names with spaces or newlines come back exactly, and
/// the trailing `/` makes a file that is not a directory an error, not an empty listing.
pub fn list_dir(run: &RunContext, host: &Host, dir: &str) -> Result<Vec<String>, Failure> {
    let dir = validate::abs_path("dir", dir)?;
    let arg = format!("{}/", dir.trim_end_matches('/'));
    let out = probe(
        run,
        host,
        [
            "find",
            arg.as_str(),
            "-mindepth",
            "1",
            "-maxdepth",
            "1",
            "-printf",
            "%f\\0",
        ],
    )?;
    let on = host.name();
    if out.code != 0 {
        let why = out.stderr.trim();
        return Err(Failure::failed(
            if why.contains("No such file or directory") {
                format!("{dir} does not exist on {on}")
            } else if why.contains("Not a directory") {
                format!("{dir} is not a directory on {on}")
            } else {
                format!("cannot list {dir} on {on}: find exited {}: {why}", out.code)
            },
        ));
    }
    crate::parse::find::entries(&out.stdout)
        .map_err(|e| Failure::failed(format!("listing {dir} on {on}: {e}")))
}

/// A mode given as `0o644`, `420` or `"0644"`.
fn mode(value: Option<Dynamic>) -> Result<Option<u32>, Failure> {
    let Some(v) = value else { return Ok(None) };
    let parsed = if let Ok(i) = v.as_int() {
        u32::try_from(i).ok()
    } else if v.is_string() {
        u32::from_str_radix(v.to_string().trim_start_matches("0o"), 8).ok()
    } else {
        None
    };
    parsed.filter(|m| *m <= 0o7777).map(Some).ok_or_else(|| {
        Failure::bad_input(
            "mode",
            format!("{v}: expected octal like 0o644 or \"0644\""),
        )
    })
}

#[export_module]
pub mod api {
    use super::*;

    /// The text of a file; an error when it does not exist.
    ///
    /// ```rhai
    /// let hosts = file::read(h, "/etc/hosts");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn read(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
    ) -> Result<String, Box<EvalAltResult>> {
        call(&ctx, |run| read_text(run, &host, path))
    }

    /// Whether the path exists (a file or a directory).
    ///
    /// ```rhai
    /// if !file::exists(h, "/etc/vz/vz.conf") { refuse("not a Virtuozzo host"); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn exists(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let path = validate::abs_path("path", path)?;
            match run.runner.read_file(&host, &path) {
                Ok(found) => Ok(found.is_some()),
                // Not readable as a file, e.g. a directory: it exists.
                Err(f) if f.message.contains("Is a directory") => Ok(true),
                Err(f) => Err(f),
            }
        })
    }

    /// The names of the entries of a directory: names only (no path), `.` and `..` left
    /// out, hidden entries in, unsorted (the directory's order). Names with spaces or
    /// newlines come back exactly. A missing directory, or a path that is not one, is an
    /// error naming the host and the path. Read-only: it runs in plans too.
    ///
    /// ```rhai
    /// for name in file::list(h, "/vstorage/stor1/private") {
    ///     log(`${name}: ${vstorage::get_attr(h, "/vstorage/stor1/private/" + name).tier}`);
    /// }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn list(
        ctx: NativeCallContext,
        host: Host,
        dir: &str,
    ) -> Result<rhai::Array, Box<EvalAltResult>> {
        call(&ctx, |run| {
            Ok(list_dir(run, &host, dir)?
                .into_iter()
                .map(Dynamic::from)
                .collect())
        })
    }

    /// Writes a file: nothing when the content is already so; otherwise atomically (temp
    /// file, fsync, rename), keeping its mode and owner, with the old version kept as
    /// `PATH.vzrun.bak`. Plans show the unified diff. Returns whether it changed.
    ///
    /// ```rhai
    /// file::write(h, "/etc/motd", "Managed by vzrun\n");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn write(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
        text: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let path = validate::abs_path("path", path)?;
            run.runner.write_file(&host, &path, text, None)
        })
    }

    /// `write` with options: `mode` (`0o640` or `"0640"`).
    ///
    /// ```rhai
    /// file::write(h, "/etc/sudoers.d/zabbix", "zabbix ALL=(ALL) NOPASSWD: /usr/bin/vstorage\n", #{mode: 0o440});
    /// ```
    #[rhai_fn(name = "write", return_raw)]
    pub fn write_with(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
        text: &str,
        options: Map,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let path = validate::abs_path("path", path)?;
            let mut opts = OptionMap::new("file::write", options);
            let mode = mode(opts.take_dynamic("mode"))?;
            opts.finish()?;
            run.runner.write_file(&host, &path, text, mode)
        })
    }

    /// Appends `line` unless the file already has exactly that line (creates the file when
    /// missing).
    ///
    /// ```rhai
    /// file::ensure_line(h, "/etc/security/limits.d/90-nofile.conf", "*  soft  nofile  65536");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn ensure_line(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
        line: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            // One line; tabs separate fields of limits.d and similar formats.
            validate::file_text("line", line, true)?;
            let text = read_or_empty(run, &host, path)?;
            if text.lines().any(|l| l == line) {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("{path} already has the line")));
            }
            run.runner
                .write_file(&host, path, &crate::edit::append_line(&text, line), None)
        })
    }
}
