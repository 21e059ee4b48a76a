//! `vstorage stat` (both header variants, CS table mapped by header name), `get-attr` (both
//! `Path:` and `File:` variants), `get-config`, and the client cache's `read_cache_info`.
//!
//! vstorage is closed source; the formats are the documented samples of reference §2:
//! `stat` §2.3 (the VHI 4.7 "Viewing space occupied by data chunks" header, the Acronis
//! Storage 2 / VZ7 header with `License: KEY is STATE`, the VZ Storage admin guide's CS
//! table, the VHI 4.7 column list `… AVAIL … UNIQUE … HOST BUILD_VERSION`, the MDS column
//! list); `get-attr` §2.5 (operator output `Path: 'vstorage://…'`, PCS docs `File: '…'`);
//! `get-config` §2.4 (support KB: `key = value` lines); `read_cache_info` §2.8 (Parallels
//! KB 122639: `key : value` lines, empty without a cache).

use std::collections::BTreeMap;

use super::size::parse_bytes;
use super::ParseError;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stat {
    pub cluster: String,
    /// `healthy`, `degraded`, `failure`, `unknown`, `SMART warning`.
    pub status: String,
    pub space: Space,
    pub mds_total: Option<u64>,
    pub cs_total: Option<u64>,
    pub license: License,
    pub replicas_norm: Option<u64>,
    pub replicas_limit: Option<u64>,
    /// `[OK]` or the warning word of the Chunks line.
    pub chunks_status: String,
    /// Chunk state → count (`healthy`, `degraded`, `urgent`, ...).
    pub chunks: BTreeMap<String, u64>,
    pub mds: Vec<MdsRow>,
    pub cs: Vec<CsRow>,
    /// The clients table (nodes that mount the cluster), where `stat` prints one.
    pub clients: Vec<ClientRow>,
    /// The MDS this answer came from (`connected to MDS#N`), when printed.
    pub connected_mds: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Space {
    pub status: String,
    pub allocatable: Option<u64>,
    pub allocatable_total: Option<u64>,
    pub free: Option<u64>,
    pub total: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct License {
    pub key: String,
    pub status: String,
    pub capacity: String,
    pub expiration: String,
    pub used: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MdsRow {
    pub id: u64,
    pub status: String,
    pub master: bool,
    pub host: String,
}

/// A row of the clients table: `CLID LEASES READ WRITE RD_OPS WR_OPS FSYNCS IOLAT HOST`
/// (reference §2.3, columns documented, no text sample).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientRow {
    pub id: u64,
    pub host: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CsRow {
    pub id: u64,
    pub status: String,
    pub space: Option<u64>,
    /// FREE in the old table, AVAIL in the new one.
    pub free: Option<u64>,
    pub replicas: Option<u64>,
    pub unique: Option<u64>,
    pub host: String,
    pub build_version: String,
    /// Only when the table has a TIER column; the documented layouts do not.
    pub tier: Option<u64>,
}

fn after<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    line.trim_start().strip_prefix(prefix).map(str::trim)
}

/// `N of M` at the start of the text.
fn of(text: &str) -> (Option<u64>, Option<u64>) {
    let mut words = text.split_whitespace();
    let first = words.next().and_then(|w| w.parse().ok());
    let total = match words.next() {
        Some("of") => words
            .next()
            .and_then(|w| w.trim_end_matches(',').parse().ok()),
        _ => None,
    };
    (first, total)
}

fn chunk_counts(text: &str, chunks: &mut BTreeMap<String, u64>) {
    // "431 (100%) healthy,  0 (0%) degraded, ..."
    for part in text.split(',') {
        let words: Vec<&str> = part.split_whitespace().collect();
        if let [count, _pct, name, ..] = words.as_slice() {
            if let Ok(n) = count.parse() {
                chunks.insert(name.to_string(), n);
            }
        }
    }
}

pub fn stat(text: &str) -> Result<Stat, ParseError> {
    let mut stat = Stat::default();
    let mut lines = text.lines().peekable();
    let mut seen_cluster = false;
    while let Some(line) = lines.next() {
        if let Some(rest) = after(line, "connected to MDS#") {
            stat.connected_mds = rest.parse().ok();
        } else if let Some(rest) = after(line, "Cluster '") {
            let (name, status) = rest.split_once("': ").ok_or_else(|| {
                ParseError::new(
                    "vstorage stat",
                    format!("cannot read the cluster line {line:?}"),
                )
            })?;
            stat.cluster = name.to_string();
            stat.status = status.trim().to_string();
            seen_cluster = true;
        } else if let Some(rest) = after(line, "Space:") {
            let (status, rest) = bracketed(rest);
            stat.space.status = status;
            let words: Vec<&str> = rest
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|w| !w.is_empty())
                .collect();
            for (i, w) in words.iter().enumerate() {
                let value = |k: usize| words.get(i + k).and_then(|v| parse_bytes(v));
                match *w {
                    "allocatable" => {
                        stat.space.allocatable = value(1);
                        stat.space.allocatable_total = value(3);
                    }
                    "free" => {
                        stat.space.free = value(1);
                        stat.space.total = value(3);
                    }
                    _ => {}
                }
            }
        } else if let Some(rest) = after(line, "MDS nodes:") {
            stat.mds_total = of(rest).1;
        } else if let Some(rest) = after(line, "CS nodes:") {
            stat.cs_total = of(rest).1;
        } else if let Some(rest) = after(line, "License:") {
            stat.license = license(rest);
        } else if let Some(rest) = after(line, "Replication:") {
            let numbers: Vec<u64> = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|w| w.parse().ok())
                .collect();
            stat.replicas_norm = numbers.first().copied();
            stat.replicas_limit = numbers.get(1).copied();
        } else if let Some(rest) = after(line, "Chunks:") {
            let (status, rest) = bracketed(rest);
            stat.chunks_status = status;
            chunk_counts(rest, &mut stat.chunks);
            // Continuation lines are indented and start with a count.
            while let Some(next) = lines.peek() {
                if next.starts_with(' ')
                    && next.trim_start().starts_with(|c: char| c.is_ascii_digit())
                {
                    chunk_counts(next, &mut stat.chunks);
                    lines.next();
                } else {
                    break;
                }
            }
        } else if line.trim_start().starts_with("MDSID") {
            while let Some(row) = lines.next_if(|l| !l.trim().is_empty()) {
                stat.mds.push(mds_row(row)?);
            }
        } else if line.trim_start().starts_with("CLID") {
            while let Some(row) = lines.next_if(|l| !l.trim().is_empty()) {
                stat.clients.push(client_row(row)?);
            }
        } else if line.trim_start().starts_with("CSID") {
            let header: Vec<String> = line
                .split_whitespace()
                .map(|h| h.to_ascii_uppercase())
                .collect();
            while let Some(row) = lines.next_if(|l| !l.trim().is_empty()) {
                stat.cs.push(cs_row(&header, row)?);
            }
        }
    }
    if !seen_cluster {
        return Err(ParseError::new(
            "vstorage stat",
            "no `Cluster '<name>': <status>` line",
        ));
    }
    Ok(stat)
}

/// `[OK] rest` → (`OK`, rest).
fn bracketed(text: &str) -> (String, &str) {
    match text
        .trim_start()
        .strip_prefix('[')
        .and_then(|t| t.split_once(']'))
    {
        Some((status, rest)) => (status.to_string(), rest),
        None => (String::new(), text),
    }
}

fn license(text: &str) -> License {
    // Newer: "ACTIVE (expiration: 01/10/2021, capacity: 10TB, used: 20.3GB)"
    // Older: "PCSS.02444715.0000 is ACTIVE, 6399TB capacity"
    let mut lic = License::default();
    if let Some((key, rest)) = text.split_once(" is ") {
        lic.key = key.trim().to_string();
        let mut parts = rest.split(',');
        lic.status = parts.next().unwrap_or("").trim().to_string();
        lic.capacity = parts
            .next()
            .unwrap_or("")
            .trim()
            .trim_end_matches("capacity")
            .trim()
            .to_string();
    } else if let Some((status, rest)) = text.split_once('(') {
        lic.status = status.trim().to_string();
        for part in rest.trim_end_matches(')').split(',') {
            if let Some((k, v)) = part.split_once(':') {
                let v = v.trim().to_string();
                match k.trim() {
                    "expiration" => lic.expiration = v,
                    "capacity" => lic.capacity = v,
                    "used" => lic.used = v,
                    _ => {}
                }
            }
        }
    } else {
        lic.status = text.trim().to_string();
    }
    lic
}

fn mds_row(line: &str) -> Result<MdsRow, ParseError> {
    let mut tokens: Vec<&str> = line.split_whitespace().collect();
    let master = tokens.first() == Some(&"M");
    if master {
        tokens.remove(0);
    }
    let bad = || ParseError::new("vstorage stat", format!("cannot read the MDS row {line:?}"));
    let id = tokens
        .first()
        .and_then(|t| t.parse().ok())
        .ok_or_else(bad)?;
    Ok(MdsRow {
        id,
        status: tokens
            .get(1)
            .map(|t| split_status(t).0)
            .ok_or_else(bad)?
            .to_string(),
        master,
        // UPTIME holds a space ("19d 5h"), so HOST is taken from the end.
        host: tokens.last().ok_or_else(bad)?.to_string(),
    })
}

/// The rates hold no spaces in the documented columns, but HOST is taken from the end anyway
/// (as in the MDS table) so that a cell with a space cannot shift it.
fn client_row(line: &str) -> Result<ClientRow, ParseError> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let bad = || {
        ParseError::new(
            "vstorage stat",
            format!("cannot read the client row {line:?}"),
        )
    };
    Ok(ClientRow {
        id: tokens
            .first()
            .and_then(|t| t.parse().ok())
            .ok_or_else(bad)?,
        host: tokens
            .last()
            .filter(|_| tokens.len() > 1)
            .ok_or_else(bad)?
            .to_string(),
    })
}

/// A status word run into the right-aligned number after it (`maintenance1.82TB`: the word
/// is wider than its `%-8s` column and the number fills its own, reference §2.3) → the word
/// and the number; any other token as it is.
fn split_status(token: &str) -> (&str, Option<&str>) {
    match token.find(|c: char| !(c.is_ascii_alphabetic() || c == '_')) {
        Some(i) if i > 0 && token[i..].starts_with(|c: char| c.is_ascii_digit()) => {
            (&token[..i], Some(&token[i..]))
        }
        _ => (token, None),
    }
}

fn cs_row(header: &[String], line: &str) -> Result<CsRow, ParseError> {
    let mut tokens: Vec<&str> = line.split_whitespace().collect();
    if tokens.len() < header.len() {
        if let Some(i) = header.iter().position(|h| h == "STATUS") {
            if let Some((word, Some(number))) = tokens.get(i).map(|t| split_status(t)) {
                tokens.splice(i..=i, [word, number]);
            }
        }
    }
    let bad = || ParseError::new("vstorage stat", format!("cannot read the CS row {line:?}"));
    let get = |name: &str| -> Option<&str> {
        let i = header
            .iter()
            .position(|h| h == name || h.starts_with(&format!("{name}(")))?;
        if tokens.len() == header.len() {
            tokens.get(i).copied()
        } else {
            // A cell with a space, or a missing one: trust the first two and the host only.
            match name {
                "CSID" | "STATUS" => tokens.get(i).copied(),
                "HOST" if header.last().is_some_and(|h| h == "HOST") => tokens.last().copied(),
                _ => None,
            }
        }
    };
    let number = |name: &str| get(name).and_then(|v| v.parse().ok());
    Ok(CsRow {
        id: number("CSID").ok_or_else(bad)?,
        status: get("STATUS").ok_or_else(bad)?.to_string(),
        space: get("SPACE").and_then(parse_bytes),
        free: get("FREE").or_else(|| get("AVAIL")).and_then(parse_bytes),
        replicas: number("REPLICAS"),
        unique: number("UNIQUE"),
        host: get("HOST").unwrap_or_default().to_string(),
        build_version: get("BUILD_VERSION").unwrap_or_default().to_string(),
        tier: number("TIER"),
    })
}

/// The attributes of `vstorage get-attr`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attrs {
    pub path: String,
    pub directory: bool,
    /// Attribute name → value, as printed (`replicas` → `3:2`).
    pub values: BTreeMap<String, String>,
}

pub fn attrs(text: &str) -> Result<Attrs, ParseError> {
    let mut attrs = Attrs::default();
    let mut in_attributes = false;
    for line in text.lines() {
        let t = line.trim();
        if let Some(p) = t.strip_prefix("Path:").or_else(|| t.strip_prefix("File:")) {
            attrs.path = p.trim().trim_matches('\'').to_string();
        } else if t == "Attributes:" {
            in_attributes = true;
        } else if in_attributes && !t.is_empty() {
            match t.split_once('=') {
                Some((k, v)) => {
                    attrs
                        .values
                        .insert(k.trim().to_string(), v.trim().to_string());
                }
                None if t == "directory" => attrs.directory = true,
                None => {
                    attrs.values.insert(t.to_string(), String::new());
                }
            }
        }
    }
    if !in_attributes {
        return Err(ParseError::new(
            "vstorage get-attr",
            "no `Attributes:` line",
        ));
    }
    Ok(attrs)
}

/// `key = value` (or `key=value`) lines of `get-config`.
pub fn config(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with("connected to MDS#"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty() && !k.contains(' '))
        .collect()
}

/// `read_cache_info`: empty when no cache is configured, else `key : value` lines.
pub fn cache_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VHI: &str = "Cluster 'stor1': healthy\nSpace: [OK] allocatable 1.32TB of 1.44TB, free 1.39TB of 1.44TB\nMDS nodes: 3 of 3, epoch uptime: 19d 23h, cluster version: 128\nCS nodes:  3 of 3 (3 avail, 0 inactive, 0 offline), storage version: 128\nLicense: ACTIVE (expiration: 01/10/2021, capacity: 10TB, used: 20.3GB)\nReplication:  1 norm,  1 limit\nChunks: [OK] 323 (100%) healthy,  0 (0%) standby,  0 (0%) degraded,  0 (0%) urgent,\n             0 (0%) blocked,  0 (0%) pending,  0 (0%) offline,  0 (0%) replicating,\n             0 (0%) overcommitted,  0 (0%) deleting,  0 (0%) void\nFS:  20.3GB in 757 files, 757 inodes,  244 file maps,  323 chunks,  889 chunk replicas\nIO:       read     0B/s (  0ops/s), write     0B/s (  0ops/s)\n\n CSID STATUS      SPACE  AVAIL REPLICAS UNIQUE IOWAIT IOLAT(ms) QDEPTH HOST BUILD_VERSION\n  1025 active    105GB   88GB       40      0     0%   0/0   0.0 10.30.17.38 7.0.123-4\n";

    const VZ7: &str = "connected to MDS#1\nCluster 'stor1': healthy\nSpace: [OK] allocatable 200GB of 211GB, free 211GB of 211GB\nMDS nodes: 1 of 1, epoch uptime: 2h 21m\nCS nodes:  2 of 2 (2 avail, 0 inactive, 0 offline)\nLicense: PCSS.02444715.0000 is ACTIVE, 6399TB capacity\nReplication:  3 norm,  2 limit\nChunks: [OK] 431 (100%) healthy,  0 (0%) degraded,  0 (0%) urgent,\n             0 (0%) blocked,  0 (0%) offline,  0 (0%) replicating,\n             0 (0%) overcommitted,  0 (0%) deleting,  0 (0%) void\n\n MDSID STATUS   %CTIME   COMMITS   %CPU    MEM   UPTIME HOST\n M   1 avail      0.1%       1/s   0.4%   102m   19d 5h 10.30.17.38\n     2 offline    0.0%       0/s   0.2%    98m   19d 5h 10.30.18.40\n\n CSID  STATUS     SPACE   FREE REPLICAS IOWAIT IOLAT(ms) QDEPTH HOST\n 1025  active     105GB   88GB       40     0%       0/0    0.0 10.30.17.38\n 1026  maintenance 105GB   88GB       40     0%       0/0    0.0 10.30.18.40\n";

    #[test]
    fn clients_table_after_the_cs_table() {
        // The reference's reconstructed clients row (§2.3, columns documented, layout [INF]).
        let text = format!(
            "{VZ7}\n CLID   LEASES     READ    WRITE  RD_OPS  WR_OPS  FSYNCS IOLAT(ms) HOST\n 2089      0/1     0B/s  1.2MB/s   0ops/s 10ops/s  0ops/s      1/3 10.30.17.38\n"
        );
        let s = stat(&text).unwrap();
        assert_eq!(s.cs.len(), 2);
        assert_eq!(
            s.clients,
            [ClientRow {
                id: 2089,
                host: "10.30.17.38".into()
            }]
        );
        assert!(stat(VZ7).unwrap().clients.is_empty());
    }

    #[test]
    fn vz7_variant() {
        let s = stat(VZ7).unwrap();
        assert_eq!(s.connected_mds, Some(1));
        assert_eq!(
            (s.cluster.as_str(), s.status.as_str()),
            ("stor1", "healthy")
        );
        assert_eq!(s.space.allocatable, Some(200 << 30));
        assert_eq!(s.space.total, Some(211 << 30));
        assert_eq!((s.mds_total, s.cs_total), (Some(1), Some(2)));
        assert_eq!(s.license.key, "PCSS.02444715.0000");
        assert_eq!(
            (s.license.status.as_str(), s.license.capacity.as_str()),
            ("ACTIVE", "6399TB")
        );
        assert_eq!((s.replicas_norm, s.replicas_limit), (Some(3), Some(2)));
        assert_eq!(s.chunks["healthy"], 431);
        assert_eq!(s.chunks["void"], 0);
        assert_eq!(s.chunks.len(), 9);
        assert_eq!(s.mds.len(), 2);
        assert!(s.mds[0].master && !s.mds[1].master);
        assert_eq!(
            (s.mds[1].status.as_str(), s.mds[1].host.as_str()),
            ("offline", "10.30.18.40")
        );
        assert_eq!(s.cs.len(), 2);
        assert_eq!(s.cs[0].id, 1025);
        assert_eq!(s.cs[0].free, Some(88 << 30));
        assert_eq!(s.cs[0].replicas, Some(40));
        assert_eq!(s.cs[0].host, "10.30.17.38");
        assert_eq!(s.cs[0].tier, None);
        // A status word longer than its column pushes the rest right; still read.
        assert_eq!(
            (s.cs[1].status.as_str(), s.cs[1].host.as_str()),
            ("maintenance", "10.30.18.40")
        );
    }

    #[test]
    fn a_status_run_into_the_next_column_is_split() {
        let text = format!(
            "{VHI}  1026 maintenance1.82TB  936GB       40      0     0%   0/0   0.0 10.30.17.31 7.0.123-4\n"
        );
        let s = stat(&text).unwrap();
        let cs = &s.cs[1];
        assert_eq!(
            (cs.id, cs.status.as_str(), cs.host.as_str()),
            (1026, "maintenance", "10.30.17.31")
        );
        assert_eq!(
            (cs.space, cs.free),
            (parse_bytes("1.82TB"), Some(936 << 30))
        );
        assert_eq!(split_status("ill"), ("ill", None));
        assert_eq!(split_status("avail0.1%"), ("avail", Some("0.1%")));
        assert_eq!(split_status("1025"), ("1025", None));
    }

    #[test]
    fn vhi_variant_with_avail_unique_and_build_version() {
        let s = stat(VHI).unwrap();
        assert_eq!(s.connected_mds, None);
        assert_eq!(s.mds_total, Some(3));
        assert_eq!(s.license.status, "ACTIVE");
        assert_eq!(s.license.expiration, "01/10/2021");
        assert_eq!(s.license.capacity, "10TB");
        assert_eq!(s.license.used, "20.3GB");
        assert_eq!(s.chunks["standby"], 0);
        assert_eq!(s.chunks["pending"], 0);
        let cs = &s.cs[0];
        assert_eq!(
            (cs.free, cs.unique, cs.build_version.as_str()),
            (Some(88 << 30), Some(0), "7.0.123-4")
        );
    }

    #[test]
    fn not_stat_output_is_an_error() {
        assert!(stat("vstorage: command not found\n").is_err());
        assert!(stat("Cluster stor1 healthy").is_err());
    }

    #[test]
    fn get_attr_both_variants() {
        let vz7 = "connected to MDS#4\nPath: 'vstorage://vsto/'\nAttributes:\n  directory\n  client-ssd-cache=1\n  replicas=3:2\n  failure-domain=host\n  tier=0\n  chunk-size=268435456\n";
        let a = attrs(vz7).unwrap();
        assert_eq!(a.path, "vstorage://vsto/");
        assert!(a.directory);
        assert_eq!(a.values["replicas"], "3:2");
        assert_eq!(a.values["chunk-size"], "268435456");
        let pcs =
            "connected to MDS#1\nFile: '/vstorage/stor1'\nAttributes:\n  replicas=2:1\n  tier=1\n";
        let a = attrs(pcs).unwrap();
        assert_eq!(
            (a.path.as_str(), a.directory, a.values["tier"].as_str()),
            ("/vstorage/stor1", false, "1")
        );
        assert!(attrs("No such file or directory").is_err());
    }

    #[test]
    fn config_and_cache_info() {
        let c = config(
            "connected to MDS#1\nmds.wd.offline_tout_mnt = 180000\nmds.alloc.fill_margin=5\n",
        );
        assert_eq!(c["mds.wd.offline_tout_mnt"], "180000");
        assert_eq!(c["mds.alloc.fill_margin"], "5");
        assert!(cache_info("").is_empty());
        let info = cache_info("path : /mnt/ssd/vstorage-cache-for-cluster-stor1\nmain size (Mb) : 56000\nboot size (Mb) : 8000\nblock size (Kb) : 64\nchecksum : enabled\n");
        assert_eq!(info["main size (Mb)"], "56000");
        assert_eq!(info["path"], "/mnt/ssd/vstorage-cache-for-cluster-stor1");
    }
}
