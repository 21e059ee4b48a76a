//! What a simulated tool answers: exit code, stdout, stderr, and how long it takes.

/// An answer. `takes` is in lab seconds (scaled by the lab speed); infinity means the command
/// never returns on its own (a hung host, a CS that never drains).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub takes: f64,
}

impl Reply {
    pub fn ok(stdout: impl Into<String>) -> Self {
        Reply {
            code: 0,
            stdout: stdout.into(),
            stderr: String::new(),
            takes: 0.0,
        }
    }

    pub fn fail(code: i32, stderr: impl Into<String>) -> Self {
        Reply {
            code,
            stdout: String::new(),
            stderr: stderr.into(),
            takes: 0.0,
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

    pub fn takes(mut self, seconds: f64) -> Self {
        self.takes = seconds;
        self
    }

    pub fn hangs() -> Self {
        Reply::ok("").takes(f64::INFINITY)
    }
}
