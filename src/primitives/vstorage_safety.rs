//! `vstorage::` safety questions, asked before storage is taken away: may these chunk
//! servers stop (`ok_to_stop`, after Ceph's `ok-to-stop`/`safe-to-destroy`), and where does
//! a chunk server really keep its data (`cs_location`: from the node, never a default path).
//!
//! The rules count failure domains (hosts), not chunk servers: three CSs on two hosts hold
//! three replicas on two hosts only, so losing one host loses two replicas.

use std::collections::{BTreeMap, BTreeSet};

use rhai::plugin::*;
use rhai::{Array, Dynamic, Map};

use super::vstorage::stat;
use super::vstorage_map::{node_map, resolve_nodes};
use super::OptionMap;
use super::{call, map, probe, read, validate};
use crate::cluster::host::Host;
use crate::failure::{ApiResult, Failure};
use crate::parse::vstorage::{CsRow, Stat};
use crate::run::context::RunContext;

const GB: u64 = 1 << 30;

/// Replication norm when `vstorage stat` does not print it: the documented default of 3.
const DEFAULT_NORM: u64 = 3;

/// The inventory host of each CS HOST of `s` (matched as `vstorage::stat` matches them:
/// storage-network addresses and aliases too).
fn node_names(run: &RunContext, s: &Stat) -> Map {
    node_map(&resolve_nodes(run, s, &[]))
}

/// The inventory host of a CS (its HOST text when no inventory host has it).
fn node(nodes: &Map, cs: &CsRow) -> String {
    nodes
        .get(cs.host.as_str())
        .map(|n| n.to_string())
        .unwrap_or_else(|| cs.host.clone())
}

pub struct Rule {
    pub rule: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// The answer to "may `ids` stop for `action`?" on the cluster `s`.
/// The same rules hold for every action: a CS in maintenance or stopped for a reboot is
/// re-replicated like a removed one once the offline timeout passes.
pub fn rules(run: &RunContext, s: &Stat, ids: &[u64]) -> Vec<Rule> {
    rules_for(&node_names(run, s), s, ids)
}

/// `rules` with the CS HOST → node names already matched: the rules themselves, which
/// depend on nothing but `stat`'s answer.
fn rules_for(nodes: &Map, s: &Stat, ids: &[u64]) -> Vec<Rule> {
    let stopping: Vec<&CsRow> = s.cs.iter().filter(|c| ids.contains(&c.id)).collect();
    let nodes_stopping: BTreeSet<String> = stopping.iter().map(|c| node(nodes, c)).collect();
    let others: Vec<&CsRow> = s.cs.iter().filter(|c| !ids.contains(&c.id)).collect();
    let norm = s.replicas_norm.unwrap_or(DEFAULT_NORM);
    let mut out = Vec::new();

    // 1. Healthy, except for the very CSs being stopped (removing a dead CS is allowed).
    let sick: Vec<String> = others
        .iter()
        .filter(|c| c.status != "active")
        .map(|c| format!("CS#{} {} on {}", c.id, c.status, node(nodes, c)))
        .collect();
    let degraded = s.chunks.get("degraded").copied().unwrap_or(0);
    let own_fault = s.status == "healthy" || sick.is_empty();
    out.push(Rule {
        rule: "healthy",
        ok: own_fault,
        detail: if s.status == "healthy" {
            "the cluster is healthy".into()
        } else if sick.is_empty() {
            format!(
                "the cluster is {} only because of the CSs in question ({degraded} degraded chunks)",
                s.status
            )
        } else {
            format!(
                "the cluster is {} ({degraded} degraded chunks); not active: {}",
                s.status,
                sick.join(", ")
            )
        },
    });

    // 2. One node at a time: no other node may have CSs in maintenance.
    let mut elsewhere: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for c in others.iter().filter(|c| c.status == "maintenance") {
        let n = node(nodes, c);
        if !nodes_stopping.contains(&n) {
            elsewhere.entry(n).or_default().push(c.id);
        }
    }
    out.push(Rule {
        rule: "one_node_at_a_time",
        ok: elsewhere.is_empty(),
        detail: if elsewhere.is_empty() {
            "no other node is in maintenance".into()
        } else {
            let list: Vec<String> = elsewhere
                .iter()
                .map(|(n, ids)| format!("{n} ({} CSs: {ids:?})", ids.len()))
                .collect();
            format!(
                "already in maintenance: {}; take it out of maintenance first",
                list.join(", ")
            )
        },
    });

    // 3 and 4, per tier of the CSs in question (all together when stat shows no tiers).
    let tiers_known = s.cs.iter().any(|c| c.tier.is_some());
    let tiers: BTreeSet<Option<u64>> = stopping
        .iter()
        .map(|c| if tiers_known { c.tier } else { None })
        .collect();
    for tier in tiers {
        let scope = match tier {
            Some(t) => format!("tier {t}"),
            None if tiers_known => "tier unknown".into(),
            None => "all tiers (vstorage stat shows no tiers)".into(),
        };
        let same = |c: &&&CsRow| !tiers_known || c.tier == tier;
        let remaining: Vec<&&CsRow> = others
            .iter()
            .filter(same)
            .filter(|c| c.status == "active")
            .collect();
        let hosts: BTreeSet<String> = remaining.iter().map(|c| node(nodes, c)).collect();
        out.push(Rule {
            rule: "failure_domains",
            ok: hosts.len() as u64 >= norm,
            detail: format!(
                "{scope}: {} hosts with active CSs afterwards ({}) for {norm} replicas",
                hosts.len(),
                hosts.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        });
        // What a cell of stat does not show is not zero: a stopping CS of unknown size
        // fails the rule, one of unknown free space counts all its space as data; a
        // remaining CS of unknown free space gives no room.
        let unknown: Vec<u64> = stopping
            .iter()
            .filter(same)
            .filter(|c| c.space.is_none())
            .map(|c| c.id)
            .collect();
        let used: u64 = stopping
            .iter()
            .filter(same)
            .filter_map(|c| Some(c.space?.saturating_sub(c.free.unwrap_or(0))))
            .sum();
        let room: u64 = remaining.iter().map(|c| c.free.unwrap_or(0)).sum();
        out.push(Rule {
            rule: "free_space",
            ok: unknown.is_empty() && room >= used,
            detail: if unknown.is_empty() {
                format!(
                    "{scope}: {} GB free on the other active CSs to re-replicate {} GB",
                    room / GB,
                    used.div_ceil(GB)
                )
            } else {
                let ids: Vec<String> = unknown.iter().map(|id| format!("CS#{id}")).collect();
                format!(
                    "{scope}: vstorage stat does not show the space of {}: how much data would be re-replicated is unknown; check `vstorage list-services` / `vstorage stat` on the node",
                    ids.join(", ")
                )
            },
        });
    }
    out
}

fn ok_to_stop(run: &RunContext, host: &Host, ids: Array, options: Map) -> Result<Map, Failure> {
    let mut opts = OptionMap::new("vstorage::ok_to_stop", options);
    let action = opts.string("action")?.unwrap_or_else(|| "stop".into());
    opts.finish()?;
    if !matches!(action.as_str(), "stop" | "remove" | "maintenance") {
        return Err(Failure::bad_input(
            "action",
            format!("{action:?}: expected stop, remove or maintenance"),
        ));
    }
    let mut wanted = Vec::new();
    for id in ids {
        let id = id
            .as_int()
            .map_err(|_| Failure::bad_input("CS ids", "a list of CS ids (integers)"))?;
        wanted.push(validate::id("CS id", id)?);
    }
    if wanted.is_empty() {
        return Err(Failure::bad_input("CS ids", "no CS given"));
    }
    let s = stat(run, host)?;
    if let Some(missing) = wanted.iter().find(|id| !s.cs.iter().any(|c| c.id == **id)) {
        return Err(Failure::bad_input(
            "CS id",
            format!("CS#{missing} is not in the cluster"),
        ));
    }
    let rules = rules(run, &s, &wanted);
    let ok = rules.iter().all(|r| r.ok);
    let list: Array = rules
        .into_iter()
        .map(|r| {
            Dynamic::from_map(map([
                ("rule", r.rule.into()),
                ("ok", r.ok.into()),
                ("detail", r.detail.into()),
            ]))
        })
        .collect();
    Ok(map([
        ("ok", ok.into()),
        ("tiers_known", s.cs.iter().any(|c| c.tier.is_some()).into()),
        ("action", action.into()),
        ("rules", Dynamic::from_array(list)),
    ]))
}

/// `systemctl show` output (systemd: `Name=value` lines) → the value of one property.
fn show_value<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
}

/// The mount holding `path` on the host: the longest mount point that contains it.
pub fn mount_of(
    run: &RunContext,
    host: &Host,
    path: &str,
) -> Result<Option<(String, String, String)>, Failure> {
    Ok(super::disk::proc_mounts(run, host)?
        .into_iter()
        .filter(|(_, t, _)| t == "/" || path == t || path.starts_with(&format!("{t}/")))
        .max_by_key(|(_, t, _)| t.len()))
}

fn cs_location(run: &RunContext, host: &Host, id: i64) -> Result<Map, Failure> {
    let cluster = super::cluster_name(run)?;
    let id = validate::id("CS id", id)?;
    let unit = format!("vstorage-csd.{cluster}.{id}.service");
    let shown = probe(
        run,
        host,
        [
            "systemctl",
            "show",
            "-p",
            "MainPID",
            "-p",
            "LoadState",
            unit.as_str(),
        ],
    )?;
    let loaded = show_value(&shown.stdout, "LoadState") == Some("loaded");
    let pid = show_value(&shown.stdout, "MainPID")
        .and_then(|p| p.trim().parse::<u64>().ok())
        .filter(|p| *p > 0);
    // The running csd names its repository: `/usr/bin/csd -r DIR ...` (csd(1)); its
    // /proc/PID/cmdline is that argv, NUL-separated (proc(5)).
    let repo = match pid {
        Some(pid) => {
            let argv = read(run, host, ["cat", &format!("/proc/{pid}/cmdline")])?.stdout;
            let args: Vec<&str> = argv.split('\0').collect();
            args.windows(2)
                .find(|w| w[0] == "-r")
                .map(|w| w[1].to_string())
        }
        None => None,
    };
    let mut m = map([
        ("id", (id as i64).into()),
        ("unit", unit.into()),
        ("unit_loaded", loaded.into()),
        ("running", pid.is_some().into()),
        ("repo", repo.clone().map_or(Dynamic::UNIT, Dynamic::from)),
        ("mount", Dynamic::UNIT),
        ("device", Dynamic::UNIT),
        ("fstype", Dynamic::UNIT),
    ]);
    if let Some(repo) = repo {
        if let Some((source, target, fstype)) =
            mount_of(run, host, &repo)?.filter(|(s, t, _)| t != "/" && s.starts_with("/dev/"))
        {
            m.insert("mount".into(), target.into());
            m.insert("device".into(), source.into());
            m.insert("fstype".into(), fstype.into());
        }
    }
    Ok(m)
}

#[export_module]
pub mod api {
    use super::*;

    /// May these chunk servers stop? `#{ok, action, tiers_known, rules: [#{rule, ok,
    /// detail}]}`. Rules:
    /// `healthy` (the cluster is healthy, or unhealthy only because of these CSs),
    /// `one_node_at_a_time` (no other node has CSs in maintenance), `failure_domains` (per
    /// tier: hosts with active CSs left ≥ the replication norm) and `free_space` (per tier:
    /// room on the others for their data). Option `action`: stop (default), remove,
    /// maintenance.
    ///
    /// ```rhai
    /// let answer = vstorage::ok_to_stop(h, [1025, 1026], #{action: "maintenance"});
    /// for r in answer.rules { if !r.ok { warn(`${r.rule}: ${r.detail}`); } }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn ok_to_stop(ctx: NativeCallContext, host: Host, ids: Array) -> ApiResult<Map> {
        call(&ctx, |run| super::ok_to_stop(run, &host, ids, Map::new()))
    }

    /// `ok_to_stop` with options: `action` (stop, remove, maintenance).
    ///
    /// ```rhai
    /// let answer = vstorage::ok_to_stop(h, [1043], #{action: "remove"});
    /// ```
    #[rhai_fn(name = "ok_to_stop", return_raw)]
    pub fn ok_to_stop_with(
        ctx: NativeCallContext,
        host: Host,
        ids: Array,
        options: Map,
    ) -> ApiResult<Map> {
        call(&ctx, |run| super::ok_to_stop(run, &host, ids, options))
    }

    /// Where a chunk server of this host keeps its data, asked of the node: `#{id, unit,
    /// unit_loaded, running, repo, mount, device, fstype}`. `repo` comes from the running `csd -r
    /// DIR` process (its unit's MainPID), `mount`/`device`/`fstype` from /proc/mounts; each is `()`
    /// when the node cannot tell (the CS is not running, or its repository is on the root
    /// file system).
    ///
    /// ```rhai
    /// let loc = vstorage::cs_location(h, 1043);
    /// if loc.mount != () { log(`CS#1043 is ${loc.device} on ${loc.mount}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cs_location(ctx: NativeCallContext, host: Host, id: i64) -> ApiResult<Map> {
        call(&ctx, |run| super::cs_location(run, &host, id))
    }
}

#[export_module]
pub mod mds_api {
    use super::*;

    /// Whether removing an MDS is safe, by the rules `vstorage::rm_mds` enforces:
    /// `#{ok, reason}` (`reason` says which rule and the numbers; `""` when ok). An MDS not
    /// in the cluster is ok (nothing to remove).
    ///
    /// ```rhai
    /// let check = vstorage::mds_removal_check(h, 2);
    /// if !check.ok { refuse(check.reason); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn mds_removal_check(ctx: NativeCallContext, host: Host, id: i64) -> ApiResult<Map> {
        call(&ctx, |run| {
            let cluster = super::super::cluster_name(run)?;
            let id = validate::id("MDS id", id)?;
            let s = stat(run, &host)?;
            let reason = match check_mds_removal(&s, id, &cluster) {
                Ok(()) => String::new(),
                Err(f) => f.message,
            };
            Ok(map([
                ("ok", reason.is_empty().into()),
                ("reason", reason.into()),
            ]))
        })
    }
}

#[export_module]
pub mod disk_api {
    use super::*;

    /// The mount holding a path: `#{source, target, fstype}` from /proc/mounts (the longest
    /// mount point containing it), `()` when only the root file system does.
    ///
    /// ```rhai
    /// let m = disk::mount_of(h, "/vstorage/livelinux-sdd/data");
    /// if m != () { log(`${m.source} on ${m.target}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn mount_of(ctx: NativeCallContext, host: Host, path: &str) -> ApiResult<Dynamic> {
        call(&ctx, |run| {
            let path = validate::abs_path("path", path)?;
            Ok(
                match super::mount_of(run, &host, &path)?.filter(|(_, t, _)| t != "/") {
                    Some((source, target, fstype)) => Dynamic::from_map(map([
                        ("source", source.into()),
                        ("target", target.into()),
                        ("fstype", fstype.into()),
                    ])),
                    None => Dynamic::UNIT,
                },
            )
        })
    }
}

/// Refuses an MDS removal that would hurt the cluster: the master (hand it over first), a
/// removal that leaves fewer than 2 MDSs, or one after which the MDSs running are no longer
/// a majority of those left (the MDSs agree by majority: with 3 of which 1 is down,
/// removing a running one leaves 1 of 2, no majority).
pub fn check_mds_removal(s: &Stat, id: u64, cluster: &str) -> Result<(), Failure> {
    let Some(target) = s.mds.iter().find(|m| m.id == id) else {
        return Ok(());
    };
    if target.master {
        return Err(Failure::refused(format!(
            "MDS#{id} ({}) is the master: hand the role over first (restart vstorage-mdsd.{cluster}.{id}.service on its node so another MDS is elected, check `vstorage -c {cluster} stat`), then remove it",
            target.host
        )));
    }
    let left = s.mds.len() - 1;
    if left < 2 {
        return Err(Failure::refused(format!(
            "removing MDS#{id} leaves {left} MDS: keep at least 2 (3 recommended); add one first (add-mds)"
        )));
    }
    let running_left = s
        .mds
        .iter()
        .filter(|m| m.id != id && m.status == "avail")
        .count();
    if running_left * 2 <= left {
        return Err(Failure::refused(format!(
            "removing MDS#{id} leaves {running_left} running of {left} MDSs: no majority; bring the stopped MDSs back first"
        )));
    }
    Ok(())
}

/// Refuses an MDS addition after which, until the new MDS starts (make-mds starts
/// nothing), the MDSs running are no longer a majority: with 3 of which 1 is down, make-mds
/// makes 4 members of which 2 run. Remove the stopped ones first (remove-mds), then add.
pub fn check_mds_addition(s: &Stat) -> Result<(), Failure> {
    if s.mds.is_empty() {
        return Ok(());
    }
    let members = s.mds.len() + 1;
    let running = s.mds.iter().filter(|m| m.status == "avail").count();
    if running * 2 <= members {
        let stopped: Vec<String> = s
            .mds
            .iter()
            .filter(|m| m.status != "avail")
            .map(|m| m.id.to_string())
            .collect();
        return Err(Failure::refused(format!(
            "{running} of {members} MDSs would run until the new one starts: no majority; bring the stopped MDSs back or remove them first (remove-mds {}), then add one",
            stopped.join(", remove-mds ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::vstorage::MdsRow;

    fn cs(id: u64, host: &str, tier: Option<u64>) -> CsRow {
        CsRow {
            id,
            status: "active".into(),
            space: Some(100 * GB),
            free: Some(90 * GB),
            host: host.into(),
            tier,
            ..CsRow::default()
        }
    }

    fn healthy(cs: Vec<CsRow>) -> Stat {
        Stat {
            status: "healthy".into(),
            replicas_norm: Some(2),
            cs,
            ..Stat::default()
        }
    }

    fn details(rules: &[Rule], name: &str) -> Vec<(bool, String)> {
        rules
            .iter()
            .filter(|r| r.rule == name)
            .map(|r| (r.ok, r.detail.clone()))
            .collect()
    }

    #[test]
    fn failure_domains_count_the_hosts_of_the_same_tier_only() {
        // Tier 0 has three hosts; tier 1 two, one of which stops.
        let s = healthy(vec![
            cs(1, "x", Some(0)),
            cs(2, "y", Some(0)),
            cs(3, "z", Some(0)),
            cs(4, "a", Some(1)),
            cs(5, "b", Some(1)),
        ]);
        assert_eq!(
            details(&rules_for(&Map::new(), &s, &[4]), "failure_domains"),
            [(
                false,
                "tier 1: 1 hosts with active CSs afterwards (b) for 2 replicas".to_string()
            )]
        );
    }

    #[test]
    fn a_cs_without_a_tier_among_tiered_ones_is_scoped_tier_unknown() {
        let s = healthy(vec![
            cs(1, "x", Some(0)),
            cs(2, "y", None),
            cs(3, "z", None),
            cs(4, "w", None),
        ]);
        assert_eq!(
            details(&rules_for(&Map::new(), &s, &[2]), "failure_domains"),
            [(
                true,
                "tier unknown: 2 hosts with active CSs afterwards (w, z) for 2 replicas"
                    .to_string()
            )]
        );
        // No tier anywhere: stat prints none, and every CS counts.
        let s = healthy(vec![cs(2, "y", None), cs(3, "z", None)]);
        assert_eq!(
            details(&rules_for(&Map::new(), &s, &[2]), "failure_domains"),
            [(
                false,
                "all tiers (vstorage stat shows no tiers): 1 hosts with active CSs afterwards (z) for 2 replicas"
                    .to_string()
            )]
        );
    }

    #[test]
    fn a_stopping_cs_whose_space_stat_does_not_show_is_not_counted_as_empty() {
        // A row whose SPACE cell could not be read (a cell with a space, a `-`): its data
        // is unknown, not zero, so the free space rule cannot pass on it.
        let mut unknown = cs(3, "z", None);
        unknown.space = None;
        let s = healthy(vec![cs(1, "x", None), cs(2, "y", None), unknown]);
        let found = details(&rules_for(&Map::new(), &s, &[3]), "free_space");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(!found[0].0, "{found:?}");
        assert!(found[0].1.contains("CS#3"), "{found:?}");
        // Free unknown, space known: all of its space counts as data to re-replicate.
        let mut no_free = cs(3, "z", None);
        no_free.free = None;
        no_free.space = Some(500 * GB);
        let s = healthy(vec![cs(1, "x", None), cs(2, "y", None), no_free]);
        let found = details(&rules_for(&Map::new(), &s, &[3]), "free_space");
        assert_eq!(
            found,
            [(
                false,
                "all tiers (vstorage stat shows no tiers): 180 GB free on the other active CSs to re-replicate 500 GB"
                    .to_string()
            )]
        );
    }

    fn mdss(states: &[&str]) -> Stat {
        Stat {
            mds: states
                .iter()
                .enumerate()
                .map(|(i, status)| MdsRow {
                    id: i as u64 + 1,
                    status: status.to_string(),
                    master: i == 0,
                    host: format!("10.0.0.{}", i + 1),
                })
                .collect(),
            ..Stat::default()
        }
    }

    #[test]
    fn an_mds_comes_only_when_a_majority_runs_until_it_starts() {
        assert!(check_mds_addition(&mdss(&["avail", "avail", "avail"])).is_ok());
        assert_eq!(
            check_mds_addition(&mdss(&["avail", "avail", "offline"]))
                .unwrap_err()
                .message,
            "2 of 4 MDSs would run until the new one starts: no majority; bring the stopped MDSs back or remove them first (remove-mds 3), then add one"
        );
        assert!(
            check_mds_addition(&mdss(&["avail", "avail", "avail", "avail", "offline"])).is_ok()
        );
        assert!(check_mds_addition(&mdss(&[])).is_ok());
    }

    #[test]
    fn an_mds_goes_only_when_a_majority_of_the_rest_runs() {
        // Six MDSs, two down: removing a running one leaves 3 running of 5, a majority.
        let six = mdss(&["avail", "avail", "avail", "avail", "offline", "offline"]);
        assert!(check_mds_removal(&six, 4, "c").is_ok());
        // Three down: 2 running of 5 is none.
        let six = mdss(&["avail", "avail", "avail", "offline", "offline", "offline"]);
        assert_eq!(
            check_mds_removal(&six, 3, "c").unwrap_err().message,
            "removing MDS#3 leaves 2 running of 5 MDSs: no majority; bring the stopped MDSs back first"
        );
        // Half is no majority either: 2 running of 4.
        let five = mdss(&["avail", "avail", "avail", "offline", "offline"]);
        assert!(check_mds_removal(&five, 3, "c").is_err());
        // Removing a stopped one from 3 running of 4 leaves 3 of 3.
        let four = mdss(&["avail", "avail", "avail", "offline"]);
        assert!(check_mds_removal(&four, 4, "c").is_ok());
    }
}
