//! `on-upgrade` refuses to replace any 1.x version (a data format it cannot
//! migrate), accepts anything else. `GET /` answers 200 `upgraded`.

use magflock_sdk::prelude::*;

struct Upgrade;

impl Extension for Upgrade {
    fn handle(_req: Request) -> Response {
        Response::text(200, "upgraded")
    }

    fn on_upgrade(from_version: &str) -> Result<(), String> {
        if from_version.starts_with("1.") {
            Err(format!("cannot migrate data written by {from_version}"))
        } else {
            Ok(())
        }
    }
}

magflock_sdk::export!(Upgrade);
