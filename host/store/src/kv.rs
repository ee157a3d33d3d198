//! The key-value capability's data, scoped to (project, extension).
//!
//! Keys compare bytewise on both engines (SQLite's BINARY collation; the
//! PostgreSQL column is `COLLATE "C"`), so listings come back in the same
//! order everywhere and a prefix is a plain range scan over the primary key.
//! Size limits on keys and values belong to the capability that calls this.

use sqlx::Row;

use crate::db::Sql;
use crate::error::insert_error;
use crate::{Store, StoreError, clamp_limit, now_ms};

/// PostgreSQL TEXT cannot hold NUL, so no key may contain it on either engine.
fn key_is_storable(key: &str) -> bool {
    !key.contains('\0')
}

/// The smallest string greater than every string starting with `prefix`
/// (in code-point order, which is UTF-8 byte order), or `None` when no such
/// bound exists (empty prefix, or only `char::MAX`s).
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = u32::from(last) + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(next) = char::from_u32(next) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

impl Store {
    pub async fn kv_get(
        &self,
        project: &str,
        extension: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if !key_is_storable(key) {
            return Ok(None);
        }
        let row =
            sqlx::query("SELECT value FROM kv_entries WHERE project_id = $1 AND extension = $2 AND key = $3")
                .bind(project)
                .bind(extension)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|row| row.try_get("value")).transpose()?)
    }

    /// Inserts or replaces a value. `Invalid` for a key containing NUL,
    /// `NotFound` if the project does not exist.
    pub async fn kv_set(
        &self,
        project: &str,
        extension: &str,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        if !key_is_storable(key) {
            return Err(StoreError::Invalid(format!(
                "key-value key for extension {extension} in project {project} contains NUL"
            )));
        }
        sqlx::query(
            "INSERT INTO kv_entries (project_id, extension, key, value, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (project_id, extension, key) \
             DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(project)
        .bind(extension)
        .bind(key)
        .bind(value.to_vec())
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| insert_error(e, String::new, || format!("project {project}")))?;
        Ok(())
    }

    /// Deletes a key; `false` if it was not there.
    pub async fn kv_delete(&self, project: &str, extension: &str, key: &str) -> Result<bool, StoreError> {
        if !key_is_storable(key) {
            return Ok(false);
        }
        let done =
            sqlx::query("DELETE FROM kv_entries WHERE project_id = $1 AND extension = $2 AND key = $3")
                .bind(project)
                .bind(extension)
                .bind(key)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Keys starting with `prefix` (taken literally: `%` and `_` are plain
    /// characters), in byte order, at most `limit` (clamped to 1..=1000).
    pub async fn kv_list_keys(
        &self,
        project: &str,
        extension: &str,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        if !key_is_storable(prefix) {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new("SELECT key FROM kv_entries WHERE project_id = ");
        sql.bind_text(project)
            .push(" AND extension = ")
            .bind_text(extension)
            .push(" AND key >= ")
            .bind_text(prefix);
        if let Some(end) = prefix_successor(prefix) {
            sql.push(" AND key < ").bind_text(&end);
        }
        sql.push(" ORDER BY key LIMIT ").bind_int(clamp_limit(Some(limit)));
        let rows = sql.build().fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|row| row.try_get("key")).collect::<Result<_, _>>()?)
    }

    /// How many keys the extension stores in the project, and their size in
    /// bytes (UTF-8 key bytes plus value bytes), for quotas.
    pub async fn kv_usage(&self, project: &str, extension: &str) -> Result<(u64, u64), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS keys, \
             CAST(COALESCE(SUM(octet_length(key) + octet_length(value)), 0) AS BIGINT) AS bytes \
             FROM kv_entries WHERE project_id = $1 AND extension = $2",
        )
        .bind(project)
        .bind(extension)
        .fetch_one(&self.pool)
        .await?;
        let keys: i64 = row.try_get("keys")?;
        let bytes: i64 = row.try_get("bytes")?;
        Ok((u64::try_from(keys).unwrap_or_default(), u64::try_from(bytes).unwrap_or_default()))
    }

    /// Deletes every key of the extension in the project; returns how many.
    pub async fn kv_clear(&self, project: &str, extension: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM kv_entries WHERE project_id = $1 AND extension = $2")
            .bind(project)
            .bind(extension)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_successor;

    #[test]
    fn prefix_successor_bounds_exactly_the_prefixed_strings() {
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_successor("a%").as_deref(), Some("a&"));
        assert_eq!(prefix_successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
    }
}
