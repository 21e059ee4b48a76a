//! One module per subcommand; each returns the process exit code.

pub mod abort;
pub mod args;
pub mod check;
pub mod doc;
pub mod lint;
pub mod list;
pub mod resume;
pub mod run;
pub mod runs;
