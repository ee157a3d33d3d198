//! The project database (`magflock:ext/database`, capability `database`).
//!
//! One statement per call, parameters always bound. Placeholders are `?1`,
//! `?2`, ... on SQLite and `$1`, `$2`, ... on PostgreSQL; [`dialect`] says
//! which. The manifest's grant decides what runs:
//!
//! ```toml
//! [capabilities.database]
//! access = "read-write"     # or "read"
//! tables = ["todos"]        # or ["*"] for every table of the project
//! ```
//!
//! A statement outside the grant fails with [`Error::Denied`] naming the
//! table or permission, and the host records a violation.

use crate::__bindings::magflock::ext::database as wit;

pub use wit::{Column, Error, Rows, SqlDialect as Dialect, Table, Value};

/// The SQL dialect of the project database.
pub fn dialect() -> Dialect {
    wit::dialect()
}

/// The tables this installation was granted, with their columns.
pub fn describe() -> Result<Vec<Table>, Error> {
    wit::describe()
}

/// Runs one statement and returns its rows (also for `INSERT`, `UPDATE`,
/// `DELETE` with `RETURNING`).
pub fn query(sql: &str, params: &[Value]) -> Result<Rows, Error> {
    wit::query(sql, params)
}

/// Runs one statement and returns how many rows it changed.
pub fn execute(sql: &str, params: &[Value]) -> Result<u64, Error> {
    wit::execute(sql, params)
}

impl Error {
    /// The SQLSTATE of a database error (`23505`, ...), empty otherwise.
    pub fn sqlstate(&self) -> &str {
        match self {
            Error::Constraint((code, _)) | Error::Failed((code, _)) => code,
            Error::Denied(_) => "42501",
            Error::Timeout => "57014",
            Error::Invalid(_) | Error::TooLarge(_) => "",
        }
    }

    /// A message safe to show to users.
    pub fn message(&self) -> String {
        match self {
            Error::Denied(m) => format!("permission denied: {m}"),
            Error::Invalid(m) | Error::TooLarge(m) => m.clone(),
            Error::Timeout => "the statement was cancelled: it ran past its time limit".into(),
            Error::Constraint((_, m)) | Error::Failed((_, m)) => m.clone(),
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Boolean(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
