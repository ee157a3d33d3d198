//! Project databases as PostgreSQL schemas, one per project (`p_<project>`)
//! in the control plane's database, and a login role per installation.
//!
//! The role is created by the host (as the control plane's user) with
//! `NOINHERIT` and no attributes, is a member of no role, and holds only
//! `USAGE` on its project's schema and `SELECT` (read) or `SELECT`,
//! `INSERT`, `UPDATE`, `DELETE` (read-write) on the granted tables. The
//! installation's connections *log in* as that role: `SET ROLE` and
//! `RESET ROLE` check the session user's memberships, so inside a statement
//! they can reach nothing but the role itself.
//!
//! Each call: `BEGIN [READ ONLY]; SET LOCAL search_path, statement_timeout,
//! lock_timeout` (one round trip), the guest's statement through the
//! extended protocol (whose Parse refuses a second statement), parameters
//! in text format with types left to the server (untyped literals), then
//! `COMMIT` or `ROLLBACK` and a reset of session state (advisory locks,
//! `LISTEN`s, settings) before the connection is reused. A call cut by its
//! deadline (or abandoned) sends a cancel request and drops the connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::StreamExt;
use magflock_registry::{DatabaseGrant, DatabaseTables};
use sha2::Digest;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

use super::{Call, CallLimits, DatabaseError, Failure, Output, ResultBudget};
use crate::runtime::bindings::database as wit;

/// Idle connections kept per installation.
const MAX_IDLE: usize = 4;
/// Connections one installation role may open at once (per server).
const ROLE_CONNECTION_LIMIT: u32 = 32;
/// Extra time the client waits past the statement's deadline for the
/// server's own `statement_timeout` to answer, before cancelling itself.
const CLIENT_GRACE: Duration = Duration::from_millis(200);
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema of a project. Project ids are lower-case letters, digits and
/// single dashes, so mapping `-` to `_` keeps them apart and needs no quoting.
pub(super) fn schema_name(project: &str) -> String {
    format!("p_{}", project.replace('-', "_"))
}

/// `"ident"`, with quotes doubled.
fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub(super) struct PgDatabases {
    admin: tokio_postgres::Config,
    dbname: String,
    pools: Mutex<HashMap<(String, String), Arc<RolePool>>>,
}

/// The connections of one installation role.
struct RolePool {
    role: String,
    password: String,
    idle: Mutex<Vec<Client>>,
}

impl PgDatabases {
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let admin: tokio_postgres::Config =
            url.parse().map_err(|e| anyhow::anyhow!("project databases: bad PostgreSQL URL: {e}"))?;
        let dbname = admin.get_dbname().unwrap_or("postgres").to_owned();
        Ok(Self { admin, dbname, pools: Mutex::new(HashMap::new()) })
    }

    /// The role of an installation: unique per control-plane database (roles
    /// are cluster-wide), at most 63 bytes.
    fn role_name(&self, project: &str, extension: &str) -> String {
        let h = sha2::Sha256::digest(format!("{}\0{project}\0{extension}", self.dbname));
        format!("mf_{}", &hex::encode(h)[..40])
    }

    /// The login password of an installation role: derived from the
    /// control plane's own password, so every host sharing the control plane
    /// sets and uses the same one (a host applying a grant never locks the
    /// others out), and nobody without that password can compute it. Without
    /// an admin password (trust authentication, where passwords are not
    /// checked) it is random.
    fn role_password(&self, role: &str) -> String {
        match self.admin.get_password() {
            Some(secret) => {
                let mut h = sha2::Sha256::new();
                h.update(b"magflock installation role\0");
                h.update(secret);
                h.update(b"\0");
                h.update(role.as_bytes());
                hex::encode(h.finalize())
            }
            None => hex::encode(rand::random::<[u8; 24]>()),
        }
    }

    fn pool(&self, project: &str, extension: &str) -> Arc<RolePool> {
        let key = (project.to_owned(), extension.to_owned());
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools
            .entry(key)
            .or_insert_with(|| {
                let role = self.role_name(project, extension);
                Arc::new(RolePool { password: self.role_password(&role), role, idle: Mutex::new(Vec::new()) })
            })
            .clone()
    }

    async fn connect(config: &tokio_postgres::Config) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "project database connection ended");
            }
        });
        Ok(client)
    }

    async fn admin_client(&self) -> Result<Client, DatabaseError> {
        let mut config = self.admin.clone();
        config.connect_timeout(CONNECT_TIMEOUT);
        Self::connect(&config).await.map_err(|e| DatabaseError::Unavailable(e.to_string()))
    }

    pub async fn owner_execute(&self, project: &str, sql: &str) -> Result<(), DatabaseError> {
        let client = self.admin_client().await?;
        let schema = quote_ident(&schema_name(project));
        let setup = format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; REVOKE ALL ON SCHEMA {schema} FROM PUBLIC; \
             SET search_path = {schema}"
        );
        client.batch_execute(&setup).await.map_err(sql_error)?;
        client.batch_execute("BEGIN").await.map_err(sql_error)?;
        match client.batch_execute(sql).await {
            Ok(()) => client.batch_execute("COMMIT").await.map_err(sql_error),
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                Err(sql_error(e))
            }
        }
    }

    /// Drops an installation's role (its privileges first) and closes its
    /// connections. For uninstall; the project's tables stay.
    pub async fn drop_installation(&self, project: &str, extension: &str) -> Result<(), DatabaseError> {
        let role = self.role_name(project, extension);
        if let Ok(mut pools) = self.pools.lock() {
            pools.remove(&(project.to_owned(), extension.to_owned()));
        }
        let client = self.admin_client().await?;
        let r = quote_ident(&role);
        let exists = client
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
            .await
            .map_err(sql_error)?
            .is_some();
        if !exists {
            return Ok(());
        }
        // Its own sessions end first: a role with live connections cannot be dropped.
        client
            .execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", &[&role])
            .await
            .map_err(sql_error)?;
        client.batch_execute(&format!("DROP OWNED BY {r}; DROP ROLE {r}")).await.map_err(sql_error)
    }

    /// Whether an installation's role exists (for tests and diagnostics).
    pub async fn role_exists(&self, project: &str, extension: &str) -> Result<bool, DatabaseError> {
        let client = self.admin_client().await?;
        let role = self.role_name(project, extension);
        let row = client
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
            .await
            .map_err(sql_error)?;
        Ok(row.is_some())
    }

    /// Creates the project's schema and the installation's role, and sets
    /// the role's privileges to exactly the grant over the tables that exist.
    pub async fn apply_grant(
        &self,
        project: &str,
        extension: &str,
        grant: &DatabaseGrant,
    ) -> Result<(), DatabaseError> {
        let pool = self.pool(project, extension);
        let client = self.admin_client().await?;
        let schema = schema_name(project);
        let (s, r) = (quote_ident(&schema), quote_ident(&pool.role));
        client.batch_execute("BEGIN").await.map_err(sql_error)?;
        let result = async {
            // Grants of many installations change the same catalogs: one at a time.
            client
                .batch_execute("SELECT pg_advisory_xact_lock(hashtext('magflock project database grants'))")
                .await?;
            // `RESET ALL` clears settings the role saved for itself
            // (`ALTER ROLE CURRENT_USER SET ...` is open to any role), so
            // they last until the next grant at most.
            client
                .batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {s}; REVOKE ALL ON SCHEMA {s} FROM PUBLIC; \
                     DO $$ BEGIN CREATE ROLE {r}; EXCEPTION WHEN duplicate_object THEN NULL; END $$; \
                     ALTER ROLE {r} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION \
                       NOBYPASSRLS CONNECTION LIMIT {ROLE_CONNECTION_LIMIT} PASSWORD '{pw}'; \
                     ALTER ROLE {r} RESET ALL; \
                     REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}; \
                     REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r}; \
                     GRANT USAGE ON SCHEMA {s} TO {r}",
                    pw = pool.password,
                ))
                .await?;
            let existing: Vec<String> = client
                .query(
                    "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'p', 'f') ORDER BY 1",
                    &[&schema],
                )
                .await?
                .iter()
                .map(|row| row.get(0))
                .collect();
            let tables: Vec<&String> = existing
                .iter()
                .filter(|t| match &grant.tables {
                    DatabaseTables::All => true,
                    DatabaseTables::Only(list) => list.contains(t),
                })
                .collect();
            if tables.is_empty() {
                return Ok(());
            }
            let names: Vec<String> = tables.iter().map(|t| format!("{s}.{}", quote_ident(t))).collect();
            let privileges = if grant.writes() { "SELECT, INSERT, UPDATE, DELETE" } else { "SELECT" };
            client.batch_execute(&format!("GRANT {privileges} ON TABLE {} TO {r}", names.join(", "))).await?;
            if grant.writes() {
                // Sequences behind serial and identity columns of the granted tables.
                let seqs: Vec<String> = client
                    .query(
                        "SELECT s.relname::text FROM pg_class s \
                         JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i') \
                         JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace n ON n.oid = t.relnamespace \
                         WHERE s.relkind = 'S' AND n.nspname = $1 AND t.relname = ANY($2)",
                        &[&schema, &tables.iter().map(|t| t.as_str()).collect::<Vec<_>>()],
                    )
                    .await?
                    .iter()
                    .map(|row| format!("{s}.{}", quote_ident(row.get::<_, &str>(0))))
                    .collect();
                if !seqs.is_empty() {
                    client
                        .batch_execute(&format!("GRANT USAGE, SELECT ON SEQUENCE {} TO {r}", seqs.join(", ")))
                        .await?;
                }
            }
            Ok::<(), tokio_postgres::Error>(())
        }
        .await;
        match result {
            Ok(()) => client.batch_execute("COMMIT").await.map_err(sql_error),
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                Err(sql_error(e))
            }
        }
    }

    /// A connection logged in as the installation's role.
    async fn checkout(&self, pool: &RolePool, limits: CallLimits) -> Result<Client, Failure> {
        loop {
            let next = pool.idle.lock().ok().and_then(|mut v| v.pop());
            match next {
                Some(c) if !c.is_closed() => return Ok(c),
                Some(_) => continue,
                None => break,
            }
        }
        let mut config = self.admin.clone();
        config.user(&pool.role).password(&pool.password);
        config.connect_timeout(limits.remaining().min(CONNECT_TIMEOUT));
        config.application_name("magflock-extension");
        match tokio::time::timeout(limits.remaining(), Self::connect(&config)).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => {
                tracing::warn!(role = %pool.role, error = %e, "project database connection failed");
                Err(Failure::Failed(String::new(), "the project database is unavailable".into()))
            }
            Err(_) => Err(Failure::Timeout),
        }
    }

    fn checkin(pool: &RolePool, client: Client) {
        if let Ok(mut idle) = pool.idle.lock()
            && idle.len() < MAX_IDLE
            && !client.is_closed()
        {
            idle.push(client);
        }
    }

    pub async fn run(
        &self,
        project: &str,
        extension: &str,
        writes: bool,
        call: Call,
    ) -> Result<Output, Failure> {
        let pool = self.pool(project, extension);
        let client = self.checkout(&pool, call.limits).await?;
        // The role's privileges are the enforcement; a read-only transaction
        // is a second wall for a read grant.
        let read_only = !writes;
        self.in_transaction(&pool, client, &schema_name(project), call.limits, read_only, |client| {
            Box::pin(statement(client, call))
        })
        .await
    }

    /// The tables this installation may read (PostgreSQL shows only those the
    /// role has privileges on), with their columns in table order.
    pub async fn describe(
        &self,
        project: &str,
        extension: &str,
        deadline: Instant,
    ) -> Result<Vec<wit::Table>, Failure> {
        let limits = CallLimits { deadline, max_rows: 100_000, max_bytes: 64 * 1024 * 1024 };
        let pool = self.pool(project, extension);
        let client = self.checkout(&pool, limits).await?;
        let rows = self
            .in_transaction(&pool, client, &schema_name(project), limits, true, |client| {
                Box::pin(async move { client.query(DESCRIBE, &[]).await.map_err(map_error) })
            })
            .await?;
        let mut tables: Vec<wit::Table> = Vec::new();
        for r in rows {
            let table: String = r.get(0);
            let column = wit::Column {
                name: r.get(1),
                data_type: r.get(2),
                nullable: r.get(3),
                has_default: r.get(4),
                primary_key: r.get(5),
            };
            match tables.last_mut() {
                Some(t) if t.name == table => t.columns.push(column),
                _ => tables.push(wit::Table { name: table, columns: vec![column] }),
            }
        }
        Ok(tables)
    }

    /// Runs `body` in a transaction set up for the installation, under the
    /// call's deadline; returns the connection to the pool only when it
    /// ended cleanly.
    async fn in_transaction<T>(
        &self,
        pool: &RolePool,
        client: Client,
        schema: &str,
        limits: CallLimits,
        read_only: bool,
        body: impl for<'c> FnOnce(
            &'c Client,
        )
            -> std::pin::Pin<Box<dyn Future<Output = Result<T, Failure>> + Send + 'c>>,
    ) -> Result<T, Failure> {
        let remaining = limits.remaining();
        if remaining.is_zero() {
            return Err(Failure::Timeout);
        }
        let ms = remaining.as_millis().max(1);
        let begin = format!(
            "BEGIN{}; SET LOCAL search_path = {}; SET LOCAL statement_timeout = {ms}; \
             SET LOCAL lock_timeout = {ms}; SET LOCAL idle_in_transaction_session_timeout = {}",
            if read_only { " READ ONLY" } else { "" },
            quote_ident(schema),
            ms + 5_000,
        );
        // A cancel request goes out if this future is dropped (the
        // invocation's outer timeout) or the client-side deadline passes.
        let done = Arc::new(AtomicBool::new(false));
        let _guard = CancelUnlessDone { done: done.clone(), token: Some(client.cancel_token()) };
        let work = async {
            client.batch_execute(&begin).await.map_err(map_error)?;
            body(&client).await
        };
        let result = match tokio::time::timeout(remaining + CLIENT_GRACE, work).await {
            Ok(r) => r,
            Err(_) => return Err(Failure::Timeout), // the guard cancels; the client is dropped
        };
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let reset = format!("{end}; SELECT pg_advisory_unlock_all(); UNLISTEN *; RESET ALL");
        let cleaned = tokio::time::timeout(CLIENT_GRACE * 5, client.batch_execute(&reset)).await;
        match cleaned {
            Ok(Ok(())) => {
                done.store(true, Ordering::Release);
                Self::checkin(pool, client);
            }
            // The statement ran but its transaction did not end cleanly: the
            // guard cancels whatever is left and the connection is dropped.
            Ok(Err(e)) if result.is_ok() => return Err(map_error(e)),
            _ => {}
        }
        result
    }
}

/// Sends a cancel request for the connection's running statement when
/// dropped before being marked done.
struct CancelUnlessDone {
    done: Arc<AtomicBool>,
    token: Option<tokio_postgres::CancelToken>,
}

impl Drop for CancelUnlessDone {
    fn drop(&mut self) {
        if self.done.load(Ordering::Acquire) {
            return;
        }
        if let (Some(token), Ok(handle)) = (self.token.take(), tokio::runtime::Handle::try_current()) {
            handle.spawn(async move {
                let _ = token.cancel_query(NoTls).await;
            });
        }
    }
}

const DESCRIBE: &str = "\
SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, \
       a.atthasdef OR a.attidentity <> '', \
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary AND a.attnum = ANY(i.indkey)) \
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'v', 'm', 'p', 'f') \
   AND has_table_privilege(c.oid, 'SELECT') \
 ORDER BY c.relname, a.attnum";

/// The guest's statement, inside the transaction.
async fn statement(client: &Client, call: Call) -> Result<Output, Failure> {
    let stmt = client.prepare(&call.sql).await.map_err(map_error)?;
    if stmt.params().len() != call.params.len() {
        return Err(Failure::Invalid(format!(
            "the statement has {} parameters; {} were given",
            stmt.params().len(),
            call.params.len()
        )));
    }
    let params: Vec<TextParam> = call.params.iter().map(TextParam::from).collect();
    if !call.returns_rows {
        return client.execute_raw(&stmt, params.iter()).await.map(Output::Changed).map_err(map_error);
    }
    let columns: Vec<String> = stmt.columns().iter().map(|c| c.name().to_owned()).collect();
    let readable = readable_statement(client, &call.sql, &stmt).await?;
    let stream = client.query_raw(&readable, params.iter()).await.map_err(map_error)?;
    let mut stream = std::pin::pin!(stream);
    let mut budget = ResultBudget::new(call.limits);
    let mut rows = Vec::new();
    while let Some(row) = stream.next().await {
        let row = row.map_err(map_error)?;
        let values = (0..row.len()).map(|i| cell(&row, i)).collect::<Result<Vec<_>, _>>()?;
        // Past a limit the stream is dropped mid-way: the caller rolls back,
        // and the connection is not reused.
        budget.row(&values)?;
        rows.push(values);
    }
    Ok(Output::Rows(wit::Rows { columns, rows }))
}

/// Whether the host reads this type into a value itself (binary format).
fn native(ty: &Type) -> bool {
    [
        Type::BOOL,
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::OID,
        Type::FLOAT4,
        Type::FLOAT8,
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
        Type::NAME,
        Type::UNKNOWN,
        Type::BYTEA,
        Type::JSON,
        Type::JSONB,
        Type::TEXT_ARRAY,
        Type::VARCHAR_ARRAY,
        Type::INT2_ARRAY,
        Type::INT4_ARRAY,
        Type::INT8_ARRAY,
        Type::FLOAT4_ARRAY,
        Type::FLOAT8_ARRAY,
        Type::BOOL_ARRAY,
    ]
    .contains(ty)
}

/// Types without a value case (timestamps, uuids, `numeric`, ...) are
/// returned as their text form: the statement is wrapped so the server casts
/// those columns to `text`. A statement that cannot be wrapped (not a query,
/// or a nested data-modifying `WITH`) fails with a message saying so.
async fn readable_statement(client: &Client, sql: &str, stmt: &Statement) -> Result<Statement, Failure> {
    let cols = stmt.columns();
    if cols.iter().all(|c| native(c.type_())) {
        return Ok(stmt.clone());
    }
    let aliases: Vec<String> = (1..=cols.len()).map(|i| format!("c{i}")).collect();
    let select: Vec<String> = cols
        .iter()
        .zip(&aliases)
        .map(|(c, a)| if native(c.type_()) { a.clone() } else { format!("{a}::text") })
        .collect();
    let body = sql.trim_end().trim_end_matches(';');
    let wrapped =
        format!("WITH q({}) AS (\n{body}\n) SELECT {} FROM q", aliases.join(", "), select.join(", "));
    client.prepare(&wrapped).await.map_err(|_| {
        let c = cols.iter().find(|c| !native(c.type_())).map(|c| (c.name(), c.type_().name()));
        let (name, ty) = c.unwrap_or(("?", "?"));
        Failure::Invalid(format!(
            "column `{name}` has type `{ty}`, which this statement cannot return; cast it to text"
        ))
    })
}

/// JSON text of a `json` or `jsonb` value.
struct JsonText(String);

impl<'a> FromSql<'a> for JsonText {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let text = if *ty == Type::JSONB {
            match raw.split_first() {
                Some((1, rest)) => rest,
                _ => return Err("unsupported jsonb version".into()),
            }
        } else {
            raw
        };
        Ok(JsonText(std::str::from_utf8(text)?.to_owned()))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON || *ty == Type::JSONB
    }
}

fn cell(row: &tokio_postgres::Row, i: usize) -> Result<wit::Value, Failure> {
    use wit::Value as V;
    let ty = row.columns()[i].type_().clone();
    let e = |e: tokio_postgres::Error| Failure::Failed(String::new(), format!("column {}: {e}", i + 1));
    fn json<T: serde::Serialize>(v: Option<Vec<Option<T>>>) -> V {
        v.map_or(V::Null, |v| V::Json(serde_json::to_string(&v).unwrap_or_default()))
    }
    Ok(match ty {
        Type::BOOL => row.try_get::<_, Option<bool>>(i).map_err(e)?.map_or(V::Null, V::Boolean),
        Type::INT2 => row.try_get::<_, Option<i16>>(i).map_err(e)?.map_or(V::Null, |v| V::Integer(v.into())),
        Type::INT4 => row.try_get::<_, Option<i32>>(i).map_err(e)?.map_or(V::Null, |v| V::Integer(v.into())),
        Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(e)?.map_or(V::Null, V::Integer),
        Type::OID => row.try_get::<_, Option<u32>>(i).map_err(e)?.map_or(V::Null, |v| V::Integer(v.into())),
        Type::FLOAT4 => row.try_get::<_, Option<f32>>(i).map_err(e)?.map_or(V::Null, |v| V::Float(v.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map_err(e)?.map_or(V::Null, V::Float),
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i).map_err(e)?.map_or(V::Null, V::Blob),
        Type::JSON | Type::JSONB => {
            row.try_get::<_, Option<JsonText>>(i).map_err(e)?.map_or(V::Null, |j| V::Json(j.0))
        }
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => {
            json(row.try_get::<_, Option<Vec<Option<String>>>>(i).map_err(e)?)
        }
        Type::INT2_ARRAY => json(row.try_get::<_, Option<Vec<Option<i16>>>>(i).map_err(e)?),
        Type::INT4_ARRAY => json(row.try_get::<_, Option<Vec<Option<i32>>>>(i).map_err(e)?),
        Type::INT8_ARRAY => json(row.try_get::<_, Option<Vec<Option<i64>>>>(i).map_err(e)?),
        Type::FLOAT4_ARRAY => json(row.try_get::<_, Option<Vec<Option<f32>>>>(i).map_err(e)?),
        Type::FLOAT8_ARRAY => json(row.try_get::<_, Option<Vec<Option<f64>>>>(i).map_err(e)?),
        Type::BOOL_ARRAY => json(row.try_get::<_, Option<Vec<Option<bool>>>>(i).map_err(e)?),
        _ => row.try_get::<_, Option<String>>(i).map_err(e)?.map_or(V::Null, V::Text),
    })
}

/// A parameter sent in text format with its type left to the server, which
/// parses it as the statement needs (the binding contract of the WIT).
#[derive(Debug)]
struct TextParam(Option<String>);

impl From<&wit::Value> for TextParam {
    fn from(v: &wit::Value) -> Self {
        TextParam(match v {
            wit::Value::Null => None,
            wit::Value::Boolean(b) => Some(b.to_string()),
            wit::Value::Integer(i) => Some(i.to_string()),
            wit::Value::Float(f) if f.is_nan() => Some("NaN".into()),
            wit::Value::Float(f) if f.is_infinite() => {
                Some(if *f > 0.0 { "Infinity" } else { "-Infinity" }.into())
            }
            wit::Value::Float(f) => Some(format!("{f:?}")),
            wit::Value::Text(s) | wit::Value::Json(s) => Some(s.clone()),
            wit::Value::Blob(b) => Some(format!("\\x{}", hex::encode(b))),
        })
    }
}

impl ToSql for TextParam {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
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

    fn encode_format(&self, _ty: &Type) -> tokio_postgres::types::Format {
        tokio_postgres::types::Format::Text
    }

    tokio_postgres::types::to_sql_checked!();
}

fn sql_error(e: tokio_postgres::Error) -> DatabaseError {
    match e.as_db_error() {
        Some(d) => DatabaseError::Sql { code: d.code().code().to_owned(), message: d.message().to_owned() },
        None => DatabaseError::Unavailable(e.to_string()),
    }
}

/// Maps a PostgreSQL error to the guest's failure. Messages are the
/// server's own (they name tables and columns of the project's schema).
fn map_error(e: tokio_postgres::Error) -> Failure {
    let Some(d) = e.as_db_error() else {
        tracing::debug!(error = %e, "project database call failed");
        return Failure::Failed(String::new(), "the project database connection failed".into());
    };
    let code = d.code().code();
    let message = d.message().to_owned();
    match code {
        // insufficient_privilege: names the table, schema or function.
        "42501" => Failure::Denied(message),
        // read_only_sql_transaction
        "25006" => Failure::Denied(format!("a write with a read-only grant: {message}")),
        // query_canceled (statement_timeout, a cancel request), lock_not_available
        "57014" | "55P03" => Failure::Timeout,
        "42601" if message.contains("multiple commands") => {
            Failure::Invalid("only one statement may run per call".into())
        }
        c if c.starts_with("23") => Failure::Constraint(c.to_owned(), message),
        c => Failure::Failed(c.to_owned(), message),
    }
}
