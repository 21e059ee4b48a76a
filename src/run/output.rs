//! Renders events for a person (plain lines) or a program (JSON lines).
//!
//! The rule for the text view, which runbooks, scripts and `| tee` rely on:
//! - **stdout holds data only**: what a runbook `print()`s, its `table()`s, and, in a plan,
//!   what would change ("would run on HOST: ...", "would edit on HOST: PATH" and the diff) —
//!   the listing is what `vzrun plan` is for, so it is the plan's data. `-q` never silences it.
//! - **stderr holds the human log**, in the order it happened: the run id at the start,
//!   narration (`log()`, step headings, "no change" notes, what a plan would wait for or
//!   undo), the commands that change a host and the diffs of the files being edited,
//!   progress, waits, heartbeats of long commands, undo actions, warnings, errors, the total
//!   duration and the resume/abort hints. `-q` silences all of it but warnings, errors and
//!   the hints.
//!
//! So `vzrun -q RUNBOOK > file` leaves exactly the runbook's data in the file, and
//! `vzrun RUNBOOK 2>&1 | tee log` keeps everything, in order. Every line is written whole, in
//! one write under one process-wide lock ([`stderr_line`] for writers outside the renderer),
//! so lines from parallel branches, the heartbeat and both streams never cut into each other.
//! With `--output json` every event is one JSON line on stdout instead.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::bars::{Bars, Printer};
use crate::run::event::{Envelope, Event};
use crate::transport::cmd::{shell_join, Effect};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum OutputFormat {
    /// Plain lines for a person.
    #[default]
    Text,
    /// One JSON object per line (versioned, field "v"), for programs.
    Json,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Verbosity {
    pub quiet: bool,
    pub verbose: bool,
}

/// Writes events to stdout/stderr, each line whole (see the module docs).
#[derive(Debug)]
pub struct Renderer {
    format: OutputFormat,
    verbosity: Verbosity,
    bars: Option<Bars>,
    in_flight: InFlight,
}

/// First "still running" line after this long; `$VZRUN_HEARTBEAT` (seconds) changes it.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// Commands under way, so that a long one (an `rm-cs --wait` draining for hours) keeps saying
/// that it runs, where, and for how long, instead of sitting on one static line.
#[derive(Debug, Clone, Default)]
struct InFlight {
    commands: Arc<Mutex<Vec<Running>>>,
    ticker: Arc<std::sync::OnceLock<()>>,
}

#[derive(Debug)]
struct Running {
    line: String,
    started: Instant,
    next_report: Duration,
}

impl InFlight {
    fn heartbeat() -> Duration {
        std::env::var("VZRUN_HEARTBEAT")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .map_or(HEARTBEAT, Duration::from_secs_f64)
    }

    fn started(&self, line: String, bars: Option<Printer>) {
        let first = Self::heartbeat();
        self.commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Running {
                line,
                started: Instant::now(),
                next_report: first,
            });
        let commands = self.commands.clone();
        self.ticker.get_or_init(|| {
            std::thread::spawn(move || Self::tick(commands, first, bars));
        });
    }

    fn finished(&self, line: &str) {
        let mut commands = self.commands.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = commands.iter().position(|r| r.line == line) {
            commands.remove(i);
        }
    }

    /// Reports each long command at the heartbeat, then every three heartbeats (at least
    /// 30 s apart once past the first minute).
    fn tick(commands: Arc<Mutex<Vec<Running>>>, first: Duration, bars: Option<Printer>) {
        let period = (first / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            std::thread::sleep(period);
            let mut due = Vec::new();
            for r in commands
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter_mut()
            {
                let elapsed = r.started.elapsed();
                if elapsed >= r.next_report {
                    due.push(format!(
                        "still running {} ({})",
                        r.line,
                        duration_text(elapsed.as_secs_f64())
                    ));
                    let step = if elapsed > Duration::from_secs(60) {
                        (first * 3).max(Duration::from_secs(30))
                    } else {
                        first * 3
                    };
                    r.next_report = elapsed + step;
                }
            }
            for line in due {
                match &bars {
                    Some(printer) => super::bars::print_above(printer, line),
                    None => stderr_line(&line),
                }
            }
        }
    }
}

impl Renderer {
    pub fn new(format: OutputFormat, verbosity: Verbosity) -> Self {
        let terminal =
            std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
        let bars = (format == OutputFormat::Text && !verbosity.quiet && terminal)
            .then(Bars::new)
            .flatten();
        Renderer {
            format,
            verbosity,
            bars,
            in_flight: InFlight::default(),
        }
    }

    pub fn render(&self, event: &Event) {
        if self.format == OutputFormat::Text && !self.verbosity.quiet {
            match event {
                Event::Command {
                    host,
                    argv,
                    planned: false,
                    ..
                } => self.in_flight.started(
                    format!("on {host}: {}", shell_join(argv)),
                    self.bars.as_ref().map(Bars::printer),
                ),
                Event::CommandFinished { host, argv, .. } => self
                    .in_flight
                    .finished(&format!("on {host}: {}", shell_join(argv))),
                _ => {}
            }
        }
        match self.format {
            OutputFormat::Json => {
                let line = serde_json::to_string(&Envelope::now(event)).expect("events serialize");
                write_whole(Stream::Stdout, &format!("{line}\n"));
            }
            OutputFormat::Text => {
                let print = || {
                    if let Some((stream, text)) = text_of(event, self.verbosity) {
                        write_whole(stream, &printable(&text));
                    }
                };
                match &self.bars {
                    Some(bars) if bars.update(event) => {}
                    // Lines go above the bars.
                    Some(bars) => bars.suspend(print),
                    None => print(),
                }
            }
        }
    }
}

/// Where a line of the text view goes (see the module docs for the rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Data: what the run was for.
    Stdout,
    /// The human log: what happened, as it happened.
    Stderr,
}

/// One lock for every line vzrun writes to stdout or stderr, whichever renderer or thread
/// writes it: with `2>&1` both streams share one pipe, and a line must never be cut.
static LINES: Mutex<()> = Mutex::new(());

/// Writes `text` (whole lines) to `stream` in one write, under [`LINES`].
fn write_whole(stream: Stream, text: &str) {
    let _guard = LINES.lock().unwrap_or_else(|p| p.into_inner());
    match stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
        Stream::Stderr => {
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
    }
}

/// Writes one line of the human log (an error, a hint) to stderr, whole, without cutting
/// into a line a run is writing at the same time. For writers outside the renderer.
pub fn stderr_line(line: &str) {
    write_whole(Stream::Stderr, &format!("{line}\n"));
}

/// What the text view shows for `event`, and on which stream; `None` when it shows nothing.
/// The text is raw: the caller escapes control characters ([`printable`]).
pub fn text_of(event: &Event, verbosity: Verbosity) -> Option<(Stream, String)> {
    use Stream::{Stderr as Log, Stdout as Data};
    let Verbosity { quiet, verbose } = verbosity;
    // A line of the human log that `-q` silences (all of it but warnings).
    let logged = |text: String| (!quiet).then_some((Log, text));
    match event {
        // Printed data, like tables, always shows: `-q` silences narration only.
        Event::Log {
            message,
            data: true,
        } => Some((Data, format!("{message}\n"))),
        Event::Log { message, .. } => logged(format!("{message}\n")),
        Event::Warning { message } => Some((Log, format!("warning: {message}\n"))),
        // A plan's listing of what would change is the plan's data.
        Event::Command {
            host,
            argv,
            planned: true,
            ..
        } => Some((Data, format!("would run on {host}: {}\n", shell_join(argv)))),
        Event::Command {
            host, argv, effect, ..
        } if *effect == Effect::Change || verbose => {
            logged(format!("[{host}] {}\n", shell_join(argv)))
        }
        Event::FileEdit {
            host,
            path,
            diff,
            planned: true,
        } => Some((
            Data,
            format!("would edit on {host}: {path}\n{}", indent(diff)),
        )),
        Event::FileEdit {
            host, path, diff, ..
        } => logged(format!("[{host}] edit {path}\n{}", indent(diff))),
        Event::NoChange { host, message } => logged(format!("[{host}] {message} (no change)\n")),
        Event::Table { columns, rows } => Some((Data, format_table(columns, rows))),
        Event::StepStarted { name } => logged(format!("== {name}\n")),
        Event::StepSkipped { name } => {
            logged(format!("== {name} (done in the resumed run; skipped)\n"))
        }
        Event::ParallelItem {
            item,
            done,
            total,
            outcome,
            ..
        } => logged(format!("({done}/{total}) {item}: {outcome}\n")),
        Event::RunStarted {
            run_id,
            runbook,
            plan,
            ..
        } => {
            let what = if *plan { "plan" } else { "run" };
            logged(format!("{what} {run_id}: {runbook}\n"))
        }
        Event::RunFinished {
            status, seconds, ..
        } => logged(format!("{status} after {}\n", duration_text(*seconds))),
        // A cancelled undo is the change meant to stay: nothing to tell the operator.
        Event::Deferred { what, state, .. } if state != "registered" && state != "cancelled" => {
            logged(format!("undo: {what}: {state}\n"))
        }
        Event::Waiting {
            what,
            elapsed_s,
            timeout_s,
        } => logged(format!(
            "waiting for {what} ({elapsed_s}s of {timeout_s}s)\n"
        )),
        _ => None,
    }
}

/// "0.4s", "12s", "3m 05s", "2h 01m".
pub fn duration_text(seconds: f64) -> String {
    let whole = seconds as u64;
    if seconds < 10.0 {
        format!("{seconds:.1}s")
    } else if whole < 60 {
        format!("{whole}s")
    } else if whole < 3600 {
        format!("{}m {:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h {:02}m", whole / 3600, whole % 3600 / 60)
    }
}

/// Text from tools (stderr, a file's content, a VE's name) shown on a terminal: control
/// characters other than newline and tab are written as `\xNN`, so a tool's raw escape
/// sequence can not move the cursor, recolour, retitle or clear the operator's terminal.
pub fn printable(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    let _ = Printable(&mut out).write_all(text.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

/// A writer that escapes control characters (see [`printable`]).
struct Printable<W: Write>(W);

impl<W: Write> Write for Printable<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut start = 0;
        let mut i = 0;
        while i < buf.len() {
            let b = buf[i];
            // C0 controls and DEL; C1 controls arrive in UTF-8 as 0xC2 0x80..=0x9F.
            let c1 = b == 0xC2 && buf.get(i + 1).is_some_and(|n| (0x80..=0x9F).contains(n));
            if (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7F || c1 {
                self.0.write_all(&buf[start..i])?;
                let code = if c1 { buf[i + 1] } else { b };
                write!(self.0, "\\x{code:02x}")?;
                i += if c1 { 2 } else { 1 };
                start = i;
            } else {
                i += 1;
            }
        }
        self.0.write_all(&buf[start..])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub fn format_table(columns: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                s.push_str(cell);
                s.push_str(&" ".repeat(pad + 2));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut text = line(columns);
    for row in rows {
        text.push_str(&line(row));
    }
    text
}

impl crate::run::sink::EventSink for Renderer {
    fn event(&self, event: &Event) {
        self.render(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_from_tools_are_shown_escaped() {
        assert_eq!(
            printable("ok\x1b]0;pwned\x07\x1b[2J\u{9b}31m\tend\n"),
            "ok\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\tend\n"
        );
        assert_eq!(printable("café"), "café");
    }

    fn normal() -> Verbosity {
        Verbosity::default()
    }

    fn quiet() -> Verbosity {
        Verbosity {
            quiet: true,
            verbose: false,
        }
    }

    fn log(message: &str, data: bool) -> Event {
        Event::Log {
            message: message.into(),
            data,
        }
    }

    fn command(effect: Effect, planned: bool) -> Event {
        Event::Command {
            host: "n1".into(),
            argv: vec!["prlctl".into(), "start".into(), "web 1".into()],
            effect,
            planned,
        }
    }

    fn edit(planned: bool) -> Event {
        Event::FileEdit {
            host: "n1".into(),
            path: "/etc/a.conf".into(),
            diff: "-old\n+new\n".into(),
            planned,
        }
    }

    #[test]
    fn data_goes_to_stdout_with_or_without_quiet() {
        let table = Event::Table {
            columns: vec!["name".into()],
            rows: vec![vec!["web01".into()]],
        };
        for verbosity in [normal(), quiet()] {
            assert_eq!(
                text_of(&log("up 1", true), verbosity),
                Some((Stream::Stdout, "up 1\n".into()))
            );
            assert_eq!(
                text_of(&table, verbosity),
                Some((Stream::Stdout, "name\nweb01\n".into()))
            );
            // A plan's listing is the plan's data.
            assert_eq!(
                text_of(&command(Effect::Change, true), verbosity),
                Some((
                    Stream::Stdout,
                    "would run on n1: prlctl start 'web 1'\n".into()
                ))
            );
            assert_eq!(
                text_of(&edit(true), verbosity),
                Some((
                    Stream::Stdout,
                    "would edit on n1: /etc/a.conf\n    -old\n    +new\n".into()
                ))
            );
        }
    }

    #[test]
    fn the_human_log_goes_to_stderr_and_quiet_silences_all_of_it_but_warnings() {
        let narration = [
            (log("moving web01", false), "moving web01\n"),
            (
                command(Effect::Change, false),
                "[n1] prlctl start 'web 1'\n",
            ),
            (edit(false), "[n1] edit /etc/a.conf\n    -old\n    +new\n"),
            (
                Event::NoChange {
                    host: "n1".into(),
                    message: "web01 runs".into(),
                },
                "[n1] web01 runs (no change)\n",
            ),
            (
                Event::StepStarted {
                    name: "drain".into(),
                },
                "== drain\n",
            ),
            (
                Event::StepSkipped {
                    name: "drain".into(),
                },
                "== drain (done in the resumed run; skipped)\n",
            ),
            (
                Event::Waiting {
                    what: "web01".into(),
                    elapsed_s: 3,
                    timeout_s: 60,
                },
                "waiting for web01 (3s of 60s)\n",
            ),
            (
                Event::RunFinished {
                    status: "ok".into(),
                    exit_code: 0,
                    error: None,
                    seconds: 0.4,
                },
                "ok after 0.4s\n",
            ),
        ];
        for (event, text) in narration {
            assert_eq!(
                text_of(&event, normal()),
                Some((Stream::Stderr, text.into())),
                "{event:?}"
            );
            assert_eq!(text_of(&event, quiet()), None, "{event:?}");
        }
        let warning = Event::Warning {
            message: "n3 is slow".into(),
        };
        for verbosity in [normal(), quiet()] {
            assert_eq!(
                text_of(&warning, verbosity),
                Some((Stream::Stderr, "warning: n3 is slow\n".into()))
            );
        }
    }

    #[test]
    fn probes_show_only_with_verbose() {
        let probe = command(Effect::Read, false);
        assert_eq!(text_of(&probe, normal()), None);
        let verbose = Verbosity {
            quiet: false,
            verbose: true,
        };
        assert_eq!(
            text_of(&probe, verbose),
            Some((Stream::Stderr, "[n1] prlctl start 'web 1'\n".into()))
        );
    }

    #[test]
    fn table_pads_all_but_the_last_column() {
        let cols = vec!["NAME".to_string(), "TIER".to_string()];
        let rows = vec![vec!["web01".to_string(), "1".to_string()]];
        assert_eq!(format_table(&cols, &rows), "NAME   TIER\nweb01  1\n");
    }
}
