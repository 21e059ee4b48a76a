//! Simulated `firewall-cmd` (firewalld 0.6.3), per reference/virtuozzo-cli.md §5: runtime
//! and permanent ports per zone, and the zone an interface is bound to.

use super::reply::Reply;
use super::state::LabState;

/// Checks a `port[-port]/proto` the way firewalld does; the error is (exit code, message).
/// Shared with the primitive where firewalld's rule is the same: `portid[-portid]/protocol`
/// with protocol tcp, udp, sctp or dccp (firewall-cmd(1), INVALID_PORT/INVALID_PROTOCOL).
/// Where they differ the lab is stricter, never laxer: firewalld also takes a service name
/// from /etc/services as portid (firewall.functions.getPortID falls back to
/// getservbyname), which vzrun refuses before any command runs, so the lab never sees one.
fn check_port(spec: &str) -> Result<(), (i32, String)> {
    use crate::parse::rules::{check_port, PortProblem};
    check_port(spec).map_err(|p| match p {
        PortProblem::BadPort => (102, "Error: INVALID_PORT: bad port (most likely missing protocol), correct syntax is portid[-portid]/protocol\n".to_string()),
        PortProblem::BadProtocol(p) => (103, format!("Error: INVALID_PROTOCOL: '{p}' not from {{'tcp'|'udp'|'sctp'|'dccp'}}\n")),
    })
}

pub fn firewall_cmd(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let h = state.host_mut(host);
    let running = h.units.get("firewalld.service").is_some_and(|u| u.active);
    let mut permanent = false;
    let mut zone: Option<String> = None;
    let mut actions: Vec<(String, Option<String>)> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        match name.as_str() {
            "--permanent" => permanent = true,
            "--zone" => zone = inline.or_else(|| it.next().cloned()),
            "--list-ports" | "--reload" | "--state" | "--complete-reload" | "--get-default-zone"
            | "--get-active-zones" => actions.push((name, None)),
            "--get-zone-of-interface" => {
                let Some(v) = inline.or_else(|| it.next().cloned()) else {
                    return Reply::fail(2, format!("usage: see firewall-cmd man page\nfirewall-cmd: error: argument {name}: expected one argument\n"));
                };
                actions.push((name, Some(v)));
            }
            "--query-port" | "--add-port" | "--remove-port" => {
                let Some(v) = inline.or_else(|| it.next().cloned()) else {
                    return Reply::fail(2, format!("usage: see firewall-cmd man page\nfirewall-cmd: error: argument {name}: expected one argument\n"));
                };
                actions.push((name, Some(v)));
            }
            other => return Reply::fail(2, format!("usage: see firewall-cmd man page\nfirewall-cmd: error: unrecognized arguments: {other}\n")),
        }
    }
    if actions.iter().any(|(n, _)| n == "--state") {
        return if running {
            Reply::ok("running\n")
        } else {
            Reply {
                code: 252,
                stdout: "not running\n".into(),
                stderr: String::new(),
                takes: 0.0,
                finishes: None,
            }
        };
    }
    if !running {
        return Reply::fail(252, "FirewallD is not running\n");
    }
    const DEFAULT_ZONE: &str = "public";
    if actions.iter().any(|(n, _)| n == "--get-default-zone") {
        return Reply::ok(format!("{DEFAULT_ZONE}\n"));
    }
    if let Some((_, Some(ifname))) = actions.iter().find(|(n, _)| n == "--get-zone-of-interface") {
        // The runtime binding (a runtime-only one first); with --permanent, the permanent
        // one only: an interface no zone's permanent configuration names is in no zone there.
        let runtime = (!permanent)
            .then(|| h.ops.firewall_zones_runtime.get(ifname))
            .flatten();
        return match runtime.or_else(|| h.ops.firewall_zones.get(ifname)) {
            Some(z) => Reply::ok(format!("{z}\n")),
            None if !permanent && h.ops.interfaces.contains(ifname) => {
                Reply::ok(format!("{DEFAULT_ZONE}\n"))
            }
            None => Reply::fail(2, "no zone\n"),
        };
    }
    if actions.iter().any(|(n, _)| n == "--get-active-zones") {
        // firewalld 0.6 `--get-active-zones`: each zone with interfaces, then its
        // interfaces indented.
        let mut by_zone: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for ifname in h.ops.interfaces.iter().filter(|i| *i != "lo") {
            let z = h
                .ops
                .firewall_zones_runtime
                .get(ifname)
                .or_else(|| h.ops.firewall_zones.get(ifname))
                .map_or(DEFAULT_ZONE, String::as_str);
            by_zone.entry(z).or_default().push(ifname);
        }
        return Reply::ok(
            by_zone
                .iter()
                .map(|(z, ifs)| format!("{z}\n  interfaces: {}\n", ifs.join(" ")))
                .collect::<String>(),
        );
    }
    let zone = zone.filter(|z| z != DEFAULT_ZONE);
    if let Some(z) = &zone {
        const ZONES: &[&str] = &[
            "block", "dmz", "drop", "external", "home", "internal", "public", "trusted", "work",
        ];
        if !ZONES.contains(&z.as_str()) && !h.ops.zone_ports.contains_key(z) {
            return Reply::fail(112, format!("Error: INVALID_ZONE: {z}\n"));
        }
    }
    for (_, port) in &actions {
        if let Some(p) = port {
            if let Err((code, message)) = check_port(p) {
                return Reply::fail(code, message);
            }
        }
    }
    let queries: Vec<&String> = actions
        .iter()
        .filter(|(n, _)| n == "--query-port")
        .filter_map(|(_, p)| p.as_ref())
        .collect();
    let ports = match &zone {
        Some(z) => {
            let (runtime, perm) = h.ops.zone_ports.entry(z.clone()).or_default();
            if permanent {
                perm
            } else {
                runtime
            }
        }
        None if permanent => &mut h.ports_permanent,
        None => &mut h.ports_runtime,
    };
    if !queries.is_empty() {
        if queries.len() == 1 {
            return if ports.contains(queries[0]) {
                Reply::ok("yes\n")
            } else {
                Reply {
                    code: 1,
                    stdout: "no\n".into(),
                    stderr: String::new(),
                    takes: 0.0,
                    finishes: None,
                }
            };
        }
        let out: String = queries
            .iter()
            .map(|q| format!("'{q}': {}\n", if ports.contains(q) { "yes" } else { "no" }))
            .collect();
        return Reply::ok(out);
    }
    let mut warnings = String::new();
    let mut out = String::new();
    for (name, port) in &actions {
        match (name.as_str(), port) {
            ("--list-ports", _) => out.push_str(&format!("{}\n", ports.join(" "))),
            ("--add-port", Some(p)) => {
                if ports.contains(p) {
                    warnings.push_str(&format!(
                        "Warning: ALREADY_ENABLED: {}\n",
                        p.replace('/', ":")
                    ));
                } else {
                    ports.push(p.clone());
                }
            }
            ("--remove-port", Some(p)) => {
                if let Some(i) = ports.iter().position(|x| x == p) {
                    ports.remove(i);
                } else {
                    warnings.push_str(&format!("Warning: NOT_ENABLED: {}\n", p.replace('/', ":")));
                }
            }
            _ => {}
        }
    }
    if actions
        .iter()
        .any(|(n, _)| n == "--reload" || n == "--complete-reload")
    {
        h.ports_runtime = h.ports_permanent.clone();
        h.ops.firewall_zones_runtime.clear();
        for (runtime, perm) in h.ops.zone_ports.values_mut() {
            *runtime = perm.clone();
        }
        out.push_str("success\n");
    } else if actions
        .iter()
        .any(|(n, _)| n == "--add-port" || n == "--remove-port")
        && warnings.is_empty()
    {
        out.push_str("success\n");
    }
    let mut reply = Reply::ok(out);
    reply.stderr = warnings;
    reply
}
