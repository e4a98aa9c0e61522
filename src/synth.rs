//! Synthetic video from an annotated still: the image moved along a smooth trajectory of
//! similarity transforms, so the true landmark positions of every frame are known exactly.

use crate::frame::{Frame, FrameVisitor, PixelSource};
use crate::geometry::Similarity;

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

/// Renders one frame: packed RGB of `size`, output pixel p = bilinear source at `to_source(p)`,
/// plus Gaussian noise of `noise_sigma` grey levels from `seed` (deterministic).
pub fn render(source: &Frame, to_source: &Similarity, size: [usize; 2], noise_sigma: f32, seed: u64) -> Vec<u8> {
    struct Render<'a> {
        t: &'a Similarity,
        size: [usize; 2],
    }
    impl FrameVisitor for Render<'_> {
        type Output = Vec<[f32; 3]>;
        fn visit<S: PixelSource>(self, src: &S) -> Vec<[f32; 3]> {
            let [w, h] = self.size;
            (0..w * h).map(|i| src.sample_at(self.t.apply([(i % w) as f32, (i / w) as f32]))).collect()
        }
    }
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut gauss = move || {
        // Box-Muller on a xorshift stream.
        let mut uniform = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            ((rng >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let (u1, u2) = (uniform(), uniform());
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    };
    source
        .visit(Render { t: to_source, size })
        .into_iter()
        .flatten()
        .map(|v| (v + if noise_sigma > 0.0 { noise_sigma * gauss() } else { 0.0 }).round().clamp(0.0, 255.0) as u8)
        .collect()
}
