//! The smallest MagFlock extension: says hello.
//!
//! - `GET /` answers `hello from MagFlock`.
//! - `GET /greet?name=X` answers `{"greeting":"hello, X"}`.
//! - Anything else answers 404 `{"code":"not_found"}`.
//!
//! It asks for no capability at all: a pure `wasi:http` handler, which also
//! makes it the benchmark's subject (the same component runs on a bare
//! wasmtime-wasi-http server for comparison).

use magflock_sdk::prelude::*;

struct Hello;

impl Extension for Hello {
    fn handle(req: Request) -> Response {
        if req.method() != "GET" {
            return not_found();
        }
        match req.path() {
            "/" => Response::text(200, "hello from MagFlock\n"),
            "/greet" => {
                let name = req.query_param("name").unwrap_or_default();
                let mut body = String::from(r#"{"greeting":"#);
                push_json_string(&mut body, &format!("hello, {name}"));
                body.push('}');
                Response::json(200, body)
            }
            _ => not_found(),
        }
    }
}

magflock_sdk::export!(Hello);

fn not_found() -> Response {
    Response::json(404, r#"{"code":"not_found"}"#)
}

/// Append `value` to `out` as a JSON string literal, quotes included.
fn push_json_string(out: &mut String, value: &str) {
    out.push('"');
    for ch in value.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_quotes_backslashes_and_controls() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
    }
}
