//! The append-only audit log: the store offers no update or delete for it.

use sqlx::Row;

use crate::db::Sql;
use crate::{AuditEntry, Store, StoreError, clamp_limit, now_ms};

impl Store {
    /// Appends an audit record. `detail` is stored as JSON text.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        project: Option<&str>,
        target: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<AuditEntry, StoreError> {
        let created_at = now_ms();
        let row = sqlx::query(
            "INSERT INTO audit_log (actor, action, project_id, target, detail, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(actor)
        .bind(action)
        .bind(project)
        .bind(target)
        .bind(detail.to_string())
        .bind(created_at)
        .fetch_one(&self.pool)
        .await?;
        Ok(AuditEntry {
            id: row.try_get("id")?,
            actor: actor.to_owned(),
            action: action.to_owned(),
            project_id: project.map(str::to_owned),
            target: target.map(str::to_owned),
            detail,
            created_at,
        })
    }

    /// The newest audit records, for one project or (with `None`) all of them.
    pub async fn list_audit(&self, project: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let mut sql = Sql::new(
            "SELECT id, actor, action, project_id, target, detail, created_at \
             FROM audit_log WHERE 1 = 1",
        );
        sql.and_eq("project_id", project).push(" ORDER BY id DESC LIMIT ").bind_int(clamp_limit(Some(limit)));
        let rows = sql.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let detail: String = row.try_get("detail")?;
                let detail = serde_json::from_str(&detail)
                    .map_err(|e| StoreError::decode(format!("audit_log.detail is not JSON: {e}")))?;
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    project_id: row.try_get("project_id")?,
                    target: row.try_get("target")?,
                    detail,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }
}
