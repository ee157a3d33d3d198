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
out_dir="$repo_root/build/wasm"

# First-party extensions: wasm32-unknown-unknown, linked into components by
# wasm-component-ld (extensions/.cargo/config.toml): no WASI imports beyond
# what the code calls. Test guests: wasm32-wasip2, the target third-party
# Rust authors use by default (std on WASI and its libc).
workspaces=(extensions tests/guests)
declare -A targets=([extensions]=wasm32-unknown-unknown [tests/guests]=wasm32-wasip2)

# From inside each workspace, so that its .cargo/config.toml applies.
for ws in "${workspaces[@]}"; do
    (cd "$ws" && cargo build --release --locked --target "${targets[$ws]}")
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
        wasm="$CARGO_TARGET_DIR/${targets[$ws]}/release/${crate//-/_}.wasm"
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
