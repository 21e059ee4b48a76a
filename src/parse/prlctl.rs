//! `prlctl list` (JSON and plain table, `-i -j`) and `prlctl status`, following the format
//! code of OpenVZ/prlctl (`PrlList.cpp`, `PrlOutFormatter.cpp`) as reference §1.2-1.3 gives it.

use serde_json::Value;

use super::ParseError;

/// One VE as `prlctl list` shows it. Fields the listing did not include are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VeRow {
    /// Without braces.
    pub uuid: String,
    pub name: String,
    pub status: String,
    /// `CT` or `VM`.
    pub kind: String,
    pub home: String,
    pub hostname: String,
    pub dist: String,
    pub ips: Vec<String>,
}

/// The `-o` fields vzrun asks for: the IP column last, so every address is shown.
pub const LIST_FIELDS: &str = "uuid,name,status,type,home,hostname,dist,ip_configured";

fn unbrace(s: &str) -> String {
    s.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_string()
}

fn dash_empty(s: &str) -> String {
    let s = s.trim();
    if s == "-" {
        String::new()
    } else {
        s.to_string()
    }
}

fn ips(s: &str) -> Vec<String> {
    s.split_whitespace()
        .filter(|a| *a != "-")
        .map(str::to_string)
        .collect()
}

pub(super) fn row_from(get: impl Fn(&str) -> Option<String>) -> VeRow {
    VeRow {
        uuid: get("uuid").map(|u| unbrace(&u)).unwrap_or_default(),
        name: get("name").map(|n| dash_empty(&n)).unwrap_or_default(),
        status: get("status").unwrap_or_default().trim().to_string(),
        kind: get("type").unwrap_or_default().trim().to_string(),
        home: get("home")
            .map(|h| home_path(&dash_empty(&h)))
            .unwrap_or_default(),
        hostname: get("hostname").map(|h| dash_empty(&h)).unwrap_or_default(),
        dist: get("dist").map(|d| dash_empty(&d)).unwrap_or_default(),
        ips: get("ip_configured")
            .or_else(|| get("ip"))
            .map(|i| ips(&i))
            .unwrap_or_default(),
    }
}

/// A `-j` document of a prlctl build whose JSON formatter writes values as they are
/// (OpenVZ/prlctl `PrlOutFormatterJSON::add` at 7e13fcc: `out << '"' << value << '"'`; the
/// vz7-u22 one escapes, reference §1.2), with each string value escaped. The formatter
/// writes one `"key": value` a line, so a string value is what lies between the `": "`
/// after its key and the last `"` of its line, or of a later line when the value holds new
/// lines (a description): the first line ending in `"` (or `",`) that the formatter's next
/// line follows (a tab-indented key, the end of an object or array), so a quoted word
/// ending a line of a description does not end it. `None` when no value needed it, or one is never closed.
fn reescaped(text: &str) -> Option<String> {
    let mut changed = false;
    let mut out: Vec<String> = Vec::new();
    // A string value left open at the end of its line: its line's start, and its text.
    let mut open: Option<(String, String)> = None;
    // `value"` or `value",` → (value, comma).
    let closed = |rest: &str| -> Option<(String, &'static str)> {
        let (rest, comma) = match rest.strip_suffix(',') {
            Some(r) => (r, ","),
            None => (rest, ""),
        };
        Some((rest.strip_suffix('"')?.to_string(), comma))
    };
    let lines: Vec<&str> = text.split('\n').collect();
    for (n, line) in lines.iter().enumerate() {
        let line = *line;
        let (key, text) = match open.take() {
            Some((key, so_far)) => (key, format!("{so_far}\n{line}")),
            None => match line.split_once("\": \"") {
                Some((key, rest)) => (key.to_string(), rest.to_string()),
                None => {
                    out.push(line.to_string());
                    continue;
                }
            },
        };
        // A line of the value that ends in `"` (a quoted word of a description) ends it only
        // where the formatter's next line follows: a key, or the end of an object or array.
        let last = n + 1 >= lines.len() || (n + 2 == lines.len() && lines[n + 1].is_empty());
        match closed(&text).filter(|_| last || structural(lines[n + 1])) {
            Some((value, comma)) => {
                let escaped = serde_json::to_string(&value).ok()?;
                changed |= escaped.len() != value.len() + 2;
                out.push(format!("{key}\": {escaped}{comma}"));
            }
            None => open = Some((key, text)),
        }
    }
    (changed && open.is_none()).then(|| out.join("\n"))
}

/// Whether a line of JSON is one the formatter writes after a value: a key line (tab
/// indented, `"key": `), or an object or array closing or opening.
fn structural(line: &str) -> bool {
    let inner = line.trim_start_matches('\t');
    matches!(inner, "}" | "}," | "]" | "]," | "{")
        || (inner.len() < line.len() && inner.starts_with('"') && inner.contains("\": "))
}

/// `prlctl list -j`: an array of objects whose values are all strings (reference §1.2,
/// `PrlOutFormatterJSON`).
pub fn list_json(text: &str) -> Result<Vec<VeRow>, ParseError> {
    let value: Value = serde_json::from_str(text)
        .or_else(|e| {
            reescaped(text)
                .and_then(|t| serde_json::from_str(&t).ok())
                .ok_or(e)
        })
        .map_err(|e| ParseError::new("prlctl list -j", e.to_string()))?;
    let array = value
        .as_array()
        .ok_or_else(|| ParseError::new("prlctl list -j", "not a JSON array"))?;
    array
        .iter()
        .map(|item| {
            let object = item
                .as_object()
                .ok_or_else(|| ParseError::new("prlctl list -j", "an entry is not an object"))?;
            Ok(row_from(|k| {
                object.get(k).map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
            }))
        })
        .collect()
}

pub use super::prlctl_table::list_table;

/// A VE's configuration from `prlctl list -i -j`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VeInfo {
    pub uuid: String,
    pub name: String,
    pub status: String,
    pub kind: String,
    pub home: String,
    pub hostname: String,
    pub os: String,
    pub memsize_mb: Option<u64>,
    pub cpus: Option<u64>,
    pub disk_mb: Option<u64>,
    /// `on`, `off` or `auto`.
    pub autostart: String,
    /// HA priority (`High Availability` group, shown with `-f`); 0 when not shown.
    pub ha_prio: u64,
    /// Virtual networks of its adapters (`network` of each `netN` device).
    pub networks: Vec<String>,
    /// Its hard disks (`hddN` devices) with their images, in device order.
    pub disks: Vec<super::prlctl_disks::VeDisk>,
}

/// `1024Mb`, `2Gb`, or a plain number (MB) → MB.
fn mb(value: &Value) -> Option<u64> {
    if let Some(n) = value.as_u64() {
        return Some(n);
    }
    let text = value.as_str()?.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let n: u64 = text[..split].parse().ok()?;
    match text[split..].to_ascii_lowercase().as_str() {
        "" | "mb" | "m" => Some(n),
        "gb" | "g" => Some(n * 1024),
        "tb" | "t" => Some(n * 1024 * 1024),
        _ => None,
    }
}

/// `prlctl list -i -j` (`PrlVm::append_configuration` through the JSON formatter,
/// reference §1.2): one object per VE; keys it lacks are left empty.
///
/// The array is read one object at a time, each turned into a `VeInfo` before the next is
/// read: the whole document as JSON values was the largest thing an evacuation of a node
/// with thousands of VEs held.
pub fn info_json(text: &str) -> Result<Vec<VeInfo>, ParseError> {
    let infos: InfoList = serde_json::from_str(text)
        .or_else(|e| {
            reescaped(text)
                .and_then(|t| serde_json::from_str(&t).ok())
                .ok_or(e)
        })
        .map_err(|e| ParseError::new("prlctl list -i -j", e.to_string()))?;
    infos
        .0
        .ok_or_else(|| ParseError::new("prlctl list -i -j", "not a JSON array"))
}

/// `list -i -j` read as it streams: an array of objects (or one object); `None` for any
/// other JSON value.
struct InfoList(Option<Vec<VeInfo>>);

impl<'de> serde::Deserialize<'de> for InfoList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{MapAccess, SeqAccess, Visitor};
        struct List;
        impl<'de> Visitor<'de> for List {
            type Value = InfoList;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON array of objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<InfoList, A::Error> {
                let mut infos = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(v) = seq.next_element::<Value>()? {
                    infos.push(info_of(&v));
                }
                Ok(InfoList(Some(infos)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<InfoList, A::Error> {
                use serde::Deserialize;
                let v = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(InfoList(Some(vec![info_of(&v)])))
            }
            fn visit_bool<E>(self, _: bool) -> Result<InfoList, E> {
                Ok(InfoList(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<InfoList, E> {
                Ok(InfoList(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<InfoList, E> {
                Ok(InfoList(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<InfoList, E> {
                Ok(InfoList(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<InfoList, E> {
                Ok(InfoList(None))
            }
            fn visit_unit<E>(self) -> Result<InfoList, E> {
                Ok(InfoList(None))
            }
        }
        d.deserialize_any(List)
    }
}

/// One VE of `list -i -j`.
fn info_of(v: &Value) -> VeInfo {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let hw = &v["Hardware"];
    // "memory" is a group with a size, or (in some builds) the size itself.
    let memory = hw
        .get("memory")
        .and_then(|m| m.get("size").or(Some(m)))
        .and_then(mb);
    VeInfo {
        uuid: unbrace(&s("ID")),
        name: s("Name"),
        status: s("State"),
        kind: s("Type"),
        home: home_path(&s("Home")),
        hostname: s("Hostname"),
        os: s("OS"),
        memsize_mb: memory,
        // A CT without a CPU limit says "cpus": "unlimited": no number to give.
        cpus: hw
            .get("cpu")
            .and_then(|c| c.get("cpus"))
            .and_then(|c| c.as_u64().or_else(|| c.as_str()?.parse().ok())),
        disk_mb: hw.get("hdd0").and_then(|d| d.get("size")).and_then(mb),
        disks: super::prlctl_disks::disks(hw, &s("Home"), mb),
        autostart: s("Autostart"),
        // `High Availability: enabled=yes prio=N` (reference §1.2, with -f); the
        // number may come as a JSON number or a string.
        ha_prio: v
            .get("High Availability")
            .and_then(|g| g.get("prio"))
            .and_then(|p| p.as_u64().or_else(|| p.as_str()?.trim().parse().ok()))
            .unwrap_or(0),
        // Devices `net0`, `net1`, ... with `network='Bridged'` (reference §1.2).
        networks: hw
            .as_object()
            .map(|devices| {
                devices
                    .iter()
                    .filter(|(name, _)| {
                        name.strip_prefix("net")
                            .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
                    })
                    .filter_map(|(_, d)| d.get("network")?.as_str())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Whether prlctl's stderr says the VE does not exist. prlctl exits 255 for every SDK error
/// (reference §1.1), so the code alone cannot tell; the text is libprlsdk's
/// `PRL_ERR_VM_UUID_NOT_FOUND` ("The virtual machine could not be found. …", §1.9), printed
/// after `Failed to get VM config:`.
pub fn is_not_found(stderr: &str) -> bool {
    stderr.contains("could not be found")
}

/// A home path without its trailing slash (VZ7 prints a VM's Home as its bundle directory
/// with one, `/vstorage/c/vmprivate/<uuid>/`); `/` stays `/`.
fn home_path(path: &str) -> String {
    let trimmed = path.trim().trim_end_matches('/');
    if trimmed.is_empty() && path.trim().starts_with('/') {
        "/".into()
    } else {
        trimmed.to_string()
    }
}

/// `CT 101 exist running` → (`CT`, `running`) (`PrlSrv::status_vm`, reference §1.3; the
/// users guide's `exists` is accepted too).
pub fn status(text: &str) -> Result<(String, String), ParseError> {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [kind, .., exist, state]
            if (*kind == "CT" || *kind == "VM") && (*exist == "exist" || *exist == "exists") =>
        {
            Ok((kind.to_string(), state.to_string()))
        }
        _ => Err(ParseError::new(
            "prlctl status",
            format!("expected `CT|VM <id> exist <state>`, got {line:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = "[\n\t{\n\t\t\"uuid\": \"600adc12-0e39-41b3-bf05-c59b7d26dd73\",\n\t\t\"status\": \"running\",\n\t\t\"ip_configured\": \"10.10.1.101\",\n\t\t\"type\": \"CT\",\n\t\t\"name\": \"MyCT\"\n\t},\n\t{\n\t\t\"uuid\": \"b2de86d9-6539-4ccc-9120-928b33ed31b9\",\n\t\t\"status\": \"stopped\",\n\t\t\"ip_configured\": \"-\",\n\t\t\"type\": \"VM\",\n\t\t\"name\": \"My \\\"VM\\\"\"\n\t}\n]\n";

    #[test]
    fn json_listing_from_the_reference() {
        let rows = list_json(JSON).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].uuid, "600adc12-0e39-41b3-bf05-c59b7d26dd73");
        assert_eq!(rows[0].ips, vec!["10.10.1.101"]);
        assert_eq!(rows[1].kind, "VM");
        assert!(rows[1].ips.is_empty());
        assert_eq!(rows[1].name, "My \"VM\"");
        assert_eq!(list_json("[\n\n]\n").unwrap(), vec![]);
        assert!(list_json("Failed to get VM config").is_err());
    }

    #[test]
    fn json_of_a_build_that_does_not_escape() {
        let text = "[\n\t{\n\t\t\"uuid\": \"a\",\n\t\t\"name\": \"Win \"gold\" C:\\vm\",\n\t\t\"ip_configured\": \"10.0.0.1  \"\n\t}\n]\n";
        let rows = list_json(text).unwrap();
        assert_eq!(rows[0].name, "Win \"gold\" C:\\vm");
        assert_eq!(rows[0].ips, ["10.0.0.1"]);
        let info = "[\n\t{\n\t\t\"ID\": \"a\",\n\t\t\"Name\": \"x\"y\",\n\t\t\"Hardware\": {\n\t\t\t\"memory\": {\n\t\t\t\t\"size\": \"1024Mb\"\n\t\t\t}\n\t\t}\n\t}\n]\n";
        let v = info_json(info).unwrap();
        assert_eq!((v[0].name.as_str(), v[0].memsize_mb), ("x\"y", Some(1024)));
        // A raw newline splits a value over two lines: read as one value.
        let rows = list_json("[\n\t{\n\t\t\"name\": \"a\nb\"\n\t}\n]\n").unwrap();
        assert_eq!(rows[0].name, "a\nb");
        // A value never closed: still an error.
        assert!(list_json("[\n\t{\n\t\t\"name\": \"a\n\t}\n]\n").is_err());
        assert_eq!(reescaped("[\n\t{\n\t\t\"name\": \"a\"\n\t}\n]\n"), None);
    }

    #[test]
    fn json_of_a_build_that_does_not_escape_a_description_line_ending_in_a_quote() {
        // A description written raw whose lines end in `"` or `",`: a line ending so is not
        // the end of the value where the next line is no key, nor the end of an object.
        let info = "[\n\t{\n\t\t\"ID\": \"a\",\n\t\t\"Name\": \"web\",\n\t\t\"Description\": \"set up by \"ops\"\nticket \"42\",\nthird\",\n\t\t\"Type\": \"CT\"\n\t}\n]\n";
        let v = info_json(info).unwrap();
        assert_eq!((v[0].name.as_str(), v[0].kind.as_str()), ("web", "CT"));
        let rows =
            list_json("[\n\t{\n\t\t\"name\": \"a \"b\"\nc\",\n\t\t\"type\": \"VM\"\n\t}\n]\n")
                .unwrap();
        assert_eq!(
            (rows[0].name.as_str(), rows[0].kind.as_str()),
            ("a \"b\"\nc", "VM")
        );
        // An empty line after a quote: still inside the value.
        let rows = list_json("[\n\t{\n\t\t\"name\": \"\"a\"\n\nb\"\n\t}\n]\n").unwrap();
        assert_eq!(rows[0].name, "\"a\"\n\nb");
    }

    #[test]
    fn json_with_ip_last_keeps_every_address() {
        let text = "[\n\t{\n\t\t\"uuid\": \"a\",\n\t\t\"ip_configured\": \"10.0.0.1 10.0.0.2 fe80::1  \"\n\t}\n]\n";
        assert_eq!(
            list_json(text).unwrap()[0].ips,
            vec!["10.0.0.1", "10.0.0.2", "fe80::1"]
        );
    }

    #[test]
    fn info_json_reads_memory_in_its_forms() {
        let text = "[\n\t{\n\t\t\"ID\": \"600adc12-0e39-41b3-bf05-c59b7d26dd73\",\n\t\t\"Name\": \"MyCT\",\n\t\t\"State\": \"running\",\n\t\t\"Type\": \"CT\",\n\t\t\"Hardware\": {\"cpu\": {\"cpus\": 4}, \"memory\": {\"size\": \"2048Mb\"}, \"hdd0\": {\"size\": \"65536Mb\"}}\n\t},\n\t{\"ID\": \"{b2de86d9-6539-4ccc-9120-928b33ed31b9}\", \"Hardware\": {\"memory\": \"4Gb\", \"cpu\": {\"cpus\": \"2\"}}}\n]\n";
        let v = info_json(text).unwrap();
        assert_eq!(
            (v[0].memsize_mb, v[0].cpus, v[0].disk_mb),
            (Some(2048), Some(4), Some(65536))
        );
        assert_eq!(
            (v[1].uuid.as_str(), v[1].memsize_mb, v[1].cpus),
            ("b2de86d9-6539-4ccc-9120-928b33ed31b9", Some(4096), Some(2))
        );
        assert_eq!(v[1].name, "");
        assert!(info_json("nope").is_err());
    }

    #[test]
    fn info_json_reads_ha_priority_and_the_networks_of_adapters() {
        // Shape from reference §1.2: inline groups become objects; prio as number or text.
        let text = r#"[{"ID": "a", "Hardware": {"net0": {"dev": "veth1", "network": "Bridged"}, "net1": {"network": "Backend"}, "netfilter": {"network": "no"}, "venet0": {"type": "routed"}}, "High Availability": {"enabled": "yes", "prio": 7}},
            {"ID": "b", "Hardware": {}, "High Availability": {"enabled": "yes", "prio": "3"}}, {"ID": "c"}]"#;
        let v = info_json(text).unwrap();
        assert_eq!(v[0].ha_prio, 7);
        assert_eq!(v[0].networks, ["Bridged", "Backend"]);
        assert_eq!((v[1].ha_prio, v[1].networks.len()), (3, 0));
        assert_eq!((v[2].ha_prio, v[2].networks.len()), (0, 0));
    }

    #[test]
    fn status_line_and_the_users_guide_variant() {
        assert_eq!(
            status("CT 101 exist running\n").unwrap(),
            ("CT".into(), "running".into())
        );
        assert_eq!(
            status("VM {b2de86d9-6539-4ccc-9120-928b33ed31b9} exist stopped")
                .unwrap()
                .1,
            "stopped"
        );
        assert_eq!(status("CT MyCT exists running").unwrap().1, "running");
        assert!(status("").is_err());
        assert!(status("WARNING: You are using a deprecated CLI component").is_err());
    }

    #[test]
    fn unlimited_cpus_vm_home_slash_and_not_found() {
        let text = "[\n\t{\n\t\t\"ID\": \"600adc12-0e39-41b3-bf05-c59b7d26dd73\",\n\t\t\"Type\": \"CT\",\n\t\t\"Home\": \"/vstorage/c/private/600adc12\",\n\t\t\"Hardware\": {\"cpu\": {\"sockets\": 1, \"cpus\": \"unlimited\", \"cores\": \"unlimited\"}, \"memory\": {\"size\": \"2048Mb\"}}\n\t},\n\t{\"ID\": \"b2de86d9\", \"Type\": \"VM\", \"Home\": \"/vstorage/c/vmprivate/b2de86d9/\"}\n]\n";
        let v = info_json(text).unwrap();
        assert_eq!((v[0].cpus, v[0].memsize_mb), (None, Some(2048)));
        assert_eq!(v[1].home, "/vstorage/c/vmprivate/b2de86d9");
        assert_eq!(home_path("/"), "/");
        assert!(is_not_found("Failed to get VM config: The virtual machine could not be found. The virtual machine is not registered in the virtual machine directory on this server.\n"));
        assert!(!is_not_found(
            "Failed to get VM config: Operation timed out.\n"
        ));
    }
}
