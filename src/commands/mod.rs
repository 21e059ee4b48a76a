//! One module per subcommand; each returns the process exit code.

pub mod check;
pub mod list;
pub mod run;
pub mod runs;
