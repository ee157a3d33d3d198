//! The host's view of the registry: which versions of an extension exist,
//! downloading one, and telling the registry which projects run what (for
//! its statistics and to let those projects rate).
//!
//! The host does not take the registry's word for anything that matters: a
//! downloaded package is checked against the digest the registry listed and
//! then goes through the whole install pipeline, signature against the
//! host's own trust store included (`install.rs`).

use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// How long one registry request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest registry answer other than a package that the host reads.
const MAX_METADATA_BYTES: usize = 4 << 20;

/// Why talking to the registry failed. `code()` is stable.
#[derive(Debug, thiserror::Error)]
pub enum RegistryClientError {
    #[error("this host has no registry configured")]
    NotConfigured,
    #[error("registry at {url} is unreachable: {reason}")]
    Unavailable { url: String, reason: String },
    #[error("extension {0} is not in the registry")]
    NotFound(String),
    #[error("{0}")]
    NoMatchingVersion(String),
    #[error("registry refused the request ({status} {code}): {detail}")]
    Refused { status: u16, code: String, detail: String },
    #[error(
        "package {name}@{version} from the registry has sha256 {actual}, but the registry listed {expected}"
    )]
    DigestMismatch { name: String, version: String, expected: String, actual: String },
    #[error("package {name}@{version} from the registry is larger than {limit} bytes")]
    TooLarge { name: String, version: String, limit: usize },
    #[error("registry answered something unreadable: {0}")]
    BadAnswer(String),
}

impl RegistryClientError {
    pub fn code(&self) -> &'static str {
        match self {
            RegistryClientError::NotConfigured => "registry_not_configured",
            RegistryClientError::Unavailable { .. } => "registry_unavailable",
            RegistryClientError::NotFound(_) => "extension_not_found",
            RegistryClientError::NoMatchingVersion(_) => "no_matching_version",
            RegistryClientError::Refused { .. } => "registry_refused",
            RegistryClientError::DigestMismatch { .. } => "registry_digest_mismatch",
            RegistryClientError::TooLarge { .. } => "upload_too_large",
            RegistryClientError::BadAnswer(_) => "registry_bad_answer",
        }
    }
}

/// One published version, as the registry lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct VersionInfo {
    pub version: String,
    /// The host API range the version supports.
    pub host: String,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub yanked: bool,
    /// Unavailable for new installs because its signing key was revoked
    /// as compromised.
    #[serde(default)]
    pub revoked: bool,
    /// sha256 of the package file.
    pub sha256: String,
    /// Required dependencies (name → semver range).
    #[serde(default)]
    pub dependencies: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub optional_dependencies: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub conflicts: std::collections::BTreeMap<String, ConflictInfo>,
}

/// A declared conflict, as the registry lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct ConflictInfo {
    pub version: Option<String>,
    pub reason: String,
}

/// An extension and its versions, as the registry lists them.
#[derive(Debug, Clone, Deserialize)]
pub struct ExtensionInfo {
    pub name: String,
    #[serde(default)]
    pub versions: Vec<VersionInfo>,
}

/// The highest version of `info` that matches `req`, supports `host_api`,
/// and is neither yanked nor revoked. The error explains what was there.
pub fn choose_version(
    info: &ExtensionInfo,
    req: &semver::VersionReq,
    host_api: &semver::Version,
) -> Result<(semver::Version, VersionInfo), RegistryClientError> {
    let mut matching_but = Vec::new();
    let mut best: Option<(semver::Version, &VersionInfo)> = None;
    for v in &info.versions {
        let Ok(version) = v.version.parse::<semver::Version>() else { continue };
        if !req.matches(&version) {
            continue;
        }
        let host_ok = v.host.parse::<semver::VersionReq>().is_ok_and(|h| h.matches(host_api));
        let why_not = if v.revoked {
            Some("its signing key was revoked".to_owned())
        } else if v.yanked {
            Some("yanked".to_owned())
        } else if !host_ok {
            Some(format!("needs another host API {}", v.host))
        } else {
            None
        };
        match why_not {
            Some(why) => matching_but.push(format!("{version} ({why})")),
            None if best.as_ref().is_none_or(|(b, _)| &version > b) => best = Some((version, v)),
            None => {}
        }
    }
    if let Some((version, v)) = best {
        return Ok((version, v.clone()));
    }
    let mut detail = format!("no version of {} matches {req} for host API {host_api}", info.name);
    if matching_but.is_empty() {
        let all: Vec<&str> = info.versions.iter().map(|v| v.version.as_str()).collect();
        detail.push_str(&format!(
            "; published versions: {}",
            if all.is_empty() { "none".to_owned() } else { all.join(", ") }
        ));
    } else {
        detail.push_str(&format!("; matching but unavailable: {}", matching_but.join(", ")));
    }
    Err(RegistryClientError::NoMatchingVersion(detail))
}

/// A client of one registry.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    base: String,
    host_token: Option<String>,
    http: reqwest::Client,
}

impl RegistryClient {
    /// `base` is the registry's URL (`http://host:port`); `host_token`
    /// authenticates this host's installation reports and ratings.
    pub fn new(base: &str, host_token: Option<String>) -> Result<Self, RegistryClientError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| RegistryClientError::Unavailable { url: base.to_owned(), reason: e.to_string() })?;
        Ok(Self { base: base.trim_end_matches('/').to_owned(), host_token, http })
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> RegistryClientError {
        RegistryClientError::Unavailable { url: self.base.clone(), reason: e.to_string() }
    }

    /// Reads a response body of at most `limit` bytes.
    async fn read_capped(
        &self,
        mut resp: reqwest::Response,
        limit: usize,
    ) -> Result<Option<Vec<u8>>, RegistryClientError> {
        let mut out = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.unavailable(e))? {
            if out.len() + chunk.len() > limit {
                return Ok(None);
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Some(out))
    }

    /// Turns a non-success answer into [`RegistryClientError::Refused`],
    /// keeping the registry's problem `code` and `detail`.
    async fn refused(&self, resp: reqwest::Response) -> RegistryClientError {
        let status = resp.status().as_u16();
        let body = self.read_capped(resp, MAX_METADATA_BYTES).await.ok().flatten().unwrap_or_default();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let text = |k: &str| problem.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        RegistryClientError::Refused { status, code: text("code"), detail: text("detail") }
    }

    /// The extension and its versions.
    pub async fn extension(&self, name: &str) -> Result<ExtensionInfo, RegistryClientError> {
        let url = format!("{}/v1/extensions/{name}", self.base);
        let resp = self.http.get(&url).send().await.map_err(|e| self.unavailable(e))?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(RegistryClientError::NotFound(name.to_owned()));
        }
        if !resp.status().is_success() {
            return Err(self.refused(resp).await);
        }
        let body = self
            .read_capped(resp, MAX_METADATA_BYTES)
            .await?
            .ok_or_else(|| RegistryClientError::BadAnswer("extension listing too large".into()))?;
        serde_json::from_slice(&body).map_err(|e| RegistryClientError::BadAnswer(e.to_string()))
    }

    /// Downloads a package and checks it against the digest the registry
    /// listed for it (`expected_sha256`) and the one it sends with it.
    pub async fn download(
        &self,
        name: &str,
        version: &str,
        expected_sha256: &str,
        limit: usize,
    ) -> Result<Vec<u8>, RegistryClientError> {
        let url = format!("{}/v1/extensions/{name}/versions/{version}/package", self.base);
        let resp = self.http.get(&url).send().await.map_err(|e| self.unavailable(e))?;
        if !resp.status().is_success() {
            return Err(self.refused(resp).await);
        }
        let sent = resp.headers().get("x-magflock-sha256").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = self.read_capped(resp, limit).await?.ok_or_else(|| RegistryClientError::TooLarge {
            name: name.to_owned(),
            version: version.to_owned(),
            limit,
        })?;
        let actual = hex::encode(Sha256::digest(&bytes));
        for expected in std::iter::once(expected_sha256).chain(sent.as_deref()) {
            if !expected.eq_ignore_ascii_case(&actual) {
                return Err(RegistryClientError::DigestMismatch {
                    name: name.to_owned(),
                    version: version.to_owned(),
                    expected: expected.to_owned(),
                    actual,
                });
            }
        }
        Ok(bytes)
    }

    fn with_host_token(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, RegistryClientError> {
        match &self.host_token {
            Some(token) => Ok(req.bearer_auth(token)),
            None => Err(RegistryClientError::NotConfigured),
        }
    }

    /// Tells the registry that `project` on this host now runs `version` of
    /// `extension` (`active`), or no longer runs it.
    pub async fn report_installation(
        &self,
        project: &str,
        extension: &str,
        version: &str,
        active: bool,
    ) -> Result<(), RegistryClientError> {
        let url = format!("{}/v1/installations/{project}/{extension}", self.base);
        let req = self.with_host_token(self.http.put(&url))?;
        let resp = req
            .json(&serde_json::json!({ "version": version, "active": active }))
            .send()
            .await
            .map_err(|e| self.unavailable(e))?;
        if !resp.status().is_success() {
            return Err(self.refused(resp).await);
        }
        Ok(())
    }

    /// Rates `extension` for `project` (one rating per project: a new one
    /// replaces the old). Returns the registry's answer.
    pub async fn rate(
        &self,
        project: &str,
        extension: &str,
        stars: u8,
        review: Option<&str>,
    ) -> Result<serde_json::Value, RegistryClientError> {
        let url = format!("{}/v1/extensions/{extension}/ratings/{project}", self.base);
        let req = self.with_host_token(self.http.put(&url))?;
        let resp = req
            .json(&serde_json::json!({ "stars": stars, "review": review }))
            .send()
            .await
            .map_err(|e| self.unavailable(e))?;
        if !resp.status().is_success() {
            return Err(self.refused(resp).await);
        }
        let body = self.read_capped(resp, MAX_METADATA_BYTES).await?.unwrap_or_default();
        Ok(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }
}
