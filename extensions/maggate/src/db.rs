//! The interface MagGate needs from its host: the project database and the
//! event bus. It mirrors the `database` and `events` capabilities of
//! `magflock:ext` (typed values, bound parameters, one statement per call,
//! the dialect reported, tables and columns described), so the component
//! glue is a thin adapter and the logic is tested natively against real
//! databases.
//!
//! Binding contract (what an implementation must do, as PostgREST relies on
//! from PostgreSQL): a [`Value::Text`] bound where the database expects
//! another type is parsed by the database as an untyped literal — on
//! PostgreSQL the parameter is sent with an unspecified type in text format,
//! so `'2024-01-01'` becomes a `timestamptz` or `'{"a":1}'` a `jsonb` as the
//! statement needs. MagGate converts a value itself only where the text form
//! is unambiguous (integers, floats, booleans, null), and writes a JSON
//! array for a PostgreSQL array column as an array literal (`{"a","b"}`).
//!
//! Reading, an implementation returns `json`/`jsonb` and arrays as
//! [`Value::Json`] (an array as a JSON array), `bytea`/`BLOB` as
//! [`Value::Blob`], and types without a variant (timestamps, uuids,
//! `numeric`) as their text form in [`Value::Text`].

use std::fmt;

/// The SQL dialect of the project database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A typed value, bound as a parameter or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Blob(Vec<u8>),
    /// JSON text (a `json`/`jsonb` value on PostgreSQL).
    Json(String),
}

/// One column as the database describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The type as the database reports it (`bigint`, `text`, `INTEGER`, ...).
    pub data_type: String,
    pub nullable: bool,
    pub primary_key: bool,
    pub has_default: bool,
}

/// One table (or view) the project may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
}

impl Table {
    /// The column named exactly `name`, if any.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// The rows a statement returned, columns in statement order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// A database error: `code` is a SQLSTATE (`23505`, `42703`, ...) when the
/// database gives one, empty otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    pub code: String,
    pub message: String,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.code.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} ({})", self.message, self.code)
        }
    }
}

impl std::error::Error for DbError {}

/// The project database: one statement per call, parameters always bound.
/// Grants (read-only, table lists) are enforced by the implementation.
pub trait Database {
    fn dialect(&self) -> Dialect;
    /// The tables the caller may use, with their columns in table order.
    fn describe(&self) -> Result<Vec<Table>, DbError>;
    /// Run one statement and return its rows (also used for
    /// `INSERT`/`UPDATE`/`DELETE ... RETURNING`).
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError>;
    /// Run one statement and return the number of rows it changed.
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError>;
}

/// The event bus.
pub trait Events {
    /// Publish `payloads` to `topic` as one event each: all are published,
    /// or none is.
    fn publish(&self, topic: &str, payloads: Vec<Vec<u8>>) -> Result<(), String>;
}
