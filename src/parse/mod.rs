//! Parsers of the tools' text output. Pure functions of the text, tested on the formats of
//! reference/virtuozzo-cli.md (and their variants), so they can be trusted against real
//! hosts and the lab alike. They read stdout only: stderr carries prlctl's deprecation banner
//! and is never data.

pub mod date;
pub mod find;
pub mod net;
pub mod prlctl;
pub mod prlctl_disks;
pub mod prlctl_table;
pub mod rules;
pub mod size;
pub mod systemd;
pub mod vstorage;
pub mod vstorage_io;

/// Why a text could not be understood; names what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected {what} output: {problem}")]
pub struct ParseError {
    pub what: &'static str,
    pub problem: String,
}

impl ParseError {
    pub fn new(what: &'static str, problem: impl Into<String>) -> Self {
        ParseError {
            what,
            problem: problem.into(),
        }
    }
}
