//! Per-stage time per face and end-to-end frames per second of the core pipeline on
//! `../shared/testdata/single_face.mp4`, next to the Python reference (the same MediaPipe models
//! driven from Python with ONNX Runtime and OpenCV, `bench/python_reference.py`) in the same run.
//!
//!     make bench        (or: cargo bench --bench pipeline)
//!
//! Rows: no stabilizer, the shipped `models/stabilizer.onnx` (its cell evaluated natively with the
//! best instruction set, as the element does, then with AVX2 and in ONNX Runtime for comparison),
//! and any shapes in
//! `STEADYFACE_BENCH_STABILIZERS="2x3@24,2x3@24/12"` (hidden per landmark x kernel @ heatmap size,
//! optionally / the per-landmark window the cell runs on), seeded weights (timing does not depend
//! on their values).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use steadyface::frame::Frame;
use steadyface::models_dir;
use steadyface::onnx::{ConvLstmSpec, ConvLstmWeights, convlstm_model, write_model};
use steadyface::pipeline::{FrameInput, ModelPaths, Models, StageTimes, Tracker, TrackerConfig};
use steadyface::runtime::Device;
use steadyface::scheme::Scheme;
use steadyface::smoothing::{PoseResidualParams, Smoothing};
use steadyface::stabilizer::{Engine, Isa};

const WIDTH: usize = 640;
const HEIGHT: usize = 360;
const PASSES: usize = 5;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn scratch() -> PathBuf {
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    dir
}

/// The video's frames as packed RGB, decoded once with GStreamer.
fn frames() -> (PathBuf, Vec<u8>) {
    let path = scratch().join("single_face.rgb");
    if !path.exists() {
        let video = root().join("../shared/testdata/single_face.mp4");
        let status = Command::new("gst-launch-1.0")
            .args(["-q", "filesrc", &format!("location={}", video.display()), "!", "decodebin", "!", "videoconvert"])
            .args(["!", "video/x-raw,format=RGB", "!", "filesink", &format!("location={}", path.display())])
            .status()
            .expect("gst-launch-1.0 runs");
        assert!(status.success(), "decoding {} failed", video.display());
    }
    let data = std::fs::read(&path).expect("decoded frames");
    (path, data)
}

fn stabilizer(hidden: usize, kernel: usize, heatmap: usize, window: usize) -> PathBuf {
    let path = scratch().join(format!("stabilizer-{hidden}x{kernel}@{heatmap}-{window}.onnx"));
    let weights = ConvLstmWeights::seeded(ConvLstmSpec { points: 68, hidden, kernel }, 1, 0.1);
    write_model(&path, &convlstm_model(&weights).expect("model")).expect("write stabilizer");
    let sidecar = format!(r#"{{"points": 68, "heatmap_size": {heatmap}, "window": {window}}}"#);
    std::fs::write(path.with_extension("json"), sidecar).expect("sidecar");
    path
}

/// Runs the pipeline over every frame `PASSES` times (a fresh tracker each pass). Returns the
/// summed stage times and the median over passes of the wall time per frame (ms), the same
/// statistic as the Python reference's.
fn run(models: &std::sync::Arc<Models>, data: &[u8], config: &TrackerConfig) -> (StageTimes, f64) {
    let frame_bytes = WIDTH * HEIGHT * 3;
    let mut times = StageTimes::default();
    let mut per_pass = Vec::new();
    for _ in 0..PASSES {
        let start = Instant::now();
        let mut tracker = Tracker::new(models.clone(), *config);
        for (i, raw) in data.chunks_exact(frame_bytes).enumerate() {
            let frame = Frame::rgb(raw, WIDTH, HEIGHT).expect("frame");
            let faces = tracker.process(&frame, FrameInput::at(i as f64 / 30.0)).expect("pipeline").faces;
            assert_eq!(faces.len(), 1, "frame {i}");
        }
        times.add(tracker.times());
        per_pass.push(start.elapsed().as_secs_f64() * 1000.0 / tracker.times().frames.max(1) as f64);
    }
    per_pass.sort_by(f64::total_cmp);
    (times, per_pass[per_pass.len() / 2])
}

fn ms(d: std::time::Duration, n: u64) -> f64 {
    d.as_secs_f64() * 1000.0 / n.max(1) as f64
}

fn python_reference(frames: &Path) -> Option<f64> {
    let out = Command::new(root().join(".venv/bin/python"))
        .arg(root().join("bench/python_reference.py"))
        .arg(frames)
        .args([WIDTH.to_string(), HEIGHT.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("python reference failed (make bench installs OpenCV): {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let value: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    value["ms_per_frame"].as_f64()
}

fn main() {
    let (frames_path, data) = frames();
    let n_frames = data.len() / (WIDTH * HEIGHT * 3);
    let shapes = std::env::var("STEADYFACE_BENCH_STABILIZERS").unwrap_or_default();
    // (row name, stabilizer, what runs its cell when not the element's choice)
    let mut configs: Vec<(String, Option<PathBuf>, Option<Engine>)> = vec![("none".into(), None, None)];
    let shipped = models_dir::default_model(models_dir::STABILIZER);
    if shipped.is_file() {
        configs.push(("shipped (models/stabilizer.onnx)".into(), Some(shipped.clone()), None));
        for engine in [Engine::Native(Isa::Avx2), Engine::OnnxRuntime] {
            configs.push((format!("shipped, cell: {engine:?}"), Some(shipped.clone()), Some(engine)));
        }
    }
    // The default searches for new faces every 10 frames (up to 5 faces); with max-faces 1 the
    // pipeline does what the Python reference does: detect once, then track.
    let one = TrackerConfig { max_faces: 1, ..TrackerConfig::default() };
    let pose = Some(Smoothing::PoseResidual(PoseResidualParams::default()));
    let settings = [
        ("default", TrackerConfig::default()),
        ("max-faces 1", one),
        ("max-faces 1, pose-residual (the element's default)", TrackerConfig { smoothing: pose, ..one }),
    ];
    for shape in shapes.split(',').filter(|s| !s.is_empty()) {
        let parse = || -> Option<(usize, usize, usize, usize)> {
            let (hk, rest) = shape.split_once('@')?;
            let (h, k) = hk.split_once('x')?;
            let (size, window) = rest.split_once('/').unwrap_or((rest, rest));
            Some((h.parse().ok()?, k.parse().ok()?, size.parse().ok()?, window.parse().ok()?))
        };
        let (hidden, kernel, size, window) = parse().unwrap_or_else(|| panic!("bad stabilizer shape '{shape}'"));
        configs.push((shape.to_string(), Some(stabilizer(hidden, kernel, size, window)), None));
    }

    println!("single_face.mp4, {n_frames} frames x {PASSES} passes, CPU, one face tracked");
    println!();
    println!(
        "| stabilizer (hidden x kernel @ heatmap / window) | tracker | detector ms/run | crop ms/face | backbone ms/face | stabilizer ms/face | decode ms/face | smoothing ms/face | tracked frame ms/face | pipeline ms/frame | fps | Python ms/frame / ours |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, stab, engine) in configs {
        let paths = ModelPaths {
            detector: models_dir::default_model(models_dir::DETECTOR),
            backbone: models_dir::default_model(models_dir::BACKBONE),
            stabilizer: stab,
        };
        let mut models = Models::load(&paths, Device::Cpu, Scheme::Ibug68).expect("models");
        if let Some(engine) = engine {
            let stabilizer = std::sync::Arc::get_mut(&mut models).and_then(|m| m.stabilizer.as_mut());
            let stabilizer = stabilizer.expect("a stabilizer row, models just loaded");
            if stabilizer.engine() == engine || !stabilizer.set_engine(engine) {
                continue; // the element's choice already, or not on this CPU
            }
        }
        for (setting, config) in &settings {
            // The reference runs right before each row: this shared machine's speed drifts.
            let python = python_reference(&frames_path);
            run(&models, &data[..WIDTH * HEIGHT * 3 * 5], config); // warm-up
            let (t, per_frame) = run(&models, &data, config);
            let per_face = |d| ms(d, t.faces);
            let tracked = per_face(t.crop)
                + per_face(t.backbone)
                + per_face(t.stabilizer)
                + per_face(t.decode)
                + per_face(t.smoothing);
            let ratio =
                python.map(|p| format!("{p:.2} / {per_frame:.2} = {:.2}", p / per_frame)).unwrap_or_else(|| "-".into());
            println!(
                "| {name} | {setting} | {:.2} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {tracked:.2} | {per_frame:.2} | {:.0} | {ratio} |",
                ms(t.detector, t.detector_runs),
                per_face(t.crop),
                per_face(t.backbone),
                per_face(t.stabilizer),
                per_face(t.decode),
                per_face(t.smoothing),
                1000.0 / per_frame
            );
        }
    }
    println!("\nPython: bench/python_reference.py on the same frames, one thread, median of 5 runs of the video.");
}
