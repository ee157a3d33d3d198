//! A project's events and their deliveries, for owners and operators:
//! `GET /v1/projects/{p}/events` (newest first, filtered),
//! `GET /v1/projects/{p}/events/{id}`, and
//! `POST /v1/projects/{p}/events/{id}/redeliver` (a dead or dropped
//! delivery, sent again).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::require_admin;
use super::control::project_exists;
use super::problem::{ApiError, ApiJson, ApiQuery, Problem};
use crate::state::AppState;

type S = State<Arc<AppState>>;

const DELIVERY_STATES: [&str; 4] = ["pending", "delivered", "dead", "dropped"];

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(list_events)).routes(routes!(get_event)).routes(routes!(redeliver))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    pub topic: Option<String>,
    /// The publishing extension.
    pub source: Option<String>,
    /// Only events with a delivery in this state: `pending`, `delivered`,
    /// `dead` or `dropped`.
    pub state: Option<String>,
    /// Unix milliseconds, inclusive.
    pub since: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until: Option<i64>,
    /// At most 1000; default 100.
    pub limit: Option<u32>,
}

/// An event as the API shows it: the payload as base64, and as text when
/// it is UTF-8.
#[derive(Serialize)]
struct EventView {
    #[serde(flatten)]
    event: magflock_store::Event,
    payload_base64: String,
    payload_text: Option<String>,
    deliveries: Vec<magflock_store::Delivery>,
}

fn view((event, deliveries): (magflock_store::Event, Vec<magflock_store::Delivery>)) -> EventView {
    let payload_base64 = base64::engine::general_purpose::STANDARD.encode(&event.payload);
    let payload_text = String::from_utf8(event.payload.clone()).ok();
    EventView { event, payload_base64, payload_text, deliveries }
}

/// The project's events, newest first, each with its deliveries.
#[utoipa::path(get, path = "/v1/projects/{project}/events", tag = "events", params(EventQuery),
    responses((status = 200, description = "events"), (status = 400, body = Problem),
        (status = 404, body = Problem)))]
async fn list_events(
    State(state): S,
    headers: HeaderMap,
    Path(project): Path<String>,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    project_exists(&state, &project).await?;
    if let Some(s) = q.state.as_deref()
        && !DELIVERY_STATES.contains(&s)
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("`state` is one of {}", DELIVERY_STATES.join(", ")),
        ));
    }
    let filter = magflock_store::EventFilter {
        topic: q.topic,
        source: q.source,
        delivery_state: q.state,
        since: q.since,
        until: q.until,
        limit: q.limit,
    };
    let events = state.store.list_events(&project, &filter).await?;
    Ok(Json(events.into_iter().map(view).collect::<Vec<_>>()).into_response())
}

/// One event with its deliveries.
#[utoipa::path(get, path = "/v1/projects/{project}/events/{id}", tag = "events",
    responses((status = 200, description = "the event"), (status = 404, body = Problem)))]
async fn get_event(
    State(state): S,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    project_exists(&state, &project).await?;
    match state.store.get_event(&project, &id).await? {
        Some(e) => Ok(Json(view(e)).into_response()),
        None => Err(ApiError::not_found(format!("no event `{id}` in project `{project}`"))),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Redeliver {
    /// The subscriber whose dead or dropped delivery is sent again.
    pub extension: String,
}

/// Send a dead or dropped delivery again, from its first attempt.
#[utoipa::path(post, path = "/v1/projects/{project}/events/{id}/redeliver", tag = "events",
    request_body = Redeliver,
    responses((status = 202, description = "queued again"), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn redeliver(
    State(state): S,
    headers: HeaderMap,
    Path((project, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<Redeliver>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    project_exists(&state, &project).await?;
    if !state.store.redeliver(&project, &id, &body.extension).await? {
        // Only a refusal needs the event: to say which refusal it is.
        let Some((_, deliveries)) = state.store.get_event(&project, &id).await? else {
            return Err(ApiError::not_found(format!("no event `{id}` in project `{project}`")));
        };
        if !deliveries.iter().any(|d| d.extension == body.extension) {
            return Err(ApiError::not_found(format!("event `{id}` has no delivery to `{}`", body.extension)));
        }
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "delivery_not_finished",
            format!("the delivery of `{id}` to `{}` is not dead or dropped", body.extension),
        ));
    }
    state
        .store
        .audit(
            super::ADMIN,
            "event.redeliver",
            Some(&project),
            Some(&body.extension),
            serde_json::json!({ "event": id }),
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "event": id, "extension": body.extension })))
        .into_response())
}
