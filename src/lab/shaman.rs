//! High availability (shaman) as it shows on the cluster file system.
//!
//! On a cluster with HA, every node's shaman-monitor keeps a repository of the VEs it manages
//! at `<mount>/.shaman/md.<host_ID>/resources`: one file per VE, holding the path of its home.
//! When a node fails, the shaman master relocates the VEs of that node's repository itself;
//! resources it gave up on are moved to `<mount>/.shaman/broken` and left alone (VZ7 Users
//! Guide §8.9). `prlctl register --force` takes a VE out of the HA cluster (reference §1.6);
//! a registration without `--ignore-ha-cluster` on an HA node adds it to that node's
//! repository, and a migration moves it with the VE. A runbook that takes a dead node's VE
//! over by hand, while shaman's master is about to do the same, would register it twice.
//!
//! The lab's host IDs and file names (`md.<16 hex>`, `vm-UUID` / `ct-UUID`) are its own: the
//! documents name neither, so runbooks must go by the files' contents.

use super::state::{uuid_from, LabFile, LabState, VeKind};

/// The repository directory of `host`'s shaman-monitor.
fn repository(state: &LabState, host: &str) -> String {
    let id: String = uuid_from(&format!("shaman-{host}"))
        .chars()
        .filter(|c| *c != '-')
        .take(16)
        .collect();
    format!("/vstorage/{}/.shaman/md.{id}/resources", state.cluster)
}

/// Where the resources shaman gave up on lie.
fn broken_dir(state: &LabState) -> String {
    format!("/vstorage/{}/.shaman/broken", state.cluster)
}

fn file_name(kind: VeKind, uuid: &str) -> String {
    match kind {
        VeKind::CT => format!("ct-{uuid}"),
        VeKind::VM => format!("vm-{uuid}"),
    }
}

/// Turns HA on: every registered VE a resource of its node's shaman, or of `broken` when
/// its UUID is listed there.
pub fn seed(state: &mut LabState, broken: &[String]) {
    state.ha = true;
    let resources: Vec<(String, String)> = state
        .ves
        .iter()
        .filter_map(|ve| {
            let host = ve.host.as_deref()?;
            let dir = if broken.contains(&ve.uuid) {
                broken_dir(state)
            } else {
                repository(state, host)
            };
            Some((
                format!("{dir}/{}", file_name(ve.kind, &ve.uuid)),
                ve.home.clone(),
            ))
        })
        .collect();
    for (path, home) in resources {
        add(state, path, &home);
    }
}

fn add(state: &mut LabState, path: String, home: &str) {
    state.shared_files.insert(
        path,
        LabFile {
            content: format!("{home}\n"),
            mode: 0o644,
        },
    );
}

/// The resource files (repositories and broken) that name `home`.
fn listing(state: &LabState, home: &str) -> Vec<String> {
    let root = format!("/vstorage/{}/.shaman/", state.cluster);
    state
        .shared_files
        .iter()
        .filter(|(path, file)| path.starts_with(&root) && file.content.trim_end() == home)
        .map(|(path, _)| path.clone())
        .collect()
}

/// After `prlctl register` of the VE at `home` on `host`: `--force` took it out of the HA
/// cluster; unless `ignore_ha`, an HA cluster adds it to `host`'s repository.
pub fn registered(state: &mut LabState, host: &str, home: &str, force: bool, ignore_ha: bool) {
    if !state.ha {
        return;
    }
    if force {
        for path in listing(state, home) {
            state.shared_files.remove(&path);
        }
    }
    if ignore_ha {
        return;
    }
    let Some((kind, uuid)) = state
        .ves
        .iter()
        .find(|v| v.home == home)
        .map(|v| (v.kind, v.uuid.clone()))
    else {
        return;
    };
    let path = format!("{}/{}", repository(state, host), file_name(kind, &uuid));
    add(state, path, home);
}

/// After a migration of the VE at `home` to `dst`: its resource follows it.
pub fn migrated(state: &mut LabState, dst: &str, home: &str) {
    if !state.ha {
        return;
    }
    let moved: Vec<String> = listing(state, home)
        .into_iter()
        .filter(|p| !p.starts_with(&broken_dir(state)))
        .collect();
    for path in moved {
        if let Some(file) = state.shared_files.remove(&path) {
            let name = path.rsplit('/').next().unwrap_or_default().to_string();
            state
                .shared_files
                .insert(format!("{}/{name}", repository(state, dst)), file);
        }
    }
}
