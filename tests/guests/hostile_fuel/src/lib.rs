//! `GET /` runs 10^9 iterations: far more than its fuel allows.
//! `GET /small` runs 1000 and answers 200, showing fuel is per invocation.

use core::hint::black_box;

use magflock_sdk::prelude::*;

struct Fuel;

fn burn(iterations: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..black_box(iterations) {
        acc = black_box(acc.wrapping_mul(31).wrapping_add(i));
    }
    acc
}

impl Extension for Fuel {
    fn handle(req: Request) -> Response {
        match req.path() {
            "/" => Response::text(200, burn(1_000_000_000).to_string()),
            "/small" => Response::text(200, burn(1000).to_string()),
            _ => Response::json(404, r#"{"code":"not_found"}"#),
        }
    }
}

magflock_sdk::export!(Fuel);
