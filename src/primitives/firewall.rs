//! `firewall::` — firewalld ports, opened and closed in both the permanent and the runtime
//! configuration, each only where needed (checked with `--query-port`).

use rhai::plugin::*;
use rhai::{Array, Map};

use super::options::OptionMap;
use super::{call, change, probe, read, validate};
use crate::cluster::host::Host;
use crate::failure::Failure;
use crate::run::context::RunContext;
use crate::transport::cmd::Cmd;

/// The `--zone=Z` word for a zone other than the default one (`None`: the default zone).
fn zone_arg(zone: Option<&str>) -> Option<String> {
    zone.map(|z| format!("--zone={z}"))
}

/// A zone name as firewalld takes it: letters, digits, `_` and `-`, at most 17 characters
/// (firewalld's zone name limit), not starting with `-`.
fn check_zone(zone: &str) -> Result<String, Failure> {
    let ok = !zone.is_empty()
        && zone.len() <= 17
        && !zone.starts_with('-')
        && zone
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(zone.to_string())
    } else {
        Err(Failure::bad_input(
            "zone",
            format!("{zone:?} is not a firewalld zone name"),
        ))
    }
}

/// The `zone` of an options map (`#{zone: "internal"}`), checked.
fn zone_option(function: &'static str, options: Map) -> Result<Option<String>, Failure> {
    let mut opts = OptionMap::new(function, options);
    let zone = opts.string("zone")?;
    opts.finish()?;
    zone.as_deref().map(check_zone).transpose()
}

/// Whether the port is open (`permanent` or runtime). `--query-port` answers by exit code.
fn is_open(
    run: &RunContext,
    host: &Host,
    port: &str,
    permanent: bool,
    zone: Option<&str>,
) -> Result<bool, Failure> {
    let query = format!("--query-port={port}");
    let zone = zone_arg(zone);
    let mut argv: Vec<&str> = vec!["firewall-cmd"];
    if permanent {
        argv.push("--permanent");
    }
    if let Some(z) = &zone {
        argv.push(z);
    }
    argv.push(&query);
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
fn set_port(
    run: &RunContext,
    host: &Host,
    port: &str,
    open: bool,
    zone: Option<&str>,
) -> Result<bool, Failure> {
    let port = validate::port(port)?;
    let action = if open { "--add-port" } else { "--remove-port" };
    let mut changed = false;
    for permanent in [true, false] {
        if is_open(run, host, &port, permanent, zone)? != open {
            let mut argv = vec!["firewall-cmd".to_string()];
            if permanent {
                argv.push("--permanent".into());
            }
            if let Some(z) = zone_arg(zone) {
                argv.push(z);
            }
            argv.push(format!("{action}={port}"));
            change(run, host, Cmd::change(argv))?;
            changed = true;
        }
    }
    if !changed {
        let state = if open { "open" } else { "closed" };
        let place = zone.map_or(String::new(), |z| format!(" in zone {z}"));
        run.runner
            .unchanged(host, format!("{port} is already {state}{place}"));
    }
    Ok(changed)
}

/// The interface holding the IPv4 `address` (`ip -o addr show`), if any.
fn interface_of(run: &RunContext, host: &Host, address: &str) -> Result<Option<String>, Failure> {
    let out = read(run, host, ["ip", "-o", "addr", "show"])?;
    // iproute2 one-line format: `N: IF    inet A/P ... scope global IF\ ...`.
    Ok(out.stdout.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        let i = w.iter().position(|x| *x == "inet")?;
        let a = w.get(i + 1)?.split('/').next()?;
        (a == address).then(|| w.get(1).map(|n| n.trim_end_matches(':').to_string()))?
    }))
}

/// The zone firewalld binds `ifname` to (`--get-zone-of-interface`), at runtime or in its
/// permanent configuration; `None` where it has none of its own (the default zone applies).
fn zone_of_interface(
    run: &RunContext,
    host: &Host,
    ifname: &str,
    permanent: bool,
) -> Result<Option<String>, Failure> {
    let arg = format!("--get-zone-of-interface={ifname}");
    let argv: Vec<&str> = if permanent {
        vec!["firewall-cmd", "--permanent", &arg]
    } else {
        vec!["firewall-cmd", &arg]
    };
    let out = probe(run, host, argv)?;
    let zone = out.stdout.trim();
    Ok((out.code == 0 && !zone.is_empty() && zone != "no zone").then(|| zone.to_string()))
}

/// `ZONE=` of the interface's EL7 ifcfg file (`ZONE=internal`, quoted or not), if set.
fn ifcfg_zone(run: &RunContext, host: &Host, ifname: &str) -> Result<Option<String>, Failure> {
    let path = format!("/etc/sysconfig/network-scripts/ifcfg-{ifname}");
    let text = super::file::read_or_empty(run, host, &path)?;
    Ok(text.lines().rev().find_map(|l| {
        let v = l.trim().strip_prefix("ZONE=")?;
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
        (!v.is_empty()).then(|| v.to_string())
    }))
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
        call(&ctx, |run| set_port(run, &host, port, true, None))
    }

    /// Opens a port in a given firewalld zone (`#{zone: "internal"}`), permanently and at
    /// runtime; where it is already open there, nothing is done. Traffic meets the zone
    /// of the interface it arrives on: see `firewall::zone_of_address`.
    ///
    /// ```rhai
    /// firewall::open(h, "10050/tcp", #{zone: "internal"});
    /// ```
    #[rhai_fn(name = "open", return_raw)]
    pub fn open_in(
        ctx: NativeCallContext,
        host: Host,
        port: &str,
        options: Map,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let zone = zone_option("firewall::open", options)?;
            set_port(run, &host, port, true, zone.as_deref())
        })
    }

    /// The firewalld zone that traffic to `address` meets on this host: the zone of the
    /// interface holding that IPv4 address (`ip -o addr show`, then
    /// `firewall-cmd --get-zone-of-interface`), or `()` when no interface holds it or the
    /// interface has no zone of its own (the default zone then applies).
    ///
    /// ```rhai
    /// let zone = firewall::zone_of_address(h, h.address);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn zone_of_address(
        ctx: NativeCallContext,
        host: Host,
        address: &str,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let Some(ifname) = interface_of(run, &host, address)? else {
                return Ok(Dynamic::UNIT);
            };
            Ok(zone_of_interface(run, &host, &ifname, false)?.map_or(Dynamic::UNIT, Dynamic::from))
        })
    }

    /// Where traffic to `address` goes after a firewall reload or a boot: `#{interface,
    /// zone}` for the interface holding that IPv4 address, `zone` being the `ZONE=` of its
    /// EL7 ifcfg file (initscripts bind the interface to it as it comes up), else its zone
    /// in firewalld's permanent configuration (`--permanent --get-zone-of-interface`), else
    /// `()` (the default zone). `()` when no interface holds the address. Compare it with
    /// `zone_of_address` (the runtime binding): a zone changed at runtime only is lost at
    /// the next `firewall-cmd --reload`.
    ///
    /// ```rhai
    /// let boot = firewall::boot_zone_of_address(h, h.address);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn boot_zone_of_address(
        ctx: NativeCallContext,
        host: Host,
        address: &str,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let Some(ifname) = interface_of(run, &host, address)? else {
                return Ok(Dynamic::UNIT);
            };
            let zone = match ifcfg_zone(run, &host, &ifname)? {
                Some(z) => Some(z),
                None => zone_of_interface(run, &host, &ifname, true)?,
            };
            let mut m = Map::new();
            m.insert("interface".into(), ifname.into());
            m.insert("zone".into(), zone.map_or(Dynamic::UNIT, Dynamic::from));
            Ok(Dynamic::from_map(m))
        })
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
        call(&ctx, |run| set_port(run, &host, port, false, None))
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
