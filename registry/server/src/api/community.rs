//! Host-token routes: installation reports and ratings on behalf of the
//! host's projects.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::browse::extension_not_found;
use super::packages::version_not_found;
use super::problem::{ApiError, ApiJson, Problem};
use crate::Registry;
use crate::auth::require_host;
use crate::store::{Rating, is_valid_slug};

type S = State<Registry>;
type ApiResult<T> = Result<T, ApiError>;

/// Longest review, in characters.
pub const MAX_REVIEW_CHARS: usize = 2000;

pub fn router() -> OpenApiRouter<Registry> {
    OpenApiRouter::new().routes(routes!(report_installation)).routes(routes!(put_rating, delete_rating))
}

fn check_project(project: &str) -> ApiResult<()> {
    if is_valid_slug(project) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_project_id",
            "project ids are 1-63 lower-case letters, digits and single dashes, starting with a letter",
        ))
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportInstallation {
    pub version: String,
    /// Whether the project has an active installation now.
    pub active: bool,
}

/// The installation as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InstallationReport {
    pub host: String,
    pub project: String,
    pub extension: String,
    pub version: String,
    pub active: bool,
}

/// Report that a project on this host has (or no longer has) an active
/// installation of an extension version.
#[utoipa::path(put, path = "/v1/installations/{project}/{extension}", tag = "installations",
    request_body = ReportInstallation,
    responses((status = 200, body = InstallationReport), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
async fn report_installation(
    State(registry): S,
    headers: HeaderMap,
    Path((project, extension)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReportInstallation>,
) -> ApiResult<Response> {
    let host = require_host(&registry, &headers).await?;
    check_project(&project)?;
    if registry.store().get_version(&extension, &body.version).await?.is_none() {
        return Err(version_not_found(&extension, &body.version));
    }
    registry
        .store()
        .report_installation(&host.name, &project, &extension, &body.version, body.active)
        .await?;
    Ok(Json(InstallationReport {
        host: host.name,
        project,
        extension,
        version: body.version,
        active: body.active,
    })
    .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutRating {
    /// 1 to 5.
    pub stars: i64,
    /// At most 2000 characters.
    pub review: Option<String>,
}

/// Rate an extension for a project of this host (one rating per project;
/// a new one replaces it). Only a project with an active installation may rate.
#[utoipa::path(put, path = "/v1/extensions/{name}/ratings/{project}", tag = "ratings", request_body = PutRating,
    responses((status = 200, body = Rating), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn put_rating(
    State(registry): S,
    headers: HeaderMap,
    Path((name, project)): Path<(String, String)>,
    ApiJson(body): ApiJson<PutRating>,
) -> ApiResult<Response> {
    let host = require_host(&registry, &headers).await?;
    check_project(&project)?;
    if !(1..=5).contains(&body.stars) {
        return Err(ApiError::bad_request("invalid_rating", "stars must be 1 to 5"));
    }
    if let Some(review) = &body.review
        && (review.chars().count() > MAX_REVIEW_CHARS
            || review.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t')))
    {
        return Err(ApiError::bad_request(
            "invalid_rating",
            format!("reviews are at most {MAX_REVIEW_CHARS} characters, without control characters"),
        ));
    }
    if registry.store().extension_owner(&name).await?.is_none() {
        return Err(extension_not_found(&name));
    }
    if !registry.store().has_active_installation(&host.name, &project, &name).await? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_installed",
            format!("project `{project}` on host `{}` has no active installation of `{name}`", host.name),
        ));
    }
    let rating = registry
        .store()
        .upsert_rating(&host.name, &project, &name, body.stars, body.review.as_deref())
        .await?;
    Ok(Json(rating).into_response())
}

/// Delete a project's rating.
#[utoipa::path(delete, path = "/v1/extensions/{name}/ratings/{project}", tag = "ratings",
    responses((status = 204, description = "deleted"), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn delete_rating(
    State(registry): S,
    headers: HeaderMap,
    Path((name, project)): Path<(String, String)>,
) -> ApiResult<Response> {
    let host = require_host(&registry, &headers).await?;
    if !registry.store().delete_rating(&host.name, &project, &name).await? {
        return Err(ApiError::not_found("rating_not_found", "this project has no rating of this extension"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
