//! The training run behind `steadyface finetune`: build (or reuse) the heatmap cache, train the
//! ConvLSTM with the Jitter loss (+ SBR on unlabelled video), checkpoint, export ONNX + sidecar.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::cell::Cell;
use super::consistency::{self as cons, Objectives};
use super::data::{Cache, CacheWriter, Kind, Layout, Record};
use super::loss::{JitterLossConfig, LossParts, jitter_loss, pdc};
use crate::error::{Error, Result};
use crate::synth::Rng;
use steadyface::decode::Decoder;
use steadyface::heatmap::{HeatmapSpec, render};
use steadyface::metrics::{inner49, nme, nmj};
use steadyface::onnx::{ConvLstmSpec, ConvLstmWeights, convlstm_model, write_model};
use steadyface::output::{Output, write};
use steadyface::stabilizer::{Sidecar, Windows};

/// Everything a run needs; `steadyface finetune`'s options map onto it one to one.
/// Also recorded in the stabilizer's sidecar; a field added later reads as its default from
/// sidecars written before it, so that they keep loading.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    pub steps: usize,
    /// Sequences per step, split evenly over the kinds of data present.
    pub batch: usize,
    pub learning_rate: f64,
    pub hidden: usize,
    pub kernel: usize,
    pub heatmap_size: usize,
    pub heatmap_sigma: f32,
    pub theta: f64,
    pub xi: f64,
    pub lambda: f64,
    pub pdc_threshold: f64,
    /// Weight of the registration loss (SBR's gamma).
    pub gamma: f64,
    pub seed: u64,
    /// Validate every this many steps.
    pub eval_every: usize,
    /// Checkpoint every this many steps.
    pub checkpoint_every: usize,
    /// Landmarks (of K) trained on per step, drawn at random.
    pub landmarks_per_step: usize,
    /// End this session after this step (checkpointed; `--resume` goes on to `steps`).
    #[serde(default)]
    pub stop_after: Option<usize>,
    /// The objectives on windows without labels (all off by default).
    pub objectives: Objectives,
}

impl Default for TrainConfig {
    fn default() -> Self {
        let loss = JitterLossConfig::default();
        TrainConfig {
            steps: 3000,
            batch: 12,
            learning_rate: 1e-4,
            hidden: 2,
            kernel: 3,
            heatmap_size: 24,
            heatmap_sigma: 1.5,
            theta: loss.theta,
            xi: loss.xi,
            lambda: loss.lambda,
            pdc_threshold: loss.pdc_threshold,
            gamma: 0.5,
            seed: 1,
            eval_every: 250,
            checkpoint_every: 250,
            landmarks_per_step: 17,
            stop_after: None,
            objectives: Objectives::default(),
        }
    }
}

impl TrainConfig {
    pub fn spec(&self, points: usize) -> ConvLstmSpec {
        ConvLstmSpec { points, hidden: self.hidden, kernel: self.kernel }
    }

    pub fn heatmap(&self) -> HeatmapSpec {
        HeatmapSpec { size: self.heatmap_size, sigma: self.heatmap_sigma }
    }

    pub fn loss(&self) -> JitterLossConfig {
        JitterLossConfig { theta: self.theta, xi: self.xi, lambda: self.lambda, pdc_threshold: self.pdc_threshold }
    }
}

/// Adam (Kingma & Ba) with its moments as tensors, so a checkpoint can hold them and `--resume`
/// continues exactly (candle's optimisers keep their state private).
pub struct Adam {
    lr: f64,
    step: i32,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

impl Adam {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPS: f64 = 1e-8;

    pub fn new(vars: &[Var], lr: f64) -> Result<Self> {
        let zeros = |v: &Var| v.as_tensor().zeros_like();
        Ok(Adam {
            lr,
            step: 0,
            m: vars.iter().map(zeros).collect::<candle_core::Result<_>>()?,
            v: vars.iter().map(zeros).collect::<candle_core::Result<_>>()?,
        })
    }

    /// One update with learning rate `lr * scale` (the caller's schedule).
    pub fn step(&mut self, vars: &[Var], grads: &candle_core::backprop::GradStore, scale: f64) -> Result<()> {
        self.step += 1;
        let c1 = 1.0 - Self::BETA1.powi(self.step);
        let c2 = 1.0 - Self::BETA2.powi(self.step);
        for (i, var) in vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else { continue };
            self.m[i] = ((&self.m[i] * Self::BETA1)? + (g * (1.0 - Self::BETA1))?)?;
            self.v[i] = ((&self.v[i] * Self::BETA2)? + (g.sqr()? * (1.0 - Self::BETA2))?)?;
            let update = ((&self.m[i] / c1)? / ((&self.v[i] / c2)?.sqrt()? + Self::EPS)?)?;
            var.set(&(var.as_tensor() - (update * (self.lr * scale))?)?)?;
        }
        Ok(())
    }
}

/// Where a run keeps its working files (next to the output unless told otherwise).
pub struct WorkDir {
    pub dir: PathBuf,
}

impl WorkDir {
    pub fn checkpoint(&self) -> PathBuf {
        self.dir.join("checkpoint.safetensors")
    }
    pub fn checkpoint_meta(&self) -> PathBuf {
        self.dir.join("checkpoint.json")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("log.csv")
    }
    pub fn cache(&self, name: &str) -> PathBuf {
        self.dir.join("cache").join(name)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct CheckpointMeta {
    step: usize,
    adam_step: i32,
    config: TrainConfig,
    cache_key: String,
}

/// Saves weights (the TSAL teacher's too, when there is one) and optimiser moments through
/// [`steadyface::output`] (temporary files renamed into place).
/// The tensors file holds its own step (`progress`: step, Adam's step), so that a run killed
/// between the two files resumes from the weights it has, not from the JSON's older step.
fn save_checkpoint(
    work: &WorkDir,
    cell: &Cell,
    teacher: Option<&Cell>,
    adam: &Adam,
    meta: &CheckpointMeta,
) -> Result<()> {
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for (i, var) in cell.vars().iter().enumerate() {
        tensors.insert(format!("w{i}"), var.as_tensor().clone());
        tensors.insert(format!("m{i}"), adam.m[i].clone());
        tensors.insert(format!("v{i}"), adam.v[i].clone());
    }
    for (i, var) in teacher.map(Cell::vars).unwrap_or_default().iter().enumerate() {
        tensors.insert(format!("t{i}"), var.as_tensor().clone());
    }
    tensors.insert("progress".into(), Tensor::new(&[meta.step as i64, i64::from(meta.adam_step)], &Device::Cpu)?);
    let out = Output::create(&work.checkpoint())?;
    candle_core::safetensors::save(&tensors, out.path())?;
    out.commit()?;
    let text = serde_json::to_string_pretty(meta).map_err(|e| Error::Other(e.to_string()))?;
    Ok(write(&work.checkpoint_meta(), text.as_bytes())?)
}

/// Restores weights (and the teacher's) and moments; the checkpoint must come from the same
/// configuration and data.
fn load_checkpoint(
    work: &WorkDir,
    cell: &Cell,
    teacher: Option<&Cell>,
    adam: &mut Adam,
    config: &TrainConfig,
    key: &str,
) -> Result<usize> {
    let meta_path = work.checkpoint_meta();
    let text = std::fs::read_to_string(&meta_path)
        .map_err(|e| Error::Other(format!("--resume: {}: {e}", meta_path.display())))?;
    let meta: CheckpointMeta =
        serde_json::from_str(&text).map_err(|e| Error::Other(format!("{}:{}: {e}", meta_path.display(), e.line())))?;
    let mut a = serde_json::to_value(&meta.config).map_err(|e| Error::Other(e.to_string()))?;
    let mut b = serde_json::to_value(config).map_err(|e| Error::Other(e.to_string()))?;
    // The step count may grow on resume, and sessions end where they like; the rest must match.
    for v in [&mut a, &mut b] {
        if let Some(o) = v.as_object_mut() {
            o.remove("steps");
            o.remove("stop_after");
        }
    }
    if a != b || meta.cache_key != key {
        return Err(Error::Other(format!(
            "--resume: {} was written by a run with other options or data; start afresh without --resume",
            meta_path.display()
        )));
    }
    let tensors = candle_core::safetensors::load(work.checkpoint(), &Device::Cpu)?;
    let get = |name: String| {
        tensors.get(&name).cloned().ok_or_else(|| Error::Other(format!("checkpoint lacks tensor {name}")))
    };
    for (i, var) in cell.vars().iter().enumerate() {
        var.set(&get(format!("w{i}"))?)?;
        adam.m[i] = get(format!("m{i}"))?;
        adam.v[i] = get(format!("v{i}"))?;
    }
    for (i, var) in teacher.map(Cell::vars).unwrap_or_default().iter().enumerate() {
        var.set(&get(format!("t{i}"))?)?;
    }
    // The tensors' own step where they have one (see save_checkpoint); the JSON's otherwise.
    let (step, adam_step) = match tensors.get("progress") {
        Some(progress) => match progress.to_vec1::<i64>()?[..] {
            [step, adam_step] => (step as usize, adam_step as i32),
            _ => return Err(Error::Other("checkpoint: progress is not [step, adam step]".into())),
        },
        None => (meta.step, meta.adam_step),
    };
    adam.step = adam_step;
    Ok(step)
}

/// Side of the window around each landmark that the cell runs on, in training and (through the
/// sidecar's `window`) in the element. The cell is shared by the landmarks and convolutional, so
/// a landmark's map far from its blob only carries the background; 12x12 windows instead of whole
/// 24x24 maps make training and the element's stabilizer several times faster than 64x64 on a
/// CPU (candle's elementwise ops dominate; docs/benchmarks.md).
pub const WINDOW: usize = 12;

/// A batch as tensors, each landmark cut to its window.
struct Batch {
    /// `[B,T,K,S,S]` windows of the backbone's maps; rows `0..labelled` have targets.
    maps: Tensor,
    labelled: usize,
    /// `[B,K,2]` where each window starts in its map (heatmap pixels, x then y).
    origins: Tensor,
    target_maps: Option<Tensor>,
    target_points: Option<Tensor>,
    valid: Option<Tensor>,
    /// SBR part: `[Bu,2,crop,crop]` grey in [0, 1] (frames `sbr_frame - 1` and `sbr_frame`).
    grey: Option<Tensor>,
    sbr_frame: usize,
}

/// Cuts every landmark's window out of a record's maps; the window is placed where the backbone
/// put the landmark in the first frame (decoded as the runtime decodes), as the runtime places it.
fn windows(
    record: &Record,
    layout: Layout,
    threshold: f32,
    picked: &[usize],
    out: &mut Vec<f32>,
    origins: &mut Vec<f32>,
) {
    let (t, k, n) = (layout.frames, layout.points, layout.heatmap);
    let plane = n * n;
    let (first, _) = Decoder::PdcSoft { threshold }.decode(&record.maps[..k * plane], k, n, n);
    let placed = Windows::around(&first, WINDOW, None);
    let mut window = vec![0.0; WINDOW * WINDOW];
    for &j in picked {
        let [ox, oy] = placed.origins[j];
        origins.extend([ox as f32, oy as f32]);
        for f in 0..t {
            placed.cut(j, &record.maps[(f * k + j) * plane..(f * k + j + 1) * plane], n, &mut window);
            out.extend_from_slice(&window);
        }
    }
}

fn batch_tensors(
    records: &[Record],
    layout: Layout,
    config: &TrainConfig,
    rng: &mut Rng,
    device: &Device,
) -> Result<Batch> {
    let (t, g) = (layout.frames, layout.crop);
    // The cell is shared by the landmarks, so a random subset per step teaches it as much per
    // landmark at a fraction of the cost, and leaves room for more sequences per step.
    let mut picked: Vec<usize> = (0..layout.points).collect();
    for i in 0..picked.len() {
        let j = i + rng.below(picked.len() - i);
        picked.swap(i, j);
    }
    picked.truncate(config.landmarks_per_step.clamp(1, layout.points));
    let k = picked.len();
    let s = WINDOW;
    let spec = HeatmapSpec { size: s, sigma: config.heatmap_sigma };
    let labelled: Vec<&Record> = records.iter().filter(|r| r.kind != Kind::Unlabelled).collect();
    let unlabelled: Vec<&Record> = records.iter().filter(|r| r.kind == Kind::Unlabelled).collect();
    let ordered: Vec<&Record> = labelled.iter().chain(&unlabelled).copied().collect();
    let (mut cut, mut origins) = (Vec::new(), Vec::new());
    for r in &ordered {
        // windows() writes landmark-major; the tensor wants frame-major [T,K,S,S].
        let mut per_landmark = Vec::with_capacity(t * k * s * s);
        windows(r, layout, config.pdc_threshold as f32, &picked, &mut per_landmark, &mut origins);
        for f in 0..t {
            for j in 0..k {
                cut.extend_from_slice(&per_landmark[(j * t + f) * s * s..(j * t + f + 1) * s * s]);
            }
        }
    }
    let b = ordered.len();
    let maps = Tensor::from_vec(cut, (b, t, k, s, s), device)?;
    let origin_values = origins.clone();
    let origins = Tensor::from_vec(origins, (b, k, 2), device)?;
    let (mut target_maps, mut target_points, mut valid) = (None, None, None);
    if !labelled.is_empty() {
        let bl = labelled.len();
        let mut tm = vec![0.0f32; bl * t * k * s * s];
        let mut tp = vec![0.0f32; bl * t * k * 2];
        let mut ok = vec![0.0f32; bl * t * k];
        for (i, r) in labelled.iter().enumerate() {
            for f in 0..t {
                let at = (i * t + f) * k;
                let pts: Vec<[f32; 2]> = picked
                    .iter()
                    .enumerate()
                    .map(|(j, &lm)| {
                        let o = &origin_values[(i * k + j) * 2..(i * k + j) * 2 + 2];
                        let at = (f * layout.points + lm) * 2;
                        [r.targets[at] - o[0], r.targets[at + 1] - o[1]]
                    })
                    .collect();
                render(&pts, &spec, &mut tm[at * s * s..(at + k) * s * s]);
                for (j, p) in pts.iter().enumerate() {
                    // Known, and inside the window (a target outside it cannot be reached there).
                    let inside = p.iter().all(|&v| v.is_finite() && v >= 0.0 && v <= (s - 1) as f32);
                    if inside {
                        tp[(at + j) * 2..(at + j) * 2 + 2].copy_from_slice(p);
                        ok[at + j] = 1.0;
                    }
                }
            }
        }
        // A point is used only if it is known in every frame (Ψ compares neighbours).
        for i in 0..bl {
            for j in 0..k {
                let all = (0..t).all(|f| ok[(i * t + f) * k + j] > 0.0);
                for f in 0..t {
                    ok[(i * t + f) * k + j] = if all { 1.0 } else { 0.0 };
                }
            }
        }
        target_maps = Some(Tensor::from_vec(tm, (bl, t, k, s, s), device)?);
        target_points = Some(Tensor::from_vec(tp, (bl, t, k, 2), device)?);
        valid = Some(Tensor::from_vec(ok, (bl, t, k), device)?);
    }
    // SBR: one random pair of consecutive frames per step keeps the LK cost bounded.
    let sbr_frame = 1 + rng.below(t - 1);
    let grey = if unlabelled.is_empty() {
        None
    } else {
        let data: Vec<f32> = unlabelled
            .iter()
            .flat_map(|r| r.grey[(sbr_frame - 1) * g * g..(sbr_frame + 1) * g * g].iter().map(|&v| v as f32 / 255.0))
            .collect();
        Some(Tensor::from_vec(data, (unlabelled.len(), 2, g, g), device)?)
    };
    Ok(Batch { maps, labelled: labelled.len(), origins, target_maps, target_points, valid, grey, sbr_frame })
}

/// Per-step numbers for the log.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepLog {
    pub loss: f64,
    pub jitter: f64,
    pub parts: LossParts,
    pub sbr: f64,
    pub sbr_kept: usize,
    /// The objectives on windows without labels, each as added to the loss (weighted).
    pub cycle: f64,
    pub pseudo: f64,
    /// Points whose forward and backward passes agreed within the threshold (pseudo-labels).
    pub pseudo_kept: usize,
    pub inverse: f64,
    pub disturb: f64,
    pub teacher: f64,
}

/// Window pixels `[..., K, 2]` (with each window's origin `[B,K,2]` broadcast over the middle
/// dims) -> heatmap pixels -> crop pixels (edges aligned, see steadyface::heatmap).
fn crop_points(points: &Tensor, origins: &Tensor, layout: Layout) -> Result<Tensor> {
    let scale = layout.crop as f64 / layout.heatmap as f64;
    Ok(points.broadcast_add(origins)?.affine(scale, 0.5 * scale - 0.5)?)
}

/// The inverse of [`crop_points`].
fn window_points(points: &Tensor, origins: &Tensor, layout: Layout) -> Result<Tensor> {
    let scale = layout.crop as f64 / layout.heatmap as f64;
    Ok(points.affine(1.0 / scale, (0.5 - 0.5 * scale) / scale)?.broadcast_sub(origins)?)
}

/// `weight * loss` added to `total`; returns it as a number for the log.
fn add_term(total: &mut Tensor, loss: Tensor, weight: f64) -> Result<f64> {
    let term = (loss * weight)?;
    *total = (&*total + &term)?;
    Ok(term.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// Loss of one batch (Jitter loss on labelled rows, gamma * SBR on unlabelled rows, and the
/// objectives of [`cons`] on all rows, their labels unused).
fn batch_loss(
    cell: &Cell,
    teacher: Option<&Cell>,
    batch: &Batch,
    config: &TrainConfig,
    layout: Layout,
    rng: &mut Rng,
) -> Result<(Tensor, StepLog)> {
    let s = cell.run(&batch.maps)?;
    let mut log = StepLog::default();
    let mut total = Tensor::zeros((), s.dtype(), s.device())?;
    if let (Some(tm), Some(tp), Some(valid)) = (&batch.target_maps, &batch.target_points, &batch.valid) {
        let (loss, parts) = jitter_loss(&s.narrow(0, 0, batch.labelled)?, tm, tp, valid, &config.loss())?;
        log.jitter = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        log.parts = parts;
        total = (total + loss)?;
    }
    if let Some(grey) = &batch.grey {
        let rows = grey.dim(0)?;
        let f = batch.sbr_frame;
        let stab = s.narrow(0, batch.labelled, rows)?.narrow(1, f - 1, 2)?;
        let origins = batch.origins.narrow(0, batch.labelled, rows)?;
        let pts = crop_points(&pdc(&stab, config.pdc_threshold)?, &origins.unsqueeze(1)?, layout)?;
        let lk = super::lk::LkConfig { gamma: config.gamma as f32, ..super::lk::LkConfig::default() };
        let at = |x: &Tensor, i: usize| -> candle_core::Result<Tensor> { x.narrow(1, i, 1)?.squeeze(1) };
        let (sbr, kept) = super::lk::sbr_loss(&at(grey, 0)?, &at(grey, 1)?, &at(&pts, 0)?, &at(&pts, 1)?, &lk)?;
        log.sbr = sbr.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        log.sbr_kept = kept;
        total = (total + sbr)?;
    }
    unlabelled_terms(cell, &s, batch, config, rng, &mut total, &mut log)?;
    if let Some(teacher) = teacher {
        let target = teacher_target(teacher, &s, batch, config, layout)?;
        let loss = cons::target_loss(&s, &target, config.pdc_threshold)?;
        log.teacher = add_term(&mut total, loss, config.objectives.teacher_weight)?;
    }
    log.loss = total.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    Ok((total, log))
}

/// STRRN's cycle and pseudo-label terms and the inverse- and disturbed-sequence terms, on every
/// row of the batch (`s`: the cell's output on it); each only when its weight is positive.
fn unlabelled_terms(
    cell: &Cell,
    s: &Tensor,
    batch: &Batch,
    config: &TrainConfig,
    rng: &mut Rng,
    total: &mut Tensor,
    log: &mut StepLog,
) -> Result<()> {
    let (o, x, threshold) = (&config.objectives, &batch.maps, config.pdc_threshold);
    let run = |m: &Tensor| cell.run(m);
    if o.cycle_weight > 0.0 || o.pseudo_weight > 0.0 {
        let cycle = cons::cycle(&run, x, threshold)?;
        log.cycle = add_term(total, cons::cycle_loss(&cycle)?, o.cycle_weight)?;
        let labels = cons::pseudo_labels(&cycle, o.pseudo_threshold)?;
        log.pseudo_kept = labels.mask.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()? as usize;
        let loss = cons::pseudo_label_loss(&cycle.forward_maps, &labels, config.heatmap_sigma as f64, config.theta)?;
        log.pseudo = add_term(total, loss, o.pseudo_weight)?;
    }
    if o.inverse_weight > 0.0 || o.disturb_weight > 0.0 {
        // The window's points, which both compare against.
        let forward = pdc(s, threshold)?;
        if o.inverse_weight > 0.0 {
            log.inverse = add_term(total, cons::inverse_loss(&run, x, &forward, threshold)?, o.inverse_weight)?;
        }
        if o.disturb_weight > 0.0 {
            let (disturbed, _) = cons::disturbed(x, o.disturb_noise, rng)?;
            let loss = cons::target_loss(&cell.run(&disturbed)?, &forward, threshold)?;
            log.disturb = add_term(total, loss, o.disturb_weight)?;
        }
    }
    Ok(())
}

/// The student's targets for TSAL's consistency: the teacher's points on every row; on the
/// unlabelled video rows, at SBR's frame, blended with the student's own points of the frame
/// before registered into it by SBR's gated LK (the three sources: teacher, student, registration).
fn teacher_target(teacher: &Cell, s: &Tensor, batch: &Batch, config: &TrainConfig, layout: Layout) -> Result<Tensor> {
    let threshold = config.pdc_threshold;
    let taught = pdc(&teacher.run(&batch.maps)?, threshold)?.detach();
    let Some(grey) = &batch.grey else { return Ok(taught) };
    let (rows, f, labelled) = (grey.dim(0)?, batch.sbr_frame, batch.labelled);
    let origins = batch.origins.narrow(0, labelled, rows)?;
    let before = pdc(&s.narrow(0, labelled, rows)?.narrow(1, f - 1, 1)?.squeeze(1)?, threshold)?.detach();
    let at = |i: usize| -> candle_core::Result<Tensor> { grey.narrow(1, i, 1)?.squeeze(1) };
    let lk = super::lk::LkConfig::default();
    let (registered, keep) = super::lk::register(&at(0)?, &at(1)?, &crop_points(&before, &origins, layout)?, &lk)?;
    let registered = window_points(&registered.detach(), &origins, layout)?;
    let blended = cons::multi_source_target(
        &taught.narrow(0, labelled, rows)?,
        &registered,
        &keep,
        f,
        config.objectives.teacher_mu,
    )?;
    if labelled == 0 {
        return Ok(blended);
    }
    Ok(Tensor::cat(&[&taught.narrow(0, 0, labelled)?, &blended], 0)?)
}

/// Held-out numbers computed from cached sequences (heatmap level, no pipeline): the runtime's
/// decoder on the backbone's maps vs on the stabilized maps.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct QuickEval {
    pub nme_raw: f32,
    pub nme_stabilized: f32,
    pub nmj_raw: f32,
    pub nmj_stabilized: f32,
}

fn quick_eval(cell: &Cell, cache: &Cache, config: &TrainConfig, device: &Device) -> Result<QuickEval> {
    let l = cache.layout;
    let decoder = Decoder::PdcSoft { threshold: config.pdc_threshold as f32 };
    let inner = inner49();
    let (mut sums, mut count) = ([0.0f64; 4], 0usize);
    for i in 0..cache.len() {
        let r = cache.read(i)?;
        if r.targets.iter().any(|v| !v.is_finite()) {
            continue;
        }
        let maps = Tensor::from_slice(&r.maps, (1, l.frames, l.points, l.heatmap, l.heatmap), device)?;
        let s: Vec<f32> = cell.run(&maps)?.flatten_all()?.to_vec1()?;
        let plane = l.points * l.heatmap * l.heatmap;
        let decode = |m: &[f32]| -> Vec<Vec<[f32; 2]>> {
            (0..l.frames)
                .map(|f| decoder.decode(&m[f * plane..(f + 1) * plane], l.points, l.heatmap, l.heatmap).0)
                .collect()
        };
        let gt: Vec<Vec<[f32; 2]>> = (0..l.frames)
            .map(|f| {
                (0..l.points)
                    .map(|j| [r.targets[(f * l.points + j) * 2], r.targets[(f * l.points + j) * 2 + 1]])
                    .collect()
            })
            .collect();
        let mean_nme = |p: &[Vec<[f32; 2]>]| {
            p.iter().zip(&gt).map(|(a, g)| nme(a, g, &inner) as f64).sum::<f64>() / l.frames as f64
        };
        let (raw, stab) = (decode(&r.maps), decode(&s));
        sums[0] += mean_nme(&raw);
        sums[1] += mean_nme(&stab);
        sums[2] += (nmj(&raw, &gt).unwrap_or(0.0) as f64).powi(2);
        sums[3] += (nmj(&stab, &gt).unwrap_or(0.0) as f64).powi(2);
        count += 1;
    }
    let n = count.max(1) as f64;
    Ok(QuickEval {
        nme_raw: (100.0 * sums[0] / n) as f32,
        nme_stabilized: (100.0 * sums[1] / n) as f32,
        nmj_raw: (sums[2] / n).sqrt() as f32,
        nmj_stabilized: (sums[3] / n).sqrt() as f32,
    })
}

/// Indices of the cache's records by kind, for balanced batches.
fn by_kind(cache: &Cache) -> Vec<Vec<usize>> {
    [Kind::Still, Kind::LabelledVideo, Kind::Unlabelled]
        .iter()
        .map(|k| (0..cache.len()).filter(|&i| cache.kinds[i] == *k).collect::<Vec<_>>())
        .filter(|v| !v.is_empty())
        .collect()
}

/// Draws each step's batch from a cache: an even share of the batch from every kind of record
/// present, records and landmarks picked by a generator seeded from the step number (and a salt),
/// so that a step draws the same batch in every run and after `--resume`.
pub struct Sampler<'a> {
    cache: &'a Cache,
    groups: Vec<Vec<usize>>,
    per_group: usize,
}

impl<'a> Sampler<'a> {
    pub fn new(cache: &'a Cache, batch: usize) -> Self {
        let groups = by_kind(cache);
        let per_group = (batch / groups.len().max(1)).max(1);
        Sampler { cache, groups, per_group }
    }

    fn draw(&self, step: usize, salt: u64, config: &TrainConfig, device: &Device) -> Result<(Batch, Rng)> {
        let mut rng = Rng::new(config.seed.wrapping_mul(1_000_003).wrapping_add(step as u64) ^ salt);
        let mut records = Vec::with_capacity(self.per_group * self.groups.len());
        for g in &self.groups {
            for _ in 0..self.per_group {
                records.push(self.cache.read(g[rng.below(g.len())])?);
            }
        }
        Ok((batch_tensors(&records, self.cache.layout, config, &mut rng, device)?, rng))
    }
}

/// What a step changes: the student cell, its TSAL teacher (when that objective is on) and
/// Adam's moments. `finetune` starts it from the identity, personalisation from a trained
/// stabilizer.
pub struct Learner {
    pub cell: Cell,
    teacher: Option<Cell>,
    vars: Vec<Var>,
    adam: Adam,
}

impl Learner {
    /// Starts from `cell` as it is; the teacher starts as a copy of it and is never trained directly.
    pub fn new(cell: Cell, config: &TrainConfig, device: &Device) -> Result<Self> {
        let teacher = match config.objectives.teacher_weight > 0.0 {
            true => Some(Cell::new(&cell.weights()?, device, DType::F32)?),
            false => None,
        };
        let vars = cell.vars();
        let adam = Adam::new(&vars, config.learning_rate)?;
        Ok(Learner { cell, teacher, vars, adam })
    }

    /// Step `step`: its batch from `sampler`, one Adam update at `scale` times the learning rate,
    /// and the teacher's EMA update when due.
    pub fn step(
        &mut self,
        sampler: &Sampler,
        step: usize,
        config: &TrainConfig,
        scale: f64,
        device: &Device,
    ) -> Result<StepLog> {
        let (batch, mut rng) = sampler.draw(step, 0, config, device)?;
        let layout = sampler.cache.layout;
        let (loss, entry) = batch_loss(&self.cell, self.teacher.as_ref(), &batch, config, layout, &mut rng)?;
        if !entry.loss.is_finite() {
            return Err(Error::Other(format!("step {step}: the loss is not finite ({})", entry.loss)));
        }
        self.adam.step(&self.vars, &loss.backward()?, scale)?;
        // TSAL's asynchronous update: the teacher absorbs the student only every few steps.
        if let Some(teacher) = &self.teacher
            && step.is_multiple_of(config.objectives.teacher_every.max(1))
        {
            cons::ema_update(&teacher.vars(), &self.vars, config.objectives.ema_decay)?;
        }
        Ok(entry)
    }
}

/// What a finished run reports.
pub struct TrainOutcome {
    pub weights: ConvLstmWeights,
    pub before: QuickEval,
    pub after: QuickEval,
    pub steps: usize,
    pub seconds: f64,
}

/// Called after every step with (step, steps, the step's numbers, validation when one ran).
pub type Progress<'a> = dyn FnMut(usize, usize, &StepLog, Option<&QuickEval>) + 'a;

/// Trains on `train` (validating on `holdout`), starting from the identity or from the checkpoint
/// in `work` when `resume`. `progress` is called after every step with (step, steps, log).
#[allow(clippy::too_many_arguments)]
pub fn train(
    config: &TrainConfig,
    train: &Cache,
    holdout: &Cache,
    cache_key: &str,
    work: &WorkDir,
    resume: bool,
    device: &Device,
    progress: &mut Progress,
) -> Result<TrainOutcome> {
    if train.is_empty() {
        return Err(Error::Other("no training sequences: give --images, --labelled-videos or --videos".into()));
    }
    let layout = train.layout;
    let spec = config.spec(layout.points);
    let cell = Cell::new(&ConvLstmWeights::identity(spec), device, DType::F32)?;
    let sampler = Sampler::new(train, config.batch);
    if !resume && config.objectives.pretrain_shuffle_steps > 0 {
        let draw = |step| sampler.draw(step, PRETRAIN_SALT, config, device).map(|b| b.0);
        pretrain_order(&cell, config, work, device, &draw)?;
    }
    let mut learner = Learner::new(cell, config, device)?;
    let mut step = match resume {
        true => load_checkpoint(work, &learner.cell, learner.teacher.as_ref(), &mut learner.adam, config, cache_key)?,
        false => 0,
    };
    let before =
        quick_eval(&Cell::new(&ConvLstmWeights::identity(spec), device, DType::F32)?, holdout, config, device)?;
    let start = Instant::now();
    let log_path = work.log();
    let mut csv = if step == 0 {
        format!(
            "step,loss,jitter,pixel,psi,sbr,sbr_kept,val_nme_raw,val_nme_stab,val_nmj_raw,val_nmj_stab,{OBJECTIVE_COLUMNS}\n"
        )
    } else {
        // The log is written before the checkpoint: rows past the checkpoint's step (a run killed
        // between the two) are made again.
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let kept = |line: &&str| line.split(',').next().and_then(|n| n.parse::<usize>().ok()).is_none_or(|n| n <= step);
        text.lines().filter(kept).map(|line| format!("{line}\n")).collect()
    };
    let last = config.stop_after.map_or(config.steps, |s| s.min(config.steps));
    while step < last {
        step += 1;
        // Cosine decay to zero: the full rate early, small steps at the end. With a constant
        // 1e-2 the held-out NME crept up from step 200 on while jitter stopped improving.
        let done = (step - 1) as f64 / config.steps.max(1) as f64;
        let entry = learner.step(&sampler, step, config, 0.5 * (1.0 + (std::f64::consts::PI * done).cos()), device)?;
        let val = if step % config.eval_every == 0 || step == config.steps {
            Some(quick_eval(&learner.cell, holdout, config, device)?)
        } else {
            None
        };
        let v = val.unwrap_or_default();
        csv.push_str(&format!(
            "{step},{:.6},{:.6},{:.6},{:.4},{:.6},{},{},{},{},{}\n",
            entry.loss,
            entry.jitter,
            entry.parts.pixel,
            entry.parts.psi,
            entry.sbr,
            entry.sbr_kept,
            if val.is_some() { format!("{:.4}", v.nme_raw) } else { String::new() },
            if val.is_some() { format!("{:.4}", v.nme_stabilized) } else { String::new() },
            if val.is_some() { format!("{:.4}", v.nmj_raw) } else { String::new() },
            if val.is_some() { format!("{:.4}", v.nmj_stabilized) } else { String::new() },
        ));
        csv.insert_str(csv.len() - 1, &objective_columns(&entry));
        progress(step, config.steps, &entry, val.as_ref());
        if step % config.checkpoint_every == 0 || step == last {
            let meta = CheckpointMeta {
                step,
                adam_step: learner.adam.step,
                config: config.clone(),
                cache_key: cache_key.into(),
            };
            write(&log_path, csv.as_bytes())?;
            save_checkpoint(work, &learner.cell, learner.teacher.as_ref(), &learner.adam, &meta)?;
        }
    }
    let after = quick_eval(&learner.cell, holdout, config, device)?;
    Ok(TrainOutcome {
        weights: learner.cell.weights()?,
        before,
        after,
        steps: step,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The log's columns for [`Objectives`], after the older ones so that readers of those keep working.
const OBJECTIVE_COLUMNS: &str = "cycle,pseudo,pseudo_kept,inverse,disturb,teacher";

fn objective_columns(e: &StepLog) -> String {
    // Scientific: near the identity start these terms are far below the older columns' 1e-6.
    format!(",{:.4e},{:.4e},{},{:.4e},{:.4e},{:.4e}", e.cycle, e.pseudo, e.pseudo_kept, e.inverse, e.disturb, e.teacher)
}

/// Keeps the pre-training's batches apart from the training's (same seed, same step numbers).
const PRETRAIN_SALT: u64 = 0x0053_4855_4646_4c45; // "SHUFFLE"

/// The frame-order pretext task (self/semi-supervised tracking's first stage, eq. 4): the cell and
/// a small classifier on its hidden states learn to tell windows in order from shuffled ones, for
/// `pretrain_shuffle_steps` Adam steps at the training's learning rate; the classifier is then
/// dropped. Only the gates get gradient (the classifier reads the hidden states, which the output
/// convolution does not shape), and the identity start's output convolution is zero, so the
/// stabilizer's output stays as it was until training proper. Logged to `pretrain.csv`.
fn pretrain_order(
    cell: &Cell,
    config: &TrainConfig,
    work: &WorkDir,
    device: &Device,
    draw: &dyn Fn(usize) -> Result<Batch>,
) -> Result<()> {
    let head = cons::OrderHead::new(config.hidden, device, DType::F32)?;
    let vars: Vec<Var> = cell.vars().into_iter().chain(head.vars()).collect();
    let mut adam = Adam::new(&vars, config.learning_rate)?;
    let mut csv = String::from("step,order_loss,order_accuracy\n");
    for step in 1..=config.objectives.pretrain_shuffle_steps {
        let batch = draw(step)?;
        let mut rng = Rng::new(config.seed ^ PRETRAIN_SALT.wrapping_add(step as u64));
        let (windows, labels, _) = cons::shuffled(&batch.maps, &mut rng)?;
        // One logit per landmark track (row b*K + j), each with its window's label.
        let k = windows.dim(2)?;
        let labels: Vec<f32> = labels.iter().flat_map(|&l| std::iter::repeat_n(l, k)).collect();
        let labels = Tensor::from_vec(labels, windows.dim(0)? * k, windows.device())?;
        let logits = head.logits(&cell.run_with_hidden(&windows)?.1)?;
        let loss = cons::order_loss(&logits, &labels)?;
        let right = logits.ge(0.0)?.to_dtype(DType::F32)?.eq(&labels)?.to_dtype(DType::F64)?.mean_all()?;
        let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        csv.push_str(&format!("{step},{value:.6},{:.4}\n", right.to_scalar::<f64>()?));
        adam.step(&vars, &loss.backward()?, 1.0)?;
    }
    Ok(write(&work.dir.join("pretrain.csv"), csv.as_bytes())?)
}

/// Writes `stabilizer.onnx` and its sidecar (each through [`steadyface::output`]).
pub fn export(weights: &ConvLstmWeights, out: &Path, sidecar: &Sidecar) -> Result<()> {
    write_model(out, &convlstm_model(weights)?)?;
    Ok(sidecar.write(&steadyface::stabilizer::sidecar_path(out))?)
}

/// SHA-256 (hex) of a file's bytes.
pub fn file_sha256(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// A cache key: SHA-256 over the given parts (checksums, options), so a change in any of them
/// builds a new cache.
pub fn cache_key(parts: &[String]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    format!("{:x}", h.finalize())
}

/// Builds a cache with `make`, or reuses the finished one in `dir` built for the same `key`.
pub fn cached(
    dir: &Path,
    key: &str,
    layout: Layout,
    make: &mut dyn FnMut(&mut CacheWriter) -> Result<()>,
) -> Result<(Cache, bool)> {
    if let Some(cache) = Cache::open(dir, key)? {
        return Ok((cache, true));
    }
    let mut writer = CacheWriter::create(dir, key, layout)?;
    make(&mut writer)?;
    Ok((writer.finish()?, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Window (0, 0) of a window at heatmap pixel (3, 5) is heatmap pixel (3, 5); with 24-pixel
    /// maps of a 96-pixel crop (scale 4, edges aligned) that is crop pixel (3 * 4 + 1.5, 5 * 4 + 1.5).
    #[test]
    fn window_and_crop_points_convert_both_ways() {
        let layout = Layout { frames: 2, points: 1, heatmap: 24, crop: 96 };
        let origins = Tensor::new(&[[[3.0f64, 5.0]]], &Device::Cpu).unwrap();
        let window = Tensor::new(&[[[0.0f64, 0.0]]], &Device::Cpu).unwrap();
        let crop = crop_points(&window, &origins, layout).unwrap();
        assert_eq!(crop.flatten_all().unwrap().to_vec1::<f64>().unwrap(), [13.5, 21.5]);
        let back = window_points(&crop, &origins, layout).unwrap();
        assert!(back.flatten_all().unwrap().to_vec1::<f64>().unwrap().iter().all(|v| v.abs() < 1e-12));
    }
}
