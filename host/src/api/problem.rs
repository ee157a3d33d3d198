//! The one API error type: logs internals, answers RFC 9457 problem+json with
//! a stable `code` and nothing internal (no SQL, no paths, no stack traces).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;

use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable, machine-readable code.
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub detail: String,
    pub request_id: Option<String>,
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        Self { status, code: code.into(), detail: detail.into(), request_id: None, retry_after: None }
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }
    /// An internal failure: the cause is logged, the client sees a generic
    /// message.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the host failed to handle the request")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error").to_owned();
        let body = Problem {
            kind: format!("https://magflock.dev/problems/{}", self.code),
            title,
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.into_owned(),
            request_id: self.request_id,
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<magflock_store::StoreError> for ApiError {
    fn from(e: magflock_store::StoreError) -> Self {
        use magflock_store::StoreError as E;
        match &e {
            E::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m.clone()),
            E::NotFound(m) => Self::not_found(m.clone()),
            E::Invalid(m) => Self::bad_request("invalid", m.clone()),
            _ => {
                tracing::error!(error = %e, "control-plane store error");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the control-plane database is unavailable; retry later",
                )
            }
        }
    }
}

impl From<crate::install::InstallError> for ApiError {
    fn from(e: crate::install::InstallError) -> Self {
        use crate::install::InstallError as E;
        match e {
            E::Store(s) => s.into(),
            E::Io(io) => ApiError::internal(&io),
            E::InvalidName(_) => Self::bad_request(e.code(), e.to_string()),
            E::Resolve(f) => {
                use magflock_resolver::Failure as F;
                let status = match &f {
                    F::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
                    F::NotInstalled { .. } => StatusCode::NOT_FOUND,
                    F::DependentsExist { .. } | F::DowngradeRefused { .. } => StatusCode::CONFLICT,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                Self::new(status, f.code(), f.to_string())
            }
            E::ApprovalRequired(_) => Self::new(StatusCode::CONFLICT, e.code(), e.to_string()),
            E::Registry(r) => r.into(),
            E::AlreadyInstalled { .. } | E::Downgrade { .. } | E::PendingExists { .. } => {
                Self::new(StatusCode::CONFLICT, e.code(), e.to_string())
            }
            other => Self::new(StatusCode::UNPROCESSABLE_ENTITY, other.code(), other.to_string()),
        }
    }
}

impl From<crate::registry_client::RegistryClientError> for ApiError {
    fn from(e: crate::registry_client::RegistryClientError) -> Self {
        use crate::registry_client::RegistryClientError as E;
        let status = match &e {
            E::NotConfigured => StatusCode::CONFLICT,
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::NoMatchingVersion(_) => StatusCode::UNPROCESSABLE_ENTITY,
            E::Refused { status: 403, .. } => StatusCode::FORBIDDEN,
            E::Refused { status: 400, .. } => StatusCode::BAD_REQUEST,
            E::Unavailable { .. } | E::Refused { .. } | E::DigestMismatch { .. } | E::BadAnswer(_) => {
                StatusCode::BAD_GATEWAY
            }
            E::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        };
        // A refusal keeps the registry's own code (`not_installed`,
        // `invalid_rating`, ...): it is what the caller can act on.
        let code = match &e {
            E::Refused { code, status: 400 | 403 | 404 | 409 | 422, .. } if is_code(code) => code.clone(),
            _ => e.code().to_owned(),
        };
        Self::new(status, code, e.to_string())
    }
}

/// A plausible stable code: what a registry answer may pass through.
fn is_code(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// `Json<T>` whose rejections (bad JSON, unknown fields, wrong content
/// type, too large) answer problem+json with code `invalid_body`.
pub struct ApiJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: axum::extract::FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(ApiError::new(rej.status(), "invalid_body", rej.body_text())),
        }
    }
}

/// `Query<T>` whose rejections answer problem+json with code `invalid_query`.
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rej) => Err(ApiError::bad_request("invalid_query", rej.body_text())),
        }
    }
}
