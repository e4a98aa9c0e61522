//! A replaceable landmark backbone: any ONNX model taking a square colour crop and emitting either
//! heatmaps `[N,K,H,W]` or coordinates (`[N,K*2]`, `[N,K*3]`, MediaPipe's `[N,1,1,1404]`), with
//! its conventions in a model description beside it ([`description`]).

pub mod description;

use std::path::Path;

pub use description::{Color, Description, InputValues, OutputSpec};

use crate::crop::{ChannelScale, Layout, crop_rgb};
use crate::error::Result;
use crate::frame::Frame;
use crate::geometry::Similarity;
use crate::model::{OnnxModel, Tensor};
use crate::runtime::Device;

/// What the backbone's main output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// K heatmaps of `height`x`width`.
    Heatmaps { points: usize, height: usize, width: usize },
    /// K points with `dims` (2 or 3) values each, in crop pixels.
    Coordinates { points: usize, dims: usize },
}

/// What the backbone said about one face.
#[derive(Debug, Clone)]
pub enum Landmarks {
    /// K points in crop pixels (pixel centres at integers).
    Points(Vec<[f32; 2]>),
    /// K maps of `size` x `size` heatmap pixels (see [`crate::heatmap`] for the mapping to crop
    /// pixels).
    Heatmaps { maps: Vec<f32>, size: usize },
}

/// One face's backbone result.
#[derive(Debug, Clone)]
pub struct BackboneOutput {
    pub landmarks: Landmarks,
    /// Face presence probability, when the model has such an output.
    pub face_score: Option<f32>,
}

pub struct Backbone {
    model: OnnxModel,
    layout: Layout,
    size: usize,
    dynamic_batch: bool,
    pub kind: OutputKind,
    /// Index of the main output, and of a one-value presence output if there is one.
    main: usize,
    presence: Option<usize>,
    /// The crop's channel order and per-channel gain and bias (from the description).
    pub input_scale: ChannelScale,
    /// Coordinates in 0..1 of the crop (multiplied by the crop size), not in crop pixels.
    normalized: bool,
    pub description: Description,
    /// Why the conventions were assumed, when the backbone has no description.
    pub assumed: Option<String>,
}

impl Backbone {
    /// Loads the backbone at `path` with its description `MODEL.json` beside it (checked against
    /// the model's tensors). Without a description, MediaPipe's conventions are assumed
    /// ([`Description::mediapipe`]) and [`Backbone::assumed`] says so.
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        let model = OnnxModel::load(path, device)?;
        let described = Description::for_model(path)?;
        let input = model.inputs.first().ok_or_else(|| model.shape_error("no input"))?;
        let (layout, size, batch) = match input.shape.as_slice() {
            &[b, 3, h, w] if h == w && h > 0 => (Layout::Chw, h as usize, b),
            &[b, h, w, 3] if h == w && h > 0 => (Layout::Hwc, h as usize, b),
            other => {
                return Err(model
                    .shape_error(format!("expected a square RGB image input [N,3,S,S] or [N,S,S,3], got {other:?}")));
            }
        };
        let elements = |s: &[i64]| s.iter().skip(1).map(|&d| d.max(1)).product::<i64>() as usize;
        let (main, main_info) = model
            .outputs
            .iter()
            .enumerate()
            .max_by_key(|(_, o)| elements(&o.shape))
            .ok_or_else(|| model.shape_error("no outputs"))?;
        let kind = match main_info.shape.as_slice() {
            &[_, k, h, w] if k > 0 && h > 1 && w > 1 => {
                if h != w {
                    return Err(model.shape_error(format!("heatmaps must be square, got {h}x{w}")));
                }
                OutputKind::Heatmaps { points: k as usize, height: h as usize, width: w as usize }
            }
            s => {
                // [N,K*D], [N,1,1,K*D], [N,K*D,1,1] (one non-unit dimension) or [N,K,D].
                let non_unit: Vec<i64> = s.iter().skip(1).copied().filter(|&d| d != 1).collect();
                let (points, dims) = match *non_unit.as_slice() {
                    [n] if n > 0 && n % 3 == 0 => (n / 3, 3),
                    [n] if n > 0 && n % 2 == 0 => (n / 2, 2),
                    [k, d] if k > 0 && (d == 2 || d == 3) => (k, d),
                    _ => {
                        return Err(model.shape_error(format!(
                            "output {} has shape {s:?}: neither heatmaps [N,K,H,W] nor coordinates [N,K*2|K*3]",
                            main_info.name
                        )));
                    }
                };
                OutputKind::Coordinates { points: points as usize, dims: dims as usize }
            }
        };
        let presence = model.outputs.iter().position(|o| elements(&o.shape) == 1);
        let (description, kind, assumed) = match described {
            Some(d) => {
                let kind = check(&d, layout, size, kind, &model.outputs[main].name, &main_info.shape)?;
                (d, kind, None)
            }
            None => {
                let (spec, points) = match kind {
                    OutputKind::Heatmaps { points, .. } => (OutputSpec::Heatmaps, points),
                    OutputKind::Coordinates { points, .. } => (OutputSpec::Coordinates { normalized: false }, points),
                };
                let why = format!(
                    "{} has no model description ({} missing): assuming MediaPipe's conventions (RGB in [0,1], \
                     coordinates in crop pixels, a crop 1.5x the face; docs/design.md, \"Formats\")",
                    path.display(),
                    Description::path_for(path).display()
                );
                (Description::mediapipe(layout, size, spec, points), kind, Some(why))
            }
        };
        Ok(Backbone {
            dynamic_batch: batch < 1,
            model,
            layout,
            size,
            kind,
            main,
            presence,
            input_scale: description.channel_scale(),
            normalized: description.output == OutputSpec::Coordinates { normalized: true },
            description,
            assumed,
        })
    }

    /// Side of the crop relative to the face's extent (the description's `crop.face_scale`).
    pub fn face_scale(&self) -> f32 {
        self.description.face_scale
    }

    /// Whether the model says how likely its crop holds a face (MediaPipe's face flag); without
    /// it the tracker asks the detector ([`crate::pipeline`]).
    pub fn has_presence(&self) -> bool {
        self.presence.is_some()
    }

    /// Side of the square input crop in pixels.
    pub fn input_size(&self) -> usize {
        self.size
    }

    /// The input crop's memory layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Side of the heatmaps, for a heatmap backbone.
    pub fn heatmap_size(&self) -> Option<usize> {
        match self.kind {
            OutputKind::Heatmaps { height, .. } => Some(height),
            OutputKind::Coordinates { .. } => None,
        }
    }

    pub fn point_count(&self) -> usize {
        match self.kind {
            OutputKind::Heatmaps { points, .. } | OutputKind::Coordinates { points, .. } => points,
        }
    }

    /// The model input for each face (given as crop-to-frame transforms), concatenated, in
    /// `input` (resized; every value is written). A buffer kept across frames: a fresh 442 KB
    /// per frame came from the kernel zeroed page by page.
    pub fn crop_batch(&self, frame: &Frame, crops: &[Similarity], input: &mut Vec<f32>) {
        let n = self.size;
        let per = 3 * n * n;
        input.resize(per * crops.len(), 0.0);
        for (t, out) in crops.iter().zip(input.chunks_exact_mut(per)) {
            crop_rgb(frame, t, n, self.layout, &self.input_scale, out);
        }
    }

    /// Runs the backbone on `faces` crops made by [`Backbone::crop_batch`]: one call when the
    /// model's batch is symbolic, one per face otherwise.
    pub fn run_batch(&self, input: &[f32], faces: usize) -> Result<Vec<BackboneOutput>> {
        let n = self.size;
        let shape = |b: usize| match self.layout {
            Layout::Chw => [b, 3, n, n],
            Layout::Hwc => [b, n, n, 3],
        };
        if faces == 0 {
            return Ok(Vec::new());
        }
        if self.dynamic_batch {
            let outputs = self.model.run(&[(&shape(faces), input)])?;
            return (0..faces).map(|i| self.decode(&outputs, i, faces)).collect();
        }
        input
            .chunks_exact(3 * n * n)
            .map(|one| {
                let outputs = self.model.run(&[(&shape(1), one)])?;
                self.decode(&outputs, 0, 1)
            })
            .collect()
    }

    /// Face `i` of a batch of `batch` from the raw outputs.
    fn decode(&self, outputs: &[Tensor], i: usize, batch: usize) -> Result<BackboneOutput> {
        let main = outputs.get(self.main).ok_or_else(|| self.model.shape_error("missing main output"))?;
        let per = main.data.len() / batch.max(1);
        let data = &main.data[i * per..(i + 1) * per];
        let face_score = self
            .presence
            .and_then(|p| outputs.get(p))
            .and_then(|t| t.data.get(i))
            .map(|&logit| 1.0 / (1.0 + (-logit).exp()));
        let landmarks = match self.kind {
            // Coordinates are continuous crop positions (pixel i spans [i, i+1]), or those divided
            // by the crop size when normalised.
            OutputKind::Coordinates { points, dims } => {
                let unit = if self.normalized { self.size as f32 } else { 1.0 };
                Landmarks::Points(
                    (0..points).map(|k| [data[k * dims] * unit - 0.5, data[k * dims + 1] * unit - 0.5]).collect(),
                )
            }
            OutputKind::Heatmaps { height, .. } => Landmarks::Heatmaps { maps: data.to_vec(), size: height },
        };
        Ok(BackboneOutput { landmarks, face_score })
    }
}

/// Checks a description against the model's tensors (input layout and size, output kind and point
/// count); returns the output kind with the description's point count.
fn check(
    d: &Description,
    layout: Layout,
    size: usize,
    kind: OutputKind,
    name: &str,
    shape: &[i64],
) -> Result<OutputKind> {
    let name_layout = |l: Layout| match l {
        Layout::Hwc => "nhwc",
        Layout::Chw => "nchw",
    };
    if d.layout != layout {
        return Err(d.error(
            "input.layout",
            format!("\"{}\" but the model's input is {} (from its shape)", name_layout(d.layout), name_layout(layout)),
        ));
    }
    if d.crop_size != size {
        return Err(d.error("crop.size", format!("{} but the model's input is {size}x{size}", d.crop_size)));
    }
    match (d.output, kind) {
        (OutputSpec::Heatmaps, OutputKind::Heatmaps { points, .. }) if points == d.points => Ok(kind),
        (OutputSpec::Heatmaps, OutputKind::Heatmaps { points, .. }) => {
            Err(d.error("output.points", format!("{} but output {name} has {points} heatmaps", d.points)))
        }
        (OutputSpec::Coordinates { .. }, OutputKind::Coordinates { .. }) => {
            let values = shape.iter().skip(1).map(|&v| v.max(1)).product::<i64>() as usize;
            match values.checked_div(d.points) {
                Some(dims @ (2 | 3)) if dims * d.points == values => {
                    Ok(OutputKind::Coordinates { points: d.points, dims })
                }
                _ => Err(d.error(
                    "output.points",
                    format!(
                        "{} but output {name} holds {values} values per face (2 or 3 per point expected)",
                        d.points
                    ),
                )),
            }
        }
        (OutputSpec::Heatmaps, OutputKind::Coordinates { .. }) => {
            Err(d.error("output.kind", format!("\"heatmaps\" but output {name} has shape {shape:?} (coordinates)")))
        }
        (OutputSpec::Coordinates { .. }, OutputKind::Heatmaps { .. }) => {
            Err(d.error("output.kind", format!("\"coordinates\" but output {name} has shape {shape:?} (heatmaps)")))
        }
    }
}
