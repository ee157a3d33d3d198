//! Owners' schema migrations on their project's database:
//! `POST /v1/projects/{p}/migrations` (apply, with its rollback script),
//! `GET` (list and status), `POST .../migrations/rollback` (the last or a
//! named one). A migration runs in one transaction on the project database,
//! so a failed one leaves nothing half-applied; the control plane records
//! who applied what, when, and its checksum.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::require_admin;
use super::database::{MAX_OWNER_SQL_BYTES, databases};
use super::problem::{ApiError, ApiJson, Problem};
use crate::capabilities::database::DatabaseError;
use crate::state::AppState;

use super::ADMIN;

type S = State<Arc<AppState>>;

/// Longest migration name, in bytes.
const MAX_MIGRATION_NAME: usize = 100;
pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(apply_migration, list_migrations)).routes(routes!(rollback_migration))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMigration {
    /// `[a-z0-9_-]`, e.g. `0001_todos`; unique in the project.
    pub name: String,
    /// The SQL that applies it (several statements allowed).
    pub up: String,
    /// The SQL that undoes it.
    pub down: String,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    /// The migration to roll back; default the last applied one.
    #[serde(default)]
    pub name: Option<String>,
}

/// A migration's checksum: sha256 of its up script, a newline, its down script.
pub fn checksum(up: &str, down: &str) -> String {
    hex::encode(Sha256::digest(format!("{up}\n{down}")))
}

fn check_sql(what: &str, sql: &str) -> Result<(), ApiError> {
    if sql.trim().is_empty() {
        return Err(ApiError::bad_request("invalid_migration", format!("`{what}` is empty")));
    }
    if sql.len() > MAX_OWNER_SQL_BYTES {
        return Err(ApiError::bad_request(
            "invalid_migration",
            format!("`{what}` is over {MAX_OWNER_SQL_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn sql_failure(code: &'static str, what: &str, e: DatabaseError) -> ApiError {
    match e {
        DatabaseError::Sql { code: state, message } => {
            let detail = super::database::sql_detail(&state, message);
            ApiError::bad_request(code, format!("{what}: {detail}; nothing was changed"))
        }
        e => ApiError::internal(&e),
    }
}

/// Apply a migration to the project's database, in one transaction.
#[utoipa::path(post, path = "/v1/projects/{project}/migrations", tag = "database", request_body = NewMigration,
    responses((status = 201, description = "applied and recorded"), (status = 400, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn apply_migration(
    State(state): S,
    headers: HeaderMap,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<NewMigration>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let valid_name = !body.name.is_empty()
        && body.name.len() <= MAX_MIGRATION_NAME
        && body.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !valid_name {
        return Err(ApiError::bad_request(
            "invalid_migration",
            format!("a migration name is 1 to {MAX_MIGRATION_NAME} of `a-z`, `0-9`, `_`, `-`"),
        ));
    }
    check_sql("up", &body.up)?;
    check_sql("down", &body.down)?;
    let dbs = databases(&state, &project).await?;
    let _lock = state.store.lock_project_migrations(&project).await?;
    let existing = state.store.list_project_migrations(&project).await?;
    if existing.iter().any(|m| m.name == body.name && m.state == "applied") {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "migration_applied",
            format!("migration {} is already applied in project {project}", body.name),
        ));
    }
    dbs.owner_execute(&project, &body.up)
        .await
        .map_err(|e| sql_failure("migration_failed", &body.name, e))?;
    let checksum = checksum(&body.up, &body.down);
    let recorded = state
        .store
        .record_project_migration(&project, &body.name, &checksum, &body.up, &body.down, ADMIN)
        .await;
    let recorded = match recorded {
        Ok(m) => m,
        Err(e) => {
            // Applied but not recorded (the store failed): undo it so the
            // record and the schema agree.
            if let Err(undo) = dbs.owner_execute(&project, &body.down).await {
                tracing::error!(%project, migration = %body.name, error = %undo, "migration not undone");
            }
            return Err(e.into());
        }
    };
    state
        .store
        .audit(
            ADMIN,
            "migration.apply",
            Some(&project),
            Some(&body.name),
            serde_json::json!({ "checksum": checksum }),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(recorded)).into_response())
}

/// The project's migrations, in the order they were applied, with their state.
#[utoipa::path(get, path = "/v1/projects/{project}/migrations", tag = "database",
    responses((status = 200, description = "migrations"), (status = 404, body = Problem)))]
async fn list_migrations(
    State(state): S,
    headers: HeaderMap,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    super::control::project_exists(&state, &project).await?;
    Ok(Json(state.store.list_project_migrations(&project).await?).into_response())
}

/// Roll back the last applied migration, or a named one (refused while
/// migrations applied after it remain), with its `down` script in one
/// transaction.
#[utoipa::path(post, path = "/v1/projects/{project}/migrations/rollback", tag = "database", request_body = Rollback,
    responses((status = 200, description = "rolled back"), (status = 400, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn rollback_migration(
    State(state): S,
    headers: HeaderMap,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<Rollback>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let dbs = databases(&state, &project).await?;
    // Held until the answer: a concurrent rollback waits, then finds the
    // migration no longer applied instead of running `down` again.
    let _lock = state.store.lock_project_migrations(&project).await?;
    let applied: Vec<_> = state
        .store
        .list_project_migrations(&project)
        .await?
        .into_iter()
        .filter(|m| m.state == "applied")
        .collect();
    let index = match &body.name {
        Some(name) => applied.iter().position(|m| &m.name == name),
        None => applied.len().checked_sub(1),
    };
    let Some(index) = index else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "migration_not_found",
            match &body.name {
                Some(name) => format!("migration {name} is not applied in project {project}"),
                None => format!("project {project} has no applied migration"),
            },
        ));
    };
    let later: Vec<&str> = applied[index + 1..].iter().map(|m| m.name.as_str()).collect();
    if !later.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "later_migrations_applied",
            format!("roll back {} first (applied after {})", later.join(", "), applied[index].name),
        ));
    }
    let target = &applied[index];
    dbs.owner_execute(&project, &target.down_sql)
        .await
        .map_err(|e| sql_failure("rollback_failed", &target.name, e))?;
    if !state.store.mark_project_migration_rolled_back(&project, &target.name).await? {
        tracing::error!(%project, migration = %target.name, "rolled back, but no longer recorded as applied");
    }
    state
        .store
        .audit(ADMIN, "migration.rollback", Some(&project), Some(&target.name), serde_json::json!({}))
        .await?;
    let all = state.store.list_project_migrations(&project).await?;
    let done = all.into_iter().find(|m| m.name == target.name);
    Ok(Json(done).into_response())
}
