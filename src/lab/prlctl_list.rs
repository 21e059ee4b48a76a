//! `prlctl list`: the columns, widths, IP cell rules, sorting and JSON shape of prlctl's
//! `PrlList.cpp` (reference/virtuozzo-cli.md §1.2).

use super::reply::Reply;
use super::state::{is_up, LabState, Ve, VeKind};

/// `-o` name, header, width (`None`: right-aligned `%9s` style is not needed here), sortable.
struct Field {
    names: &'static [&'static str],
    header: &'static str,
    width: usize,
    right: bool,
    sortable: bool,
}

const FIELDS: &[Field] = &[
    Field {
        names: &["uuid", "id", "ctid", "veid"],
        header: "UUID",
        width: 39,
        right: false,
        sortable: true,
    },
    Field {
        names: &["envid"],
        header: "ENVID",
        width: 10,
        right: false,
        sortable: false,
    },
    Field {
        names: &["home", "private"],
        header: "HOME",
        width: 32,
        right: false,
        sortable: true,
    },
    Field {
        names: &["type"],
        header: "T",
        width: 2,
        right: false,
        sortable: false,
    },
    Field {
        names: &["name"],
        header: "NAME",
        width: 32,
        right: false,
        sortable: true,
    },
    Field {
        names: &["status"],
        header: "STATUS",
        width: 12,
        right: false,
        sortable: false,
    },
    Field {
        names: &["dist"],
        header: "DIST",
        width: 15,
        right: false,
        sortable: false,
    },
    Field {
        names: &["owner"],
        header: "OWNER",
        width: 32,
        right: false,
        sortable: false,
    },
    Field {
        names: &["description"],
        header: "DESCRIPTION",
        width: 32,
        right: false,
        sortable: false,
    },
    Field {
        names: &["numproc"],
        header: "NPROC",
        width: 9,
        right: true,
        sortable: false,
    },
    Field {
        names: &["ip"],
        header: "IP_ADDR",
        width: 15,
        right: false,
        sortable: false,
    },
    Field {
        names: &["ip_configured"],
        header: "IP_ADDR",
        width: 15,
        right: false,
        sortable: false,
    },
    Field {
        names: &["hostname"],
        header: "HOSTNAME",
        width: 32,
        right: false,
        sortable: false,
    },
    Field {
        names: &["netif"],
        header: "NETIF",
        width: 16,
        right: false,
        sortable: false,
    },
    Field {
        names: &["ostemplate"],
        header: "OSTEMPLATE",
        width: 24,
        right: false,
        sortable: false,
    },
    Field {
        names: &["location"],
        header: "LOCATION",
        width: 39,
        right: false,
        sortable: false,
    },
    Field {
        names: &["ha_enable"],
        header: "HA_ENABLE",
        width: 9,
        right: false,
        sortable: false,
    },
    Field {
        names: &["ha_prio"],
        header: "HA_PRIO",
        width: 10,
        right: false,
        sortable: true,
    },
    Field {
        names: &["-"],
        header: "-",
        width: 10,
        right: false,
        sortable: false,
    },
];

const DEFAULT_FIELDS: &str = "uuid,status,ip_configured,type,name";

fn field(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.names.contains(&name))
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

/// A cell's text. `last` matters for IP cells: all addresses, each followed by a space, plus
/// one more space; otherwise only the first address.
fn cell(ve: &Ve, name: &str, last: bool, json: bool) -> String {
    let ips = |addrs: &[String]| -> String {
        if last {
            let mut s: String = addrs.iter().map(|a| format!("{a} ")).collect();
            s.push(' ');
            if addrs.is_empty() {
                " ".into()
            } else {
                s
            }
        } else {
            addrs.first().cloned().unwrap_or_else(|| "-".into())
        }
    };
    match field(name).map(|f| f.names[0]).unwrap_or(name) {
        "uuid" if json => ve.uuid.clone(),
        "uuid" => format!("{{{}}}", ve.uuid),
        "envid" => ve.uuid.split('-').next().unwrap_or("").to_string(),
        "home" => ve.home.clone(),
        "type" => ve.kind.as_str().to_string(),
        "name" => or_dash(&ve.name),
        "status" => ve.status.clone(),
        "dist" => or_dash(&ve.ostemplate),
        "owner" => "root".into(),
        "description" => or_dash(&ve.description),
        "numproc" => "-".into(),
        "ip" => {
            let live: Vec<String> = if is_up(&ve.status) {
                ve.ip.clone()
            } else {
                Vec::new()
            };
            ips(&live)
        }
        "ip_configured" => ips(&ve.ip),
        "hostname" => or_dash(&ve.hostname),
        "netif" => ve.netifs.iter().map(|n| format!("{n} ")).collect(),
        "ostemplate" => or_dash(&ve.ostemplate),
        "location" => ve.home.clone(),
        "ha_enable" => "yes".into(),
        "ha_prio" => "0".into(),
        _ => "-".into(),
    }
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Default)]
pub struct ListOptions {
    pub all: bool,
    pub stopped: bool,
    pub vmtype: Option<String>,
    pub fields: Option<String>,
    pub sort: Option<String>,
    pub no_header: bool,
    pub json: bool,
    pub list_fields: bool,
    pub info: bool,
    /// `-f`: also the HA group (and more the lab does not print).
    pub full: bool,
    pub id: Option<String>,
    /// `-j` values written as they are (a prlctl build whose formatter does not escape).
    pub unescaped_json: bool,
}

pub fn list(state: &LabState, host: &str, opts: &ListOptions) -> Reply {
    if opts.list_fields {
        let mut out = String::new();
        for f in FIELDS {
            if f.names[0] == "numproc" || f.names[0] == "ostemplate" {
                continue;
            }
            out.push_str(&format!("{:<20} {}\n", f.names[0], f.header));
        }
        return Reply::ok(out);
    }
    let names: Vec<String> = opts
        .fields
        .as_deref()
        .unwrap_or(DEFAULT_FIELDS)
        .split(',')
        .map(str::to_string)
        .collect();
    if let Some(bad) = names.iter().find(|n| field(n).is_none()) {
        return Reply::fail(1, format!("Unknown field: {bad}\n"));
    }
    let sort = match &opts.sort {
        Some(s) => {
            let key = s.trim_start_matches('-');
            match field(key) {
                Some(f) if f.sortable => Some((key.to_string(), s.starts_with('-'))),
                _ => {
                    return Reply::fail(
                        1,
                        format!("{key} is an invalid field name in this query.\n"),
                    )
                }
            }
        }
        None if opts.fields.is_none() => Some(("name".to_string(), false)),
        None => field(&names[0])
            .filter(|f| f.sortable)
            .map(|_| (names[0].clone(), false)),
    };
    let of_type = |v: &&Ve| match opts.vmtype.as_deref() {
        Some("ct") => v.kind.as_str() == "CT",
        Some("vm") => v.kind.as_str() == "VM",
        _ => true,
    };
    let mut ves: Vec<&Ve> = match &opts.id {
        // One VE: looked up, not searched for among all of them.
        Some(id) => state
            .ve_position(host, id)
            .map(|i| &state.ves[i])
            .into_iter()
            .filter(of_type)
            .collect(),
        None => state
            .ves
            .iter()
            .filter(|v| v.host.as_deref() == Some(host))
            .filter(of_type)
            .collect(),
    };
    let mut not_found = false;
    if opts.id.is_some() {
        not_found = ves.is_empty();
    } else if opts.stopped {
        ves.retain(|v| v.status == "stopped");
    } else if !opts.all {
        ves.retain(|v| v.status == "running");
    }
    if let Some((key, reverse)) = sort {
        ves.sort_by_key(|v| cell(v, &key, false, false));
        if reverse {
            ves.reverse();
        }
    }
    let out = if opts.info && opts.json {
        render_info_json(&ves, opts.full, opts.unescaped_json)
    } else if opts.json {
        render_json(&ves, &names, opts.unescaped_json)
    } else {
        render_table(&ves, &names, !opts.no_header)
    };
    if ves.iter().any(|v| v.broken_config) && opts.id.is_some() {
        // Invented text (no public sample of a damaged config); the exit code is prlctl's
        // for every SDK error.
        return Reply::fail(
            255,
            "Failed to get VM config: The virtual machine configuration file is damaged.\n",
        );
    }
    if not_found {
        let mut reply = Reply::fail(255, format!("{}\n", super::prlctl::NOT_FOUND));
        // The header is already printed when the lookup fails.
        if !opts.json {
            reply.stdout = out;
        }
        return reply;
    }
    Reply::ok(out)
}

/// `list -i -j`: one object per VE, nested groups as objects, sizes as `"1024Mb"` strings,
/// plain integers as numbers, `ID` without braces (reference §1.2). A CT without a CPU limit
/// says `"cpus": "unlimited"`, and a VM's Home ends with a slash (its bundle directory), as
/// real VZ7 output does.
/// With `-f`, `High Availability` too; its JSON shape (`enabled`, `prio` keys of an inline
/// group) follows the plain text `High Availability: enabled=yes prio=0` of the reference;
/// no JSON sample is public. The `net0` device's keys are likewise invented from the plain
/// device line (`net0 (+) dev='veth…' network='Bridged' …`).
///
/// Rendered one VE at a time: the whole list as JSON values, then as one string, then tabbed
/// again was the peak of an evacuation's memory on a node with thousands of VEs.
fn render_info_json(ves: &[&Ve], full: bool, unescaped: bool) -> String {
    let mut text = String::from("[");
    for (i, ve) in ves.iter().enumerate() {
        let value = info_value(ve, full);
        let pretty = serde_json::to_string_pretty(&value).expect("serializes");
        text.push_str(if i == 0 { "\n" } else { ",\n" });
        // As `to_string_pretty` of the whole array, one level in, with each two spaces a tab
        // (a line at a time: a JSON string holds no raw newline).
        for (j, line) in pretty.split('\n').enumerate() {
            if j > 0 {
                text.push('\n');
            }
            let line = if unescaped {
                unescape_value(line)
            } else {
                line.to_string()
            };
            text.push_str(&format!("  {line}").replace("  ", "\t"));
        }
    }
    if !ves.is_empty() {
        text.push('\n');
    }
    text.push_str("]\n");
    text
}

/// A `"key": "value"` line of pretty JSON with its value written as it is, unescaped (a
/// prlctl build whose formatter does not escape); other lines unchanged.
fn unescape_value(line: &str) -> String {
    let Some((key, value)) = line.split_once("\": \"") else {
        return line.to_string();
    };
    let (value, comma) = match value.strip_suffix(',') {
        Some(v) => (v, ","),
        None => (value, ""),
    };
    match serde_json::from_str::<String>(&format!("\"{value}")) {
        Ok(raw) => format!("{key}\": \"{raw}\"{comma}"),
        Err(_) => line.to_string(),
    }
}

/// One VE of `list -i -j`.
fn info_value(ve: &Ve, full: bool) -> serde_json::Value {
    let mut hardware = serde_json::json!({
        "cpu": if ve.cpus == 0 {
            serde_json::json!({"sockets": 1, "cpus": "unlimited", "cores": "unlimited", "mode": "64"})
        } else {
            serde_json::json!({"sockets": 1, "cpus": ve.cpus, "cores": ve.cpus, "mode": "64"})
        },
        "memory": {"size": format!("{}Mb", ve.memsize_mb)},
    });
    // Disks as `hdd0 (+) scsi:0 image='…' type='expanded' 65536Mb …` (reference §1.2); the
    // JSON keys of the port and the type are invented from that line.
    for device in super::ve_images::devices(ve) {
        hardware[*device] = serde_json::json!({
            "enabled": true,
            "port": "scsi:0",
            "image": super::ve_images::image_path(ve, device),
            "type": "expanded",
            "size": format!("{}Mb", ve.disk_mb),
        });
    }
    // Adapters as `net0 (+) dev='veth…' network='Bridged' …` (reference §1.2, [INF]).
    for (i, netif) in ve.netifs.iter().enumerate() {
        let device = match ve.networks.get(netif) {
            Some(network) => {
                serde_json::json!({"enabled": true, "dev": format!("veth{}.{i}", &ve.uuid[..8]), "network": network, "card": "virtio"})
            }
            None => serde_json::json!({"enabled": true, "type": "routed", "ips": ve.ip.join(" ")}),
        };
        hardware[netif] = device;
    }
    let mut value = serde_json::json!({
        "ID": ve.uuid,
        "EnvID": cell(ve, "envid", false, true),
        "Name": ve.name,
        "Description": ve.description,
        "Type": ve.kind.as_str(),
        "State": ve.status,
        "OS": ve.ostemplate,
        "Template": "no",
        "Home": if ve.kind == VeKind::VM { format!("{}/", ve.home) } else { ve.home.clone() },
        "Autostart": if ve.onboot { "on" } else { "off" },
        "Hardware": hardware,
        "Hostname": ve.hostname,
    });
    if full {
        value["High Availability"] = serde_json::json!({"enabled": "yes", "prio": ve.ha_prio});
    }
    value
}

fn render_table(ves: &[&Ve], names: &[String], header: bool) -> String {
    let line = |cells: Vec<String>| -> String {
        let mut s = String::new();
        for (i, (name, text)) in names.iter().zip(cells).enumerate() {
            let f = field(name).expect("validated");
            if i + 1 == names.len() {
                s.push_str(&text);
            } else if f.right {
                s.push_str(&format!("{text:>w$} ", w = f.width));
            } else {
                s.push_str(&format!("{text:<w$} ", w = f.width));
            }
        }
        s.push('\n');
        s
    };
    let mut out = String::new();
    if header {
        out.push_str(&line(
            names
                .iter()
                .map(|n| field(n).unwrap().header.to_string())
                .collect(),
        ));
    }
    for ve in ves {
        let last = names.len() - 1;
        out.push_str(&line(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| cell(ve, n, i == last, false))
                .collect(),
        ));
    }
    out
}

fn render_json(ves: &[&Ve], names: &[String], unescaped: bool) -> String {
    if ves.is_empty() {
        return "[\n\n]\n".into();
    }
    let objects: Vec<String> = ves
        .iter()
        .map(|ve| {
            let last = names.len() - 1;
            let members: Vec<String> = names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let value = cell(ve, n, i == last, true);
                    let value = if unescaped {
                        value
                    } else {
                        json_escape(&value)
                    };
                    format!("\t\t\"{n}\": \"{value}\"")
                })
                .collect();
            format!("\t{{\n{}\n\t}}", members.join(",\n"))
        })
        .collect();
    format!("[\n{}\n]\n", objects.join(",\n"))
}
