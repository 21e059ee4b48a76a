//! Finding runbooks: the built-in catalog first, then the directories in `$VZRUN_PATH`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::{ImportDir, Runbook};
use crate::embedded::RUNBOOKS;

#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error("unknown runbook or command `{0}`; `vzrun list` shows the runbooks")]
    Unknown(String),
    #[error("cannot read runbook {path}: {reason}")]
    Unreadable { path: String, reason: String },
}

fn user_dirs() -> Vec<PathBuf> {
    std::env::var_os("VZRUN_PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .filter(|d| !d.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn looks_like_path(name: &str) -> bool {
    name.contains('/') || name.ends_with(".rhai")
}

fn builtin(name: &str) -> Option<Runbook> {
    let file = RUNBOOKS.get_file(format!("{name}.rhai"))?;
    Some(Runbook {
        name: name.to_string(),
        display_path: format!("runbooks/{name}.rhai"),
        import_dir: ImportDir::BuiltIn,
        source: file.contents_utf8()?.to_string(),
    })
}

/// Reads a runbook file from disk.
pub fn from_path(path: &Path) -> Result<Runbook, FindError> {
    let source = fs::read_to_string(path).map_err(|e| FindError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(Runbook {
        name,
        display_path: path.display().to_string(),
        import_dir: ImportDir::Disk(dir.to_path_buf()),
        source,
    })
}

/// `NAME` (catalog, then `$VZRUN_PATH`) or a path to a `.rhai` file.
pub fn find(name: &str) -> Result<Runbook, FindError> {
    if looks_like_path(name) {
        return from_path(Path::new(name));
    }
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(FindError::Unknown(name.to_string()));
    }
    if let Some(runbook) = builtin(name) {
        return Ok(runbook);
    }
    for dir in user_dirs() {
        let path = dir.join(format!("{name}.rhai"));
        if path.is_file() {
            return from_path(&path);
        }
    }
    Err(FindError::Unknown(name.to_string()))
}

/// Every runbook `find` can reach by name; a built-in hides a user runbook of the same name.
pub fn list_all() -> Vec<Runbook> {
    let mut found: BTreeMap<String, Runbook> = BTreeMap::new();
    for dir in user_dirs().iter().rev() {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            if path.extension().is_some_and(|x| x == "rhai") {
                if let Ok(runbook) = from_path(&path) {
                    found.insert(runbook.name.clone(), runbook);
                }
            }
        }
    }
    for file in RUNBOOKS.files() {
        let Some(stem) = file.path().file_stem().map(|s| s.to_string_lossy()) else {
            continue;
        };
        if file.path().extension().is_some_and(|x| x == "rhai") {
            if let Some(runbook) = builtin(&stem) {
                found.insert(runbook.name.clone(), runbook);
            }
        }
    }
    found.into_values().collect()
}
