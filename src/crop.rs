//! Resampling a similarity-aligned region of a frame into a model's input tensor.

use crate::frame::{Frame, FrameVisitor, PixelSource, TapSums};
use crate::geometry::Similarity;

/// Memory layout of an image tensor (batch dimension excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// height, width, channel
    Hwc,
    /// channel, height, width
    Chw,
}

/// How the crop's channel values are written: output channel c (in the model's order) holds
/// `v * gain[c] + bias[c]`, v in 0..255 being the frame's red, green, blue for c = 0, 1, 2, or
/// blue, green, red when `bgr`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelScale {
    pub gain: [f32; 3],
    pub bias: [f32; 3],
    pub bgr: bool,
}

impl ChannelScale {
    /// RGB, the same `v * gain + bias` on every channel.
    pub fn uniform(gain: f32, bias: f32) -> Self {
        ChannelScale { gain: [gain; 3], bias: [bias; 3], bgr: false }
    }
}

/// Fills `out` (3 * size * size floats) with the crop whose pixel (u, v) comes from frame
/// position `crop_to_frame(u, v)`, its channels ordered and scaled as `scale` says. When a crop
/// pixel covers two or more frame pixels it averages a grid of bilinear samples, so downscaling a
/// large frame does not alias.
pub fn crop_rgb(
    frame: &Frame,
    crop_to_frame: &Similarity,
    size: usize,
    layout: Layout,
    scale: &ChannelScale,
    out: &mut [f32],
) {
    assert_eq!(out.len(), 3 * size * size, "crop buffer size");
    frame.visit(Crop { t: crop_to_frame, size, layout, scale: *scale, out });
}

struct Crop<'a> {
    t: &'a Similarity,
    size: usize,
    layout: Layout,
    scale: ChannelScale,
    out: &'a mut [f32],
}

impl FrameVisitor for Crop<'_> {
    type Output = ();

    fn visit<S: PixelSource>(self, src: &S) {
        let Crop { t, size, layout, scale, out } = self;
        // One bilinear sample per crop pixel up to a 2x downscale (as OpenCV and MediaPipe do),
        // then a grid of them so that large downscales average instead of aliasing.
        let taps = (t.scale().floor() as usize).clamp(1, 4);
        let step = 1.0 / taps as f32;
        let offset = 0.5 * step - 0.5;
        // Output channel c takes frame channel source[c], as sum * norm[c] + bias[c]. Bilinear
        // weights are in 8-bit fixed point: each tap adds texel * weight (<= 255 * 65536), at most
        // 16 taps, so a u32 accumulator cannot overflow.
        let source = if scale.bgr { [2, 1, 0] } else { [0, 1, 2] };
        let norm = scale.gain.map(|g| g / (taps * taps * 65536) as f32);
        let bias = scale.bias;
        // HWC writes each pixel in the frame's channel order, with factors laid out to match;
        // BGR then swaps red and blue of each pixel in place.
        let in_frame_order = |per: [f32; 3]| [per[source[0]], per[source[1]], per[source[2]]];
        let (hwc_norm, hwc_bias) = (in_frame_order(norm), in_frame_order(bias));
        prefetch_region(src, t, size);
        let plane = size * size;
        let mut row: Vec<TapSums> = vec![[0; 4]; size];
        let mut grid = TapGrid::new(size);
        for v in 0..size {
            row.fill([0; 4]);
            for j in 0..taps {
                for i in 0..taps {
                    let first = [offset + i as f32 * step, v as f32 + offset + j as f32 * step];
                    add_tap_row(src, t, first, &mut row, &mut grid);
                }
            }
            // Sums stay below 2^31 (see `norm`), so the i32 conversion, which vectorises, is exact;
            // one loop per layout, not a layout test per value (docs/benchmarks.md).
            match layout {
                Layout::Hwc => {
                    let line = &mut out[v * size * 3..(v + 1) * size * 3];
                    for (pixel, sum) in line.chunks_exact_mut(3).zip(&row) {
                        for c in 0..3 {
                            pixel[c] = sum[c] as i32 as f32 * hwc_norm[c] + hwc_bias[c];
                        }
                    }
                    if scale.bgr {
                        for pixel in line.chunks_exact_mut(3) {
                            pixel.swap(0, 2);
                        }
                    }
                }
                Layout::Chw => {
                    for (c, &k) in source.iter().enumerate() {
                        let line = &mut out[c * plane + v * size..][..size];
                        for (o, sum) in line.iter_mut().zip(&row) {
                            *o = sum[k] as i32 as f32 * norm[c] + bias[c];
                        }
                    }
                }
            }
        }
    }
}

/// Fetches the frame's pixels under the crop (its bounding box) into the CPU's caches, row by
/// row, before the taps read them. The frame was just written by another thread (the decoder,
/// the colour conversion), and the taps' reads, two frame rows at a time along a tilted line,
/// are a pattern the hardware prefetcher does not follow: without this, the crop spent about
/// two fifths of its time waiting on its first read of each cache line.
fn prefetch_region<S: PixelSource>(src: &S, t: &Similarity, size: usize) {
    let (w, h) = src.size();
    let far = size as f32 - 0.5;
    let corners = [[-0.5, -0.5], [far, -0.5], [-0.5, far], [far, far]].map(|c| t.apply(c));
    let span = |k: usize, len: usize| {
        let lo = corners.iter().map(|c| c[k]).fold(f32::INFINITY, f32::min);
        let hi = corners.iter().map(|c| c[k]).fold(f32::NEG_INFINITY, f32::max);
        // `as usize` saturates (NaN reads 0); one more pixel for the bilinear neighbour.
        (lo.floor().max(0.0) as usize, (hi.ceil().max(0.0) as usize).saturating_add(1).min(len.saturating_sub(1)))
    };
    let ((x0, x1), (y0, y1)) = (span(0, w), span(1, h));
    // 16 pixels are at most 64 bytes (4 bytes a pixel): at least one prefetch per cache line.
    for y in y0..=y1 {
        for x in (x0..=x1).step_by(16) {
            src.prefetch(x, y);
        }
        src.prefetch(x1, y);
    }
}

/// Where one row of bilinear taps reads: per tap, the top-left pixel's column and row and the
/// 8-bit weights of the next column and row (0..=256).
struct TapGrid {
    x0: Vec<i32>,
    fx: Vec<i32>,
    y0: Vec<i32>,
    fy: Vec<i32>,
}

impl TapGrid {
    fn new(n: usize) -> Self {
        TapGrid { x0: vec![0; n], fx: vec![0; n], y0: vec![0; n], fy: vec![0; n] }
    }
}

/// Adds, for u = 0..row.len(), the bilinear sample at crop position `first + (u, 0)` (65536 times
/// the value), the position clamped to the frame (the border repeats). The positions of the
/// whole row are worked out first, in a loop with no memory reads that vectorises; the texel
/// reads follow with no per-sample clamping or branching.
fn add_tap_row<S: PixelSource>(src: &S, t: &Similarity, first: [f32; 2], row: &mut [TapSums], grid: &mut TapGrid) {
    let (w, h) = src.size();
    if w < 2 || h < 2 {
        return add_texels(src, t, first, row);
    }
    // x = a*u - b*v + tx and y = b*u + a*v + ty, term by term as `Similarity::apply` rounds
    // them, so every sample lands exactly where a per-sample `apply` puts it.
    let [u, v] = first;
    axis_taps([t.a, -(t.b * v), t.tx], u, w, &mut grid.x0, &mut grid.fx);
    axis_taps([t.b, t.a * v, t.ty], u, h, &mut grid.y0, &mut grid.fy);
    let TapGrid { x0, fx, y0, fy } = grid;
    src.add_bilinear_row(x0, fx, y0, fy, row);
}

/// One axis of a row's samples: position p = (k * (first + i) + c) + t for sample i, clamped
/// to [0, len - 1] (a non-finite one reads pixel 0), split into pixel p0 <= len - 2 and the
/// 8-bit weight of p0 + 1, so that the last pixel is read as p0 + 1 with weight 256.
fn axis_taps(kct: [f32; 3], first: f32, len: usize, p0: &mut [i32], frac: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { axis_taps_avx2(kct, first, len, p0, frac) };
    }
    axis_taps_of(kct, first, len, p0, frac);
}

/// [`axis_taps`] compiled for AVX2: the same loop vectorised eight samples wide instead of SSE2's
/// four (in SSE2 it was most of the crop's own time outside the taps' reads).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn axis_taps_avx2(kct: [f32; 3], first: f32, len: usize, p0: &mut [i32], frac: &mut [i32]) {
    axis_taps_of(kct, first, len, p0, frac);
}

/// [`axis_taps`]' loop, inlined into each instruction set's copy.
#[inline(always)]
fn axis_taps_of([k, c, t]: [f32; 3], first: f32, len: usize, p0: &mut [i32], frac: &mut [i32]) {
    // In 1/256 pixels: q = trunc(256 p) is exact (256 p is), so q >> 8 and q & 255 are the
    // pixel and weight that trunc(p) and trunc(256 (p - trunc(p))) give.
    // (2^30 caps q inside i32 even for absurd sizes, where f32 positions are not exact anyway.)
    let max = ((len - 1) as f32 * 256.0).min(1_073_741_824.0);
    let last = (len - 2).min(i32::MAX as usize) as i32;
    for (i, (p0, frac)) in (0i32..).zip(p0.iter_mut().zip(frac.iter_mut())) {
        // (An i32 counter: usize to f32 has no vector instruction on x86-64.)
        let p = k * (first + i as f32) + c + t;
        let q = if p.is_finite() { (p * 256.0).max(0.0).min(max) } else { 0.0 };
        // SAFETY: q is finite and in [0, 2^30], inside i32. `as i32` would check for NaN and
        // saturate, which keeps this loop from vectorising (it runs for every tap of every crop
        // pixel).
        let q: i32 = unsafe { q.to_int_unchecked() };
        let whole = (q >> 8).min(last);
        *p0 = whole;
        *frac = q - (whole << 8);
    }
}

/// [`add_tap_row`] for a frame one pixel wide or high, which has no 2x2 neighbourhood: each
/// sample reads the pixel it falls in.
fn add_texels<S: PixelSource>(src: &S, t: &Similarity, first: [f32; 2], row: &mut [TapSums]) {
    for (i, acc) in row.iter_mut().enumerate() {
        let [x, y] = src.clamp(t.apply([first[0] + i as f32, first[1]]));
        let rgb = src.texel(x as usize, y as usize);
        for k in 0..3 {
            acc[k] += rgb[k] * 65536;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::PixelFormat;
    use crate::geometry::Roi;

    #[test]
    fn identity_crop_copies_pixels() {
        // 4x4 gradient frame; a ROI covering it exactly at scale 1 reproduces it.
        let data: Vec<u8> = (0..16u8).flat_map(|i| [i * 10, i, 255 - i]).collect();
        let frame = Frame::rgb(&data, 4, 4).unwrap();
        let roi = Roi { cx: 1.5, cy: 1.5, width: 4.0, height: 4.0, angle: 0.0 };
        let mut out = vec![0f32; 48];
        crop_rgb(&frame, &roi.crop_to_frame(4), 4, Layout::Chw, &ChannelScale::uniform(1.0, 0.0), &mut out);
        for i in 0..16 {
            assert!((out[i] - data[i * 3] as f32).abs() < 1e-4);
            assert!((out[32 + i] - data[i * 3 + 2] as f32).abs() < 1e-4);
        }
    }

    #[test]
    fn matches_float_bilinear_inside_and_across_the_border() {
        // A 37x23 RGB gradient with texture; ROIs inside, straddling the border and rotated.
        let (w, h) = (37, 23);
        let data: Vec<u8> = (0..w * h * 3).map(|i| ((i * 37) % 251) as u8).collect();
        let frame = Frame::rgb(&data, w, h).unwrap();
        for roi in [
            Roi { cx: 18.0, cy: 11.0, width: 12.0, height: 12.0, angle: 0.3 },
            Roi { cx: 2.0, cy: 20.0, width: 16.0, height: 16.0, angle: -0.7 },
            Roi { cx: 36.5, cy: 0.2, width: 10.0, height: 10.0, angle: 2.0 },
        ] {
            let size = 16;
            let t = roi.crop_to_frame(size);
            assert!(t.scale() < 2.0, "one tap per pixel in this test");
            let mut out = vec![0f32; 3 * size * size];
            crop_rgb(&frame, &t, size, Layout::Hwc, &ChannelScale::uniform(1.0, 0.0), &mut out);
            for v in 0..size {
                for u in 0..size {
                    let [x, y] = t.apply([u as f32, v as f32]);
                    let want = frame.sample(x, y);
                    for k in 0..3 {
                        let got = out[(v * size + u) * 3 + k];
                        // 8-bit fixed-point weights: within 1 level of the float result.
                        assert!((got - want[k]).abs() <= 1.0, "{roi:?} ({u},{v}) ch {k}: {got} vs {}", want[k]);
                    }
                }
            }
        }
    }

    #[test]
    fn per_channel_scale_and_bgr_order_in_both_layouts() {
        let data: Vec<u8> = (0..16u8).flat_map(|i| [i * 10, i, 255 - i]).collect();
        let frame = Frame::rgb(&data, 4, 4).unwrap();
        let t = Roi { cx: 1.5, cy: 1.5, width: 4.0, height: 4.0, angle: 0.0 }.crop_to_frame(4);
        let scale = ChannelScale { gain: [0.5, 2.0, -1.0], bias: [1.0, -3.0, 7.0], bgr: true };
        let want = |i: usize, c: usize| data[i * 3 + 2 - c] as f32 * scale.gain[c] + scale.bias[c];
        let (mut hwc, mut chw) = (vec![0f32; 48], vec![0f32; 48]);
        crop_rgb(&frame, &t, 4, Layout::Hwc, &scale, &mut hwc);
        crop_rgb(&frame, &t, 4, Layout::Chw, &scale, &mut chw);
        for i in 0..16 {
            for c in 0..3 {
                assert!((hwc[i * 3 + c] - want(i, c)).abs() < 1e-3, "hwc pixel {i} channel {c}");
                assert!((chw[c * 16 + i] - want(i, c)).abs() < 1e-3, "chw pixel {i} channel {c}");
            }
        }
    }

    #[test]
    fn downscale_averages() {
        // A 2x2 checkerboard of 0 and 200 seen by a 1x1 crop averages to 100.
        let data = [0u8, 0, 0, 200, 200, 200, 200, 200, 200, 0, 0, 0];
        let frame = Frame::rgb(&data, 2, 2).unwrap();
        let roi = Roi { cx: 0.5, cy: 0.5, width: 2.0, height: 2.0, angle: 0.0 };
        let mut out = vec![0f32; 3];
        crop_rgb(&frame, &roi.crop_to_frame(1), 1, Layout::Hwc, &ChannelScale::uniform(1.0, 0.0), &mut out);
        assert!((out[0] - 100.0).abs() < 1e-3, "{out:?}");
    }

    /// The crop as the previous general path computed each sample: its position by
    /// `Similarity::apply`, clamped to the frame, 8-bit weights from that position, the taps
    /// summed, then scaled; slow, for comparison only.
    fn reference_crop(frame: &Frame, t: &Similarity, size: usize, layout: Layout, scale: &ChannelScale) -> Vec<f32> {
        let (w, h) = (frame.width(), frame.height());
        let taps = (t.scale().floor() as usize).clamp(1, 4);
        let (step, norm) = (1.0 / taps as f32, 1.0 / (taps * taps * 65536) as f32);
        let offset = 0.5 * step - 0.5;
        // Rounded to whole levels, as `PixelSource::texel` reads 4:2:0 frames.
        let texel = |x: usize, y: usize| frame.pixel(x, y).map(|c| (c + 0.5) as u32);
        let tap = |x: f32, y: f32| -> [u32; 3] {
            let x = if x.is_finite() { x.clamp(0.0, (w - 1) as f32) } else { 0.0 };
            let y = if y.is_finite() { y.clamp(0.0, (h - 1) as f32) } else { 0.0 };
            if w < 2 || h < 2 {
                return texel(x as usize, y as usize).map(|c| c * 65536);
            }
            let (x0, y0) = ((x as usize).min(w - 2), (y as usize).min(h - 2));
            let (fx, fy) = (((x - x0 as f32) * 256.0) as u32, ((y - y0 as f32) * 256.0) as u32);
            let c = [texel(x0, y0), texel(x0 + 1, y0), texel(x0, y0 + 1), texel(x0 + 1, y0 + 1)];
            let wt = [(256 - fx) * (256 - fy), fx * (256 - fy), (256 - fx) * fy, fx * fy];
            std::array::from_fn(|k| (0..4).map(|n| c[n][k] * wt[n]).sum())
        };
        let mut out = vec![0f32; 3 * size * size];
        for (v, u) in (0..size).flat_map(|v| (0..size).map(move |u| (v, u))) {
            let mut sum = [0u32; 3];
            for (j, i) in (0..taps).flat_map(|j| (0..taps).map(move |i| (j, i))) {
                let first = [offset + i as f32 * step, v as f32 + offset + j as f32 * step];
                let [x, y] = t.apply([first[0] + u as f32, first[1]]);
                let s = tap(x, y);
                (0..3).for_each(|k| sum[k] += s[k]);
            }
            for c in 0..3 {
                let k = if scale.bgr { 2 - c } else { c };
                let value = sum[k] as i32 as f32 * (scale.gain[c] * norm) + scale.bias[c];
                match layout {
                    Layout::Hwc => out[(v * size + u) * 3 + c] = value,
                    Layout::Chw => out[c * size * size + v * size + u] = value,
                }
            }
        }
        out
    }

    /// A small deterministic generator (64-bit LCG) for the random cases.
    struct Lcg(u64);

    impl Lcg {
        fn unit(&mut self) -> f32 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 40) as f32 / (1u64 << 24) as f32
        }

        fn range(&mut self, lo: f32, hi: f32) -> f32 {
            lo + (hi - lo) * self.unit()
        }
    }

    #[test]
    fn equals_the_per_sample_reference_on_random_similarities() {
        let mut rng = Lcg(18);
        for case in 0..300 {
            // Frames down to 1 pixel wide or high, packed with padding, and 4:2:0.
            let (w, h) = (1 + (rng.unit() * 40.0) as usize, 1 + (rng.unit() * 30.0) as usize);
            let bytes: Vec<u8> = (0..(w * 4 + 3) * h).map(|_| (rng.unit() * 256.0) as u8).collect();
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            let frame = match case % 3 {
                0 => Frame::new(PixelFormat::Rgb, w, h, &[&bytes], &[w * 3 + 1]).unwrap(),
                1 => Frame::new(PixelFormat::Bgrx, w, h, &[&bytes], &[w * 4]).unwrap(),
                _ => Frame::new(PixelFormat::I420, w, h, &[&bytes, &bytes[..cw * ch], &bytes[1..]], &[w, cw, cw])
                    .unwrap(),
            };
            // Crops inside, across the border and wholly outside; one to five frame pixels per
            // crop pixel (1 to 4 taps a side), any angle.
            let size = 1 + (rng.unit() * 12.0) as usize;
            let side = size as f32 * rng.range(0.3, 5.5);
            let roi = Roi {
                cx: rng.range(-0.5, 1.5) * w as f32,
                cy: rng.range(-0.5, 1.5) * h as f32,
                width: side,
                height: side,
                angle: rng.range(-4.0, 4.0) * (case % 4 != 0) as u8 as f32,
            };
            let t = roi.crop_to_frame(size);
            let layout = if case % 2 == 0 { Layout::Hwc } else { Layout::Chw };
            let scale = ChannelScale {
                gain: [rng.range(-2.0, 2.0), rng.range(-2.0, 2.0), rng.range(0.0, 1.0 / 255.0)],
                bias: [rng.range(-1.0, 1.0), 0.0, 3.0],
                bgr: case % 5 == 0,
            };
            let mut out = vec![0f32; 3 * size * size];
            crop_rgb(&frame, &t, size, layout, &scale, &mut out);
            let want = reference_crop(&frame, &t, size, layout, &scale);
            for (n, (a, b)) in out.iter().zip(&want).enumerate() {
                assert!((a - b).abs() <= 1e-4, "case {case} {w}x{h} {roi:?} size {size} value {n}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn non_finite_positions_read_the_top_left_pixel() {
        let data: Vec<u8> = (0..27u8).collect();
        let frame = Frame::rgb(&data, 3, 3).unwrap();
        let t = Similarity { a: 1.0, b: 0.0, tx: f32::NAN, ty: f32::INFINITY };
        let mut out = vec![0f32; 3 * 4];
        crop_rgb(&frame, &t, 2, Layout::Hwc, &ChannelScale::uniform(1.0, 0.0), &mut out);
        assert!(out.chunks_exact(3).all(|p| p == [0.0, 1.0, 2.0]), "{out:?}");
    }
}
