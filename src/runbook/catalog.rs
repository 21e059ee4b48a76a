//! Finding runbooks: the built-in catalog first, then the directories in `$VZRUN_PATH`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::{ImportDir, Runbook};
use crate::embedded::RUNBOOKS;

/// Why a runbook could not be found or read.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// No builtin runbook or file has that name.
    #[error("unknown runbook or command `{0}`; `vzrun list` shows the runbooks")]
    Unknown(String),
    /// The runbook file exists but cannot be read.
    #[error("cannot read runbook {path}: {reason}")]
    Unreadable {
        /// The path that was tried.
        path: String,
        /// The system's error message.
        reason: String,
    },
}

use crate::engine::library_dirs as user_dirs;

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
    resolve(name).map(|(runbook, _)| runbook)
}

/// Like [`find`], with a note for the operator when the choice was not the obvious one:
/// `evacuate.rhai` that is no file here runs the catalog's `evacuate` (the mission's own
/// usage: `vzrun evacuate.rhai msk-07` from any directory), and a file here that has a
/// built-in's name wins, which is said. `user:NAME` reaches a `$VZRUN_PATH` runbook that a
/// built-in of the same name shadows.
pub fn resolve(name: &str) -> Result<(Runbook, Option<String>), FindError> {
    if let Some(user_name) = name.strip_prefix("user:") {
        return user_runbook(user_name)
            .map(|r| (r, None))
            .ok_or_else(|| FindError::Unknown(name.to_string()));
    }
    if looks_like_path(name) {
        let path = Path::new(name);
        let bare = name.strip_suffix(".rhai").filter(|s| !s.contains('/'));
        return match bare {
            Some(stem) if !path.exists() => match builtin(stem).or_else(|| user_runbook(stem)) {
                Some(runbook) => {
                    let note = format!(
                        "no file {name} here: running {} ({})",
                        runbook.name, runbook.display_path
                    );
                    Ok((runbook, Some(note)))
                }
                None => from_path(path).map(|r| (r, None)),
            },
            Some(stem) if builtin(stem).is_some() => {
                let note = format!(
                    "running the file {name}, not the built-in runbook {stem} (`vzrun {stem}` runs that)"
                );
                from_path(path).map(|r| (r, Some(note)))
            }
            _ => from_path(path).map(|r| (r, None)),
        };
    }
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(FindError::Unknown(name.to_string()));
    }
    if let Some(runbook) = builtin(name) {
        return Ok((runbook, None));
    }
    user_runbook(name)
        .map(|r| (r, None))
        .ok_or_else(|| FindError::Unknown(name.to_string()))
}

/// The first `NAME.rhai` in the `$VZRUN_PATH` directories.
fn user_runbook(name: &str) -> Option<Runbook> {
    user_dirs()
        .into_iter()
        .map(|dir| dir.join(format!("{name}.rhai")))
        .find(|path| path.is_file())
        .and_then(|path| from_path(&path).ok())
}

/// A file that starts with a `//!` header is a runbook; one without is a library module
/// that runbooks import, not a broken runbook.
fn has_header(source: &str) -> bool {
    source
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .is_some_and(|l| l.starts_with("//!"))
}

/// User runbooks that a built-in of the same name hides: reachable as `user:NAME`.
pub fn shadowed() -> Vec<Runbook> {
    let mut out = Vec::new();
    for dir in user_dirs() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.extension().is_some_and(|x| x == "rhai") {
                if let Ok(runbook) = from_path(&path) {
                    if has_header(&runbook.source) && builtin(&runbook.name).is_some() {
                        out.push(runbook);
                    }
                }
            }
        }
    }
    out
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
                    if has_header(&runbook.source) {
                        found.insert(runbook.name.clone(), runbook);
                    }
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
