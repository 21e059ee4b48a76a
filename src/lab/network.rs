//! The lab's network of a node: interfaces (`ip link`), the EL7 initscripts ifcfg files,
//! what `systemctl restart network` makes of them (bonds and their slaves; backups such as
//! `ifcfg-bond0.vzrun.bak` are ignored, as initscripts ignore them) and the bonding
//! driver's `/proc/net/bonding/BOND`.

use super::reply::Reply;
use super::services::Bond;
use super::state::{HostState, LabFile, LabState, Unit};

const IFCFG: &str = "/etc/sysconfig/network-scripts";

/// The stock network of a lab node: eth0 for management, bond0 (active-backup over eth2
/// and eth3) for storage, bond0.100 a VLAN on it. Files in the EL7 initscripts format.
pub fn provision(h: &mut HostState) {
    let file = |content: String| LabFile {
        content,
        mode: 0o644,
    };
    let has = |h: &HostState, i: &str| h.ops.interfaces.iter().any(|x| x == i);
    if has(h, "bond0") && has(h, "eth2") && has(h, "eth3") {
        h.files.entry(format!("{IFCFG}/ifcfg-bond0")).or_insert(file(
            "DEVICE=bond0\nTYPE=Bond\nBONDING_MASTER=yes\nBOOTPROTO=none\nONBOOT=yes\nBONDING_OPTS=\"mode=active-backup miimon=100\"\n".into(),
        ));
        for slave in ["eth2", "eth3"] {
            h.files.entry(format!("{IFCFG}/ifcfg-{slave}")).or_insert(file(format!(
                "DEVICE={slave}\nTYPE=Ethernet\nBOOTPROTO=none\nONBOOT=yes\nMASTER=bond0\nSLAVE=yes\n"
            )));
        }
    }
    h.units.insert(
        "network.service".into(),
        Unit {
            active: true,
            enabled: true,
            description: "LSB: Bring up/down networking".into(),
            job: None,
            repo: None,
        },
    );
    h.dirs.push(IFCFG.into());
    let _ = start_network(h);
}

/// `KEY=value` of an ifcfg file, quotes removed.
fn ifcfg_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
}

/// The ifcfg files the network scripts read: (path, text).
fn ifcfg_files(h: &HostState) -> Vec<(String, String)> {
    h.files
        .iter()
        .filter(|(p, _)| p.starts_with(&format!("{IFCFG}/ifcfg-")))
        // initscripts' is_ignored_file: backups and package leftovers are not read.
        .filter(|(p, _)| {
            ![".bak", ".orig", ".rpmnew", ".rpmorig", ".rpmsave", "~"]
                .iter()
                .any(|s| p.ends_with(s))
        })
        .map(|(p, f)| (p.clone(), f.content.clone()))
        .collect()
}

/// What `systemctl start/restart network` does to bonds: reads the ifcfg files and
/// enslaves the interfaces that name a master. An error (as the network scripts would
/// log it) for a master or slave that does not exist.
pub fn start_network(h: &mut HostState) -> Result<(), String> {
    let mut bonds: Vec<Bond> = Vec::new();
    let files = ifcfg_files(h);
    for (_, text) in &files {
        if ifcfg_value(text, "BONDING_MASTER").as_deref() == Some("yes") {
            let name = ifcfg_value(text, "DEVICE").unwrap_or_default();
            bonds.push(Bond {
                name,
                options: ifcfg_value(text, "BONDING_OPTS").unwrap_or_default(),
                slaves: Vec::new(),
            });
        }
    }
    for (path, text) in &files {
        let (Some(master), Some(device)) =
            (ifcfg_value(text, "MASTER"), ifcfg_value(text, "DEVICE"))
        else {
            continue;
        };
        if !h.ops.interfaces.contains(&device) {
            return Err(format!(
                "{path}: Device {device} does not seem to be present, delaying initialization."
            ));
        }
        match bonds.iter_mut().find(|b| b.name == master) {
            Some(b) => b.slaves.push(device),
            None => return Err(format!("{path}: master {master} has no ifcfg file")),
        }
    }
    for b in &bonds {
        if !h.ops.interfaces.contains(&b.name) {
            h.ops.interfaces.push(b.name.clone());
        }
    }
    // A bond that no file names now stays as the kernel has it, slaves and all: the
    // network scripts only bring up and take down what their files name (a bond made by
    // files that are gone needs a stop while they were there).
    let mut running: Vec<Bond> = std::mem::take(&mut h.ops.bonds)
        .into_iter()
        .filter(|b| !bonds.iter().any(|n| n.name == b.name))
        .collect();
    for mut b in bonds {
        b.slaves
            .retain(|s| !running.iter().any(|r| r.slaves.contains(s)));
        running.push(b);
    }
    h.ops.bonds = running;
    // Whether the node keeps the address it is reached at. Only a cut-off made by a network
    // start is undone by one: an unreachable host of the scenario stays so.
    match (address_lost(h), h.ops.cut_off) {
        (Some(_), false) if !h.unreachable => {
            h.unreachable = true;
            h.ops.cut_off = true;
        }
        (None, true) => {
            h.unreachable = false;
            h.ops.cut_off = false;
        }
        _ => {}
    }
    Ok(())
}

/// What `systemctl stop network` does to bonds: those the ifcfg files name now go down,
/// their slaves freed; any other stays.
pub fn stop_network(h: &mut HostState) {
    let named: Vec<String> = ifcfg_files(h)
        .into_iter()
        .filter(|(_, text)| ifcfg_value(text, "BONDING_MASTER").as_deref() == Some("yes"))
        .filter_map(|(_, text)| ifcfg_value(&text, "DEVICE"))
        .collect();
    h.ops.bonds.retain(|b| !named.contains(&b.name));
}

/// Why the interface that carries the node's address (`address_on`) no longer carries it
/// after a network start, or `None` (see `iface_lost`).
pub fn address_lost(h: &HostState) -> Option<String> {
    iface_lost(h, &h.ops.address_on)
}

/// The interface that carries the node's storage-network address: `ops.storage_on`, else
/// the first interface other than `lo` and the management one.
pub fn storage_iface(h: &HostState) -> &str {
    let on = h.ops.address_on.as_str();
    h.ops.storage_on.as_deref().unwrap_or_else(|| {
        h.ops
            .interfaces
            .iter()
            .find(|i| *i != "lo" && i.as_str() != on)
            .map_or(on, String::as_str)
    })
}

/// Why interface `on` lost its address in the last network start, or `None`:
/// - it became a bond's slave: a slave has no address of its own (its ifcfg file, now
///   `MASTER=`/`SLAVE=yes`, says nothing of one, and nothing moved it to the bond);
/// - it is a VLAN on a bond that now runs 802.3ad, and the switch's port-channel does not
///   carry that VLAN (`port_channel_without_vlans`).
fn iface_lost(h: &HostState, on: &str) -> Option<String> {
    if let Some(b) = h
        .ops
        .bonds
        .iter()
        .find(|b| b.slaves.iter().any(|s| s == on))
    {
        return Some(format!("{on} is a slave of {}", b.name));
    }
    let (bond, _vlan) = on.split_once('.')?;
    let b = h.ops.bonds.iter().find(|b| b.name == bond)?;
    let lacp = b
        .options
        .split_whitespace()
        .any(|o| o == "mode=802.3ad" || o == "mode=4");
    (lacp && h.ops.port_channel_without_vlans)
        .then(|| format!("the switch's port-channel does not carry the VLAN of {on}"))
}

/// How long the MDS goes on listing a chunk server active after it fell silent (lab
/// seconds; the lab's figure): it notices a CS is gone only once its heartbeats have been
/// missing for a while, so right after a network restart that cut a node off, the
/// cluster, asked from elsewhere, still shows that node's CSs active.
pub const MDS_MISSES_CS_S: f64 = 15.0;
/// A silent CS is `inactive` for its first 5 minutes, `offline` after.
const CS_OFFLINE_AFTER_S: f64 = 300.0;

/// After a network start: a node whose storage-network address went away (see
/// `iface_lost`) is cut off from the storage cluster: its own `vstorage` reaches no MDS,
/// and its active chunk servers fall silent (the MDS marks them so only later:
/// `storage_silence`); a start that gives the address back brings those back.
pub fn storage_reach(state: &mut LabState, host: &str) {
    let now = state.lab_now();
    let h = state.host(host).expect("known host");
    let lost = h.storage_address.is_some() && iface_lost(h, storage_iface(h)).is_some();
    let was_lost = h.ops.storage_lost_at.is_some();
    if lost && !was_lost {
        let ids: Vec<u32> = state
            .css
            .iter()
            .filter(|c| c.host == host && c.status == "active")
            .map(|c| c.id)
            .collect();
        let ops = &mut state.host_mut(host).ops;
        ops.storage_cut_off = ids;
        ops.storage_lost_at = Some(now);
    } else if !lost && was_lost {
        let cut = std::mem::take(&mut state.host_mut(host).ops.storage_cut_off);
        state.host_mut(host).ops.storage_lost_at = None;
        for cs in state.css.iter_mut().filter(|c| cut.contains(&c.id)) {
            cs.status = "active".into();
        }
    }
}

/// What the MDS makes, at `now`, of the chunk servers of nodes cut off from the storage
/// network, or gone off (`power`): still active until it misses them (`MDS_MISSES_CS_S`),
/// then inactive, then offline. Silences are measured in lab seconds (at a speed above 0,
/// wall seconds scaled back), as every other lab duration.
pub fn storage_silence(state: &mut LabState, now: f64) {
    let silent: Vec<(Vec<u32>, f64)> = state
        .hosts
        .iter()
        .filter_map(|h| {
            let since = h.ops.storage_lost_at.or(h.ops.powered_off_at)?;
            Some((
                h.ops.storage_cut_off.clone(),
                state.lab_seconds_between(since, now),
            ))
        })
        .filter(|(ids, for_s)| !ids.is_empty() && *for_s >= MDS_MISSES_CS_S)
        .collect();
    // The MDSs of a node gone off, once their peers have missed them (`power`).
    let missed: Vec<(String, u32)> = state
        .hosts
        .iter()
        .filter(|h| {
            h.ops
                .powered_off_at
                .is_some_and(|at| state.lab_seconds_between(at, now) >= MDS_MISSES_CS_S)
        })
        .flat_map(|h| h.ops.mds_cut_off.iter().map(|id| (h.name.clone(), *id)))
        .collect();
    // By host and id: an id freed by rm-mds may be another node's MDS by now.
    for m in state
        .mdss
        .iter_mut()
        .filter(|m| missed.contains(&(m.host.clone(), m.id)))
    {
        m.status = "offline".into();
    }
    for (ids, for_s) in silent {
        let status = if for_s >= CS_OFFLINE_AFTER_S {
            "offline"
        } else {
            "inactive"
        };
        for cs in state
            .css
            .iter_mut()
            .filter(|c| ids.contains(&c.id) && matches!(c.status.as_str(), "active" | "inactive"))
        {
            cs.status = status.into();
        }
    }
}

/// `/proc/net/bonding/BOND` (the bonding driver's format, abridged to the lines runbooks read).
pub fn generated_file(h: &HostState, path: &str) -> Option<String> {
    let name = path.strip_prefix("/proc/net/bonding/")?;
    let b = h.ops.bonds.iter().find(|b| b.name == name)?;
    let opt = |key: &str| {
        b.options
            .split_whitespace()
            .find_map(|o| o.strip_prefix(&format!("{key}=")))
            .map(str::to_string)
    };
    let mode = match opt("mode").as_deref() {
        Some("802.3ad") | Some("4") => "IEEE 802.3ad Dynamic link aggregation",
        Some("active-backup") | Some("1") => "fault-tolerance (active-backup)",
        Some("balance-xor") | Some("2") => "load balancing (xor)",
        _ => "load balancing (round-robin)",
    };
    let mut out = format!(
        "Ethernet Channel Bonding Driver: v3.7.1 (April 27, 2011)\n\nBonding Mode: {mode}\n"
    );
    if let Some(policy) = opt("xmit_hash_policy") {
        let n = match policy.as_str() {
            "layer2" => 0,
            "layer3+4" => 1,
            "layer2+3" => 2,
            _ => 3,
        };
        out.push_str(&format!("Transmit Hash Policy: {policy} ({n})\n"));
    }
    out.push_str(&format!(
        "MII Status: up\nMII Polling Interval (ms): {}\nUp Delay (ms): 0\nDown Delay (ms): 0\n",
        opt("miimon").unwrap_or_else(|| "0".into())
    ));
    // 802.3ad (the 3.10 kernel's bond_procfs layout, abridged): the active aggregator and
    // its LACP partner. Without LACP on the switch no partner answers: the partner MAC stays
    // all zeros and each slave is an aggregator of its own (one port), links all up.
    let lacp = mode.starts_with("IEEE");
    let partnered = lacp && !h.ops.switch_without_lacp;
    if lacp {
        let (ports, partner) = if partnered {
            (b.slaves.len(), "52:54:00:7a:11:01")
        } else {
            (1, "00:00:00:00:00:00")
        };
        out.push_str(&format!(
            "\n802.3ad info\nLACP rate: {}\nAggregator selection policy (ad_select): stable\nActive Aggregator Info:\n\tAggregator ID: 1\n\tNumber of ports: {ports}\n\tActor Key: 33\n\tPartner Key: {}\n\tPartner Mac Address: {partner}\n",
            opt("lacp_rate").unwrap_or_else(|| "slow".into()),
            if partnered { 32 } else { 1 }
        ));
    }
    for (i, s) in b.slaves.iter().enumerate() {
        out.push_str(&format!("\nSlave Interface: {s}\nMII Status: up\nSpeed: 10000 Mbps\nDuplex: full\nLink Failure Count: 0\n"));
        if lacp {
            let aggregator = if partnered { 1 } else { i + 1 };
            out.push_str(&format!("Aggregator ID: {aggregator}\n"));
        }
    }
    Some(out)
}

/// `ip -o link show [dev] IF` (iproute2): one line per interface; a missing one is an error.
pub fn ip(state: &LabState, host: &str, args: &[&str]) -> Reply {
    let h = state.host(host).expect("known host");
    let words: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with('-') && *a != "dev")
        .collect();
    match words.as_slice() {
        ["link"] | ["link", "show"] => Reply::ok(
            h.ops
                .interfaces
                .iter()
                .enumerate()
                .map(|(i, n)| link_line(i, n))
                .collect::<String>(),
        ),
        ["link", "show", name] => match h.ops.interfaces.iter().position(|i| i == name) {
            Some(i) => Reply::ok(link_line(i, name)),
            None => Reply::fail(1, format!("Device \"{name}\" does not exist.\n")),
        },
        // `ip -o addr show [dev IF]` (iproute2's one-line format: `N: IF    inet A/P scope
        // global IF\       valid_lft …`): the host's address on its interface, and its
        // storage-network address (vstorage's HOST) on the next one, as on a real node with a
        // separate storage network.
        ["addr", "show", rest @ ..]
        | ["address", "show", rest @ ..]
        | ["addr", rest @ ..]
        | ["a", rest @ ..] => {
            if let [name] = rest {
                if !h.ops.interfaces.iter().any(|i| i == name) {
                    return Reply::fail(1, format!("Device \"{name}\" does not exist.\n"));
                }
            }
            let tail = "\\       valid_lft forever preferred_lft forever\n";
            let on = h.ops.address_on.as_str();
            let storage_on = storage_iface(h);
            let mut out = String::new();
            for (index, ifname) in h.ops.interfaces.iter().enumerate() {
                if !(rest.is_empty() || rest == [ifname.as_str()]) {
                    continue;
                }
                let mut addresses: Vec<String> = Vec::new();
                if ifname == "lo" {
                    addresses.push("127.0.0.1/8 scope host lo".into());
                }
                if ifname == on {
                    addresses.push(format!("{}/24 scope global {ifname}", h.address));
                }
                // A storage "address" that is a name (scenarios may give one) is no
                // interface's.
                if let Some(storage) = h
                    .storage_address
                    .as_deref()
                    .filter(|a| a.parse::<std::net::IpAddr>().is_ok())
                {
                    if ifname == storage_on {
                        addresses.push(format!("{storage}/24 scope global {ifname}"));
                    }
                }
                for a in addresses {
                    out.push_str(&format!("{}: {ifname}    inet {a}{tail}", index + 1));
                }
            }
            Reply::ok(out)
        }
        _ => Reply::fail(255, "Object is unknown in the lab, try \"ip link\".\n"),
    }
}

fn link_line(index: usize, name: &str) -> String {
    let flags = if name == "lo" {
        "<LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00".to_string()
    } else {
        format!("<BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP mode DEFAULT group default qlen 1000\\    link/ether 52:54:00:00:00:{index:02x} brd ff:ff:ff:ff:ff:ff")
    };
    format!("{}: {name}: {flags}\n", index + 1)
}

/// Whether MDS `id` listens on a network none of the other MDSs is on: a node's public
/// address where the MDSs talk over a separate storage network (the lab's networks are
/// /24s, not routed to each other). Its mdsd runs but never reaches a peer, so the
/// cluster lists it as not running (status word invented: `offline`).
pub(super) fn mds_cut_off(state: &LabState, id: u32) -> bool {
    let net = |a: &str| {
        a.parse::<std::net::Ipv4Addr>()
            .ok()
            .map(|ip| u32::from(ip) & 0xffff_ff00)
    };
    let Some(own) = state
        .mdss
        .iter()
        .find(|m| m.id == id)
        .and_then(|m| net(&m.address))
    else {
        return false;
    };
    let peers: Vec<u32> = state
        .mdss
        .iter()
        .filter(|m| m.id != id)
        .filter_map(|m| net(&m.address))
        .collect();
    !peers.is_empty() && !peers.contains(&own)
}
