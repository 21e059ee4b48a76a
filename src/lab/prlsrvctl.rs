//! Simulated `prlsrvctl net`. `net list` prints the VZ7 five-column table (Network ID,
//! Type, Bound To, Bridge, Slave interfaces) with names longer than 15 characters cut to 14
//! and a `~`, as prlsrvctl does; `net list -j` prints the full names as JSON (TAB indents,
//! all values strings, as prlctl's JSON formatter writes, reference §1.2). The column widths,
//! the JSON keys and the bridge names are invented: the reference has no sample.

use super::prlctl::BANNER;
use super::reply::Reply;
use super::state::{LabState, Network};

/// Lab seconds a `net add`/`net set` that binds takes at speed 1: the dispatcher
/// reconfigures the host bridge, and the VEs on the network lose their link meanwhile.
const NET_SET: f64 = 1.0;

fn unrecognized(option: &str) -> Reply {
    Reply::fail(1, format!("Unrecognized option: {option}\n"))
}

/// `prlsrvctl net add|set|del|list [-j]`.
pub fn prlsrvctl(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let h = state.host_mut(host);
    let reply = match words.as_slice() {
        ["net", "list", rest @ ..] => {
            let json = rest.iter().any(|o| *o == "-j" || *o == "--json");
            Reply::ok(if json {
                net_list_json(&h.networks)
            } else {
                net_list_table(&h.networks)
            })
        }
        ["net", "add", name, opts @ ..] | ["net", "set", name, opts @ ..] => {
            let adding = words[1] == "add";
            let exists = h.networks.iter().any(|n| n.name == *name);
            if adding && exists {
                return Reply::fail(
                    255,
                    format!("Failed to add the network {name}: the network already exists.\n"),
                )
                .warned(BANNER);
            }
            if !adding && !exists {
                return Reply::fail(255, format!("Failed to find the network {name}.\n"))
                    .warned(BANNER);
            }
            let mut kind = None;
            let mut ifname = None;
            let mut it = opts.iter();
            while let Some(o) = it.next() {
                match *o {
                    "-t" | "--type" => kind = it.next().map(|s| s.to_string()),
                    "-i" | "--ifname" => ifname = it.next().map(|s| s.to_string()),
                    other => return unrecognized(other).warned(BANNER),
                }
            }
            let bridged = kind.as_deref().map_or_else(
                || {
                    h.networks
                        .iter()
                        .find(|n| n.name == *name)
                        .is_some_and(|n| n.kind == "bridged")
                },
                |k| k == "bridged",
            );
            let bound = ifname.clone().or_else(|| {
                h.networks
                    .iter()
                    .find(|n| n.name == *name)
                    .and_then(|n| n.ifname.clone())
            });
            if let Some(i) = bound.filter(|i| bridged && h.ops.unbridged.contains(i)) {
                let verb = if adding { "add" } else { "update" };
                return Reply::fail(
                    255,
                    format!("Failed to {verb} the network {name}: the bridge for the network adapter {i} was not found.\n"),
                )
                .warned(BANNER);
            }
            if adding {
                h.networks.push(Network {
                    name: name.to_string(),
                    kind: kind.unwrap_or_else(|| "host-only".into()),
                    ifname,
                });
            } else if let Some(n) = h.networks.iter_mut().find(|n| n.name == *name) {
                if let Some(k) = kind {
                    n.kind = k;
                }
                if ifname.is_some() {
                    n.ifname = ifname;
                }
            }
            Reply::ok("").takes(NET_SET)
        }
        ["net", "del", name] => match h.networks.iter().position(|n| n.name == *name) {
            Some(i) => {
                h.networks.remove(i);
                Reply::ok("")
            }
            None => Reply::fail(255, format!("Failed to find the network {name}.\n")),
        },
        _ => Reply::fail(1, "Usage: prlsrvctl net add|set|del|list ...\n"),
    };
    reply.warned(BANNER)
}

/// The bridge a network's VEs are plugged into (invented names).
fn bridge(index: usize, network: &Network) -> String {
    match network.kind.as_str() {
        "bridged" => format!("br{index}"),
        _ => format!("virbr{}", index + 1),
    }
}

fn net_list_table(networks: &[Network]) -> String {
    let cut = |name: &str| {
        if name.chars().count() > 15 {
            format!("{}~", name.chars().take(14).collect::<String>())
        } else {
            name.to_string()
        }
    };
    let mut out = format!(
        "{:<16}{:<11}{:<11}{:<11}{}\n",
        "Network ID", "Type", "Bound To", "Bridge", "Slave interfaces"
    );
    for (i, n) in networks.iter().enumerate() {
        out.push_str(&format!(
            "{:<16}{:<11}{:<11}{:<11}{}\n",
            cut(&n.name),
            n.kind,
            n.ifname.as_deref().unwrap_or(""),
            bridge(i, n),
            n.ifname.as_deref().unwrap_or("")
        ));
    }
    out
}

fn net_list_json(networks: &[Network]) -> String {
    let rows: Vec<String> = networks
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let fields = [
                ("Network ID", n.name.clone()),
                ("Type", n.kind.clone()),
                ("Bound To", n.ifname.clone().unwrap_or_default()),
                ("Bridge", bridge(i, n)),
            ];
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("\t\t\"{k}\": {}", serde_json::Value::from(v.as_str())))
                .collect();
            format!("\t{{\n{}\n\t}}", body.join(",\n"))
        })
        .collect();
    format!("[\n{}\n]\n", rows.join(",\n"))
}
