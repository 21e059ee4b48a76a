//! The `//! ensure:` and `//! changes:` vocabulary of a runbook header: a small fixed set, so
//! that `vzrun check` rejects a misspelt condition instead of a rehearsal silently checking
//! nothing (`vzrun rehearse` evaluates them; see `rehearse::invariants`).

/// What a runbook may declare it changes (`//! changes: ve-state, ve-set`).
pub const CHANGES: &[&str] = &["ve-state", "ve-set"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Condition {
    NoVeOn(String),
    CsGone(String),
    CsStatusOn(String, String),
}

/// One `//! ensure:` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postcondition {
    pub(crate) condition: Condition,
    /// `when {ARG} = VALUE`.
    pub(crate) when: Option<(String, String)>,
}

/// `{name}` → `name`.
fn placeholder(word: &str) -> Result<String, String> {
    word.strip_prefix('{')
        .and_then(|w| w.strip_suffix('}'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .ok_or_else(|| format!("expected an argument as {{NAME}}, found {word:?}"))
}

impl Postcondition {
    pub fn parse(text: &str) -> Result<Postcondition, String> {
        let (main, when) = match text.split_once(" when ") {
            Some((main, guard)) => {
                let (arg, value) = guard
                    .split_once('=')
                    .ok_or_else(|| format!("`when` needs `{{ARG}} = VALUE` in {text:?}"))?;
                (
                    main,
                    Some((placeholder(arg.trim())?, value.trim().to_string())),
                )
            }
            None => (text, None),
        };
        let words: Vec<&str> = main.split_whitespace().collect();
        let condition = match words.as_slice() {
            ["no-ve-on", host] => Condition::NoVeOn(placeholder(host)?),
            ["cs-gone", cs] => Condition::CsGone(placeholder(cs)?),
            ["cs-status-on", host, status] => {
                Condition::CsStatusOn(placeholder(host)?, status.to_string())
            }
            _ => {
                return Err(format!(
                    "unknown `ensure: {text}`; expected `no-ve-on {{ARG}}`, `cs-gone {{ARG}}` or `cs-status-on {{ARG}} STATUS`, optionally with `when {{ARG}} = VALUE`"
                ))
            }
        };
        Ok(Postcondition { condition, when })
    }
}
