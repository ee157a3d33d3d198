//! Events between a project's installations, and their deliveries.
//!
//! Publishing writes the event and one `pending` delivery per subscriber in
//! one transaction. A host's dispatcher *claims* due deliveries by leasing
//! them (a conditional `UPDATE`, so two hosts never both win the same
//! delivery while its lease runs), runs the subscriber, and finishes the
//! delivery as `delivered`, back to `pending` with a later retry time, `dead`
//! after its last attempt, or `dropped` when the subscriber is gone. A host
//! that dies mid-delivery leaves a lease that runs out; the delivery is then
//! claimed again. That is what makes delivery at least once.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{Sql, values_list};
use crate::error::insert_error;
use crate::{Store, StoreError, clamp_limit, now_ms};

/// Longest `last_error` kept for a delivery, in characters.
const MAX_ERROR_CHARS: usize = 1000;

/// An event to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Host-generated, unique (a UUIDv7: ordered by time).
    pub id: String,
    pub project_id: String,
    pub topic: String,
    /// The publishing extension and its version.
    pub source: String,
    pub source_version: String,
    /// The invocation that published it.
    pub request_id: Option<String>,
    /// How many deliveries led to it (0: published outside an event handler).
    pub hop: i64,
    pub payload: Vec<u8>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub id: String,
    pub project_id: String,
    pub topic: String,
    pub source: String,
    pub source_version: String,
    pub request_id: Option<String>,
    pub hop: i64,
    #[serde(skip)]
    pub payload: Vec<u8>,
    pub payload_bytes: i64,
    pub created_at: i64,
}

/// Where one subscriber's delivery of an event stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub event_id: String,
    pub extension: String,
    /// `pending`, `delivered`, `dead` or `dropped`.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub finished_at: Option<i64>,
}

/// A delivery a host has leased and must now run.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub event: Event,
    pub extension: String,
    /// This attempt's number, from 1.
    pub attempt: i64,
    /// The lease this host holds; finishing checks it, so a host whose lease
    /// ran out (and was taken over) cannot finish another host's attempt.
    pub lease_until: i64,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryResult {
    Delivered,
    /// Failed; try again at this time (unix ms).
    Retry {
        error: String,
        at: i64,
    },
    /// Failed for the last time.
    Dead {
        error: String,
    },
    /// The subscriber is no longer there to receive it.
    Dropped {
        reason: String,
    },
}

/// Filter for listing a project's events.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub topic: Option<String>,
    pub source: Option<String>,
    /// Only events with at least one delivery in this state.
    pub delivery_state: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: Option<u32>,
}

/// The columns `event_from_row` reads (a macro: sqlx takes only `'static` SQL).
macro_rules! event_columns {
    () => {
        "e.id, e.project_id, e.topic, e.source, e.source_version, e.request_id, e.hop, e.payload, e.created_at"
    };
}
const EVENT_COLUMNS: &str = event_columns!();
/// Due deliveries with their events, oldest first.
const DUE_DELIVERIES: &str = concat!(
    "SELECT d.extension, d.attempts, ",
    event_columns!(),
    " FROM event_deliveries d JOIN events e ON e.id = d.event_id \
     WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until < $1) \
     ORDER BY d.next_attempt_at LIMIT $2"
);
const PROJECT_EVENT_BY_ID: &str =
    concat!("SELECT ", event_columns!(), " FROM events e WHERE e.project_id = $1 AND e.id = $2");

fn event_from_row(row: &AnyRow) -> Result<Event, sqlx::Error> {
    let payload: Vec<u8> = row.try_get("payload")?;
    Ok(Event {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        topic: row.try_get("topic")?,
        source: row.try_get("source")?,
        source_version: row.try_get("source_version")?,
        request_id: row.try_get("request_id")?,
        hop: row.try_get("hop")?,
        payload_bytes: payload.len() as i64,
        payload,
        created_at: row.try_get("created_at")?,
    })
}

fn delivery_from_row(row: &AnyRow) -> Result<Delivery, sqlx::Error> {
    Ok(Delivery {
        event_id: row.try_get("event_id")?,
        extension: row.try_get("extension")?,
        state: row.try_get("state")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        finished_at: row.try_get("finished_at")?,
    })
}

fn clip(s: &str) -> String {
    s.chars().take(MAX_ERROR_CHARS).collect()
}

/// Events per INSERT statement (9 parameters each).
const EVENT_ROWS_PER_STATEMENT: usize = 64;
/// Deliveries per INSERT statement (6 parameters each).
const DELIVERY_ROWS_PER_STATEMENT: usize = 100;

impl Store {
    /// Stores `events` with one pending delivery per extension in
    /// `subscribers` for each, due at once, in one transaction: all or
    /// none. `NotFound` when the project does not exist.
    pub async fn publish_events(
        &self,
        events: &[NewEvent],
        subscribers: &[String],
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        // Multi-row INSERTs, a chunk per statement: a 1 000-row MagGate
        // write publishes 1 000 events.
        for chunk in events.chunks(EVENT_ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO events (id, project_id, topic, source, source_version, request_id, hop, payload, \
                 created_at) VALUES {}",
                values_list(self.kind, chunk.len(), 9)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for event in chunk {
                q = q
                    .bind(event.id.clone())
                    .bind(event.project_id.clone())
                    .bind(event.topic.clone())
                    .bind(event.source.clone())
                    .bind(event.source_version.clone())
                    .bind(event.request_id.clone())
                    .bind(event.hop)
                    .bind(event.payload.clone())
                    .bind(now);
            }
            q.execute(&mut *tx).await.map_err(|e| {
                let project = &chunk[0].project_id;
                insert_error(
                    e,
                    || format!("an event of this batch in project {project}"),
                    || format!("project {project}"),
                )
            })?;
        }
        let deliveries: Vec<(&NewEvent, &String)> =
            events.iter().flat_map(|e| subscribers.iter().map(move |s| (e, s))).collect();
        for chunk in deliveries.chunks(DELIVERY_ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO event_deliveries (event_id, project_id, extension, state, attempts, next_attempt_at) \
                 VALUES {}",
                values_list(self.kind, chunk.len(), 6)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (event, extension) in chunk {
                q = q
                    .bind(event.id.clone())
                    .bind(event.project_id.clone())
                    .bind((*extension).clone())
                    .bind("pending")
                    .bind(0_i64)
                    .bind(now);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Leases up to `limit` deliveries that are due (pending, retry time
    /// passed, no live lease) for `lease_ms`, oldest first, counting an
    /// attempt on each. Safe to call from many hosts at once: each delivery
    /// goes to one of them.
    pub async fn claim_deliveries(
        &self,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let now = now_ms();
        let rows = sqlx::query(DUE_DELIVERIES)
            .bind(now)
            .bind(clamp_limit(Some(limit)))
            .fetch_all(&self.pool)
            .await?;
        let lease_until = now + lease_ms;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let event = event_from_row(&row)?;
            let extension: String = row.try_get("extension")?;
            let attempts: i64 = row.try_get("attempts")?;
            // Wins only if nobody leased it since the SELECT.
            let done = sqlx::query(
                "UPDATE event_deliveries SET lease_until = $1, attempts = attempts + 1 \
                 WHERE event_id = $2 AND extension = $3 AND state = 'pending' AND attempts = $4 \
                 AND (lease_until IS NULL OR lease_until < $5)",
            )
            .bind(lease_until)
            .bind(&event.id)
            .bind(&extension)
            .bind(attempts)
            .bind(now)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                continue;
            }
            claimed.push(ClaimedDelivery { event, extension, attempt: attempts + 1, lease_until });
        }
        Ok(claimed)
    }

    /// Records how a claimed attempt ended. `false` when this host's lease
    /// was no longer the delivery's (it ran out and another host took it):
    /// nothing is changed then.
    pub async fn finish_delivery(
        &self,
        claimed: &ClaimedDelivery,
        result: &DeliveryResult,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let (state, next, error) = match result {
            DeliveryResult::Delivered => ("delivered", None, None),
            DeliveryResult::Retry { error, at } => ("pending", Some(*at), Some(clip(error))),
            DeliveryResult::Dead { error } => ("dead", None, Some(clip(error))),
            DeliveryResult::Dropped { reason } => ("dropped", None, Some(clip(reason))),
        };
        let finished = (state != "pending").then_some(now);
        let done = sqlx::query(
            "UPDATE event_deliveries SET state = $1, next_attempt_at = COALESCE($2, next_attempt_at), \
             last_error = COALESCE($3, last_error), finished_at = $4, lease_until = NULL \
             WHERE event_id = $5 AND extension = $6 AND state = 'pending' AND lease_until = $7",
        )
        .bind(state)
        .bind(next)
        .bind(error)
        .bind(finished)
        .bind(&claimed.event.id)
        .bind(&claimed.extension)
        .bind(claimed.lease_until)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Hands a claimed delivery back without counting the attempt (the host
    /// is shutting down, or could not run it for a reason of its own), due
    /// again at `not_before` (ms) when given, else when it was due.
    pub async fn release_delivery(
        &self,
        claimed: &ClaimedDelivery,
        not_before: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE event_deliveries SET lease_until = NULL, attempts = attempts - 1, \
             next_attempt_at = COALESCE($4, next_attempt_at) \
             WHERE event_id = $1 AND extension = $2 AND state = 'pending' AND lease_until = $3",
        )
        .bind(&claimed.event.id)
        .bind(&claimed.extension)
        .bind(claimed.lease_until)
        .bind(not_before)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A project's events, newest first, with their deliveries.
    pub async fn list_events(
        &self,
        project: &str,
        filter: &EventFilter,
    ) -> Result<Vec<(Event, Vec<Delivery>)>, StoreError> {
        let mut sql = Sql::new(&format!("SELECT {EVENT_COLUMNS} FROM events e WHERE e.project_id = "));
        sql.bind_text(project)
            .and_eq("e.topic", filter.topic.as_deref())
            .and_eq("e.source", filter.source.as_deref())
            .and_cmp("e.created_at", ">=", filter.since)
            .and_cmp("e.created_at", "<", filter.until);
        if let Some(state) = &filter.delivery_state {
            sql.push(" AND EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = e.id AND d.state = ")
                .bind_text(state)
                .push(")");
        }
        sql.push(" ORDER BY e.created_at DESC, e.id DESC LIMIT ").bind_int(clamp_limit(filter.limit));
        let rows = sql.build().fetch_all(&self.pool).await?;
        let events: Vec<Event> = rows.iter().map(event_from_row).collect::<Result<_, _>>()?;
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        let mut deliveries = self.deliveries_of(&ids).await?;
        Ok(events
            .into_iter()
            .map(|e| {
                let d = deliveries.remove(&e.id).unwrap_or_default();
                (e, d)
            })
            .collect())
    }

    /// One event of `project` with its deliveries.
    pub async fn get_event(
        &self,
        project: &str,
        id: &str,
    ) -> Result<Option<(Event, Vec<Delivery>)>, StoreError> {
        let Some(row) =
            sqlx::query(PROJECT_EVENT_BY_ID).bind(project).bind(id).fetch_optional(&self.pool).await?
        else {
            return Ok(None);
        };
        let event = event_from_row(&row)?;
        let deliveries =
            self.deliveries_of(&[event.id.as_str()]).await?.remove(&event.id).unwrap_or_default();
        Ok(Some((event, deliveries)))
    }

    /// The deliveries of `event_ids`, by event, each list by extension: one query.
    async fn deliveries_of(&self, event_ids: &[&str]) -> Result<HashMap<String, Vec<Delivery>>, StoreError> {
        let mut by_event: HashMap<String, Vec<Delivery>> = HashMap::new();
        if event_ids.is_empty() {
            return Ok(by_event);
        }
        let mut sql = Sql::new(
            "SELECT event_id, extension, state, attempts, next_attempt_at, last_error, finished_at \
             FROM event_deliveries WHERE event_id IN (",
        );
        for (i, id) in event_ids.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind_text(id);
        }
        sql.push(") ORDER BY event_id, extension");
        for row in sql.build().fetch_all(&self.pool).await? {
            let d = delivery_from_row(&row)?;
            by_event.entry(d.event_id.clone()).or_default().push(d);
        }
        Ok(by_event)
    }

    /// Makes a `dead` or `dropped` delivery pending again, due now, with a
    /// fresh attempt count. `false` when there is no such finished delivery.
    pub async fn redeliver(
        &self,
        project: &str,
        event_id: &str,
        extension: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE event_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1, \
             lease_until = NULL, finished_at = NULL \
             WHERE project_id = $2 AND event_id = $3 AND extension = $4 AND state IN ('dead', 'dropped')",
        )
        .bind(now_ms())
        .bind(project)
        .bind(event_id)
        .bind(extension)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes events stored before `before` (unix ms) that no delivery is
    /// still waiting for; their deliveries go with them (`ON DELETE
    /// CASCADE`). Returns how many events.
    pub async fn purge_events(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM events WHERE created_at < $1 AND NOT EXISTS \
             (SELECT 1 FROM event_deliveries d WHERE d.event_id = events.id AND d.state = 'pending')",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
