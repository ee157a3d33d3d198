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
pub fn kind_of(data_type: &str) -> Kind {
    let t = data_type.trim().to_ascii_lowercase();
    match t.as_str() {
        "boolean" | "bool" => return Kind::Bool,
        "json" | "jsonb" => return Kind::Json,
        "bytea" | "blob" => return Kind::Blob,
        "array" => return Kind::Array,
        "real" | "double precision" | "float4" | "float8" | "double" | "float" => return Kind::Float,
        "smallint" | "integer" | "bigint" | "int2" | "int4" | "int8" | "smallserial" | "serial"
        | "bigserial" => return Kind::Int,
        _ => {}
    }
    if t.ends_with("[]") {
        Kind::Array
    } else if t.starts_with("numeric") || t.starts_with("decimal") {
        Kind::Numeric
    } else if t.contains("int") && !t.contains("interval") && !t.contains("point") {
        Kind::Int
    } else if t.contains("char") || t.contains("clob") || t.contains("text") {
        Kind::Text
    } else if t.contains("real") || t.contains("floa") || t.contains("doub") {
        Kind::Float
    } else {
        Kind::Text
    }
}

/// A filter value (text from the URL) as the column's type, where the text
/// form is unambiguous; otherwise text, for the database to parse.
pub fn filter_value(column: &Column, text: &str) -> Value {
    match kind_of(&column.data_type) {
        Kind::Int => text.parse::<i64>().map_or_else(|_| Value::Text(text.to_owned()), Value::Int),
        Kind::Float => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Value::Float(f),
            _ => Value::Text(text.to_owned()),
        },
        Kind::Bool => match text.to_ascii_lowercase().as_str() {
            "true" | "t" => Value::Bool(true),
            "false" | "f" => Value::Bool(false),
            _ => Value::Text(text.to_owned()),
        },
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
    format!("\"{}\"", name.replace('"', "\"\""))
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

/// Builds one statement: its text and its parameters.
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

    /// A placeholder for `v`.
    fn bind(&mut self, v: Value) -> Result<String, ApiError> {
        if self.params.len() >= MAX_BIND_PARAMS {
            return Err(ApiError::limit("number of bound values", MAX_BIND_PARAMS));
        }
        self.params.push(v);
        let n = self.params.len();
        Ok(match self.dialect {
            Dialect::Postgres => format!("${n}"),
            Dialect::Sqlite => format!("?{n}"),
        })
    }

    fn column(&self, name: &str) -> Result<&'a Column, ApiError> {
        self.table.column(name).ok_or_else(|| ApiError::unknown_column(&self.table.name, name))
    }

    fn table_name(&self) -> String {
        quote_ident(&self.table.name)
    }

    /// ` WHERE ...` (empty without filters).
    pub fn where_clause(&mut self, filters: &[Filter]) -> Result<String, ApiError> {
        if filters.is_empty() {
            return Ok(String::new());
        }
        let parts = filters.iter().map(|f| self.filter(f)).collect::<Result<Vec<_>, _>>()?;
        Ok(format!(" WHERE {}", parts.join(" AND ")))
    }

    fn filter(&mut self, f: &Filter) -> Result<String, ApiError> {
        match f {
            Filter::Cond(c) => self.condition(c),
            Filter::Logic { or, negate, children } => {
                let parts = children.iter().map(|f| self.filter(f)).collect::<Result<Vec<_>, _>>()?;
                let joined = format!("({})", parts.join(if *or { " OR " } else { " AND " }));
                Ok(if *negate { format!("NOT {joined}") } else { joined })
            }
        }
    }

    fn condition(&mut self, c: &Condition) -> Result<String, ApiError> {
        let column = self.column(&c.column)?;
        let col = quote_ident(&column.name);
        let pg = self.dialect == Dialect::Postgres;
        let sql = match (&c.op, &c.operand) {
            (Op::In, Operand::List(items)) => {
                if items.is_empty() {
                    "1 = 0".to_owned()
                } else {
                    let ps = items
                        .iter()
                        .map(|v| self.bind(filter_value(column, v)))
                        .collect::<Result<Vec<_>, _>>()?;
                    format!("{col} IN ({})", ps.join(", "))
                }
            }
            (Op::Is, Operand::Is(v)) => match v {
                IsValue::Null | IsValue::Unknown => format!("{col} IS NULL"),
                IsValue::NotNull => format!("{col} IS NOT NULL"),
                IsValue::True => format!("{col} IS TRUE"),
                IsValue::False => format!("{col} IS FALSE"),
            },
            (Op::Like, Operand::Value(v)) => {
                let pattern = v.replace('*', "%");
                if pg {
                    format!("{col} LIKE {}", self.bind(Value::Text(pattern))?)
                } else {
                    // SQLite's LIKE ignores ASCII case; GLOB keeps it, as
                    // PostgreSQL's LIKE does.
                    format!("{col} GLOB {}", self.bind(Value::Text(like_to_glob(&pattern)))?)
                }
            }
            (Op::Ilike, Operand::Value(v)) => {
                let p = self.bind(Value::Text(v.replace('*', "%")))?;
                if pg { format!("{col} ILIKE {p}") } else { format!("{col} LIKE {p} ESCAPE '\\'") }
            }
            (Op::IsDistinct, Operand::Value(v)) => {
                let p = self.bind(filter_value(column, v))?;
                if pg { format!("{col} IS DISTINCT FROM {p}") } else { format!("{col} IS NOT {p}") }
            }
            (op, Operand::Value(v)) => {
                let sym = match op {
                    Op::Eq => "=",
                    Op::Neq => "<>",
                    Op::Gt => ">",
                    Op::Gte => ">=",
                    Op::Lt => "<",
                    Op::Lte => "<=",
                    _ => return Err(ApiError::parse("filter", "operator and operand do not match")),
                };
                format!("{col} {sym} {}", self.bind(filter_value(column, v))?)
            }
            _ => return Err(ApiError::parse("filter", "operator and operand do not match")),
        };
        Ok(if c.negate { format!("NOT ({sql})") } else { sql })
    }

    fn order_clause(&self, order: &[OrderTerm]) -> Result<String, ApiError> {
        if order.is_empty() {
            return Ok(String::new());
        }
        let mut parts = Vec::new();
        for t in order {
            let col = quote_ident(&self.column(&t.column)?.name);
            // PostgreSQL's defaults, written out so SQLite (nulls first
            // ascending) sorts the same way.
            let nulls_first = t.nulls_first.unwrap_or(t.desc);
            parts.push(format!(
                "{col} {} NULLS {}",
                if t.desc { "DESC" } else { "ASC" },
                if nulls_first { "FIRST" } else { "LAST" }
            ));
        }
        Ok(format!(" ORDER BY {}", parts.join(", ")))
    }

    fn columns_list(&self, indexes: impl Iterator<Item = usize>) -> String {
        indexes
            .filter_map(|i| self.table.columns.get(i))
            .map(|c| quote_ident(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn returning(&self) -> String {
        format!(" RETURNING {}", self.columns_list(0..self.table.columns.len()))
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
        let cols = self.columns_list(fields.iter().map(|f| f.column));
        let wh = self.where_clause(filters)?;
        let ord = self.order_clause(order)?;
        let mut sql = format!("SELECT {cols} FROM {}{wh}{ord}", self.table_name());
        match (limit, self.dialect) {
            (Some(l), _) => sql.push_str(&format!(" LIMIT {l}")),
            (None, Dialect::Sqlite) if offset > 0 => sql.push_str(" LIMIT -1"),
            (None, _) => {}
        }
        if offset > 0 {
            sql.push_str(&format!(" OFFSET {offset}"));
        }
        Ok(self.finish(sql))
    }

    /// `SELECT count(*) FROM t WHERE ...`.
    pub fn count(mut self, filters: &[Filter]) -> Result<Statement, ApiError> {
        let wh = self.where_clause(filters)?;
        let sql = format!("SELECT count(*) FROM {}{wh}", self.table_name());
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
        let table = self.table_name();
        let mut ret = self.returning();
        if let Some((key, resolution)) = upsert {
            let target = self.columns_list(key.iter().copied());
            let set: Vec<String> = columns
                .iter()
                .filter(|i| !key.contains(i))
                .filter_map(|&i| self.table.columns.get(i))
                .map(|c| format!("{0} = EXCLUDED.{0}", quote_ident(&c.name)))
                .collect();
            let action = if resolution == Resolution::Ignore || set.is_empty() {
                "DO NOTHING".to_owned()
            } else {
                format!("DO UPDATE SET {}", set.join(", "))
            };
            ret = format!(" ON CONFLICT ({target}) {action}{ret}");
        }
        if columns.is_empty() {
            if rows.len() <= 1 {
                return Ok(self.finish(format!("INSERT INTO {table} DEFAULT VALUES{ret}")));
            }
            if self.dialect == Dialect::Sqlite || self.table.columns.is_empty() {
                return Err(ApiError::new(400, "PGRST102", "All object keys must match")
                    .details("several empty objects cannot be inserted in one statement on SQLite"));
            }
            let first = quote_ident(&self.table.columns[0].name);
            let values = vec!["(DEFAULT)"; rows.len()].join(", ");
            return Ok(self.finish(format!("INSERT INTO {table} ({first}) VALUES {values}{ret}")));
        }
        let cols = self.columns_list(columns.iter().copied());
        let mut tuples = Vec::with_capacity(rows.len());
        for row in rows {
            let mut items = Vec::with_capacity(row.len());
            for v in row {
                items.push(match v {
                    Some(v) => self.bind(v)?,
                    None if self.dialect == Dialect::Postgres => "DEFAULT".to_owned(),
                    None => return Err(ApiError::parse("body", "DEFAULT is not available here on SQLite")),
                });
            }
            tuples.push(format!("({})", items.join(", ")));
        }
        let sql = format!("INSERT INTO {table} ({cols}) VALUES {}{ret}", tuples.join(", "));
        Ok(self.finish(sql))
    }

    /// `SELECT * FROM t WHERE (key = k1) OR (key = k2) ...`: the rows an
    /// upsert may update.
    pub fn select_keys(mut self, key: &[usize], values: Vec<Vec<Value>>) -> Result<Statement, ApiError> {
        let mut ors = Vec::with_capacity(values.len());
        for row in values {
            let mut ands = Vec::with_capacity(key.len());
            for (&i, v) in key.iter().zip(row) {
                let name = quote_ident(&self.table.columns[i].name);
                ands.push(format!("{name} = {}", self.bind(v)?));
            }
            ors.push(format!("({})", ands.join(" AND ")));
        }
        let all = self.columns_list(0..self.table.columns.len());
        let sql = format!("SELECT {all} FROM {} WHERE {}", self.table_name(), ors.join(" OR "));
        Ok(self.finish(sql))
    }

    /// `UPDATE t SET ... WHERE ... RETURNING *`.
    pub fn update(mut self, set: Vec<(usize, Value)>, filters: &[Filter]) -> Result<Statement, ApiError> {
        let mut assigns = Vec::with_capacity(set.len());
        for (i, v) in set {
            let name = quote_ident(&self.table.columns[i].name);
            assigns.push(format!("{name} = {}", self.bind(v)?));
        }
        let wh = self.where_clause(filters)?;
        let sql = format!("UPDATE {} SET {}{wh}{}", self.table_name(), assigns.join(", "), self.returning());
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
        let mut assigns = Vec::with_capacity(set.len());
        for (i, v) in set {
            let name = quote_ident(&self.table.columns[i].name);
            assigns.push(format!("{name} = {}", self.bind(v)?));
        }
        let wh = self.where_clause(filters)?;
        let all = self.columns_list(0..self.table.columns.len());
        let qualified = |alias: &str| {
            self.table
                .columns
                .iter()
                .map(|c| format!("\"{alias}\".{}", quote_ident(&c.name)))
                .collect::<Vec<_>>()
        };
        let join = pk
            .iter()
            .filter_map(|&i| self.table.columns.get(i))
            .map(|c| format!("\"maggate_new\".{0} = \"maggate_old\".{0}", quote_ident(&c.name)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let mut returning = qualified("maggate_new");
        returning.extend(qualified("maggate_old"));
        let sql = format!(
            "UPDATE {t} AS \"maggate_new\" SET {set} FROM (SELECT {all} FROM {t}{wh} FOR UPDATE) AS \"maggate_old\" \
             WHERE {join} RETURNING {ret}",
            t = self.table_name(),
            set = assigns.join(", "),
            ret = returning.join(", "),
        );
        Ok(self.finish(sql))
    }

    /// `DELETE FROM t WHERE ... RETURNING *`.
    pub fn delete(mut self, filters: &[Filter]) -> Result<Statement, ApiError> {
        let wh = self.where_clause(filters)?;
        let sql = format!("DELETE FROM {}{wh}{}", self.table_name(), self.returning());
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
