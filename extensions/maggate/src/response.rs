//! Rows → PostgREST's JSON, `Content-Range`, status codes, error bodies.
//!
//! Values keep their types: integers and floats are JSON numbers, booleans
//! booleans (SQLite's 0/1 in a column declared `BOOLEAN` too), JSON columns
//! are embedded as JSON, and bytes are a string in PostgreSQL's bytea hex
//! form `"\x0102"`, what PostgREST answers for `bytea` — the same on both
//! dialects, so a client never sees which database is behind.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt::Write as _;

use serde_json::{Map, Number, Value as Json};

use crate::db::{Table, Value};
use crate::error::ApiError;
use crate::sql::{Field, Kind, kind_of};

pub const CONTENT_TYPE_JSON: &str = "application/json; charset=utf-8";
pub const CONTENT_TYPE_OBJECT: &str = "application/vnd.pgrst.object+json; charset=utf-8";

/// A plain HTTP response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn new(status: u16) -> Self {
        HttpResponse { status, headers: Vec::new(), body: Vec::new() }
    }

    pub fn json(status: u16, body: &Json) -> Self {
        HttpResponse::new(status)
            .with_header("Content-Type", CONTENT_TYPE_JSON)
            .with_body(body.to_string().into_bytes())
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn with_body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json_body(&self) -> Json {
        serde_json::from_slice(&self.body).unwrap_or(Json::Null)
    }
}

impl From<ApiError> for HttpResponse {
    fn from(e: ApiError) -> Self {
        HttpResponse::json(e.status, &e.to_json())
    }
}

/// One value as JSON, given the declared type of its column.
pub fn value_to_json(kind: Kind, v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) if kind == Kind::Bool => Json::Bool(*i != 0),
        Value::Int(i) => Json::Number((*i).into()),
        Value::Float(f) => float_to_json(*f),
        Value::Text(s) if kind == Kind::Json => {
            serde_json::from_str(s).unwrap_or_else(|_| Json::String(s.clone()))
        }
        Value::Text(s) if kind == Kind::Numeric => {
            serde_json::from_str::<Number>(s).map_or_else(|_| Json::String(s.clone()), Json::Number)
        }
        Value::Text(s) => Json::String(s.clone()),
        Value::Json(s) => serde_json::from_str(s).unwrap_or_else(|_| Json::String(s.clone())),
        Value::Blob(b) => Json::String(bytea_hex(b)),
    }
}

/// Non-finite floats as PostgreSQL's `to_json` writes them.
fn float_to_json(f: f64) -> Json {
    match Number::from_f64(f) {
        Some(n) => Json::Number(n),
        None if f.is_nan() => Json::String("NaN".into()),
        None if f > 0.0 => Json::String("Infinity".into()),
        None => Json::String("-Infinity".into()),
    }
}

/// `\x` + lower-case hex.
pub fn bytea_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("\\x");
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// A row whose values are in `fields` order (a `SELECT` of those fields).
pub fn fields_row(table: &Table, fields: &[Field], row: &[Value]) -> Json {
    let mut m = Map::new();
    for (f, v) in fields.iter().zip(row) {
        let kind = table.columns.get(f.column).map_or(Kind::Text, |c| kind_of(&c.data_type));
        m.insert(f.key.clone(), value_to_json(kind, v));
    }
    Json::Object(m)
}

/// A row whose values are in table-column order (`RETURNING` every
/// column), projected onto `fields`.
pub fn full_row(table: &Table, fields: &[Field], row: &[Value]) -> Json {
    let mut m = Map::new();
    for f in fields {
        let kind = table.columns.get(f.column).map_or(Kind::Text, |c| kind_of(&c.data_type));
        let v = row.get(f.column).unwrap_or(&Value::Null);
        m.insert(f.key.clone(), value_to_json(kind, v));
    }
    Json::Object(m)
}

/// How the values of a row line up with the output fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowShape {
    /// In `fields` order (a `SELECT` of those fields), as [`fields_row`] reads them.
    Fields,
    /// In table-column order (`RETURNING` every column), as [`full_row`] reads them.
    Table,
}

/// A body of rows as JSON text: an array of objects or (for
/// `vnd.pgrst.object+json`) the one object; `Err` with 406 PGRST116 when an
/// object was asked for and there is not exactly one row.
///
/// The text is what serializing the [`fields_row`] or [`full_row`] objects
/// gives, byte for byte, written without building them.
pub fn rows_json(
    table: &Table,
    fields: &[Field],
    shape: RowShape,
    rows: &[Vec<Value>],
    object: bool,
) -> Result<Vec<u8>, ApiError> {
    if object && rows.len() != 1 {
        return Err(not_one_row(rows.len() as u64));
    }
    let kinds: Vec<Kind> = fields
        .iter()
        .map(|f| table.columns.get(f.column).map_or(Kind::Text, |c| kind_of(&c.data_type)))
        .collect();
    // An object has one entry per key: where the key first appears, with
    // the value of its last field (as `Map::insert` keeps them).
    let mut entries: Vec<(&str, usize)> = Vec::with_capacity(fields.len());
    let mut slots: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, f) in fields.iter().enumerate() {
        match slots.entry(&f.key) {
            Entry::Occupied(slot) => entries[*slot.get()].1 = i,
            Entry::Vacant(slot) => {
                slot.insert(entries.len());
                entries.push((&f.key, i));
            }
        }
    }
    // Room for a few rows without growing.
    let mut out = Vec::with_capacity(256);
    if !object {
        out.push(b'[');
    }
    for (n, row) in rows.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        if shape == RowShape::Fields && row.len() < fields.len() {
            // Fewer values than fields (not what a `SELECT` of the fields
            // returns): the fields without a value are left out.
            push_json(&mut out, &fields_row(table, fields, row));
            continue;
        }
        out.push(b'{');
        for (e, &(key, i)) in entries.iter().enumerate() {
            if e > 0 {
                out.push(b',');
            }
            push_json_str(&mut out, key);
            out.push(b':');
            let v = match shape {
                RowShape::Fields => &row[i],
                RowShape::Table => row.get(fields[i].column).unwrap_or(&Value::Null),
            };
            push_value(&mut out, kinds[i], v);
        }
        out.push(b'}');
    }
    if !object {
        out.push(b']');
    }
    Ok(out)
}

/// One value as JSON text, the same as [`value_to_json`] serialized.
fn push_value(out: &mut Vec<u8>, kind: Kind, v: &Value) {
    match v {
        // Without the copy `value_to_json` makes.
        Value::Text(s) if !matches!(kind, Kind::Json | Kind::Numeric) => push_json_str(out, s),
        v => push_json(out, &value_to_json(kind, v)),
    }
}

fn push_json(out: &mut Vec<u8>, value: &Json) {
    serde_json::to_writer(out, value).expect("JSON values serialize into memory");
}

/// A JSON string, escaped as serde_json escapes it.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("strings serialize into memory");
}

/// `Content-Range` for rows `lower..lower+len` of `total` (`*` unknown).
pub fn content_range(lower: u64, len: usize, total: Option<u64>) -> String {
    // Writing to a String cannot fail.
    let mut range = String::with_capacity(24);
    if len == 0 {
        range.push('*');
    } else {
        let _ = write!(range, "{lower}-{}", lower.saturating_add(len as u64 - 1));
    }
    match total {
        Some(total) => {
            let _ = write!(range, "/{total}");
        }
        None => range.push_str("/*"),
    }
    range
}

/// 406 PGRST116, PostgREST's answer when `vnd.pgrst.object+json` meets
/// zero or several rows.
pub fn not_one_row(n: u64) -> ApiError {
    ApiError::new(406, "PGRST116", "JSON object requested, multiple (or no) rows returned")
        .details(format!("The result contains {n} rows"))
}
