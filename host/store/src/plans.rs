//! Applying a resolved plan to a project in one transaction, and the
//! dependency and conflict edges of installations.

use sqlx::Row;

use crate::installations::insert_installation;
use crate::{Installation, InstallationState, NewInstallation, Store, StoreError, now_ms};

/// A dependency an installation's manifest declares.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DependencyEdge {
    pub depends_on: String,
    pub version_range: String,
    pub optional: bool,
}

/// A conflict an installation's manifest declares.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConflictEdge {
    pub conflicts_with: String,
    /// `None`: every version.
    pub version_range: Option<String>,
    pub reason: String,
}

/// One new serving installation of a plan, with its declared edges.
#[derive(Debug, Clone)]
pub struct PlannedInstall {
    /// Inserted as [`InstallationState::Active`] whatever `state` says.
    pub installation: NewInstallation,
    pub dependencies: Vec<DependencyEdge>,
    pub conflicts: Vec<ConflictEdge>,
}

/// What a plan changes in the store.
#[derive(Debug, Clone, Default)]
pub struct PlanWrite {
    /// Installations that stop serving (removed, or replaced by an upgrade).
    pub removes: Vec<String>,
    pub installs: Vec<PlannedInstall>,
}

impl Store {
    /// Applies `plan` in one transaction: every removal, then every new
    /// serving installation with its edges. All of it or nothing: if an
    /// installation to remove is no longer live, or a slot is taken, the
    /// transaction rolls back and `Conflict` says which.
    pub async fn apply_plan(&self, plan: &PlanWrite) -> Result<Vec<Installation>, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        for id in &plan.removes {
            let done = sqlx::query(
                "UPDATE installations SET state = 'removed', updated_at = $2 \
                 WHERE id = $1 AND state <> 'removed'",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Conflict(format!(
                    "installation {id} changed while the plan was applied"
                )));
            }
        }
        let mut created = Vec::with_capacity(plan.installs.len());
        for planned in &plan.installs {
            let new = NewInstallation { state: InstallationState::Active, ..planned.installation.clone() };
            let inst = insert_installation(&mut tx, &new).await?;
            insert_edges(&mut tx, &inst, &planned.dependencies, &planned.conflicts).await?;
            created.push(inst);
        }
        tx.commit().await?;
        Ok(created)
    }

    /// Records the edges of an installation created outside a plan.
    pub async fn set_installation_edges(
        &self,
        inst: &Installation,
        dependencies: &[DependencyEdge],
        conflicts: &[ConflictEdge],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM dependencies WHERE installation_id = $1")
            .bind(&inst.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM conflicts WHERE installation_id = $1")
            .bind(&inst.id)
            .execute(&mut *tx)
            .await?;
        insert_edges(&mut tx, inst, dependencies, conflicts).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The dependency edges of an installation.
    pub async fn installation_dependencies(
        &self,
        installation_id: &str,
    ) -> Result<Vec<DependencyEdge>, StoreError> {
        let rows = sqlx::query(
            "SELECT depends_on, version_range, optional FROM dependencies \
             WHERE installation_id = $1 ORDER BY depends_on",
        )
        .bind(installation_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DependencyEdge {
                    depends_on: r.try_get("depends_on")?,
                    version_range: r.try_get("version_range")?,
                    optional: r.try_get::<i64, _>("optional")? != 0,
                })
            })
            .collect()
    }

    /// The conflict edges of an installation.
    pub async fn installation_conflicts(
        &self,
        installation_id: &str,
    ) -> Result<Vec<ConflictEdge>, StoreError> {
        let rows = sqlx::query(
            "SELECT conflicts_with, version_range, reason FROM conflicts \
             WHERE installation_id = $1 ORDER BY conflicts_with",
        )
        .bind(installation_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ConflictEdge {
                    conflicts_with: r.try_get("conflicts_with")?,
                    version_range: r.try_get("version_range")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }
}

async fn insert_edges(
    conn: &mut sqlx::AnyConnection,
    inst: &Installation,
    dependencies: &[DependencyEdge],
    conflicts: &[ConflictEdge],
) -> Result<(), StoreError> {
    for d in dependencies {
        sqlx::query(
            "INSERT INTO dependencies (installation_id, project_id, extension, depends_on, version_range, optional) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&inst.id)
        .bind(&inst.project_id)
        .bind(&inst.extension)
        .bind(&d.depends_on)
        .bind(&d.version_range)
        .bind(i64::from(d.optional))
        .execute(&mut *conn)
        .await?;
    }
    for c in conflicts {
        sqlx::query(
            "INSERT INTO conflicts (installation_id, project_id, extension, conflicts_with, version_range, reason) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&inst.id)
        .bind(&inst.project_id)
        .bind(&inst.extension)
        .bind(&c.conflicts_with)
        .bind(c.version_range.as_deref())
        .bind(&c.reason)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
