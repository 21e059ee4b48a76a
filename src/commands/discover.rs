//! `vzrun inventory discover`: which node to read the cluster's tables on (this machine, a
//! host over SSH, or a lab host), and where the reviewed-to-be YAML goes (stdout, or a new
//! file: an existing one is never overwritten).

use std::io::Write;
use std::sync::Arc;

use crate::cli::{DiscoverArgs, GlobalOpts};
use crate::cluster::host::Host;
use crate::discover::{self, Defaults, DiscoverError};
use crate::exit;
use crate::inventory::SshSettings;
use crate::transport::{Local, Ssh};

fn fail(message: &str, code: i32) -> i32 {
    eprintln!("error: {message}");
    code
}

/// The node to read on (its name says how messages call it).
fn source(args: &DiscoverArgs, global: &GlobalOpts) -> Result<Host, (String, i32)> {
    let lab = global.lab.is_some() || global.lab_state.is_some();
    let ssh_flags = args.user.is_some()
        || args.port.is_some()
        || args.identity.is_some()
        || args.jump.is_some()
        || args.known_hosts.is_some()
        || args.ssh_config.is_some()
        || args.sudo;
    if lab {
        let cluster = crate::session::targets::cluster_for(global)
            .map_err(|e| (e.message().to_string(), e.code()))?;
        return match &args.from {
            Some(name) => cluster.host(name).map_err(|e| (e.to_string(), exit::USAGE)),
            None => Ok(cluster.hosts()[0].clone()),
        };
    }
    let Some(from) = &args.from else {
        if ssh_flags {
            return Err((
                "--user, --port, --identity, --jump, --known-hosts, --ssh-config and --sudo need --from HOST".into(),
                exit::USAGE,
            ));
        }
        let name = hostname().unwrap_or_else(|| "this machine".into());
        return Ok(Host::new(name, "", Vec::new(), Arc::new(Local::default())));
    };
    if from.is_empty() || from.starts_with('-') || from.contains(char::is_whitespace) {
        return Err((
            format!("--from {from:?} is not a host name or address"),
            exit::USAGE,
        ));
    }
    let runtime =
        Ssh::runtime().map_err(|e| (format!("cannot start the SSH runtime: {e}"), exit::FAILED))?;
    let settings = SshSettings {
        user: args.user.clone(),
        port: args.port,
        identity: args.identity.clone(),
        known_hosts: args.known_hosts.clone(),
        ssh_config: args.ssh_config.clone(),
        jump: args.jump.clone(),
        sudo: args.sudo.then_some(true),
        sudo_user: args.sudo_user.clone(),
        ..SshSettings::default()
    };
    let ssh = Ssh::new(from, from, settings, global.accept_new_hosts, runtime);
    Ok(Host::new(
        from.clone(),
        from.clone(),
        Vec::new(),
        Arc::new(ssh),
    ))
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

pub fn run(args: &DiscoverArgs, global: &GlobalOpts) -> i32 {
    // Refused before anything runs: an existing file is the operator's, never replaced.
    if let Some(path) = &args.to {
        if path.exists() {
            return fail(
                &format!(
                    "{} exists: not overwritten; remove it or choose another file with -o",
                    path.display()
                ),
                exit::USAGE,
            );
        }
    }
    let node = match source(args, global) {
        Ok(found) => found,
        Err((message, code)) => return fail(&message, code),
    };
    let name = node.name();
    let discovery = match discover::discover(node.transport(), name, args.cluster.as_deref()) {
        Ok(d) => d,
        Err(e @ DiscoverError::Input(_)) => return fail(&e.to_string(), exit::USAGE),
        Err(e) => return fail(&format!("on {name}: {e}"), exit::FAILED),
    };
    let defaults = Defaults {
        user: args.user.clone(),
        port: args.port,
        identity: args.identity.as_ref().map(|p| p.display().to_string()),
        jump: args.jump.clone(),
        sudo: args.sudo,
        sudo_user: args.sudo_user.clone(),
    };
    let text = discover::render(&discovery, &defaults);
    let unnamed = discovery.nodes.iter().filter(|n| n.name.is_none()).count();
    if unnamed > 0 {
        eprintln!(
            "warning: {unnamed} host(s) could not be named on {name}: listed as comments at the end"
        );
    }
    match &args.to {
        None => {
            print!("{text}");
            exit::OK
        }
        Some(path) => {
            // create_new: a file that appeared since the check above is not replaced either.
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .and_then(|mut f| f.write_all(text.as_bytes()));
            match written {
                Ok(()) => {
                    eprintln!(
                        "wrote {} ({} hosts): review it, then use it with --inventory {}",
                        path.display(),
                        discovery.nodes.len() - unnamed,
                        path.display()
                    );
                    exit::OK
                }
                Err(e) => fail(
                    &format!("cannot write {}: {e}", path.display()),
                    exit::USAGE,
                ),
            }
        }
    }
}
