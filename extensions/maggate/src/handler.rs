//! One request, end to end: parse → check against the schema → SQL → rows →
//! response, and a change event for every row a write touched.
//!
//! The database runs one statement per call, so MagGate never holds a
//! transaction across calls. Two places depend on that:
//! - `PATCH` events carry the row before (`old`) and after (`new`). On
//!   PostgreSQL, for a table with a primary key, one statement locks, reads
//!   and updates the rows, so `old` is exact. Elsewhere (SQLite, or no
//!   primary key) MagGate reads the matching rows in one statement and
//!   updates them in the next: a writer in between can make `old` stale, and
//!   a row it inserts in between is updated with `old: null`. Rows pair up
//!   by primary key; a table without one gets `old: null`.
//! - `vnd.pgrst.object+json` on `PATCH`/`DELETE` counts the matching rows
//!   first and writes only when there is exactly one (PostgREST rolls the
//!   write back instead). The same window applies.
//! - Change events are published after the write, in one batch. If the
//!   host cannot store them the write still stands and the response says
//!   how many events were lost (`MagGate-Events-Failed`); a host crash
//!   between the two loses them silently (decision 014).

use std::collections::HashMap;

use serde_json::{Map, Value as Json, json};

use crate::db::{Database, Dialect, Events, Rows, Table, Value};
use crate::error::ApiError;
use crate::openapi;
use crate::request::{Accept, ApiRequest, HttpRequest, Method, Resolution, Return, Target, parse_request};
use crate::response::{
    CONTENT_TYPE_JSON, CONTENT_TYPE_OBJECT, HttpResponse, RowShape, content_range, full_row, not_one_row,
    rows_json,
};
use crate::sql::{Builder, Field, Statement, body_value, find_table, projection};

/// The topic every change event is published on.
pub const CHANGES_TOPIC: &str = "db.changes";
/// Most rows one read returns unless the deployment says otherwise: what
/// Supabase configures as PostgREST's `db-max-rows`.
pub const DEFAULT_MAX_ROWS: u64 = 1000;
/// The response header that counts change events the bus refused; the write
/// itself has happened, so the request still succeeds.
pub const EVENTS_FAILED_HEADER: &str = "MagGate-Events-Failed";

/// Deployment settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The most rows a read returns (`None`: no cap).
    pub max_rows: Option<u64>,
    /// Where MagGate is mounted (`/x/{project}/maggate`), for the OpenAPI
    /// document's `basePath`.
    pub base_path: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options { max_rows: Some(DEFAULT_MAX_ROWS), base_path: None }
    }
}

/// Answer one request with the default [`Options`].
pub fn handle(db: &dyn Database, events: &dyn Events, req: HttpRequest) -> HttpResponse {
    handle_with(db, events, req, &Options::default())
}

/// Answer one request.
pub fn handle_with(db: &dyn Database, events: &dyn Events, req: HttpRequest, opts: &Options) -> HttpResponse {
    let head = req.method.eq_ignore_ascii_case("HEAD");
    let mut resp = match run(db, events, req, opts) {
        Ok(r) => r,
        Err(e) => e.into(),
    };
    if head {
        resp.body.clear();
    }
    resp
}

fn run(
    db: &dyn Database,
    events: &dyn Events,
    req: HttpRequest,
    opts: &Options,
) -> Result<HttpResponse, ApiError> {
    let api = parse_request(req)?;
    let tables = db.describe().map_err(|e| ApiError::from_db(&e))?;
    let name = match &api.target {
        Target::Root => {
            return match api.method {
                Method::Get | Method::Head => {
                    let doc = openapi::document(&tables, opts.base_path.as_deref());
                    Ok(HttpResponse::new(200)
                        .with_header("Content-Type", "application/openapi+json; charset=utf-8")
                        .with_body(doc.to_string().into_bytes()))
                }
                _ => Err(ApiError::new(405, "PGRST117", "Unsupported HTTP method on the root: use GET")),
            };
        }
        Target::Table(name) => name,
    };
    let table = find_table(&tables, name)?;
    let ctx = Ctx { db, events, dialect: db.dialect(), table, api: &api };
    match api.method {
        Method::Get | Method::Head => ctx.read(opts),
        Method::Post => ctx.insert(),
        Method::Patch => ctx.update(),
        Method::Delete => ctx.delete(),
    }
}

struct Ctx<'a> {
    db: &'a dyn Database,
    events: &'a dyn Events,
    dialect: Dialect,
    table: &'a Table,
    api: &'a ApiRequest,
}

impl Ctx<'_> {
    fn builder(&self) -> Builder<'_> {
        Builder::new(self.dialect, self.table)
    }

    fn query(&self, st: &Statement) -> Result<Rows, ApiError> {
        self.db.query(&st.sql, &st.params).map_err(|e| ApiError::from_db(&e))
    }

    fn fields(&self) -> Result<Vec<Field>, ApiError> {
        projection(self.table, self.api.query.select.as_deref())
    }

    fn count(&self) -> Result<u64, ApiError> {
        let rows = self.query(&self.builder().count(&self.api.query.filters)?)?;
        match rows.rows.first().and_then(|r| r.first()) {
            Some(Value::Int(n)) => Ok(u64::try_from(*n).unwrap_or(0)),
            Some(Value::Text(s)) => Ok(s.parse().unwrap_or(0)),
            _ => Err(ApiError::new(500, "PGRST000", "the database answered count(*) with no number")),
        }
    }

    fn object(&self) -> bool {
        self.api.accept == Accept::Object
    }

    fn content_type(&self) -> &'static str {
        if self.object() { CONTENT_TYPE_OBJECT } else { CONTENT_TYPE_JSON }
    }

    fn read(&self, opts: &Options) -> Result<HttpResponse, ApiError> {
        let q = &self.api.query;
        let fields = self.fields()?;
        // The requested window: the Range header intersected with
        // offset/limit, as PostgREST does, then capped at max_rows.
        let (h_lower, h_upper) = self.api.range.unwrap_or((0, None));
        let offset = q.offset.unwrap_or(0);
        let lower = h_lower.max(offset);
        let mut upper = h_upper;
        let mut empty = false;
        if let Some(l) = q.limit {
            match offset.saturating_add(l).checked_sub(1) {
                None => empty = true,
                Some(u) => upper = Some(upper.map_or(u, |a| a.min(u))),
            }
        }
        let mut limit =
            if empty { Some(0) } else { upper.map(|u| if u >= lower { u - lower + 1 } else { 0 }) };
        if let Some(max) = opts.max_rows {
            limit = Some(limit.map_or(max, |l| l.min(max)));
        }
        let st = self.builder().select(&fields, &q.filters, &q.order, limit, lower)?;
        let rows = self.query(&st)?;
        let total = if self.api.prefer.count { Some(self.count()?) } else { None };
        let n = rows.rows.len();
        let range = content_range(lower, n, total);
        let mut status = 200;
        if let Some(total) = total {
            if lower > total {
                return Ok(HttpResponse::from(
                    ApiError::new(416, "PGRST103", "Requested range not satisfiable").details(format!(
                        "An offset of {lower} was requested, but there are only {total} rows."
                    )),
                )
                .with_header("Content-Range", format!("*/{total}")));
            }
            if (n as u64) < total {
                status = 206;
            }
        }
        let body = rows_json(self.table, &fields, RowShape::Fields, &rows.rows, self.object())?;
        let mut resp = HttpResponse::new(status)
            .with_header("Content-Type", self.content_type())
            .with_header("Content-Range", range)
            .with_body(body);
        if self.api.prefer.count {
            resp = resp.with_header("Preference-Applied", "count=exact");
        }
        Ok(resp)
    }

    /// The body as JSON objects: one object, or an array of them.
    fn body_objects(&self) -> Result<Vec<Map<String, Json>>, ApiError> {
        let invalid = |d: String| ApiError::new(400, "PGRST102", "Empty or invalid json").details(d);
        let json: Json = serde_json::from_slice(&self.api.body).map_err(|e| invalid(e.to_string()))?;
        match json {
            Json::Object(m) => Ok(vec![m]),
            Json::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    Json::Object(m) => Ok(m),
                    _ => Err(invalid("every item of the array must be a JSON object".into())),
                })
                .collect(),
            _ => Err(invalid("the body must be a JSON object or an array of objects".into())),
        }
    }

    fn column_index(&self, name: &str) -> Result<usize, ApiError> {
        self.table
            .columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| ApiError::unknown_body_column(&self.table.name, name))
    }

    fn insert(&self) -> Result<HttpResponse, ApiError> {
        let prefer = &self.api.prefer;
        let objects = self.body_objects()?;
        if self.object() && objects.len() != 1 {
            return Err(not_one_row(objects.len() as u64));
        }
        // The columns: `columns=` when given (other keys are ignored, as in
        // PostgREST), else every key of every object. A missing key is
        // DEFAULT with `Prefer: missing=default` or without `columns=`
        // (PostgREST would refuse differing keys, PGRST102; MagGate accepts
        // them), else NULL as in PostgREST.
        let mut columns: Vec<usize> = Vec::new();
        match &self.api.query.columns {
            Some(names) => {
                for n in names {
                    let i = self.column_index(n)?;
                    if !columns.contains(&i) {
                        columns.push(i);
                    }
                }
            }
            None => {
                for o in &objects {
                    for k in o.keys() {
                        let i = self.column_index(k)?;
                        if !columns.contains(&i) {
                            columns.push(i);
                        }
                    }
                }
            }
        }
        let missing_is_default = prefer.missing_default || self.api.query.columns.is_none();
        // A column no object carries is left out, so the database applies
        // its default (or NULL) on both dialects.
        if missing_is_default {
            columns.retain(|&i| objects.iter().any(|o| o.contains_key(&self.table.columns[i].name)));
        }
        let mut rows = Vec::with_capacity(objects.len());
        for o in &objects {
            let mut row = Vec::with_capacity(columns.len());
            for &i in &columns {
                let col = &self.table.columns[i];
                row.push(match o.get(&col.name) {
                    Some(j) => Some(body_value(self.dialect, col, j)),
                    None if !missing_is_default => Some(Value::Null),
                    None if self.dialect == Dialect::Postgres => None,
                    // SQLite has no DEFAULT inside VALUES: NULL is the same
                    // thing for a column without a default (and for the
                    // rowid alias, which NULL numbers); otherwise refuse.
                    None if !col.has_default || self.is_rowid_alias(i) => Some(Value::Null),
                    None => {
                        return Err(ApiError::new(400, "PGRST102", "All object keys must match").details(format!(
                            "on SQLite, a bulk insert cannot leave out \"{}\" (it has a default) in only some objects",
                            col.name
                        )).hint("send the same keys in every object, or insert them in separate requests"));
                    }
                });
            }
            rows.push(row);
        }
        if objects.is_empty() {
            return self.write_response(201, Vec::new(), "*/*");
        }
        let Some(resolution) = prefer.resolution else {
            let inserted = self.query(&self.builder().insert(&columns, rows, None)?)?;
            let failed = self.publish(inserted.rows.iter().map(|r| ("INSERT", Some(r.as_slice()), None)));
            let mut resp = self.write_response(201, inserted.rows, "*/*")?;
            if failed > 0 {
                resp = resp.with_header(EVENTS_FAILED_HEADER, failed.to_string());
            }
            return Ok(resp);
        };
        self.upsert(&columns, rows, resolution)
    }

    /// `POST` with `Prefer: resolution=...`: insert, or on a key conflict
    /// update (merge) or keep (ignore) the existing row. The key is
    /// `on_conflict=` or the primary key. For events, the existing rows are
    /// read first (a separate statement: a writer in between can make the
    /// event say INSERT for a row that became an UPDATE, or the reverse).
    fn upsert(
        &self,
        columns: &[usize],
        rows: Vec<Vec<Option<Value>>>,
        resolution: Resolution,
    ) -> Result<HttpResponse, ApiError> {
        let key: Vec<usize> = match &self.api.query.on_conflict {
            Some(names) => names
                .iter()
                .map(|n| {
                    self.table
                        .columns
                        .iter()
                        .position(|c| &c.name == n)
                        .ok_or_else(|| ApiError::unknown_column(&self.table.name, n))
                })
                .collect::<Result<_, _>>()?,
            None => {
                self.table.columns.iter().enumerate().filter(|(_, c)| c.primary_key).map(|(i, _)| i).collect()
            }
        };
        if key.is_empty() {
            return Err(ApiError::new(400, "PGRST100", "\"failed to parse on_conflict\"").details(format!(
                "table '{}' has no primary key: name the conflict columns with on_conflict=",
                self.table.name
            )));
        }
        // The key of each row that carries every key column, for the read
        // of existing rows.
        let positions: Option<Vec<usize>> = key.iter().map(|k| columns.iter().position(|c| c == k)).collect();
        let keys: Vec<Vec<Value>> = match (&positions, resolution) {
            (Some(pos), Resolution::Merge) => rows
                .iter()
                .filter_map(|r| pos.iter().map(|&p| r.get(p).cloned().flatten()).collect::<Option<Vec<_>>>())
                .filter(|k| !k.contains(&Value::Null))
                .collect(),
            _ => Vec::new(),
        };
        let row_key = |r: &[Value]| format!("{:?}", key.iter().map(|&i| r.get(i)).collect::<Vec<_>>());
        let existing: HashMap<String, Vec<Value>> = if keys.is_empty() {
            HashMap::new()
        } else {
            let st = self.builder().select_keys(&key, keys)?;
            self.query(&st)?.rows.into_iter().map(|r| (row_key(&r), r)).collect()
        };
        let st = self.builder().insert(columns, rows, Some((&key, resolution)))?;
        let written = self.query(&st)?;
        let failed = self.publish(written.rows.iter().map(|r| match existing.get(&row_key(r)) {
            Some(old) => ("UPDATE", Some(r.as_slice()), Some(old.as_slice())),
            None => ("INSERT", Some(r.as_slice()), None),
        }));
        let mut resp = self.write_response(201, written.rows, "*/*")?;
        if failed > 0 {
            resp = resp.with_header(EVENTS_FAILED_HEADER, failed.to_string());
        }
        Ok(resp)
    }

    /// SQLite's `INTEGER PRIMARY KEY`: NULL there means "the next rowid".
    fn is_rowid_alias(&self, i: usize) -> bool {
        let pks = self.table.columns.iter().filter(|c| c.primary_key).count();
        let c = &self.table.columns[i];
        self.dialect == Dialect::Sqlite
            && pks == 1
            && c.primary_key
            && c.data_type.eq_ignore_ascii_case("integer")
    }

    /// Refuse an unfiltered `PATCH`/`DELETE` the way pg-safeupdate, which
    /// PostgREST's documentation recommends for this, does: SQLSTATE 21000
    /// (cardinality_violation), which PostgREST answers with 400.
    fn require_filters(&self, verb: &str) -> Result<(), ApiError> {
        if self.api.query.filters.is_empty() {
            return Err(ApiError::new(400, "21000", format!("{verb} requires a WHERE clause")).hint(
                format!(
                    "add a filter, e.g. ?id=eq.1; to {} every row, filter on a condition every row meets",
                    verb.to_lowercase()
                ),
            ));
        }
        let q = &self.api.query;
        if q.limit.is_some() || q.offset.is_some() {
            return Err(ApiError::not_implemented(&format!("limit/offset on {verb}")));
        }
        Ok(())
    }

    fn update(&self) -> Result<HttpResponse, ApiError> {
        self.require_filters("UPDATE")?;
        let body = match serde_json::from_slice::<Json>(&self.api.body) {
            Ok(Json::Object(m)) => m,
            _ => {
                return Err(ApiError::new(400, "PGRST102", "Empty or invalid json")
                    .details("a PATCH body must be one JSON object"));
            }
        };
        let mut set = Vec::with_capacity(body.len());
        for (k, v) in &body {
            let i = self.column_index(k)?;
            set.push((i, body_value(self.dialect, &self.table.columns[i], v)));
        }
        // Check every identifier before reading anything.
        self.builder().where_clause(&self.api.query.filters)?;
        let pk: Vec<usize> =
            self.table.columns.iter().enumerate().filter(|(_, c)| c.primary_key).map(|(i, _)| i).collect();
        if self.dialect == Dialect::Postgres && !pk.is_empty() {
            return self.update_in_one_statement(set, &pk);
        }
        let old = if pk.is_empty() {
            None
        } else {
            let all: Vec<Field> =
                (0..self.table.columns.len()).map(|i| Field { key: String::new(), column: i }).collect();
            Some(self.query(&self.builder().select(&all, &self.api.query.filters, &[], None, 0)?)?.rows)
        };
        if self.object() {
            let n = match &old {
                Some(rows) => rows.len() as u64,
                None => self.count()?,
            };
            if n != 1 {
                return Err(not_one_row(n));
            }
        }
        if set.is_empty() {
            return self.write_response(200, Vec::new(), "*/*");
        }
        let updated = self.query(&self.builder().update(set, &self.api.query.filters)?)?;
        let key = |row: &[Value]| format!("{:?}", pk.iter().map(|&i| row.get(i)).collect::<Vec<_>>());
        let old_rows = old.unwrap_or_default();
        let by_key: HashMap<String, &Vec<Value>> = old_rows.iter().map(|r| (key(r), r)).collect();
        let lone_pair = old_rows.len() == 1 && updated.rows.len() == 1;
        let failed = self.publish(updated.rows.iter().map(|r| {
            let old = by_key.get(&key(r)).map(|o| o.as_slice());
            let old = old.or_else(|| lone_pair.then(|| old_rows[0].as_slice()));
            ("UPDATE", Some(r.as_slice()), old)
        }));
        let range = content_range(0, updated.rows.len(), None);
        let mut resp = self.write_response(200, updated.rows, &range)?;
        if failed > 0 {
            resp = resp.with_header(EVENTS_FAILED_HEADER, failed.to_string());
        }
        Ok(resp)
    }

    /// PostgreSQL with a primary key: old and new rows from one statement
    /// (see [`Builder::update_returning_old`]), so events are exact.
    fn update_in_one_statement(
        &self,
        set: Vec<(usize, Value)>,
        pk: &[usize],
    ) -> Result<HttpResponse, ApiError> {
        if self.object() {
            let n = self.count()?;
            if n != 1 {
                return Err(not_one_row(n));
            }
        }
        if set.is_empty() {
            return self.write_response(200, Vec::new(), "*/*");
        }
        let rows = self.query(&self.builder().update_returning_old(set, &self.api.query.filters, pk)?)?;
        let width = self.table.columns.len();
        let (new, old): (Vec<Vec<Value>>, Vec<Vec<Value>>) = rows
            .rows
            .into_iter()
            .map(|mut r| {
                let old = r.split_off(width.min(r.len()));
                (r, old)
            })
            .unzip();
        let failed = self
            .publish(new.iter().zip(&old).map(|(n, o)| ("UPDATE", Some(n.as_slice()), Some(o.as_slice()))));
        let range = content_range(0, new.len(), None);
        let mut resp = self.write_response(200, new, &range)?;
        if failed > 0 {
            resp = resp.with_header(EVENTS_FAILED_HEADER, failed.to_string());
        }
        Ok(resp)
    }

    fn delete(&self) -> Result<HttpResponse, ApiError> {
        self.require_filters("DELETE")?;
        let st = self.builder().delete(&self.api.query.filters)?;
        if self.object() {
            let n = self.count()?;
            if n != 1 {
                return Err(not_one_row(n));
            }
        }
        let deleted = self.query(&st)?;
        let failed = self.publish(deleted.rows.iter().map(|r| ("DELETE", None, Some(r.as_slice()))));
        let range = content_range(0, deleted.rows.len(), None);
        let mut resp = self.write_response(200, deleted.rows, &range)?;
        if failed > 0 {
            resp = resp.with_header(EVENTS_FAILED_HEADER, failed.to_string());
        }
        Ok(resp)
    }

    /// The answer to a write: the rows (every column, table order) when
    /// `return=representation`, else no body (201 for POST, 204 otherwise).
    fn write_response(
        &self,
        status: u16,
        rows: Vec<Vec<Value>>,
        range: &str,
    ) -> Result<HttpResponse, ApiError> {
        let ret = self.api.prefer.return_.unwrap_or(Return::Minimal);
        let mut resp = if ret == Return::Representation {
            let fields = self.fields()?;
            let body = rows_json(self.table, &fields, RowShape::Table, &rows, self.object())?;
            HttpResponse::new(status).with_header("Content-Type", self.content_type()).with_body(body)
        } else {
            HttpResponse::new(if status == 201 { 201 } else { 204 })
        };
        resp = resp.with_header("Content-Range", range);
        if let Some(r) = self.api.prefer.return_ {
            let applied = match r {
                Return::Minimal => "return=minimal",
                Return::HeadersOnly => "return=headers-only",
                Return::Representation => "return=representation",
            };
            resp = resp.with_header("Preference-Applied", applied);
        }
        Ok(resp)
    }

    /// Publish one change event per row (`op`, new row, old row), in one
    /// batch; returns how many the bus refused (all of them or none).
    fn publish<'r>(
        &self,
        rows: impl Iterator<Item = (&'static str, Option<&'r [Value]>, Option<&'r [Value]>)>,
    ) -> usize {
        let all: Vec<Field> = self
            .table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| Field { key: c.name.clone(), column: i })
            .collect();
        let render = |r: Option<&[Value]>| r.map_or(Json::Null, |r| full_row(self.table, &all, r));
        let payloads: Vec<Vec<u8>> = rows
            .map(|(op, new, old)| {
                json!({"table": self.table.name, "op": op, "new": render(new), "old": render(old)})
                    .to_string()
                    .into_bytes()
            })
            .collect();
        if payloads.is_empty() {
            return 0;
        }
        let n = payloads.len();
        match self.events.publish(CHANGES_TOPIC, payloads) {
            Ok(()) => 0,
            Err(_) => n,
        }
    }
}
