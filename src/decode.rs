//! Heatmaps -> points: Probability Density Centralization (PDC, Algorithm 1 of the fine-tuning
//! paper) and two baselines (integer argmax, sub-pixel argmax).
//!
//! Points come back in heatmap pixel coordinates, pixel centres at integers (0-based); convert
//! them with [`crate::heatmap::heatmap_to_crop`].

use crate::{Error, Result};

/// The paper's Θ_PDC, here relative to each map's maximum (see [`Decoder::Pdc`]).
pub const DEFAULT_PDC_THRESHOLD: f32 = 0.2;

/// How a heatmap becomes a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decoder {
    /// Centre of mass of the map after zeroing every value below `threshold * max` (Algorithm 1).
    ///
    /// The paper's Θ_PDC = 0.2 is an absolute value for maps whose peak is about 1. Backbones
    /// differ in range (a peak of 0.6, or raw logits of 30), so the threshold is taken relative to
    /// each map's maximum: the decoder then behaves the same whatever the backbone's scale, and
    /// for peak-1 maps it is exactly the paper's rule.
    ///
    /// The hard cut biases the centre: the ring of pixels just above the cut enters with weight
    /// ~0.2 all at once, unevenly on the two sides of a sub-pixel centre. On exact Gaussians the
    /// worst error is 0.07-0.14 heatmap px for every sigma from 1 to 4 (0.09 at sigma 1.5), and the
    /// point jumps when a pixel crosses the cut. [`Decoder::PdcSoft`] avoids both.
    Pdc { threshold: f32 },
    /// PDC with the cut subtracted instead of applied as a step: weights `max(v - cut, 0)`.
    /// Background below the cut is ignored exactly as in [`Decoder::Pdc`], but the weights are
    /// continuous, so the centre moves smoothly with the map and the bias on a Gaussian drops to
    /// ~0.02 px at sigma 1.5 (~0.007 at sigma 2). Not the paper's rule; offered to compare.
    PdcSoft { threshold: f32 },
    /// Integer position of the maximum (the first one in row-major order on ties).
    Argmax,
    /// Argmax refined per axis by a parabola through the log of the peak and its two neighbours
    /// (DARK-style: exact for a Gaussian), the step clamped to +-0.5 px.
    Subpixel,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::Pdc { threshold: DEFAULT_PDC_THRESHOLD }
    }
}

impl Decoder {
    /// Names accepted by [`Decoder::parse`].
    pub const NAMES: [&'static str; 4] = ["pdc", "pdc-soft", "argmax", "subpixel"];

    /// Decoder from its name (as in a property or a command-line flag); `threshold` is used by
    /// the PDC decoders only and must lie in [0, 1].
    pub fn parse(name: &str, threshold: f32) -> Result<Decoder> {
        let key = name.trim().to_ascii_lowercase();
        let pdc = matches!(key.as_str(), "pdc" | "pdc-soft");
        if pdc && !(0.0..=1.0).contains(&threshold) {
            return Err(Error::Other(format!(
                "PDC threshold {threshold} is out of range: it is a fraction of each heatmap's maximum, in [0, 1]"
            )));
        }
        match key.as_str() {
            "pdc" => Ok(Decoder::Pdc { threshold }),
            "pdc-soft" => Ok(Decoder::PdcSoft { threshold }),
            "argmax" => Ok(Decoder::Argmax),
            "subpixel" => Ok(Decoder::Subpixel),
            _ => Err(Error::Other(format!(
                "unknown heatmap decoder \"{name}\"; valid decoders: {}",
                Decoder::NAMES.join(", ")
            ))),
        }
    }

    /// The name [`Decoder::parse`] accepts for this decoder.
    pub fn name(&self) -> &'static str {
        match self {
            Decoder::Pdc { .. } => "pdc",
            Decoder::PdcSoft { .. } => "pdc-soft",
            Decoder::Argmax => "argmax",
            Decoder::Subpixel => "subpixel",
        }
    }

    /// Decodes `k` maps of `h` x `w` laid out K x H x W. Returns one point per map (heatmap pixel
    /// coordinates) and one confidence per map: the map's maximum clamped to [0, 1].
    ///
    /// A map whose maximum is not positive, or that holds a NaN/infinity, decodes to the argmax of
    /// its finite values (the centre if they are all equal) with confidence 0, and so do maps
    /// missing from a too-short buffer (the centre).
    pub fn decode(&self, maps: &[f32], k: usize, h: usize, w: usize) -> (Vec<[f32; 2]>, Vec<f32>) {
        let plane = h * w;
        let mut points = Vec::with_capacity(k);
        let mut conf = Vec::with_capacity(k);
        for i in 0..k {
            let (p, c) = match maps.get(i * plane..(i + 1) * plane) {
                Some(map) if plane > 0 => self.decode_map(map, h, w),
                _ => (centre(h, w), 0.0),
            };
            points.push(p);
            conf.push(c);
        }
        (points, conf)
    }

    /// Decodes one `h` x `w` row-major map, with the same rules as [`Decoder::decode`]; a map whose
    /// length is not `h * w` decodes to the centre with confidence 0.
    pub fn decode_map(&self, map: &[f32], h: usize, w: usize) -> ([f32; 2], f32) {
        if map.len() != h * w {
            return (centre(h, w), 0.0);
        }
        let peak = Peak::find(map);
        if !peak.valid {
            let p = if peak.max > peak.min { pos(peak.index, w) } else { centre(h, w) };
            return (p, 0.0);
        }
        let conf = peak.max.clamp(0.0, 1.0);
        let p = match *self {
            Decoder::Pdc { threshold } => pdc(map, w, peak.max, threshold, false),
            Decoder::PdcSoft { threshold } => pdc(map, w, peak.max, threshold, true),
            Decoder::Argmax => pos(peak.index, w),
            Decoder::Subpixel => subpixel(map, h, w, peak.index),
        };
        (p, conf)
    }
}

/// The map's centre: the answer when a map says nothing.
fn centre(h: usize, w: usize) -> [f32; 2] {
    [(w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0]
}

fn pos(index: usize, w: usize) -> [f32; 2] {
    [(index % w) as f32, (index / w) as f32]
}

/// Where a map peaks and whether it can be trusted: finite everywhere, maximum above 0.
struct Peak {
    /// First maximum (row-major) among the finite values.
    index: usize,
    max: f32,
    min: f32,
    valid: bool,
}

impl Peak {
    fn find(map: &[f32]) -> Peak {
        let (mut index, mut max, mut min) = (0, f32::NEG_INFINITY, f32::INFINITY);
        let mut finite = true;
        for (i, &v) in map.iter().enumerate() {
            if !v.is_finite() {
                finite = false;
                continue;
            }
            if v > max {
                (index, max) = (i, v);
            }
            min = min.min(v);
        }
        Peak { index, max, min, valid: finite && max > 0.0 }
    }
}

/// Algorithm 1 with a relative cut (`soft`: weights `v - cut` instead of `v`), returned 0-based:
/// the paper's (i + 1) weights give a 1-based position. Sums run in f64 so 4096 terms lose nothing.
/// Needs `max > 0`.
fn pdc(map: &[f32], w: usize, max: f32, threshold: f32, soft: bool) -> [f32; 2] {
    let t = if threshold.is_finite() { threshold.clamp(0.0, 1.0) } else { DEFAULT_PDC_THRESHOLD };
    let cut = t * max;
    let offset = if soft { cut as f64 } else { 0.0 };
    // Weighted sums, and the plain count and position sums of the kept pixels.
    let (mut sum, mut sx, mut sy) = (0f64, 0f64, 0f64);
    let (mut n, mut nx, mut ny) = (0f64, 0f64, 0f64);
    for (y, row) in map.chunks_exact(w).enumerate() {
        let (mut row_sum, mut row_n) = (0f64, 0f64);
        for (x, &v) in row.iter().enumerate() {
            // "Set all values less than the threshold to 0"; with max > 0 the cut is >= 0, so
            // negative values never count.
            if v >= cut && v > 0.0 {
                let v = v as f64 - offset;
                row_sum += v;
                sx += v * x as f64;
                row_n += 1.0;
                nx += x as f64;
            }
        }
        sum += row_sum;
        sy += row_sum * y as f64;
        n += row_n;
        ny += row_n * y as f64;
    }
    if sum > 0.0 {
        [(sx / sum) as f32, (sy / sum) as f32]
    } else {
        // Only soft weights with the cut at the maximum are all 0: the kept pixels are the peak's,
        // equally weighted, as the hard rule would weigh them. n >= 1 since max is in the map.
        [(nx / n) as f32, (ny / n) as f32]
    }
}

/// Argmax plus a per-axis parabola through the log of the peak and its neighbours.
fn subpixel(map: &[f32], h: usize, w: usize, index: usize) -> [f32; 2] {
    let (x, y) = (index % w, index / w);
    let dx = if x > 0 && x + 1 < w { refine(map[index - 1], map[index], map[index + 1]) } else { 0.0 };
    let dy = if y > 0 && y + 1 < h { refine(map[index - w], map[index], map[index + w]) } else { 0.0 };
    [x as f32 + dx, y as f32 + dy]
}

/// Offset of the vertex of the parabola through (-1, l), (0, c), (1, r), clamped to +-0.5.
/// Fitting log values makes it exact for a Gaussian peak (DARK); when a neighbour is not positive
/// the log is undefined and the plain values are fitted instead.
fn refine(l: f32, c: f32, r: f32) -> f32 {
    let (l, c, r) = if l > 0.0 && r > 0.0 { (l.ln(), c.ln(), r.ln()) } else { (l, c, r) };
    let curvature = l - 2.0 * c + r;
    if curvature.is_nan() || curvature >= 0.0 {
        // Flat or not a maximum along this axis: stay on the pixel.
        return 0.0;
    }
    (0.5 * (l - r) / curvature).clamp(-0.5, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heatmap::{HeatmapSpec, render};

    /// Independent truth: a full (untruncated) Gaussian with peak `amp` at `c`, in f64.
    fn gaussian(c: [f64; 2], sigma: f64, amp: f64, n: usize) -> Vec<f32> {
        let mut m = vec![0f32; n * n];
        for i in 0..n {
            for j in 0..n {
                let (dx, dy) = (j as f64 - c[0], i as f64 - c[1]);
                m[i * n + j] = (amp * (-(dx * dx + dy * dy) / (2.0 * sigma * sigma)).exp()) as f32;
            }
        }
        m
    }

    /// Seeded 64-bit LCG (Knuth's MMIX constants), uniform in [0, 1).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    const TRIALS: usize = 2000;

    /// Max over `TRIALS` random sub-pixel centres (kept 4 sigma inside the map) of the larger of
    /// the x and y errors, in heatmap pixels.
    fn max_error(dec: Decoder, sigma: f64, n: usize, seed: u64) -> f64 {
        let mut rng = Lcg(seed);
        let margin = 4.0 * sigma;
        let span = n as f64 - 1.0 - 2.0 * margin;
        let mut worst = 0f64;
        for _ in 0..TRIALS {
            let c = [margin + rng.next() * span, margin + rng.next() * span];
            let (p, conf) = dec.decode_map(&gaussian(c, sigma, 1.0, n), n, n);
            assert!(conf > 0.5 && conf <= 1.0, "{conf}");
            worst = worst.max((p[0] as f64 - c[0]).abs()).max((p[1] as f64 - c[1]).abs());
        }
        worst
    }

    const CASES: [(usize, f64); 4] = [(64, 1.5), (64, 2.0), (32, 1.5), (32, 2.0)];

    #[test]
    fn subpixel_and_soft_pdc_recover_random_centres_within_005() {
        for (n, sigma) in CASES {
            let e_soft = max_error(Decoder::PdcSoft { threshold: DEFAULT_PDC_THRESHOLD }, sigma, n, 1);
            let e_sub = max_error(Decoder::Subpixel, sigma, n, 2);
            let e_arg = max_error(Decoder::Argmax, sigma, n, 3);
            eprintln!(
                "decode {n}x{n} sigma {sigma}: max error pdc-soft {e_soft:.4}, subpixel {e_sub:.5}, argmax {e_arg:.4} px"
            );
            assert!(e_soft <= 0.05, "pdc-soft {n} sigma {sigma}: {e_soft}");
            assert!(e_sub <= 0.05, "subpixel {n} sigma {sigma}: {e_sub}");
            assert!(e_arg <= 0.5 + 1e-6, "argmax {n} sigma {sigma}: {e_arg}");
        }
    }

    /// Exact Algorithm 1 (hard cut) does NOT reach 0.05 px: measured max errors over 2000 centres
    /// are 0.088 (64, sigma 1.5), 0.105 (64, 2.0), 0.088 (32, 1.5), 0.100 (32, 2.0); a sweep of
    /// sigma 1 to 4 gave 0.065-0.145, never under 0.05 (see `Decoder::Pdc`). This pins the measured
    /// bound so a regression shows; the 0.05 px target is met by `PdcSoft` and `Subpixel` above.
    #[test]
    fn hard_pdc_bias_is_bounded_as_measured() {
        for (n, sigma) in CASES {
            let e = max_error(Decoder::default(), sigma, n, 1);
            eprintln!("decode {n}x{n} sigma {sigma}: max error pdc (Algorithm 1) {e:.4} px");
            assert!(e <= 0.12, "pdc {n} sigma {sigma}: {e}");
        }
    }

    #[test]
    fn decoders_work_on_rendered_maps_too() {
        let spec = HeatmapSpec::default();
        let pts = [[20.3f32, 40.8], [33.71, 12.05], [50.5, 50.5]];
        let mut maps = vec![0.0; pts.len() * 64 * 64];
        render(&pts, &spec, &mut maps);
        for (dec, tol) in
            [(Decoder::PdcSoft { threshold: 0.2 }, 0.05), (Decoder::Subpixel, 0.01), (Decoder::default(), 0.12)]
        {
            let (got, conf) = dec.decode(&maps, pts.len(), 64, 64);
            for ((g, p), c) in got.iter().zip(&pts).zip(&conf) {
                assert!((g[0] - p[0]).abs() <= tol && (g[1] - p[1]).abs() <= tol, "{dec:?}: {g:?} vs {p:?}");
                assert!(*c > 0.5 && *c <= 1.0);
            }
        }
    }

    #[test]
    fn pdc_by_hand_on_a_3x3_map() {
        #[rustfmt::skip]
        let map = [
            0.1, 0.5, 0.1,
            0.3, 1.0, 0.2,
            0.0, 0.6, 0.1,
        ];
        // Cut 0.2 * 1.0: the 0.1s and the 0.0 go; 0.2 is not "less than" the cut, so it stays.
        // Kept (x, y, v): (1,0,.5) (0,1,.3) (1,1,1) (2,1,.2) (1,2,.6); sum 2.6.
        // x = (1*.5 + 0*.3 + 1*1 + 2*.2 + 1*.6) / 2.6 = 2.5 / 2.6
        // y = (0*.5 + 1*(.3 + 1 + .2) + 2*.6) / 2.6 = 2.7 / 2.6
        // (the paper's 1-based (i + 1) weights would give each plus 1).
        let ([x, y], c) = Decoder::Pdc { threshold: 0.2 }.decode_map(&map, 3, 3);
        assert!((x - 2.5 / 2.6).abs() < 1e-6 && (y - 2.7 / 2.6).abs() < 1e-6, "{x} {y}");
        assert_eq!(c, 1.0);
        // Soft: weights v - 0.2 -> (1,0,.3) (0,1,.1) (1,1,.8) (2,1,0) (1,2,.4); sum 1.6.
        // x = (.3 + .8 + .4) / 1.6 = 0.9375, y = ((.1 + .8) + 2*.4) / 1.6 = 1.0625.
        let ([x, y], _) = Decoder::PdcSoft { threshold: 0.2 }.decode_map(&map, 3, 3);
        assert!((x - 0.9375).abs() < 1e-6 && (y - 1.0625).abs() < 1e-6, "{x} {y}");
        // The cut is relative: the same map times 3 (peak 3, cut 0.6) decodes to the same point
        // and its confidence is clamped to 1.
        let big: Vec<f32> = map.iter().map(|v| v * 3.0).collect();
        let ([x, y], c) = Decoder::Pdc { threshold: 0.2 }.decode_map(&big, 3, 3);
        assert!((x - 2.5 / 2.6).abs() < 1e-6 && (y - 2.7 / 2.6).abs() < 1e-6, "{x} {y}");
        assert_eq!(c, 1.0);
        // Threshold 0: plain centre of mass of all 9 values (sum 2.9).
        let ([x, _], _) = Decoder::Pdc { threshold: 0.0 }.decode_map(&map, 3, 3);
        assert!((x - (0.5 + 1.0 + 0.6 + 2.0 * (0.1 + 0.2 + 0.1)) / 2.9).abs() < 1e-6, "{x}");
        // Threshold 1: only the peak; soft weights would all be 0 and fall back to it too.
        assert_eq!(Decoder::PdcSoft { threshold: 1.0 }.decode_map(&map, 3, 3).0, [1.0, 1.0]);
        assert_eq!(Decoder::Argmax.decode_map(&map, 3, 3), ([1.0, 1.0], 1.0));
    }

    #[test]
    fn background_below_the_cut_does_not_move_pdc() {
        let c = [20.3, 30.7];
        let clean = gaussian(c, 1.5, 0.8, 64);
        // A second bump peaking at 0.15 < 0.2 * 0.8 far from the landmark.
        let bump = gaussian([50.0, 10.0], 2.0, 0.15, 64);
        let noisy: Vec<f32> = clean.iter().zip(&bump).map(|(a, b)| a + b).collect();
        for dec in [Decoder::default(), Decoder::PdcSoft { threshold: 0.2 }, Decoder::Subpixel] {
            assert_eq!(dec.decode_map(&noisy, 64, 64), dec.decode_map(&clean, 64, 64), "{dec:?}");
        }
        // Without the cut the bump drags the centre of mass by pixels.
        let ([x0, _], _) = Decoder::Pdc { threshold: 0.0 }.decode_map(&clean, 64, 64);
        let ([x1, _], _) = Decoder::Pdc { threshold: 0.0 }.decode_map(&noisy, 64, 64);
        assert!((x1 - x0).abs() > 1.0, "{x0} {x1}");
    }

    #[test]
    fn degenerate_maps_give_confidence_zero() {
        let all = [Decoder::default(), Decoder::PdcSoft { threshold: 0.2 }, Decoder::Argmax, Decoder::Subpixel];
        let zero = vec![0.0f32; 16 * 8];
        let mut nan = gaussian([5.0, 3.0], 1.5, 1.0, 16);
        nan[7] = f32::NAN;
        let all_nan = vec![f32::NAN; 16 * 16];
        let mut negative = vec![-1.0f32; 16 * 16];
        negative[3 * 16 + 9] = -0.5;
        let mut inf = vec![0.0f32; 16 * 16];
        inf[0] = f32::INFINITY;
        for dec in all {
            // Constant map: its centre (w = 16, h = 8).
            assert_eq!(dec.decode_map(&zero, 8, 16), ([7.5, 3.5], 0.0));
            // NaN somewhere: the finite argmax, but no confidence.
            assert_eq!(dec.decode_map(&nan, 16, 16), ([5.0, 3.0], 0.0));
            assert_eq!(dec.decode_map(&all_nan, 16, 16), ([7.5, 7.5], 0.0));
            assert_eq!(dec.decode_map(&negative, 16, 16), ([9.0, 3.0], 0.0));
            assert_eq!(dec.decode_map(&inf, 16, 16), ([7.5, 7.5], 0.0));
            // Buffer shorter than k maps: the missing ones are centred, confidence 0.
            let (p, c) = dec.decode(&zero[..100], 2, 8, 8);
            assert_eq!((p, c), (vec![[3.5, 3.5], [3.5, 3.5]], vec![0.0, 0.0]));
            assert_eq!(dec.decode(&[], 1, 0, 0).1, vec![0.0]);
            // Wrong length for the stated shape: no panic, no confidence.
            assert_eq!(dec.decode_map(&nan[..200], 16, 16), ([7.5, 7.5], 0.0));
        }
    }

    #[test]
    fn subpixel_clamps_and_handles_edges() {
        // Peak on the border: no neighbour on one side, stays on the pixel along that axis.
        let map = gaussian([0.0, 5.3], 1.5, 1.0, 16);
        let ([x, y], _) = Decoder::Subpixel.decode_map(&map, 16, 16);
        assert_eq!(x, 0.0);
        assert!((y - 5.3).abs() < 1e-3);
        // A neighbour not positive: plain parabola. A tie with the left neighbour puts the vertex
        // half-way; a lopsided triple would go past it and is clamped; flat or a valley: no step.
        assert_eq!(refine(1.0, 1.0, 0.0), -0.5);
        assert_eq!(refine(2.0, 1.0, -5.0), -0.5);
        assert_eq!(refine(1.0, 1.0, 1.0), 0.0);
        assert_eq!(refine(1.0, 0.5, 1.0), 0.0);
        assert!((refine(0.0, 1.0, 0.5) - 0.5 * (0.0 - 0.5) / (0.0 - 2.0 + 0.5)).abs() < 1e-6);
    }

    #[test]
    fn parse_names() {
        assert_eq!(Decoder::parse("pdc", 0.2).ok(), Some(Decoder::Pdc { threshold: 0.2 }));
        assert_eq!(Decoder::parse(" PDC-soft ", 0.3).ok(), Some(Decoder::PdcSoft { threshold: 0.3 }));
        assert_eq!(Decoder::parse("argmax", f32::NAN).ok(), Some(Decoder::Argmax));
        assert_eq!(Decoder::parse("subpixel", 0.2).ok(), Some(Decoder::Subpixel));
        let e = Decoder::parse("DARK", 0.2).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("\"DARK\"") && Decoder::NAMES.iter().all(|n| e.contains(n)), "{e}");
        assert!(Decoder::parse("pdc", 1.5).is_err() && Decoder::parse("pdc", f32::NAN).is_err());
        for d in [Decoder::default(), Decoder::PdcSoft { threshold: 0.2 }, Decoder::Argmax, Decoder::Subpixel] {
            assert_eq!(Decoder::parse(d.name(), 0.2).ok(), Some(d));
        }
    }
}
