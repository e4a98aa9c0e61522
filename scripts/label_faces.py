#!/usr/bin/env python3
"""Writes IMAGE.pts (iBUG-68, 1-based) beside every face image that has none, from the backbone's
landmarks on the clean still (`steadyface detect`, the largest face: the crops of group photos centre it).

The benchmark faces of models/faces.tsv come without human annotations (no registry ships 68-point
labels of new faces), so their synthetic sequences take the backbone's answer on the unmoved, clean
still as ground truth: NME then measures how far tracking strays from the backbone's best answer,
and NMJ (jitter relative to the true motion) keeps its meaning. Existing .pts files are kept.

    python3 scripts/label_faces.py .cache/faces/*.png .cache/faces/*.jpg
"""
import json
import os
import subprocess
import sys

BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "steadyface")


def main():
    todo = [p for p in sys.argv[1:] if not os.path.exists(os.path.splitext(p)[0] + ".pts")]
    if not todo:
        return
    out = subprocess.run([BIN, "detect", *todo], check=True, capture_output=True, text=True).stdout
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if len(lines) != len(todo):
        sys.exit(f"label_faces: {len(lines)} answers for {len(todo)} images")
    for path, answer in zip(todo, lines):
        faces = answer.get("faces") or []
        if not faces:
            sys.exit(f"label_faces: {path}: no face found")
        points = max(faces, key=lambda f: f["box"][2] * f["box"][3])["points"]
        if len(points) != 68:
            sys.exit(f"label_faces: {path}: {len(points)} points, expected 68")
        text = "version: 1\nn_points: 68\n{\n" + "".join(f"{x + 1:.3f} {y + 1:.3f}\n" for x, y in points) + "}\n"
        target = os.path.splitext(path)[0] + ".pts"
        with open(target + ".part", "w") as f:
            f.write(text)
        os.replace(target + ".part", target)
        print(f"{target}: {len(faces)} face(s), labelled by the backbone")


if __name__ == "__main__":
    main()
