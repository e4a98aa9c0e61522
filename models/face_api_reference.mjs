// Runs face-api.js's own FaceLandmark68Net (the package's JavaScript and weights, TensorFlow.js
// CPU backend) on raw RGB inputs; used by `face_api_landmark68.py --check`.
//   node face_api_reference.mjs WORKDIR NAME...   (WORKDIR/NAME.f32: 112x112x3 float32, 0..255)
// Prints {"NAME": [136 values in 0..1 of the input], ...}.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [work, ...names] = process.argv.slice(2);
const faceapi = await import(pathToFileURL(join(work, 'face-api.mjs')).href);
const { tf } = faceapi;
await tf.setBackend('cpu');
await tf.ready();

const manifest = JSON.parse(readFileSync(join(work, 'face_landmark_68_model-weights_manifest.json')));
const bin = readFileSync(join(work, 'face_landmark_68_model.bin'));
const specs = manifest.flatMap((group) => group.weights);
const weightMap = tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length), specs);
const net = faceapi.nets.faceLandmark68Net;
net.loadFromWeightMap(weightMap);

const out = {};
for (const name of names) {
  const raw = readFileSync(join(work, `${name}.f32`));
  const rgb = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
  const input = tf.tensor4d(rgb, [1, 112, 112, 3]);
  const result = await net.forward(input);
  out[name] = Array.from(await result.data());
  tf.dispose([input, result]);
}
process.stdout.write(JSON.stringify(out));
