//! Calls kv, so the component imports `magflock:ext/kv`, but its manifest
//! declares no capabilities: publishing it must be refused.

use magflock_sdk::prelude::*;

struct Undeclared;

impl Extension for Undeclared {
    fn handle(_req: Request) -> Response {
        match kv::get("anything") {
            Ok(_) => Response::text(200, "kv answered"),
            Err(e) => Response::text(500, format!("{e:?}")),
        }
    }
}

magflock_sdk::export!(Undeclared);
