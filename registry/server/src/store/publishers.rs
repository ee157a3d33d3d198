//! Publishers and their signing keys: register, rotate, revoke.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{
    Publisher, PublisherKey, RegistryStore, RevocationReason, StoreError, is_unique_violation, now_ms,
};

const KEY_COLUMNS: &str =
    "key_id, publisher, public_key, created_at, revoked_at, revocation_reason, revocation_note";

fn key_from_row(row: &AnyRow) -> Result<PublisherKey, StoreError> {
    let reason: Option<String> = row.try_get("revocation_reason")?;
    let revocation_reason = match reason {
        None => None,
        Some(r) => Some(
            RevocationReason::parse(&r)
                .ok_or_else(|| StoreError::decode(format!("unknown revocation reason `{r}`")))?,
        ),
    };
    Ok(PublisherKey {
        key_id: row.try_get("key_id")?,
        publisher: row.try_get("publisher")?,
        public_key: row.try_get("public_key")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        revocation_reason,
        revocation_note: row.try_get("revocation_note")?,
    })
}

/// What a revocation changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub key: PublisherKey,
    /// Versions newly marked revoked (only for `compromised`).
    pub versions_revoked: u64,
}

impl RegistryStore {
    /// Registers a publisher. `Conflict` if the name is taken.
    pub async fn create_publisher(
        &self,
        name: &str,
        display_name: Option<&str>,
    ) -> Result<Publisher, StoreError> {
        let created_at = now_ms();
        sqlx::query("INSERT INTO publishers (name, display_name, created_at) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(display_name)
            .bind(created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| match e {
                e if is_unique_violation(&e) => StoreError::Conflict(format!("publisher `{name}` exists")),
                e => StoreError::Database(e),
            })?;
        Ok(Publisher {
            name: name.to_owned(),
            display_name: display_name.map(str::to_owned),
            created_at,
            keys: Vec::new(),
        })
    }

    /// All publishers with their keys, by name.
    pub async fn list_publishers(&self) -> Result<Vec<Publisher>, StoreError> {
        let rows = sqlx::query("SELECT name, display_name, created_at FROM publishers ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        let keys = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM publisher_keys ORDER BY created_at, key_id"
        )))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(key_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        rows.iter()
            .map(|row| {
                let name: String = row.try_get("name")?;
                Ok(Publisher {
                    keys: keys.iter().filter(|k| k.publisher == name).cloned().collect(),
                    display_name: row.try_get("display_name")?,
                    created_at: row.try_get("created_at")?,
                    name,
                })
            })
            .collect()
    }

    /// One publisher with its keys.
    pub async fn get_publisher(&self, name: &str) -> Result<Option<Publisher>, StoreError> {
        let Some(row) = sqlx::query("SELECT name, display_name, created_at FROM publishers WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let keys = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM publisher_keys WHERE publisher = $1 ORDER BY created_at, key_id"
        )))
        .bind(name)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(key_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Publisher {
            name: row.try_get("name")?,
            display_name: row.try_get("display_name")?,
            created_at: row.try_get("created_at")?,
            keys,
        }))
    }

    /// A key by id, whoever it belongs to.
    pub async fn get_key(&self, key_id: &str) -> Result<Option<PublisherKey>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM publisher_keys WHERE key_id = $1"
        )))
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    /// Registers a key for a publisher. `NotFound` if the publisher does not
    /// exist; `Conflict` if the key id is registered to anyone already.
    pub async fn add_key(
        &self,
        publisher: &str,
        key_id: &str,
        public_key: &str,
    ) -> Result<PublisherKey, StoreError> {
        let mut tx = self.pool.begin().await?;
        let key = insert_key(&mut tx, publisher, key_id, public_key).await?;
        tx.commit().await?;
        Ok(key)
    }

    /// Revokes a key of `publisher`. A key revoked as `rotated` may be revoked
    /// again as `compromised` (a later discovery); anything else on a revoked
    /// key is a `Conflict`. With `compromised`, every version the key signed
    /// is marked revoked in the same transaction.
    pub async fn revoke_key(
        &self,
        publisher: &str,
        key_id: &str,
        reason: RevocationReason,
        note: Option<&str>,
    ) -> Result<Revocation, StoreError> {
        let mut tx = self.pool.begin().await?;
        let revocation = revoke_in(&mut tx, publisher, key_id, reason, note).await?;
        tx.commit().await?;
        Ok(revocation)
    }

    /// Adds `new_key` and revokes `old_key_id` as `rotated`, atomically.
    pub async fn rotate_key(
        &self,
        publisher: &str,
        new_key_id: &str,
        new_public_key: &str,
        old_key_id: &str,
    ) -> Result<(PublisherKey, Revocation), StoreError> {
        let mut tx = self.pool.begin().await?;
        let revocation = revoke_in(&mut tx, publisher, old_key_id, RevocationReason::Rotated, None).await?;
        let key = insert_key(&mut tx, publisher, new_key_id, new_public_key).await?;
        tx.commit().await?;
        Ok((key, revocation))
    }
}

async fn insert_key(
    tx: &mut Transaction<'static, Any>,
    publisher: &str,
    key_id: &str,
    public_key: &str,
) -> Result<PublisherKey, StoreError> {
    let created_at = now_ms();
    // The write comes first so SQLite takes the write lock before any read.
    let inserted = sqlx::query(
        "INSERT INTO publisher_keys (key_id, publisher, public_key, created_at) \
         SELECT $1, name, $3, $4 FROM publishers WHERE name = $2",
    )
    .bind(key_id)
    .bind(publisher)
    .bind(public_key)
    .bind(created_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| match e {
        e if is_unique_violation(&e) => StoreError::Conflict(format!("key {key_id} is already registered")),
        e => StoreError::Database(e),
    })?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("publisher `{publisher}` does not exist")));
    }
    Ok(PublisherKey {
        key_id: key_id.to_owned(),
        publisher: publisher.to_owned(),
        public_key: public_key.to_owned(),
        created_at,
        revoked_at: None,
        revocation_reason: None,
        revocation_note: None,
    })
}

async fn revoke_in(
    tx: &mut Transaction<'static, Any>,
    publisher: &str,
    key_id: &str,
    reason: RevocationReason,
    note: Option<&str>,
) -> Result<Revocation, StoreError> {
    let now = now_ms();
    // A rotated key keeps its first revocation time when it is later found compromised.
    let updated = sqlx::query(
        "UPDATE publisher_keys SET revoked_at = COALESCE(revoked_at, $3), revocation_reason = $4, \
         revocation_note = COALESCE($5, revocation_note) \
         WHERE key_id = $1 AND publisher = $2 \
         AND (revoked_at IS NULL OR ($4 = 'compromised' AND revocation_reason = 'rotated'))",
    )
    .bind(key_id)
    .bind(publisher)
    .bind(now)
    .bind(reason.as_str())
    .bind(note)
    .execute(&mut **tx)
    .await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM publisher_keys WHERE key_id = $1 AND publisher = $2"
    )))
    .bind(key_id)
    .bind(publisher)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Err(StoreError::NotFound(format!("publisher `{publisher}` has no key {key_id}")));
    };
    let key = key_from_row(&row)?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!(
            "key {key_id} is already revoked ({})",
            key.revocation_reason.map_or("unknown", RevocationReason::as_str)
        )));
    }
    let mut versions_revoked = 0;
    if reason == RevocationReason::Compromised {
        let reason_text = format!("signing key {key_id} was revoked as compromised");
        versions_revoked = sqlx::query(
            "UPDATE versions SET yanked = 1, yank_reason = $2, revoked_at = $3 \
             WHERE key_id = $1 AND revoked_at IS NULL",
        )
        .bind(key_id)
        .bind(reason_text)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    Ok(Revocation { key, versions_revoked })
}
