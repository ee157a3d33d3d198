//! The app gateway: `/x/{project}/{extension}/...` with the project's API key
//! → the extension's `wasi:http` handler.
//!
//! A missing project, a missing extension, and another project's key all get
//! the same 404: a caller cannot tell which projects or extensions exist.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Limited};

use super::auth;
use super::problem::ApiError;
use crate::runtime::outcome::Outcome;
use crate::state::AppState;

/// Request headers never passed to an extension: the caller's credentials
/// (an extension must not learn the project's API key) and cookies of the
/// host's origin.
/// Names, not strings: a name given as a string is parsed on every lookup.
const STRIPPED_REQUEST_HEADERS: [HeaderName; 4] =
    [header::AUTHORIZATION, auth::APIKEY, header::COOKIE, header::PROXY_AUTHORIZATION];

fn not_found() -> ApiError {
    ApiError::not_found("no such extension in this project")
}

pub async fn root(
    State(state): State<Arc<AppState>>,
    Path((project, extension)): Path<(String, String)>,
    req: Request,
) -> Response {
    serve(state, project, extension, String::new(), req).await
}

pub async fn nested(
    State(state): State<Arc<AppState>>,
    Path((project, extension, rest)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    serve(state, project, extension, rest, req).await
}

async fn serve(
    state: Arc<AppState>,
    project: String,
    extension: String,
    rest: String,
    req: Request,
) -> Response {
    match handle(&state, &project, &extension, &rest, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// What follows `/x/{project}/{extension}/` in a request path, as sent
/// (not percent-decoded).
fn raw_rest(path: &str) -> &str {
    // `["", "x", project, extension, rest]`
    path.splitn(5, '/').nth(4).unwrap_or("")
}

async fn handle(
    state: &AppState,
    project: &str,
    extension: &str,
    rest: &str,
    req: Request,
) -> Result<Response, ApiError> {
    let key = auth::api_key(state, req.headers()).await?;
    let Some(key) = key else {
        return Err(ApiError::unauthorized(
            "send the project's API key as `Authorization: Bearer <key>` or an `apikey` header",
        ));
    };
    if key.project_id != project {
        return Err(not_found());
    }
    let loaded = state.runtime.get(project, extension).ok_or_else(not_found)?;

    let path = format!("/{rest}");
    let method = req.method().as_str().to_owned();
    let Some(endpoint) = loaded.manifest.match_endpoint(&method, &path) else {
        return Err(ApiError::not_found("the extension exposes no endpoint for this method and path"));
    };
    let endpoint = endpoint.pattern().to_owned();

    let request_id = req.headers().get(&super::X_REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (mut parts, body) = req.into_parts();
    let body = match Limited::new(body, state.config.max_request_bytes).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                format!("request bodies are limited to {} bytes", state.config.max_request_bytes),
            ));
        }
        Err(_) => {
            return Err(ApiError::bad_request("bad_request_body", "the request body could not be read"));
        }
    };
    // The extension sees its path as the client sent it, still
    // percent-encoded (`/weird%20%22name%22`): the decoded form is only for
    // matching the manifest's endpoints.
    let raw = format!("/{}", raw_rest(parts.uri.path()));
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{raw}?{q}"),
        None => raw,
    };
    parts.uri = Uri::builder()
        .path_and_query(path_and_query)
        .build()
        .map_err(|_| ApiError::bad_request("bad_uri", "the request URI is not valid"))?;
    for h in &STRIPPED_REQUEST_HEADERS {
        parts.headers.remove(h);
    }
    if !parts.headers.contains_key(header::HOST) {
        parts.headers.insert(header::HOST, HeaderValue::from_static("localhost"));
    }
    let request = http::Request::from_parts(parts, body);

    let inv = state.runtime.invoke_http(&loaded, &endpoint, request, request_id).await;
    match inv.response {
        Some(resp) => {
            let (parts, body) = resp.into_parts();
            // `x-request-id` is added by the request-id layer (see `super::app`).
            let resp = Response::from_parts(parts, Body::from(body));
            Ok(resp)
        }
        None => {
            let status =
                StatusCode::from_u16(inv.outcome.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut err = ApiError::new(status, inv.outcome.as_str(), inv.outcome.message());
            err.request_id = Some(inv.request_id);
            if inv.outcome == Outcome::ConcurrencyLimit {
                err.retry_after = Some(1);
            }
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::raw_rest;

    #[test]
    fn the_rest_of_a_path_keeps_its_encoding() {
        assert_eq!(raw_rest("/x/demo/maggate/weird%20%22name%22"), "weird%20%22name%22");
        assert_eq!(raw_rest("/x/demo/maggate/a/b%2Fc"), "a/b%2Fc");
        assert_eq!(raw_rest("/x/demo/maggate/"), "");
        assert_eq!(raw_rest("/x/demo/maggate"), "");
    }
}
