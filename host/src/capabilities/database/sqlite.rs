//! Project databases as SQLite files, one per project.
//!
//! Each installation keeps a few idle connections opened for its grant
//! ([`Idle`], owned by its `DbCtx`, so a new version or a changed approval
//! never reuses another grant's connections). A call on an idle connection
//! runs on the guest's own thread for at most one slice, without waiting for
//! a lock; one that needs longer, waits for a lock or needs a new connection
//! runs on the blocking pool (decision 018). Opening a connection costs more
//! than the call itself (the schema is parsed on first use), so connections
//! are reused — but only while the project's tables are unchanged: a
//! connection opened before the owner's last schema change (the project's
//! generation) or whose schema cookie moved since it was opened is closed,
//! not reused, because its authorizer holds the list of stored tables. The
//! cookie is read in the statement's own transaction when the statement only
//! reads. The grant is enforced by SQLite:
//!
//! - a read grant opens the file read-only and sets `query_only`;
//! - an authorizer, consulted while the statement is compiled, allows reads
//!   of granted tables of `main` (and row writes to them for read-write) and
//!   denies every other action: `ATTACH`/`DETACH`, `PRAGMA`, DDL,
//!   transactions and savepoints, the engine's `sqlite_*` tables;
//! - `SQLITE_LIMIT_ATTACHED` is 0 and defensive mode is on;
//! - a statement with a second statement after it is refused by prepare;
//! - a progress handler interrupts the statement at the call's deadline or
//!   when the call is abandoned (each call sets its own deadline and cancel
//!   flag on the connection before its statement runs);
//! - a connection goes back to the idle list only when no transaction is
//!   open on it and its call did not time out.
//!
//! No setting (`PRAGMA`), attached database, temporary object or
//! transaction outlives a call on a reused connection: the authorizer
//! refuses them all. The connection's own counters (`last_insert_rowid()`,
//! `changes()`, `total_changes()`) stay visible to later calls of the same
//! installation.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use magflock_registry::DatabaseGrant;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::{Call, CallLimits, CancelOnDrop, DatabaseError, Failure, Output, ResultBudget};
use crate::runtime::bindings::database as wit;

/// SQLite VM instructions between two checks of the deadline.
const PROGRESS_OPS: i32 = 1000;
/// Longest a call waits for another writer's lock.
const MAX_BUSY_WAIT: Duration = Duration::from_secs(5);
/// Largest string or blob a statement may build, in bytes (SQLite's own
/// default is 1 GB): `randomblob`/`zeroblob`/`printf` stay bounded.
const MAX_VALUE_LENGTH: i32 = 32 * 1024 * 1024;
/// How long a call may run on the guest's own thread (decision 018): one
/// epoch tick, the slice a guest itself runs between two yields. A call
/// that needs longer, has to wait for a lock or finds no idle connection
/// runs on the blocking pool instead, from the start.
const INLINE_SLICE: Duration = crate::engine::EPOCH_TICK;
/// Idle connections kept per installation.
const MAX_IDLE: usize = 8;
/// Prepared statements kept per connection, and the longest SQL text kept:
/// a statement is compiled (and authorized) once per connection, not once
/// per call. SQLite compiles it again, consulting the authorizer, when the
/// schema changes.
const STATEMENT_CACHE: usize = 16;
const MAX_CACHED_SQL_BYTES: usize = 4 * 1024;

pub(super) struct SqliteDatabases {
    dir: PathBuf,
}

impl SqliteDatabases {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The file of a project (its id is validated before this is called).
    pub fn path(&self, project: &str) -> PathBuf {
        self.dir.join(format!("{project}.db"))
    }

    /// Creates the project's file (in WAL mode) when missing.
    pub async fn ensure(&self, project: &str) -> Result<(), DatabaseError> {
        let path = self.path(project);
        let dir = self.dir.clone();
        blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| DatabaseError::Unavailable(e.to_string()))?;
            let conn = Connection::open(&path).map_err(unavailable)?;
            conn.pragma_update(None, "journal_mode", "WAL").map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    pub async fn owner_execute(&self, project: &str, sql: &str) -> Result<(), DatabaseError> {
        self.ensure(project).await?;
        let path = self.path(project);
        let sql = sql.to_owned();
        blocking(move || {
            let conn = Connection::open(&path).map_err(unavailable)?;
            conn.busy_timeout(MAX_BUSY_WAIT).map_err(unavailable)?;
            // One transaction: a script that fails half-way leaves nothing.
            let sql_error = |e: rusqlite::Error| DatabaseError::Sql {
                code: sqlstate(&e).to_owned(),
                message: e.to_string(),
            };
            conn.execute_batch("BEGIN IMMEDIATE").map_err(sql_error)?;
            match conn.execute_batch(&sql) {
                Ok(()) => conn.execute_batch("COMMIT").map_err(sql_error),
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    Err(sql_error(e))
                }
            }
        })
        .await
    }

    /// Runs one guest call on an idle connection of the installation (or a
    /// new one). `generation` is the project's table generation now.
    /// Returns, besides the result, whether the schema was found changed
    /// behind the host's back (not through `owner_execute`), so the caller
    /// can move the generation on.
    pub async fn run(
        &self,
        project: &str,
        idle: &Arc<Idle>,
        generation: u64,
        grant: Arc<DatabaseGrant>,
        call: Call,
    ) -> (Result<Output, Failure>, bool) {
        // Handing a call to the blocking pool and back costs more than a
        // statement on an idle connection takes (two thread wake-ups): try
        // it here first, for one slice.
        let changed = match idle.run_inline(&grant, generation, &call) {
            Inline::Done(result) => return (result, false),
            Inline::Moved { changed } => changed,
        };
        let path = self.path(project);
        let cancel = Arc::new(AtomicBool::new(false));
        let _guard = CancelOnDrop(cancel.clone());
        let idle = idle.clone();
        let job = move || idle.run(&path, &grant, generation, &call, &cancel);
        let (result, changed_later) = tokio::task::spawn_blocking(job).await.unwrap_or_else(|e| {
            (Err(Failure::Failed(String::new(), format!("database call failed: {e}"))), false)
        });
        (result, changed || changed_later)
    }

    /// The granted tables and views of `main` with their columns.
    pub async fn describe(
        &self,
        project: &str,
        grant: Arc<DatabaseGrant>,
        deadline: Instant,
    ) -> Result<Vec<wit::Table>, Failure> {
        let path = self.path(project);
        tokio::task::spawn_blocking(move || {
            // The host's own read, not the guest's SQL: no authorizer, read-only.
            let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(failed)?;
            conn.busy_timeout(deadline.saturating_duration_since(Instant::now()).min(MAX_BUSY_WAIT)).map_err(failed)?;
            let mut st = conn
                .prepare(
                    "SELECT name FROM main.sqlite_schema WHERE type IN ('table', 'view') \
                     AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                )
                .map_err(failed)?;
            let names: Vec<String> = st
                .query_map([], |r| r.get(0))
                .map_err(failed)?
                .collect::<Result<_, _>>()
                .map_err(failed)?;
            let mut tables = Vec::new();
            for name in names.into_iter().filter(|n| grant.covers(n)) {
                let mut st = conn
                    .prepare("SELECT name, type, \"notnull\", dflt_value IS NOT NULL, pk FROM pragma_table_info(?1)")
                    .map_err(failed)?;
                let columns = st
                    .query_map([&name], |r| {
                        Ok(wit::Column {
                            name: r.get(0)?,
                            data_type: r.get(1)?,
                            nullable: r.get::<_, i64>(2)? == 0,
                            has_default: r.get(3)?,
                            primary_key: r.get::<_, i64>(4)? > 0,
                        })
                    })
                    .map_err(failed)?
                    .collect::<Result<_, _>>()
                    .map_err(failed)?;
                tables.push(wit::Table { name, columns });
            }
            Ok(tables)
        })
        .await
        .unwrap_or_else(|e| Err(Failure::Failed(String::new(), format!("database call failed: {e}"))))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DatabaseError> + Send + 'static,
) -> Result<T, DatabaseError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| DatabaseError::Unavailable(e.to_string()))?
}

fn unavailable(e: rusqlite::Error) -> DatabaseError {
    DatabaseError::Unavailable(e.to_string())
}

fn failed(e: rusqlite::Error) -> Failure {
    Failure::Failed(sqlstate(&e).to_owned(), e.to_string())
}

/// Idle connections of one installation, all opened for its grant.
#[derive(Default)]
pub(super) struct Idle(Mutex<Vec<Pooled>>);

/// How a call's attempt on the guest's thread ended.
enum Inline {
    /// The call is done, well or not.
    Done(Result<Output, Failure>),
    /// It must run on the blocking pool; nothing it did is left (an
    /// interrupted statement is rolled back whole: each call is its own
    /// transaction). `changed`: the idle connection was stale.
    Moved { changed: bool },
}

/// How a statement on a connection ended.
enum Ran {
    Done(Result<Output, Failure>),
    /// The schema moved since the connection was opened, so its
    /// authorizer's list of stored tables is out of date: the statement did
    /// not run, and the connection must not be used again.
    Stale,
}

impl Idle {
    /// An idle connection opened at `generation`, if any.
    fn pop(&self, generation: u64) -> Option<Pooled> {
        loop {
            let conn = self.0.lock().ok()?.pop()?;
            if conn.generation == generation {
                return Some(conn);
            }
        }
    }

    /// After a connection was found stale: every other idle one was opened
    /// before the same change, or soon after it, and goes too.
    fn retire_all(&self) {
        if let Ok(mut idle) = self.0.lock() {
            idle.clear();
        }
    }

    /// The call on an idle connection, on the calling thread, for at most
    /// [`INLINE_SLICE`] and without waiting for any lock: the thread is a
    /// guest worker, which other guests share. Opening a connection (which
    /// parses the schema) is left to the blocking pool.
    fn run_inline(&self, grant: &Arc<DatabaseGrant>, generation: u64, call: &Call) -> Inline {
        let Some(conn) = self.pop(generation) else { return Inline::Moved { changed: false } };
        let slice_end = Instant::now() + INLINE_SLICE;
        let limits = CallLimits { deadline: call.limits.deadline.min(slice_end), ..call.limits };
        // Nothing can abandon the call half-way: it runs on the caller's own
        // thread, so its future is not polled (nor dropped) meanwhile.
        let cancel = Arc::new(AtomicBool::new(false));
        let result = match conn.call(call, limits, grant, &cancel, Duration::ZERO) {
            Ran::Done(result) => result,
            Ran::Stale => {
                self.retire_all();
                return Inline::Moved { changed: true };
            }
        };
        let moved = match &result {
            // The slice ran out, not the call's own time.
            Err(Failure::Timeout) => Instant::now() < call.limits.deadline,
            Err(Failure::Busy(_)) => true,
            _ => false,
        };
        // Cut by the slice, the connection is as good as before the call.
        self.reuse(conn, matches!(result, Err(Failure::Timeout)) && !moved);
        if moved { Inline::Moved { changed: false } } else { Inline::Done(result) }
    }

    /// One call on a connection of this installation (an idle one or a new
    /// one), on the current (blocking) thread; and whether the schema was
    /// found changed behind the host's back. The connection goes back idle
    /// unless the call timed out or left a transaction open.
    fn run(
        &self,
        path: &std::path::Path,
        grant: &Arc<DatabaseGrant>,
        generation: u64,
        call: &Call,
        cancel: &Arc<AtomicBool>,
    ) -> (Result<Output, Failure>, bool) {
        let mut changed = false;
        // A connection opened here is stale only if the schema moves again
        // between its opening and its statement.
        for _ in 0..3 {
            let conn = match self.pop(generation) {
                Some(conn) => conn,
                None => match Pooled::open(path, grant, generation, call.limits) {
                    Ok(conn) => conn,
                    Err(f) => return (Err(f), changed),
                },
            };
            match conn.call(call, call.limits, grant, cancel, MAX_BUSY_WAIT) {
                Ran::Stale => {
                    changed = true;
                    self.retire_all();
                }
                Ran::Done(result) => {
                    self.reuse(conn, matches!(result, Err(Failure::Timeout)));
                    return (result, changed);
                }
            }
        }
        let msg = "the project's schema kept changing during the call";
        (Err(Failure::Failed(String::new(), msg.into())), changed)
    }

    /// Puts a connection back idle after its call, unless the call ran out
    /// of its own time or left a transaction open.
    fn reuse(&self, conn: Pooled, timed_out: bool) {
        if timed_out || !conn.conn.is_autocommit() {
            return;
        }
        if let Ok(mut idle) = self.0.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
    }
}

/// What the progress handler checks: the current call's deadline and
/// cancel flag.
struct CallState {
    deadline: Instant,
    cancel: Arc<AtomicBool>,
}

/// A connection locked down to an installation's grant.
pub(super) struct Pooled {
    conn: Connection,
    /// The project's table generation when the connection was opened.
    generation: u64,
    /// SQLite's schema cookie, read before the authorizer's table list.
    schema_version: i64,
    call: Arc<Mutex<CallState>>,
    /// What the authorizer refused while the current statement compiled.
    denied: Arc<Mutex<Option<String>>>,
    /// Set only while the host runs its own fixed statement (the schema
    /// cookie): the authorizer then allows it.
    host: Arc<AtomicBool>,
}

impl Pooled {
    fn open(
        path: &std::path::Path,
        grant: &Arc<DatabaseGrant>,
        generation: u64,
        limits: CallLimits,
    ) -> Result<Self, Failure> {
        let mode =
            if grant.writes() { OpenFlags::SQLITE_OPEN_READ_WRITE } else { OpenFlags::SQLITE_OPEN_READ_ONLY };
        // No CREATE (the host made the file), no URI filenames.
        let conn =
            Connection::open_with_flags(path, mode | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(failed)?;
        let remaining = limits.remaining();
        if remaining.is_zero() {
            return Err(Failure::Timeout);
        }
        conn.busy_timeout(remaining.min(MAX_BUSY_WAIT)).map_err(failed)?;
        if !grant.writes() {
            conn.pragma_update(None, "query_only", true).map_err(failed)?;
        }
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true).map_err(failed)?;
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)
            .map_err(failed)?;
        let _ = conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0);
        let _ = conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_LENGTH);
        let _ = conn.set_limit(Limit::SQLITE_LIMIT_SQL_LENGTH, super::MAX_SQL_BYTES as i32);
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // The cookie first, then the stored tables and views, both read
        // before the authorizer is installed: it needs the names to tell a
        // table from a CTE when SQLite names no schema. A change in between
        // shows as a changed cookie at the next call.
        let schema_version: i64 =
            conn.query_row("PRAGMA schema_version", [], |r| r.get(0)).map_err(failed)?;
        let stored: Vec<String> = {
            let mut st = conn
                .prepare("SELECT lower(name) FROM main.sqlite_schema WHERE type IN ('table', 'view')")
                .map_err(failed)?;
            st.query_map([], |r| r.get(0)).map_err(failed)?.collect::<Result<_, _>>().map_err(failed)?
        };
        let denied = Arc::new(Mutex::new(None));
        let host = Arc::new(AtomicBool::new(false));
        let (g, d, h) = (grant.clone(), denied.clone(), host.clone());
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            if h.load(Ordering::Acquire) {
                return Authorization::Allow;
            }
            match authorize(&g, &stored, &ctx) {
                Ok(()) => Authorization::Allow,
                Err(what) => {
                    if let Ok(mut slot) = d.lock()
                        && slot.is_none()
                    {
                        *slot = Some(what);
                    }
                    Authorization::Deny
                }
            }
        }))
        .map_err(failed)?;
        // Until a call sets its own: already past, already cancelled.
        let call = Arc::new(Mutex::new(CallState {
            deadline: Instant::now(),
            cancel: Arc::new(AtomicBool::new(true)),
        }));
        let (state, own) = (call.clone(), host.clone());
        conn.progress_handler(
            PROGRESS_OPS,
            // The host's own statements (the schema cookie, transaction
            // control) are never interrupted: a transaction it opened must
            // be closed, whatever the call's deadline.
            Some(move || {
                !own.load(Ordering::Acquire)
                    && match state.lock() {
                        Ok(c) => c.cancel.load(Ordering::Acquire) || Instant::now() >= c.deadline,
                        Err(_) => true,
                    }
            }),
        )
        .map_err(failed)?;
        Ok(Self { conn, generation, schema_version, call, denied, host })
    }

    /// Runs `call` under `limits` (see [`execute`]): sets the call's
    /// deadline and cancel flag for the progress handler, and how long the
    /// call may wait for another writer's lock (at most `max_busy_wait`;
    /// zero: not at all).
    fn call(
        &self,
        call: &Call,
        limits: CallLimits,
        grant: &DatabaseGrant,
        cancel: &Arc<AtomicBool>,
        max_busy_wait: Duration,
    ) -> Ran {
        let remaining = limits.remaining();
        if remaining.is_zero() {
            return Ran::Done(Err(Failure::Timeout));
        }
        if let Err(e) = self.conn.busy_timeout(remaining.min(max_busy_wait)) {
            return Ran::Done(Err(failed(e)));
        }
        if let Ok(mut d) = self.denied.lock() {
            *d = None;
        }
        match self.call.lock() {
            Ok(mut c) => *c = CallState { deadline: limits.deadline, cancel: cancel.clone() },
            Err(_) => return Ran::Done(Err(Failure::Failed(String::new(), "connection state".into()))),
        }
        execute(self, call, limits, grant)
    }

    /// Runs `f` as the host, past the authorizer and the progress handler:
    /// the host's own fixed statements (the schema cookie, transaction
    /// control).
    fn as_host<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        self.host.store(true, Ordering::Release);
        let r = f(&self.conn);
        self.host.store(false, Ordering::Release);
        r
    }

    fn host_statement(&self, sql: &str) -> rusqlite::Result<()> {
        self.as_host(|c| c.prepare_cached(sql).and_then(|mut st| st.raw_execute()).map(drop))
    }

    /// Whether the schema cookie moved since the connection was opened.
    fn stale(&self) -> rusqlite::Result<bool> {
        let now: i64 = self.as_host(|c| {
            c.prepare_cached("PRAGMA schema_version").and_then(|mut st| st.query_row([], |r| r.get(0)))
        })?;
        Ok(now != self.schema_version)
    }

    /// Ends the transaction `execute` opened, if any is still open (an
    /// interrupted read leaves it open; a failed write is rolled back by
    /// SQLite itself).
    fn roll_back(&self) {
        if !self.conn.is_autocommit() {
            let _ = self.host_statement("ROLLBACK");
        }
    }
}

/// The authorizer's decision: `Err` names what was refused.
/// `stored` holds the lower-cased names of `main`'s tables and views.
fn authorize(grant: &DatabaseGrant, stored: &[String], ctx: &AuthContext<'_>) -> Result<(), String> {
    let table_ok = |table: &str| {
        ctx.database_name == Some("main")
            && !table.to_ascii_lowercase().starts_with("sqlite_")
            && grant.covers(table)
    };
    let not_granted = |table: &str| format!("table `{table}` is not in the grant");
    match ctx.action {
        AuthAction::Select | AuthAction::Recursive | AuthAction::Function { .. } => Ok(()),
        // A table read with no column (`count(*)`, `EXISTS`) names the schema
        // only when the SQL did: none for an unqualified table, a CTE or a
        // subquery. A name that is a stored table must be granted; any other
        // (a CTE, a subquery) stores nothing itself.
        AuthAction::Read { table_name, .. } if ctx.database_name.is_none() => {
            let lower = table_name.to_ascii_lowercase();
            let engine = lower.starts_with("sqlite_");
            if !engine && (!stored.contains(&lower) || grant.covers(table_name)) {
                Ok(())
            } else {
                Err(not_granted(table_name))
            }
        }
        AuthAction::Read { table_name, .. } => {
            if table_ok(table_name) {
                Ok(())
            } else {
                Err(not_granted(table_name))
            }
        }
        AuthAction::Insert { table_name }
        | AuthAction::Delete { table_name }
        | AuthAction::Update { table_name, .. } => {
            if !table_ok(table_name) {
                Err(not_granted(table_name))
            } else if !grant.writes() {
                Err(format!("write to table `{table_name}` with a read-only grant"))
            } else {
                Ok(())
            }
        }
        AuthAction::Pragma { pragma_name, .. } => Err(format!("PRAGMA {pragma_name} is not allowed")),
        AuthAction::Attach { .. } => Err("ATTACH is not allowed".into()),
        AuthAction::Detach { .. } => Err("DETACH is not allowed".into()),
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            Err("transaction control is not allowed: each call is its own transaction".into())
        }
        _ => Err("schema changes are not allowed: the project owner manages tables".into()),
    }
}

/// Runs one guest statement on `p`, reading the schema cookie first (a
/// stale connection runs nothing). A read statement runs in a transaction
/// the host opens for it, with the cookie read inside: one snapshot, locked
/// once. A write takes SQLite's own write transaction, which starts with the
/// statement, so its cookie is read just before it.
fn execute(p: &Pooled, call: &Call, limits: CallLimits, grant: &DatabaseGrant) -> Ran {
    let conn = &p.conn;
    let prepared = if call.sql.len() <= MAX_CACHED_SQL_BYTES {
        conn.prepare_cached(&call.sql).map(Prepared::Cached)
    } else {
        conn.prepare(&call.sql).map(Prepared::Once)
    };
    let mut st = match prepared {
        Ok(st) => st,
        Err(rusqlite::Error::MultipleStatement) => {
            return Ran::Done(Err(Failure::Invalid("only one statement may run per call".into())));
        }
        Err(e) => {
            let denied = p.denied.lock().ok().and_then(|mut d| d.take());
            // The authorizer judged by its list of stored tables: its
            // verdict stands only while that list is current.
            if matches!(p.stale(), Ok(true)) {
                return Ran::Stale;
            }
            return Ran::Done(Err(match denied {
                Some(what) => Failure::Denied(what),
                None => map_error(e, limits),
            }));
        }
    };
    // A read grant never runs a writing statement (the read-only connection
    // and the authorizer already refuse it: a third check costs nothing).
    let readonly = st.readonly();
    if !grant.writes() && !readonly {
        return Ran::Done(Err(Failure::Denied("a write with a read-only grant".into())));
    }
    if let Err(f) = bind(&mut st, call, limits) {
        return Ran::Done(Err(f));
    }
    if readonly && let Err(e) = p.host_statement("BEGIN") {
        return Ran::Done(Err(map_error(e, limits)));
    }
    match p.stale() {
        Ok(false) => {}
        Ok(true) => {
            p.roll_back();
            return Ran::Stale;
        }
        Err(e) => {
            p.roll_back();
            return Ran::Done(Err(map_error(e, limits)));
        }
    }
    let mut result = rows(&mut st, call, limits).map(|rows| match rows {
        Some(rows) => Output::Rows(rows),
        // `changes()` still counts the connection's previous write.
        None if readonly => Output::Changed(0),
        None => Output::Changed(conn.changes()),
    });
    drop(st);
    if readonly
        && result.is_ok()
        && let Err(e) = p.host_statement("COMMIT")
    {
        result = Err(map_error(e, limits));
    }
    p.roll_back();
    Ran::Done(result)
}

/// Binds the call's parameters to `st`, checking their count.
fn bind(st: &mut rusqlite::Statement<'_>, call: &Call, limits: CallLimits) -> Result<(), Failure> {
    if st.parameter_count() != call.params.len() {
        return Err(Failure::Invalid(format!(
            "the statement has {} parameters; {} were given",
            st.parameter_count(),
            call.params.len()
        )));
    }
    for (i, p) in call.params.iter().enumerate() {
        let v = match p {
            wit::Value::Null => rusqlite::types::Value::Null,
            wit::Value::Boolean(b) => rusqlite::types::Value::Integer(i64::from(*b)),
            wit::Value::Integer(n) => rusqlite::types::Value::Integer(*n),
            wit::Value::Float(f) => rusqlite::types::Value::Real(*f),
            wit::Value::Text(s) | wit::Value::Json(s) => rusqlite::types::Value::Text(s.clone()),
            wit::Value::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
        };
        st.raw_bind_parameter(i + 1, v).map_err(|e| map_error(e, limits))?;
    }
    Ok(())
}

/// Steps `st` to its end: its rows when the call returns rows (within the
/// result budget), `None` otherwise. The statement is reset when this returns.
fn rows(
    st: &mut rusqlite::Statement<'_>,
    call: &Call,
    limits: CallLimits,
) -> Result<Option<wit::Rows>, Failure> {
    let columns: Vec<String> = st.column_names().iter().map(|s| s.to_string()).collect();
    let n = columns.len();
    let mut budget = ResultBudget::new(limits);
    let mut out = Vec::new();
    let mut rows = st.raw_query();
    loop {
        let row = match rows.next() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => return Err(map_error(e, limits)),
        };
        if !call.returns_rows {
            continue;
        }
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            values.push(match row.get_ref(i).map_err(|e| map_error(e, limits))? {
                ValueRef::Null => wit::Value::Null,
                ValueRef::Integer(i) => wit::Value::Integer(i),
                ValueRef::Real(f) => wit::Value::Float(f),
                ValueRef::Text(t) => wit::Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => wit::Value::Blob(b.to_vec()),
            });
        }
        budget.row(&values)?;
        out.push(values);
    }
    Ok(call.returns_rows.then_some(wit::Rows { columns, rows: out }))
}

/// A guest's statement, from the connection's cache or prepared for once.
enum Prepared<'c> {
    Cached(rusqlite::CachedStatement<'c>),
    Once(rusqlite::Statement<'c>),
}

impl<'c> std::ops::Deref for Prepared<'c> {
    type Target = rusqlite::Statement<'c>;
    fn deref(&self) -> &Self::Target {
        match self {
            Prepared::Cached(s) => s,
            Prepared::Once(s) => s,
        }
    }
}

impl std::ops::DerefMut for Prepared<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Prepared::Cached(s) => s,
            Prepared::Once(s) => s,
        }
    }
}

fn map_error(e: rusqlite::Error, limits: CallLimits) -> Failure {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            rusqlite::ErrorCode::OperationInterrupted => return Failure::Timeout,
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                return if limits.remaining().is_zero() {
                    Failure::Timeout
                } else {
                    Failure::Busy(e.to_string())
                };
            }
            rusqlite::ErrorCode::AuthorizationForStatementDenied => {
                return Failure::Denied("the statement is not allowed".into());
            }
            rusqlite::ErrorCode::ReadOnly => return Failure::Denied("a write with a read-only grant".into()),
            rusqlite::ErrorCode::ConstraintViolation => {
                return Failure::Constraint(sqlstate(&e).to_owned(), e.to_string());
            }
            _ => {}
        }
    }
    Failure::Failed(sqlstate(&e).to_owned(), e.to_string())
}

/// The SQLSTATE PostgreSQL would report for a SQLite constraint error, so
/// extensions handle both dialects alike; empty when there is none.
fn sqlstate(e: &rusqlite::Error) -> &'static str {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => match f.extended_code {
            2067 | 1555 => "23505", // UNIQUE, PRIMARY KEY
            1299 => "23502",        // NOT NULL
            787 => "23503",         // FOREIGN KEY
            275 => "23514",         // CHECK
            _ => "",
        },
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use magflock_registry::{DatabaseAccess, DatabaseTables};

    fn grant(access: DatabaseAccess, tables: &[&str]) -> Arc<DatabaseGrant> {
        Arc::new(DatabaseGrant {
            access,
            tables: DatabaseTables::Only(tables.iter().map(|t| t.to_string()).collect()),
        })
    }

    fn db(dir: &tempfile::TempDir) -> PathBuf {
        let path = dir.path().join("p.db");
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT);
             CREATE TABLE secrets (v TEXT);
             INSERT INTO todos (title) VALUES ('a'), ('b'); INSERT INTO secrets VALUES ('s');",
        )
        .unwrap();
        path
    }

    fn limits(ms: u64) -> CallLimits {
        CallLimits { deadline: Instant::now() + Duration::from_millis(ms), max_rows: 100, max_bytes: 1 << 20 }
    }

    /// One call through the installation's idle connections, as the
    /// capability makes it (generation 0).
    fn call_on(
        idle: &Idle,
        path: &std::path::Path,
        g: &Arc<DatabaseGrant>,
        sql: &str,
        rows: bool,
    ) -> (Result<Output, Failure>, bool) {
        let call = Call { sql: sql.into(), params: vec![], returns_rows: rows, limits: limits(2000) };
        idle.run(path, g, 0, &call, &Arc::new(AtomicBool::new(false)))
    }

    /// A call on a fresh set of connections.
    fn run(path: &std::path::Path, g: &Arc<DatabaseGrant>, sql: &str) -> Result<Output, Failure> {
        call_on(&Idle::default(), path, g, sql, true).0
    }

    fn idle_count(idle: &Idle) -> usize {
        idle.0.lock().unwrap().len()
    }

    #[test]
    fn the_authorizer_allows_exactly_the_grant() {
        let dir = tempfile::tempdir().unwrap();
        let path = db(&dir);
        let read = grant(DatabaseAccess::Read, &["todos"]);
        let rw = grant(DatabaseAccess::ReadWrite, &["todos"]);
        for ok in [
            "SELECT * FROM todos",
            "SELECT count(*) FROM todos",
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3) SELECT * FROM c",
            "SELECT upper(title) FROM todos WHERE id IN (SELECT id FROM todos)",
        ] {
            assert!(run(&path, &read, ok).is_ok(), "{ok}");
        }
        assert!(run(&path, &rw, "UPDATE todos SET title = 'x'").is_ok());
        for (g, denied) in [
            (&read, "INSERT INTO todos (title) VALUES ('x')"),
            (&read, "DELETE FROM todos"),
            (&rw, "SELECT * FROM secrets"),
            (&rw, "SELECT count(*) FROM secrets"),
            (&rw, "SELECT * FROM sqlite_schema"),
            (&rw, "PRAGMA table_info(secrets)"),
            (&rw, "CREATE TABLE x (y)"),
            (&rw, "DROP TABLE todos"),
            (&rw, "BEGIN"),
            (&rw, "ATTACH DATABASE '/tmp/other.db' AS o"),
        ] {
            assert!(matches!(run(&path, g, denied), Err(Failure::Denied(_))), "{denied}");
        }
        assert!(matches!(run(&path, &rw, "SELECT 1; SELECT 2"), Err(Failure::Invalid(_))));
    }

    #[test]
    fn reused_connections_keep_enforcing_exactly_the_grant() {
        let dir = tempfile::tempdir().unwrap();
        let path = db(&dir);
        let read = grant(DatabaseAccess::Read, &["todos"]);
        let rw = grant(DatabaseAccess::ReadWrite, &["todos"]);
        let (ri, wi) = (Idle::default(), Idle::default());
        for _ in 0..3 {
            assert!(call_on(&ri, &path, &read, "SELECT * FROM todos", true).0.is_ok());
            let write = call_on(&ri, &path, &read, "INSERT INTO todos (title) VALUES ('x')", false).0;
            assert!(matches!(write, Err(Failure::Denied(_))));
            let secret = call_on(&wi, &path, &rw, "SELECT count(*) FROM secrets", true).0;
            assert!(matches!(secret, Err(Failure::Denied(_))));
            assert!(call_on(&wi, &path, &rw, "UPDATE todos SET title = 'y'", false).0.is_ok());
        }
        // One connection each, reused by every call.
        assert_eq!((idle_count(&ri), idle_count(&wi)), (1, 1));
        // A read run through `execute` changes nothing, whatever the
        // connection's previous write changed.
        assert!(matches!(call_on(&wi, &path, &rw, "SELECT * FROM todos", false).0, Ok(Output::Changed(0))));
    }

    #[test]
    fn a_schema_change_not_seen_by_the_host_retires_idle_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = db(&dir);
        let rw = grant(DatabaseAccess::ReadWrite, &["todos"]);
        let idle = Idle::default();
        assert!(call_on(&idle, &path, &rw, "SELECT count(*) FROM todos", true).0.is_ok());
        assert_eq!(idle_count(&idle), 1);
        // A table created behind the host's back (the generation does not
        // move): the idle connection's authorizer does not know it as stored.
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE hidden (v); INSERT INTO hidden VALUES (1);")
            .unwrap();
        let (r, changed) = call_on(&idle, &path, &rw, "SELECT count(*) FROM hidden", true);
        assert!(matches!(r, Err(Failure::Denied(_))), "{:?}", r.err());
        assert!(changed, "the caller is told the schema changed");
    }

    /// A call of `sql` attempted on the calling thread, as the capability
    /// first tries it.
    fn inline_on(idle: &Idle, g: &Arc<DatabaseGrant>, sql: &str, rows: bool) -> Inline {
        let call = Call { sql: sql.into(), params: vec![], returns_rows: rows, limits: limits(5000) };
        idle.run_inline(g, 0, &call)
    }

    fn count_todos(path: &std::path::Path) -> i64 {
        Connection::open(path).unwrap().query_row("SELECT count(*) FROM todos", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_short_call_on_an_idle_connection_finishes_on_the_callers_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = db(&dir);
        let rw = grant(DatabaseAccess::ReadWrite, &["todos"]);
        let idle = Idle::default();
        // No idle connection yet: opening one is left to the blocking pool.
        assert!(matches!(
            inline_on(&idle, &rw, "SELECT * FROM todos", true),
            Inline::Moved { changed: false }
        ));
        assert!(call_on(&idle, &path, &rw, "SELECT * FROM todos", true).0.is_ok());
        let Inline::Done(Ok(Output::Changed(1))) =
            inline_on(&idle, &rw, "INSERT INTO todos (title) VALUES ('inline')", false)
        else {
            panic!("the insert did not finish inline")
        };
        // The grant holds inline as on the blocking pool.
        assert!(matches!(
            inline_on(&idle, &rw, "SELECT count(*) FROM secrets", true),
            Inline::Done(Err(Failure::Denied(_)))
        ));
        assert_eq!(idle_count(&idle), 1, "the connection went back idle");
    }

    #[test]
    fn a_call_longer_than_a_slice_moves_to_the_blocking_pool_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = db(&dir);
        let rw = grant(DatabaseAccess::ReadWrite, &["todos"]);
        let idle = Idle::default();
        assert!(call_on(&idle, &path, &rw, "SELECT 1", true).0.is_ok());
        let before = count_todos(&path);
        // Far more than one slice of work: the inline attempt is interrupted
        // and rolled back whole, with the call's own time left.
        let big = "INSERT INTO todos (title) WITH RECURSIVE c(x) AS \
                   (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT 'n' || x FROM c";
        assert!(matches!(inline_on(&idle, &rw, big, false), Inline::Moved { changed: false }));
        assert_eq!(count_todos(&path), before, "the interrupted insert left rows");
        assert_eq!(idle_count(&idle), 1, "the interrupted connection was kept for the next call");
        // On the blocking pool it runs to the end.
        let (r, _) = call_on(&idle, &path, &rw, big, false);
        assert!(matches!(r, Ok(Output::Changed(300_000))), "{:?}", r.err());
        assert_eq!(count_todos(&path), before + 300_000);
    }

    #[test]
    fn a_locked_database_moves_the_call_without_waiting_on_the_callers_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = db(&dir);
        let rw = grant(DatabaseAccess::ReadWrite, &["todos"]);
        let idle = Idle::default();
        assert!(call_on(&idle, &path, &rw, "SELECT 1", true).0.is_ok());
        let writer = Connection::open(&path).unwrap();
        writer.execute_batch("BEGIN IMMEDIATE; INSERT INTO todos (title) VALUES ('held');").unwrap();
        let started = Instant::now();
        let attempt = inline_on(&idle, &rw, "INSERT INTO todos (title) VALUES ('waits')", false);
        assert!(matches!(attempt, Inline::Moved { changed: false }));
        assert!(started.elapsed() < Duration::from_millis(500), "it waited {:?}", started.elapsed());
        // On the blocking pool the call waits for the lock and then writes.
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            writer.execute_batch("COMMIT").unwrap();
        });
        let (r, _) = call_on(&idle, &path, &rw, "INSERT INTO todos (title) VALUES ('waits')", false);
        release.join().unwrap();
        assert!(matches!(r, Ok(Output::Changed(1))), "{:?}", r.err());
    }

    #[test]
    fn a_schema_change_not_seen_by_the_host_is_caught_inline_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = db(&dir);
        let rw = grant(DatabaseAccess::ReadWrite, &["todos"]);
        let idle = Idle::default();
        assert!(call_on(&idle, &path, &rw, "SELECT 1", true).0.is_ok());
        Connection::open(&path).unwrap().execute_batch("CREATE TABLE hidden (v)").unwrap();
        // The stale connection is retired; a new one is opened off the thread.
        assert!(matches!(
            inline_on(&idle, &rw, "SELECT count(*) FROM hidden", true),
            Inline::Moved { changed: true }
        ));
        assert_eq!(idle_count(&idle), 0);
    }

    /// A statement that runs until it is interrupted.
    const ENDLESS: &str =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

    #[test]
    fn a_statement_past_its_deadline_is_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let path = db(&dir);
        let g = grant(DatabaseAccess::Read, &["todos"]);
        let call = Call { sql: ENDLESS.into(), params: vec![], returns_rows: true, limits: limits(100) };
        let idle = Idle::default();
        let started = Instant::now();
        let (r, _) = idle.run(&path, &g, 0, &call, &Arc::new(AtomicBool::new(false)));
        assert!(matches!(r, Err(Failure::Timeout)));
        assert!(started.elapsed() < Duration::from_secs(1));
        // The interrupted connection is not kept; the next call gets a fresh one.
        assert_eq!(idle_count(&idle), 0);
        assert!(call_on(&idle, &path, &g, "SELECT * FROM todos", true).0.is_ok());
    }

    #[test]
    fn an_abandoned_call_is_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let path = db(&dir);
        let g = grant(DatabaseAccess::Read, &["todos"]);
        let call = Call { sql: ENDLESS.into(), params: vec![], returns_rows: true, limits: limits(60_000) };
        let started = Instant::now();
        let (r, _) = Idle::default().run(&path, &g, 0, &call, &Arc::new(AtomicBool::new(true)));
        assert!(matches!(r, Err(Failure::Timeout)));
        // Stopped by the flag, not by the 60 s deadline.
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn a_finished_calls_cancel_flag_does_not_cost_its_connection() {
        // Every call's flag is set once it ends (`CancelOnDrop`): it must not
        // reach the next call on the same connection. `total_changes()` is
        // per connection: a reopened one says 0.
        let dir = tempfile::tempdir().unwrap();
        let path = db(&dir);
        let g = grant(DatabaseAccess::ReadWrite, &["todos"]);
        let idle = Idle::default();
        let ended = |sql: &str, rows: bool| {
            let call = Call { sql: sql.into(), params: vec![], returns_rows: rows, limits: limits(2000) };
            let cancel = Arc::new(AtomicBool::new(false));
            let out = idle.run(&path, &g, 0, &call, &cancel).0;
            cancel.store(true, Ordering::Release);
            out
        };
        assert!(ended("INSERT INTO todos (title) VALUES ('c')", false).is_ok());
        for i in 0..500 {
            let Ok(Output::Rows(r)) = ended("SELECT total_changes()", true) else {
                panic!("call {i} failed")
            };
            assert!(
                matches!(r.rows[0][0], wit::Value::Integer(n) if n >= 1),
                "call {i} ran on a new connection"
            );
        }
    }
}
