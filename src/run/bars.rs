//! Progress bars of the `parallel` calls on a terminal (indicatif), with the `cli` feature.
//! Without it there are none: the renderer prints every line as it comes, and a program
//! embedding vzrun draws its own from the events.

#[cfg(feature = "cli")]
pub(crate) use with_bars::{print_above, Bars, Printer};
#[cfg(not(feature = "cli"))]
pub(crate) use without_bars::{print_above, Bars, Printer};

#[cfg(feature = "cli")]
mod with_bars {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

    use crate::run::event::Event;

    /// Prints lines above the bars.
    pub(crate) type Printer = MultiProgress;

    /// Prints a line above the bars.
    pub(crate) fn print_above(printer: &Printer, line: String) {
        let _ = printer.println(line);
    }

    /// Progress bars of the `parallel` calls under way, on a terminal.
    #[derive(Debug)]
    pub(crate) struct Bars {
        multi: MultiProgress,
        active: Mutex<HashMap<u64, ProgressBar>>,
    }

    impl Bars {
        /// Bars on this terminal.
        pub(crate) fn new() -> Option<Bars> {
            Some(Bars {
                multi: MultiProgress::new(),
                active: Mutex::new(HashMap::new()),
            })
        }

        /// Where lines are printed above the bars.
        pub(crate) fn printer(&self) -> Printer {
            self.multi.clone()
        }

        /// Prints what `print` prints above the bars.
        pub(crate) fn suspend(&self, print: impl FnOnce()) {
            self.multi.suspend(print)
        }

        /// Handles the events that drive bars; false for every other event.
        pub(crate) fn update(&self, event: &Event) -> bool {
            let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
            match event {
                Event::ParallelStarted { id, total } => {
                    let bar = self.multi.add(ProgressBar::new(*total as u64));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} [{bar:30}] {pos}/{len} {elapsed} (ETA {eta}) {msg}",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                    bar.enable_steady_tick(std::time::Duration::from_millis(200));
                    active.insert(*id, bar);
                }
                Event::ParallelItem {
                    id,
                    item,
                    ok,
                    outcome,
                    ..
                } => {
                    if let Some(bar) = active.get(id) {
                        bar.inc(1);
                        bar.set_message(format!("{item}: {outcome}"));
                        if !*ok {
                            let _ = self.multi.println(format!("{item}: {outcome}"));
                        }
                    }
                }
                Event::ParallelFinished { id, .. } => {
                    if let Some(bar) = active.remove(id) {
                        bar.finish_and_clear();
                    }
                }
                _ => return false,
            }
            true
        }
    }
}

#[cfg(not(feature = "cli"))]
mod without_bars {
    use crate::run::event::Event;

    /// No bars, so nothing prints above them.
    #[derive(Debug)]
    pub(crate) enum Printer {}

    /// Unreachable: there is no `Printer` without bars.
    pub(crate) fn print_above(printer: &Printer, _line: String) {
        match *printer {}
    }

    /// No bars without the `cli` feature: [`Bars::new`] gives none.
    #[derive(Debug)]
    pub(crate) enum Bars {}

    impl Bars {
        pub(crate) fn new() -> Option<Bars> {
            None
        }

        pub(crate) fn printer(&self) -> Printer {
            match *self {}
        }

        pub(crate) fn suspend(&self, _print: impl FnOnce()) {
            match *self {}
        }

        pub(crate) fn update(&self, _event: &Event) -> bool {
            match *self {}
        }
    }
}
