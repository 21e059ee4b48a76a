//! Simulated `prlctl` and `prlsrvctl`: messages, stdout/stderr split and exit codes as in
//! reference/virtuozzo-cli.md §1 (prlctl `PrlVm.cpp`, `PrlSrv.cpp`, libprlsdk strings).
//! Texts the reference marks as unknown are kept short and plausible, and noted here.

use super::prlctl_list::{self, ListOptions};
use super::reply::Reply;
use super::state::{done_at, is_up, LabState, Ve, VeKind};

pub const BANNER: &str = "WARNING: You are using a deprecated CLI component that won't be installed by default in the next major release. Please use virsh instead\n";

pub const NOT_FOUND: &str = "Failed to get VM config: The virtual machine could not be found. The virtual machine is not registered in the virtual machine directory on this server. Contact your Virtuozzo administrator for assistance.";

const CONNECT_FAILED: &str = "Unable to connect to Virtuozzo. You may experience a connection problem or the server may be down. Contact your Virtuozzo administrator for assistance.";

const USAGE: &str = "Usage: prlctl ACTION <ID> [OPTIONS]\n  Supported actions are: list, status, start, stop, restart, migrate, register, unregister, create, set, exec\n";

/// Lab seconds each operation takes at speed 1.
const START_CT: f64 = 3.0;
const START_VM: f64 = 10.0;
const STOP: f64 = 2.0;
const MIGRATE_LIVE: f64 = 8.0;
const MIGRATE_OFFLINE: f64 = 3.0;

pub(super) fn find<'a>(state: &'a mut LabState, host: &str, id: &str) -> Option<&'a mut Ve> {
    let i = state.ve_position(host, id)?;
    state.ves.get_mut(i)
}

pub(super) fn not_found() -> Reply {
    Reply::fail(255, format!("{NOT_FOUND}\n"))
}

fn wrong_state(ve: &Ve) -> String {
    format!(
        "Unable to complete the operation. This operation cannot be completed because the virtual machine \"{}\" is in the \"{}\" state.",
        ve.name, ve.status
    )
}

pub fn prlctl(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let Some(action) = args.first() else {
        return Reply {
            code: 1,
            stdout: USAGE.into(),
            stderr: String::new(),
            takes: 0.0,
            finishes: None,
        };
    };
    let rest = &args[1..];
    let reply = match action.as_str() {
        "--version" => return Reply::ok("prlctl version 7.0.253\n"),
        "--help" | "-h" => return Reply::ok(USAGE),
        "list" => return list(state, host, rest),
        "exec" => return exec(state, host, rest),
        "status" => status(state, host, rest),
        "start" => start(state, host, rest),
        "stop" => stop(state, host, rest),
        "restart" => restart(state, host, rest),
        "migrate" => migrate(state, host, rest),
        // They add VEs or change the host a VE is on: its index is rebuilt.
        "register" | "unregister" | "create" | "delete" | "destroy" => {
            let reply = match action.as_str() {
                "register" => register(state, host, rest),
                "unregister" => unregister(state, host, rest),
                "delete" | "destroy" => delete(state, host, rest),
                _ => super::prlctl_config::create(state, host, rest),
            };
            state.ve_index.invalidate();
            reply
        }
        "set" => super::prlctl_config::set(state, host, rest),
        other => Reply {
            code: 1,
            stdout: USAGE.into(),
            stderr: format!("Unknown action: {other}\n"),
            takes: 0.0,
            finishes: None,
        },
    };
    reply.warned(BANNER)
}

pub(super) fn unrecognized(option: &str) -> Reply {
    Reply::fail(1, format!("Unrecognized option: {option}\n"))
}

fn list(state: &LabState, host: &str, args: &[String]) -> Reply {
    let mut opts = ListOptions::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| Reply::fail(1, format!("Option {name} requires an argument\n")))
        };
        match arg.as_str() {
            "-a" | "--all" => opts.all = true,
            "-S" | "--stopped" => opts.stopped = true,
            "-H" | "--no-header" => opts.no_header = true,
            "-j" | "--json" => opts.json = true,
            "-L" | "--list" => opts.list_fields = true,
            "-i" | "--info" => opts.info = true,
            "-f" | "--full" => opts.full = true,
            "-o" | "--output" => match value(arg) {
                Ok(v) => opts.fields = Some(v),
                Err(r) => return r,
            },
            "-s" | "--sort" => match value(arg) {
                Ok(v) => opts.sort = Some(v),
                Err(r) => return r,
            },
            "--vmtype" => match value(arg).map(|v| v.to_lowercase()) {
                Ok(v) => {
                    opts.vmtype = match v.as_str() {
                        "ct" | "c" => Some("ct".into()),
                        "vm" | "v" => Some("vm".into()),
                        "all" | "a" => None,
                        _ => {
                            return Reply::fail(
                                1,
                                format!("An incorrect value for --vmtype is specified: {v}\n"),
                            )
                        }
                    }
                }
                Err(r) => return r,
            },
            a if a.starts_with('-') => return unrecognized(a),
            id => opts.id = Some(id.to_string()),
        }
    }
    opts.unescaped_json = state.prlctl_json_unescaped;
    prlctl_list::list(state, host, &opts)
}

fn one_id<'a>(args: &'a [String], allowed: &[&str]) -> Result<(&'a str, Vec<&'a str>), Reply> {
    let mut id = None;
    let mut flags = Vec::new();
    for arg in args {
        if arg.starts_with('-') {
            if !allowed.contains(&arg.as_str()) {
                return Err(unrecognized(arg));
            }
            flags.push(arg.as_str());
        } else if id.is_none() {
            id = Some(arg.as_str());
        } else {
            return Err(unrecognized(arg));
        }
    }
    id.map(|i| (i, flags))
        .ok_or_else(|| Reply::fail(1, "No ID or name specified.\n"))
}

fn status(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let (id, _) = match one_id(args, &[]) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let shown = if id.len() == 36 && !id.starts_with('{') {
        format!("{{{id}}}")
    } else {
        id.to_string()
    };
    match find(state, host, id) {
        Some(ve) => Reply::ok(format!(
            "{} {} exist {}\n",
            ve.kind.as_str(),
            shown,
            ve.status
        )),
        None => not_found(),
    }
}

/// The VE an action names (one ID, these flags allowed) and the flags given; or the reply the
/// real tool gives (a usage error, or not found).
fn target<'s, 'a>(
    state: &'s mut LabState,
    host: &str,
    args: &'a [String],
    allowed: &[&str],
) -> Result<(&'s mut Ve, Vec<&'a str>), Reply> {
    let (id, flags) = one_id(args, allowed)?;
    let ve = find(state, host, id).ok_or_else(not_found)?;
    Ok((ve, flags))
}

fn start(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let (start, speed) = (state.lab_now(), state.speed);
    let ve = match target(state, host, args, &["--wait", "--repair"]) {
        Ok((ve, _)) => ve,
        Err(r) => return r,
    };
    let kind = ve.kind.as_str();
    let before = format!("Starting the {kind}...\n");
    match ve.status.as_str() {
        "running" => {
            return Reply::fail(255, format!(
                "Failed to start the {kind}: The virtual machine \"{}\" is running. You or another user have already started this virtual machine.\n",
                ve.name
            ))
            .before(&before)
        }
        "stopped" | "suspended" => {}
        _ => return Reply::fail(255, format!("Failed to start the {kind}: {}\n", wrong_state(ve))).before(&before),
    }
    let mut due = None;
    let takes = match ve.slow_start_s {
        Some(slow) => {
            ve.status = "starting".into();
            ve.running_at = Some(done_at(start, speed, slow));
            due = ve.running_at;
            slow
        }
        None => {
            ve.status = "running".into();
            if ve.kind == VeKind::CT {
                START_CT
            } else {
                START_VM
            }
        }
    };
    let reply = Reply::ok(format!("The {kind} has been successfully started.\n"))
        .before(&before)
        .takes(takes);
    if let Some(due) = due {
        state.ve_index.note_due(due);
    }
    reply
}

fn stop(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let allowed = ["--kill", "-k", "--fast", "--acpi", "--force", "--noforce"];
    let (ve, flags) = match target(state, host, args, &allowed) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let kind = ve.kind.as_str();
    let before = format!("Stopping the {kind}...\n");
    if !is_up(&ve.status) {
        // PRL_ERR_DISP_VM_IS_NOT_STARTED is mapped to success: exit 0, message on stderr.
        let mut r = Reply::fail(0, format!(
            "Failed to stop the {kind}: Unable to perform the operation because the virtual machine \"{}\" is not started. This operation can be performed for running virtual machines only.\n",
            ve.name
        ));
        r.stdout = before;
        return r;
    }
    ve.status = "stopped".into();
    ve.running_at = None;
    let done = if flags
        .iter()
        .any(|f| matches!(*f, "--kill" | "-k" | "--fast"))
    {
        format!("The {kind} has been forcibly stopped\n")
    } else {
        format!("The {kind} has been successfully stopped.\n")
    };
    Reply::ok(done).before(&before).takes(STOP)
}

fn restart(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let ve = match target(state, host, args, &[]) {
        Ok((ve, _)) => ve,
        Err(r) => return r,
    };
    let kind = ve.kind.as_str();
    ve.status = "running".into();
    ve.running_at = None;
    Reply::ok(format!(
        "Restarting the {kind}...\nThe {kind} has been successfully restarted.\n"
    ))
    .takes(STOP + START_CT)
}

fn migrate(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let mut positional = Vec::new();
    let mut clone = false;
    let mut remove_src = false;
    let mut changesid = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--dst" => match it.next() {
                Some(p) if p.starts_with('/') => {}
                Some(_) => return Reply::fail(
                    1,
                    "An incorrect value for --dst is specified; relative paths are not allowed.\n",
                ),
                None => return Reply::fail(1, "Incorrect migrate usage.\n"),
            },
            "--ssh" | "--securitylevel" | "-s" | "--sessionid" => {
                if it.next().is_none() {
                    return Reply::fail(1, "Incorrect migrate usage.\n");
                }
            }
            "--clone" | "--keep-src" => clone = true,
            "--remove-src" => remove_src = true,
            "--changesid" => changesid = true,
            "--no-compression"
            | "--no-tunnel"
            | "-f"
            | "--force"
            | "--switch-template"
            | "--ignore-existing-bundle" => {}
            a if a.starts_with('-') => return unrecognized(a),
            p => positional.push(p.to_string()),
        }
    }
    if positional.len() != 2 {
        return Reply::fail(1, "Incorrect migrate usage.\n");
    }
    if remove_src && clone {
        return Reply::fail(1, "The --remove-src option cannot be used with --clone\n");
    }
    if changesid && !clone {
        return Reply::fail(1, "The --changesid option can be used with --clone only\n");
    }
    let src_id = positional[0]
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let (dst_node, dst_name) = match positional[1].split_once('/') {
        Some((node, name)) => (node.to_string(), name.to_string()),
        None => (positional[1].clone(), String::new()),
    };
    let dst = state
        .host_by_node(&dst_node)
        .filter(|h| !h.unreachable)
        .map(|h| h.name.clone());
    let (start, speed) = (state.lab_now(), state.speed);
    // What the destination has room for, before `ve` borrows the state.
    let room = dst.as_deref().and_then(|d| {
        let h = state.host(d)?;
        Some((
            (h.memory_mb * 1024).saturating_sub(state.used_mb(d) * 1024 + 4 * 1024 * 1024) / 1024,
            h.cpus,
        ))
    });
    let Some(at) = state.ve_position(host, &src_id) else {
        return not_found();
    };
    // A VE of the same UUID or name already on the destination.
    let registered_there = dst.as_deref().is_some_and(|d| {
        let ve = &state.ves[at];
        state.ve_position(d, &ve.uuid).is_some() || state.ve_position(d, &ve.name).is_some()
    });
    let ve = &mut state.ves[at];
    let kind = ve.kind.as_str();
    let head = format!(
        "Migrate the {kind} {} on {dst_node} {dst_name} ()\n",
        ve.name
    );
    let failed = |why: &str| {
        Reply::fail(255, format!("\nFailed to migrate the {kind}: {why}\n")).before(&head)
    };
    let Some(dst) = dst else {
        return failed(CONNECT_FAILED).takes(5.0);
    };
    if dst == host {
        // Text not in the reference; the dispatcher refuses a VE already registered there.
        return failed(&format!(
            "The virtual machine \"{}\" is already registered on the destination server.",
            ve.name
        ));
    }
    if !matches!(
        ve.status.as_str(),
        "running" | "stopped" | "suspended" | "paused"
    ) {
        return failed(&wrong_state(ve));
    }
    if registered_there {
        // Text not in the reference.
        return failed(&format!(
            "The virtual machine \"{}\" is already registered on the destination server.",
            ve.name
        ));
    }
    let live = ve.status == "running" || ve.status == "paused";
    let takes = if live { MIGRATE_LIVE } else { MIGRATE_OFFLINE };
    if let (true, Some((free_mb, cpus))) = (live, room) {
        // Texts not in the reference: a live migration needs the VE's memory free on the
        // destination, and no more vCPUs than it has.
        if free_mb < ve.memsize_mb {
            return failed(&format!(
                "Not enough memory on the destination server: {} MB needed, {free_mb} MB available.",
                ve.memsize_mb
            ))
            .takes(1.0);
        }
        if ve.cpus > cpus {
            return failed(&format!(
                "The destination server has {cpus} CPUs, fewer than the {} of the {kind}.",
                ve.cpus
            ))
            .takes(1.0);
        }
    }
    if live && ve.live_migration_fails {
        // Text not in the reference, modelled on CRIU's refusal to dump a container with
        // half-open TCP sockets.
        return failed("Failed to checkpoint the Container: (00.211311) Error (criu/sk-inet.c:188): inet: Connected TCP socket in SYN_SENT state").takes(takes / 2.0);
    }
    if ve.fail_migrations > 0 {
        ve.fail_migrations -= 1;
        // Text not in the reference: a lost connection during the copy.
        return failed("The connection to the destination server was lost during the migration.")
            .takes(takes / 2.0);
    }
    if clone {
        let mut copy = ve.clone();
        copy.host = Some(dst.clone());
        copy.owner = Some(dst);
        let uuid = state.next_uuid();
        copy.home = copy.home.replace(&copy.uuid, &uuid);
        copy.uuid = uuid;
        if !dst_name.is_empty() {
            copy.name = dst_name;
        }
        state.ves.push(copy);
        let i = state.ves.len() - 1;
        state.ve_index.added(i, &state.ves[i]);
    } else {
        let was = (ve.uuid.clone(), ve.name.clone());
        ve.host = Some(dst.clone());
        ve.owner = Some(dst);
        // A slow-starting VE also resumes slowly on its new host.
        if let (true, Some(slow)) = (live, ve.slow_start_s) {
            ve.status = "starting".into();
            let due = done_at(start, speed, slow);
            ve.running_at = Some(due);
            state.ve_index.note_due(due);
        }
        if !dst_name.is_empty() {
            ve.name = dst_name;
        }
        state.ve_index.moved(at, host, &was.0, &was.1, ve);
        let (home, dst) = (ve.home.clone(), ve.host.clone().unwrap_or_default());
        super::shaman::migrated(state, &dst, &home);
    }
    Reply::ok(format!(
        "{head}\nThe {kind} has been successfully migrated.\n"
    ))
    .takes(takes)
}

fn register(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let mut path = None;
    let mut preserve = false;
    let mut force = false;
    let mut ignore_ha = false;
    let mut uuid = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--preserve-uuid" => preserve = true,
            "--force" => force = true,
            "--ignore-ha-cluster" => ignore_ha = true,
            "--regenerate-src-uuid" => {}
            "--uuid" => uuid = it.next().cloned(),
            a if a.starts_with('-') => return unrecognized(a),
            p => path = Some(p.trim_end_matches('/').to_string()),
        }
    }
    let Some(path) = path else {
        return Reply::fail(1, "No path specified.\n");
    };
    let head = "Register the virtual environment...\n";
    let failed = |why: String| {
        Reply::fail(
            255,
            format!("Failed to register the virtual environment: {why}\n"),
        )
        .before(head)
    };
    let new_uuid = if preserve {
        None
    } else {
        Some(uuid.unwrap_or_else(|| state.next_uuid()))
    };
    let Some(ve) = state.ves.iter_mut().find(|v| v.home == path) else {
        // Text not in the reference.
        return failed(format!(
            "The configuration file of the virtual environment was not found in \"{path}\"."
        ));
    };
    if ve.host.as_deref() == Some(host) {
        return failed(format!(
            "The virtual machine \"{}\" is already registered.",
            ve.name
        ));
    }
    let owned_elsewhere = ve.owner.as_deref().is_some_and(|o| o != host);
    if owned_elsewhere && !force {
        return failed(format!(
            "Failed to register the virtual machine \"{}\" on the shared storage. You can force the registration, but this will revoke all access to the Virtual Machine from the original server and the High Availability cluster it belongs to.",
            ve.name
        ));
    }
    ve.host = Some(host.to_string());
    ve.owner = Some(host.to_string());
    ve.status = "stopped".into();
    ve.running_at = None;
    if let Some(u) = new_uuid {
        ve.uuid = u;
    }
    super::shaman::registered(state, host, &path, force, ignore_ha);
    Reply::ok("The virtual environment has been successfully registered.\n")
        .before(head)
        .takes(1.0)
}

fn unregister(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let ve = match target(state, host, args, &[]) {
        Ok((ve, _)) => ve,
        Err(r) => return r,
    };
    let kind = ve.kind.as_str();
    if is_up(&ve.status) {
        return Reply::fail(
            255,
            format!("Failed to unregister the {kind}: {}\n", wrong_state(ve)),
        );
    }
    ve.host = None;
    Reply::ok(format!("The {kind} has been successfully unregistered.\n"))
}

/// `prlctl delete|destroy <ID|NAME> [--force]`: a VE that is not up goes, its home too.
fn delete(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let (uuid, kind) = match target(state, host, args, &["--force"]) {
        Ok((ve, _)) if is_up(&ve.status) => {
            let kind = ve.kind.as_str();
            return Reply::fail(
                255,
                format!("Failed to remove the {kind}: {}\n", wrong_state(ve)),
            );
        }
        Ok((ve, _)) => (ve.uuid.clone(), ve.kind.as_str()),
        Err(r) => return r,
    };
    state.ves.retain(|v| v.uuid != uuid);
    Reply::ok(format!(
        "Removing the {kind}...\nThe {kind} has been successfully removed.\n"
    ))
}

fn exec(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let Some(id) = args.first() else {
        return Reply::fail(1, "No ID or name specified.\n");
    };
    let Some(ve) = find(state, host, id) else {
        return not_found();
    };
    if ve.kind != VeKind::CT || ve.status != "running" {
        return Reply::fail(255, format!("Failed to exec: {}\n", wrong_state(ve)));
    }
    let command: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    match command.as_slice() {
        ["hostname"] => Reply::ok(format!("{}\n", ve.hostname)),
        ["cat", "/etc/os-release"] => Reply::ok(os_release(&ve.ostemplate)),
        ["true"] => Reply::ok(""),
        ["false"] => Reply::fail(1, ""),
        // Only what the lab can answer truthfully runs: a command it cannot simulate is
        // refused, never a success with empty output that a runbook would take for a
        // result. The wording is invented (the lab's own), as is the exit code of `sh`'s
        // "not found" (127).
        [] => Reply::fail(1, "prlctl exec: no command given\n"),
        other => Reply::fail(
            127,
            format!(
                "{}: the lab does not simulate this command inside a VE (it runs hostname, cat /etc/os-release, true and false)\n",
                other.join(" ")
            ),
        ),
    }
}

/// `/etc/os-release` of a container made from `template` (`centos-7-x86_64`): the fields
/// of os-release(5); the values are derived from the template name (invented, no sample).
fn os_release(template: &str) -> String {
    let mut parts = template.split('-');
    let id = parts.next().unwrap_or("linux");
    let version = parts.next().unwrap_or("");
    let name = match id {
        "centos" => "CentOS Linux",
        "vzlinux" => "Virtuozzo Linux",
        "ubuntu" => "Ubuntu",
        "debian" => "Debian GNU/Linux",
        _ => id,
    };
    format!(
        "NAME=\"{name}\"\nVERSION=\"{version}\"\nID=\"{id}\"\nVERSION_ID=\"{version}\"\nPRETTY_NAME=\"{name} {version}\"\n"
    )
}
