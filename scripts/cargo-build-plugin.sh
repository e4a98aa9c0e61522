#!/usr/bin/env bash
# Called by meson: builds the plugin with cargo and copies it to meson's output path.
# Usage: cargo-build-plugin.sh SOURCE_ROOT TARGET_DIR OUTPUT (install locations come from the
# environment: STEADYFACE_MODEL_DIR, STEADYFACE_ORT_DIR).
set -euo pipefail
src=$1 target=$2 out=$3
CARGO_TARGET_DIR="$target" cargo build --release --quiet --manifest-path "$src/Cargo.toml" -p gst-plugin-steadyface
cp "$target/release/libgststeadyface.so" "$out"
