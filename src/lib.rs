//! vzrun: safe, typed primitives for Virtuozzo 7 clusters, driven by reviewed Rhai runbooks.
//!
//! The layers, top to bottom: the command line (`cli`, `app`, `commands`), runbooks
//! (`runbook`), the script engine (`engine`) and its API (`api`), the `Runner` every
//! operation goes through, and the transports that reach hosts.

pub mod api;
pub mod app;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod deadline;
pub mod digest;
pub mod edit;
pub mod embedded;
pub mod engine;
pub mod exit;
pub mod failure;
pub mod lab;
pub mod parse;
pub mod primitives;
pub mod run;
pub mod runbook;
pub mod session;
pub mod state_dir;
pub mod transport;

// Paths of the modules before they moved under `transport/` and `cluster/`.
pub use cluster::inventory;
pub use transport::cmd;
