//! The registry store: publishers and their keys, extensions and their
//! published versions, hosts, installation reports, ratings and the audit
//! log, on SQLite (default) or PostgreSQL through one `sqlx::AnyPool`.
//!
//! The same conventions as the host's control-plane store (`host/store`):
//! every query uses `$N` placeholders (PostgreSQL speaks them natively and
//! sqlx's SQLite driver maps them), only BIGINT, TEXT are read back,
//! booleans are 0/1 and lists are JSON text, and the two migration folders
//! describe the same schema.

mod audit;
mod catalog;
mod community;
mod model;
mod publishers;
mod versions;

pub use magflock_store::db::DbKind;
use sqlx::AnyPool;
use sqlx::migrate::Migrator;

pub use model::*;

/// Rows returned by a listing when the caller does not say.
pub const DEFAULT_LIMIT: u32 = 50;
/// The most rows any listing returns.
pub const MAX_LIMIT: u32 = 500;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// The same error type as the host's store: both stores share one set of
/// failures and codes (`magflock_store::db`).
pub use magflock_store::StoreError;

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A handle on the registry database. Cheap to clone (a pool inside).
#[derive(Debug, Clone)]
pub struct RegistryStore {
    pool: AnyPool,
    kind: DbKind,
}

impl RegistryStore {
    /// Connects to `url` (`sqlite:` or `postgres:`) and applies the migrations.
    /// A SQLite file is created if missing and put in WAL mode.
    pub async fn connect(url: &str) -> Result<RegistryStore, StoreError> {
        let (pool, kind) = magflock_store::db::connect(url, &SQLITE_MIGRATIONS, &POSTGRES_MIGRATIONS).await?;
        Ok(RegistryStore { pool, kind })
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    /// The underlying pool, for diagnostics and tests.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Readiness: one round trip to the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

pub(crate) use magflock_store::now_ms;

/// A listing's row count: the default when unset, at least 1, at most [`MAX_LIMIT`].
pub(crate) fn clamp_limit(limit: Option<u32>) -> i64 {
    i64::from(limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT))
}

pub(crate) fn json_list(values: &[String]) -> String {
    serde_json::Value::from(values.to_vec()).to_string()
}

pub(crate) fn parse_json_list(text: &str, what: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::decode(format!("{what} is not a JSON string list: {e}")))
}

pub use magflock_store::is_valid_slug;
