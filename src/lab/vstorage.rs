//! Simulated `vstorage` (reference/virtuozzo-cli.md §2). `stat` prints the scenario's variant:
//! the VZ7-era layout (`connected to MDS#N`, the old `License: KEY is STATE` line, the CS
//! table with FREE, `%5s  %-8s%8s %6s %8s %6s %9s %6s %s`) or the newer one (`cluster
//! version`, `License: STATE (…)`, the 11-column CS table with AVAIL, UNIQUE and
//! BUILD_VERSION). HOST is each node's storage address, which need not be the inventory's.
//! Invented (no public sample; kept short): the MDS table's layout, the texts of make-cs,
//! make-mds, rm-mds and the error messages, get-config's spacing, view-license.

use super::reply::Reply;
use super::scenario::parse_replicas;
use super::state::{Cs, LabState, Mds, PathAttrs, Unit, Variant};

/// Lab seconds a removed CS takes to drain.
pub(super) const DRAIN: f64 = 30.0;
/// Lab seconds a set-config takes to be committed by the MDSs.
const SET_CONFIG: f64 = 1.0;

fn size(gb: u64) -> String {
    if gb >= 1024 {
        format!("{:.2}TB", gb as f64 / 1024.0)
    } else {
        format!("{gb}GB")
    }
}

pub fn vstorage(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let mut quiet = false;
    let mut cluster = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-q" => quiet = true,
            "-c" => {
                i += 1;
                cluster = args.get(i).cloned();
            }
            _ => break,
        }
        i += 1;
    }
    // A node cut off from the storage network reaches no MDS (the lab's wording).
    if state
        .host(host)
        .is_some_and(|h| h.ops.storage_lost_at.is_some())
    {
        return Reply::fail(
            1,
            "Failed to connect to the MDS: Connection timed out (the lab: this node lost its storage-network address)\n",
        )
        .takes(3.0);
    }
    // The MDSs agree by majority: with no majority running there is no master, and no
    // command reaches the cluster (the lab's wording; a real client may rather hang).
    let running = state.mdss.iter().filter(|m| m.status == "avail").count();
    if !state.mdss.is_empty() && running * 2 <= state.mdss.len() {
        return Reply::fail(
            1,
            format!(
                "Failed to connect to the MDS: Connection timed out (the lab: {running} of {} MDSs run, no majority)\n",
                state.mdss.len()
            ),
        )
        .takes(3.0);
    }
    let Some(command) = args.get(i) else {
        return Reply::fail(1, "Usage: vstorage [-q] -c <cluster> <command> [options]\n");
    };
    let rest = &args[i + 1..];
    let path_command = matches!(command.as_str(), "get-attr" | "set-attr");
    if !path_command {
        match &cluster {
            None => {
                return Reply::fail(
                    1,
                    format!("{command}: cluster name is required (-c <cluster>)\n"),
                )
            }
            Some(c) if *c != state.cluster => {
                return Reply::fail(
                    1,
                    format!("Failed to read the bootstrap list of cluster '{c}'\n"),
                )
            }
            _ => {}
        }
    }
    let reply = match command.as_str() {
        "stat" => Ok(stat(state)),
        "rm-cs" => rm_cs(state, rest),
        "make-cs" => make_cs(state, host, rest),
        "make-mds" => make_mds(state, host, rest),
        "rm-mds" => rm_mds(state, rest),
        "get-attr" => get_attr(state, rest),
        "set-attr" => set_attr(state, rest),
        "get-config" => Ok(Reply::ok(
            state
                .config
                .iter()
                .map(|(k, v)| format!("{k} = {v}\n"))
                .collect::<String>(),
        )),
        "set-config" => set_config(state, rest),
        "view-license" => Ok(view_license(state)),
        other => Err(Reply::fail(1, format!("Unknown command: {other}\n"))),
    };
    let connected = format!("connected to MDS#{}\n", state.master_mds());
    match reply {
        Ok(r) if !quiet => r.before(&connected),
        Ok(r) => r,
        Err(r) => r,
    }
}

/// Whether a CS's chunks are short of a replica: it is not active, or its tier has fewer
/// hosts with active CSs than the replication norm (the failure domain is the host: two
/// replicas never share one, so 3 replicas need 3 hosts, however many CSs there are).
/// With the cluster root's failure domain `disk`, two replicas may share a host but not a
/// CS, so the CSs are counted instead.
fn short_of_replicas(state: &LabState, cs: &super::state::Cs) -> bool {
    let by_disk = state
        .path_attrs
        .get(&state.mount_root())
        .is_some_and(|a| a.failure_domain == "disk");
    let domains: std::collections::BTreeSet<String> = state
        .css
        .iter()
        .filter(|c| c.tier == cs.tier && c.status == "active")
        .map(|c| {
            if by_disk {
                c.id.to_string()
            } else {
                c.host.clone()
            }
        })
        .collect();
    cs.status != "active" || domains.len() < state.replicas_norm as usize
}

fn cluster_status(state: &LabState) -> &'static str {
    if !state.css.iter().any(|c| short_of_replicas(state, c)) {
        "healthy"
    } else if state.css.iter().filter(|c| c.status == "active").count()
        < state.replicas_min as usize
    {
        "failure"
    } else {
        "degraded"
    }
}

fn stat(state: &LabState) -> Reply {
    let total: u64 = state.css.iter().map(|c| c.space_gb).sum();
    let free: u64 = state.css.iter().map(|c| c.free_gb).sum();
    let active = |s: &str| state.css.iter().filter(|c| c.status == s).count();
    let avail = active("active");
    let inactive = active("inactive");
    let offline = active("offline");
    let norm = state.replicas_norm.max(1) as u64;
    let replicas: u64 = state.css.iter().map(|c| c.replicas).sum();
    let chunks = replicas / norm;
    let degraded: u64 = state
        .css
        .iter()
        .filter(|c| short_of_replicas(state, c))
        .map(|c| c.replicas)
        .sum::<u64>()
        / norm;
    let healthy = chunks - degraded.min(chunks);
    let pct = |n: u64| (n * 100).checked_div(chunks).unwrap_or(0);
    let chunk_word = if degraded == 0 { "OK" } else { "WARN" };
    let vhi = state.variant == Variant::Vhi;
    let mut out = format!("Cluster '{}': {}\n", state.cluster, cluster_status(state));
    // The MDS keeps `mds.alloc.fill_margin` percent of each CS back from allocation (the
    // lab's model of the parameter fill-margin lowers; its exact accounting is not
    // documented).
    let margin: u64 = state
        .config
        .get("mds.alloc.fill_margin")
        .and_then(|m| m.parse().ok())
        .filter(|m| *m <= 100)
        .unwrap_or(5);
    out.push_str(&format!(
        "Space: [OK] allocatable {} of {}, free {} of {}\n",
        size(free * (100 - margin) / 100),
        size(total),
        size(free),
        size(total)
    ));
    // The versions (128) are the sample's; the lab has no versions of its own.
    let (cluster_version, storage_version) = if vhi {
        (", cluster version: 128", ", storage version: 128")
    } else {
        ("", "")
    };
    out.push_str(&format!(
        "MDS nodes: {} of {}, epoch uptime: 19d 23h{cluster_version}\n",
        state.mdss.iter().filter(|m| m.status == "avail").count(),
        state.mdss.len()
    ));
    out.push_str(&format!(
        "CS nodes:  {} of {} ({avail} avail, {inactive} inactive, {offline} offline){storage_version}\n",
        avail,
        state.css.len()
    ));
    let l = &state.license;
    if vhi {
        out.push_str(&format!(
            "License: {} (expiration: {}, capacity: {}TB, used: {})\n",
            l.status,
            l.expiration,
            l.capacity_tb,
            size(total - free)
        ));
    } else {
        out.push_str(&format!(
            "License: {} is {}, {}TB capacity\n",
            l.key, l.status, l.capacity_tb
        ));
    }
    out.push_str(&format!(
        "Replication:  {} norm,  {} limit\n",
        state.replicas_norm, state.replicas_min
    ));
    let (standby, pending) = if vhi {
        ("  0 (0%) standby,", "  0 (0%) pending,")
    } else {
        ("", "")
    };
    out.push_str(&format!(
        "Chunks: [{chunk_word}] {healthy} ({}%) healthy,{standby}  {degraded} ({}%) degraded,  0 (0%) urgent,\n",
        pct(healthy),
        pct(degraded)
    ));
    out.push_str(&format!(
        "             0 (0%) blocked,{pending}  0 (0%) offline,  0 (0%) replicating,\n"
    ));
    let deleting = state.deleting_chunks;
    out.push_str(&format!(
        "             0 (0%) overcommitted,  {deleting} ({}%) deleting,  0 (0%) void\n",
        pct(deleting)
    ));
    if vhi {
        // Counts the lab does not model; the line shapes are the VHI sample's.
        out.push_str(&format!(
            "FS:  {} in 757 files, 757 inodes,  244 file maps,  {chunks} chunks,  {replicas} chunk replicas\n",
            size(total - free)
        ));
        out.push_str("IO:       read     0B/s (  0ops/s), write     0B/s (  0ops/s)\n");
    }
    out.push('\n');
    // The MDS table has no public text sample: its layout is invented to match the CS table.
    out.push_str(&format!(
        " {:>5} {:<8}{:>7}{:>10}{:>7}{:>7}{:>9} {}\n",
        "MDSID", "STATUS", "%CTIME", "COMMITS", "%CPU", "MEM", "UPTIME", "HOST"
    ));
    for m in &state.mdss {
        out.push_str(&format!(
            " {}{:>4} {:<8}{:>7}{:>10}{:>7}{:>7}{:>9} {}\n",
            if m.master { "M" } else { " " },
            m.id,
            m.status,
            "0.1%",
            "1/s",
            "0.4%",
            "102m",
            "19d 5h",
            m.address
        ));
    }
    out.push('\n');
    if vhi {
        out.push_str(&cs_table_vhi(state));
    } else {
        out.push_str(&cs_table_vz7(state));
    }
    out.push('\n');
    out.push_str(&clients_table(state));
    Reply::ok(out)
}

/// The clients table: one row per node that mounts the cluster, or that went off so lately
/// that the MDS still keeps its session (`power::session_lingers`), HOST its storage
/// address. The columns are documented (reference §2.3); the widths and the rates are
/// invented (no text sample exists; the reference's reconstructed row).
fn clients_table(state: &LabState) -> String {
    let now = state.lab_now();
    let mut out = format!(
        " {:>4} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7} {:>9} {}\n",
        "CLID", "LEASES", "READ", "WRITE", "RD_OPS", "WR_OPS", "FSYNCS", "IOLAT(ms)", "HOST"
    );
    let clients = state.hosts.iter().filter(|h| {
        state.cluster_mounted(&h.name) || super::power::session_lingers(state, &h.name, now)
    });
    for (i, h) in clients.enumerate() {
        out.push_str(&format!(
            " {:>4} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7} {:>9} {}\n",
            2089 + i,
            "0/1",
            "0B/s",
            "1.2MB/s",
            "0ops/s",
            "10ops/s",
            "0ops/s",
            "1/3",
            h.stat_address()
        ));
    }
    out
}

/// The HOST of a CS: the storage address of its node, as vstorage knows it.
fn cs_host(state: &LabState, cs: &Cs) -> String {
    state
        .host(&cs.host)
        .map_or(String::new(), |h| h.stat_address().to_string())
}

/// The CS table: the header, then one row per CS; with `stat_tiers` an invented TIER
/// column at the end (no documented layout has one).
fn cs_table(state: &LabState, header: &str, row: impl Fn(&Cs, String) -> String) -> String {
    let mut out = format!(" {header}");
    out.push_str(if state.stat_tiers { " TIER\n" } else { "\n" });
    for c in &state.css {
        out.push_str(&row(c, cs_host(state, c)));
        if state.stat_tiers {
            out.push_str(&format!(" {}", c.tier));
        }
        out.push('\n');
    }
    out
}

/// The documented VZ7 table (sample in reference §2.3; layout inferred from it).
fn cs_table_vz7(state: &LabState) -> String {
    cs_table(
        state,
        "CSID  STATUS     SPACE   FREE REPLICAS IOWAIT IOLAT(ms) QDEPTH HOST",
        |c, host| {
            format!(
                "{:>5}  {:<8}{:>8} {:>6} {:>8} {:>6} {:>9} {:>6} {host}",
                c.id,
                c.status,
                size(c.space_gb),
                size(c.free_gb),
                c.replicas,
                "0%",
                "0/0",
                "0.0",
            )
        },
    )
}

/// The newer 11-column table: the columns are documented (VHI 4.7 "Monitoring chunk
/// servers"), the widths and the build version are invented (no text sample exists).
fn cs_table_vhi(state: &LabState) -> String {
    cs_table(
        state,
        "CSID STATUS      SPACE  AVAIL REPLICAS UNIQUE IOWAIT IOLAT(ms) QDEPTH HOST BUILD_VERSION",
        |c, host| {
            format!(
                "{:>6} {:<9}{:>6} {:>6} {:>8} {:>6} {:>6} {:>5} {:>5} {host} 7.0.123-4",
                c.id,
                c.status,
                size(c.space_gb),
                size(c.free_gb),
                c.replicas,
                0,
                "0%",
                "0/0",
                "0.0",
            )
        },
    )
}

fn cs_id(text: Option<&String>) -> Result<u32, Reply> {
    text.and_then(|t| t.parse().ok())
        .ok_or_else(|| Reply::fail(1, "rm-cs: a CS ID is required\n"))
}

fn rm_cs(state: &mut LabState, args: &[String]) -> Result<Reply, Reply> {
    let mut wait = false;
    let mut maintenance = false;
    let mut revert = false;
    let mut id = None;
    for a in args {
        match a.as_str() {
            "--wait" => wait = true,
            "--maintenance" => maintenance = true,
            "--revert" => revert = true,
            o if o.starts_with('-') => {
                return Err(Reply::fail(1, format!("rm-cs: unknown option {o}\n")))
            }
            _ => id = Some(a),
        }
    }
    let id = cs_id(id)?;
    let drained_at = state.done_after(DRAIN);
    let Some(host) = state
        .css
        .iter()
        .find(|c| c.id == id)
        .map(|c| c.host.clone())
    else {
        return Err(Reply::fail(1, format!("CS#{id} is not found\n")));
    };
    if maintenance {
        let status = if revert {
            super::power::out_of_maintenance(state, &host, id)
        } else {
            "maintenance"
        };
        if let Some(cs) = state.css.iter_mut().find(|c| c.id == id) {
            cs.status = status.into();
        }
        let now = state.lab_now();
        super::network::storage_silence(state, now);
        return Ok(Reply::ok(""));
    }
    let cs = state
        .css
        .iter_mut()
        .find(|c| c.id == id)
        .expect("found above");
    // A CS already being removed is not removed again (unverified for the real tool, which
    // is closed source; an MDS refusing a second removal of one CS is the plausible answer,
    // and a runbook must not lean on it being accepted): wait for it in `stat` instead.
    if cs.status == "dropped" {
        return Err(Reply::fail(
            1,
            format!("rm-cs: CS#{id} is already being removed (dropped)\n"),
        ));
    }
    cs.status = "dropped".into();
    cs.drained_at = (!cs.never_drains).then_some(drained_at);
    let head = format!("Removing CS#{id} ...\n");
    if !wait {
        return Ok(Reply::ok(head));
    }
    let takes = match cs.drained_at {
        Some(at) => state.lab_seconds_until(at),
        None => f64::INFINITY,
    };
    Ok(Reply::ok(format!("{head}done\n")).takes(takes))
}

fn flag_value(args: &[String], flag: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn make_cs(state: &mut LabState, host: &str, args: &[String]) -> Result<Reply, Reply> {
    let repo = flag_value(args, "-r")
        .ok_or_else(|| Reply::fail(1, "make-cs: -r <repository> is required\n"))?;
    let tier: u8 =
        match flag_value(args, "-t") {
            None => 0,
            Some(t) => t.parse().ok().filter(|t| *t <= 3).ok_or_else(|| {
                Reply::fail(1, format!("make-cs: invalid tier {t}: must be 0..3\n"))
            })?,
        };
    let journal = flag_value(args, "-j");
    let cluster = state.cluster.clone();
    let h = state.host(host).expect("known host");
    let space = h
        .mounts
        .iter()
        .find(|m| m.target == repo || repo.starts_with(&format!("{}/", m.target)))
        .and_then(|m| {
            h.disks
                .iter()
                .find(|d| d.partition.as_ref().is_some_and(|p| p.device == m.source))
        })
        .map(|d| d.size_gb);
    if !h.dirs.contains(&repo) {
        return Err(Reply::fail(
            1,
            format!("make-cs: {repo}: No such file or directory\n"),
        ));
    }
    if state.css.iter().any(|c| c.repo == repo && c.host == host) {
        return Err(Reply::fail(
            1,
            format!("make-cs: {repo} already holds a chunk server repository\n"),
        ));
    }
    // make-cs wants an empty directory: pointed at the root of a fresh ext4 it meets
    // lost+found and stops (public notes say so; the wording here is invented).
    let below = format!("{repo}/");
    if let Some(entry) = h.dirs.iter().find(|d| d.starts_with(&below)) {
        return Err(Reply::fail(
            1,
            format!(
                "make-cs: repository directory {repo} is not empty ({} found)\n",
                entry.trim_start_matches(&below)
            ),
        ));
    }
    let id = state.css.iter().map(|c| c.id).max().unwrap_or(1024) + 1;
    let space = space.unwrap_or(1862);
    let shown = format!("Creating CS#{id} in {repo} ...\ndone\n");
    let repo_dir = repo.clone();
    state.css.push(Cs {
        id,
        host: host.to_string(),
        tier,
        repo,
        space_gb: space,
        free_gb: space,
        replicas: 0,
        status: "inactive".into(),
        journal,
        drained_at: None,
        never_drains: false,
    });
    let h = state.host_mut(host);
    h.dirs.push(format!("{}/control", repo_dir));
    h.units.insert(
        format!("vstorage-csd.{cluster}.{id}.service"),
        Unit {
            active: false,
            enabled: true,
            description: format!("Virtuozzo Storage CS {id}"),
            job: None,
            repo: Some(repo_dir),
        },
    );
    Ok(Reply::ok(shown).takes(2.0))
}

fn make_mds(state: &mut LabState, host: &str, args: &[String]) -> Result<Reply, Reply> {
    let address = flag_value(args, "-a")
        .ok_or_else(|| Reply::fail(1, "make-mds: -a <address> is required\n"))?;
    flag_value(args, "-r")
        .ok_or_else(|| Reply::fail(1, "make-mds: -r <repository> is required\n"))?;
    let id = state.mdss.iter().map(|m| m.id).max().unwrap_or(0) + 1;
    let cluster = state.cluster.clone();
    // make-mds registers the MDS and creates its repository; it starts nothing: the
    // service is enabled and started afterwards (reference virtuozzo-cli.md §2.7,
    // "enable/start after make-mds/make-cs" [OBS devstack, puppet]). Until then the
    // cluster counts an MDS that does not run (its status word is invented: `offline`).
    state.mdss.push(Mds {
        id,
        host: host.to_string(),
        address: address.split(':').next().unwrap_or(&address).to_string(),
        master: state.mdss.is_empty(),
        status: "offline".into(),
    });
    state.host_mut(host).units.insert(
        format!("vstorage-mdsd.{cluster}.{id}.service"),
        Unit {
            active: false,
            enabled: false,
            description: format!("Virtuozzo Storage MDS {id}"),
            job: None,
            repo: None,
        },
    );
    Ok(Reply::ok(format!("MDS#{id} is created\n")).takes(2.0))
}

fn rm_mds(state: &mut LabState, args: &[String]) -> Result<Reply, Reply> {
    let id: u32 = args
        .first()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| Reply::fail(1, "rm-mds: an MDS ID is required\n"))?;
    let Some(pos) = state.mdss.iter().position(|m| m.id == id) else {
        return Err(Reply::fail(1, format!("MDS#{id} is not found\n")));
    };
    if state.mdss.len() == 1 {
        return Err(Reply::fail(
            1,
            format!("MDS#{id} is the last MDS of the cluster\n"),
        ));
    }
    let removed = state.mdss.remove(pos);
    if removed.master {
        state.mdss[0].master = true;
    }
    Ok(Reply::ok(""))
}

/// The attributes in force at a path: a VE disk image's own, a VE home's own, else the
/// nearest configured parent's.
fn attrs_at(state: &LabState, path: &str) -> Option<PathAttrs> {
    let root = state.mount_root();
    if path != root && !path.starts_with(&format!("{root}/")) {
        return None;
    }
    let inherited = inherited_attrs(state, path)?;
    if let Some((ve, device)) = super::ve_images::image_at(state, path) {
        // A disk image (and what it holds) keeps the attributes it was created with, or
        // was given itself (see `ve_images`).
        let image = super::ve_images::image_attrs(ve, device);
        return Some(PathAttrs {
            replicas: image.replicas,
            tier: image.tier,
            failure_domain: inherited.failure_domain,
        });
    }
    if let Some(ve) = state.ves.iter().find(|v| v.home == path) {
        // A VE home keeps its own replicas and tier; its failure domain is the one it
        // inherited from its directory ("File attributes are inherited from directory
        // attributes on creation", pstorage-set-attr(1)).
        return Some(PathAttrs {
            replicas: ve.replicas.clone(),
            tier: ve.tier,
            failure_domain: inherited.failure_domain,
        });
    }
    Some(inherited)
}

/// The attributes of the nearest configured path at or above `path`.
fn inherited_attrs(state: &LabState, path: &str) -> Option<PathAttrs> {
    let mut p = path.to_string();
    loop {
        if let Some(a) = state.path_attrs.get(&p) {
            return Some(a.clone());
        }
        match p.rfind('/') {
            Some(i) if i > 0 => p.truncate(i),
            _ => return None,
        }
    }
}

fn get_attr(state: &LabState, args: &[String]) -> Result<Reply, Reply> {
    let path = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .map(|p| p.trim_end_matches('/').to_string())
        .ok_or_else(|| Reply::fail(1, "get-attr: a path is required\n"))?;
    let attrs = attrs_at(state, &path).ok_or_else(|| {
        Reply::fail(
            1,
            format!("get-attr: {path}: not on a vstorage file system\n"),
        )
    })?;
    let inside = path.strip_prefix(&state.mount_root()).unwrap_or("");
    Ok(Reply::ok(format!(
        "Path: 'vstorage://{}{}/'\nAttributes:\n  directory\n  replicas={}\n  failure-domain={}\n  tier={}\n  chunk-size=268435456\n",
        state.cluster, inside, attrs.replicas, attrs.failure_domain, attrs.tier
    )))
}

fn set_attr(state: &mut LabState, args: &[String]) -> Result<Reply, Reply> {
    let mut recursive = false;
    let mut path = None;
    let mut changes = Vec::new();
    for a in args {
        match a.as_str() {
            "-R" => recursive = true,
            "-p" => {}
            o if o.starts_with('-') => {
                return Err(Reply::fail(1, format!("set-attr: unknown option {o}\n")))
            }
            kv if kv.contains('=') => changes.push(
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .unwrap(),
            ),
            p => path = Some(p.trim_end_matches('/').to_string()),
        }
    }
    let path = path.ok_or_else(|| Reply::fail(1, "set-attr: a path is required\n"))?;
    let mut attrs = attrs_at(state, &path).ok_or_else(|| {
        Reply::fail(
            1,
            format!("set-attr: {path}: not on a vstorage file system\n"),
        )
    })?;
    for (k, v) in &changes {
        let bad = || Reply::fail(1, format!("set-attr: invalid value {k}={v}\n"));
        match k.as_str() {
            "replicas" => {
                // Shared with the primitive because the rule is vstorage's own: norm and min
                // each 1..15 (set-attr, Virtuozzo Storage admin guide; reference
                // virtuozzo-cli.md). The default minimum it computes is not used here.
                parse_replicas(v).map_err(|_| bad())?;
                attrs.replicas = v.clone();
            }
            "tier" => attrs.tier = v.parse().ok().filter(|t| *t <= 3).ok_or_else(bad)?,
            "failure-domain" => {
                if !matches!(v.as_str(), "disk" | "host" | "rack" | "row" | "room") {
                    return Err(bad());
                }
                attrs.failure_domain = v.clone();
            }
            _ => return Err(Reply::fail(1, format!("set-attr: unknown attribute {k}\n"))),
        }
    }
    // The images first: a home set without -R leaves its images as they were before.
    super::ve_images::set_attr(state, &path, recursive, &changes);
    // -R gives everything below the attributes named, and only those: `replicas=3` leaves
    // the tier of each VE home below as it was (set-tier may have set it one by one).
    let below = format!("{path}/");
    let inside = |p: &str| recursive && p.starts_with(&below);
    for ve in &mut state.ves {
        if ve.home == path {
            ve.tier = attrs.tier;
            ve.replicas = attrs.replicas.clone();
        } else if inside(&ve.home) {
            for (k, v) in &changes {
                match k.as_str() {
                    "replicas" => ve.replicas = v.clone(),
                    "tier" => ve.tier = attrs.tier,
                    _ => {}
                }
            }
        }
    }
    for (p, a) in state.path_attrs.iter_mut() {
        if inside(p) {
            for (k, v) in &changes {
                match k.as_str() {
                    "replicas" => a.replicas = v.clone(),
                    "tier" => a.tier = attrs.tier,
                    "failure-domain" => a.failure_domain = v.clone(),
                    _ => {}
                }
            }
        }
    }
    let image = super::ve_images::image_at(state, &path).is_some();
    if !image && !state.ves.iter().any(|v| v.home == path) {
        state.path_attrs.insert(path, attrs);
    }
    Ok(Reply::ok(""))
}

fn set_config(state: &mut LabState, args: &[String]) -> Result<Reply, Reply> {
    let Some((key, value)) = args.first().and_then(|a| a.split_once('=')) else {
        return Err(Reply::fail(1, "set-config: expected <name>=<value>\n"));
    };
    state.config.insert(key.to_string(), value.to_string());
    // The master MDS commits it to its journal (and its peers) before answering: the change
    // is made while the client still waits, and a client killed meanwhile does not undo it.
    Ok(Reply::ok("").takes(SET_CONFIG))
}

fn view_license(state: &LabState) -> Reply {
    let l = &state.license;
    let mut out = format!(
        "Key number: {}\nStatus: {}\nCapacity: {}TB\nExpiration: {}\n",
        l.key, l.status, l.capacity_tb, l.expiration
    );
    for h in &state.hosts {
        let hwid = &super::state::uuid_from(&format!("hwid-{}", h.name)).replace('-', "")[..16];
        out.push_str(&format!("HWID {}: {hwid}\n", h.name));
    }
    Reply::ok(out)
}
