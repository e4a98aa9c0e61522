//! Objectives for windows without labels (`--videos` windows, and synthetic sequences with their
//! labels ignored), each a `finetune` option that is off by default:
//!
//! - STRRN (omni-supervised face alignment): the window played forward then back must retrace
//!   itself (cycle consistency, eq. 5), and where the two passes agree closely their consensus is
//!   a pseudo-label (Algorithm 1's thresholding by T).
//! - Self/semi-supervised tracking: the reversed window gives the same points (eq. 5), a disturbed
//!   window gives the clean window's points (eq. 7), and a frame-order pretext task (eq. 4) can
//!   pre-train the cell.
//! - TSAL: an exponential-moving-average teacher (eq. 8 with a queue of one) whose points, blended
//!   with SBR's registration of the student's own points, are the student's targets (eq. 5).
//!
//! Points are PDC-decoded ([`pdc`]) in window pixels, so every distance is in heatmap pixels.

use candle_core::{D, DType, Tensor, Var};

use super::loss::{pdc, peak_normalised, pixel_loss};
use crate::Result;
use crate::error::Error;
use crate::synth::Rng;

/// Weights and settings of the objectives; every weight 0 (and no pre-training) leaves training as
/// it was without them. `steadyface finetune`'s options of the same names set them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Objectives {
    /// STRRN cycle consistency.
    pub cycle_weight: f64,
    /// STRRN pseudo-labels, and the forward-backward distance (heatmap pixels) under which a point
    /// becomes one.
    pub pseudo_weight: f64,
    pub pseudo_threshold: f64,
    /// Inverse-sequence consistency.
    pub inverse_weight: f64,
    /// Disturbed-sequence consistency, and the noise added to the disturbed maps.
    pub disturb_weight: f64,
    pub disturb_noise: f64,
    /// Steps of the frame-order pretext task before training.
    pub pretrain_shuffle_steps: usize,
    /// TSAL teacher-student consistency; the teacher's EMA decay, how often (steps) it absorbs the
    /// student, and the teacher's share of the student's target where SBR's registration has one.
    pub teacher_weight: f64,
    pub ema_decay: f64,
    pub teacher_every: usize,
    pub teacher_mu: f64,
}

impl Default for Objectives {
    fn default() -> Self {
        Objectives {
            cycle_weight: 0.0,
            pseudo_weight: 0.0,
            // STRRN thresholds at 0.02 of the inter-pupil distance; on the default 24-pixel
            // heatmaps the pupils are ~8-10 pixels apart, so ~0.2 px. 0.25 leaves some room for
            // the decoder's own noise.
            pseudo_threshold: 0.25,
            inverse_weight: 0.0,
            disturb_weight: 0.0,
            disturb_noise: 0.05,
            pretrain_shuffle_steps: 0,
            teacher_weight: 0.0,
            // Tarvainen & Valpola's (and TSAL's) 0.999 suits runs of many thousand steps; finetune
            // runs are a few thousand, so the teacher lags ~100 steps instead of ~1000.
            ema_decay: 0.99,
            teacher_every: 1,
            // TSAL's best blend (its Fig. 6).
            teacher_mu: 0.6,
        }
    }
}

/// The stabilizer as a function of `[B,T,K,H,W]` maps: a [`super::cell::Cell`]'s run in training,
/// a hand-made stand-in in tests.
pub type Run<'a> = dyn Fn(&Tensor) -> Result<Tensor> + 'a;

/// `x` with its time axis (dim 1) reversed.
pub fn reversed(x: &Tensor) -> Result<Tensor> {
    let t = x.dim(1)? as u32;
    let order: Vec<u32> = (0..t).rev().collect();
    select_frames(x, &order)
}

/// The frames of `x` `[B,T,...]` in `order` (candle's index_select wants a contiguous input).
fn select_frames(x: &Tensor, order: &[u32]) -> Result<Tensor> {
    Ok(x.contiguous()?.index_select(&Tensor::new(order, x.device())?, 1)?)
}

/// Mean over the leading dims of `|a - b|^2` for `[..., 2]` points.
pub fn mean_sq_distance(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok((a - b)?.sqr()?.sum(D::Minus1)?.mean_all()?)
}

/// What one forward-then-back play of a window gives (STRRN's two trackers, which share weights).
pub struct Cycle {
    /// Forward points of frames `1..T-1`, `[B,T-1,K,2]`.
    pub forward: Tensor,
    /// The backward pass's points of the same frames, in forward order.
    pub backward: Tensor,
    /// The forward pass's stabilized maps of those frames, `[B,T-1,K,H,W]`.
    pub forward_maps: Tensor,
}

/// Plays `x_1..x_T, x_{T-1}..x_1` as one sequence, so the state the forward pass ends with starts
/// the backward pass: as in STRRN, the backward tracker starts from where the forward one arrived.
pub fn cycle(run: &Run, x: &Tensor, threshold: f64) -> Result<Cycle> {
    let t = x.dim(1)?;
    if t < 2 {
        return Err(Error::Other("cycle consistency needs windows of at least 2 frames".into()));
    }
    let back = reversed(&x.narrow(1, 0, t - 1)?)?;
    let s = run(&Tensor::cat(&[x, &back], 1)?)?;
    let forward_maps = s.narrow(1, 0, t - 1)?;
    let forward = pdc(&forward_maps, threshold)?;
    let backward = reversed(&pdc(&s.narrow(1, t, t - 1)?, threshold)?)?;
    Ok(Cycle { forward, backward, forward_maps })
}

/// STRRN's cycle-consistency loss (eq. 5): `mean |p_fwd - p_bwd|^2`.
pub fn cycle_loss(cycle: &Cycle) -> Result<Tensor> {
    mean_sq_distance(&cycle.forward, &cycle.backward)
}

/// Pseudo-labels of a cycle: where the two passes land within `threshold` pixels of each other,
/// their midpoint (no gradient: a target, not a prediction).
pub struct PseudoLabels {
    /// `[B,T-1,K]`, 1 where the passes agree closer than the threshold.
    pub mask: Tensor,
    /// `[B,T-1,K,2]`, `(p_fwd + p_bwd) / 2`, detached.
    pub target: Tensor,
}

pub fn pseudo_labels(cycle: &Cycle, threshold: f64) -> Result<PseudoLabels> {
    let (f, b) = (cycle.forward.detach(), cycle.backward.detach());
    let distance = (&f - &b)?.sqr()?.sum(D::Minus1)?.sqrt()?;
    let mask = distance.lt(threshold)?.to_dtype(f.dtype())?;
    Ok(PseudoLabels { mask, target: ((f + b)? * 0.5)? })
}

/// Peak-1 Gaussians (`sigma` px) at `points` `[..., 2]` on `size x size` maps `[..., size, size]`,
/// centres at integer pixels as [`steadyface::heatmap::render`] draws its targets.
pub fn gaussian_maps(points: &Tensor, size: usize, sigma: f64) -> Result<Tensor> {
    let dims = points.dims().to_vec();
    let lead: usize = dims[..dims.len() - 1].iter().product();
    let flat = points.reshape((lead, 2))?;
    let grid: Vec<f64> = (0..size).map(|i| i as f64).collect();
    let grid = Tensor::new(grid.as_slice(), points.device())?.to_dtype(points.dtype())?.unsqueeze(0)?;
    let axis = |i: usize| -> Result<Tensor> {
        let d2 = grid.broadcast_sub(&flat.narrow(1, i, 1)?)?.sqr()?;
        Ok((d2 * (-0.5 / (sigma * sigma)))?.exp()?)
    };
    let maps = axis(1)?.unsqueeze(2)?.broadcast_mul(&axis(0)?.unsqueeze(1)?)?;
    let mut out = dims[..dims.len() - 1].to_vec();
    out.extend([size, size]);
    Ok(maps.reshape(out)?)
}

/// The pseudo-label loss: the forward maps against Gaussians at the pseudo-labels, with the
/// labelled data's Geman-McClure pixel loss (`theta`), averaged over the masked-in points.
pub fn pseudo_label_loss(maps: &Tensor, labels: &PseudoLabels, sigma: f64, theta: f64) -> Result<Tensor> {
    let size = maps.dim(D::Minus1)?;
    let target = gaussian_maps(&labels.target, size, sigma)?;
    let pixel = pixel_loss(&peak_normalised(maps)?, &target, theta)?;
    let count = labels.mask.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?.max(1.0);
    Ok((pixel * &labels.mask)?.sum_all()?.affine(1.0 / count, 0.0)?)
}

/// Inverse-sequence consistency (self/semi-supervised tracking, eq. 5): the reversed window,
/// run from an empty state and put back in order, gives the `forward` points (`pdc(run(x))`).
pub fn inverse_loss(run: &Run, x: &Tensor, forward: &Tensor, threshold: f64) -> Result<Tensor> {
    let inverse = reversed(&pdc(&run(&reversed(x)?)?, threshold)?)?;
    mean_sq_distance(forward, &inverse)
}

/// A disturbed copy of a window (eq. 7's texture disturbance, without the spatial one: the windows
/// stay where the backbone put them): Gaussian noise of `noise` (map units; backbone maps peak
/// near 1) on every map, and one frame, drawn from `1..T`, dropped and its predecessor shown twice.
/// Returns the window and the dropped frame.
pub fn disturbed(x: &Tensor, noise: f64, rng: &mut Rng) -> Result<(Tensor, usize)> {
    let t = x.dim(1)?;
    let dropped = if t > 1 { 1 + rng.below(t - 1) } else { 0 };
    let mut order: Vec<u32> = (0..t as u32).collect();
    order[dropped] = dropped.saturating_sub(1) as u32;
    let x = select_frames(x, &order)?;
    let values: Vec<f32> = (0..x.elem_count()).map(|_| rng.gauss() * noise as f32).collect();
    let noise = Tensor::from_vec(values, x.shape(), x.device())?.to_dtype(x.dtype())?;
    Ok(((x + noise)?, dropped))
}

/// Squared distance of the points decoded from `maps` to `target` (detached: the clean window's
/// or the teacher's points are the reference, not something to move).
pub fn target_loss(maps: &Tensor, target: &Tensor, threshold: f64) -> Result<Tensor> {
    mean_sq_distance(&pdc(maps, threshold)?, &target.detach())
}

/// Frame-order pretext batch (eq. 4): odd rows get their frames in a random order other than the
/// original one, even rows keep theirs. Returns the windows, the labels `[B]` (1 = shuffled,
/// 0 = in order) and each row's frame order.
pub fn shuffled(x: &Tensor, rng: &mut Rng) -> Result<(Tensor, Vec<f32>, Vec<Vec<u32>>)> {
    let (b, t) = (x.dim(0)?, x.dim(1)?);
    let (mut rows, mut labels, mut orders) = (Vec::with_capacity(b), Vec::with_capacity(b), Vec::with_capacity(b));
    for i in 0..b {
        let identity: Vec<u32> = (0..t as u32).collect();
        let mut order = identity.clone();
        // Any order but the original one (a window of one frame has no other).
        while i % 2 == 1 && t > 1 && order == identity {
            for j in 0..t {
                order.swap(j, j + rng.below(t - j));
            }
        }
        labels.push(if order == identity { 0.0 } else { 1.0 });
        rows.push(select_frames(&x.narrow(0, i, 1)?, &order)?);
        orders.push(order);
    }
    Ok((Tensor::cat(&rows, 0)?, labels, orders))
}

/// The pretext task's classifier: one logit per landmark track from the cell's hidden states,
/// averaged over time and space (the paper averages its recurrent states before its FC layer).
pub struct OrderHead {
    w: Var,
    b: Var,
}

impl OrderHead {
    pub fn new(hidden: usize, device: &candle_core::Device, dtype: DType) -> Result<Self> {
        Ok(OrderHead { w: Var::zeros(hidden, dtype, device)?, b: Var::zeros(1, dtype, device)? })
    }

    pub fn vars(&self) -> Vec<Var> {
        vec![self.w.clone(), self.b.clone()]
    }

    /// `hidden` `[T, B*K, C, H, W]` ([`super::cell::Cell::run_with_hidden`]) -> logits `[B*K]`.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let features = hidden.mean(0)?.mean(D::Minus1)?.mean(D::Minus1)?; // [B*K, C]
        Ok(features.broadcast_mul(&self.w.as_tensor().unsqueeze(0)?)?.sum(1)?.broadcast_add(self.b.as_tensor())?)
    }
}

/// Eq. 4's classification loss with logits: mean of `softplus(z) - y z` (= -log σ(z) for y = 1,
/// -log(1 - σ(z)) for y = 0), written so a large |z| cannot overflow.
pub fn order_loss(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let softplus = (logits.relu()? + (logits.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
    Ok((softplus - (logits * labels)?)?.mean_all()?)
}

/// TSAL's teacher update (eq. 8, queue of one = Tarvainen & Valpola's mean teacher):
/// `teacher <- decay * teacher + (1 - decay) * student`, parameter by parameter.
pub fn ema_update(teacher: &[Var], student: &[Var], decay: f64) -> Result<()> {
    for (t, s) in teacher.iter().zip(student) {
        t.set(&((t.as_tensor() * decay)? + (s.as_tensor() * (1.0 - decay))?)?)?;
    }
    Ok(())
}

/// The student's multi-source target (TSAL eq. 5's `mu * tracking + (1 - mu) * detection`): the
/// teacher's points `[B,T,K,2]`, except at `frame`, where SBR's registration `[B,K,2]` kept a point
/// (`keep` `[B,K]`, 0/1): there `mu * teacher + (1 - mu) * registered`. Detached.
pub fn multi_source_target(
    teacher: &Tensor,
    registered: &Tensor,
    keep: &Tensor,
    frame: usize,
    mu: f64,
) -> Result<Tensor> {
    let t = teacher.dim(1)?;
    let at = teacher.narrow(1, frame, 1)?.squeeze(1)?;
    let keep = keep.to_dtype(teacher.dtype())?.unsqueeze(2)?;
    let blended = (&at + ((registered.detach() - &at)?.broadcast_mul(&keep)? * (1.0 - mu))?)?;
    let mut parts = vec![blended.unsqueeze(1)?];
    if frame > 0 {
        parts.insert(0, teacher.narrow(1, 0, frame)?);
    }
    if frame + 1 < t {
        parts.push(teacher.narrow(1, frame + 1, t - frame - 1)?);
    }
    Ok(Tensor::cat(&parts, 1)?.detach())
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::cell::Cell;
    use crate::loss::testing::{assert_close, maps, numeric};
    use steadyface::onnx::{ConvLstmSpec, ConvLstmWeights};

    const DEV: Device = Device::Cpu;
    const PDC: f64 = 0.2;

    /// `[1,T,K,n,n]` f64 Gaussians (sigma 1.3) at `frames[t][k]`, plus a fixed ripple so no two
    /// pixels tie and the maps are not exactly the runtime's targets.
    fn window(frames: &[Vec<[f32; 2]>], n: usize, ripple: f64) -> Tensor {
        let values: Vec<f64> = frames
            .iter()
            .flat_map(|pts| maps(pts, n, 1.3))
            .enumerate()
            .map(|(i, v)| v as f64 + ripple * ((i * 7 % 11) as f64 / 11.0))
            .collect();
        Tensor::from_vec(values, (1, frames.len(), frames[0].len(), n, n), &DEV).unwrap()
    }

    /// Two landmarks drifting over three 8x8 frames (off the pixel grid, so PDC is not exact).
    fn drifting() -> Tensor {
        window(&[vec![[3.2, 4.1], [5.3, 2.6]], vec![[3.6, 4.0], [5.6, 2.9]], vec![[3.7, 4.4], [5.5, 3.2]]], 8, 0.01)
    }

    /// One landmark at integer pixels (PDC decodes a centred Gaussian exactly): (4,4), (5,4), (5,6).
    fn stepping() -> Tensor {
        window(&[vec![[4.0, 4.0]], vec![[5.0, 4.0]], vec![[5.0, 6.0]]], 12, 0.0)
    }

    fn cell(points: usize) -> Cell {
        let spec = ConvLstmSpec { points, hidden: 2, kernel: 3 };
        Cell::new(&ConvLstmWeights::seeded(spec, 7, 0.4), &DEV, DType::F64).unwrap()
    }

    /// Output `t` is input `t - 1` (the first frame repeats): the simplest run with memory.
    fn delay(x: &Tensor) -> Result<Tensor> {
        let t = x.dim(1)?;
        Ok(Tensor::cat(&[x.narrow(1, 0, 1)?, x.narrow(1, 0, t - 1)?], 1)?)
    }

    fn scalar(x: &Tensor) -> f64 {
        x.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
    }

    fn points(v: &[[f64; 2]], shape: (usize, usize, usize, usize)) -> Tensor {
        let flat: Vec<f64> = v.iter().flatten().copied().collect();
        Tensor::from_vec(flat, shape, &DEV).unwrap()
    }

    /// Autodiff of the scalar `f` at `x` against central finite differences (1e-3 relative).
    fn check_gradient(f: &dyn Fn(&Tensor) -> Result<Tensor>, x: &Tensor, what: &str) {
        let values: Vec<f64> = x.flatten_all().unwrap().to_vec1().unwrap();
        let at = |v: &[f64]| scalar(&f(&Tensor::from_slice(v, x.shape(), &DEV).unwrap()).unwrap());
        let var = Var::from_tensor(x).unwrap();
        let grads = f(var.as_tensor()).unwrap().backward().unwrap();
        let ad: Vec<f64> = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_close(&ad, &numeric(&at, &values, 1e-6), what);
    }

    #[test]
    fn cycle_loss_gradient_matches_finite_differences() {
        let cell = cell(2);
        let run = |x: &Tensor| cell.run(x);
        check_gradient(&|x| cycle_loss(&cycle(&run, x, PDC)?), &drifting(), "cycle loss");
    }

    #[test]
    fn cycle_loss_of_identical_passes_is_zero_and_of_shifted_ones_the_shift_squared() {
        let p = points(&[[3.0, 4.0], [5.5, 2.0]], (1, 1, 2, 2));
        let same = Cycle { forward: p.clone(), backward: p.clone(), forward_maps: p.clone() };
        assert_eq!(scalar(&cycle_loss(&same).unwrap()), 0.0);
        // Backward 0.3 px right and 0.4 px up of forward everywhere: 0.3^2 + 0.4^2 = 0.25.
        let shifted = points(&[[3.3, 3.6], [5.8, 1.6]], (1, 1, 2, 2));
        let moved = Cycle { forward: p.clone(), backward: shifted, forward_maps: p };
        assert!((scalar(&cycle_loss(&moved).unwrap()) - 0.25).abs() < 1e-12);
    }

    /// A memoryless run retraces itself; a one-frame delay on x1 x2 x3 (played x1 x2 x3 x2 x1)
    /// gives forward (p1, p1) and backward (p2, p3) for frames 1-2: (|p1-p2|^2 + |p1-p3|^2) / 2
    /// = (1 + 5) / 2 = 3 with p = (4,4), (5,4), (5,6).
    #[test]
    fn cycle_of_a_memoryless_run_is_zero_and_of_a_delay_the_hand_value() {
        let x = stepping();
        let memoryless = |x: &Tensor| Ok(x.clone());
        assert!(scalar(&cycle_loss(&cycle(&memoryless, &x, PDC).unwrap()).unwrap()) < 1e-20);
        let delayed = cycle(&delay, &x, PDC).unwrap();
        assert!((scalar(&cycle_loss(&delayed).unwrap()) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn pseudo_label_mask_selects_exactly_the_points_under_the_threshold() {
        // Distances 0.1, 0.6, 0.29, 0.31 (all along x) against a threshold of 0.3.
        let forward = points(&[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]], (1, 2, 2, 2));
        let backward = points(&[[1.1, 1.0], [2.6, 2.0], [3.29, 3.0], [4.31, 4.0]], (1, 2, 2, 2));
        let cycle = Cycle { forward: forward.clone(), backward, forward_maps: forward };
        let labels = pseudo_labels(&cycle, 0.3).unwrap();
        let mask: Vec<f64> = labels.mask.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(mask, [1.0, 0.0, 1.0, 0.0]);
        let target: Vec<f64> = labels.target.flatten_all().unwrap().to_vec1().unwrap();
        let want = [1.05, 1.0, 2.3, 2.0, 3.145, 3.0, 4.155, 4.0];
        assert!(target.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12), "{target:?}");
    }

    #[test]
    fn pseudo_label_loss_gradient_matches_finite_differences() {
        let x = drifting().narrow(1, 0, 2).unwrap();
        let (f, b) = (points(&[[3.0, 4.0], [5.0, 3.0], [3.5, 4.2], [5.4, 2.7]], (1, 2, 2, 2)), pdc(&x, PDC).unwrap());
        let labels = pseudo_labels(&Cycle { forward: f, backward: b, forward_maps: x.clone() }, 0.5).unwrap();
        assert_eq!(scalar(&labels.mask.sum_all().unwrap()), 3.0, "one point left out, so the mask is exercised");
        check_gradient(&|m| pseudo_label_loss(m, &labels, 1.3, 1.0), &x, "pseudo-label loss");
    }

    /// Maps that are exactly the Gaussians at their pseudo-labels cost nothing; the Gaussian is
    /// peak-1 with exp(-d^2 / 2 sigma^2) around it.
    #[test]
    fn pseudo_label_targets_are_the_runtimes_gaussians() {
        let p = points(&[[4.0, 5.0]], (1, 1, 1, 2));
        let g: Vec<f64> = gaussian_maps(&p, 12, 1.5).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let rendered = maps(&[[4.0, 5.0]], 12, 1.5);
        assert_eq!(g[5 * 12 + 4], 1.0);
        assert!((g[5 * 12 + 5] - (-1.0f64 / 4.5).exp()).abs() < 1e-12);
        assert!((g[7 * 12 + 3] - rendered[7 * 12 + 3] as f64).abs() < 1e-6);
        let labels = PseudoLabels { mask: Tensor::ones((1, 1, 1), DType::F64, &DEV).unwrap(), target: p };
        let own = Tensor::from_vec(g, (1, 1, 1, 12, 12), &DEV).unwrap();
        assert!(scalar(&pseudo_label_loss(&own, &labels, 1.5, 1.0).unwrap()) < 1e-20);
    }

    #[test]
    fn inverse_loss_gradient_matches_finite_differences() {
        let cell = cell(2);
        let run = |x: &Tensor| cell.run(x);
        let f = |x: &Tensor| inverse_loss(&run, x, &pdc(&run(x)?, PDC)?, PDC);
        check_gradient(&f, &drifting(), "inverse-sequence loss");
    }

    /// Memoryless and whole-window (time-symmetric) runs give the same points either way round;
    /// a delay on the palindrome p1 p2 p1 gives forward (p1, p1, p2) and inverse (p2, p1, p1):
    /// 2 |p1 - p2|^2 / 3 = 2/3.
    #[test]
    fn inverse_loss_is_zero_for_time_symmetric_runs_and_the_hand_value_for_a_delay() {
        let x = stepping();
        let memoryless = |x: &Tensor| Ok(x.clone());
        let symmetric = |x: &Tensor| Ok(x.mean_keepdim(1)?.broadcast_as(x.shape())?.contiguous()?);
        for (run, name) in [(&memoryless as &Run, "memoryless"), (&symmetric, "whole-window mean")] {
            let loss = inverse_loss(run, &x, &pdc(&run(&x).unwrap(), PDC).unwrap(), PDC).unwrap();
            assert!(scalar(&loss) < 1e-20, "{name}: {}", scalar(&loss));
        }
        let palindrome = window(&[vec![[4.0, 4.0]], vec![[5.0, 4.0]], vec![[4.0, 4.0]]], 12, 0.0);
        let forward = pdc(&delay(&palindrome).unwrap(), PDC).unwrap();
        let loss = scalar(&inverse_loss(&delay, &palindrome, &forward, PDC).unwrap());
        assert!((loss - 2.0 / 3.0).abs() < 1e-9, "{loss}");
    }

    #[test]
    fn disturbed_loss_gradient_matches_finite_differences() {
        let cell = cell(2);
        let clean = pdc(&cell.run(&drifting()).unwrap(), PDC).unwrap();
        let (noisy, _) = disturbed(&drifting(), 0.02, &mut Rng::new(3)).unwrap();
        check_gradient(&|x| target_loss(&cell.run(x)?, &clean, PDC), &noisy, "disturbed-sequence loss");
    }

    /// Without noise the disturbance only repeats frame j-1 in place of frame j, so a memoryless
    /// run is off by |p_j - p_{j-1}|^2 at that frame alone: 1/3 for j = 1, 4/3 for j = 2.
    #[test]
    fn disturbance_drops_one_frame_and_adds_the_noise_asked_for() {
        let x = stepping();
        let clean = pdc(&x, PDC).unwrap();
        let step = [0.0, 1.0, 4.0];
        for seed in 0..6 {
            let (d, j) = disturbed(&x, 0.0, &mut Rng::new(seed)).unwrap();
            assert!((1..3).contains(&j));
            let loss = scalar(&target_loss(&d, &clean, PDC).unwrap());
            assert!((loss - step[j] / 3.0).abs() < 1e-9, "dropped {j}: {loss}");
        }
        let (noisy, j) = disturbed(&x, 0.1, &mut Rng::new(1)).unwrap();
        let (quiet, k) = disturbed(&x, 0.0, &mut Rng::new(1)).unwrap();
        assert_eq!(j, k, "the same draw of the dropped frame");
        let std = scalar(&(noisy - quiet).unwrap().sqr().unwrap().mean_all().unwrap()).sqrt();
        assert!((std - 0.1).abs() < 0.01, "noise std {std}");
    }

    #[test]
    fn shuffle_pretext_labels_say_which_windows_are_out_of_order() {
        // Frame f of row b holds the value 10 b + f everywhere.
        let (b, t) = (4, 4);
        let values: Vec<f64> = (0..b * t).flat_map(|i| vec![(10 * (i / t) + i % t) as f64; 4]).collect();
        let x = Tensor::from_vec(values, (b, t, 1, 2, 2), &DEV).unwrap();
        let (s, labels, orders) = shuffled(&x, &mut Rng::new(5)).unwrap();
        assert_eq!(labels, [0.0, 1.0, 0.0, 1.0]);
        for (row, order) in orders.iter().enumerate() {
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, [0, 1, 2, 3], "a permutation of the frames");
            assert_eq!(*order == sorted, row % 2 == 0, "row {row}: {order:?}");
            for (f, &from) in order.iter().enumerate() {
                let v: Vec<f64> = s.get(row).unwrap().get(f).unwrap().flatten_all().unwrap().to_vec1().unwrap();
                assert_eq!(v[0], (10 * row) as f64 + from as f64, "row {row} frame {f}");
            }
        }
    }

    /// -log(1 - σ(0)) = ln 2 for an ordered window at z = 0; -log σ(2) = ln(1 + e^-2) for a
    /// shuffled one at z = 2.
    #[test]
    fn order_loss_is_the_binary_cross_entropy() {
        let z = Tensor::new(&[0.0f64, 2.0], &DEV).unwrap();
        let y = Tensor::new(&[0.0f64, 1.0], &DEV).unwrap();
        let want = (2f64.ln() + (1.0 + (-2f64).exp()).ln()) / 2.0;
        assert!((scalar(&order_loss(&z, &y).unwrap()) - want).abs() < 1e-12);
    }

    #[test]
    fn order_loss_gradient_matches_finite_differences() {
        let cell = cell(2);
        let head = OrderHead::new(2, &DEV, DType::F64).unwrap();
        head.w.set(&Tensor::new(&[1.5f64, -2.0], &DEV).unwrap()).unwrap();
        let labels = Tensor::new(&[1.0f64, 0.0], &DEV).unwrap();
        let f = |x: &Tensor| order_loss(&head.logits(&cell.run_with_hidden(x)?.1)?, &labels);
        check_gradient(&f, &drifting(), "frame-order loss");
    }

    #[test]
    fn ema_teacher_follows_the_decay() {
        let var = |v: f64| Var::from_tensor(&Tensor::new(&[v, 2.0 * v], &DEV).unwrap()).unwrap();
        let values = |v: &Var| -> Vec<f64> { v.as_tensor().to_vec1().unwrap() };
        let (teacher, student) = ([var(1.0)], [var(5.0)]);
        ema_update(&teacher, &student, 1.0).unwrap();
        assert_eq!(values(&teacher[0]), [1.0, 2.0], "decay 1: the teacher stays");
        ema_update(&teacher, &student, 0.75).unwrap();
        assert_eq!(values(&teacher[0]), [2.0, 4.0], "0.75 * 1 + 0.25 * 5");
        ema_update(&teacher, &student, 0.0).unwrap();
        assert_eq!(values(&teacher[0]), values(&student[0]), "decay 0: the student");
    }

    /// Frame 1, point 0 kept: 0.6 * (2, 2) + 0.4 * (4, 7) = (2.8, 4); point 1 dropped: the teacher's.
    #[test]
    fn multi_source_target_blends_the_registration_where_kept() {
        let teacher = points(&[[1.0, 1.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [5.0, 5.0], [6.0, 6.0]], (1, 3, 2, 2));
        let registered = Tensor::from_vec(vec![4.0f64, 7.0, 9.0, 9.0], (1, 2, 2), &DEV).unwrap();
        let keep = Tensor::new(&[[1u8, 0]], &DEV).unwrap();
        let target = multi_source_target(&teacher, &registered, &keep, 1, 0.6).unwrap();
        let got: Vec<f64> = target.flatten_all().unwrap().to_vec1().unwrap();
        let want = [1.0, 1.0, 1.0, 1.0, 2.8, 4.0, 3.0, 3.0, 5.0, 5.0, 6.0, 6.0];
        assert!(got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12), "{got:?}");
        for frame in [0, 2] {
            let edge = multi_source_target(&teacher, &registered, &keep, frame, 0.6).unwrap();
            assert_eq!(edge.dims(), teacher.dims(), "frame {frame}");
        }
    }

    #[test]
    fn teacher_loss_gradient_matches_finite_differences() {
        let x = drifting();
        let teacher = points(&[[3.0, 4.0], [5.0, 3.0], [3.5, 4.2], [5.4, 2.7], [3.9, 4.1], [5.2, 3.3]], (1, 3, 2, 2));
        let registered = Tensor::from_vec(vec![3.8f64, 4.3, 5.0, 2.5], (1, 2, 2), &DEV).unwrap();
        let keep = Tensor::new(&[[1u8, 1]], &DEV).unwrap();
        let target = multi_source_target(&teacher, &registered, &keep, 2, 0.6).unwrap();
        check_gradient(&|m| target_loss(m, &target, PDC), &x, "teacher-student loss");
    }
}
