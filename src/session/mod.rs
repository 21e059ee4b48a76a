//! Running a runbook against a target: choosing the cluster (lab or inventory), executing
//! the run, reading past runs back for resume and abort.

pub mod error;
pub mod execute;
pub mod past;
pub mod targets;
pub mod toolkit;

pub use error::RunError;
