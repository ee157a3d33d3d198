//! The MagGate component: [`Database`] over the host's `database`
//! capability, a `wasi:http` handler through the SDK, and [`Events`] over
//! the `events` capability (change events on [`crate::CHANGES_TOPIC`]).

use magflock_sdk::database as host;
use magflock_sdk::prelude::*;

use crate::{Column, Database, DbError, Dialect, Events, HttpRequest, Options, Rows, Table, Value};

/// The project database, through the host.
struct HostDatabase;

fn to_host(v: &Value) -> host::Value {
    match v {
        Value::Null => host::Value::Null,
        Value::Bool(b) => host::Value::Boolean(*b),
        Value::Int(i) => host::Value::Integer(*i),
        Value::Float(f) => host::Value::Float(*f),
        Value::Text(s) => host::Value::Text(s.clone()),
        Value::Blob(b) => host::Value::Blob(b.clone()),
        Value::Json(s) => host::Value::Json(s.clone()),
    }
}

fn from_host(v: host::Value) -> Value {
    match v {
        host::Value::Null => Value::Null,
        host::Value::Boolean(b) => Value::Bool(b),
        host::Value::Integer(i) => Value::Int(i),
        host::Value::Float(f) => Value::Float(f),
        host::Value::Text(s) => Value::Text(s),
        host::Value::Blob(b) => Value::Blob(b),
        host::Value::Json(s) => Value::Json(s),
    }
}

fn db_error(e: host::Error) -> DbError {
    DbError { code: e.sqlstate().to_owned(), message: e.message() }
}

fn params(values: &[Value]) -> Vec<host::Value> {
    values.iter().map(to_host).collect()
}

impl Database for HostDatabase {
    fn dialect(&self) -> Dialect {
        match host::dialect() {
            host::Dialect::Sqlite => Dialect::Sqlite,
            host::Dialect::Postgres => Dialect::Postgres,
        }
    }

    fn describe(&self) -> Result<Vec<Table>, DbError> {
        let tables = host::describe().map_err(db_error)?;
        Ok(tables
            .into_iter()
            .map(|t| Table {
                name: t.name,
                columns: t
                    .columns
                    .into_iter()
                    .map(|c| Column {
                        name: c.name,
                        data_type: c.data_type,
                        nullable: c.nullable,
                        primary_key: c.primary_key,
                        has_default: c.has_default,
                    })
                    .collect(),
            })
            .collect())
    }

    fn query(&self, sql: &str, values: &[Value]) -> Result<Rows, DbError> {
        let rows = host::query(sql, &params(values)).map_err(db_error)?;
        Ok(Rows {
            columns: rows.columns,
            rows: rows.rows.into_iter().map(|r| r.into_iter().map(from_host).collect()).collect(),
        })
    }

    fn execute(&self, sql: &str, values: &[Value]) -> Result<u64, DbError> {
        host::execute(sql, &params(values)).map_err(db_error)
    }
}

/// Change events, through the host's `events` capability.
struct HostEvents;

impl Events for HostEvents {
    fn publish(&self, topic: &str, payloads: Vec<Vec<u8>>) -> Result<(), String> {
        magflock_sdk::events::publish_batch(topic, &payloads).map(drop).map_err(|e| format!("{e:?}"))
    }
}

/// `bytes` as text, invalid UTF-8 replaced with U+FFFD; valid UTF-8 is
/// taken as it is, without a copy.
fn utf8_lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

struct MagGate;

impl Extension for MagGate {
    fn handle(req: Request) -> Response {
        let method = req.method().to_owned();
        let path = req.path().to_owned();
        let query = req.query().to_owned();
        // Headers and body are moved, not copied.
        let (headers, body) = req.into_headers_and_body();
        let http = HttpRequest {
            method,
            path,
            query,
            headers: headers.into_iter().map(|(k, v)| (k, utf8_lossy(v))).collect(),
            body,
        };
        let out = crate::handle_with(&HostDatabase, &HostEvents, http, &Options::default());
        let mut resp = Response::new(out.status);
        for (k, v) in out.headers {
            resp = resp.append_header(k, v);
        }
        resp.with_body(out.body)
    }
}

magflock_sdk::export!(MagGate);
