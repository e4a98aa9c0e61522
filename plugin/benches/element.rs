//! The element against the core pipeline alone, multi-stream scaling, memory, a soak, and
//! throughput (frames/s, per-stage ms) for 1, 2 and 5 faces (`--only throughput`: that part alone).
//!
//!     cargo bench -p gst-plugin-steadyface --bench element [-- --soak-frames 20000] [--only throughput]
//!
//! Frames: `../shared/testdata/single_face.mp4` (one face) and `multi_face.jpg` (five faces),
//! decoded once to raw RGB and pushed from memory through `appsrc`, so decoding is not timed.
//! A stabilizer (seeded ConvLSTM 8x3, 32x32 heatmaps) is on in every run but half of the
//! throughput rows, so per-face state exists and is counted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use gst::prelude::*;
use steadyface::frame::Frame;
use steadyface::models_dir;
use steadyface::onnx::{ConvLstmSpec, ConvLstmWeights, convlstm_model, write_model};
use steadyface::pipeline::{FrameInput, ModelPaths, Models, Tracker, TrackerConfig};
use steadyface::runtime::Device;
use steadyface::scheme::Scheme;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scratch() -> PathBuf {
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    dir
}

/// Raw RGB frames of a test file (`width`, `height`, frames).
struct Clip {
    width: usize,
    height: usize,
    frames: Vec<Vec<u8>>,
}

fn decode(name: &str, still_frames: usize) -> Clip {
    let input = root().join("../shared/testdata").join(name);
    let raw = scratch().join(format!("{name}.rgb"));
    let (width, height) = if name.ends_with(".mp4") { (640, 360) } else { (1000, 667) };
    if !raw.exists() {
        let status = Command::new("gst-launch-1.0")
            .args(["-q", "filesrc", &format!("location={}", input.display()), "!", "decodebin", "!", "videoconvert"])
            .args(["!", "video/x-raw,format=RGB", "!", "filesink", &format!("location={}", raw.display())])
            .status()
            .expect("gst-launch-1.0");
        assert!(status.success(), "decoding {name}");
    }
    let data = std::fs::read(&raw).expect("raw frames");
    let mut frames: Vec<Vec<u8>> = data.chunks_exact(width * height * 3).map(<[u8]>::to_vec).collect();
    if still_frames > 0 {
        frames = vec![frames[0].clone(); still_frames];
    }
    Clip { width, height, frames }
}

fn stabilizer() -> PathBuf {
    let path = scratch().join("element-stabilizer.onnx");
    let weights = ConvLstmWeights::seeded(ConvLstmSpec { points: 68, hidden: 8, kernel: 3 }, 1, 0.1);
    write_model(&path, &convlstm_model(&weights).expect("model")).expect("write");
    std::fs::write(path.with_extension("json"), r#"{"points": 68, "heatmap_size": 32}"#).expect("sidecar");
    path
}

/// Resident memory of this process in MiB.
fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

/// The core pipeline alone over the clip: ms per frame.
fn core_ms_per_frame(models: &Arc<Models>, clip: &Clip) -> f64 {
    let mut tracker = Tracker::new(models.clone(), TrackerConfig::default());
    let start = Instant::now();
    for (i, f) in clip.frames.iter().enumerate() {
        let frame = Frame::rgb(f, clip.width, clip.height).expect("frame");
        tracker.process(&frame, FrameInput::at(i as f64 / 30.0)).expect("pipeline");
    }
    start.elapsed().as_secs_f64() * 1000.0 / clip.frames.len() as f64
}

/// The core tracker over the clip with `max_faces`: (faces per frame, ms per run of the detector,
/// ms per face of crop, backbone, stabilizer, decode, and ms per frame in total).
fn core_stages(models: &Arc<Models>, clip: &Clip, max_faces: usize) -> [f64; 7] {
    let mut tracker = Tracker::new(models.clone(), TrackerConfig { max_faces, ..TrackerConfig::default() });
    for (i, f) in clip.frames.iter().enumerate() {
        let frame = Frame::rgb(f, clip.width, clip.height).expect("frame");
        tracker.process(&frame, FrameInput::at(i as f64 / 30.0)).expect("pipeline");
    }
    let t = tracker.times();
    let ms = |d: std::time::Duration, n: u64| d.as_secs_f64() * 1000.0 / n.max(1) as f64;
    [
        t.faces as f64 / t.frames.max(1) as f64,
        ms(t.detector, t.detector_runs),
        ms(t.crop, t.faces),
        ms(t.backbone, t.faces),
        ms(t.stabilizer, t.faces),
        ms(t.decode, t.faces),
        ms(t.total, t.frames),
    ]
}

/// Frames per second of one `appsrc ! facelandmarks ! fakesink` stream with `max-faces` set
/// (and the stabilizer when given), `repeat` passes over the clip.
fn element_fps(clip: &Arc<Clip>, stab: Option<&Path>, max_faces: u32, repeat: usize) -> f64 {
    let (wall, _) = run_streams_with(clip, stab, max_faces, 1, repeat, 0);
    (clip.frames.len() * repeat) as f64 / wall
}

/// A pipeline with `streams` branches `appsrc ! facelandmarks ! fakesink`, each pushed `repeat`
/// passes over the clip from its own thread. Returns wall seconds and the RSS samples taken
/// every `sample_every` frames of stream 0.
fn run_streams(
    clip: &Arc<Clip>,
    stab: &Path,
    streams: usize,
    repeat: usize,
    sample_every: usize,
) -> (f64, Vec<(usize, f64)>) {
    run_streams_with(clip, Some(stab), 5, streams, repeat, sample_every)
}

fn run_streams_with(
    clip: &Arc<Clip>,
    stab: Option<&Path>,
    max_faces: u32,
    streams: usize,
    repeat: usize,
    sample_every: usize,
) -> (f64, Vec<(usize, f64)>) {
    let pipeline = gst::Pipeline::new();
    let caps = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, clip.width as u32, clip.height as u32)
        .fps(gst::Fraction::new(30, 1))
        .build()
        .expect("video info")
        .to_caps()
        .expect("caps");
    let mut sources = Vec::new();
    for _ in 0..streams {
        let src = gst_app::AppSrc::builder().caps(&caps).format(gst::Format::Time).max_buffers(4).block(true).build();
        let landmarks = gst::ElementFactory::make("facelandmarks")
            .property("stabilizer", stab.map(|p| p.to_string_lossy().to_string()).unwrap_or_default())
            .property("max-faces", max_faces)
            .build()
            .expect("facelandmarks");
        let sink = gst::ElementFactory::make("fakesink").property("sync", false).build().expect("fakesink");
        pipeline.add_many([src.upcast_ref(), &landmarks, &sink]).expect("add");
        gst::Element::link_many([src.upcast_ref(), &landmarks, &sink]).expect("link");
        sources.push(src);
    }
    pipeline.set_state(gst::State::Playing).expect("playing");
    let start = Instant::now();
    let samples = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for (s, src) in sources.iter().enumerate() {
            let (clip, samples) = (clip.clone(), &samples);
            scope.spawn(move || {
                let total = clip.frames.len() * repeat;
                for i in 0..total {
                    let mut buffer = gst::Buffer::from_slice(clip.frames[i % clip.frames.len()].clone());
                    {
                        let b = buffer.get_mut().expect("fresh buffer");
                        b.set_pts(gst::ClockTime::from_mseconds(i as u64 * 1000 / 30));
                        b.set_duration(gst::ClockTime::from_mseconds(33));
                    }
                    if src.push_buffer(buffer).is_err() {
                        break;
                    }
                    if s == 0 && sample_every > 0 && (i + 1) % sample_every == 0 {
                        samples.lock().expect("samples").push((i + 1, rss_mib()));
                    }
                }
                let _ = src.end_of_stream();
            });
        }
    });
    let bus = pipeline.bus().expect("bus");
    let msg =
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(3600), &[gst::MessageType::Eos, gst::MessageType::Error]);
    let wall = start.elapsed().as_secs_f64();
    pipeline.set_state(gst::State::Null).expect("null");
    if let Some(gst::MessageView::Error(e)) = msg.as_ref().map(|m| m.view()) {
        panic!("pipeline error: {}", e.error());
    }
    (wall, samples.into_inner().expect("samples"))
}

fn main() {
    let soak_frames: usize =
        std::env::args().skip_while(|a| a != "--soak-frames").nth(1).and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let only = std::env::args().skip_while(|a| a != "--only").nth(1);
    gst::init().expect("gst");
    gststeadyface::plugin_register_static().expect("plugin");
    let stab = stabilizer();
    let one = Arc::new(decode("single_face.mp4", 0));
    let five = Arc::new(decode("multi_face.jpg", 72));
    let paths = ModelPaths {
        detector: models_dir::default_model(models_dir::DETECTOR),
        backbone: models_dir::default_model(models_dir::BACKBONE),
        stabilizer: Some(stab.clone()),
    };
    let before_models = rss_mib();
    let models = Models::load(&paths, Device::Cpu, Scheme::Ibug68).expect("models");
    println!("RSS: {before_models:.1} MiB before loading the models, {:.1} MiB after", rss_mib());
    if only.as_deref() == Some("throughput") {
        throughput(&paths, &five);
        return;
    }

    // 1. The element against the core pipeline alone, same frames, one stream, in turns.
    println!("\n| run | core ms/frame | element ms/frame | element / core |");
    println!("|---|---|---|---|");
    let passes = 3;
    core_ms_per_frame(&models, &one); // warm-up
    run_streams(&one, &stab, 1, 1, 0);
    for round in 0..3 {
        let core: f64 = (0..passes).map(|_| core_ms_per_frame(&models, &one)).sum::<f64>() / passes as f64;
        let (wall, _) = run_streams(&one, &stab, 1, passes, 0);
        let element = wall * 1000.0 / (one.frames.len() * passes) as f64;
        println!("| {} | {core:.2} | {element:.2} | {:.3} |", round + 1, element / core);
    }

    // 2. Streams in one process.
    println!("\n| streams | frames/s in total | per stream | RSS after, MiB |");
    println!("|---|---|---|---|");
    for streams in [1, 2, 4] {
        let (wall, _) = run_streams(&one, &stab, streams, 3, 0);
        let fps = (one.frames.len() * 3 * streams) as f64 / wall;
        println!("| {streams} | {fps:.0} | {:.0} | {:.1} |", fps / streams as f64, rss_mib());
    }

    // 3. Memory: what a stream with one face and one with five faces hold while running.
    let base = rss_mib();
    let (_, one_face) = run_streams(&one, &stab, 1, 2, one.frames.len());
    let (_, five_faces) = run_streams(&five, &stab, 1, 2, five.frames.len());
    let peak = |s: &[(usize, f64)]| s.iter().map(|x| x.1).fold(0.0, f64::max);
    println!(
        "\nRSS while running: {base:.1} MiB idle, {:.1} MiB with one stream of 1 face, {:.1} MiB with one stream of 5 faces",
        peak(&one_face),
        peak(&five_faces)
    );

    // 4. Soak: one stream, the clip looped.
    let repeat = soak_frames.div_ceil(one.frames.len());
    let (wall, samples) = run_streams(&one, &stab, 1, repeat, soak_frames / 10);
    println!("\nSoak: {} frames in {wall:.0} s; RSS (frames: MiB):", one.frames.len() * repeat);
    println!("{}", samples.iter().map(|(f, m)| format!("{f}: {m:.1}")).collect::<Vec<_>>().join(", "));

    throughput(&paths, &five);
}

/// Part 5, throughput by number of faces: `multi_face.jpg` (five faces) with `max-faces` 1, 2
/// and 5, without and with the stabilizer; element frames/s, per-stage ms from the core tracker
/// on the same frames. CUDA batch sizes only where CUDA loads.
fn throughput(paths: &ModelPaths, five: &Arc<Clip>) {
    let plain_paths = ModelPaths { stabilizer: None, ..paths.clone() };
    let stab = paths.stabilizer.clone().expect("stabilizer path");
    println!(
        "\n| stabilizer | faces | element frames/s | detector ms/run | crop ms/face | backbone ms/face | stabilizer ms/face | decode ms/face | core ms/frame |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (label, model_paths, stab) in [("none", &plain_paths, None), ("8x3@32 (seeded)", paths, Some(stab.as_path()))] {
        let models = Models::load(model_paths, Device::Cpu, Scheme::Ibug68).expect("models");
        for max_faces in [1usize, 2, 5] {
            element_fps(five, stab, max_faces as u32, 1); // warm-up
            let fps = element_fps(five, stab, max_faces as u32, 3);
            let [faces, det, crop, backbone, stabilizer, decode, total] = core_stages(&models, five, max_faces);
            println!(
                "| {label} | {faces:.0} | {fps:.0} | {det:.2} | {crop:.3} | {backbone:.3} | {stabilizer:.3} | {decode:.3} | {total:.2} |"
            );
        }
    }
    match Models::load(&plain_paths, Device::Cuda(0), Scheme::Ibug68) {
        Ok(_) => {
            println!("\nCUDA loads here, but the CUDA batch-size sweep (1-64) is not implemented in this bench yet.")
        }
        Err(e) => println!("\nCUDA batch sizes 1-64: not measured, no usable GPU on this machine ({e})."),
    }
}
