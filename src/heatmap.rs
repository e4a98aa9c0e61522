//! Gaussian landmark heatmaps: rendering points into maps, and the one mapping between crop pixels
//! and heatmap pixels that every stage (backbone adapter, stabilizer, decoder) must share.
//!
//! Pixel centres sit at integer coordinates (0-based) in both spaces, as in [`crate::geometry`].
//! A heatmap pixel covers `crop_size / hm_size` crop pixels, so heatmap pixel centre `i` lies at
//! crop coordinate `(i + 0.5) * crop_size / hm_size - 0.5` (edges aligned, not centres).

/// Shape of the heatmaps a backbone emits or a stabilizer expects (square maps).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeatmapSpec {
    /// Height = width of one map, in heatmap pixels.
    pub size: usize,
    /// Standard deviation of the rendered Gaussians, in heatmap pixels.
    pub sigma: f32,
}

impl Default for HeatmapSpec {
    /// 64x64 at sigma 1.5 is what the paper's heatmap backbones emit (HRNetV2 face alignment:
    /// 256 px crop, stride 4, sigma 1.5 on WFLW), so rendered maps look like a real backbone's.
    /// The stabilizer's sidecar records the values it was trained with and overrides these.
    fn default() -> Self {
        HeatmapSpec { size: 64, sigma: 1.5 }
    }
}

/// Crop pixel coordinates -> heatmap pixel coordinates (both with pixel centres at integers).
/// Sizes must be non-zero.
#[inline]
pub fn crop_to_heatmap(p: [f32; 2], crop_size: usize, hm_size: usize) -> [f32; 2] {
    let s = hm_size as f32 / crop_size as f32;
    [(p[0] + 0.5) * s - 0.5, (p[1] + 0.5) * s - 0.5]
}

/// Heatmap pixel coordinates -> crop pixel coordinates; the inverse of [`crop_to_heatmap`].
#[inline]
pub fn heatmap_to_crop(p: [f32; 2], crop_size: usize, hm_size: usize) -> [f32; 2] {
    let s = crop_size as f32 / hm_size as f32;
    [(p[0] + 0.5) * s - 0.5, (p[1] + 0.5) * s - 0.5]
}

/// Half-width of the evaluated window, in sigmas: beyond it exp(-d^2/2s^2) < 0.012, far below the
/// PDC threshold, so skipping those pixels changes no decoded point and keeps rendering cheap.
const WINDOW_SIGMAS: f32 = 3.0;

/// Renders one unnormalised Gaussian `exp(-d^2 / (2 sigma^2))` per point (peak 1 at the sub-pixel
/// point, heatmap coordinates) into `out`, laid out K x H x W with H = W = `spec.size`.
///
/// Only pixels within 3 sigma of the point (per axis) are evaluated; the rest are zero. A
/// non-finite point, or a non-positive / non-finite sigma, gives an all-zero map, so a lost point
/// never injects NaN into a network.
///
/// # Panics
/// If `out.len() != points.len() * spec.size * spec.size` (a caller bug, not a data error).
pub fn render(points: &[[f32; 2]], spec: &HeatmapSpec, out: &mut [f32]) {
    let n = spec.size;
    assert_eq!(out.len(), points.len() * n * n, "heatmap buffer size");
    out.fill(0.0);
    if n == 0 || !(spec.sigma.is_finite() && spec.sigma > 0.0) {
        return;
    }
    let inv = 1.0 / (2.0 * spec.sigma * spec.sigma);
    let radius = WINDOW_SIGMAS * spec.sigma;
    // The Gaussian is separable: one row of x factors and one column of y factors per point.
    let mut gx = Vec::with_capacity(n);
    let mut gy = Vec::with_capacity(n);
    for (&[x, y], map) in points.iter().zip(out.chunks_exact_mut(n * n)) {
        let (Some((x0, x1)), Some((y0, y1))) = (window(x, radius, n), window(y, radius, n)) else {
            continue;
        };
        factors(x, x0, x1, inv, &mut gx);
        factors(y, y0, y1, inv, &mut gy);
        for (row, &fy) in map.chunks_exact_mut(n).skip(y0).zip(&gy) {
            for (v, &fx) in row[x0..=x1].iter_mut().zip(&gx) {
                *v = fx * fy;
            }
        }
    }
}

/// Inclusive pixel range within `radius` of `c`, clipped to the map; None if empty or `c` is not
/// finite.
#[inline]
fn window(c: f32, radius: f32, n: usize) -> Option<(usize, usize)> {
    if !c.is_finite() {
        return None;
    }
    let lo = (c - radius).ceil().max(0.0);
    let hi = (c + radius).floor().min((n - 1) as f32);
    (lo <= hi).then_some((lo as usize, hi as usize))
}

#[inline]
fn factors(c: f32, lo: usize, hi: usize, inv: f32, out: &mut Vec<f32>) {
    out.clear();
    out.extend((lo..=hi).map(|i| {
        let d = i as f32 - c;
        (-d * d * inv).exp()
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec() {
        assert_eq!(HeatmapSpec::default(), HeatmapSpec { size: 64, sigma: 1.5 });
    }

    #[test]
    fn conversions_match_the_convention_and_invert() {
        // 256 px crop, 64 px map: heatmap pixel 0 covers crop pixels 0..3, centre 1.5.
        assert_eq!(heatmap_to_crop([0.0, 0.0], 256, 64), [1.5, 1.5]);
        assert_eq!(heatmap_to_crop([63.0, 10.0], 256, 64), [253.5, 41.5]);
        // The map's edges coincide with the crop's edges.
        assert_eq!(heatmap_to_crop([-0.5, 63.5], 256, 64), [-0.5, 255.5]);
        assert_eq!(crop_to_heatmap([1.5, 253.5], 256, 64), [0.0, 63.0]);
        for &p in &[[0.0f32, 0.0], [12.3, 200.7], [-3.0, 255.0], [127.5, 127.5]] {
            let q = heatmap_to_crop(crop_to_heatmap(p, 256, 64), 256, 64);
            assert!((q[0] - p[0]).abs() < 1e-4 && (q[1] - p[1]).abs() < 1e-4, "{p:?} -> {q:?}");
        }
        // Same size: identity.
        assert_eq!(crop_to_heatmap([5.25, 7.0], 64, 64), [5.25, 7.0]);
    }

    #[test]
    fn render_matches_the_formula_inside_the_window_and_is_zero_outside() {
        let spec = HeatmapSpec { size: 32, sigma: 2.0 };
        let pts = [[10.3f32, 20.8], [0.2, 31.0], [-4.0, 5.0]];
        let mut out = vec![f32::NAN; pts.len() * 32 * 32];
        render(&pts, &spec, &mut out);
        for (k, p) in pts.iter().enumerate() {
            for i in 0..32 {
                for j in 0..32 {
                    let (dx, dy) = (j as f32 - p[0], i as f32 - p[1]);
                    let inside = dx.abs() <= 6.0 && dy.abs() <= 6.0;
                    let want = if inside { (-(dx * dx + dy * dy) / 8.0).exp() } else { 0.0 };
                    let got = out[k * 1024 + i * 32 + j];
                    assert!((got - want).abs() < 1e-6, "map {k} ({i},{j}): {got} vs {want}");
                }
            }
        }
        // Peak 1 exactly at an integer point.
        let mut one = vec![0.0; 32 * 32];
        render(&[[7.0, 9.0]], &spec, &mut one);
        assert_eq!(one[9 * 32 + 7], 1.0);
    }

    #[test]
    fn bad_points_and_sigma_give_zero_maps() {
        let spec = HeatmapSpec { size: 16, sigma: 1.5 };
        let pts = [[f32::NAN, 3.0], [4.0, f32::INFINITY], [1e9, 1e9], [-100.0, 8.0]];
        let mut out = vec![1.0; pts.len() * 256];
        render(&pts, &spec, &mut out);
        assert!(out.iter().all(|&v| v == 0.0));
        let mut out = vec![1.0; 256];
        render(&[[8.0, 8.0]], &HeatmapSpec { size: 16, sigma: 0.0 }, &mut out);
        assert!(out.iter().all(|&v| v == 0.0));
        render(&[[8.0, 8.0]], &HeatmapSpec { size: 16, sigma: f32::NAN }, &mut out);
        assert!(out.iter().all(|&v| v == 0.0));
        // No points, no maps.
        render(&[], &spec, &mut []);
    }

    #[test]
    fn render_timing_68_maps_of_64() {
        let spec = HeatmapSpec::default();
        let pts: Vec<[f32; 2]> =
            (0..68).map(|i| [5.0 + (i % 10) as f32 * 5.37, 4.0 + (i / 10) as f32 * 7.91]).collect();
        let mut out = vec![0.0; 68 * 64 * 64];
        let reps = 2000;
        let t = std::time::Instant::now();
        for _ in 0..reps {
            render(std::hint::black_box(&pts), &spec, &mut out);
            std::hint::black_box(&out);
        }
        let per = t.elapsed().as_secs_f64() / reps as f64;
        eprintln!("heatmap::render: 68 maps of 64x64 (sigma 1.5) in {:.1} us", per * 1e6);
    }
}
