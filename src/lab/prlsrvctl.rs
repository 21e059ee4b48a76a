//! Simulated `prlsrvctl net` (the output layout is not in the reference: a plain table).

use super::prlctl::BANNER;
use super::reply::Reply;
use super::state::LabState;

fn unrecognized(option: &str) -> Reply {
    Reply::fail(1, format!("Unrecognized option: {option}\n"))
}

/// `prlsrvctl net add|set|list` (output format not in the reference: a plain table).
pub fn prlsrvctl(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let h = state.host_mut(host);
    let reply = match words.as_slice() {
        ["net", "list", ..] => {
            let mut out = format!("{:<20}{:<12}{}\n", "Network ID", "Type", "Bound To");
            for n in &h.networks {
                out.push_str(&format!(
                    "{:<20}{:<12}{}\n",
                    n.name,
                    n.kind,
                    n.ifname.as_deref().unwrap_or("")
                ));
            }
            Reply::ok(out)
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
            if adding {
                h.networks.push(super::state::Network {
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
            Reply::ok("")
        }
        _ => Reply::fail(1, "Usage: prlsrvctl net add|set|list ...\n"),
    };
    reply.warned(BANNER)
}
