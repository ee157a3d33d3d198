//! Package routes: publish (admin), download (public), yank and un-yank (admin).

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http_body_util::LengthLimitError;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problem::{ApiError, Problem};
use crate::auth::{ADMIN_ACTOR, require_admin};
use crate::publish::Published;
use crate::store::VersionRecord;
use crate::{Registry, StoreError};

type S = State<Registry>;
type ApiResult<T> = Result<T, ApiError>;

/// The media type of a package file.
pub const PACKAGE_MEDIA_TYPE: &str = "application/vnd.magflock.package";
/// Longest yank reason, in characters.
const MAX_REASON_CHARS: usize = 500;

pub fn router() -> OpenApiRouter<Registry> {
    OpenApiRouter::new().routes(routes!(publish)).routes(routes!(download)).routes(routes!(yank, unyank))
}

/// Publish a signed package (`application/octet-stream` body).
///
/// 201 when the version is new; 200 with the same body when these exact bytes
/// are already published. Refusals store nothing.
#[utoipa::path(post, path = "/v1/packages", tag = "packages",
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Published), (status = 200, body = Published),
        (status = 400, body = Problem, description = "not a valid package or manifest"),
        (status = 403, body = Problem, description = "name_owned_by_other_publisher"),
        (status = 409, body = Problem, description = "version_exists"),
        (status = 413, body = Problem, description = "package_too_large"),
        (status = 422, body = Problem, description = "signature, key, host API or component refused")))]
async fn publish(State(registry): S, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    // The token is checked before a byte of the body is read, so callers
    // without it cannot make the registry buffer uploads.
    require_admin(&registry, &headers)?;
    let max = registry.config().max_package_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "package_too_large",
            format!("packages are limited to {max} bytes"),
        )
    };
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(too_large());
    }
    // Read at most `max` bytes: a body without (or lying about) its length
    // is cut off while it streams in.
    let body = match axum::body::to_bytes(body, max).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let e = e.into_inner();
            if e.downcast_ref::<LengthLimitError>().is_some() {
                return Err(too_large());
            }
            return Err(ApiError::bad_request(
                "invalid_body",
                format!("the request body could not be read: {e}"),
            ));
        }
    };
    let published = registry.publish(&body).await?;
    let status = if published.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(published)).into_response())
}

pub(crate) fn version_not_found(name: &str, version: &str) -> ApiError {
    ApiError::not_found(
        "version_not_found",
        format!("{}@{} is not published", name.escape_debug(), version.escape_debug()),
    )
}

/// Download a package file. Yanked versions still download (they keep
/// working where installed); versions revoked with a compromised key do not
/// (410 `version_revoked`).
#[utoipa::path(get, path = "/v1/extensions/{name}/versions/{version}/package", tag = "extensions",
    responses((status = 200, content_type = "application/vnd.magflock.package", body = Vec<u8>,
            headers(("Content-Digest" = String, description = "sha-256=:<base64>: (RFC 9530)"),
                    ("X-Magflock-Sha256" = String, description = "sha256 hex of the package"))),
        (status = 404, body = Problem), (status = 410, body = Problem)))]
async fn download(State(registry): S, Path((name, version)): Path<(String, String)>) -> ApiResult<Response> {
    let Some(record) = registry.store().get_version(&name, &version).await? else {
        return Err(version_not_found(&name, &version));
    };
    if record.revoked {
        return Err(ApiError::new(
            StatusCode::GONE,
            "version_revoked",
            format!(
                "{name}@{version} was revoked with its signing key: {}",
                record.yank_reason.unwrap_or_default()
            ),
        ));
    }
    let bytes = registry.blobs().get(&record.sha256).await?;
    let digest = hex::decode(&record.sha256).map_err(|e| ApiError::internal(&e))?;
    let content_digest = format!("sha-256=:{}:", base64::engine::general_purpose::STANDARD.encode(digest));
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PACKAGE_MEDIA_TYPE));
    for (name, value) in [("content-digest", content_digest), ("x-magflock-sha256", record.sha256)] {
        h.insert(name, HeaderValue::from_str(&value).map_err(|e| ApiError::internal(&e))?);
    }
    Ok(resp)
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Yank {
    pub reason: Option<String>,
}

/// Yank a version: it is no longer chosen for new installs but keeps working
/// where installed and still downloads.
#[utoipa::path(put, path = "/v1/extensions/{name}/versions/{version}/yank", tag = "extensions",
    request_body = Yank,
    responses((status = 200, body = VersionRecord), (status = 404, body = Problem)))]
async fn yank(
    State(registry): S,
    headers: HeaderMap,
    Path((name, version)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    require_admin(&registry, &headers)?;
    // The body is optional.
    let body: Yank = if body.iter().all(u8::is_ascii_whitespace) {
        Yank::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?
    };
    if let Some(reason) = &body.reason
        && (reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(char::is_control))
    {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("reason must be at most {MAX_REASON_CHARS} characters without control characters"),
        ));
    }
    let record = match registry.store().yank(&name, &version, body.reason.as_deref()).await {
        Err(StoreError::NotFound(_)) => return Err(version_not_found(&name, &version)),
        other => other?,
    };
    let target = format!("{name}@{version}");
    let detail = serde_json::json!({ "reason": body.reason });
    registry.store().audit(ADMIN_ACTOR, "version.yank", Some(&target), detail).await?;
    Ok(Json(record).into_response())
}

/// Un-yank a version. A version revoked with its signing key cannot be
/// un-yanked (409 `version_revoked`).
#[utoipa::path(delete, path = "/v1/extensions/{name}/versions/{version}/yank", tag = "extensions",
    responses((status = 200, body = VersionRecord), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn unyank(
    State(registry): S,
    headers: HeaderMap,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    require_admin(&registry, &headers)?;
    let record = match registry.store().unyank(&name, &version).await {
        Err(StoreError::NotFound(_)) => return Err(version_not_found(&name, &version)),
        Err(StoreError::Conflict(m)) => return Err(ApiError::conflict("version_revoked", m)),
        other => other?,
    };
    let target = format!("{name}@{version}");
    registry.store().audit(ADMIN_ACTOR, "version.unyank", Some(&target), serde_json::json!({})).await?;
    Ok(Json(record).into_response())
}
