//! Errors in PostgREST's shape: `{"code","message","details","hint"}` with an
//! HTTP status, using PostgREST's own codes where one exists
//! (<https://docs.postgrest.org/en/stable/references/errors.html>).

use serde_json::{Map, Value as Json};

use crate::db::DbError;

/// An error answered to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub details: Option<String>,
    pub hint: Option<String>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError { status, code: code.to_owned(), message: message.into(), details: None, hint: None }
    }

    pub fn details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// PGRST100: the query string could not be parsed.
    pub fn parse(what: &str, details: impl Into<String>) -> Self {
        ApiError::new(400, "PGRST100", format!("\"failed to parse {what}\"")).details(details)
    }

    /// PGRST127: a PostgREST feature MagGate does not implement.
    pub fn not_implemented(feature: &str) -> Self {
        ApiError::new(400, "PGRST127", "Feature not implemented")
            .details(format!("{feature} is not supported by MagGate"))
    }

    /// 42703: an unknown column in a filter, `select` or `order` (PostgREST
    /// passes PostgreSQL's own error through).
    pub fn unknown_column(table: &str, column: &str) -> Self {
        ApiError::new(400, "42703", format!("column {table}.{column} does not exist"))
    }

    /// PGRST204: an unknown column in a request body or `columns=`.
    pub fn unknown_body_column(table: &str, column: &str) -> Self {
        ApiError::new(
            400,
            "PGRST204",
            format!("Could not find the '{column}' column of '{table}' in the schema cache"),
        )
    }

    /// PGRST205: an unknown table.
    pub fn unknown_table(table: &str) -> Self {
        ApiError::new(404, "PGRST205", format!("Could not find the table '{table}' in the schema cache"))
    }

    /// Too large or too deep: a named limit was exceeded.
    pub fn limit(what: &str, limit: usize) -> Self {
        ApiError::new(400, "PGRST100", format!("\"failed to parse {what}\""))
            .details(format!("{what} exceeds the limit of {limit}"))
    }

    /// A database error, with PostgREST's mapping from SQLSTATE to status.
    pub fn from_db(err: &DbError) -> Self {
        let status = status_for_sqlstate(&err.code);
        let code = if err.code.is_empty() { "PGRST000" } else { err.code.as_str() };
        ApiError::new(status, code, err.message.clone())
    }

    /// The JSON body.
    pub fn to_json(&self) -> Json {
        let mut m = Map::new();
        m.insert("code".into(), Json::String(self.code.clone()));
        m.insert("message".into(), Json::String(self.message.clone()));
        m.insert("details".into(), self.details.clone().map_or(Json::Null, Json::String));
        m.insert("hint".into(), self.hint.clone().map_or(Json::Null, Json::String));
        Json::Object(m)
    }
}

/// PostgREST's table "SQLSTATE → HTTP status". An error without a code (a
/// database that gives none) is a 500: MagGate cannot tell the client's
/// fault from its own.
pub fn status_for_sqlstate(code: &str) -> u16 {
    match code {
        "" => 500,
        "23503" | "23505" => 409,
        "25006" => 405,
        "42883" | "42P01" => 404,
        "42P17" => 500,
        "42501" => 403,
        "P0001" => 400,
        _ => match code.get(..2).unwrap_or("") {
            "08" => 503,
            "09" | "25" | "2D" | "38" | "39" | "3B" | "40" | "55" | "57" | "58" | "F0" | "HV" | "P0"
            | "XX" => 500,
            "0L" | "0P" | "28" => 403,
            "53" => 503,
            "54" => 413,
            _ => 400,
        },
    }
}
