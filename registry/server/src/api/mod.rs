//! The registry's HTTP API. [`app`] is served by `magflock registry serve`
//! and driven in-process by the tests; [`openapi`] is its document.

pub mod admin;
pub mod browse;
pub mod community;
pub mod packages;
pub mod problem;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::Registry;

/// Largest JSON request body (hostile input: the largest legitimate one, a
/// rating with a 2000-character review, is under 10 KiB).
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "MagFlock registry API",
        description = "Publishers and keys, signed package publishing, browsing, yanks, \
        installation reports, ratings and the marketplace. Errors are RFC 9457 problem+json with a stable `code`."
    ),
    components(schemas(problem::Problem))
)]
struct ApiDoc;

fn routes() -> OpenApiRouter<Registry> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(admin::router())
        .merge(packages::router())
        .merge(browse::router())
        .merge(community::router())
}

/// The OpenAPI document of the registry API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

const REQUEST_ID: axum::http::HeaderName = axum::http::HeaderName::from_static("x-request-id");

/// The whole registry HTTP application: every request gets an id (echoed in
/// `x-request-id`) and a log span.
pub fn app(registry: Registry) -> Router {
    let (router, api) = routes().split_for_parts();
    let api = Arc::new(api);
    // JSON bodies are small; package uploads read their own body under
    // `max_package_bytes` (see `packages::publish`).
    let body_limit = DefaultBodyLimit::max(MAX_JSON_BODY_BYTES);
    router
        .route(
            "/openapi.json",
            get(move || {
                let api = api.clone();
                async move { Json(api.as_ref().clone()) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .fallback(|| async { problem::ApiError::not_found("not_found", "no such route") })
        .layer(body_limit)
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(
            |req: &axum::http::Request<_>| {
                let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                tracing::info_span!("registry", method = %req.method(), path = %req.uri().path(), request_id = %id)
            },
        ))
        .layer(tower_http::request_id::PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(tower_http::request_id::SetRequestIdLayer::new(
            REQUEST_ID.clone(),
            tower_http::request_id::MakeRequestUuid,
        ))
        .with_state(registry)
}

async fn readyz(State(registry): State<Registry>) -> Response {
    match registry.store().ping().await {
        Ok(()) => Json(serde_json::json!({"database": "ok"})).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"database": "unavailable"})))
            .into_response(),
    }
}
