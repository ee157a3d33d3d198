//! Hosts, the installations they report, and the ratings their projects give.

use sqlx::Row;

use super::{Host, Rating, RegistryStore, StoreError, is_unique_violation, now_ms};

impl RegistryStore {
    /// Registers a host with the sha256 hex of its token. `Conflict` if the
    /// name is taken.
    pub async fn create_host(&self, name: &str, token_hash: &str) -> Result<Host, StoreError> {
        let created_at = now_ms();
        sqlx::query("INSERT INTO hosts (name, token_hash, created_at) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(token_hash)
            .bind(created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| match e {
                e if is_unique_violation(&e) => StoreError::Conflict(format!("host `{name}` exists")),
                e => StoreError::Database(e),
            })?;
        Ok(Host { name: name.to_owned(), created_at })
    }

    /// Creates the host or replaces its token hash (the old token stops
    /// working at once).
    pub async fn set_host_token(&self, name: &str, token_hash: &str) -> Result<Host, StoreError> {
        let created_at = now_ms();
        sqlx::query(
            "INSERT INTO hosts (name, token_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash",
        )
        .bind(name)
        .bind(token_hash)
        .bind(created_at)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT name, created_at FROM hosts WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(Host { name: row.try_get("name")?, created_at: row.try_get("created_at")? })
    }

    /// The host whose token hashes to `token_hash`. The token is 256 random
    /// bits, so looking its hash up by equality leaks nothing useful.
    pub async fn host_by_token_hash(&self, token_hash: &str) -> Result<Option<Host>, StoreError> {
        let row = sqlx::query("SELECT name, created_at FROM hosts WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok(Host { name: row.try_get("name")?, created_at: row.try_get("created_at")? }))
            .transpose()
    }

    /// Records that `project` on `host` has (or no longer has) an active
    /// installation of `extension`. `NotFound` if the extension is unknown.
    pub async fn report_installation(
        &self,
        host: &str,
        project: &str,
        extension: &str,
        version: &str,
        active: bool,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO installations (host, project, extension, version, active, created_at, updated_at) \
             SELECT $1, $2, name, $4, $5, $6, $6 FROM extensions WHERE name = $3 \
             ON CONFLICT (host, project, extension) \
             DO UPDATE SET version = excluded.version, active = excluded.active, updated_at = excluded.updated_at",
        )
        .bind(host)
        .bind(project)
        .bind(extension)
        .bind(version)
        .bind(i64::from(active))
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("extension `{extension}` is not published")));
        }
        Ok(())
    }

    /// Whether `project` on `host` has an active installation of `extension`.
    pub async fn has_active_installation(
        &self,
        host: &str,
        project: &str,
        extension: &str,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM installations \
             WHERE host = $1 AND project = $2 AND extension = $3 AND active = 1",
        )
        .bind(host)
        .bind(project)
        .bind(extension)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Sets the one rating of (`host`, `project`) for `extension`.
    pub async fn upsert_rating(
        &self,
        host: &str,
        project: &str,
        extension: &str,
        stars: i64,
        review: Option<&str>,
    ) -> Result<Rating, StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO ratings (host, project, extension, stars, review, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (host, project, extension) \
             DO UPDATE SET stars = excluded.stars, review = excluded.review, updated_at = excluded.updated_at",
        )
        .bind(host)
        .bind(project)
        .bind(extension)
        .bind(stars)
        .bind(review)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(Rating {
            project_ref: format!("{host}/{project}"),
            stars,
            review: review.map(str::to_owned),
            updated_at: now,
        })
    }

    /// Deletes a rating; whether there was one.
    pub async fn delete_rating(
        &self,
        host: &str,
        project: &str,
        extension: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM ratings WHERE host = $1 AND project = $2 AND extension = $3")
            .bind(host)
            .bind(project)
            .bind(extension)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The ratings of an extension, newest first.
    pub async fn list_ratings(&self, extension: &str) -> Result<Vec<Rating>, StoreError> {
        let rows = sqlx::query(
            "SELECT host, project, stars, review, updated_at FROM ratings WHERE extension = $1 \
             ORDER BY updated_at DESC, host, project",
        )
        .bind(extension)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let host: String = row.try_get("host")?;
                let project: String = row.try_get("project")?;
                Ok(Rating {
                    project_ref: format!("{host}/{project}"),
                    stars: row.try_get("stars")?,
                    review: row.try_get("review")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }
}
