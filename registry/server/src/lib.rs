//! The MagFlock registry service: admins register publishers and their
//! ed25519 keys and publish signed packages; hosts download them by name and
//! version, report installations and pass on their projects' ratings.
//!
//! - [`config`]: the one typed configuration.
//! - [`store`]: publishers, keys, extensions, versions, hosts, installations,
//!   ratings and the audit log on SQLite or PostgreSQL (sqlx `AnyPool`).
//! - [`blobs`]: package files, content-addressed on disk behind [`BlobStore`].
//! - [`publish`]: the validation pipeline; nothing is stored unless every
//!   check passed, and the (name, version) unique key decides races.
//! - [`api`]: the HTTP API (axum), its OpenAPI document and problem+json errors.
//! - [`auth`]: the admin token and host tokens.
//!
//! The host binary builds a [`Registry`] with [`Registry::open`] and serves
//! [`app`].

pub mod api;
pub mod auth;
pub mod blobs;
pub mod config;
pub mod publish;
pub mod store;

use std::sync::Arc;

pub use api::{app, openapi};
pub use blobs::{BlobError, BlobStore, DiskBlobStore};
pub use config::{DEFAULT_MAX_PACKAGE_BYTES, RegistryConfig};
pub use publish::{CheckError, ComponentChecker, PublishError, Published};
pub use store::{RegistryStore, StoreError};

use magflock_registry::PublicKey;
use store::{PublisherKey, VersionRecord};

/// Why the registry could not start or complete an operation outside the
/// publish pipeline.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry configuration: {0}")]
    Config(String),
    #[error("registry store: {0}")]
    Store(#[from] StoreError),
    #[error("blob storage: {0}")]
    Blob(#[from] BlobError),
    #[error("registry data directory: {0}")]
    Io(#[from] std::io::Error),
}

struct Inner {
    config: RegistryConfig,
    store: RegistryStore,
    blobs: Arc<dyn BlobStore>,
    checker: Arc<dyn ComponentChecker>,
    check_timeout: std::time::Duration,
}

/// The registry: configuration, store, blobs and the component checker.
/// Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("data_dir", &self.inner.config.data_dir).finish_non_exhaustive()
    }
}

impl Registry {
    /// Opens the registry: creates `data_dir`, connects to the database
    /// (applying migrations) and opens the blob directory `<data_dir>/blobs`.
    pub async fn open(
        config: RegistryConfig,
        checker: Arc<dyn ComponentChecker>,
    ) -> Result<Registry, RegistryError> {
        std::fs::create_dir_all(&config.data_dir)?;
        let blobs = DiskBlobStore::open(&config.data_dir.join("blobs"))?;
        Registry::with_blob_store(config, checker, Arc::new(blobs)).await
    }

    /// Like [`Registry::open`] with another blob store.
    pub async fn with_blob_store(
        config: RegistryConfig,
        checker: Arc<dyn ComponentChecker>,
        blobs: Arc<dyn BlobStore>,
    ) -> Result<Registry, RegistryError> {
        if config.admin_token.trim().is_empty() {
            return Err(RegistryError::Config("the admin token must not be empty".to_owned()));
        }
        if config.max_package_bytes == 0 {
            return Err(RegistryError::Config("max_package_bytes must be above 0".to_owned()));
        }
        let store = RegistryStore::connect(&config.effective_database_url()).await?;
        let check_timeout = publish::CHECK_OUTER_TIMEOUT;
        Ok(Registry { inner: Arc::new(Inner { config, store, blobs, checker, check_timeout }) })
    }

    /// The same registry with another outer bound on one component check
    /// (default [`publish::CHECK_OUTER_TIMEOUT`]). The checker should bound
    /// itself well within it; this is the safety net.
    pub fn with_check_timeout(self, check_timeout: std::time::Duration) -> Registry {
        let inner = &self.inner;
        Registry {
            inner: Arc::new(Inner {
                config: inner.config.clone(),
                store: inner.store.clone(),
                blobs: inner.blobs.clone(),
                checker: inner.checker.clone(),
                check_timeout,
            }),
        }
    }

    /// The outer bound on one component check.
    pub fn check_timeout(&self) -> std::time::Duration {
        self.inner.check_timeout
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.inner.config
    }

    pub fn store(&self) -> &RegistryStore {
        &self.inner.store
    }

    pub fn blobs(&self) -> &dyn BlobStore {
        self.inner.blobs.as_ref()
    }

    pub fn checker(&self) -> &dyn ComponentChecker {
        self.inner.checker.as_ref()
    }

    /// Registers a host and returns its bearer token (shown once; only its
    /// sha256 is stored). `Store(Conflict)` if the name is taken.
    pub async fn create_host_token(&self, name: &str) -> Result<String, RegistryError> {
        if !store::is_valid_slug(name) {
            return Err(RegistryError::Config(format!(
                "host name `{}` must be 1-63 lower-case letters, digits and single dashes",
                name.escape_debug()
            )));
        }
        let token = auth::new_host_token()?;
        self.store().create_host(name, &auth::token_hash(&token)).await?;
        self.store().audit(auth::ADMIN_ACTOR, "host.create", Some(name), serde_json::json!({})).await?;
        Ok(token)
    }

    /// Issues a new token for `name`, creating the host if needed and
    /// replacing any earlier token (for `magflock up`, which cannot read back
    /// a token it issued on an earlier run).
    pub async fn reset_host_token(&self, name: &str) -> Result<String, RegistryError> {
        if !store::is_valid_slug(name) {
            return Err(RegistryError::Config(format!(
                "host name `{}` must be 1-63 lower-case letters, digits and single dashes",
                name.escape_debug()
            )));
        }
        let token = auth::new_host_token()?;
        self.store().set_host_token(name, &auth::token_hash(&token)).await?;
        self.store().audit(auth::ADMIN_ACTOR, "host.token_reset", Some(name), serde_json::json!({})).await?;
        Ok(token)
    }

    /// Registers `key` for `publisher`, creating the publisher if it does
    /// not exist. Idempotent when the key is already registered to that
    /// publisher (revoked or not: the existing row is returned);
    /// `Store(Conflict)` when it belongs to another publisher.
    pub async fn register_publisher_key(
        &self,
        publisher: &str,
        key: &PublicKey,
    ) -> Result<PublisherKey, RegistryError> {
        if !store::is_valid_slug(publisher) {
            return Err(RegistryError::Config(format!(
                "publisher name `{}` must be 1-63 lower-case letters, digits and single dashes",
                publisher.escape_debug()
            )));
        }
        let key_id = key.key_id();
        if let Some(existing) = self.store().get_key(&key_id).await? {
            if existing.publisher == publisher {
                return Ok(existing);
            }
            return Err(
                StoreError::Conflict(format!("key {key_id} is registered to another publisher")).into()
            );
        }
        match self.store().create_publisher(publisher, None).await {
            Ok(_) => {
                let detail = serde_json::json!({});
                self.store().audit(auth::ADMIN_ACTOR, "publisher.create", Some(publisher), detail).await?;
            }
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let added = self.store().add_key(publisher, &key_id, &key.to_string()).await?;
        let detail = serde_json::json!({ "key_id": key_id });
        self.store().audit(auth::ADMIN_ACTOR, "publisher.key_add", Some(publisher), detail).await?;
        Ok(added)
    }

    /// A published version and its package bytes (verified against the
    /// recorded digest). `Ok(None)` if the version does not exist.
    pub async fn download(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<(VersionRecord, Vec<u8>)>, RegistryError> {
        let Some(record) = self.store().get_version(name, version).await? else {
            return Ok(None);
        };
        let bytes = self.blobs().get(&record.sha256).await?;
        Ok(Some((record, bytes)))
    }
}
