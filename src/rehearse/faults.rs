//! The faults of one rehearsed run, drawn from the rehearsal's seed and the run's number,
//! so that `--seed S --only K` replays run K exactly (but for the instant of a kill, which
//! is a time and so only as exact as the machine's scheduling).

use crate::lab::LabState;

/// splitmix64: small, fast, and the same numbers on every machine.
pub struct Rng(u64);

impl Rng {
    /// The generator of run `run` of the rehearsal seeded `seed`.
    pub fn for_run(seed: u64, run: u32) -> Rng {
        Rng(seed ^ (u64::from(run) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What happens to the first process of a run after a kill -9.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    Resume,
    Abort,
}

#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// VE → lab seconds its starts take.
    pub slow_starts: Vec<(String, f64)>,
    /// VE → how many migrations fail before one succeeds.
    pub failing_migrations: Vec<(String, u32)>,
    /// VEs whose live migration always fails.
    pub live_migration_fails: Vec<String>,
    /// CSs whose removal never finishes.
    pub never_drains: Vec<u32>,
    /// A host that stops answering this many milliseconds into the run.
    pub unreachable: Option<(String, u64)>,
    /// kill -9 this many milliseconds into the run, then resume or abort.
    pub kill: Option<(u64, Recovery)>,
    /// A host whose switch ports are in no LACP port-channel (`switch_without_lacp`).
    pub no_lacp: Option<String>,
    /// A host whose switch port-channel lacks its VLANs, its storage network on bond0.100
    /// (`port_channel_without_vlans`, `storage_on`): harmless until its bond runs 802.3ad.
    pub vlan_missing: Option<String>,
}

/// Whether a bond of the node runs 802.3ad now (which the switch faults contradict).
/// `options`: each bond's BONDING_OPTS as applied.
fn runs_lacp<'a>(mut options: impl Iterator<Item = &'a str>) -> bool {
    options.any(|o| {
        o.split_whitespace()
            .any(|o| o == "mode=802.3ad" || o == "mode=4")
    })
}

/// Up to `max` distinct items of `items`, anywhere in it: each of `max` draws picks one
/// with probability `percent`.
fn some<T: Clone + PartialEq>(rng: &mut Rng, items: &[T], percent: u64, max: usize) -> Vec<T> {
    let mut picked: Vec<T> = Vec::new();
    for _ in 0..max {
        if !items.is_empty() && rng.chance(percent) {
            let item = &items[rng.below(items.len() as u64) as usize];
            if !picked.contains(item) {
                picked.push(item.clone());
            }
        }
    }
    picked
}

impl Faults {
    /// Draws the faults of one run. Run 0 of every rehearsal has none, so that a runbook
    /// that breaks an invariant without any fault is told apart from one that breaks under
    /// faults. `span_ms` is how long a run without faults took: kills and hosts that stop
    /// answering land within it.
    ///
    /// `focus` are the runbook's argument values: faults go to the VEs and CSs of the hosts
    /// (and to the CSs) they name when there are any, since a fault elsewhere tests little.
    pub fn draw(rng: &mut Rng, run: u32, lab: &LabState, span_ms: u64, focus: &[String]) -> Faults {
        if run == 0 {
            return Faults::default();
        }
        let named = |host: &Option<String>| host.as_ref().is_some_and(|h| focus.contains(h));
        let mut ves: Vec<String> = lab
            .ves
            .iter()
            .filter(|v| named(&v.host))
            .map(|v| v.name.clone())
            .collect();
        if ves.is_empty() {
            ves = lab.ves.iter().map(|v| v.name.clone()).collect();
        }
        let mut css: Vec<u32> = lab
            .css
            .iter()
            .filter(|c| focus.contains(&c.host) || focus.contains(&c.id.to_string()))
            .map(|c| c.id)
            .collect();
        if css.is_empty() {
            css = lab.css.iter().map(|c| c.id).collect();
        }
        let hosts: Vec<String> = lab.hosts.iter().map(|h| h.name.clone()).collect();
        let mut faults = Faults {
            slow_starts: some(rng, &ves, 40, 2)
                .into_iter()
                .map(|v| (v, 20.0 + rng.below(300) as f64))
                .collect(),
            failing_migrations: some(rng, &ves, 40, 2)
                .into_iter()
                .map(|v| (v, 1 + rng.below(3) as u32))
                .collect(),
            live_migration_fails: some(rng, &ves, 30, 2),
            never_drains: some(rng, &css, 25, 1),
            ..Faults::default()
        };
        let window = span_ms.max(20) + span_ms / 2;
        if !hosts.is_empty() && rng.chance(20) {
            let host = hosts[rng.below(hosts.len() as u64) as usize].clone();
            faults.unreachable = Some((host, rng.below(window)));
        }
        if rng.chance(45) {
            let recovery = if rng.chance(50) {
                Recovery::Resume
            } else {
                Recovery::Abort
            };
            faults.kill = Some((rng.below(window), recovery));
        }
        // Drawn last, so that the faults above stay what a seed gave before these existed.
        let mut focus_hosts: Vec<String> = hosts
            .iter()
            .filter(|h| focus.contains(h))
            .cloned()
            .collect();
        if focus_hosts.is_empty() {
            focus_hosts = hosts.clone();
        }
        // Not a node whose bond runs 802.3ad now: its switch side is shown to work.
        focus_hosts.retain(|n| {
            !lab.hosts
                .iter()
                .any(|h| &h.name == n && runs_lacp(h.ops.bonds.iter().map(|b| b.options.as_str())))
        });
        if !focus_hosts.is_empty() && rng.chance(20) {
            faults.no_lacp =
                Some(focus_hosts[rng.below(focus_hosts.len() as u64) as usize].clone());
        }
        if !focus_hosts.is_empty() && rng.chance(20) {
            faults.vlan_missing =
                Some(focus_hosts[rng.below(focus_hosts.len() as u64) as usize].clone());
        }
        faults
    }

    /// Puts the faults that are part of the lab's state into it.
    pub fn apply(&self, lab: &mut LabState) {
        for ve in &mut lab.ves {
            if let Some((_, secs)) = self.slow_starts.iter().find(|(n, _)| *n == ve.name) {
                ve.slow_start_s = Some(*secs);
            }
            if let Some((_, k)) = self.failing_migrations.iter().find(|(n, _)| *n == ve.name) {
                ve.fail_migrations = *k;
            }
            if self.live_migration_fails.contains(&ve.name) {
                ve.live_migration_fails = true;
            }
        }
        for cs in &mut lab.css {
            if self.never_drains.contains(&cs.id) {
                cs.never_drains = true;
            }
        }
        for (i, h) in lab.hosts.iter_mut().enumerate() {
            // A bond that runs 802.3ad now shows the switch side works (LACP, its VLANs):
            // these faults would make an unchanged restart cut the node off.
            if runs_lacp(h.ops.bonds.iter().map(|b| b.options.as_str())) {
                continue;
            }
            if self.no_lacp.as_ref() == Some(&h.name) {
                h.ops.switch_without_lacp = true;
            }
            if self.vlan_missing.as_ref() == Some(&h.name) {
                h.ops.port_channel_without_vlans = true;
                if h.ops.interfaces.iter().any(|i| i == "bond0.100") {
                    // Its storage network on the VLAN (an address of its own there, as
                    // `vstorage stat` then shows it).
                    h.ops.storage_on = Some("bond0.100".into());
                    h.storage_address
                        .get_or_insert_with(|| format!("172.31.0.{}", 10 + i));
                }
            }
        }
    }

    /// The faults in a few words, for the table.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (ve, secs) in &self.slow_starts {
            parts.push(format!("slow-start {ve} {secs:.0}s"));
        }
        for (ve, k) in &self.failing_migrations {
            parts.push(format!("migrate-fails {ve} x{k}"));
        }
        for ve in &self.live_migration_fails {
            parts.push(format!("live-fails {ve}"));
        }
        for cs in &self.never_drains {
            parts.push(format!("never-drains CS#{cs}"));
        }
        if let Some((host, at)) = &self.unreachable {
            parts.push(format!("{host} stops answering at {at}ms"));
        }
        if let Some(host) = &self.no_lacp {
            parts.push(format!("no-lacp {host}"));
        }
        if let Some(host) = &self.vlan_missing {
            parts.push(format!("port-channel-lacks-vlan {host}"));
        }
        if let Some((at, recovery)) = &self.kill {
            let then = match recovery {
                Recovery::Resume => "resume",
                Recovery::Abort => "abort",
            };
            parts.push(format!("kill -9 at {at}ms, {then}"));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> LabState {
        crate::lab::load(crate::lab::DEFAULT_SCENARIO, "default").unwrap()
    }

    #[test]
    fn the_same_seed_and_run_draw_the_same_faults() {
        let lab = lab();
        let focus = ["msk-07".to_string()];
        let draw = |seed, run| {
            Faults::draw(&mut Rng::for_run(seed, run), run, &lab, 500, &focus).describe()
        };
        assert_eq!(draw(42, 3), draw(42, 3));
        let all: Vec<String> = (1..20).map(|run| draw(42, run)).collect();
        assert!(
            all.iter().any(|f| f != &all[0]),
            "every run drew {}",
            all[0]
        );
    }

    #[test]
    fn run_zero_has_no_fault_and_faults_go_where_the_arguments_point() {
        let lab = lab();
        let focus = ["msk-07".to_string()];
        assert_eq!(
            Faults::draw(&mut Rng::for_run(1, 0), 0, &lab, 500, &focus).describe(),
            "none"
        );
        for run in 1..50 {
            let faults = Faults::draw(&mut Rng::for_run(9, run), run, &lab, 500, &focus);
            let slow = faults.slow_starts.iter().map(|(ve, _)| ve);
            for ve in slow.chain(faults.failing_migrations.iter().map(|(ve, _)| ve)) {
                let on = lab.ves.iter().find(|v| &v.name == ve).unwrap();
                assert_eq!(on.host.as_deref(), Some("msk-07"), "{ve}");
            }
        }
    }

    #[test]
    fn a_switch_fault_is_not_put_on_a_node_whose_bond_already_runs_lacp() {
        // A node whose bond0 runs 802.3ad now, its storage network on bond0.100, shows that
        // its switch's port-channel speaks LACP and carries VLAN 100. Putting the switch
        // faults on it made a network restart with the very same files cut its storage off
        // (and take its LACP partner away): a state no real cluster is in, which the
        // network invariant then reports against the runbook.
        let mut lab = lab();
        let name = lab
            .hosts
            .iter()
            .find(|h| h.ops.interfaces.iter().any(|i| i == "bond0.100"))
            .map(|h| h.name.clone())
            .expect("a lab node with bond0.100");
        let path = "/etc/sysconfig/network-scripts/ifcfg-bond0";
        let h = lab.host_mut(&name);
        let file = h.files.get_mut(path).expect("ifcfg-bond0");
        file.content = file.content.replace("mode=active-backup", "mode=802.3ad");
        let restart: Vec<String> = ["systemctl", "restart", "network"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            crate::lab::dispatch(&mut lab, &name, &restart)
                .unwrap()
                .code,
            0
        );
        assert!(lab.host(&name).unwrap().ops.bonds[0]
            .options
            .contains("802.3ad"));
        // Not drawn for it (the table names only faults the lab has)...
        let focus = [name.clone()];
        for run in 1..60 {
            let f = Faults::draw(&mut Rng::for_run(7, run), run, &lab, 500, &focus);
            assert!(
                f.no_lacp.is_none() && f.vlan_missing.is_none(),
                "{}",
                f.describe()
            );
        }
        // ...and not put on it when named.
        let faults = Faults {
            no_lacp: Some(name.clone()),
            vlan_missing: Some(name.clone()),
            ..Faults::default()
        };
        faults.apply(&mut lab);
        // The same files, restarted.
        assert_eq!(
            crate::lab::dispatch(&mut lab, &name, &restart)
                .unwrap()
                .code,
            0
        );
        let h = lab.host(&name).unwrap();
        assert_eq!(
            h.ops.storage_lost_at, None,
            "an unchanged restart cut {name}'s storage off"
        );
        assert!(!h.ops.cut_off);
        assert!(!h.ops.switch_without_lacp && !h.ops.port_channel_without_vlans);
    }
}
