//! `fstab::` — /etc/fstab entries by mount point. Every byte not edited is preserved.

use rhai::plugin::*;
use rhai::{Array, Map};

use super::file::read_or_empty;
use super::OptionMap;
use super::{call, map, validate};
use crate::cluster::host::Host;
use crate::edit::fstab::{self, Entry};
use crate::failure::Failure;

pub const FSTAB: &str = "/etc/fstab";

fn entry_map(e: &Entry) -> Map {
    map([
        ("spec", e.spec.clone().into()),
        ("file", e.file.clone().into()),
        ("vfstype", e.vfstype.clone().into()),
        ("options", e.options.clone().into()),
        ("freq", (e.freq as i64).into()),
        ("passno", (e.passno as i64).into()),
    ])
}

fn field(opts: &mut OptionMap, name: &str, required: bool) -> Result<Option<String>, Failure> {
    let value = opts.string(name)?;
    if let Some(v) = &value {
        validate::file_text(name, v, false)?;
    }
    match &value {
        None if required => Err(Failure::bad_input(
            "fstab::ensure option",
            format!("`{name}` is required"),
        )),
        Some(v) if v.is_empty() || v.contains(['\n', '#']) => Err(Failure::bad_input(
            name,
            format!("{v:?} is empty or holds a newline or '#'"),
        )),
        Some(v) if name != "file" && v.contains(char::is_whitespace) => {
            Err(Failure::bad_input(name, format!("{v:?} holds white space")))
        }
        _ => Ok(value),
    }
}

/// `options` as a string (`"_netdev,noatime"`) or an array of options (`["_netdev",
/// "cache=/mnt/ssd/c"]`). A comma separates options, so it may not hide in one option's value
/// (an array item), and no option may be empty (`a,,b`).
fn mount_options(opts: &mut OptionMap) -> Result<String, Failure> {
    let items: Vec<String> = match opts.take_dynamic("options") {
        None => return Ok("defaults".into()),
        Some(v) if v.is_array() => {
            let mut items = Vec::new();
            for item in v.into_array().unwrap_or_default() {
                let item = item.to_string();
                if item.contains(',') {
                    return Err(Failure::bad_input(
                        "options",
                        format!("{item:?}: a comma separates mount options, so no option's value may hold one"),
                    ));
                }
                items.push(item);
            }
            items
        }
        Some(v) if v.is_string() => v.to_string().split(',').map(str::to_string).collect(),
        Some(v) => {
            return Err(Failure::bad_input(
                "options",
                format!("expected a string or an array, got {}", v.type_name()),
            ))
        }
    };
    for item in &items {
        validate::file_text("options", item, false)?;
        if item.is_empty() || item.contains(char::is_whitespace) || item.contains('#') {
            return Err(Failure::bad_input(
                "options",
                format!(
                    "{:?}: each option is non-empty, without white space or '#'",
                    items.join(",")
                ),
            ));
        }
    }
    Ok(items.join(","))
}

fn entry_from(options: Map) -> Result<Entry, Failure> {
    let mut opts = OptionMap::new("fstab::ensure", options);
    let spec = field(&mut opts, "spec", true)?.unwrap_or_default();
    let file = field(&mut opts, "file", true)?.unwrap_or_default();
    if file != "swap" && file != "none" {
        validate::abs_path("file", &file)?;
    }
    let vfstype = field(&mut opts, "vfstype", true)?.unwrap_or_default();
    let options_field = mount_options(&mut opts)?;
    let small = |opts: &mut OptionMap, name: &str| -> Result<u32, Failure> {
        match opts.int(name)? {
            None => Ok(0),
            Some(n) if (0..=9).contains(&n) => Ok(n as u32),
            Some(n) => Err(Failure::bad_input(name, format!("{n} is outside 0-9"))),
        }
    };
    let freq = small(&mut opts, "freq")?;
    let passno = small(&mut opts, "passno")?;
    opts.finish()?;
    Ok(Entry {
        spec,
        file,
        vfstype,
        options: options_field,
        freq,
        passno,
    })
}

#[export_module]
pub mod api {
    use super::*;

    /// The entries of /etc/fstab: `#{spec, file, vfstype, options, freq, passno}`.
    ///
    /// ```rhai
    /// for e in fstab::list(h) { if e.vfstype == "fuse.vstorage" { log(e.options); } }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn list(ctx: NativeCallContext, host: Host) -> Result<Array, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let text = read_or_empty(run, &host, FSTAB)?;
            Ok(fstab::parse(&text)
                .iter()
                .map(|e| Dynamic::from_map(entry_map(e)))
                .collect())
        })
    }

    /// Makes sure an entry exists for its mount point (`file`): added, or updated in place
    /// keeping the line's spacing. `spec`, `file`, `vfstype` are required; `options`
    /// (default `defaults`; a string, or an array whose items may not hold a comma),
    /// `freq`, `passno` (default 0). Control characters are refused in every field. Mount
    /// points compare as mount(8) does: `/vstorage/x/` is `/vstorage/x`.
    ///
    /// ```rhai
    /// fstab::ensure(h, #{spec: "vstorage://livelinux", file: "/vstorage/livelinux",
    ///     vfstype: "fuse.vstorage", options: "_netdev,cache=/mnt/ssd/cache,cachesize=64000"});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn ensure(
        ctx: NativeCallContext,
        host: Host,
        entry: Map,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let entry = entry_from(entry)?;
            let text = read_or_empty(run, &host, FSTAB)?;
            let new = fstab::ensure(&text, &entry);
            if new == text {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("fstab already mounts {} so", entry.file)));
            }
            run.runner.write_file(&host, FSTAB, &new, None)
        })
    }

    /// Removes the entries for a mount point; none is no change.
    ///
    /// ```rhai
    /// fstab::remove(h, "/vstorage/livelinux-cs3");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn remove(
        ctx: NativeCallContext,
        host: Host,
        mountpoint: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            validate::file_text("mount point", mountpoint, false)?;
            let text = read_or_empty(run, &host, FSTAB)?;
            let new = fstab::remove(&text, mountpoint);
            if new == text {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("fstab has no entry for {mountpoint}")));
            }
            run.runner.write_file(&host, FSTAB, &new, None)
        })
    }
}
