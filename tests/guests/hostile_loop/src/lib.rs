//! `GET /` never returns: only the deadline stops it.

use core::hint::black_box;

use magflock_sdk::prelude::*;

struct Loop;

impl Extension for Loop {
    fn handle(_req: Request) -> Response {
        let mut counter = 0u64;
        loop {
            // black_box keeps the loop from being optimized away.
            counter = black_box(counter.wrapping_add(1));
        }
    }
}

magflock_sdk::export!(Loop);
