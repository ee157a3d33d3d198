//! Whole-graph changes to a project's extensions: `extensions:plan` (a dry
//! run: the ordered steps and the capabilities to approve, or why it cannot
//! be done) and `extensions:apply` (the same plan, applied all or nothing).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::require_admin;
use super::problem::{ApiError, ApiJson, Problem};
use crate::install::plan;
use crate::state::AppState;

/// Most requests in one plan (hostile input).
const MAX_PLAN_REQUESTS: usize = 64;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(plan_changes)).routes(routes!(apply_changes))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionedRequest {
    pub name: String,
    /// Semver range; default any version.
    #[serde(default)]
    pub version: Option<String>,
    /// A lower version than the installed one is refused unless set.
    #[serde(default)]
    pub allow_downgrade: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UninstallRequest {
    pub name: String,
    /// Remove the extensions that depend on it too (otherwise refused).
    #[serde(default)]
    pub cascade: bool,
}

/// Changes to a project's extensions, resolved together.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    #[serde(default)]
    pub install: Vec<VersionedRequest>,
    #[serde(default)]
    pub upgrade: Vec<VersionedRequest>,
    #[serde(default)]
    pub uninstall: Vec<UninstallRequest>,
    /// For `extensions:apply`: the capabilities approved, per extension.
    /// Every capability the plan asks for must be approved.
    #[serde(default)]
    pub approve: BTreeMap<String, Vec<String>>,
}

fn requests(body: &PlanRequest) -> Result<Vec<magflock_resolver::Request>, ApiError> {
    let n = body.install.len() + body.upgrade.len() + body.uninstall.len();
    if n == 0 {
        return Err(ApiError::bad_request("invalid_body", "the plan asks for nothing"));
    }
    if n > MAX_PLAN_REQUESTS {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("at most {MAX_PLAN_REQUESTS} requests per plan"),
        ));
    }
    let range = |v: &VersionedRequest| version_range(&v.name, v.version.as_deref());
    let mut out = Vec::with_capacity(n);
    for v in &body.install {
        out.push(magflock_resolver::Request::Install {
            name: v.name.clone(),
            req: range(v)?,
            allow_downgrade: v.allow_downgrade,
        });
    }
    for v in &body.upgrade {
        out.push(magflock_resolver::Request::Upgrade {
            name: v.name.clone(),
            req: range(v)?,
            allow_downgrade: v.allow_downgrade,
        });
    }
    for u in &body.uninstall {
        out.push(magflock_resolver::Request::Uninstall { name: u.name.clone(), cascade: u.cascade });
    }
    Ok(out)
}

/// Authorizes, checks the project and the body, and resolves the plan.
async fn checked_plan(
    state: &AppState,
    headers: &HeaderMap,
    project: &str,
    body: &PlanRequest,
) -> Result<plan::Planned, ApiError> {
    require_admin(state, headers)?;
    super::control::project_exists(state, project).await?;
    let requests = requests(body)?;
    Ok(plan::make_plan(state, project, &requests, true).await?)
}

/// Plan changes to a project's extensions without making them: the steps in
/// order (dependencies first; removals dependents first) and the
/// capabilities to approve, or a refusal that explains what blocks it.
#[utoipa::path(post, path = "/v1/projects/{project}/extensions:plan", tag = "extensions",
    request_body = PlanRequest,
    responses((status = 200, description = "the plan"), (status = 400, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 502, body = Problem)))]
async fn plan_changes(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<PlanRequest>,
) -> Result<Response, ApiError> {
    let planned = checked_plan(&state, &headers, &project, &body).await?;
    let mut out = plan::plan_json(&planned.plan);
    out["missing_approvals"] = serde_json::json!(plan::missing_approvals(&planned, &body.approve));
    Ok(Json(out).into_response())
}

/// Apply changes to a project's extensions: the plan `extensions:plan`
/// shows, all of it or nothing. 409 `approval_required` when a capability
/// the plan asks for is not in `approve`.
#[utoipa::path(post, path = "/v1/projects/{project}/extensions:apply", tag = "extensions",
    request_body = PlanRequest,
    responses((status = 200, description = "the plan that was applied, and the new installations"),
        (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem), (status = 502, body = Problem)))]
async fn apply_changes(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<PlanRequest>,
) -> Result<Response, ApiError> {
    let planned = checked_plan(&state, &headers, &project, &body).await?;
    let mut out = plan::plan_json(&planned.plan);
    let created = plan::apply(&state, &project, planned, &body.approve, super::ADMIN).await?;
    out["installations"] = serde_json::json!(created);
    Ok(Json(out).into_response())
}

/// The version range a request names (`*` when it names none), or
/// `invalid_version_range` naming the extension.
pub(super) fn version_range(name: &str, text: Option<&str>) -> Result<semver::VersionReq, ApiError> {
    let text = text.unwrap_or("*");
    text.parse().map_err(|e| {
        ApiError::bad_request("invalid_version_range", format!("{name}: version range `{text}`: {e}"))
    })
}
