//! Per-invocation resource accounting: the aggregate memory limiter and the
//! meter that feeds the usage record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes one table element is charged, as wasmtime stores one pointer each.
const TABLE_ELEMENT_BYTES: u64 = 8;

/// Limits memory for one store: the sum over *all* linear memories and tables
/// of the instance, not each on its own, so a component cannot multiply its
/// allowance by declaring many memories.
#[derive(Debug)]
pub struct AggregateLimiter {
    limit: u64,
    meter: Arc<Meter>,
}

impl AggregateLimiter {
    pub fn new(limit: u64, meter: Arc<Meter>) -> Self {
        Self { limit, meter }
    }

    fn grow(&mut self, current: u64, desired: u64) -> bool {
        let delta = desired.saturating_sub(current);
        let used = self.meter.memory_bytes.load(Ordering::Relaxed);
        let next = used.saturating_add(delta);
        if next > self.limit {
            // Refused, not trapped: a guest may handle a failed `memory.grow`.
            // The refusal itself is a violation either way.
            self.meter.memory_refused_at.fetch_max(next, Ordering::Relaxed);
            return false;
        }
        self.meter.memory_bytes.store(next, Ordering::Relaxed);
        self.meter.peak_memory_bytes.fetch_max(next, Ordering::Relaxed);
        true
    }
}

impl wasmtime::ResourceLimiter for AggregateLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(current as u64, desired as u64))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let cur = (current as u64).saturating_mul(TABLE_ELEMENT_BYTES);
        let want = (desired as u64).saturating_mul(TABLE_ELEMENT_BYTES);
        Ok(self.grow(cur, want))
    }
}

/// Counters of one invocation, shared between the store (which may be dropped
/// mid-call when the outer timeout fires) and the code that writes the usage
/// record.
#[derive(Debug, Default)]
pub struct Meter {
    /// Bytes currently held by memories and tables.
    pub memory_bytes: AtomicU64,
    pub peak_memory_bytes: AtomicU64,
    /// Non-zero when a growth was refused: the total it would have reached.
    pub memory_refused_at: AtomicU64,
    /// Calls into host capabilities (kv, config, logging).
    pub host_calls: AtomicU64,
    /// Fuel consumed, set when the call ends.
    pub fuel_used: AtomicU64,
    /// Rows the project database returned or changed for this invocation.
    pub db_rows: AtomicU64,
    /// Time spent in project-database calls, in microseconds.
    pub db_time_us: AtomicU64,
    /// Denials and limit hits of capability calls that the guest saw as an
    /// error (it may carry on): each becomes one violation record when the
    /// invocation is recorded. Bounded by [`MAX_CALL_VIOLATIONS`].
    pub call_violations: Mutex<Vec<CallViolation>>,
}

/// Violations recorded per invocation from capability calls; a guest that
/// loops over denied calls gets this many records, not one per call.
pub const MAX_CALL_VIOLATIONS: usize = 16;

/// A denial or limit hit inside a capability call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallViolation {
    /// `capability_denied`, `query_timeout`, `query_too_large`.
    pub kind: &'static str,
    pub limit: Option<i64>,
    pub actual: Option<i64>,
    /// Names the capability and what was refused (the table, the permission).
    pub detail: String,
}

impl Meter {
    pub fn host_call(&self) {
        self.host_calls.fetch_add(1, Ordering::Relaxed);
    }
    pub fn get(a: &AtomicU64) -> u64 {
        a.load(Ordering::Relaxed)
    }

    /// Records a violation from a capability call (the first
    /// [`MAX_CALL_VIOLATIONS`] of an invocation are kept).
    pub fn call_violation(&self, v: CallViolation) {
        if let Ok(mut list) = self.call_violations.lock()
            && list.len() < MAX_CALL_VIOLATIONS
        {
            list.push(v);
        }
    }

    /// The violations recorded by capability calls.
    pub fn take_call_violations(&self) -> Vec<CallViolation> {
        self.call_violations.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn aggregate_limit_counts_every_memory_and_table_together() {
        let meter = Arc::new(Meter::default());
        let mut l = AggregateLimiter::new(10 << 20, meter.clone());
        // Two memories of 4 MiB each fit...
        assert!(l.memory_growing(0, 4 << 20, None).unwrap());
        assert!(l.memory_growing(0, 4 << 20, None).unwrap());
        // ...a third of 4 MiB does not, though each alone is under the limit.
        assert!(!l.memory_growing(0, 4 << 20, None).unwrap());
        // Growing the first memory by 1 MiB still fits (9 MiB in all).
        assert!(l.memory_growing(4 << 20, 5 << 20, None).unwrap());
        // A table of 200k elements (1.6 MB) would pass the limit.
        assert!(!l.table_growing(0, 200_000, None).unwrap());
        assert_eq!(Meter::get(&meter.peak_memory_bytes), 9 << 20);
        assert!(Meter::get(&meter.memory_refused_at) > 10 << 20);
    }
}
