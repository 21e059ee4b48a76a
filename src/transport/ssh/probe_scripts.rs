//! The scripts of the file probes (read a file, its mode), and how the login shell runs them
//! without starting a `sh` of its own.
//!
//! A probe is `sh -c SCRIPT sh ARGS`. Without sudo, sshd already starts a POSIX login shell
//! for the channel; for the scripts below, written so that any POSIX login shell (sh, bash,
//! ksh, and zsh with its own splitting rules) runs them alike, that shell runs the text
//! itself: one process less on the host for every file read. Each ends in an `exec`, so
//! the process doing the work carries the probe's mark (see `remote_deadline`).

/// Reads a file: exit 3 when it does not exist.
pub const READ_SCRIPT: &str = r#"if [ -e "$1" ]; then exec cat -- "$1"; else exit 3; fi"#;

/// The permission bits of a file in octal: exit 3 when it does not exist.
/// Follows a symlink (`-L`): the mode that matters is the target's, never a link's 0777.
pub const MODE_SCRIPT: &str = r#"if [ -e "$1" ]; then exec stat -L -c %a -- "$1"; else exit 3; fi"#;

/// `sh -c SCRIPT sh ARGS` as text the login shell can run without a `sh` of its own, for
/// the scripts written to run in any POSIX login shell (every word quoted, so zsh's
/// splitting rules give the same words): `set -- ARGS; SCRIPT`.
pub fn inline_script(argv: &[String]) -> Option<String> {
    match argv {
        [sh, c, script, zero, args @ ..]
            if sh == "sh"
                && c == "-c"
                && zero == "sh"
                && [READ_SCRIPT, MODE_SCRIPT].contains(&script.as_str()) =>
        {
            let mut words = vec!["set".to_string(), "--".to_string()];
            words.extend(args.iter().cloned());
            Some(format!(
                "{}; {script}",
                crate::transport::cmd::shell_join(&words)
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn probe(script: &str, path: &str) -> Vec<String> {
        ["sh", "-c", script, "sh", path]
            .iter()
            .map(|w| w.to_string())
            .collect()
    }

    /// Runs the inlined text as a login shell would (`SHELL -c TEXT`): (code, stdout).
    fn run(shell: &str, text: &str) -> (i32, String) {
        let out = Command::new(shell).arg("-c").arg(text).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    #[test]
    fn the_file_probes_run_inline_with_the_same_results() {
        let dir = tempfile::tempdir().unwrap();
        // A name no unquoted word survives: a space, a quote, a glob, a `$`.
        let path = dir.path().join("it's a *$HOME file");
        std::fs::write(&path, "one\ntwo\n").unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640))
            .unwrap();
        let path = path.to_str().unwrap();
        let missing = dir.path().join("missing; touch pwned");
        let missing = missing.to_str().unwrap();
        for shell in ["sh", "bash"] {
            let read = inline_script(&probe(READ_SCRIPT, path)).unwrap();
            assert_eq!(run(shell, &read), (0, "one\ntwo\n".to_string()), "{shell}");
            let gone = inline_script(&probe(READ_SCRIPT, missing)).unwrap();
            assert_eq!(run(shell, &gone), (3, String::new()), "{shell}");
            let mode = inline_script(&probe(MODE_SCRIPT, path)).unwrap();
            let (code, out) = run(shell, &mode);
            assert_eq!((code, out.trim()), (0, "640"), "{shell}");
        }
        assert!(!dir.path().join("pwned").exists());
    }

    #[test]
    fn only_the_known_scripts_are_inlined() {
        assert!(inline_script(&probe("exec cat -- \"$1\"", "/etc/hosts")).is_none());
        let mut not_sh = probe(READ_SCRIPT, "/etc/hosts");
        not_sh[0] = "bash".into();
        assert!(inline_script(&not_sh).is_none());
        assert!(inline_script(&["prlctl".to_string(), "list".into()]).is_none());
    }
}
