#!/usr/bin/env python3
"""Check a ConvLSTM stabilizer model written by steadyface (src/onnx/convlstm.rs) outside Rust.

Usage: convlstm_reference.py MODEL INPUTS OUTPUTS

INPUTS is a directory of float32 .npy files: heatmaps_0.npy .. heatmaps_{T-1}.npy ([N,K,H,W]) and the
initial states h.npy, c.npy ([N,K*C,H,W]). The script

1. validates MODEL with onnx.checker (full_check=True, i.e. with strict shape inference),
2. runs it with ONNX Runtime (CPU) over the T steps, carrying h and c from step to step,
3. runs an independent float64 numpy implementation of the same cell over the same steps,
4. writes ONNX Runtime's outputs to OUTPUTS as s_{t}.npy, h_{t}.npy, c_{t}.npy,
5. prints one JSON line with the largest |ORT - numpy| per output, and exits 1 if any exceeds 1e-5.

The cell is shared by the K landmarks: heatmaps [N,K,H,W] are reshaped to [N*K,1,H,W], the states
[N,K*C,H,W] to [N*K,C,H,W] (gate order i, f, o, g; convolutions stride 1, zero padding k // 2):
    z = conv(concat(heatmaps, h), gates_w) + gates_b;  i, f, o = sigmoid, g = tanh of its 4 channel blocks
    c_out = f * c + i * g;  h_out = o * tanh(c_out);  s = heatmaps + conv(concat(heatmaps, h_out), out_w) + out_b
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort

TOLERANCE = 1e-5


def conv2d(x, w, b):
    """Stride-1 'same' convolution of x [N,Ci,H,W] with w [Co,Ci,k,k], as a sum of shifted matmuls."""
    k = w.shape[2]
    pad = k // 2
    n, _, height, width = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, w.shape[0], height, width), dtype=np.float64)
    for ky in range(k):
        for kx in range(k):
            out += np.einsum("oi,nihw->nohw", w[:, :, ky, kx], xp[:, :, ky : ky + height, kx : kx + width])
    return out + b[None, :, None, None]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_cell(weights, heatmaps, h, c):
    n, k, height, width = heatmaps.shape
    hidden = h.shape[1] // k
    o1 = heatmaps.reshape(n * k, 1, height, width)
    h1 = h.reshape(n * k, hidden, height, width)
    c1 = c.reshape(n * k, hidden, height, width)
    z = conv2d(np.concatenate([o1, h1], axis=1), weights["gates_w"], weights["gates_b"])
    zi, zf, zo, zg = np.split(z, 4, axis=1)
    i, f, o, g = sigmoid(zi), sigmoid(zf), sigmoid(zo), np.tanh(zg)
    c_out = f * c1 + i * g
    h_out = o * np.tanh(c_out)
    s = o1 + conv2d(np.concatenate([o1, h_out], axis=1), weights["out_w"], weights["out_b"])
    return s.reshape(heatmaps.shape), h_out.reshape(h.shape), c_out.reshape(c.shape)


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    model_path, inputs, outputs = Path(argv[1]), Path(argv[2]), Path(argv[3])

    model = onnx.load(str(model_path))
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get("steadyface.convlstm.gate_order") != "i,f,o,g":
        print(f"unexpected gate order metadata: {meta}", file=sys.stderr)
        return 1
    weights = {t.name: onnx.numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    in_names = [i.name for i in session.get_inputs()]
    out_names = [o.name for o in session.get_outputs()]
    if in_names != ["heatmaps", "h", "c"] or out_names != ["s", "h_out", "c_out"]:
        print(f"unexpected signature: inputs {in_names}, outputs {out_names}", file=sys.stderr)
        return 1

    steps = len(list(inputs.glob("heatmaps_*.npy")))
    if steps == 0:
        print(f"no heatmaps_*.npy in {inputs}", file=sys.stderr)
        return 2
    h0, c0 = np.load(inputs / "h.npy"), np.load(inputs / "c.npy")
    ort_h, ort_c = h0.astype(np.float32), c0.astype(np.float32)
    ref_h, ref_c = h0.astype(np.float64), c0.astype(np.float64)
    worst = {"s": 0.0, "h_out": 0.0, "c_out": 0.0}
    outputs.mkdir(parents=True, exist_ok=True)
    for t in range(steps):
        heatmaps = np.load(inputs / f"heatmaps_{t}.npy")
        s, ort_h, ort_c = session.run(None, {"heatmaps": heatmaps.astype(np.float32), "h": ort_h, "c": ort_c})
        ref_s, ref_h, ref_c = numpy_cell(weights, heatmaps.astype(np.float64), ref_h, ref_c)
        for name, got, want in (("s", s, ref_s), ("h_out", ort_h, ref_h), ("c_out", ort_c, ref_c)):
            worst[name] = max(worst[name], float(np.max(np.abs(got.astype(np.float64) - want))))
        np.save(outputs / f"s_{t}.npy", s)
        np.save(outputs / f"h_{t}.npy", ort_h)
        np.save(outputs / f"c_{t}.npy", ort_c)

    print(json.dumps({"steps": steps, "max_abs_ort_vs_numpy": worst}))
    if max(worst.values()) > TOLERANCE:
        print(f"ONNX Runtime and numpy disagree by more than {TOLERANCE}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
