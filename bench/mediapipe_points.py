#!/usr/bin/env python3
"""Google MediaPipe's own face landmarks on benchmark sequences, for `steadyface eval --predictions`.

    python3 bench/mediapipe_points.py SEQ_DIR... [--mode facemesh|video]

For each SEQ_DIR (numbered frames 000000.png ..., as `steadyface synth` writes them) this runs
MediaPipe on the frames in order, at 30 fps timestamps (frame number n at n * 1000 / 30 ms), and
writes SEQ_DIR/mediapipe-<mode>.jsonl: one line per frame, `{"frame": N, "points": [[x, y] x 68]}`
(the 468-point mesh mapped to iBUG-68 with the table of models/MODELS.md, "Landmark scheme"),
or `"points": null` where MediaPipe found no face. Coordinates are 0-based pixels with pixel
centres at integers, as in gt.jsonl: MediaPipe's normalised landmarks are x * width - 0.5,
y * height - 0.5 (x = 0 is the left edge of the image; checked against synth's ground truth on
clean frames, see --check).

Modes:
  facemesh  mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
            refine_landmarks=False): raw MediaPipe; this legacy graph has no smoothing node.
  video     the Tasks FaceLandmarker in VIDEO mode, which smooths the landmarks with MediaPipe's
            One Euro filter (min_cutoff 0.05, beta 80, derivative cutoff 1, scaled by the face's
            size). The wheel ships no face_landmarker.task, so the script makes one under
            .cache/mediapipe/ from the wheel's face_detection_short_range.tflite and
            face_landmark.tflite: the Tasks decoder expects 478 landmarks (1434 values) and the
            wheel's landmark model outputs 468 x 3, so its output is extended with a copy of its
            first 10 points (a SLICE and a CONCATENATION appended to the TFLite graph, written
            with the wheel's own TFLite schema module); the copies lie inside the face, so the
            tracking box (the landmarks' bounding box) is unchanged, and they are dropped.

MediaPipe runs in its own virtual environment, .cache/mediapipe-venv, made on first use from
bench/requirements-mediapipe.txt (the project's .venv pins other versions); the script re-runs
itself under that environment's python.
"""

import argparse
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".cache" / "mediapipe-venv"
REQUIREMENTS = ROOT / "bench" / "requirements-mediapipe.txt"
BUNDLE_DIR = ROOT / ".cache" / "mediapipe"
FRAME_EXTENSIONS = {".png", ".jpg", ".jpeg", ".ppm"}

# iBUG-68 point i is MediaPipe mesh vertex MEDIAPIPE_TO_IBUG68[i] (models/MODELS.md, src/scheme.rs).
MEDIAPIPE_TO_IBUG68 = [
    # jaw 0-16
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
    # right brow 17-21, left brow 22-26
    71, 63, 105, 66, 107, 336, 296, 334, 293, 301,
    # nose bridge 27-30, nose base 31-35
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    # right eye 36-41, left eye 42-47
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    # outer mouth 48-59, inner mouth 60-67
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181, 78, 82, 13, 312, 308, 317, 14, 87,
]
assert len(MEDIAPIPE_TO_IBUG68) == 68

# Where a normalised coordinate's pixel centre sits: pixel = normalised * size - HALF_PIXEL.
HALF_PIXEL = 0.5


def ensure_venv():
    """Re-runs this script under .cache/mediapipe-venv's python, making the venv first if needed."""
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    stamp = VENV / ".requirements"
    wanted = REQUIREMENTS.read_text()
    if not python.exists() or not stamp.exists() or stamp.read_text() != wanted:
        print(f"mediapipe_points: installing MediaPipe into {VENV} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(wanted)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


def numbered_frames(seq):
    frames = []
    for path in seq.iterdir():
        if path.suffix.lower() in FRAME_EXTENSIONS and path.stem.isdigit():
            frames.append((int(path.stem), path))
    if not frames:
        sys.exit(f"mediapipe_points: {seq}: no numbered frames (000000.png, ...)")
    return sorted(frames)


def to_pixels(landmarks, width, height):
    return [
        [landmarks[i].x * width - HALF_PIXEL, landmarks[i].y * height - HALF_PIXEL] for i in MEDIAPIPE_TO_IBUG68
    ]


def padded_landmark_model(src, dst):
    """face_landmark.tflite with its landmark output (1, 1, 1, 1404) extended to 1434 values by a copy
    of its first 30 (the first 10 points): out = CONCATENATION(landmarks, SLICE(landmarks, 0, 30))."""
    import flatbuffers
    import numpy as np
    from mediapipe.tasks.metadata import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(Path(src).read_bytes()), 0)
    graph = model.subgraphs[0]
    landmarks = next(i for i in graph.outputs if int(np.prod(graph.tensors[i].shape)) == 1404)

    def opcode(builtin):
        for k, code in enumerate(model.operatorCodes):
            if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
                return k
        code = schema.OperatorCodeT()
        code.builtinCode = builtin
        code.deprecatedBuiltinCode = builtin
        code.version = 1
        model.operatorCodes.append(code)
        return len(model.operatorCodes) - 1

    def tensor(name, shape, dtype, data=None):
        buf = schema.BufferT()
        if data is not None:
            buf.data = np.frombuffer(np.asarray(data, dtype=np.int32).tobytes(), dtype=np.uint8)
        model.buffers.append(buf)
        t = schema.TensorT()
        t.name = name.encode()
        t.shape = np.array(shape, dtype=np.int32)
        t.type = dtype
        t.buffer = len(model.buffers) - 1
        graph.tensors.append(t)
        return len(graph.tensors) - 1

    float32, int32 = schema.TensorType.FLOAT32, schema.TensorType.INT32
    begin = tensor("pad_begin", [4], int32, [0, 0, 0, 0])
    size = tensor("pad_size", [4], int32, [1, 1, 1, 30])
    first10 = tensor("pad_first10", [1, 1, 1, 30], float32)
    out = tensor("landmarks_478", [1, 1, 1, 1434], float32)

    slice_op = schema.OperatorT()
    slice_op.opcodeIndex = opcode(schema.BuiltinOperator.SLICE)
    slice_op.inputs = [landmarks, begin, size]
    slice_op.outputs = [first10]
    slice_op.builtinOptionsType = schema.BuiltinOptions.SliceOptions
    slice_op.builtinOptions = schema.SliceOptionsT()

    concat = schema.OperatorT()
    concat.opcodeIndex = opcode(schema.BuiltinOperator.CONCATENATION)
    concat.inputs = [landmarks, first10]
    concat.outputs = [out]
    concat.builtinOptionsType = schema.BuiltinOptions.ConcatenationOptions
    concat.builtinOptions = schema.ConcatenationOptionsT()
    concat.builtinOptions.axis = 3

    graph.operators.extend([slice_op, concat])
    graph.outputs = [out if i == landmarks else i for i in graph.outputs]
    builder = flatbuffers.Builder(4 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    Path(dst).write_bytes(builder.Output())


def landmarker_bundle():
    """.cache/mediapipe/face_landmarker.task, made from the wheel's two models when missing."""
    import mediapipe

    bundle = BUNDLE_DIR / "face_landmarker.task"
    if bundle.exists():
        return bundle
    modules = Path(mediapipe.__file__).parent / "modules"
    BUNDLE_DIR.mkdir(parents=True, exist_ok=True)
    padded = BUNDLE_DIR / "face_landmark_478.tflite"
    padded_landmark_model(modules / "face_landmark" / "face_landmark.tflite", padded)
    part = bundle.with_suffix(".part")
    with zipfile.ZipFile(part, "w", zipfile.ZIP_STORED) as z:
        z.write(modules / "face_detection" / "face_detection_short_range.tflite", "face_detector.tflite")
        z.write(padded, "face_landmarks_detector.tflite")
    part.rename(bundle)
    print(f"mediapipe_points: made {bundle}", file=sys.stderr)
    return bundle


class FaceMeshRunner:
    def __init__(self):
        import mediapipe as mp

        self.mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=False)

    def __call__(self, rgb, timestamp_ms):
        faces = self.mesh.process(rgb).multi_face_landmarks
        return faces[0].landmark if faces else None

    def close(self):
        self.mesh.close()


class VideoRunner:
    def __init__(self):
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self.mp = mp
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(landmarker_bundle())),
            running_mode=vision.RunningMode.VIDEO,
            num_faces=1,
        )
        self.landmarker = vision.FaceLandmarker.create_from_options(options)

    def __call__(self, rgb, timestamp_ms):
        image = self.mp.Image(image_format=self.mp.ImageFormat.SRGB, data=rgb)
        faces = self.landmarker.detect_for_video(image, timestamp_ms).face_landmarks
        return faces[0][:468] if faces else None

    def close(self):
        self.landmarker.close()


def check_offset(seq, normalised):
    """Mean (x, y) offset from gt.jsonl of the inner 49 points (17-67), with and without the half pixel."""
    gt_path = seq / "gt.jsonl"
    if not gt_path.exists():
        return
    gt = {r["frame"]: r["points"] for r in map(json.loads, gt_path.read_text().splitlines()) if r}
    for half in (0.0, 0.5):
        dx, dy, n = 0.0, 0.0, 0
        for frame, pts in normalised:
            if pts is None or frame not in gt:
                continue
            for i in range(17, 68):
                dx += pts[i][0] - half - gt[frame][i][0]
                dy += pts[i][1] - half - gt[frame][i][1]
                n += 1
        if n:
            print(
                f"mediapipe_points: {seq.name}: pixel = normalised * size - {half}: "
                f"mean offset from gt (inner 49) dx {dx / n:+.3f} dy {dy / n:+.3f} px",
                file=sys.stderr,
            )


def run(seq, mode, fps, check):
    import cv2

    runner = FaceMeshRunner() if mode == "facemesh" else VideoRunner()
    out_path = seq / f"mediapipe-{mode}.jsonl"
    lines, normalised, found = [], [], 0
    frames = numbered_frames(seq)
    for number, path in frames:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            sys.exit(f"mediapipe_points: {path}: cannot be read")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        height, width = rgb.shape[:2]
        landmarks = runner(rgb, int(round(number * 1000.0 / fps)))
        points = to_pixels(landmarks, width, height) if landmarks is not None else None
        found += points is not None
        if check:
            raw = [[landmarks[i].x * width, landmarks[i].y * height] for i in MEDIAPIPE_TO_IBUG68] if landmarks else None
            normalised.append((number, raw))
        lines.append(json.dumps({"frame": number, "points": points}))
    runner.close()
    part = out_path.with_suffix(".jsonl.part")
    part.write_text("\n".join(lines) + "\n")
    part.rename(out_path)
    print(f"mediapipe_points: {out_path}: {len(frames)} frames, a face in {found}", file=sys.stderr)
    if check:
        check_offset(seq, normalised)


def run_video(video, mode, out):
    """Every frame of a video file (OpenCV decodes it) through MediaPipe, one JSON line per frame
    to `out` (what a user of MediaPipe would run instead of `steadyface track`)."""
    import cv2

    runner = FaceMeshRunner() if mode == "facemesh" else VideoRunner()
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    number = 0
    with open(out, "w") as sink:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            height, width = rgb.shape[:2]
            landmarks = runner(rgb, int(round(number * 1000.0 / fps)))
            points = to_pixels(landmarks, width, height) if landmarks is not None else None
            sink.write(json.dumps({"frame": number, "points": points}) + "\n")
            number += 1
    runner.close()
    if number == 0:
        sys.exit(f"mediapipe_points: {video}: no frame decoded")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sequences", nargs="*", type=Path, help="directories of numbered frames")
    parser.add_argument("--video", type=Path, help="a video file instead: its landmarks to --out")
    parser.add_argument("--out", type=Path, default=Path("/dev/stdout"), help="with --video (default: stdout)")
    parser.add_argument("--mode", choices=["facemesh", "video"], default="facemesh")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of the timestamps (default 30)")
    parser.add_argument(
        "--check", action="store_true", help="print the mean offset from gt.jsonl with and without the half pixel"
    )
    args = parser.parse_args()
    if args.video:
        if not args.video.is_file():
            sys.exit(f"mediapipe_points: {args.video}: no such video")
        ensure_venv()
        os.environ.setdefault("GLOG_minloglevel", "2")
        return run_video(args.video, args.mode, args.out)
    if not args.sequences:
        parser.error("give sequence directories or --video")
    for seq in args.sequences:
        if not seq.is_dir():
            sys.exit(f"mediapipe_points: {seq}: not a directory of numbered frames")
    ensure_venv()
    os.environ.setdefault("GLOG_minloglevel", "2")
    for seq in args.sequences:
        run(seq, args.mode, args.fps, args.check)


if __name__ == "__main__":
    main()
