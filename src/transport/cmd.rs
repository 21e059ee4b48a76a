//! A command to run on a host: an argv (never a shell string), optional stdin, a deadline, and
//! the effect it has.
//!
//! The effect is what makes plans honest: a `Read` probe runs in plan mode too, a `Change` is
//! only recorded. Every primitive declares which one it builds.

use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// Default deadline of one command; a runbook can pass its own.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Whether running a command changes the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// A probe: safe to run at any time, also in plan mode.
    Read,
    /// A mutation: recorded in the journal, listed but not run in plan mode.
    Change,
}

/// A command to run on a host: argv, optional stdin, deadline and effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    /// The program and its arguments, passed to exec as they are (no shell).
    pub argv: Vec<String>,
    /// Bytes fed to the command's standard input; `None`: no input (stdin is empty).
    pub stdin: Option<Vec<u8>>,
    /// How long the command may run before it is killed and reported as timed out.
    pub timeout: Duration,
    /// Whether the command only reads or changes the host.
    pub effect: Effect,
}

impl Cmd {
    /// A command with the given effect and argv, no stdin and the default timeout.
    pub fn new<S: Into<String>>(effect: Effect, argv: impl IntoIterator<Item = S>) -> Self {
        Cmd {
            argv: argv.into_iter().map(Into::into).collect(),
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
            effect,
        }
    }

    /// A probe: runs in plan mode too.
    pub fn read<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        Self::new(Effect::Read, argv)
    }

    /// A mutation: only listed in plan mode.
    pub fn change<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        Self::new(Effect::Change, argv)
    }

    /// Feeds `stdin` to the command's standard input.
    pub fn with_stdin(mut self, stdin: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(stdin.into());
        self
    }

    /// Replaces the default deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The program name, for messages.
    pub fn program(&self) -> &str {
        self.argv.first().map(String::as_str).unwrap_or("")
    }

    /// Checks that the argv can be passed to exec(2) at all.
    pub fn validate(&self) -> Result<(), String> {
        if self.argv.is_empty() || self.argv[0].is_empty() {
            return Err("the command is empty".into());
        }
        if let Some(arg) = self.argv.iter().find(|a| a.contains('\0')) {
            return Err(format!("argument {:?} contains a NUL byte", arg));
        }
        Ok(())
    }
}

impl fmt::Display for Cmd {
    /// Shell-quoted, so an operator can copy the line into a terminal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shell_join(&self.argv))
    }
}

/// Joins words into one line a POSIX shell would split back into the same words.
pub fn shell_join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes one word for a POSIX shell; plain words stay as they are.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./=:,@%+".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// What a finished command returned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Output {
    /// The exit code (killed by a signal: 128 + signal, locally and over SSH).
    pub code: i32,
    /// Standard output, decoded as UTF-8 (invalid bytes replaced).
    pub stdout: String,
    /// Standard error, decoded as UTF-8 (invalid bytes replaced).
    pub stderr: String,
    /// True when the command was not run because the run is a plan.
    pub planned: bool,
}

impl Output {
    /// True when the exit code is 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// The stand-in result of a Change in plan mode.
    pub fn planned() -> Self {
        Output {
            planned: true,
            ..Output::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips_through_a_shell_reading() {
        assert_eq!(shell_quote("prlctl"), "prlctl");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(reboot)"), "'$(reboot)'");
    }

    #[test]
    fn validation_rejects_empty_and_nul() {
        assert!(Cmd::read(Vec::<String>::new()).validate().is_err());
        assert!(Cmd::read(["echo", "a\0b"]).validate().is_err());
        assert!(Cmd::read(["echo", "ok"]).validate().is_ok());
    }
}
