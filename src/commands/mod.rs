//! One module per subcommand; each returns the process exit code.

pub mod abort;
pub mod args;
pub mod check;
pub mod discover;
pub mod doc;
pub mod lint;
pub mod list;
pub mod resume;
pub mod run;
pub mod runs;

use crate::session::RunError;

/// Reports an error the way every command does (`error: ...` on stderr) and returns its
/// exit code.
pub fn report(error: RunError) -> i32 {
    eprintln!("error: {error}");
    error.code()
}
