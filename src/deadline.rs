//! A deadline for everything one piece of a runbook runs: `within(10, || probe(node))`.
//!
//! Commands have their own deadlines (600 s by default, hours for a drain): right for a change
//! that must finish, wrong for a monitoring probe, where one hung node must not hold back the
//! report of the others. A deadline set here is per thread (so each `parallel` branch has its
//! own) and caps every command started under it: the Runner shortens their timeouts to what
//! is left, and refuses to start one once it has passed.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// When the innermost `within` ends, and how long it was given (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub at: Instant,
    pub budget: Duration,
}

thread_local! {
    static CURRENT: Cell<Option<Deadline>> = const { Cell::new(None) };
}

/// The deadline this thread runs under, if any.
pub fn current() -> Option<Deadline> {
    CURRENT.with(Cell::get)
}

/// Runs `body` under `deadline` (or none), then puts back the one that was in force. Used by
/// `parallel` so that its workers inherit the caller's deadline.
pub fn run_under<T>(deadline: Option<Deadline>, body: impl FnOnce() -> T) -> T {
    let previous = CURRENT.with(|c| c.replace(deadline));
    // Restored on unwind too: a panicking branch must not leave its deadline on the thread.
    struct Restore(Option<Deadline>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(previous);
    body()
}

/// Runs `body` with at most `budget` from now; an enclosing earlier deadline still wins.
pub fn within<T>(budget: Duration, body: impl FnOnce() -> T) -> T {
    let mine = Deadline {
        at: Instant::now() + budget,
        budget,
    };
    let effective = match current() {
        Some(outer) if outer.at <= mine.at => outer,
        _ => mine,
    };
    run_under(Some(effective), body)
}

/// `timeout` cut to what is left of the current deadline; `Err(deadline)` when it has passed.
pub fn limit(timeout: Duration) -> Result<Duration, Deadline> {
    match current() {
        None => Ok(timeout),
        Some(d) => {
            let left = d.at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                Err(d)
            } else {
                Ok(timeout.min(left))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_caps_timeouts_and_the_earlier_of_two_wins() {
        assert_eq!(
            limit(Duration::from_secs(600)),
            Ok(Duration::from_secs(600))
        );
        within(Duration::from_secs(10), || {
            assert!(limit(Duration::from_secs(600)).unwrap() <= Duration::from_secs(10));
            assert_eq!(
                limit(Duration::from_millis(5)),
                Ok(Duration::from_millis(5))
            );
            within(Duration::from_secs(100), || {
                assert!(limit(Duration::from_secs(600)).unwrap() <= Duration::from_secs(10));
            });
        });
        assert_eq!(current(), None);
    }

    #[test]
    fn a_passed_deadline_refuses() {
        within(Duration::ZERO, || {
            assert!(limit(Duration::from_secs(1)).is_err())
        });
    }
}
