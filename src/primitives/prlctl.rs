//! `prlctl::` — VEs (containers and VMs) on a hypervisor.
//!
//! Listing uses `prlctl list -a -j` (falling back to the plain table), with the IP column
//! last so every address is shown. Start, stop, migrate, register, unregister and create
//! check the current state first and report "no change" where the real tool would fail
//! (starting a running VE) or do something else.

use std::time::Duration;

use rhai::plugin::*;
use rhai::{Array, Dynamic, Map};

use super::OptionMap;
use super::{call, change, map, probe, read, strings, validate};
use crate::cluster::host::Host;
use crate::failure::{ApiResult, Failure};
use crate::parse::prlctl::{self as parse, VeRow, LIST_FIELDS};
use crate::run::context::RunContext;
use crate::transport::cmd::Cmd;

/// Deadline of a migration unless the runbook gives one.
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(3600);

fn ve_map(row: &VeRow, host: &Host) -> Map {
    map([
        ("uuid", row.uuid.clone().into()),
        ("name", row.name.clone().into()),
        ("status", row.status.clone().into()),
        ("kind", row.kind.clone().into()),
        ("ip", row.ips.first().cloned().unwrap_or_default().into()),
        ("ips", strings(&row.ips)),
        ("home", row.home.clone().into()),
        ("hostname", row.hostname.clone().into()),
        ("dist", row.dist.clone().into()),
        ("host", host.name().to_string().into()),
    ])
}

fn info_map(i: &parse::VeInfo, host: &Host) -> Map {
    map([
        ("uuid", i.uuid.clone().into()),
        ("name", i.name.clone().into()),
        ("status", i.status.clone().into()),
        ("kind", i.kind.clone().into()),
        ("home", i.home.clone().into()),
        ("hostname", i.hostname.clone().into()),
        ("os", i.os.clone().into()),
        ("memsize", super::opt_int(i.memsize_mb)),
        ("cpus", super::opt_int(i.cpus)),
        ("disk", super::opt_int(i.disk_mb)),
        ("ha_prio", (i.ha_prio as i64).into()),
        ("autostart", i.autostart.clone().into()),
        ("networks", strings(&i.networks)),
        (
            "disks",
            i.disks
                .iter()
                .map(|d| {
                    Dynamic::from_map(map([
                        ("device", d.device.clone().into()),
                        ("image", d.image.clone().into()),
                        ("size", super::opt_int(d.size_mb)),
                    ]))
                })
                .collect::<Array>()
                .into(),
        ),
        ("host", host.name().to_string().into()),
    ])
}

/// Configuration of the host's VEs (`prlctl list -a -i -f -j [ID]`; `-f` adds the HA group).
pub(super) fn info(
    run: &RunContext,
    host: &Host,
    id: Option<&str>,
) -> Result<Vec<parse::VeInfo>, Failure> {
    let mut argv = vec!["prlctl", "list", "-a", "-i", "-f", "-j"];
    argv.extend(id);
    let out = read(run, host, argv)?;
    parse::info_json(&out.stdout).map_err(|e| Failure::failed(format!("on {}: {e}", host.name())))
}

/// Every VE registered on the host (running or not).
pub fn list(run: &RunContext, host: &Host) -> Result<Vec<VeRow>, Failure> {
    list_filtered(run, host, None).map(|rows| rows.unwrap_or_default())
}

/// `None` when an id was given and the host does not have it.
fn list_filtered(
    run: &RunContext,
    host: &Host,
    id: Option<&str>,
) -> Result<Option<Vec<VeRow>>, Failure> {
    let mut argv = vec!["prlctl", "list", "-a", "-j", "-o", LIST_FIELDS];
    argv.extend(id);
    let out = probe(run, host, argv.clone())?;
    if out.code == 255 && id.is_some() && parse::is_not_found(&out.stderr) {
        return Ok(None);
    }
    if out.code == 255 {
        // Another SDK error (prlctl exits 255 for all of them): not a missing VE.
        return Err(crate::run::runner::command_failure(
            host,
            &Cmd::read(argv),
            &out,
        ));
    }
    if out.success() {
        if let Ok(rows) = parse::list_json(&out.stdout) {
            return Ok(Some(rows));
        }
    }
    // Older prlctl without -j: the plain table, mapped by header.
    argv.retain(|a| *a != "-j");
    let table = probe(run, host, argv.clone())?;
    if table.code == 255 && id.is_some() && parse::is_not_found(&table.stderr) {
        return Ok(None);
    }
    if !table.success() {
        return Err(crate::run::runner::command_failure(
            host,
            &Cmd::read(argv),
            &table,
        ));
    }
    parse::list_table(&table.stdout, LIST_FIELDS)
        .map(Some)
        .map_err(|e| Failure::failed(format!("on {}: {e}", host.name())))
}

/// The VE on this host, or `None`.
pub fn find(run: &RunContext, host: &Host, id: &str) -> Result<Option<VeRow>, Failure> {
    let id = validate::ve_id(id)?;
    Ok(list_filtered(run, host, Some(&id))?.and_then(|rows| rows.into_iter().next()))
}

pub(super) fn must_find(run: &RunContext, host: &Host, id: &str) -> Result<VeRow, Failure> {
    find(run, host, id)?
        .ok_or_else(|| Failure::failed(format!("VE {id:?} is not registered on {}", host.name())))
}

/// The VE; in a plan, `None` when it does not exist yet (an earlier planned change, such as
/// a create, may make it), so the change is listed rather than refused.
pub(super) fn find_or_planned(
    run: &RunContext,
    host: &Host,
    id: &str,
) -> Result<Option<VeRow>, Failure> {
    match find(run, host, id)? {
        Some(ve) => Ok(Some(ve)),
        None if run.runner.is_plan() => {
            run.runner.log(format!(
                "{id} is not on {} yet; listing the change as it would run after the earlier planned ones",
                host.name()
            ));
            Ok(None)
        }
        None => Err(Failure::failed(format!(
            "VE {id:?} is not registered on {}",
            host.name()
        ))),
    }
}

pub fn start(run: &RunContext, host: &Host, id: &str) -> Result<bool, Failure> {
    let Some(ve) = find_or_planned(run, host, id)? else {
        change(run, host, Cmd::change(["prlctl", "start", id]))?;
        return Ok(true);
    };
    match ve.status.as_str() {
        "running" => {
            return Ok(run
                .runner
                .unchanged(host, format!("{} is already running", ve.name)))
        }
        "starting" => {
            return Ok(run
                .runner
                .unchanged(host, format!("{} is already starting", ve.name)))
        }
        _ => {}
    }
    change(run, host, Cmd::change(["prlctl", "start", id]))?;
    Ok(true)
}

pub fn stop(run: &RunContext, host: &Host, id: &str, kill: bool) -> Result<bool, Failure> {
    let ve = must_find(run, host, id)?;
    if ve.status == "stopped" {
        return Ok(run
            .runner
            .unchanged(host, format!("{} is already stopped", ve.name)));
    }
    let mut argv = vec!["prlctl", "stop", id];
    if kill {
        argv.push("--kill");
    }
    change(run, host, Cmd::change(argv))?;
    Ok(true)
}

pub fn migrate(
    run: &RunContext,
    src: &Host,
    id: &str,
    dst: &Host,
    options: Map,
) -> Result<bool, Failure> {
    let id = validate::ve_id(id)?;
    let mut opts = OptionMap::new("prlctl::migrate", options);
    let mut extra: Vec<String> = Vec::new();
    if opts.bool("clone")?.unwrap_or(false) {
        extra.push("--clone".into());
    }
    if opts.bool("remove_src")?.unwrap_or(false) {
        extra.push("--remove-src".into());
    }
    if opts.bool("no_compression")?.unwrap_or(false) {
        extra.push("--no-compression".into());
    }
    if let Some(path) = opts.string("dst_path")? {
        extra.extend(["--dst".into(), validate::abs_path("dst_path", &path)?]);
    }
    if let Some(ssh) = opts.string("ssh")? {
        extra.extend(["--ssh".into(), ssh]);
    }
    let timeout = opts.seconds("timeout")?.unwrap_or(MIGRATE_TIMEOUT);
    opts.finish()?;
    if src == dst {
        return Err(Failure::bad_input(
            "destination",
            format!("{} is also the source", dst.name()),
        ));
    }
    if find(run, src, &id)?.is_none() {
        return match find(run, dst, &id)? {
            Some(ve) => Ok(run
                .runner
                .unchanged(dst, format!("{} is already on {}", ve.name, dst.name()))),
            None => Err(Failure::failed(format!(
                "VE {id:?} is on neither {} nor {}",
                src.name(),
                dst.name()
            ))),
        };
    }
    // The destination is locked too: no other run may drain it while this VE moves in.
    run.runner.lock(dst)?;
    let mut argv = vec![
        "prlctl".to_string(),
        "migrate".into(),
        id,
        dst.address().to_string(),
    ];
    argv.extend(extra);
    change(run, src, Cmd::change(argv).with_timeout(timeout))?;
    Ok(true)
}

pub fn register(run: &RunContext, host: &Host, path: &str, options: Map) -> Result<bool, Failure> {
    let path = validate::abs_path("path", path)?;
    let mut opts = OptionMap::new("prlctl::register", options);
    let preserve = opts.bool("preserve_uuid")?.unwrap_or(false);
    let force = opts.bool("force")?.unwrap_or(false);
    opts.finish()?;
    let wanted = path.trim_end_matches('/');
    if let Some(ve) = list(run, host)?
        .into_iter()
        .find(|v| v.home.trim_end_matches('/') == wanted)
    {
        return Ok(run.runner.unchanged(
            host,
            format!("{} ({wanted}) is already registered", ve.name),
        ));
    }
    let mut argv = vec!["prlctl", "register", wanted];
    if preserve {
        argv.push("--preserve-uuid");
    }
    if force {
        argv.push("--force");
    }
    change(run, host, Cmd::change(argv))?;
    Ok(true)
}

pub fn unregister(run: &RunContext, host: &Host, id: &str) -> Result<bool, Failure> {
    match find(run, host, id)? {
        None => Ok(run
            .runner
            .unchanged(host, format!("{id} is not registered here"))),
        Some(_) => {
            change(run, host, Cmd::change(["prlctl", "unregister", id]))?;
            Ok(true)
        }
    }
}

pub use super::prlctl_config::{add_netif, create, set, set_disk};

#[export_module]
pub mod api {
    use super::*;

    /// Every VE (containers and VMs, running or not) registered on the host, as maps with
    /// `uuid name status kind ip ips home hostname dist host`.
    ///
    /// ```rhai
    /// for ve in prlctl::list(host("msk-07")) { log(`${ve.name} ${ve.status}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn list(ctx: NativeCallContext, host: Host) -> ApiResult<Array> {
        call(&ctx, |run| {
            Ok(super::list(run, &host)?
                .iter()
                .map(|r| Dynamic::from_map(ve_map(r, &host)))
                .collect())
        })
    }

    /// One VE by name or UUID; an error when the host does not have it.
    ///
    /// ```rhai
    /// let ve = prlctl::get(h, "web01");
    /// log(ve.home);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get(ctx: NativeCallContext, host: Host, id: &str) -> ApiResult<Map> {
        call(&ctx, |run| Ok(ve_map(&must_find(run, &host, id)?, &host)))
    }

    /// One VE by name or UUID, or `()` when the host does not have it. Asks prlctl about
    /// that VE only (`list -a -j ID`), so a loop over thousands of VEs stays linear.
    ///
    /// ```rhai
    /// let ve = prlctl::find(h, "web01");
    /// if ve == () { log("web01 is not on this host"); } else { log(ve.status); }
    /// ```
    #[rhai_fn(name = "find", return_raw)]
    pub fn find_ve(ctx: NativeCallContext, host: Host, id: &str) -> ApiResult<Dynamic> {
        call(&ctx, |run| {
            Ok(super::find(run, &host, id)?
                .map_or(Dynamic::UNIT, |ve| Dynamic::from_map(ve_map(&ve, &host))))
        })
    }

    /// The configuration of every VE on the host: maps with `uuid name status kind home
    /// hostname os memsize cpus disk ha_prio networks disks host autostart` (sizes in MB; `()`
    /// when the tool does not say; `ha_prio` 0 when HA does not say; `networks` the virtual
    /// networks of its adapters; `autostart` as the tool says it: `on`, `off`, `auto`).
    /// `disks` holds its hard disks in device order, each `#{device, image, size}`: `hdd0`,
    /// the absolute path of its image (`…/root.hdd`, the `image='…'` of `prlctl list -i`;
    /// `""` when not shown) and its size in MB. The images keep the vstorage tier they were
    /// created with: `vstorage::get_attr(h, disk.image)` tells where the data is.
    ///
    /// ```rhai
    /// let ram = prlctl::info(h).reduce(|sum, ve| sum + ve.memsize, 0);
    /// for ve in prlctl::info(h) {
    ///     for d in ve.disks { log(`${ve.name} ${d.device}: ${d.image} (${d.size} MB)`); }
    /// }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn info(ctx: NativeCallContext, host: Host) -> ApiResult<Array> {
        call(&ctx, |run| {
            Ok(super::info(run, &host, None)?
                .iter()
                .map(|i| Dynamic::from_map(info_map(i, &host)))
                .collect())
        })
    }

    /// The configuration of one VE (see `info(h)`).
    ///
    /// ```rhai
    /// log(`web01 has ${prlctl::info(h, "web01").memsize} MB`);
    /// ```
    #[rhai_fn(name = "info", return_raw)]
    pub fn info_one(ctx: NativeCallContext, host: Host, id: &str) -> ApiResult<Map> {
        call(&ctx, |run| {
            let id = validate::ve_id(id)?;
            must_find(run, &host, &id)?;
            let all = super::info(run, &host, Some(&id))?;
            all.first().map(|i| info_map(i, &host)).ok_or_else(|| {
                Failure::failed(format!("no configuration for {id} on {}", host.name()))
            })
        })
    }

    /// The VE's status word (`running`, `stopped`, `starting`, ...), from `prlctl status`.
    ///
    /// ```rhai
    /// if prlctl::status(h, "web01") == "running" { log("up"); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn status(ctx: NativeCallContext, host: Host, id: &str) -> ApiResult<String> {
        call(&ctx, |run| {
            let id = validate::ve_id(id)?;
            let out = read(run, &host, ["prlctl", "status", id.as_str()])?;
            Ok(parse::status(&out.stdout)
                .map_err(|e| Failure::failed(format!("on {}: {e}", host.name())))?
                .1)
        })
    }

    /// Starts a VE; a running (or starting) VE is left alone and reported as no change.
    /// Returns whether anything was done.
    ///
    /// ```rhai
    /// prlctl::start(h, "web01");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn start(ctx: NativeCallContext, host: Host, id: &str) -> ApiResult<bool> {
        call(&ctx, |run| super::start(run, &host, id))
    }

    /// Stops a VE; a stopped VE is reported as no change.
    ///
    /// ```rhai
    /// prlctl::stop(h, "web01");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn stop(ctx: NativeCallContext, host: Host, id: &str) -> ApiResult<bool> {
        call(&ctx, |run| super::stop(run, &host, id, false))
    }

    /// Stops a VE with options: `kill` (true: `--kill`, no clean shutdown).
    ///
    /// ```rhai
    /// prlctl::stop(h, "web01", #{kill: true});
    /// ```
    #[rhai_fn(name = "stop", return_raw)]
    pub fn stop_with(
        ctx: NativeCallContext,
        host: Host,
        id: &str,
        options: Map,
    ) -> ApiResult<bool> {
        call(&ctx, |run| {
            let mut opts = OptionMap::new("prlctl::stop", options);
            let kill = opts.bool("kill")?.unwrap_or(false);
            opts.finish()?;
            super::stop(run, &host, id, kill)
        })
    }

    /// Restarts a VE (always acts).
    ///
    /// ```rhai
    /// prlctl::restart(h, "web01");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn restart(ctx: NativeCallContext, host: Host, id: &str) -> ApiResult<bool> {
        call(&ctx, |run| {
            let id = validate::ve_id(id)?;
            must_find(run, &host, &id)?;
            change(run, &host, Cmd::change(["prlctl", "restart", id.as_str()]))?;
            Ok(true)
        })
    }

    /// Migrates a VE to another host: live when it runs, offline when stopped (prlctl picks
    /// by state). A VE already on the destination is no change. The destination's lock is
    /// taken (and held for the run) before the migration, like the source's.
    ///
    /// ```rhai
    /// prlctl::migrate(host("msk-07"), "web01", host("msk-02"));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn migrate(ctx: NativeCallContext, src: Host, id: &str, dst: Host) -> ApiResult<bool> {
        call(&ctx, |run| super::migrate(run, &src, id, &dst, Map::new()))
    }

    /// `migrate` with options: `timeout` (seconds, default 3600), `clone`, `remove_src`,
    /// `no_compression`, `dst_path`, `ssh` (options for prlctl's ssh).
    ///
    /// ```rhai
    /// prlctl::migrate(src, "web01", dst, #{timeout: 900});
    /// ```
    #[rhai_fn(name = "migrate", return_raw)]
    pub fn migrate_with(
        ctx: NativeCallContext,
        src: Host,
        id: &str,
        dst: Host,
        options: Map,
    ) -> ApiResult<bool> {
        call(&ctx, |run| super::migrate(run, &src, id, &dst, options))
    }

    /// Registers the VE whose home is `path` on this host. Options: `preserve_uuid`, `force`
    /// (needed on shared storage when the config names another server; revokes its leases).
    ///
    /// ```rhai
    /// prlctl::register(h, ve.home, #{preserve_uuid: true, force: true});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn register(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
        options: Map,
    ) -> ApiResult<bool> {
        call(&ctx, |run| super::register(run, &host, path, options))
    }

    /// Unregisters a VE (its files stay); not registered is no change.
    ///
    /// ```rhai
    /// prlctl::unregister(h, "web01");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn unregister(ctx: NativeCallContext, host: Host, id: &str) -> ApiResult<bool> {
        call(&ctx, |run| super::unregister(run, &host, id))
    }

    /// Creates a VE. Options: `vmtype` (`"ct"` default, or `"vm"`), `ostemplate`. An
    /// existing VE of that name is no change.
    ///
    /// ```rhai
    /// prlctl::create(h, "web05", #{vmtype: "ct", ostemplate: "centos-7-x86_64"});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn create(ctx: NativeCallContext, host: Host, name: &str, options: Map) -> ApiResult<bool> {
        call(&ctx, |run| super::create(run, &host, name, options))
    }

    /// Sets VE parameters: `hostname`, `description`, `cpus`, `memsize` (MB or `"2G"`),
    /// `swappages`, `onboot` (bool or `"auto"`). Unknown settings are an error.
    ///
    /// ```rhai
    /// prlctl::set(h, "web05", #{cpus: 4, memsize: "8G", onboot: true});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn set(ctx: NativeCallContext, host: Host, id: &str, settings: Map) -> ApiResult<bool> {
        call(&ctx, |run| super::set(run, &host, id, settings))
    }

    /// Resizes a disk: `size` in MB or like `"100G"`.
    ///
    /// ```rhai
    /// prlctl::set_disk(h, "web05", "hdd0", #{size: "100G"});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn set_disk(
        ctx: NativeCallContext,
        host: Host,
        id: &str,
        device: &str,
        options: Map,
    ) -> ApiResult<bool> {
        call(&ctx, |run| super::set_disk(run, &host, id, device, options))
    }

    /// Adds a network interface and configures it: `network`, `ipadd` (`"10.0.0.5/24"`),
    /// `nameserver`, `gw`.
    ///
    /// ```rhai
    /// prlctl::add_netif(h, "web05", "eth0", #{network: "Bridged", ipadd: "10.30.20.99/24", gw: "10.30.20.1"});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn add_netif(
        ctx: NativeCallContext,
        host: Host,
        id: &str,
        name: &str,
        options: Map,
    ) -> ApiResult<bool> {
        call(&ctx, |run| super::add_netif(run, &host, id, name, options))
    }

    /// Runs an argv inside a running container (a Change: it may change anything). Returns
    /// `#{code, stdout, stderr}`; a non-zero exit is an error.
    ///
    /// ```rhai
    /// prlctl::exec(h, "web01", ["systemctl", "restart", "nginx"]);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn exec(ctx: NativeCallContext, host: Host, id: &str, argv: Array) -> ApiResult<Map> {
        call(&ctx, |run| {
            let id = validate::ve_id(id)?;
            let mut full = vec!["prlctl".to_string(), "exec".into(), id];
            full.extend(crate::primitives::strings_from_array(&argv, "argv")?);
            let out = change(run, &host, Cmd::change(full))?;
            Ok(crate::primitives::output_to_map(out))
        })
    }
}
