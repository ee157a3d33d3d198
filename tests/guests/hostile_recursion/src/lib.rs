//! `GET /` recurses without end until the engine's stack overflows (a trap).

use core::hint::black_box;

use magflock_sdk::prelude::*;

struct Recursion;

/// Not a tail call: sixteen opaque values stay live across the recursive
/// call and are combined after it returns, so every level keeps a real frame.
/// They live in wasm locals, which the engine keeps on its own (native) stack,
/// so that stack overflows (wasmtime's `StackOverflow` trap) long before the
/// 1 MiB stack in linear memory, which each level uses only a few bytes of.
fn recurse(depth: u64) -> u64 {
    let (a, b, c, d) = (black_box(depth), black_box(depth ^ 1), black_box(depth ^ 2), black_box(depth ^ 3));
    let (e, f, g, h) =
        (black_box(depth ^ 4), black_box(depth ^ 5), black_box(depth ^ 6), black_box(depth ^ 7));
    let (i, j, k, l) =
        (black_box(depth ^ 8), black_box(depth ^ 9), black_box(depth ^ 10), black_box(depth ^ 11));
    let (m, n, o, p) =
        (black_box(depth ^ 12), black_box(depth ^ 13), black_box(depth ^ 14), black_box(depth ^ 15));
    if black_box(false) {
        return a;
    }
    let below = recurse(depth + 1);
    let acc = mix(mix(mix(mix(below, a), b), c), d);
    let acc = mix(mix(mix(mix(acc, e), f), g), h);
    let acc = mix(mix(mix(mix(acc, i), j), k), l);
    mix(mix(mix(mix(acc, m), n), o), p)
}

#[inline(always)]
fn mix(acc: u64, x: u64) -> u64 {
    acc.rotate_left(7) ^ x.wrapping_mul(0x9e37_79b9)
}

impl Extension for Recursion {
    fn handle(_req: Request) -> Response {
        Response::text(200, recurse(0).to_string())
    }
}

magflock_sdk::export!(Recursion);
