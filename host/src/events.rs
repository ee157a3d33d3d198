//! Events between a project's installations: who subscribes to what, and
//! the dispatcher that delivers stored events.
//!
//! **Subscriptions** come from the serving installations: an installation
//! whose `events` capability is approved and whose manifest lists a topic
//! under `subscribe` receives that topic's events in its own project, and
//! no other project's. The index is kept in step with the runtime's map of
//! serving installations (activate, upgrade, rollback, uninstall).
//!
//! **Delivery** is at least once. `publish` stores the event and one
//! delivery per subscriber in one transaction ([`magflock_store::Store::publish_events`]).
//! The dispatcher leases due deliveries from the store, runs each
//! subscriber's `on-event` in a fresh instance under its limits (a metered
//! invocation with its usage record), and finishes the delivery: delivered,
//! retried later with exponential backoff, or `dead` after its last
//! attempt ([`RetryPolicy`]). A delivery whose subscriber has gone (uninstalled, or
//! its new version no longer subscribes, as the control plane records it) is
//! `dropped`; one whose subscriber serves but not on this host is handed back
//! for a host that serves it. Leases make this safe
//! with several hosts on one control plane, and a host that dies mid-delivery
//! loses nothing: its lease runs out and the delivery is claimed again.
//! Events carry a stable id so handlers can make a redelivery harmless.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use magflock_store::{ClaimedDelivery, DeliveryResult, NewEvent, Store, StoreError};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::now_ms;
use crate::runtime::Runtime;
use crate::runtime::invoke::EventFailure;

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long a host holds a delivery it is running: the wait for a
/// concurrency slot ([`SLOT_WAIT`]) plus the longest run a manifest may ask
/// for, with a margin, so a live host never loses its lease.
pub const LEASE: Duration = Duration::from_secs(180);
/// How long a delivery waits for a concurrency slot of its subscriber
/// before it is handed back (not counted as an attempt) to be claimed again.
pub const SLOT_WAIT: Duration = Duration::from_secs(60);
const _: () = assert!(
    SLOT_WAIT.as_millis() + magflock_registry::manifest::MAX_TIMEOUT_MS as u128 + 30_000 <= LEASE.as_millis()
);
/// Deliveries one host runs at once.
const IN_FLIGHT: usize = 16;
/// How often the dispatcher looks at the store without being woken: for
/// retries coming due and for events other hosts stored.
const POLL: Duration = Duration::from_millis(500);
/// How long delivered, dead and dropped events are kept.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often old events are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// How long a delivery handed back waits before it is due again: one this
/// host could not run for want of a slot, or whose subscriber serves on
/// another host only. Without it the same host would claim it again at once.
const HANDED_BACK_DELAY: Duration = Duration::from_secs(1);

/// The subscription index and the store events go to.
pub struct EventBus {
    store: Arc<Store>,
    /// project → topic → subscribed extensions.
    subscriptions: RwLock<HashMap<String, HashMap<String, BTreeSet<String>>>>,
    wake: Notify,
}

impl EventBus {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store, subscriptions: RwLock::new(HashMap::new()), wake: Notify::new() }
    }

    /// Makes `extension`'s subscriptions in `project` exactly `topics`
    /// (none: it no longer receives anything).
    pub fn set_subscriptions(&self, project: &str, extension: &str, topics: &[String]) {
        let Ok(mut map) = self.subscriptions.write() else { return };
        let by_topic = map.entry(project.to_owned()).or_default();
        by_topic.retain(|_, subs| {
            subs.remove(extension);
            !subs.is_empty()
        });
        for topic in topics {
            by_topic.entry(topic.clone()).or_default().insert(extension.to_owned());
        }
        if by_topic.is_empty() {
            map.remove(project);
        }
    }

    /// The extensions of `project` subscribed to `topic`.
    fn subscribers(&self, project: &str, topic: &str) -> Vec<String> {
        let Ok(map) = self.subscriptions.read() else { return Vec::new() };
        map.get(project).and_then(|t| t.get(topic)).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// Stores `events` (all of one project and topic) with a delivery for
    /// each current subscriber, all or none, and wakes the dispatcher. When
    /// this returns `Ok`, the events are durable.
    pub async fn publish(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        let Some(first) = events.first() else { return Ok(()) };
        let subscribers = self.subscribers(&first.project_id, &first.topic);
        self.store.publish_events(events, &subscribers).await?;
        metrics::counter!("magflock_events_published_total", "project" => first.project_id.clone())
            .increment(events.len() as u64);
        if !subscribers.is_empty() {
            self.wake.notify_one();
        }
        Ok(())
    }
}

/// How failed deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a delivery is `dead`.
    pub max_attempts: i64,
    /// The wait after the first failed attempt; each later wait is twice
    /// the one before, up to [`MAX_BACKOFF`].
    pub first_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 6, first_backoff: Duration::from_secs(1) }
    }
}

impl RetryPolicy {
    /// When attempt `attempt` (from 1) failed, how long until the next one.
    pub fn backoff(&self, attempt: i64) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1)).unwrap_or(u32::MAX).min(16);
        self.first_backoff.saturating_mul(1 << doublings).min(MAX_BACKOFF)
    }
}

/// Delivers events until `runtime` is gone or `stop` is notified. Started
/// once per host ([`crate::state::AppState::start`]).
pub async fn dispatch(runtime: Weak<Runtime>, bus: Arc<EventBus>, retry: RetryPolicy, stop: Arc<Notify>) {
    let mut running: JoinSet<()> = JoinSet::new();
    let mut last_purge = tokio::time::Instant::now();
    loop {
        while running.try_join_next().is_some() {}
        let free = IN_FLIGHT.saturating_sub(running.len());
        let mut claimed_all = false;
        if free > 0 {
            match bus.store.claim_deliveries(LEASE.as_millis() as i64, free as u32).await {
                Ok(claimed) => {
                    claimed_all = claimed.len() == free;
                    let Some(rt) = runtime.upgrade() else {
                        // The host is going away: hand the leases back.
                        for c in &claimed {
                            let _ = bus.store.release_delivery(c, None).await;
                        }
                        return;
                    };
                    for c in claimed {
                        let (rt, bus) = (rt.clone(), bus.clone());
                        running.spawn(async move { deliver(&rt, &bus, retry, c).await });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "event deliveries could not be claimed"),
            }
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            last_purge = tokio::time::Instant::now();
            let before = now_ms() - RETENTION.as_millis() as i64;
            match bus.store.purge_events(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "old events purged"),
                Err(e) => tracing::warn!(error = %e, "old events could not be purged"),
            }
        }
        if runtime.strong_count() == 0 {
            return;
        }
        // More may be due right away when this round took all it asked for.
        if claimed_all && running.len() < IN_FLIGHT {
            continue;
        }
        tokio::select! {
            _ = stop.notified() => break,
            _ = bus.wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    // Let the deliveries in flight finish; their leases would otherwise
    // hold them until they run out.
    while running.join_next().await.is_some() {}
}

/// Whether the control plane has `extension` serving in `project` with a
/// subscription to `topic`, whichever host loaded it.
async fn serves_elsewhere(
    store: &Store,
    project: &str,
    extension: &str,
    topic: &str,
) -> Result<bool, StoreError> {
    let Some(inst) = store.get_installation(project, extension).await? else { return Ok(false) };
    if inst.state != magflock_store::InstallationState::Active {
        return Ok(false);
    }
    let granted =
        inst.approved_capabilities.iter().any(|c| c == magflock_registry::Capability::Events.as_str());
    Ok(magflock_registry::Manifest::from_toml_str(&inst.manifest)
        .is_ok_and(|m| crate::runtime::receives(&m, granted, topic)))
}

/// Hands a delivery back to be claimed again after [`HANDED_BACK_DELAY`].
async fn hand_back(bus: &EventBus, claimed: &ClaimedDelivery, why: &str) {
    let not_before = now_ms() + HANDED_BACK_DELAY.as_millis() as i64;
    if let Err(e) = bus.store.release_delivery(claimed, Some(not_before)).await {
        tracing::warn!(event = %claimed.event.id, extension = %claimed.extension, error = %e, %why,
            "delivery not handed back; it is claimed again when its lease runs out");
    }
}

/// Runs one claimed delivery and records how it ended.
async fn deliver(rt: &Arc<Runtime>, bus: &EventBus, retry: RetryPolicy, claimed: ClaimedDelivery) {
    let ev = &claimed.event;
    let loaded = rt.get(&ev.project_id, &claimed.extension).filter(|l| l.subscribes(&ev.topic));
    let result = match loaded {
        // Not serving here: gone only if the control plane says so; another
        // host may serve it, or this one may load it yet.
        None => match serves_elsewhere(&bus.store, &ev.project_id, &claimed.extension, &ev.topic).await {
            Ok(false) => DeliveryResult::Dropped {
                reason: format!(
                    "{} is no longer installed in {} with a subscription to {}",
                    claimed.extension, ev.project_id, ev.topic
                ),
            },
            Ok(true) => return hand_back(bus, &claimed, "the subscriber serves on another host").await,
            Err(e) => {
                return hand_back(bus, &claimed, &format!("the subscriber could not be looked up: {e}"))
                    .await;
            }
        },
        Some(loaded) => {
            let attempt = u32::try_from(claimed.attempt).unwrap_or(u32::MAX);
            match rt.invoke_event(&loaded, ev, attempt, SLOT_WAIT).await {
                Ok(()) => DeliveryResult::Delivered,
                Err(EventFailure::Busy) => return hand_back(bus, &claimed, "no concurrency slot").await,
                Err(EventFailure::Failed(why)) if claimed.attempt >= retry.max_attempts => {
                    DeliveryResult::Dead { error: why }
                }
                Err(EventFailure::Failed(why)) => DeliveryResult::Retry {
                    error: why,
                    at: now_ms() + retry.backoff(claimed.attempt).as_millis() as i64,
                },
            }
        }
    };
    let state = match &result {
        DeliveryResult::Delivered => "delivered",
        DeliveryResult::Retry { .. } => "retry",
        DeliveryResult::Dead { .. } => "dead",
        DeliveryResult::Dropped { .. } => "dropped",
    };
    metrics::counter!("magflock_event_deliveries_total", "project" => ev.project_id.clone(),
        "extension" => claimed.extension.clone(), "result" => state)
    .increment(1);
    if let DeliveryResult::Dead { error } = &result {
        tracing::warn!(project = %ev.project_id, extension = %claimed.extension, event = %ev.id,
            topic = %ev.topic, %error, "event delivery gave up");
    }
    match bus.store.finish_delivery(&claimed, &result).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(event = %ev.id, extension = %claimed.extension,
            "event delivery finished after its lease ran out; another host took it over"),
        Err(e) => tracing::warn!(event = %ev.id, extension = %claimed.extension, error = %e,
            "event delivery result not recorded; it will be delivered again"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_secs(1));
        assert_eq!(p.backoff(2), Duration::from_secs(2));
        assert_eq!(p.backoff(5), Duration::from_secs(16));
        assert_eq!(p.backoff(30), MAX_BACKOFF);
        assert_eq!(p.backoff(i64::MAX), MAX_BACKOFF);
    }
}
