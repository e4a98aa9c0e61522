#!/usr/bin/env python3
"""How far two landmarks runs of the same video differ, in inter-ocular distances (issue 18's
equality bound: a speed change may move the points by at most 0.5% of it).

    python3 bench/compare_landmarks.py BEFORE.jsonl AFTER.jsonl

Both files are `steadyface.landmarks/1` JSON Lines with iBUG-68 points (`steadyface track VIDEO
--json OUT`). Faces are paired by frame and track id; the inter-ocular distance is BEFORE's, between
the means of the two eyes' points (iBUG 36-41 and 42-47). Prints the frames and points compared,
the largest and the mean displacement of a point over that distance (in %), how many points
differ at all, and faces found in only one of the runs. Exit status 1 when they differ in which
faces they found.
"""
import json
import math
import sys


def faces(path):
    """{(frame, track id): points} of one run."""
    out = {}
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            if record.get("scheme") != "ibug68":
                sys.exit(f"compare_landmarks: {path}: frame {record.get('frame')}: scheme is not ibug68")
            for face in record["faces"]:
                out[(record["frame"], face["track_id"])] = face["points"]
    return out


def eye_distance(points):
    def centre(lo, hi):
        eye = points[lo:hi]
        return [sum(p[k] for p in eye) / len(eye) for k in (0, 1)]

    (x0, y0), (x1, y1) = centre(36, 42), centre(42, 48)
    return math.hypot(x1 - x0, y1 - y0)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    before, after = faces(sys.argv[1]), faces(sys.argv[2])
    common = sorted(before.keys() & after.keys())
    moved = []
    for key in common:
        iod = eye_distance(before[key])
        moved += [math.hypot(b[0] - a[0], b[1] - a[1]) / iod for b, a in zip(before[key], after[key])]
    only = len(before.keys() ^ after.keys())
    if moved:
        print(
            f"{len(common)} faces, {len(moved)} points: max {100 * max(moved):.4f}% of the inter-ocular distance, "
            f"mean {100 * sum(moved) / len(moved):.5f}%; {sum(m > 0 for m in moved)} points moved at all"
        )
    print(f"faces in only one run: {only}")
    sys.exit(1 if only else 0)


if __name__ == "__main__":
    main()
