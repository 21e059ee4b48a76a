//! A node that is off, and how long the cluster takes to notice.
//!
//! A node off for long (`powered_off`) is what the cluster shows once it has caught up:
//! its CSs and MDS offline, no client session. One that died a moment ago (`off_for_s`)
//! is not: the MDS goes on listing its chunk servers `active` until it misses their
//! heartbeats, then `inactive` for their first 5 minutes of silence, `offline` after
//! (replication starts then: VHI 4.7 "Monitoring chunk servers"), the same timing as a
//! node cut off from the storage network (`network::storage_silence`); its MDS, unless it
//! was the master, is listed `avail` until its peers miss it (as long, the lab's figure);
//! and its client session stays in `vstorage stat` until the MDS gives its leases up.

use super::state::LabState;

/// How long (lab seconds) the MDS goes on listing the client session of a node that died:
/// until the leases it held expire. Invented: no public figure says how long a dead
/// client stays in `vstorage stat`'s clients table, only that it is listed while it holds
/// a session (reference §2.3, clients table).
pub const CLIENT_SESSION_LINGERS_S: f64 = 60.0;

/// What the cluster sees of a node that is off: no mount of its own (the node is down), its
/// MDSs offline (when one was the master and the MDSs still running are a majority, they
/// elect another: the lowest id, in the lab), its VEs still registered there but not
/// running. `off_for`: how long ago (lab seconds) it went off; `None`, long ago: its CSs
/// are offline and its client session gone. Given, its CSs that were active fall silent
/// then (`network::storage_silence` marks them as the MDS would) and its session lingers
/// (`session_lingers`).
pub fn power_off(state: &mut LabState, name: &str, off_for: Option<f64>) {
    let mut master_lost = false;
    let mut unnoticed = Vec::new();
    for m in state.mdss.iter_mut().filter(|m| m.host == name) {
        // The master's loss is what the others notice first: no commits, an election. A
        // peer that died a moment ago is still listed avail until they miss it.
        if off_for.is_some() && !m.master && m.status == "avail" {
            unnoticed.push(m.id);
            continue;
        }
        m.status = "offline".into();
        master_lost |= std::mem::take(&mut m.master);
    }
    let running = state.mdss.iter().filter(|m| m.status == "avail").count();
    if master_lost && running * 2 > state.mdss.len() {
        if let Some(m) = state.mdss.iter_mut().find(|m| m.status == "avail") {
            m.master = true;
        }
    }
    let target = state.mount_root();
    let silent: Vec<u32> = state
        .css
        .iter()
        .filter(|c| c.host == name && c.status == "active")
        .map(|c| c.id)
        .collect();
    if let Some(h) = state.hosts.iter_mut().find(|h| h.name == name) {
        h.unreachable = true;
        h.ops.powered_off = true;
        h.mounts.retain(|m| m.target != target);
        if off_for.is_some() {
            h.ops.off_for_s = off_for;
            h.ops.storage_cut_off = silent;
            h.ops.mds_cut_off = unnoticed;
        }
    }
    // A CS in maintenance stays so: that is what maintenance is for (the node serviced,
    // off, while the MDS waits out `mds.wd.offline_tout_mnt`); a dropped one is leaving.
    if off_for.is_none() {
        for cs in state
            .css
            .iter_mut()
            .filter(|c| c.host == name && !matches!(c.status.as_str(), "maintenance" | "dropped"))
        {
            cs.status = "offline".into();
        }
    }
    for ve in state
        .ves
        .iter_mut()
        .filter(|v| v.host.as_deref() == Some(name))
    {
        ve.status = "stopped".into();
    }
}

/// The status of a chunk server of `host` taken out of maintenance: active, unless the node
/// is off. Then it is silent since the node went off: inactive or offline as
/// `network::storage_silence` makes it (it joins the node's silent CSs), offline at once
/// for a node off since long ago.
pub fn out_of_maintenance(state: &mut LabState, host: &str, id: u32) -> &'static str {
    let Some(h) = state.hosts.iter_mut().find(|h| h.name == host) else {
        return "active";
    };
    if !h.ops.powered_off {
        return "active";
    }
    if h.ops.powered_off_at.is_none() && h.ops.off_for_s.is_none() {
        return "offline";
    }
    if !h.ops.storage_cut_off.contains(&id) {
        h.ops.storage_cut_off.push(id);
    }
    // Active until storage_silence (run by the caller) says how long it has been silent.
    "active"
}

/// Puts the power-offs of the scenario (`off_for_s`) on the lab's clock, at the speed it
/// runs at: the first command after the scenario was loaded does it.
pub fn anchor(state: &mut LabState, now: f64) {
    let speed = state.speed;
    for h in state.hosts.iter_mut() {
        if let Some(off_for) = h.ops.off_for_s.take() {
            h.ops.powered_off_at = Some(super::state::done_at(now, speed, -off_for));
        }
    }
}

/// Whether the cluster still lists a client session of `host`, which is off: for
/// `CLIENT_SESSION_LINGERS_S` after it went off.
pub fn session_lingers(state: &LabState, host: &str, now: f64) -> bool {
    state
        .host(host)
        .and_then(|h| h.ops.powered_off_at)
        .is_some_and(|at| state.lab_seconds_between(at, now) < CLIENT_SESSION_LINGERS_S)
}

#[cfg(test)]
mod tests {
    use super::super::{dispatch, load, DEFAULT_SCENARIO};
    use super::*;

    /// The built-in lab with msk-04 off since `off_for` lab seconds, at speed 0.
    fn msk_04_off(off_for: &str) -> LabState {
        let yaml = DEFAULT_SCENARIO.replacen(
            "{name: msk-04, address: 10.30.17.34, tags:",
            &format!("{{name: msk-04, address: 10.30.17.34, powered_off: true{off_for}, tags:"),
            1,
        );
        let mut s = load(&yaml, "test").expect("loads");
        s.speed = 0.0;
        s
    }

    /// msk-04's CS statuses and whether the clients table lists it, asked on msk-02.
    fn seen(s: &mut LabState) -> (Vec<String>, bool) {
        let argv: Vec<String> = ["vstorage", "-c", "livelinux", "stat"]
            .map(String::from)
            .to_vec();
        let out = dispatch(s, "msk-02", &argv).expect("vstorage").stdout;
        let statuses = s
            .css
            .iter()
            .filter(|c| c.host == "msk-04")
            .map(|c| c.status.clone())
            .collect();
        let client = out
            .split("CLID")
            .nth(1)
            .is_some_and(|t| t.contains(" 10.30.17.34\n"));
        (statuses, client)
    }

    #[test]
    fn a_node_that_just_died_fades_from_the_cluster_as_the_mds_notices() {
        let mut s = msk_04_off(", off_for_s: 0");
        assert!(s.host("msk-04").unwrap().unreachable);
        let all = |w: &str| vec![w.to_string(); 3];
        assert_eq!(seen(&mut s), (all("active"), true));
        s.pass(super::super::network::MDS_MISSES_CS_S);
        assert_eq!(seen(&mut s), (all("inactive"), true));
        s.pass(CLIENT_SESSION_LINGERS_S);
        assert_eq!(seen(&mut s), (all("inactive"), false));
        s.pass(300.0);
        assert_eq!(seen(&mut s), (all("offline"), false));
        // Its VEs do not run; a node the scenario has off for long is offline at once.
        assert!(s
            .ves
            .iter()
            .filter(|v| v.host.as_deref() == Some("msk-04"))
            .all(|v| v.status == "stopped"));
        let mut old = msk_04_off("");
        assert_eq!(seen(&mut old), (all("offline"), false));
    }

    #[test]
    fn off_for_s_needs_a_powered_off_node_and_a_duration() {
        let yaml = DEFAULT_SCENARIO.replacen(
            "{name: msk-04, address: 10.30.17.34, tags:",
            "{name: msk-04, address: 10.30.17.34, off_for_s: 5, tags:",
            1,
        );
        let e = load(&yaml, "s").unwrap_err().message;
        assert_eq!(e, "host \"msk-04\": off_for_s needs powered_off: true");
        let yaml = DEFAULT_SCENARIO.replacen(
            "{name: msk-04, address: 10.30.17.34, tags:",
            "{name: msk-04, address: 10.30.17.34, powered_off: true, off_for_s: -1, tags:",
            1,
        );
        let e = load(&yaml, "s").unwrap_err().message;
        assert_eq!(e, "host \"msk-04\": off_for_s -1 must be 0 or more seconds");
    }

    #[test]
    fn the_mds_of_a_node_that_just_died_is_listed_until_its_peers_miss_it() {
        let yaml = DEFAULT_SCENARIO.replacen(
            "{name: msk-03, address: 10.30.17.33, tags:",
            "{name: msk-03, address: 10.30.17.33, powered_off: true, off_for_s: 0, tags:",
            1,
        );
        let mut s = load(&yaml, "test").expect("loads");
        s.speed = 0.0;
        let mds3 = |s: &LabState| s.mdss.iter().find(|m| m.id == 3).unwrap().status.clone();
        s.pass(1.0);
        assert_eq!(mds3(&s), "avail");
        s.pass(super::super::network::MDS_MISSES_CS_S);
        assert_eq!(mds3(&s), "offline");
        // The master is missed at once: the others elect another.
        let yaml = DEFAULT_SCENARIO.replacen(
            "{name: msk-01, address: 10.30.17.31, tags:",
            "{name: msk-01, address: 10.30.17.31, powered_off: true, off_for_s: 0, tags:",
            1,
        );
        let s = load(&yaml, "test").expect("loads");
        assert_eq!(s.mdss[0].status, "offline");
        assert!(s.mdss[1].master);
    }

    #[test]
    fn a_chunk_server_in_maintenance_stays_so_when_its_node_goes_off_and_leaves_it_silent() {
        for (off_for, after) in [("", "offline"), (", off_for_s: 30", "inactive")] {
            let mut yaml = DEFAULT_SCENARIO.replacen(
                "{name: msk-03, address: 10.30.17.33, tags:",
                &format!("{{name: msk-03, address: 10.30.17.33, powered_off: true{off_for}, tags:"),
                1,
            );
            yaml = yaml.replacen(
                "{id: 1031, host: msk-03,",
                "{id: 1031, host: msk-03, status: maintenance,",
                1,
            );
            let mut s = load(&yaml, "test").expect("loads");
            s.speed = 0.0;
            let status = |s: &LabState| s.css.iter().find(|c| c.id == 1031).unwrap().status.clone();
            assert_eq!(status(&s), "maintenance");
            let argv: Vec<String> = "vstorage -c livelinux rm-cs --maintenance --revert 1031"
                .split(' ')
                .map(String::from)
                .collect();
            assert_eq!(dispatch(&mut s, "msk-01", &argv).unwrap().code, 0);
            assert_eq!(status(&s), after, "off{off_for}");
        }
    }

    #[test]
    fn at_a_speed_above_0_a_silence_is_measured_in_lab_seconds() {
        // Off 20 lab seconds at speed 0.05: one wall second ago. Measured in wall seconds
        // (as storage_silence did), the MDS would not have missed its CSs yet.
        let mut s = msk_04_off(", off_for_s: 20");
        s.speed = 0.05;
        let statuses: Vec<String> = {
            let argv: Vec<String> = ["vstorage", "-c", "livelinux", "stat"]
                .map(String::from)
                .to_vec();
            dispatch(&mut s, "msk-02", &argv).expect("vstorage");
            s.css
                .iter()
                .filter(|c| c.host == "msk-04")
                .map(|c| c.status.clone())
                .collect()
        };
        assert_eq!(statuses, vec!["inactive".to_string(); 3]);
    }
}
