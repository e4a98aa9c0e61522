//! The stabilizer runtime: a ConvLSTM ONNX model (inputs `heatmaps`, `h`, `c`; outputs `s`,
//! `h_out`, `c_out`) run on every face of a frame in one batch, with each face's hidden state
//! kept between frames.
//!
//! The cell is shared by the landmarks and local (3x3 convolutions), so it runs on a small window
//! around each landmark rather than on its whole map: a trained stabilizer's sidecar names the
//! window it was trained on (`steadyface finetune` trains on 12x12 windows of 24x24 maps, a
//! quarter of the pixels and of the time). Without one, the window is the whole map.
//!
//! The hidden state is a picture in heatmap pixels of one crop, window by window. When the next
//! frame's crop or a landmark's window differs, the state is resampled into the new window of the
//! new crop before it is used, so the ConvLSTM never mixes two coordinate frames.
//!
//! A model that is exactly the graph `steadyface finetune` writes runs on the CPU in
//! [`cell::NativeCell`] (AVX-512 or AVX2; faster than ONNX Runtime on the shipped cell,
//! docs/benchmarks.md); any other model, or inference on CUDA, runs in ONNX Runtime.

mod cell;
pub mod sidecar;

use std::borrow::Cow;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::geometry::Similarity;
use crate::heatmap::{HeatmapSpec, heatmap_to_crop};
use crate::model::OnnxModel;
use crate::onnx::{ConvLstmWeights, recognise};
use crate::runtime::Device;
pub use cell::Isa;
use cell::NativeCell;
use sidecar::ModelShape;
pub use sidecar::Sidecar;

/// The sidecar of `model`: the same path with a `.json` extension.
pub fn sidecar_path(model: &Path) -> PathBuf {
    model.with_extension("json")
}

/// Where each landmark's `size` x `size` window starts in its heatmap (heatmap pixels, x then y).
#[derive(Debug, Clone, PartialEq)]
pub struct Windows {
    pub size: usize,
    pub origins: Vec<[i32; 2]>,
}

impl Windows {
    /// Every window is the whole `size` x `size` map.
    pub fn whole(points: usize, size: usize) -> Self {
        Windows { size, origins: vec![[0, 0]; points] }
    }

    /// Windows of `size` centred on `centres` (heatmap pixels). A landmark keeps its `previous`
    /// window while its centre stays within a quarter window of that window's centre, so on a
    /// still face the state never moves, as in training, where a window is fixed for a sequence.
    pub fn around(centres: &[[f32; 2]], size: usize, previous: Option<&Windows>) -> Self {
        let half = size as f32 / 2.0;
        let origins = centres
            .iter()
            .enumerate()
            .map(|(k, &[x, y])| {
                let kept = previous.filter(|p| p.size == size).and_then(|p| p.origins.get(k)).filter(|o| {
                    let (cx, cy) = (o[0] as f32 + half - 0.5, o[1] as f32 + half - 0.5);
                    (x - cx).abs() <= half / 2.0 && (y - cy).abs() <= half / 2.0
                });
                // A lost (non-finite) point saturates to some window; its map is blank anyway.
                kept.copied().unwrap_or([(x - half + 0.5).round() as i32, (y - half + 0.5).round() as i32])
            })
            .collect();
        Windows { size, origins }
    }

    /// Copies landmark `k`'s window out of its whole `n` x `n` map (zero outside the map).
    pub fn cut(&self, k: usize, map: &[f32], n: usize, out: &mut [f32]) {
        let (xs, ys) = self.inside(k, n);
        let [ox, oy] = self.origins[k].map(i64::from);
        for (y, row) in out.chunks_exact_mut(self.size).enumerate() {
            row.fill(0.0);
            if ys.contains(&y) {
                let start = (oy + y as i64) as usize * n + (ox + xs.start as i64) as usize;
                row[xs.clone()].copy_from_slice(&map[start..start + xs.len()]);
            }
        }
    }

    /// Zeroes the part of landmark `k`'s window that lies outside its `n` x `n` map, as if the
    /// window had been cut from the map (a Gaussian rendered into the window has no such edge).
    pub fn clip(&self, k: usize, n: usize, window: &mut [f32]) {
        let (xs, ys) = self.inside(k, n);
        for (y, row) in window.chunks_exact_mut(self.size).enumerate() {
            if ys.contains(&y) {
                row[..xs.start].fill(0.0);
                row[xs.end..].fill(0.0);
            } else {
                row.fill(0.0);
            }
        }
    }

    /// The columns and the rows of landmark `k`'s window that lie inside its `n` x `n` map (as
    /// ranges, rather than a test per pixel: 68 windows a face every frame).
    fn inside(&self, k: usize, n: usize) -> (Range<usize>, Range<usize>) {
        let (size, n) = (self.size as i64, n as i64);
        let span = |origin: i32| {
            let o = i64::from(origin);
            (-o).clamp(0, size) as usize..(n - o).clamp(0, size) as usize
        };
        let [ox, oy] = self.origins[k];
        (span(ox), span(oy))
    }

    /// Landmark `k`'s window pixels -> heatmap pixels of the whole map.
    pub fn to_map(&self, k: usize) -> Similarity {
        let [ox, oy] = self.origins[k];
        Similarity { a: 1.0, b: 0.0, tx: ox as f32, ty: oy as f32 }
    }
}

/// Heatmap pixels of face motion per frame that [`Stabilizer::face_motion`] leaves to the cell.
/// Chosen on synthetic sequences (docs/benchmarks.md, "Motion compensation"): following every
/// motion passes the common jitter through, a wider dead band leaves lag.
pub const MOTION_DEADBAND: f32 = 0.2;

/// What evaluates the stabilizer's cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// [`cell::NativeCell`]: the cell's equations on the CPU with that instruction set, for models
    /// that are exactly the graph `steadyface finetune` writes.
    Native(Isa),
    /// ONNX Runtime, on the device the models run on.
    OnnxRuntime,
}

/// One face's part of a [`Stabilizer::step`].
#[derive(Debug, Clone, Copy)]
pub struct FaceStep<'a> {
    /// Where each landmark's window lies in the heatmap of the face's crop.
    pub windows: &'a Windows,
    /// The face's state from the previous frame; `None` starts fresh.
    pub state: Option<&'a HiddenState>,
    /// The crop the windows were cut from (crop-to-frame transform).
    pub crop: Similarity,
    /// How far the face moved since `state`'s frame, heatmap pixels ([`Stabilizer::face_motion`]):
    /// the state moves with it.
    pub motion: [f32; 2],
}

/// One face's ConvLSTM state and where it lies: the crop (crop-to-frame transform) and the
/// landmarks' windows in that crop's heatmap.
#[derive(Debug, Clone)]
pub struct HiddenState {
    h: Vec<f32>,
    c: Vec<f32>,
    crop_to_frame: Similarity,
    pub windows: Windows,
    /// The backbone's points of that frame, before stabilizing, in heatmap pixels of its crop.
    pub observed: Vec<[f32; 2]>,
}

pub struct Stabilizer {
    model: OnnxModel,
    /// The model's weights when it is exactly the graph [`crate::onnx::convlstm_model`] writes.
    recognised: Option<ConvLstmWeights>,
    /// The cell evaluated natively: for a recognised model when inference is not asked of CUDA
    /// and the CPU has AVX-512 or AVX2 with FMA; `None`: ONNX Runtime runs the model.
    native: Option<NativeCell>,
    /// K: heatmaps in and out.
    pub points: usize,
    /// Channels of h and c (K x the cell's per-landmark hidden size).
    pub state_channels: usize,
    pub heatmap: HeatmapSpec,
    /// Side of the per-landmark window the cell runs on (at most `heatmap.size`).
    pub window: usize,
    /// The PDC threshold the stabilizer was trained with, if its sidecar says.
    pub pdc_threshold: Option<f32>,
    pub backbone_sha256: Option<String>,
}

impl Stabilizer {
    /// Loads the model and its sidecar (optional: without one, K and C come from the model's input
    /// shapes and the heatmap spec is the default; with one, every number in it is checked, see
    /// [`Sidecar::check`]).
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        let model = OnnxModel::load(path, device)?;
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
        if state_channels % points != 0 {
            return Err(model.shape_error(format!(
                "h has {state_channels} channels for {points} heatmaps; a stabilizer keeps the same number per landmark"
            )));
        }
        let sidecar_file = sidecar_path(path);
        // A model with fixed spatial dims fixes the side the cell runs on.
        let fixed_size = model.inputs[0].shape.get(2).filter(|&&d| d > 0).map(|&d| d as usize);
        let shape = ModelShape { points, state_channels, fixed_size };
        let settings = Sidecar::check(Sidecar::read(&sidecar_file)?.as_ref(), &sidecar_file, shape)?;
        let recognised = std::fs::read(path)
            .ok()
            .and_then(|bytes| recognise(&bytes))
            .filter(|w| w.spec.points == points && w.spec.state_channels() == state_channels);
        // CUDA asked for by name: the model stays on the GPU. With auto the cell runs here, on
        // the element's thread, even when the backbone runs on a GPU: a fraction of a millisecond on the
        // CPU; against a GPU round trip of three small tensors it was not measured (no GPU).
        let native = match device {
            Device::Cuda(_) => None,
            Device::Auto | Device::Cpu => recognised.as_ref().and_then(|w| NativeCell::new(w, None)),
        };
        Ok(Stabilizer {
            model,
            recognised,
            native,
            points,
            state_channels,
            heatmap: settings.heatmap,
            window: settings.window,
            pdc_threshold: settings.pdc_threshold,
            backbone_sha256: settings.backbone_sha256,
        })
    }

    /// What runs the cell.
    pub fn engine(&self) -> Engine {
        self.native.as_ref().map_or(Engine::OnnxRuntime, |cell| Engine::Native(cell.isa()))
    }

    /// Runs the cell with `engine` from now on (for comparisons: tests and benchmarks); false,
    /// and nothing changes, when it cannot run this model on this CPU.
    pub fn set_engine(&mut self, engine: Engine) -> bool {
        let native = match engine {
            Engine::OnnxRuntime => None,
            Engine::Native(isa) => {
                let Some(cell) = self.recognised.as_ref().and_then(|w| NativeCell::new(w, Some(isa))) else {
                    return false;
                };
                Some(cell)
            }
        };
        self.native = native;
        true
    }

    /// This frame's windows for a face whose landmarks are at `centres` (heatmap pixels of the
    /// crop `crop_to_frame`), given its state from the previous frame.
    pub fn windows(&self, centres: &[[f32; 2]], crop_to_frame: &Similarity, state: Option<&HiddenState>) -> Windows {
        if self.window >= self.heatmap.size {
            return Windows::whole(self.points, self.heatmap.size);
        }
        let previous = state.filter(|s| s.crop_to_frame == *crop_to_frame).map(|s| &s.windows);
        Windows::around(centres, self.window, previous)
    }

    /// How far the face moved since `state`'s frame, in heatmap pixels of the crop
    /// `crop_to_frame` (`crop_size` pixels wide): the mean displacement of the backbone's points
    /// (`centres`, heatmap pixels now; `state.observed` then), shortened by
    /// [`MOTION_DEADBAND`]. [`Stabilizer::step`] moves the state by it, so the cell's memory sits
    /// where the face is now and the cell is left to smooth what the points do around it.
    /// A mean over all points is far steadier than any one point, and the dead band keeps the
    /// small common jitter (a crop that shifts moves every point together) for the cell to smooth.
    pub fn face_motion(
        &self,
        centres: &[[f32; 2]],
        state: &HiddenState,
        crop_to_frame: &Similarity,
        crop_size: usize,
    ) -> [f32; 2] {
        let to_new = self.heatmap_to_heatmap(crop_to_frame, &state.crop_to_frame, crop_size).inverse();
        let then: Vec<[f32; 2]> = state.observed.iter().map(|&p| to_new.apply(p)).collect();
        motion_beyond_deadband(centres, &then)
    }

    /// One step for every face of `faces`: `windows` holds their windows, F x K x S x S
    /// (S = `self.window`), landmark k of face i cut at `faces[i].windows` from the heatmap of its
    /// crop. Returns the stabilized windows (F x K x S x S) and the new states, whose `observed`
    /// points the caller fills in.
    pub fn step(&self, windows: &[f32], faces: &[FaceStep], crop_size: usize) -> Result<(Vec<f32>, Vec<HiddenState>)> {
        let (f, k, c, n) = (faces.len(), self.points, self.state_channels, self.window);
        let plane = n * n;
        if windows.len() != f * k * plane
            || faces.iter().any(|face| face.windows.size != n || face.windows.origins.len() != k)
        {
            return Err(Error::Other(format!(
                "stabilizer step: {} window values for {f} faces of {k}x{n}x{n}",
                windows.len()
            )));
        }
        let unmoved = |face: &FaceStep, state: &HiddenState| {
            state.crop_to_frame == face.crop && state.windows == *face.windows && face.motion == [0.0, 0.0]
        };
        // One face whose state is already where this frame's windows are (the common case: the
        // crop holds still) runs on that state as it is; otherwise the states are gathered into
        // one batch, each copied or resampled.
        let (h, cell): (Cow<[f32]>, Cow<[f32]>) = match faces {
            [face @ FaceStep { state: Some(state), .. }] if unmoved(face, state) => {
                (Cow::Borrowed(&state.h), Cow::Borrowed(&state.c))
            }
            _ => {
                let mut h = vec![0f32; f * c * plane];
                let mut cell = vec![0f32; f * c * plane];
                for (i, face) in faces.iter().enumerate() {
                    let Some(state) = face.state else { continue };
                    let range = i * c * plane..(i + 1) * c * plane;
                    if unmoved(face, state) {
                        h[range.clone()].copy_from_slice(&state.h);
                        cell[range].copy_from_slice(&state.c);
                        continue;
                    }
                    // New map -> where that content was before the face moved -> old map.
                    let [dx, dy] = face.motion;
                    let undo_motion = Similarity { a: 1.0, b: 0.0, tx: -dx, ty: -dy };
                    let to_old =
                        undo_motion.then(&self.heatmap_to_heatmap(&face.crop, &state.crop_to_frame, crop_size));
                    let per = c / k * plane;
                    for j in 0..k {
                        // New window pixel -> new map -> old map -> old window pixel.
                        let to_src = face.windows.to_map(j).then(&to_old).then(&state.windows.to_map(j).inverse());
                        let (src, dst) =
                            (j * per..(j + 1) * per, i * c * plane + j * per..i * c * plane + (j + 1) * per);
                        warp(&state.h[src.clone()], c / k, n, &to_src, &mut h[dst.clone()]);
                        warp(&state.c[src], c / k, n, &to_src, &mut cell[dst]);
                    }
                }
                (Cow::Owned(h), Cow::Owned(cell))
            }
        };
        let (s, h_out, c_out) = match &self.native {
            Some(native) => {
                let (mut s, mut h_out, mut c_out) =
                    (vec![0f32; windows.len()], vec![0f32; h.len()], vec![0f32; h.len()]);
                native.step([windows, &h, &cell], [&mut s, &mut h_out, &mut c_out], n, n);
                (s, h_out, c_out)
            }
            None => self.run_model(windows, &h, &cell, [f, k, c, n])?,
        };
        let state = |i: usize, h: Vec<f32>, c: Vec<f32>| HiddenState {
            h,
            c,
            crop_to_frame: faces[i].crop,
            windows: faces[i].windows.clone(),
            observed: Vec::new(),
        };
        let states = match f {
            1 => vec![state(0, h_out, c_out)],
            _ => (0..f)
                .map(|i| {
                    let range = i * c * plane..(i + 1) * c * plane;
                    state(i, h_out[range.clone()].to_vec(), c_out[range].to_vec())
                })
                .collect(),
        };
        Ok((s, states))
    }

    /// The step in ONNX Runtime: `(s, h_out, c_out)` for `f` faces of `k` maps and `c` state
    /// channels, `n` x `n`.
    fn run_model(
        &self,
        windows: &[f32],
        h: &[f32],
        c: &[f32],
        [f, k, cc, n]: [usize; 4],
    ) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
        let (shape_k, shape_c) = ([f, k, n, n], [f, cc, n, n]);
        let mut out = self.model.run(&[(&shape_k, windows), (&shape_c, h), (&shape_c, c)])?.into_iter();
        let (Some(s), Some(h_out), Some(c_out)) = (out.next(), out.next(), out.next()) else {
            return Err(self.model.shape_error("expected three outputs"));
        };
        if s.data.len() != windows.len() || h_out.data.len() != h.len() || c_out.data.len() != h.len() {
            return Err(self.model.shape_error(format!(
                "outputs {:?}, {:?}, {:?} do not match inputs {shape_k:?}, {shape_c:?}",
                s.shape, h_out.shape, c_out.shape
            )));
        }
        Ok((s.data, h_out.data, c_out.data))
    }

    /// Heatmap pixels of the crop `new` -> heatmap pixels of the crop `old`.
    fn heatmap_to_heatmap(&self, new: &Similarity, old: &Similarity, crop_size: usize) -> Similarity {
        let to_crop = heatmap_to_crop_similarity(crop_size, self.heatmap.size);
        let to_heatmap = to_crop.inverse();
        to_crop.then(new).then(&old.inverse()).then(&to_heatmap)
    }
}

/// The mean displacement from `then` to `now` (the same points), shortened by
/// [`MOTION_DEADBAND`] (zero within it); zero when the point sets differ in length.
fn motion_beyond_deadband(now: &[[f32; 2]], then: &[[f32; 2]]) -> [f32; 2] {
    if now.len() != then.len() || now.is_empty() {
        return [0.0, 0.0];
    }
    let mut sum = [0.0f32; 2];
    for (a, b) in now.iter().zip(then) {
        sum = [sum[0] + a[0] - b[0], sum[1] + a[1] - b[1]];
    }
    let mean = [sum[0] / now.len() as f32, sum[1] / now.len() as f32];
    let length = mean[0].hypot(mean[1]);
    if length.is_nan() || length <= MOTION_DEADBAND {
        return [0.0, 0.0];
    }
    let keep = 1.0 - MOTION_DEADBAND / length;
    [mean[0] * keep, mean[1] * keep]
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
    fn face_motion_is_the_mean_displacement_beyond_the_dead_band() {
        let then = [[3.0f32, 4.0], [7.0, 1.0], [5.0, 9.0]];
        let moved = |d: [f32; 2]| then.map(|[x, y]| [x + d[0], y + d[1]]);
        // 0.5 px right: 0.5 - 0.2 = 0.3 px kept.
        let m = motion_beyond_deadband(&moved([0.5, 0.0]), &then);
        assert!((m[0] - 0.3).abs() < 1e-6 && m[1].abs() < 1e-6, "{m:?}");
        // (0.6, 0.8) is 1 px long: 0.8 of it kept, (0.48, 0.64).
        let m = motion_beyond_deadband(&moved([0.6, 0.8]), &then);
        assert!((m[0] - 0.48).abs() < 1e-5 && (m[1] - 0.64).abs() < 1e-5, "{m:?}");
        // Inside the dead band (0.14 px), points moving apart (mean 0), or other point sets: none.
        assert_eq!(motion_beyond_deadband(&moved([0.1, 0.1]), &then), [0.0, 0.0]);
        let apart = [[2.0f32, 4.0], [8.0, 1.0], [5.0, 9.0]];
        assert_eq!(motion_beyond_deadband(&apart, &then), [0.0, 0.0]);
        assert_eq!(motion_beyond_deadband(&then[..2], &then), [0.0, 0.0]);
    }

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

    /// Window pixels take their map pixel, or 0 off the map, for windows inside, across each edge
    /// and wholly outside (checked pixel by pixel).
    #[test]
    fn cut_and_clip_keep_exactly_the_pixels_on_the_map() {
        let (n, size) = (7, 4);
        let map: Vec<f32> = (0..n * n).map(|i| i as f32 + 1.0).collect();
        for origin in [[0, 0], [-2, 1], [5, -3], [6, 6], [-4, 2], [3, 7], [-9, -9]] {
            let w = Windows { size, origins: vec![origin] };
            let (mut cut, mut clipped) = (vec![f32::NAN; size * size], vec![5.0; size * size]);
            w.cut(0, &map, n, &mut cut);
            w.clip(0, n, &mut clipped);
            for (i, (&c, &k)) in cut.iter().zip(&clipped).enumerate() {
                let (x, y) = (origin[0] + (i % size) as i32, origin[1] + (i / size) as i32);
                let on_map = (0..n as i32).contains(&x) && (0..n as i32).contains(&y);
                let want = if on_map { map[y as usize * n + x as usize] } else { 0.0 };
                assert_eq!((c, k), (want, if on_map { 5.0 } else { 0.0 }), "origin {origin:?}, pixel {i}");
            }
        }
    }

    #[test]
    fn windows_centre_on_points_and_stay_while_points_stay_near() {
        // Window 12 around x = 10.3: pixels 5..=16, whose centre is 10.5.
        let first = Windows::around(&[[10.3, 4.0]], 12, None);
        assert_eq!(first.origins, [[5, -2]]);
        // Within a quarter window (3 px) of the window's centre (10.5, 3.5): kept.
        assert_eq!(Windows::around(&[[13.4, 1.0]], 12, Some(&first)).origins, [[5, -2]]);
        // Beyond it: centred again.
        assert_eq!(Windows::around(&[[13.6, 4.0]], 12, Some(&first)).origins, [[8, -2]]);
        let mut map = vec![0.0; 4];
        Windows { size: 2, origins: vec![[1, -1]] }.cut(0, &[1.0, 2.0, 3.0, 4.0], 2, &mut map);
        assert_eq!(map, [0.0, 0.0, 2.0, 0.0], "the part outside the 2x2 map is zero");
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
