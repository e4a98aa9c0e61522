//! Synthetic video from an annotated still: the image moved along a smooth trajectory of
//! similarity transforms, so the true landmark positions of every frame are known exactly; with
//! [`expression_frames`], the face also blinks, opens its mouth, smiles and raises its brows
//! (a piecewise-affine warp of the still by its moved points, see [`warp`] and [`expression`]).

pub mod expression;
pub mod warp;

use steadyface::frame::{Frame, FrameVisitor, PixelSource};
use steadyface::geometry::Similarity;

pub use expression::{ExpressionSchedule, Unit};

/// One segment of a trajectory: `frames` frames moving by `velocity` pixels per frame and
/// turning by `turn` radians per frame (zero for a still stretch).
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    pub frames: usize,
    pub velocity: [f32; 2],
    pub turn: f32,
}

/// Per frame, the transform from output pixels to source-image pixels, for an output of
/// `size` pixels showing the source centred at `centre` magnified by `zoom`.
pub fn trajectory(segments: &[Segment], centre: [f32; 2], size: [usize; 2], zoom: f32) -> Vec<Similarity> {
    let (mut offset, mut angle) = ([0.0f32, 0.0], 0.0f32);
    let mut out = Vec::new();
    for seg in segments {
        for _ in 0..seg.frames {
            // Output pixel p shows source point centre + R(-angle) (p - mid - offset) / zoom.
            let (c, s) = (angle.cos() / zoom, -angle.sin() / zoom);
            let mid = [(size[0] as f32 - 1.0) / 2.0 + offset[0], (size[1] as f32 - 1.0) / 2.0 + offset[1]];
            out.push(Similarity {
                a: c,
                b: s,
                tx: centre[0] - (c * mid[0] - s * mid[1]),
                ty: centre[1] - (s * mid[0] + c * mid[1]),
            });
            offset = [offset[0] + seg.velocity[0], offset[1] + seg.velocity[1]];
            angle += seg.turn;
        }
    }
    out
}

/// A smooth random trajectory of `frames` frames from `seed`: still stretches, slow drifts with a
/// slight turn, and fast moves, in random order and lengths (deterministic).
///
/// A still stretch lasts at most a third of the sequence (and at least 4 frames), so a short
/// sequence (8 frames or more) also moves after its first still stretch; from 120 frames on the
/// cap is above every drawn length and sequences are what they always were.
pub fn random_segments(frames: usize, seed: u64) -> Vec<Segment> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let mut left = frames;
    let mut kind = 0;
    let still_cap = (frames / 3).max(4);
    while left > 0 {
        let (len, speed, turn) = match kind % 3 {
            0 => ((20 + rng.below(20)).min(still_cap), 0.0, 0.0),     // still
            1 => (30 + rng.below(30), 0.3 + 0.7 * rng.unit(), 0.004), // slow drift
            _ => (8 + rng.below(10), 2.5 + 2.5 * rng.unit(), 0.008),  // fast move
        };
        let heading = std::f32::consts::TAU * rng.unit();
        let len = len.min(left);
        let sign = if rng.unit() < 0.5 { -1.0 } else { 1.0 };
        out.push(Segment {
            frames: len,
            velocity: [speed * heading.cos(), speed * heading.sin()],
            turn: sign * turn * rng.unit(),
        });
        left -= len;
        kind += 1;
    }
    out
}

/// A degradation level of the fine-tuning paper's noise experiment (fig. 8).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Degradation {
    Clean,
    /// Additive Gaussian noise of this many grey levels (sigma).
    Noise(f32),
    /// Gaussian blur of this sigma in pixels.
    Blur(f32),
    /// JPEG compression at this quality.
    Jpeg(u8),
    /// Blur 1 px, noise 10, JPEG 30, in that order.
    Combined,
}

impl Degradation {
    /// The named levels, in order of the paper's experiment.
    pub const LEVELS: [&'static str; 7] = ["clean", "noise5", "noise10", "noise20", "blur", "jpeg30", "combined"];

    pub fn parse(name: &str) -> crate::Result<Self> {
        Ok(match name {
            "clean" => Degradation::Clean,
            "noise5" => Degradation::Noise(5.0),
            "noise10" => Degradation::Noise(10.0),
            "noise20" => Degradation::Noise(20.0),
            "blur" => Degradation::Blur(1.5),
            "jpeg30" => Degradation::Jpeg(30),
            "combined" => Degradation::Combined,
            other => {
                return Err(crate::Error::Other(format!(
                    "unknown degradation level '{other}'; levels: {}",
                    Self::LEVELS.join(", ")
                )));
            }
        })
    }

    /// Applies the degradation to a packed RGB frame in place; `seed` draws the noise.
    pub fn apply(self, rgb: &mut [u8], width: usize, height: usize, seed: u64) {
        match self {
            Degradation::Clean => {}
            Degradation::Noise(sigma) => {
                let mut rng = Rng::new(seed);
                for v in rgb.iter_mut() {
                    *v = (*v as f32 + sigma * rng.gauss()).round().clamp(0.0, 255.0) as u8;
                }
            }
            Degradation::Blur(sigma) => blur(rgb, width, height, sigma),
            Degradation::Jpeg(quality) => jpeg(rgb, width, height, quality),
            Degradation::Combined => {
                Degradation::Blur(1.0).apply(rgb, width, height, seed);
                Degradation::Noise(10.0).apply(rgb, width, height, seed);
                Degradation::Jpeg(30).apply(rgb, width, height, seed);
            }
        }
    }
}

/// Separable Gaussian blur of a packed RGB frame (borders repeat).
fn blur(rgb: &mut [u8], width: usize, height: usize, sigma: f32) {
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let total: f32 = kernel.iter().sum();
    let values: Vec<f32> = rgb.iter().map(|&v| v as f32).collect();
    // Rows, then columns: the same 1-D pass along x (step 1 pixel) and along y (step 1 row).
    let rows = blur_pass(&values, width, height, &kernel, total, true);
    let both = blur_pass(&rows, width, height, &kernel, total, false);
    for (out, v) in rgb.iter_mut().zip(both) {
        *out = v.round().clamp(0.0, 255.0) as u8;
    }
}

/// One 1-D pass of `kernel` over a packed RGB frame, along x or along y, normalised by `total`.
fn blur_pass(src: &[f32], width: usize, height: usize, kernel: &[f32], total: f32, along_x: bool) -> Vec<f32> {
    let radius = (kernel.len() / 2) as isize;
    let (len, stride) = if along_x { (width, 3) } else { (height, width * 3) };
    let mut out = vec![0f32; src.len()];
    for y in 0..height {
        for x in 0..width {
            let (pos, base) = if along_x { (x, y * width * 3) } else { (y, x * 3) };
            for c in 0..3 {
                let sum: f32 = kernel
                    .iter()
                    .enumerate()
                    .map(|(k, w)| {
                        let at = (pos as isize + k as isize - radius).clamp(0, len as isize - 1) as usize;
                        w * src[base + at * stride + c]
                    })
                    .sum();
                out[(y * width + x) * 3 + c] = sum / total;
            }
        }
    }
    out
}

/// Round trip through JPEG at `quality` (the image crate's encoder and decoder).
fn jpeg(rgb: &mut [u8], width: usize, height: usize, quality: u8) {
    let mut encoded = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut encoded, quality);
    let ok =
        image::ImageEncoder::write_image(encoder, rgb, width as u32, height as u32, image::ExtendedColorType::Rgb8)
            .is_ok();
    if let Some(decoded) = ok.then(|| image::load_from_memory(&encoded).ok()).flatten() {
        rgb.copy_from_slice(decoded.to_rgb8().as_raw());
    }
}

/// A small deterministic generator (xorshift64) so sequences depend on nothing but the seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in (0, 1).
    pub fn unit(&mut self) -> f32 {
        (((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64) as f32
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Standard normal (Box-Muller).
    pub fn gauss(&mut self) -> f32 {
        let (u1, u2) = (self.unit().max(1e-12), self.unit());
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}

/// The frames of a moving sequence made from `source` and its `points` (source pixels): frame i
/// is the source through `transforms[i]` (see [`trajectory`]) degraded at `level`, with the
/// points moved exactly into it. The noise of frame i is drawn from `seed` and i.
pub fn moving_frames<'a>(
    source: &'a Frame<'a>,
    points: &'a [[f32; 2]],
    transforms: &'a [Similarity],
    size: [usize; 2],
    level: Degradation,
    seed: u64,
) -> impl Iterator<Item = (Vec<u8>, Vec<[f32; 2]>)> + 'a {
    transforms
        .iter()
        .enumerate()
        .map(move |(i, t)| finish_frame(render(source, t, size), points, t, size, level, seed, i))
}

/// Frame `i` of a sequence: its rendering `rgb` degraded at `level` with the frame's own noise
/// (drawn from `seed` and `i`), and `points` (source pixels) moved into it (`to_source`: the
/// frame's transform).
fn finish_frame(
    mut rgb: Vec<u8>,
    points: &[[f32; 2]],
    to_source: &Similarity,
    size: [usize; 2],
    level: Degradation,
    seed: u64,
    i: usize,
) -> (Vec<u8>, Vec<[f32; 2]>) {
    level.apply(&mut rgb, size[0], size[1], seed.wrapping_mul(1_000_003).wrapping_add(i as u64));
    let to_frame = to_source.inverse();
    (rgb, points.iter().map(|&p| to_frame.apply(p)).collect())
}

/// [`moving_frames`] with the face's expression animated by `schedule` (`points` must be the 68
/// iBUG points): frame i shows the source warped so its points move to their place at the
/// schedule's weights of frame i, then through `transforms[i]`; its points are those moved
/// points in the frame. Same transforms, level and seed as a [`moving_frames`] sequence give the
/// same motion and noise: the expression is the only difference.
pub fn expression_frames<'a>(
    source: &'a Frame<'a>,
    points: &'a [[f32; 2]],
    transforms: &'a [Similarity],
    schedule: &'a ExpressionSchedule,
    size: [usize; 2],
    level: Degradation,
    seed: u64,
) -> impl Iterator<Item = (Vec<u8>, Vec<[f32; 2]>)> + 'a {
    let units = expression::Units::new(points);
    let mesh = warp::Mesh::new(points);
    transforms.iter().enumerate().map(move |(i, t)| {
        let moved = units.deform(schedule.weights(i));
        finish_frame(mesh.render(source, t, size, &moved), &moved, t, size, level, seed, i)
    })
}

/// Renders one frame: packed RGB of `size`, output pixel p = bilinear source at `to_source(p)`.
pub fn render(source: &Frame, to_source: &Similarity, size: [usize; 2]) -> Vec<u8> {
    struct Render<'a> {
        t: &'a Similarity,
        size: [usize; 2],
    }
    impl FrameVisitor for Render<'_> {
        type Output = Vec<u8>;
        fn visit<S: PixelSource>(self, src: &S) -> Vec<u8> {
            let [w, h] = self.size;
            (0..w * h)
                .flat_map(|i| src.sample_at(self.t.apply([(i % w) as f32, (i / w) as f32])))
                .map(|v| v.round().clamp(0.0, 255.0) as u8)
                .collect()
        }
    }
    source.visit(Render { t: to_source, size })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_has_the_named_sigma_and_blur_keeps_a_flat_image() {
        let (w, h) = (64, 48);
        let mut flat = vec![128u8; w * h * 3];
        Degradation::Noise(10.0).apply(&mut flat, w, h, 3);
        let n = flat.len() as f32;
        let mean = flat.iter().map(|&v| v as f32).sum::<f32>() / n;
        let sd = (flat.iter().map(|&v| (v as f32 - mean).powi(2)).sum::<f32>() / n).sqrt();
        assert!((sd - 10.0).abs() < 0.5 && (mean - 128.0).abs() < 0.5, "sd {sd} mean {mean}");
        let mut grey = vec![77u8; w * h * 3];
        Degradation::Blur(1.5).apply(&mut grey, w, h, 0);
        assert!(grey.iter().all(|&v| v == 77));
        assert!(Degradation::parse("fog").is_err());
    }

    #[test]
    fn blur_spreads_an_impulse_evenly_along_both_axes() {
        // A white pixel at the centre of a black 21x21 frame spreads the same way along x and y,
        // and its energy is kept (up to rounding).
        let n = 21;
        let mut img = vec![0u8; n * n * 3];
        img[(10 * n + 10) * 3..][..3].fill(255);
        Degradation::Blur(1.5).apply(&mut img, n, n, 0);
        let at = |x: usize, y: usize| img[(y * n + x) * 3];
        for d in 1..4 {
            assert_eq!(at(10 + d, 10), at(10, 10 + d));
            assert_eq!(at(10 - d, 10), at(10, 10 - d));
        }
        assert!(at(10, 10) > at(11, 10) && at(11, 10) > at(12, 10));
        let total: u32 = img.iter().step_by(3).map(|&v| v as u32).sum();
        assert!((total as i32 - 255).abs() < 20, "energy {total}");
    }

    #[test]
    fn segments_cover_the_frames_deterministically() {
        let a = random_segments(150, 9);
        assert_eq!(a.iter().map(|s| s.frames).sum::<usize>(), 150);
        let b = random_segments(150, 9);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert!(a.iter().any(|s| s.velocity == [0.0, 0.0]), "has still stretches");
    }

    #[test]
    fn short_sequences_move_and_stand_still() {
        for frames in 8..40 {
            for seed in 0..50 {
                let segs = random_segments(frames, seed);
                assert_eq!(segs.iter().map(|s| s.frames).sum::<usize>(), frames, "{frames} frames, seed {seed}");
                let moving = segs.iter().any(|s| s.frames > 0 && s.velocity != [0.0, 0.0]);
                let still = segs.iter().any(|s| s.frames >= 4 && s.velocity == [0.0, 0.0]);
                assert!(moving && still, "{frames} frames, seed {seed}: {segs:?}");
            }
        }
    }
}
