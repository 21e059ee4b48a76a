//! `prlsrvctl::` — virtual networks of a hypervisor (`prlsrvctl net`).
//!
//! Networks are read from `prlsrvctl net list -j` (every VZ7 update has `-j`): the plain
//! table cuts names longer than 15 characters to 14 and a `~`, so a long name would never
//! be found and `net_add` would add it again. The JSON shape is prlctl's formatter's
//! (reference §1.2: an array of objects, values strings); the keys are taken to be the
//! table's headers, which the reference does not confirm, so a few spellings are accepted.
//! The plain table is read by its header's column offsets (cells may be empty, as "Bound
//! To" is for host-only networks).

use rhai::plugin::*;
use rhai::{Array, Dynamic, Map};

use super::OptionMap;
use super::{call, change, map, read, validate};
use crate::cluster::host::Host;
use crate::failure::{ApiResult, Failure};
use crate::run::context::RunContext;
use crate::transport::cmd::Cmd;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub name: String,
    pub kind: String,
    pub bound_to: String,
}

/// Reads a table whose cells start under their header words. The primitive reads the JSON
/// form (`-j`); the tests hold this text form beside it.
#[cfg(test)]
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

/// `prlsrvctl net list -j`: `[{"Network ID": …, "Type": …, "Bound To": …}, …]`.
pub fn parse_net_list_json(text: &str) -> Result<Vec<Network>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let rows = value
        .as_array()
        .ok_or_else(|| "not a JSON array".to_string())?;
    let field = |row: &serde_json::Map<String, serde_json::Value>, keys: &[&str]| {
        keys.iter()
            .find_map(|k| row.get(*k))
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            })
            .unwrap_or_default()
    };
    rows.iter()
        .map(|row| {
            let row = row
                .as_object()
                .ok_or_else(|| "a network is not a JSON object".to_string())?;
            let name = field(row, &["Network ID", "Network", "ID", "name"]);
            if name.is_empty() {
                return Err(format!("a network without a name: {row:?}"));
            }
            Ok(Network {
                name,
                kind: field(row, &["Type", "type"]),
                bound_to: field(row, &["Bound To", "Bound to", "bound_to"]),
            })
        })
        .collect()
}

pub fn networks(run: &RunContext, host: &Host) -> Result<Vec<Network>, Failure> {
    let out = read(run, host, ["prlsrvctl", "net", "list", "-j"])?;
    parse_net_list_json(&out.stdout).map_err(|e| {
        Failure::failed(format!(
            "on {}: unexpected prlsrvctl net list -j output: {e}",
            host.name()
        ))
    })
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

    #[test]
    fn net_list_json_keeps_long_names() {
        let text = "[\n\t{\n\t\t\"Network ID\": \"storage-vlan-1234\",\n\t\t\"Type\": \"bridged\",\n\t\t\"Bound To\": \"bond0.1234\"\n\t},\n\t{\n\t\t\"Network ID\": \"Host-Only\",\n\t\t\"Type\": \"host-only\"\n\t}\n]\n";
        let nets = parse_net_list_json(text).unwrap();
        assert_eq!(
            (nets[0].name.as_str(), nets[0].bound_to.as_str()),
            ("storage-vlan-1234", "bond0.1234")
        );
        assert_eq!(
            (nets[1].kind.as_str(), nets[1].bound_to.as_str()),
            ("host-only", "")
        );
        assert!(parse_net_list_json("[\n\n]\n").unwrap().is_empty());
        assert!(parse_net_list_json("Network ID Type\n").is_err());
    }

    #[test]
    fn the_vz7_table_cuts_long_names() {
        let text = "Network ID      Type       Bound To   Bridge     Slave interfaces\nstorage-vlan-1~ bridged    bond0.1234 br2        bond0.1234\nHost-Only       host-only             virbr2\n";
        let nets = parse_net_list(text);
        assert_eq!(nets[0].name, "storage-vlan-1~");
        assert_eq!(nets[0].bound_to, "bond0.1234");
        assert_eq!(nets[1].bound_to, "");
    }
}
