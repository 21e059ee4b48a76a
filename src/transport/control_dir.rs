//! The local directory of the SSH control sockets (`/tmp/vzrun-UID`): ours alone, and
//! cleaned of what killed runs left.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

/// Where the control sockets live: short, since a socket path is limited to ~100 bytes.
/// `$VZRUN_CONTROL_DIR` overrides it (tests; hosts with a shared /tmp policy).
pub fn control_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VZRUN_CONTROL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    // SAFETY: getuid has no failure mode.
    let uid = unsafe { libc::getuid() };
    PathBuf::from(format!("/tmp/vzrun-{uid}"))
}

/// Makes the control directory ours alone: created 0700, and refused when it is a symlink or
/// belongs to another user (who could otherwise put a socket of theirs where we connect).
pub fn private_control_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    // SAFETY: getuid has no failure mode.
    let uid = unsafe { libc::getuid() };
    if !meta.file_type().is_dir() || meta.uid() != uid {
        return Err(std::io::Error::other(format!(
            "is not a directory owned by uid {uid}; remove it (another user may have made it)"
        )));
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Removes the per-connection directories (`.ssh-connection*`) that a killed vzrun left:
/// older than a minute and with no socket that still answers. A live run's are kept. Also
/// removes the sockets (and logs) of persisted masters that are gone (see
/// `transport::master`); a live persisted master, which answers, is kept.
pub fn clean_stale_control_dirs(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if super::master::is_socket_name(&name) {
            clean_persisted(dir, &name);
            continue;
        }
        // The log of a master that exited (or never started) and left no socket.
        if let Some(socket) = name.strip_suffix(".log") {
            if super::master::is_socket_name(socket) && !dir.join(socket).exists() {
                clean_persisted(dir, socket);
            }
            continue;
        }
        let is_ours = entry
            .file_name()
            .to_string_lossy()
            .starts_with(".ssh-connection");
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(60));
        if !is_ours || !old {
            continue;
        }
        let alive = std::fs::read_dir(&path)
            .map(|inner| {
                inner
                    .flatten()
                    .any(|s| std::os::unix::net::UnixStream::connect(s.path()).is_ok())
            })
            .unwrap_or(true);
        if !alive {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Removes a persisted master's socket and log when the master is gone: older than a minute,
/// not being launched now (its launch lock is free) and not answering.
fn clean_persisted(dir: &std::path::Path, name: &str) {
    let socket = dir.join(name);
    let log = dir.join(format!("{name}.log"));
    let old = std::fs::symlink_metadata(&socket)
        .or_else(|_| std::fs::symlink_metadata(&log))
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(60));
    if !old {
        return;
    }
    let Some(_launching) = super::master::LaunchLock::try_take(&dir.join(format!("{name}.lock")))
    else {
        return;
    };
    if std::os::unix::net::UnixStream::connect(&socket).is_err() {
        let _ = std::fs::remove_file(&socket);
        let _ = std::fs::remove_file(&log);
    }
}
