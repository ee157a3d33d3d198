//! `GET /` allocates 1 MiB blocks until the allocator aborts (a trap).
//! `GET /grow?mb=N` tries to allocate N MiB: 200 if it could, 507 if not.

use core::hint::black_box;

use magflock_sdk::prelude::*;

const MIB: usize = 1024 * 1024;

struct Memory;

/// One MiB with every page written, so the memory is really used.
fn touched_block() -> Vec<u8> {
    let mut block = vec![0u8; MIB];
    for page in block.chunks_mut(4096) {
        page[0] = 1;
    }
    black_box(block)
}

impl Extension for Memory {
    fn handle(req: Request) -> Response {
        match req.path() {
            "/" => {
                let mut kept = Vec::new();
                loop {
                    // Aborts when the allocation fails.
                    kept.push(touched_block());
                    black_box(&kept);
                }
            }
            "/grow" => {
                let mb: usize = req.query_param("mb").and_then(|mb| mb.parse().ok()).unwrap_or(1);
                let mut block: Vec<u8> = Vec::new();
                if block.try_reserve_exact(mb * MIB).is_err() {
                    return Response::json(507, r#"{"code":"allocation_failed"}"#);
                }
                block.resize(mb * MIB, 1);
                black_box(&block);
                Response::text(200, format!("allocated {mb} MiB"))
            }
            _ => Response::json(404, r#"{"code":"not_found"}"#),
        }
    }
}

magflock_sdk::export!(Memory);
