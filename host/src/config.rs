//! The host's one typed configuration. Parsed once in `main` (flags, then
//! environment, then defaults) and passed down; no library code reads the
//! environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::engine::EngineLimits;

/// The host API version this build implements (`magflock:ext` WIT package).
pub const HOST_API_VERSION: semver::Version = semver::Version::new(0, 1, 2);

#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where packages, compiled components, keys and the embedded database live.
    pub data_dir: PathBuf,
    /// Control-plane database URL (`sqlite://...` or `postgres://...`).
    pub database_url: String,
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Bearer token for the control API (`/v1`).
    pub admin_token: String,
    /// How long usage records may wait to be batched.
    pub usage_flush: Duration,
    /// Largest package upload, in bytes.
    pub max_upload_bytes: usize,
    /// Largest request body handed to an extension, in bytes.
    pub max_request_bytes: usize,
    pub engine: EngineLimits,
    /// The registry extensions are installed from by name, if any.
    pub registry: Option<RegistryLink>,
    /// Whether this host delivers events to subscribers. On by default; a
    /// host that only serves requests may leave delivery to others sharing
    /// its control plane (events it publishes are stored either way).
    pub deliver_events: bool,
    /// How failed event deliveries are retried.
    pub event_retry: crate::events::RetryPolicy,
}

/// Where the host's registry is and how the host identifies itself to it.
#[derive(Debug, Clone)]
pub struct RegistryLink {
    /// `http://host:port` of the registry service.
    pub url: String,
    /// The host token the registry issued to this host (installation
    /// reports and ratings); without it, installs work and reports are skipped.
    pub host_token: Option<String>,
}

impl HostConfig {
    /// A configuration with defaults for everything but the paths.
    pub fn new(data_dir: PathBuf, database_url: String, admin_token: String) -> Self {
        Self {
            data_dir,
            database_url,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_token,
            usage_flush: Duration::from_millis(200),
            max_upload_bytes: 80 * 1024 * 1024,
            max_request_bytes: 16 * 1024 * 1024,
            engine: EngineLimits::default(),
            registry: None,
            deliver_events: true,
            event_retry: crate::events::RetryPolicy::default(),
        }
    }

    pub fn packages_dir(&self) -> PathBuf {
        self.data_dir.join("packages")
    }

    /// Compiled components (`runtime/cache.rs`).
    pub fn compiled_dir(&self) -> PathBuf {
        self.data_dir.join("compiled")
    }

    /// The host's secret key authenticating its compiled components.
    pub fn cache_key_path(&self) -> PathBuf {
        self.data_dir.join("cache.key")
    }
}
