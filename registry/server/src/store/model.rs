//! Rows the registry store returns and the inputs it takes.
//!
//! Plain structs serialized as they are by the HTTP layer (and deserializable,
//! so clients such as the host can read the API's answers with them). Timestamps are
//! unix milliseconds; counters are `i64` because both engines store BIGINT.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why a publisher key was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    /// Replaced by a newer key; versions published before the revocation stay valid.
    Rotated,
    /// The secret key may be known to others; every version it signed is revoked.
    Compromised,
}

impl RevocationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Rotated => "rotated",
            RevocationReason::Compromised => "compromised",
        }
    }

    pub fn parse(s: &str) -> Option<RevocationReason> {
        match s {
            "rotated" => Some(RevocationReason::Rotated),
            "compromised" => Some(RevocationReason::Compromised),
            _ => None,
        }
    }
}

/// A publisher's signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublisherKey {
    /// 32 lowercase hex characters (first 16 bytes of sha256 of the key).
    pub key_id: String,
    pub publisher: String,
    /// `magflock-ed25519-pub <base64> [label]`.
    pub public_key: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<RevocationReason>,
    pub revocation_note: Option<String>,
}

/// A publisher with its keys (revoked ones included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Publisher {
    pub name: String,
    pub display_name: Option<String>,
    pub created_at: i64,
    pub keys: Vec<PublisherKey>,
}

/// A published version as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VersionRecord {
    pub extension: String,
    pub version: String,
    pub package_id: String,
    /// sha256 hex of the package file.
    pub sha256: String,
    pub component_sha256: String,
    pub manifest_sha256: String,
    /// Package file size in bytes.
    pub size: i64,
    pub publisher: String,
    pub key_id: String,
    /// The host API range (`host` in the manifest).
    pub host: String,
    pub capabilities: Vec<String>,
    /// Dependencies on other extensions (name → semver range).
    pub dependencies: BTreeMap<String, String>,
    /// Optional dependencies: not installed for this version, but when the
    /// project has them, their version must be in range (name → range).
    #[serde(default)]
    pub optional_dependencies: BTreeMap<String, String>,
    /// Extensions this version cannot be installed beside.
    #[serde(default)]
    pub conflicts: BTreeMap<String, ConflictRecord>,
    /// The manifest in its canonical TOML form.
    #[serde(skip)]
    pub manifest: String,
    pub published_at: i64,
    /// Not chosen for new installs (also true when revoked).
    pub yanked: bool,
    pub yank_reason: Option<String>,
    /// Set when the signing key was revoked as compromised: never un-yanked,
    /// and the package is no longer served.
    pub revoked: bool,
    pub revoked_at: Option<i64>,
}

/// A declared conflict: with every version of the extension, or those in `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConflictRecord {
    pub version: Option<String>,
    pub reason: String,
}

/// What a new version row holds; see [`crate::publish`].
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub extension: String,
    pub version: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub package_id: String,
    pub sha256: String,
    pub component_sha256: String,
    pub manifest_sha256: String,
    pub size: i64,
    pub publisher: String,
    pub key_id: String,
    pub host: String,
    pub capabilities: Vec<String>,
    pub manifest: String,
}

/// How inserting a version ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The row is new.
    Inserted(VersionRecord),
    /// The same name and version already exists (maybe inserted concurrently).
    Exists(VersionRecord),
    /// The name belongs to another publisher.
    NameOwnedBy(String),
}

/// Installation and rating counters of one extension.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    /// Distinct (host, project) pairs that ever reported an installation.
    pub total_installations: i64,
    /// Of those, the ones whose installation is active now.
    pub active_installations: i64,
    /// Mean stars (1–5), `null` when unrated.
    pub average_rating: Option<f64>,
    pub ratings_count: i64,
    #[serde(skip)]
    pub(crate) stars_sum: i64,
}

/// One extension in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExtensionSummary {
    pub name: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub publisher: String,
    /// The highest version that is neither yanked nor revoked.
    pub latest_version: Option<String>,
    pub stats: Stats,
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// One project's rating of an extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Rating {
    /// `host/project`.
    pub project_ref: String,
    pub stars: i64,
    pub review: Option<String>,
    pub updated_at: i64,
}

/// A registered host (its token hash never leaves the store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Host {
    pub name: String,
    pub created_at: i64,
}

/// An audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub created_at: i64,
}
