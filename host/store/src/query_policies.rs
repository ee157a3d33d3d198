//! Projects' query policies for their databases. The values are checked by
//! the host (`capabilities::database::QueryPolicy`); the store keeps them.

use sqlx::Row;

use crate::error::insert_error;
use crate::{Store, StoreError, now_ms};

/// A stored query policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredQueryPolicy {
    pub statement_timeout_ms: i64,
    pub max_rows: i64,
    pub max_bytes: i64,
}

impl Store {
    /// Sets `project`'s policy, replacing any. `NotFound` for no such project.
    pub async fn set_query_policy(
        &self,
        project: &str,
        policy: StoredQueryPolicy,
        actor: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO project_query_policies \
             (project_id, statement_timeout_ms, max_rows, max_bytes, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project_id) DO UPDATE SET statement_timeout_ms = excluded.statement_timeout_ms, \
             max_rows = excluded.max_rows, max_bytes = excluded.max_bytes, \
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(project)
        .bind(policy.statement_timeout_ms)
        .bind(policy.max_rows)
        .bind(policy.max_bytes)
        .bind(actor)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| insert_error(e, String::new, || format!("project {project}")))?;
        Ok(())
    }

    /// Every stored policy, by project.
    pub async fn list_query_policies(&self) -> Result<Vec<(String, StoredQueryPolicy)>, StoreError> {
        let rows = sqlx::query(
            "SELECT project_id, statement_timeout_ms, max_rows, max_bytes FROM project_query_policies \
             ORDER BY project_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("project_id")?,
                    StoredQueryPolicy {
                        statement_timeout_ms: r.try_get("statement_timeout_ms")?,
                        max_rows: r.try_get("max_rows")?,
                        max_bytes: r.try_get("max_bytes")?,
                    },
                ))
            })
            .collect()
    }
}
