//! Uses every capability the SDK wraps.
//!
//! - `GET /count` increments kv key `count` and answers its new value.
//! - `GET /config/{key}` answers config value `key`, or 404.
//! - `GET /installed` answers kv key `installed`, which `on_install` sets to `yes`.

use magflock_sdk::prelude::*;

struct KvGuest;

impl Extension for KvGuest {
    fn handle(req: Request) -> Response {
        log::info(&format!("{} {}", req.method(), req.path()));
        let path = req.path();
        if path == "/count" {
            let current = kv::get("count")
                .unwrap()
                .map(|bytes| String::from_utf8(bytes).unwrap().parse::<u64>().unwrap())
                .unwrap_or(0);
            let next = current + 1;
            kv::set("count", next.to_string()).unwrap();
            Response::text(200, next.to_string())
        } else if path == "/installed" {
            match kv::get("installed").unwrap() {
                Some(value) => Response::text(200, String::from_utf8(value).unwrap()),
                None => Response::json(404, r#"{"code":"not_found"}"#),
            }
        } else if let Some(key) = path.strip_prefix("/config/") {
            match config::get(key).unwrap() {
                Some(value) => Response::text(200, value),
                None => Response::json(404, r#"{"code":"not_found"}"#),
            }
        } else {
            Response::json(404, r#"{"code":"not_found"}"#)
        }
    }

    fn on_install() -> Result<(), String> {
        log::info("installing");
        kv::set("installed", "yes").map_err(|e| format!("{e:?}"))
    }
}

magflock_sdk::export!(KvGuest);
