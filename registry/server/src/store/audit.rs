//! The append-only audit log of admin actions: the store offers no update
//! or delete for it.

use sqlx::Row;

use super::{AuditEntry, RegistryStore, StoreError, clamp_limit, now_ms};

impl RegistryStore {
    /// Appends an audit record; `detail` is stored as JSON text.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO registry_audit (actor, action, target, detail, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail.to_string())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest audit records.
    pub async fn list_audit(&self, limit: Option<u32>) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, actor, action, target, detail, created_at FROM registry_audit ORDER BY id DESC LIMIT $1",
        )
        .bind(clamp_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let detail: String = row.try_get("detail")?;
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    detail: serde_json::from_str(&detail)
                        .map_err(|e| StoreError::decode(format!("registry_audit.detail is not JSON: {e}")))?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }
}
