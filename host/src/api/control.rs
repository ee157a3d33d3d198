//! The control API (`/v1`): projects, API keys, the trust store,
//! installations, usage and violations. Every route requires the admin token.

use std::sync::Arc;

use super::problem::{ApiJson, ApiQuery};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ADMIN;
use super::auth::require_admin;
use super::problem::{ApiError, Problem};
use crate::install;
use crate::state::AppState;

type S = State<Arc<AppState>>;
type ApiResult<T> = Result<T, ApiError>;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(create_project, list_projects))
        .routes(routes!(get_project))
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(revoke_api_key))
        .routes(routes!(add_trusted_key, list_trusted_keys))
        .routes(routes!(revoke_trusted_key))
        .routes(routes!(install_extension, list_extensions))
        .routes(routes!(get_extension, uninstall_extension))
        .routes(routes!(approve_extension))
        .routes(routes!(rate_extension))
        .routes(routes!(list_validations))
        .routes(routes!(list_usage))
        .routes(routes!(usage_summary))
        .routes(routes!(list_violations))
        .routes(routes!(list_audit))
}

/// 404 unless `project` exists.
pub(crate) async fn project_exists(state: &AppState, project: &str) -> ApiResult<()> {
    match state.store.get_project(project).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("project `{project}` does not exist"))),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// Project id: lower-case letters, digits and single dashes, starting with a letter.
    pub id: String,
}

/// Create a project.
#[utoipa::path(post, path = "/v1/projects", tag = "projects", request_body = CreateProject,
    responses((status = 201, description = "created"), (status = 409, body = Problem), (status = 400, body = Problem)))]
async fn create_project(
    State(state): S,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateProject>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    if !magflock_store::is_valid_slug(&body.id) {
        return Err(ApiError::bad_request(
            "invalid_project_id",
            "project ids are 1-63 lower-case letters, digits and single dashes, starting with a letter",
        ));
    }
    let p = state.store.create_project(&body.id).await?;
    state.store.audit(ADMIN, "project.create", Some(&body.id), None, serde_json::json!({})).await?;
    Ok((StatusCode::CREATED, Json(p)).into_response())
}

/// List projects.
#[utoipa::path(get, path = "/v1/projects", tag = "projects", responses((status = 200, description = "projects")))]
async fn list_projects(State(state): S, headers: HeaderMap) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    Ok(Json(state.store.list_projects().await?).into_response())
}

/// Get a project.
#[utoipa::path(get, path = "/v1/projects/{project}", tag = "projects",
    responses((status = 200, description = "the project"), (status = 404, body = Problem)))]
async fn get_project(
    State(state): S,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    match state.store.get_project(&project).await? {
        Some(p) => Ok(Json(p).into_response()),
        None => Err(ApiError::not_found(format!("project `{project}` does not exist"))),
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub label: Option<String>,
}

/// Create an API key for a project. The secret is returned once.
#[utoipa::path(post, path = "/v1/projects/{project}/api-keys", tag = "api-keys", request_body = CreateApiKey,
    responses((status = 201, description = "the key and its secret"), (status = 404, body = Problem)))]
async fn create_api_key(
    State(state): S,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    project_exists(&state, &project).await?;
    // The body is optional: no body means no label.
    let body: CreateApiKey = if body.iter().all(u8::is_ascii_whitespace) {
        CreateApiKey::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?
    };
    let label = body.label;
    if label.as_ref().is_some_and(|l| l.len() > 200) {
        return Err(ApiError::bad_request("invalid_label", "labels are at most 200 bytes"));
    }
    let (key, secret) = state.store.create_api_key(&project, label.as_deref()).await?;
    state.store.audit(ADMIN, "api_key.create", Some(&project), Some(&key.id), serde_json::json!({})).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({"key": key, "secret": secret}))).into_response())
}

/// List a project's API keys (never their secrets).
#[utoipa::path(get, path = "/v1/projects/{project}/api-keys", tag = "api-keys",
    responses((status = 200, description = "keys"), (status = 404, body = Problem)))]
async fn list_api_keys(
    State(state): S,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    project_exists(&state, &project).await?;
    Ok(Json(state.store.list_api_keys(&project).await?).into_response())
}

/// Revoke an API key. Takes effect at once on this host.
#[utoipa::path(delete, path = "/v1/projects/{project}/api-keys/{key_id}", tag = "api-keys",
    responses((status = 204, description = "revoked"), (status = 404, body = Problem)))]
async fn revoke_api_key(
    State(state): S,
    headers: HeaderMap,
    Path((project, key_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    if !state.store.revoke_api_key(&project, &key_id).await? {
        return Err(ApiError::not_found("no such API key in this project"));
    }
    state.keys.invalidate_key(&key_id);
    state.store.audit(ADMIN, "api_key.revoke", Some(&project), Some(&key_id), serde_json::json!({})).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTrustedKey {
    /// The publisher's public key line: `magflock-ed25519-pub <base64> [label]`.
    pub public_key: String,
    pub label: Option<String>,
}

/// Trust a publisher key for package signatures.
#[utoipa::path(post, path = "/v1/trusted-keys", tag = "trust", request_body = AddTrustedKey,
    responses((status = 201, description = "trusted"), (status = 400, body = Problem), (status = 409, body = Problem)))]
async fn add_trusted_key(
    State(state): S,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AddTrustedKey>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    let pk: magflock_registry::PublicKey = body
        .public_key
        .parse()
        .map_err(|e| ApiError::bad_request("invalid_public_key", format!("public key not readable: {e}")))?;
    let key_id = pk.key_id();
    state.store.add_trusted_key(&key_id, &pk.to_string(), body.label.as_deref()).await?;
    state.store.audit(ADMIN, "trusted_key.add", None, Some(&key_id), serde_json::json!({})).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({"key_id": key_id}))).into_response())
}

/// List trusted publisher keys.
#[utoipa::path(get, path = "/v1/trusted-keys", tag = "trust", responses((status = 200, description = "keys")))]
async fn list_trusted_keys(State(state): S, headers: HeaderMap) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    Ok(Json(state.store.list_trusted_keys().await?).into_response())
}

/// Revoke a trusted key: packages signed with it no longer install or load.
#[utoipa::path(delete, path = "/v1/trusted-keys/{key_id}", tag = "trust",
    responses((status = 204, description = "revoked"), (status = 404, body = Problem)))]
async fn revoke_trusted_key(
    State(state): S,
    headers: HeaderMap,
    Path(key_id): Path<String>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    if !state.store.revoke_trusted_key(&key_id).await? {
        return Err(ApiError::not_found("no such trusted key"));
    }
    state.store.audit(ADMIN, "trusted_key.revoke", None, Some(&key_id), serde_json::json!({})).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InstallQuery {
    /// Capabilities approved with this request, comma-separated (`kv,logging`).
    pub approve: Option<String>,
    /// Replace the installed version with a lower one (refused otherwise).
    pub allow_downgrade: Option<bool>,
}

/// Install by name from the registry (`application/json`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallFromRegistry {
    /// Extension name in the registry.
    pub name: String,
    /// Semver range (`^1`, `~1.2`, `=1.0.3`); the highest available match is
    /// installed. Default: any version.
    #[serde(default)]
    pub version: Option<String>,
    /// Capabilities approved with this request.
    #[serde(default)]
    pub approve: Vec<String>,
    /// Replace the installed version with a lower one (refused otherwise).
    #[serde(default)]
    pub allow_downgrade: bool,
}

/// Install an extension, or upgrade the installed one: from an uploaded
/// signed package (`application/octet-stream`), or by name and version range
/// from the registry (`application/json`, see `InstallFromRegistry`).
///
/// 201 when it is active; 202 when capabilities still need approval (an
/// upgrade waiting for approval leaves the installed version serving).
/// A lower version than the installed one is refused (409
/// `downgrade_refused`) unless `allow_downgrade` is set.
#[utoipa::path(post, path = "/v1/projects/{project}/extensions", tag = "extensions", params(InstallQuery),
    request_body(content(
        (Vec<u8> = "application/octet-stream"),
        (InstallFromRegistry = "application/json"),
    )),
    responses((status = 201, body = install::InstallReport), (status = 202, body = install::InstallReport),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem),
        (status = 422, body = Problem), (status = 502, body = Problem)))]
async fn install_extension(
    State(state): S,
    headers: HeaderMap,
    Path(project): Path<String>,
    ApiQuery(q): ApiQuery<InstallQuery>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    let body = body.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "upload_too_large",
                format!("packages are limited to {} bytes", state.config.max_upload_bytes),
            )
        } else {
            ApiError::bad_request("invalid_body", rej.body_text())
        }
    })?;
    project_exists(&state, &project).await?;
    let is_json =
        headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
            ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    let report = if is_json {
        let req: InstallFromRegistry = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
        if q.approve.is_some() || q.allow_downgrade.is_some() {
            return Err(ApiError::bad_request(
                "invalid_query",
                "with a JSON body, `approve` and `allow_downgrade` go in the body",
            ));
        }
        let range = super::plans::version_range(&req.name, req.version.as_deref())?;
        let options = install::InstallOptions {
            allow_downgrade: req.allow_downgrade,
            ..install::InstallOptions::new(&req.approve, ADMIN)
        };
        install::install_from_registry(&state, &project, &req.name, &range, options).await?
    } else {
        let approve: Vec<String> = q
            .approve
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let options = install::InstallOptions {
            allow_downgrade: q.allow_downgrade.unwrap_or(false),
            ..install::InstallOptions::new(&approve, ADMIN)
        };
        install::install_package(&state, &project, &body, options).await?
    };
    let status =
        if report.capabilities_to_approve.is_empty() { StatusCode::CREATED } else { StatusCode::ACCEPTED };
    Ok((status, Json(report)).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// 1 to 5.
    pub stars: u8,
    /// A short review, shown in the marketplace.
    #[serde(default)]
    pub review: Option<String>,
}

/// Rate an extension the project has installed, in the registry's
/// marketplace. One rating per project and extension: a new one replaces it.
#[utoipa::path(put, path = "/v1/projects/{project}/extensions/{name}/rating", tag = "extensions",
    request_body = Rate,
    responses((status = 200, description = "the rating as the registry recorded it"),
        (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 502, body = Problem)))]
async fn rate_extension(
    State(state): S,
    headers: HeaderMap,
    Path((project, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<Rate>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    project_exists(&state, &project).await?;
    if !(1..=5).contains(&body.stars) {
        return Err(ApiError::bad_request("invalid_rating", "stars must be between 1 and 5"));
    }
    let serving = state.store.get_installation(&project, &name).await?;
    let Some(inst) = serving.filter(|i| i.state == magflock_store::InstallationState::Active) else {
        return Err(ApiError::not_found(format!(
            "extension `{name}` is not installed and active in project `{project}`; only projects running \
             an extension can rate it"
        )));
    };
    let client = state.registry.as_ref().ok_or(crate::registry_client::RegistryClientError::NotConfigured)?;
    // Reported again first (idempotent): a report the registry missed
    // while it was down must not stop the project from rating.
    client.report_installation(&project, &name, &inst.version, true).await?;
    let answer = client.rate(&project, &name, body.stars, body.review.as_deref()).await?;
    Ok(Json(answer).into_response())
}

/// List a project's installations.
#[utoipa::path(get, path = "/v1/projects/{project}/extensions", tag = "extensions",
    responses((status = 200, description = "installations"), (status = 404, body = Problem)))]
async fn list_extensions(
    State(state): S,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    project_exists(&state, &project).await?;
    Ok(Json(state.store.list_installations(&project).await?).into_response())
}

/// Get one installation.
#[utoipa::path(get, path = "/v1/projects/{project}/extensions/{name}", tag = "extensions",
    responses((status = 200, description = "the installation"), (status = 404, body = Problem)))]
async fn get_extension(
    State(state): S,
    headers: HeaderMap,
    Path((project, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    match state.store.get_installation(&project, &name).await? {
        Some(i) => Ok(Json(i).into_response()),
        None => {
            Err(ApiError::not_found(format!("extension `{name}` is not installed in project `{project}`")))
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UninstallQuery {
    /// Also uninstall the extensions that depend on it (otherwise refused,
    /// 409 `dependents_exist`, naming them).
    pub cascade: Option<bool>,
}

/// Uninstall an extension: stops serving, runs its hooks, deletes its data.
#[utoipa::path(delete, path = "/v1/projects/{project}/extensions/{name}", tag = "extensions",
    params(UninstallQuery),
    responses((status = 204, description = "uninstalled"), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn uninstall_extension(
    State(state): S,
    headers: HeaderMap,
    Path((project, name)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<UninstallQuery>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    if install::uninstall(&state, &project, &name, ADMIN, q.cascade.unwrap_or(false)).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!("extension `{name}` is not installed in project `{project}`")))
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    /// Capabilities approved (`logging`, `config`, `kv`).
    pub capabilities: Vec<String>,
}

/// Approve capabilities of a pending installation. Approvals accumulate: 202
/// while some are still missing, 200 once it is active.
#[utoipa::path(post, path = "/v1/projects/{project}/extensions/{name}/approve", tag = "extensions",
    request_body = Approve,
    responses((status = 200, body = install::InstallReport), (status = 202, body = install::InstallReport),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn approve_extension(
    State(state): S,
    headers: HeaderMap,
    Path((project, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<Approve>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    match install::approve(&state, &project, &name, &body.capabilities, ADMIN).await? {
        Some(r) if r.capabilities_to_approve.is_empty() => Ok(Json(r).into_response()),
        Some(r) => Ok((StatusCode::ACCEPTED, Json(r)).into_response()),
        None => {
            Err(ApiError::not_found(format!("extension `{name}` is not installed in project `{project}`")))
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ValidationQuery {
    pub limit: Option<u32>,
}

/// The validation steps recorded for an extension's installs.
#[utoipa::path(get, path = "/v1/projects/{project}/extensions/{name}/validations", tag = "extensions",
    params(ValidationQuery), responses((status = 200, description = "validation steps")))]
async fn list_validations(
    State(state): S,
    headers: HeaderMap,
    Path((project, name)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<ValidationQuery>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    project_exists(&state, &project).await?;
    let limit = q.limit.unwrap_or(100).min(1000);
    Ok(Json(state.store.list_validations(&project, Some(&name), limit).await?).into_response())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    pub extension: Option<String>,
    pub version: Option<String>,
    pub outcome: Option<String>,
    /// Unix milliseconds, inclusive.
    pub since: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until: Option<i64>,
    /// At most 1000; default 100.
    pub limit: Option<u32>,
    /// Cursor: only records with a smaller id (newest first).
    pub before: Option<i64>,
}

/// Usage records of a project, newest first.
#[utoipa::path(get, path = "/v1/projects/{project}/usage", tag = "usage", params(UsageQuery),
    responses((status = 200, description = "usage records"), (status = 404, body = Problem)))]
async fn list_usage(
    State(state): S,
    headers: HeaderMap,
    Path(project): Path<String>,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    project_exists(&state, &project).await?;
    let f = magflock_store::UsageFilter {
        project_id: project,
        extension: q.extension,
        version: q.version,
        outcome: q.outcome,
        since: q.since,
        until: q.until,
        limit: q.limit,
        before_id: q.before,
    };
    Ok(Json(state.store.query_usage(&f).await?).into_response())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    pub extension: Option<String>,
}

/// Usage totals per extension, version and outcome.
#[utoipa::path(get, path = "/v1/projects/{project}/usage/summary", tag = "usage", params(SummaryQuery),
    responses((status = 200, description = "totals"), (status = 404, body = Problem)))]
async fn usage_summary(
    State(state): S,
    headers: HeaderMap,
    Path(project): Path<String>,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    project_exists(&state, &project).await?;
    Ok(Json(state.store.usage_summary(&project, q.extension.as_deref()).await?).into_response())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ViolationQuery {
    pub extension: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: Option<u32>,
    pub before: Option<i64>,
}

/// Violations (limit hits and denials) of a project, newest first.
#[utoipa::path(get, path = "/v1/projects/{project}/violations", tag = "usage", params(ViolationQuery),
    responses((status = 200, description = "violations"), (status = 404, body = Problem)))]
async fn list_violations(
    State(state): S,
    headers: HeaderMap,
    Path(project): Path<String>,
    ApiQuery(q): ApiQuery<ViolationQuery>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    project_exists(&state, &project).await?;
    let f = magflock_store::ViolationFilter {
        project_id: project,
        extension: q.extension,
        version: q.version,
        kind: q.kind,
        since: q.since,
        until: q.until,
        limit: q.limit,
        before_id: q.before,
    };
    Ok(Json(state.store.query_violations(&f).await?).into_response())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub project: Option<String>,
    pub limit: Option<u32>,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "audit entries")))]
async fn list_audit(
    State(state): S,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    require_admin(&state, &headers)?;
    let limit = q.limit.unwrap_or(100).min(1000);
    Ok(Json(state.store.list_audit(q.project.as_deref(), limit).await?).into_response())
}
