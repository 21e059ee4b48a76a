//! Renders events for a person (plain lines) or a program (JSON lines).
//!
//! Where each event goes in the text view (the rule runbooks and scripts rely on):
//! - stdout, always: data — `print()` output and `table()`s — and, in a plan, what would change;
//! - stdout unless `-q`: narration — `log()`, step headings, "no change" notes;
//! - stderr: warnings (always), the changes being made, progress, waits (not with `-q`).
//!
//! So `vzrun -q RUNBOOK > file` leaves exactly the runbook's data in the file. With
//! `--output json` every event is one JSON line on stdout instead.

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

/// Writes events to stdout/stderr. A mutex keeps lines from parallel branches whole.
#[derive(Debug)]
pub struct Renderer {
    format: OutputFormat,
    verbosity: Verbosity,
    lock: Mutex<()>,
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
                    None => eprintln!("{line}"),
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
            lock: Mutex::new(()),
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
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        match self.format {
            OutputFormat::Json => {
                let line = serde_json::to_string(&Envelope::now(event)).expect("events serialize");
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            OutputFormat::Text => match &self.bars {
                Some(bars) if bars.update(event) => {}
                // Lines go above the bars.
                Some(bars) => bars.suspend(|| self.render_text(event)),
                None => self.render_text(event),
            },
        }
    }

    fn render_text(&self, event: &Event) {
        let Verbosity { quiet, verbose } = self.verbosity;
        let mut out = Printable(std::io::stdout().lock());
        let mut err = Printable(std::io::stderr().lock());
        match event {
            // Printed data, like tables, always shows: `-q` silences narration only.
            Event::Log { message, data } if *data || !quiet => {
                let _ = writeln!(out, "{message}");
            }
            Event::Warning { message } => {
                let _ = writeln!(err, "warning: {message}");
            }
            Event::Command {
                host,
                argv,
                planned: true,
                ..
            } => {
                let _ = writeln!(out, "would run on {host}: {}", shell_join(argv));
            }
            Event::Command {
                host, argv, effect, ..
            } if !quiet && (*effect == Effect::Change || verbose) => {
                let _ = writeln!(err, "[{host}] {}", shell_join(argv));
            }
            Event::FileEdit {
                host,
                path,
                diff,
                planned,
            } => {
                if *planned {
                    let _ = writeln!(out, "would edit on {host}: {path}");
                    let _ = write!(out, "{}", indent(diff));
                } else if !quiet {
                    let _ = writeln!(err, "[{host}] edit {path}");
                    let _ = write!(err, "{}", indent(diff));
                }
            }
            Event::NoChange { host, message } if !quiet => {
                let _ = writeln!(out, "[{host}] {message} (no change)");
            }
            Event::Table { columns, rows } => {
                let _ = write!(out, "{}", format_table(columns, rows));
            }
            Event::StepStarted { name } if !quiet => {
                let _ = writeln!(out, "== {name}");
            }
            Event::ParallelItem {
                item,
                done,
                total,
                outcome,
                ..
            } if !quiet => {
                let _ = writeln!(err, "({done}/{total}) {item}: {outcome}");
            }
            Event::RunStarted {
                run_id,
                runbook,
                plan,
                ..
            } if !quiet => {
                let what = if *plan { "plan" } else { "run" };
                let _ = writeln!(err, "{what} {run_id}: {runbook}");
            }
            Event::RunFinished {
                status, seconds, ..
            } if !quiet => {
                let _ = writeln!(err, "{status} after {}", duration_text(*seconds));
            }
            Event::StepSkipped { name } if !quiet => {
                let _ = writeln!(out, "== {name} (done in the resumed run; skipped)");
            }
            Event::Deferred { what, state, .. } if !quiet && state != "registered" => {
                let _ = writeln!(err, "undo: {what}: {state}");
            }
            Event::Waiting {
                what,
                elapsed_s,
                timeout_s,
            } if !quiet => {
                let _ = writeln!(err, "waiting for {what} ({elapsed_s}s of {timeout_s}s)");
            }
            _ => {}
        }
        let _ = out.flush();
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

    #[test]
    fn table_pads_all_but_the_last_column() {
        let cols = vec!["NAME".to_string(), "TIER".to_string()];
        let rows = vec![vec!["web01".to_string(), "1".to_string()]];
        assert_eq!(format_table(&cols, &rows), "NAME   TIER\nweb01  1\n");
    }
}
