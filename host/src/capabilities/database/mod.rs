//! Capability `database`: `magflock:ext/database`, the project database.
//!
//! Each project has its own database: a SQLite file
//! `<data_dir>/projects/<project>.db` when the control plane is SQLite (the
//! embedded default), a PostgreSQL schema `p_<project>` in the control
//! plane's database when it is PostgreSQL (scale-out). See
//! `docs/decisions/011-project-databases.md`.
//!
//! The grant (read or read-write, and a table list) is enforced by the
//! database, never by reading the SQL text:
//!
//! - SQLite ([`sqlite`]): connections kept per installation (retired when
//!   the schema changes), opened read-only for a read grant, with an
//!   authorizer that allows reads (and, for read-write, row
//!   writes) of the granted tables of `main` only and refuses everything
//!   else (`ATTACH`, `PRAGMA`, DDL, transactions, the engine's own tables).
//! - PostgreSQL ([`postgres`]): a login role per installation, member of
//!   nothing, granted `USAGE` on its project's schema and `SELECT` (or
//!   `SELECT`, `INSERT`, `UPDATE`, `DELETE`) on the granted tables only. The
//!   installation's connections log in as that role, so `SET ROLE`/`RESET
//!   ROLE` inside a statement can reach no other role.
//!
//! Every call runs exactly one statement (a second one is refused by the
//! engine's prepare), with parameters always bound, under the project's
//! query policy (statement timeout, max rows, max bytes) and never past the
//! invocation's deadline. A denied call is an error the guest sees *and* a
//! `capability_denied` violation naming the table or permission.

mod postgres;
mod sqlite;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use magflock_registry::DatabaseGrant;
use wasmtime::component::{HasData, Linker};

use crate::runtime::bindings::database::{self as wit, Error};
use crate::runtime::limits::{CallViolation, Meter};
use crate::runtime::outcome::HostTrap;
use crate::runtime::state::InvocationState;

// SQL text and parameters come from the guest: every size is capped.
/// Longest SQL text of one call, in bytes.
pub const MAX_SQL_BYTES: usize = 64 * 1024;
/// Most parameters of one call.
pub const MAX_PARAMS: usize = 1000;
/// Largest single parameter (text, blob, json), in bytes.
pub const MAX_PARAM_BYTES: usize = 4 * 1024 * 1024;
/// Largest total of one call's parameters, in bytes.
pub const MAX_PARAMS_TOTAL_BYTES: usize = 16 * 1024 * 1024;
/// Bytes a number, boolean or null counts toward a result's size.
const SCALAR_BYTES: u64 = 8;

/// A project's query policy: every statement is cut at these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryPolicy {
    /// Longest a statement may run, in milliseconds (the invocation's
    /// deadline cuts it earlier when that comes first).
    pub statement_timeout_ms: u64,
    /// Most rows one statement may return.
    pub max_rows: u64,
    /// Most bytes of values one statement may return.
    pub max_bytes: u64,
}

/// Highest values an owner may set, so a policy cannot disable the limits.
pub const MAX_POLICY: QueryPolicy =
    QueryPolicy { statement_timeout_ms: 60_000, max_rows: 1_000_000, max_bytes: 256 * 1024 * 1024 };

impl Default for QueryPolicy {
    fn default() -> Self {
        Self { statement_timeout_ms: 5_000, max_rows: 10_000, max_bytes: 16 * 1024 * 1024 }
    }
}

impl QueryPolicy {
    pub fn statement_timeout(&self) -> Duration {
        Duration::from_millis(self.statement_timeout_ms)
    }

    /// Whether every value is within [`MAX_POLICY`] and above zero.
    pub fn is_valid(&self) -> bool {
        (1..=MAX_POLICY.statement_timeout_ms).contains(&self.statement_timeout_ms)
            && (1..=MAX_POLICY.max_rows).contains(&self.max_rows)
            && (1..=MAX_POLICY.max_bytes).contains(&self.max_bytes)
    }
}

/// Where project databases live, for the whole host.
pub struct ProjectDatabases {
    backend: Backend,
    policies: Mutex<HashMap<String, QueryPolicy>>,
    /// Bumped per project when its tables change, so installations re-apply
    /// their grants (PostgreSQL grants name existing tables).
    generations: Mutex<HashMap<String, u64>>,
}

enum Backend {
    Sqlite(sqlite::SqliteDatabases),
    Postgres(Box<postgres::PgDatabases>),
}

/// Why the host could not reach or prepare a project database.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("project `{0}` is not a valid project id")]
    Project(String),
    #[error("project database: {0}")]
    Unavailable(String),
    #[error("{message}")]
    Sql { code: String, message: String },
}

impl ProjectDatabases {
    /// Project databases beside the control plane at `control_url`: SQLite
    /// files under `data_dir/projects` for a `sqlite:` control plane,
    /// schemas in the same PostgreSQL database for a `postgres:` one.
    pub fn for_control_plane(control_url: &str, data_dir: &std::path::Path) -> anyhow::Result<Self> {
        let backend = match magflock_store::DbKind::from_url(control_url)? {
            magflock_store::DbKind::Sqlite => {
                Backend::Sqlite(sqlite::SqliteDatabases::new(data_dir.join("projects")))
            }
            magflock_store::DbKind::Postgres => {
                Backend::Postgres(Box::new(postgres::PgDatabases::new(control_url)?))
            }
        };
        Ok(Self { backend, policies: Mutex::new(HashMap::new()), generations: Mutex::new(HashMap::new()) })
    }

    pub fn dialect(&self) -> wit::SqlDialect {
        match self.backend {
            Backend::Sqlite(_) => wit::SqlDialect::Sqlite,
            Backend::Postgres(_) => wit::SqlDialect::Postgres,
        }
    }

    /// Where a SQLite project database is (for diagnostics and tests).
    pub fn sqlite_path(&self, project: &str) -> Option<PathBuf> {
        match &self.backend {
            Backend::Sqlite(s) => Some(s.path(project)),
            Backend::Postgres(_) => None,
        }
    }

    pub fn policy(&self, project: &str) -> QueryPolicy {
        self.policies.lock().ok().and_then(|p| p.get(project).copied()).unwrap_or_default()
    }

    /// Sets a project's query policy on this host. The control API stores
    /// it first (`Store::set_query_policy`); hosts load the stored ones at
    /// start ([`ProjectDatabases::load_policies`]).
    pub fn set_policy(&self, project: &str, policy: QueryPolicy) {
        if let Ok(mut p) = self.policies.lock() {
            p.insert(project.to_owned(), policy);
        }
    }

    /// Takes every stored query policy; one that is no longer valid (the
    /// host maximum went down) is clamped to it.
    pub async fn load_policies(
        &self,
        store: &magflock_store::Store,
    ) -> Result<usize, magflock_store::StoreError> {
        let stored = store.list_query_policies().await?;
        let n = stored.len();
        for (project, p) in stored {
            let to_u64 = |v: i64| u64::try_from(v).unwrap_or(0).max(1);
            let policy = QueryPolicy {
                statement_timeout_ms: to_u64(p.statement_timeout_ms).min(MAX_POLICY.statement_timeout_ms),
                max_rows: to_u64(p.max_rows).min(MAX_POLICY.max_rows),
                max_bytes: to_u64(p.max_bytes).min(MAX_POLICY.max_bytes),
            };
            self.set_policy(&project, policy);
        }
        Ok(n)
    }

    fn generation(&self, project: &str) -> u64 {
        self.generations.lock().ok().and_then(|g| g.get(project).copied()).unwrap_or(0)
    }

    fn bump(&self, project: &str) {
        if let Ok(mut g) = self.generations.lock() {
            *g.entry(project.to_owned()).or_insert(0) += 1;
        }
    }

    /// Forgets an installation at uninstall: on PostgreSQL its role is
    /// dropped and its connections closed. On SQLite there is nothing here
    /// to forget: its idle connections belong to the installation's
    /// `DbCtx` and close with it. The project's tables and rows stay.
    pub async fn drop_installation(&self, project: &str, extension: &str) -> Result<(), DatabaseError> {
        check_project(project)?;
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(p) => p.drop_installation(project, extension).await,
        }
    }

    /// Whether the database holds a principal for the installation (the
    /// PostgreSQL role); always `false` on SQLite.
    pub async fn installation_role_exists(
        &self,
        project: &str,
        extension: &str,
    ) -> Result<bool, DatabaseError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(false),
            Backend::Postgres(p) => p.role_exists(project, extension).await,
        }
    }

    /// Runs the owner's SQL (DDL and data, several statements allowed) in a
    /// project's database with full rights on it, creating the database or
    /// schema first. Never reachable by extensions.
    pub async fn owner_execute(&self, project: &str, sql: &str) -> Result<(), DatabaseError> {
        check_project(project)?;
        let r = match &self.backend {
            Backend::Sqlite(s) => s.owner_execute(project, sql).await,
            Backend::Postgres(p) => p.owner_execute(project, sql).await,
        };
        self.bump(project);
        r
    }
}

fn check_project(project: &str) -> Result<(), DatabaseError> {
    if magflock_store::is_valid_project_id(project) {
        Ok(())
    } else {
        Err(DatabaseError::Project(project.to_owned()))
    }
}

/// How long a description of a PostgreSQL project's tables is reused.
/// Changes through this host move the project's generation and are seen at
/// once; another host sharing the database (scale-out) may change the
/// schema without this host knowing, which this bounds. A stale
/// description costs correctness of one request's SQL at worst, never
/// access: the role's privileges are checked on every statement.
const PG_DESCRIBE_TTL: Duration = Duration::from_secs(1);

/// The grant of one installation.
pub struct DbCtx {
    dbs: Arc<ProjectDatabases>,
    project: String,
    extension: String,
    grant: Arc<DatabaseGrant>,
    /// The generation of the project's tables the grant was last applied to
    /// (`u64::MAX`: never).
    applied: AtomicU64,
    apply_lock: tokio::sync::Mutex<()>,
    /// The last `describe()` answer, with the generation it was read at and
    /// when (every instance is fresh, so the cache lives here, per
    /// installation: the answer depends on the grant).
    described: Mutex<Option<Described>>,
    /// Idle SQLite connections opened for this grant (unused on PostgreSQL,
    /// whose connections are the role's).
    sqlite_idle: Arc<sqlite::Idle>,
}

struct Described {
    generation: u64,
    at: Instant,
    tables: Arc<Vec<wit::Table>>,
}

impl DbCtx {
    pub fn new(dbs: Arc<ProjectDatabases>, project: &str, extension: &str, grant: DatabaseGrant) -> Self {
        Self {
            dbs,
            project: project.to_owned(),
            extension: extension.to_owned(),
            grant: Arc::new(grant),
            applied: AtomicU64::new(u64::MAX),
            apply_lock: tokio::sync::Mutex::new(()),
            described: Mutex::new(None),
            sqlite_idle: Arc::new(sqlite::Idle::default()),
        }
    }

    /// The cached description, if it is still valid at `generation`.
    fn cached_description(&self, generation: u64) -> Option<Arc<Vec<wit::Table>>> {
        let d = self.described.lock().ok()?;
        let d = d.as_ref()?;
        let fresh = match self.dbs.backend {
            Backend::Sqlite(_) => true,
            Backend::Postgres(_) => d.at.elapsed() < PG_DESCRIBE_TTL,
        };
        (d.generation == generation && fresh).then(|| d.tables.clone())
    }

    fn cache_description(&self, generation: u64, tables: Vec<wit::Table>) {
        if let Ok(mut d) = self.described.lock() {
            *d = Some(Described { generation, at: Instant::now(), tables: Arc::new(tables) });
        }
    }

    /// Applies the grant to the database once per change of the project's
    /// tables: creates the SQLite file or the PostgreSQL schema and role and
    /// sets the role's table privileges. Returns the generation it checked.
    async fn ensure_applied(&self) -> Result<u64, DatabaseError> {
        let generation = self.dbs.generation(&self.project);
        if self.applied.load(Ordering::Acquire) == generation {
            return Ok(generation);
        }
        let _guard = self.apply_lock.lock().await;
        if self.applied.load(Ordering::Acquire) == generation {
            return Ok(generation);
        }
        check_project(&self.project)?;
        match &self.dbs.backend {
            Backend::Sqlite(s) => s.ensure(&self.project).await?,
            Backend::Postgres(p) => p.apply_grant(&self.project, &self.extension, &self.grant).await?,
        }
        self.applied.store(generation, Ordering::Release);
        Ok(generation)
    }

    /// [`DbCtx::ensure_applied`], with the failure logged and answered to
    /// the guest as the database being unavailable.
    async fn prepared(&self) -> Result<u64, Error> {
        self.ensure_applied().await.map_err(|e| {
            tracing::warn!(project = %self.project, extension = %self.extension, error = %e,
                "project database could not be prepared");
            Error::Failed((String::new(), "the project database is unavailable".into()))
        })
    }
}

/// What one call asks for.
pub(crate) struct Call {
    pub sql: String,
    pub params: Vec<wit::Value>,
    /// `query` returns rows; `execute` returns the count of changed rows.
    pub returns_rows: bool,
    pub limits: CallLimits,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct CallLimits {
    /// When the statement must be done: the earlier of the statement timeout
    /// and the invocation's deadline.
    pub deadline: Instant,
    pub max_rows: u64,
    pub max_bytes: u64,
}

impl CallLimits {
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// What a statement produced.
pub(crate) enum Output {
    Rows(wit::Rows),
    Changed(u64),
}

/// Why a call failed, before it becomes the guest's [`Error`].
#[derive(Debug)]
pub(crate) enum Failure {
    /// Outside the grant; names the table or permission.
    Denied(String),
    Invalid(String),
    /// (message, limit name, limit, actual so far)
    TooLarge(String, u64, u64),
    Timeout,
    /// Another connection held the lock for as long as the call could wait.
    Busy(String),
    Constraint(String, String),
    Failed(String, String),
}

/// Sets the flag when dropped: a call abandoned by the invocation's outer
/// timeout (its future dropped) stops the statement still running on the
/// database's side (SQLite's progress handler, a PostgreSQL cancel request).
pub(crate) struct CancelOnDrop(pub Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Counts a result's size against the call's limits.
pub(crate) struct ResultBudget {
    limits: CallLimits,
    pub rows: u64,
    pub bytes: u64,
}

impl ResultBudget {
    pub fn new(limits: CallLimits) -> Self {
        Self { limits, rows: 0, bytes: 0 }
    }

    /// Adds one row; `Err` once a limit is passed.
    pub fn row(&mut self, row: &[wit::Value]) -> Result<(), Failure> {
        self.rows += 1;
        if self.rows > self.limits.max_rows {
            return Err(Failure::TooLarge(
                format!(
                    "the statement returned more than {} rows, the project's limit",
                    self.limits.max_rows
                ),
                self.limits.max_rows,
                self.rows,
            ));
        }
        let size: u64 = row.iter().map(value_bytes).sum();
        self.bytes = self.bytes.saturating_add(size);
        if self.bytes > self.limits.max_bytes {
            return Err(Failure::TooLarge(
                format!(
                    "the statement returned more than {} bytes, the project's limit",
                    self.limits.max_bytes
                ),
                self.limits.max_bytes,
                self.bytes,
            ));
        }
        Ok(())
    }
}

fn value_bytes(v: &wit::Value) -> u64 {
    match v {
        wit::Value::Text(s) | wit::Value::Json(s) => s.len() as u64,
        wit::Value::Blob(b) => b.len() as u64,
        _ => SCALAR_BYTES,
    }
}

/// Checks the guest's SQL and parameters against the size caps.
fn check_input(sql: &str, params: &[wit::Value]) -> Result<(), Failure> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(Failure::Invalid(format!(
            "the SQL text is {} bytes; the limit is {MAX_SQL_BYTES}",
            sql.len()
        )));
    }
    if sql.contains('\0') {
        return Err(Failure::Invalid("the SQL text contains a NUL character".into()));
    }
    if params.len() > MAX_PARAMS {
        return Err(Failure::Invalid(format!("{} parameters; the limit is {MAX_PARAMS}", params.len())));
    }
    let mut total = 0usize;
    for (i, p) in params.iter().enumerate() {
        let n = value_bytes(p) as usize;
        if n > MAX_PARAM_BYTES {
            return Err(Failure::Invalid(format!(
                "parameter {} is {n} bytes; the limit is {MAX_PARAM_BYTES}",
                i + 1
            )));
        }
        total = total.saturating_add(n);
    }
    if total > MAX_PARAMS_TOTAL_BYTES {
        return Err(Failure::Invalid(format!(
            "parameters total {total} bytes; the limit is {MAX_PARAMS_TOTAL_BYTES}"
        )));
    }
    Ok(())
}

/// The view the generated `Host` trait is implemented on.
pub struct DbView<'a> {
    ctx: Option<&'a DbCtx>,
    meter: &'a Meter,
    deadline: Instant,
}

struct HasDb;
impl HasData for HasDb {
    type Data<'a> = DbView<'a>;
}

pub fn add_to_linker(linker: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<InvocationState, HasDb>(linker, |s| DbView {
        ctx: s.grants.database.as_ref(),
        meter: &s.meter,
        deadline: s.deadline,
    })
}

impl DbView<'_> {
    /// Second check of the grant, on every call: linking is the first.
    fn ctx(&self) -> wasmtime::Result<&DbCtx> {
        self.meter.host_call();
        self.ctx.ok_or_else(|| wasmtime::Error::new(HostTrap::CapabilityDenied("database".into())))
    }

    async fn run(
        &self,
        call_sql: String,
        params: Vec<wit::Value>,
        returns_rows: bool,
    ) -> wasmtime::Result<Result<Output, Error>> {
        let ctx = self.ctx()?;
        if let Err(f) = check_input(&call_sql, &params) {
            return Ok(Err(self.fail(ctx, f)));
        }
        let policy = ctx.dbs.policy(&ctx.project);
        let started = Instant::now();
        let deadline = self.deadline.min(started + policy.statement_timeout());
        let limits = CallLimits { deadline, max_rows: policy.max_rows, max_bytes: policy.max_bytes };
        let generation = match ctx.prepared().await {
            Ok(g) => g,
            Err(e) => return Ok(Err(e)),
        };
        let call = Call { sql: call_sql, params, returns_rows, limits };
        let result = match &ctx.dbs.backend {
            Backend::Sqlite(s) => {
                let (result, changed) =
                    s.run(&ctx.project, &ctx.sqlite_idle, generation, ctx.grant.clone(), call).await;
                if changed {
                    // The schema changed without `owner_execute`: what was
                    // cached for the old one (descriptions, connections) goes.
                    ctx.dbs.bump(&ctx.project);
                }
                result
            }
            Backend::Postgres(p) => p.run(&ctx.project, &ctx.extension, ctx.grant.writes(), call).await,
        };
        let elapsed = started.elapsed();
        self.meter.db_time_us.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        match result {
            Ok(out) => {
                let n = match &out {
                    Output::Rows(r) => r.rows.len() as u64,
                    Output::Changed(n) => *n,
                };
                self.meter.db_rows.fetch_add(n, Ordering::Relaxed);
                Ok(Ok(out))
            }
            Err(Failure::Timeout) => {
                let limit = policy
                    .statement_timeout_ms
                    .min(self.deadline.saturating_duration_since(started).as_millis() as u64);
                self.meter.call_violation(CallViolation {
                    kind: "query_timeout",
                    limit: Some(limit as i64),
                    actual: Some(elapsed.as_millis() as i64),
                    detail: format!("database: statement cut after {} ms", elapsed.as_millis()),
                });
                Ok(Err(Error::Timeout))
            }
            Err(f) => Ok(Err(self.fail(ctx, f))),
        }
    }

    /// Maps a failure to the guest's error, recording the violations.
    fn fail(&self, ctx: &DbCtx, f: Failure) -> Error {
        match f {
            Failure::Denied(what) => {
                tracing::info!(project = %ctx.project, extension = %ctx.extension, denied = %what,
                    "database call outside the grant");
                self.meter.call_violation(CallViolation {
                    kind: "capability_denied",
                    limit: None,
                    actual: None,
                    detail: format!("database: {what}"),
                });
                Error::Denied(what)
            }
            Failure::TooLarge(msg, limit, actual) => {
                self.meter.call_violation(CallViolation {
                    kind: "query_too_large",
                    limit: Some(limit as i64),
                    actual: Some(actual as i64),
                    detail: format!("database: {msg}"),
                });
                Error::TooLarge(msg)
            }
            Failure::Invalid(m) => Error::Invalid(m),
            Failure::Timeout => Error::Timeout,
            Failure::Constraint(c, m) => Error::Constraint((c, m)),
            Failure::Busy(m) => Error::Failed((String::new(), m)),
            Failure::Failed(c, m) => Error::Failed((c, m)),
        }
    }
}

impl wit::Host for DbView<'_> {
    async fn dialect(&mut self) -> wasmtime::Result<wit::SqlDialect> {
        Ok(self.ctx()?.dbs.dialect())
    }

    async fn describe(&mut self) -> wasmtime::Result<Result<Vec<wit::Table>, Error>> {
        let ctx = self.ctx()?;
        // Read before the catalogue: a change while it is read leaves the
        // answer cached under the older generation, so it is read again.
        let generation = match ctx.prepared().await {
            Ok(g) => g,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(tables) = ctx.cached_description(generation) {
            return Ok(Ok(tables.as_ref().clone()));
        }
        let policy = ctx.dbs.policy(&ctx.project);
        let deadline = self.deadline.min(Instant::now() + policy.statement_timeout());
        let r = match &ctx.dbs.backend {
            Backend::Sqlite(s) => s.describe(&ctx.project, ctx.grant.clone(), deadline).await,
            Backend::Postgres(p) => p.describe(&ctx.project, &ctx.extension, deadline).await,
        };
        if let Ok(tables) = &r {
            ctx.cache_description(generation, tables.clone());
        }
        Ok(r.map_err(|f| self.fail(ctx, f)))
    }

    async fn query(
        &mut self,
        sql: String,
        params: Vec<wit::Value>,
    ) -> wasmtime::Result<Result<wit::Rows, Error>> {
        Ok(self.run(sql, params, true).await?.map(|o| match o {
            Output::Rows(r) => r,
            Output::Changed(_) => wit::Rows { columns: Vec::new(), rows: Vec::new() },
        }))
    }

    async fn execute(
        &mut self,
        sql: String,
        params: Vec<wit::Value>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        Ok(self.run(sql, params, false).await?.map(|o| match o {
            Output::Rows(r) => r.rows.len() as u64,
            Output::Changed(n) => n,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_or_nul_sql_and_parameters_are_invalid_before_reaching_the_database() {
        assert!(check_input("SELECT 1", &[]).is_ok());
        assert!(matches!(check_input(&"x".repeat(MAX_SQL_BYTES + 1), &[]), Err(Failure::Invalid(_))));
        assert!(matches!(check_input("SELECT 1\0; DROP", &[]), Err(Failure::Invalid(_))));
        let many = vec![wit::Value::Null; MAX_PARAMS + 1];
        assert!(matches!(check_input("SELECT 1", &many), Err(Failure::Invalid(_))));
        let big = vec![wit::Value::Blob(vec![0; MAX_PARAM_BYTES + 1])];
        assert!(matches!(check_input("SELECT ?1", &big), Err(Failure::Invalid(_))));
        let total = vec![wit::Value::Text("y".repeat(MAX_PARAM_BYTES)); 5];
        assert!(matches!(check_input("SELECT 1", &total), Err(Failure::Invalid(_))));
    }

    #[test]
    fn result_budget_cuts_at_the_row_and_byte_limits() {
        let limits = CallLimits { deadline: Instant::now(), max_rows: 2, max_bytes: 100 };
        let mut b = ResultBudget::new(limits);
        assert!(b.row(&[wit::Value::Integer(1)]).is_ok());
        assert!(b.row(&[wit::Value::Integer(2)]).is_ok());
        assert!(matches!(b.row(&[wit::Value::Integer(3)]), Err(Failure::TooLarge(_, 2, 3))));
        let mut b = ResultBudget::new(CallLimits { max_rows: 10, ..limits });
        assert!(matches!(b.row(&[wit::Value::Text("z".repeat(101))]), Err(Failure::TooLarge(_, 100, 101))));
    }

    #[test]
    fn policies_must_stay_within_the_host_maximum() {
        assert!(QueryPolicy::default().is_valid());
        assert!(!QueryPolicy { statement_timeout_ms: 0, ..Default::default() }.is_valid());
        assert!(!QueryPolicy { max_rows: MAX_POLICY.max_rows + 1, ..Default::default() }.is_valid());
    }
}
