#!/usr/bin/env bash
# Issue 17's ablation: the default stabilizer recipe (Makefile TRAIN_ARGS) with each objective
# without labels added alone, same seed, same data, same (shortened) step count; each stabilizer
# is scored on the validation sequences (where the choice is made) and on the held-out ones
# (reported once). Writes out/ablation/<name>/ and out/ablation/{validation,heldout}.md.
#   bash scripts/ablate_objectives.sh [STEPS]   (needs `make training-data validation heldout` first)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-200}
OUT=out/ablation
T=.cache/train
ST=target/release/steadyface
TESTDATA=${TESTDATA:-../shared/testdata}
mkdir -p "$OUT"
# Each objective's weight: 0.5 (the terms are squared point distances in heatmap pixels, about
# the size of the Jitter loss's terms at the start; nothing was tuned per objective).
declare -A CONFIGS=(
  [baseline]=""
  [cycle]="--cycle-weight 0.5"
  [pseudo]="--pseudo-weight 0.5"
  [inverse]="--inverse-weight 0.5"
  [disturb]="--disturb-weight 0.5"
  [teacher]="--teacher-weight 0.5"
  [shuffle]="--pretrain-shuffle-steps 100"
  # The ones that lowered both the mean NMJ and the mean NME ratio to raw on the validation
  # sequences (models/MODELS.md, "Objectives without labels"), together.
  [helpful]="--cycle-weight 0.5 --pseudo-weight 0.5 --inverse-weight 0.5 --teacher-weight 0.5"
)
ORDER=(baseline cycle pseudo inverse disturb teacher shuffle helpful)
for name in "${ORDER[@]}"; do
  dir=$OUT/$name
  [ -f "$dir/stabilizer.onnx" ] && continue
  mkdir -p "$dir/work"
  # The sequences are the same for every run: reuse the first run's cache.
  [ -d "$OUT/baseline/work/cache" ] && [ ! -d "$dir/work/cache" ] && cp -r "$OUT/baseline/work/cache" "$dir/work/"
  # shellcheck disable=SC2086
  $ST finetune --quiet --out "$dir/stabilizer.onnx" --work-dir "$dir/work" \
    --images $T/images \
    --videos $T/videos/WolfgangLanger_Pexels.mp4 $T/videos/noface_face.mov $T/videos/face_noface.mov \
    --labelled-videos $T/labelled/breakingbad-combined \
    --holdout "$TESTDATA/takeo.ppm" "$TESTDATA/einstein.jpg" \
    --sequences 800 --frames 16 --steps "$STEPS" --batch 16 --lr 1e-2 --lambda 1.5 --gamma 0.05 \
    --eval-every "$STEPS" --eval-frames 0 ${CONFIGS[$name]} > "$dir/train.log" 2>&1
done
for split in validation heldout; do
  seqs=(out/$split/*-clean out/$split/*-combined)
  [ "$split" = heldout ] && seqs=(out/heldout/seq/*)
  args=()
  for name in "${ORDER[@]}"; do
    rows=$OUT/$name/$split.jsonl
    [ -s "$rows" ] || $ST eval "${seqs[@]}" --method stabilizer --stabilizer "$OUT/$name/stabilizer.onnx" --json > "$rows"
    args+=("$rows:$name")
  done
  raw=$OUT/raw-$split.jsonl
  [ -s "$raw" ] || $ST eval "${seqs[@]}" --method raw --json > "$raw"
  # Held out: MediaPipe's own rows (raw FaceMesh, VIDEO mode's smoothing) from `make heldout`'s
  # run on the same sequences, beside the stabilizers.
  mediapipe=()
  if [ "$split" = heldout ] && [ -s out/heldout/rows.jsonl ]; then
    grep '"method":"mediapipe' out/heldout/rows.jsonl > "$OUT/mediapipe-heldout.jsonl"
    mediapipe=("$OUT/mediapipe-heldout.jsonl")
  fi
  .venv/bin/python scripts/heldout_table.py "$raw" "${mediapipe[@]}" "${args[@]}" > "$OUT/$split.md"
done
echo "tables: $OUT/validation.md $OUT/heldout.md"
