//! `vstorage::` — the Virtuozzo Storage cluster: status, chunk servers, MDSs, attributes,
//! configuration, license, client cache. The cluster name comes from the inventory (or lab).

use std::time::Duration;

use rhai::plugin::*;
use rhai::{Array, Dynamic, Map};

use super::vstorage_map::{self as stat_map, license_map, node_map, resolve_nodes};
use super::OptionMap;
use super::{call, change, cluster_name, map, read, validate};
use crate::cluster::host::Host;
use crate::failure::{ApiResult, Failure};
use crate::parse::vstorage::{self as parse, Stat};
use crate::run::context::RunContext;
use crate::transport::cmd::Cmd;

/// Deadline of `rm-cs --wait` unless the runbook gives one: draining takes long.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

fn vs(cluster: &str, rest: &[&str]) -> Vec<String> {
    let mut argv = vec!["vstorage".to_string(), "-c".into(), cluster.to_string()];
    argv.extend(rest.iter().map(|s| s.to_string()));
    argv
}

pub fn stat(run: &RunContext, host: &Host) -> Result<Stat, Failure> {
    stat_and_text(run, host).map(|(stat, _)| stat)
}

/// `stat` with the text it came from, for the parsers of its other lines (IO rates).
fn stat_and_text(run: &RunContext, host: &Host) -> Result<(Stat, String), Failure> {
    let cluster = cluster_name(run)?;
    let out = read(run, host, vs(&cluster, &["stat"]))?;
    let stat = parse::stat(&out.stdout)
        .map_err(|e| Failure::failed(format!("on {}: {e}", host.name())))?;
    Ok((stat, out.stdout))
}

fn find_cs(s: &Stat, id: u64) -> Option<&parse::CsRow> {
    s.cs.iter().find(|c| c.id == id)
}

/// An MDS address, `IP` or `IP:port` (IPv4), checked: its IP, or bad input naming `addr`.
fn mds_address(addr: &str) -> Result<String, Failure> {
    let (ip, port) = match addr.split_once(':') {
        Some((ip, port)) => (ip, Some(port)),
        None => (addr, None),
    };
    let ok = ip.parse::<std::net::IpAddr>().is_ok()
        && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !ok {
        return Err(Failure::bad_input(
            "addr",
            format!("{addr:?}: expected IP or IP:port"),
        ));
    }
    Ok(ip.to_string())
}

/// The checked options of `make_cs`.
struct CsOptions {
    repo: String,
    tier: Option<u8>,
    journal: Option<String>,
    journal_size: Option<i64>,
}

/// Checks `make_cs`'s options (exit 2 naming the argument), running nothing.
fn cs_options(options: Map) -> Result<CsOptions, Failure> {
    let mut opts = OptionMap::new("vstorage::make_cs", options);
    let repo = opts
        .string("repo")?
        .ok_or_else(|| Failure::bad_input("vstorage::make_cs option", "`repo` is required"))?;
    let repo = validate::abs_path("repo", &repo)?;
    let tier = opts.int("tier")?.map(validate::tier).transpose()?;
    let journal = opts
        .string("journal")?
        .map(|j| validate::abs_path("journal", &j))
        .transpose()?;
    let journal_size = opts.int("journal_size")?;
    opts.finish()?;
    if journal.is_some() != journal_size.is_some() {
        return Err(Failure::bad_input(
            "journal",
            "give both `journal` and `journal_size` (MB), or neither",
        ));
    }
    if let Some(size) = journal_size {
        if size <= 0 {
            return Err(Failure::bad_input(
                "journal_size",
                format!("{size} MB is not positive"),
            ));
        }
    }
    Ok(CsOptions {
        repo,
        tier,
        journal,
        journal_size,
    })
}

pub fn make_cs(run: &RunContext, host: &Host, options: Map) -> Result<Dynamic, Failure> {
    let cluster = cluster_name(run)?;
    let CsOptions {
        repo,
        tier,
        journal,
        journal_size,
    } = cs_options(options)?;
    let before: Vec<u64> = stat(run, host)?.cs.iter().map(|c| c.id).collect();
    let mut argv = vs(&cluster, &["make-cs", "-r", &repo]);
    if let Some(t) = tier {
        argv.extend(["-t".into(), t.to_string()]);
    }
    if let (Some(j), Some(s)) = (journal, journal_size) {
        argv.extend(["-j".into(), j, "-s".into(), s.to_string()]);
    }
    let out = change(run, host, Cmd::change(argv))?;
    if out.planned {
        // The id is known only once the CS exists; a plan never guesses it.
        return Ok(Dynamic::UNIT);
    }
    let after = stat(run, host)?;
    let new: Vec<u64> = after
        .cs
        .iter()
        .map(|c| c.id)
        .filter(|id| !before.contains(id))
        .collect();
    match new.as_slice() {
        [id] => Ok((*id as i64).into()),
        _ => Err(Failure::failed(format!(
            "make-cs on {} finished, but the new CS id cannot be told from `stat` (new ids: {new:?})",
            host.name()
        ))),
    }
}

pub fn rm_cs(run: &RunContext, host: &Host, id: i64, options: Map) -> Result<bool, Failure> {
    let cluster = cluster_name(run)?;
    let id = validate::id("CS id", id)?;
    let mut opts = OptionMap::new("vstorage::rm_cs", options);
    let wait = opts.bool("wait")?.unwrap_or(false);
    let timeout = opts.seconds("timeout")?.unwrap_or(DRAIN_TIMEOUT);
    opts.finish()?;
    let current = stat(run, host)?;
    match find_cs(&current, id) {
        None => {
            return Ok(run
                .runner
                .unchanged(host, format!("CS#{id} is not in the cluster")))
        }
        Some(cs) if cs.status == "dropped" && !wait => {
            return Ok(run
                .runner
                .unchanged(host, format!("CS#{id} is already being removed")))
        }
        // Being removed already (a run cut short during its drain): vstorage refuses to
        // remove it again, so its drain is awaited in `stat`.
        Some(cs) if cs.status == "dropped" => return wait_removed(run, host, id, timeout),
        _ => {}
    }
    let id_text = id.to_string();
    let argv = if wait {
        vs(&cluster, &["rm-cs", "--wait", &id_text])
    } else {
        vs(&cluster, &["rm-cs", &id_text])
    };
    change(run, host, Cmd::change(argv).with_timeout(timeout))?;
    Ok(true)
}

/// Waits until CS `id`, already being removed (dropped), has left the cluster: polls `stat`
/// (1 s, doubling up to 10 s) until `timeout`, then fails as timed out. True once it is out.
/// The pauses are `sleep` on the host, not here: time passes where the drain runs, so the
/// lab's clock (virtual at speed 0) moves on with them as a real cluster's does.
fn wait_removed(
    run: &RunContext,
    host: &Host,
    id: u64,
    timeout: Duration,
) -> Result<bool, Failure> {
    if run.runner.is_plan() {
        run.runner.log(format!(
            "CS#{id} is already being removed: would wait up to {}s for its drain",
            timeout.as_secs()
        ));
        return Ok(false);
    }
    run.runner.log(format!(
        "CS#{id} is already being removed: waiting up to {}s for its drain (not removed again)",
        timeout.as_secs()
    ));
    // Lab time is counted in the pauses (see above), wall time here: the longer wins.
    let started = std::time::Instant::now();
    let mut slept = Duration::ZERO;
    let mut delay = Duration::from_secs(1);
    loop {
        if find_cs(&stat(run, host)?, id).is_none() {
            run.runner.log(format!("CS#{id} has left the cluster"));
            return Ok(true);
        }
        let elapsed = started.elapsed().max(slept);
        if elapsed >= timeout {
            return Err(Failure::timed_out(format!(
                "CS#{id}'s drain did not finish within {}s: it is still dropped, its data still moving off",
                timeout.as_secs()
            )));
        }
        let pause = delay.min(timeout - elapsed).as_secs().max(1);
        read(run, host, ["sleep".to_string(), pause.to_string()])?;
        slept += Duration::from_secs(pause);
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

pub fn cs_maintenance(run: &RunContext, host: &Host, id: i64, on: bool) -> Result<bool, Failure> {
    let cluster = cluster_name(run)?;
    let id = validate::id("CS id", id)?;
    let current = stat(run, host)?;
    let cs = find_cs(&current, id)
        .ok_or_else(|| Failure::failed(format!("CS#{id} is not in the cluster")))?;
    if (cs.status == "maintenance") == on {
        let state = if on {
            "in maintenance"
        } else {
            "not in maintenance"
        };
        return Ok(run
            .runner
            .unchanged(host, format!("CS#{id} is already {state}")));
    }
    let id_text = id.to_string();
    let argv = if on {
        vs(&cluster, &["rm-cs", "--maintenance", &id_text])
    } else {
        vs(&cluster, &["rm-cs", "--maintenance", "--revert", &id_text])
    };
    change(run, host, Cmd::change(argv))?;
    Ok(true)
}

pub fn get_attr(run: &RunContext, host: &Host, path: &str) -> Result<Map, Failure> {
    let path = validate::abs_path("path", path)?;
    let out = read(run, host, ["vstorage", "get-attr", path.as_str()])?;
    let attrs = parse::attrs(&out.stdout)
        .map_err(|e| Failure::failed(format!("on {}: {e}", host.name())))?;
    let mut m = map([
        ("path", attrs.path.into()),
        ("directory", attrs.directory.into()),
    ]);
    for (k, v) in attrs.values {
        let value: Dynamic = v
            .parse::<i64>()
            .map(Dynamic::from)
            .unwrap_or_else(|_| v.clone().into());
        m.insert(k.replace('-', "_").into(), value);
    }
    Ok(m)
}

pub fn set_attr(
    run: &RunContext,
    host: &Host,
    path: &str,
    attrs: Map,
    options: Map,
) -> Result<bool, Failure> {
    let path = validate::abs_path("path", path)?;
    let mut opts = OptionMap::new("vstorage::set_attr", options);
    let recursive = opts.bool("recursive")?.unwrap_or(false);
    opts.finish()?;
    if attrs.is_empty() {
        return Err(Failure::bad_input("attributes", "nothing to set"));
    }
    let mut pairs = Vec::new();
    for (key, value) in &attrs {
        let text = match key.as_str() {
            "replicas" => validate::replicas(&value.to_string())?,
            "tier" => validate::tier(
                value
                    .as_int()
                    .map_err(|_| Failure::bad_input("tier", format!("{value} is not a number")))?,
            )?
            .to_string(),
            "failure_domain" => {
                let v = value.to_string();
                if !matches!(v.as_str(), "disk" | "host" | "rack" | "row" | "room") {
                    return Err(Failure::bad_input(
                        "failure_domain",
                        format!("{v:?} is not disk, host, rack, row or room"),
                    ));
                }
                v
            }
            other => {
                return Err(Failure::bad_input(
                    "attribute",
                    format!("unknown attribute `{other}` (known: replicas, tier, failure_domain)"),
                ))
            }
        };
        pairs.push((key.replace('_', "-"), text));
    }
    if !recursive {
        let current = get_attr(run, host, &path)?;
        let same = pairs.iter().all(|(k, v)| {
            current
                .get(k.replace('-', "_").as_str())
                .is_some_and(|c| c.to_string() == *v)
        });
        if same {
            return Ok(run
                .runner
                .unchanged(host, format!("{path} already has these attributes")));
        }
    }
    let mut argv = vec!["vstorage".to_string(), "set-attr".into()];
    if recursive {
        argv.push("-R".into());
    }
    argv.push(path);
    argv.extend(pairs.into_iter().map(|(k, v)| format!("{k}={v}")));
    change(run, host, Cmd::change(argv))?;
    Ok(true)
}

#[export_module]
pub mod api {
    use super::*;

    /// The cluster's state from `vstorage stat`: `#{cluster, status, space, chunks, mds, cs,
    /// license, replicas_norm, replicas_limit}`. Each CS is `#{id status space free replicas
    /// unique host node tier build_version}`, each MDS `#{id status master host node}`
    /// (sizes in bytes; `tier` is `()` when the tool does not print it). `host` is what
    /// vstorage prints (often a storage-network address); `node` is the inventory host it
    /// is, matched by name, address, `storage_address`, `aliases` and the addresses the
    /// nodes report (asked once per run), or `()` when it is no node or several. To act
    /// on a node's CSs use `node_css`, which is sure or stops.
    /// `license` also carries `capacity_bytes`, `used_bytes`, `expires_unix` (end of the
    /// expiration day, UTC) and `seconds_left` (`()` when the line does not say); `io` holds
    /// the newer header's rates: `read_bytes_per_second`, `write_bytes_per_second`,
    /// `read_ops_per_second`, `write_ops_per_second`, `replication_read_bytes_per_second`,
    /// `replication_write_bytes_per_second`, `queue_depth_average`, `queue_depth_max` (each
    /// `()` when not printed).
    ///
    /// ```rhai
    /// let s = vstorage::stat(h);
    /// if s.status != "healthy" { warn(`cluster is ${s.status}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn stat(ctx: NativeCallContext, host: Host) -> ApiResult<Map> {
        call(&ctx, |run| {
            let (s, text) = stat_and_text(run, &host)?;
            let mut m = stat_map::stat_map(&s, &node_map(&resolve_nodes(run, &s, &[])));
            let io = crate::parse::vstorage_io::io_rates(&text);
            m.insert(
                "io".into(),
                Dynamic::from_map(crate::primitives::vstorage_figures::io_map(&io)),
            );
            Ok(m)
        })
    }

    /// `stat` with options: `strict_nodes` (default false; true stops the run, exit 2,
    /// when any HOST is no node of the inventory or several).
    ///
    /// ```rhai
    /// let s = vstorage::stat(h, #{strict_nodes: true});
    /// ```
    #[rhai_fn(name = "stat", return_raw)]
    pub fn stat_with(ctx: NativeCallContext, host: Host, options: Map) -> ApiResult<Map> {
        call(&ctx, |run| {
            let mut opts = OptionMap::new("vstorage::stat", options);
            let strict = opts.bool("strict_nodes")?.unwrap_or(false);
            opts.finish()?;
            let s = super::stat(run, &host)?;
            let resolution = resolve_nodes(run, &s, &[]);
            if strict {
                resolution.complete()?;
            }
            Ok(stat_map::stat_map(&s, &node_map(&resolution)))
        })
    }

    /// The chunk servers of node `h` (maps as in `stat`). Unlike filtering `stat` by
    /// `node`, it is sure of the answer or stops the run (exit 2): `h` is asked its own
    /// addresses, and a HOST that names `h` and another node, or (when `h` cannot answer)
    /// a HOST that is no node, is an inventory error naming that HOST and the fix.
    ///
    /// ```rhai
    /// for cs in vstorage::node_css(h) { log(`CS#${cs.id} ${cs.status}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn node_css(ctx: NativeCallContext, h: Host) -> ApiResult<Array> {
        call(&ctx, |run| stat_map::node_css(run, &h))
    }

    /// The client sessions of the cluster that are, or may be, `node`, read through `via`
    /// (a node that answers): `[#{clid, host, sure}]`. A node that does not answer over SSH
    /// but still has a session mounts the cluster and may still run VEs from it: it is not
    /// down. `node` is asked its own addresses; when it cannot answer, a session HOST that is
    /// no node of the inventory may be it (`sure: false`). Stops (exit 3) when the table
    /// lists no session at all.
    ///
    /// ```rhai
    /// if !vstorage::node_clients(host("msk-02"), host("msk-07")).is_empty() { refuse("msk-07 still mounts the cluster"); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn node_clients(ctx: NativeCallContext, via: Host, node: Host) -> ApiResult<Array> {
        call(&ctx, |run| stat_map::node_clients(run, &via, &node))
    }

    /// Creates a chunk server: `repo` (required), `tier` (0-3), `journal` + `journal_size`
    /// (MB). Returns the new CS id (`()` in a plan: it is known only once the CS exists).
    ///
    /// ```rhai
    /// let id = vstorage::make_cs(h, #{repo: "/vstorage/livelinux-cs1", tier: 1});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn make_cs(ctx: NativeCallContext, host: Host, options: Map) -> ApiResult<Dynamic> {
        call(&ctx, |run| super::make_cs(run, &host, options))
    }

    /// Checks the options `make_cs` would get, running nothing: a bad one stops the run
    /// (exit 2, naming it) as `make_cs` would, so a runbook can ask before its first change.
    ///
    /// ```rhai
    /// vstorage::check_cs_options(#{repo: "/vstorage/livelinux-sdd/data", tier: 1});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn check_cs_options(ctx: NativeCallContext, options: Map) -> ApiResult<bool> {
        call(&ctx, |_| super::cs_options(options).map(|_| true))
    }

    /// Removes a chunk server (its data is re-replicated elsewhere). A CS not in the cluster
    /// is no change.
    ///
    /// ```rhai
    /// vstorage::rm_cs(h, 1025);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn rm_cs(ctx: NativeCallContext, host: Host, id: i64) -> ApiResult<bool> {
        call(&ctx, |run| super::rm_cs(run, &host, id, Map::new()))
    }

    /// `rm_cs` with options: `wait` (block until drained: `rm-cs --wait`; a CS already being
    /// removed, which vstorage does not remove twice, is awaited in `stat`), `timeout`
    /// (seconds, default 6 h).
    ///
    /// ```rhai
    /// vstorage::rm_cs(h, 1025, #{wait: true, timeout: 7200});
    /// ```
    #[rhai_fn(name = "rm_cs", return_raw)]
    pub fn rm_cs_with(
        ctx: NativeCallContext,
        host: Host,
        id: i64,
        options: Map,
    ) -> ApiResult<bool> {
        call(&ctx, |run| super::rm_cs(run, &host, id, options))
    }

    /// Puts a CS into maintenance (`on`: `rm-cs --maintenance`) or takes it out (`--revert`).
    ///
    /// ```rhai
    /// vstorage::cs_maintenance(h, 1025, true);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cs_maintenance(
        ctx: NativeCallContext,
        host: Host,
        id: i64,
        on: bool,
    ) -> ApiResult<bool> {
        call(&ctx, |run| super::cs_maintenance(run, &host, id, on))
    }

    /// Creates a metadata server listening on `addr` (`IP` or `IP:port`), repository
    /// `/vstorage/<cluster>-mds`. Refused (exit 3) when the MDSs running would not be a
    /// majority until the new one starts (make-mds starts nothing).
    ///
    /// ```rhai
    /// vstorage::make_mds(h, "10.30.17.34:2510");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn make_mds(ctx: NativeCallContext, host: Host, addr: &str) -> ApiResult<bool> {
        call(&ctx, |run| {
            let cluster = cluster_name(run)?;
            let ip = super::mds_address(addr)?;
            run.runner.lock(&host)?;
            let current = super::stat(run, &host)?;
            if current.mds.iter().any(|m| m.host == ip) {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("an MDS already listens on {ip}")));
            }
            super::super::vstorage_safety::check_mds_addition(&current)?;
            let repo = format!("/vstorage/{cluster}-mds");
            change(
                run,
                &host,
                Cmd::change(vs(&cluster, &["make-mds", "-a", addr, "-r", &repo])),
            )?;
            Ok(true)
        })
    }

    /// Checks an MDS address as `make_mds` does (`IP` or `IP:port`; exit 2 naming `addr`
    /// otherwise), running nothing, and returns its IP.
    ///
    /// ```rhai
    /// let ip = vstorage::check_mds_address("10.30.17.34:2510"); // "10.30.17.34"
    /// ```
    #[rhai_fn(return_raw)]
    pub fn check_mds_address(ctx: NativeCallContext, addr: &str) -> ApiResult<String> {
        call(&ctx, |_| super::mds_address(addr))
    }

    /// Removes a metadata server; one not in the cluster is no change. Refused (exit 3) for
    /// the master (hand it over first), when fewer than 2 MDSs would remain, or when those
    /// running would no longer be a majority.
    ///
    /// ```rhai
    /// vstorage::rm_mds(h, 3);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn rm_mds(ctx: NativeCallContext, host: Host, id: i64) -> ApiResult<bool> {
        call(&ctx, |run| {
            let cluster = cluster_name(run)?;
            let id = validate::id("MDS id", id)?;
            // The lock before the count: a run waiting on it must count what the holder left.
            run.runner.lock(&host)?;
            let current = super::stat(run, &host)?;
            if !current.mds.iter().any(|m| m.id == id) {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("MDS#{id} is not in the cluster")));
            }
            super::super::vstorage_safety::check_mds_removal(&current, id, &cluster)?;
            change(
                run,
                &host,
                Cmd::change(vs(&cluster, &["rm-mds", &id.to_string()])),
            )?;
            Ok(true)
        })
    }

    /// The attributes of a path in the cluster: `#{path, directory, replicas, tier,
    /// failure_domain, chunk_size, ...}` (numbers as integers, dashes as underscores).
    ///
    /// ```rhai
    /// let a = vstorage::get_attr(h, ve.home);
    /// log(`${ve.name}: tier ${a.tier}, replicas ${a.replicas}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get_attr(ctx: NativeCallContext, host: Host, path: &str) -> ApiResult<Map> {
        call(&ctx, |run| super::get_attr(run, &host, path))
    }

    /// Sets attributes of a path: `replicas` (`"N"` or `"N:M"`, 1-15), `tier` (0-3),
    /// `failure_domain`. Attributes already in force are no change.
    ///
    /// ```rhai
    /// vstorage::set_attr(h, ve.home, #{replicas: "3:2", tier: 1});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn set_attr(ctx: NativeCallContext, host: Host, path: &str, attrs: Map) -> ApiResult<bool> {
        call(&ctx, |run| {
            super::set_attr(run, &host, path, attrs, Map::new())
        })
    }

    /// `set_attr` with options: `recursive` (`-R`, the path and everything below it).
    ///
    /// ```rhai
    /// vstorage::set_attr(h, "/vstorage/livelinux/private", #{tier: 2}, #{recursive: true});
    /// ```
    #[rhai_fn(name = "set_attr", return_raw)]
    pub fn set_attr_with(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
        attrs: Map,
        options: Map,
    ) -> ApiResult<bool> {
        call(&ctx, |run| {
            super::set_attr(run, &host, path, attrs, options)
        })
    }

    /// The cluster's configuration (`vstorage get-config`) as a map of strings.
    ///
    /// ```rhai
    /// let tout = vstorage::get_config(h)["mds.wd.offline_tout_mnt"];
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get_config(ctx: NativeCallContext, host: Host) -> ApiResult<Map> {
        call(&ctx, |run| {
            let cluster = cluster_name(run)?;
            let out = read(run, &host, vs(&cluster, &["get-config"]))?;
            Ok(parse::config(&out.stdout)
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect())
        })
    }

    /// Sets one configuration value (`set-config key=value`); an equal value is no change.
    ///
    /// ```rhai
    /// vstorage::set_config(h, "mds.wd.offline_tout_mnt", 25200000);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn set_config(
        ctx: NativeCallContext,
        host: Host,
        key: &str,
        value: Dynamic,
    ) -> ApiResult<bool> {
        call(&ctx, |run| {
            let cluster = cluster_name(run)?;
            let valid_key = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
            if !valid_key {
                return Err(Failure::bad_input(
                    "config key",
                    format!("{key:?}: letters, digits, '.', '_'"),
                ));
            }
            let value = value.to_string();
            if value.is_empty() || value.contains(char::is_whitespace) {
                return Err(Failure::bad_input(
                    "config value",
                    format!("{value:?} is empty or has spaces"),
                ));
            }
            let current = parse::config(&read(run, &host, vs(&cluster, &["get-config"]))?.stdout);
            if current.get(key) == Some(&value) {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("{key} is already {value}")));
            }
            change(
                run,
                &host,
                Cmd::change(vs(&cluster, &["set-config", &format!("{key}={value}")])),
            )?;
            Ok(true)
        })
    }

    /// The license from `vstorage stat`: `#{key, status, capacity, expiration, used}`.
    ///
    /// ```rhai
    /// let l = vstorage::license(h);
    /// if l.status != "ACTIVE" { warn(`license ${l.status}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn license(ctx: NativeCallContext, host: Host) -> ApiResult<Map> {
        call(&ctx, |run| {
            Ok(license_map(&super::stat(run, &host)?.license))
        })
    }

    /// The client read cache of this host (`read_cache_info` in the cluster mount's
    /// `.vstorage.info`, or `.pstorage.info` where only that name is there): `#{}` when no
    /// cache is configured, else `#{path, main_size_mb, boot_size_mb, block_size_kb,
    /// checksum}`. The main and boot caches share the cache file: together they are the
    /// mount's `cachesize` (fstab) or `-R` (vstorage-mount).
    ///
    /// ```rhai
    /// let c = vstorage::cache_info(h);
    /// if c.is_empty() { log("no client cache"); } else { log(`${c.main_size_mb + c.boot_size_mb} MB`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cache_info(ctx: NativeCallContext, host: Host) -> ApiResult<Map> {
        call(&ctx, |run| {
            let mount = crate::primitives::cluster_mount::cluster_mount(run)?;
            // `.vstorage.info`, or its compatibility name `.pstorage.info` (reference
            // §2.8: the kernel's PCS_INFO_DIR_COMPAT; the read-cache KB's own path).
            let mut text = String::new();
            for dir in [".vstorage.info", ".pstorage.info"] {
                let path = format!("{mount}/{dir}/read_cache_info");
                if let Some(t) = run.runner.read_file(&host, &path)? {
                    text = t;
                    break;
                }
            }
            let mut m = Map::new();
            for (k, v) in parse::cache_info(&text) {
                let key = match k.as_str() {
                    "main size (Mb)" => "main_size_mb",
                    "boot size (Mb)" => "boot_size_mb",
                    "block size (Kb)" => "block_size_kb",
                    other => other,
                };
                let value: Dynamic = v
                    .parse::<i64>()
                    .map(Dynamic::from)
                    .unwrap_or_else(|_| v.clone().into());
                m.insert(key.into(), value);
            }
            Ok(m)
        })
    }
}
