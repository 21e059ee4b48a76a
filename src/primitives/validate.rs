//! Input checks shared by the primitives. Each error names the argument and says what is
//! allowed, and is raised before anything runs.

use crate::failure::Failure;

fn is_uuid(text: &str) -> bool {
    let bare = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(text);
    bare.len() == 36
        && bare.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// A VE given by name or UUID (braced or not). Names may hold letters, digits, `.`, `_`,
/// `-` and spaces, never shell metacharacters, and may not start with `-`.
pub fn ve_id(text: &str) -> Result<String, Failure> {
    if is_uuid(text) {
        return Ok(text.to_string());
    }
    let bad = |why: String| Failure::bad_input("VE id", format!("{text:?} {why}"));
    if text.trim().is_empty() {
        return Err(bad("is empty".into()));
    }
    if text.len() > 128 {
        return Err(bad("is longer than 128 characters".into()));
    }
    if text.starts_with('-') {
        return Err(bad("starts with '-'".into()));
    }
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | ' ')))
    {
        return Err(bad(format!(
            "contains {c:?}; names use letters, digits, '.', '_', '-' and spaces"
        )));
    }
    Ok(text.to_string())
}

/// A name for something new (a VE, a network): letters, digits, `.`, `_`, `-`.
pub fn new_name(what: &str, text: &str) -> Result<String, Failure> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && !text.starts_with('-')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(text.to_string())
    } else {
        Err(Failure::bad_input(
            what,
            format!("{text:?}: use 1-64 letters, digits, '.', '_' or '-', not starting with '-'"),
        ))
    }
}

/// A storage tier, 0 to 3.
pub fn tier(value: i64) -> Result<u8, Failure> {
    u8::try_from(value)
        .ok()
        .filter(|t| *t <= 3)
        .ok_or_else(|| Failure::bad_input("tier", format!("{value} is outside 0-3")))
}

/// `N` or `N:M`, each 1 to 15, the minimum not above the norm.
pub fn parse_replicas(text: &str) -> Result<(u32, u32), String> {
    let (norm, min) = match text.split_once(':') {
        Some((n, m)) => (n, Some(m)),
        None => (text, None),
    };
    let number = |t: &str| {
        t.parse::<u32>()
            .ok()
            .filter(|n| (1..=15).contains(n))
            .ok_or_else(|| format!("{text:?}: expected N or N:M with each 1-15"))
    };
    let norm = number(norm)?;
    let min = match min {
        Some(m) => number(m)?,
        None => norm.div_ceil(2).max(1),
    };
    if min > norm {
        return Err(format!("{text:?}: the minimum is above the norm"));
    }
    Ok((norm, min))
}

pub fn replicas(text: &str) -> Result<String, Failure> {
    parse_replicas(text)
        .map(|_| text.to_string())
        .map_err(|e| Failure::bad_input("replicas", e))
}

/// An absolute path without NUL, newlines or `..` steps.
pub fn abs_path(what: &str, text: &str) -> Result<String, Failure> {
    let bad = |why: &str| Failure::bad_input(what, format!("{text:?} {why}"));
    if !text.starts_with('/') {
        return Err(bad("is not an absolute path"));
    }
    if text.contains('\0') || text.contains('\n') {
        return Err(bad("contains a NUL or newline"));
    }
    if text.split('/').any(|p| p == "..") {
        return Err(bad("contains `..`"));
    }
    Ok(text.to_string())
}

/// A positive id (CS, MDS).
pub fn id(what: &str, value: i64) -> Result<u64, Failure> {
    u64::try_from(value)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| Failure::bad_input(what, format!("{value} is not a positive number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ve_ids() {
        assert!(ve_id("web01").is_ok());
        assert!(ve_id("My VM 2").is_ok());
        assert!(ve_id("600adc12-0e39-41b3-bf05-c59b7d26dd73").is_ok());
        assert!(ve_id("{600adc12-0e39-41b3-bf05-c59b7d26dd73}").is_ok());
        for bad in ["", "web;rm", "$(x)", "-rf", "a'b", "a\nb", "{web01}"] {
            let e = ve_id(bad).unwrap_err();
            assert!(e.message.starts_with("invalid VE id"), "{bad}: {e}");
        }
    }

    #[test]
    fn tiers_replicas_paths() {
        assert_eq!(tier(3).unwrap(), 3);
        assert!(tier(4).is_err() && tier(-1).is_err());
        assert!(replicas("3:2").is_ok() && replicas("1").is_ok() && replicas("15:15").is_ok());
        for bad in ["0", "16", "2:3", "3:0", "a", "3:", ""] {
            assert!(replicas(bad).is_err(), "{bad}");
        }
        assert!(abs_path("path", "/vz/private").is_ok());
        assert!(abs_path("path", "vz").is_err());
        assert!(abs_path("path", "/vz/../etc").is_err());
        assert!(new_name("name", "ct-01").is_ok());
        assert!(new_name("name", "ct 01").is_err());
    }
}
