//! The record of owners' schema migrations on their project databases.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::DbKind;
use crate::error::insert_error;
use crate::{Store, StoreError, now_ms};

/// One migration as recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProjectMigration {
    pub project_id: String,
    pub name: String,
    /// Order of application in the project (1, 2, ...).
    pub seq: i64,
    /// sha256 of the up script, a newline, and the down script.
    pub checksum: String,
    pub up_sql: String,
    pub down_sql: String,
    /// `applied` or `rolled_back`.
    pub state: String,
    pub applied_by: String,
    pub applied_at: i64,
    pub rolled_back_at: Option<i64>,
}

const COLUMNS: &str = "project_id, name, seq, checksum, up_sql, down_sql, state, applied_by, applied_at, \
     rolled_back_at";

fn from_row(row: &AnyRow) -> Result<ProjectMigration, StoreError> {
    Ok(ProjectMigration {
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        seq: row.try_get("seq")?,
        checksum: row.try_get("checksum")?,
        up_sql: row.try_get("up_sql")?,
        down_sql: row.try_get("down_sql")?,
        state: row.try_get("state")?,
        applied_by: row.try_get("applied_by")?,
        applied_at: row.try_get("applied_at")?,
        rolled_back_at: row.try_get("rolled_back_at")?,
    })
}

/// The in-process half of the migration locks, by project.
pub(crate) type Locks = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

/// Held while a project's migrations are applied or rolled back, so that
/// two owners' requests cannot both run the same `up` or `down` script: one
/// at a time per project on this host (an in-process lock) and, on
/// PostgreSQL, across every host sharing the control plane (a session
/// advisory lock on a connection of its own, taken out of the pool so a
/// long migration does not hold one of the pool's; dropping it closes the
/// connection, which releases the lock, also if the host dies).
pub struct MigrationLock {
    _local: tokio::sync::OwnedMutexGuard<()>,
    _shared: Option<sqlx::AnyConnection>,
}

/// The advisory-lock key of a project's migrations: the same on every host.
fn advisory_key(project: &str) -> i64 {
    let digest = Sha256::digest(format!("magflock:project-migrations:{project}"));
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

impl Store {
    /// Waits for the project's migration lock; see [`MigrationLock`].
    pub async fn lock_project_migrations(&self, project: &str) -> Result<MigrationLock, StoreError> {
        let local = {
            let mut locks = self.migration_locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            locks.entry(project.to_owned()).or_default().clone()
        };
        let local = local.lock_owned().await;
        let shared = match self.kind {
            DbKind::Sqlite => None,
            DbKind::Postgres => {
                let mut conn = self.pool.acquire().await?.detach();
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(advisory_key(project))
                    .execute(&mut conn)
                    .await?;
                Some(conn)
            }
        };
        Ok(MigrationLock { _local: local, _shared: shared })
    }

    /// The project's migrations in the order they were applied.
    pub async fn list_project_migrations(&self, project: &str) -> Result<Vec<ProjectMigration>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM project_migrations WHERE project_id = $1 ORDER BY seq");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(project).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// Records `name` as applied (a new row, or a rolled-back one applied
    /// again with its new scripts), as the project's latest migration.
    /// `Conflict` if it is applied already.
    pub async fn record_project_migration(
        &self,
        project: &str,
        name: &str,
        checksum: &str,
        up_sql: &str,
        down_sql: &str,
        actor: &str,
    ) -> Result<ProjectMigration, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let next: i64 = sqlx::query(
            "SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM project_migrations WHERE project_id = $1",
        )
        .bind(project)
        .fetch_one(&mut *tx)
        .await?
        .try_get("next")?;
        let reapplied = sqlx::query(
            "UPDATE project_migrations SET seq = $3, checksum = $4, up_sql = $5, down_sql = $6, \
             state = 'applied', applied_by = $7, applied_at = $8, rolled_back_at = NULL \
             WHERE project_id = $1 AND name = $2 AND state = 'rolled_back'",
        )
        .bind(project)
        .bind(name)
        .bind(next)
        .bind(checksum)
        .bind(up_sql)
        .bind(down_sql)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if reapplied.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO project_migrations (project_id, name, seq, checksum, up_sql, down_sql, state, \
                 applied_by, applied_at) VALUES ($1, $2, $3, $4, $5, $6, 'applied', $7, $8)",
            )
            .bind(project)
            .bind(name)
            .bind(next)
            .bind(checksum)
            .bind(up_sql)
            .bind(down_sql)
            .bind(actor)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                insert_error(
                    e,
                    || format!("migration {name} is already applied in project {project}"),
                    || format!("project {project}"),
                )
            })?;
        }
        tx.commit().await?;
        Ok(ProjectMigration {
            project_id: project.to_owned(),
            name: name.to_owned(),
            seq: next,
            checksum: checksum.to_owned(),
            up_sql: up_sql.to_owned(),
            down_sql: down_sql.to_owned(),
            state: "applied".to_owned(),
            applied_by: actor.to_owned(),
            applied_at: now,
            rolled_back_at: None,
        })
    }

    /// Marks an applied migration rolled back. `false` if it is not applied.
    pub async fn mark_project_migration_rolled_back(
        &self,
        project: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE project_migrations SET state = 'rolled_back', rolled_back_at = $3 \
             WHERE project_id = $1 AND name = $2 AND state = 'applied'",
        )
        .bind(project)
        .bind(name)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
