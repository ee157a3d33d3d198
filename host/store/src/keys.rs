//! Projects, their API keys, and the host's trusted package-signing keys.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;
use subtle::ConstantTimeEq;

use crate::error::{DbFailure, classify, insert_error};
use crate::{ApiKey, Project, Store, StoreError, TrustedKey, now_ms};

/// The longest project slug.
const MAX_PROJECT_ID_LEN: usize = 63;
/// Every API key secret starts with this.
const SECRET_PREFIX: &str = "mf_";
/// Hex characters in an API key id.
const KEY_ID_LEN: usize = 12;
/// Random bytes in an API key secret (43 characters of unpadded base64url).
const SECRET_RANDOM_BYTES: usize = 32;
const SECRET_RANDOM_LEN: usize = 43;
/// `mf_` + id + `_` + random part.
const SECRET_LEN: usize = SECRET_PREFIX.len() + KEY_ID_LEN + 1 + SECRET_RANDOM_LEN;
/// Fresh ids to try if a generated key id is already taken.
const KEY_ID_ATTEMPTS: usize = 3;

/// Whether `id` is a project slug: `[a-z][a-z0-9-]{0,62}`.
pub fn is_valid_project_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && id.len() <= MAX_PROJECT_ID_LEN
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

fn project_from_row(row: &AnyRow) -> Result<Project, sqlx::Error> {
    Ok(Project { id: row.try_get("id")?, created_at: row.try_get("created_at")? })
}

fn api_key_from_row(row: &AnyRow) -> Result<ApiKey, sqlx::Error> {
    Ok(ApiKey {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        label: row.try_get("label")?,
        prefix: row.try_get("prefix")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn trusted_key_from_row(row: &AnyRow) -> Result<TrustedKey, sqlx::Error> {
    Ok(TrustedKey {
        key_id: row.try_get("key_id")?,
        public_key: row.try_get("public_key")?,
        label: row.try_get("label")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn sha256_hex(data: &str) -> String {
    hex::encode(Sha256::digest(data.as_bytes()))
}

/// The key id inside a well-formed secret `mf_<12 hex>_<43 base64url>`.
fn parse_secret(secret: &str) -> Option<&str> {
    if secret.len() != SECRET_LEN {
        return None;
    }
    let rest = secret.strip_prefix(SECRET_PREFIX)?;
    let (id, rest) = rest.split_at_checked(KEY_ID_LEN)?;
    let random = rest.strip_prefix('_')?;
    let id_ok = id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let random_ok = random.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && random_ok).then_some(id)
}

const API_KEY_COLUMNS: &str = "id, project_id, label, prefix, created_at, revoked_at";

impl Store {
    /// Creates a project. Fails with `Invalid` for a bad slug and `Conflict`
    /// if it exists.
    pub async fn create_project(&self, id: &str) -> Result<Project, StoreError> {
        if !is_valid_project_id(id) {
            return Err(StoreError::Invalid(format!("project id `{id}` must match [a-z][a-z0-9-]{{0,62}}")));
        }
        let created_at = now_ms();
        sqlx::query("INSERT INTO projects (id, created_at) VALUES ($1, $2)")
            .bind(id)
            .bind(created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                insert_error(e, || format!("project {id} already exists"), || format!("project {id}"))
            })?;
        Ok(Project { id: id.to_owned(), created_at })
    }

    pub async fn get_project(&self, id: &str) -> Result<Option<Project>, StoreError> {
        let row = sqlx::query("SELECT id, created_at FROM projects WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(project_from_row).transpose()?)
    }

    /// Every project, by id.
    pub async fn list_projects(&self) -> Result<Vec<Project>, StoreError> {
        let rows =
            sqlx::query("SELECT id, created_at FROM projects ORDER BY id").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(project_from_row).collect::<Result<_, _>>()?)
    }

    /// Creates an API key for `project`. Returns the key and its secret; the
    /// secret is not stored (only its sha256) and cannot be shown again.
    pub async fn create_api_key(
        &self,
        project: &str,
        label: Option<&str>,
    ) -> Result<(ApiKey, String), StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut id_bytes = [0u8; KEY_ID_LEN / 2];
            let mut random = [0u8; SECRET_RANDOM_BYTES];
            rand::fill(&mut id_bytes);
            rand::fill(&mut random);
            let id = hex::encode(id_bytes);
            let prefix = format!("{SECRET_PREFIX}{id}");
            let secret = format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(random));
            let created_at = now_ms();
            let inserted = sqlx::query(
                "INSERT INTO api_keys (id, project_id, label, prefix, hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&id)
            .bind(project)
            .bind(label)
            .bind(&prefix)
            .bind(sha256_hex(&secret))
            .bind(created_at)
            .execute(&self.pool)
            .await;
            match inserted.map_err(classify) {
                Ok(_) => {
                    let key = ApiKey {
                        id,
                        project_id: project.to_owned(),
                        label: label.map(str::to_owned),
                        prefix,
                        created_at,
                        revoked_at: None,
                    };
                    return Ok((key, secret));
                }
                Err(DbFailure::Unique) if attempt < KEY_ID_ATTEMPTS => continue,
                Err(DbFailure::Unique) => {
                    return Err(StoreError::Conflict(format!(
                        "could not allocate an unused API key id for project {project}"
                    )));
                }
                Err(DbFailure::ForeignKey) => {
                    return Err(StoreError::NotFound(format!("project {project}")));
                }
                Err(DbFailure::Other(e)) => return Err(e.into()),
            }
        }
    }

    /// The project's keys, revoked ones included, oldest first.
    pub async fn list_api_keys(&self, project: &str) -> Result<Vec<ApiKey>, StoreError> {
        let sql = format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE project_id = $1 \
             ORDER BY created_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(project).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(api_key_from_row).collect::<Result<_, _>>()?)
    }

    /// Revokes a key of `project`. `false` if the project has no such key;
    /// revoking twice keeps the first revocation time.
    pub async fn revoke_api_key(&self, project: &str, key_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) \
             WHERE id = $1 AND project_id = $2",
        )
        .bind(key_id)
        .bind(project)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The live key `secret` belongs to, or `None` if the secret is malformed,
    /// unknown, wrong or revoked. The hash comparison is constant-time.
    pub async fn authenticate_api_key(&self, secret: &str) -> Result<Option<ApiKey>, StoreError> {
        let Some(id) = parse_secret(secret) else {
            return Ok(None);
        };
        let sql = format!("SELECT {API_KEY_COLUMNS}, hash FROM api_keys WHERE id = $1");
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?
        else {
            return Ok(None);
        };
        let stored: String = row.try_get("hash")?;
        let presented = sha256_hex(secret);
        if !bool::from(presented.as_bytes().ct_eq(stored.as_bytes())) {
            return Ok(None);
        }
        let key = api_key_from_row(&row)?;
        Ok(key.revoked_at.is_none().then_some(key))
    }

    /// Trusts a package-signing key. `Conflict` if `key_id` is already known
    /// (revoked or not: key ids are never reused).
    pub async fn add_trusted_key(
        &self,
        key_id: &str,
        public_key: &str,
        label: Option<&str>,
    ) -> Result<TrustedKey, StoreError> {
        let created_at = now_ms();
        sqlx::query(
            "INSERT INTO trusted_keys (key_id, public_key, label, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(key_id)
        .bind(public_key)
        .bind(label)
        .bind(created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            insert_error(
                e,
                || format!("trusted key {key_id} already exists"),
                || format!("trusted key {key_id}"),
            )
        })?;
        Ok(TrustedKey {
            key_id: key_id.to_owned(),
            public_key: public_key.to_owned(),
            label: label.map(str::to_owned),
            created_at,
            revoked_at: None,
        })
    }

    /// Revokes a trusted key. `false` if unknown; revoking twice keeps the
    /// first revocation time.
    pub async fn revoke_trusted_key(&self, key_id: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE trusted_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE key_id = $1")
                .bind(key_id)
                .bind(now_ms())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// One trusted key, revoked or not (check `revoked_at`).
    pub async fn get_trusted_key(&self, key_id: &str) -> Result<Option<TrustedKey>, StoreError> {
        let row = sqlx::query(
            "SELECT key_id, public_key, label, created_at, revoked_at \
             FROM trusted_keys WHERE key_id = $1",
        )
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(trusted_key_from_row).transpose()?)
    }

    /// Every trusted key, revoked ones included, by id.
    pub async fn list_trusted_keys(&self) -> Result<Vec<TrustedKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_id, public_key, label, created_at, revoked_at \
             FROM trusted_keys ORDER BY key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(trusted_key_from_row).collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_slugs() {
        assert!(is_valid_project_id("a"));
        assert!(is_valid_project_id("demo-1"));
        assert!(is_valid_project_id(&format!("a{}", "b".repeat(62))));
        assert!(!is_valid_project_id(&format!("a{}", "b".repeat(63))));
        assert!(!is_valid_project_id(""));
        assert!(!is_valid_project_id("1abc"));
        assert!(!is_valid_project_id("Demo"));
        assert!(!is_valid_project_id("de_mo"));
    }

    #[test]
    fn secret_parsing_is_strict() {
        let good = format!("mf_0123456789ab_{}", "A".repeat(43));
        assert_eq!(parse_secret(&good), Some("0123456789ab"));
        assert_eq!(parse_secret(&good.replace("mf_", "mg_")), None);
        assert_eq!(parse_secret(&good.replace("0123", "ABCD")), None);
        assert_eq!(parse_secret(&format!("{good}A")), None);
        assert_eq!(parse_secret(&good.replace("ab_", "abX")), None);
        assert_eq!(parse_secret(&format!("mf_0123456789ab_{}", "é".repeat(21) + "A")), None);
        assert_eq!(parse_secret(""), None);
    }
}
