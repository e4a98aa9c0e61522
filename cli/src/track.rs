//! `steadyface track`: video in (a file, a URI, numbered frames), landmarks out (JSON Lines,
//! `steadyface.landmarks/1`), optionally an annotated video.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use steadyface::models_dir;
use steadyface::output::Output;
use steadyface::runtime::Device;
use steadyface_train::personalize::{Job, ScratchDir, Settings, personalize};

use crate::element;
use crate::options::{ElementArgs, PersonalizeArgs, model_property, property};
use crate::progress;

/// What `track` writes and how it talks.
pub struct Outputs<'a> {
    pub json: Option<&'a Path>,
    pub overlay: Option<&'a Path>,
    /// No progress bars.
    pub quiet: bool,
}

pub fn track(video: &Path, outputs: &Outputs, args: &ElementArgs, personal: &PersonalizeArgs) -> anyhow::Result<()> {
    let Outputs { json, overlay, quiet } = *outputs;
    element::init()?;
    let mut properties = args.properties()?;
    // An output that cannot be written (its folder missing, a folder in its place) fails now,
    // not after every frame has been processed.
    json.map(Output::create).transpose()?;
    // Held until the video is tracked: without --personalize-out the adapted stabilizer is in it.
    let mut _scratch = None;
    if personal.personalize {
        let (adapted, scratch) = personalized(video, &properties, personal, quiet)?;
        // Last, so that it wins over a --stabilizer or --set stabilizer= given before.
        properties.push(("stabilizer".into(), adapted.to_string_lossy().into_owned()));
        _scratch = scratch;
    }
    let total = if video.is_dir() {
        steadyface_train::video::numbered_frames(video).ok().map(|f| f.len() as u64)
    } else {
        None
    };
    let frames = steadyface_train::video::raw_frames(video)?;
    let bar = match total {
        _ if quiet => ProgressBar::hidden(),
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::no_length(),
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos}/{len} frames {per_sec} {elapsed} {wide_bar}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut lines = String::new();
    let stdout = std::io::stdout();
    let run = element::run(frames, &properties, overlay, |record| {
        let line = record.to_json().to_line();
        if json.is_some() {
            lines += &line;
            lines.push('\n');
        } else {
            writeln!(stdout.lock(), "{line}").context("writing to standard output")?;
        }
        bar.inc(1);
        Ok(())
    });
    bar.finish_and_clear();
    let run = run.with_context(|| format!("{}", video.display()))?;
    if let Some(path) = json {
        steadyface::output::write(path, lines.as_bytes())?;
    }
    let faces: usize = run.frames.iter().map(|f| f.faces().len()).sum();
    eprintln!(
        "{}: {} frames, {faces} faces, {:.1} frames/s{}{}",
        video.display(),
        run.frames.len(),
        run.frames.len() as f64 / run.seconds.max(1e-9),
        json.map(|p| format!("; landmarks: {}", p.display())).unwrap_or_default(),
        overlay.map(|p| format!("; video: {}", p.display())).unwrap_or_default(),
    );
    Ok(())
}

/// Adapts the stabilizer to `video` (see [`PersonalizeArgs`]) and writes it to --personalize-out,
/// else into a scratch folder returned with it (removed when dropped).
fn personalized(
    video: &Path,
    properties: &[(String, String)],
    args: &PersonalizeArgs,
    quiet: bool,
) -> anyhow::Result<(PathBuf, Option<ScratchDir>)> {
    let budget = args.personalize_budget;
    if !(budget.is_finite() && budget > 0.0) {
        bail!(
            "--personalize-budget {budget}: give a positive number of seconds (without --personalize the stabilizer is used unadapted)"
        );
    }
    if let Some(out) = &args.personalize_out {
        Output::create(out)?;
        Output::create(&steadyface::stabilizer::sidecar_path(out))?;
    }
    let [backbone, detector, stabilizer] = models(properties)?;
    let device_id = match property(properties, "device-id") {
        Some(id) => id.parse().with_context(|| format!("--device-id {id}"))?,
        None => 0,
    };
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let job = Job {
        video,
        stabilizer: &stabilizer,
        backbone: &backbone,
        detector: &detector,
        device: Device::parse(property(properties, "device").unwrap_or("auto"), device_id)?,
        command_line: &command_line,
    };
    let settings =
        Settings { budget: Duration::from_secs_f64(budget), max_steps: args.personalize_steps, ..Settings::default() };
    let adapted = personalize(&job, &settings, &mut progress::Terminal::new(quiet))
        .with_context(|| format!("--personalize {}", video.display()))?;
    let (out, scratch) = match &args.personalize_out {
        Some(out) => (out.clone(), None),
        None => {
            let scratch = ScratchDir::new("personalized")?;
            (scratch.path.join("stabilizer.onnx"), Some(scratch))
        }
    };
    steadyface_train::finetune::export(&adapted.weights, &out, &adapted.sidecar)?;
    eprintln!(
        "{}: stabilizer personalised: {} windows, {} steps; {:.1} s reading + {:.1} s training{}",
        video.display(),
        adapted.windows,
        adapted.steps,
        adapted.reading_seconds,
        adapted.training_seconds,
        args.personalize_out.as_ref().map(|p| format!("; written to {}", p.display())).unwrap_or_default()
    );
    Ok((out, scratch))
}

/// The backbone, detector and stabilizer to start from that the element would use.
fn models(properties: &[(String, String)]) -> anyhow::Result<[PathBuf; 3]> {
    let backbone = model_property(properties, "backbone", models_dir::BACKBONE);
    let detector = model_property(properties, "detector", models_dir::DETECTOR);
    let setting = property(properties, "stabilizer").unwrap_or(models_dir::SHIPPED_STABILIZER);
    let Some(stabilizer) = models_dir::stabilizer_setting(Path::new(setting), &backbone) else {
        bail!("--personalize adapts a stabilizer, and --stabilizer \"\" asks for none")
    };
    if !stabilizer.is_file() {
        bail!(
            "--personalize: no stabilizer to start from ({} does not exist; give --stabilizer PATH)",
            stabilizer.display()
        );
    }
    Ok([backbone, detector, stabilizer])
}
