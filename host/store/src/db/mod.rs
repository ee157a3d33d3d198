//! What both MagFlock stores (the host's control plane and the registry)
//! share about talking to a database through `sqlx::AnyPool`: picking the
//! engine from the URL, connecting with the same settings, applying one of
//! two migration folders, and building the few queries whose text depends
//! on input ([`Sql`]).

mod sql;

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

pub use sql::{Sql, values_list};

/// How long a SQLite connection waits for a lock before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections in a PostgreSQL pool.
const PG_MAX_CONNECTIONS: u32 = 10;
/// Connections in a SQLite pool: readers run in parallel under WAL, writers
/// queue on the database lock.
const SQLITE_MAX_CONNECTIONS: u32 = 8;

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The database engine behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    /// Picks the engine from a database URL's scheme.
    pub fn from_url(url: &str) -> Result<DbKind, ConnectError> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
        match scheme {
            "sqlite" => Ok(DbKind::Sqlite),
            "postgres" | "postgresql" => Ok(DbKind::Postgres),
            _ => Err(ConnectError::Invalid(format!(
                "database URL scheme `{scheme}` is not supported (use sqlite: or postgres:)"
            ))),
        }
    }
}

/// Connects to `url` (`sqlite:` or `postgres:`) and applies `sqlite` or
/// `postgres` migrations. A SQLite file is created if missing and put in WAL
/// mode; `sqlite::memory:` works too, on a single connection.
pub async fn connect(
    url: &str,
    sqlite: &Migrator,
    postgres: &Migrator,
) -> Result<(AnyPool, DbKind), ConnectError> {
    sqlx::any::install_default_drivers();
    let kind = DbKind::from_url(url)?;
    let pool = match kind {
        DbKind::Sqlite => connect_sqlite(url).await?,
        DbKind::Postgres => {
            let options: AnyConnectOptions = url.parse()?;
            AnyPoolOptions::new().max_connections(PG_MAX_CONNECTIONS).connect_with(options).await?
        }
    };
    let migrator = match kind {
        DbKind::Sqlite => sqlite,
        DbKind::Postgres => postgres,
    };
    migrator.run(&pool).await?;
    Ok((pool, kind))
}

async fn connect_sqlite(url: &str) -> Result<AnyPool, sqlx::Error> {
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let mut url = url.to_owned();
    if !in_memory && !url.contains("mode=") {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("mode=rwc");
    }
    let options: AnyConnectOptions = url.parse()?;
    let mut pool = AnyPoolOptions::new().after_connect(move |conn, _meta| {
        Box::pin(async move {
            // busy_timeout first, so switching to WAL can wait for a lock.
            // journal_mode=WAL persists in the file; on later connections it
            // is a no-op. (In-memory databases answer "memory".)
            let pragmas = format!(
                "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL;",
                SQLITE_BUSY_TIMEOUT.as_millis()
            );
            conn.execute(sqlx::AssertSqlSafe(pragmas)).await?;
            Ok(())
        })
    });
    pool = if in_memory {
        // Each new connection would open a fresh, empty in-memory database:
        // keep exactly one, forever.
        pool.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
    } else {
        pool.max_connections(SQLITE_MAX_CONNECTIONS)
    };
    pool.connect_with(options).await
}
