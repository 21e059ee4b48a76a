//! `mem::` — memory: /proc/meminfo, and dropping the page cache.

use rhai::plugin::*;
use rhai::Map;

use super::{call, change};
use crate::cluster::host::Host;
use crate::failure::Failure;
use crate::transport::cmd::Cmd;

/// `MemTotal:  263801028 kB` → (`MemTotal`, 263801028); values in kB (the format of
/// proc(5), /proc/meminfo).
pub fn parse_meminfo(text: &str) -> Vec<(String, i64)> {
    text.lines()
        .filter_map(|line| {
            let (key, rest) = line.split_once(':')?;
            let value = rest.split_whitespace().next()?.parse().ok()?;
            Some((key.trim().to_string(), value))
        })
        .collect()
}

#[export_module]
pub mod api {
    use super::*;

    /// /proc/meminfo as a map of kB values: `MemTotal`, `MemFree`, `MemAvailable`, `Cached`,
    /// `SwapTotal`, ...
    ///
    /// ```rhai
    /// let m = mem::info(h);
    /// let free_pct = m.MemAvailable * 100 / m.MemTotal;
    /// ```
    #[rhai_fn(return_raw)]
    pub fn info(ctx: NativeCallContext, host: Host) -> Result<Map, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let text = run
                .runner
                .read_file(&host, "/proc/meminfo")?
                .ok_or_else(|| {
                    Failure::failed(format!("/proc/meminfo is missing on {}", host.name()))
                })?;
            Ok(parse_meminfo(&text)
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect())
        })
    }

    /// Drops the page cache, and the dentry and inode caches: `sync`, then 3 into
    /// /proc/sys/vm/drop_caches (`sysctl -w vm.drop_caches=3`).
    ///
    /// ```rhai
    /// mem::drop_caches(h);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn drop_caches(ctx: NativeCallContext, host: Host) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            change(run, &host, Cmd::change(["sync"]))?;
            change(
                run,
                &host,
                Cmd::change(["sysctl", "-w", "vm.drop_caches=3"]),
            )?;
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn meminfo() {
        let m = super::parse_meminfo(
            "MemTotal:       263801028 kB\nMemFree:         1024 kB\nHugePages_Total:       0\n",
        );
        assert_eq!(m[0], ("MemTotal".into(), 263801028));
        assert_eq!(m[2], ("HugePages_Total".into(), 0));
    }
}
