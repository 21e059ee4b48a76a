//! Simulated `sysctl` (procps-ng 3.3.10) and `systemctl`, per reference/virtuozzo-cli.md
//! §5–§6 (`firewall-cmd` is in `firewall.rs`). Chunk-server units are tied to their CS: stopping
//! one makes the CS inactive, and a unit left behind by a removed CS is visible, as on a
//! real node. `systemctl list-units` follows systemd 219 (EL7) `output_units_list`; the other
//! systemctl messages (is-enabled, start, enable errors, symlink lines) are systemd 219's
//! as remembered, not checked against its source.

use super::reply::Reply;
use super::state::{HostState, LabState};

pub fn sysctl(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let mut value_only = false;
    let mut quiet = false;
    let mut ignore_unknown = false;
    let mut write = false;
    let mut load = None;
    let mut system = false;
    let mut items = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--system" => system = true,
            "-n" => value_only = true,
            "-q" => quiet = true,
            "-e" => ignore_unknown = true,
            "-w" => write = true,
            "-p" => {
                load = Some(
                    it.next()
                        .cloned()
                        .unwrap_or_else(|| "/etc/sysctl.conf".into()),
                )
            }
            o if o.starts_with('-') => {
                return Reply::fail(
                    255,
                    format!(
                        "sysctl: invalid option -- '{}'\n",
                        o.trim_start_matches('-')
                    ),
                )
            }
            item => items.push(item.to_string()),
        }
    }
    let mut applying = String::new();
    if system {
        // What boot does (procps-ng 3.3.10 `--system`, and systemd-sysctl likewise): every
        // file is read in the order of its name, so a later file overrides an earlier one.
        let Some(h) = state.host(host) else {
            return Reply::fail(255, "unknown host\n");
        };
        for path in system_files(h) {
            applying.push_str(&format!("* Applying {path} ...\n"));
            items.extend(setting_lines(&h.files[&path].content));
        }
        write = true;
    }
    if let Some(file) = load {
        let content = match state.host(host).and_then(|h| h.files.get(&file)) {
            Some(f) => f.content.clone(),
            None => {
                return Reply::fail(
                    255,
                    format!("sysctl: cannot open \"{file}\": No such file or directory\n"),
                )
            }
        };
        items = setting_lines(&content);
        write = true;
    }
    // MemAvailable as /proc/meminfo shows it (basics.rs): what the VEs and the system
    // leave.
    let available_kb = state.host(host).map_or(0, |h| {
        (h.memory_mb * 1024).saturating_sub(state.used_mb(host) * 1024 + 4 * 1024 * 1024)
    });
    let h = state.host_mut(host);
    let mut out = applying;
    let mut err = String::new();
    let mut failures = 0;
    for item in items {
        let (key, value) = match item.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
            None if write => {
                err.push_str(&format!(
                    "sysctl: \"{item}\" must be of the form name=value\n"
                ));
                failures += 1;
                continue;
            }
            None => (item.clone(), None),
        };
        if !h.sysctl.contains_key(&key) {
            if !ignore_unknown {
                err.push_str(&format!(
                    "sysctl: cannot stat /proc/sys/{}: No such file or directory\n",
                    key.replace('.', "/")
                ));
                failures += 1;
            }
            continue;
        }
        let shown = match value {
            Some(v) if key == "vm.drop_caches" => {
                // A trigger, not a setting: the kernel drops caches and reads back 0.
                h.caches_dropped += 1;
                h.ops.page_cache_mb = Some(super::services::DROPPED_CACHE_MB);
                v
            }
            Some(v) if numeric(&h.sysctl[&key]) && !numeric(&v) => {
                // A number key (proc_dointvec, proc_doulongvec_minmax) refuses a word that
                // is not one, or one past its type: EINVAL, as procps-ng 3.3.10 reports it.
                err.push_str(&format!(
                    "sysctl: setting key \"{key}\": Invalid argument\n"
                ));
                failures += 1;
                continue;
            }
            Some(v) => {
                h.sysctl.insert(key.clone(), v.clone());
                // The kernel keeps vm.min_free_kbytes free, and wakes reclaim until its
                // high watermark (min + min/2, mm/page_alloc.c) is free: past what the VEs
                // leave, it cannot, and "setting this too high will OOM your machine
                // instantly" (Documentation/admin-guide/sysctl/vm.rst). The lab's node
                // then stops answering.
                if key == "vm.min_free_kbytes"
                    && v.parse::<u64>().is_ok_and(|kb| kb + kb / 2 > available_kb)
                {
                    h.unreachable = true;
                }
                v
            }
            None => h.sysctl[&key].clone(),
        };
        if !quiet {
            if value_only {
                out.push_str(&format!("{shown}\n"));
            } else {
                out.push_str(&format!("{key} = {shown}\n"));
            }
        }
    }
    Reply {
        // main() returns the sum of -1 per failure, as an 8-bit exit status.
        code: (256 - failures % 256) % 256,
        stdout: out,
        stderr: err,
        takes: 0.0,
        finishes: None,
    }
}

/// Whether every word of a sysctl value is a number the kernel's integer handlers take.
fn numeric(value: &str) -> bool {
    let mut words = value.split_whitespace().peekable();
    words.peek().is_some() && words.all(|w| w.parse::<u64>().is_ok() || w.parse::<i64>().is_ok())
}

/// The `key=value` settings of a sysctl.conf file (comments, blank lines left out).
fn setting_lines(content: &str) -> Vec<String> {
    content
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .map(|l| {
            l.split_once('=')
                .map_or(l.to_string(), |(k, v)| format!("{}={}", k.trim(), v.trim()))
        })
        .collect()
}

/// The files `sysctl --system` applies, in order (procps-ng 3.3.10 `PreloadSystem`, the
/// EL7 line of reference §6): the `*.conf` of /run/sysctl.d, /etc/sysctl.d,
/// /usr/local/lib/sysctl.d, /usr/lib/sysctl.d and /lib/sysctl.d, a name found in an earlier
/// directory hiding the same name in a later one, sorted by file name (not by directory),
/// then /etc/sysctl.conf last. So /etc/sysctl.d/99-vzctl.conf (reference §4.5) overrides
/// what a 90-*.conf sets.
pub fn system_files(h: &HostState) -> Vec<String> {
    let dirs = [
        "/run/sysctl.d",
        "/etc/sysctl.d",
        "/usr/local/lib/sysctl.d",
        "/usr/lib/sysctl.d",
        "/lib/sysctl.d",
    ];
    let mut by_name = std::collections::BTreeMap::new();
    for dir in dirs {
        for path in h.files.keys() {
            let Some(name) = path.strip_prefix(dir).and_then(|r| r.strip_prefix('/')) else {
                continue;
            };
            if name.ends_with(".conf") && !name.contains('/') {
                by_name
                    .entry(name.to_string())
                    .or_insert_with(|| path.clone());
            }
        }
    }
    let mut files: Vec<String> = by_name.into_values().collect();
    if h.files.contains_key("/etc/sysctl.conf") {
        files.push("/etc/sysctl.conf".into());
    }
    files
}

/// `foo` means `foo.service`.
fn unit_name(name: &str) -> String {
    const TYPES: &[&str] = &[
        ".service", ".target", ".socket", ".timer", ".mount", ".slice", ".path",
    ];
    if TYPES.iter().any(|t| name.ends_with(t)) {
        name.to_string()
    } else {
        format!("{name}.service")
    }
}

/// An MDS unit `vstorage-mdsd.<cluster>.<id>.service` → the id.
fn mds_of_unit(cluster: &str, unit: &str) -> Option<u32> {
    unit.strip_prefix(&format!("vstorage-mdsd.{cluster}."))?
        .strip_suffix(".service")?
        .parse()
        .ok()
}

/// An MDS whose service stops hands the master role to another running MDS, as the
/// survivors elect one (the lab picks the lowest id).
fn mds_down(state: &mut LabState, unit: &str) {
    let Some(id) = mds_of_unit(&state.cluster, unit) else {
        return;
    };
    let was_master = state.mdss.iter().any(|m| m.id == id && m.master);
    let heir = state
        .mdss
        .iter()
        .filter(|m| m.id != id && m.status == "avail")
        .map(|m| m.id)
        .min();
    if let (true, Some(heir)) = (was_master, heir) {
        for m in &mut state.mdss {
            m.master = m.id == heir;
        }
    }
}

/// Why the MDS of unit `u` cannot start on `host`: its address is none of the node's
/// (its inventory address, its storage-network address). `None` for any other unit.
fn mds_cannot_bind(state: &LabState, host: &str, u: &str) -> Option<String> {
    let id = mds_of_unit(&state.cluster, u)?;
    let mds = state.mdss.iter().find(|m| m.id == id)?;
    let h = state.host(host)?;
    let own = [Some(h.address.as_str()), h.storage_address.as_deref()];
    (!own.contains(&Some(mds.address.as_str()))).then(|| {
        format!(
            "mdsd: bind to {}: Cannot assign requested address",
            mds.address
        )
    })
}

/// A CS unit `vstorage-csd.<cluster>.<id>.service` → the id.
fn cs_of_unit(cluster: &str, unit: &str) -> Option<u32> {
    unit.strip_prefix(&format!("vstorage-csd.{cluster}."))?
        .strip_suffix(".service")?
        .parse()
        .ok()
}

fn set_active(state: &mut LabState, host: &str, unit: &str, active: bool) {
    let cluster = state.cluster.clone();
    let members: Vec<String> = if unit == "vstorage-csd.target" {
        state
            .host_mut(host)
            .units
            .keys()
            .filter(|u| cs_of_unit(&cluster, u).is_some())
            .cloned()
            .collect()
    } else {
        vec![unit.to_string()]
    };
    for m in members.iter().chain(std::iter::once(&unit.to_string())) {
        if let Some(u) = state.host_mut(host).units.get_mut(m) {
            u.active = active;
        }
        if let Some(id) = mds_of_unit(&cluster, m) {
            let isolated = active && super::network::mds_cut_off(state, id);
            if let Some(mds) = state.mdss.iter_mut().find(|x| x.id == id) {
                mds.status = if active && !isolated {
                    "avail"
                } else {
                    "offline"
                }
                .into();
            }
        }
        if let Some(id) = cs_of_unit(&cluster, m) {
            let lab_now = state.lab_now();
            let drain_restarts_at = state.done_after(super::vstorage::DRAIN);
            if let Some(cs) = state.css.iter_mut().find(|c| c.id == id && c.host == host) {
                if cs.status != "dropped" && cs.status != "maintenance" {
                    cs.status = if active { "active" } else { "inactive" }.into();
                }
                // A dropped CS drains by serving its chunks to the others; stopped before
                // that ends (a runbook that did not wait), it stays dropped and the cluster
                // degraded until its csd runs again. Invented timing (no public source says
                // how long the MDS waits): the lab restarts the whole drain on start.
                if cs.status == "dropped" && !cs.never_drains {
                    if !active && cs.drained_at.is_some_and(|at| at > lab_now) {
                        cs.drained_at = None;
                    } else if active && cs.drained_at.is_none() {
                        cs.drained_at = Some(drain_restarts_at);
                    }
                }
            }
        }
    }
}

/// A unit that failed to start: systemctl's own words; the reason is in the journal
/// (here: stdout).
fn job_failed(unit: &str, problem: &str) -> Reply {
    Reply {
        code: 1,
        stdout: format!("{problem}\n"),
        stderr: format!("Job for {unit} failed because the control process exited with error code. See \"systemctl status {unit}\" and \"journalctl -xe\" for details.\n"),
        takes: 1.0,
        finishes: None,
    }
}

pub fn systemctl(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let now_flag = args.iter().any(|a| a == "--now");
    let words: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let Some(verb) = words.first() else {
        return Reply::fail(1, "systemctl: a command is required\n");
    };
    let mut units: Vec<String> = words[1..].iter().map(|u| unit_name(u)).collect();
    if verb.as_str() == "stop" {
        // A stopped transient timer is gone (see `timers`).
        units.retain(|u| !super::timers::stop(state, host, u));
        if units.is_empty() && words.len() > 1 {
            return Reply::ok("");
        }
    }
    let exists =
        |state: &LabState, u: &str| state.host(host).is_some_and(|h| h.units.contains_key(u));
    match verb.as_str() {
        "is-active" => {
            let h = state.host(host).expect("known host");
            let states: Vec<bool> = units
                .iter()
                .map(|u| h.units.get(u).is_some_and(|x| x.active))
                .collect();
            let out: String = states
                .iter()
                .map(|a| if *a { "active\n" } else { "inactive\n" })
                .collect();
            Reply {
                code: if states.iter().all(|a| *a) { 0 } else { 3 },
                stdout: out,
                stderr: String::new(),
                takes: 0.0,
                finishes: None,
            }
        }
        "is-enabled" => {
            let mut out = String::new();
            let mut all = true;
            for u in &units {
                match state.host(host).and_then(|h| h.units.get(u)) {
                    Some(x) => {
                        out.push_str(if x.enabled { "enabled\n" } else { "disabled\n" });
                        all &= x.enabled;
                    }
                    None => {
                        return Reply::fail(
                            1,
                            format!(
                            "Failed to get unit file state for {u}: No such file or directory\n"
                        ),
                        )
                    }
                }
            }
            Reply {
                code: if all { 0 } else { 1 },
                stdout: out,
                stderr: String::new(),
                takes: 0.0,
                finishes: None,
            }
        }
        "start" | "stop" | "restart" | "try-restart" | "reload" => {
            for u in &units {
                if !exists(state, u) {
                    let v = if verb.as_str() == "try-restart" {
                        "try-restart"
                    } else {
                        verb.as_str()
                    };
                    return Reply::fail(5, format!("Failed to {v} {u}: Unit {u} not found.\n"));
                }
            }
            for u in &units {
                if matches!(verb.as_str(), "stop" | "restart" | "try-restart") {
                    // The MDS goes away (for a moment, on a restart): the others elect a master.
                    mds_down(state, u);
                }
                let starts = verb.as_str() != "stop";
                if starts {
                    if let Some(reply) = super::timers::start_service(state, host, u) {
                        return reply;
                    }
                }
                if u == "network.service" && verb.as_str() != "start" {
                    // Stopping takes down what the ifcfg files name now.
                    super::network::stop_network(state.host_mut(host));
                }
                if starts && u == "network.service" {
                    let failed = super::services::fails_once(state, host, "network restart");
                    let h = state.host_mut(host);
                    let result = if failed {
                        Err("RTNETLINK answers: File exists (the lab's fault)".to_string())
                    } else {
                        super::network::start_network(h)
                    };
                    if let Err(problem) = result {
                        return job_failed(u, &problem);
                    }
                    super::network::storage_reach(state, host);
                }
                // Fault `csd start`: a chunk server whose csd does not come up once (a disk
                // that is slow to answer, a repository being checked): systemctl's words.
                if starts
                    && cs_of_unit(&state.cluster, u).is_some()
                    && super::services::fails_once(state, host, "csd start")
                {
                    return job_failed(u, "csd: cannot open the repository (the lab's fault)");
                }
                // An mdsd listens on the address make-mds was given: one this node does not
                // have cannot be bound (EADDRNOTAVAIL, as for any daemon on Linux), so the
                // service fails and the MDS stays in the cluster, not running.
                if starts {
                    if let Some(problem) = mds_cannot_bind(state, host, u) {
                        return job_failed(u, &problem);
                    }
                    // Fault `mdsd start`: an MDS whose mdsd does not come up once.
                    if mds_of_unit(&state.cluster, u).is_some()
                        && super::services::fails_once(state, host, "mdsd start")
                    {
                        return job_failed(u, "mdsd: cannot lock the repository (the lab's fault)");
                    }
                }
                if starts && u == "vcmmd.service" {
                    if let Some(problem) = super::services::vcmmd_config_error(state, host) {
                        set_active(state, host, u, false);
                        return job_failed(u, &problem);
                    }
                }
                // Fault `UNIT start` (`ntpd.service start`): a service whose daemon does not
                // come up once (a configuration it rejects, a port another holds).
                if starts && super::services::fails_once(state, host, &format!("{u} start")) {
                    set_active(state, host, u, false);
                    return job_failed(u, "the daemon exited at once (the lab's fault)");
                }
                if u == "chronyd.service" && starts {
                    // A chronyd that (re)starts has no measurement yet: see
                    // `packages::chronyc` (a start of a running unit does nothing).
                    let h = state.host_mut(host);
                    let was_active = h.units.get(u).is_some_and(|x| x.active);
                    if verb.as_str() != "start" || !was_active {
                        h.ops.chrony_unmeasured = true;
                    }
                }
                set_active(state, host, u, starts);
            }
            Reply::ok("").takes(1.0)
        }
        "enable" | "disable" => {
            let enable = verb.as_str() == "enable";
            let mut err = String::new();
            for u in &units {
                let Some(x) = state.host_mut(host).units.get_mut(u) else {
                    return Reply::fail(
                        1,
                        format!("Failed to {verb} unit: Unit file {u} does not exist.\n"),
                    );
                };
                if x.enabled != enable {
                    x.enabled = enable;
                    err.push_str(&if enable {
                        format!("Created symlink from /etc/systemd/system/multi-user.target.wants/{u} to /usr/lib/systemd/system/{u}.\n")
                    } else {
                        format!("Removed symlink /etc/systemd/system/multi-user.target.wants/{u}.\n")
                    });
                }
                if now_flag {
                    set_active(state, host, u, enable);
                }
            }
            let mut r = Reply::ok("");
            r.stderr = err;
            r
        }
        "list-units" => list_units(
            state.host(host).expect("known host"),
            &words[1..],
            args.iter().any(|a| a == "--all" || a == "-a"),
            !args.iter().any(|a| a == "--no-legend"),
        ),
        "daemon-reload" => Reply::ok(""),
        // The lab keeps no failed state: a loaded unit has none to reset (systemd 219's
        // words for one that is not loaded).
        "reset-failed" => match units.iter().find(|u| !exists(state, u)) {
            Some(u) => Reply::fail(
                1,
                format!("Failed to reset failed state of unit {u}: Unit {u} not loaded.\n"),
            ),
            None => Reply::ok(""),
        },
        "show" => show(state, host, args, &units),
        other => Reply::fail(1, format!("Unknown operation '{other}'.\n")),
    }
}

/// The lab's pid of a running chunk server's `csd`: derived from its id.
fn cs_pid(id: u32) -> u32 {
    20_000 + id
}

/// `systemctl show -p PROP... UNIT` (systemd 219): `Name=value` lines. Only `MainPID`,
/// `LoadState`, `ActiveState` and `UnitFileState` are known; an unknown unit is
/// `LoadState=not-found`, `MainPID=0`, as systemd answers.
fn show(state: &LabState, host: &str, args: &[String], units: &[String]) -> Reply {
    let props: Vec<&str> = args
        .windows(2)
        .filter(|w| w[0] == "-p" || w[0] == "--property")
        .flat_map(|w| w[1].split(','))
        .collect();
    let cluster = &state.cluster;
    let mut out = String::new();
    // `-p X` puts X among the words; the unit is the last one.
    let Some(name) = units.last() else {
        return Reply::fail(1, "systemctl show: a unit is required in the lab\n");
    };
    let unit = state.host(host).and_then(|h| h.units.get(name));
    for p in props {
        let value = match (p, unit) {
            ("MainPID", Some(u)) if u.active => cs_of_unit(cluster, name)
                .filter(|_| u.repo.is_some())
                .map_or(1000, cs_pid)
                .to_string(),
            ("MainPID", _) => "0".into(),
            ("LoadState", Some(_)) => "loaded".into(),
            ("LoadState", None) => "not-found".into(),
            ("ActiveState", Some(u)) if u.active => "active".into(),
            ("ActiveState", _) => "inactive".into(),
            ("UnitFileState", Some(u)) if u.enabled => "enabled".into(),
            ("UnitFileState", Some(_)) => "disabled".into(),
            ("UnitFileState", None) => String::new(),
            _ => String::new(),
        };
        out.push_str(&format!("{p}={value}\n"));
    }
    Reply::ok(out)
}

/// `/proc/PID/cmdline` of a running `csd`: NUL-separated argv, `/usr/bin/csd -r DIR -u
/// vstorage` (the process line operators see; csd(1) for `-r`).
pub fn cmdline(state: &LabState, host: &str, pid: &str) -> Option<String> {
    let pid: u32 = pid.parse().ok()?;
    let h = state.host(host)?;
    h.units.iter().find_map(|(name, u)| {
        let id = cs_of_unit(&state.cluster, name)?;
        let repo = u.repo.as_ref()?;
        (u.active && cs_pid(id) == pid).then(|| format!("/usr/bin/csd\0-r\0{repo}\0-u\0vstorage\0"))
    })
}

/// Shell-style `*` and `?` matching, as systemctl patterns use.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// `systemctl list-units` as systemd 219 (EL7) prints it: only loaded units (active ones,
/// and with `--all` also those kept loaded by being enabled or having a job), columns padded
/// to their longest cell, a JOB column only when some unit has a pending job, then the
/// legend. SUB is `running` for services, `active` for targets, `mounted` for mounts.
fn list_units(h: &HostState, patterns: &[&String], all: bool, legend: bool) -> Reply {
    let rows: Vec<[String; 6]> = h
        .units
        .iter()
        .filter(|(name, _)| patterns.is_empty() || patterns.iter().any(|p| glob(p, name)))
        .filter(|(_, u)| u.active || u.job.is_some() || (all && u.enabled))
        .map(|(name, u)| {
            let sub = match (u.active, name.rsplit('.').next()) {
                (false, _) => "dead",
                (true, Some("target")) => "active",
                (true, Some("mount")) => "mounted",
                (true, _) => "running",
            };
            [
                name.clone(),
                "loaded".into(),
                if u.active { "active" } else { "inactive" }.into(),
                sub.into(),
                u.job.clone().unwrap_or_default(),
                u.description.clone(),
            ]
        })
        .collect();
    let with_job = rows.iter().any(|r| !r[4].is_empty());
    let header = ["UNIT", "LOAD", "ACTIVE", "SUB", "JOB", "DESCRIPTION"];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].len())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let line = |cells: [&str; 6]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate().take(5) {
            if i == 4 && !with_job {
                continue;
            }
            out.push_str(&format!("{cell:<w$} ", w = width(i)));
        }
        format!("{}{}\n", out, cells[5])
    };
    let mut out = String::new();
    if legend && !rows.is_empty() {
        out.push_str(&line(header));
    }
    for r in &rows {
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]));
    }
    if legend {
        out.push_str("\nLOAD   = Reflects whether the unit definition was properly loaded.\nACTIVE = The high-level unit activation state, i.e. generalization of SUB.\nSUB    = The low-level unit activation state, values depend on unit type.\n");
        if with_job {
            out.push_str("JOB    = Pending job for the unit.\n");
        }
        out.push_str(&format!("\n{} loaded units listed.", rows.len()));
        out.push_str(if all {
            "\n"
        } else {
            " Pass --all to see loaded but inactive units, too.\n"
        });
        out.push_str("To show all installed unit files use 'systemctl list-unit-files'.\n");
    }
    Reply::ok(out)
}
