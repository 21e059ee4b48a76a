//! One run of a runbook: the Runner every operation goes through, the journal it writes
//! (and reads back for resume and abort), the events it reports and how they are shown.

mod bars;
mod cluster_lock;
pub mod context;
pub mod event;
pub mod journal;
pub mod journal_policy;
pub mod options;
pub mod output;
pub mod runner;
pub mod sink;
