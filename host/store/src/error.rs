//! The store's error type.

/// Everything a store call can fail with.
///
/// `Display` never contains SQL text or bound values, so callers may log it;
/// the HTTP layer maps [`StoreError::code`] to a response and keeps the
/// message for its logs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row already exists (a unique key or the one-live-installation rule).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row the call depends on does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database failed or is unreachable, or a stored value could not be decoded.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema migrations failed to apply.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The caller passed a value the store refuses (a bad slug, an unknown URL scheme...).
    #[error("invalid: {0}")]
    Invalid(String),
}

impl StoreError {
    /// A stable, machine-readable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Conflict(_) => "conflict",
            StoreError::NotFound(_) => "not_found",
            StoreError::Database(_) | StoreError::Migrate(_) => "database_unavailable",
            StoreError::Invalid(_) => "invalid",
        }
    }

    /// A decode failure for a value read back from the database.
    pub fn decode(what: impl Into<String>) -> StoreError {
        StoreError::Database(sqlx::Error::Decode(what.into().into()))
    }
}

/// What a failed statement means once unique and foreign-key violations are
/// told apart from other failures.
pub(crate) enum DbFailure {
    Unique,
    ForeignKey,
    Other(sqlx::Error),
}

pub(crate) fn classify(err: sqlx::Error) -> DbFailure {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => DbFailure::Unique,
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => DbFailure::ForeignKey,
        _ => DbFailure::Other(err),
    }
}

/// Maps a failed write: a unique violation becomes `Conflict(conflict())`, a
/// foreign-key violation `NotFound(missing())`, anything else `Database`.
pub(crate) fn insert_error(
    err: sqlx::Error,
    conflict: impl FnOnce() -> String,
    missing: impl FnOnce() -> String,
) -> StoreError {
    match classify(err) {
        DbFailure::Unique => StoreError::Conflict(conflict()),
        DbFailure::ForeignKey => StoreError::NotFound(missing()),
        DbFailure::Other(err) => StoreError::Database(err),
    }
}

impl From<crate::db::ConnectError> for StoreError {
    fn from(e: crate::db::ConnectError) -> Self {
        match e {
            crate::db::ConnectError::Invalid(why) => StoreError::Invalid(why),
            crate::db::ConnectError::Database(e) => StoreError::Database(e),
            crate::db::ConnectError::Migrate(e) => StoreError::Migrate(e),
        }
    }
}
