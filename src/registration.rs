//! How a face moved between two frames, measured on the pixels: Lucas-Kanade registration of a
//! grayscale patch of the face under a similarity motion (inverse compositional, Baker and
//! Matthews 2004).
//!
//! The landmark backbone's points jitter by about 1% of the eye distance from frame to frame; a
//! whole face region registered at sub-pixel precision moves far more steadily. Smoothing that
//! follows this motion (see [`crate::smoothing`]) can smooth hard without trailing the head.

use crate::crop::{Layout, crop_rgb};
use crate::frame::Frame;
use crate::geometry::Similarity;

/// Side of the grayscale patch a face region is registered at.
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

/// The grayscale template of a face region in one frame, to register a later frame against.
#[derive(Debug, Clone)]
pub struct Patch {
    to_frame: Similarity,
    pixels: Vec<f32>,
}

impl Patch {
    /// Samples the region whose patch pixel `u` is frame pixel `to_frame(u)`.
    pub fn new(frame: &Frame, to_frame: Similarity) -> Patch {
        Patch { to_frame, pixels: gray(frame, &to_frame) }
    }

    pub fn to_frame(&self) -> Similarity {
        self.to_frame
    }

    /// The motion of the region's content from this patch's frame to `frame`: the similarity `M`
    /// (frame pixels) that takes a point of the face then to where it is now. `guess` starts the
    /// search (e.g. the motion of the landmarks); `None` when the registration does not converge
    /// or does not match (see [`MAX_RESIDUAL`]).
    pub fn motion_to(&self, frame: &Frame, guess: &Similarity) -> Option<Similarity> {
        let t0 = self.to_frame;
        let t0_inv = t0.inverse();
        // The guess in patch pixels, and the current frame sampled through it: registration then
        // only refines what is left.
        let d0 = t0.then(guess).then(&t0_inv);
        let current = gray(frame, &d0.then(&t0));
        let e = self.register(&current)?;
        let c = (PATCH as f32 - 1.0) / 2.0;
        let to_norm = Similarity { a: 1.0 / c, b: 0.0, tx: -1.0, ty: -1.0 };
        let from_norm = Similarity { a: c, b: 0.0, tx: c, ty: c };
        let d = to_norm.then(&e).then(&from_norm).then(&d0);
        Some(t0_inv.then(&d).then(&t0))
    }

    /// The warp `E` (normalised patch coordinates, the patch spanning -1..1) with
    /// `current(E(q)) ~ template(q)` over the inner region.
    fn register(&self, current: &[f32]) -> Option<Similarity> {
        let c = (PATCH as f32 - 1.0) / 2.0;
        let inner = inner_pixels(c);
        // Steepest-descent images of the template: its gradient (per normalised unit) times the
        // warp's Jacobian at the identity, for parameters (a, b, tx, ty) of
        // W(q) = ((1 + a) qx - b qy + tx, b qx + (1 + a) qy + ty).
        let sd: Vec<[f64; 4]> = inner
            .iter()
            .map(|&(x, y)| {
                let at = |x: usize, y: usize| self.pixels[y * PATCH + x] as f64;
                let gx = (at(x + 1, y) - at(x - 1, y)) / 2.0 * c as f64;
                let gy = (at(x, y + 1) - at(x, y - 1)) / 2.0 * c as f64;
                let (qx, qy) = ((x as f64 - c as f64) / c as f64, (y as f64 - c as f64) / c as f64);
                [gx * qx + gy * qy, -gx * qy + gy * qx, gx, gy]
            })
            .collect();
        let contrast = rms_contrast(inner.iter().map(|&(x, y)| self.pixels[y * PATCH + x]));
        let mut e = Similarity::IDENTITY;
        for _ in 0..MAX_ITERATIONS {
            let (mut h, mut g, mut sq, mut n) = ([[0f64; 4]; 4], [0f64; 4], 0f64, 0usize);
            for (&(x, y), s) in inner.iter().zip(&sd) {
                let q = [(x as f32 - c) / c, (y as f32 - c) / c];
                let w = e.apply(q);
                let Some(value) = bilinear(current, w[0] * c + c, w[1] * c + c) else { continue };
                let err = (value - self.pixels[y * PATCH + x]) as f64;
                for i in 0..4 {
                    g[i] += s[i] * err;
                    for j in 0..4 {
                        h[i][j] += s[i] * s[j];
                    }
                }
                sq += err * err;
                n += 1;
            }
            if n < inner.len() / 2 {
                return None;
            }
            let dp = solve4(h, g)?;
            // Inverse compositional update: E <- E o W(dp)^-1.
            let step = Similarity { a: 1.0 + dp[0] as f32, b: dp[1] as f32, tx: dp[2] as f32, ty: dp[3] as f32 };
            e = step.inverse().then(&e);
            if dp.iter().all(|v| v.abs() < STEP_DONE) {
                let residual = (sq / n as f64).sqrt();
                return (residual <= MAX_RESIDUAL * contrast && plausible(&e)).then_some(e);
            }
        }
        None
    }
}

/// The region's pixels as grey levels in 0..1 (the mean of R, G and B), antialiased like the
/// backbone's crops.
fn gray(frame: &Frame, to_frame: &Similarity) -> Vec<f32> {
    let mut rgb = vec![0f32; 3 * PATCH * PATCH];
    crop_rgb(frame, to_frame, PATCH, Layout::Hwc, 1.0 / 255.0, 0.0, &mut rgb);
    rgb.chunks_exact(3).map(|p| (p[0] + p[1] + p[2]) / 3.0).collect()
}

/// The patch pixels of the inner region (none on the patch's border, so central differences
/// stay inside).
fn inner_pixels(c: f32) -> Vec<(usize, usize)> {
    let half = INNER * c;
    let range = || (1..PATCH - 1).filter(move |&v| (v as f32 - c).abs() <= half);
    range().flat_map(|y| range().map(move |x| (x, y))).collect()
}

fn rms_contrast(values: impl Iterator<Item = f32> + Clone) -> f64 {
    let n = values.clone().count().max(1) as f64;
    let mean = values.clone().map(|v| v as f64).sum::<f64>() / n;
    (values.map(|v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// Bilinear sample of a patch at pixel position (x, y); `None` outside it.
fn bilinear(img: &[f32], x: f32, y: f32) -> Option<f32> {
    let max = (PATCH - 1) as f32;
    if !(x >= 0.0 && y >= 0.0 && x <= max && y <= max) {
        return None;
    }
    let (x0, y0) = ((x as usize).min(PATCH - 2), (y as usize).min(PATCH - 2));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let at = |x: usize, y: usize| img[y * PATCH + x];
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
    let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
    Some(top * (1.0 - fy) + bottom * fy)
}

/// A refinement a face can make between two frames: under 20% in scale, 0.3 rad and 0.3 of the
/// patch in shift. Anything larger is a registration gone astray.
fn plausible(e: &Similarity) -> bool {
    (e.scale() - 1.0).abs() < 0.2 && e.b.atan2(e.a).abs() < 0.3 && e.tx.hypot(e.ty) < 0.3
}

/// Solves the 4x4 system `h x = g` (Gaussian elimination with partial pivoting); `None` when it
/// is singular (a patch without texture).
fn solve4(mut h: [[f64; 4]; 4], mut g: [f64; 4]) -> Option<[f64; 4]> {
    let scale = (0..4).map(|i| h[i][i].abs()).fold(0.0, f64::max);
    for col in 0..4 {
        let pivot = (col..4).max_by(|&a, &b| h[a][col].abs().total_cmp(&h[b][col].abs()))?;
        let size = h[pivot][col].abs();
        if size.is_nan() || size <= 1e-9 * scale {
            return None;
        }
        h.swap(col, pivot);
        g.swap(col, pivot);
        let top = h[col];
        for row in col + 1..4 {
            let f = h[row][col] / top[col];
            h[row][col..].iter_mut().zip(&top[col..]).for_each(|(v, t)| *v -= f * t);
            g[row] -= f * g[col];
        }
    }
    let mut x = [0f64; 4];
    for row in (0..4).rev() {
        let rest: f64 = (row + 1..4).map(|k| h[row][k] * x[k]).sum();
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
        let patch = Patch::new(&Frame::rgb(&then, 200, 200).unwrap(), region());
        let now = Frame::rgb(&now, 200, 200).unwrap();
        let got = patch.motion_to(&now, &identity).expect("registers");
        assert_same_motion(&got, &truth, 0.1);
        let near = Similarity { tx: truth.tx + 1.5, ty: truth.ty - 1.0, ..truth };
        assert_same_motion(&patch.motion_to(&now, &near).expect("registers"), &truth, 0.1);
    }

    #[test]
    fn a_flat_region_or_another_picture_gives_no_motion() {
        let identity = Similarity::IDENTITY;
        let flat = vec![90u8; 200 * 200 * 3];
        let patch = Patch::new(&Frame::rgb(&flat, 200, 200).unwrap(), region());
        assert!(patch.motion_to(&Frame::rgb(&flat, 200, 200).unwrap(), &identity).is_none());
        // Noise against the texture: nothing matches.
        let mut seed = 7u32;
        let noise: Vec<u8> = (0..200 * 200 * 3)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 24) as u8
            })
            .collect();
        let textured = frame_moved(&identity);
        let patch = Patch::new(&Frame::rgb(&textured, 200, 200).unwrap(), region());
        assert!(patch.motion_to(&Frame::rgb(&noise, 200, 200).unwrap(), &identity).is_none());
    }

    #[test]
    fn solve4_by_hand() {
        // Diagonal 2, 4, 5, 10 with one coupling: x = (1, 2, 3, 4) gives these right-hand sides.
        let h = [[2.0, 1.0, 0.0, 0.0], [0.0, 4.0, 0.0, 0.0], [0.0, 0.0, 5.0, 0.0], [0.0, 0.0, 0.0, 10.0]];
        let x = solve4(h, [4.0, 8.0, 15.0, 40.0]).unwrap();
        for (got, want) in x.iter().zip([1.0, 2.0, 3.0, 4.0]) {
            assert!((got - want).abs() < 1e-12, "{x:?}");
        }
        assert!(solve4([[0.0; 4]; 4], [1.0; 4]).is_none());
    }
}
