//! Exit codes, the contract with the shell scripts and schedulers that call vzrun.
//!
//! They are documented in the README and `vzrun --help`; keep them stable.

/// The run finished and every step succeeded.
pub const OK: i32 = 0;
/// The runbook failed: a command failed, or the script raised an error.
pub const FAILED: i32 = 1;
/// Bad usage or bad input: unknown runbook, missing argument, invalid value. Nothing was changed.
pub const USAGE: i32 = 2;
/// A preflight check refused the operation (or confirmation was not given). Nothing was changed.
pub const REFUSED: i32 = 3;
/// Another run holds a lock this run needs.
pub const LOCK_HELD: i32 = 4;
/// A command or a wait did not finish before its deadline.
pub const TIMED_OUT: i32 = 5;
/// Interrupted by Ctrl-C (SIGINT), stopped at a safe point.
pub const INTERRUPTED: i32 = 130;
