//! The API's signatures in an operator's words, for errors that Rhai reports as a bare
//! `Function not found: prlctl::start (Host, i64)`: which function, which argument, what it
//! takes and what it got.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, LazyLock};

use serde_json::Value;

/// A Rust type of the API as a Rhai user knows it (`&str` → `string`, `i64` → `int`).
pub fn rhai_type(rust: &str) -> String {
    let t = rust.trim();
    let t = t
        .strip_prefix("ApiResult<")
        .and_then(|r| r.strip_suffix('>'))
        .or_else(|| {
            t.strip_prefix("Result<")
                .and_then(|r| r.split_once(','))
                .map(|(ok, _)| ok)
        })
        .unwrap_or(t)
        .trim();
    match t {
        "&str" | "String" | "ImmutableString" | "&mut ImmutableString" => "string".into(),
        "i64" | "INT" => "int".into(),
        "f64" | "FLOAT" => "float".into(),
        "bool" => "bool".into(),
        "Map" | "rhai::Map" => "map".into(),
        "Array" | "rhai::Array" => "array".into(),
        "FnPtr" => "Fn".into(),
        "Dynamic" => "any".into(),
        "()" | "" => "()".into(),
        "&mut Host" => "Host".into(),
        "&mut Failure" => "Failure".into(),
        other => other.to_string(),
    }
}

/// One overload: parameter names and Rhai types.
type Params = Vec<(String, String)>;

/// Every API function by its full name (`prlctl::start`, `host`), with its overloads.
static SIGNATURES: LazyLock<BTreeMap<String, Vec<Params>>> = LazyLock::new(|| {
    let engine = super::build(
        None,
        None,
        super::Limits::default(),
        Arc::new(AtomicBool::new(false)),
    );
    let meta: Value = engine
        .gen_fn_metadata_to_json(false)
        .ok()
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default();
    let mut all: BTreeMap<String, Vec<Params>> = BTreeMap::new();
    let mut add = |prefix: &str, functions: &Value| {
        for f in functions.as_array().into_iter().flatten() {
            let name = f["name"].as_str().unwrap_or_default();
            let params = f["params"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap_or("_").to_string(),
                        rhai_type(p["type"].as_str().unwrap_or("")),
                    )
                })
                .collect();
            all.entry(format!("{prefix}{name}"))
                .or_default()
                .push(params);
        }
    };
    add("", &meta["functions"]);
    if let Some(modules) = meta["modules"].as_object() {
        for (module, m) in modules {
            add(&format!("{module}::"), &m["functions"]);
        }
    }
    all
});

fn show(params: &Params) -> String {
    params
        .iter()
        .map(|(n, t)| format!("{n}: {t}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Explains `Function not found: NAME (T1, T2)` for a function of the API; `None` for a
/// function the API does not have (a script's own, or a typo that `vzrun check` reports).
pub fn explain_not_found(signature: &str) -> Option<String> {
    let (name, given) = signature.split_once(" (")?;
    let given: Vec<String> = given
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(rhai_type)
        .collect();
    let overloads = SIGNATURES.get(name.trim())?;
    let name = name.trim();
    let same_arity: Vec<&Params> = overloads
        .iter()
        .filter(|p| p.len() == given.len())
        .collect();
    let takes = overloads
        .iter()
        .map(|p| format!("{name}({})", show(p)))
        .collect::<Vec<_>>()
        .join(" or ");
    if same_arity.is_empty() {
        return Some(format!(
            "{name} was given {} argument(s); it takes {takes}",
            given.len()
        ));
    }
    let params = same_arity[0];
    let wrong = params
        .iter()
        .zip(&given)
        .enumerate()
        .find(|(_, ((_, want), got))| want != *got && want != "any");
    Some(match wrong {
        Some((i, ((pname, want), got))) => format!(
            "{name}: argument {} (`{pname}`) must be {}, not {}; it takes {takes}",
            i + 1,
            article(want),
            article(got)
        ),
        None => format!(
            "{name} cannot take ({}); it takes {takes}",
            given.join(", ")
        ),
    })
}

fn article(t: &str) -> String {
    match t {
        "int" => "an integer".into(),
        "float" => "a number".into(),
        "string" => "a string".into(),
        "bool" => "true or false".into(),
        "map" => "a map #{...}".into(),
        "array" => "an array [...]".into(),
        "()" => "() (nothing)".into(),
        "Fn" => "a closure".into(),
        other => format!("a {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_argument_and_both_types() {
        let text = explain_not_found("prlctl::start (Host, i64)").unwrap();
        assert!(
            text.starts_with("prlctl::start: argument 2 (`id`) must be a string, not an integer"),
            "{text}"
        );
        let text = explain_not_found("prlctl::start (Host)").unwrap();
        assert!(text.contains("was given 1 argument(s)"), "{text}");
        assert!(explain_not_found("my_own_fn (i64)").is_none());
    }
}
