//! Control API for project databases (`/v1/projects/{project}/database/...`):
//! the owner's SQL (tables, migrations, data) and the project's query
//! policy. Admin token only, like the rest of `/v1`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::require_admin;
use super::problem::{ApiError, ApiJson, Problem};
use crate::capabilities::database::{DatabaseError, ProjectDatabases, QueryPolicy};
use crate::state::AppState;

type S = State<Arc<AppState>>;

/// Longest owner SQL script accepted in one call, in bytes.
pub const MAX_OWNER_SQL_BYTES: usize = 1024 * 1024;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(run_owner_sql)).routes(routes!(get_policy, set_policy))
}

pub(crate) async fn databases(state: &AppState, project: &str) -> Result<Arc<ProjectDatabases>, ApiError> {
    super::control::project_exists(state, project).await?;
    state.runtime.project_databases().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_project_databases",
            "this host serves no project databases",
        )
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerSql {
    /// One or more statements, run in one transaction with full rights on
    /// the project's database (never on the host's tables).
    pub sql: String,
}

/// Run the owner's SQL in the project database.
#[utoipa::path(post, path = "/v1/projects/{project}/database/sql", tag = "database", request_body = OwnerSql,
    responses((status = 204, description = "done"), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn run_owner_sql(
    State(state): S,
    headers: HeaderMap,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<OwnerSql>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    if body.sql.len() > MAX_OWNER_SQL_BYTES {
        return Err(ApiError::bad_request(
            "sql_too_large",
            format!("the SQL is over {MAX_OWNER_SQL_BYTES} bytes"),
        ));
    }
    let dbs = databases(&state, &project).await?;
    match dbs.owner_execute(&project, &body.sql).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(DatabaseError::Sql { code, message }) => {
            Err(ApiError::bad_request("sql_failed", sql_detail(&code, message)))
        }
        Err(e) => Err(ApiError::internal(&e)),
    }
}

/// A database's refusal as a person reads it, with its SQLSTATE when the
/// engine gave one.
pub(super) fn sql_detail(sqlstate: &str, message: String) -> String {
    if sqlstate.is_empty() { message } else { format!("{message} (SQLSTATE {sqlstate})") }
}

/// The project's query policy.
#[utoipa::path(get, path = "/v1/projects/{project}/database/policy", tag = "database",
    responses((status = 200, body = QueryPolicy), (status = 404, body = Problem)))]
async fn get_policy(
    State(state): S,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let dbs = databases(&state, &project).await?;
    Ok(Json(dbs.policy(&project)).into_response())
}

/// Set the project's query policy (statement timeout, max rows, max bytes).
#[utoipa::path(put, path = "/v1/projects/{project}/database/policy", tag = "database", request_body = QueryPolicy,
    responses((status = 200, body = QueryPolicy), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn set_policy(
    State(state): S,
    headers: HeaderMap,
    Path(project): Path<String>,
    ApiJson(policy): ApiJson<QueryPolicy>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    if !policy.is_valid() {
        return Err(ApiError::bad_request(
            "invalid_policy",
            "statement_timeout_ms, max_rows and max_bytes must be above 0 and within the host's maximum",
        ));
    }
    let dbs = databases(&state, &project).await?;
    let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let stored = magflock_store::StoredQueryPolicy {
        statement_timeout_ms: as_i64(policy.statement_timeout_ms),
        max_rows: as_i64(policy.max_rows),
        max_bytes: as_i64(policy.max_bytes),
    };
    state.store.set_query_policy(&project, stored, super::ADMIN).await?;
    dbs.set_policy(&project, policy);
    state
        .store
        .audit(
            super::ADMIN,
            "database.policy",
            Some(&project),
            None,
            serde_json::to_value(policy).unwrap_or_default(),
        )
        .await?;
    Ok(Json(policy).into_response())
}
