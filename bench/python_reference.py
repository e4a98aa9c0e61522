#!/usr/bin/env python3
"""The reference to beat: the same MediaPipe models driven from Python with ONNX Runtime.

Tracks one face through raw RGB frames the way MediaPipe does: BlazeFace on the first frame
(whole frame, letterboxed to 128x128), then every frame a 192x192 crop around the previous
frame's landmarks (rotation from landmarks 33/263, 1.5x the landmarks' box), rotated and resampled
with OpenCV's warpAffine, the landmark model, and the next crop from its points. One ONNX Runtime
thread per model. Prints one JSON line with the mean milliseconds per frame over the video, the
first frame's detection included (decode excluded), the median of `--repeat` runs of it.

    python bench/python_reference.py FRAMES.rgb WIDTH HEIGHT [--models models/] [--repeat 5]
"""
import argparse
import json
import math
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def anchors():
    out = []
    for cells, per_cell in ((16, 2), (8, 6)):
        for y in range(cells):
            for x in range(cells):
                out += [((x + 0.5) / cells, (y + 0.5) / cells)] * per_cell
    return np.array(out, np.float32)


def detect(det, frame):
    """Best face as (cx, cy, size, angle) in frame pixels, or None."""
    h, w = frame.shape[:2]
    side = max(w, h)
    scale = 128 / side
    m = np.float32([[scale, 0, (128 - w * scale) / 2], [0, scale, (128 - h * scale) / 2]])
    img = cv2.warpAffine(frame, m, (128, 128), flags=cv2.INTER_AREA)
    x = (img.astype(np.float32) / 127.5 - 1.0)[None]
    outs = det.run(None, {det.get_inputs()[0].name: x})
    scores = np.concatenate([o.reshape(-1) for o in outs if o.shape[-1] == 1])
    boxes = np.concatenate([o.reshape(-1, 16) for o in outs if o.shape[-1] == 16])
    i = int(np.argmax(scores))
    if 1 / (1 + math.exp(-scores[i])) < 0.5:
        return None
    a = ANCHORS[i]
    r = boxes[i] / 128
    inv = cv2.invertAffineTransform(m)
    to_frame = lambda u, v: inv @ np.float32([u * 128, v * 128, 1])
    c = to_frame(r[0] + a[0], r[1] + a[1])
    re, le = to_frame(r[4] + a[0], r[5] + a[1]), to_frame(r[6] + a[0], r[7] + a[1])
    size = max(r[2], r[3]) * 128 / scale * 1.5
    return c[0], c[1], size, math.atan2(le[1] - re[1], le[0] - re[0])


def crop_matrix(cx, cy, size, angle):
    """Frame -> 192x192 crop affine, rotating the face upright."""
    s = 192 / size
    cos, sin = math.cos(angle) * s, math.sin(angle) * s
    return np.float32([[cos, sin, 96 - cos * cx - sin * cy], [-sin, cos, 96 + sin * cx - cos * cy]])


def roi_from_points(pts):
    angle = math.atan2(pts[263, 1] - pts[33, 1], pts[263, 0] - pts[33, 0])
    c, s = math.cos(angle), math.sin(angle)
    u = pts @ np.float32([[c, -s], [s, c]])
    lo, hi = u.min(0), u.max(0)
    mid = (lo + hi) / 2
    centre = np.float32([[c, s], [-s, c]]).T @ mid
    return centre[0], centre[1], float((hi - lo).max() * 1.5), angle


def track(det, lm, frames):
    roi, times = None, []
    for frame in frames:
        t0 = time.perf_counter()
        if roi is None:
            roi = detect(det, frame)
        if roi is not None:
            m = crop_matrix(*roi)
            crop = cv2.warpAffine(frame, m, (192, 192), flags=cv2.INTER_LINEAR)
            x = (crop.astype(np.float32) / 255.0)[None]
            pts, logit = lm.run(None, {lm.get_inputs()[0].name: x})
            p = pts.reshape(-1, 3)[:, :2]
            inv = cv2.invertAffineTransform(m)
            frame_pts = p @ inv[:, :2].T + inv[:, 2]
            roi = roi_from_points(frame_pts) if logit.reshape(-1)[0] > 0 else None
        times.append(time.perf_counter() - t0)
    return times


ANCHORS = anchors()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("frames")
    ap.add_argument("width", type=int)
    ap.add_argument("height", type=int)
    ap.add_argument("--models", default=str(Path(__file__).resolve().parent.parent / "models"))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    raw = np.fromfile(args.frames, np.uint8).reshape(-1, args.height, args.width, 3)
    det = session(Path(args.models) / "face_detection_front_128.onnx")
    lm = session(Path(args.models) / "face_landmark.onnx")
    track(det, lm, raw[:5])  # warm-up
    per_run = [np.mean(track(det, lm, raw)) * 1000 for _ in range(args.repeat)]
    print(json.dumps({"frames": len(raw), "ms_per_frame": float(np.median(per_run))}))


if __name__ == "__main__":
    main()
