//! vzrun: safe, typed primitives for Virtuozzo 7 clusters, driven by reviewed Rhai runbooks.
//!
//! The layers, top to bottom: the command line (`cli`, `app`, `commands`), runbooks
//! (`runbook`), the script engine (`engine`) and its API (`api`), the `Runner` every
//! operation goes through, and the transports that reach hosts.

pub mod api;
pub mod app;
pub mod cli;
pub mod cluster;
pub mod cmd;
pub mod commands;
pub mod deadline;
pub mod discover;
pub mod edit;
pub mod embedded;
pub mod engine;
pub mod event;
pub mod exit;
pub mod failure;
pub mod host;
pub mod inventory;
pub mod journal;
pub mod journal_policy;
pub mod lab;
pub mod lock;
pub mod output;
pub mod parse;
pub mod primitives;
pub mod rehearse;
pub mod runbook;
pub mod runner;
pub mod transport;
