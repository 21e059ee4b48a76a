//! What a simulated tool answers: exit code, stdout, stderr, and how long it takes.

/// An answer. `takes` is in lab seconds (scaled by the lab speed); infinity means the command
/// never returns on its own (a hung host, a CS that never drains).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The exit code the simulated tool returns.
    pub code: i32,
    /// What it prints on standard output.
    pub stdout: String,
    /// What it prints on standard error.
    pub stderr: String,
    /// Lab seconds the command takes before it answers.
    pub takes: f64,
    /// What the command finishes only when it returns: a command cut short (killed, timed
    /// out) leaves it undone (see [`Finish`]).
    pub finishes: Option<Finish>,
}

/// The last part of a slow command's work, done as it returns (`Lab::finish`).
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    /// `prlctl create` writes the VE's configuration last: until then it is half written
    /// (`broken_config`), as a create cut short leaves it.
    ConfigWritten { uuid: String },
}

impl Reply {
    /// A success (code 0) printing `stdout`, answering at once.
    pub fn ok(stdout: impl Into<String>) -> Self {
        Reply {
            code: 0,
            stdout: stdout.into(),
            stderr: String::new(),
            takes: 0.0,
            finishes: None,
        }
    }

    /// A failure with exit `code`, printing `stderr`, answering at once.
    pub fn fail(code: i32, stderr: impl Into<String>) -> Self {
        Reply {
            code,
            stdout: String::new(),
            stderr: stderr.into(),
            takes: 0.0,
            finishes: None,
        }
    }

    /// Prepends to stdout (a line printed before the outcome).
    pub fn before(mut self, stdout: &str) -> Self {
        self.stdout.insert_str(0, stdout);
        self
    }

    /// Prepends to stderr (a warning printed before anything else).
    pub fn warned(mut self, stderr: &str) -> Self {
        self.stderr.insert_str(0, stderr);
        self
    }

    /// This reply, taking `seconds` lab seconds.
    pub fn takes(mut self, seconds: f64) -> Self {
        self.takes = seconds;
        self
    }

    /// This reply, finishing `what` as it returns (not when cut short).
    pub fn finishing(mut self, what: Finish) -> Self {
        self.finishes = Some(what);
        self
    }

    /// A command that never returns on its own (killed at its deadline).
    pub fn hangs() -> Self {
        Reply::ok("").takes(f64::INFINITY)
    }
}
