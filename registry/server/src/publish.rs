//! The publish pipeline. Every check runs before anything is written:
//!
//! 1. size (also enforced while the HTTP body streams in),
//! 2. package format and manifest (`Package::from_bytes`),
//! 3. host API range against the version this registry serves,
//! 4. signature: present, by a key registered to a publisher, not revoked,
//!    valid over this manifest and component (`verify_package`),
//! 5. immutability and name ownership (a fast path; the insert re-checks),
//! 6. the host's own linker check of the component (the [`ComponentChecker`],
//!    bounded in time and memory by its implementation, with an outer timeout
//!    here as a safety net).
//!
//! Then the blob is written (content-addressed) and the rows are inserted in
//! one transaction whose unique key (name, version) decides races. A loser
//! whose bytes differ gets `version_exists` and deletes its blob when no row
//! names that digest. That delete is safe: a package digest determines the
//! name and version inside it, so a digest that lost its (name, version) can
//! never be referenced by anyone.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use magflock_registry::keys::is_key_id;
use magflock_registry::{Package, PackageError, SignatureError, TrustStore, verify_package};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::blobs::{BlobError, sha256_hex};
use crate::store::{InsertOutcome, NewVersion, PublisherKey, StoreError, VersionRecord};
use crate::{Registry, auth};

/// The default outer bound on one component check, whatever the checker does
/// (see [`Registry::with_check_timeout`]).
pub const CHECK_OUTER_TIMEOUT: Duration = Duration::from_secs(300);

/// Why the host's linker check refused or could not check a component.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The component does not link against the WIT world with only the
    /// manifest's capabilities (or does not compile).
    #[error("component refused by the host's linker check: {0}")]
    Rejected(String),
    #[error("the component check took too long")]
    Timeout,
    #[error("the component check exceeded its memory or resource limit")]
    ResourceLimit,
    /// The checker itself failed (worker could not start...).
    #[error("the component checker is unavailable: {0}")]
    Unavailable(String),
}

/// The host's linker check, supplied by the host binary.
pub trait ComponentChecker: Send + Sync + 'static {
    /// Checks the component against the WIT world with only the manifest's
    /// declared capabilities, in a bounded worker. `Err` refuses the package.
    fn check(&self, package: Arc<Package>) -> BoxFuture<'static, Result<(), CheckError>>;
}

/// A published version, as answered to the publisher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Published {
    pub name: String,
    pub version: String,
    /// sha256 of the canonical unsigned package (stable across re-signing).
    pub package_id: String,
    /// sha256 hex of the package file as published.
    pub sha256: String,
    pub component_sha256: String,
    pub manifest_sha256: String,
    pub size: i64,
    pub publisher: String,
    pub key_id: String,
    pub published_at: i64,
    /// Whether this call created the version (false: an identical re-publish).
    #[serde(skip)]
    pub created: bool,
}

impl Published {
    fn from_record(record: &VersionRecord, created: bool) -> Published {
        Published {
            name: record.extension.clone(),
            version: record.version.clone(),
            package_id: record.package_id.clone(),
            sha256: record.sha256.clone(),
            component_sha256: record.component_sha256.clone(),
            manifest_sha256: record.manifest_sha256.clone(),
            size: record.size,
            publisher: record.publisher.clone(),
            key_id: record.key_id.clone(),
            published_at: record.published_at,
            created,
        }
    }
}

/// Why a publish was refused. Nothing is stored for any of them.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("package is {len} bytes, above the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("{0}")]
    Package(PackageError),
    #[error("{name}@{version} supports host API `{range}`, which does not include {served}")]
    HostApiUnsupported { name: String, version: String, range: String, served: semver::Version },
    #[error("{0}")]
    Signature(SignatureError),
    #[error("signing key {key_id} is not registered to any publisher")]
    UnknownKey { key_id: String },
    #[error("signing key {key_id} of publisher `{publisher}` was revoked ({reason})")]
    KeyRevoked { key_id: String, publisher: String, reason: String },
    #[error("extension `{name}` belongs to publisher `{owner}`, not `{publisher}`")]
    NameOwnedByOtherPublisher { name: String, owner: String, publisher: String },
    #[error("{name}@{version} is already published with other bytes; published versions are immutable")]
    VersionExists { name: String, version: String },
    #[error("{name}@{version}: {error}")]
    Check { name: String, version: String, error: CheckError },
    #[error("registry store: {0}")]
    Store(#[from] StoreError),
    #[error("blob storage: {0}")]
    Blob(#[from] BlobError),
    /// A bug or a panic in validation; logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl PublishError {
    /// A stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            PublishError::TooLarge { .. } => "package_too_large",
            PublishError::Package(PackageError::TooLarge { .. }) => "package_too_large",
            PublishError::Package(PackageError::Manifest(m)) => m.code(),
            PublishError::Package(p) => p.code(),
            PublishError::HostApiUnsupported { .. } => "host_api_unsupported",
            PublishError::Signature(s) => s.code(),
            PublishError::UnknownKey { .. } => "unknown_key",
            PublishError::KeyRevoked { .. } => "key_revoked",
            PublishError::NameOwnedByOtherPublisher { .. } => "name_owned_by_other_publisher",
            PublishError::VersionExists { .. } => "version_exists",
            PublishError::Check { error, .. } => match error {
                CheckError::Rejected(_) => "component_rejected",
                CheckError::Timeout => "check_timeout",
                CheckError::ResourceLimit => "check_resource_limit",
                CheckError::Unavailable(_) => "checker_unavailable",
            },
            PublishError::Store(_) => "database_unavailable",
            PublishError::Blob(_) => "storage_unavailable",
            PublishError::Internal(_) => "internal",
        }
    }

    /// The HTTP status this refusal is answered with.
    pub fn status(&self) -> u16 {
        match self {
            PublishError::TooLarge { .. } | PublishError::Package(PackageError::TooLarge { .. }) => 413,
            PublishError::Package(_) => 400,
            PublishError::NameOwnedByOtherPublisher { .. } => 403,
            PublishError::VersionExists { .. } => 409,
            PublishError::Check { error: CheckError::Unavailable(_), .. }
            | PublishError::Store(_)
            | PublishError::Blob(_) => 503,
            PublishError::Internal(_) => 500,
            _ => 422,
        }
    }
}

impl Registry {
    /// Validates and publishes a signed package. An identical re-publish
    /// answers the existing version (`created == false`).
    pub async fn publish(&self, bytes: &[u8]) -> Result<Published, PublishError> {
        let max = self.config().max_package_bytes;
        if bytes.len() > max {
            return Err(PublishError::TooLarge { len: bytes.len(), max });
        }
        // Parsing and hashing tens of MiB is CPU work: off the async workers.
        let owned = bytes.to_vec();
        let (package, sha256, owned) = blocking(move || {
            let package = Package::from_bytes(&owned).map_err(PublishError::Package)?;
            let sha256 = sha256_hex(&owned);
            Ok((Arc::new(package), sha256, owned))
        })
        .await?;
        let manifest = package.manifest();
        let name = manifest.name().to_string();
        let version = manifest.version().to_string();
        let served = &self.config().host_api;
        if !manifest.host().matches(served) {
            return Err(PublishError::HostApiUnsupported {
                name,
                version,
                range: manifest.host().to_string(),
                served: served.clone(),
            });
        }
        let key = self.signing_key(&package).await?;
        let mut trust = TrustStore::new();
        if let Some(key) = &key {
            let public = key.public_key.parse().map_err(|e| {
                StoreError::decode(format!("stored public key {} does not parse: {e}", key.key_id))
            })?;
            trust.insert(public);
        }
        let (statement, package_id) = {
            let package = package.clone();
            blocking(move || {
                let statement = verify_package(&package, &trust).map_err(PublishError::Signature)?;
                Ok((statement, package.package_id()))
            })
            .await?
        };
        // verify_package only accepts a key from `trust`, so `key` is set here.
        let Some(key) = key.filter(|k| k.key_id == statement.key_id) else {
            return Err(PublishError::UnknownKey { key_id: statement.key_id });
        };

        if let Some(existing) = self.store().get_version(&name, &version).await? {
            return if existing.sha256 == sha256 {
                Ok(Published::from_record(&existing, false))
            } else {
                Err(PublishError::VersionExists { name, version })
            };
        }
        if let Some(owner) = self.store().extension_owner(&name).await?
            && owner != key.publisher
        {
            return Err(PublishError::NameOwnedByOtherPublisher { name, owner, publisher: key.publisher });
        }

        let new = NewVersion {
            extension: name.clone(),
            version: version.clone(),
            description: manifest.description().to_owned(),
            keywords: manifest.keywords().to_vec(),
            package_id,
            sha256: sha256.clone(),
            component_sha256: statement.component_sha256.clone(),
            manifest_sha256: statement.manifest_sha256.clone(),
            size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            publisher: key.publisher.clone(),
            key_id: key.key_id.clone(),
            host: manifest.host().to_string(),
            capabilities: manifest.capabilities().iter().map(|c| c.as_str().to_owned()).collect(),
            manifest: manifest.to_canonical_toml(),
        };

        let check = self.checker().check(package.clone());
        let checked =
            tokio::time::timeout(self.check_timeout(), check).await.unwrap_or(Err(CheckError::Timeout));
        if let Err(error) = checked {
            return Err(PublishError::Check { name, version, error });
        }

        let stored = self.blobs().put(owned).await?;
        debug_assert_eq!(stored, sha256);
        let outcome = match self.store().insert_version(&new).await {
            Ok(outcome) => outcome,
            Err(e) => {
                self.forget_blob_if_unreferenced(&sha256).await;
                return Err(e.into());
            }
        };
        match outcome {
            InsertOutcome::Inserted(record) => {
                let detail = serde_json::json!({
                    "sha256": record.sha256, "publisher": record.publisher, "key_id": record.key_id,
                });
                let target = format!("{name}@{version}");
                self.store().audit(auth::ADMIN_ACTOR, "version.publish", Some(&target), detail).await?;
                Ok(Published::from_record(&record, true))
            }
            InsertOutcome::Exists(existing) if existing.sha256 == sha256 => {
                Ok(Published::from_record(&existing, false))
            }
            InsertOutcome::Exists(_) => {
                self.forget_blob_if_unreferenced(&sha256).await;
                Err(PublishError::VersionExists { name, version })
            }
            InsertOutcome::NameOwnedBy(owner) => {
                self.forget_blob_if_unreferenced(&sha256).await;
                Err(PublishError::NameOwnedByOtherPublisher { name, owner, publisher: key.publisher })
            }
        }
    }

    /// The registered, unrevoked key the package's envelope names. `None`
    /// when the envelope is missing or malformed: `verify_package` then
    /// reports the precise reason.
    async fn signing_key(&self, package: &Package) -> Result<Option<PublisherKey>, PublishError> {
        let Some(envelope) = package.signature() else {
            return Err(PublishError::Signature(SignatureError::Unsigned));
        };
        let [signature] = envelope.signatures.as_slice() else {
            return Ok(None);
        };
        if !is_key_id(&signature.keyid) {
            return Ok(None);
        }
        let Some(key) = self.store().get_key(&signature.keyid).await? else {
            return Err(PublishError::UnknownKey { key_id: signature.keyid.clone() });
        };
        if key.revoked_at.is_some() {
            return Err(PublishError::KeyRevoked {
                reason: key.revocation_reason.map_or("revoked", |r| r.as_str()).to_owned(),
                key_id: key.key_id,
                publisher: key.publisher,
            });
        }
        Ok(Some(key))
    }

    /// Deletes a blob this publish wrote if no version row names it (best
    /// effort: a leftover is harmless, content-addressed and unreachable).
    async fn forget_blob_if_unreferenced(&self, sha256: &str) {
        match self.store().sha256_referenced(sha256).await {
            Ok(false) => {
                if let Err(e) = self.blobs().delete(sha256).await {
                    tracing::warn!(error = %e, sha256, "could not delete an unreferenced blob");
                }
            }
            Ok(true) => {}
            Err(e) => tracing::warn!(error = %e, sha256, "could not check whether a blob is referenced"),
        }
    }
}

/// Runs CPU-bound validation on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PublishError> + Send + 'static,
) -> Result<T, PublishError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PublishError::Internal(format!("validation task failed: {e}")))?
}
