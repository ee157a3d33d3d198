#!/usr/bin/env bash
# Fuzzes the package format (registry/fuzz) for a bounded time, on the pinned
# stable toolchain, without a sanitizer (`-s none`: sanitizers need nightly,
# and the registry crate has no unsafe code of its own to check).
#   scripts/fuzz.sh [seconds-per-target]      (default 60)
# Inputs that grow coverage are kept in $MAGFLOCK_FUZZ_CORPUS (default
# ~/.cache/magflock/fuzz-corpus), so later runs start where earlier ones
# stopped; the seed corpus in registry/fuzz/corpus is only read. A crash or a
# failed assertion is saved under registry/fuzz/artifacts/<target>/ and makes
# the script exit non-zero after every target has run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [seconds-per-target]" >&2
    exit 2
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/magflock/target-fuzz}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
corpus_root="${MAGFLOCK_FUZZ_CORPUS:-$HOME/.cache/magflock/fuzz-corpus}"
fuzz_dir=registry/fuzz

echo "==> cargo-fuzz"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
cargo fuzz --version

echo "==> build"
cargo fuzz build -s none --fuzz-dir "$fuzz_dir"

mapfile -t targets < <(cargo fuzz list --fuzz-dir "$fuzz_dir")
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
failed=()
for target in "${targets[@]}"; do
    echo "==> fuzz $target for ${seconds}s"
    mkdir -p "$corpus_root/$target"
    if ! cargo fuzz run "$target" -s none --fuzz-dir "$fuzz_dir" \
        "$corpus_root/$target" "$fuzz_dir/corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        2>&1 | tee "$logs/$target.log"; then
        failed+=("$target")
    fi
done

echo "==> summary"
for target in "${targets[@]}"; do
    done_line="$(grep -E '^Done [0-9]+ runs' "$logs/$target.log" | tail -n 1 || true)"
    echo "$target: ${done_line:-no completion line (crashed?)}"
done
if ((${#failed[@]})); then
    echo "FAILED: ${failed[*]} (reproducers under $fuzz_dir/artifacts/)" >&2
    exit 1
fi
