//! The builder every integration test uses: runs the real `vzrun` binary in a scratch
//! directory with its own state dir, and checks what came out.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

pub fn vzrun_bin() -> &'static str {
    env!("CARGO_BIN_EXE_vzrun")
}

/// The ids of the runs journaled under a state directory.
pub fn run_ids(state: &Path) -> Vec<String> {
    let mut ids: Vec<String> = fs::read_dir(state.join("runs"))
        .map(|entries| {
            entries
                .map(|e| {
                    e.unwrap()
                        .path()
                        .file_stem()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

pub struct Test {
    dir: TempDir,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

impl Test {
    pub fn new() -> Self {
        Test {
            dir: tempfile::tempdir().expect("temp dir"),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Writes a file under the scratch directory (parents created).
    pub fn file(self, relative: &str, contents: &str) -> Self {
        let path = self.dir.path().join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, contents).unwrap();
        self
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: Into<OsString>>(mut self, args: impl IntoIterator<Item = I>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The command as it will run, for tests that need to drive the process themselves.
    /// Keep this `Test` alive while the process runs: its directory is the working directory.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(vzrun_bin());
        cmd.args(&self.args)
            .current_dir(self.dir.path())
            .env("VZRUN_STATE_DIR", self.dir.path().join("state"))
            .env_remove("VZRUN_PATH")
            .env_remove("VZRUN_INVENTORY");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs with `dir` as the working directory instead of the scratch one.
    pub fn command_in(self, dir: &Path) -> Outcome {
        let mut cmd = self.command();
        cmd.current_dir(dir).stdin(Stdio::null());
        let output = cmd.output().expect("vzrun runs");
        Outcome {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            test: self,
        }
    }

    pub fn run(self) -> Outcome {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vzrun starts");
        // No input: a runbook that asks a question must see end-of-file, not hang.
        drop(child.stdin.take());
        let output = child.wait_with_output().unwrap();
        Outcome {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            test: self,
        }
    }
}

/// Starts a command and waits for the first line of its log (stderr) that contains `needle`
/// (stdout is dropped): for tests that interrupt, kill or race a run once it has reached a
/// `log()` line. Returns that whole line; the rest of stderr is read (and dropped) in the
/// background so that the run never blocks on a full pipe.
pub fn spawn_until_stderr_line(cmd: &mut Command, needle: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vzrun starts");
    let mut lines = std::io::BufReader::new(child.stderr.take().expect("piped")).lines();
    let mut seen = Vec::new();
    let line = loop {
        match lines.next() {
            Some(Ok(line)) if line.contains(needle) => break line,
            Some(Ok(line)) => seen.push(line),
            _ => panic!(
                "stderr ended without a line with {needle:?}; it had:\n{}",
                seen.join("\n")
            ),
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (child, line)
}

pub struct Outcome {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub test: Test,
}

impl Outcome {
    fn context(&self) -> String {
        format!(
            "\n--- status: {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.status, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn status(self, expected: i32) -> Self {
        assert_eq!(
            self.status,
            expected,
            "unexpected exit status{}",
            self.context()
        );
        assert!(
            !self.stderr.contains("panicked"),
            "vzrun panicked{}",
            self.context()
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(self, needle: &str) -> Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}{}",
            self.context()
        );
        self
    }

    #[track_caller]
    pub fn stdout_lacks(self, needle: &str) -> Self {
        assert!(
            !self.stdout.contains(needle),
            "stdout has {needle:?}{}",
            self.context()
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}{}",
            self.context()
        );
        self
    }

    #[track_caller]
    pub fn stderr_lacks(self, needle: &str) -> Self {
        assert!(
            !self.stderr.contains(needle),
            "stderr has {needle:?}{}",
            self.context()
        );
        self
    }

    /// The changes the run echoed in its log (stderr): its `[host] command` and
    /// `[host] edit path` lines; a `[host] ... (no change)` note is not one.
    pub fn changes(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with('[') && !l.ends_with(" (no change)"))
            .collect()
    }

    /// The JSON events of a run made with `--output json`.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
            .collect()
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.test.path(relative)
    }

    pub fn exists(&self, relative: &str) -> bool {
        Path::new(&self.path(relative)).exists()
    }
}

/// A run waiting at its confirmation question on a terminal (a pseudo-terminal from
/// util-linux `script`, as an operator's ssh session gives it): for tests where something
/// happens while an operator reads the question.
pub struct AtPrompt {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    output: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

/// Starts `cmd` on a terminal and waits until what it wrote (stdout and stderr both go to
/// the terminal) contains `needle`, the question. Panics, with what it wrote, when it ends
/// first.
pub fn spawn_at_prompt(cmd: &Command, needle: &str) -> AtPrompt {
    use std::io::Read;
    let quoted: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy().replace('\'', r"'\''")))
        .collect();
    let mut script = Command::new("script");
    // -e: script exits with the command's status; /dev/null: keep no typescript.
    script.args(["-q", "-e", "-c", &quoted.join(" "), "/dev/null"]);
    if let Some(dir) = cmd.get_current_dir() {
        script.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    let mut child = script
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script (util-linux) starts");
    let stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = output.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let mut at = AtPrompt {
        child,
        stdin,
        output,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if at.text().contains(needle) {
            return at;
        }
        let ended = at.child.try_wait().unwrap().is_some();
        assert!(
            !ended && std::time::Instant::now() < deadline,
            "no question {needle:?}; the run wrote:\n{}",
            at.text()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

impl AtPrompt {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Types `answer` and Enter; returns the run's exit status and everything it wrote.
    pub fn answer(mut self, answer: &str) -> (i32, String) {
        use std::io::Write;
        writeln!(self.stdin, "{answer}").unwrap();
        let status = self.child.wait().unwrap().code().unwrap_or(-1);
        // The reader ends with the terminal; give it a moment to take the last bytes.
        for _ in 0..100 {
            if std::sync::Arc::strong_count(&self.output) == 1 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        (status, self.text())
    }
}
