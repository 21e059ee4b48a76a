//! The lab's packages (`rpm -q`, `yum install`) and clock (`chronyc`): chrony may be
//! missing, and a running ntpd keeps chronyd from synchronising.

use super::reply::Reply;
use super::services::fails_once;
use super::state::{HostState, LabFile, LabState, Unit};

/// The stock /etc/chrony.conf of CentOS 7, abridged.
const CHRONY_CONF: &str = "# Use public servers from the pool.ntp.org project.\nserver 0.centos.pool.ntp.org iburst\nserver 1.centos.pool.ntp.org iburst\ndriftfile /var/lib/chrony/drift\nmakestep 1.0 3\nrtcsync\nlogdir /var/log/chrony\n";

/// `rpm -q NAME`: the not-installed text is rpm's; versions are invented.
pub fn rpm(state: &LabState, host: &str, args: &[&str]) -> Reply {
    let h = state.host(host).expect("known host");
    let names: Vec<&&str> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let mut out = String::new();
    let mut missing = 0;
    for n in names {
        if h.ops.packages.iter().any(|p| p == *n) {
            out.push_str(&format!("{n}-1.0-1.vz7.x86_64\n"));
        } else {
            out.push_str(&format!("package {n} is not installed\n"));
            missing += 1;
        }
    }
    Reply {
        code: missing,
        stdout: out,
        stderr: String::new(),
        takes: 0.0,
        finishes: None,
    }
}

/// `yum -y install NAME...`; the transcript is abridged (invented).
pub fn yum(state: &mut LabState, host: &str, args: &[&str]) -> Reply {
    let words: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with('-'))
        .collect();
    let Some((&"install", names)) = words.split_first() else {
        return Reply::fail(1, "yum: the lab only installs\n");
    };
    if fails_once(state, host, "yum install") {
        // yum's own words when the repositories cannot be reached.
        return Reply::fail(1, "One of the configured repositories failed (Unknown),\nand yum doesn't have enough cached data to continue.\nCannot find a valid baseurl for repo: base/7/x86_64\n").takes(30.0);
    }
    let h = state.host_mut(host);
    for n in names {
        if !h.ops.packages.iter().any(|p| p == n) {
            h.ops.packages.push(n.to_string());
        }
        if *n == "chrony" {
            h.units.entry("chronyd.service".into()).or_insert(Unit {
                active: false,
                enabled: false,
                description: "NTP client/server".into(),
                job: None,
                repo: None,
            });
            h.files.entry("/etc/chrony.conf".into()).or_insert(LabFile {
                content: CHRONY_CONF.into(),
                mode: 0o644,
            });
        }
    }
    Reply::ok(format!("Installed:\n  {}\n\nComplete!\n", names.join(" "))).takes(5.0)
}

/// `chronyc tracking` / `chronyc makestep` (chrony 3.x report layout). Synchronised only
/// while no ntpd fights chronyd for the clock, and with a server the node reaches.
pub fn chronyc(state: &mut LabState, host: &str, args: &[&str]) -> Reply {
    let h = state.host_mut(host);
    let active = |u: &str| h.units.get(u).is_some_and(|x| x.active);
    if !active("chronyd.service") {
        return Reply::fail(1, "506 Cannot talk to daemon\n");
    }
    // chrony.conf's `server NAME ...` / `pool NAME ...` lines: one the node reaches.
    let reaches = h.ops.ntp_reachable.is_empty()
        || h.files.get("/etc/chrony.conf").is_some_and(|f| {
            f.content.lines().any(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.len() >= 2
                    && (w[0] == "server" || w[0] == "pool")
                    && h.ops.ntp_reachable.iter().any(|r| r == w[1])
            })
        });
    let synced = !active("ntpd.service") && reaches;
    match args.iter().rfind(|a| !a.starts_with('-')).copied() {
        // Right after a (re)start chronyd has no measurement: `System time` is the error it
        // is correcting, which is none yet (chrony 3.x `tracking`; chronyc(1): the system
        // clock is slewed, not stepped, unless makestep says so). The iburst answers come
        // in a few seconds later: the next look sees them.
        Some("tracking") if h.ops.chrony_unmeasured => {
            h.ops.chrony_unmeasured = false;
            Reply::ok("Reference ID    : 00000000 ()\nStratum         : 0\nRef time (UTC)  : Thu Jan 01 00:00:00 1970\nSystem time     : 0.000000000 seconds fast of NTP time\nLast offset     : +0.000000000 seconds\nRMS offset      : 0.000000000 seconds\nFrequency       : 0.000 ppm slow\nResidual freq   : +0.000 ppm\nSkew            : 0.000 ppm\nRoot delay      : 1.000000000 seconds\nRoot dispersion : 1.000000000 seconds\nUpdate interval : 0.0 seconds\nLeap status     : Not synchronised\n")
        }
        Some("makestep") => {
            h.ops.clock_offset_s = 0.000_003;
            Reply::ok("200 OK\n")
        }
        Some("tracking") => {
            let offset = h.ops.clock_offset_s;
            let (reference, stratum, leap) = if synced {
                ("C0A80101 (ntp1.example.net)", 3, "Normal")
            } else {
                ("00000000 ()", 0, "Not synchronised")
            };
            Reply::ok(format!(
                "Reference ID    : {reference}\nStratum         : {stratum}\nRef time (UTC)  : Wed Nov 25 17:00:00 2026\nSystem time     : {:.9} seconds {} of NTP time\nLast offset     : +0.000000123 seconds\nRMS offset      : 0.000012345 seconds\nFrequency       : 1.234 ppm slow\nResidual freq   : +0.000 ppm\nSkew            : 0.012 ppm\nRoot delay      : 0.001234567 seconds\nRoot dispersion : 0.000567890 seconds\nUpdate interval : 64.2 seconds\nLeap status     : {leap}\n",
                offset.abs(),
                if offset >= 0.0 { "slow" } else { "fast" }
            ))
        }
        other => Reply::fail(
            1,
            format!("Unrecognized command: {other:?} (the lab knows tracking, makestep)\n"),
        ),
    }
}

/// chrony's files when it is installed; no chronyd unit when it is not.
pub fn provision(h: &mut HostState) {
    if h.ops.packages.iter().any(|p| p == "chrony") {
        h.files.entry("/etc/chrony.conf".into()).or_insert(LabFile {
            content: CHRONY_CONF.into(),
            mode: 0o644,
        });
    } else {
        h.units.remove("chronyd.service");
    }
}
