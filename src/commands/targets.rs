//! Which hosts a run may touch: the lab's, an inventory's over SSH, or only `local()`.

use std::sync::Arc;

use crate::cli::GlobalOpts;
use crate::cluster::Cluster;
use crate::exit;
use crate::host::Host;
use crate::inventory::Inventory;
use crate::lab::{self, Lab};
use crate::transport::Ssh;

/// The hosts this run may touch: the lab's, or (until an inventory is given) only `local()`.
pub fn cluster_for(global: &GlobalOpts) -> Result<Cluster, (String, i32)> {
    let lab_wanted =
        global.lab.is_some() || global.lab_state.is_some() || global.lab_speed.is_some();
    if !lab_wanted {
        return match Inventory::locate(global.inventory.as_deref()) {
            None => Ok(Cluster::local_only()),
            Some(path) => {
                let inventory = Inventory::load(&path)
                    .map_err(|e| (format!("bad inventory: {e}"), exit::USAGE))?;
                inventory_cluster(&inventory, global.accept_new_hosts)
            }
        };
    }
    if let Some(speed) = global.lab_speed {
        if !(0.0..=100.0).contains(&speed) {
            return Err((
                format!("invalid --lab-speed {speed}: expected 0 to 100"),
                exit::USAGE,
            ));
        }
    }
    let scenario = match global.lab.clone().flatten() {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                (
                    format!("cannot read lab scenario {}: {e}", path.display()),
                    exit::USAGE,
                )
            })?;
            lab::load(&text, &path.display().to_string())
        }
        None => lab::load(lab::DEFAULT_SCENARIO, "the default lab scenario"),
    }
    .map_err(|e| (format!("bad lab scenario: {e}"), exit::USAGE))?;
    let lab = match &global.lab_state {
        Some(path) => Lab::with_state_file(path.clone(), scenario, global.lab_speed),
        None => Lab::in_memory(scenario, global.lab_speed),
    };
    lab.cluster().map_err(|e| (e.to_string(), exit::FAILED))
}

/// One Ssh host per inventory entry, sharing one async runtime.
fn inventory_cluster(inventory: &Inventory, accept_new: bool) -> Result<Cluster, (String, i32)> {
    let runtime =
        Ssh::runtime().map_err(|e| (format!("cannot start the SSH runtime: {e}"), exit::FAILED))?;
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
