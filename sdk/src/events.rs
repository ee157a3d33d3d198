//! Events between the installations of a project (`magflock:ext/events`,
//! capability `events`).
//!
//! ```toml
//! [capabilities.events]
//! publish = ["orders.created"]     # topics this extension may publish to
//! subscribe = ["db.changes"]       # topics delivered to Extension::on_event
//! ```
//!
//! [`publish`] returns once the event is stored; every installation of the
//! project subscribed to the topic then receives it at least once, through
//! [`crate::Extension::on_event`], each delivery in a fresh instance. A
//! delivery may come more than once (after a failure or a host restart):
//! use [`Event::id`] to handle each event once.

use crate::__bindings::magflock::ext::events as wit;

/// Why an event was not published; the message is safe to show to users.
pub use wit::Error;

/// One delivered event.
pub use crate::__bindings::exports::magflock::ext::event_handler::Event;

/// Publishes `payload` to `topic` (declared under `publish` in the
/// manifest) and returns the event's id.
pub fn publish(topic: &str, payload: impl AsRef<[u8]>) -> Result<String, Error> {
    wit::publish(topic, payload.as_ref())
}

/// Publishes each of `payloads` to `topic` as one event, all or none, and
/// returns their ids in order. One step for many events: cheaper than
/// calling [`publish`] for each.
pub fn publish_batch(topic: &str, payloads: &[Vec<u8>]) -> Result<Vec<String>, Error> {
    wit::publish_batch(topic, payloads)
}
