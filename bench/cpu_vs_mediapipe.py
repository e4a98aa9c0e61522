#!/usr/bin/env python3
"""CPU per frame, wall time and peak memory of `steadyface track` against MediaPipe's own C++
graphs on the same video, whole processes, alternating runs (issue 18's yardstick).

    python3 bench/cpu_vs_mediapipe.py [VIDEO] [--pairs 5] [--mode facemesh|video]

steadyface: `target/release/steadyface track VIDEO --json /dev/null` with the element's defaults
(or `--steadyface-args "..."` added). MediaPipe: `bench/mediapipe_points.py --video VIDEO --mode
MODE --out /dev/null` (OpenCV decodes, MediaPipe 0.10.14 from its own venv; `facemesh` is the
legacy graph without smoothing, `video` the FaceLandmarker with its One Euro filter). Each run's
CPU (user + sys) and peak RSS come from the kernel's accounting of that child (wait4); the runs
alternate so that a machine whose speed drifts treats both alike. Medians over the pairs and the
ratio steadyface / MediaPipe of the medians, and of each pair (range, then in run order), are
printed as a markdown table.
Start-up is included on both sides (a process per video, as a user runs them).
"""
import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VIDEO = ROOT / ".cache" / "sample" / "WolfgangLanger_Pexels.mp4"


def measure(cmd):
    """(wall s, cpu s, peak RSS MiB) of one run of `cmd`, its output discarded."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"cpu_vs_mediapipe: {shlex.join(cmd)} failed:\n{err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video", nargs="?", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--mode", choices=["facemesh", "video"], default="facemesh")
    ap.add_argument("--steadyface-args", default="", help="more `steadyface track` options")
    ap.add_argument("--frames", type=int, default=None, help="frames in the video (default: counted by MediaPipe's run)")
    args = ap.parse_args()
    if not args.video.is_file():
        sys.exit(f"cpu_vs_mediapipe: {args.video}: no such video")
    ours = [str(ROOT / "target" / "release" / "steadyface"), "track", str(args.video), "--json", "/dev/null"]
    ours += shlex.split(args.steadyface_args)
    counted = ROOT / "target" / "bench" / "mediapipe-frames.jsonl"
    counted.parent.mkdir(parents=True, exist_ok=True)
    theirs = [sys.executable, str(ROOT / "bench" / "mediapipe_points.py"), "--video", str(args.video), "--mode", args.mode]
    # A first run of each (not timed): builds MediaPipe's venv if needed, warms the file cache, and
    # counts the frames.
    measure(ours)
    measure(theirs + ["--out", str(counted)])
    frames = args.frames or sum(1 for _ in counted.open())
    runs = {"steadyface": [], "mediapipe": []}
    for _ in range(args.pairs):
        runs["steadyface"].append(measure(ours))
        runs["mediapipe"].append(measure(theirs + ["--out", "/dev/null"]))

    def med(name, k):
        return statistics.median(r[k] for r in runs[name])

    print(f"{args.video.name}, {frames} frames, {args.pairs} alternating pairs, MediaPipe mode {args.mode}")
    print(f"steadyface: {shlex.join(ours[1:])}\n")
    print("| program | CPU ms/frame (median) | wall s | peak RSS MiB |")
    print("|---|---|---|---|")
    for name in runs:
        print(f"| {name} | {1000 * med(name, 1) / frames:.2f} | {med(name, 0):.2f} | {med(name, 2):.0f} |")
    ratio = [s[1] / m[1] for s, m in zip(runs["steadyface"], runs["mediapipe"])]
    print(
        f"\nsteadyface / MediaPipe: CPU {med('steadyface', 1) / med('mediapipe', 1):.2f} (pairs "
        f"{min(ratio):.2f}-{max(ratio):.2f}: {', '.join(f'{r:.2f}' for r in ratio)} in run order), "
        f"wall {med('steadyface', 0) / med('mediapipe', 0):.2f}, "
        f"peak RSS {med('steadyface', 2) / med('mediapipe', 2):.2f}"
    )


if __name__ == "__main__":
    main()
