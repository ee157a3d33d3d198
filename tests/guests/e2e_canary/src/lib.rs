//! Answers `GET /` with 200 `ok` at once. Tests call it after a hostile guest
//! to show the host still serves.

use magflock_sdk::prelude::*;

struct Canary;

impl Extension for Canary {
    fn handle(req: Request) -> Response {
        match (req.method(), req.path()) {
            ("GET", "/") => Response::text(200, "ok"),
            _ => Response::json(404, r#"{"code":"not_found"}"#),
        }
    }
}

magflock_sdk::export!(Canary);
