//! Where a run's events go, and who answers its questions: the two things a program that
//! embeds vzrun replaces. The command line uses the [`Renderer`](crate::run::output::Renderer)
//! (text or JSON lines, progress bars on a terminal) and asks on the terminal.

use std::io::{BufRead, IsTerminal, Write};

use crate::run::event::Event;

/// Receives every event of a run, in order (the journal records them independently).
///
/// ```
/// use std::sync::Mutex;
/// use vzrun::{Event, EventSink};
///
/// /// Keeps the names of the steps a run went through.
/// #[derive(Default)]
/// struct Steps(Mutex<Vec<String>>);
///
/// impl EventSink for Steps {
///     fn event(&self, event: &Event) {
///         if let Event::StepStarted { name } = event {
///             self.0.lock().unwrap().push(name.clone());
///         }
///     }
/// }
/// ```
pub trait EventSink: Send + Sync {
    /// Called once per event, from whichever thread the script runs on (`parallel`
    /// branches run on several).
    fn event(&self, event: &Event);
}

/// Answers a runbook's `confirm(question)` (and the question a destructive runbook is
/// asked before it starts). Not called with `yes` set, nor in a plan.
pub trait Confirm: Send + Sync {
    /// Who answers, as the journal records it (`terminal`, `scheduler`, ...).
    fn who(&self) -> &str;

    /// `Ok(true)` goes ahead, `Ok(false)` refuses; `Err(why)` when there is no one to ask
    /// (the run is refused with that reason).
    fn ask(&self, question: &str) -> Result<bool, String>;
}

/// Asks on the terminal (stderr, then a line from stdin); without a terminal there is no one
/// to ask, and the answer is a refusal telling to pass `--yes`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TerminalConfirm;

impl Confirm for TerminalConfirm {
    fn who(&self) -> &str {
        "terminal"
    }

    fn ask(&self, question: &str) -> Result<bool, String> {
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            return Err(format!(
                "{question} needs an answer: there is no terminal to ask on, so pass --yes"
            ));
        }
        eprint!("{question} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
    }
}
