//! The HTTP surfaces: control API (`/v1`), app gateway (`/x`), health,
//! metrics and the OpenAPI document. [`app`] is used by `main` and by tests.

pub mod auth;
pub mod control;
pub mod database;
pub mod events;
pub mod gateway;
pub mod metrics;
pub mod migrations;
pub mod plans;
pub mod problem;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The request id header: set by the host on every request (never taken
/// from a client) and returned on every response.
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The actor audit entries name for calls made with the admin token.
pub(crate) const ADMIN: &str = "admin";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "MagFlock control API",
        description = "Projects, API keys, trusted publisher keys, \
        extension installations, usage and violations, events. Errors are RFC 9457 problem+json with a stable `code`."
    ),
    components(schemas(problem::Problem))
)]
struct ApiDoc;

/// Every `/v1` route, with its OpenAPI description.
fn control_api() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(control::router())
        .merge(plans::router())
        .merge(database::router())
        .merge(migrations::router())
        .merge(events::router())
}

/// The OpenAPI document of the control API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    control_api().split_for_parts().1
}

/// Builds the whole HTTP application.
pub fn app(state: Arc<AppState>) -> Router {
    let (control, api) = control_api().split_for_parts();
    let api = Arc::new(api);
    // Extractors (package uploads, JSON bodies) read at most this much; the
    // gateway applies its own request limit to extension calls.
    let body_limit = axum::extract::DefaultBodyLimit::max(state.config.max_upload_bytes);
    // The control API, health and metrics are traced: one `http` span per
    // request, so whatever is logged while it is served names it.
    let traced = Router::new()
        .merge(control)
        .route(
            "/openapi.json",
            get(move || {
                let api = api.clone();
                async move { Json(api.as_ref().clone()) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .fallback(|| async { problem::ApiError::not_found("no such route") })
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get(&X_REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }));
    // The gateway is the hot path: no span per call (creating one, with its
    // fields formatted, was about 2.5 % of a call's instructions). What it
    // logs names the request id, project and extension itself, and every
    // call has its usage record.
    let gateway = Router::new()
        .route("/x/{project}/{extension}", any(gateway::root))
        .route("/x/{project}/{extension}/", any(gateway::root))
        .route("/x/{project}/{extension}/{*rest}", any(gateway::nested));
    traced
        .merge(gateway)
        .layer(body_limit)
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, TimeOrderedRequestId))
        // Request ids are the host's own: they key usage records, so a
        // client-supplied one is dropped before a fresh one is set.
        .layer(axum::middleware::map_request(drop_client_request_id))
        .with_state(state)
}

/// Request ids are time-ordered UUIDs ([`crate::ids`]): they key usage
/// records. tower-http's `MakeRequestUuid` makes random ones, each drawn
/// from the OS: one `getrandom` system call on every request, and usage
/// records scattered over their unique index.
#[derive(Clone, Copy)]
struct TimeOrderedRequestId;

impl MakeRequestId for TimeOrderedRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = crate::ids::time_ordered();
        let mut buf = uuid::Uuid::encode_buffer();
        axum::http::HeaderValue::from_str(id.hyphenated().encode_lower(&mut buf)).ok().map(RequestId::new)
    }
}

async fn drop_client_request_id(mut req: Request<axum::body::Body>) -> Request<axum::body::Body> {
    req.headers_mut().remove(&X_REQUEST_ID);
    req
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let db = state.store.ping().await.is_ok();
    let body = serde_json::json!({
        "database": if db { "ok" } else { "unavailable" },
        "installations": state.runtime.active_count(),
        "usage_pending": state.runtime.usage.pending(),
    });
    let status = if db { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    match &state.metrics {
        Some(h) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], h.render()).into_response(),
        None => {
            problem::ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "metrics_unavailable", "metrics are off")
                .into_response()
        }
    }
}
