//! The `//!` header of a runbook: what it does and which arguments it takes.
//!
//! The header is the runbook's interface. It is parsed without running anything, so
//! `vzrun NAME --help`, `vzrun list` and `vzrun check` are safe on any runbook.
//!
//! ```text
//! //! Evacuate every VM and container from a hypervisor.
//! //! arg node: hypervisor to drain
//! //! opt to: destination hosts, comma-separated (default: every other hypervisor)
//! //! opt parallel = 2 (1..64): migrations at once
//! //! flag yes: do not ask for confirmation
//! //! destructive
//! ```

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// A typed default value; an option's type is its default's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A whole number (`--parallel 2`).
    Int(i64),
    /// A number with a fraction (`0.5`).
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// Anything else, as text.
    Str(String),
}

impl Value {
    /// `2` is an int, `0.5` a float, `true` a bool, anything else (quotes stripped) a string.
    pub fn infer(text: &str) -> Value {
        let text = text.trim();
        let digits = !text.is_empty()
            && text
                .trim_start_matches('-')
                .chars()
                .all(|c| c.is_ascii_digit());
        if let Ok(i) = text.parse::<i64>() {
            Value::Int(i)
        } else if digits {
            // Too large for an integer (fs.file-max is 2^64-1): keep it exactly, as text.
            Value::Str(text.to_string())
        } else if let (true, Ok(f)) = (text.contains(['.', 'e', 'E']), text.parse::<f64>()) {
            Value::Float(f)
        } else if let Ok(b) = text.parse::<bool>() {
            Value::Bool(b)
        } else {
            let unquoted = text
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(text);
            Value::Str(unquoted.to_string())
        }
    }

    /// The type as `--help` names it: `integer`, `number`, `true|false` or `text`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Bool(_) => "true|false",
            Value::Str(_) => "text",
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Str(s) => write!(f, "{s}"),
        }
    }
}

/// How a parameter is given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamKind {
    /// Required, positional, text.
    Arg,
    /// `--name VALUE`; without a default it is text and absent means `()`.
    Opt {
        /// `= VALUE` in the header: the value when the option is not given, and its type.
        default: Option<Value>,
    },
    /// `--name`, true when given.
    Flag,
}

/// One parameter a runbook takes, from an `arg`, `opt` or `flag` header line.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// As written in the header; `--name` on the command line.
    pub name: String,
    /// Positional argument, option or flag, with the option's default.
    pub kind: ParamKind,
    /// The text after the `:`, shown by `--help`.
    pub help: String,
    /// The values a numeric option accepts, checked before the script runs.
    pub range: Option<Range>,
}

/// `(MIN..MAX)` after a numeric option's default: both ends included, either may be left
/// out (`(0..)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// The smallest value accepted; `None` when unbounded below.
    pub min: Option<f64>,
    /// The largest value accepted; `None` when unbounded above.
    pub max: Option<f64>,
}

impl Range {
    fn parse(text: &str) -> Result<Range, String> {
        let (min, max) = text
            .split_once("..")
            .ok_or_else(|| format!("range {text:?}: expected MIN..MAX"))?;
        let end = |t: &str| -> Result<Option<f64>, String> {
            let t = t.trim();
            if t.is_empty() {
                return Ok(None);
            }
            t.parse::<f64>()
                .map(Some)
                .map_err(|_| format!("range {text:?}: {t:?} is not a number"))
        };
        let range = Range {
            min: end(min)?,
            max: end(max)?,
        };
        if let (Some(a), Some(b)) = (range.min, range.max) {
            if a > b {
                return Err(format!("range {text:?} is empty"));
            }
        }
        Ok(range)
    }

    /// True when `value` lies within both ends (inclusive).
    pub fn contains(&self, value: f64) -> bool {
        self.min.is_none_or(|m| value >= m) && self.max.is_none_or(|m| value <= m)
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        write!(f, "{}..{}", end(self.min), end(self.max))
    }
}

impl Param {
    /// The key in the `ARGS` map: dashes become underscores so it is a valid property name.
    pub fn key(&self) -> String {
        self.name.replace('-', "_")
    }

    /// The option on the command line: underscores become dashes (`--start-timeout`).
    pub fn flag(&self) -> String {
        self.name.replace('_', "-")
    }
}

/// A runbook's parsed `//!` header: its description and interface.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Header {
    /// First description line: what `vzrun list` shows.
    pub summary: String,
    /// Further description lines.
    pub details: Vec<String>,
    /// The parameters, in header order (positional `arg`s in the order they are given).
    pub params: Vec<Param>,
    /// The runbook asks for confirmation before it runs (`--yes` answers).
    pub destructive: bool,
    /// `//! ensure: CONDITION`: what holds after a successful run; `vzrun rehearse` checks
    /// it (see `rehearse::invariants` for the conditions).
    pub ensures: Vec<String>,
    /// `//! changes: WHAT`: what the runbook may change that a rehearsal otherwise holds
    /// still (`ve-state`: VEs may be started or stopped; `ve-set`: VEs may be created or
    /// removed).
    pub changes: Vec<String>,
}

/// A header line that does not parse, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct HeaderError {
    /// The 1-based line number in the runbook file.
    pub line: usize,
    /// What is wrong with that line.
    pub message: String,
}

static PARAM_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(arg|opt|flag)\s+([A-Za-z][A-Za-z0-9_-]*)(?:\s*=\s*(.*?))?(?:\s*\(([-+0-9.eE]*\.\.[-+0-9.eE]*)\))?\s*(?::\s+(.*)|:)?\s*$")
        .expect("valid regex")
});
static DIRECTIVE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(arg|opt|flag)\b").expect("valid regex"));

static KEYWORD_LIKE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z][a-z_-]*:?$").expect("valid regex"));

fn ends_sentence(text: &str) -> bool {
    text.ends_with(['.', '!', '?'])
}

impl Header {
    /// Parses the `//!` lines at the top of a runbook (blank lines before them are allowed).
    pub fn parse(source: &str) -> Result<Header, HeaderError> {
        let mut header = Header::default();
        let mut started = false;
        for (index, raw) in source.lines().enumerate() {
            let line_no = index + 1;
            let trimmed = raw.trim();
            let Some(text) = trimmed.strip_prefix("//!") else {
                if trimmed.is_empty() && !started {
                    continue;
                }
                break;
            };
            started = true;
            let text = text.trim();
            let err = |message: String| HeaderError {
                line: line_no,
                message,
            };
            if text == "destructive" {
                header.destructive = true;
            } else if let Some(condition) = text.strip_prefix("ensure:") {
                let condition = condition.trim();
                crate::runbook::postcondition::Postcondition::parse(condition).map_err(err)?;
                header.ensures.push(condition.to_string());
            } else if let Some(what) = text.strip_prefix("changes:") {
                for word in what.split(',').map(str::trim) {
                    if !crate::runbook::postcondition::CHANGES.contains(&word) {
                        return Err(err(format!(
                            "unknown `changes: {word}`; expected one of {}",
                            crate::runbook::postcondition::CHANGES.join(", ")
                        )));
                    }
                    header.changes.push(word.to_string());
                }
            } else if DIRECTIVE.is_match(text) {
                let caps = PARAM_LINE.captures(text).ok_or_else(|| {
                    err(format!(
                        "cannot read {text:?}; expected `arg NAME: help`, `opt NAME [= DEFAULT]: help` or `flag NAME: help`"
                    ))
                })?;
                let name = caps[2].to_string();
                let help = caps.get(5).map_or("", |m| m.as_str()).trim().to_string();
                let default = caps.get(3).map(|m| Value::infer(m.as_str()));
                let range = caps
                    .get(4)
                    .map(|m| Range::parse(m.as_str()))
                    .transpose()
                    .map_err(err)?;
                if let Some(range) = range {
                    let number = match &default {
                        Some(Value::Int(i)) => *i as f64,
                        Some(Value::Float(x)) => *x,
                        _ => {
                            return Err(err(format!(
                                "{name}: a range needs a numeric default (`opt {name} = 2 (1..64)`)"
                            )))
                        }
                    };
                    if !range.contains(number) {
                        return Err(err(format!(
                            "{name}: the default {number} is outside its range {range}"
                        )));
                    }
                }
                let kind = match (&caps[1], default) {
                    ("opt", default) => ParamKind::Opt { default },
                    (kind, Some(_)) => {
                        return Err(err(format!("`{kind} {name}` cannot have a default")))
                    }
                    ("arg", None) => ParamKind::Arg,
                    _ => ParamKind::Flag,
                };
                if name == "help" {
                    return Err(err("`help` is reserved for --help".into()));
                }
                let param = Param {
                    name,
                    kind,
                    help,
                    range,
                };
                if header.params.iter().any(|p| p.key() == param.key()) {
                    return Err(err(format!("{} is declared twice", param.name)));
                }
                header.params.push(param);
            } else if KEYWORD_LIKE.is_match(text) {
                // A lone word is a misspelt keyword (`destrucive`), not a description: taking
                // it as text would run a destructive runbook without asking.
                return Err(err(format!(
                    "unknown header keyword {text:?}; keywords are `arg`, `opt`, `flag`, `destructive`, `ensure:` and `changes:`"
                )));
            } else if header.summary.is_empty() {
                header.summary = text.to_string();
            } else {
                header.details.push(text.to_string());
            }
        }
        // The summary is the first sentence, even when it wraps onto the next lines.
        while !ends_sentence(&header.summary) && !header.details.is_empty() {
            let next = header.details.remove(0);
            header.summary.push(' ');
            header.summary.push_str(&next);
        }
        if header.summary.is_empty() {
            return Err(HeaderError {
                line: 1,
                message: "a runbook starts with a `//!` line saying what it does".into(),
            });
        }
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVACUATE: &str = "//! Evacuate every VE.\n//! Live when running.\n//! arg node: hypervisor to drain\n//! opt to: destination hosts\n//! opt parallel = 2: migrations at once\n//! opt replicas = 3:2: norm:min\n//! flag yes: do not ask\n//! destructive\nlet x = 1;\n//! not header\n";

    #[test]
    fn parses_description_params_and_types() {
        let h = Header::parse(EVACUATE).unwrap();
        assert_eq!(h.summary, "Evacuate every VE.");
        assert_eq!(h.details, vec!["Live when running."]);
        assert!(h.destructive);
        assert_eq!(h.params.len(), 5);
        assert_eq!(h.params[0].kind, ParamKind::Arg);
        assert_eq!(h.params[0].help, "hypervisor to drain");
        assert_eq!(h.params[1].kind, ParamKind::Opt { default: None });
        assert_eq!(
            h.params[2].kind,
            ParamKind::Opt {
                default: Some(Value::Int(2))
            }
        );
        assert_eq!(
            h.params[3].kind,
            ParamKind::Opt {
                default: Some(Value::Str("3:2".into()))
            }
        );
        assert_eq!(h.params[4].kind, ParamKind::Flag);
    }

    #[test]
    fn rejects_malformed_lines_with_their_line_number() {
        let err = Header::parse("//! Do.\n//! opt 9lives: bad\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = Header::parse("//! Do.\n//! flag x = 1: no\n").unwrap_err();
        assert!(err.message.contains("cannot have a default"), "{err}");
        let err = Header::parse("//! Do.\n//! arg a: x\n//! opt a: y\n").unwrap_err();
        assert!(err.message.contains("twice"), "{err}");
        assert!(Header::parse("let x = 1;").is_err());
        let err = Header::parse("//! Do.\n//! destrucive\n").unwrap_err();
        assert!(err.message.contains("unknown header keyword"), "{err}");
    }

    #[test]
    fn the_summary_is_the_first_sentence_even_when_it_wraps() {
        let h = Header::parse("//! Lower the margin for a while (to finish a rebalance),\n//! then restore it.\n//! More detail.\n").unwrap();
        assert_eq!(
            h.summary,
            "Lower the margin for a while (to finish a rebalance), then restore it."
        );
        assert_eq!(h.details, vec!["More detail."]);
    }

    #[test]
    fn reads_ranges_and_refuses_bad_ones() {
        let h = Header::parse(
            "//! Do.\n//! opt parallel = 2 (1..64): at once\n//! opt minutes = 60.0 (0.5..): how long\n",
        )
        .unwrap();
        let r = h.params[0].range.unwrap();
        assert_eq!((r.min, r.max), (Some(1.0), Some(64.0)));
        assert_eq!(h.params[0].help, "at once");
        assert_eq!(h.params[1].range.unwrap().max, None);
        assert!(!r.contains(0.0) && r.contains(1.0) && r.contains(64.0) && !r.contains(65.0));
        let err = Header::parse("//! Do.\n//! opt p = 0 (1..64): x\n").unwrap_err();
        assert!(err.message.contains("outside its range"), "{err}");
        let err = Header::parse("//! Do.\n//! opt p = \"a\" (1..64): x\n").unwrap_err();
        assert!(err.message.contains("numeric default"), "{err}");
        let err = Header::parse("//! Do.\n//! opt p = 5 (9..1): x\n").unwrap_err();
        assert!(err.message.contains("empty"), "{err}");
    }

    #[test]
    fn infers_value_types() {
        assert_eq!(Value::infer("2"), Value::Int(2));
        assert_eq!(Value::infer("0.5"), Value::Float(0.5));
        assert_eq!(Value::infer("true"), Value::Bool(true));
        assert_eq!(Value::infer("\"a b\""), Value::Str("a b".into()));
        assert_eq!(
            Value::infer("18446744073709551615"),
            Value::Str("18446744073709551615".into())
        );
        assert_eq!(Value::infer("inf"), Value::Str("inf".into()));
    }
}
