//! A host whose connect ran out of time is not asked again for a while.
//!
//! Runbooks ask a dead node again and again (which storage host answers, is the node up,
//! before each step); each attempt waited the whole connect timeout, so a run with a powered-off
//! node in its inventory took minutes to say what its first attempt said. The pause is short,
//! so that a node coming back (a reboot, a network restart rolled back) is seen by a runbook
//! waiting for it: the first command after the pause connects again. Only the host's own
//! timeout counts: a connect cut short by the runbook's deadline (`within`) says nothing of it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When a host's connect last ran out of time, and what ssh said.
#[derive(Debug, Default)]
pub struct Unanswered(Mutex<Option<(Instant, String)>>);

impl Unanswered {
    /// Why the host is not asked now (`Some`: it failed to answer less than the pause ago).
    pub fn still_paused(&self) -> Option<String> {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let pause = pause();
        if let Some((since, why)) = last.as_ref() {
            let ago = since.elapsed();
            if ago < pause {
                return Some(format!(
                    "{why} ({}s ago; not asked again before {}s have passed)",
                    ago.as_secs(),
                    pause.as_secs()
                ));
            }
        }
        *last = None;
        None
    }

    /// Notes that the host's connect ran out of its own timeout just now.
    pub fn failed(&self, why: &str) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), why.to_string()));
    }
}

/// The pause: `$VZRUN_UNANSWERED_PAUSE_S` (0 to 3600), else 30 s.
fn pause() -> Duration {
    let secs = std::env::var("VZRUN_UNANSWERED_PAUSE_S")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s <= 3600)
        .unwrap_or(30);
    Duration::from_secs(secs)
}
