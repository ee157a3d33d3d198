//! The request AST and the described schema → one SQL statement with bound
//! parameters.
//!
//! Identifiers are looked up in the schema first (an unknown table is 404
//! PGRST205, an unknown column 400 42703) and only then written, double-
//! quoted with `"` doubled. Values are never written into SQL text: each is
//! a parameter, `$n` on PostgreSQL and `?n` on SQLite (`?NNN` binds by
//! index; SQLite treats `$1` as a *named* parameter whose index is its order
//! of first appearance, which is not the same contract). Only integers MagGate
//! parsed itself (`LIMIT`/`OFFSET`) are written as literals.

use std::fmt::{self, Write as _};

use crate::db::{Column, Dialect, Table, Value};
use crate::error::ApiError;
use crate::request::{Condition, Filter, IsValue, Op, Operand, OrderTerm, Resolution, SelectItem};

/// Most bound parameters in one statement: SQLite's default
/// `SQLITE_MAX_VARIABLE_NUMBER` (PostgreSQL allows 65,535).
pub const MAX_BIND_PARAMS: usize = 32_766;

/// One statement and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Value>,
}

/// How MagGate treats a column's declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Float,
    /// `numeric`/`decimal`: exact, so left to the database to parse on PostgreSQL.
    Numeric,
    Bool,
    Json,
    Blob,
    /// A PostgreSQL array (`ARRAY` in `information_schema`, or `type[]`).
    Array,
    /// Text and everything else (timestamps, uuids, ...): passed as text.
    Text,
}

/// The kind of a declared type, for PostgreSQL's names and SQLite's affinity
/// rules (<https://www.sqlite.org/datatype3.html#determination_of_column_affinity>).
/// Names compare ignoring ASCII case.
pub fn kind_of(data_type: &str) -> Kind {
    let t = data_type.trim();
    let is = |names: &[&str]| names.iter().any(|n| t.eq_ignore_ascii_case(n));
    let starts = |prefix: &str| {
        t.as_bytes().get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
    };
    let has = |part: &str| t.as_bytes().windows(part.len()).any(|w| w.eq_ignore_ascii_case(part.as_bytes()));
    if is(&["boolean", "bool"]) {
        Kind::Bool
    } else if is(&["json", "jsonb"]) {
        Kind::Json
    } else if is(&["bytea", "blob"]) {
        Kind::Blob
    } else if is(&["array"]) {
        Kind::Array
    } else if is(&["real", "double precision", "float4", "float8", "double", "float"]) {
        Kind::Float
    } else if is(&[
        "smallint",
        "integer",
        "bigint",
        "int2",
        "int4",
        "int8",
        "smallserial",
        "serial",
        "bigserial",
    ]) {
        Kind::Int
    } else if t.ends_with("[]") {
        Kind::Array
    } else if starts("numeric") || starts("decimal") {
        Kind::Numeric
    } else if has("int") && !has("interval") && !has("point") {
        Kind::Int
    } else if has("char") || has("clob") || has("text") {
        Kind::Text
    } else if has("real") || has("floa") || has("doub") {
        Kind::Float
    } else {
        Kind::Text
    }
}

/// A filter value (text from the URL) as the column's type, where the text
/// form is unambiguous; otherwise text, for the database to parse.
pub fn filter_value(column: &Column, text: &str) -> Value {
    typed_value(kind_of(&column.data_type), text)
}

/// [`filter_value`] for a column of kind `kind`.
fn typed_value(kind: Kind, text: &str) -> Value {
    let is = |names: &[&str]| names.iter().any(|n| text.eq_ignore_ascii_case(n));
    match kind {
        Kind::Int => text.parse::<i64>().map_or_else(|_| Value::Text(text.to_owned()), Value::Int),
        Kind::Float => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Value::Float(f),
            _ => Value::Text(text.to_owned()),
        },
        Kind::Bool if is(&["true", "t"]) => Value::Bool(true),
        Kind::Bool if is(&["false", "f"]) => Value::Bool(false),
        _ => Value::Text(text.to_owned()),
    }
}

/// A value from a JSON body as the column's type.
pub fn body_value(dialect: Dialect, column: &Column, json: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    let kind = kind_of(&column.data_type);
    match (kind, json) {
        (_, J::Null) => Value::Null,
        (Kind::Json, j) => Value::Json(j.to_string()),
        // PostgREST takes a JSON array for an array column; PostgreSQL reads
        // the array literal `{"a","b"}` from text.
        (Kind::Array, J::Array(_)) if dialect == Dialect::Postgres => Value::Text(pg_array_literal(json)),
        (Kind::Int | Kind::Float | Kind::Bool, J::String(s)) => filter_value(column, s),
        (Kind::Int, J::Number(n)) => {
            n.as_i64().map_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN)), Value::Int)
        }
        (Kind::Float, J::Number(n)) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        (Kind::Numeric, J::Number(n)) if dialect == Dialect::Postgres => Value::Text(n.to_string()),
        (Kind::Numeric, J::Number(n)) => {
            n.as_i64().map_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN)), Value::Int)
        }
        (Kind::Bool, J::Bool(b)) => Value::Bool(*b),
        (Kind::Bool, J::Number(n)) => n.as_i64().map_or_else(|| Value::Text(n.to_string()), Value::Int),
        (Kind::Blob, J::String(s)) if dialect == Dialect::Sqlite => match decode_hex_bytea(s) {
            Some(bytes) => Value::Blob(bytes),
            None => Value::Text(s.clone()),
        },
        (_, J::String(s)) => Value::Text(s.clone()),
        (_, J::Bool(b)) => Value::Text(b.to_string()),
        (_, J::Number(n)) => Value::Text(n.to_string()),
        (_, j @ (J::Array(_) | J::Object(_))) => Value::Json(j.to_string()),
    }
}

/// A JSON value as a PostgreSQL array literal: `["a",null,[1]]` →
/// `{"a",NULL,{1}}`, strings always quoted with `"` and `\` escaped.
pub fn pg_array_literal(json: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match json {
        J::Array(items) => {
            format!("{{{}}}", items.iter().map(pg_array_literal).collect::<Vec<_>>().join(","))
        }
        J::Null => "NULL".to_owned(),
        J::String(s) => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
        J::Bool(b) => b.to_string(),
        J::Number(n) => n.to_string(),
        J::Object(_) => format!("\"{}\"", json.to_string().replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

/// `\x0a0b` → bytes (PostgreSQL's bytea hex format).
fn decode_hex_bytea(s: &str) -> Option<Vec<u8>> {
    let hex = s.strip_prefix("\\x")?;
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

/// `name` as a quoted identifier.
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    push_ident(&mut out, name);
    out
}

/// Append `name` as a quoted identifier: in `"`, each `"` doubled.
fn push_ident(out: &mut String, name: &str) {
    out.push('"');
    for (i, part) in name.split('"').enumerate() {
        if i > 0 {
            out.push_str("\"\"");
        }
        out.push_str(part);
    }
    out.push('"');
}

/// Append `n` in decimal.
fn push_number(out: &mut String, n: impl fmt::Display) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{n}");
}

/// The table named exactly `name`.
pub fn find_table<'a>(tables: &'a [Table], name: &str) -> Result<&'a Table, ApiError> {
    tables.iter().find(|t| t.name == name).ok_or_else(|| ApiError::unknown_table(name))
}

/// One output field: its JSON key and the table column it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub key: String,
    pub column: usize,
}

/// `select=` → output fields (every column, in table order, for `*`).
pub fn projection(table: &Table, select: Option<&[SelectItem]>) -> Result<Vec<Field>, ApiError> {
    let all = || table.columns.iter().enumerate().map(|(i, c)| Field { key: c.name.clone(), column: i });
    let Some(items) = select else {
        return Ok(all().collect());
    };
    let mut out = Vec::new();
    for item in items {
        match item {
            SelectItem::Star => out.extend(all()),
            SelectItem::Column { alias, column } => {
                let i = column_index(table, column)?;
                out.push(Field { key: alias.clone().unwrap_or_else(|| column.clone()), column: i });
            }
        }
    }
    Ok(out)
}

fn column_index(table: &Table, name: &str) -> Result<usize, ApiError> {
    table
        .columns
        .iter()
        .position(|c| c.name == name)
        .ok_or_else(|| ApiError::unknown_column(&table.name, name))
}

/// Builds one statement: its text and its parameters. Each statement is
/// written into one `String`, parameters bound in the order their
/// placeholders appear.
pub struct Builder<'a> {
    dialect: Dialect,
    table: &'a Table,
    params: Vec<Value>,
}

impl<'a> Builder<'a> {
    pub fn new(dialect: Dialect, table: &'a Table) -> Self {
        Builder { dialect, table, params: Vec::new() }
    }

    pub fn finish(self, sql: String) -> Statement {
        Statement { sql, params: self.params }
    }

    /// Bind `v` and append its placeholder.
    fn bind(&mut self, out: &mut String, v: Value) -> Result<(), ApiError> {
        if self.params.len() >= MAX_BIND_PARAMS {
            return Err(ApiError::limit("number of bound values", MAX_BIND_PARAMS));
        }
        self.params.push(v);
        out.push(match self.dialect {
            Dialect::Postgres => '$',
            Dialect::Sqlite => '?',
        });
        push_number(out, self.params.len());
        Ok(())
    }

    fn column(&self, name: &str) -> Result<&'a Column, ApiError> {
        self.table.column(name).ok_or_else(|| ApiError::unknown_column(&self.table.name, name))
    }

    /// ` WHERE ...` (empty without filters).
    pub fn where_clause(&mut self, filters: &[Filter]) -> Result<String, ApiError> {
        let mut out = String::new();
        self.push_where(&mut out, filters)?;
        Ok(out)
    }

    fn push_where(&mut self, out: &mut String, filters: &[Filter]) -> Result<(), ApiError> {
        for (i, f) in filters.iter().enumerate() {
            out.push_str(if i == 0 { " WHERE " } else { " AND " });
            self.push_filter(out, f)?;
        }
        Ok(())
    }

    fn push_filter(&mut self, out: &mut String, f: &Filter) -> Result<(), ApiError> {
        match f {
            Filter::Cond(c) => self.push_condition(out, c),
            Filter::Logic { or, negate, children } => {
                if *negate {
                    out.push_str("NOT ");
                }
                out.push('(');
                for (i, child) in children.iter().enumerate() {
                    if i > 0 {
                        out.push_str(if *or { " OR " } else { " AND " });
                    }
                    self.push_filter(out, child)?;
                }
                out.push(')');
                Ok(())
            }
        }
    }

    fn push_condition(&mut self, out: &mut String, c: &Condition) -> Result<(), ApiError> {
        let mismatch = || ApiError::parse("filter", "operator and operand do not match");
        let column = self.column(&c.column)?;
        let pg = self.dialect == Dialect::Postgres;
        if c.negate {
            out.push_str("NOT (");
        }
        match (&c.op, &c.operand) {
            (Op::In, Operand::List(items)) if items.is_empty() => out.push_str("1 = 0"),
            (Op::In, Operand::List(items)) => {
                let kind = kind_of(&column.data_type);
                push_ident(out, &column.name);
                out.push_str(" IN (");
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.bind(out, typed_value(kind, v))?;
                }
                out.push(')');
            }
            (Op::Is, Operand::Is(v)) => {
                push_ident(out, &column.name);
                out.push_str(match v {
                    IsValue::Null | IsValue::Unknown => " IS NULL",
                    IsValue::NotNull => " IS NOT NULL",
                    IsValue::True => " IS TRUE",
                    IsValue::False => " IS FALSE",
                });
            }
            (Op::Like, Operand::Value(v)) => {
                let pattern = v.replace('*', "%");
                push_ident(out, &column.name);
                if pg {
                    out.push_str(" LIKE ");
                    self.bind(out, Value::Text(pattern))?;
                } else {
                    // SQLite's LIKE ignores ASCII case; GLOB keeps it, as
                    // PostgreSQL's LIKE does.
                    out.push_str(" GLOB ");
                    self.bind(out, Value::Text(like_to_glob(&pattern)))?;
                }
            }
            (Op::Ilike, Operand::Value(v)) => {
                push_ident(out, &column.name);
                out.push_str(if pg { " ILIKE " } else { " LIKE " });
                self.bind(out, Value::Text(v.replace('*', "%")))?;
                if !pg {
                    out.push_str(" ESCAPE '\\'");
                }
            }
            (Op::IsDistinct, Operand::Value(v)) => {
                push_ident(out, &column.name);
                out.push_str(if pg { " IS DISTINCT FROM " } else { " IS NOT " });
                self.bind(out, filter_value(column, v))?;
            }
            (op, Operand::Value(v)) => {
                let sym = match op {
                    Op::Eq => " = ",
                    Op::Neq => " <> ",
                    Op::Gt => " > ",
                    Op::Gte => " >= ",
                    Op::Lt => " < ",
                    Op::Lte => " <= ",
                    _ => return Err(mismatch()),
                };
                push_ident(out, &column.name);
                out.push_str(sym);
                self.bind(out, filter_value(column, v))?;
            }
            _ => return Err(mismatch()),
        }
        if c.negate {
            out.push(')');
        }
        Ok(())
    }

    /// ` ORDER BY ...` (nothing without terms).
    fn push_order(&self, out: &mut String, order: &[OrderTerm]) -> Result<(), ApiError> {
        for (i, t) in order.iter().enumerate() {
            out.push_str(if i == 0 { " ORDER BY " } else { ", " });
            push_ident(out, &self.column(&t.column)?.name);
            // PostgreSQL's defaults, written out so SQLite (nulls first
            // ascending) sorts the same way.
            let nulls_first = t.nulls_first.unwrap_or(t.desc);
            out.push_str(if t.desc { " DESC" } else { " ASC" });
            out.push_str(if nulls_first { " NULLS FIRST" } else { " NULLS LAST" });
        }
        Ok(())
    }

    /// The quoted names of the columns at `indexes`, separated by `, `.
    fn push_columns(&self, out: &mut String, indexes: impl Iterator<Item = usize>) {
        for (i, c) in indexes.filter_map(|i| self.table.columns.get(i)).enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            push_ident(out, &c.name);
        }
    }

    fn push_all_columns(&self, out: &mut String) {
        self.push_columns(out, 0..self.table.columns.len());
    }

    fn push_returning(&self, out: &mut String) {
        out.push_str(" RETURNING ");
        self.push_all_columns(out);
    }

    /// `name = $n, ...` for an `UPDATE`.
    fn push_assignments(&mut self, out: &mut String, set: Vec<(usize, Value)>) -> Result<(), ApiError> {
        for (n, (i, v)) in set.into_iter().enumerate() {
            if n > 0 {
                out.push_str(", ");
            }
            push_ident(out, &self.table.columns[i].name);
            out.push_str(" = ");
            self.bind(out, v)?;
        }
        Ok(())
    }

    /// `SELECT fields FROM t WHERE ... ORDER BY ... LIMIT ... OFFSET ...`.
    pub fn select(
        mut self,
        fields: &[Field],
        filters: &[Filter],
        order: &[OrderTerm],
        limit: Option<u64>,
        offset: u64,
    ) -> Result<Statement, ApiError> {
        // Room for most statements without growing.
        let mut sql = String::with_capacity(128);
        sql.push_str("SELECT ");
        self.push_columns(&mut sql, fields.iter().map(|f| f.column));
        sql.push_str(" FROM ");
        push_ident(&mut sql, &self.table.name);
        self.push_where(&mut sql, filters)?;
        self.push_order(&mut sql, order)?;
        match (limit, self.dialect) {
            (Some(l), _) => {
                sql.push_str(" LIMIT ");
                push_number(&mut sql, l);
            }
            (None, Dialect::Sqlite) if offset > 0 => sql.push_str(" LIMIT -1"),
            (None, _) => {}
        }
        if offset > 0 {
            sql.push_str(" OFFSET ");
            push_number(&mut sql, offset);
        }
        Ok(self.finish(sql))
    }

    /// `SELECT count(*) FROM t WHERE ...`.
    pub fn count(mut self, filters: &[Filter]) -> Result<Statement, ApiError> {
        let mut sql = String::from("SELECT count(*) FROM ");
        push_ident(&mut sql, &self.table.name);
        self.push_where(&mut sql, filters)?;
        Ok(self.finish(sql))
    }

    /// `INSERT INTO t (columns) VALUES (...), ... RETURNING *`; a `None`
    /// value is `DEFAULT` (PostgreSQL only: SQLite has no `DEFAULT` in
    /// `VALUES`, the caller resolves it before).
    ///
    /// With `upsert`, `ON CONFLICT (key) DO UPDATE SET` every inserted
    /// column but the key to its new value (`DO NOTHING` when there is none
    /// or for `ignore-duplicates`).
    pub fn insert(
        mut self,
        columns: &[usize],
        rows: Vec<Vec<Option<Value>>>,
        upsert: Option<(&[usize], Resolution)>,
    ) -> Result<Statement, ApiError> {
        let mut sql = String::from("INSERT INTO ");
        push_ident(&mut sql, &self.table.name);
        if columns.is_empty() {
            if rows.len() <= 1 {
                sql.push_str(" DEFAULT VALUES");
            } else {
                if self.dialect == Dialect::Sqlite || self.table.columns.is_empty() {
                    return Err(ApiError::new(400, "PGRST102", "All object keys must match")
                        .details("several empty objects cannot be inserted in one statement on SQLite"));
                }
                sql.push_str(" (");
                push_ident(&mut sql, &self.table.columns[0].name);
                sql.push_str(") VALUES ");
                for i in 0..rows.len() {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str("(DEFAULT)");
                }
            }
        } else {
            sql.push_str(" (");
            self.push_columns(&mut sql, columns.iter().copied());
            sql.push_str(") VALUES ");
            for (r, row) in rows.into_iter().enumerate() {
                if r > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                for (i, v) in row.into_iter().enumerate() {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    match v {
                        Some(v) => self.bind(&mut sql, v)?,
                        None if self.dialect == Dialect::Postgres => sql.push_str("DEFAULT"),
                        None => {
                            return Err(ApiError::parse("body", "DEFAULT is not available here on SQLite"));
                        }
                    }
                }
                sql.push(')');
            }
        }
        if let Some((key, resolution)) = upsert {
            sql.push_str(" ON CONFLICT (");
            self.push_columns(&mut sql, key.iter().copied());
            sql.push_str(") ");
            let set: Vec<&Column> = columns
                .iter()
                .filter(|i| !key.contains(i))
                .filter_map(|&i| self.table.columns.get(i))
                .collect();
            if resolution == Resolution::Ignore || set.is_empty() {
                sql.push_str("DO NOTHING");
            } else {
                sql.push_str("DO UPDATE SET ");
                for (i, c) in set.iter().enumerate() {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    push_ident(&mut sql, &c.name);
                    sql.push_str(" = EXCLUDED.");
                    push_ident(&mut sql, &c.name);
                }
            }
        }
        self.push_returning(&mut sql);
        Ok(self.finish(sql))
    }

    /// `SELECT * FROM t WHERE (key = k1) OR (key = k2) ...`: the rows an
    /// upsert may update.
    pub fn select_keys(mut self, key: &[usize], values: Vec<Vec<Value>>) -> Result<Statement, ApiError> {
        let mut sql = String::from("SELECT ");
        self.push_all_columns(&mut sql);
        sql.push_str(" FROM ");
        push_ident(&mut sql, &self.table.name);
        sql.push_str(" WHERE ");
        for (r, row) in values.into_iter().enumerate() {
            if r > 0 {
                sql.push_str(" OR ");
            }
            sql.push('(');
            for (n, (&i, v)) in key.iter().zip(row).enumerate() {
                if n > 0 {
                    sql.push_str(" AND ");
                }
                push_ident(&mut sql, &self.table.columns[i].name);
                sql.push_str(" = ");
                self.bind(&mut sql, v)?;
            }
            sql.push(')');
        }
        Ok(self.finish(sql))
    }

    /// `UPDATE t SET ... WHERE ... RETURNING *`.
    pub fn update(mut self, set: Vec<(usize, Value)>, filters: &[Filter]) -> Result<Statement, ApiError> {
        let mut sql = String::from("UPDATE ");
        push_ident(&mut sql, &self.table.name);
        sql.push_str(" SET ");
        self.push_assignments(&mut sql, set)?;
        self.push_where(&mut sql, filters)?;
        self.push_returning(&mut sql);
        Ok(self.finish(sql))
    }

    /// PostgreSQL only: the `UPDATE` that also returns each row as it was,
    /// in one statement. The matching rows are locked and read in a
    /// sub-select and joined to the target on the primary key `pk`; each
    /// returned row is the new row's columns then the old row's.
    ///
    /// ```sql
    /// UPDATE "t" AS "maggate_new" SET "a" = $1
    ///   FROM (SELECT "id", "a" FROM "t" WHERE ... FOR UPDATE) AS "maggate_old"
    ///  WHERE "maggate_new"."id" = "maggate_old"."id"
    /// RETURNING "maggate_new"."id", "maggate_new"."a", "maggate_old"."id", "maggate_old"."a"
    /// ```
    pub fn update_returning_old(
        mut self,
        set: Vec<(usize, Value)>,
        filters: &[Filter],
        pk: &[usize],
    ) -> Result<Statement, ApiError> {
        if self.dialect != Dialect::Postgres || pk.is_empty() {
            return Err(ApiError::new(
                500,
                "PGRST000",
                "old rows in one statement need PostgreSQL and a primary key",
            ));
        }
        let mut sql = String::from("UPDATE ");
        push_ident(&mut sql, &self.table.name);
        sql.push_str(" AS \"maggate_new\" SET ");
        self.push_assignments(&mut sql, set)?;
        sql.push_str(" FROM (SELECT ");
        self.push_all_columns(&mut sql);
        sql.push_str(" FROM ");
        push_ident(&mut sql, &self.table.name);
        self.push_where(&mut sql, filters)?;
        sql.push_str(" FOR UPDATE) AS \"maggate_old\" WHERE ");
        for (n, c) in pk.iter().filter_map(|&i| self.table.columns.get(i)).enumerate() {
            if n > 0 {
                sql.push_str(" AND ");
            }
            sql.push_str("\"maggate_new\".");
            push_ident(&mut sql, &c.name);
            sql.push_str(" = \"maggate_old\".");
            push_ident(&mut sql, &c.name);
        }
        sql.push_str(" RETURNING ");
        let mut first = true;
        for alias in ["\"maggate_new\".", "\"maggate_old\"."] {
            for c in &self.table.columns {
                if !first {
                    sql.push_str(", ");
                }
                first = false;
                sql.push_str(alias);
                push_ident(&mut sql, &c.name);
            }
        }
        Ok(self.finish(sql))
    }

    /// `DELETE FROM t WHERE ... RETURNING *`.
    pub fn delete(mut self, filters: &[Filter]) -> Result<Statement, ApiError> {
        let mut sql = String::from("DELETE FROM ");
        push_ident(&mut sql, &self.table.name);
        self.push_where(&mut sql, filters)?;
        self.push_returning(&mut sql);
        Ok(self.finish(sql))
    }
}

/// A LIKE pattern (`%`, `_`, `\` escapes) as a GLOB pattern.
pub fn like_to_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    let literal = |out: &mut String, c: char| match c {
        '*' | '?' | '[' => {
            out.push('[');
            out.push(c);
            out.push(']');
        }
        c => out.push(c),
    };
    while let Some(c) = chars.next() {
        match c {
            '%' => out.push('*'),
            '_' => out.push('?'),
            '\\' => match chars.next() {
                Some(n) => literal(&mut out, n),
                None => literal(&mut out, '\\'),
            },
            c => literal(&mut out, c),
        }
    }
    out
}
