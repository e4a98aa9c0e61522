//! `steadyface finetune`: options, data gathering, training, export and the held-out table.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::Device;

use super::consistency::Objectives;
use super::data::{
    Layout, MotionConfig, Notes, OnBadData, StillFace, image_files, on_bad, still_faces, still_sequence, video_records,
};
use super::evaluate::{HeldOut, evaluate, summary, table};
use super::finetune::{QuickEval, TrainConfig, WorkDir, cache_key, cached, export, file_sha256, train};
use crate::error::{Error, Result};
use crate::synth::Degradation;
use steadyface::models_dir;
use steadyface::pipeline::{ModelPaths, Models};
use steadyface::runtime::Device as OrtDevice;
use steadyface::scheme::Scheme;
use steadyface::stabilizer::sidecar::{Sidecar, Training};

/// Train a ConvLSTM stabilizer for a landmark backbone (Jitter loss + SBR).
#[derive(clap::Args, Debug, Clone)]
pub struct FinetuneArgs {
    /// Where to write the stabilizer (ONNX); its sidecar goes beside it (.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Landmark backbone the stabilizer is for (frozen; run through ONNX Runtime).
    #[arg(long, default_value_os_t = models_dir::default_model(models_dir::BACKBONE))]
    pub backbone: PathBuf,
    /// Face detector used to find the faces in the training data.
    #[arg(long, default_value_os_t = models_dir::default_model(models_dir::DETECTOR))]
    pub detector: PathBuf,
    /// Still images or directories of them; an image's `.pts` (same stem) is its label, else the
    /// backbone's own points on the clean image are.
    #[arg(long, num_args = 1..)]
    pub images: Vec<PathBuf>,
    /// Unlabelled videos (files GStreamer decodes, or directories of numbered frames) for the SBR
    /// registration loss.
    #[arg(long, num_args = 1..)]
    pub videos: Vec<PathBuf>,
    /// Labelled videos in the benchmark format (frames or a video, plus gt.jsonl).
    #[arg(long, num_args = 1..)]
    pub labelled_videos: Vec<PathBuf>,
    /// Windows (of --frames frames, one face tracked throughout) taken from each video at most.
    #[arg(long, default_value_t = 60)]
    pub windows_per_video: usize,
    /// Annotated images (`.pts` beside each) kept out of training, for validation and the final table.
    #[arg(long, num_args = 1..)]
    pub holdout: Vec<PathBuf>,
    /// Moving sequences made from the still images (spread evenly over their faces).
    #[arg(long, default_value_t = 1500)]
    pub sequences: usize,
    /// Frames per training sequence (the paper: 5-8). Still-image sequences are cut into
    /// segments of still, drifting and fast motion; the default stabilizer is trained on 16 frames
    /// so that it sees faces stop and stay still (models/MODELS.md).
    #[arg(long, default_value_t = 8)]
    pub frames: usize,
    /// Degradation levels drawn per sequence (comma-separated).
    #[arg(long, default_value = "clean,noise5,noise10,noise20,blur,jpeg30,combined")]
    pub levels: String,
    /// Keep still-image sequences to shifts only (no rotation or scaling).
    #[arg(long)]
    pub shift_only: bool,
    #[arg(long, default_value_t = TrainConfig::default().steps)]
    pub steps: usize,
    #[arg(long, default_value_t = TrainConfig::default().batch)]
    pub batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    pub lr: f64,
    /// Hidden channels per landmark.
    #[arg(long, default_value_t = TrainConfig::default().hidden)]
    pub hidden: usize,
    /// Convolution kernel side (odd).
    #[arg(long, default_value_t = TrainConfig::default().kernel)]
    pub kernel: usize,
    /// Heatmap side the stabilizer works at.
    #[arg(long, default_value_t = TrainConfig::default().heatmap_size)]
    pub heatmap_size: usize,
    /// Sigma of heatmaps rendered from a coordinate backbone's points (heatmap pixels).
    #[arg(long, default_value_t = TrainConfig::default().heatmap_sigma)]
    pub heatmap_sigma: f32,
    /// Jitter loss Θ (eq. 3, 7).
    #[arg(long, default_value_t = TrainConfig::default().theta)]
    pub theta: f64,
    /// Jitter loss ξ (eq. 3), heatmap pixels.
    #[arg(long, default_value_t = TrainConfig::default().xi)]
    pub xi: f64,
    /// Weight of the plain pixel loss beside the modulated one (eq. 8's λ).
    #[arg(long, default_value_t = TrainConfig::default().lambda)]
    pub lambda: f64,
    /// Θ_PDC, relative to each heatmap's maximum.
    #[arg(long, default_value_t = TrainConfig::default().pdc_threshold)]
    pub pdc_threshold: f64,
    /// Weight of the SBR registration loss on unlabelled video.
    #[arg(long, default_value_t = TrainConfig::default().gamma)]
    pub gamma: f64,
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    pub seed: u64,
    /// Landmarks trained on per step (a random subset; the cell is shared by all of them).
    #[arg(long, default_value_t = TrainConfig::default().landmarks_per_step)]
    pub landmarks_per_step: usize,
    /// Validate and log every this many steps.
    #[arg(long, default_value_t = TrainConfig::default().eval_every)]
    pub eval_every: usize,
    /// End this session after this step, with a checkpoint (`--resume` later continues to --steps
    /// on the same schedule).
    #[arg(long)]
    pub stop_after: Option<usize>,
    /// Continue from the checkpoint in the work directory.
    #[arg(long)]
    pub resume: bool,
    /// Working directory (cache, checkpoints, log); default: OUT with the extension `.train`.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// What to do with a bad data file: skip it (and say so) or stop.
    #[arg(long, value_parser = ["skip", "stop"], default_value = "skip")]
    pub on_bad_data: String,
    /// Frames per held-out sequence in the final table (0 skips the table).
    #[arg(long, default_value_t = 150)]
    pub eval_frames: usize,
    /// No progress bars (log lines only).
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub objectives: ObjectiveArgs,
}

/// What `finetune --help` says after the options: the objectives without labels, their papers
/// and losses (docs/design.md, "Objectives without labels", says more).
const OBJECTIVES_HELP: &str = "\
Objectives without labels (each off until its weight is positive; on every window of a step, \
--videos windows and synthetic sequences alike, labels unused; p = PDC-decoded points of the \
stabilized maps in window pixels, sg = stop-gradient, means over windows, frames and landmarks):
  STRRN, omni-supervised face alignment (Zhu et al.), cycle consistency:
    play x_1..x_T, x_{T-1}..x_1 as one sequence; L_cycle = mean_t |p_fwd(t) - p_bwd(t)|^2
    (--cycle-weight)
  STRRN pseudo-labels: where |p_fwd - p_bwd| < --pseudo-threshold, c = sg((p_fwd + p_bwd) / 2);
    L_pseudo = mean over those points of GemanMcClure(norm(s_fwd), Gaussian(c)) (--pseudo-weight)
  Self/semi-supervised tracking (Yin et al.), inverse sequence:
    L_inv = mean_t |p(x_1..x_t) - p(x_T..x_t)|^2 (--inverse-weight)
  Self/semi-supervised tracking, disturbed sequence: x~ = x + N(0, --disturb-noise^2), one frame
    dropped (its predecessor shown twice); L_dist = mean_t |p(x~)(t) - sg(p(x)(t))|^2
    (--disturb-weight)
  Self/semi-supervised tracking, frame-order pretext: before training, --pretrain-shuffle-steps
    steps of L_order = mean softplus(z) - y z, z = w . mean_{t,x,y} h_t + b from the cell's hidden
    states, y = 1 for a shuffled window, 0 in order (writes pretrain.csv)
  TSAL, teacher-student asynchronous learning (Meng et al.), multi-source consistency: teacher = EMA of the
    student, every --teacher-every steps theta_T <- d theta_T + (1 - d) theta_S (--ema-decay d);
    target q = p_teacher, and at SBR's frame f where SBR's LK registration r of the student's
    points of frame f-1 passes its gates, q = mu p_teacher + (1 - mu) r (--teacher-mu);
    L_teacher = mean |p_student - sg(q)|^2 (--teacher-weight)
Each weighted term has its column in the work directory's log.csv.";

/// The objectives without labels (see [`OBJECTIVES_HELP`]); defaults from [`Objectives`].
#[derive(clap::Args, Debug, Clone)]
#[command(after_long_help = OBJECTIVES_HELP)]
pub struct ObjectiveArgs {
    /// STRRN (omni-supervised face alignment) cycle consistency: weight of
    /// mean |p_fwd - p_bwd|^2 over the window played forward then back.
    #[arg(long, default_value_t = Objectives::default().cycle_weight, help_heading = OBJECTIVES)]
    pub cycle_weight: f64,
    /// STRRN pseudo-labels: weight of the pixel loss towards Gaussians at sg((p_fwd + p_bwd) / 2)
    /// where the two passes agree within --pseudo-threshold.
    #[arg(long, default_value_t = Objectives::default().pseudo_weight, help_heading = OBJECTIVES)]
    pub pseudo_weight: f64,
    /// STRRN pseudo-labels: largest forward-backward distance (heatmap pixels) of a pseudo-label.
    #[arg(long, default_value_t = Objectives::default().pseudo_threshold, help_heading = OBJECTIVES)]
    pub pseudo_threshold: f64,
    /// Self/semi-supervised tracking, inverse sequence: weight of mean_t |p(x_1..x_t) - p(x_T..x_t)|^2.
    #[arg(long, default_value_t = Objectives::default().inverse_weight, help_heading = OBJECTIVES)]
    pub inverse_weight: f64,
    /// Self/semi-supervised tracking, disturbed sequence: weight of mean |p(disturbed) - sg(p(clean))|^2.
    #[arg(long, default_value_t = Objectives::default().disturb_weight, help_heading = OBJECTIVES)]
    pub disturb_weight: f64,
    /// Disturbed sequence: standard deviation of the Gaussian noise on its maps (one frame is also dropped).
    #[arg(long, default_value_t = Objectives::default().disturb_noise, help_heading = OBJECTIVES)]
    pub disturb_noise: f64,
    /// Self/semi-supervised tracking, frame-order pretext: steps of telling ordered from shuffled
    /// windows (binary cross-entropy on the cell's hidden states) before training.
    #[arg(long, default_value_t = Objectives::default().pretrain_shuffle_steps, help_heading = OBJECTIVES)]
    pub pretrain_shuffle_steps: usize,
    /// TSAL teacher-student: weight of mean |p_student - sg(q)|^2, q the EMA teacher's points
    /// blended with SBR's registration.
    #[arg(long, default_value_t = Objectives::default().teacher_weight, help_heading = OBJECTIVES)]
    pub teacher_weight: f64,
    /// TSAL: the teacher's EMA decay d (theta_T <- d theta_T + (1 - d) theta_S), in [0, 1].
    #[arg(long, default_value_t = Objectives::default().ema_decay, help_heading = OBJECTIVES)]
    pub ema_decay: f64,
    /// TSAL: the teacher absorbs the student every this many steps.
    #[arg(long, default_value_t = Objectives::default().teacher_every, help_heading = OBJECTIVES)]
    pub teacher_every: usize,
    /// TSAL: the teacher's share mu of the target where SBR registered a point (the rest is the registration), in [0, 1].
    #[arg(long, default_value_t = Objectives::default().teacher_mu, help_heading = OBJECTIVES)]
    pub teacher_mu: f64,
}

const OBJECTIVES: &str = "Objectives without labels (off by default; formulas after the options in --help)";

impl ObjectiveArgs {
    fn objectives(&self) -> Objectives {
        Objectives {
            cycle_weight: self.cycle_weight,
            pseudo_weight: self.pseudo_weight,
            pseudo_threshold: self.pseudo_threshold,
            inverse_weight: self.inverse_weight,
            disturb_weight: self.disturb_weight,
            disturb_noise: self.disturb_noise,
            pretrain_shuffle_steps: self.pretrain_shuffle_steps,
            teacher_weight: self.teacher_weight,
            ema_decay: self.ema_decay,
            teacher_every: self.teacher_every,
            teacher_mu: self.teacher_mu,
        }
    }

    fn check(&self) -> Result<()> {
        let weights = [
            ("--cycle-weight", self.cycle_weight),
            ("--pseudo-weight", self.pseudo_weight),
            ("--inverse-weight", self.inverse_weight),
            ("--disturb-weight", self.disturb_weight),
            ("--disturb-noise", self.disturb_noise),
            ("--teacher-weight", self.teacher_weight),
        ];
        if let Some((name, v)) = weights.iter().find(|(_, v)| !(v.is_finite() && *v >= 0.0)) {
            return Err(Error::Other(format!("{name} {v}: must be a number >= 0")));
        }
        let unit = [("--ema-decay", self.ema_decay), ("--teacher-mu", self.teacher_mu)];
        if let Some((name, v)) = unit.iter().find(|(_, v)| !(0.0..=1.0).contains(v)) {
            return Err(Error::Other(format!("{name} {v}: must be between 0 and 1")));
        }
        if !(self.pseudo_threshold.is_finite() && self.pseudo_threshold > 0.0) || self.teacher_every == 0 {
            return Err(Error::Other("--pseudo-threshold and --teacher-every must be positive".into()));
        }
        Ok(())
    }
}

impl FinetuneArgs {
    /// The working directory (cache, checkpoints, log.csv).
    pub fn work_dir(&self) -> PathBuf {
        self.work_dir.clone().unwrap_or_else(|| default_work_dir(&self.out))
    }

    fn config(&self) -> TrainConfig {
        TrainConfig {
            steps: self.steps,
            batch: self.batch,
            learning_rate: self.lr,
            hidden: self.hidden,
            kernel: self.kernel,
            heatmap_size: self.heatmap_size,
            heatmap_sigma: self.heatmap_sigma,
            theta: self.theta,
            xi: self.xi,
            lambda: self.lambda,
            pdc_threshold: self.pdc_threshold,
            gamma: self.gamma,
            seed: self.seed,
            eval_every: self.eval_every.max(1),
            checkpoint_every: self.eval_every.max(1),
            landmarks_per_step: self.landmarks_per_step,
            stop_after: self.stop_after,
            objectives: self.objectives.objectives(),
        }
    }

    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Other(m));
        if self.frames < 2 {
            return bad(format!("--frames {}: sequences need at least 2 frames", self.frames));
        }
        if self.kernel.is_multiple_of(2) || self.hidden == 0 || self.heatmap_size < 4 {
            return bad("--kernel must be odd, --hidden positive, --heatmap-size at least 4".into());
        }
        if self.batch == 0 || self.lr <= 0.0 || !self.lr.is_finite() {
            return bad("--batch must be positive and --lr a positive number".into());
        }
        self.objectives.check()?;
        if self.holdout.is_empty() {
            return bad("--holdout: give at least one annotated image (with .pts) kept out of training".into());
        }
        Ok(())
    }
}

/// What a run tells while it works; the caller shows it (the CLI draws progress bars).
pub trait Progress {
    /// A phase of `len` units of work starts ("sequences", "training").
    fn start(&mut self, phase: &str, len: u64);
    /// `position` units of the current phase are done; `status` says how it goes.
    fn at(&mut self, position: u64, status: &str);
    /// A line worth keeping (what the data gave, validation results).
    fn say(&mut self, line: &str);
    /// The current phase is over.
    fn finish(&mut self);
}

/// Faces of all still images; bad files are skipped or stop the run as the user chose.
fn load_faces(models: &Arc<Models>, paths: &[PathBuf], policy: OnBadData, notes: &mut Notes) -> Result<Vec<StillFace>> {
    let mut faces = Vec::new();
    for image in image_files(paths)? {
        if let Some(found) = on_bad(policy, still_faces(models, &image), notes)? {
            if found.is_empty() {
                notes.lines.push(format!("{}: no face found", image.display()));
            }
            faces.extend(found);
        }
    }
    Ok(faces)
}

/// The annotated faces of the held-out images and the images they come from. Each image needs its
/// `.pts`; a bad one is skipped or stops the run as the user chose, and when none is left the
/// error says why each was skipped (file and line).
fn load_holdout(
    models: &Arc<Models>,
    paths: &[PathBuf],
    policy: OnBadData,
    notes: &mut Notes,
) -> Result<(Vec<StillFace>, Vec<PathBuf>)> {
    let (mut faces, mut images, skipped_before) = (Vec::new(), Vec::new(), notes.skipped.len());
    for image in image_files(paths)? {
        let pts = image.with_extension("pts");
        let annotated = if pts.is_file() {
            still_faces(models, &image).map(|found| found.into_iter().filter(|f| f.annotated).collect())
        } else {
            Err(Error::Other(format!(
                "{}: a held-out image needs its annotation beside it, and {} does not exist",
                image.display(),
                pts.display()
            )))
        };
        if let Some(found) = on_bad::<Vec<StillFace>>(policy, annotated, notes)?.filter(|f| !f.is_empty()) {
            faces.extend(found);
            images.push(image);
        }
    }
    if faces.is_empty() {
        return Err(Error::Other(format!(
            "--holdout: no annotated face found in the held-out images{}",
            notes.because(skipped_before)
        )));
    }
    Ok((faces, images))
}

/// What a finished run reports.
#[derive(Debug)]
pub struct Finetuned {
    /// What was written, how long it took, and the held-out scores at the heatmap level.
    pub summary: String,
    /// The held-out table of the whole pipeline (empty with `--eval-frames 0`).
    pub report: String,
    /// The bad data skipped (`--on-bad-data skip`), each naming its file and line; for the
    /// caller to tell the user.
    pub skipped: Vec<String>,
}

/// The whole command.
pub fn finetune(args: &FinetuneArgs, command_line: &str, progress: &mut dyn Progress) -> Result<Finetuned> {
    args.check()?;
    let started = Instant::now();
    let config = args.config();
    let policy = if args.on_bad_data == "stop" { OnBadData::Stop } else { OnBadData::Skip };
    let work = WorkDir { dir: args.work_dir() };
    std::fs::create_dir_all(&work.dir).map_err(|e| Error::Other(format!("{}: {e}", work.dir.display())))?;
    // The model is written at the end: its folder is made now, so a long run cannot fail there.
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::Other(format!("--out {}: {e}", parent.display())))?;
    }
    let paths = ModelPaths { detector: args.detector.clone(), backbone: args.backbone.clone(), stabilizer: None };
    let full = Models::load(&paths, OrtDevice::Cpu, Scheme::Full)?;
    let models = Models::load(&paths, OrtDevice::Cpu, Scheme::Ibug68)?;
    if let Some(why) = &models.backbone.assumed {
        progress.say(&format!("warning: {why}"));
    }
    let backbone_sha = file_sha256(&args.backbone)?;
    let heatmap = config.heatmap();
    let layout = Layout {
        frames: args.frames,
        points: models.selection().len(),
        heatmap: heatmap.size,
        crop: models.backbone.input_size(),
    };
    let degradations = args.levels.split(',').map(|l| Degradation::parse(l.trim())).collect::<Result<Vec<_>>>()?;
    let motion = MotionConfig {
        frames: args.frames,
        degradations,
        rotate: !args.shift_only,
        scale: !args.shift_only,
        ..MotionConfig::default()
    };
    let mut notes = Notes::default();

    // Data: the faces, then the cache of moving sequences (reused when nothing changed).
    let faces = load_faces(&full, &args.images, policy, &mut notes)?;
    let (holdout_faces, holdout_images) = load_holdout(&full, &args.holdout, policy, &mut notes)?;
    let mut key_parts = vec![
        "steadyface-cache-v1".to_string(),
        backbone_sha.clone(),
        format!("{layout:?} {heatmap:?} {motion:?} {} {}", args.sequences, args.seed),
    ];
    for image in image_files(&args.images)? {
        key_parts.push(format!("{} {}", image.display(), file_sha256(&image)?));
    }
    key_parts.push(format!("windows {}", args.windows_per_video));
    for video in args.videos.iter().chain(&args.labelled_videos) {
        key_parts.push(format!("video {} {}", video.display(), fingerprint(video)));
    }
    let key = cache_key(&key_parts);
    progress.start("sequences", args.sequences as u64);
    let (train_cache, reused) = cached(&work.cache("train"), &key, layout, &mut |writer| {
        if faces.is_empty() && args.videos.is_empty() && args.labelled_videos.is_empty() {
            return Err(Error::Other(format!(
                "no training data: no face found in --images and no --videos given{}",
                notes.because(0)
            )));
        }
        for i in (0..args.sequences).take_while(|_| !faces.is_empty()) {
            let face = &faces[i % faces.len()];
            let seed = args.seed.wrapping_mul(7_919).wrapping_add(i as u64);
            if let Some(record) =
                on_bad(policy, still_sequence(&models, face, &motion, &heatmap, layout, seed), &mut notes)?
            {
                writer.push(&record)?;
            }
            progress.at(i as u64 + 1, "");
        }
        let annotated = faces.iter().filter(|f| f.annotated).count();
        writer.note(format!(
            "{} moving sequences from {} faces ({annotated} annotated, {} labelled by the backbone)",
            writer.len(),
            faces.len(),
            faces.len() - annotated
        ));
        let videos = args.videos.iter().map(|v| (v, false)).chain(args.labelled_videos.iter().map(|v| (v, true)));
        for (i, (video, labelled)) in videos.enumerate() {
            let seed = args.seed.wrapping_mul(15_485_863).wrapping_add(i as u64);
            let made = on_bad(
                policy,
                add_video(&full, &models, video, labelled, &heatmap, layout, args.windows_per_video, seed, writer),
                &mut notes,
            )?;
            if let Some(made) = made {
                let kind = if labelled { "labelled" } else { "unlabelled (SBR)" };
                writer.note(format!("{}: {made} {kind} windows of {} frames", video.display(), layout.frames));
                progress.say(&format!("{}: {made} windows", video.display()));
            }
        }
        Ok(())
    })?;
    progress.finish();
    progress.say(&format!("training cache: {} sequences{}", train_cache.len(), if reused { " (reused)" } else { "" }));
    let holdout_key = cache_key(&[key.clone(), "holdout".into()]);
    let (holdout_cache, _) = cached(&work.cache("holdout"), &holdout_key, layout, &mut |writer| {
        for i in 0..32 {
            let face = &holdout_faces[i % holdout_faces.len()];
            let seed = args.seed.wrapping_mul(104_729).wrapping_add(1_000_000 + i as u64);
            writer.push(&still_sequence(&models, face, &motion, &heatmap, layout, seed)?)?;
        }
        Ok(())
    })?;

    // Training.
    let device = Device::Cpu;
    progress.start("training", config.steps as u64);
    let outcome = train(
        &config,
        &train_cache,
        &holdout_cache,
        &key,
        &work,
        args.resume,
        &device,
        &mut |step, _, log, val| {
            progress.at(step as u64, &format!("loss {:.4} sbr {:.4}", log.loss, log.sbr));
            if let Some(v) = val {
                progress.say(&format!(
                    "step {step}: held-out NMJ {:.3}% -> {:.3}%, NME {:.2}% -> {:.2}% (backbone -> stabilized, heatmap level)",
                    v.nmj_raw, v.nmj_stabilized, v.nme_raw, v.nme_stabilized
                ));
            }
        },
    )?;
    progress.finish();

    // Export, then the whole pipeline on held-out moving sequences.
    let mut sidecar = Sidecar {
        points: Some(layout.points),
        hidden: Some(config.hidden),
        kernel: Some(config.kernel),
        heatmap_size: Some(heatmap.size),
        heatmap_sigma: Some(heatmap.sigma),
        window: Some(crate::finetune::WINDOW),
        pdc_threshold: Some(config.pdc_threshold),
        backbone: args.backbone.file_name().map(|n| n.to_string_lossy().into_owned()),
        backbone_sha256: Some(backbone_sha),
        command: Some(command_line.to_string()),
        config: Some(serde_json::to_value(&config).map_err(|e| Error::Other(format!("the configuration: {e}")))?),
        data: train_cache.summary.iter().chain(&notes.lines).cloned().collect(),
        training: Some(Training { steps: outcome.steps, seconds: outcome.seconds }),
        validation_heatmap_level: Some(serde_json::json!({"before": outcome.before, "after": outcome.after})),
        validation: None,
    };
    export(&outcome.weights, &args.out, &sidecar)?;
    let mut report = String::new();
    if args.eval_frames > 0 {
        let held = HeldOut { frames: args.eval_frames, ..HeldOut::new(holdout_images) };
        let rows = evaluate(&args.detector, &args.backbone, Some(&args.out), &held, |name| {
            progress.say(&format!("evaluating {name}"))
        })?;
        let means = summary(&rows);
        report = format!("{}\n{}", table(&rows), table(&means));
        sidecar.validation = Some(serde_json::json!({"sequences": rows, "mean": means, "held_out": held.images}));
        export(&outcome.weights, &args.out, &sidecar)?;
    }
    let summary = format!(
        "wrote {} ({} steps, {:.0} s training, {:.0} s in all)\n{}",
        args.out.display(),
        outcome.steps,
        outcome.seconds,
        started.elapsed().as_secs_f64(),
        quick(&outcome.before, &outcome.after)
    );
    Ok(Finetuned { summary, report, skipped: notes.skipped })
}

fn quick(before: &QuickEval, after: &QuickEval) -> String {
    format!(
        "held-out (heatmap level): NME {:.2}% -> {:.2}%, NMJ {:.3}% -> {:.3}% (backbone alone -> stabilized)",
        before.nme_raw, after.nme_stabilized, before.nmj_raw, after.nmj_stabilized
    )
}

/// Windows of one video into the cache (labels from its `gt.jsonl` when `labelled`).
#[allow(clippy::too_many_arguments)]
fn add_video(
    full: &Arc<Models>,
    models: &Models,
    video: &Path,
    labelled: bool,
    heatmap: &steadyface::heatmap::HeatmapSpec,
    layout: Layout,
    windows: usize,
    seed: u64,
    writer: &mut super::data::CacheWriter,
) -> Result<usize> {
    let labels = if labelled {
        let numbers = crate::video::frame_numbers(video)?;
        let gt = if video.is_dir() { video.join("gt.jsonl") } else { video.with_file_name("gt.jsonl") };
        Some(steadyface::benchmark::read_gt(&gt, &numbers)?)
    } else {
        None
    };
    video_records(full, models, video, labels.as_deref(), heatmap, layout, windows, seed, &mut |r| writer.push(&r))
}

/// Size and modification time of a file, or of a directory's entries: enough to notice a changed
/// video without hashing it.
fn fingerprint(path: &Path) -> String {
    let stat =
        |p: &Path| std::fs::metadata(p).map(|m| format!("{}:{:?}", m.len(), m.modified().ok())).unwrap_or_default();
    if path.is_dir() {
        let mut entries: Vec<String> = std::fs::read_dir(path)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| format!("{} {}", e.path().display(), stat(&e.path()))).collect())
            .unwrap_or_default();
        entries.sort();
        entries.join(";")
    } else {
        stat(path)
    }
}

/// Default working directory of an output path.
pub fn default_work_dir(out: &Path) -> PathBuf {
    out.with_extension("train")
}
