//! Input checks shared by the primitives. Each error names the argument and says what is
//! allowed, and is raised before anything runs.

pub use crate::parse::rules::{check_abs_path, check_port, parse_replicas, PortProblem};

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

/// An absolute path without NUL, newlines or `..` steps.
pub fn abs_path(what: &str, text: &str) -> Result<String, Failure> {
    check_abs_path(text)
        .map(|()| text.to_string())
        .map_err(|why| Failure::bad_input(what, format!("{text:?} {why}")))
}

pub fn replicas(text: &str) -> Result<String, Failure> {
    parse_replicas(text)
        .map(|_| text.to_string())
        .map_err(|e| Failure::bad_input("replicas", e))
}

/// A positive id (CS, MDS).
pub fn id(what: &str, value: i64) -> Result<u64, Failure> {
    u64::try_from(value)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| Failure::bad_input(what, format!("{value} is not a positive number")))
}

/// A firewalld port spec such as `10050/tcp` or `8000-8100/udp`.
pub fn port(spec: &str) -> Result<String, Failure> {
    check_port(spec).map(|_| spec.to_string()).map_err(|p| {
        let why = match p {
            PortProblem::BadPort => {
                "expected port[-port]/protocol with ports 1-65535, e.g. 10050/tcp".to_string()
            }
            PortProblem::BadProtocol(proto) => {
                format!("protocol {proto:?} is not tcp, udp, sctp or dccp")
            }
        };
        Failure::bad_input("port", format!("{spec:?}: {why}"))
    })
}

/// A systemd unit name (`vcmmd`, `vstorage-csd.target`, `getty@tty1.service`).
pub fn unit(name: &str) -> Result<String, Failure> {
    let ok = !name.is_empty()
        && !name.starts_with('-')
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@:._-\\".contains(c));
    if ok {
        Ok(name.to_string())
    } else {
        Err(Failure::bad_input(
            "unit",
            format!("{name:?} is not a systemd unit name"),
        ))
    }
}

/// A sysctl key such as `vm.swappiness` or `net.ipv4.conf.eth0/1.forwarding`.
pub fn sysctl_key(key: &str) -> Result<String, Failure> {
    let ok = !key.is_empty()
        && !key.starts_with(['.', '-'])
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c));
    if ok {
        Ok(key.to_string())
    } else {
        Err(Failure::bad_input(
            "sysctl key",
            format!("{key:?} is not a sysctl key"),
        ))
    }
}

/// A key or value written into a configuration file: no control character at all (CR and
/// NUL end a line for systemd-sysctl and shells, ESC rewrites a terminal) and no escape
/// character standing for one (see `edit::bytes`). `allow_tab` for line formats whose fields
/// are separated by tabs (limits.d).
pub fn file_text<'a>(what: &str, text: &'a str, allow_tab: bool) -> Result<&'a str, Failure> {
    let bad = text.chars().find(|c| {
        (c.is_control() && !(allow_tab && *c == '\t')) || crate::edit::bytes::is_forged_escape(*c)
    });
    match bad {
        None => Ok(text),
        Some(c) => Err(Failure::bad_input(
            what,
            format!(
                "{text:?} holds the control character {c:?}: it must be a single line of printable text"
            ),
        )),
    }
}

/// A block device path such as `/dev/sdc` or `/dev/nvme0n1p1`.
pub fn device(path: &str) -> Result<String, Failure> {
    let ok = path.strip_prefix("/dev/").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c))
            && !rest.contains("..")
    });
    if ok {
        Ok(path.to_string())
    } else {
        Err(Failure::bad_input(
            "device",
            format!("{path:?} is not a /dev/... block device path"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_units_keys_devices() {
        for good in ["10050/tcp", "8000-8100/udp", "1/sctp", "65535/dccp"] {
            assert!(port(good).is_ok(), "{good}");
        }
        assert_eq!(check_port("10050"), Err(PortProblem::BadPort));
        assert_eq!(check_port("0/tcp"), Err(PortProblem::BadPort));
        assert_eq!(check_port("70000/tcp"), Err(PortProblem::BadPort));
        assert_eq!(
            check_port("10050/xyz"),
            Err(PortProblem::BadProtocol("xyz".into()))
        );
        assert!(port("10050/tcp; reboot").is_err());
        assert!(unit("vstorage-csd.livelinux.1025.service").is_ok());
        assert!(unit("-x").is_err() && unit("a b").is_err());
        assert!(sysctl_key("net.ipv4.ip_forward").is_ok() && sysctl_key("a b").is_err());
        assert!(
            device("/dev/sdc").is_ok()
                && device("/etc/passwd").is_err()
                && device("/dev/../x").is_err()
        );
    }

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

    // The tests below kill mutants that `bench/mutants` found surviving the unit tests
    // (the integration tests caught some of them, but only through the binary).

    #[test]
    fn limits_hold_at_their_exact_edges() {
        assert!(ve_id(&"a".repeat(128)).is_ok());
        let long = ve_id(&"a".repeat(129)).unwrap_err();
        assert!(
            long.message.ends_with("is longer than 128 characters"),
            "{long}"
        );
        assert_eq!(id("CS id", 1).unwrap(), 1);
        assert_eq!(id("CS id", 1025).unwrap(), 1025);
        for bad in [0, -1] {
            let e = id("CS id", bad).unwrap_err();
            assert!(
                e.message
                    .ends_with(&format!("{bad} is not a positive number")),
                "{e}"
            );
        }
        // Both ends of a port range must be ports.
        assert_eq!(check_port("0-100/tcp"), Err(PortProblem::BadPort));
        assert_eq!(check_port("100-70000/tcp"), Err(PortProblem::BadPort));
        assert!(check_port("100-200/tcp").is_ok());
        // A NUL or a newline, each alone, is refused.
        assert!(abs_path("path", "/a\0b").is_err());
        assert!(abs_path("path", "/a\nb").is_err());
        assert!(device("/dev/").is_err() && device("/dev/sd;c").is_err());
    }

    #[test]
    fn file_text_refuses_control_and_forged_escape_characters_and_tabs_unless_allowed() {
        assert_eq!(
            file_text("value", "vm.swappiness = 10", false).unwrap(),
            "vm.swappiness = 10"
        );
        assert_eq!(
            file_text("line", "*\tsoft\tnofile\t1", true).unwrap(),
            "*\tsoft\tnofile\t1"
        );
        for (text, allow_tab) in [
            ("a\tb", false),
            ("a\rb", false),
            ("a\rb", true),
            ("a\x1bb", true),
            ("a\u{10FF0A}b", false),
        ] {
            let e = file_text("value", text, allow_tab).unwrap_err();
            assert!(
                e.message.contains("holds the control character"),
                "{text:?}: {e}"
            );
        }
    }
}
