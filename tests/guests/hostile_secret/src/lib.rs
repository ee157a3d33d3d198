//! `GET /write` puts a secret in a static buffer, then traps.
//! `GET /read` answers what the buffer holds: empty in a fresh instance, so a
//! test can show no state leaks from one invocation to the next.

use std::sync::Mutex;

use magflock_sdk::prelude::*;

static BUFFER: Mutex<String> = Mutex::new(String::new());

struct Secret;

impl Extension for Secret {
    fn handle(req: Request) -> Response {
        match req.path() {
            "/write" => {
                BUFFER.lock().unwrap().push_str("SECRET-0xDEADBEEF");
                panic!("trapping with the secret in memory");
            }
            "/read" => Response::text(200, BUFFER.lock().unwrap().clone()),
            _ => Response::json(404, r#"{"code":"not_found"}"#),
        }
    }
}

magflock_sdk::export!(Secret);
