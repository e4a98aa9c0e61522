#!/usr/bin/env python3
"""Grid search of the pose-residual smoothing parameters on VALIDATION sequences only.

Runs `steadyface eval --method pose-residual --json` over the given synth sequences for every
combination of the grid and ranks the settings. The score is the mean NMJ relative to the raw
backbone's on the same sequences, among settings whose mean NME-49 is at most raw's plus
--nme-slack percent and whose NMJ after stops is at most raw's (no lag); prints the top rows and
writes every row to --out (TSV). The held-out faces must never be passed here.

    python3 scripts/tune_smoothing.py out/validation/*/ --out out/tune.tsv
"""
import argparse
import itertools
import json
import os
import subprocess
import sys

BIN = os.path.join(os.path.dirname(__file__), "..", "target", "release", "steadyface")


def evaluate(sequences, method, props):
    cmd = [BIN, "eval", "--method", method, "--json", *sequences]
    for k, v in props.items():
        cmd += ["--set", f"{k}={v}"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def mean(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return sum(vals) / len(vals) if vals else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sequences", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--pose-min-cutoff", default="0.5,1,3")
    ap.add_argument("--pose-beta", default="3,10,30")
    ap.add_argument("--shape-min-cutoff", default="0.1,0.3,1")
    ap.add_argument("--shape-beta", default="1,5,20")
    ap.add_argument("--nme-slack", type=float, default=1.0, help="allowed NME-49 increase over raw, percent")
    args = ap.parse_args()

    raw = evaluate(args.sequences, "raw", {})
    base = {k: mean(raw, k) for k in ("nme49", "nmj", "nmj_still", "nmj_stop")}
    print("raw:", {k: round(v, 4) for k, v in base.items()}, file=sys.stderr)
    grid = [[float(v) for v in getattr(args, name).split(",")]
            for name in ("pose_min_cutoff", "pose_beta", "shape_min_cutoff", "shape_beta")]
    rows = []
    for pmc, pb, smc, sb in itertools.product(*grid):
        props = {"pose-min-cutoff": pmc, "pose-beta": pb, "shape-min-cutoff": smc, "shape-beta": sb}
        res = evaluate(args.sequences, "pose-residual", props)
        row = dict(props, **{k: mean(res, k) for k in base})
        # Per sequence ratio to raw, then the mean: every face counts the same.
        by_seq = {r["sequence"]: r for r in raw}
        row["nmj_ratio"] = sum(r["nmj"] / by_seq[r["sequence"]]["nmj"] for r in res) / len(res)
        row["ok"] = row["nme49"] <= base["nme49"] * (1 + args.nme_slack / 100) and row["nmj_stop"] <= base["nmj_stop"]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    keys = list(rows[0].keys())
    tmp = args.out + ".part"
    with open(tmp, "w") as f:
        f.write("\t".join(keys) + "\n")
        for r in rows:
            f.write("\t".join(str(r[k]) for k in keys) + "\n")
    os.replace(tmp, args.out)
    ranked = sorted(rows, key=lambda r: (not r["ok"], r["nmj_ratio"]))
    for r in ranked[:8]:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
