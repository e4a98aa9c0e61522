//! The stabilizer runtime: a ConvLSTM ONNX model (inputs `heatmaps`, `h`, `c`; outputs `s`,
//! `h_out`, `c_out`) run on every face of a frame in one batch, with each face's hidden state
//! kept between frames.
//!
//! The hidden state is a picture in heatmap pixels of one crop. When the next frame's crop differs
//! (the face moved and the crop followed it), the state is resampled into the new crop's heatmap
//! grid before it is used, so the ConvLSTM never mixes two coordinate frames.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::geometry::Similarity;
use crate::heatmap::{HeatmapSpec, heatmap_to_crop};
use crate::model::OnnxModel;
use crate::runtime::Device;

/// What a stabilizer's JSON sidecar (`stabilizer.json` beside `stabilizer.onnx`) tells the
/// runtime; `steadyface finetune` writes more (training command, metrics), which is ignored here.
#[derive(Debug, Clone, Deserialize)]
pub struct Sidecar {
    pub points: Option<usize>,
    pub heatmap_size: Option<usize>,
    pub heatmap_sigma: Option<f32>,
    pub pdc_threshold: Option<f32>,
    pub backbone_sha256: Option<String>,
}

/// The sidecar of `model`: the same path with a `.json` extension.
pub fn sidecar_path(model: &Path) -> PathBuf {
    model.with_extension("json")
}

/// One face's ConvLSTM state and the crop (crop-to-frame transform) it is expressed in.
#[derive(Debug, Clone)]
pub struct HiddenState {
    h: Vec<f32>,
    c: Vec<f32>,
    crop_to_frame: Similarity,
}

pub struct Stabilizer {
    model: OnnxModel,
    /// K: heatmaps in and out.
    pub points: usize,
    /// Channels of h and c (K x the cell's per-landmark hidden size).
    pub state_channels: usize,
    pub heatmap: HeatmapSpec,
    /// The PDC threshold the stabilizer was trained with, if its sidecar says.
    pub pdc_threshold: Option<f32>,
    pub backbone_sha256: Option<String>,
}

impl Stabilizer {
    /// Loads the model and its sidecar (optional: without one, K and C come from the model's input
    /// shapes and the heatmap spec is the default).
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        let model = OnnxModel::load(path, device, 1)?;
        let names: Vec<&str> = model.inputs.iter().map(|i| i.name.as_str()).collect();
        let outs: Vec<&str> = model.outputs.iter().map(|o| o.name.as_str()).collect();
        if names != ["heatmaps", "h", "c"] || outs != ["s", "h_out", "c_out"] {
            return Err(model.shape_error(format!(
                "a stabilizer has inputs [heatmaps, h, c] and outputs [s, h_out, c_out]; this one has {names:?} -> {outs:?}"
            )));
        }
        let channels = |i: usize| model.inputs[i].shape.get(1).copied().filter(|&d| d > 0).map(|d| d as usize);
        let (Some(points), Some(state_channels)) = (channels(0), channels(1)) else {
            return Err(model.shape_error("heatmaps and h need a fixed channel count [N,K,H,W], [N,C,H,W]"));
        };
        let sidecar_file = sidecar_path(path);
        let sidecar: Option<Sidecar> = match std::fs::read_to_string(&sidecar_file) {
            Ok(text) => Some(
                serde_json::from_str(&text)
                    .map_err(|e| Error::Other(format!("{}:{}: {e}", sidecar_file.display(), e.line())))?,
            ),
            Err(_) => None,
        };
        let mut heatmap = HeatmapSpec::default();
        // A model with fixed spatial dims fixes the heatmap size.
        if let Some(&h) = model.inputs[0].shape.get(2).filter(|&&d| d > 0) {
            heatmap.size = h as usize;
        }
        if let Some(s) = &sidecar {
            if s.points.is_some_and(|k| k != points) {
                return Err(model.shape_error(format!("sidecar says {:?} points, model has {points}", s.points)));
            }
            heatmap.size = s.heatmap_size.unwrap_or(heatmap.size);
            heatmap.sigma = s.heatmap_sigma.unwrap_or(heatmap.sigma);
        }
        Ok(Stabilizer {
            model,
            points,
            state_channels,
            heatmap,
            pdc_threshold: sidecar.as_ref().and_then(|s| s.pdc_threshold),
            backbone_sha256: sidecar.and_then(|s| s.backbone_sha256),
        })
    }

    /// One step for `faces` faces: `heatmaps` is F x K x H x W in the current crops
    /// (`crops[i]` = crop-to-frame transform of face i, crops `crop_size` pixels wide);
    /// `states[i]` is face i's state from the previous frame (`None` starts fresh).
    /// Returns the stabilized heatmaps (F x K x H x W) and the new states.
    pub fn step(
        &self,
        heatmaps: &[f32],
        states: &[Option<&HiddenState>],
        crops: &[Similarity],
        crop_size: usize,
    ) -> Result<(Vec<f32>, Vec<HiddenState>)> {
        let (f, k, c, n) = (crops.len(), self.points, self.state_channels, self.heatmap.size);
        let plane = n * n;
        if heatmaps.len() != f * k * plane || states.len() != f {
            return Err(Error::Other(format!(
                "stabilizer step: {} heatmap values and {} states for {f} faces of {k}x{n}x{n}",
                heatmaps.len(),
                states.len()
            )));
        }
        let mut h = vec![0f32; f * c * plane];
        let mut cell = vec![0f32; f * c * plane];
        for (i, state) in states.iter().enumerate() {
            let Some(state) = state else { continue };
            let range = i * c * plane..(i + 1) * c * plane;
            if state.crop_to_frame == crops[i] {
                h[range.clone()].copy_from_slice(&state.h);
                cell[range].copy_from_slice(&state.c);
            } else {
                let to_old = self.heatmap_to_heatmap(&crops[i], &state.crop_to_frame, crop_size);
                warp(&state.h, c, n, &to_old, &mut h[range.clone()]);
                warp(&state.c, c, n, &to_old, &mut cell[range]);
            }
        }
        let shape_k = [f, k, n, n];
        let shape_c = [f, c, n, n];
        let mut out = self.model.run(&[(&shape_k, heatmaps), (&shape_c, &h), (&shape_c, &cell)])?.into_iter();
        let (Some(s), Some(h_out), Some(c_out)) = (out.next(), out.next(), out.next()) else {
            return Err(self.model.shape_error("expected three outputs"));
        };
        if s.data.len() != heatmaps.len() || h_out.data.len() != h.len() || c_out.data.len() != h.len() {
            return Err(self.model.shape_error(format!(
                "outputs {:?}, {:?}, {:?} do not match inputs {shape_k:?}, {shape_c:?}",
                s.shape, h_out.shape, c_out.shape
            )));
        }
        let states = (0..f)
            .map(|i| HiddenState {
                h: h_out.data[i * c * plane..(i + 1) * c * plane].to_vec(),
                c: c_out.data[i * c * plane..(i + 1) * c * plane].to_vec(),
                crop_to_frame: crops[i],
            })
            .collect();
        Ok((s.data, states))
    }

    /// Heatmap pixels of the crop `new` -> heatmap pixels of the crop `old`.
    fn heatmap_to_heatmap(&self, new: &Similarity, old: &Similarity, crop_size: usize) -> Similarity {
        let to_crop = heatmap_to_crop_similarity(crop_size, self.heatmap.size);
        let to_heatmap = to_crop.inverse();
        to_crop.then(new).then(&old.inverse()).then(&to_heatmap)
    }
}

/// [`heatmap_to_crop`] as a transform (it is a scale and a shift).
fn heatmap_to_crop_similarity(crop_size: usize, hm_size: usize) -> Similarity {
    let origin = heatmap_to_crop([0.0, 0.0], crop_size, hm_size);
    let unit = heatmap_to_crop([1.0, 0.0], crop_size, hm_size);
    Similarity { a: unit[0] - origin[0], b: 0.0, tx: origin[0], ty: origin[1] }
}

/// Resamples `channels` maps of `n` x `n` so that output pixel q takes the input at `to_src(q)`
/// (bilinear; zero outside the input, which is what a fresh state holds).
fn warp(src: &[f32], channels: usize, n: usize, to_src: &Similarity, out: &mut [f32]) {
    let plane = n * n;
    let at = |map: &[f32], x: isize, y: isize| -> f32 {
        if x < 0 || y < 0 || x >= n as isize || y >= n as isize { 0.0 } else { map[y as usize * n + x as usize] }
    };
    for v in 0..n {
        for u in 0..n {
            let [x, y] = to_src.apply([u as f32, v as f32]);
            if !(x > -1.0 && y > -1.0 && x < n as f32 && y < n as f32) {
                for ch in 0..channels {
                    out[ch * plane + v * n + u] = 0.0;
                }
                continue;
            }
            let (x0, y0) = (x.floor(), y.floor());
            let (fx, fy) = (x - x0, y - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            for ch in 0..channels {
                let map = &src[ch * plane..(ch + 1) * plane];
                let top = at(map, x0, y0) * (1.0 - fx) + at(map, x0 + 1, y0) * fx;
                let bottom = at(map, x0, y0 + 1) * (1.0 - fx) + at(map, x0 + 1, y0 + 1) * fx;
                out[ch * plane + v * n + u] = top * (1.0 - fy) + bottom * fy;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warp_by_a_whole_pixel_shifts_the_map() {
        // 2 channels of 4x4; output pixel q reads input q + (1, 0).
        let src: Vec<f32> = (0..32).map(|v| v as f32).collect();
        let mut out = vec![f32::NAN; 32];
        warp(&src, 2, 4, &Similarity { a: 1.0, b: 0.0, tx: 1.0, ty: 0.0 }, &mut out);
        assert_eq!(out[0], src[1]);
        assert_eq!(out[16 + 4 + 2], src[16 + 4 + 3]);
        assert_eq!(out[3], 0.0, "outside the source is zero");
    }

    #[test]
    fn heatmap_transform_matches_the_point_mapping() {
        let t = heatmap_to_crop_similarity(192, 64);
        for p in [[0.0, 0.0], [31.5, 12.25], [63.0, 63.0]] {
            let want = heatmap_to_crop(p, 192, 64);
            let got = t.apply(p);
            assert!((got[0] - want[0]).abs() < 1e-4 && (got[1] - want[1]).abs() < 1e-4);
        }
    }
}
