//! Simulated `prlctl create` and `prlctl set` (per-option lines, then "successfully
//! configured"; texts the reference lacks are kept short).

use super::prlctl::{find, not_found, unrecognized};
use super::reply::{Finish, Reply};
use super::state::{LabState, Ve, VeKind};

pub(super) fn create(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let mut name = None;
    let mut kind = VeKind::VM;
    let mut ostemplate = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--vmtype" => match it.next().map(|v| v.to_lowercase()).as_deref() {
                Some("ct" | "c") => kind = VeKind::CT,
                Some("vm" | "v") => kind = VeKind::VM,
                other => {
                    return Reply::fail(
                        1,
                        format!(
                            "An incorrect value for --vmtype is specified: {}\n",
                            other.unwrap_or("")
                        ),
                    )
                }
            },
            "--ostemplate" | "--distribution" | "-o" => ostemplate = it.next().cloned(),
            a if a.starts_with('-') => return unrecognized(a),
            n => name = Some(n.to_string()),
        }
    }
    let Some(name) = name else {
        return Reply::fail(1, "No name specified.\n");
    };
    let k = kind.as_str();
    // Names are unique per node: each node's dispatcher knows only its own VEs, so on a
    // cluster another node may well have one of that name (a VE's home is named by UUID).
    if state
        .ves
        .iter()
        .any(|v| v.name == name && v.host.as_deref() == Some(host))
    {
        // Text not in the reference.
        return Reply::fail(255, format!("Failed to create the {k}: The virtual machine with the name \"{name}\" already exists.\n"));
    }
    let uuid = state.next_uuid();
    let written = Finish::ConfigWritten { uuid: uuid.clone() };
    let dir = if kind == VeKind::CT {
        "private"
    } else {
        "vmprivate"
    };
    let replicas = format!("{}:{}", state.replicas_norm, state.replicas_min);
    state.ves.push(Ve {
        home: format!("{}/{dir}/{uuid}", state.mount_root()),
        uuid,
        name: name.clone(),
        kind,
        status: "stopped".into(),
        ip: Vec::new(),
        host: Some(host.to_string()),
        owner: Some(host.to_string()),
        hostname: String::new(),
        description: String::new(),
        ostemplate: ostemplate.unwrap_or_else(|| "centos-7-x86_64".into()),
        memsize_mb: 1024,
        cpus: 1,
        disk_mb: 10240,
        onboot: false,
        tier: 0,
        replicas,
        netifs: Vec::new(),
        networks: Default::default(),
        slow_start_s: None,
        fail_migrations: 0,
        // Written last, as the create returns (see `Finish::ConfigWritten`).
        broken_config: true,
        running_at: None,
        live_migration_fails: false,
        ha_prio: 0,
        images: Default::default(),
    });
    // Texts not in the reference.
    Reply::ok(format!(
        "Creating the {k}...\nThe {k} has been successfully created.\n"
    ))
    .takes(5.0)
    .finishing(written)
}

/// `1024`, `1024M`, `2G` → MB.
fn megabytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let (num, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&t[..i], t[i..].to_ascii_uppercase()),
        None => (t, String::new()),
    };
    let n: u64 = num.parse().ok()?;
    match unit.trim_end_matches('B') {
        "" | "M" => Some(n),
        "G" => Some(n * 1024),
        "T" => Some(n * 1024 * 1024),
        _ => None,
    }
}

pub(super) fn set(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let Some(id) = args.first() else {
        return Reply::fail(1, "No ID or name specified.\n");
    };
    let Some(ve) = find(state, host, id) else {
        return not_found();
    };
    let kind = ve.kind.as_str();
    let mut out = String::new();
    let mut it = args[1..].iter();
    let invalid = |opt: &str, v: &str| Reply::fail(1, format!("Invalid value for {opt}: {v}\n"));
    while let Some(opt) = it.next() {
        let Some(value) = it.next() else {
            return Reply::fail(1, format!("Option {opt} requires an argument\n"));
        };
        match opt.as_str() {
            "--cpus" => match value.parse::<u32>() {
                Ok(n) if n > 0 => {
                    ve.cpus = n;
                    out.push_str(&format!("Set the cpus parameter to {n}.\n"));
                }
                _ => return invalid(opt, value),
            },
            "--memsize" => match megabytes(value) {
                Some(mb) if mb > 0 => {
                    ve.memsize_mb = mb;
                    out.push_str(&format!("Set the memsize parameter to {mb}Mb.\n"));
                }
                _ => return invalid(opt, value),
            },
            "--swappages" => match value.parse::<u64>() {
                Ok(_) => out.push_str(&format!("Set the swappages parameter to {value}.\n")),
                Err(_) => return invalid(opt, value),
            },
            "--hostname" => {
                ve.hostname = value.clone();
                out.push_str(&format!("Set the hostname parameter to {value}.\n"));
            }
            "--onboot" => match value.as_str() {
                "yes" | "no" | "auto" => {
                    ve.onboot = value != "no";
                    out.push_str(&format!("Set the onboot parameter to {value}.\n"));
                }
                _ => return invalid(opt, value),
            },
            "--description" => {
                out.push_str(&format!("Set the description parameter to {value}.\n"))
            }
            "--device-set" => {
                if it.next().map(String::as_str) != Some("--size") {
                    return Reply::fail(1, "Incorrect usage of --device-set.\n");
                }
                let Some(size) = it.next().and_then(|s| megabytes(s)) else {
                    return invalid("--size", "");
                };
                ve.disk_mb = size;
                out.push_str(&format!("Configure {value} size={size}Mb.\n"));
            }
            "--netif_add" => {
                ve.netifs.push(value.clone());
                out.push_str(&format!("Add the {value} network interface.\n"));
            }
            "--ipadd" => {
                ve.ip
                    .push(value.split('/').next().unwrap_or(value).to_string());
                out.push_str(&format!("Set the ipadd parameter to {value}.\n"));
            }
            "--network" => {
                // On the adapter just added, or the one named by --ifname.
                let netif = args
                    .iter()
                    .position(|a| a == "--netif_add" || a == "--ifname")
                    .and_then(|i| args.get(i + 1))
                    .or(ve.netifs.last())
                    .cloned();
                if let Some(netif) = netif {
                    ve.networks.insert(netif, value.clone());
                }
                out.push_str(&format!("Set the network parameter to {value}.\n"));
            }
            "--ifname" | "--nameserver" | "--gw" | "--searchdomain" | "--ipdel" => {
                out.push_str(&format!(
                    "Set the {} parameter to {value}.\n",
                    opt.trim_start_matches('-')
                ));
            }
            other => return unrecognized(other),
        }
    }
    out.push_str(&format!("\nThe {kind} has been successfully configured.\n"));
    Reply::ok(out)
}
