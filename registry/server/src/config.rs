//! The registry's one typed configuration, built by the caller (the
//! `magflock registry serve` command parses flags and environment; this
//! crate reads neither).

use std::path::{Path, PathBuf};

/// Largest package accepted by default (32 MiB).
pub const DEFAULT_MAX_PACKAGE_BYTES: usize = 32 * 1024 * 1024;

/// How the registry runs.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Holds the blobs (`<data_dir>/blobs`) and, by default, the SQLite database.
    pub data_dir: PathBuf,
    /// `sqlite:...` or `postgres://...`; empty means
    /// `sqlite://<data_dir>/registry.db`.
    pub database_url: String,
    /// The admin bearer token (compared in constant time). Must not be empty.
    pub admin_token: String,
    /// Largest package body accepted; larger uploads are refused while the
    /// body streams in, before it is buffered.
    pub max_package_bytes: usize,
    /// The host API version this registry serves: a package whose manifest
    /// `host` range does not contain it is refused.
    pub host_api: semver::Version,
}

impl RegistryConfig {
    /// A configuration with the default size limit.
    pub fn new(
        data_dir: impl Into<PathBuf>,
        database_url: impl Into<String>,
        admin_token: impl Into<String>,
        host_api: semver::Version,
    ) -> RegistryConfig {
        RegistryConfig {
            data_dir: data_dir.into(),
            database_url: database_url.into(),
            admin_token: admin_token.into(),
            max_package_bytes: DEFAULT_MAX_PACKAGE_BYTES,
            host_api,
        }
    }

    /// The SQLite URL used when `database_url` is empty.
    pub fn default_database_url(data_dir: &Path) -> String {
        format!("sqlite://{}", data_dir.join("registry.db").display())
    }

    /// `database_url`, or the default under `data_dir` when it is empty.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            Self::default_database_url(&self.data_dir)
        } else {
            self.database_url.clone()
        }
    }
}
