//! `prlctl::` configuration: creating VEs and changing their settings, disks and network
//! interfaces. Settings already in force (as `prlctl list -i -j` shows them) are no change.

use rhai::{Dynamic, Map};

use super::prlctl::{find, find_or_planned, info};
use super::OptionMap;
use super::{change, validate};
use crate::cluster::host::Host;
use crate::failure::Failure;
use crate::parse::prlctl as parse;
use crate::run::context::RunContext;
use crate::transport::cmd::Cmd;

pub fn create(run: &RunContext, host: &Host, name: &str, options: Map) -> Result<bool, Failure> {
    let name = validate::new_name("VE name", name)?;
    let mut opts = OptionMap::new("prlctl::create", options);
    let vmtype = opts
        .string("vmtype")?
        .unwrap_or_else(|| "ct".into())
        .to_lowercase();
    if vmtype != "ct" && vmtype != "vm" {
        return Err(Failure::bad_input(
            "vmtype",
            format!("{vmtype:?} is not \"ct\" or \"vm\""),
        ));
    }
    let ostemplate = opts.string("ostemplate")?;
    opts.finish()?;
    if find(run, host, &name)?.is_some() {
        return Ok(run.runner.unchanged(host, format!("{name} already exists")));
    }
    let mut argv = vec![
        "prlctl".to_string(),
        "create".into(),
        name,
        "--vmtype".into(),
        vmtype,
    ];
    if let Some(t) = ostemplate {
        argv.extend(["--ostemplate".into(), validate::new_name("ostemplate", &t)?]);
    }
    change(run, host, Cmd::change(argv))?;
    Ok(true)
}

/// `1024` (MB) or `"2G"`, `"512M"`.
fn size_arg(what: &str, value: &Dynamic) -> Result<String, Failure> {
    if let Ok(mb) = value.as_int() {
        if mb > 0 {
            return Ok(mb.to_string());
        }
    } else if value.is_string() {
        let s = value.to_string();
        // By characters, not bytes: a multibyte last character must not split the slice.
        let ok = s
            .strip_suffix(['M', 'G', 'T'])
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if ok {
            return Ok(s);
        }
    }
    Err(Failure::bad_input(
        what,
        format!("{value}: expected megabytes (an integer) or a size like \"2G\""),
    ))
}

pub fn set(run: &RunContext, host: &Host, id: &str, settings: Map) -> Result<bool, Failure> {
    let id = validate::ve_id(id)?;
    if settings.is_empty() {
        return Err(Failure::bad_input("prlctl::set settings", "nothing to set"));
    }
    let mut argv = vec!["prlctl".to_string(), "set".into(), id.clone()];
    for (key, value) in &settings {
        let flag = match key.as_str() {
            "hostname" | "description" => value.to_string(),
            "cpus" | "swappages" => match value.as_int() {
                Ok(n) if n >= 0 => n.to_string(),
                _ => return Err(Failure::bad_input(key, format!("{value}: expected a whole number"))),
            },
            "memsize" => size_arg("memsize", value)?,
            "onboot" => match (value.as_bool(), value.to_string().as_str()) {
                (Ok(b), _) => if b { "yes" } else { "no" }.to_string(),
                (_, v @ ("yes" | "no" | "auto")) => v.to_string(),
                _ => return Err(Failure::bad_input("onboot", format!("{value}: expected true, false or \"auto\""))),
            },
            other => {
                return Err(Failure::bad_input(
                    "prlctl::set setting",
                    format!("unknown setting `{other}` (known: hostname, description, cpus, memsize, swappages, onboot)"),
                ))
            }
        };
        argv.push(format!("--{key}"));
        argv.push(flag);
    }
    let exists = find_or_planned(run, host, &id)?.is_some();
    if let Some(current) = if exists {
        info(run, host, Some(&id))?
    } else {
        Vec::new()
    }
    .first()
    {
        if settings_in_force(current, &settings) {
            return Ok(run
                .runner
                .unchanged(host, format!("{id} already has these settings")));
        }
    }
    change(run, host, Cmd::change(argv))?;
    Ok(true)
}

/// Whether every requested setting is one `info` shows and already has that value.
fn settings_in_force(current: &parse::VeInfo, settings: &Map) -> bool {
    settings.iter().all(|(key, value)| match key.as_str() {
        "cpus" => value.as_int().ok().map(|v| v as u64) == current.cpus,
        "memsize" => size_mb(value) == current.memsize_mb,
        "hostname" => value.to_string() == current.hostname,
        "onboot" => {
            let text = value.to_string();
            let wanted = match (value.as_bool(), text.as_str()) {
                (Ok(true), _) | (_, "yes") => "on",
                (Ok(false), _) | (_, "no") => "off",
                (_, other) => other,
            };
            wanted == current.autostart
        }
        _ => false,
    })
}

/// A size setting in MB (`2048`, `"2G"`), when it can be read.
fn size_mb(value: &Dynamic) -> Option<u64> {
    if let Ok(mb) = value.as_int() {
        return u64::try_from(mb).ok();
    }
    let text = value.to_string();
    if let Ok(mb) = text.parse::<u64>() {
        return Some(mb);
    }
    let (unit_at, _) = text.char_indices().last()?;
    let (num, unit) = text.split_at(unit_at);
    let n: u64 = num.parse().ok()?;
    match unit {
        "M" => Some(n),
        "G" => Some(n * 1024),
        "T" => Some(n * 1024 * 1024),
        _ => None,
    }
}

pub fn set_disk(
    run: &RunContext,
    host: &Host,
    id: &str,
    device: &str,
    options: Map,
) -> Result<bool, Failure> {
    let id = validate::ve_id(id)?;
    let valid = device
        .strip_prefix("hdd")
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    if !valid {
        return Err(Failure::bad_input(
            "device",
            format!("{device:?}: expected hdd0, hdd1, ..."),
        ));
    }
    let mut opts = OptionMap::new("prlctl::set_disk", options);
    let size = opts
        .take_dynamic("size")
        .ok_or_else(|| Failure::bad_input("prlctl::set_disk option", "`size` is required"))?;
    let size = size_arg("size", &size)?;
    opts.finish()?;
    let exists = find_or_planned(run, host, &id)?.is_some();
    let wanted = size_mb(&Dynamic::from(size.clone()));
    if exists
        && device == "hdd0"
        && wanted.is_some()
        && info(run, host, Some(&id))?.first().and_then(|i| i.disk_mb) == wanted
    {
        return Ok(run
            .runner
            .unchanged(host, format!("{id} {device} already has {size}")));
    }
    change(
        run,
        host,
        Cmd::change([
            "prlctl".to_string(),
            "set".into(),
            id,
            "--device-set".into(),
            device.into(),
            "--size".into(),
            size,
        ]),
    )?;
    Ok(true)
}

pub fn add_netif(
    run: &RunContext,
    host: &Host,
    id: &str,
    name: &str,
    options: Map,
) -> Result<bool, Failure> {
    let id = validate::ve_id(id)?;
    let name = validate::new_name("interface name", name)?;
    let mut opts = OptionMap::new("prlctl::add_netif", options);
    let mut settings = vec![];
    for key in ["network", "ipadd", "nameserver", "gw"] {
        if let Some(v) = opts.string(key)? {
            if v.is_empty() || v.starts_with('-') || v.contains(char::is_whitespace) {
                return Err(Failure::bad_input(
                    key,
                    format!("{v:?} is not a valid value"),
                ));
            }
            settings.push((key, v));
        }
    }
    opts.finish()?;
    find_or_planned(run, host, &id)?;
    change(
        run,
        host,
        Cmd::change([
            "prlctl".to_string(),
            "set".into(),
            id.clone(),
            "--netif_add".into(),
            name.clone(),
        ]),
    )?;
    if !settings.is_empty() {
        let mut argv = vec![
            "prlctl".to_string(),
            "set".into(),
            id,
            "--ifname".into(),
            name,
        ];
        for (k, v) in settings {
            argv.push(format!("--{k}"));
            argv.push(v);
        }
        change(run, host, Cmd::change(argv))?;
    }
    Ok(true)
}
