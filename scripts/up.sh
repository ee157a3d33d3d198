#!/usr/bin/env bash
# `magflock up` from a fresh clone: builds the first-party extensions and the
# host, then starts everything on the embedded default (SQLite, data in
# .magflock/). Arguments go to `magflock up` (e.g. --port 9000).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/magflock/target}"
# The pinned toolchain (rust-toolchain.toml) and its wasm targets.
rustup toolchain install
rustup target add wasm32-wasip2 wasm32-unknown-unknown >/dev/null
scripts/build-wasm.sh
exec cargo run --locked --bin magflock -- --log-format pretty up "$@"
