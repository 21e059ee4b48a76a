//! vzrun's state directory: the journals (`runs/`) and the local locks (`locks/`) live there,
//! both private to the operator.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// `$VZRUN_STATE_DIR`, else `$XDG_STATE_HOME/vzrun`, else `~/.local/state/vzrun`.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VZRUN_STATE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(dir).join("vzrun");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    PathBuf::from(home).join(".local/state/vzrun")
}

/// Makes `dir` (vzrun's own: `runs`, `locks`) a directory only its owner may enter (0700):
/// journals hold what runs changed. The state directory above it is created 0700 when
/// missing, and left as the operator made it otherwise (`VZRUN_STATE_DIR` may be shared).
pub fn private_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(0o700)))
        .with_context(|| format!("cannot create the private directory {}", dir.display()))
}

/// Creates the state directory 0700 when it is missing.
pub fn ensure_state_dir() -> Result<()> {
    let dir = state_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create the state directory {}", dir.display()))
}
