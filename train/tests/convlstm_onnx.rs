//! The ConvLSTM stabilizer written by `steadyface::onnx` is a valid ONNX model that computes what
//! the Rust reference forward pass computes: checked with Python onnx/onnxruntime plus an
//! independent numpy cell (scripts/convlstm_reference.py), and with the crate's own ORT wrapper.

use std::path::{Path, PathBuf};
use std::process::Command;

use steadyface::geometry::Similarity;
use steadyface::model::OnnxModel;
use steadyface::onnx::{ConvLstmSpec, ConvLstmWeights, ModelProto, convlstm_model, write_model};
use steadyface::runtime::Device;
use steadyface::stabilizer::{Engine, FaceStep, HiddenState, Isa, Stabilizer, Windows};

const SPEC: ConvLstmSpec = ConvLstmSpec { points: 5, hidden: 3, kernel: 3 };
/// Batch 2 and a non-square map exercise the symbolic N, H, W.
const N: usize = 2;
const HEIGHT: usize = 6;
const WIDTH: usize = 7;
const STEPS: usize = 3;
const TOLERANCE: f32 = 1e-5;

/// The repository's root (this crate's folder's parent).
/// Each face's part of a step: its windows, its state, its crop, no motion.
fn face_steps<'a>(placed: &'a [Windows], states: &'a [Option<HiddenState>], crops: &[Similarity]) -> Vec<FaceStep<'a>> {
    placed
        .iter()
        .zip(states)
        .zip(crops)
        .map(|((windows, state), &crop)| FaceStep { windows, state: state.as_ref(), crop, motion: [0.0, 0.0] })
        .collect()
}

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn python() -> PathBuf {
    let python = root().join(".venv/bin/python");
    assert!(python.exists(), "{} missing: run make setup", python.display());
    python
}

/// A fresh directory under cargo's per-test scratch space.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("convlstm_onnx-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Deterministic inputs in [lo, hi).
fn random(len: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            lo + (hi - lo) * ((state >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

/// A 3-step sequence: heatmaps per step, and initial states.
struct Sequence {
    n: usize,
    height: usize,
    width: usize,
    heatmaps: Vec<Vec<f32>>,
    h: Vec<f32>,
    c: Vec<f32>,
}

impl Sequence {
    /// Batch N of HEIGHT x WIDTH maps with non-zero initial states, so that `f * c` matters.
    fn new(seed: u64) -> Self {
        let mut seq = Sequence::zero_state(seed, N, HEIGHT, WIDTH);
        seq.h = random(seq.h.len(), seed + 1, -0.5, 0.5);
        seq.c = random(seq.c.len(), seed + 2, -1.0, 1.0);
        seq
    }

    /// Zero initial states, as a fresh face track starts.
    fn zero_state(seed: u64, n: usize, height: usize, width: usize) -> Self {
        let heat_len = SPEC.heatmaps_shape(n, height, width).iter().product();
        let state_len = SPEC.state_shape(n, height, width).iter().product();
        Sequence {
            n,
            height,
            width,
            heatmaps: (0..STEPS).map(|t| random(heat_len, seed + 10 + t as u64, 0.0, 1.0)).collect(),
            h: vec![0.0; state_len],
            c: vec![0.0; state_len],
        }
    }

    fn shapes(&self) -> ([usize; 4], [usize; 4]) {
        (SPEC.heatmaps_shape(self.n, self.height, self.width), SPEC.state_shape(self.n, self.height, self.width))
    }
}

/// `(s, h_out, c_out)` per step.
type Steps = Vec<[Vec<f32>; 3]>;

fn rust_reference(weights: &ConvLstmWeights, seq: &Sequence) -> Steps {
    let (mut h, mut c) = (seq.h.clone(), seq.c.clone());
    let mut steps = Vec::new();
    for heat in &seq.heatmaps {
        let (s, h2, c2) = weights.forward(heat, &h, &c, seq.n, seq.height, seq.width).expect("reference forward");
        (h, c) = (h2.clone(), c2.clone());
        steps.push([s, h2, c2]);
    }
    steps
}

/// The model through `steadyface::model::OnnxModel`, carrying its own h and c like a live stabilizer.
fn crate_ort(path: &Path, seq: &Sequence) -> Steps {
    let model = OnnxModel::load(path, Device::Cpu).expect("crate ORT loads the model");
    let names = |v: &[steadyface::model::TensorInfo]| v.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&model.inputs), ["heatmaps", "h", "c"]);
    assert_eq!(names(&model.outputs), ["s", "h_out", "c_out"]);
    assert_eq!(model.inputs[0].shape, [-1, SPEC.points as i64, -1, -1]);
    let (heat_shape, state_shape) = seq.shapes();
    let (mut h, mut c) = (seq.h.clone(), seq.c.clone());
    let mut steps = Vec::new();
    for heat in &seq.heatmaps {
        let out = model
            .run(&[(&heat_shape[..], &heat[..]), (&state_shape[..], &h[..]), (&state_shape[..], &c[..])])
            .expect("crate ORT runs");
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].shape, heat_shape);
        assert_eq!(out[1].shape, state_shape);
        assert_eq!(out[2].shape, state_shape);
        (h, c) = (out[1].data.clone(), out[2].data.clone());
        steps.push([out[0].data.clone(), h.clone(), c.clone()]);
    }
    steps
}

/// Runs scripts/convlstm_reference.py (checker, Python ORT, numpy) and reads back its ORT outputs.
fn python_ort(model: &Path, seq: &Sequence, dir: &Path) -> Steps {
    let (inputs, outputs) = (dir.join("inputs"), dir.join("outputs"));
    std::fs::create_dir_all(&inputs).expect("create inputs dir");
    let (heat_shape, state_shape) = seq.shapes();
    for (t, heat) in seq.heatmaps.iter().enumerate() {
        write_npy(&inputs.join(format!("heatmaps_{t}.npy")), &heat_shape, heat);
    }
    write_npy(&inputs.join("h.npy"), &state_shape, &seq.h);
    write_npy(&inputs.join("c.npy"), &state_shape, &seq.c);
    let out = Command::new(python())
        .arg(root().join("scripts/convlstm_reference.py"))
        .args([model, &inputs, &outputs])
        .output()
        .expect("run convlstm_reference.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "convlstm_reference.py failed ({}):\n{stdout}\n{stderr}", out.status);
    eprintln!("convlstm_reference.py: {}", stdout.trim());
    (0..STEPS)
        .map(|t| {
            let read = |name: &str, shape: &[usize]| {
                let (got_shape, data) = read_npy(&outputs.join(format!("{name}_{t}.npy")));
                assert_eq!(got_shape, shape, "{name}_{t}.npy");
                data
            };
            [read("s", &heat_shape), read("h", &state_shape), read("c", &state_shape)]
        })
        .collect()
}

/// Largest |a - b| over all steps and outputs, with the worst (step, output) for the message.
fn max_diff(a: &Steps, b: &Steps) -> (f32, usize, &'static str) {
    assert_eq!(a.len(), b.len());
    let mut worst = (0.0f32, 0, "s");
    for (t, (x, y)) in a.iter().zip(b).enumerate() {
        for ((name, u), v) in ["s", "h_out", "c_out"].into_iter().zip(x).zip(y) {
            assert_eq!(u.len(), v.len(), "{name} length at step {t}");
            let d = u.iter().zip(v).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
            assert!(d.is_finite(), "{name} at step {t} is not finite");
            if d >= worst.0 {
                worst = (d, t, name);
            }
        }
    }
    worst
}

fn write_npy(path: &Path, shape: &[usize], data: &[f32]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64, ending in \n.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(data.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Reads a little-endian float32, C-order .npy (what numpy writes for the script's outputs).
fn read_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.starts_with(b"\x93NUMPY"), "{}: not .npy", path.display());
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
    };
    let header = std::str::from_utf8(&bytes[start..start + len]).expect("utf-8 .npy header");
    assert!(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"), "{header}");
    let shape_text = header.split("'shape': (").nth(1).and_then(|s| s.split(')').next()).expect("shape in header");
    let shape: Vec<usize> = shape_text.split(',').filter_map(|d| d.trim().parse().ok()).collect();
    let data: Vec<f32> =
        bytes[start + len..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    assert_eq!(data.len(), shape.iter().product::<usize>(), "{}", path.display());
    (shape, data)
}

/// Builds the model and writes it atomically (no `.tmp` left behind).
fn write(weights: &ConvLstmWeights, dir: &Path) -> PathBuf {
    let path = dir.join("convlstm.onnx");
    write_model(&path, &convlstm_model(weights).expect("build model")).expect("write model");
    assert!(path.is_file());
    assert!(!dir.join("convlstm.onnx.tmp").exists(), "temporary file left behind");
    path
}

#[test]
fn seeded_convlstm_matches_the_rust_reference_in_python_and_crate_ort() {
    let dir = scratch("seeded");
    let weights = ConvLstmWeights::seeded(SPEC, 7, 0.3);
    let path = write(&weights, &dir);
    let seq = Sequence::new(100);
    let reference = rust_reference(&weights, &seq);
    // The cell must change the heatmaps noticeably, or agreement would prove little.
    let moved = (reference.iter().zip(&seq.heatmaps))
        .flat_map(|(step, heat)| step[0].iter().zip(heat).map(|(s, o)| (s - o).abs()))
        .fold(0.0f32, f32::max);
    assert!(moved > 0.05, "seeded cell is nearly the identity: max |s - heatmaps| = {moved}");

    let py = python_ort(&path, &seq, &dir);
    let (d_py, t_py, o_py) = max_diff(&py, &reference);
    let ours = crate_ort(&path, &seq);
    let (d_ort, t_ort, o_ort) = max_diff(&ours, &reference);
    eprintln!(
        "max |python ORT - rust| = {d_py:.3e} ({o_py}, step {t_py}); \
         max |crate ORT - rust| = {d_ort:.3e} ({o_ort}, step {t_ort})"
    );
    assert!(d_py <= TOLERANCE, "python ORT vs rust reference: {d_py} at step {t_py} in {o_py}");
    assert!(d_ort <= TOLERANCE, "crate ORT vs rust reference: {d_ort} at step {t_ort} in {o_ort}");
    // Kept on failure, for a look at the model and the .npy files.
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn identity_convlstm_returns_its_heatmaps() {
    let dir = scratch("identity");
    let weights = ConvLstmWeights::identity(SPEC);
    let path = write(&weights, &dir);
    let seq = Sequence::new(200);
    let reference = rust_reference(&weights, &seq);
    let py = python_ort(&path, &seq, &dir);
    let ours = crate_ort(&path, &seq);
    let mut worst = 0.0f32;
    for (t, heat) in seq.heatmaps.iter().enumerate() {
        for (who, s) in [("rust", &reference[t][0]), ("python ORT", &py[t][0]), ("crate ORT", &ours[t][0])] {
            let d = s.iter().zip(heat).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(d <= 1e-7, "{who}: identity s differs from heatmaps by {d} at step {t}");
            worst = worst.max(d);
        }
    }
    eprintln!("identity: max |s - heatmaps| = {worst:.3e}");
    let (d, t, o) = max_diff(&ours, &reference);
    assert!(d <= TOLERANCE, "identity states, crate ORT vs rust: {d} at step {t} in {o}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The stabilizer runtime (`steadyface::stabilizer`), which keeps each face's h and c itself, over
/// a sequence whose crops stay put: the same numbers as Python ONNX Runtime carrying h and c, both
/// with the cell evaluated natively (the default for this graph on a CPU with AVX2) and in the
/// crate's ONNX Runtime.
#[test]
fn stabilizer_runtime_matches_python_ort() {
    let dir = scratch("runtime");
    let weights = ConvLstmWeights::seeded(SPEC, 11, 0.3);
    let path = write(&weights, &dir);
    let size = 6;
    std::fs::write(dir.join("convlstm.json"), format!(r#"{{"points": {}, "heatmap_size": {size}}}"#, SPEC.points))
        .expect("write sidecar");
    let seq = Sequence::zero_state(300, N, size, size);
    let py = python_ort(&path, &seq, &dir);

    let native = Stabilizer::load(&path, Device::Cpu).expect("stabilizer loads");
    assert_eq!((native.points, native.state_channels, native.heatmap.size), (SPEC.points, SPEC.state_channels(), size));
    assert_eq!(native.engine(), expected_engine());
    let mut stabilizers = vec![native];
    for engine in [Engine::Native(Isa::Avx2), Engine::OnnxRuntime] {
        let mut other = Stabilizer::load(&path, Device::Cpu).expect("stabilizer loads");
        if other.engine() != engine && other.set_engine(engine) {
            stabilizers.push(other);
        }
    }
    for stabilizer in stabilizers {
        let crops = vec![Similarity { a: 2.0, b: 0.5, tx: 30.0, ty: 40.0 }; N];
        let mut states: Vec<Option<HiddenState>> = vec![None; N];
        let placed = vec![Windows::whole(SPEC.points, size); N];
        let mut worst = 0.0f32;
        for (t, heat) in seq.heatmaps.iter().enumerate() {
            let (s, next) = stabilizer.step(heat, &face_steps(&placed, &states, &crops), 12).expect("stabilizer step");
            let d = s.iter().zip(&py[t][0]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(
                d <= TOLERANCE,
                "{:?}, step {t}: stabilized heatmaps differ from Python ORT by {d}",
                stabilizer.engine()
            );
            worst = worst.max(d);
            states = next.into_iter().map(Some).collect();
        }
        eprintln!("stabilizer runtime ({:?}) vs python ORT: max |s| difference {worst:.3e}", stabilizer.engine());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// What evaluates a graph written by `convlstm_model` on this machine's CPU.
fn expected_engine() -> Engine {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            return Engine::Native(Isa::Avx512);
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Engine::Native(Isa::Avx2);
        }
    }
    Engine::OnnxRuntime
}

/// The shipped stabilizer (models/stabilizer.onnx, 68 landmarks on 12x12 windows) is recognised as
/// the trainer's graph and runs natively, to the numbers ONNX Runtime computes from the file over
/// a sequence of real-sized steps of two faces; the same file with its spec metadata removed is
/// no longer recognised and runs in ONNX Runtime.
#[test]
fn shipped_stabilizer_runs_natively_with_onnx_runtime_numbers() {
    let shipped = root().join("models/stabilizer.onnx");
    let native = Stabilizer::load(&shipped, Device::Cpu).expect("shipped stabilizer loads");
    assert_eq!(native.engine(), expected_engine());
    let mut in_ort = Stabilizer::load(&shipped, Device::Cpu).expect("shipped stabilizer loads");
    assert!(in_ort.set_engine(Engine::OnnxRuntime));
    let (k, n, faces) = (native.points, native.window, 2);
    let crops = vec![Similarity { a: 1.0, b: 0.0, tx: 0.0, ty: 0.0 }; faces];
    let placed = vec![Windows::around(&vec![[12.0, 12.0]; k], n, None); faces];
    let (mut a, mut b): (Vec<Option<HiddenState>>, Vec<Option<HiddenState>>) = (vec![None; faces], vec![None; faces]);
    let mut worst = 0.0f32;
    for t in 0..6 {
        // Heatmap-like windows: a blob per landmark that moves a little every step.
        let windows: Vec<f32> = (0..faces * k * n * n)
            .map(|i| {
                let (j, p) = (i / (n * n), i % (n * n));
                let (x, y) = ((p % n) as f32 - 5.5 - 0.3 * t as f32, (p / n) as f32 - 5.5 + (j % 3) as f32 * 0.4);
                (-(x * x + y * y) / 4.5).exp()
            })
            .collect();
        let step = |stabilizer: &Stabilizer, states: &mut Vec<Option<HiddenState>>| {
            let (s, next) = stabilizer.step(&windows, &face_steps(&placed, states, &crops), 192).expect("step");
            *states = next.into_iter().map(Some).collect();
            s
        };
        let (s_native, s_ort) = (step(&native, &mut a), step(&in_ort, &mut b));
        worst = s_native.iter().zip(&s_ort).map(|(x, y)| (x - y).abs()).fold(worst, f32::max);
        let moved = s_native.iter().zip(&windows).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(t == 0 || moved > 1e-3, "step {t}: the shipped cell should change the maps ({moved})");
    }
    eprintln!("shipped stabilizer, native vs ONNX Runtime: max |s| difference {worst:.3e}");
    assert!(worst <= TOLERANCE, "native and ONNX Runtime differ by {worst}");

    let dir = scratch("unrecognised");
    let mut model = ModelProto::from_bytes(&std::fs::read(&shipped).expect("read")).expect("parse");
    model.metadata_props.retain(|e| e.key.as_deref() != Some("steadyface.convlstm.kernel"));
    let path = dir.join("stabilizer.onnx");
    write_model(&path, &model).expect("write");
    std::fs::copy(shipped.with_extension("json"), path.with_extension("json")).expect("sidecar");
    assert_eq!(Stabilizer::load(&path, Device::Cpu).expect("loads").engine(), Engine::OnnxRuntime);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The trainer's candle cell (what `steadyface finetune` optimises) and the exported ONNX model
/// (what the element runs) agree to 1e-5 over a sequence, run through the crate's ONNX Runtime.
#[test]
fn exported_model_matches_the_candle_training_cell() {
    use candle_core::{DType, Device as Candle, Tensor};
    use steadyface_train::cell::Cell;

    let dir = scratch("candle");
    let spec = ConvLstmSpec { points: 5, hidden: 2, kernel: 3 };
    let weights = ConvLstmWeights::seeded(spec, 21, 0.4);
    let path = dir.join("convlstm.onnx");
    write_model(&path, &convlstm_model(&weights).expect("model")).expect("write");
    let (b, t, size) = (2, STEPS, 7);
    let plane = spec.points * size * size;
    let data = random(b * t * plane, 99, 0.0, 1.0);
    let cell = Cell::new(&weights, &Candle::Cpu, DType::F32).expect("candle cell");
    let seq = Tensor::from_slice(&data, (b, t, spec.points, size, size), &Candle::Cpu).expect("tensor");
    let trained: Vec<f32> = cell.run(&seq).expect("candle run").flatten_all().expect("flat").to_vec1().expect("vec");

    let model = OnnxModel::load(&path, Device::Cpu).expect("ORT loads the export");
    let state_shape = spec.state_shape(b, size, size);
    let (mut h, mut c) = (vec![0.0; state_shape.iter().product()], vec![0.0; state_shape.iter().product()]);
    let mut worst = 0.0f32;
    for step in 0..t {
        // Candle's tensor is [B,T,K,H,W]; the model takes one frame [B,K,H,W].
        let frame: Vec<f32> =
            (0..b).flat_map(|i| data[(i * t + step) * plane..(i * t + step + 1) * plane].to_vec()).collect();
        let heat_shape = spec.heatmaps_shape(b, size, size);
        let out = model
            .run(&[(&heat_shape[..], &frame[..]), (&state_shape[..], &h[..]), (&state_shape[..], &c[..])])
            .expect("run");
        for i in 0..b {
            let want = &trained[(i * t + step) * plane..(i * t + step + 1) * plane];
            let got = &out[0].data[i * plane..(i + 1) * plane];
            worst = want.iter().zip(got).map(|(a, g)| (a - g).abs()).fold(worst, f32::max);
        }
        (h, c) = (out[1].data.clone(), out[2].data.clone());
    }
    eprintln!("candle cell vs exported ONNX in ORT: max |s| difference {worst:.3e}");
    assert!(worst <= TOLERANCE, "candle and ONNX Runtime differ by {worst}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Running the cell on a 12x12 window around each landmark (what a trained stabilizer's sidecar
/// asks for) gives the points that running it on the whole 24x24 maps gives, while the landmarks
/// move, their windows re-centre, and the crop jumps (the state is then resampled).
#[test]
fn windowed_stabilizer_matches_the_whole_map() {
    use steadyface::decode::Decoder;
    use steadyface::heatmap::{HeatmapSpec, render};

    let dir = scratch("windows");
    let spec = ConvLstmSpec { points: 3, hidden: 2, kernel: 3 };
    let mut weights = ConvLstmWeights::identity(spec);
    // An output that depends on the state, with no bias (the background stays zero).
    weights.out_w = random(weights.out_w.len(), 5, -0.3, 0.3);
    let (size, crop_size) = (24, 192);
    let load = |name: &str, window: &str| {
        let sub = dir.join(name);
        std::fs::create_dir_all(&sub).expect("dir");
        let path = sub.join("convlstm.onnx");
        write_model(&path, &convlstm_model(&weights).expect("model")).expect("write");
        std::fs::write(
            sub.join("convlstm.json"),
            format!(r#"{{"points": {}, "heatmap_size": {size}{window}}}"#, spec.points),
        )
        .expect("sidecar");
        Stabilizer::load(&path, Device::Cpu).expect("loads")
    };
    let whole = load("whole", "");
    let windowed = load("window", r#", "window": 12"#);
    assert_eq!((whole.window, windowed.window), (24, 12));

    let decoder = Decoder::PdcSoft { threshold: 0.2 };
    let heat = HeatmapSpec { size, sigma: 1.5 };
    let mut states: [Option<HiddenState>; 2] = [None, None];
    let mut recentred = 0;
    let mut worst = 0.0f32;
    for t in 0..24 {
        // Frame points drift right by 0.3 heatmap px a frame; from frame 12 the crop sits 8 crop px
        // (one heatmap px) further right, so the points move left in it.
        let shift = if t < 12 { 0.0 } else { 8.0 };
        let crop = Similarity { a: 1.0, b: 0.0, tx: shift, ty: 0.0 };
        let points: Vec<[f32; 2]> = [[6.2, 7.1], [12.0, 12.4], [15.3, 9.8]]
            .iter()
            .map(|&[x, y]| [x + 0.3 * t as f32 - shift / 8.0, y])
            .collect();
        let mut decoded = Vec::new();
        for (stab, state) in [&whole, &windowed].into_iter().zip(states.iter_mut()) {
            let placed = stab.windows(&points, &crop, state.as_ref());
            let n = placed.size;
            let mut maps = vec![0.0; spec.points * n * n];
            for (j, map) in maps.chunks_exact_mut(n * n).enumerate() {
                let p = placed.to_map(j).inverse().apply(points[j]);
                render(&[p], &HeatmapSpec { size: n, ..heat }, map);
                placed.clip(j, size, map);
            }
            let prev = state.as_ref().map(|s| s.windows.clone());
            recentred += usize::from(prev.is_some_and(|w| w != placed && w.size == 12));
            let face = FaceStep { windows: &placed, state: state.as_ref(), crop, motion: [0.0, 0.0] };
            let (s, mut next) = stab.step(&maps, &[face], crop_size).expect("step");
            let (pts, _) = decoder.decode(&s, spec.points, n, n);
            decoded.push(pts.iter().enumerate().map(|(j, &p)| placed.to_map(j).apply(p)).collect::<Vec<_>>());
            *state = next.pop();
        }
        for (a, b) in decoded[0].iter().zip(&decoded[1]) {
            worst = worst.max((a[0] - b[0]).abs().max((a[1] - b[1]).abs()));
        }
    }
    eprintln!("windowed vs whole map: worst point difference {worst:.2e} heatmap px, {recentred} re-centrings");
    assert!(recentred >= 2, "the test should move the windows ({recentred} times)");
    assert!(worst < 0.01, "windowed and whole-map stabilizers differ by {worst} heatmap px");
    let _ = std::fs::remove_dir_all(&dir);
}
