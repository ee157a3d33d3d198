//! Real databases behind MagGate's `Database` trait, for the tests: SQLite
//! (rusqlite, bundled) and PostgreSQL (a throwaway database per test on the
//! server `MAGFLOCK_TEST_PG_URL` names), plus a recording event bus.
#![allow(dead_code)]

pub mod suite;

use std::cell::RefCell;
use std::error::Error;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::BytesMut;
use maggate::{Column, Database, DbError, Dialect, Events, HttpRequest, HttpResponse, Rows, Table, Value};
use postgres::types::{Format, IsNull, ToSql, Type};

/// The tables every test starts from.
pub const SQLITE_SCHEMA: &str = include_str!("../../compat/schema-sqlite.sql");

pub const PG_SCHEMA: &str = include_str!("../../compat/schema-postgres.sql");

/// Rows both dialects accept as written.
/// Rows both dialects accept as written.
pub const SEED: &str = include_str!("../../compat/seed.sql");

// ---------------------------------------------------------------- SQLite

pub struct SqliteDb {
    conn: rusqlite::Connection,
}

impl SqliteDb {
    pub fn seeded() -> Self {
        let conn = rusqlite::Connection::open_in_memory().expect("open sqlite");
        conn.execute_batch(SQLITE_SCHEMA).expect("schema");
        conn.execute_batch(SEED).expect("seed");
        SqliteDb { conn }
    }

    fn err(e: rusqlite::Error) -> DbError {
        let code = match &e {
            rusqlite::Error::SqliteFailure(f, _) => match f.extended_code {
                2067 | 1555 => "23505",
                1299 => "23502",
                787 => "23503",
                275 => "23514",
                _ => "",
            },
            _ => "",
        };
        DbError { code: code.to_owned(), message: e.to_string() }
    }

    fn prepare<'c>(&'c self, sql: &str, params: &[Value]) -> Result<rusqlite::Statement<'c>, DbError> {
        let mut st = self.conn.prepare(sql).map_err(Self::err)?;
        assert_eq!(st.parameter_count(), params.len(), "placeholders vs parameters in {sql}");
        for (i, p) in params.iter().enumerate() {
            let v = match p {
                Value::Null => rusqlite::types::Value::Null,
                Value::Bool(b) => rusqlite::types::Value::Integer(i64::from(*b)),
                Value::Int(i) => rusqlite::types::Value::Integer(*i),
                Value::Float(f) => rusqlite::types::Value::Real(*f),
                Value::Text(s) | Value::Json(s) => rusqlite::types::Value::Text(s.clone()),
                Value::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
            };
            st.raw_bind_parameter(i + 1, v).map_err(Self::err)?;
        }
        Ok(st)
    }
}

impl Database for SqliteDb {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn describe(&self) -> Result<Vec<Table>, DbError> {
        let mut st = self
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type IN ('table','view') AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .map_err(Self::err)?;
        let names: Vec<String> = st
            .query_map([], |r| r.get(0))
            .map_err(Self::err)?
            .collect::<Result<_, _>>()
            .map_err(Self::err)?;
        let mut tables = Vec::new();
        for name in names {
            let mut st = self
                .conn
                .prepare(
                    "SELECT name, type, \"notnull\", dflt_value IS NOT NULL, pk FROM pragma_table_info(?1)",
                )
                .map_err(Self::err)?;
            let columns = st
                .query_map([&name], |r| {
                    Ok(Column {
                        name: r.get(0)?,
                        data_type: r.get(1)?,
                        nullable: r.get::<_, i64>(2)? == 0,
                        has_default: r.get(3)?,
                        primary_key: r.get::<_, i64>(4)? > 0,
                    })
                })
                .map_err(Self::err)?
                .collect::<Result<_, _>>()
                .map_err(Self::err)?;
            tables.push(Table { name, columns });
        }
        Ok(tables)
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        let mut st = self.prepare(sql, params)?;
        let columns: Vec<String> = st.column_names().iter().map(|s| s.to_string()).collect();
        let n = columns.len();
        let mut out = Rows { columns, rows: Vec::new() };
        let mut rows = st.raw_query();
        while let Some(r) = rows.next().map_err(Self::err)? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                use rusqlite::types::ValueRef;
                row.push(match r.get_ref(i).map_err(Self::err)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Int(i),
                    ValueRef::Real(f) => Value::Float(f),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            out.rows.push(row);
        }
        Ok(out)
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let mut st = self.prepare(sql, params)?;
        st.raw_execute().map(|n| n as u64).map_err(Self::err)
    }
}

// ------------------------------------------------------------ PostgreSQL

/// Every parameter goes as text of an unspecified type, which PostgreSQL
/// parses as the statement needs: the binding contract of `maggate::db`.
#[derive(Debug)]
struct TextParam(Option<String>);

impl ToSql for TextParam {
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match &self.0 {
            None => Ok(IsNull::Yes),
            Some(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    postgres::types::to_sql_checked!();
}

/// The host's binding (`TextParam` in the host's database capability,
/// `postgres.rs`), kept the same here so these tests bind as the host does.
fn text_param(v: &Value) -> TextParam {
    TextParam(match v {
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) if f.is_nan() => Some("NaN".into()),
        Value::Float(f) if f.is_infinite() => Some(if *f > 0.0 { "Infinity" } else { "-Infinity" }.into()),
        Value::Float(f) => Some(format!("{f:?}")),
        Value::Text(s) | Value::Json(s) => Some(s.clone()),
        Value::Blob(b) => Some(format!("\\x{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>())),
    })
}

static PG_DB_SEQ: AtomicU32 = AtomicU32::new(0);

pub struct PgDb {
    client: RefCell<Option<postgres::Client>>,
    admin_url: String,
    dbname: String,
}

impl PgDb {
    /// A fresh database on the server `MAGFLOCK_TEST_PG_URL` names, with
    /// the schema and seed rows; `None` when the variable is not set.
    pub fn seeded() -> Option<Self> {
        let admin_url = std::env::var("MAGFLOCK_TEST_PG_URL").ok().filter(|s| !s.is_empty())?;
        let dbname =
            format!("maggate_test_{}_{}", std::process::id(), PG_DB_SEQ.fetch_add(1, Ordering::SeqCst));
        let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).expect("connect admin");
        admin.batch_execute(&format!("CREATE DATABASE {dbname}")).expect("create database");
        let mut cfg: postgres::Config = admin_url.parse().expect("url");
        cfg.dbname(&dbname);
        let mut client = cfg.connect(postgres::NoTls).expect("connect test database");
        client.batch_execute(PG_SCHEMA).expect("schema");
        client.batch_execute(SEED).expect("seed");
        Some(PgDb { client: RefCell::new(Some(client)), admin_url, dbname })
    }

    fn err(e: postgres::Error) -> DbError {
        match e.as_db_error() {
            Some(d) => DbError { code: d.code().code().to_owned(), message: d.message().to_owned() },
            None => DbError { code: String::new(), message: e.to_string() },
        }
    }

    fn run(&self, sql: &str, params: &[Value]) -> Result<Vec<postgres::Row>, DbError> {
        let ps: Vec<TextParam> = params.iter().map(text_param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let mut guard = self.client.borrow_mut();
        let client = guard.as_mut().expect("client");
        client.query(sql, &refs).map_err(Self::err)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        self.client.borrow_mut().take();
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.dbname));
        }
    }
}

fn pg_value(row: &postgres::Row, i: usize) -> Result<Value, DbError> {
    let ty = row.columns()[i].type_().clone();
    let e = |e: postgres::Error| PgDb::err(e);
    Ok(if ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(i).map_err(e)?.map_or(Value::Null, Value::Bool)
    } else if ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(i).map_err(e)?.map_or(Value::Null, |v| Value::Int(v.into()))
    } else if ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i).map_err(e)?.map_or(Value::Null, |v| Value::Int(v.into()))
    } else if ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i).map_err(e)?.map_or(Value::Null, Value::Int)
    } else if ty == Type::FLOAT4 {
        row.try_get::<_, Option<f32>>(i).map_err(e)?.map_or(Value::Null, |v| Value::Float(v.into()))
    } else if ty == Type::FLOAT8 {
        row.try_get::<_, Option<f64>>(i).map_err(e)?.map_or(Value::Null, Value::Float)
    } else if ty == Type::JSON || ty == Type::JSONB {
        row.try_get::<_, Option<serde_json::Value>>(i)
            .map_err(e)?
            .map_or(Value::Null, |v| Value::Json(v.to_string()))
    } else if ty == Type::TEXT_ARRAY {
        row.try_get::<_, Option<Vec<Option<String>>>>(i)
            .map_err(e)?
            .map_or(Value::Null, |v| Value::Json(serde_json::json!(v).to_string()))
    } else if ty == Type::INT4_ARRAY {
        row.try_get::<_, Option<Vec<Option<i32>>>>(i)
            .map_err(e)?
            .map_or(Value::Null, |v| Value::Json(serde_json::json!(v).to_string()))
    } else if ty == Type::BYTEA {
        row.try_get::<_, Option<Vec<u8>>>(i).map_err(e)?.map_or(Value::Null, Value::Blob)
    } else {
        row.try_get::<_, Option<String>>(i).map_err(e)?.map_or(Value::Null, Value::Text)
    })
}

const PG_DESCRIBE: &str = r#"
SELECT c.table_name::text, c.column_name::text, c.data_type::text, c.is_nullable = 'YES',
       c.column_default IS NOT NULL OR c.is_identity = 'YES',
       EXISTS (SELECT 1 FROM information_schema.table_constraints tc
               JOIN information_schema.key_column_usage k
                 ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema
                AND k.table_name = tc.table_name
              WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = c.table_schema
                AND tc.table_name = c.table_name AND k.column_name = c.column_name)
  FROM information_schema.columns c
 WHERE c.table_schema = current_schema()
 ORDER BY c.table_name, c.ordinal_position
"#;

impl Database for PgDb {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn describe(&self) -> Result<Vec<Table>, DbError> {
        let mut tables: Vec<Table> = Vec::new();
        for r in self.run(PG_DESCRIBE, &[])? {
            let table: String = r.get(0);
            let column = Column {
                name: r.get(1),
                data_type: r.get(2),
                nullable: r.get(3),
                has_default: r.get(4),
                primary_key: r.get(5),
            };
            match tables.last_mut() {
                Some(t) if t.name == table => t.columns.push(column),
                _ => tables.push(Table { name: table, columns: vec![column] }),
            }
        }
        Ok(tables)
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        let rows = self.run(sql, params)?;
        let mut out = Rows::default();
        if let Some(first) = rows.first() {
            out.columns = first.columns().iter().map(|c| c.name().to_owned()).collect();
        }
        for r in &rows {
            out.rows.push((0..r.len()).map(|i| pg_value(r, i)).collect::<Result<_, _>>()?);
        }
        Ok(out)
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let ps: Vec<TextParam> = params.iter().map(text_param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let mut guard = self.client.borrow_mut();
        guard.as_mut().expect("client").execute(sql, &refs).map_err(Self::err)
    }
}

// ---------------------------------------------------------------- events

/// Records every published event; refuses them all when `fail` is set.
#[derive(Default)]
pub struct Recorder {
    pub events: RefCell<Vec<(String, serde_json::Value)>>,
    /// How many `publish` calls (batches) were made.
    pub batches: std::cell::Cell<usize>,
    pub fail: bool,
}

impl Events for Recorder {
    fn publish(&self, topic: &str, payloads: Vec<Vec<u8>>) -> Result<(), String> {
        self.batches.set(self.batches.get() + 1);
        if self.fail {
            return Err("the bus is down".into());
        }
        for payload in payloads {
            let json = serde_json::from_slice(&payload).expect("event payload is JSON");
            self.events.borrow_mut().push((topic.to_owned(), json));
        }
        Ok(())
    }
}

// ------------------------------------------------------------- requests

pub struct Fx<'a> {
    pub db: &'a dyn Database,
    pub events: Recorder,
}

impl<'a> Fx<'a> {
    pub fn new(db: &'a dyn Database) -> Self {
        Fx { db, events: Recorder::default() }
    }

    pub fn pg(&self) -> bool {
        self.db.dialect() == Dialect::Postgres
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> HttpResponse {
        let req = HttpRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        };
        maggate::handle(self.db, &self.events, req)
    }

    pub fn get(&self, path: &str, query: &str) -> HttpResponse {
        self.call("GET", path, query, &[], "")
    }

    /// The `id`s a GET on `todos` returns, in order (`order=id` unless the
    /// query orders).
    pub fn ids(&self, query: &str) -> Vec<i64> {
        let q = if query.contains("order=") { query.to_owned() } else { format!("{query}&order=id") };
        let r = self.get("/todos", &q);
        assert_eq!(r.status, 200, "GET /todos?{q}: {}", String::from_utf8_lossy(&r.body));
        r.json_body().as_array().expect("array").iter().map(|o| o["id"].as_i64().expect("id")).collect()
    }

    /// Rows in `todos`, read directly (proves the table still exists).
    pub fn count_todos(&self) -> i64 {
        match &self.db.query("SELECT count(*) FROM todos", &[]).expect("todos still exists").rows[0][0] {
            Value::Int(n) => *n,
            other => panic!("count: {other:?}"),
        }
    }

    pub fn published(&self) -> Vec<serde_json::Value> {
        self.events
            .events
            .borrow()
            .iter()
            .map(|(t, j)| {
                assert_eq!(t, maggate::CHANGES_TOPIC);
                j.clone()
            })
            .collect()
    }
}

/// Assert a PostgREST error: status and code.
#[track_caller]
pub fn assert_error(r: &HttpResponse, status: u16, code: &str) {
    let body = r.json_body();
    assert_eq!(r.status, status, "status; body {body}");
    assert_eq!(body["code"], code, "code; body {body}");
    for k in ["message", "details", "hint"] {
        assert!(body.get(k).is_some(), "error body has {k}: {body}");
    }
}
