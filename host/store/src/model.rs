//! Rows the store returns and the inputs it takes.
//!
//! Plain structs: the HTTP layer serializes rows as they are. Timestamps are
//! unix milliseconds; counters are `i64` because that is what both engines
//! store (BIGINT).

use serde::Serialize;

/// A tenant. Its id is a slug: `[a-z][a-z0-9-]{0,62}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    pub id: String,
    pub created_at: i64,
}

/// An API key as listed and returned by authentication. The secret's hash
/// never leaves the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// 12 lowercase hex characters, embedded in the secret.
    pub id: String,
    pub project_id: String,
    pub label: Option<String>,
    /// The non-secret head of the secret (`mf_<id>`), for display.
    pub prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A package-signing key the host trusts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustedKey {
    pub key_id: String,
    pub public_key: String,
    pub label: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// The life cycle of an installation. `Removed` is terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallationState {
    PendingApproval,
    Active,
    Suspended,
    Removed,
}

impl InstallationState {
    pub fn as_str(self) -> &'static str {
        match self {
            InstallationState::PendingApproval => "pending_approval",
            InstallationState::Active => "active",
            InstallationState::Suspended => "suspended",
            InstallationState::Removed => "removed",
        }
    }

    pub fn parse(s: &str) -> Option<InstallationState> {
        Some(match s {
            "pending_approval" => InstallationState::PendingApproval,
            "active" => InstallationState::Active,
            "suspended" => InstallationState::Suspended,
            "removed" => InstallationState::Removed,
            _ => return None,
        })
    }
}

impl std::fmt::Display for InstallationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An extension version installed into a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installation {
    /// A UUID v7.
    pub id: String,
    pub project_id: String,
    pub extension: String,
    pub version: String,
    pub state: InstallationState,
    /// The manifest as published (TOML text).
    pub manifest: String,
    /// sha256 hex of the package.
    pub package_id: String,
    pub component_sha256: String,
    pub signer_key_id: String,
    pub requested_capabilities: Vec<String>,
    pub approved_capabilities: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Input to [`crate::Store::create_installation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstallation {
    pub project_id: String,
    pub extension: String,
    pub version: String,
    pub state: InstallationState,
    pub manifest: String,
    pub package_id: String,
    pub component_sha256: String,
    pub signer_key_id: String,
    pub requested_capabilities: Vec<String>,
    pub approved_capabilities: Vec<String>,
}

/// One check made while installing (parse, signature, digest, link check...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Validation {
    pub id: i64,
    pub installation_id: Option<String>,
    pub project_id: String,
    pub extension: String,
    pub version: String,
    pub step: String,
    pub ok: bool,
    pub detail: String,
    pub created_at: i64,
}

/// Input to [`crate::Store::add_validation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewValidation {
    pub installation_id: Option<String>,
    pub project_id: String,
    pub extension: String,
    pub version: String,
    pub step: String,
    pub ok: bool,
    pub detail: String,
}

/// What one invocation consumed. `request_id` makes inserts idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageRecord {
    pub request_id: String,
    pub project_id: String,
    pub extension: String,
    pub version: String,
    pub endpoint: String,
    pub method: String,
    pub status: i64,
    /// `ok`, `error`, `fuel_exhausted`, `deadline_exceeded`, `memory_limit`,
    /// `stack_overflow`, `trap`, `capability_denied`, `concurrency_limit`...
    pub outcome: String,
    pub fuel_used: i64,
    pub wall_time_us: i64,
    pub peak_memory_bytes: i64,
    pub host_calls: i64,
    pub bytes_in: i64,
    pub bytes_out: i64,
    /// Rows the project database returned or changed for this invocation.
    pub db_rows: i64,
    /// Time spent in project-database calls, in microseconds.
    pub db_time_us: i64,
    /// When the invocation started.
    pub created_at: i64,
}

/// A stored [`UsageRecord`] with its row id (the paging cursor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageEntry {
    pub id: i64,
    #[serde(flatten)]
    pub record: UsageRecord,
}

/// Which usage rows to return, newest first. `since` is inclusive, `until`
/// exclusive; `before_id` continues a previous page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageFilter {
    pub project_id: String,
    pub extension: Option<String>,
    pub version: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Default [`crate::DEFAULT_LIMIT`], clamped to [`crate::MAX_LIMIT`].
    pub limit: Option<u32>,
    pub before_id: Option<i64>,
}

/// Usage totals for one (extension, version, outcome).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageSummary {
    pub extension: String,
    pub version: String,
    pub outcome: String,
    pub count: i64,
    pub fuel_used: i64,
    pub wall_time_us: i64,
    pub max_peak_memory_bytes: i64,
}

/// A limit an invocation hit, and what the host did about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub id: i64,
    pub request_id: Option<String>,
    pub project_id: String,
    pub extension: String,
    pub version: String,
    pub kind: String,
    pub limit_value: Option<i64>,
    pub actual_value: Option<i64>,
    /// `rejected`, `throttled` or `suspended`.
    pub action: String,
    pub detail: String,
    pub created_at: i64,
}

/// Input to [`crate::Store::insert_violation`]; the store stamps the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewViolation {
    pub request_id: Option<String>,
    pub project_id: String,
    pub extension: String,
    pub version: String,
    pub kind: String,
    pub limit_value: Option<i64>,
    pub actual_value: Option<i64>,
    pub action: String,
    pub detail: String,
}

/// Which violations to return, newest first (same conventions as [`UsageFilter`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViolationFilter {
    pub project_id: String,
    pub extension: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: Option<u32>,
    pub before_id: Option<i64>,
}

/// One append-only audit record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub project_id: Option<String>,
    pub target: Option<String>,
    pub detail: serde_json::Value,
    pub created_at: i64,
}
