//! A new version's first calls after an upgrade. The replaced version stays
//! loaded beside it; if the new one fails too often before it has proven
//! itself, the host switches back by itself and records why.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Loaded;
use super::outcome::Outcome;

/// Calls a new version must serve before the replaced one is let go.
pub const PROBATION_CALLS: u32 = 20;
/// Failed calls (traps and limit hits) among them that roll the upgrade back.
pub const ROLLBACK_FAILURES: u32 = 3;
/// A version that served for this long without enough failures has passed,
/// however few calls it had.
pub const PROBATION_WINDOW: Duration = Duration::from_secs(300);

/// The state of one upgrade on probation.
pub struct Probation {
    /// The version to return to; let go once the new one has passed.
    previous: Mutex<Option<Arc<Loaded>>>,
    /// Store ids of the replaced and the new installation.
    pub previous_installation: String,
    pub new_installation: String,
    started: Instant,
    calls: AtomicU32,
    failures: AtomicU32,
    decided: AtomicBool,
}

/// What one observed call decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Still on probation (or already decided).
    Undecided,
    /// Passed: the previous version can be dropped.
    Passed,
    /// Failed: switch back to the previous version (returned once).
    RollBack { failures: u32, calls: u32 },
}

impl Probation {
    pub fn new(previous: Arc<Loaded>, previous_installation: String, new_installation: String) -> Self {
        Self {
            previous: Mutex::new(Some(previous)),
            previous_installation,
            new_installation,
            started: Instant::now(),
            calls: AtomicU32::new(0),
            failures: AtomicU32::new(0),
            decided: AtomicBool::new(false),
        }
    }

    /// Takes the previous version (to switch back to, or to drop).
    pub fn take_previous(&self) -> Option<Arc<Loaded>> {
        self.previous.lock().ok()?.take()
    }

    /// Counts one call of the new version.
    pub fn observe(&self, outcome: Outcome) -> Verdict {
        if self.decided.load(Ordering::Relaxed) {
            return Verdict::Undecided;
        }
        let calls = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        // Being at a concurrency cap or denied a capability says nothing
        // about the new code being broken.
        let failed = outcome.is_violation()
            && !matches!(outcome, Outcome::ConcurrencyLimit | Outcome::CapabilityDenied);
        let failures = if failed {
            self.failures.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.failures.load(Ordering::Relaxed)
        };
        if failures >= ROLLBACK_FAILURES {
            if !self.decided.swap(true, Ordering::Relaxed) {
                return Verdict::RollBack { failures, calls };
            }
            return Verdict::Undecided;
        }
        if (calls >= PROBATION_CALLS || self.started.elapsed() >= PROBATION_WINDOW)
            && !self.decided.swap(true, Ordering::Relaxed)
        {
            return Verdict::Passed;
        }
        Verdict::Undecided
    }
}
