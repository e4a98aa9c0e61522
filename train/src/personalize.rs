//! Personalisation (`steadyface track --personalize`): SBR's personalised adaptation (Dong et al.,
//! supervision-by-registration, §3.3) for the stabilizer. A trained stabilizer is adapted to one
//! recording with the objectives that need no labels (SBR's registration loss, TSAL's teacher,
//! the disturbed sequence), within a time budget, before that recording is tracked with it.
//! The windows, the step and the ONNX + sidecar writer are `finetune`'s.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::{DType, Device};

use super::cell::Cell;
use super::consistency::Objectives;
use super::data::{Cache, CacheWriter, Layout, Record, video_records};
use super::finetune::{Learner, Sampler, StepLog, TrainConfig, file_sha256};
use super::run::Progress;
use crate::error::{Error, Result};
use crate::synth::Rng;
use steadyface::onnx::{ConvLstmWeights, recognise};
use steadyface::pipeline::{ModelPaths, Models};
use steadyface::runtime::Device as OrtDevice;
use steadyface::scheme::Scheme;
use steadyface::stabilizer::{Sidecar, sidecar_path};

/// How a recording is adapted to. The defaults are what `track --personalize` uses
/// (docs/design.md, "Personalisation", says why).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Wall-clock time for the training steps (reading the video's windows comes first and is
    /// not counted: it is one pass over the video, like tracking it).
    pub budget: Duration,
    /// At most this many steps (`None`: as many as the budget allows); for reproducible runs.
    pub max_steps: Option<usize>,
    /// Frames per window (SBR needs two; the consistency terms compare a window's frames).
    pub frames: usize,
    /// Windows kept from the video, drawn evenly over all of it (reservoir sampling).
    pub windows: usize,
    /// Windows per step.
    pub batch: usize,
    /// Adam's learning rate, constant: a time budget gives no step count to decay over.
    pub learning_rate: f64,
    /// SBR's registration loss weight.
    pub gamma: f64,
    pub objectives: Objectives,
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            budget: Duration::from_secs(60),
            max_steps: None,
            frames: 8,
            windows: 64,
            batch: 8,
            learning_rate: 1e-3,
            gamma: 0.5,
            objectives: Objectives { teacher_weight: 1.0, disturb_weight: 1.0, ..Objectives::default() },
            seed: 1,
        }
    }
}

impl Settings {
    fn check(&self) -> Result<()> {
        if self.budget.is_zero() && self.max_steps != Some(0) {
            return Err(Error::Other("personalisation: a budget of 0 s leaves no time to adapt".into()));
        }
        if self.frames < 2 || self.windows == 0 || self.batch == 0 {
            return Err(Error::Other("personalisation: windows of at least 2 frames, and a batch, are needed".into()));
        }
        Ok(())
    }

    /// The starting stabilizer's training configuration with this adaptation's optimiser and
    /// objectives; its network shape comes from the weights themselves.
    fn config(&self, sidecar: Option<&Sidecar>, start: &ConvLstmWeights) -> Result<TrainConfig> {
        let recorded = sidecar.and_then(|s| s.config.clone());
        let mut config: TrainConfig = match recorded {
            Some(value) => serde_json::from_value(value)
                .map_err(|e| Error::Other(format!("the stabilizer's sidecar: its config: {e}")))?,
            None => TrainConfig::default(),
        };
        if let Some(s) = sidecar {
            config.heatmap_size = s.heatmap_size.unwrap_or(config.heatmap_size);
            config.heatmap_sigma = s.heatmap_sigma.unwrap_or(config.heatmap_sigma);
            config.pdc_threshold = s.pdc_threshold.unwrap_or(config.pdc_threshold);
        }
        config.hidden = start.spec.hidden;
        config.kernel = start.spec.kernel;
        config.steps = self.max_steps.unwrap_or(0);
        config.stop_after = None;
        config.batch = self.batch;
        config.learning_rate = self.learning_rate;
        config.gamma = self.gamma;
        config.objectives = self.objectives.clone();
        config.seed = self.seed;
        Ok(config)
    }
}

/// What to adapt, to what.
pub struct Job<'a> {
    pub video: &'a Path,
    /// The stabilizer to start from (ONNX, its sidecar beside it).
    pub stabilizer: &'a Path,
    pub backbone: &'a Path,
    pub detector: &'a Path,
    /// Where the backbone and detector run while the windows are read.
    pub device: OrtDevice,
    /// Recorded in the adapted stabilizer's sidecar.
    pub command_line: &'a str,
}

/// The adapted stabilizer, ready for [`crate::finetune::export`].
pub struct Adapted {
    pub weights: ConvLstmWeights,
    pub sidecar: Sidecar,
    pub steps: usize,
    pub windows: usize,
    /// Seconds reading the windows, then training.
    pub reading_seconds: f64,
    pub training_seconds: f64,
}

/// Adapts `job.stabilizer` to `job.video` (see the module documentation).
pub fn personalize(job: &Job, settings: &Settings, progress: &mut dyn Progress) -> Result<Adapted> {
    settings.check()?;
    let (start, sidecar) = load_stabilizer(job.stabilizer)?;
    let backbone_sha = file_sha256(job.backbone)?;
    if let Some(made_for) = sidecar.as_ref().and_then(|s| s.backbone_sha256.as_deref())
        && made_for != backbone_sha
    {
        return Err(Error::Other(format!(
            "{}: this stabilizer was trained for another backbone than {}; give one made for it (--stabilizer)",
            job.stabilizer.display(),
            job.backbone.display()
        )));
    }
    let config = settings.config(sidecar.as_ref(), &start)?;
    let read_started = Instant::now();
    let scratch = ScratchDir::new("windows")?;
    let cache = read_windows(job, &config, settings, &scratch, progress)?;
    let reading_seconds = read_started.elapsed().as_secs_f64();
    progress.say(&cache.summary.join("; "));
    let limits = Limits { budget: settings.budget, max_steps: settings.max_steps };
    // The bar counts steps: the given most, else as many as the first step's time says fit.
    progress.start("personalising", settings.max_steps.unwrap_or(0) as u64);
    let adapted = adapt(&start, &config, &cache, limits, &Device::Cpu, &mut |step, elapsed, log| {
        if step == 1 && settings.max_steps.is_none() {
            progress.finish();
            progress.start("personalising", (settings.budget.as_secs_f64() / elapsed.as_secs_f64().max(1e-3)) as u64);
        }
        progress.at(step as u64, &format!("loss {:.4} sbr {:.4}", log.loss, log.sbr));
    })?;
    progress.finish();
    let mut sidecar = sidecar.unwrap_or_default();
    sidecar.command = Some(job.command_line.to_string());
    sidecar.config = Some(serde_json::to_value(&config).map_err(|e| Error::Other(format!("the configuration: {e}")))?);
    sidecar.data.push(format!(
        "personalised from {} to {}: {}; {} steps in {:.1} s",
        job.stabilizer.display(),
        job.video.display(),
        cache.summary.join("; "),
        adapted.steps,
        adapted.seconds
    ));
    // Scores of the stabilizer started from; they do not describe this one.
    sidecar.validation = None;
    sidecar.validation_heatmap_level = None;
    Ok(Adapted {
        weights: adapted.weights,
        sidecar,
        steps: adapted.steps,
        windows: cache.len(),
        reading_seconds,
        training_seconds: adapted.seconds,
    })
}

/// A stabilizer's weights (it must be a ConvLSTM as `finetune` writes them) and its sidecar.
fn load_stabilizer(path: &Path) -> Result<(ConvLstmWeights, Option<Sidecar>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    let weights = recognise(&bytes).ok_or_else(|| {
        Error::Other(format!(
            "{}: not a stabilizer written by steadyface finetune; it cannot be adapted",
            path.display()
        ))
    })?;
    Ok((weights, Sidecar::read(&sidecar_path(path))?))
}

/// The video's windows (one face tracked throughout each), at most `settings.windows` of them
/// drawn evenly over the whole video, in a cache in `scratch`.
fn read_windows(
    job: &Job,
    config: &TrainConfig,
    settings: &Settings,
    scratch: &ScratchDir,
    progress: &mut dyn Progress,
) -> Result<Cache> {
    let paths = ModelPaths { detector: job.detector.into(), backbone: job.backbone.into(), stabilizer: None };
    let full = Models::load(&paths, job.device, Scheme::Full)?;
    let models = Models::load(&paths, job.device, Scheme::Ibug68)?;
    let layout = Layout {
        frames: settings.frames,
        points: models.selection().len(),
        heatmap: config.heatmap_size,
        crop: models.backbone.input_size(),
    };
    let (mut kept, mut seen, mut rng) = (Vec::<Record>::new(), 0usize, Rng::new(settings.seed));
    let frames = crate::video::numbered_frames(job.video).map(|f| f.len() as u64).unwrap_or(0);
    progress.start("reading windows (frames)", frames);
    let heatmap = config.heatmap();
    video_records(&full, &models, job.video, None, &heatmap, layout, usize::MAX, settings.seed, &mut |record| {
        seen += 1;
        progress.at((seen * layout.frames) as u64, "");
        // Reservoir sampling (Vitter's algorithm R): every window equally likely to be kept,
        // however long the video, in bounded memory.
        if kept.len() < settings.windows {
            kept.push(record);
        } else if let Some(slot) = kept.get_mut(rng.below(seen)) {
            *slot = record;
        }
        Ok(())
    })?;
    progress.finish();
    if kept.is_empty() {
        return Err(Error::Other(format!(
            "{}: no face tracked through {} consecutive frames anywhere in it; nothing to personalise to",
            job.video.display(),
            layout.frames
        )));
    }
    let mut writer = CacheWriter::create(&scratch.path, "personalise", layout)?;
    for record in &kept {
        writer.push(record)?;
    }
    writer.note(format!("{} windows of {} frames (of {seen})", kept.len(), layout.frames));
    writer.finish()
}

/// When adaptation stops: whichever comes first.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub budget: Duration,
    pub max_steps: Option<usize>,
}

/// The adapted weights, the steps taken and their seconds.
pub struct Adaptation {
    pub weights: ConvLstmWeights,
    pub steps: usize,
    pub seconds: f64,
}

/// Trains `start` on `cache` with `config` (finetune's step) until a limit is reached: no step
/// starts that the last one's duration says would end past the budget. `progress` gets
/// (step, time so far, the step's numbers) after each.
pub fn adapt(
    start: &ConvLstmWeights,
    config: &TrainConfig,
    cache: &Cache,
    limits: Limits,
    device: &Device,
    progress: &mut dyn FnMut(usize, Duration, &StepLog),
) -> Result<Adaptation> {
    let mut learner = Learner::new(Cell::new(start, device, DType::F32)?, config, device)?;
    let sampler = Sampler::new(cache, config.batch);
    let began = Instant::now();
    let (mut step, mut last) = (0, Duration::ZERO);
    while limits.max_steps.is_none_or(|m| step < m) && began.elapsed() + last <= limits.budget {
        let before = began.elapsed();
        step += 1;
        let log = learner.step(&sampler, step, config, 1.0, device)?;
        last = began.elapsed() - before;
        progress(step, began.elapsed(), &log);
    }
    Ok(Adaptation { weights: learner.cell.weights()?, steps: step, seconds: began.elapsed().as_secs_f64() })
}

/// A private folder under the system's temporary directory, removed with everything in it when
/// dropped (also on an error).
pub struct ScratchDir {
    pub path: PathBuf,
}

impl ScratchDir {
    pub fn new(what: &str) -> Result<Self> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let path = std::env::temp_dir().join(format!("steadyface-{what}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
        Ok(ScratchDir { path })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steadyface::models_dir;

    /// Silent progress.
    struct Quiet;
    impl Progress for Quiet {
        fn start(&mut self, _: &str, _: u64) {}
        fn at(&mut self, _: u64, _: &str) {}
        fn say(&mut self, _: &str) {}
        fn finish(&mut self) {}
    }

    fn testdata(name: &str) -> PathBuf {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().find(|d| d.join("models/MODELS.md").is_file());
        root.expect("the repository's root").join("../shared/testdata").join(name)
    }

    fn weights_of(w: &ConvLstmWeights) -> Vec<f32> {
        [&w.gates_w, &w.gates_b, &w.out_w, &w.out_b].into_iter().flatten().copied().collect()
    }

    /// The shipped stabilizer, 0 steps on two windows of single_face.mp4: the weights come back
    /// bit for bit; one step moves them.
    #[test]
    fn no_step_keeps_the_starting_weights_and_one_step_changes_them() {
        let stabilizer = models_dir::default_model(models_dir::STABILIZER);
        let (backbone, detector) =
            (models_dir::default_model(models_dir::BACKBONE), models_dir::default_model(models_dir::DETECTOR));
        let video = testdata("single_face.mp4");
        let job = Job {
            video: &video,
            stabilizer: &stabilizer,
            backbone: &backbone,
            detector: &detector,
            device: OrtDevice::Cpu,
            command_line: "test",
        };
        let settings = Settings { windows: 2, batch: 2, ..Settings::default() };
        let (start, sidecar) = load_stabilizer(&stabilizer).expect("the shipped stabilizer");
        let config = settings.config(sidecar.as_ref(), &start).expect("its configuration");
        let scratch = ScratchDir::new("test").expect("scratch folder");
        let cache = read_windows(&job, &config, &settings, &scratch, &mut Quiet).expect("windows");
        assert_eq!(cache.len(), 2);
        let run = |steps| {
            let limits = Limits { budget: Duration::from_secs(600), max_steps: Some(steps) };
            adapt(&start, &config, &cache, limits, &Device::Cpu, &mut |_, _, _| {}).expect("adapts")
        };
        let none = run(0);
        assert_eq!(none.steps, 0);
        assert!(weights_of(&none.weights) == weights_of(&start), "no step, same weights");
        let one = run(1);
        assert_eq!(one.steps, 1);
        let moved = weights_of(&one.weights).iter().zip(weights_of(&start)).filter(|(a, b)| *a != b).count();
        assert!(moved > 0, "one step changes the weights");
    }

    #[test]
    fn a_budget_of_zero_is_refused() {
        let settings = Settings { budget: Duration::ZERO, ..Settings::default() };
        assert!(settings.check().is_err());
    }
}
