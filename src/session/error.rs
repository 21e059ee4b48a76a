//! Why a run could not be made: the message for the operator and the exit code it ends in
//! (see [`crate::exit`]), in one type instead of `(String, i32)` pairs.

use std::fmt;

/// A run that could not be started or finished, with its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError {
    code: i32,
    message: String,
}

impl RunError {
    /// An error ending in exit code `code` (one of [`crate::exit`]'s).
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        RunError {
            code,
            message: message.into(),
        }
    }

    /// The exit code this error ends the run in.
    pub fn code(&self) -> i32 {
        self.code
    }

    /// What went wrong, for the operator.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RunError {}
