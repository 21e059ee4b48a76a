//! `write_output_file(path, text)`: a report or metrics file on the machine vzrun runs on.
//!
//! Not a change to the cluster (those go through `file::write`: journaled, locked, diffed), but
//! output, like stdout: a monitoring run writes one every minute. It is replaced atomically, so
//! a reader such as node_exporter's textfile collector never sees half a file.

use std::io::Write;
use std::path::Path;

use rhai::plugin::*;

use crate::failure::{ApiResult, Failure};

use super::RunContext;

/// Writes `text` to `path` through a temporary file in the same directory (not ending in
/// `.prom`, so a collector never reads it), fsync, then rename.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), Failure> {
    let bad = |problem: String| Failure::bad_input("output file", problem);
    let name = path
        .file_name()
        .ok_or_else(|| bad(format!("{} names no file", path.display())))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(bad(format!("{} is not a directory", dir.display())));
    }
    let temp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let failed =
        |e: std::io::Error| Failure::failed(format!("cannot write {}: {e}", path.display()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(failed)
}

#[export_module]
pub mod export_api {
    use super::*;

    /// Writes a report or metrics file on the machine vzrun runs on (not on a cluster host),
    /// replacing it atomically: a temporary file in the same directory, fsync, rename. It is
    /// output, like stdout: not journaled, no lock, no diff. The directory must exist. In a
    /// plan it only says what it would write.
    ///
    /// ```rhai
    /// write_output_file("/var/lib/node_exporter/textfile/vzrun.prom", "vzrun_up 1\n");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn write_output_file(ctx: NativeCallContext, path: &str, text: &str) -> ApiResult<()> {
        let run = RunContext::of(&ctx)?;
        if path.is_empty() || path.contains('\0') {
            return Err(
                Failure::bad_input("output file", format!("{path:?} is not a path")).into(),
            );
        }
        if run.runner.is_plan() {
            run.runner
                .log(format!("would write {} bytes to {path}", text.len()));
            return Ok(());
        }
        Ok(write_atomically(Path::new(path), text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.prom");
        std::fs::write(&path, "old\n").unwrap();
        write_atomically(&path, "new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        let missing = dir.path().join("nope/m.prom");
        assert!(write_atomically(&missing, "x").is_err());
    }
}
