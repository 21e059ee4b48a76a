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
    format!("{}/.shaman/md.{id}/resources", state.mount_root())
}

/// Where the resources shaman gave up on lie.
fn broken_dir(state: &LabState) -> String {
    format!("{}/.shaman/broken", state.mount_root())
}

fn file_name(kind: VeKind, uuid: &str) -> String {
    match kind {
        VeKind::CT => format!("ct-{uuid}"),
        VeKind::VM => format!("vm-{uuid}"),
    }
}

/// Turns HA on: shaman (`shaman.service`, running shaman-monitor) active on every node that
/// mounts the cluster, and every registered VE a resource of its node's shaman, or of
/// `broken` when its UUID is listed there.
pub fn seed(state: &mut LabState, broken: &[String]) {
    state.ha = true;
    let cluster = state.mount_root();
    for h in state.hosts.iter_mut() {
        if h.mounts.iter().any(|m| m.target == cluster) {
            h.units.insert(
                UNIT.to_string(),
                super::state::Unit {
                    active: true,
                    enabled: true,
                    description: "Virtuozzo high availability service".into(),
                    job: None,
                    repo: None,
                },
            );
        }
    }
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

/// The unit of shaman-monitor on a node of an HA cluster. The lab's name: the documents name
/// the daemon (`shaman-monitor`) and the tool (`shaman`), not the unit.
pub const UNIT: &str = "shaman.service";

/// After the cluster file system went away from `host` (`umount`, lazy or not): a node whose
/// shaman-monitor runs loses its lease on the cluster; the master fences it and its watchdog
/// acts (`WATCHDOG_ACTION`, `reboot` by default: Parallels KB 119207). The lab's node stops
/// answering (it is rebooting).
pub fn cluster_lost(state: &mut LabState, host: &str) {
    if !state.ha {
        return;
    }
    let h = state.host_mut(host);
    if h.units.get(UNIT).is_some_and(|u| u.active) {
        h.unreachable = true;
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
    let root = format!("{}/.shaman/", state.mount_root());
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

#[cfg(test)]
mod tests {
    use super::super::tests::run;
    use super::super::*;
    use super::{file_name, repository};

    fn ha_lab() -> LabState {
        let yaml =
            DEFAULT_SCENARIO.replacen("cluster: livelinux\n", "cluster: livelinux\nha: true\n", 1);
        assert_ne!(yaml, DEFAULT_SCENARIO);
        load(&yaml, "ha").expect("loads")
    }

    /// The resource files that name a VE's home, as `grep -rlF` finds them from msk-02.
    fn listed(s: &mut LabState, home: &str) -> Vec<String> {
        let r = run(
            s,
            "msk-02",
            &format!("grep -rlF -- {home} /vstorage/livelinux/.shaman"),
        );
        assert!(r.code <= 1, "{}", r.stderr);
        r.stdout.lines().map(str::to_string).collect()
    }

    #[test]
    fn resources_follow_migrations_and_leave_with_a_forced_registration() {
        let mut s = ha_lab();
        let ve = s
            .ves
            .iter()
            .find(|v| v.host.as_deref() == Some("msk-01"))
            .unwrap()
            .clone();
        let on_01 = listed(&mut s, &ve.home);
        assert_eq!(on_01.len(), 1, "one resource per VE");
        assert_eq!(
            on_01[0],
            format!(
                "{}/{}",
                repository(&s, "msk-01"),
                file_name(ve.kind, &ve.uuid)
            )
        );
        run(&mut s, "msk-01", &format!("prlctl stop {}", ve.uuid));
        let r = run(
            &mut s,
            "msk-01",
            &format!("prlctl migrate {} msk-02", ve.uuid),
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(listed(&mut s, &ve.home)[0].starts_with(&repository(&s, "msk-02")));
        // A forced registration elsewhere takes it out of HA; with --ignore-ha-cluster it
        // is not added where it goes.
        s.ves.iter_mut().find(|v| v.uuid == ve.uuid).unwrap().host = None;
        let r = run(
            &mut s,
            "msk-03",
            &format!(
                "prlctl register {} --preserve-uuid --force --ignore-ha-cluster",
                ve.home
            ),
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(listed(&mut s, &ve.home).is_empty());
        // grep's exit codes: none found, and no such directory.
        let r = run(
            &mut s,
            "msk-02",
            "grep -rlF -- nothing-like-this /vstorage/livelinux/.shaman",
        );
        assert_eq!((r.code, r.stdout.as_str()), (1, ""));
        let r = run(
            &mut s,
            "msk-02",
            "grep -rlF -- x /vstorage/livelinux/.nosuch",
        );
        assert_eq!(r.code, 2);
        assert!(
            r.stderr.contains("No such file or directory"),
            "{}",
            r.stderr
        );
    }
}
