//! `vzrun lab-shim`: the lab as command-line tools, so a real sshd can serve it.
//!
//! Linked or called as `prlctl`, `vstorage`, ... (argv[0]), or as `vzrun lab-shim TOOL ARGS`,
//! it answers from the state file in `$VZRUN_LAB_STATE` (created from `$VZRUN_LAB_SCENARIO`
//! or the default scenario), as host `$VZRUN_LAB_HOST`. The state file is locked per command,
//! so several shims (several SSH sessions) can run at once.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::{Lab, DEFAULT_SCENARIO};

/// The tools the shim answers to when called by that name.
pub const TOOLS: &[&str] = &[
    "prlctl",
    "prlsrvctl",
    "vstorage",
    "pcompact",
    "prepare_vstorage_drive",
    "firewall-cmd",
    "findmnt",
    // How discovery names hosts and finds the cluster (`vzrun inventory discover --from`).
    "getent",
    "ls",
];

/// Runs `argv` (tool first) as the lab; returns the exit code.
pub fn run(argv: &[String]) -> i32 {
    let Some(state) = std::env::var_os("VZRUN_LAB_STATE") else {
        eprintln!("vzrun lab-shim: set VZRUN_LAB_STATE to the lab state file");
        return 2;
    };
    let Ok(host) = std::env::var("VZRUN_LAB_HOST") else {
        eprintln!("vzrun lab-shim: set VZRUN_LAB_HOST to the lab host this is");
        return 2;
    };
    let (text, name) = match std::env::var_os("VZRUN_LAB_SCENARIO") {
        Some(path) => match std::fs::read_to_string(&path) {
            Ok(text) => (text, PathBuf::from(&path).display().to_string()),
            Err(e) => {
                eprintln!("vzrun lab-shim: {}: {e}", PathBuf::from(path).display());
                return 2;
            }
        },
        None => (DEFAULT_SCENARIO.to_string(), "default scenario".to_string()),
    };
    let lab = Lab::with_state_file_from_scenario(PathBuf::from(state), text, name);
    match lab.answer(&host, argv) {
        Ok(Some((reply, speed))) => {
            if reply.takes.is_finite() {
                std::thread::sleep(Duration::from_secs_f64(reply.takes * speed));
            } else {
                // A hang: the caller's `timeout` ends it.
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            }
            if let Some(what) = &reply.finishes {
                if let Err(e) = lab.finish(what) {
                    eprintln!("vzrun lab-shim: {e}");
                    return 1;
                }
            }
            let _ = std::io::stdout().write_all(reply.stdout.as_bytes());
            let _ = std::io::stderr().write_all(reply.stderr.as_bytes());
            reply.code
        }
        Ok(None) => {
            eprintln!(
                "{}: command not found",
                argv.first().map_or("", String::as_str)
            );
            127
        }
        Err(e) => {
            eprintln!("vzrun lab-shim: {e}");
            1
        }
    }
}
