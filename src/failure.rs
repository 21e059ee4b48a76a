//! The error a primitive raises inside a runbook.
//!
//! Rhai errors are opaque strings by default, but the exit code of a run depends on *why* it
//! failed (a timeout is 5, a refused preflight is 3, ...). A `Failure` travels through the
//! script as the thrown value, so `try { … } catch (e) { if e.kind == "timed_out" { … } }` works
//! in a runbook, and the top level can map it to an exit code.

use rhai::{Dynamic, EvalAltResult, Position};
use serde::Serialize;
use std::fmt;

use crate::exit;

/// Why a runbook operation failed; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A command returned a non-zero exit code, or the script raised an error.
    Failed,
    /// An argument to a primitive was invalid; nothing ran.
    BadInput,
    /// A preflight check or a confirmation said no; nothing was changed.
    Refused,
    /// Another run holds the lock.
    LockHeld,
    /// A command or wait passed its deadline.
    TimedOut,
    /// Ctrl-C.
    Interrupted,
}

impl FailureKind {
    pub fn exit_code(self) -> i32 {
        match self {
            FailureKind::Failed => exit::FAILED,
            FailureKind::BadInput => exit::USAGE,
            FailureKind::Refused => exit::REFUSED,
            FailureKind::LockHeld => exit::LOCK_HELD,
            FailureKind::TimedOut => exit::TIMED_OUT,
            FailureKind::Interrupted => exit::INTERRUPTED,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Failed => "failed",
            FailureKind::BadInput => "bad_input",
            FailureKind::Refused => "refused",
            FailureKind::LockHeld => "lock_held",
            FailureKind::TimedOut => "timed_out",
            FailureKind::Interrupted => "interrupted",
        }
    }
}

/// Why the engine stopped a script that grew past its memory limit (the token its progress
/// callback returns; see `engine::build`).
#[derive(Debug, Clone, Copy)]
pub struct MemoryExceeded {
    pub used: u64,
    pub limit: u64,
}

/// Why the engine stopped a script that passed its operation limit inside a closure and had
/// it caught (the token its progress callback returns from then on; see `engine::build`).
#[derive(Debug, Clone, Copy)]
pub struct OperationLimit;

/// What an operator is told when the script passed its operation limit.
pub const OPERATION_LIMIT_MESSAGE: &str =
    "the script passed its operation limit (an endless loop?); --max-operations raises it";

/// A failure with its kind and a message meant for an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Failed, message)
    }

    /// Bad input to a primitive, naming the argument.
    pub fn bad_input(argument: &str, problem: impl fmt::Display) -> Self {
        Self::new(
            FailureKind::BadInput,
            format!("invalid {argument}: {problem}"),
        )
    }

    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Refused, message)
    }

    pub fn timed_out(message: impl Into<String>) -> Self {
        Self::new(FailureKind::TimedOut, message)
    }

    pub fn interrupted() -> Self {
        Self::new(FailureKind::Interrupted, "interrupted by Ctrl-C")
    }

    /// Find the failure carried by a Rhai error, looking through the wrappers that Rhai adds
    /// when an error crosses a function call or a module.
    pub fn from_rhai(err: &EvalAltResult) -> Option<Failure> {
        match err {
            EvalAltResult::ErrorRuntime(value, _) => {
                value.read_lock::<Failure>().map(|f| f.clone())
            }
            EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
            | EvalAltResult::ErrorInModule(_, inner, _) => Failure::from_rhai(inner),
            EvalAltResult::ErrorTerminated(token, _) => Some(
                match token.read_lock::<MemoryExceeded>() {
                    Some(m) => Failure::failed(format!(
                        "the script holds {} MB of memory, over its limit of {} MB (a runaway loop?); $VZRUN_MAX_MEMORY_MB raises it",
                        m.used >> 20,
                        m.limit >> 20
                    )),
                    None if token.is::<OperationLimit>() => {
                        Failure::failed(OPERATION_LIMIT_MESSAGE)
                    }
                    None => Failure::interrupted(),
                },
            ),
            _ => None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl From<Failure> for Box<EvalAltResult> {
    fn from(failure: Failure) -> Self {
        Box::new(EvalAltResult::ErrorRuntime(
            Dynamic::from(failure),
            Position::NONE,
        ))
    }
}

/// Result type of the Rust functions behind the Rhai API.
pub type ApiResult<T> = Result<T, Box<EvalAltResult>>;
