//! Public routes: search, one extension with its versions, one version, the
//! marketplace and ratings. No authentication.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::packages::version_not_found;
use super::problem::{ApiError, ApiQuery, Problem};
use crate::Registry;
use crate::store::{ExtensionSummary, Page, Rating, VersionRecord};

type S = State<Registry>;
type ApiResult<T> = Result<T, ApiError>;

/// Longest search text, in bytes.
const MAX_QUERY_BYTES: usize = 200;

pub fn router() -> OpenApiRouter<Registry> {
    OpenApiRouter::new()
        .routes(routes!(list_extensions))
        .routes(routes!(get_extension))
        .routes(routes!(get_version))
        .routes(routes!(marketplace))
        .routes(routes!(list_ratings))
}

pub(crate) fn extension_not_found(name: &str) -> ApiError {
    ApiError::not_found(
        "extension_not_found",
        format!("extension `{}` is not published", name.escape_debug()),
    )
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Case-insensitive text searched in names, descriptions and keywords.
    pub q: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// List and search extensions, by name.
#[utoipa::path(get, path = "/v1/extensions", tag = "extensions", params(SearchQuery),
    responses((status = 200, body = Page<ExtensionSummary>), (status = 400, body = Problem)))]
async fn list_extensions(State(registry): S, ApiQuery(q): ApiQuery<SearchQuery>) -> ApiResult<Response> {
    if q.q.as_ref().is_some_and(|q| q.len() > MAX_QUERY_BYTES) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("q is limited to {MAX_QUERY_BYTES} bytes"),
        ));
    }
    let page = registry.store().search(q.q.as_deref(), q.limit, q.offset.unwrap_or(0)).await?;
    Ok(Json(page).into_response())
}

/// An extension with every version, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExtensionDetail {
    #[serde(flatten)]
    pub summary: ExtensionSummary,
    pub versions: Vec<VersionRecord>,
}

/// Get an extension with its versions (newest first).
#[utoipa::path(get, path = "/v1/extensions/{name}", tag = "extensions",
    responses((status = 200, body = ExtensionDetail), (status = 404, body = Problem)))]
async fn get_extension(State(registry): S, Path(name): Path<String>) -> ApiResult<Response> {
    let Some(summary) = registry.store().get_extension(&name).await? else {
        return Err(extension_not_found(&name));
    };
    let versions = registry.store().list_versions(&name).await?;
    Ok(Json(ExtensionDetail { summary, versions }).into_response())
}

/// One version with its canonical manifest.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionDetail {
    #[serde(flatten)]
    pub version: VersionRecord,
    /// The manifest in its canonical TOML form.
    pub manifest: String,
}

/// Get one version of an extension, with its manifest.
#[utoipa::path(get, path = "/v1/extensions/{name}/versions/{version}", tag = "extensions",
    responses((status = 200, body = VersionDetail), (status = 404, body = Problem)))]
async fn get_version(
    State(registry): S,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    let Some(record) = registry.store().get_version(&name, &version).await? else {
        return Err(version_not_found(&name, &version));
    };
    let manifest = record.manifest.clone();
    Ok(Json(VersionDetail { version: record, manifest }).into_response())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MarketplaceQuery {
    pub limit: Option<u32>,
}

/// The marketplace: installable extensions by average rating (rated first,
/// more ratings breaking ties), then active installations, then name.
#[utoipa::path(get, path = "/v1/marketplace", tag = "extensions", params(MarketplaceQuery),
    responses((status = 200, body = Page<ExtensionSummary>)))]
async fn marketplace(State(registry): S, ApiQuery(q): ApiQuery<MarketplaceQuery>) -> ApiResult<Response> {
    Ok(Json(registry.store().marketplace(q.limit).await?).into_response())
}

/// The ratings and reviews of an extension, newest first.
#[utoipa::path(get, path = "/v1/extensions/{name}/ratings", tag = "ratings",
    responses((status = 200, body = Vec<Rating>), (status = 404, body = Problem)))]
async fn list_ratings(State(registry): S, Path(name): Path<String>) -> ApiResult<Response> {
    if registry.store().extension_owner(&name).await?.is_none() {
        return Err(extension_not_found(&name));
    }
    Ok(Json(registry.store().list_ratings(&name).await?).into_response())
}
