//! `steadyface`: the command-line companion of the GStreamer plugin.

mod element;
mod eval;
mod options;
mod plot;
mod progress;
mod track;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use steadyface::frame::Frame;
use steadyface::landmarks_json::FrameLandmarks;
use steadyface::models_dir;
use steadyface::pipeline::{FrameInput, ModelPaths, Models, Tracker, TrackerConfig};
use steadyface::runtime::{self, Device};
use steadyface::scheme::Scheme;
use steadyface_train::synth::{
    Degradation, ExpressionSchedule, expression_frames, moving_frames, random_segments, trajectory,
};

#[derive(Parser)]
#[command(name = "steadyface", version, about = "Steady facial landmarks: tools around the GStreamer plugin")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct ModelArgs {
    /// Face detector (BlazeFace ONNX).
    #[arg(long, default_value_os_t = models_dir::default_model(models_dir::DETECTOR))]
    detector: PathBuf,
    /// Landmark backbone (ONNX: heatmaps or coordinates).
    #[arg(long, default_value_os_t = models_dir::default_model(models_dir::BACKBONE))]
    backbone: PathBuf,
    /// auto | cpu | cuda
    #[arg(long, default_value = "auto")]
    device: String,
    #[arg(long, default_value_t = 0)]
    device_id: i32,
    /// ConvLSTM stabilizer (ONNX); none by default.
    #[arg(long)]
    stabilizer: Option<PathBuf>,
    /// Report every backbone point instead of the iBUG 68 scheme.
    #[arg(long)]
    full_scheme: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Where ONNX Runtime and the default models are found.
    Info,
    /// Train a ConvLSTM stabilizer for a backbone (Jitter loss, SBR); writes ONNX + sidecar.
    Finetune(Box<steadyface_train::run::FinetuneArgs>),
    /// Landmarks of the faces in still images, one JSON line per image: the steadyface.landmarks/1
    /// object (docs/landmarks.schema.json) plus `image` and the detector's own `detections`.
    Detect {
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Benchmark sequences from annotated stills (IMAGE with IMAGE.pts beside it): the image
    /// moved along a smooth random trajectory, each frame degraded at the named levels.
    /// Writes OUT/<image>-<level>/ with 000000.png..., gt.jsonl and meta.json; with the face's
    /// expression animated too (blinks, mouth, smile, brows), OUT/<image>-expr-<level>/.
    Synth {
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 150)]
        frames: usize,
        /// Comma-separated: clean, noise5, noise10, noise20, blur, jpeg30, combined.
        #[arg(long, default_value = "clean,noise5,noise10,noise20,blur,jpeg30,combined")]
        levels: String,
        /// Frame size, WIDTHxHEIGHT.
        #[arg(long, default_value = "480x400")]
        size: String,
        /// Distance between the outer eye corners in the frames, in pixels.
        #[arg(long, default_value_t = 100.0)]
        iod: f32,
        /// rigid: the still moved as a whole; expression: also blinking, opening the mouth,
        /// smiling and raising the brows (same trajectory and noise for the same seed); both.
        #[arg(long, value_enum, default_value = "rigid")]
        motion: Motion,
    },
    /// Landmarks of every frame of a video (any file GStreamer decodes, a URI such as file://...
    /// or rtsp://... that uridecodebin plays, or a directory of numbered frames 000000.png ...)
    /// through the facelandmarks element: one JSON line per frame in the steadyface.landmarks/1
    /// schema (docs/landmarks.schema.json), optionally an annotated video.
    Track {
        /// A video file, a URI, or a directory of numbered frames.
        video: PathBuf,
        /// Write the JSON lines to this file (default: standard output).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write the video with the landmarks drawn (landmarkoverlay, H.264 in MP4).
        #[arg(long)]
        overlay: Option<PathBuf>,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        element: Box<options::ElementArgs>,
        #[command(flatten)]
        personalize: options::PersonalizeArgs,
    },
    /// Scores the facelandmarks element on benchmark sequences (numbered frames + gt.jsonl, see
    /// docs/design.md) or videos without ground truth: one table row per sequence and method.
    Eval {
        /// Directories of numbered frames with gt.jsonl (`steadyface synth` makes them), or videos.
        sequences: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "all")]
        method: eval::MethodArg,
        /// Stabilizer ONNX for the `stabilizer` methods (default: the shipped one, models/stabilizer.onnx).
        #[arg(long)]
        stabilizer: Option<PathBuf>,
        /// Any other element property, NAME=VALUE (repeatable), e.g. --set device=cpu.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// One JSON object per sequence and method instead of the table.
        #[arg(long)]
        json: bool,
        /// PNG: one landmark over time per method and an error-vs-jitter scatter (first sequence).
        #[arg(long)]
        plot: Option<PathBuf>,
        /// The landmark the plot follows (iBUG index; 30 = nose tip).
        #[arg(long, default_value_t = 30)]
        landmark: usize,
        /// Also score another program's points, NAME=FILE (repeatable): SEQ_DIR/FILE for each
        /// sequence, JSON lines {"frame": N, "points": [[x, y] x 68] or null} (0-based pixels, pixel
        /// centres at integers), e.g. bench/mediapipe_points.py's mediapipe-facemesh.jsonl. Scored
        /// like the methods, as rows named NAME (fps 0).
        #[arg(long = "predictions", value_name = "NAME=FILE")]
        predictions: Vec<String>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("steadyface: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Info => info(),
        Command::Finetune(args) => {
            let line = std::env::args().collect::<Vec<_>>().join(" ");
            let done = steadyface_train::run::finetune(&args, &line, &mut progress::Terminal::new(args.quiet))?;
            println!("{}", done.summary);
            if !done.report.is_empty() {
                println!("{}", done.report);
            }
            for skipped in &done.skipped {
                eprintln!("steadyface finetune: skipped {skipped}");
            }
            let curve = args.work_dir().join("loss.png");
            plot::loss_curve(&curve, &args.work_dir().join("log.csv"))?;
            println!("loss curve: {}", curve.display());
            Ok(())
        }
        Command::Detect { images, models } => detect(&images, &models),
        Command::Synth { images, out, seed, frames, levels, size, iod, motion } => {
            let levels = levels
                .split(',')
                .map(|l| Ok((l.to_string(), Degradation::parse(l)?)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let size = size
                .split_once('x')
                .and_then(|(w, h)| Some([w.parse().ok()?, h.parse().ok()?]))
                .filter(|&[w, h]: &[usize; 2]| w > 0 && h > 0)
                .with_context(|| format!("--size {size}: expected WIDTHxHEIGHT"))?;
            for image in &images {
                synth(image, &out, &SynthArgs { seed, frames, size, iod, motion }, &levels)?;
            }
            Ok(())
        }
        Command::Track { video, json, overlay, quiet, element, personalize } => {
            let outputs = track::Outputs { json: json.as_deref(), overlay: overlay.as_deref(), quiet };
            track::track(&video, &outputs, &element, &personalize)
        }
        Command::Eval { sequences, method, stabilizer, set, json, plot, landmark, predictions } => {
            eval::eval(&eval::EvalArgs { sequences, method, stabilizer, set, json, plot, landmark, predictions })
        }
    }
}

fn info() -> anyhow::Result<()> {
    let found = runtime::library_candidates().into_iter().find(|p| p.is_file());
    match found {
        Some(p) => println!("onnxruntime: {}", p.display()),
        None => println!("onnxruntime: not found"),
    }
    runtime::environment()?;
    for name in [models_dir::DETECTOR, models_dir::BACKBONE] {
        let path = models_dir::default_model(name);
        println!("{name}: {} ({})", path.display(), if path.is_file() { "present" } else { "MISSING" });
    }
    // A session on device=auto says whether CUDA is used.
    runtime::session(&models_dir::default_model(models_dir::DETECTOR), Device::Auto)?;
    match runtime::auto_fallback() {
        Some(why) => println!("device=auto: CPU (CUDA unavailable: {why})"),
        None => println!("device=auto: CUDA"),
    }
    Ok(())
}

fn load_models(args: &ModelArgs) -> anyhow::Result<std::sync::Arc<Models>> {
    let paths = ModelPaths {
        detector: args.detector.clone(),
        backbone: args.backbone.clone(),
        stabilizer: args.stabilizer.clone(),
    };
    let scheme = if args.full_scheme { Scheme::Full } else { Scheme::Ibug68 };
    let models = Models::load(&paths, Device::parse(&args.device, args.device_id)?, scheme)?;
    if let Some(why) = &models.backbone.assumed {
        eprintln!("warning: {why}");
    }
    Ok(models)
}

/// One line of `steadyface detect`: the image's landmarks in the schema, plus the image and the
/// detector's own boxes and keypoints.
#[derive(serde::Serialize)]
struct DetectLine {
    #[serde(flatten)]
    landmarks: FrameLandmarks,
    image: String,
    detections: Vec<DetectionJson>,
}

#[derive(serde::Serialize)]
struct DetectionJson {
    #[serde(rename = "box")]
    bbox: [f32; 4],
    score: f32,
    keypoints: Vec<[f32; 2]>,
}

fn detect(images: &[PathBuf], args: &ModelArgs) -> anyhow::Result<()> {
    let models = load_models(args)?;
    let scheme = models.scheme_name();
    for (index, path) in images.iter().enumerate() {
        let img = image::open(path).with_context(|| format!("{}", path.display()))?.to_rgb8();
        let (w, h) = (img.width() as usize, img.height() as usize);
        let frame = Frame::rgb(img.as_raw(), w, h)?;
        let detections = models.detector.detect(&frame)?;
        let mut tracker = Tracker::new(models.clone(), TrackerConfig::whole_pyramid());
        let faces = tracker.process(&frame, FrameInput::default())?.faces;
        let line = DetectLine {
            landmarks: FrameLandmarks::new(index as u64, None, (w as u32, h as u32), &scheme, faces),
            image: path.display().to_string(),
            detections: detections
                .iter()
                .map(|d| DetectionJson { bbox: d.bbox, score: d.score, keypoints: d.keypoints.to_vec() })
                .collect(),
        };
        println!("{}", serde_json::to_string(&line)?);
    }
    Ok(())
}

/// What moves in `steadyface synth` sequences.
#[derive(clap::ValueEnum, Clone, Copy, PartialEq)]
enum Motion {
    Rigid,
    Expression,
    Both,
}

/// The options of `steadyface synth` shared by every image.
struct SynthArgs {
    seed: u64,
    frames: usize,
    size: [usize; 2],
    iod: f32,
    motion: Motion,
}

/// Writes one sequence per level and motion for `image` (see `Command::Synth`): the rigid and the
/// expression sequence of a level share the trajectory and the noise.
fn synth(image: &Path, out: &Path, args: &SynthArgs, levels: &[(String, Degradation)]) -> anyhow::Result<()> {
    let SynthArgs { seed, frames, size, iod, motion } = *args;
    let pts_path = image.with_extension("pts");
    let points = steadyface::pts::read_pts(&pts_path)?;
    if points.len() != 68 {
        anyhow::bail!("{}: {} points, the benchmark format needs the 68 iBUG points", pts_path.display(), points.len());
    }
    let img = image::open(image).with_context(|| format!("{}", image.display()))?.to_rgb8();
    let source = Frame::rgb(img.as_raw(), img.width() as usize, img.height() as usize)?;
    let centre = steadyface::geometry::centroid(&points);
    let segments = random_segments(frames, seed);
    let transforms = trajectory(&segments, centre, size, iod / steadyface::metrics::inter_ocular(&points));
    let schedule = ExpressionSchedule::random(frames, seed);
    let stem = image.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    for (name, level) in levels {
        let meta = serde_json::json!({
            "source_image": image.display().to_string(),
            "source_points": pts_path.display().to_string(),
            "seed": seed,
            "level": name,
            "frames": frames,
            "width": size[0],
            "height": size[1],
            "fps": 30,
            "inter_ocular_px": iod,
            "coordinates": "pixels of each frame, 0-based, pixel centres at integers",
            "segments": segments.iter().map(|s| serde_json::json!({"frames": s.frames, "velocity": s.velocity, "turn": s.turn})).collect::<Vec<_>>(),
        });
        if motion != Motion::Expression {
            let rigid = moving_frames(&source, &points, &transforms, size, *level, seed);
            write_sequence(&out.join(format!("{stem}-{name}")), rigid, size, &meta)?;
        }
        if motion != Motion::Rigid {
            let mut meta = meta;
            meta["motion"] = "expression".into();
            meta["expression"] = serde_json::to_value(&schedule.events)?;
            let expr = expression_frames(&source, &points, &transforms, &schedule, size, *level, seed);
            write_sequence(&out.join(format!("{stem}-expr-{name}")), expr, size, &meta)?;
        }
    }
    Ok(())
}

/// Writes the frames, gt.jsonl and `meta` of one sequence to `named`; the directory is built
/// beside its final name and renamed into place when complete.
fn write_sequence(
    named: &Path,
    frames: impl Iterator<Item = (Vec<u8>, Vec<[f32; 2]>)>,
    size: [usize; 2],
    meta: &serde_json::Value,
) -> anyhow::Result<()> {
    // A link to a sequence folder stays a link: the folder it leads to is replaced.
    let dir = steadyface::output::resolve(named)?;
    let file_name = named.file_name().and_then(|n| n.to_str()).unwrap_or("sequence");
    let tmp = dir.with_file_name(format!(".{file_name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| format!("{}", tmp.display()))?;
    let mut gt = String::new();
    let mut count = 0;
    for (i, (rgb, frame_points)) in frames.enumerate() {
        let png = tmp.join(format!("{i:06}.png"));
        image::save_buffer(&png, &rgb, size[0] as u32, size[1] as u32, image::ExtendedColorType::Rgb8)
            .with_context(|| format!("{}", png.display()))?;
        gt += &serde_json::json!({"frame": i, "points": frame_points}).to_string();
        gt.push('\n');
        count += 1;
    }
    std::fs::write(tmp.join("gt.jsonl"), gt)?;
    std::fs::write(tmp.join("meta.json"), serde_json::to_string_pretty(meta)?)?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&tmp, &dir).with_context(|| format!("{} -> {}", tmp.display(), dir.display()))?;
    println!("{}: {count} frames", named.display());
    Ok(())
}
