//! vzrun: safe, typed primitives for Virtuozzo 7 clusters, driven by reviewed Rhai runbooks.
//!
//! The layers, top to bottom: the command line (`cli`, `app`, `commands`; the `cli`
//! feature), the library's entry point ([`Session`], in `session`), runbooks (`runbook`),
//! the script engine (`engine`) with the script API (`api`) and the typed primitives
//! (`primitives`), one run's machinery (`run`: the Runner every operation goes through, the
//! journal, events and their sinks), and the transports that reach hosts (`transport`; the
//! simulated cluster, `lab`, is one). `cluster` holds the hosts a run may touch; `parse` and
//! `edit` are pure functions of text.
//!
//! # Embedding
//!
//! A program runs runbooks through a [`Session`]: it picks the target (the lab here), where
//! the events go ([`EventSink`]) and who answers confirmations ([`Confirm`]):
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::{Arc, Mutex};
//! use vzrun::{Event, EventSink, Session};
//!
//! /// Keeps the log lines of the run.
//! #[derive(Default)]
//! struct Lines(Mutex<Vec<String>>);
//!
//! impl EventSink for Lines {
//!     fn event(&self, event: &Event) {
//!         if let Event::Log { message, .. } = event {
//!             self.0.lock().unwrap().push(message.clone());
//!         }
//!     }
//! }
//!
//! # let state = std::env::temp_dir().join(format!("vzrun-doc-{}", std::process::id()));
//! # std::env::set_var("VZRUN_STATE_DIR", &state);
//! let lines = Arc::new(Lines::default());
//! let session = Session::new().lab(None).lab_speed(0.0).sink(lines.clone());
//! let hello = session.catalog("hello").unwrap();
//! let args = BTreeMap::from([("greeting".to_string(), "hi".into())]);
//! let outcome = session.plan(&hello, &args).unwrap();
//! assert!(outcome.ok());
//! assert!(lines.0.lock().unwrap().iter().any(|l| l.starts_with("hi from ")));
//! # let _ = std::fs::remove_dir_all(&state);
//! ```
//!
//! Add script functions of your own with [`Session::package`] (a rhai `Package`), and reach
//! hosts your own way with [`Session::hosts`] or [`Session::wrap_transports`].

#![deny(missing_docs)]
// Without the command line, what only its commands use (reading past runs for `resume`,
// listing runs, the reference's signatures) has no caller; it stays one library.
#![cfg_attr(not(feature = "cli"), allow(dead_code, unused_imports))]

pub(crate) mod api;
#[cfg(feature = "cli")]
pub mod app;
#[cfg(feature = "cli")]
pub(crate) mod cli;
pub(crate) mod cluster;
#[cfg(feature = "cli")]
pub(crate) mod commands;
pub(crate) mod deadline;
pub(crate) mod digest;
#[cfg(feature = "cli")]
pub(crate) mod discover;
pub(crate) mod edit;
pub(crate) mod embedded;
pub(crate) mod engine;
pub mod exit;
pub(crate) mod failure;
pub mod lab;
pub(crate) mod parse;
pub(crate) mod primitives;
#[cfg(feature = "cli")]
pub(crate) mod rehearse;
pub(crate) mod run;
pub mod runbook;
pub(crate) mod session;
pub(crate) mod state_dir;
pub mod transport;

// Paths of the modules before they moved under `transport/` and `cluster/`.
pub use cluster::inventory;
pub use transport::cmd;

pub use cluster::host::Host;
pub use primitives::VzPrimitives;
pub use run::event::Event;
pub use run::options::RunOptions;
pub use run::sink::{Confirm, EventSink, TerminalConfirm};
pub use runbook::{ArgValue, Runbook};
pub use session::toolkit::{Outcome, Session};
pub use session::RunError;
pub use transport::cmd::{Cmd, Output};
pub use transport::lock::{HeldLock, LockError};
pub use transport::{Transport, TransportError};

/// Hooks the integration tests use to reach checks that are not part of the library's API.
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod testing {
    pub use crate::commands::doc::lint_examples;
}
