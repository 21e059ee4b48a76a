//! A login's resource limits as pam_limits sets them (`su - USER -c 'ulimit -H -c'`):
//! /etc/security/limits.conf, then /etc/security/limits.d/*.conf in name order. A line for
//! the user's own name wins over a wildcard `*` one whatever the order; among lines of the
//! same kind the later wins. Group and wildcard lines are not applied to root: a limit for
//! root needs the literal name `root` (limits.conf(5), Linux-PAM).

use super::reply::Reply;
use super::state::LabState;

/// The limit `item` (`core`, `nofile`) of `kind` (`hard`, `soft`) a login of `user` gets,
/// or the EL7 default when no line sets it (core: hard unlimited, soft 0; nofile: 4096,
/// 1024).
pub fn limit(state: &LabState, host: &str, user: &str, item: &str, hard: bool) -> String {
    let mut value: Option<(u8, String)> = None;
    let mut paths = vec!["/etc/security/limits.conf".to_string()];
    let mut dropins: Vec<String> = state
        .host(host)
        .map(|h| {
            h.files
                .keys()
                .filter(|p| {
                    p.strip_prefix("/etc/security/limits.d/")
                        .is_some_and(|n| !n.contains('/') && n.ends_with(".conf"))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    dropins.sort();
    paths.extend(dropins);
    for path in paths {
        let Some(file) = state.file(host, &path) else {
            continue;
        };
        for line in file.content.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            if w.len() < 4 || w[0].starts_with('#') || w[2] != item {
                continue;
            }
            let kind_ok = w[1] == "-" || (hard && w[1] == "hard") || (!hard && w[1] == "soft");
            if !kind_ok {
                continue;
            }
            // Priority: 0 the user's own name, 4 the wildcard (never for root).
            let priority = if w[0] == user {
                0
            } else if w[0] == "*" && user != "root" {
                4
            } else {
                continue;
            };
            if value.as_ref().is_none_or(|(p, _)| priority <= *p) {
                value = Some((priority, w[3].to_string()));
            }
        }
    }
    value.map(|(_, v)| v).unwrap_or_else(|| {
        match (item, hard) {
            ("core", true) => "unlimited",
            ("core", false) => "0",
            ("nofile", true) => "4096",
            _ => "1024",
        }
        .to_string()
    })
}

/// `su - USER -c 'ulimit -H -c'` (or `-S`, `-n`): the login's limit, as bash prints it.
pub fn su(state: &LabState, host: &str, args: &[String]) -> Reply {
    let (user, script) = match args {
        [dash, user, c, script] if dash == "-" && c == "-c" => (user, script),
        _ => {
            return Reply::fail(
                1,
                "su: the lab knows only su - USER -c 'ulimit -H|-S -c|-n'\n",
            )
        }
    };
    let words: Vec<&str> = script.split_whitespace().collect();
    let (hard, item) = match words.as_slice() {
        ["ulimit", kind, flag] => (
            *kind == "-H",
            match *flag {
                "-c" => "core",
                "-n" => "nofile",
                _ => return Reply::fail(2, format!("ulimit: {flag}: invalid option\n")),
            },
        ),
        _ => {
            return Reply::fail(
                1,
                "su: the lab knows only su - USER -c 'ulimit -H|-S -c|-n'\n",
            )
        }
    };
    Reply::ok(format!("{}\n", limit(state, host, user, item, hard)))
}

#[cfg(test)]
mod tests {
    use super::super::state::LabFile;
    use super::super::tests::lab;
    use super::limit;

    #[test]
    fn a_users_own_line_wins_and_root_takes_no_wildcard() {
        let mut s = lab();
        let h = s.host_mut("msk-01");
        let file = |c: &str| LabFile {
            content: c.into(),
            mode: 0o644,
        };
        h.files.insert(
            "/etc/security/limits.d/10-admin.conf".into(),
            file("admin hard core 5\n"),
        );
        h.files.insert(
            "/etc/security/limits.d/90-all.conf".into(),
            file("# comment\n*    hard    core      0\n*    -    nofile    65536\n"),
        );
        // The user's own line, read first, beats the later wildcard.
        assert_eq!(limit(&s, "msk-01", "admin", "core", true), "5");
        assert_eq!(limit(&s, "msk-01", "other", "core", true), "0");
        assert_eq!(limit(&s, "msk-01", "other", "nofile", false), "65536");
        // Root: no wildcard line applies; the EL7 defaults hold.
        assert_eq!(limit(&s, "msk-01", "root", "core", true), "unlimited");
        assert_eq!(limit(&s, "msk-01", "root", "nofile", true), "4096");
    }
}
