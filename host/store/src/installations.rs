//! Installations of extension versions into projects, and the checks made
//! while installing them.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::insert_error;
use crate::{
    Installation, InstallationState, NewInstallation, NewValidation, Store, StoreError, Validation,
    clamp_limit, now_ms,
};

const INSTALLATION_COLUMNS: &str = "id, project_id, extension, version, state, manifest, \
     package_id, component_sha256, signer_key_id, requested_capabilities, \
     approved_capabilities, created_at, updated_at";

fn capabilities_to_json(capabilities: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(capabilities)
        .map_err(|e| StoreError::Invalid(format!("capabilities cannot be encoded: {e}")))
}

fn capabilities_from_row(row: &AnyRow, column: &str) -> Result<Vec<String>, StoreError> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::decode(format!("installations.{column} is not a JSON string array: {e}")))
}

fn installation_from_row(row: &AnyRow) -> Result<Installation, StoreError> {
    let state: String = row.try_get("state")?;
    let state = InstallationState::parse(&state)
        .ok_or_else(|| StoreError::decode(format!("unknown installation state `{state}`")))?;
    Ok(Installation {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        extension: row.try_get("extension")?,
        version: row.try_get("version")?,
        state,
        manifest: row.try_get("manifest")?,
        package_id: row.try_get("package_id")?,
        component_sha256: row.try_get("component_sha256")?,
        signer_key_id: row.try_get("signer_key_id")?,
        requested_capabilities: capabilities_from_row(row, "requested_capabilities")?,
        approved_capabilities: capabilities_from_row(row, "approved_capabilities")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn validation_from_row(row: &AnyRow) -> Result<Validation, sqlx::Error> {
    let ok: i64 = row.try_get("ok")?;
    Ok(Validation {
        id: row.try_get("id")?,
        installation_id: row.try_get("installation_id")?,
        project_id: row.try_get("project_id")?,
        extension: row.try_get("extension")?,
        version: row.try_get("version")?,
        step: row.try_get("step")?,
        ok: ok != 0,
        detail: row.try_get("detail")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts an installation row on `conn` (a pooled connection or a
/// transaction). `Conflict` if the (project, extension) slot for its state
/// is taken; `NotFound` if the project does not exist.
pub(crate) async fn insert_installation(
    conn: &mut sqlx::AnyConnection,
    new: &NewInstallation,
) -> Result<Installation, StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = now_ms();
    let requested = capabilities_to_json(&new.requested_capabilities)?;
    let approved = capabilities_to_json(&new.approved_capabilities)?;
    sqlx::query(
        "INSERT INTO installations (id, project_id, extension, version, state, manifest, \
         package_id, component_sha256, signer_key_id, requested_capabilities, \
         approved_capabilities, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
    )
    .bind(&id)
    .bind(&new.project_id)
    .bind(&new.extension)
    .bind(&new.version)
    .bind(new.state.as_str())
    .bind(&new.manifest)
    .bind(&new.package_id)
    .bind(&new.component_sha256)
    .bind(&new.signer_key_id)
    .bind(requested)
    .bind(approved)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        insert_error(
            e,
            || {
                format!(
                    "extension {} already has a version in that state in project {}",
                    new.extension, new.project_id
                )
            },
            || format!("project {}", new.project_id),
        )
    })?;
    Ok(Installation {
        id,
        project_id: new.project_id.clone(),
        extension: new.extension.clone(),
        version: new.version.clone(),
        state: new.state,
        manifest: new.manifest.clone(),
        package_id: new.package_id.clone(),
        component_sha256: new.component_sha256.clone(),
        signer_key_id: new.signer_key_id.clone(),
        requested_capabilities: new.requested_capabilities.clone(),
        approved_capabilities: new.approved_capabilities.clone(),
        created_at: now,
        updated_at: now,
    })
}

impl Store {
    /// Records a new installation. `Conflict` if the project already has one
    /// for this extension that is not removed; `NotFound` if the project
    /// does not exist.
    pub async fn create_installation(&self, new: &NewInstallation) -> Result<Installation, StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_installation(&mut conn, new).await
    }

    /// The project's installation of `extension` that is not removed: the
    /// serving one when there is one, else the one pending approval.
    pub async fn get_installation(
        &self,
        project: &str,
        extension: &str,
    ) -> Result<Option<Installation>, StoreError> {
        self.one_installation(
            project,
            extension,
            "state <> 'removed' ORDER BY CASE WHEN state = 'pending_approval' THEN 1 ELSE 0 END LIMIT 1",
        )
        .await
    }

    /// The project's installation of `extension` waiting for approval, if
    /// any: a first install, or a new version beside a serving one.
    pub async fn get_pending_installation(
        &self,
        project: &str,
        extension: &str,
    ) -> Result<Option<Installation>, StoreError> {
        self.one_installation(project, extension, "state = 'pending_approval'").await
    }

    /// The project's installation of `extension` matching `condition`
    /// (trusted SQL text, never input).
    async fn one_installation(
        &self,
        project: &str,
        extension: &str,
        condition: &str,
    ) -> Result<Option<Installation>, StoreError> {
        let sql = format!(
            "SELECT {INSTALLATION_COLUMNS} FROM installations \
             WHERE project_id = $1 AND extension = $2 AND {condition}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(project)
            .bind(extension)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(installation_from_row).transpose()
    }

    /// Makes installation `id` the serving one with `approved` capabilities,
    /// removing `replaces` (the version it upgrades) in the same
    /// transaction: the project never has zero or two serving versions.
    /// `false` (and nothing changed) if `id` is removed or `replaces` is no
    /// longer live.
    pub async fn promote_installation(
        &self,
        id: &str,
        replaces: Option<&str>,
        approved: &[String],
    ) -> Result<bool, StoreError> {
        let approved = capabilities_to_json(approved)?;
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        if let Some(old) = replaces {
            let done = sqlx::query(
                "UPDATE installations SET state = 'removed', updated_at = $2 \
                 WHERE id = $1 AND state <> 'removed'",
            )
            .bind(old)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
        }
        let done = sqlx::query(
            "UPDATE installations SET state = 'active', approved_capabilities = $2, updated_at = $3 \
             WHERE id = $1 AND state <> 'removed'",
        )
        .bind(id)
        .bind(approved)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            insert_error(e, || format!("installation {id} cannot serve beside another"), || id.to_owned())
        })?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Undoes an upgrade: `restore` (the replaced version) serves again and
    /// `remove` (the new one) is removed, in one transaction. `false` (and
    /// nothing changed) unless `remove` is live and `restore` was removed.
    pub async fn rollback_installation(&self, restore: &str, remove: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let removed = sqlx::query(
            "UPDATE installations SET state = 'removed', updated_at = $2 WHERE id = $1 AND state <> 'removed'",
        )
        .bind(remove)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if removed.rows_affected() == 0 {
            return Ok(false);
        }
        let restored = sqlx::query(
            "UPDATE installations SET state = 'active', updated_at = $2 WHERE id = $1 AND state = 'removed'",
        )
        .bind(restore)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if restored.rows_affected() == 0 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Any installation, removed ones included.
    pub async fn get_installation_by_id(&self, id: &str) -> Result<Option<Installation>, StoreError> {
        let sql = format!("SELECT {INSTALLATION_COLUMNS} FROM installations WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(installation_from_row).transpose()
    }

    /// The project's installations, removed ones included, oldest first.
    pub async fn list_installations(&self, project: &str) -> Result<Vec<Installation>, StoreError> {
        let sql = format!(
            "SELECT {INSTALLATION_COLUMNS} FROM installations WHERE project_id = $1 \
             ORDER BY created_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(project).fetch_all(&self.pool).await?;
        rows.iter().map(installation_from_row).collect()
    }

    /// Every active installation in every project: what the host serves at startup.
    pub async fn list_serving_installations(&self) -> Result<Vec<Installation>, StoreError> {
        let sql = format!(
            "SELECT {INSTALLATION_COLUMNS} FROM installations WHERE state = 'active' \
             ORDER BY project_id, extension"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter().map(installation_from_row).collect()
    }

    /// Moves an installation to `state`, replacing the approved capabilities
    /// when given. `false` if there is no such installation or it is removed
    /// (removal is final).
    pub async fn set_installation_state(
        &self,
        id: &str,
        state: InstallationState,
        approved_capabilities: Option<&[String]>,
    ) -> Result<bool, StoreError> {
        let approved = approved_capabilities.map(capabilities_to_json).transpose()?;
        let done = sqlx::query(
            "UPDATE installations \
             SET state = $2, approved_capabilities = COALESCE($3, approved_capabilities), \
                 updated_at = $4 \
             WHERE id = $1 AND state <> 'removed'",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(approved)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Marks an installation removed, freeing its (project, extension) for a
    /// new one. `false` if unknown or already removed.
    pub async fn mark_removed(&self, id: &str) -> Result<bool, StoreError> {
        self.set_installation_state(id, InstallationState::Removed, None).await
    }

    /// Records one install-time check.
    pub async fn add_validation(&self, new: &NewValidation) -> Result<Validation, StoreError> {
        let created_at = now_ms();
        let row = sqlx::query(
            "INSERT INTO installation_validations \
             (installation_id, project_id, extension, version, step, ok, detail, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(new.installation_id.as_deref())
        .bind(&new.project_id)
        .bind(&new.extension)
        .bind(&new.version)
        .bind(&new.step)
        .bind(i64::from(new.ok))
        .bind(&new.detail)
        .bind(created_at)
        .fetch_one(&self.pool)
        .await?;
        Ok(Validation {
            id: row.try_get("id")?,
            installation_id: new.installation_id.clone(),
            project_id: new.project_id.clone(),
            extension: new.extension.clone(),
            version: new.version.clone(),
            step: new.step.clone(),
            ok: new.ok,
            detail: new.detail.clone(),
            created_at,
        })
    }

    /// The project's install-time checks, newest first, optionally for one extension.
    pub async fn list_validations(
        &self,
        project: &str,
        extension: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Validation>, StoreError> {
        let mut sql = crate::db::Sql::new(
            "SELECT id, installation_id, project_id, extension, version, step, ok, detail, \
             created_at FROM installation_validations WHERE project_id = ",
        );
        sql.bind_text(project)
            .and_eq("extension", extension)
            .push(" ORDER BY id DESC LIMIT ")
            .bind_int(clamp_limit(Some(limit)));
        let rows = sql.build().fetch_all(&self.pool).await?;
        Ok(rows.iter().map(validation_from_row).collect::<Result<_, _>>()?)
    }
}
