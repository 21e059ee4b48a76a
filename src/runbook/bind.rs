//! Binding a runbook's arguments from a map (a program embedding vzrun), with the checks the
//! command line makes: required arguments, types, declared ranges, unknown names. The
//! command line binds from argv instead (`commands::args`), through clap.

use std::collections::BTreeMap;

use rhai::Dynamic;

use super::{Header, ParamKind, Value};

/// A runbook argument's value as a program gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgValue {
    /// Text (positional arguments, options without a default).
    Str(String),
    /// An integer option.
    Int(i64),
    /// A number option.
    Float(f64),
    /// A flag, or a boolean option.
    Bool(bool),
}

impl From<&str> for ArgValue {
    fn from(text: &str) -> Self {
        ArgValue::Str(text.to_string())
    }
}

impl From<String> for ArgValue {
    fn from(text: String) -> Self {
        ArgValue::Str(text)
    }
}

impl From<i64> for ArgValue {
    fn from(value: i64) -> Self {
        ArgValue::Int(value)
    }
}

impl From<f64> for ArgValue {
    fn from(value: f64) -> Self {
        ArgValue::Float(value)
    }
}

impl From<bool> for ArgValue {
    fn from(value: bool) -> Self {
        ArgValue::Bool(value)
    }
}

/// The arguments as the script sees them (`ARGS`) and as the journal records them.
#[derive(Debug)]
pub(crate) struct BoundMap {
    pub(crate) map: rhai::Map,
    pub(crate) json: serde_json::Value,
}

/// Binds `given` (keyed by the header's names, `-` or `_` alike) to the header's params.
/// `yes` answers a `yes` flag, as `--yes` does on the command line. The error names the
/// argument and what was wrong, as a usage error would.
pub(crate) fn bind_map(
    header: &Header,
    given: &BTreeMap<String, ArgValue>,
    yes: bool,
) -> Result<BoundMap, String> {
    let known: Vec<String> = header.params.iter().map(|p| p.key()).collect();
    if let Some(unknown) = given.keys().find(|k| !known.contains(&k.replace('-', "_"))) {
        return Err(format!(
            "unknown argument {unknown:?} (known: {})",
            known.join(", ")
        ));
    }
    let mut map = rhai::Map::new();
    let mut json = serde_json::Map::new();
    for param in &header.params {
        let key = param.key();
        let value = given
            .get(&key)
            .or_else(|| given.get(&param.name))
            .or_else(|| given.get(&param.flag()));
        let wrong = |want: &str| format!("argument {key}: expected {want}, got {value:?}");
        let (dynamic, recorded): (Dynamic, serde_json::Value) = match (&param.kind, value) {
            (ParamKind::Flag, _) if param.flag() == "yes" => (yes.into(), yes.into()),
            (ParamKind::Flag, None) => (false.into(), false.into()),
            (ParamKind::Flag, Some(ArgValue::Bool(on))) => ((*on).into(), (*on).into()),
            (ParamKind::Flag, Some(_)) => return Err(wrong("true or false")),
            (ParamKind::Arg, None) => return Err(format!("missing argument {key}")),
            (ParamKind::Arg | ParamKind::Opt { default: None }, Some(ArgValue::Str(s))) => {
                (s.clone().into(), s.clone().into())
            }
            (ParamKind::Arg | ParamKind::Opt { default: None }, Some(_)) => {
                return Err(wrong("text"))
            }
            (ParamKind::Opt { default: None }, None) => (Dynamic::UNIT, serde_json::Value::Null),
            (
                ParamKind::Opt {
                    default: Some(default),
                },
                value,
            ) => {
                let chosen = match (default, value) {
                    (d, None) => d.clone(),
                    (Value::Int(_), Some(ArgValue::Int(v))) => Value::Int(*v),
                    (Value::Float(_), Some(ArgValue::Float(v))) => Value::Float(*v),
                    (Value::Float(_), Some(ArgValue::Int(v))) => Value::Float(*v as f64),
                    (Value::Bool(_), Some(ArgValue::Bool(v))) => Value::Bool(*v),
                    (Value::Str(_), Some(ArgValue::Str(v))) => Value::Str(v.clone()),
                    (Value::Int(_), _) => return Err(wrong("an integer")),
                    (Value::Float(_), _) => return Err(wrong("a number")),
                    (Value::Bool(_), _) => return Err(wrong("true or false")),
                    (Value::Str(_), _) => return Err(wrong("text")),
                };
                let number = match chosen {
                    Value::Int(v) => Some(v as f64),
                    Value::Float(v) => Some(v),
                    _ => None,
                };
                if let (Some(n), Some(range)) = (number, param.range) {
                    if !range.contains(n) {
                        return Err(format!("argument {key}: {n} is outside {range}"));
                    }
                }
                match chosen {
                    Value::Int(v) => (v.into(), v.into()),
                    Value::Float(v) => (v.into(), v.into()),
                    Value::Bool(v) => (v.into(), v.into()),
                    Value::Str(v) => (v.clone().into(), v.into()),
                }
            }
        };
        map.insert(key.as_str().into(), dynamic);
        json.insert(key, recorded);
    }
    Ok(BoundMap {
        map,
        json: serde_json::Value::Object(json),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header::parse(
            "//! Test.\n//! arg node: the node\n//! opt timeout = 600 (1..3600): seconds\n//! opt note: free text\n//! flag force: go on\n",
        )
        .unwrap()
    }

    #[test]
    fn binds_defaults_and_given_values() {
        let given = BTreeMap::from([("node".to_string(), ArgValue::from("msk-07"))]);
        let bound = bind_map(&header(), &given, false).unwrap();
        assert_eq!(bound.json["node"], "msk-07");
        assert_eq!(bound.json["timeout"], 600);
        assert!(bound.json["note"].is_null());
        assert_eq!(bound.json["force"], false);
    }

    #[test]
    fn refuses_missing_unknown_mistyped_and_out_of_range() {
        let h = header();
        assert!(bind_map(&h, &BTreeMap::new(), false)
            .unwrap_err()
            .contains("missing argument node"));
        let with = |k: &str, v: ArgValue| {
            BTreeMap::from([
                ("node".to_string(), ArgValue::from("n1")),
                (k.to_string(), v),
            ])
        };
        assert!(bind_map(&h, &with("nodes", 1.into()), false)
            .unwrap_err()
            .contains("unknown argument"));
        assert!(bind_map(&h, &with("timeout", "soon".into()), false)
            .unwrap_err()
            .contains("expected an integer"));
        assert!(bind_map(&h, &with("timeout", 0.into()), false)
            .unwrap_err()
            .contains("outside"));
    }
}
