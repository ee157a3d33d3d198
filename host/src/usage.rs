//! Usage records and violations on their way to the control-plane store.
//!
//! Usage records are batched (one transaction per batch, idempotent on the
//! request id) by a background writer; violations are written at once. When
//! the store is down, both are kept in memory and retried, up to a bound.
//!
//! Recording a call only appends to a shared buffer: the writer is woken by
//! its interval, or early when a full batch is waiting, not once per call.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};

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
    Violation(ViolationEvent),
    Flush(oneshot::Sender<()>),
}

/// Usage records not yet taken by the writer, and the writer's early
/// wake-up.
#[derive(Default)]
struct Recorded {
    /// Each record with the time it was recorded (ms since the epoch).
    events: Mutex<Vec<(i64, UsageEvent)>>,
    full: Notify,
}

impl Recorded {
    /// Moves the waiting records, as rows, to the writer's queue.
    fn move_into(&self, usage: &mut VecDeque<magflock_store::UsageRecord>) {
        // A panic elsewhere cannot leave the list half-changed: take it anyway.
        let taken = std::mem::take(&mut *self.events.lock().unwrap_or_else(PoisonError::into_inner));
        usage.extend(taken.into_iter().map(|(at, e)| to_row(at, e)));
    }
}

/// The sending side, held by the runtime.
#[derive(Clone)]
pub struct UsageSink {
    tx: mpsc::UnboundedSender<Msg>,
    recorded: Arc<Recorded>,
    pending: Arc<AtomicU64>,
}

impl UsageSink {
    /// Starts the writer task. `interval` is how long records may wait to be
    /// batched.
    pub fn start(store: Arc<magflock_store::Store>, interval: Duration) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let pending = Arc::new(AtomicU64::new(0));
        let recorded = Arc::new(Recorded::default());
        tokio::spawn(writer(store, rx, recorded.clone(), interval, pending.clone()));
        Self { tx, recorded, pending }
    }

    pub fn record(&self, e: UsageEvent) {
        self.pending.fetch_add(1, Ordering::Relaxed);
        let waiting = {
            let mut events = self.recorded.events.lock().unwrap_or_else(PoisonError::into_inner);
            events.push((crate::now_ms(), e));
            events.len()
        };
        if waiting == BATCH {
            self.recorded.full.notify_one();
        }
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

fn to_row(created_at: i64, e: UsageEvent) -> magflock_store::UsageRecord {
    let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    magflock_store::UsageRecord {
        request_id: e.request_id,
        project_id: e.project,
        extension: e.extension,
        version: e.version,
        endpoint: e.endpoint,
        method: e.method,
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
        created_at,
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

/// Why the writer woke up.
enum Wake {
    Violation(ViolationEvent),
    Flush(oneshot::Sender<()>),
    /// A full batch is waiting, or the interval passed.
    Batch,
    /// Every sink is gone.
    Closed,
}

async fn writer(
    store: Arc<magflock_store::Store>,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    recorded: Arc<Recorded>,
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
        let wake = tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Violation(v)) => Wake::Violation(v),
                Some(Msg::Flush(w)) => Wake::Flush(w),
                None => Wake::Closed,
            },
            () = recorded.full.notified() => Wake::Batch,
            _ = tick.tick() => Wake::Batch,
        };
        let closed = matches!(wake, Wake::Closed);
        match wake {
            // Violations are written at once, not on the next tick.
            Wake::Violation(v) => {
                violations.push_back(to_violation(&v));
                drain(&store, &mut usage, &mut violations, &pending, true).await;
            }
            // Everything recorded before the flush was asked for is in the
            // buffer by now.
            Wake::Flush(w) => {
                waiters.push(w);
                recorded.move_into(&mut usage);
                drain(&store, &mut usage, &mut violations, &pending, false).await;
            }
            Wake::Batch => {
                recorded.move_into(&mut usage);
                drain(&store, &mut usage, &mut violations, &pending, false).await;
            }
            Wake::Closed => {}
        }
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
            recorded.move_into(&mut usage);
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
        match store.insert_usage_batch(&usage.make_contiguous()[..n]).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize) -> UsageEvent {
        UsageEvent {
            request_id: format!("req-{n}"),
            project: "demo".into(),
            extension: "hello".into(),
            version: "1.0.0".into(),
            endpoint: "/".into(),
            method: "GET".into(),
            status: 200,
            outcome: "ok",
            fuel_used: 1,
            wall_time_us: 1,
            peak_memory_bytes: 1,
            host_calls: 0,
            bytes_in: 0,
            bytes_out: 0,
            db_rows: 0,
            db_time_us: 0,
        }
    }

    async fn rows(store: &magflock_store::Store) -> Vec<magflock_store::UsageEntry> {
        let filter = magflock_store::UsageFilter {
            project_id: "demo".into(),
            limit: Some(10_000),
            ..Default::default()
        };
        store.query_usage(&filter).await.unwrap()
    }

    #[tokio::test]
    async fn records_are_written_at_a_flush_with_the_time_they_were_recorded() {
        let store = Arc::new(magflock_store::Store::connect("sqlite::memory:").await.unwrap());
        store.create_project("demo").await.unwrap();
        let sink = UsageSink::start(store.clone(), Duration::from_secs(3600));
        let before = crate::now_ms();
        for n in 0..3 {
            sink.record(event(n));
        }
        assert_eq!(sink.pending(), 3);
        sink.flush().await;
        let written = rows(&store).await;
        assert_eq!((written.len(), sink.pending()), (3, 0));
        assert!(
            written.iter().all(|r| r.record.created_at >= before && r.record.created_at <= crate::now_ms())
        );
    }

    #[tokio::test]
    async fn a_full_batch_is_written_before_the_interval() {
        let store = Arc::new(magflock_store::Store::connect("sqlite::memory:").await.unwrap());
        store.create_project("demo").await.unwrap();
        // An interval far longer than the test, whose first tick (at once)
        // passes before anything is recorded: only the early wake-up writes.
        let sink = UsageSink::start(store.clone(), Duration::from_secs(3600));
        tokio::time::sleep(Duration::from_millis(100)).await;
        for n in 0..BATCH {
            sink.record(event(n));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while rows(&store).await.len() < BATCH {
            assert!(std::time::Instant::now() < deadline, "a full batch waited for the interval");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
