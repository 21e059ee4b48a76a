//! `prlsrvctl::` — virtual networks of a hypervisor (`prlsrvctl net`).
//!
//! The `net list` layout is not in the reference, so it is read by the header's column
//! offsets (cells may be empty, as "Bound To" is for host-only networks).

use rhai::plugin::*;
use rhai::{Array, Dynamic, Map};

use super::{call, change, map, read, validate};
use crate::api::{OptionMap, RunContext};
use crate::cmd::Cmd;
use crate::failure::{ApiResult, Failure};
use crate::host::Host;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub name: String,
    pub kind: String,
    pub bound_to: String,
}

/// Reads a table whose cells start under their header words.
pub fn parse_net_list(text: &str) -> Vec<Network> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let start = |word: &str| header.find(word);
    let (Some(t), b) = (start("Type"), start("Bound To")) else {
        return Vec::new();
    };
    let cut = |line: &str, from: usize, to: Option<usize>| -> String {
        let end = to.unwrap_or(line.len()).min(line.len());
        line.get(from.min(end)..end)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    lines
        .map(|l| {
            let after_bound = b.and_then(|b| {
                header[b + 8..]
                    .find(|c: char| !c.is_whitespace())
                    .map(|i| b + 8 + i)
            });
            Network {
                name: cut(l, 0, Some(t)),
                kind: cut(l, t, b),
                bound_to: b.map(|b| cut(l, b, after_bound)).unwrap_or_default(),
            }
        })
        .filter(|n| !n.name.is_empty())
        .collect()
}

pub fn networks(run: &RunContext, host: &Host) -> Result<Vec<Network>, Failure> {
    Ok(parse_net_list(
        &read(run, host, ["prlsrvctl", "net", "list"])?.stdout,
    ))
}

#[export_module]
pub mod api {
    use super::*;

    /// The host's virtual networks as maps `#{name, type, bound_to}`.
    ///
    /// ```rhai
    /// for n in prlsrvctl::net_list(h) { log(`${n.name}: ${n.type}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn net_list(ctx: NativeCallContext, host: Host) -> ApiResult<Array> {
        call(&ctx, |run| {
            Ok(networks(run, &host)?
                .into_iter()
                .map(|n| {
                    Dynamic::from_map(map([
                        ("name", n.name.into()),
                        ("type", n.kind.into()),
                        ("bound_to", n.bound_to.into()),
                    ]))
                })
                .collect())
        })
    }

    /// Adds a virtual network; an existing one is no change.
    ///
    /// ```rhai
    /// prlsrvctl::net_add(h, "vlan100");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn net_add(ctx: NativeCallContext, host: Host, name: &str) -> ApiResult<bool> {
        call(&ctx, |run| {
            let name = validate::new_name("network name", name)?;
            if networks(run, &host)?.iter().any(|n| n.name == name) {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("network {name} exists")));
            }
            change(
                run,
                &host,
                Cmd::change(["prlsrvctl", "net", "add", name.as_str()]),
            )?;
            Ok(true)
        })
    }

    /// Sets a network's `type` (`"bridged"`, `"host-only"`) and `ifname` (the host
    /// interface it is bound to); settings already in force are no change.
    ///
    /// ```rhai
    /// prlsrvctl::net_set(h, "vlan100", #{type: "bridged", ifname: "bond0.100"});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn net_set(
        ctx: NativeCallContext,
        host: Host,
        name: &str,
        settings: Map,
    ) -> ApiResult<bool> {
        call(&ctx, |run| {
            let name = validate::new_name("network name", name)?;
            let mut opts = OptionMap::new("prlsrvctl::net_set", settings);
            let kind = opts.string("type")?;
            let ifname = opts.string("ifname")?;
            opts.finish()?;
            if let Some(k) = &kind {
                if k != "bridged" && k != "host-only" {
                    return Err(Failure::bad_input(
                        "type",
                        format!("{k:?} is not \"bridged\" or \"host-only\""),
                    ));
                }
            }
            if let Some(i) = &ifname {
                validate::new_name("ifname", i)?;
            }
            let current = networks(run, &host)?.into_iter().find(|n| n.name == name);
            let same = match &current {
                Some(current) => {
                    kind.as_ref().is_none_or(|k| *k == current.kind)
                        && ifname.as_ref().is_none_or(|i| *i == current.bound_to)
                }
                // In a plan an earlier planned `net_add` may create it: list the change.
                None if run.runner.is_plan() => false,
                None => {
                    return Err(Failure::failed(format!(
                        "network {name} does not exist on {}",
                        host.name()
                    )))
                }
            };
            if same {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("network {name} is already set so")));
            }
            let mut argv = vec!["prlsrvctl".to_string(), "net".into(), "set".into(), name];
            if let Some(k) = kind {
                argv.extend(["-t".into(), k]);
            }
            if let Some(i) = ifname {
                argv.extend(["--ifname".into(), i]);
            }
            change(run, &host, Cmd::change(argv))?;
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_list_by_column_offsets() {
        let text = "Network ID          Type        Bound To\nBridged             bridged     eth0\nHost-Only           host-only   \n";
        let nets = parse_net_list(text);
        assert_eq!(nets.len(), 2);
        assert_eq!(
            (
                nets[0].name.as_str(),
                nets[0].kind.as_str(),
                nets[0].bound_to.as_str()
            ),
            ("Bridged", "bridged", "eth0")
        );
        assert_eq!(nets[1].bound_to, "");
    }
}
