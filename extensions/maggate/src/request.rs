//! An HTTP request → a typed MagGate request (the AST `sql` turns into SQL).
//!
//! Everything here is hostile input: every length, count and depth is
//! bounded by a named constant below and checked before use; nothing panics.

use std::borrow::Cow;

use crate::error::ApiError;
use crate::grammar::{self, Budget};

/// Longest raw query string accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
/// Most `key=value` pairs in a query string.
pub const MAX_QUERY_PAIRS: usize = 128;
/// Most conditions (leaves) across all filters and logic trees.
pub const MAX_CONDITIONS: usize = 256;
/// Deepest nesting of `or(...)`/`and(...)` groups.
pub const MAX_LOGIC_DEPTH: usize = 8;
/// Most values in one `in.(...)` list.
pub const MAX_IN_VALUES: usize = 1024;
/// Most items in `select=` or `columns=`.
pub const MAX_SELECT_ITEMS: usize = 256;
/// Most terms in `order=`.
pub const MAX_ORDER_TERMS: usize = 32;
/// Longest identifier (table or column name), in characters.
pub const MAX_IDENT_CHARS: usize = 255;
/// Longest header value read, in bytes.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// Largest request body, in bytes.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A plain HTTP request, the path being what follows the extension's prefix
/// (`/todos` for `/x/{project}/maggate/todos`) and the query string raw
/// (still percent-encoded, without the `?`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The values of header `name` (case-insensitive), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Patch,
    Delete,
}

/// What the path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/`: the OpenAPI description.
    Root,
    Table(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Like,
    Ilike,
    In,
    Is,
    IsDistinct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsValue {
    Null,
    NotNull,
    True,
    False,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Value(String),
    List(Vec<String>),
    Is(IsValue),
}

/// `column=[not.]op.operand`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub column: String,
    pub negate: bool,
    pub op: Op,
    pub operand: Operand,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Cond(Condition),
    /// `or(...)` (or `and(...)`), possibly negated.
    Logic {
        or: bool,
        negate: bool,
        children: Vec<Filter>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectItem {
    Star,
    Column { alias: Option<String>, column: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerm {
    pub column: String,
    pub desc: bool,
    /// `None`: PostgreSQL's default (nulls last ascending, first descending).
    pub nulls_first: Option<bool>,
}

/// The query-string part of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Conditions, all of which must hold.
    pub filters: Vec<Filter>,
    /// `None`: every column.
    pub select: Option<Vec<SelectItem>>,
    pub order: Vec<OrderTerm>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    /// `columns=` for POST.
    pub columns: Option<Vec<String>>,
    /// `on_conflict=` for an upsert (default: the primary key).
    pub on_conflict: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Return {
    #[default]
    Minimal,
    HeadersOnly,
    Representation,
}

/// What an upsert does with a row whose key exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// `merge-duplicates`: update it with the new values.
    Merge,
    /// `ignore-duplicates`: leave it.
    Ignore,
}

/// The `Prefer` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefer {
    /// `None` when the client stated no `return=`.
    pub return_: Option<Return>,
    /// `count=exact` (also `planned`/`estimated`, answered exactly).
    pub count: bool,
    /// `missing=default`.
    pub missing_default: bool,
    /// `resolution=merge-duplicates|ignore-duplicates`: an upsert.
    pub resolution: Option<Resolution>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    Json,
    /// `application/vnd.pgrst.object+json`: exactly one row, as an object.
    Object,
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    pub method: Method,
    pub target: Target,
    pub query: Query,
    pub prefer: Prefer,
    /// The `Range` header: first row and optional last row, inclusive.
    pub range: Option<(u64, Option<u64>)>,
    pub accept: Accept,
    pub body: Vec<u8>,
}

/// Parse a whole request, taking its body.
pub fn parse_request(req: HttpRequest) -> Result<ApiRequest, ApiError> {
    const METHODS: [(&str, Method); 5] = [
        ("GET", Method::Get),
        ("HEAD", Method::Head),
        ("POST", Method::Post),
        ("PATCH", Method::Patch),
        ("DELETE", Method::Delete),
    ];
    let Some(&(_, method)) = METHODS.iter().find(|(name, _)| req.method.eq_ignore_ascii_case(name)) else {
        return Err(ApiError::new(
            405,
            "PGRST117",
            format!("Unsupported HTTP method: {}", truncate(&req.method.to_ascii_uppercase())),
        ));
    };
    let target = parse_path(&req.path)?;
    let query = parse_query(&req.query)?;
    let mut prefer = Prefer::default();
    for v in req.header_values("prefer") {
        parse_prefer(header(v)?, &mut prefer);
    }
    // Range applies to reads only; PostgREST ignores it on writes.
    let range = match req.header_values("range").next() {
        Some(v) if matches!(method, Method::Get | Method::Head) && range_unit_is_items(&req) => {
            parse_range(header(v)?)?
        }
        _ => None,
    };
    let accept = match req.header_values("accept").next() {
        Some(v) => parse_accept(header(v)?)?,
        None => Accept::Json,
    };
    if req.body.len() > MAX_BODY_BYTES {
        // SQLSTATE 54000 (program_limit_exceeded): PostgREST answers its class with 413.
        return Err(ApiError::new(413, "54000", "Request body too large")
            .details(format!("the body has {} bytes; the limit is {MAX_BODY_BYTES}", req.body.len())));
    }
    if matches!(method, Method::Post | Method::Patch)
        && let Some(ct) = req.header_values("content-type").next()
    {
        let mime = header(ct)?.split(';').next().unwrap_or("").trim();
        let json_suffix =
            mime.len().checked_sub(5).is_some_and(|i| mime.as_bytes()[i..].eq_ignore_ascii_case(b"+json"));
        if !mime.is_empty() && !mime.eq_ignore_ascii_case("application/json") && !json_suffix {
            return Err(ApiError::new(415, "PGRST107", "Content-Type not acceptable: only application/json")
                .details(truncate(&mime.to_ascii_lowercase())));
        }
    }
    Ok(ApiRequest { method, target, query, prefer, range, accept, body: req.body })
}

fn header(v: &str) -> Result<&str, ApiError> {
    if v.len() > MAX_HEADER_BYTES {
        return Err(ApiError::limit("header length", MAX_HEADER_BYTES));
    }
    Ok(v)
}

/// At most 64 characters of client text, for messages.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// `/` or `/{table}` (one percent-encoded segment).
pub fn parse_path(path: &str) -> Result<Target, ApiError> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Ok(Target::Root);
    }
    if trimmed.contains('/') {
        if trimmed.starts_with("rpc/") {
            return Err(ApiError::not_implemented("calling functions (/rpc)"));
        }
        return Err(ApiError::new(404, "PGRST125", "Invalid path specified in request URL"));
    }
    let name = percent_decode(trimmed, false)?;
    if name.chars().count() > MAX_IDENT_CHARS {
        return Err(ApiError::limit("identifier length", MAX_IDENT_CHARS));
    }
    Ok(Target::Table(name.into_owned()))
}

/// Parse a raw query string.
pub fn parse_query(raw: &str) -> Result<Query, ApiError> {
    if raw.len() > MAX_QUERY_BYTES {
        return Err(ApiError::limit("query string length", MAX_QUERY_BYTES));
    }
    let mut q = Query::default();
    let mut budget = Budget::default();
    let mut pairs = 0usize;
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        pairs += 1;
        if pairs > MAX_QUERY_PAIRS {
            return Err(ApiError::limit("number of query parameters", MAX_QUERY_PAIRS));
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let key = percent_decode(k, true)?;
        let value = percent_decode(v, true)?;
        match &*key {
            "select" => q.select = Some(grammar::parse_select(&value)?),
            "order" => q.order = grammar::parse_order(&value)?,
            "limit" => q.limit = Some(parse_u64("limit", &value)?),
            "offset" => q.offset = Some(parse_u64("offset", &value)?),
            "columns" => q.columns = Some(grammar::parse_columns(&value)?),
            "or" | "and" | "not.or" | "not.and" => {
                let negate = key.starts_with("not.");
                let or = key.ends_with("or");
                q.filters.push(grammar::parse_logic(or, negate, &value, &mut budget)?);
            }
            "on_conflict" => q.on_conflict = Some(grammar::parse_columns(&value)?),
            _ => {
                if let Some((head, tail)) = key.rsplit_once('.')
                    && matches!(tail, "order" | "limit" | "offset" | "or" | "and" | "select")
                    && !head.is_empty()
                {
                    return Err(ApiError::not_implemented(&format!(
                        "parameters of embedded resources ({})",
                        truncate(&key)
                    )));
                }
                let column = grammar::parse_filter_key(&key)?;
                q.filters.push(grammar::parse_filter(column, &value, &mut budget)?);
            }
        }
    }
    Ok(q)
}

fn parse_u64(what: &str, value: &str) -> Result<u64, ApiError> {
    if value.is_empty() || value.len() > 19 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::parse(
            &format!("{what} parameter"),
            format!("\"{}\" is not a non-negative integer", truncate(value)),
        ));
    }
    value.parse().map_err(|_| ApiError::parse(&format!("{what} parameter"), "out of range"))
}

/// Percent-decoding; `+` is a space in query strings, as in PostgREST.
/// Text with nothing to decode is returned as it is.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Result<Cow<'_, str>, ApiError> {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b == b'%' || (plus_is_space && b == b'+')) {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => out.push(b),
                    None => return Err(ApiError::parse("query string", "invalid percent-encoding")),
                }
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| ApiError::parse("query string", "percent-decoded text is not UTF-8"))
}

/// Add the preferences of one `Prefer` header value.
pub fn parse_prefer(value: &str, prefer: &mut Prefer) {
    for item in value.split([',', ';']) {
        let item = item.trim();
        match item {
            "return=minimal" => prefer.return_ = Some(Return::Minimal),
            "return=representation" => prefer.return_ = Some(Return::Representation),
            "return=headers-only" => prefer.return_ = Some(Return::HeadersOnly),
            "count=exact" | "count=planned" | "count=estimated" => prefer.count = true,
            "missing=default" => prefer.missing_default = true,
            "resolution=merge-duplicates" => prefer.resolution = Some(Resolution::Merge),
            "resolution=ignore-duplicates" => prefer.resolution = Some(Resolution::Ignore),
            // Unknown preferences are ignored, as RFC 7240 and PostgREST's
            // default `handling=lenient` say.
            _ => {}
        }
    }
}

fn range_unit_is_items(req: &HttpRequest) -> bool {
    req.header_values("range-unit").next().is_none_or(|u| u.trim().eq_ignore_ascii_case("items"))
}

/// `0-9`, `10-` (also `items=0-9`).
pub fn parse_range(value: &str) -> Result<Option<(u64, Option<u64>)>, ApiError> {
    let v = value.trim();
    let v = v.strip_prefix("items=").unwrap_or(v);
    let Some((a, b)) = v.split_once('-') else {
        // PostgREST ignores a Range header it cannot read.
        return Ok(None);
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !(b.is_empty() || digits(b)) {
        return Ok(None);
    }
    let lower: u64 = a.parse().unwrap_or(u64::MAX);
    let upper = if b.is_empty() { None } else { Some(b.parse::<u64>().unwrap_or(u64::MAX)) };
    if let Some(u) = upper
        && lower > u
    {
        return Err(ApiError::new(416, "PGRST103", "Requested range not satisfiable").details(
            "The lower boundary must be lower than or equal to the upper boundary in the Range header.",
        ));
    }
    Ok(Some((lower, upper)))
}

/// The first acceptable media type of an `Accept` header.
pub fn parse_accept(value: &str) -> Result<Accept, ApiError> {
    const OBJECT: [&str; 2] = ["application/vnd.pgrst.object+json", "application/vnd.pgrst.object"];
    const JSON: [&str; 4] = ["", "*/*", "application/*", "application/json"];
    for item in value.split(',') {
        let mime = item.split(';').next().unwrap_or("").trim();
        if OBJECT.iter().any(|m| mime.eq_ignore_ascii_case(m)) {
            return Ok(Accept::Object);
        }
        if JSON.iter().any(|m| mime.eq_ignore_ascii_case(m)) {
            return Ok(Accept::Json);
        }
    }
    Err(ApiError::new(
        406,
        "PGRST107",
        format!("None of these media types are available: {}", truncate(value)),
    ))
}
