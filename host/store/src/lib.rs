//! The MagFlock control-plane store: projects, API keys, trusted signing keys,
//! installations and their validation trail, resource usage and violations,
//! the audit log, the key-value capability's data, and events between
//! installations with their deliveries.
//!
//! # One code path for SQLite and PostgreSQL: `sqlx::AnyPool`
//!
//! SQLite (embedded, the default) and PostgreSQL (scale-out) run the same
//! queries through sqlx's `Any` driver, picked by URL scheme. `Any` covers
//! everything the schema needs in sqlx 0.9: `i64`, `String`, `Vec<u8>`
//! (BLOB/BYTEA), typed NULLs, `RETURNING`, `ON CONFLICT`, transactions and
//! migrations. An enum over `SqlitePool`/`PgPool` would double every query
//! site for no gain. What `Any` does not give, and how the store copes:
//!
//! - Placeholders: SQL text goes to the engine untouched. Every query uses
//!   `$N`, which PostgreSQL speaks natively and sqlx's SQLite driver maps to
//!   argument N (a `$N` may repeat). `QueryBuilder<Any>` is *not* usable: it
//!   writes `?`, which PostgreSQL rejects; `db::Sql` builds the few dynamic
//!   queries instead.
//! - Types: only BIGINT, TEXT and BLOB/BYTEA are read back; booleans are
//!   stored as 0/1. PostgreSQL's `SUM(bigint)` is NUMERIC, which `Any` cannot
//!   decode, so sums are cast back to BIGINT.
//! - SQLite connection settings: `Any` options are a bare URL, so
//!   `create_if_missing` is requested with `mode=rwc` and WAL, `busy_timeout`
//!   and foreign keys are set by PRAGMA on every new connection.
//! - Migrations live in two folders (`migrations/sqlite`,
//!   `migrations/postgres`) that must describe the same schema.

mod audit;
pub mod db;
mod error;
mod events;
mod installations;
mod keys;
mod kv;
mod model;
mod plans;
mod project_migrations;
mod query_policies;
mod usage;

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::AnyPool;
use sqlx::migrate::Migrator;

pub use db::DbKind;
pub use error::StoreError;
pub use events::{ClaimedDelivery, Delivery, DeliveryResult, Event, EventFilter, NewEvent};
pub use keys::is_valid_project_id;
pub use model::*;
pub use plans::{ConflictEdge, DependencyEdge, PlanWrite, PlannedInstall};
pub use project_migrations::ProjectMigration;
pub use query_policies::StoredQueryPolicy;

/// Rows returned by a listing when the caller does not say.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most rows any listing returns.
pub const MAX_LIMIT: u32 = 1000;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// A handle on the control-plane database. Cheap to clone (a pool inside).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    kind: DbKind,
    /// One lock per project, held while its migrations change
    /// ([`Store::lock_project_migrations`]).
    migration_locks: project_migrations::Locks,
}

impl Store {
    /// Connects to `url` (`sqlite:` or `postgres:`) and applies the migrations.
    ///
    /// A SQLite file is created if missing and put in WAL mode.
    /// `sqlite::memory:` works too, on a single connection.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let (pool, kind) = db::connect(url, &SQLITE_MIGRATIONS, &POSTGRES_MIGRATIONS).await?;
        tracing::debug!(?kind, "control-plane store ready");
        Ok(Store { pool, kind, migration_locks: Default::default() })
    }

    /// The engine behind this store.
    pub fn kind(&self) -> DbKind {
        self.kind
    }

    /// Readiness: one round trip to the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The underlying pool, for diagnostics and tests. Store data through the
    /// typed methods.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A name for a project, publisher, host or the like: 1 to 63 lower-case
/// letters, digits and single dashes, starting with a letter and not ending
/// with a dash.
pub fn is_valid_slug(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// Now, in unix milliseconds: the clock of every stored timestamp (the host
/// and the registry use this one too).
pub fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// A listing's row count: the default when unset, at least 1, at most [`MAX_LIMIT`].
pub(crate) fn clamp_limit(limit: Option<u32>) -> i64 {
    i64::from(limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT))
}
