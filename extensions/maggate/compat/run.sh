#!/usr/bin/env bash
# Run @supabase/postgrest-js against MagGate served natively on loopback
# (examples/serve.rs): on SQLite, and on PostgreSQL when MAGFLOCK_TEST_PG_URL
# is set. Needs node and npm. scripts/test.sh runs the same client against
# MagGate installed in a host, through the gateway (tests/e2e/postgrest_js.rs).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
npm ci --silent --no-audit --no-fund
host="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --locked --quiet --manifest-path ../../Cargo.toml -p maggate --example serve --target "$host"
serve="${CARGO_TARGET_DIR:-../../target}/$host/debug/examples/serve"
modes=(sqlite)
if [[ -n "${MAGFLOCK_TEST_PG_URL:-}" ]]; then modes+=(pg); fi
status=0
for mode in "${modes[@]}"; do
    echo "==> postgrest-js on $mode"
    port_file="$(mktemp)"
    fifo="$(mktemp -u)"
    mkfifo "$fifo"
    # The server runs until its standard input closes, then cleans up.
    "$serve" "$mode" <"$fifo" >"$port_file" &
    pid=$!
    exec 3>"$fifo"
    for _ in $(seq 100); do [[ -s "$port_file" ]] && break; sleep 0.1; done
    node postgrest-js.mjs "$(cat "$port_file")" || status=1
    exec 3>&-
    wait "$pid" || status=1
    rm -f "$port_file" "$fifo"
done
exit "$status"
