//! Resampling a similarity-aligned region of a frame into a model's input tensor.

use crate::frame::Frame;
use crate::geometry::Similarity;

/// Memory layout of an image tensor (batch dimension excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// height, width, channel
    Hwc,
    /// channel, height, width
    Chw,
}

/// Fills `out` (3 * size * size floats) with the RGB crop whose pixel (u, v) comes from frame
/// position `crop_to_frame(u, v)`, each channel value v in 0..255 written as `v * gain + bias`.
/// When a crop pixel covers several frame pixels it averages a grid of bilinear samples, so
/// downscaling a large frame does not alias.
pub fn crop_rgb(
    frame: &Frame,
    crop_to_frame: &Similarity,
    size: usize,
    layout: Layout,
    gain: f32,
    bias: f32,
    out: &mut [f32],
) {
    assert_eq!(out.len(), 3 * size * size, "crop buffer size");
    let taps = (crop_to_frame.scale().ceil() as usize).clamp(1, 4);
    let step = 1.0 / taps as f32;
    let offset = 0.5 * step - 0.5;
    let norm = gain / (taps * taps) as f32;
    let plane = size * size;
    for v in 0..size {
        for u in 0..size {
            let mut acc = [0f32; 3];
            for j in 0..taps {
                for i in 0..taps {
                    let p = [u as f32 + offset + i as f32 * step, v as f32 + offset + j as f32 * step];
                    let [x, y] = crop_to_frame.apply(p);
                    let rgb = frame.sample(x, y);
                    for k in 0..3 {
                        acc[k] += rgb[k];
                    }
                }
            }
            for (k, a) in acc.iter().enumerate() {
                let idx = match layout {
                    Layout::Hwc => (v * size + u) * 3 + k,
                    Layout::Chw => k * plane + v * size + u,
                };
                out[idx] = a * norm + bias;
            }
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
        crop_rgb(&frame, &roi.crop_to_frame(4), 4, Layout::Chw, 1.0, 0.0, &mut out);
        for i in 0..16 {
            assert!((out[i] - data[i * 3] as f32).abs() < 1e-4);
            assert!((out[32 + i] - data[i * 3 + 2] as f32).abs() < 1e-4);
        }
    }

    #[test]
    fn downscale_averages() {
        // A 2x2 checkerboard of 0 and 200 seen by a 1x1 crop averages to 100.
        let data = [0u8, 0, 0, 200, 200, 200, 200, 200, 200, 0, 0, 0];
        let frame = Frame::rgb(&data, 2, 2).unwrap();
        let roi = Roi { cx: 0.5, cy: 0.5, width: 2.0, height: 2.0, angle: 0.0 };
        let mut out = vec![0f32; 3];
        crop_rgb(&frame, &roi.crop_to_frame(1), 1, Layout::Hwc, 1.0, 0.0, &mut out);
        assert!((out[0] - 100.0).abs() < 1e-3, "{out:?}");
    }
}
