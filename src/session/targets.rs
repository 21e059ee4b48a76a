//! Which hosts a run may touch: the lab's, an inventory's over SSH, or only `local()`.

use std::sync::Arc;

use crate::cluster::host::Host;
use crate::cluster::inventory::Inventory;
use crate::cluster::Cluster;
use crate::digest::sha256_hex;
use crate::exit;
use crate::lab::{self, Lab};
use crate::run::options::RunOptions as GlobalOpts;
use crate::session::RunError;
use crate::transport::Ssh;

/// An absolute form of a path that may not exist yet (a lab state file before its first run).
fn absolute(path: &std::path::Path) -> String {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

fn lab_wanted(global: &GlobalOpts) -> bool {
    global.lab.is_some() || global.lab_state.is_some() || global.lab_speed.is_some()
}

/// What a run with these options acts on, as the journal records it: `{kind: "lab",
/// scenario, scenario_sha256, state}`, `{kind: "inventory", path, sha256}` or `{kind:
/// "local"}`. A resume compares it with the run's own.
pub fn describe_target(global: &GlobalOpts) -> Result<serde_json::Value, RunError> {
    if lab_wanted(global) {
        let (scenario, text) = match global.lab.clone().flatten() {
            Some(path) => (
                absolute(&path),
                std::fs::read(&path).map_err(|e| {
                    RunError::new(
                        exit::USAGE,
                        format!("cannot read lab scenario {}: {e}", path.display()),
                    )
                })?,
            ),
            None => (
                "default".to_string(),
                lab::DEFAULT_SCENARIO.as_bytes().to_vec(),
            ),
        };
        return Ok(serde_json::json!({
            "kind": "lab",
            "scenario": scenario,
            "scenario_sha256": sha256_hex(&text),
            "state": global.lab_state.as_deref().map(absolute),
            "speed": global.lab_speed,
        }));
    }
    match Inventory::locate(global.inventory.as_deref()) {
        None => Ok(serde_json::json!({"kind": "local"})),
        Some(path) => {
            let text = std::fs::read(&path).map_err(|e| {
                RunError::new(
                    exit::USAGE,
                    format!("cannot read the inventory {}: {e}", path.display()),
                )
            })?;
            Ok(serde_json::json!({
                "kind": "inventory",
                "path": absolute(&path),
                "sha256": sha256_hex(&text),
            }))
        }
    }
}

/// Options that make a resumed run act on `target` (a recorded [`describe_target`]).
pub fn options_for_target(global: &GlobalOpts, target: &serde_json::Value) -> GlobalOpts {
    let mut global = global.clone();
    match target["kind"].as_str() {
        Some("lab") => {
            global.lab = Some(match target["scenario"].as_str() {
                Some("default") | None => None,
                Some(path) => Some(path.into()),
            });
            global.lab_state = target["state"].as_str().map(Into::into);
            global.lab_speed = target["speed"].as_f64();
        }
        Some("inventory") => global.inventory = target["path"].as_str().map(Into::into),
        _ => {}
    }
    global
}

/// Whether the operator named a target (an inventory or a lab) on this command line.
pub fn names_a_target(global: &GlobalOpts) -> bool {
    lab_wanted(global) || global.inventory.is_some()
}

/// Whether two recorded targets are the same cluster (the lab's speed may differ).
pub fn same_target(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    let key = |t: &serde_json::Value| {
        let mut t = t.clone();
        if let Some(map) = t.as_object_mut() {
            map.remove("speed");
        }
        t
    };
    key(a) == key(b)
}

/// The hosts this run may touch: the lab's, or (until an inventory is given) only `local()`.
pub fn cluster_for(global: &GlobalOpts) -> Result<Cluster, RunError> {
    if !lab_wanted(global) {
        return match Inventory::locate(global.inventory.as_deref()) {
            None => Ok(Cluster::local_only()),
            Some(path) => {
                let inventory = Inventory::load(&path)
                    .map_err(|e| RunError::new(exit::USAGE, format!("bad inventory: {e}")))?;
                inventory_cluster(&inventory, global.accept_new_hosts)
            }
        };
    }
    if let Some(speed) = global.lab_speed {
        if !(0.0..=100.0).contains(&speed) {
            return Err(RunError::new(
                exit::USAGE,
                format!("invalid --lab-speed {speed}: expected 0 to 100"),
            ));
        }
    }
    let scenario = match global.lab.clone().flatten() {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                RunError::new(
                    exit::USAGE,
                    format!("cannot read lab scenario {}: {e}", path.display()),
                )
            })?;
            lab::load(&text, &path.display().to_string())
        }
        None => lab::load(lab::DEFAULT_SCENARIO, "the default lab scenario"),
    }
    .map_err(|e| RunError::new(exit::USAGE, format!("bad lab scenario: {e}")))?;
    let lab = match &global.lab_state {
        Some(path) => Lab::with_state_file(path.clone(), scenario, global.lab_speed),
        None => Lab::in_memory(scenario, global.lab_speed),
    };
    lab.cluster()
        .map_err(|e| RunError::new(exit::FAILED, e.to_string()))
}

/// One Ssh host per inventory entry, sharing one async runtime.
fn inventory_cluster(inventory: &Inventory, accept_new: bool) -> Result<Cluster, RunError> {
    let runtime = Ssh::runtime()
        .map_err(|e| RunError::new(exit::FAILED, format!("cannot start the SSH runtime: {e}")))?;
    let hosts = inventory
        .hosts
        .iter()
        .map(|h| {
            let settings = h.ssh.or(&inventory.defaults);
            let transport = Ssh::new(&h.name, &h.address, settings, accept_new, runtime.clone());
            Host::new(
                h.name.clone(),
                h.address.clone(),
                h.tags.clone(),
                Arc::new(transport),
            )
            .with_aliases(
                h.storage_address
                    .iter()
                    .chain(&h.aliases)
                    .cloned()
                    .collect(),
            )
        })
        .collect();
    Ok(Cluster::new(
        inventory.cluster.clone(),
        hosts,
        crate::cluster::local_host(),
    )
    .with_mount(inventory.cluster_mount.clone()))
}
