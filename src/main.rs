//! `steadyface`: the command-line companion of the GStreamer plugin.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use steadyface::frame::Frame;
use steadyface::models_dir;
use steadyface::pipeline::{ModelPaths, Models, Tracker, TrackerConfig};
use steadyface::runtime::{self, Device};
use steadyface::scheme::Scheme;

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
    /// Landmarks of the faces in still images, one JSON line per image.
    Detect {
        images: Vec<PathBuf>,
        #[command(flatten)]
        models: ModelArgs,
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
        Command::Detect { images, models } => detect(&images, &models),
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
    Ok(())
}

fn load_models(args: &ModelArgs) -> anyhow::Result<std::sync::Arc<Models>> {
    let paths = ModelPaths {
        detector: args.detector.clone(),
        backbone: args.backbone.clone(),
        stabilizer: args.stabilizer.clone(),
    };
    let scheme = if args.full_scheme { Scheme::Full } else { Scheme::Ibug68 };
    Ok(Models::load(&paths, Device::parse(&args.device, args.device_id)?, scheme)?)
}

fn detect(images: &[PathBuf], args: &ModelArgs) -> anyhow::Result<()> {
    let models = load_models(args)?;
    for path in images {
        let img = image::open(path).with_context(|| format!("{}", path.display()))?.to_rgb8();
        let (w, h) = (img.width() as usize, img.height() as usize);
        let frame = Frame::rgb(img.as_raw(), w, h)?;
        let detections = models.detector.detect(&frame)?;
        let mut tracker = Tracker::new(models.clone(), TrackerConfig::default());
        let faces = tracker.process(&frame, None, None)?;
        let json = serde_json::json!({
            "image": path.display().to_string(),
            "detections": detections.iter().map(|d| serde_json::json!({"bbox": d.bbox, "score": d.score, "keypoints": d.keypoints})).collect::<Vec<_>>(),
            "faces": faces.iter().map(|f| serde_json::json!({"track_id": f.track_id, "bbox": f.bbox, "score": f.score, "points": f.points})).collect::<Vec<_>>(),
        });
        println!("{json}");
    }
    Ok(())
}
