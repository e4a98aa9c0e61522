//! How a face moved between two frames, measured on the pixels: Lucas-Kanade registration of a
//! grayscale patch of the face under a similarity motion (inverse compositional, Baker and
//! Matthews 2004).
//!
//! The landmark backbone's points jitter by about 1% of the eye distance from frame to frame; a
//! whole face region registered at sub-pixel precision moves far more steadily. Smoothing that
//! follows this motion (see [`crate::smoothing`]) can smooth hard without trailing the head.

use crate::crop::{ChannelScale, Layout, crop_rgb};
use crate::frame::Frame;
use crate::geometry::Similarity;
use crate::scheme::{Contour, tissue_normals};

/// Side of the grayscale patch a face region is registered at (about: a backbone crop is
/// box-averaged down by a whole factor).
pub const PATCH: usize = 64;
/// The part of the patch that is registered: the central square of this half-side, in units of
/// the patch's half-side. A track's crop spans 1.5x the face, so this keeps to the face and leaves
/// out the background around it, which does not move with the face.
const INNER: f32 = 0.6;
const MAX_ITERATIONS: usize = 20;
/// Convergence: a step below this in every parameter (patch half-sides, about 0.003 px).
const STEP_DONE: f64 = 1e-4;
/// A registration whose RMS residual exceeds this fraction of the template's own RMS contrast
/// has not found the face (occlusion, a large expression change, a failed track): no motion.
const MAX_RESIDUAL: f64 = 0.5;

/// A grey image of a face region in one frame: patch pixel `u` shows frame point `to_frame(u)`.
/// It keeps the finer grey image it was averaged from, which a later frame's patch is
/// resampled from when it is registered on this one.
#[derive(Debug, Clone)]
pub struct Patch {
    to_frame: Similarity,
    side: usize,
    pixels: Vec<f32>,
    fine: Fine,
}

/// The grey image at its source's resolution (`size` pixels wide, `k` of them per patch pixel).
#[derive(Debug, Clone)]
struct Fine {
    to_frame: Similarity,
    size: usize,
    k: usize,
    grey: Vec<f32>,
}

impl Patch {
    /// Samples the region whose patch pixel `u` is frame pixel `to_frame(u)`, [`PATCH`] pixels
    /// wide, grey levels in 0..1 (its own fine image).
    pub fn sample(frame: &Frame, to_frame: Similarity) -> Patch {
        let mut rgb = vec![0f32; 3 * PATCH * PATCH];
        crop_rgb(frame, &to_frame, PATCH, Layout::Hwc, &ChannelScale::uniform(1.0 / 255.0, 0.0), &mut rgb);
        let grey: Vec<f32> = rgb.chunks_exact(3).map(|p| (p[0] + p[1] + p[2]) / 3.0).collect();
        let fine = Fine { to_frame, size: PATCH, k: 1, grey: grey.clone() };
        Patch { to_frame, side: PATCH, pixels: grey, fine }
    }

    /// The patch of a model input crop that is already made (`crop`: `size` x `size` x 3 in
    /// `layout`, any value scale, showing `crop_to_frame`): its grey levels box-averaged down by
    /// the whole factor that brings it nearest [`PATCH`]. Reusing the backbone's crop costs a
    /// pass over it instead of a second resampling of the frame.
    pub fn from_crop(crop: &[f32], size: usize, layout: Layout, crop_to_frame: &Similarity) -> Patch {
        let grey: Vec<f32> = (0..size * size)
            .map(|i| match layout {
                Layout::Hwc => crop[3 * i..3 * i + 3].iter().sum::<f32>() / 3.0,
                Layout::Chw => (0..3).map(|c| crop[c * size * size + i]).sum::<f32>() / 3.0,
            })
            .collect();
        let k = (size / PATCH).max(1);
        let side = size / k;
        let pixels = (0..side * side)
            .map(|i| {
                let (u, v) = (i % side, i / side);
                let block = (0..k).flat_map(|dy| (0..k).map(move |dx| (u * k + dx, v * k + dy)));
                block.map(|(x, y)| grey[y * size + x]).sum::<f32>() / (k * k) as f32
            })
            .collect();
        let fine = Fine { to_frame: *crop_to_frame, size, k, grey };
        Patch { to_frame: fine.patch_to_fine().then(crop_to_frame), side, pixels, fine }
    }

    pub fn to_frame(&self) -> Similarity {
        self.to_frame
    }

    /// The motion of the face from this patch's frame to `now`'s: the similarity `M` (frame
    /// pixels) that takes a point of the face then to where it is now. `guess` starts the search
    /// (e.g. the motion of the landmarks). `None` when the registration does not converge, does
    /// not match (see [`MAX_RESIDUAL`]), or the patches differ in size.
    pub fn motion_to(&self, now: &Patch, guess: &Similarity) -> Option<Similarity> {
        if now.side != self.side || now.fine.k != self.fine.k {
            return None;
        }
        let (t0, t0_inv) = (self.to_frame, self.to_frame.inverse());
        // `now` resampled onto this patch's grid moved by the guess, each pixel averaged over
        // its block of `now`'s fine image as this patch's pixels were: registration then only
        // refines what the guess left, by sub-pixel shifts that interpolate without bias.
        let d0 = t0.then(guess).then(&t0_inv);
        let warped = now.fine.resample(&self.fine.patch_to_fine().inverse().then(&d0).then(&t0), self.side);
        let (to_norm, from_norm) = normalisation(self.side);
        let e = self.register(&warped, &from_norm)?;
        let d = to_norm.then(&e).then(&from_norm).then(&d0);
        Some(t0_inv.then(&d).then(&t0))
    }

    /// The warp `E` (normalised patch coordinates, the patch spanning -1..1) with
    /// `now(to_now(E(q))) ~ template(q)` over the inner region (`to_now`: normalised coordinates
    /// to `now`'s pixels).
    fn register(&self, now: &[f32], to_now: &Similarity) -> Option<Similarity> {
        let n = self.side;
        let c = (n as f32 - 1.0) / 2.0;
        let inner = inner_pixels(n);
        // Steepest-descent images of the template: its gradient (per normalised unit) times the
        // warp's Jacobian at the identity, for parameters (a, b, tx, ty) of
        // W(q) = ((1 + a) qx - b qy + tx, b qx + (1 + a) qy + ty).
        let at = |x: usize, y: usize| self.pixels[y * n + x] as f64;
        let sd: Vec<[f64; 4]> = inner
            .iter()
            .map(|&(x, y)| {
                let gx = (at(x + 1, y) - at(x - 1, y)) / 2.0 * c as f64;
                let gy = (at(x, y + 1) - at(x, y - 1)) / 2.0 * c as f64;
                let (qx, qy) = ((x as f64 - c as f64) / c as f64, (y as f64 - c as f64) / c as f64);
                [gx * qx + gy * qy, -gx * qy + gy * qx, gx, gy]
            })
            .collect();
        let contrast = rms_contrast(inner.iter().map(|&(x, y)| self.pixels[y * n + x]));
        // Inverse compositional: the Hessian is the template's, the same at every iteration.
        let mut h = [[0f64; 4]; 4];
        for s in &sd {
            for i in 0..4 {
                for j in 0..4 {
                    h[i][j] += s[i] * s[j];
                }
            }
        }
        let mut e = Similarity::IDENTITY;
        let mut values = vec![0f32; inner.len()];
        for _ in 0..MAX_ITERATIONS {
            warped_samples(now, n, &e.then(to_now), &mut values);
            let (mut g, mut sq, mut count) = ([0f64; 4], 0f64, 0usize);
            for ((&(x, y), s), &value) in inner.iter().zip(&sd).zip(&values) {
                if !value.is_finite() {
                    continue;
                }
                let err = value as f64 - at(x, y);
                for i in 0..4 {
                    g[i] += s[i] * err;
                }
                sq += err * err;
                count += 1;
            }
            if count < inner.len() / 2 {
                return None;
            }
            let dp = solve(h, g)?;
            // Inverse compositional update: E <- E o W(dp)^-1.
            let step = Similarity { a: 1.0 + dp[0] as f32, b: dp[1] as f32, tx: dp[2] as f32, ty: dp[3] as f32 };
            e = step.inverse().then(&e);
            if dp.iter().all(|v| v.abs() < STEP_DONE) {
                let residual = (sq / count as f64).sqrt();
                return (residual <= MAX_RESIDUAL * contrast && plausible(&e)).then_some(e);
            }
        }
        None
    }
}

/// Half-side of the window each point is registered with, in fine pixels: 21 pixels across, on
/// the shipped backbone's 192-pixel crop about a third of the eye distance (windows of 7 and 15
/// pixels followed expressions less well on the validation faces, models/MODELS.md).
const POINT_RADIUS: i32 = 10;
/// The window is read every this many pixels (its gradients still by one-pixel differences):
/// the reach of a wide window at the cost of a narrow one.
const POINT_STRIDE: i32 = 2;
/// Gauss-Newton steps per point at most, and the step below which one is done (fine pixels).
const POINT_ITERATIONS: usize = 8;
const POINT_STEP_DONE: f32 = 0.01;

impl Patch {
    /// Where each of `points` (frame pixels, on this patch's frame) is on `now`'s frame: `motion`
    /// (the face's, e.g. from [`Patch::motion_to`]) refined per point by Lucas-Kanade on the two
    /// fine images, in a small window around it that may stretch (see [`register_point`]). That
    /// is how far an eyelid or a lip moved beyond the head, which no similarity of the whole face
    /// shows.
    ///
    /// The refinement `d` is trusted by how far it goes against its own uncertainty: it is scaled
    /// by `|d|^2 / (|d|^2 + noise_weight * r^2 / e)`, `e` the smaller eigenvalue of the window's
    /// information on its shift per pixel and `r` the mean absolute residual after it (see
    /// [`shrinkage`]). A flat cheek or a noisy, blurred frame keeps close to `motion`; a lip
    /// that opens follows its own pixels. A point on one of `follow`'s contours (an eyelid, a
    /// lip) also gets a window on its tissue's side alone (see [`register_point`]). `None` for
    /// a point whose windows leave either image, do not converge, or move farther than the
    /// window (it keeps `motion`'s place).
    pub fn point_motions(&self, now: &Patch, motion: &Similarity, follow: &Follow) -> Vec<Option<[f32; 2]>> {
        let (from_then, from_now) = (self.fine.to_frame.inverse(), now.fine.to_frame.inverse());
        let qs: Vec<[f32; 2]> = follow.points.iter().map(|&p| from_then.apply(p)).collect();
        // On the fine image, a similarity of the frame: the normals turn with the points.
        let sides = tissue_normals(&qs, follow.contours);
        follow
            .points
            .iter()
            .zip(qs.iter().zip(sides))
            .map(|(&p, (&q, side))| {
                let guess = from_now.apply(motion.apply(p));
                let shift = register_point(&self.fine, q, &now.fine, guess, side, follow.noise_weight)?;
                Some(now.fine.to_frame.apply([guess[0] + shift[0], guess[1] + shift[1]]))
            })
            .collect()
    }
}

/// The points [`Patch::point_motions`] registers one by one, the contours that say which side of
/// a point its tissue lies on ([`crate::scheme::ibug_contours`]; none: every window centred), and
/// how much a point's own motion is discounted for a poor match.
pub struct Follow<'a> {
    pub points: &'a [[f32; 2]],
    pub contours: &'a [Contour],
    pub noise_weight: f32,
}

/// Reads along each row (and column) of a point's window (see [`POINT_STRIDE`]).
const WINDOW_SIDE: usize = (2 * POINT_RADIUS / POINT_STRIDE + 1) as usize;
/// The template is interpolated once on this square of whole-pixel offsets (the window and the
/// one-pixel differences of its gradients): `-(POINT_RADIUS + 1)..=POINT_RADIUS + 1`.
const GRID_SIDE: usize = 2 * POINT_RADIUS as usize + 3;

/// A point's bilinear read of a fine image: the top-left pixel and the four weights.
type Taps = (i32, i32, [f32; 4]);

/// One read of the template's window: offset, value, gradient (central differences).
#[derive(Clone, Copy, Default)]
struct WindowPixel {
    x: i32,
    y: i32,
    value: f32,
    gx: f32,
    gy: f32,
}

impl WindowPixel {
    /// How the pixel's difference changes with each parameter of the window's motion (inverse
    /// compositional, at the identity): the deformation `(m11, m12, m21, m22)` in fine pixels
    /// at the window's edge, then the translation.
    fn steepest_descent(&self) -> [f32; 6] {
        let r = POINT_RADIUS as f32;
        let (gx, gy, ox, oy) = (self.gx, self.gy, self.x as f32 / r, self.y as f32 / r);
        [gx * ox, gx * oy, gy * ox, gy * oy, gx, gy]
    }
}

/// How strongly a window's deformation is held towards none, against the translation's own
/// curvature: 0 fits a free affine motion (noisy on six unknowns), a large value a translation
/// (which averages a lip's moving middle with its still corners). 0.1 was steadiest on the
/// validation faces among 0 / 0.01 / 0.03 / 0.1 / 0.3 / 1 / 10 (models/MODELS.md, "Point
/// registration's windows stretch").
const DEFORMATION_PRIOR: f64 = 0.1;

/// How far a one-sided window's shift is believed over the centred window's (see
/// [`register_point`]): the weight of [`shrinkage`] on their difference. 2 was steadiest on the
/// validation faces among 0.3 / 1 / 2 / 3 with no column worse than without (models/MODELS.md,
/// "Lids and lips follow their own side").
const ONE_SIDED_WEIGHT: f32 = 2.0;

/// The shift `d` (fine pixels of `now`) of the point `q` of `then`, found at `guess + d` in `now`,
/// already scaled by its trust (see [`Patch::point_motions`]).
///
/// The window around `q` moves by an affine motion, `now(guess + d + (I + M) o) ~ then(q + o)`
/// over its offsets `o`: a lip that stretches moves its middle beyond its ends, the affine part
/// takes that up, so the window's centre follows the lip instead of the window's average. A point
/// on an edge whose sides part (an upper eyelid closing over the eye, the lower lip dropping from
/// the upper) sits where no affine motion fits: that window splits the difference. Given `side`,
/// the unit normal towards the point's own tissue, a second window lies wholly on that side, and
/// the point goes where that window's motion takes it; that shift is believed over the centred
/// one by how far it differs beyond its own uncertainty (as [`shrinkage`] trusts a shift), so
/// where both sides move together (the head alone, noise) the centred window's double reach
/// counts.
fn register_point(
    then: &Fine,
    q: [f32; 2],
    now: &Fine,
    guess: [f32; 2],
    side: Option<[f32; 2]>,
    noise_weight: f32,
) -> Option<[f32; 2]> {
    let centred = PointEstimate::fit(then, q, now, guess, None);
    let estimate = match (centred, side.and_then(|n| PointEstimate::fit(then, q, now, guess, Some(n)))) {
        (Some(centred), Some(one_sided)) => centred.towards(&one_sided),
        (centred, one_sided) => centred.or(one_sided)?,
    };
    let d = estimate.shift;
    let trust = shrinkage(d, estimate.uncertainty, noise_weight);
    trust.is_finite().then_some([trust * d[0], trust * d[1]])
}

/// A point's shift as one window measures it, and its uncertainty: the residual's variance over
/// the information per pixel on the shift (Lucas-Kanade's covariance, up to the window's size),
/// `r^2 / e` with `r` the mean absolute residual and `e` from [`translation_information`].
#[derive(Debug, Clone, Copy)]
struct PointEstimate {
    shift: [f32; 2],
    uncertainty: f32,
}

impl PointEstimate {
    /// The point's shift by a window centred on it, or, with `side`, by a window
    /// [`POINT_RADIUS`] along that normal, read no farther back than the point's own line.
    fn fit(then: &Fine, q: [f32; 2], now: &Fine, guess: [f32; 2], side: Option<[f32; 2]>) -> Option<PointEstimate> {
        let n = side.unwrap_or([0.0; 2]);
        let r = POINT_RADIUS as f32;
        let off = [r * n[0], r * n[1]];
        let centre = [q[0] + off[0], q[1] + off[1]];
        let keep = |x: i32, y: i32| (x as f32 + off[0]) * n[0] + (y as f32 + off[1]) * n[1] >= 0.0;
        let window = PointWindow::new(&template_window(then, point_taps(centre, then.size)?), keep);
        let fit = window.register(now, [guess[0] + off[0], guess[1] + off[1]], DEFORMATION_PRIOR)?;
        // The point lies at -off from the window's centre: where the window's motion takes it.
        let (m, t) = (fit.warp.m, fit.warp.t);
        let shift = [0, 1].map(|i| (t[i] - m[i][0] * off[0] as f64 - m[i][1] * off[1] as f64) as f32);
        Some(PointEstimate { shift, uncertainty: fit.residual * fit.residual / fit.information })
    }

    /// This shift moved towards `other`'s by how far `other` differs beyond its own uncertainty
    /// (weighed by [`ONE_SIDED_WEIGHT`]), the uncertainty likewise.
    fn towards(&self, other: &PointEstimate) -> PointEstimate {
        let delta = [other.shift[0] - self.shift[0], other.shift[1] - self.shift[1]];
        let w = shrinkage(delta, other.uncertainty, ONE_SIDED_WEIGHT);
        let w = if w.is_finite() { w } else { 0.0 };
        PointEstimate {
            shift: [self.shift[0] + w * delta[0], self.shift[1] + w * delta[1]],
            uncertainty: (1.0 - w) * self.uncertainty + w * other.uncertainty,
        }
    }
}

/// A point window's registration: its motion, the mean absolute residual after it and the
/// information per pixel on its shift (see [`translation_information`]).
struct WindowFit {
    warp: WindowWarp,
    residual: f32,
    information: f32,
}

/// The reads of a point's window, padded to whole runs of eight lanes (the padding's offsets are
/// the centre and its weights 0).
const SAMPLES: usize = WINDOW_SIDE * WINDOW_SIDE;
const LANES: usize = SAMPLES.next_multiple_of(8);

/// A template's window laid out for the iterations: per lane its offset, its value, its
/// steepest-descent weights (see [`WindowPixel::steepest_descent`]) and whether it counts (1) or
/// not (0: padding, or beyond a one-sided window's point); `count` lanes count.
struct PointWindow {
    weight: [f32; LANES],
    count: f32,
    offset: [[f32; LANES]; 2],
    value: [f32; LANES],
    sd: [[f32; LANES]; 6],
}

impl PointWindow {
    /// The pixels of `window` at the offsets `keep` takes; the others are read (at the centre)
    /// but weigh nothing.
    fn new(window: &[WindowPixel; SAMPLES], keep: impl Fn(i32, i32) -> bool) -> PointWindow {
        let mut w = PointWindow {
            weight: [0.0; LANES],
            count: 0.0,
            offset: [[0.0; LANES]; 2],
            value: [0.0; LANES],
            sd: [[0.0; LANES]; 6],
        };
        for (k, p) in window.iter().enumerate().filter(|(_, p)| keep(p.x, p.y)) {
            w.weight[k] = 1.0;
            w.count += 1.0;
            w.offset[0][k] = p.x as f32;
            w.offset[1][k] = p.y as f32;
            w.value[k] = p.value;
            for (sd, v) in w.sd.iter_mut().zip(p.steepest_descent()) {
                sd[k] = v;
            }
        }
        w
    }

    /// Gauss-Newton's matrix for the parameters of [`WindowPixel::steepest_descent`].
    fn hessian(&self) -> [[f64; 6]; 6] {
        // Symmetric: each product once.
        let upper: [[f64; 6]; 6] = std::array::from_fn(|i| {
            std::array::from_fn(|j| if j >= i { in_lanes(&self.sd[i], &self.sd[j], |a, b| a * b) } else { 0.0 })
        });
        std::array::from_fn(|i| std::array::from_fn(|j| upper[i.min(j)][i.max(j)]))
    }

    /// Gauss-Newton (inverse compositional) for the window's affine motion into `now` from
    /// `guess`, the deformation held towards none by `prior` (see [`DEFORMATION_PRIOR`]).
    /// `None` when a read leaves `now`, the shift goes beyond the window, the window folds, or
    /// it does not converge in [`POINT_ITERATIONS`].
    fn register(&self, now: &Fine, guess: [f32; 2], prior: f64) -> Option<WindowFit> {
        let h = self.hessian();
        let pull = prior * (h[4][4] + h[5][5]) / 2.0;
        let h = with_prior(h, pull);
        let information = (translation_information(&h)? / self.count as f64) as f32;
        let mut warp = WindowWarp::IDENTITY;
        let mut values = [0f32; LANES];
        for _ in 0..POINT_ITERATIONS {
            self.sample(now, &warp.sample_map(guess), &mut values)?;
            let (mut g, abs) = self.gradient(&mut values);
            g.iter_mut().zip(warp.prior_pull(pull)).for_each(|(g, p)| *g += p);
            let step = warp.compose_inverse(&solve(h, g)?);
            if warp.t[0].hypot(warp.t[1]) > POINT_RADIUS as f64 || !warp.plausible() {
                return None;
            }
            if step < POINT_STEP_DONE as f64 {
                return Some(WindowFit { warp, residual: abs / self.count, information });
            }
        }
        None
    }

    /// `now` read at every offset through `map`; `None` when a read falls outside it.
    fn sample(&self, now: &Fine, map: &SampleMap, out: &mut [f32; LANES]) -> Option<()> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            unsafe { self.sample_avx2(now, map, out) };
            return out.iter().all(|v| !v.is_nan()).then_some(());
        }
        self.sample_scalar(now, map, out)
    }

    fn sample_scalar(&self, now: &Fine, map: &SampleMap, out: &mut [f32; LANES]) -> Option<()> {
        for (k, o) in out.iter_mut().enumerate() {
            let [x, y] = map.apply(self.offset[0][k], self.offset[1][k]);
            *o = bilinear(&now.grey, now.size, x, y)?;
        }
        Some(())
    }

    /// [`PointWindow::sample`] eight lanes at a time, each lane the scalar read to the bit
    /// (NaN outside).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn sample_avx2(&self, now: &Fine, map: &SampleMap, out: &mut [f32; LANES]) {
        use std::arch::x86_64::*;
        let c = |v: f32| _mm256_set1_ps(v);
        for k in (0..LANES).step_by(8) {
            // SAFETY: `k + 8 <= LANES`, the length of each array.
            let (ox, oy) = unsafe {
                (_mm256_loadu_ps(self.offset[0].as_ptr().add(k)), _mm256_loadu_ps(self.offset[1].as_ptr().add(k)))
            };
            let x = _mm256_add_ps(
                _mm256_add_ps(c(map.centre[0]), _mm256_mul_ps(c(map.m[0][0]), ox)),
                _mm256_mul_ps(c(map.m[0][1]), oy),
            );
            let y = _mm256_add_ps(
                _mm256_add_ps(c(map.centre[1]), _mm256_mul_ps(c(map.m[1][0]), ox)),
                _mm256_mul_ps(c(map.m[1][1]), oy),
            );
            let v = bilinear_avx2(&now.grey, now.size, x, y);
            // SAFETY: as above.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(k), v) };
        }
    }

    /// The right-hand side of a Gauss-Newton step from the reads `values` (turned into their
    /// weighed differences from the template in place), and the differences' summed magnitude.
    fn gradient(&self, values: &mut [f32; LANES]) -> ([f64; 6], f32) {
        values.iter_mut().zip(&self.value).zip(&self.weight).for_each(|((v, t), w)| *v = (*v - t) * w);
        let abs = in_lanes(values, values, |e, _| e.abs()) as f32;
        (std::array::from_fn(|i| in_lanes(&self.sd[i], values, |a, b| a * b)), abs)
    }
}

/// The sum of `f` over `a` and `b` pairwise, in eight lanes (which the compiler keeps in one
/// vector register) and then across them.
#[inline(always)]
fn in_lanes(a: &[f32; LANES], b: &[f32; LANES], f: impl Fn(f32, f32) -> f32) -> f64 {
    let mut acc = [0f32; 8];
    for (a, b) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += f(a[l], b[l]);
        }
    }
    acc.iter().map(|&v| v as f64).sum()
}

/// Where a window's offsets are read in the next frame: `centre + m o`.
struct SampleMap {
    centre: [f32; 2],
    m: [[f32; 2]; 2],
}

impl SampleMap {
    fn apply(&self, ox: f32, oy: f32) -> [f32; 2] {
        [self.centre[0] + self.m[0][0] * ox + self.m[0][1] * oy, self.centre[1] + self.m[1][0] * ox + self.m[1][1] * oy]
    }
}

/// `h` with `pull` added to the deformation's diagonal: the prior of [`DEFORMATION_PRIOR`].
fn with_prior(mut h: [[f64; 6]; 6], pull: f64) -> [[f64; 6]; 6] {
    (0..4).for_each(|i| h[i][i] += pull);
    h
}

/// The smaller eigenvalue of the information on the translation when the deformation is
/// unknown too: the inverse of the translation's block of the inverse of `h`. `None` for a window
/// without texture in some direction.
fn translation_information(h: &[[f64; 6]; 6]) -> Option<f64> {
    let column = |k: usize| solve(*h, std::array::from_fn(|i| if i == k { 1.0 } else { 0.0 }));
    let (cx, cy) = (column(4)?, column(5)?);
    let (a, b, d) = (cx[4], cx[5], cy[5]);
    let det = a * d - b * b;
    let (ixx, ixy, iyy) = (d / det, -b / det, a / det);
    let smaller = ((ixx + iyy) - ((ixx - iyy).powi(2) + 4.0 * ixy * ixy).sqrt()) / 2.0;
    (det > 0.0 && smaller > 0.0).then_some(smaller)
}

/// The motion of a point's window: offset `o` (fine pixels) goes to `t + (I + M) o`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct WindowWarp {
    m: [[f64; 2]; 2],
    t: [f64; 2],
}

impl WindowWarp {
    const IDENTITY: WindowWarp = WindowWarp { m: [[0.0; 2]; 2], t: [0.0; 2] };

    /// Where the window's offsets are read in `now`, around `guess`.
    fn sample_map(&self, guess: [f32; 2]) -> SampleMap {
        let m = &self.m;
        SampleMap {
            centre: [guess[0] + self.t[0] as f32, guess[1] + self.t[1] as f32],
            m: [[1.0 + m[0][0] as f32, m[0][1] as f32], [m[1][0] as f32, 1.0 + m[1][1] as f32]],
        }
    }

    /// The deformation in the parameters' units (fine pixels at the window's edge).
    fn deformation(&self) -> [f64; 4] {
        let r = POINT_RADIUS as f64;
        [self.m[0][0] * r, self.m[0][1] * r, self.m[1][0] * r, self.m[1][1] * r]
    }

    /// The prior's part of the right-hand side: it pulls the deformation so far back towards
    /// none (the Gauss-Newton step of `|E|^2 + pull * |deformation|^2`, `pull` on `h`'s
    /// diagonal too).
    fn prior_pull(&self, pull: f64) -> [f64; 6] {
        let p = self.deformation();
        [pull * p[0], pull * p[1], pull * p[2], pull * p[3], 0.0, 0.0]
    }

    /// Inverse compositional update `W <- W o W(dp)^-1`, `W(dp)^-1(o) = (I + dA)^-1 (o - dt)`;
    /// returns how far the translation moved.
    fn compose_inverse(&mut self, dp: &[f64; 6]) -> f64 {
        let r = POINT_RADIUS as f64;
        let da = [[1.0 + dp[0] / r, dp[1] / r], [dp[2] / r, 1.0 + dp[3] / r]];
        let det = da[0][0] * da[1][1] - da[0][1] * da[1][0];
        let inv = [[da[1][1] / det, -da[0][1] / det], [-da[1][0] / det, da[0][0] / det]];
        let f = [[1.0 + self.m[0][0], self.m[0][1]], [self.m[1][0], 1.0 + self.m[1][1]]];
        let g: [[f64; 2]; 2] =
            std::array::from_fn(|i| std::array::from_fn(|j| f[i][0] * inv[0][j] + f[i][1] * inv[1][j]));
        let step = [g[0][0] * dp[4] + g[0][1] * dp[5], g[1][0] * dp[4] + g[1][1] * dp[5]];
        self.t = [self.t[0] - step[0], self.t[1] - step[1]];
        self.m = [[g[0][0] - 1.0, g[0][1]], [g[1][0], g[1][1] - 1.0]];
        step[0].hypot(step[1])
    }

    /// Within half the window's size in stretch and shear, and finite: a lip stretches, a
    /// window that folds has lost its point.
    fn plausible(&self) -> bool {
        self.t.iter().chain(self.m.iter().flatten()).all(|v| v.is_finite())
            && self.m.iter().flatten().all(|v| v.abs() < 0.5)
    }
}

/// How much of a point's own shift `d` (beyond the face's motion) to keep: `|d|^2 / (|d|^2 +
/// noise_weight * u)`, `u` the shift's own uncertainty ([`PointEstimate`]). A shift well
/// beyond it (an eyelid closing, a jaw dropping) passes almost whole; one within it (noise, blur)
/// shrinks towards the face's motion. A fixed discount `e / (e + w r^2)` could not tell the two:
/// it cut a rising expression's shift as much as noise's (models/MODELS.md, "Point registration").
fn shrinkage(d: [f32; 2], uncertainty: f32, noise_weight: f32) -> f32 {
    let d2 = d[0] * d[0] + d[1] * d[1];
    if d2 > 0.0 { d2 / (d2 + noise_weight * uncertainty) } else { 0.0 }
}

/// The bilinear taps at `p` of a `size`-wide fine image, `None` when the window (and its
/// gradients' neighbours) would leave it. Every pixel of a template's window shares one fraction,
/// so one set of weights serves it all (and one bounds check). The template is interpolated, not
/// read at whole pixels, as the next frame is: then a point that did not move is read the same
/// way in both images, where whole-pixel templates pull every estimate towards whole pixels (and
/// the smoothed points drift).
fn point_taps(p: [f32; 2], size: usize) -> Option<Taps> {
    let reach = POINT_RADIUS + 2;
    let inside = |c: i32| c - reach >= 0 && c + reach < size as i32;
    let (x0, y0) = (p[0].floor(), p[1].floor());
    let (fx, fy) = (p[0] - x0, p[1] - y0);
    let (x0, y0) = (x0 as i32, y0 as i32);
    (inside(x0) && inside(y0)).then_some((x0, y0, [(1.0 - fx) * (1.0 - fy), fx * (1.0 - fy), (1.0 - fx) * fy, fx * fy]))
}

/// `img` read at `out.len()` successive offsets along a row, the first `(x, y)` from the taps'
/// pixel (all inside it: see [`point_taps`]). A row at a time, so that its two pixel rows are
/// bounds-checked once, not four times a read.
#[inline(always)]
fn read_row(img: &Fine, (x0, y0, w): Taps, [x, y]: [i32; 2], out: &mut [f32]) {
    let (n, i) = (img.size, (y0 + y) as usize * img.size + (x0 + x) as usize);
    let len = out.len() + 1;
    let (top, bottom) = (&img.grey[i..i + len], &img.grey[i + n..i + n + len]);
    for (k, o) in out.iter_mut().enumerate() {
        *o = w[0] * top[k] + w[1] * top[k + 1] + w[2] * bottom[k] + w[3] * bottom[k + 1];
    }
}

/// The template's window at `taps`: every [`POINT_STRIDE`]-th offset within [`POINT_RADIUS`],
/// with its value and gradient. Each offset is interpolated once, on the grid, where reading
/// each window pixel and its four neighbours would interpolate most of them several times over.
fn template_window(then: &Fine, taps: Taps) -> [WindowPixel; WINDOW_SIDE * WINDOW_SIDE] {
    let reach = POINT_RADIUS + 1;
    let mut grid = [0f32; GRID_SIDE * GRID_SIDE];
    for (row, y) in grid.chunks_exact_mut(GRID_SIDE).zip(-reach..) {
        read_row(then, taps, [-reach, y], row);
    }
    let at = |x: i32, y: i32| grid[(y + reach) as usize * GRID_SIDE + (x + reach) as usize];
    let mut window = [WindowPixel::default(); WINDOW_SIDE * WINDOW_SIDE];
    for (i, w) in window.iter_mut().enumerate() {
        let [x, y] = [i % WINDOW_SIDE, i / WINDOW_SIDE].map(|k| k as i32 * POINT_STRIDE - POINT_RADIUS);
        let (gx, gy) = ((at(x + 1, y) - at(x - 1, y)) / 2.0, (at(x, y + 1) - at(x, y - 1)) / 2.0);
        *w = WindowPixel { x, y, value: at(x, y), gx, gy };
    }
    window
}

impl Fine {
    /// Patch pixel `u` averages fine pixels `k u .. k u + k - 1`: its centre is `k u + (k - 1) / 2`.
    fn patch_to_fine(&self) -> Similarity {
        let half = (self.k as f32 - 1.0) / 2.0;
        Similarity { a: self.k as f32, b: 0.0, tx: half, ty: half }
    }

    /// A `side` x `side` patch whose pixel `u` averages this image at the `k` x `k` frame points
    /// `fine_to_frame(k u + (dx, dy))`, dx and dy in 0..k (bilinear samples); NaN where a sample
    /// falls outside.
    fn resample(&self, fine_to_frame: &Similarity, side: usize) -> Vec<f32> {
        let to_mine = fine_to_frame.then(&self.to_frame.inverse());
        // Registration reads the inner region, moved by sub-pixel refinements: a margin of 3.
        let (c, reach) = ((side as f32 - 1.0) / 2.0, INNER * (side as f32 - 1.0) / 2.0 + 3.0);
        let mut read = (0..side).filter(|&u| (u as f32 - c).abs() <= reach);
        let mut out = vec![f32::NAN; side * side];
        let (Some(lo), Some(hi)) = (read.clone().next(), read.next_back()) else { return out };
        for v in lo..=hi {
            self.block_means(&to_mine, v, lo, &mut out[v * side + lo..=v * side + hi]);
        }
        out
    }

    /// Patch pixels `lo..lo + out.len()` of patch row `v`, each the mean of its `k` x `k`
    /// bilinear samples at `to_mine(k u + (dx, dy))`. With AVX2 eight pixels at a time (the
    /// samples were a twentieth of a tracked frame's CPU), to the bit what
    /// [`Fine::block_mean`] gives.
    fn block_means(&self, to_mine: &Similarity, v: usize, lo: usize, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if out.len() >= 8 && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { block_means_avx2(self, to_mine, v, lo, out) };
        }
        for (u, o) in (lo..).zip(out) {
            *o = self.block_mean(to_mine, u, v);
        }
    }

    /// Patch pixel (u, v): the mean of its `k` x `k` bilinear samples at `to_mine(k u + (dx,
    /// dy))`, NaN if any falls outside.
    fn block_mean(&self, to_mine: &Similarity, u: usize, v: usize) -> f32 {
        let k = self.k;
        let mut sum = 0.0;
        for dy in 0..k {
            for dx in 0..k {
                let [x, y] = to_mine.apply([(u * k + dx) as f32, (v * k + dy) as f32]);
                sum += bilinear(&self.grey, self.size, x, y).unwrap_or(f32::NAN);
            }
        }
        sum / (k * k) as f32
    }
}

/// [`Fine::block_means`] eight patch pixels at a time ([`in_eights`]). Every sample
/// is [`Similarity::apply`] and [`bilinear`] with the same operations in the same order (no
/// fused multiply-adds), and each pixel's sum runs in the same order, so the means are the same
/// to the bit.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn block_means_avx2(fine: &Fine, m: &Similarity, v: usize, lo: usize, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let k = fine.k;
    let len = out.len();
    in_eights(len, |first| {
        let mut sum = _mm256_setzero_ps();
        for dy in 0..k {
            let y = (v * k + dy) as f32;
            for dx in 0..k {
                let xs: [f32; 8] = std::array::from_fn(|lane| ((lo + first + lane) * k + dx) as f32);
                // SAFETY: `xs` holds 8 floats.
                let x = unsafe { _mm256_loadu_ps(xs.as_ptr()) };
                let [px, py] = apply_avx2(m, x, y);
                sum = _mm256_add_ps(sum, bilinear_avx2(&fine.grey, fine.size, px, py));
            }
        }
        let mean = _mm256_div_ps(sum, _mm256_set1_ps((k * k) as f32));
        // SAFETY: `first + 8 <= out.len()`.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(first), mean) };
    });
}

/// Calls `eight` with the first index of each run of eight in `0..len` (`len` >= 8), the last run
/// moved back to end at `len`: it overlaps the one before, whose values it writes again, the same.
#[inline(always)]
fn in_eights(len: usize, mut eight: impl FnMut(usize)) {
    let mut start = 0;
    while start < len {
        let first = start.min(len - 8);
        eight(first);
        start = first + 8;
    }
}

/// [`Similarity::apply`] at eight points `(x, y)` of one row, with its operations in its order
/// (no fused multiply-adds), so each lane is the scalar result to the bit.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn apply_avx2(m: &Similarity, x: std::arch::x86_64::__m256, y: f32) -> [std::arch::x86_64::__m256; 2] {
    use std::arch::x86_64::*;
    let (by, ay) = (_mm256_set1_ps(m.b * y), _mm256_set1_ps(m.a * y));
    let px = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(_mm256_set1_ps(m.a), x), by), _mm256_set1_ps(m.tx));
    let py = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(m.b), x), ay), _mm256_set1_ps(m.ty));
    [px, py]
}

/// [`bilinear`] at eight points: NaN where it gives `None`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn bilinear_avx2(
    img: &[f32],
    side: usize,
    x: std::arch::x86_64::__m256,
    y: std::arch::x86_64::__m256,
) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    assert!(side >= 2 && img.len() >= side * side && side * side <= i32::MAX as usize);
    let (zero, max) = (_mm256_setzero_ps(), _mm256_set1_ps((side - 1) as f32));
    let inside = _mm256_and_ps(
        _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(x, zero), _mm256_cmp_ps::<_CMP_GE_OQ>(y, zero)),
        _mm256_and_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(x, max), _mm256_cmp_ps::<_CMP_LE_OQ>(y, max)),
    );
    let last = _mm256_set1_epi32(side as i32 - 2);
    let (x0, y0) = (_mm256_min_epi32(_mm256_cvttps_epi32(x), last), _mm256_min_epi32(_mm256_cvttps_epi32(y), last));
    let (fx, fy) = (_mm256_sub_ps(x, _mm256_cvtepi32_ps(x0)), _mm256_sub_ps(y, _mm256_cvtepi32_ps(y0)));
    // Outside lanes read pixel 0 (their result is replaced by NaN below).
    let at = _mm256_and_si256(
        _mm256_add_epi32(_mm256_mullo_epi32(y0, _mm256_set1_epi32(side as i32)), x0),
        _mm256_castps_si256(inside),
    );
    let below = _mm256_add_epi32(at, _mm256_set1_epi32(side as i32));
    let one = _mm256_set1_ps(1.0);
    // SAFETY: inside lanes have 0 <= x0, y0 <= side - 2, so `at + side + 1 < side * side <=
    // img.len()` (asserted above); the others read index 0.
    let [p00, p10, p01, p11] = unsafe {
        let base = img.as_ptr();
        [
            _mm256_i32gather_ps::<4>(base, at),
            _mm256_i32gather_ps::<4>(base.add(1), at),
            _mm256_i32gather_ps::<4>(base, below),
            _mm256_i32gather_ps::<4>(base.add(1), below),
        ]
    };
    let (gx, gy) = (_mm256_sub_ps(one, fx), _mm256_sub_ps(one, fy));
    let top = _mm256_add_ps(_mm256_mul_ps(p00, gx), _mm256_mul_ps(p10, fx));
    let bottom = _mm256_add_ps(_mm256_mul_ps(p01, gx), _mm256_mul_ps(p11, fx));
    let value = _mm256_add_ps(_mm256_mul_ps(top, gy), _mm256_mul_ps(bottom, fy));
    _mm256_blendv_ps(_mm256_set1_ps(f32::NAN), value, inside)
}

/// `now` (a `side`-wide patch) at `sample_at(q)` for each inner pixel's normalised position `q`,
/// in [`inner_pixels`]' order: bilinear, NaN outside. With AVX2 eight pixels at a time (the
/// face's registration reads every inner pixel at every iteration), to the bit what
/// [`inner_sample`] gives.
fn warped_samples(now: &[f32], side: usize, sample_at: &Similarity, out: &mut [f32]) {
    let (lo, hi) = inner_span(side);
    let width = (hi + 1).saturating_sub(lo).max(1);
    for (row, y) in out.chunks_exact_mut(width).zip(lo..=hi) {
        #[cfg(target_arch = "x86_64")]
        if width >= 8 && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            unsafe { inner_row_avx2(now, side, sample_at, y, lo, row) };
            continue;
        }
        for (o, x) in row.iter_mut().zip(lo..) {
            *o = inner_sample(now, side, sample_at, x, y);
        }
    }
}

/// One of [`warped_samples`]: `now` at `sample_at` of patch pixel (x, y)'s normalised position.
fn inner_sample(now: &[f32], side: usize, sample_at: &Similarity, x: usize, y: usize) -> f32 {
    let c = (side as f32 - 1.0) / 2.0;
    let [px, py] = sample_at.apply([(x as f32 - c) / c, (y as f32 - c) / c]);
    bilinear(now, side, px, py).unwrap_or(f32::NAN)
}

/// [`warped_samples`] of one inner row, eight pixels at a time ([`in_eights`]), with
/// [`inner_sample`]'s operations in its order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn inner_row_avx2(now: &[f32], side: usize, m: &Similarity, y: usize, lo: usize, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let c = (side as f32 - 1.0) / 2.0;
    let qy = (y as f32 - c) / c;
    in_eights(out.len(), |first| {
        let xs: [f32; 8] = std::array::from_fn(|lane| (lo + first + lane) as f32);
        // SAFETY: `xs` holds 8 floats.
        let x = unsafe { _mm256_loadu_ps(xs.as_ptr()) };
        let qx = _mm256_div_ps(_mm256_sub_ps(x, _mm256_set1_ps(c)), _mm256_set1_ps(c));
        let [px, py] = apply_avx2(m, qx, qy);
        let value = bilinear_avx2(now, side, px, py);
        // SAFETY: `first + 8 <= out.len()`.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(first), value) };
    });
}

/// Patch pixels to normalised coordinates (the patch spanning -1..1) and back.
fn normalisation(side: usize) -> (Similarity, Similarity) {
    let c = (side as f32 - 1.0) / 2.0;
    (Similarity { a: 1.0 / c, b: 0.0, tx: -1.0, ty: -1.0 }, Similarity { a: c, b: 0.0, tx: c, ty: c })
}

/// The patch pixels of the inner region (none on the patch's border, so central differences
/// stay inside).
fn inner_pixels(side: usize) -> Vec<(usize, usize)> {
    let (lo, hi) = inner_span(side);
    (lo..=hi).flat_map(|y| (lo..=hi).map(move |x| (x, y))).collect()
}

/// The first and last row (and column) of the inner region.
fn inner_span(side: usize) -> (usize, usize) {
    let c = (side as f32 - 1.0) / 2.0;
    let half = INNER * c;
    let mut range = (1..side.saturating_sub(1)).filter(move |&v| (v as f32 - c).abs() <= half);
    let lo = range.next();
    // (None: an empty span, 1..=0.)
    (lo.unwrap_or(1), range.next_back().or(lo).unwrap_or(0))
}

fn rms_contrast(values: impl Iterator<Item = f32> + Clone) -> f64 {
    let n = values.clone().count().max(1) as f64;
    let mean = values.clone().map(|v| v as f64).sum::<f64>() / n;
    (values.map(|v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// Bilinear sample of a `side` x `side` image at pixel position (x, y); `None` outside it.
fn bilinear(img: &[f32], side: usize, x: f32, y: f32) -> Option<f32> {
    let max = (side - 1) as f32;
    if !(x >= 0.0 && y >= 0.0 && x <= max && y <= max) {
        return None;
    }
    let (x0, y0) = ((x as usize).min(side - 2), (y as usize).min(side - 2));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let at = |x: usize, y: usize| img[y * side + x];
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
    let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
    Some(top * (1.0 - fy) + bottom * fy)
}

/// A refinement a face can make between two frames: under 20% in scale, 0.3 rad and 0.3 of the
/// patch in shift. Anything larger is a registration gone astray.
fn plausible(e: &Similarity) -> bool {
    (e.scale() - 1.0).abs() < 0.2 && e.b.atan2(e.a).abs() < 0.3 && e.tx.hypot(e.ty) < 0.3
}

/// Solves the `N` x `N` system `h x = g` (Gaussian elimination with partial pivoting); `None`
/// when it is singular (a patch without texture).
fn solve<const N: usize>(mut h: [[f64; N]; N], mut g: [f64; N]) -> Option<[f64; N]> {
    let scale = (0..N).map(|i| h[i][i].abs()).fold(0.0, f64::max);
    for col in 0..N {
        let pivot = (col..N).max_by(|&a, &b| h[a][col].abs().total_cmp(&h[b][col].abs()))?;
        let size = h[pivot][col].abs();
        if size.is_nan() || size <= 1e-9 * scale {
            return None;
        }
        h.swap(col, pivot);
        g.swap(col, pivot);
        let top = h[col];
        for row in col + 1..N {
            let f = h[row][col] / top[col];
            h[row][col..].iter_mut().zip(&top[col..]).for_each(|(v, t)| *v -= f * t);
            g[row] -= f * g[col];
        }
    }
    let mut x = [0f64; N];
    for row in (0..N).rev() {
        let rest: f64 = (row + 1..N).map(|k| h[row][k] * x[k]).sum();
        x[row] = (g[row] - rest) / h[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Roi;

    /// A smooth texture with detail at several scales, like skin, eyes and brows.
    fn texture(x: f32, y: f32) -> f32 {
        128.0
            + 40.0 * (0.21 * x + 0.13 * y).sin()
            + 30.0 * (0.17 * y - 0.05 * x).cos()
            + 25.0 * (0.4 * x).sin() * (0.33 * y).cos()
            + 60.0 * (-((x - 90.0).powi(2) + (y - 95.0).powi(2)) / 150.0).exp()
    }

    /// A 200x200 frame whose content is the texture moved by `motion`.
    fn frame_moved(motion: &Similarity) -> Vec<u8> {
        let back = motion.inverse();
        (0..200 * 200)
            .flat_map(|i| {
                let p = back.apply([(i % 200) as f32, (i / 200) as f32]);
                let v = texture(p[0], p[1]).round().clamp(0.0, 255.0) as u8;
                [v, v, v]
            })
            .collect()
    }

    fn region() -> Similarity {
        Roi { cx: 100.0, cy: 100.0, width: 120.0, height: 120.0, angle: 0.1 }.crop_to_frame(PATCH)
    }

    fn assert_same_motion(got: &Similarity, want: &Similarity, tol: f32) {
        // Compare where both send the corners of the face region.
        for corner in [[70.0f32, 70.0], [130.0, 70.0], [70.0, 130.0], [130.0, 130.0]] {
            let (g, w) = (got.apply(corner), want.apply(corner));
            assert!((g[0] - w[0]).hypot(g[1] - w[1]) < tol, "{corner:?}: {g:?} vs {w:?} ({got:?} vs {want:?})");
        }
    }

    #[test]
    fn recovers_a_known_similarity_from_an_identity_guess_and_from_a_near_one() {
        let identity = Similarity::IDENTITY;
        // 2 degrees, 2% larger, about the point (100, 100), then (3, -2) px.
        let (s, r) = (1.02f32, 2f32.to_radians());
        let (a, b) = (s * r.cos(), s * r.sin());
        let truth =
            Similarity { a, b, tx: 100.0 - (a * 100.0 - b * 100.0) + 3.0, ty: 100.0 - (b * 100.0 + a * 100.0) - 2.0 };
        let (then, now) = (frame_moved(&identity), frame_moved(&truth));
        let then = Patch::sample(&Frame::rgb(&then, 200, 200).unwrap(), region());
        // The face's patch now is read where the face was (as a track's crop that holds still).
        let now = Patch::sample(&Frame::rgb(&now, 200, 200).unwrap(), region());
        assert_same_motion(&then.motion_to(&now, &identity).expect("registers"), &truth, 0.1);
        let near = Similarity { tx: truth.tx + 1.5, ty: truth.ty - 1.0, ..truth };
        assert_same_motion(&then.motion_to(&now, &near).expect("registers"), &truth, 0.1);
        // Read where the face is now (a crop that followed it): the same motion.
        let followed = region().then(&truth);
        let now_followed = Patch::sample(&Frame::rgb(&frame_moved(&truth), 200, 200).unwrap(), followed);
        assert_same_motion(&then.motion_to(&now_followed, &identity).expect("registers"), &truth, 0.1);
    }

    #[test]
    fn a_flat_region_or_another_picture_gives_no_motion() {
        let identity = Similarity::IDENTITY;
        let flat = vec![90u8; 200 * 200 * 3];
        let patch = Patch::sample(&Frame::rgb(&flat, 200, 200).unwrap(), region());
        assert!(patch.motion_to(&patch.clone(), &identity).is_none());
        // Noise against the texture: nothing matches.
        let mut seed = 7u32;
        let noise: Vec<u8> = (0..200 * 200 * 3)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 24) as u8
            })
            .collect();
        let textured = Patch::sample(&Frame::rgb(&frame_moved(&identity), 200, 200).unwrap(), region());
        let noisy = Patch::sample(&Frame::rgb(&noise, 200, 200).unwrap(), region());
        assert!(textured.motion_to(&noisy, &identity).is_none());
    }

    #[test]
    fn each_point_follows_its_own_pixels_as_far_as_it_is_trusted() {
        // The whole picture moves by (1.5, -0.8) px but the face's motion given is the identity:
        // each point's own window finds the shift (hand-set truth), fully when trusted (noise
        // weight 0), not at all when any residual outweighs it; a point whose window leaves the
        // patch has no motion of its own.
        let shift = Similarity { tx: 1.5, ty: -0.8, ..Similarity::IDENTITY };
        let then = Patch::sample(&Frame::rgb(&frame_moved(&Similarity::IDENTITY), 200, 200).unwrap(), region());
        let now = Patch::sample(&Frame::rgb(&frame_moved(&shift), 200, 200).unwrap(), region());
        let points = [[100.0f32, 100.0], [88.0, 108.0], [112.0, 94.0], [42.0, 100.0]];
        let follow = |noise_weight: f32| Follow { points: &points, contours: &[], noise_weight };
        // The three inner points each end `want` from where they were, within `tol` px.
        let assert_moved = |given: &Similarity, weight: f32, want: [f32; 2], tol: f32| {
            for (p, m) in points.iter().zip(then.point_motions(&now, given, &follow(weight))).take(3) {
                let m = m.expect("an inner point registers");
                assert!((m[0] - p[0] - want[0]).abs() < tol && (m[1] - p[1] - want[1]).abs() < tol, "{p:?} -> {m:?}");
            }
        };
        assert_moved(&Similarity::IDENTITY, 0.0, [1.5, -0.8], 0.05);
        let moved = then.point_motions(&now, &Similarity::IDENTITY, &follow(0.0));
        assert_eq!(moved[3], None, "a window beyond the patch's edge");
        // Told the right motion, nothing is left for the windows: they stay (within 0.05 px).
        assert_moved(&shift, 0.0, [1.5, -0.8], 0.05);
        // A motion given 9 px (nearly 5 fine pixels) off: each window finds its place again.
        let off = Similarity { tx: shift.tx - 9.0, ty: shift.ty + 4.0, ..Similarity::IDENTITY };
        assert_moved(&off, 0.0, [1.5, -0.8], 0.05);
        // A residual (the texture is re-rounded to whole grey levels after the move) weighed
        // a billion times over: the points keep the given motion's place.
        assert_moved(&Similarity::IDENTITY, 1e9, [0.0, 0.0], 0.01);
    }

    /// `textured_fine` moved by the affine `f` about `q`, then by `t`: `then(q + o)` is at
    /// `q + t + f o` now.
    fn stretched_fine(size: usize, q: [f32; 2], f: [[f32; 2]; 2], t: [f32; 2]) -> Fine {
        let det = f[0][0] * f[1][1] - f[0][1] * f[1][0];
        let grey = (0..size * size)
            .map(|i| {
                let (x, y) = ((i % size) as f32 - q[0] - t[0], (i / size) as f32 - q[1] - t[1]);
                let (ox, oy) = ((f[1][1] * x - f[0][1] * y) / det, (-f[1][0] * x + f[0][0] * y) / det);
                texture(q[0] + ox, q[1] + oy) / 255.0
            })
            .collect();
        Fine { to_frame: Similarity::IDENTITY, size, k: 1, grey }
    }

    #[test]
    fn a_stretching_window_follows_its_centre_not_its_average() {
        // The texture around q stretched 5% across, squeezed 3% down and sheared, then moved
        // (0.7, -0.4) px: the point itself moved exactly that (hand-set truth). A translation
        // (the deformation held at none by a prior a million times its curvature) is pulled off
        // it by the texture's uneven detail (0.16 px); a free affine window finds it.
        let q = [88.0f32, 93.0];
        let (f, t) = ([[1.05, 0.03], [0.0, 0.97]], [0.7f32, -0.4]);
        let (then, now) = (textured_fine(180, 1), stretched_fine(180, q, f, t));
        let window = PointWindow::new(&template_window(&then, point_taps(q, then.size).expect("inside")), |_, _| true);
        let found = |prior: f64| {
            let warp = window.register(&now, q, prior).expect("registers").warp;
            [warp.t[0] as f32 - t[0], warp.t[1] as f32 - t[1]]
        };
        let off = |e: [f32; 2]| e[0].hypot(e[1]);
        assert!(off(found(0.0)) < 0.02, "affine: off by {:?}", found(0.0));
        let translation = off(found(1e6));
        assert!(translation > 0.1, "translation: off by only {translation}");
        // The shipped prior, trusted fully (noise weight 0), is between: its pull towards no
        // deformation costs some of the stretch (0.06 px), half of what a translation loses.
        let d = register_point(&then, q, &now, q, None, 0.0).expect("registers");
        let shipped = off([d[0] - t[0], d[1] - t[1]]);
        assert!(shipped < translation / 2.0, "register_point: {d:?}, translation off by {translation}");
    }

    #[test]
    fn window_reads_are_the_scalar_reads_to_the_bit() {
        // A stretched, sheared window read near the image's edge: the dispatched reads (AVX2
        // here) equal the scalar ones to the bit, and both give up when a read falls outside.
        let fine = textured_fine(60, 1);
        let window =
            PointWindow::new(&template_window(&fine, point_taps([30.4, 29.7], 60).expect("inside")), |_, _| true);
        let map = SampleMap { centre: [31.37, 28.91], m: [[1.07, 0.04], [-0.03, 0.95]] };
        let (mut fast, mut scalar) = ([0f32; LANES], [0f32; LANES]);
        window.sample(&fine, &map, &mut fast).expect("inside");
        window.sample_scalar(&fine, &map, &mut scalar).expect("inside");
        assert!(fast.iter().zip(&scalar).all(|(a, b)| a.to_bits() == b.to_bits()));
        let off = SampleMap { centre: [50.0, 28.91], ..map };
        assert!(window.sample(&fine, &off, &mut fast).is_none());
        assert!(window.sample_scalar(&fine, &off, &mut scalar).is_none());
    }

    #[test]
    fn a_shift_is_kept_by_how_far_it_goes_beyond_its_own_uncertainty() {
        // Weighed uncertainty 0.25 * 0.5 = 0.125 px^2. A 5 px shift: 25 / 25.125 of it; a 0.5 px
        // one: 0.25 / 0.375 = 2/3; none: nothing; no uncertainty: all of it.
        let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
        assert!(close(shrinkage([3.0, 4.0], 0.5, 0.25), 25.0 / 25.125));
        assert!(close(shrinkage([0.3, -0.4], 0.5, 0.25), 2.0 / 3.0));
        assert_eq!(shrinkage([0.0, 0.0], 0.5, 0.25), 0.0);
        assert_eq!(shrinkage([0.1, 0.0], 0.0, 0.25), 1.0);
    }

    #[test]
    fn a_backbone_crop_is_box_averaged_and_keeps_its_geometry() {
        // A 128-pixel crop whose every channel is x + 2 y, planar (CHW): averaged 2x2 down to 64,
        // patch pixel (u, v) covers crop pixels 2u..2u+1 x 2v..2v+1, so it holds the value at
        // their centre (2u + 0.5, 2v + 0.5) = 2u + 0.5 + 2 (2v + 0.5), and maps there.
        let size = 128;
        let plane: Vec<f32> = (0..size * size).map(|i| (i % size) as f32 + 2.0 * (i / size) as f32).collect();
        let crop = [plane.clone(), plane.clone(), plane].concat();
        let patch = Patch::from_crop(&crop, size, Layout::Chw, &Similarity::IDENTITY);
        assert_eq!(patch.side, 64);
        for (u, v) in [(0usize, 0usize), (5, 9), (63, 63)] {
            let (x, y) = (2.0 * u as f32 + 0.5, 2.0 * v as f32 + 0.5);
            assert!((patch.pixels[v * 64 + u] - (x + 2.0 * y)).abs() < 1e-3, "({u}, {v})");
            assert_eq!(patch.to_frame().apply([u as f32, v as f32]), [x, y]);
        }
    }

    #[test]
    fn a_lid_follows_its_own_side_where_the_sides_part_and_either_window_serves_a_rigid_move() {
        // Above the point's line the texture moves 1.2 px down over what lies below, which stays
        // (an upper eyelid closing over the eye): the point, on the lid's edge, moves (0, 1.2)
        // (hand-set truth). A centred window splits the difference (0.77 px); told that its
        // tissue is above, the point follows it (within 0.05 px). Trusted fully (noise weight 0).
        let (q, down) = ([88.0f32, 93.0], 1.2f32);
        let then = textured_fine(180, 1);
        let grey = (0..180 * 180)
            .map(|i| {
                let (x, y) = ((i % 180) as f32, (i / 180) as f32);
                texture(x, if y < q[1] + down { y - down } else { y }) / 255.0
            })
            .collect();
        let now = Fine { to_frame: Similarity::IDENTITY, size: 180, k: 1, grey };
        let off = |d: [f32; 2], want: [f32; 2]| (d[0] - want[0]).hypot(d[1] - want[1]);
        let centred = register_point(&then, q, &now, q, None, 0.0).expect("registers");
        let lid = register_point(&then, q, &now, q, Some([0.0, -1.0]), 0.0).expect("registers");
        assert!(off(centred, [0.0, down]) > 0.3, "centred: {centred:?}");
        assert!(off(lid, [0.0, down]) < 0.1, "one-sided: {lid:?}");
        // Everything moves (0.7, -0.4) px: with a side or without, the point moves so.
        let now = stretched_fine(180, q, [[1.0, 0.0], [0.0, 1.0]], [0.7, -0.4]);
        for side in [None, Some([0.0, -1.0]), Some([0.6, 0.8])] {
            let d = register_point(&then, q, &now, q, side, 0.0).expect("registers");
            assert!(off(d, [0.7, -0.4]) < 0.02, "{side:?}: {d:?}");
        }
    }

    /// A `size` x `size` fine image of the texture (grey levels 0..1), `k` of it per patch pixel.
    fn textured_fine(size: usize, k: usize) -> Fine {
        let grey = (0..size * size).map(|i| texture((i % size) as f32, (i / size) as f32) / 255.0).collect();
        Fine { to_frame: Similarity::IDENTITY, size, k, grey }
    }

    #[test]
    fn a_point_window_holds_the_template_interpolated_at_each_offset() {
        // Against `bilinear` (another order of the same interpolation, hence the tolerance) at the
        // point plus each offset, and the central differences of those.
        let fine = textured_fine(60, 3);
        let q = [29.3f32, 31.8];
        let window = template_window(&fine, point_taps(q, fine.size).expect("inside"));
        let at = |x: i32, y: i32| bilinear(&fine.grey, fine.size, q[0] + x as f32, q[1] + y as f32).expect("inside");
        assert_eq!(window.len(), 121);
        for w in &window {
            let (gx, gy) = ((at(w.x + 1, w.y) - at(w.x - 1, w.y)) / 2.0, (at(w.x, w.y + 1) - at(w.x, w.y - 1)) / 2.0);
            for (got, want) in [(w.value, at(w.x, w.y)), (w.gx, gx), (w.gy, gy)] {
                assert!((got - want).abs() < 1e-5, "offset ({}, {}): {got} vs {want}", w.x, w.y);
            }
        }
        let corners = [window[0], window[120]].map(|w| (w.x, w.y));
        assert_eq!(corners, [(-10, -10), (10, 10)]);
        assert!(point_taps([11.5, 30.0], fine.size).is_none(), "the window and its neighbours leave the image");
    }

    #[test]
    fn block_means_are_the_scalar_samples_to_the_bit() {
        // Turned, scaled and shifted so that the rows' ends fall outside the image (NaN); row
        // lengths a multiple of 8, not one (the last eight overlap), and the inner region's.
        let fine = textured_fine(150, 3);
        let (s, r) = (1.07f32, 0.2f32);
        let to_mine = Similarity { a: s * r.cos(), b: s * r.sin(), tx: 3.7, ty: -6.2 };
        let mut nan = 0;
        for (v, lo, len) in [(2usize, 0usize, 8usize), (20, 5, 44), (40, 0, 50), (49, 30, 19)] {
            let mut fast = vec![0f32; len];
            fine.block_means(&to_mine, v, lo, &mut fast);
            for (u, got) in (lo..).zip(fast) {
                let want = fine.block_mean(&to_mine, u, v);
                assert!(
                    got.to_bits() == want.to_bits() || got.is_nan() && want.is_nan(),
                    "({u}, {v}): {got} vs {want}"
                );
                nan += want.is_nan() as usize;
            }
        }
        assert!(nan > 0 && nan < 60, "some samples fall outside, most inside: {nan}");
    }

    #[test]
    fn warped_samples_are_the_scalar_samples_to_the_bit() {
        // A 64-pixel patch read turned, scaled and shifted so that a corner of the inner region
        // falls outside (NaN), in inner_pixels' order.
        let fine = textured_fine(64, 1);
        let sample_at = Similarity { a: 33.0, b: 4.0, tx: 48.0, ty: 28.5 };
        let inner = inner_pixels(64);
        let mut fast = vec![0f32; inner.len()];
        warped_samples(&fine.grey, 64, &sample_at, &mut fast);
        for (&(x, y), got) in inner.iter().zip(&fast) {
            let want = inner_sample(&fine.grey, 64, &sample_at, x, y);
            assert!(got.to_bits() == want.to_bits() || got.is_nan() && want.is_nan(), "({x}, {y}): {got} vs {want}");
        }
        let outside = fast.iter().filter(|v| v.is_nan()).count();
        assert!(outside > 0 && outside < fast.len() / 4, "{outside} of {}", fast.len());
        assert_eq!(inner_span(3), (1, 1));
        assert!(inner_pixels(2).is_empty());
    }

    #[test]
    fn solve4_by_hand() {
        // Diagonal 2, 4, 5, 10 with one coupling: x = (1, 2, 3, 4) gives these right-hand sides.
        let h = [[2.0, 1.0, 0.0, 0.0], [0.0, 4.0, 0.0, 0.0], [0.0, 0.0, 5.0, 0.0], [0.0, 0.0, 0.0, 10.0]];
        let x = solve(h, [4.0, 8.0, 15.0, 40.0]).unwrap();
        for (got, want) in x.iter().zip([1.0, 2.0, 3.0, 4.0]) {
            assert!((got - want).abs() < 1e-12, "{x:?}");
        }
        assert!(solve([[0.0; 4]; 4], [1.0; 4]).is_none());
    }
}
