#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a warm one:
#   1. the pinned toolchain and the wasm32-wasip2 and wasm32-unknown-unknown
#      targets (rust-toolchain.toml),
#   2. every wasm component the tests use (scripts/build-wasm.sh),
#   3. a throwaway PostgreSQL 15 cluster (scripts/pg.sh), stopped on exit,
#   4. MagGate's logic, natively (extensions/maggate, on SQLite and PostgreSQL),
#   5. the PostgREST JavaScript client the compatibility test drives (npm ci),
#   6. every test of the workspace, each test on SQLite and on PostgreSQL.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Build output lives outside the clone so later runs (and clones) reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/magflock/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "==> toolchain"
# The toolchain rust-toolchain.toml pins, installed explicitly (newer rustup
# no longer installs it implicitly), then its targets: an already-installed
# toolchain does not pick up targets added to the file later.
rustup toolchain install
rustup show active-toolchain
rustup target add wasm32-wasip2 wasm32-unknown-unknown >/dev/null

echo "==> wasm components"
scripts/build-wasm.sh

echo "==> PostgreSQL"
MAGFLOCK_TEST_PG_URL="$(scripts/pg.sh start)"
export MAGFLOCK_TEST_PG_URL
trap 'scripts/pg.sh stop >/dev/null 2>&1 || true' EXIT

echo "==> MagGate (native)"
# The extensions workspace builds wasm components, but MagGate's logic is a
# plain library tested natively against real databases: name the host target.
cargo test --locked --manifest-path extensions/Cargo.toml -p maggate \
  --target "$(rustc -vV | sed -n 's/^host: //p')"

echo "==> postgrest-js (for tests/e2e/postgrest_js.rs)"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: Node.js >= 20 and npm are needed (installing them needs root)" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm
fi
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  echo "error: @supabase/postgrest-js needs Node.js >= 20; this machine has $(node --version)" >&2
  exit 1
fi
(cd extensions/maggate/compat && npm ci --silent --no-audit --no-fund)

echo "==> build"
cargo build --locked --workspace --tests --bins

echo "==> tests"
if cargo nextest --version >/dev/null 2>&1; then
  # One process per test: each host gets its own engine and address space.
  cargo nextest run --locked --workspace --no-fail-fast --failure-output final
else
  cargo test --locked --workspace --no-fail-fast
fi
