"""Per-node time of an ONNX model in ONNX Runtime (one thread, median over runs, microseconds).

    .venv/bin/python bench/profile_nodes.py models/stabilizer.onnx heatmaps=1,68,12,12 h=1,136,12,12 c=1,136,12,12

Inputs are uniform random float32 of the given shapes. Used for docs/benchmarks.md ("Where the
stabilizer's time goes").
"""

import collections
import json
import sys
import tempfile

import numpy as np
import onnxruntime as ort


def main() -> None:
    model, *specs = sys.argv[1:]
    feeds = {}
    for spec in specs:
        name, shape = spec.split("=")
        feeds[name] = np.random.rand(*map(int, shape.split(","))).astype(np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.enable_profiling = True
    scratch = tempfile.TemporaryDirectory()
    options.profile_file_prefix = f"{scratch.name}/profile"
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    for _ in range(300):
        session.run(None, feeds)
    times = collections.defaultdict(list)
    with open(session.end_profiling()) as f:
        for event in json.load(f):
            if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
                times[(event["name"].removesuffix("_kernel_time"), event["args"].get("op_name"))].append(event["dur"])
    rows = sorted(((int(np.median(v)), op, name) for (name, op), v in times.items()), reverse=True)
    for us, op, name in rows:
        print(f"{us:6d} us  {op:14s} {name}")
    print(f"{sum(r[0] for r in rows):6d} us  total of node medians")


if __name__ == "__main__":
    main()
