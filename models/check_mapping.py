#!/usr/bin/env python3
"""Check face_landmark.onnx and its MediaPipe-468 -> iBUG-68 mapping on annotated photos.

    python models/check_mapping.py [IMAGE ...]   (each IMAGE needs IMAGE.pts beside it;
                                                  default: ../shared/testdata/{takeo.ppm,einstein.jpg})

No detector: the crop is built as MediaPipe builds it from a detection (square, 1.5x the face
box, rotated so the eyes are level), but from the ground-truth points' box. Prints NME over the
inner 49 and all 68 points, normalised by the distance between points 36 and 45 (0-based).
"""
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
# iBUG-68 index -> MediaPipe face-mesh index (the mapping the Rust code uses; see MODELS.md)
IBUG68 = [162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,  # jaw
          71, 63, 105, 66, 107, 336, 296, 334, 293, 301,  # right brow, left brow
          168, 197, 5, 4, 75, 97, 2, 326, 305,  # nose bridge, nose base
          33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,  # right eye, left eye
          61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # outer mouth
          78, 82, 13, 312, 308, 317, 14, 87]  # inner mouth
INNER49 = [i for i in range(17, 68) if i not in (60, 64)]
SIZE = 192


def load_pts(path):
    # .pts points are 1-based pixel centres (as menpo reads them); here pixel i spans [i, i+1).
    return np.loadtxt(path, skiprows=3, max_rows=68) - 0.5


def crop_transform(gt):
    """Affine (A, b) mapping crop pixel coordinates [0,192) to image coordinates."""
    dx, dy = gt[42:48].mean(0) - gt[36:42].mean(0)  # subject's right eye -> left eye
    c, s = np.cos(np.arctan2(dy, dx)), np.sin(np.arctan2(dy, dx))
    rot = np.array([[c, -s], [s, c]])  # columns: the crop's x and y axes in the image
    upright = (gt - gt.mean(0)) @ rot
    lo, hi = upright.min(0), upright.max(0)
    centre = gt.mean(0) + rot @ ((lo + hi) / 2)
    a = rot * (1.5 * (hi - lo).max() / SIZE)
    return a, centre - a @ [SIZE / 2, SIZE / 2]


def warp(img, a, b):
    """Bilinear sample of img (H,W,3) on the crop grid (pixel centres), edges replicated."""
    v, u = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    x, y = (np.stack([u, v], -1) @ a.T + b - 0.5).transpose(2, 0, 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    px = lambda yy, xx: img[np.clip(yy, 0, img.shape[0] - 1), np.clip(xx, 0, img.shape[1] - 1)]
    return ((px(y0, x0) * (1 - fx) + px(y0, x0 + 1) * fx) * (1 - fy) +
            (px(y0 + 1, x0) * (1 - fx) + px(y0 + 1, x0 + 1) * fx) * fy)


def main(images):
    sess = ort.InferenceSession(str(ROOT / "models/face_landmark.onnx"),
                                providers=["CPUExecutionProvider"])
    for image in images:
        img = np.asarray(Image.open(image).convert("RGB"), np.float32) / 255  # NHWC RGB [0,1]
        gt = load_pts(Path(image).with_suffix(".pts"))
        a, b = crop_transform(gt)
        mesh, logit = sess.run(["conv2d_21", "conv2d_31"], {"input_1": warp(img, a, b)[None].astype(np.float32)})
        pred = (mesh.reshape(468, 3)[:, :2] @ a.T + b)[IBUG68]  # crop px -> image px -> iBUG-68
        err = np.linalg.norm(pred - gt, axis=1) / np.linalg.norm(gt[36] - gt[45])
        print(f"{Path(image).name}: inner-49 NME {100 * err[INNER49].mean():.2f}%, "
              f"68-point {100 * err.mean():.2f}%, jaw {100 * err[:17].mean():.2f}% "
              f"(inter-ocular {np.linalg.norm(gt[36] - gt[45]):.1f} px, "
              f"face probability {1 / (1 + np.exp(-logit.item())):.3f})")


if __name__ == "__main__":
    main(sys.argv[1:] or [ROOT.parent / "shared/testdata" / f for f in ("takeo.ppm", "einstein.jpg")])
