//! Files compiled into the binary, so an installed vzrun needs nothing beside it.

use include_dir::{include_dir, Dir};

/// `runbooks/`: the built-in catalog.
pub static RUNBOOKS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/runbooks");

/// `stdlib/`: Rhai modules any runbook can import (`import "vz" as vz;`).
pub static STDLIB: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/stdlib");
