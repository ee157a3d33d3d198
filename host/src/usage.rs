//! Usage records and violations on their way to the control-plane store.
//!
//! Usage records are batched (one transaction per batch, idempotent on the
//! request id) by a background writer; violations are written at once. When
//! the store is down, both are kept in memory and retried, up to a bound.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// Usage records buffered while the store is unreachable; past this the
/// oldest are dropped and counted (bounded memory beats an OOM kill).
const MAX_BUFFERED: usize = 1_000_000;
/// Records written per transaction.
const BATCH: usize = 500;

/// One invocation's usage.
#[derive(Debug, Clone)]
pub struct UsageEvent {
    pub request_id: String,
    pub project: String,
    pub extension: String,
    pub version: String,
    pub endpoint: String,
    pub method: String,
    pub status: i64,
    pub outcome: &'static str,
    pub fuel_used: u64,
    pub wall_time_us: u64,
    pub peak_memory_bytes: u64,
    pub host_calls: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Rows the project database returned or changed.
    pub db_rows: u64,
    /// Time spent in project-database calls, in microseconds.
    pub db_time_us: u64,
}

/// One limit hit or denial.
#[derive(Debug, Clone)]
pub struct ViolationEvent {
    pub request_id: Option<String>,
    pub project: String,
    pub extension: String,
    pub version: String,
    pub kind: &'static str,
    pub limit_value: Option<i64>,
    pub actual_value: Option<i64>,
    pub action: &'static str,
    pub detail: String,
}

enum Msg {
    Usage(UsageEvent),
    Violation(ViolationEvent),
    Flush(oneshot::Sender<()>),
}

/// The sending side, held by the runtime.
#[derive(Clone)]
pub struct UsageSink {
    tx: mpsc::UnboundedSender<Msg>,
    pending: Arc<AtomicU64>,
}

impl UsageSink {
    /// Starts the writer task. `interval` is how long records may wait to be
    /// batched.
    pub fn start(store: Arc<magflock_store::Store>, interval: Duration) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let pending = Arc::new(AtomicU64::new(0));
        tokio::spawn(writer(store, rx, interval, pending.clone()));
        Self { tx, pending }
    }

    pub fn record(&self, e: UsageEvent) {
        self.pending.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(Msg::Usage(e));
    }

    pub fn violation(&self, v: ViolationEvent) {
        self.pending.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(Msg::Violation(v));
    }

    /// Records and violations not yet written.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Waits until everything recorded before this call is written (or the
    /// store has refused it and it is buffered for retry).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

fn to_row(e: &UsageEvent) -> magflock_store::UsageRecord {
    let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    magflock_store::UsageRecord {
        request_id: e.request_id.clone(),
        project_id: e.project.clone(),
        extension: e.extension.clone(),
        version: e.version.clone(),
        endpoint: e.endpoint.clone(),
        method: e.method.clone(),
        status: e.status,
        outcome: e.outcome.to_owned(),
        fuel_used: i(e.fuel_used),
        wall_time_us: i(e.wall_time_us),
        peak_memory_bytes: i(e.peak_memory_bytes),
        host_calls: i(e.host_calls),
        bytes_in: i(e.bytes_in),
        bytes_out: i(e.bytes_out),
        db_rows: i(e.db_rows),
        db_time_us: i(e.db_time_us),
        created_at: crate::now_ms(),
    }
}

fn to_violation(v: &ViolationEvent) -> magflock_store::NewViolation {
    magflock_store::NewViolation {
        request_id: v.request_id.clone(),
        project_id: v.project.clone(),
        extension: v.extension.clone(),
        version: v.version.clone(),
        kind: v.kind.to_owned(),
        limit_value: v.limit_value,
        actual_value: v.actual_value,
        action: v.action.to_owned(),
        detail: v.detail.clone(),
    }
}

async fn writer(
    store: Arc<magflock_store::Store>,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    interval: Duration,
    pending: Arc<AtomicU64>,
) {
    let mut usage: VecDeque<magflock_store::UsageRecord> = VecDeque::new();
    let mut violations: VecDeque<magflock_store::NewViolation> = VecDeque::new();
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    let mut dropped: u64 = 0;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let closed = tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Usage(e)) => { usage.push_back(to_row(&e)); false }
                // Violations are written at once, not on the next tick.
                Some(Msg::Violation(v)) => { violations.push_back(to_violation(&v)); drain(&store, &mut usage, &mut violations, &pending, true).await; false }
                Some(Msg::Flush(w)) => { waiters.push(w); drain(&store, &mut usage, &mut violations, &pending, false).await; false }
                None => true,
            },
            _ = tick.tick() => { drain(&store, &mut usage, &mut violations, &pending, false).await; false }
        };
        while usage.len() > MAX_BUFFERED {
            usage.pop_front();
            dropped += 1;
            pending.fetch_sub(1, Ordering::Relaxed);
            metrics::counter!("magflock_usage_dropped_total").increment(1);
        }
        if dropped > 0 && dropped % 10_000 == 1 {
            tracing::error!(dropped, "usage records dropped: control-plane store unreachable for too long");
        }
        // A flush waiter is answered once the drain it triggered is done,
        // whether the store took everything or the rest is kept for retry.
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
        if closed {
            drain(&store, &mut usage, &mut violations, &pending, false).await;
            return;
        }
    }
}

async fn drain(
    store: &magflock_store::Store,
    usage: &mut VecDeque<magflock_store::UsageRecord>,
    violations: &mut VecDeque<magflock_store::NewViolation>,
    pending: &AtomicU64,
    violations_only: bool,
) {
    while let Some(v) = violations.front() {
        match store.insert_violation(v).await {
            Ok(_) => {
                violations.pop_front();
                pending.fetch_sub(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(error = %e, "violation not written; will retry");
                return;
            }
        }
    }
    if violations_only {
        return;
    }
    while !usage.is_empty() {
        let n = usage.len().min(BATCH);
        let batch: Vec<_> = usage.iter().take(n).cloned().collect();
        match store.insert_usage_batch(&batch).await {
            Ok(_) => {
                usage.drain(..n);
                pending.fetch_sub(n as u64, Ordering::Relaxed);
                metrics::gauge!("magflock_usage_buffered").set(usage.len() as f64);
            }
            Err(e) => {
                tracing::warn!(error = %e, buffered = usage.len(), "usage batch not written; will retry");
                metrics::gauge!("magflock_usage_buffered").set(usage.len() as f64);
                return;
            }
        }
    }
}
