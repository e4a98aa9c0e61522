//! The Jitter loss of the fine-tuning paper (eq. 2-4, 7, combined as in eq. 8) on candle tensors,
//! with the differentiable PDC decoder it needs.

use candle_core::{D, DType, Tensor};

use crate::Result;

/// Hyper-parameters of the Jitter loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterLossConfig {
    /// Θ: the cap on the modulation Ψ (eq. 3) and the scale of the Geman-McClure pixel loss
    /// (eq. 7). Paper: 1.
    pub theta: f64,
    /// ξ: keeps Ψ finite on still frames, in heatmap pixels. The paper gives no value; 0.1 px is
    /// small against the true motion of a moving face (>= 0.3 px/frame in heatmap pixels) and
    /// large against float noise, so on still frames any jitter of ~0.1 px already gets Ψ near Θ.
    pub xi: f64,
    /// λ: weight of the plain pixel loss next to the modulated one (eq. 8). With Ψ alone a
    /// constant error costs nothing (e_t = e_{t-1} gives Ψ = 0), so the output could drift.
    pub lambda: f64,
    /// Θ_PDC, relative to each map's maximum (as [`steadyface::decode::Decoder`] takes it).
    pub pdc_threshold: f64,
}

impl Default for JitterLossConfig {
    fn default() -> Self {
        JitterLossConfig {
            theta: 1.0,
            xi: 0.1,
            lambda: 1.0,
            pdc_threshold: steadyface::decode::DEFAULT_PDC_THRESHOLD as f64,
        }
    }
}

/// PDC on `[..., H, W]` maps -> points `[..., 2]` (x, y heatmap pixels, centres at integers), the
/// same rule as [`steadyface::decode::Decoder::PdcSoft`]: weights `max(v - cut, 0)` with
/// `cut = threshold * max(map)`. Which pixels pass the cut is a stop-gradient mask (a comparison
/// carries no gradient); the values and the cut itself are differentiated. A map with no positive
/// value gives a finite point (its weights are floored) that callers must not trust.
pub fn pdc(maps: &Tensor, threshold: f64) -> Result<Tensor> {
    let dims = maps.dims().to_vec();
    let n = dims.len();
    let (h, w) = (dims[n - 2], dims[n - 1]);
    let lead: usize = dims[..n - 2].iter().product();
    let flat = maps.reshape((lead, h * w))?;
    let cut = (flat.max_keepdim(1)? * threshold)?;
    let above = flat.broadcast_sub(&cut)?;
    let mask = above.gt(0.0)?.to_dtype(maps.dtype())?.detach();
    let weights = (above * mask)?;
    let total = (weights.sum_keepdim(1)? + 1e-12)?;
    let grid = |f: fn(usize, usize) -> f32| -> candle_core::Result<Tensor> {
        let values: Vec<f32> = (0..h * w).map(|i| f(i, w)).collect();
        Tensor::from_vec(values, h * w, maps.device())?.to_dtype(maps.dtype())
    };
    let xs = grid(|i, w| (i % w) as f32)?;
    let ys = grid(|i, w| (i / w) as f32)?;
    let x = weights.broadcast_mul(&xs.unsqueeze(0)?)?.sum_keepdim(1)?.div(&total)?;
    let y = weights.broadcast_mul(&ys.unsqueeze(0)?)?.sum_keepdim(1)?.div(&total)?;
    let mut out_dims = dims[..n - 2].to_vec();
    out_dims.push(2);
    Ok(Tensor::cat(&[x, y], 1)?.reshape(out_dims)?)
}

/// Each `[..., H, W]` map divided by its maximum (with gradient; floored at 1e-6).
///
/// Every decoder here reads a map relative to its peak (PDC's cut is a fraction of the maximum), so
/// a map's scale carries no information. Without this the pixel loss is dominated by scale: a
/// stabilizer that blends the heatmap with its running average starts each track with a fainter
/// peak (its state is still empty), and on our sequences that cost 4x the whole baseline loss
/// while the decoded points got steadier and more accurate. Targets are peak-1 Gaussians already.
pub fn peak_normalised(maps: &Tensor) -> Result<Tensor> {
    let dims = maps.dims().to_vec();
    let n = dims.len();
    let flat = maps.reshape((dims[..n - 2].iter().product::<usize>(), dims[n - 2] * dims[n - 1]))?;
    let peak = flat.max_keepdim(1)?.clamp(1e-6, f64::MAX)?;
    Ok(flat.broadcast_div(&peak)?.reshape(dims)?)
}

/// Geman-McClure pixel loss (eq. 7) summed over each map: `[..., H, W]` pairs -> `[...]`.
pub fn pixel_loss(s: &Tensor, target: &Tensor, theta: f64) -> Result<Tensor> {
    let d2 = (s - target)?.sqr()?;
    let per_pixel = (&d2 / (&d2 + theta * theta)?)?;
    Ok(per_pixel.sum(D::Minus1)?.sum(D::Minus1)?)
}

/// The parts of one evaluation of the loss, as plain numbers for logging.
#[derive(Debug, Clone, Copy, Default)]
pub struct LossParts {
    /// Mean Geman-McClure pixel loss per landmark and frame.
    pub pixel: f64,
    /// Mean Ψ over landmarks and frame pairs.
    pub psi: f64,
}

/// The Jitter loss of a batch of sequences: `s`, `target` `[B,T,K,H,W]` (stabilized and target
/// heatmaps), `target_points` `[B,T,K,2]` (heatmap pixels), `valid` `[B,T,K]` (1 where the target
/// point lies in the map). Per landmark and frame, `(λ + Ψ_t) * L_pixel` (Ψ_0 = 0: no previous
/// frame), averaged over valid entries; Ψ uses PDC-decoded points of `s` and carries gradient.
pub fn jitter_loss(
    s: &Tensor,
    target: &Tensor,
    target_points: &Tensor,
    valid: &Tensor,
    cfg: &JitterLossConfig,
) -> Result<(Tensor, LossParts)> {
    let t = s.dim(1)?;
    let pixel = pixel_loss(&peak_normalised(s)?, target, cfg.theta)?; // [B,T,K]
    let points = pdc(s, cfg.pdc_threshold)?; // [B,T,K,2]
    let weights = if t > 1 {
        let err = (points - target_points)?;
        let step = |x: &Tensor| -> candle_core::Result<Tensor> { x.narrow(1, 1, t - 1)? - x.narrow(1, 0, t - 1)? };
        let norm = |x: &Tensor| -> candle_core::Result<Tensor> { (x.sqr()?.sum(D::Minus1)? + 1e-12)?.sqrt() };
        let jitter = norm(&step(&err)?)?; // |e_t - e_{t-1}|  [B,T-1,K]
        let offset = norm(&step(target_points)?)?; // |c_{t-1,t}|
        let psi = (jitter / (offset + cfg.xi)?)?.clamp(0.0, cfg.theta)?;
        let (b, _, k) = psi.dims3()?;
        let first = Tensor::zeros((b, 1, k), s.dtype(), s.device())?;
        (Tensor::cat(&[&first, &psi], 1)? + cfg.lambda)?
    } else {
        (pixel.ones_like()? * cfg.lambda)?
    };
    let count = (valid.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?).max(1.0);
    let loss = ((weights.clone() * &pixel)? * valid)?.sum_all()?.affine(1.0 / count, 0.0)?;
    let mean = |x: &Tensor| -> Result<f64> { Ok(x.mean_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?) };
    let parts = LossParts { pixel: mean(&pixel)?, psi: mean(&weights)? - cfg.lambda };
    Ok((loss, parts))
}

/// Helpers shared by the loss tests here and in [`crate::consistency`].
#[cfg(test)]
pub(crate) mod testing {
    use steadyface::heatmap::{HeatmapSpec, render};

    /// Peak-1 Gaussians at `points` on `size x size` maps, as the runtime renders targets.
    pub fn maps(points: &[[f32; 2]], size: usize, sigma: f32) -> Vec<f32> {
        let mut out = vec![0.0; points.len() * size * size];
        render(points, &HeatmapSpec { size, sigma }, &mut out);
        out
    }

    /// Central finite differences of `f` at `x`.
    pub fn numeric(f: &dyn Fn(&[f64]) -> f64, x: &[f64], eps: f64) -> Vec<f64> {
        (0..x.len())
            .map(|i| {
                let (mut a, mut b) = (x.to_vec(), x.to_vec());
                a[i] += eps;
                b[i] -= eps;
                (f(&a) - f(&b)) / (2.0 * eps)
            })
            .collect()
    }

    pub fn assert_close(autodiff: &[f64], numeric: &[f64], what: &str) {
        let scale = numeric.iter().map(|v| v.abs()).fold(0.0, f64::max);
        assert!(scale > 1e-6, "{what}: gradient is zero, the check would prove nothing");
        let mut worst = 0.0f64;
        for (a, n) in autodiff.iter().zip(numeric) {
            // Relative to the gradient's scale: entries near zero are compared against it.
            worst = worst.max((a - n).abs() / n.abs().max(1e-2 * scale));
        }
        assert!(worst < 1e-3, "{what}: autodiff and finite differences differ by {worst:.2e} relative");
        eprintln!("{what}: max relative difference {worst:.2e}");
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::testing::{assert_close, maps, numeric};
    use super::*;
    use steadyface::decode::Decoder;

    /// The differentiable PDC decodes exactly what the runtime's `pdc-soft` decoder decodes.
    #[test]
    fn pdc_matches_the_runtime_decoder() {
        let pts = [[3.3, 4.7], [10.2, 2.1], [7.5, 7.5]];
        let data = maps(&pts, 12, 1.5);
        let t = Tensor::from_slice(&data, (3, 12, 12), &Device::Cpu).unwrap();
        let got: Vec<Vec<f32>> = pdc(&t, 0.2).unwrap().to_vec2().unwrap();
        let (want, _) = Decoder::PdcSoft { threshold: 0.2 }.decode(&data, 3, 12, 12);
        for (g, w) in got.iter().zip(&want) {
            assert!((g[0] - w[0]).abs() < 1e-5 && (g[1] - w[1]).abs() < 1e-5, "{g:?} vs {w:?}");
        }
    }

    /// A smooth sequence of noisy Gaussians: B=1, T=3, K=2, 8x8, f64.
    fn sequence() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (t, k, n) = (3usize, 2usize, 8usize);
        let truth = [[[3.2f32, 4.1], [5.3, 2.6]], [[3.6, 4.0], [5.6, 2.9]], [[3.7, 4.4], [5.5, 3.2]]];
        let noisy = [[[3.4f32, 3.9], [5.1, 2.8]], [[3.3, 4.3], [5.9, 2.7]], [[4.0, 4.2], [5.2, 3.5]]];
        let mut s = Vec::new();
        let mut target = Vec::new();
        let mut pts = Vec::new();
        for step in 0..t {
            s.extend(maps(&noisy[step], n, 1.3).iter().enumerate().map(|(i, &v)| v as f64 + 0.01 * ((i % 7) as f64)));
            target.extend(maps(&truth[step], n, 1.3).iter().map(|&v| v as f64));
            pts.extend(truth[step].iter().flat_map(|p| [p[0] as f64, p[1] as f64]));
        }
        assert_eq!(s.len(), t * k * n * n);
        (s, target, pts)
    }

    #[test]
    fn pdc_gradient_matches_finite_differences() {
        let (s, _, _) = sequence();
        let dev = Device::Cpu;
        let n = 8;
        let one = &s[..n * n];
        // d(x + 2y)/d(map): weights the two coordinates differently so neither hides the other.
        let f = |v: &[f64]| -> f64 {
            let t = Tensor::from_slice(v, (n, n), &dev).unwrap();
            let p: Vec<f64> = pdc(&t, 0.2).unwrap().to_vec1().unwrap();
            p[0] + 2.0 * p[1]
        };
        let var = Var::from_tensor(&Tensor::from_slice(one, (n, n), &dev).unwrap()).unwrap();
        let p = pdc(var.as_tensor(), 0.2).unwrap();
        let obj =
            (p.narrow(0, 0, 1).unwrap() + (p.narrow(0, 1, 1).unwrap() * 2.0).unwrap()).unwrap().sum_all().unwrap();
        let grads = obj.backward().unwrap();
        let ad: Vec<f64> = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_close(&ad, &numeric(&f, one, 1e-6), "PDC");
    }

    #[test]
    fn jitter_loss_gradient_matches_finite_differences() {
        let (s, target, pts) = sequence();
        let dev = Device::Cpu;
        let shape = (1, 3, 2, 8, 8);
        let target = Tensor::from_slice(&target, shape, &dev).unwrap();
        let pts = Tensor::from_slice(&pts, (1, 3, 2, 2), &dev).unwrap();
        let valid = Tensor::ones((1, 3, 2), DType::F64, &dev).unwrap();
        // Θ large enough that Ψ stays below its cap here, so the check also covers Ψ's gradient.
        let cfg = JitterLossConfig { theta: 3.0, ..JitterLossConfig::default() };
        let f = |v: &[f64]| -> f64 {
            let t = Tensor::from_slice(v, shape, &dev).unwrap();
            jitter_loss(&t, &target, &pts, &valid, &cfg).unwrap().0.to_scalar().unwrap()
        };
        let var = Var::from_tensor(&Tensor::from_slice(&s, shape, &dev).unwrap()).unwrap();
        let (loss, parts) = jitter_loss(var.as_tensor(), &target, &pts, &valid, &cfg).unwrap();
        assert!(parts.psi > 0.05 && parts.psi < cfg.theta, "Ψ {} should be active and uncapped", parts.psi);
        let grads = loss.backward().unwrap();
        let ad: Vec<f64> = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_close(&ad, &numeric(&f, &s, 1e-6), "Jitter loss");
    }

    /// Eq. 3-4 by hand on one landmark: e_t - e_{t-1} and c over two frames.
    #[test]
    fn psi_is_the_papers_ratio() {
        let dev = Device::Cpu;
        let n = 16;
        // Predictions at (5,5) then (6,5); truth at (5,5) then (5.5,5): e moves by 0.5, c = 0.5.
        let s: Vec<f64> =
            [maps(&[[5.0, 5.0]], n, 1.5), maps(&[[6.0, 5.0]], n, 1.5)].concat().iter().map(|&v| v as f64).collect();
        let s = Tensor::from_slice(&s, (1, 2, 1, n, n), &dev).unwrap();
        let pts = Tensor::from_slice(&[5.0f64, 5.0, 5.5, 5.0], (1, 2, 1, 2), &dev).unwrap();
        let valid = Tensor::ones((1, 2, 1), DType::F64, &dev).unwrap();
        let cfg = JitterLossConfig { theta: 10.0, xi: 0.1, lambda: 1.0, pdc_threshold: 0.2 };
        let (_, parts) = jitter_loss(&s, &s, &pts, &valid, &cfg).unwrap();
        // Ψ_1 = |0.5| / (0.5 + 0.1) = 0.8333 (up to the decoder's ~0.01 px bias); Ψ_0 = 0; mean 0.4167.
        assert!((parts.psi - 0.5 * 0.5 / 0.6).abs() < 0.01, "mean Ψ {}", parts.psi);
    }
}
