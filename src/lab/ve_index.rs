//! Finding VEs in the lab without going over all of them.
//!
//! The lab keeps its VEs in one list (`LabState::ves`, what a state file holds); a search of
//! it per lookup made a lab evacuation of N VEs quadratic (most of a 16000-VE run's time).
//! `VeIndex` answers lookups from positions built once and kept right by the few commands
//! that move VEs; it is not part of the state (a copy or a loaded file builds its own).

use super::state::{is_up, LabState, Ve};

/// VE lookups without searching: positions by (host, UUID) and (host, name), built from
/// `ves` on first use, and the earliest time a VE's slow start may finish. Without it every
/// lookup and every command's clock step went over every VE of the cluster: an evacuation of
/// N VEs did N^2 comparisons (most of a 16000-VE lab run's time).
///
/// Kept right by the few commands that change where a VE is or what it is called: `migrate`
/// updates it, `register`, `unregister` and `create` drop it (rebuilt at the next lookup),
/// and the two places that start a slow start note when it ends. A position found is checked
/// against the VE before it is used, and debug builds (the tests) check every answer
/// against a search of all VEs, so a change that forgot it fails the tests.
pub struct VeIndex(std::sync::Mutex<IndexInner>);

struct IndexInner {
    /// `None`: to be rebuilt.
    positions: Option<Positions>,
    /// No VE's slow start ends before this (`NEG_INFINITY`: unknown).
    due_from: f64,
}

/// Positions by a 64-bit hash of (host, id): small (a 4000-VE lab's index with the strings
/// themselves as keys took 1.6 MB). Two VEs with the same key (the same UUID or name twice
/// on a host, or a hash collision) make the key `AMBIGUOUS`, and its lookups search.
#[derive(Default)]
struct Positions {
    by_uuid: std::collections::HashMap<u64, usize>,
    by_name: std::collections::HashMap<u64, usize>,
    /// Every VE of a host, in the order of `ves`.
    by_host: std::collections::HashMap<String, std::collections::BTreeSet<usize>>,
}

const AMBIGUOUS: usize = usize::MAX;

fn key(host: &str, id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (host, id).hash(&mut h);
    h.finish()
}

impl Positions {
    fn build(ves: &[Ve]) -> Positions {
        let mut p = Positions::default();
        for (i, v) in ves.iter().enumerate() {
            p.add(i, v);
        }
        p
    }

    fn add(&mut self, i: usize, v: &Ve) {
        if let Some(host) = &v.host {
            self.by_host.entry(host.clone()).or_default().insert(i);
            for (map, id) in [(&mut self.by_uuid, &v.uuid), (&mut self.by_name, &v.name)] {
                map.entry(key(host, id))
                    .and_modify(|at| {
                        if *at != i {
                            *at = AMBIGUOUS;
                        }
                    })
                    .or_insert(i);
            }
        }
    }

    fn remove(&mut self, i: usize, host: &str, uuid: &str, name: &str) {
        for (map, id) in [(&mut self.by_uuid, uuid), (&mut self.by_name, name)] {
            if map.get(&key(host, id)) == Some(&i) {
                map.remove(&key(host, id));
            }
        }
        if let Some(on_host) = self.by_host.get_mut(host) {
            on_host.remove(&i);
        }
    }
}

impl Default for VeIndex {
    fn default() -> VeIndex {
        VeIndex(std::sync::Mutex::new(IndexInner {
            positions: None,
            due_from: f64::NEG_INFINITY,
        }))
    }
}

impl VeIndex {
    fn inner(&self) -> std::sync::MutexGuard<'_, IndexInner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// VEs were added, removed, or moved or renamed other than by `moved`: rebuilt at the
    /// next lookup.
    pub fn invalidate(&self) {
        self.inner().positions = None;
    }

    /// The VE at `i` (now `v`) was on `from` as `uuid` / `name`.
    pub fn moved(&self, i: usize, from: &str, uuid: &str, name: &str, v: &Ve) {
        if let Some(p) = self.inner().positions.as_mut() {
            p.remove(i, from, uuid, name);
            p.add(i, v);
        }
    }

    /// The VE at `i` (`v`) was just added at the end of `ves`.
    pub fn added(&self, i: usize, v: &Ve) {
        if let Some(p) = self.inner().positions.as_mut() {
            p.add(i, v);
        }
    }

    /// No VE's slow start ends before this (`NEG_INFINITY`: unknown).
    pub(super) fn due_from(&self) -> f64 {
        self.inner().due_from
    }

    /// What `advance` found: the earliest slow start still to end.
    pub(super) fn set_due_from(&self, at: f64) {
        self.inner().due_from = at;
    }

    /// A VE's slow start ends at `at`.
    pub fn note_due(&self, at: f64) {
        let mut inner = self.inner();
        inner.due_from = inner.due_from.min(at);
    }
}

impl Clone for VeIndex {
    /// A copy of the state builds its own.
    fn clone(&self) -> VeIndex {
        VeIndex::default()
    }
}

impl PartialEq for VeIndex {
    /// It never makes two states differ.
    fn eq(&self, _: &VeIndex) -> bool {
        true
    }
}

impl std::fmt::Debug for VeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VeIndex")
    }
}

/// Whether `v` is registered on `host` as `id` (a UUID, with or without braces, or a name).
fn is_ve(v: &Ve, host: &str, id: &str) -> bool {
    let bare = id.trim_start_matches('{').trim_end_matches('}');
    (v.uuid == bare || v.name == id) && v.host.as_deref() == Some(host)
}

impl LabState {
    /// The position in `ves` of the VE registered on `host` as `id`: its UUID (with or
    /// without braces) first, else its name.
    pub fn ve_position(&self, host: &str, id: &str) -> Option<usize> {
        let bare = id.trim_start_matches('{').trim_end_matches('}');
        let mut inner = self.ve_index.inner();
        let mut found = None;
        for _attempt in 0..2 {
            let positions = inner
                .positions
                .get_or_insert_with(|| Positions::build(&self.ves));
            let by_uuid = positions.by_uuid.get(&key(host, bare)).copied();
            let by_name = positions.by_name.get(&key(host, id)).copied();
            if by_uuid == Some(AMBIGUOUS) || by_name == Some(AMBIGUOUS) {
                drop(inner);
                return self.search_ve(host, id);
            }
            found = by_uuid.or(by_name);
            match found {
                Some(i) if !self.ves.get(i).is_some_and(|v| is_ve(v, host, id)) => {
                    inner.positions = None;
                }
                _ => break,
            }
        }
        drop(inner);
        #[cfg(debug_assertions)]
        assert_eq!(
            found,
            self.search_ve(host, id),
            "the lab's VE index is stale for {id} on {host}: a change to `ves` did not update it"
        );
        found
    }

    /// Memory (MB) the VEs that are up on `host` hold: what `free` and a live migration's
    /// check see.
    pub fn used_mb(&self, host: &str) -> u64 {
        let mut inner = self.ve_index.inner();
        let positions = inner
            .positions
            .get_or_insert_with(|| Positions::build(&self.ves));
        let used = positions.by_host.get(host).map_or(0, |on_host| {
            on_host
                .iter()
                .filter_map(|&i| self.ves.get(i))
                .filter(|v| v.host.as_deref() == Some(host) && is_up(&v.status))
                .map(|v| v.memsize_mb)
                .sum()
        });
        drop(inner);
        #[cfg(debug_assertions)]
        assert_eq!(
            used,
            self.ves
                .iter()
                .filter(|v| v.host.as_deref() == Some(host) && is_up(&v.status))
                .map(|v| v.memsize_mb)
                .sum::<u64>(),
            "the lab's VE index is stale for the VEs of {host}"
        );
        used
    }

    /// `ve_position` by going over every VE: what the index must answer.
    fn search_ve(&self, host: &str, id: &str) -> Option<usize> {
        let bare = id.trim_start_matches('{').trim_end_matches('}');
        let on_host = |v: &Ve| v.host.as_deref() == Some(host);
        self.ves
            .iter()
            .position(|v| v.uuid == bare && on_host(v))
            .or_else(|| self.ves.iter().position(|v| v.name == id && on_host(v)))
    }
}
