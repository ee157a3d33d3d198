//! Capability `events`: `magflock:ext/events`, publishing to the topics the
//! manifest declares. The event is stored with its deliveries before
//! `publish` returns (see [`crate::events`] for delivery).
//!
//! Every refusal the guest sees as an error is also a violation: an
//! undeclared topic (`capability_denied`, naming it), a payload or a count
//! over the caps (`event_too_large`, `event_quota`), and a chain of events
//! past the hop limit (`event_hop_limit`), which is how a loop between
//! extensions ends.

use std::sync::Arc;

use magflock_registry::EventsGrant;
use wasmtime::component::{HasData, Linker};

use crate::events::EventBus;
use crate::runtime::bindings::events::{self as wit, Error};
use crate::runtime::limits::{CallViolation, Meter};
use crate::runtime::outcome::HostTrap;
use crate::runtime::state::InvocationState;

/// Largest payload, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Events one invocation may publish.
pub const MAX_EVENTS_PER_INVOCATION: u32 = 1000;
/// Longest chain of events: an event handled, republished, handled, ...
/// The event published at hop `MAX_HOPS` is the last one allowed.
pub const MAX_HOPS: u32 = 8;

/// The grant: which project, which extension, which topics.
pub struct EventsCtx {
    pub bus: Arc<EventBus>,
    pub project: String,
    pub extension: String,
    pub version: String,
    pub grant: EventsGrant,
}

/// What an invocation knows about the events it publishes.
#[derive(Debug, Default)]
pub struct EventsState {
    /// The hop the events published by this invocation get: 0 outside an
    /// event handler, the handled event's hop + 1 inside one.
    pub hop: u32,
    /// The usage record's request id, stored with each event.
    pub request_id: Option<String>,
    /// Events published so far by this invocation.
    pub published: u32,
    /// Whether this invocation already hit the count cap (one violation).
    pub over_quota: bool,
}

/// The view the generated `Host` trait is implemented on.
pub struct EventsView<'a> {
    ctx: Option<&'a EventsCtx>,
    meter: &'a Meter,
    state: &'a mut EventsState,
}

struct HasEvents;
impl HasData for HasEvents {
    type Data<'a> = EventsView<'a>;
}

pub fn add_to_linker(linker: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<InvocationState, HasEvents>(linker, |s| EventsView {
        ctx: s.grants.events.as_ref(),
        meter: &s.meter,
        state: &mut s.events,
    })
}

impl EventsView<'_> {
    fn refuse(&self, kind: &'static str, limit: Option<i64>, actual: Option<i64>, detail: String) {
        self.meter.call_violation(CallViolation { kind, limit, actual, detail });
    }

    /// Checks and stores `payloads` as events on `topic`, all or none.
    async fn publish_all(
        &mut self,
        topic: String,
        payloads: Vec<Vec<u8>>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        self.meter.host_call();
        // Second check of the grant, on every call: linking is the first.
        let ctx =
            self.ctx.ok_or_else(|| wasmtime::Error::new(HostTrap::CapabilityDenied("events".into())))?;
        if !ctx.grant.publishes(&topic) {
            let shown: String = topic.chars().take(magflock_registry::MAX_TOPIC_LEN).collect();
            let msg = format!(
                "topic `{}` is not declared under [capabilities.events] publish",
                shown.escape_debug()
            );
            self.refuse("capability_denied", None, None, format!("events: {msg}"));
            return Ok(Err(Error::Denied(msg)));
        }
        if let Some(big) = payloads.iter().map(Vec::len).find(|n| *n > MAX_PAYLOAD_BYTES) {
            let msg = format!("payload is {big} bytes; the limit is {MAX_PAYLOAD_BYTES}");
            self.refuse(
                "event_too_large",
                Some(MAX_PAYLOAD_BYTES as i64),
                Some(big as i64),
                format!("events: {topic}: {msg}"),
            );
            return Ok(Err(Error::TooLarge(msg)));
        }
        let after = u64::from(self.state.published).saturating_add(payloads.len() as u64);
        if after > u64::from(MAX_EVENTS_PER_INVOCATION) {
            let msg = format!(
                "one invocation may publish at most {MAX_EVENTS_PER_INVOCATION} events; this one has published \
                 {} and asked for {} more",
                self.state.published,
                payloads.len()
            );
            // One violation per invocation, not one per refused call.
            if !self.state.over_quota {
                self.state.over_quota = true;
                self.refuse(
                    "event_quota",
                    Some(i64::from(MAX_EVENTS_PER_INVOCATION)),
                    Some(after as i64),
                    format!("events: {topic}: {msg}"),
                );
            }
            return Ok(Err(Error::TooLarge(msg)));
        }
        if self.state.hop > MAX_HOPS {
            let msg = format!(
                "this event would be hop {} of a chain of events handled and republished; the limit is \
                 {MAX_HOPS} (a loop between extensions?)",
                self.state.hop
            );
            tracing::info!(project = %ctx.project, extension = %ctx.extension, %topic, hop = self.state.hop,
                "event chain stopped at the hop limit");
            self.refuse(
                "event_hop_limit",
                Some(i64::from(MAX_HOPS)),
                Some(i64::from(self.state.hop)),
                format!("events: {topic}: {msg}"),
            );
            return Ok(Err(Error::HopLimit(msg)));
        }
        if payloads.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let events: Vec<magflock_store::NewEvent> = payloads
            .into_iter()
            .map(|payload| magflock_store::NewEvent {
                id: crate::ids::time_ordered_string(),
                project_id: ctx.project.clone(),
                topic: topic.clone(),
                source: ctx.extension.clone(),
                source_version: ctx.version.clone(),
                request_id: self.state.request_id.clone(),
                hop: i64::from(self.state.hop),
                payload,
            })
            .collect();
        match ctx.bus.publish(&events).await {
            Ok(()) => {
                self.state.published += events.len() as u32;
                Ok(Ok(events.into_iter().map(|e| e.id).collect()))
            }
            Err(e) => {
                tracing::warn!(project = %ctx.project, extension = %ctx.extension, error = %e,
                    "events could not be stored");
                Ok(Err(Error::Unavailable("the event could not be stored; retry later".into())))
            }
        }
    }
}

impl wit::Host for EventsView<'_> {
    async fn publish(&mut self, topic: String, payload: Vec<u8>) -> wasmtime::Result<Result<String, Error>> {
        Ok(self.publish_all(topic, vec![payload]).await?.map(|mut ids| ids.remove(0)))
    }

    async fn publish_batch(
        &mut self,
        topic: String,
        payloads: Vec<Vec<u8>>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        self.publish_all(topic, payloads).await
    }
}
