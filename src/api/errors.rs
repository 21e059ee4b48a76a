//! Turning Rhai errors into messages an operator can act on: `file:line:col: what happened`,
//! the failing command with its stderr, then the chain of calls that led there.

use std::sync::{LazyLock, OnceLock};

use regex::Regex;
use rhai::{EvalAltResult, ParseError, Position};

use crate::exit;
use crate::failure::Failure;

/// Explains a "function not found" from the API's signatures. The signatures are read from a
/// built engine, which sits above this module: the engine installs the explainer when it is
/// first built (see `engine::build`), so error messages never build an engine from here.
static FUNCTION_EXPLAINER: OnceLock<fn(&str) -> Option<String>> = OnceLock::new();

/// Installs how a "function not found" is explained (the first call wins).
pub fn set_function_explainer(explain: fn(&str) -> Option<String>) {
    let _ = FUNCTION_EXPLAINER.set(explain);
}

fn explain_function_not_found(signature: &str) -> Option<String> {
    FUNCTION_EXPLAINER
        .get()
        .and_then(|explain| explain(signature))
}

fn location(source: &str, pos: Position) -> String {
    match (pos.line(), pos.position()) {
        (Some(line), Some(col)) => format!("{source}:{line}:{col}"),
        (Some(line), None) => format!("{source}:{line}"),
        _ => source.to_string(),
    }
}

/// Rhai appends ` (line L, position P)`; the location is printed in front instead.
fn without_position(text: &str) -> String {
    static SUFFIX: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\s*\(line \d+, position \d+\)$").expect("valid regex"));
    SUFFIX.replace(text, "").into_owned()
}

/// `file:line:col: message` for a compile error.
pub fn describe_parse(err: &ParseError, source: &str) -> String {
    format!("{}: {}", location(source, err.position()), err.err_type())
}

/// The message and exit code for an error that ended a runbook.
pub fn describe(err: &EvalAltResult, source: &str) -> (String, i32) {
    let mut calls = Vec::new();
    let mut current = err;
    let mut source = source.to_string();
    loop {
        match current {
            EvalAltResult::ErrorInFunctionCall(name, fn_source, inner, pos) => {
                // Rhai names a closure `anon$<hash>`: say what it is instead.
                let what = if name.starts_with("anon$") {
                    "in a closure".to_string()
                } else {
                    format!("in `{name}`")
                };
                calls.push(format!("{what} called at {}", location(&source, *pos)));
                if !fn_source.is_empty() {
                    source = fn_source.clone();
                }
                current = inner;
            }
            EvalAltResult::ErrorInModule(path, inner, pos) => {
                calls.push(format!(
                    "in module {path} imported at {}",
                    location(&source, *pos)
                ));
                source = path.clone();
                current = inner;
            }
            _ => break,
        }
    }
    let pos = current.position();
    let (what, code) = if let Some(failure) = Failure::from_rhai(current) {
        (failure.message.clone(), failure.kind.exit_code())
    } else {
        match current {
            EvalAltResult::ErrorTooManyOperations(_) => (
                crate::failure::OPERATION_LIMIT_MESSAGE.to_string(),
                exit::FAILED,
            ),
            EvalAltResult::ErrorAssignmentToConstant(name, _) => (
                format!("cannot assign to {name}: it is read-only"),
                exit::FAILED,
            ),
            EvalAltResult::ErrorParsing(kind, _) => (kind.to_string(), exit::FAILED),
            EvalAltResult::ErrorFunctionNotFound(signature, _) => (
                explain_function_not_found(signature)
                    .unwrap_or_else(|| format!("Function not found: {signature}")),
                exit::FAILED,
            ),
            other => (without_position(&other.to_string()), exit::FAILED),
        }
    };
    let mut message = format!("{}: {what}", location(&source, pos));
    for call in calls.iter().rev() {
        message.push_str("\n  ");
        message.push_str(call);
    }
    (message, code)
}
