//! Differentiable Lucas-Kanade registration and the SBR registration loss (Dong et al., "Supervision-by-Registration",
//! sections 3.1-3.2), in candle.
//!
//! Conventions: images are grayscale `[B, H, W]` tensors (any float dtype; f64 for gradient checks), pixel centres at
//! integer coordinates, points `[B, P, 2]` as (x, y) in pixels of those images.
//!
//! Everything is plain tensor arithmetic (cubic sampling from `floor`, `gather` and polynomial weights, since candle
//! has no grid-sample), so gradients reach the points of both frames and the images.

use candle_core::{DType, Device, Error, Result, Tensor};

/// Added to the 2x2 LK Hessian's diagonal, relative to its trace. It bounds the condition number on edges (aperture
/// problem) and, as the regulariser only scales the step, it does not move the converged position.
const HESSIAN_EPS_REL: f64 = 1e-3;
/// Added to the Hessian's diagonal per patch pixel (intensity^2 / px^2, for intensities in [0, 1]): keeps an exactly
/// flat patch (constant border, occluder) invertible; there the right-hand side is zero too, so the point stays put.
const HESSIAN_EPS_ABS: f64 = 1e-6;
/// Inside the square root of the registration distance (px^2): sqrt has an infinite slope at 0, and tracks that match
/// exactly are the common case near convergence. Adds at most 1e-6 px to a distance.
const DIST_EPS: f64 = 1e-12;

/// Default blur (sigma, px) before tracking (see [`track`]).
const SMOOTHING: f32 = 1.0;

/// Lucas-Kanade and SBR loss settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LkConfig {
    /// Side of the square template around each point, in pixels (SBR: 10).
    pub patch: usize,
    /// Inverse-compositional iterations, a fixed count so the graph has the same shape every step (SBR: at most 20).
    pub iterations: usize,
    /// Forward-backward gate: a point is used only if tracking it forward and back lands closer than this (pixels).
    pub fb_threshold: f32,
    /// Residual gate: a point is used only if the RMS difference between its template and the patch it was tracked
    /// to is below this fraction of the template's own RMS contrast. The forward-backward check misses a track that
    /// does not move (onto a flat occluder it stays put both ways); the residual does not.
    pub max_residual: f32,
    /// Weight of the registration loss (SBR: gamma = 0.5).
    pub gamma: f32,
    /// Sigma (pixels) of the Gaussian blur applied to both images before tracking; 0 = none.
    pub smoothing: f32,
}

impl Default for LkConfig {
    fn default() -> Self {
        // The paper gives no forward-backward threshold; 1 px is about a tenth of the 10 px template.
        Self { patch: 10, iterations: 20, fb_threshold: 1.0, max_residual: 0.5, gamma: 0.5, smoothing: SMOOTHING }
    }
}

fn shape_err(msg: String) -> Error {
    Error::Msg(msg).bt()
}

/// `[B, H, W]` with H, W >= 2 and a float dtype.
fn image_dims(images: &Tensor, what: &str) -> Result<(usize, usize, usize)> {
    let (b, h, w) = images.dims3().map_err(|_| {
        shape_err(format!("{what}: expected grayscale images [B, H, W], got shape {:?}", images.dims()))
    })?;
    if h < 2 || w < 2 {
        return Err(shape_err(format!("{what}: images must be at least 2x2, got {h}x{w}")));
    }
    if !images.dtype().is_float() {
        return Err(shape_err(format!("{what}: images must be a float dtype, got {:?}", images.dtype())));
    }
    Ok((b, h, w))
}

/// `[B, N, 2]` points matching the images' batch and dtype.
fn point_dims(points: &Tensor, images: &Tensor, batch: usize, what: &str) -> Result<usize> {
    let (b, n, two) = points
        .dims3()
        .map_err(|_| shape_err(format!("{what}: expected points [B, N, 2], got shape {:?}", points.dims())))?;
    if b != batch || two != 2 {
        return Err(shape_err(format!(
            "{what}: expected points [B={batch}, N, 2] for images {:?}, got {:?}",
            images.dims(),
            points.dims()
        )));
    }
    if points.dtype() != images.dtype() {
        return Err(shape_err(format!(
            "{what}: points ({:?}) and images ({:?}) must share a dtype",
            points.dtype(),
            images.dtype()
        )));
    }
    Ok(n)
}

/// Samples `images` `[B, H, W]` at `xy` `[B, N, 2]` with Keys cubic convolution (a = -0.5): `[B, N]`.
///
/// Interpolating and third-order accurate, so a sub-pixel shift does not smooth the image the way bilinear sampling
/// does (by f(1-f) at phase f). Taps outside the image read the border. Differentiable with respect to `xy` (the
/// kernel is C1) and to `images`.
pub fn sample_bicubic(images: &Tensor, xy: &Tensor) -> Result<Tensor> {
    let (b, h, w) = image_dims(images, "sample_bicubic")?;
    point_dims(xy, images, b, "sample_bicubic")?;
    let axis = |i: usize, size: usize| -> Result<(Tensor, [Tensor; 4])> {
        let v = xy.narrow(2, i, 1)?.squeeze(2)?.clamp(0f64, (size - 1) as f64)?;
        let v0 = v.detach().floor()?.clamp(0f64, (size - 2) as f64)?;
        let t = (&v - &v0)?;
        let (t2, t3) = (t.sqr()?, t.powf(3.0)?);
        // Weights of the taps at v0 - 1, v0, v0 + 1, v0 + 2.
        let weights = [
            ((t3.affine(-0.5, 0.0)? + &t2)? - t.affine(0.5, 0.0)?)?,
            (t3.affine(1.5, 0.0)? - t2.affine(2.5, 0.0)?)?.affine(1.0, 1.0)?,
            ((t3.affine(-1.5, 0.0)? + t2.affine(2.0, 0.0)?)? + t.affine(0.5, 0.0)?)?,
            (t3.affine(0.5, 0.0)? - t2.affine(0.5, 0.0)?)?,
        ];
        Ok((v0.to_dtype(DType::F64)?, weights))
    };
    let (x0, wx) = axis(0, w)?;
    let (y0, wy) = axis(1, h)?;
    let flat = images.reshape((b, h * w))?;
    let mut out: Option<Tensor> = None;
    for (dy, wy) in wy.iter().enumerate() {
        let row_index = y0.affine(1.0, dy as f64 - 1.0)?.clamp(0f64, (h - 1) as f64)?.affine(w as f64, 0.0)?;
        let mut row: Option<Tensor> = None;
        for (dx, wx) in wx.iter().enumerate() {
            let col = x0.affine(1.0, dx as f64 - 1.0)?.clamp(0f64, (w - 1) as f64)?;
            let tap = flat.gather(&(&row_index + col)?.to_dtype(DType::U32)?, 1)?.mul(wx)?;
            row = Some(match row {
                Some(r) => (r + tap)?,
                None => tap,
            });
        }
        let term = row.expect("four taps").mul(wy)?;
        out = Some(match out {
            Some(o) => (o + term)?,
            None => term,
        });
    }
    Ok(out.expect("four rows"))
}

/// Separable Gaussian blur of `[B, H, W]` images (`sigma` px, borders repeated); 0 returns them.
fn blur(images: &Tensor, sigma: f64) -> Result<Tensor> {
    if sigma <= 0.0 {
        return Ok(images.clone());
    }
    let r = (3.0 * sigma).ceil() as usize;
    let taps: Vec<f64> =
        (0..=2 * r).map(|i| (-((i as f64 - r as f64).powi(2)) / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = taps.iter().sum();
    let along = |x: &Tensor, dim: usize| -> Result<Tensor> {
        let n = x.dim(dim)?;
        let padded = x.pad_with_same(dim, r, r)?;
        let mut acc = padded.narrow(dim, 0, n)?.affine(taps[0] / total, 0.0)?;
        for (k, &tap) in taps.iter().enumerate().skip(1) {
            acc = (acc + padded.narrow(dim, k, n)?.affine(tap / total, 0.0)?)?;
        }
        Ok(acc)
    };
    along(&along(images, 2)?, 1)
}

/// Template pixel offsets from the point, `[S, 2]` with S = patch^2, centred (half-integers for an even patch).
fn patch_offsets(patch: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let c = (patch as f64 - 1.0) / 2.0;
    let mut v = Vec::with_capacity(patch * patch * 2);
    for j in 0..patch {
        for i in 0..patch {
            v.push(i as f64 - c);
            v.push(j as f64 - c);
        }
    }
    Tensor::from_vec(v, (patch * patch, 2), device)?.to_dtype(dtype)
}

/// Samples `images` at every template pixel around `points` `[B, P, 2]`: `[B, P, S]`.
fn sample_patches(images: &Tensor, points: &Tensor, offsets: &Tensor) -> Result<Tensor> {
    let (b, p, _) = points.dims3()?;
    let s = offsets.dim(0)?;
    let grid = points.unsqueeze(2)?.broadcast_add(&offsets.unsqueeze(0)?.unsqueeze(0)?)?;
    sample_bicubic(images, &grid.reshape((b, p * s, 2))?)?.reshape((b, p, s))
}

/// Tracks `points` `[B, P, 2]` from image `from` into image `to` (both `[B, H, W]`) with translation-only
/// inverse-compositional Lucas-Kanade; returns the tracked points `[B, P, 2]` in `to`.
///
/// The template is a `patch x patch` grid sampled around each point in `from` ([`sample_bicubic`]), its gradient a
/// central difference (+-1 px) of the same surface. The Hessian is regularised (see [`HESSIAN_EPS_REL`],
/// [`HESSIAN_EPS_ABS`]), and `iterations` updates p <- p - dp (the inverse-compositional step; + diverges) run without
/// early exit. The result is differentiable with respect to `points` (template position and starting position) and
/// both images. A point on a flat patch stays where it started.
///
/// Pixels are weighted uniformly: the paper's Gaussian weights (alpha_x) gave no accuracy gain in tests. Both images
/// are first blurred (`cfg.smoothing`, default sigma 1 px) and sampled with Keys cubic convolution: bilinear
/// sampling smooths by f(1-f) at sub-pixel phase f, so template and target were smoothed differently, which cost
/// 0.05 px mean and 0.09 px worst on a shifted real face crop; cubic sampling of the blurred images tracks it to
/// 0.02 px mean, under 0.05 px worst (see the tests).
pub fn track(from: &Tensor, to: &Tensor, points: &Tensor, cfg: &LkConfig) -> Result<Tensor> {
    track_dims(from, to, points, cfg)?;
    let sigma = cfg.smoothing as f64;
    track_blurred(&blur(from, sigma)?, &blur(to, sigma)?, points, cfg)
}

/// Checks [`track`]'s inputs; returns (B, P).
fn track_dims(from: &Tensor, to: &Tensor, points: &Tensor, cfg: &LkConfig) -> Result<(usize, usize)> {
    let (b, _, _) = image_dims(from, "track (from)")?;
    if to.dims() != from.dims() || to.dtype() != from.dtype() {
        return Err(shape_err(format!(
            "track: `to` {:?} {:?} must match `from` {:?} {:?}",
            to.dims(),
            to.dtype(),
            from.dims(),
            from.dtype()
        )));
    }
    let p = point_dims(points, from, b, "track")?;
    if cfg.patch < 2 {
        return Err(shape_err(format!("track: patch must be at least 2 pixels, got {}", cfg.patch)));
    }
    Ok((b, p))
}

/// [`track`] on images already blurred by `cfg.smoothing` (so SBR blurs each frame once for its
/// forward and backward tracks and its residual gate).
fn track_blurred(from: &Tensor, to: &Tensor, points: &Tensor, cfg: &LkConfig) -> Result<Tensor> {
    let (b, p) = track_dims(from, to, points, cfg)?;
    let s = cfg.patch * cfg.patch;
    let offsets = patch_offsets(cfg.patch, from.dtype(), from.device())?;

    // Template and its four +-1 px neighbours in one sampling pass: stencil [5, 2].
    let stencil = Tensor::from_vec(vec![0f64, 0., 1., 0., -1., 0., 0., 1., 0., -1.], (5, 2), from.device())?
        .to_dtype(from.dtype())?;
    let grid = points.unsqueeze(2)?.broadcast_add(&offsets.unsqueeze(0)?.unsqueeze(0)?)?; // [B, P, S, 2]
    let grid = grid.unsqueeze(1)?.broadcast_add(&stencil.reshape((1, 5, 1, 1, 2))?)?; // [B, 5, P, S, 2]
    let v = sample_bicubic(from, &grid.reshape((b, 5 * p * s, 2))?)?.reshape((b, 5, p, s))?;
    let tap = |k: usize| v.narrow(1, k, 1)?.squeeze(1);
    let template = tap(0)?;
    let gx = (tap(1)? - tap(2)?)?.affine(0.5, 0.0)?;
    let gy = (tap(3)? - tap(4)?)?.affine(0.5, 0.0)?;

    // 2x2 Hessian per point, regularised, inverted in closed form.
    let hxx = gx.sqr()?.sum(2)?;
    let hxy = (&gx * &gy)?.sum(2)?;
    let hyy = gy.sqr()?.sum(2)?;
    let reg = (&hxx + &hyy)?.affine(HESSIAN_EPS_REL, HESSIAN_EPS_ABS * s as f64)?;
    let hxx = (hxx + &reg)?;
    let hyy = (hyy + &reg)?;
    let det = ((&hxx * &hyy)? - hxy.sqr()?)?;
    let (ixx, ixy, iyy) = ((hyy / &det)?, (hxy.neg()? / &det)?, (hxx / &det)?);
    let h_inv = Tensor::stack(&[Tensor::stack(&[&ixx, &ixy], 2)?, Tensor::stack(&[ixy, iyy], 2)?], 2)?; // [B, P, 2, 2]
    let jt = Tensor::stack(&[gx, gy], 2)?; // [B, P, 2, S]

    let mut pos = points.clone();
    for _ in 0..cfg.iterations {
        let err = (sample_patches(to, &pos, &offsets)? - &template)?.unsqueeze(3)?; // [B, P, S, 1]
        let dp = h_inv.matmul(&jt.matmul(&err)?)?.squeeze(3)?; // [B, P, 2]
        pos = (pos - dp)?;
    }
    debug_assert_eq!(pos.dims(), &[b, p, 2]);
    Ok(pos)
}

/// Per point `[B, P]`: RMS of (patch at `to_pts` in `to` - template at `from_pts` in `from`) over the template's RMS
/// deviation from its mean (`from`, `to`: the blurred images LK tracks on; no gradient).
fn relative_residual(from: &Tensor, to: &Tensor, from_pts: &Tensor, to_pts: &Tensor, cfg: &LkConfig) -> Result<Tensor> {
    let offsets = patch_offsets(cfg.patch, from.dtype(), from.device())?;
    let template = sample_patches(&from.detach(), &from_pts.detach(), &offsets)?;
    let target = sample_patches(&to.detach(), &to_pts.detach(), &offsets)?;
    let residual = (target - &template)?.sqr()?.mean(2)?.sqrt()?;
    let contrast = template.broadcast_sub(&template.mean_keepdim(2)?)?.sqr()?.mean(2)?.sqrt()?;
    residual / contrast.affine(1.0, 1e-6)?
}

/// SBR's gated registration: `prev_pts` (`[B, P, 2]`) tracked from `prev` into `cur` (`[B, H, W]`, unblurred), and
/// which points passed the gates of [`sbr_loss`] (`[B, P]`, u8 1 = kept, no gradient). The tracked points carry
/// gradient to `prev_pts` and both images. Shared by the SBR loss and the teacher-student registration source.
pub fn register(prev: &Tensor, cur: &Tensor, prev_pts: &Tensor, cfg: &LkConfig) -> Result<(Tensor, Tensor)> {
    let sigma = cfg.smoothing as f64;
    let (prev, cur) = (&blur(prev, sigma)?, &blur(cur, sigma)?);
    let forward = track_blurred(prev, cur, prev_pts, cfg)?;
    let back = track_blurred(&cur.detach(), &prev.detach(), &forward.detach(), cfg)?;
    let fb = (back - prev_pts.detach())?.sqr()?.sum(2)?.sqrt()?; // [B, P]
    let residual = relative_residual(prev, cur, prev_pts, &forward, cfg)?;
    // NaN (a broken input) compares false and is dropped too.
    let keep = (fb.lt(cfg.fb_threshold as f64)?.to_dtype(DType::U8)? * residual.lt(cfg.max_residual as f64)?)?;
    Ok((forward, keep))
}

/// SBR registration loss between consecutive frames `prev`, `cur` (`[B, H, W]`) and their predicted points `prev_pts`,
/// `cur_pts` (`[B, P, 2]`). Returns the loss (a scalar tensor) and how many points passed the gates.
///
/// `prev_pts` are tracked prev -> cur, the result back cur -> prev; points whose round trip misses by
/// `fb_threshold` or more, or whose tracked patch differs from the template by `max_residual` of its contrast or
/// more, are dropped (the gates are comparisons, so they carry no gradient). The loss is
/// `gamma` x the mean over kept points of the L2 distance (not squared; the paper's Eq. 6 uses `||.||_2`) between
/// the LK-tracked and `cur_pts`: gradients reach `cur_pts` directly and `prev_pts` through LK. Zero when nothing is
/// kept. The backward track only feeds the gate, so it runs on detached tensors.
pub fn sbr_loss(
    prev: &Tensor,
    cur: &Tensor,
    prev_pts: &Tensor,
    cur_pts: &Tensor,
    cfg: &LkConfig,
) -> Result<(Tensor, usize)> {
    let (b, _, _) = image_dims(prev, "sbr_loss (prev)")?;
    let p = point_dims(prev_pts, prev, b, "sbr_loss (prev_pts)")?;
    if cur_pts.dims() != prev_pts.dims() || cur_pts.dtype() != prev_pts.dtype() {
        return Err(shape_err(format!(
            "sbr_loss: cur_pts {:?} {:?} must match prev_pts {:?} {:?}",
            cur_pts.dims(),
            cur_pts.dtype(),
            prev_pts.dims(),
            prev_pts.dtype()
        )));
    }
    let (forward, keep) = register(prev, cur, prev_pts, cfg)?;
    let kept = keep.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()? as usize;
    let dist = (forward - cur_pts)?.sqr()?.sum(2)?.affine(1.0, DIST_EPS)?.sqrt()?;
    // where_cond rather than a product with the mask, so a non-finite dropped distance cannot poison the sum.
    let dist = keep.where_cond(&dist, &dist.zeros_like()?)?;
    let loss = dist.sum_all()?.affine(cfg.gamma as f64 / kept.max(1) as f64, 0.0)?;
    debug_assert!(kept <= b * p);
    Ok((loss, kept))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    const DEV: Device = Device::Cpu;

    /// A smooth analytic test image (no kinks, so finite differences see only the sampler's own).
    fn smooth(x: f64, y: f64) -> f64 {
        0.5 + 0.2 * (0.5 * x + 0.3 * y).sin()
            + 0.15 * (0.4 * y - 0.2 * x + 1.0).cos()
            + 0.3 * (-((x - 11.0).powi(2) + (y - 9.0).powi(2)) / 18.0).exp()
    }

    /// `[1, h, w]` f64 image of `f` shifted by `d` (content moves by +d).
    fn render(h: usize, w: usize, d: (f64, f64), f: impl Fn(f64, f64) -> f64) -> Result<Tensor> {
        let v: Vec<f64> = (0..h * w).map(|k| f((k % w) as f64 - d.0, (k / w) as f64 - d.1)).collect();
        Tensor::from_vec(v, (1, h, w), &DEV)
    }

    fn pts(v: &[(f64, f64)]) -> Result<Tensor> {
        let flat: Vec<f64> = v.iter().flat_map(|&(x, y)| [x, y]).collect();
        Tensor::from_vec(flat, (1, v.len(), 2), &DEV)
    }

    /// Largest relative difference between candle's Jacobian of `f` at `x0` and central finite differences
    /// (step `h`), element by element, denominators floored at `floor`.
    fn jacobian_error(f: &dyn Fn(&Tensor) -> Result<Tensor>, x0: &Tensor, h: f64, floor: f64) -> Result<f64> {
        let x = Var::from_tensor(x0)?;
        let y = f(x.as_tensor())?.flatten_all()?;
        let x_vals = x0.flatten_all()?.to_vec1::<f64>()?;
        let n_out = y.dim(0)?;
        let mut worst = 0f64;
        for k in 0..n_out {
            let grads = y.narrow(0, k, 1)?.sum_all()?.backward()?;
            let auto = match grads.get(x.as_tensor()) {
                Some(g) => g.flatten_all()?.to_vec1::<f64>()?,
                None => vec![0.0; x_vals.len()],
            };
            for (i, &a) in auto.iter().enumerate() {
                let at = |delta: f64| -> Result<f64> {
                    let mut v = x_vals.clone();
                    v[i] += delta;
                    let xp = Tensor::from_vec(v, x0.shape(), &DEV)?;
                    f(&xp)?.flatten_all()?.narrow(0, k, 1)?.sum_all()?.to_scalar::<f64>()
                };
                let num = (at(h)? - at(-h)?) / (2.0 * h);
                let rel = (a - num).abs() / a.abs().max(num.abs()).max(floor);
                worst = worst.max(rel);
            }
        }
        Ok(worst)
    }

    // Evaluation points sit at fractional parts away from 0 (and from 0.5, which the half-integer template offsets
    // of an even patch map onto integers): the border clamps and `floor` switch there, where finite differences and
    // the one-sided autodiff slope can disagree.

    #[test]
    fn sample_bicubic_gradient_matches_finite_differences() -> Result<()> {
        let img = render(12, 14, (0.0, 0.0), smooth)?;
        let xy = pts(&[(3.3, 4.7), (8.6, 2.2), (12.8, 10.4)])?;
        let err = jacobian_error(&|xy| sample_bicubic(&img, xy), &xy, 1e-6, 1e-6)?;
        println!("sample_bicubic max relative gradient error {err:.2e}");
        assert!(err < 1e-3, "{err}");
        // And with respect to the image (gather's backward).
        let xy_c = xy.clone();
        let err = jacobian_error(&|im| sample_bicubic(im, &xy_c), &img, 1e-6, 1e-6)?;
        assert!(err < 1e-3, "image gradient {err}");
        Ok(())
    }

    #[test]
    fn sample_bicubic_clamps_to_border_and_rejects_bad_shapes() -> Result<()> {
        let img = render(6, 8, (0.0, 0.0), smooth)?;
        let inside = sample_bicubic(&img, &pts(&[(0.0, 2.0), (7.0, 5.0), (7.0, 0.0)])?)?.to_vec2::<f64>()?;
        let outside = sample_bicubic(&img, &pts(&[(-3.0, 2.0), (9.5, 7.0), (20.0, -4.0)])?)?.to_vec2::<f64>()?;
        assert_eq!(inside, outside);
        // Exact at pixel centres; at phase 1/4 the Keys weights of pixels 1..=4 are
        // -0.0703125, 0.8671875, 0.2265625, -0.0234375 (by hand from the kernel).
        let v = sample_bicubic(&img, &pts(&[(2.0, 3.0), (2.25, 3.0)])?)?.to_vec2::<f64>()?;
        assert!((v[0][0] - smooth(2.0, 3.0)).abs() < 1e-12);
        let want = [-0.0703125, 0.8671875, 0.2265625, -0.0234375]
            .iter()
            .enumerate()
            .map(|(i, w)| w * smooth(1.0 + i as f64, 3.0))
            .sum::<f64>();
        assert!((v[0][1] - want).abs() < 1e-12);
        assert!(sample_bicubic(&img, &Tensor::zeros((1, 3, 3), DType::F64, &DEV)?).is_err());
        assert!(sample_bicubic(&img, &Tensor::zeros((2, 3, 2), DType::F64, &DEV)?).is_err());
        assert!(sample_bicubic(&img, &Tensor::zeros((1, 3, 2), DType::F32, &DEV)?).is_err());
        assert!(sample_bicubic(&img.flatten_all()?, &pts(&[(1.0, 1.0)])?).is_err());
        Ok(())
    }

    #[test]
    fn track_gradient_matches_finite_differences() -> Result<()> {
        let d = (0.6, -0.35);
        let (from, to) = (render(22, 24, (0.0, 0.0), smooth)?, render(22, 24, d, smooth)?);
        let cfg = LkConfig { patch: 8, iterations: 20, ..LkConfig::default() };
        let p0 = pts(&[(10.3, 9.2), (13.7, 12.4)])?;
        let out = track(&from, &to, &p0, &cfg)?.to_vec3::<f64>()?;
        println!("tracked {out:?}");
        let err = jacobian_error(&|p| track(&from, &to, p, &cfg), &p0, 1e-6, 1e-6)?;
        println!("track max relative gradient error {err:.2e}");
        assert!(err < 1e-3, "{err}");
        Ok(())
    }

    #[test]
    fn sbr_loss_gradient_matches_finite_differences() -> Result<()> {
        let d = (0.6, -0.35);
        let (prev, cur) = (render(22, 24, (0.0, 0.0), smooth)?, render(22, 24, d, smooth)?);
        let cfg = LkConfig { patch: 8, ..LkConfig::default() };
        let prev_pts = pts(&[(10.3, 9.2), (13.7, 12.4)])?;
        // Away from the tracked positions, so the distance is well away from its smoothed zero.
        let cur_pts = pts(&[(11.2, 8.3), (14.1, 12.9)])?;
        let (_, kept) = sbr_loss(&prev, &cur, &prev_pts, &cur_pts, &cfg)?;
        assert_eq!(kept, 2);
        let c = cur_pts.clone();
        let e_prev = jacobian_error(&|p| Ok(sbr_loss(&prev, &cur, p, &c, &cfg)?.0), &prev_pts, 1e-6, 1e-6)?;
        let e_cur = jacobian_error(&|c| Ok(sbr_loss(&prev, &cur, &prev_pts, c, &cfg)?.0), &cur_pts, 1e-6, 1e-6)?;
        println!("sbr_loss max relative gradient error: prev_pts {e_prev:.2e}, cur_pts {e_cur:.2e}");
        assert!(e_prev < 1e-3 && e_cur < 1e-3, "{e_prev} {e_cur}");
        Ok(())
    }

    const TAKEO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/takeo.ppm");
    /// Crop of the 150x225 takeo.ppm around the face (its annotated points span x 31-127, y 86-173).
    const CROP: (usize, usize, usize) = (30, 75, 100);
    /// Annotated takeo.pts points on texture (full-image pixels): eye corners 36/39/42/45, inner brow ends 21/22,
    /// nostrils 31/35, nose tip 33, mouth corners 48/54.
    const FACE_POINTS: [(f64, f64); 11] = [
        (56.826474, 99.794772),
        (71.235818, 100.588988),
        (98.806452, 100.702447),
        (111.286986, 101.156285),
        (74.185762, 92.646830),
        (98.579533, 90.944939),
        (71.462736, 128.046162),
        (95.856507, 128.046162),
        (84.624027, 131.109566),
        (66.130145, 142.115128),
        (100.508343, 141.093993),
    ];

    /// Lanczos-3 kernel: windowed sinc, close to the ideal band-limited shift, and a different interpolator from
    /// the Keys cubic that LK samples with, so the test does not grade LK against its own sampler.
    fn lanczos3(t: f64) -> f64 {
        let t = t.abs();
        if t < 1e-12 {
            1.0
        } else if t < 3.0 {
            let pt = std::f64::consts::PI * t;
            3.0 * pt.sin() * (pt / 3.0).sin() / (pt * pt)
        } else {
            0.0
        }
    }

    /// takeo.ppm as grayscale in [0, 1] and its width.
    fn takeo() -> Result<(Vec<f64>, usize, usize)> {
        let img = image::open(TAKEO).map_err(|e| Error::Msg(format!("{TAKEO}: {e}")))?.to_luma8();
        let (w, h) = (img.width() as usize, img.height() as usize);
        Ok((img.into_raw().into_iter().map(|v| v as f64 / 255.0).collect(), w, h))
    }

    /// The face crop `[1, S, S]` with its content moved by `d` px, resampled by Lanczos-3 interpolation of the full
    /// image (the crop sits well inside it, so the 6x6 support never leaves the image).
    fn face_crop(d: (f64, f64)) -> Result<Tensor> {
        let (full, w, _) = takeo()?;
        let (ox, oy, side) = CROP;
        let mut out = Vec::with_capacity(side * side);
        for j in 0..side {
            for i in 0..side {
                let (x, y) = ((ox + i) as f64 - d.0, (oy + j) as f64 - d.1);
                let (x0, y0) = (x.floor() as usize, y.floor() as usize);
                let (mut v, mut weight) = (0.0, 0.0);
                for yy in y0 - 2..=y0 + 3 {
                    for xx in x0 - 2..=x0 + 3 {
                        let k = lanczos3(x - xx as f64) * lanczos3(y - yy as f64);
                        v += k * full[yy * w + xx];
                        weight += k;
                    }
                }
                out.push(v / weight);
            }
        }
        Tensor::from_vec(out, (1, side, side), &DEV)
    }

    fn face_points() -> Result<Tensor> {
        let v: Vec<(f64, f64)> = FACE_POINTS.iter().map(|&(x, y)| (x - CROP.0 as f64, y - CROP.1 as f64)).collect();
        pts(&v)
    }

    /// Mean and worst distance (px) between tracked points and the expected ones.
    fn errors(tracked: &Tensor, expected: &Tensor) -> Result<Vec<f64>> {
        let e = (tracked.to_dtype(DType::F64)? - expected.to_dtype(DType::F64)?)?;
        e.sqr()?.sum(2)?.sqrt()?.flatten_all()?.to_vec1::<f64>()
    }

    fn shifted(points: &Tensor, d: (f64, f64)) -> Result<Tensor> {
        points.broadcast_add(&Tensor::new(&[d.0, d.1], &DEV)?.to_dtype(points.dtype())?)
    }

    // Against a Keys-shifted crop, bilinear sampling without blur missed by 0.085-0.096 px worst (its bias, not
    // convergence: 200 iterations gave the same) and cubic sampling alone by 0.07 px. Cubic after a 1 px blur, here
    // against Lanczos-3 shifts: 0.025-0.046 px worst, 0.016-0.019 mean.
    #[test]
    fn lk_tracks_a_shifted_face_crop() -> Result<()> {
        let from = face_crop((0.0, 0.0))?;
        let p = face_points()?;
        for d in [(1.3, -0.7), (0.5, 0.5), (-0.25, 0.8)] {
            let to = face_crop(d)?;
            let expected = shifted(&p, d)?;
            let err = errors(&track(&from, &to, &p, &LkConfig::default())?, &expected)?;
            let mean = err.iter().sum::<f64>() / err.len() as f64;
            let worst = err.iter().cloned().fold(0.0, f64::max);
            println!("shift {d:?}: LK tracking error (px) mean {mean:.4}, worst {worst:.4}: {err:.3?}");
            assert!(worst < 0.05, "shift {d:?}: {err:?}");
            // f32, the training dtype, tracks the same.
            let f32_ = |t: &Tensor| t.to_dtype(DType::F32);
            let err32 = errors(&track(&f32_(&from)?, &f32_(&to)?, &f32_(&p)?, &LkConfig::default())?, &expected)?;
            let gap = err.iter().zip(&err32).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(gap < 1e-3, "f32 vs f64 error difference {gap}: {err32:?}");
        }
        Ok(())
    }

    #[test]
    fn sbr_loss_is_zero_on_true_motion_grows_with_displacement_and_gates_failed_tracks() -> Result<()> {
        let cfg = LkConfig::default();
        let gamma = cfg.gamma as f64;
        let d = (1.3, -0.7);
        let (prev, cur) = (face_crop((0.0, 0.0))?, face_crop(d)?);
        let prev_pts = face_points()?;
        let n = FACE_POINTS.len();
        let truth = shifted(&prev_pts, d)?;

        let (loss, kept) = sbr_loss(&prev, &cur, &prev_pts, &truth, &cfg)?;
        let loss = loss.to_scalar::<f64>()?;
        println!("true motion: loss {loss:.4}, kept {kept}/{n}");
        assert_eq!(kept, n);
        assert!(loss < gamma * 0.05, "{loss}"); // gamma x mean LK error (0.02 px)

        // cur_pts displaced by (2, -1) px: the loss is gamma x about sqrt(5) px, and grows with the displacement.
        let mut last = loss;
        for k in [0.5, 1.0, 2.0] {
            let (l, kept) = sbr_loss(&prev, &cur, &prev_pts, &shifted(&truth, (2.0 * k, -k))?, &cfg)?;
            let l = l.to_scalar::<f64>()?;
            println!("cur_pts displaced by {:.2} px: loss {l:.4}", k * 5f64.sqrt());
            assert_eq!(kept, n);
            assert!(l > last && (l / gamma - k * 5f64.sqrt()).abs() < 0.1, "{l}");
            last = l;
        }

        // Occlude one point in `cur` with a flat square: LK leaves it where it started (a flat target pulls it
        // nowhere, and a flat template back gives the same), so the forward-backward round trip passes, but the
        // patch it lands on no longer looks like its template, and the residual gate drops it.
        let victim = 1; // inner corner of the left eye
        let (vx, vy) = FACE_POINTS[victim];
        let (cx, cy) = ((vx - CROP.0 as f64 + d.0).round() as usize, (vy - CROP.1 as f64 + d.1).round() as usize);
        let mut v = cur.flatten_all()?.to_vec1::<f64>()?;
        let side = CROP.2;
        for y in cy - 9..=cy + 9 {
            for x in cx - 9..=cx + 9 {
                v[y * side + x] = 0.5;
            }
        }
        let occluded = Tensor::from_vec(v, (1, side, side), &DEV)?;
        let (loss_occ, kept) = sbr_loss(&prev, &occluded, &prev_pts, &truth, &cfg)?;
        let loss_occ = loss_occ.to_scalar::<f64>()?;
        println!("occluded: loss {loss_occ:.4}, kept {kept}/{n}");
        assert_eq!(kept, n - 1);
        // The loss is gamma x the mean over the other points only (the occluder also disturbs the patches of the
        // victim's neighbours, which still pass the gates); the victim's own, much larger, miss is left out.
        let miss = errors(&track(&prev, &occluded, &prev_pts, &cfg)?, &truth)?;
        let others =
            miss.iter().enumerate().filter(|&(i, _)| i != victim).map(|(_, m)| m).sum::<f64>() / (n - 1) as f64;
        println!("forward miss of the occluded point {:.3} px, mean of the others {others:.3} px", miss[victim]);
        assert!((loss_occ - gamma * others).abs() < 1e-9, "{loss_occ} vs {}", gamma * others);
        assert!(miss[victim] > 10.0 * others);

        // Nothing kept: a zero loss, not NaN.
        let strict = LkConfig { fb_threshold: 0.0, ..cfg };
        let (l, kept) = sbr_loss(&prev, &cur, &prev_pts, &truth, &strict)?;
        assert_eq!((l.to_scalar::<f64>()?, kept), (0.0, 0));
        Ok(())
    }

    #[test]
    fn shape_mismatches_are_errors() -> Result<()> {
        let img = render(16, 16, (0.0, 0.0), smooth)?;
        let p = pts(&[(8.3, 8.2)])?;
        let cfg = LkConfig::default();
        let two = Tensor::cat(&[&img, &img], 0)?;
        assert!(track(&img, &two, &p, &cfg).is_err());
        assert!(track(&two, &two, &p, &cfg).is_err());
        assert!(track(&img, &img, &p.to_dtype(DType::F32)?, &cfg).is_err());
        assert!(track(&img, &img, &p, &LkConfig { patch: 1, ..cfg.clone() }).is_err());
        assert!(sbr_loss(&img, &img, &p, &pts(&[(1.0, 1.0), (2.0, 2.0)])?, &cfg).is_err());
        let msg = track(&img, &img, &p.reshape((1, 2))?, &cfg).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("expected points [B, N, 2]"), "{msg}");
        Ok(())
    }

    /// One `sbr_loss` call and its backward pass at training size (B=16, P=68, 192x192, f32).
    /// `cargo test --release --lib train::lk -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn sbr_loss_timing() -> Result<()> {
        let (b, p, side) = (16, 68, 192);
        let frame = |d: f64| -> Result<Tensor> {
            let one = render(side, side, (d, -d), |x, y| smooth(x / 3.0, y / 3.0))?;
            Tensor::cat(&vec![one; b], 0)?.to_dtype(DType::F32)
        };
        let (prev, cur) = (frame(0.0)?, frame(0.8)?);
        let grid: Vec<f32> =
            (0..b * p).flat_map(|k| [40.0 + (k % 68 % 9) as f32 * 13.3, 40.0 + (k % 68 / 9) as f32 * 14.1]).collect();
        let prev_pts = Var::from_tensor(&Tensor::from_vec(grid, (b, p, 2), &DEV)?)?;
        let cur_pts = Var::from_tensor(&prev_pts.affine(1.0, 0.8)?)?;
        let cfg = LkConfig::default();
        let _ = sbr_loss(&prev, &cur, &prev_pts, &cur_pts, &cfg)?; // warm-up
        let t0 = std::time::Instant::now();
        let (loss, kept) = sbr_loss(&prev, &cur, &prev_pts, &cur_pts, &cfg)?;
        let t1 = std::time::Instant::now();
        let grads = loss.backward()?;
        let t2 = std::time::Instant::now();
        assert!(grads.get(&prev_pts).is_some() && grads.get(&cur_pts).is_some());
        println!(
            "sbr_loss B={b} P={p} {side}x{side}: forward {:.0} ms, backward {:.0} ms (kept {kept})",
            (t1 - t0).as_secs_f64() * 1e3,
            (t2 - t1).as_secs_f64() * 1e3
        );
        Ok(())
    }
}
