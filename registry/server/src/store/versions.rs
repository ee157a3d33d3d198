//! Published versions: the immutable insert, lookups, yank and un-yank.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    InsertOutcome, NewVersion, RegistryStore, StoreError, VersionRecord, is_unique_violation, json_list,
    now_ms, parse_json_list,
};

pub(crate) const VERSION_COLUMNS: &str = "extension, version, package_id, sha256, component_sha256, \
     manifest_sha256, size, publisher, key_id, host_range, capabilities, manifest, published_at, \
     yanked, yank_reason, revoked_at";

pub(crate) fn version_from_row(row: &AnyRow) -> Result<VersionRecord, StoreError> {
    let capabilities: String = row.try_get("capabilities")?;
    let yanked: i64 = row.try_get("yanked")?;
    let revoked_at: Option<i64> = row.try_get("revoked_at")?;
    let manifest: String = row.try_get("manifest")?;
    let edges = Edges::of(&manifest);
    Ok(VersionRecord {
        extension: row.try_get("extension")?,
        version: row.try_get("version")?,
        package_id: row.try_get("package_id")?,
        sha256: row.try_get("sha256")?,
        component_sha256: row.try_get("component_sha256")?,
        manifest_sha256: row.try_get("manifest_sha256")?,
        size: row.try_get("size")?,
        publisher: row.try_get("publisher")?,
        key_id: row.try_get("key_id")?,
        host: row.try_get("host_range")?,
        capabilities: parse_json_list(&capabilities, "versions.capabilities")?,
        dependencies: edges.required,
        optional_dependencies: edges.optional,
        conflicts: edges.conflicts,
        manifest,
        published_at: row.try_get("published_at")?,
        yanked: yanked != 0,
        yank_reason: row.try_get("yank_reason")?,
        revoked: revoked_at.is_some(),
        revoked_at,
    })
}

/// The dependency and conflict edges a stored manifest declares.
#[derive(Default)]
struct Edges {
    required: BTreeMap<String, String>,
    optional: BTreeMap<String, String>,
    conflicts: BTreeMap<String, super::model::ConflictRecord>,
}

impl Edges {
    /// Read from the canonical manifest the publish pipeline validated; a
    /// manifest that no longer parses (never stored so) declares none.
    fn of(manifest: &str) -> Edges {
        let Ok(m) = magflock_registry::Manifest::from_toml_str(manifest) else { return Edges::default() };
        let mut edges = Edges::default();
        for d in m.dependencies() {
            let map = if d.optional() { &mut edges.optional } else { &mut edges.required };
            map.insert(d.name().to_string(), d.req().to_string());
        }
        for c in m.conflicts() {
            edges.conflicts.insert(
                c.name().to_string(),
                super::model::ConflictRecord {
                    version: c.req().map(|r| r.to_string()),
                    reason: c.reason().to_owned(),
                },
            );
        }
        edges
    }
}

/// Sorts versions newest first by semantic version precedence (unparsable
/// ones, which the publish pipeline never stores, last).
pub(crate) fn sort_newest_first(versions: &mut [VersionRecord]) {
    versions.sort_by(|a, b| {
        let (a, b) = (semver::Version::parse(&a.version).ok(), semver::Version::parse(&b.version).ok());
        b.cmp(&a)
    });
}

impl RegistryStore {
    /// One version of an extension.
    pub async fn get_version(
        &self,
        extension: &str,
        version: &str,
    ) -> Result<Option<VersionRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE extension = $1 AND version = $2"
        )))
        .bind(extension)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    /// Every version of an extension, newest first.
    pub async fn list_versions(&self, extension: &str) -> Result<Vec<VersionRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE extension = $1"
        )))
        .bind(extension)
        .fetch_all(&self.pool)
        .await?;
        let mut versions = rows.iter().map(version_from_row).collect::<Result<Vec<_>, _>>()?;
        sort_newest_first(&mut versions);
        Ok(versions)
    }

    /// Whether any version row names this package digest.
    pub async fn sha256_referenced(&self, sha256: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM versions WHERE sha256 = $1")
            .bind(sha256)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// How many version rows exist (all extensions).
    pub async fn count_versions(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM versions").fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }

    /// Inserts a version in one transaction: the extension row is created on
    /// the first publish of a name (binding it to the publisher), refreshed
    /// when this version is the highest, and the version row is inserted.
    /// The unique key (extension, version) decides races: the loser gets
    /// [`InsertOutcome::Exists`] with the winner's row.
    pub async fn insert_version(&self, new: &NewVersion) -> Result<InsertOutcome, StoreError> {
        match self.try_insert_version(new).await {
            Ok(outcome) => Ok(outcome),
            Err(StoreError::Database(e)) if is_unique_violation(&e) => {
                match self.get_version(&new.extension, &new.version).await? {
                    Some(existing) => Ok(InsertOutcome::Exists(existing)),
                    None => Err(StoreError::Database(e)),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn try_insert_version(&self, new: &NewVersion) -> Result<InsertOutcome, StoreError> {
        let now = now_ms();
        let keywords = json_list(&new.keywords);
        let mut tx = self.pool.begin().await?;
        // A write first, so that SQLite takes its write lock before reading.
        sqlx::query(
            "INSERT INTO extensions (name, publisher, description, keywords, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&new.extension)
        .bind(&new.publisher)
        .bind(&new.description)
        .bind(&keywords)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let owner: String = sqlx::query("SELECT publisher FROM extensions WHERE name = $1")
            .bind(&new.extension)
            .fetch_one(&mut *tx)
            .await?
            .try_get("publisher")?;
        if owner != new.publisher {
            tx.rollback().await?;
            return Ok(InsertOutcome::NameOwnedBy(owner));
        }
        if let Some(existing) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE extension = $1 AND version = $2"
        )))
        .bind(&new.extension)
        .bind(&new.version)
        .fetch_optional(&mut *tx)
        .await?
        {
            let existing = version_from_row(&existing)?;
            tx.rollback().await?;
            return Ok(InsertOutcome::Exists(existing));
        }
        sqlx::query(
            "INSERT INTO versions (extension, version, package_id, sha256, component_sha256, \
             manifest_sha256, size, publisher, key_id, host_range, capabilities, manifest, \
             published_at, yanked) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0)",
        )
        .bind(&new.extension)
        .bind(&new.version)
        .bind(&new.package_id)
        .bind(&new.sha256)
        .bind(&new.component_sha256)
        .bind(&new.manifest_sha256)
        .bind(new.size)
        .bind(&new.publisher)
        .bind(&new.key_id)
        .bind(&new.host)
        .bind(json_list(&new.capabilities))
        .bind(&new.manifest)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // The listing shows the description and keywords of the highest version.
        let others: Vec<String> = sqlx::query("SELECT version FROM versions WHERE extension = $1")
            .bind(&new.extension)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.try_get("version"))
            .collect::<Result<_, _>>()?;
        let this = semver::Version::parse(&new.version).ok();
        let highest = others.iter().filter_map(|v| semver::Version::parse(v).ok()).max();
        if this.is_some() && this == highest {
            sqlx::query(
                "UPDATE extensions SET description = $2, keywords = $3, updated_at = $4 WHERE name = $1",
            )
            .bind(&new.extension)
            .bind(&new.description)
            .bind(&keywords)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE extension = $1 AND version = $2"
        )))
        .bind(&new.extension)
        .bind(&new.version)
        .fetch_one(&mut *tx)
        .await?;
        let record = version_from_row(&row)?;
        tx.commit().await?;
        Ok(InsertOutcome::Inserted(record))
    }

    /// Yanks a version (idempotent; the reason is replaced). `NotFound` if
    /// it does not exist; a revoked version stays as it is.
    pub async fn yank(
        &self,
        extension: &str,
        version: &str,
        reason: Option<&str>,
    ) -> Result<VersionRecord, StoreError> {
        sqlx::query(
            "UPDATE versions SET yanked = 1, yank_reason = $3 \
             WHERE extension = $1 AND version = $2 AND revoked_at IS NULL",
        )
        .bind(extension)
        .bind(version)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        self.get_version(extension, version)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("{extension}@{version} is not published")))
    }

    /// Un-yanks a version. `NotFound` if it does not exist; `Conflict` if it
    /// was revoked with its signing key (that is permanent).
    pub async fn unyank(&self, extension: &str, version: &str) -> Result<VersionRecord, StoreError> {
        sqlx::query(
            "UPDATE versions SET yanked = 0, yank_reason = NULL \
             WHERE extension = $1 AND version = $2 AND revoked_at IS NULL",
        )
        .bind(extension)
        .bind(version)
        .execute(&self.pool)
        .await?;
        let record = self
            .get_version(extension, version)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("{extension}@{version} is not published")))?;
        if record.revoked {
            return Err(StoreError::Conflict(format!(
                "{extension}@{version} was revoked with its signing key and cannot be un-yanked"
            )));
        }
        Ok(record)
    }
}

impl RegistryStore {
    /// The publisher an extension name is bound to, if it was ever published.
    pub async fn extension_owner(&self, extension: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT publisher FROM extensions WHERE name = $1")
            .bind(extension)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("publisher")).transpose()?)
    }
}
