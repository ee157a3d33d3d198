#!/usr/bin/env bash
# Instructions per MagGate request, counted by callgrind: a measure of the
# host's and the guest's work that does not move with the machine's load,
# unlike requests per second. It counts user-space instructions only (no
# system calls, no context switches); compare builds with it, and confirm
# with the timed benchmark (`cargo bench -p magflock-tests --bench maggate`).
#
#   scripts/bench-instructions.sh [requests]      (default 1000)
#
# Builds the benchmark binary, starts its MagGate server (`serve maggate`,
# a small instance pool so valgrind can reserve it) under callgrind, warms
# it with 300 requests on one keep-alive connection, then counts the
# instructions of the next N. The profile is left in the printed file, for
# callgrind_annotate. Needs valgrind and curl.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

requests="${1:-1000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/magflock/target-bench}"
for tool in valgrind callgrind_control curl; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed (Debian: valgrind, curl)" >&2; exit 1; }
done

scripts/build-wasm.sh >/dev/null
echo "==> building the benchmark binary" >&2
bin="$(cargo bench --locked -p magflock-tests --bench maggate --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*maggate[^"]*\)".*/\1/p' | tail -n 1)"
[[ -x "$bin" ]] || { echo "error: the benchmark binary was not built" >&2; exit 1; }

work="$(mktemp -d)"
profile="$work/callgrind.out"
mkfifo "$work/stdin"
# The server exits when its stdin closes: hold it open until the end.
sleep infinity > "$work/stdin" &
holder=$!
cleanup() { kill "$holder" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

MAGFLOCK_BENCH_POOL_INSTANCES=2 valgrind --tool=callgrind --callgrind-out-file="$profile" \
    "$bin" serve maggate "$work/data" < "$work/stdin" > "$work/info" 2> "$work/log" &
server=$!
echo "==> starting the server under callgrind (slow)" >&2
for _ in $(seq 1 300); do
    grep -q '^ready' "$work/info" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
    sleep 1
done
grep -q '^ready' "$work/info" || { echo "error: the server did not start" >&2; exit 1; }
url="$(sed -n 's/^url //p' "$work/info")"
key="$(sed -n 's/^key //p' "$work/info")"

# One curl process, one keep-alive connection, N requests.
run() {
    local n="$1" config="$work/curl.$1"
    : > "$config"
    for _ in $(seq 1 "$n"); do
        printf 'url = "%s/x/bench/maggate/items?id=eq.42&select=id,name"\noutput = "/dev/null"\n' "$url" >> "$config"
    done
    curl --silent --fail --header "apikey: $key" --config "$config"
}

run 300
callgrind_control --zero "$server" >/dev/null 2>&1
run "$requests"
callgrind_control --dump "$server" >/dev/null 2>&1
total="$(grep -a '^totals:' "$profile".* | tail -n 1 | awk '{print $2}')"
echo "MagGate GET by primary key: $((total / requests)) instructions per request (callgrind, $requests requests)"
echo "profile: $(ls "$profile".* | tail -n 1)"
trap - EXIT
cleanup
