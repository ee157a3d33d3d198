//! Admin routes: publishers and their keys (register, rotate, revoke), hosts,
//! and the audit log. Every route requires the admin token.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use magflock_registry::PublicKey;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problem::{ApiError, ApiJson, ApiQuery, Problem};
use crate::Registry;
use crate::auth::{ADMIN_ACTOR, require_admin};
use crate::store::{AuditEntry, Publisher, PublisherKey, RevocationReason, is_valid_slug};

type S = State<Registry>;
type ApiResult<T> = Result<T, ApiError>;

/// Longest display name and revocation note, in characters.
const MAX_TEXT_CHARS: usize = 200;

pub fn router() -> OpenApiRouter<Registry> {
    OpenApiRouter::new()
        .routes(routes!(create_publisher, list_publishers))
        .routes(routes!(get_publisher))
        .routes(routes!(add_key))
        .routes(routes!(revoke_key))
        .routes(routes!(rotate_key))
        .routes(routes!(create_host))
        .routes(routes!(list_audit))
}

fn check_text(field: &str, text: Option<&str>) -> ApiResult<()> {
    match text {
        Some(t)
            if t.trim().is_empty()
                || t.chars().count() > MAX_TEXT_CHARS
                || t.chars().any(char::is_control) =>
        {
            Err(ApiError::bad_request(
                "invalid_body",
                format!("{field} must be 1 to {MAX_TEXT_CHARS} characters without control characters"),
            ))
        }
        _ => Ok(()),
    }
}

fn parse_public_key(text: &str) -> ApiResult<PublicKey> {
    text.parse().map_err(|e: magflock_registry::KeyError| {
        ApiError::bad_request("invalid_public_key", format!("public key is not readable ({}): {e}", e.code()))
    })
}

async fn publisher_exists(registry: &Registry, publisher: &str) -> ApiResult<()> {
    match registry.store().get_publisher(publisher).await? {
        Some(_) => Ok(()),
        None => {
            Err(ApiError::not_found("publisher_not_found", format!("publisher `{publisher}` does not exist")))
        }
    }
}

async fn key_is_new(registry: &Registry, key_id: &str) -> ApiResult<()> {
    match registry.store().get_key(key_id).await? {
        Some(existing) => Err(ApiError::conflict(
            "key_exists",
            format!("key {key_id} is already registered (to publisher `{}`)", existing.publisher),
        )),
        None => Ok(()),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePublisher {
    /// 1-63 lower-case letters, digits and single dashes, starting with a letter.
    pub name: String,
    pub display_name: Option<String>,
}

/// Register a publisher.
#[utoipa::path(post, path = "/v1/publishers", tag = "publishers", request_body = CreatePublisher,
    responses((status = 201, body = Publisher), (status = 400, body = Problem), (status = 409, body = Problem)))]
async fn create_publisher(
    State(registry): S,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreatePublisher>,
) -> ApiResult<Response> {
    require_admin(&registry, &headers)?;
    if !is_valid_slug(&body.name) {
        return Err(ApiError::bad_request(
            "invalid_publisher_name",
            "publisher names are 1-63 lower-case letters, digits and single dashes, starting with a letter",
        ));
    }
    check_text("display_name", body.display_name.as_deref())?;
    let publisher = match registry.store().create_publisher(&body.name, body.display_name.as_deref()).await {
        Err(crate::StoreError::Conflict(m)) => return Err(ApiError::conflict("publisher_exists", m)),
        other => other?,
    };
    registry.store().audit(ADMIN_ACTOR, "publisher.create", Some(&body.name), serde_json::json!({})).await?;
    Ok((StatusCode::CREATED, Json(publisher)).into_response())
}

/// List publishers with their keys.
#[utoipa::path(get, path = "/v1/publishers", tag = "publishers",
    responses((status = 200, body = Vec<Publisher>), (status = 401, body = Problem)))]
async fn list_publishers(State(registry): S, headers: HeaderMap) -> ApiResult<Response> {
    require_admin(&registry, &headers)?;
    Ok(Json(registry.store().list_publishers().await?).into_response())
}

/// Get a publisher with its keys (revoked ones included).
#[utoipa::path(get, path = "/v1/publishers/{publisher}", tag = "publishers",
    responses((status = 200, body = Publisher), (status = 404, body = Problem)))]
async fn get_publisher(
    State(registry): S,
    headers: HeaderMap,
    Path(publisher): Path<String>,
) -> ApiResult<Response> {
    require_admin(&registry, &headers)?;
    match registry.store().get_publisher(&publisher).await? {
        Some(p) => Ok(Json(p).into_response()),
        None => {
            Err(ApiError::not_found("publisher_not_found", format!("publisher `{publisher}` does not exist")))
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddKey {
    /// The public key line: `magflock-ed25519-pub <base64> [label]`.
    pub public_key: String,
}

/// The checks before a key is added to `publisher`: admin, a well-formed
/// key, an existing publisher, a key id registered nowhere yet.
async fn new_key(
    registry: &Registry,
    headers: &HeaderMap,
    publisher: &str,
    public_key: &str,
) -> ApiResult<(PublicKey, String)> {
    require_admin(registry, headers)?;
    let key = parse_public_key(public_key)?;
    publisher_exists(registry, publisher).await?;
    let key_id = key.key_id();
    key_is_new(registry, &key_id).await?;
    Ok((key, key_id))
}

/// Register a signing key for a publisher.
#[utoipa::path(post, path = "/v1/publishers/{publisher}/keys", tag = "publishers", request_body = AddKey,
    responses((status = 201, body = PublisherKey), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn add_key(
    State(registry): S,
    headers: HeaderMap,
    Path(publisher): Path<String>,
    ApiJson(body): ApiJson<AddKey>,
) -> ApiResult<Response> {
    let (key, key_id) = new_key(&registry, &headers, &publisher, &body.public_key).await?;
    let added = match registry.store().add_key(&publisher, &key_id, &key.to_string()).await {
        Err(crate::StoreError::Conflict(m)) => return Err(ApiError::conflict("key_exists", m)),
        other => other?,
    };
    let detail = serde_json::json!({ "key_id": key_id });
    registry.store().audit(ADMIN_ACTOR, "publisher.key_add", Some(&publisher), detail).await?;
    Ok((StatusCode::CREATED, Json(added)).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeKey {
    pub reason: RevocationReason,
    pub note: Option<String>,
}

/// A key after its revocation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RevokedKey {
    #[serde(flatten)]
    pub key: PublisherKey,
    /// Versions signed by the key that were revoked with it (`compromised` only).
    pub versions_revoked: u64,
}

/// Revoke a publisher key. `rotated`: versions published before stay valid;
/// `compromised`: every version the key signed is revoked too. A key revoked
/// as `rotated` may later be revoked as `compromised`.
#[utoipa::path(post, path = "/v1/publishers/{publisher}/keys/{key_id}/revoke", tag = "publishers",
    request_body = RevokeKey,
    responses((status = 200, body = RevokedKey), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn revoke_key(
    State(registry): S,
    headers: HeaderMap,
    Path((publisher, key_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RevokeKey>,
) -> ApiResult<Response> {
    require_admin(&registry, &headers)?;
    check_text("note", body.note.as_deref())?;
    publisher_exists(&registry, &publisher).await?;
    let revocation =
        match registry.store().revoke_key(&publisher, &key_id, body.reason, body.note.as_deref()).await {
            Err(crate::StoreError::NotFound(m)) => return Err(ApiError::not_found("key_not_found", m)),
            Err(crate::StoreError::Conflict(m)) => return Err(ApiError::conflict("key_already_revoked", m)),
            other => other?,
        };
    let detail = serde_json::json!({
        "key_id": key_id, "reason": body.reason.as_str(), "versions_revoked": revocation.versions_revoked,
    });
    registry.store().audit(ADMIN_ACTOR, "publisher.key_revoke", Some(&publisher), detail).await?;
    Ok(Json(RevokedKey { key: revocation.key, versions_revoked: revocation.versions_revoked })
        .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// The new public key line.
    pub public_key: String,
    /// The key id to revoke (reason `rotated`).
    pub revoke: String,
}

/// The new key of a rotation, with the key it replaced.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RotatedKey {
    #[serde(flatten)]
    pub key: PublisherKey,
    pub revoked: PublisherKey,
}

/// Rotate a key: add the new key and revoke the old one as `rotated`, atomically.
#[utoipa::path(post, path = "/v1/publishers/{publisher}/keys:rotate", tag = "publishers", request_body = RotateKey,
    responses((status = 201, body = RotatedKey), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn rotate_key(
    State(registry): S,
    headers: HeaderMap,
    Path(publisher): Path<String>,
    ApiJson(body): ApiJson<RotateKey>,
) -> ApiResult<Response> {
    let (key, key_id) = new_key(&registry, &headers, &publisher, &body.public_key).await?;
    match registry.store().get_key(&body.revoke).await? {
        Some(old) if old.publisher == publisher && old.revoked_at.is_none() => {}
        Some(old) if old.publisher == publisher => {
            return Err(ApiError::conflict(
                "key_already_revoked",
                format!("key {} is already revoked", old.key_id),
            ));
        }
        _ => {
            return Err(ApiError::not_found(
                "key_not_found",
                format!("publisher `{publisher}` has no key {}", body.revoke.escape_debug()),
            ));
        }
    }
    let (added, revocation) =
        match registry.store().rotate_key(&publisher, &key_id, &key.to_string(), &body.revoke).await {
            Err(crate::StoreError::Conflict(m)) => return Err(ApiError::conflict("conflict", m)),
            other => other?,
        };
    let detail = serde_json::json!({ "key_id": key_id, "revoked": body.revoke });
    registry.store().audit(ADMIN_ACTOR, "publisher.key_rotate", Some(&publisher), detail).await?;
    Ok((StatusCode::CREATED, Json(RotatedKey { key: added, revoked: revocation.key })).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateHost {
    /// 1-63 lower-case letters, digits and single dashes, starting with a letter.
    pub name: String,
}

/// A new host and its token (shown once).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HostToken {
    pub name: String,
    pub token: String,
}

/// Register a host; its bearer token is returned once and stored hashed.
#[utoipa::path(post, path = "/v1/hosts", tag = "hosts", request_body = CreateHost,
    responses((status = 201, body = HostToken), (status = 400, body = Problem), (status = 409, body = Problem)))]
async fn create_host(
    State(registry): S,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateHost>,
) -> ApiResult<Response> {
    require_admin(&registry, &headers)?;
    if !is_valid_slug(&body.name) {
        return Err(ApiError::bad_request(
            "invalid_host_name",
            "host names are 1-63 lower-case letters, digits and single dashes, starting with a letter",
        ));
    }
    let token = match registry.create_host_token(&body.name).await {
        Err(crate::RegistryError::Store(crate::StoreError::Conflict(m))) => {
            return Err(ApiError::conflict("host_exists", m));
        }
        other => other?,
    };
    Ok((StatusCode::CREATED, Json(HostToken { name: body.name, token })).into_response())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub limit: Option<u32>,
}

/// The newest audit records (admin actions: publishers, keys, hosts, publishes, yanks).
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 401, body = Problem)))]
async fn list_audit(
    State(registry): S,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    require_admin(&registry, &headers)?;
    Ok(Json(registry.store().list_audit(q.limit).await?).into_response())
}
