#!/usr/bin/env python3
"""Rebuild face-api.js's 68-point landmark network as ONNX, and check it against the package's own
JavaScript running its own weights.

    python models/face_api_landmark68.py [--out DIR] [--cache DIR]  # write face_api_landmark68.onnx
    python models/face_api_landmark68.py --check   # rebuild in a temp dir; compare with face-api.js

Source (see models/MODELS.md): npm @vladmandic/face-api@1.7.15 (MIT), its `model/` folder only:
face_landmark_68_model-weights_manifest.json and face_landmark_68_model.bin (uint8-quantised
weights). Only those two files and, for --check, `dist/face-api.esm-nobundle.js` are read out of
the package; nothing else in it (its `demo/` images are reserved for independent evaluation).

The network (src/faceFeatureExtractor/ and src/faceLandmarkNet/ of the package): four dense blocks
of (depthwise-)separable 3x3 convolutions, each halving the resolution (112 -> 7), a 7x7 average
pool and one fully connected layer to 136 values: 68 (x, y) pairs in 0..1 of the square input
crop. face-api.js feeds it `(rgb - mean) / 255` with mean = (122.782, 117.001, 104.298); the ONNX
model takes that normalised NCHW tensor, and face_api_landmark68.json tells steadyface so (the
point of this model: a backbone whose conventions all differ from the shipped one's).

The --check compares the ONNX model (ONNX Runtime) with FaceLandmark68Net.forward() of the package
run by Node.js on TensorFlow.js's CPU backend (@tensorflow/tfjs@4.22.0 from npm, the version the
package was built with) on two inputs: a real face crop (from ../shared/testdata/takeo.ppm when
present) and a seeded random image.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from regenerate import Failure, checked, run, write_atomic

MODELS_DIR = Path(__file__).resolve().parent
OUT_NAME = "face_api_landmark68.onnx"
NPM_SPEC = "@vladmandic/face-api@1.7.15"
NPM_TGZ = "vladmandic-face-api-1.7.15.tgz"
TFJS_SPECS = ["@tensorflow/tfjs@4.22.0", "@tensorflow/tfjs-backend-wasm@4.22.0",
              "@tensorflow/tfjs-backend-webgl@4.22.0"]
# path inside the package -> sha256
SOURCES = {
    "package/model/face_landmark_68_model-weights_manifest.json":
        "ca4886639f86e99b39fed0c155f81b63317225773bd9616716e887b0153389c9",
    "package/model/face_landmark_68_model.bin":
        "4611ef65c87d836d03d684b30eec4d195d8b219fa1dd58fc58945831c6b9299b",
}
REFERENCE_JS = "package/dist/face-api.esm-nobundle.js"
REFERENCE_JS_SHA256 = "0adcd1b6739228fa6c38e11a6abfbaec3c946c521954c62fc64fa6d62c3cd2b0"
MEAN_RGB = (122.782, 117.001, 104.298)
SIZE = 112
TOLERANCE = 1e-4  # in 0..1 of the crop: 0.011 px at 112


def fetch_package(cache):
    """The package's tarball, fetched once into `cache`."""
    tgz = cache / NPM_TGZ
    if not tgz.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise Failure(f"npm not found: it is needed to fetch {NPM_SPEC} (Debian: apt-get install npm)")
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            run([npm, "pack", NPM_SPEC], f"npm package {NPM_SPEC} from the npm registry", cwd=tmp)
            os.replace(Path(tmp) / NPM_TGZ, tgz)
    return tgz


def read_members(tgz, names):
    """The named files' bytes, read one by one: the rest of the package is never unpacked."""
    out = {}
    with tarfile.open(tgz) as tar:
        for name in names:
            member = tar.extractfile(name)
            if member is None:
                raise Failure(f"{name} is missing from {tgz}")
            out[name] = member.read()
    return out


def dequantised_weights(manifest_bytes, data):
    """name -> float32 array in TensorFlow's layout, as tf.io.decodeWeights decodes them
    (uint8 q -> min + q * scale)."""
    manifest = json.loads(manifest_bytes)
    weights, offset = {}, 0
    for spec in (w for group in manifest for w in group["weights"]):
        count = int(np.prod(spec["shape"]))
        quant = spec.get("quantization")
        if quant is None:
            values = np.frombuffer(data, np.float32, count, offset)
            offset += 4 * count
        elif quant["dtype"] == "uint8":
            q = np.frombuffer(data, np.uint8, count, offset).astype(np.float32)
            values = np.float32(quant["min"]) + q * np.float32(quant["scale"])
            offset += count
        else:
            raise Failure(f"{spec['name']}: quantisation {quant['dtype']} not handled")
        weights[spec["name"]] = values.reshape(spec["shape"]).astype(np.float32)
    if offset != len(data):
        raise Failure(f"the manifest describes {offset} bytes of weights, the .bin has {len(data)}")
    return weights


class GraphBuilder:
    """Nodes and initialisers of an NCHW graph, named after face-api.js's parameters."""

    def __init__(self, weights):
        self.w = weights
        self.nodes, self.inits = [], []

    def const(self, name, array):
        from onnx import numpy_helper
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array, np.float32), name))
        return name

    def node(self, op, inputs, name, **attrs):
        from onnx import helper
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def conv(self, x, weight, bias, stride, name, group=1):
        # TensorFlow's 'same' puts the odd pixel of padding at the end; ONNX pads are explicit
        # here (begin_h, begin_w, end_h, end_w) so no auto_pad convention is involved.
        pads = [1, 1, 1, 1] if stride == 1 else [0, 0, 1, 1]
        inputs = [x, self.const(f"{name}/W", weight)] + ([self.const(f"{name}/B", bias)] if bias is not None else [])
        return self.node("Conv", inputs, name, kernel_shape=list(weight.shape[2:]),
                         strides=[stride, stride], pads=pads if weight.shape[2] == 3 else [0, 0, 0, 0],
                         group=group)

    def separable(self, x, prefix, stride):
        """tf.separableConv2d (depthwise 3x3 then pointwise 1x1) + bias."""
        dw = self.w[f"{prefix}/depthwise_filter"]  # [3,3,C,1]
        pw = self.w[f"{prefix}/pointwise_filter"]  # [1,1,C,O]
        channels = dw.shape[2]
        x = self.conv(x, dw.transpose(2, 3, 0, 1), None, stride, f"{prefix}/depthwise", group=channels)
        return self.conv(x, pw.transpose(3, 2, 0, 1), self.w[f"{prefix}/bias"], 1, f"{prefix}/pointwise")

    def dense_block(self, x, prefix, first):
        """denseBlock4 of src/faceFeatureExtractor/denseBlock.ts."""
        if first:
            f = self.w[f"{prefix}/conv0/filters"]  # [3,3,I,O]
            out1 = self.conv(x, f.transpose(3, 2, 0, 1), self.w[f"{prefix}/conv0/bias"], 2, f"{prefix}/conv0")
        else:
            out1 = self.separable(x, f"{prefix}/conv0", 2)
        out1 = self.node("Relu", [out1], f"{prefix}/out1")
        out2 = self.separable(out1, f"{prefix}/conv1", 1)
        in3 = self.node("Relu", [self.node("Add", [out1, out2], f"{prefix}/sum2")], f"{prefix}/in3")
        out3 = self.separable(in3, f"{prefix}/conv2", 1)
        sum23 = self.node("Add", [out2, out3], f"{prefix}/sum23")
        in4 = self.node("Relu", [self.node("Add", [out1, sum23], f"{prefix}/sum123")], f"{prefix}/in4")
        out4 = self.separable(in4, f"{prefix}/conv3", 1)
        sum234 = self.node("Add", [out2, self.node("Add", [out3, out4], f"{prefix}/sum34")], f"{prefix}/sum234")
        return self.node("Relu", [self.node("Add", [out1, sum234], f"{prefix}/sum1234")], f"{prefix}/out")


def build_model(weights):
    """The ONNX model: input `image` [N,3,112,112] normalised as face-api.js does, output
    `landmarks` [N,136] = (x0, y0, x1, y1, ...) in 0..1 of the crop."""
    import onnx
    from onnx import TensorProto, helper

    g = GraphBuilder(weights)
    x = "image"
    for i in range(4):
        x = g.dense_block(x, f"dense{i}", first=i == 0)
    x = g.node("AveragePool", [x], "pool", kernel_shape=[7, 7], strides=[2, 2])
    x = g.node("Flatten", [x], "features", axis=1)
    g.node("Gemm", [x, g.const("fc/weights", weights["fc/weights"]), g.const("fc/bias", weights["fc/bias"])],
           "landmarks")
    graph = helper.make_graph(
        g.nodes, "face_api_landmark68",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("landmarks", TensorProto.FLOAT, ["N", 136])],
        g.inits)
    # IR 8 (ONNX 1.10): loadable by every ONNX Runtime steadyface supports, whatever onnx wrote.
    model = helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="steadyface models/face_api_landmark68.py")
    model.doc_string = f"face-api.js FaceLandmark68Net ({NPM_SPEC}, MIT), rebuilt from its model/ weights"
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def build(out_dir, cache):
    tgz = fetch_package(cache)
    files = read_members(tgz, list(SOURCES))
    for name, data in files.items():
        checked(data, name, SOURCES[name], NPM_SPEC)
    manifest, data = (files[name] for name in SOURCES)
    path = out_dir / OUT_NAME
    write_atomic(path, build_model(dequantised_weights(manifest, data)))
    return path


def read_ppm(path):
    """A binary PPM (P6, maxval 255) as an HxWx3 uint8 array."""
    raw = Path(path).read_bytes()
    fields, pos = [], 0
    while len(fields) < 4:
        while raw[pos:pos + 1].isspace():
            pos += 1
        if raw[pos:pos + 1] == b"#":
            pos = raw.index(b"\n", pos)
            continue
        end = pos
        while not raw[end:end + 1].isspace():
            end += 1
        fields.append(raw[pos:end])
        pos = end
    if fields[0] != b"P6" or int(fields[3]) != 255:
        raise Failure(f"{path}: not an 8-bit binary PPM")
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(raw, np.uint8, w * h * 3, pos + 1).reshape(h, w, 3)


def reference_inputs():
    """name -> [112,112,3] float32 RGB image in 0..255."""
    rng = np.random.default_rng(1)
    inputs = {"random": rng.uniform(0, 255, (SIZE, SIZE, 3)).astype(np.float32)}
    takeo = MODELS_DIR.parent.parent / "shared/testdata/takeo.ppm"
    pts = takeo.with_suffix(".pts")
    if takeo.exists() and pts.exists():
        lines = pts.read_text().splitlines()
        xy = np.array([[float(v) for v in l.split()] for l in lines[3:71]])
        lo, hi = xy.min(0), xy.max(0)
        centre, side = (lo + hi) / 2, (hi - lo).max() * 1.2
        img = read_ppm(takeo)
        grid = centre[:, None] - side / 2 + (np.arange(SIZE) + 0.5) * side / SIZE  # [2,112]
        ys = np.clip(grid[1].round().astype(int), 0, img.shape[0] - 1)
        xs = np.clip(grid[0].round().astype(int), 0, img.shape[1] - 1)
        inputs["takeo"] = img[ys][:, xs].astype(np.float32)
    return inputs


def onnx_outputs(model_path, inputs):
    import onnxruntime as ort
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    mean = np.array(MEAN_RGB, np.float32)
    out = {}
    for name, rgb in inputs.items():
        x = ((rgb - mean) / 255).transpose(2, 0, 1)[None].astype(np.float32)
        out[name] = sess.run(None, {"image": x})[0][0]
    return out


def face_api_outputs(cache, inputs):
    """FaceLandmark68Net.forward() of the package's own JavaScript, on TF.js's CPU backend."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise Failure("node and npm are needed for --check (Debian: apt-get install nodejs npm)")
    work = cache / "face-api-reference"
    if not (work / "node_modules/@tensorflow/tfjs").exists():
        work.mkdir(parents=True, exist_ok=True)
        (work / "package.json").write_text('{"private": true}\n')
        run([npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", *TFJS_SPECS],
            "TensorFlow.js from the npm registry", cwd=work)
    files = read_members(fetch_package(cache), [REFERENCE_JS, *SOURCES])
    # The only change to the package's code: its bare "@tensorflow/x/dist/index.js" imports name
    # CommonJS entry points that Node's ES module loader cannot resolve; import the packages.
    js = checked(files[REFERENCE_JS], REFERENCE_JS, REFERENCE_JS_SHA256, NPM_SPEC).decode()
    for pkg in ("tfjs", "tfjs-backend-wasm", "tfjs-backend-webgl"):
        js = js.replace(f'"@tensorflow/{pkg}/dist/index.js"', f'"@tensorflow/{pkg}"')
    (work / "face-api.mjs").write_text(js)
    for name in SOURCES:
        (work / Path(name).name).write_bytes(files[name])
    for name, rgb in inputs.items():
        (work / f"{name}.f32").write_bytes(rgb.astype("<f4").tobytes())
    script = MODELS_DIR / "face_api_reference.mjs"
    proc = subprocess.run([node, str(script), str(work), *inputs], capture_output=True, text=True)
    if proc.returncode != 0:
        raise Failure(f"face-api.js reference run failed:\n{proc.stderr[-2000:]}")
    return {k: np.array(v, np.float32) for k, v in json.loads(proc.stdout).items()}


def check(cache):
    with tempfile.TemporaryDirectory() as tmp:
        built = build(Path(tmp), cache)
        committed = MODELS_DIR / OUT_NAME
        same = committed.exists() and committed.read_bytes() == built.read_bytes()
        print(f"{OUT_NAME}: {'identical to the committed file' if same else 'DIFFERS from the committed file'}")
        inputs = reference_inputs()
        ours, theirs = onnx_outputs(built, inputs), face_api_outputs(cache, inputs)
    worst = 0.0
    for name in inputs:
        diff = float(np.abs(ours[name] - theirs[name]).max())
        worst = max(worst, diff)
        print(f"input {name}: max |ONNX - face-api.js| = {diff:.2e} (of the crop side; "
              f"{diff * SIZE:.4f} px at {SIZE}); points span x {theirs[name][0::2].min():.3f}.."
              f"{theirs[name][0::2].max():.3f}")
    if not same or worst > TOLERANCE:
        raise Failure(f"check failed (tolerance {TOLERANCE})")
    print("check passed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=MODELS_DIR, help="output dir (default: models/)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache/steadyface/packages",
                    help="where fetched packages are kept")
    ap.add_argument("--check", action="store_true",
                    help="rebuild in a temp dir, compare with the committed file and with face-api.js")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    try:
        if args.check:
            check(args.cache)
        else:
            print(build(args.out, args.cache))
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
