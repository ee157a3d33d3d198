#!/usr/bin/env bash
# Build every WebAssembly component in the repository: the extensions in
# extensions/ and the test guests in tests/guests/. Each lands in
# build/wasm/<name>/ as component.wasm plus its extension.toml, where <name>
# is the crate name with '_' replaced by '-'.
#
# MAGFLOCK_WASM_TARGET_DIR (or CARGO_TARGET_DIR) picks the cargo target
# directory; by default one under the user's cache, shared by both workspaces.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${MAGFLOCK_WASM_TARGET_DIR:-$HOME/.cache/magflock/target-wasm}}"
target=wasm32-wasip2
out_dir="$repo_root/build/wasm"

workspaces=(extensions tests/guests)

for ws in "${workspaces[@]}"; do
    cargo build --release --locked --target "$target" --manifest-path "$ws/Cargo.toml"
done

mkdir -p "$out_dir"
for ws in "${workspaces[@]}"; do
    for manifest in "$ws"/*/extension.toml; do
        crate_dir="$(dirname "$manifest")"
        crate="$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$crate_dir/Cargo.toml" | head -n 1)"
        if [[ -z "$crate" ]]; then
            echo "error: no package name in $crate_dir/Cargo.toml" >&2
            exit 1
        fi
        wasm="$CARGO_TARGET_DIR/$target/release/${crate//-/_}.wasm"
        if [[ ! -f "$wasm" ]]; then
            echo "error: $crate_dir did not produce $wasm (is it a cdylib workspace member?)" >&2
            exit 1
        fi
        dest="$out_dir/${crate//_/-}"
        mkdir -p "$dest"
        cp "$wasm" "$dest/component.wasm"
        cp "$manifest" "$dest/extension.toml"
        size="$(wc -c < "$dest/component.wasm" | tr -d ' ')"
        printf '%-22s %8s bytes  build/wasm/%s/component.wasm\n' "${crate//_/-}" "$size" "${crate//_/-}"
    done
done
