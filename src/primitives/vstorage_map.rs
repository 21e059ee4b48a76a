//! `vstorage stat` as Rhai maps: every CS and MDS with the inventory node its HOST is (see
//! `nodes`), and a node's own CSs for runbooks that act on them.

use rhai::{Array, Dynamic, Map};

use super::{map, nodes, opt_int, vstorage::stat};
use crate::cluster::host::Host;
use crate::failure::Failure;
use crate::parse::vstorage::{self as parse, Stat};
use crate::run::context::RunContext;

/// What each CS and MDS HOST of `s` matched (see `nodes`), asking `ask_first` in any case.
pub(crate) fn resolve_nodes(run: &RunContext, s: &Stat, ask_first: &[&Host]) -> nodes::Resolution {
    let values: Vec<(String, String)> =
        s.cs.iter()
            .map(|c| (format!("CS#{}", c.id), c.host.clone()))
            .chain(
                s.mds
                    .iter()
                    .map(|m| (format!("MDS#{}", m.id), m.host.clone())),
            )
            .collect();
    nodes::resolve(run, &values, ask_first)
}

pub(crate) fn node_map(resolution: &nodes::Resolution) -> Map {
    resolution
        .found()
        .into_iter()
        .map(|(host, node)| (host.into(), node.into()))
        .collect()
}

fn node_of(nodes: &Map, host: &str) -> Dynamic {
    nodes.get(host).cloned().unwrap_or(Dynamic::UNIT)
}

pub(super) fn stat_map(s: &Stat, nodes: &Map) -> Map {
    let cs: Array =
        s.cs.iter()
            .map(|c| {
                Dynamic::from_map(map([
                    ("id", (c.id as i64).into()),
                    ("status", c.status.clone().into()),
                    ("space", opt_int(c.space)),
                    ("free", opt_int(c.free)),
                    ("replicas", opt_int(c.replicas)),
                    ("unique", opt_int(c.unique)),
                    ("host", c.host.clone().into()),
                    ("node", node_of(nodes, &c.host)),
                    ("tier", opt_int(c.tier)),
                    ("build_version", c.build_version.clone().into()),
                ]))
            })
            .collect();
    let mds: Array = s
        .mds
        .iter()
        .map(|m| {
            Dynamic::from_map(map([
                ("id", (m.id as i64).into()),
                ("status", m.status.clone().into()),
                ("master", m.master.into()),
                ("host", m.host.clone().into()),
                ("node", node_of(nodes, &m.host)),
            ]))
        })
        .collect();
    let chunks: Map = s
        .chunks
        .iter()
        .map(|(k, v)| (k.as_str().into(), (*v as i64).into()))
        .collect();
    map([
        ("cluster", s.cluster.clone().into()),
        ("status", s.status.clone().into()),
        (
            "space",
            Dynamic::from_map(map([
                ("status", s.space.status.clone().into()),
                ("allocatable", opt_int(s.space.allocatable)),
                ("allocatable_total", opt_int(s.space.allocatable_total)),
                ("free", opt_int(s.space.free)),
                ("total", opt_int(s.space.total)),
            ])),
        ),
        ("replicas_norm", opt_int(s.replicas_norm)),
        ("replicas_limit", opt_int(s.replicas_limit)),
        ("chunks_status", s.chunks_status.clone().into()),
        ("chunks", Dynamic::from_map(chunks)),
        ("mds", Dynamic::from_array(mds)),
        ("cs", Dynamic::from_array(cs)),
        ("license", Dynamic::from_map(license_map(&s.license))),
    ])
}

pub(super) fn license_map(l: &parse::License) -> Map {
    let mut m = map([
        ("key", l.key.clone().into()),
        ("status", l.status.clone().into()),
        ("capacity", l.capacity.clone().into()),
        ("expiration", l.expiration.clone().into()),
        ("used", l.used.clone().into()),
    ]);
    m.extend(super::vstorage_figures::license_figures(l));
    m
}

/// The CSs of node `h`, sure of the answer or an inventory error (`node_css` in Rhai).
pub(super) fn node_css(run: &RunContext, h: &Host) -> Result<Array, Failure> {
    let s = stat(run, h)?;
    let resolution = resolve_nodes(run, &s, &[h]);
    resolution.complete_for(h.name())?;
    let mine = node_map(&resolution);
    let all = stat_map(&s, &mine);
    let css = all.get("cs").cloned().map(Dynamic::cast::<Array>);
    Ok(css
        .unwrap_or_default()
        .into_iter()
        .filter(|cs| {
            cs.read_lock::<Map>()
                .and_then(|m| m.get("node").map(|n| n.to_string() == h.name()))
                .unwrap_or(false)
        })
        .collect())
}

/// The client sessions of the cluster (`vstorage stat`'s clients table, read on `via`) that
/// are, or may be, node `node` (`node_clients` in Rhai): `#{clid, host, sure}`. A session
/// is a node that still mounts the cluster, so it may still run VEs from it, whether or not
/// it answers over SSH. `node` is asked its own addresses; when it cannot answer, a HOST that
/// matches no node may be it (`sure: false`). A table with no session at all, not even
/// `via`'s own, cannot tell and stops the run (exit 3).
pub(super) fn node_clients(run: &RunContext, via: &Host, node: &Host) -> Result<Array, Failure> {
    let s = stat(run, via)?;
    if s.clients.is_empty() {
        return Err(Failure::refused(format!(
            "vstorage stat on {} lists no client session, not even its own: whether {} still \
             uses the cluster cannot be told",
            via.name(),
            node.name()
        )));
    }
    let values: Vec<(String, String)> = s
        .clients
        .iter()
        .map(|c| (c.id.to_string(), c.host.clone()))
        .collect();
    let resolution = nodes::resolve(run, &values, &[node]);
    Ok(resolution
        .rows_of(node.name())
        .into_iter()
        .map(|(clid, host, sure)| {
            Dynamic::from_map(map([
                ("clid", clid.parse::<i64>().unwrap_or_default().into()),
                ("host", host.to_string().into()),
                ("sure", sure.into()),
            ]))
        })
        .collect())
}
