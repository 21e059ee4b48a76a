//! The few plain commands runbooks use on hosts (`true`, `uname`, `cat`, `test`, `sync`,
//! `pcompact`, ...), and the files the lab generates (/proc/meminfo, /proc/sys, /proc/mounts).
//! Formats: /proc files as proc(5), `uname` as coreutils, `ip -o addr show` as iproute2;
//! invented (no public sample): pcompact's output lines and the lab's own error texts.

use super::reply::Reply;
use super::state::{is_up, LabState};

/// The content of a generated file, or `None` for an ordinary one.
pub fn generated_file(state: &LabState, host: &str, path: &str) -> Option<String> {
    let h = state.host(host)?;
    if path == "/proc/meminfo" {
        let total = h.memory_mb * 1024;
        let used = state.used_mb(&h.name) * 1024 + 4 * 1024 * 1024;
        let free = total.saturating_sub(used);
        // Page cache is available memory but not free memory: a node full of cache has a
        // low MemFree and a high MemAvailable.
        let cached = h
            .ops
            .page_cache_mb
            .map_or(free / 4, |mb| (mb * 1024).min(free));
        return Some(format!(
            "MemTotal:       {total:>9} kB\nMemFree:        {:>9} kB\nMemAvailable:   {free:>9} kB\nBuffers:        {:>9} kB\nCached:         {cached:>9} kB\nSwapCached:             0 kB\nActive:         {used:>9} kB\nSwapTotal:        8388604 kB\nSwapFree:         8388604 kB\n",
            free - cached,
            65536
        ));
    }
    if path == "/proc/mounts" {
        // The root file system comes first, as on every real node: a directory that is on no
        // mount of its own is on it (a CS repository made on the system disk).
        let root = "/dev/mapper/virtuozzo-root / xfs rw,relatime 0 0\n".to_string();
        return Some(
            std::iter::once(root)
                .chain(
                    h.mounts.iter().map(|m| {
                        format!("{} {} {} rw,relatime 0 0\n", m.source, m.target, m.fstype)
                    }),
                )
                .collect(),
        );
    }
    if path == "/proc/swaps" {
        return Some(super::disk::proc_swaps(h));
    }
    if let Some(pid) = path
        .strip_prefix("/proc/")
        .and_then(|p| p.strip_suffix("/cmdline"))
    {
        return super::system::cmdline(state, host, pid);
    }
    if let Some(text) = super::network::generated_file(h, path) {
        return Some(text);
    }
    let info_dir = if h.ops.info_dir_compat {
        ".pstorage.info"
    } else {
        ".vstorage.info"
    };
    if path == format!("{}/{info_dir}/read_cache_info", state.mount_root()) {
        return Some(read_cache_info(state, host));
    }
    if let Some(key) = path.strip_prefix("/proc/sys/") {
        return h
            .sysctl
            .get(&key.replace('/', "."))
            .map(|v| format!("{v}\n"));
    }
    None
}

/// Empty without a client cache; with one (`cache=`, `cachesize=` in the options the
/// cluster was mounted with: fstab changes wait for the next mount), the KB's format.
/// `cachesize` is the whole cache file, split into a main and a boot cache: the KB's sample
/// (main 56000, boot 8000, Parallels KB 122639) adds up to the operator's `cachesize=64000`
/// (reference §2.8). The split rule is not published; the lab gives the boot cache an
/// eighth, as in that sample.
fn read_cache_info(state: &LabState, host: &str) -> String {
    let options = state
        .host(host)
        .and_then(|h| h.ops.client_options.clone())
        .unwrap_or_default();
    let option = |name: &str| {
        options
            .split(',')
            .find_map(|o| o.strip_prefix(name))
            .map(str::to_string)
    };
    match (option("cache="), option("cachesize=")) {
        (Some(path), Some(size)) => {
            // A size that is not a number is the mount's to refuse; shown whole here.
            let (main, boot) = match size.parse::<u64>() {
                Ok(total) => (format!("{}", total - total / 8), format!("{}", total / 8)),
                Err(_) => (size, "0".into()),
            };
            format!(
                "path : {path}\nmain size (Mb) : {main}\nboot size (Mb) : {boot}\nblock size (Kb) : 64\nchecksum : enabled\n"
            )
        }
        _ => String::new(),
    }
}

fn is_dir(state: &LabState, host: &str, path: &str) -> bool {
    let h = state.host(host).expect("known host");
    let prefix = format!("{}/", path.trim_end_matches('/'));
    // VE homes and shared files are on the cluster file system: seen only where it is mounted.
    let shared = state.on_shared_fs(host, &prefix)
        && (state.ves.iter().any(|v| v.home == path)
            || state.shared_files.keys().any(|f| f.starts_with(&prefix)));
    path == "/"
        || shared
        || super::names::shared_dir(state, host, path)
        || h.dirs.iter().any(|d| d == path || d.starts_with(&prefix))
        || h.files.keys().any(|f| f.starts_with(&prefix))
}

pub fn run(state: &mut LabState, host: &str, program: &str, args: &[String]) -> Option<Reply> {
    let reply = match program {
        "true" => Reply::ok(""),
        "false" => Reply::fail(1, ""),
        "sync" => Reply::ok(""),
        // Takes lab time: at speed 0 the virtual clock moves on (a poll's pause).
        "sleep" => match args.first().and_then(|a| a.parse::<f64>().ok()) {
            Some(secs) if secs >= 0.0 && args.len() == 1 => Reply::ok("").takes(secs),
            _ => Reply::fail(
                1,
                format!("sleep: invalid time interval '{}'\n", args.join(" ")),
            ),
        },
        "hostname" => {
            let h = state.host(host).expect("known host");
            Reply::ok(format!("{}\n", h.hostname.as_deref().unwrap_or(host)))
        }
        "uname" => {
            let out = match args.first().map(String::as_str) {
                Some("-n") => host.to_string(),
                Some("-r") => "3.10.0-1160.80.1.vz7.191.4".into(),
                Some("-a") => {
                    format!("Linux {host} 3.10.0-1160.80.1.vz7.191.4 #1 SMP x86_64 GNU/Linux")
                }
                _ => "Linux".into(),
            };
            Reply::ok(format!("{out}\n"))
        }
        "echo" => Reply::ok(format!("{}\n", args.join(" "))),
        "su" => super::pam::su(state, host, args),
        "cat" => {
            let mut out = String::new();
            for path in args {
                match generated_file(state, host, path)
                    .or_else(|| state.file(host, path).map(|f| f.content.clone()))
                {
                    Some(c) => out.push_str(&c),
                    None => {
                        return Some(Reply::fail(
                            1,
                            format!("cat: {path}: No such file or directory\n"),
                        ))
                    }
                }
            }
            Reply::ok(out)
        }
        "test" => {
            let ok = match args
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                ["-d", p] => is_dir(state, host, p),
                ["-f", p] => {
                    state.file(host, p).is_some() || generated_file(state, host, p).is_some()
                }
                ["-e", p] => is_dir(state, host, p) || state.file(host, p).is_some(),
                _ => return Some(Reply::fail(2, "test: unsupported expression in the lab\n")),
            };
            if ok {
                Reply::ok("")
            } else {
                Reply::fail(1, "")
            }
        }
        "rm" => {
            let recursive = args
                .iter()
                .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains(['r', 'R']));
            for p in args.iter().filter(|a| !a.starts_with('-')) {
                state.files_mut(host, p).remove(p);
                if recursive {
                    let below = format!("{}/", p.trim_end_matches('/'));
                    state
                        .files_mut(host, p)
                        .retain(|path, _| !path.starts_with(&below));
                    state
                        .host_mut(host)
                        .dirs
                        .retain(|d| d != p.trim_end_matches('/') && !d.starts_with(&below));
                }
            }
            Reply::ok("")
        }
        // `cp [-f] SRC DST` of a file: an existing DST keeps its mode (as its inode does).
        "cp" => {
            let paths: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
            let [src, dst] = paths.as_slice() else {
                return Some(Reply::fail(1, "cp: the lab copies one file to another\n"));
            };
            let Some(from) = state.file(host, src).cloned() else {
                return Some(Reply::fail(
                    1,
                    format!("cp: cannot stat '{src}': No such file or directory\n"),
                ));
            };
            let mode = state.file(host, dst).map_or(from.mode, |f| f.mode);
            state.files_mut(host, dst).insert(
                dst.to_string(),
                super::state::LabFile {
                    content: from.content,
                    mode,
                },
            );
            Reply::ok("")
        }
        "nproc" => Reply::ok(format!("{}\n", state.host(host)?.cpus)),
        // `pgrep -x NAME` (procps-ng): the pids, exit 0; none: exit 1. The lab knows one
        // process by name: a pcompact already running (`ops.pcompact_running`).
        "pgrep" => {
            let name = args.iter().rfind(|a| !a.starts_with('-'));
            if name.is_some_and(|n| n == "pcompact") && state.host(host)?.ops.pcompact_running {
                Reply::ok("4242\n")
            } else {
                Reply::fail(1, "")
            }
        }
        // Another pcompact holds the state file: this one compacts nothing, says so on
        // stderr and exits 0 all the same (OpenVZ/pcompact main.c).
        "pcompact" if state.host(host)?.ops.pcompact_running => Reply::fail(
            0,
            "Can't lock /var/run/pcompact.pid: Resource temporarily unavailable\n",
        ),
        "pcompact" => {
            let running: Vec<String> = state
                .ves
                .iter()
                .filter(|v| v.host.as_deref() == Some(host) && is_up(&v.status))
                .map(|v| v.uuid.clone())
                .collect();
            state.host_mut(host).pcompact_runs += 1;
            let quiet = args.iter().any(|a| a == "-q");
            let out: String = if quiet {
                String::new()
            } else {
                running
                    .iter()
                    .map(|u| format!("Inspect {u}\nRate: 3.1 (threshold=10)\n"))
                    .collect()
            };
            Reply::ok(out).takes(2.0 * running.len() as f64)
        }
        _ => return None,
    };
    Some(reply)
}
