//! Shell-style `KEY=value` files (/etc/vz/vz.conf, pfcache.conf): read the value a shell
//! would see, set a key in place (the last assignment, which is the one that wins), unset it.
//! Comments, order and every other line stay as they are.

use std::sync::LazyLock;

use regex::Regex;

use super::{append_line, lines_with_ends};

static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)=(.*?)(\r?\n)?$").expect("valid regex")
});

/// The value of a raw right-hand side: quotes removed, escapes in double quotes resolved,
/// an unquoted trailing comment dropped.
pub fn decode(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    out.push(c);
                }
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.peek() {
                            Some('"' | '\\' | '$' | '`') => out.push(chars.next().expect("peeked")),
                            _ => out.push('\\'),
                        },
                        c => out.push(c),
                    }
                }
            }
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            c if c.is_whitespace() => break,
            c => out.push(c),
        }
    }
    out
}

/// The shortest quoting that a shell reads back as exactly `value`.
pub fn encode(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:,@%+=".contains(c));
    if plain {
        value.to_string()
    } else if !value.contains('\'') {
        format!("'{value}'")
    } else {
        let escaped: String = value
            .chars()
            .flat_map(|c| match c {
                '"' | '\\' | '$' | '`' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        format!("\"{escaped}\"")
    }
}

/// The value the last assignment of `key` gives, if any.
pub fn get(text: &str, key: &str) -> Option<String> {
    lines_with_ends(text)
        .into_iter()
        .filter_map(|l| ASSIGNMENT.captures(l))
        .rfind(|c| &c[2] == key)
        .map(|c| decode(&c[3]))
}

/// Sets `key` to `value`: rewrites the last assignment in place, or appends one.
pub fn set(text: &str, key: &str, value: &str) -> String {
    if get(text, key).as_deref() == Some(value) {
        return text.to_string();
    }
    let lines = lines_with_ends(text);
    let last = lines
        .iter()
        .rposition(|l| ASSIGNMENT.captures(l).is_some_and(|c| &c[2] == key));
    match last {
        None => append_line(text, &format!("{key}={}", encode(value))),
        Some(i) => {
            let caps = ASSIGNMENT.captures(lines[i]).expect("matched above");
            let ending = caps.get(4).map_or("", |m| m.as_str());
            let mut out: String = lines[..i].concat();
            out.push_str(&format!("{}{key}={}{ending}", &caps[1], encode(value)));
            out.push_str(&lines[i + 1..].concat());
            out
        }
    }
}

/// Removes every assignment of `key`.
pub fn unset(text: &str, key: &str) -> String {
    lines_with_ends(text)
        .into_iter()
        .filter(|l| ASSIGNMENT.captures(l).is_none_or(|c| &c[2] != key))
        .collect()
}

pub fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VZ: &str = "## Global parameters\nVIRTUOZZO=yes\n# VE_ROUTE_SRC_DEV=\"eth0\"\nVE_ROOT=/vz/root/$VEID\nCONFIGFILE=\"basic\"\nDEF_OSTEMPLATE='.centos-7'\nexport LOG_LEVEL=0 # quiet\nVIRTUOZZO=no";

    /// Kills the mutants `bench/mutants` found surviving in `valid_key`: a shell variable
    /// name starts with a letter or `_`, then letters, digits, `_` (POSIX XBD 3.235).
    #[test]
    fn keys_are_shell_variable_names() {
        for good in ["VE_ROOT", "_X", "A1", "a_1_B"] {
            assert!(valid_key(good), "{good}");
        }
        for bad in ["", "1A", "A-B", "A B", "-A", "\u{e9}T\u{e9}"] {
            assert!(!valid_key(bad), "{bad:?}");
        }
    }

    #[test]
    fn reads_what_a_shell_would() {
        assert_eq!(get(VZ, "CONFIGFILE").as_deref(), Some("basic"));
        assert_eq!(get(VZ, "DEF_OSTEMPLATE").as_deref(), Some(".centos-7"));
        assert_eq!(
            get(VZ, "VIRTUOZZO").as_deref(),
            Some("no"),
            "the last assignment wins"
        );
        assert_eq!(get(VZ, "LOG_LEVEL").as_deref(), Some("0"));
        assert_eq!(get(VZ, "VE_ROOT").as_deref(), Some("/vz/root/$VEID"));
        assert_eq!(get(VZ, "VE_ROUTE_SRC_DEV"), None, "commented out");
        assert_eq!(
            get("A=\"x \\\"y\\\" \\$z\"\n", "A").as_deref(),
            Some("x \"y\" $z")
        );
    }

    #[test]
    fn sets_in_place_and_quotes_when_needed() {
        let new = set(VZ, "CONFIGFILE", "vswap 2g");
        assert!(new.contains("\nCONFIGFILE='vswap 2g'\n"));
        assert_eq!(new.lines().count(), VZ.lines().count());
        let new = set(VZ, "VIRTUOZZO", "yes");
        assert!(
            new.ends_with("VIRTUOZZO=yes"),
            "the effective line, no final newline kept"
        );
        assert!(new.starts_with("## Global parameters\nVIRTUOZZO=yes\n"));
        let new = set(VZ, "LOG_LEVEL", "1");
        assert!(new.contains("\nexport LOG_LEVEL=1\n"));
        let new = set(VZ, "PAGECACHE_ISOLATION", "yes");
        assert!(new.ends_with("VIRTUOZZO=no\nPAGECACHE_ISOLATION=yes\n"));
        assert_eq!(
            set(VZ, "CONFIGFILE", "basic"),
            VZ,
            "an equal value writes nothing"
        );
        assert_eq!(encode("it's $HOME"), "\"it's \\$HOME\"");
    }

    #[test]
    fn unset_removes_every_assignment() {
        let new = unset(VZ, "VIRTUOZZO");
        assert_eq!(get(&new, "VIRTUOZZO"), None);
        assert!(new.starts_with("## Global parameters\n# VE_ROUTE"));
    }

    proptest! {
        #[test]
        fn any_value_round_trips(value in "[ -~]{0,30}", key in "[A-Z_][A-Z0-9_]{0,8}") {
            let text = set(VZ, &key, &value);
            prop_assert_eq!(get(&text, &key), Some(value.clone()));
            prop_assert_eq!(set(&text, &key, &value), text.clone());
            // Other keys keep their values.
            for other in ["CONFIGFILE", "DEF_OSTEMPLATE", "VE_ROOT"] {
                if other != key {
                    prop_assert_eq!(get(&text, other), get(VZ, other));
                }
            }
        }
    }
}
