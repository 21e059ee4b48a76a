//! Runbooks: finding them, reading their header, binding their arguments.

mod bind;
mod catalog;
mod header;
pub(crate) mod postcondition;

pub(crate) use bind::bind_map;
pub use bind::ArgValue;
pub use catalog::{find, from_path, list_all, resolve, shadowed, FindError};
pub use header::{Header, HeaderError, Param, ParamKind, Range, Value};

pub use crate::engine::ImportDir;

/// A runbook's text and where it came from, ready to check or run.
#[derive(Debug, Clone)]
pub struct Runbook {
    /// The runbook's name: a builtin's name or the file's stem.
    pub name: String,
    /// Shown in errors: `runbooks/evacuate.rhai` or the file's path.
    pub display_path: String,
    /// Where its relative `import`s are looked up.
    pub import_dir: ImportDir,
    /// The Rhai source text.
    pub source: String,
}

impl Runbook {
    /// Parses the `//!` header; errors name the runbook's path and line.
    pub fn header(&self) -> Result<Header, String> {
        Header::parse(&self.source).map_err(|e| format!("{}:{}", self.display_path, e))
    }

    /// Recorded in the journal, so a run can be tied to the exact text that ran.
    pub fn sha256(&self) -> String {
        crate::digest::sha256_hex(self.source.as_bytes())
    }
}
