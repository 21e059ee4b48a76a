//! `disk::` — drives and mounts for chunk servers: identify, prepare, tune, mount.
//! A drive in use is never prepared or wiped: "in use" is asked of every source a real node
//! has (lsblk's tree, /proc/swaps, pvs, /proc/mounts), because each one alone misses cases
//! (an LVM volume is mounted as /dev/mapper/..., swap and RAID members are not mounted).

use rhai::plugin::*;
use rhai::Map;

use super::disk_usage::{parse_reserved_pct, usage, usage_map};
use super::{call, change, probe, read, validate};
use crate::cluster::host::Host;
use crate::failure::Failure;
use crate::run::context::RunContext;
use crate::transport::cmd::Cmd;

pub const PREPARE_DRIVE: &str = "/usr/libexec/vstorage/prepare_vstorage_drive";

/// The mounts of the host from /proc/mounts (proc(5): source, target with octal escapes,
/// fstype, options, 0, 0): (source, target, fstype).
pub fn proc_mounts(
    run: &RunContext,
    host: &Host,
) -> Result<Vec<(String, String, String)>, Failure> {
    let text = run
        .runner
        .read_file(host, "/proc/mounts")?
        .unwrap_or_default();
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((
                f.next()?.to_string(),
                crate::edit::fstab::unescape(f.next()?),
                f.next()?.to_string(),
            ))
        })
        .collect())
}

/// The mounts of the host: (source, target).
pub(crate) fn mounts(run: &RunContext, host: &Host) -> Result<Vec<(String, String)>, Failure> {
    Ok(proc_mounts(run, host)?
        .into_iter()
        .map(|(source, target, _)| (source, target))
        .collect())
}

/// Removes a path with `argv` unless `test FLAG path` says it is not there (no change).
fn remove_path(
    run: &RunContext,
    host: &Host,
    path: &str,
    test_flag: &str,
    argv: &[&str],
) -> Result<bool, Failure> {
    let path = validate::abs_path("path", path)?;
    if probe(run, host, ["test", test_flag, path.as_str()])?.code != 0 {
        return Ok(run.runner.unchanged(host, format!("{path} does not exist")));
    }
    let mut full: Vec<&str> = argv.to_vec();
    full.push(&path);
    change(run, host, Cmd::change(full))?;
    Ok(true)
}

/// `/dev/sdd1: UUID="..." TYPE="ext4"` → `#{uuid, type}` (tag names in lower case): blkid's
/// default output (util-linux blkid(8), `DEVICE: TAG="value" …`).
pub fn parse_blkid(text: &str) -> Map {
    let mut m = Map::new();
    let Some((_, tags)) = text.lines().next().and_then(|l| l.split_once(": ")) else {
        return m;
    };
    let mut rest = tags.trim();
    while let Some((key, after)) = rest.split_once("=\"") {
        let Some((value, next)) = after.split_once('"') else {
            break;
        };
        m.insert(key.trim().to_lowercase().into(), value.to_string().into());
        rest = next.trim_start();
    }
    m
}

#[export_module]
pub mod api {
    use super::*;

    /// What blkid knows of a device: `#{uuid, type, ...}`, or `#{}` when it has no file system.
    ///
    /// ```rhai
    /// let uuid = disk::blkid(h, "/dev/sdd1").uuid;
    /// ```
    #[rhai_fn(return_raw)]
    pub fn blkid(ctx: NativeCallContext, host: Host, dev: &str) -> Result<Map, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let dev = validate::device(dev)?;
            let out = probe(run, &host, ["blkid", dev.as_str()])?;
            match out.code {
                0 => Ok(parse_blkid(&out.stdout)),
                2 => Ok(Map::new()),
                _ => Err(crate::run::runner::command_failure(
                    &host,
                    &Cmd::read(["blkid", dev.as_str()]),
                    &out,
                )),
            }
        })
    }

    /// Why a drive is in use: `#{device, in_use, uses: [#{kind, reason}]}`; `kind` is
    /// mounted (itself or any partition or volume on it, by any name), swap, lvm (a physical
    /// volume), raid (a member), holder (something built on it), partition or signature (a
    /// file system or partition table). From lsblk, /proc/swaps, pvs and /proc/mounts.
    ///
    /// ```rhai
    /// let u = disk::usage(h, "/dev/sdd");
    /// if u.in_use { refuse(`/dev/sdd: ${u.uses.map(|x| x.reason)}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn usage(ctx: NativeCallContext, host: Host, dev: &str) -> Result<Map, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let dev = validate::device(dev)?;
            Ok(usage_map(&dev, &super::usage(run, &host, &dev)?))
        })
    }

    /// Erases the signatures of a disk or partition (`wipefs -a`). Refused (exit 3) while
    /// anything on it is mounted, swap, an LVM volume, a RAID member or holds something;
    /// a device with no signature is no change.
    ///
    /// ```rhai
    /// disk::wipe(h, "/dev/sdd1");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn wipe(ctx: NativeCallContext, host: Host, dev: &str) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let dev = validate::device(dev)?;
            let uses = super::usage(run, &host, &dev)?;
            let busy: Vec<&str> = uses
                .iter()
                .filter(|u| !matches!(u.kind, "signature" | "partition"))
                .map(|u| u.reason.as_str())
                .collect();
            if !busy.is_empty() {
                return Err(Failure::refused(format!(
                    "{dev} on {} is in use: {}; nothing was wiped",
                    host.name(),
                    busy.join("; ")
                )));
            }
            if !uses.iter().any(|u| u.kind == "signature")
                && probe(run, &host, ["blkid", dev.as_str()])?.code == 2
            {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("{dev} has no signature")));
            }
            change(run, &host, Cmd::change(["wipefs", "-a", dev.as_str()]))?;
            Ok(true)
        })
    }

    /// The reserved-blocks percentage of an ext4 file system (from `tune2fs -l`), rounded
    /// up: a file system that reserves any block (`tune2fs -m 0.4`) is never 0.
    ///
    /// ```rhai
    /// if disk::reserved_pct(h, "/dev/sdd1") > 0 { disk::reserved_blocks(h, "/dev/sdd1", 0); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn reserved_pct(
        ctx: NativeCallContext,
        host: Host,
        dev: &str,
    ) -> Result<i64, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let dev = validate::device(dev)?;
            let out = read(run, &host, ["tune2fs", "-l", dev.as_str()])?;
            parse_reserved_pct(&out.stdout).ok_or_else(|| {
                Failure::failed(format!(
                    "tune2fs -l {dev} on {} shows no block counts",
                    host.name()
                ))
            })
        })
    }

    /// Removes an empty directory (`rmdir`); one that does not exist is no change.
    ///
    /// ```rhai
    /// disk::rmdir(h, "/vstorage/livelinux-sdd");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn rmdir(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| remove_path(run, &host, path, "-d", &["rmdir"]))
    }

    /// Removes a file (`rm -f`); one that does not exist is no change.
    ///
    /// ```rhai
    /// disk::remove_file(h, "/var/lib/vzrun/cs-sdd.id");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn remove_file(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            remove_path(run, &host, path, "-e", &["rm", "-f"])
        })
    }

    /// Partitions and formats a drive for vstorage (`prepare_vstorage_drive DEV --noboot`).
    /// Refused (exit 3) when the drive is in use (see `disk::usage`): mounted, swap, an LVM
    /// physical volume, a RAID member, or holding any partition or signature.
    ///
    /// ```rhai
    /// disk::prepare_vstorage_drive(h, "/dev/sdd");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn prepare_vstorage_drive(
        ctx: NativeCallContext,
        host: Host,
        dev: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let dev = validate::device(dev)?;
            let uses = super::usage(run, &host, &dev)?;
            if !uses.is_empty() {
                let reasons: Vec<&str> = uses.iter().map(|u| u.reason.as_str()).collect();
                return Err(Failure::refused(format!(
                    "{dev} is in use on {}: {}; nothing was changed. Choose an empty drive, or free this one yourself once you are sure it holds nothing needed",
                    host.name(),
                    reasons.join("; ")
                )));
            }
            change(
                run,
                &host,
                Cmd::change([PREPARE_DRIVE, dev.as_str(), "--noboot"])
                    .with_timeout(std::time::Duration::from_secs(1800)),
            )?;
            Ok(true)
        })
    }

    /// Sets the reserved-blocks percentage of an ext4 file system (`tune2fs -m`); 0 for CS
    /// drives.
    ///
    /// ```rhai
    /// disk::reserved_blocks(h, "/dev/sdd1", 0);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn reserved_blocks(
        ctx: NativeCallContext,
        host: Host,
        dev: &str,
        pct: i64,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let dev = validate::device(dev)?;
            if !(0..=50).contains(&pct) {
                return Err(Failure::bad_input("pct", format!("{pct} is outside 0-50")));
            }
            let listed = probe(run, &host, ["tune2fs", "-l", dev.as_str()])?;
            if listed.code == 0 && parse_reserved_pct(&listed.stdout) == Some(pct) {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("{dev} already reserves {pct}%")));
            }
            change(
                run,
                &host,
                Cmd::change(["tune2fs".to_string(), "-m".into(), pct.to_string(), dev]),
            )?;
            Ok(true)
        })
    }

    /// Mounts a mount point listed in /etc/fstab, unless mounted.
    ///
    /// ```rhai
    /// disk::mount(h, "/vstorage/livelinux-cs3");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn mount(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let path = validate::abs_path("path", path)?;
            if mounts(run, &host)?.iter().any(|(_, t)| *t == path) {
                return Ok(run
                    .runner
                    .unchanged(&host, format!("{path} is already mounted")));
            }
            change(run, &host, Cmd::change(["mount", path.as_str()]))?;
            Ok(true)
        })
    }

    /// Unmounts a mount point, unless not mounted.
    ///
    /// ```rhai
    /// disk::umount(h, "/vstorage/livelinux-cs3");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn umount(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| umount_with(run, &host, path, false))
    }

    /// `umount` with options: `lazy` (`umount -l`: detach now, clean up when no longer busy).
    ///
    /// ```rhai
    /// disk::umount(h, "/vstorage/livelinux", #{lazy: true});
    /// ```
    #[rhai_fn(name = "umount", return_raw)]
    pub fn umount_opts(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
        options: Map,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let mut opts = crate::primitives::OptionMap::new("disk::umount", options);
            let lazy = opts.bool("lazy")?.unwrap_or(false);
            opts.finish()?;
            umount_with(run, &host, path, lazy)
        })
    }

    /// Creates a directory (and its parents), unless it exists.
    ///
    /// ```rhai
    /// disk::mkdir(h, "/vstorage/livelinux-cs3");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn mkdir(
        ctx: NativeCallContext,
        host: Host,
        path: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let path = validate::abs_path("path", path)?;
            if probe(run, &host, ["test", "-d", path.as_str()])?.code == 0 {
                return Ok(run.runner.unchanged(&host, format!("{path} exists")));
            }
            change(run, &host, Cmd::change(["mkdir", "-p", path.as_str()]))?;
            Ok(true)
        })
    }
}

fn umount_with(run: &RunContext, host: &Host, path: &str, lazy: bool) -> Result<bool, Failure> {
    let path = validate::abs_path("path", path)?;
    if !mounts(run, host)?.iter().any(|(_, t)| *t == path) {
        return Ok(run.runner.unchanged(host, format!("{path} is not mounted")));
    }
    let mut argv = vec!["umount"];
    if lazy {
        argv.push("-l");
    }
    argv.push(&path);
    change(run, host, Cmd::change(argv))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn blkid_tags() {
        let m = super::parse_blkid(
            "/dev/sdd1: UUID=\"0b6e-11\" BLOCK_SIZE=\"4096\" TYPE=\"ext4\" PARTUUID=\"x-01\"\n",
        );
        assert_eq!(m["uuid"].to_string(), "0b6e-11");
        assert_eq!(m["type"].to_string(), "ext4");
        assert_eq!(m["partuuid"].to_string(), "x-01");
        assert!(super::parse_blkid("").is_empty());
    }
}
