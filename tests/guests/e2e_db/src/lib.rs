//! Runs whatever SQL it is sent, so the tests can try every statement a
//! hostile extension could, and reports the host's answer as JSON.
//!
//! - `POST /query` and `POST /execute`: the body is the SQL; each query
//!   parameter `p` is bound in order as text (`n:42` binds an integer,
//!   `null` binds NULL). Answers `{"ok": ...}` or `{"error": {"kind": ...,
//!   "message": ...}}`, always with status 200.
//! - `POST /twice`: runs the body twice in one invocation (the second call
//!   must see a fresh transaction and settings).
//! - `GET /dialect`, `GET /describe`.

use magflock_sdk::database::{self, Error, Value};
use magflock_sdk::prelude::*;

struct DbGuest;

fn params(req: &Request) -> Vec<Value> {
    req.query()
        .split('&')
        .filter_map(|kv| kv.strip_prefix("p="))
        .map(|raw| {
            let v = decode(raw);
            if v == "null" {
                Value::Null
            } else if let Some(n) = v.strip_prefix("n:").and_then(|n| n.parse().ok()) {
                Value::Integer(n)
            } else {
                Value::Text(v)
            }
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&format!("{f:?}")),
        Value::Text(s) => json_str(out, s),
        Value::Blob(b) => json_str(out, &b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        Value::Json(j) => out.push_str(j),
    }
}

fn error(e: &Error) -> String {
    let (kind, message) = match e {
        Error::Denied(m) => ("denied", m.clone()),
        Error::Invalid(m) => ("invalid", m.clone()),
        Error::TooLarge(m) => ("too-large", m.clone()),
        Error::Timeout => ("timeout", String::new()),
        Error::Constraint((c, m)) => ("constraint", format!("{c}: {m}")),
        Error::Failed((c, m)) => ("failed", format!("{c}: {m}")),
    };
    let mut out = String::from(r#"{"error":{"kind":"#);
    json_str(&mut out, kind);
    out.push_str(r#","message":"#);
    json_str(&mut out, &message);
    out.push_str("}}");
    out
}

fn query(sql: &str, params: &[Value]) -> String {
    match database::query(sql, params) {
        Ok(rows) => {
            let mut out = String::from(r#"{"ok":{"columns":["#);
            for (i, c) in rows.columns.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_str(&mut out, c);
            }
            out.push_str(r#"],"rows":["#);
            for (i, row) in rows.rows.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('[');
                for (j, v) in row.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    json_value(&mut out, v);
                }
                out.push(']');
            }
            out.push_str("]}}");
            out
        }
        Err(e) => error(&e),
    }
}

fn execute(sql: &str, params: &[Value]) -> String {
    match database::execute(sql, params) {
        Ok(n) => format!(r#"{{"ok":{n}}}"#),
        Err(e) => error(&e),
    }
}

impl Extension for DbGuest {
    fn handle(req: Request) -> Response {
        let params = params(&req);
        let sql = req.body_str().unwrap_or("").to_owned();
        let body = match (req.method(), req.path()) {
            ("POST", "/query") => query(&sql, &params),
            ("POST", "/execute") => execute(&sql, &params),
            ("POST", "/twice") => format!("[{},{}]", query(&sql, &params), query(&sql, &params)),
            ("GET", "/dialect") => match database::dialect() {
                database::Dialect::Sqlite => r#"{"ok":"sqlite"}"#.to_owned(),
                database::Dialect::Postgres => r#"{"ok":"postgres"}"#.to_owned(),
            },
            ("GET", "/describe") => match database::describe() {
                Ok(tables) => {
                    let mut out = String::from(r#"{"ok":["#);
                    for (i, t) in tables.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(r#"{"name":"#);
                        json_str(&mut out, &t.name);
                        out.push_str(r#","columns":["#);
                        for (j, c) in t.columns.iter().enumerate() {
                            if j > 0 {
                                out.push(',');
                            }
                            out.push_str(r#"{"name":"#);
                            json_str(&mut out, &c.name);
                            out.push_str(r#","type":"#);
                            json_str(&mut out, &c.data_type);
                            out.push_str(&format!(
                                r#","nullable":{},"primary_key":{},"has_default":{}}}"#,
                                c.nullable, c.primary_key, c.has_default
                            ));
                        }
                        out.push_str("]}");
                    }
                    out.push_str("]}");
                    out
                }
                Err(e) => error(&e),
            },
            _ => return Response::json(404, r#"{"code":"not_found"}"#),
        };
        Response::json(200, body)
    }
}

magflock_sdk::export!(DbGuest);
