#!/usr/bin/env python3
"""The held-out table: `steadyface eval --json` rows of synth sequences (`<face>-<level>` and
`<face>-expr-<level>`) turned into markdown, means over faces per method and condition, and per
face. Each argument is a JSON-lines file, optionally `FILE:LABEL` to name its rows' method LABEL
(e.g. the same method run with other properties), or `FILE::BACKBONE` for rows of another backbone:
their methods become "BACKBONE method" and their ratios are to that backbone's own raw rows. Rows
of one method are averaged over faces with every face counting the same; NMJ ratios are per face,
then averaged. Rows of one face from several synth seeds (eval's `seed`: other trajectories) are
each compared with raw's row of the same seed, and averaged with the rest.

    python3 scripts/heldout_table.py out/heldout/rows.jsonl out/heldout/plain.jsonl:"one-euro (no registration)" \
        out/heldout/face-api.jsonl::face-api
"""
import json
import random
import sys
from collections import OrderedDict, defaultdict

LEVELS = ("clean", "combined", "noise10", "blur", "jpeg30", "noise5", "noise20")
METRICS = (("nme49", "NME-49 %", 2), ("nmj", "NMJ %", 3), ("nmj_still", "still %", 3), ("nmj_stop", "stop %", 3))
# Lag shows as error where the face has just stopped or an expression rises.
LAG_METRICS = (("nme_stop", "NME-49 % after stops", 2), ("nme_onset", "NME-49 % in expression onsets", 2))


def parse_sequence(name):
    """(face, motion, level) of a synth sequence name."""
    for level in LEVELS:
        if name.endswith("-" + level):
            stem = name[: -len(level) - 1]
            if stem.endswith("-expr"):
                return stem[:-5], "expression", level
            return stem, "rigid", level
    raise SystemExit(f"heldout_table: {name}: not a synth sequence name")


def load(args):
    rows = []
    for arg in args:
        path, _, label = arg.partition(":")
        backbone = label[1:] if label.startswith(":") else ""
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if not line.startswith("{"):
                    continue
                try:
                    r = json.loads(line)
                except json.JSONDecodeError as e:
                    raise SystemExit(f"{path}:{n}: {e}")
                r["face"], r["motion"], r["level"] = parse_sequence(r["sequence"])
                r["backbone"] = backbone
                if backbone:
                    r["method"] = f"{backbone} {r['method']}"
                elif label:
                    r["method"] = label
                rows.append(r)
    return rows


def mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def paired_cell(diffs, decimals):
    """The mean of `diffs` ((cluster, difference) pairs) and its 95% bootstrap interval over the
    clusters, reproducibly (a fixed seed)."""
    if not diffs:
        return "-"
    clusters = defaultdict(list)
    for key, d in diffs:
        clusters[key].append(d)
    groups = list(clusters.values())
    rng = random.Random(0)
    means = []
    for _ in range(2000):
        drawn = [d for g in rng.choices(groups, k=len(groups)) for d in g]
        means.append(sum(drawn) / len(drawn))
    means.sort()
    low, high = means[49], means[1949]
    values = [d for _, d in diffs]
    return f"{mean(values):+.{decimals}f} ({low:+.{decimals}f} .. {high:+.{decimals}f}, n={len(values)})"


def cell(v, decimals):
    return "-" if v is None else f"{v:.{decimals}f}"


def main():
    rows = load(sys.argv[1:])
    methods = list(OrderedDict.fromkeys(r["method"] for r in rows))
    faces = sorted({r["face"] for r in rows})
    conditions = sorted({(r["motion"], r["level"]) for r in rows}, key=lambda c: (c[0] != "rigid", c[1] != "clean", c[1]))
    by = defaultdict(list)
    for r in rows:
        by[(r["method"], r["motion"], r["level"])].append(r)
    def is_raw(r):
        return r["method"] == (f"{r['backbone']} raw" if r["backbone"] else "raw")

    def sequence_key(r):
        """One sequence of one backbone: its face, trajectory (seed) and condition."""
        return r["backbone"], r["face"], r.get("seed"), r["motion"], r["level"]

    raw = {sequence_key(r): r for r in rows if is_raw(r)}

    def with_raw(method, m, l):
        """The method's rows of condition (m, l), each with raw's row of the same sequence (or None)."""
        return [(r, raw.get(sequence_key(r))) for r in by[(method, m, l)]]

    def means_table(columns):
        """One row per method: the mean over faces of each (motion, level, key, name, decimals) column."""
        print("| method | " + " | ".join(f"{m} {l} {name}" for m, l, _, name, _ in columns) + " |")
        print("|---" * (1 + len(columns)) + "|")
        for method in methods:
            cells = [cell(mean(r.get(k) for r in by[(method, m, l)]), d) for m, l, k, _, d in columns]
            print(f"| {method} | " + " | ".join(cells) + " |")

    seeds = sorted({r.get("seed") for r in rows if r.get("seed") is not None})
    trajectories = f" x {len(seeds)} trajectories (synth seeds {', '.join(map(str, seeds))})" if len(seeds) > 1 else ""
    print(f"Means over {len(faces)} faces{trajectories} ({', '.join(faces)}).\n")
    means_table([(m, l, k, name, d) for m, l in conditions for k, name, d in METRICS])

    if raw:
        print("\nRatios to raw (the same backbone's) per face, then the mean over faces (NMJ: lower is steadier; "
              "NME: 1 = raw's accuracy).\n")
        print("| method | " + " | ".join(f"{m} {l} NMJ/raw | {m} {l} NME/raw" for m, l in conditions) + " |")
        print("|---" * (1 + 2 * len(conditions)) + "|")
        for method in methods:
            cells = []
            for m, l in conditions:
                pairs = with_raw(method, m, l)
                nmj = mean(r["nmj"] / b["nmj"] for r, b in pairs if b and r.get("nmj") and b.get("nmj"))
                nme = mean(r["nme49"] / b["nme49"] for r, b in pairs if b and r.get("nme49") and b.get("nme49"))
                cells += [cell(nmj, 3), cell(nme, 3)]
            print(f"| {method} | " + " | ".join(cells) + " |")

    lag = [(m, l, k, name, d) for m, l in conditions for k, name, d in LAG_METRICS
           if any(r.get(k) is not None for r in by[(methods[0], m, l)])]
    if lag:
        print("\nLag: the error in the first 3 frames after each stop (a still stretch that follows motion) and "
              "in the frames where an expression rises (means over faces).\n")
        means_table(lag)

    if lag and raw:
        unit = "trajectories (a trajectory's sequences share its stops and expressions)" if len(seeds) > 1 else "sequences"
        print("\nLag against raw, paired: per sequence the method's value minus raw's on the same frames, the "
              f"mean difference, its 95% bootstrap interval (2000 resamples of the {unit}; an interval that "
              "holds 0 does not tell the method from raw) and the number of sequences.\n")
        print("| method | " + " | ".join(f"{m} {l} {name}" for m, l, _, name, _ in lag) + " |")
        print("|---" * (1 + len(lag)) + "|")
        cluster = (lambda r: r.get("seed")) if len(seeds) > 1 else (lambda r: (r["face"], r.get("seed")))
        for method in methods:
            if all(is_raw(r) for m, l, *_ in lag for r in by[(method, m, l)]):
                continue
            cells = []
            for m, l, k, _, d in lag:
                diffs = [(cluster(r), r[k] - b[k]) for r, b in with_raw(method, m, l)
                         if b and r.get(k) is not None and b.get(k) is not None]
                cells.append(paired_cell(diffs, d))
            print(f"| {method} | " + " | ".join(cells) + " |")

    print("\nPer face (means over the conditions above).\n")
    print("| face | " + " | ".join(f"{method} NME-49 | {method} NMJ" for method in methods) + " |")
    print("|---" * (1 + 2 * len(methods)) + "|")
    for face in faces:
        cells = []
        for method in methods:
            mine = [r for r in rows if r["face"] == face and r["method"] == method]
            cells += [cell(mean(r.get("nme49") for r in mine), 2), cell(mean(r.get("nmj") for r in mine), 3)]
        print(f"| {face} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
