//! Resampling a similarity-aligned region of a frame into a model's input tensor.

use crate::frame::{Frame, FrameVisitor, PixelSource};
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
        let (w, h) = src.size();
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
        // HWC writes each row in the frame's channel order, one multiply-add per value over the
        // whole row (which vectorises), with factors laid out to match; BGR then swaps red and
        // blue of each pixel in place.
        let hwc_factors = |per: [f32; 3]| -> Vec<f32> {
            let in_frame_order = [per[source[0]], per[source[1]], per[source[2]]];
            in_frame_order.iter().copied().cycle().take(3 * size).collect()
        };
        let (hwc_norm, hwc_bias) = match layout {
            Layout::Hwc => (hwc_factors(norm), hwc_factors(bias)),
            Layout::Chw => (Vec::new(), Vec::new()),
        };
        let plane = size * size;
        let mut row = vec![[0u32; 3]; size];
        for v in 0..size {
            row.fill([0; 3]);
            for j in 0..taps {
                for i in 0..taps {
                    let first = [offset + i as f32 * step, v as f32 + offset + j as f32 * step];
                    add_tap_row(src, t, first, &mut row, (w, h));
                }
            }
            // Sums stay below 2^31 (see `norm`), so the i32 conversion, which vectorises, is exact;
            // one loop per layout, not a layout test per value (docs/benchmarks.md).
            match layout {
                Layout::Hwc => {
                    let line = &mut out[v * size * 3..(v + 1) * size * 3];
                    for (((o, &sum), &n), &b) in line.iter_mut().zip(row.as_flattened()).zip(&hwc_norm).zip(&hwc_bias) {
                        *o = sum as i32 as f32 * n + b;
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

/// Adds, for u = 0..row.len(), the bilinear sample at crop position `first + (u, 0)` (65536 times
/// the value). Positions step along a straight line, so the samples inside the frame form one run:
/// that run steps in 16.16 fixed point with no clamping, the rest clamp each sample to the frame
/// (the border repeats).
fn add_tap_row<S: PixelSource>(src: &S, t: &Similarity, first: [f32; 2], row: &mut [[u32; 3]], (w, h): (usize, usize)) {
    let n = row.len();
    let start = t.apply(first);
    let (inside_from, inside_to) =
        if w > 1 && h > 1 { inside_run(start, [t.a, t.b], [(w - 1) as f32, (h - 1) as f32], n) } else { (n, n) };
    add_clamped(src, t, first, &mut row[..inside_from], 0, (w, h));
    if inside_from < inside_to {
        const ONE: f32 = 65536.0;
        let p = t.apply([first[0] + inside_from as f32, first[1]]);
        let (mut x, mut y) = ((p[0] * ONE) as i64, (p[1] * ONE) as i64);
        let (dx, dy) = ((t.a * ONE) as i64, (t.b * ONE) as i64);
        for acc in &mut row[inside_from..inside_to] {
            // The run keeps a margin from the border, so fixed-point rounding stays inside.
            let (x0, y0) = (((x >> 16) as usize).min(w - 2), ((y >> 16) as usize).min(h - 2));
            let rgb = src.bilinear(x0, y0, ((x >> 8) & 0xff) as u32, ((y >> 8) & 0xff) as u32);
            for k in 0..3 {
                acc[k] += rgb[k];
            }
            x += dx;
            y += dy;
        }
    }
    let tail = inside_to.max(inside_from);
    add_clamped(src, t, first, &mut row[tail..], tail, (w, h));
}

/// The run of u in 0..n for which `start + u * step` lies in [0, max) on both axes (with a
/// small margin), as a half-open range; empty when there is none.
fn inside_run(start: [f32; 2], step: [f32; 2], max: [f32; 2], n: usize) -> (usize, usize) {
    const MARGIN: f32 = 1e-3;
    let (mut lo, mut hi) = (0.0f32, n as f32 - 1.0);
    for k in 0..2 {
        let (a, b) = (MARGIN, max[k] - MARGIN);
        if step[k].abs() < 1e-9 {
            if !(start[k] >= a && start[k] <= b) {
                return (n, n);
            }
            continue;
        }
        let (u1, u2) = ((a - start[k]) / step[k], (b - start[k]) / step[k]);
        lo = lo.max(u1.min(u2));
        hi = hi.min(u1.max(u2));
    }
    if lo.is_nan() || hi.is_nan() || lo > hi {
        return (n, n);
    }
    let (from, to) = (lo.ceil() as usize, hi.floor() as usize + 1);
    if from >= to.min(n) { (n, n) } else { (from, to.min(n)) }
}

/// Adds clamped bilinear samples for `row[i]` at crop position `first + (offset + i, 0)`.
fn add_clamped<S: PixelSource>(
    src: &S,
    t: &Similarity,
    first: [f32; 2],
    row: &mut [[u32; 3]],
    offset: usize,
    (w, h): (usize, usize),
) {
    let (max_x, max_y) = ((w - 1) as f32, (h - 1) as f32);
    for (i, acc) in row.iter_mut().enumerate() {
        let [x, y] = t.apply([first[0] + (offset + i) as f32, first[1]]);
        // NaN reads the top-left pixel. x0 stops one short of the last column (weight 1 on it
        // instead), so (x0 + 1, y0 + 1) is inside; a one-pixel-wide frame reads per pixel.
        let x = if x.is_finite() { x.clamp(0.0, max_x) } else { 0.0 };
        let y = if y.is_finite() { y.clamp(0.0, max_y) } else { 0.0 };
        let rgb = if w > 1 && h > 1 {
            let (x0, y0) = ((x as usize).min(w - 2), (y as usize).min(h - 2));
            src.bilinear(x0, y0, ((x - x0 as f32) * 256.0) as u32, ((y - y0 as f32) * 256.0) as u32)
        } else {
            src.texel(x as usize, y as usize).map(|c| c * 65536)
        };
        for k in 0..3 {
            acc[k] += rgb[k];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn inside_run_is_exactly_the_inside_samples() {
        // x = -2.5 + 0.5 u on a frame 10 wide: inside [0, 9) for u in 6..=22 (with the margin).
        let (from, to) = inside_run([-2.5, 3.0], [0.5, 0.0], [9.0, 9.0], 40);
        assert_eq!((from, to), (6, 23));
        assert_eq!(inside_run([-5.0, 3.0], [0.0, 0.1], [9.0, 9.0], 40), (40, 40));
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
}
