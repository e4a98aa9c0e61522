//! Face detection with BlazeFace: anchor decoding, MediaPipe's weighted non-maximum suppression,
//! and a tiled second level so that small faces in large frames are still found.

use std::path::Path;

use crate::crop::{ChannelScale, Layout, crop_rgb};
use crate::error::Result;
use crate::frame::Frame;
use crate::geometry::{Roi, box_intersection, box_iou, eye_angle};
use crate::model::OnnxModel;
use crate::runtime::Device;

/// MediaPipe's keypoint order: the subject's right eye comes first (image left).
pub const RIGHT_EYE: usize = 0;
pub const LEFT_EYE: usize = 1;

#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// x, y, width, height in frame pixels.
    pub bbox: [f32; 4],
    pub score: f32,
    /// Right eye, left eye, nose tip, mouth centre, right ear, left ear, in frame pixels.
    pub keypoints: [[f32; 2]; 6],
}

impl Detection {
    /// A face known only by its box (an upstream ROI): keypoints placed as on an upright face,
    /// so its crop is unrotated until the landmarks say otherwise.
    pub fn from_box(bbox: [f32; 4], score: f32) -> Detection {
        let [x, y, w, h] = bbox;
        let at = |u: f32, v: f32| [x + u * w, y + v * h];
        let keypoints = [at(0.3, 0.4), at(0.7, 0.4), at(0.5, 0.6), at(0.5, 0.8), at(0.05, 0.45), at(0.95, 0.45)];
        Detection { bbox, score, keypoints }
    }

    /// The region MediaPipe crops for its landmark model: [`Detection::roi_scaled`] by 1.5.
    pub fn roi(&self) -> Roi {
        self.roi_scaled(1.5)
    }

    /// The region cropped for a landmark backbone: the box centre, rotated so the eyes are level,
    /// square on the long side, scaled by `scale` (the backbone's `crop.face_scale`).
    pub fn roi_scaled(&self, scale: f32) -> Roi {
        let side = self.bbox[2].max(self.bbox[3]) * scale;
        Roi {
            cx: self.bbox[0] + self.bbox[2] / 2.0,
            cy: self.bbox[1] + self.bbox[3] / 2.0,
            width: side,
            height: side,
            angle: eye_angle(self.keypoints[RIGHT_EYE], self.keypoints[LEFT_EYE]),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DetectorConfig {
    pub min_score: f32,
    pub nms_iou: f32,
    /// Levels of the tile pyramid: 1 = whole frame only; 2 adds tiles of half the long side.
    pub levels: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig { min_score: 0.5, nms_iou: 0.3, levels: 2 }
    }
}

pub struct Detector {
    model: OnnxModel,
    size: usize,
    /// Normalised anchor centres, in the order of the model's concatenated outputs.
    anchors: Vec<[f32; 2]>,
    pub config: DetectorConfig,
}

/// BlazeFace's two output branches: 16x16 cells with 2 anchors, 8x8 cells with 6 anchors.
const ANCHOR_GRIDS: [(usize, usize); 2] = [(16, 2), (8, 6)];
const VALUES_PER_ANCHOR: usize = 16;

impl Detector {
    pub fn load(path: &Path, device: Device, config: DetectorConfig) -> Result<Self> {
        let model = OnnxModel::load(path, device)?;
        let input = model.inputs.first().ok_or_else(|| model.shape_error("no input"))?;
        let size = match input.shape.as_slice() {
            [_, h, w, 3] if h == w && *h > 0 => *h as usize,
            other => return Err(model.shape_error(format!("expected an NHWC square RGB input, got {other:?}"))),
        };
        let anchors = ANCHOR_GRIDS
            .iter()
            .flat_map(|&(cells, per_cell)| {
                (0..cells * cells).flat_map(move |i| {
                    let c = [((i % cells) as f32 + 0.5) / cells as f32, ((i / cells) as f32 + 0.5) / cells as f32];
                    std::iter::repeat_n(c, per_cell)
                })
            })
            .collect::<Vec<_>>();
        let detector = Detector { model, size, anchors, config };
        detector.check_outputs()?;
        Ok(detector)
    }

    /// Expects two score tensors [1,A,1] and two box tensors [1,A,16] with A = 512 and 384.
    fn check_outputs(&self) -> Result<()> {
        let mut counts: Vec<(i64, i64)> = self
            .model
            .outputs
            .iter()
            .map(|o| match o.shape.as_slice() {
                [_, a, v] => (*a, *v),
                _ => (0, 0),
            })
            .collect();
        counts.sort();
        if counts != [(384, 1), (384, 16), (512, 1), (512, 16)] {
            return Err(self.model.shape_error(format!(
                "expected BlazeFace outputs [1,512,1], [1,384,1], [1,512,16], [1,384,16]; got {:?}",
                self.model.outputs.iter().map(|o| &o.shape).collect::<Vec<_>>()
            )));
        }
        Ok(())
    }

    /// All faces in the frame, best first.
    pub fn detect(&self, frame: &Frame) -> Result<Vec<Detection>> {
        self.detect_regions(frame, &self.regions(frame.width(), frame.height()), usize::MAX)
    }

    /// The regions one full detection runs the model on: the whole frame first, then the tiles of
    /// the finer levels of the pyramid.
    pub fn regions(&self, width: usize, height: usize) -> Vec<Roi> {
        let long = width.max(height) as f32;
        let mut regions = Vec::new();
        for level in 0..self.config.levels.max(1) {
            let tile = long / (1 << level) as f32;
            if level > 0 && tile < self.size as f32 {
                break;
            }
            for (cx, cy) in tile_centres(width as f32, height as f32, tile) {
                regions.push(Roi { cx, cy, width: tile, height: tile, angle: 0.0 });
            }
        }
        regions
    }

    /// Faces found in the given regions (see [`Detector::regions`]), merged across regions;
    /// stops after the region that brings the count to `enough` (no need to search for faces
    /// that could not be tracked).
    pub fn detect_regions(&self, frame: &Frame, regions: &[Roi], enough: usize) -> Result<Vec<Detection>> {
        let mut found = Vec::new();
        for roi in regions {
            found.extend(self.detect_in(frame, roi)?);
            found = drop_nested(weighted_nms(found, self.config.nms_iou));
            if found.len() >= enough {
                break;
            }
        }
        Ok(found)
    }

    /// How likely a face fills `face` (a track's crop): the best score of the detections centred
    /// inside it, the model run once on a square region `context` times the crop's side around
    /// it; 0 when there is none. For a backbone that cannot tell (no presence output) whether
    /// its crop still holds a face.
    pub fn presence(&self, frame: &Frame, face: &Roi, context: f32) -> Result<f32> {
        let side = face.width.max(face.height) * context;
        let region = Roi { width: side, height: side, angle: 0.0, ..*face };
        let [x, y, w, h] = face.bounding_box();
        let inside = |d: &Detection| {
            let (cx, cy) = (d.bbox[0] + d.bbox[2] / 2.0, d.bbox[1] + d.bbox[3] / 2.0);
            (x..=x + w).contains(&cx) && (y..=y + h).contains(&cy)
        };
        Ok(self.detect_in(frame, &region)?.iter().filter(|d| inside(d)).map(|d| d.score).fold(0.0, f32::max))
    }

    /// Runs the model once on a square, unrotated region of the frame.
    fn detect_in(&self, frame: &Frame, roi: &Roi) -> Result<Vec<Detection>> {
        let n = self.size;
        let to_frame = roi.crop_to_frame(n);
        let mut input = vec![0f32; 3 * n * n];
        crop_rgb(frame, &to_frame, n, Layout::Hwc, &ChannelScale::uniform(2.0 / 255.0, -1.0), &mut input);
        let outputs = self.model.run(&[(&[1, n, n, 3], &input)])?;
        let branch = |anchors: usize, values: usize| {
            outputs.iter().find(|t| t.shape.get(1) == Some(&anchors) && t.shape.get(2) == Some(&values))
        };
        let mut scores = Vec::with_capacity(self.anchors.len());
        let mut boxes = Vec::with_capacity(self.anchors.len() * VALUES_PER_ANCHOR);
        for &(cells, per_cell) in &ANCHOR_GRIDS {
            let a = cells * cells * per_cell;
            let (Some(s), Some(b)) = (branch(a, 1), branch(a, VALUES_PER_ANCHOR)) else {
                return Err(self.model.shape_error(format!("no output pair for {a} anchors")));
            };
            scores.extend_from_slice(&s.data);
            boxes.extend_from_slice(&b.data);
        }
        let scale = n as f32;
        // Model pixels are normalised to [0,1] over the crop; crop pixel = normalised * n - 0.5.
        let to_px = |u: f32, v: f32| to_frame.apply([u * scale - 0.5, v * scale - 0.5]);
        let frame_scale = to_frame.scale();
        let mut found = Vec::new();
        for (i, anchor) in self.anchors.iter().enumerate() {
            let score = sigmoid(scores[i].clamp(-100.0, 100.0));
            if score.is_nan() || score < self.config.min_score {
                continue;
            }
            let r = &boxes[i * VALUES_PER_ANCHOR..(i + 1) * VALUES_PER_ANCHOR];
            if r.iter().any(|v| !v.is_finite()) {
                continue;
            }
            let centre = to_px(r[0] / scale + anchor[0], r[1] / scale + anchor[1]);
            let (w, h) = (r[2] * frame_scale, r[3] * frame_scale);
            if !(w > 0.0 && h > 0.0) {
                continue;
            }
            let keypoints =
                std::array::from_fn(|k| to_px(r[4 + 2 * k] / scale + anchor[0], r[5 + 2 * k] / scale + anchor[1]));
            found.push(Detection { bbox: [centre[0] - w / 2.0, centre[1] - h / 2.0, w, h], score, keypoints });
        }
        Ok(found)
    }
}

/// Centres of square tiles of side `tile` covering a `w`x`h` frame with at least 25% overlap.
fn tile_centres(w: f32, h: f32, tile: f32) -> Vec<(f32, f32)> {
    let axis = |len: f32| -> Vec<f32> {
        if len <= tile {
            return vec![(len - 1.0) / 2.0];
        }
        let n = ((len - tile) / (tile * 0.75)).ceil() as usize + 1;
        let step = (len - tile) / (n - 1) as f32;
        (0..n).map(|i| tile / 2.0 - 0.5 + i as f32 * step).collect()
    };
    let (xs, ys) = (axis(w), axis(h));
    ys.iter().flat_map(|&y| xs.iter().map(move |&x| (x, y))).collect()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// MediaPipe's weighted NMS: each cluster of overlapping detections becomes their score-weighted
/// mean, keeping the best score.
pub fn weighted_nms(mut dets: Vec<Detection>, iou: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while let Some(best) = dets.first().cloned() {
        let (cluster, rest): (Vec<_>, Vec<_>) = dets.into_iter().partition(|d| box_iou(d.bbox, best.bbox) > iou);
        dets = rest;
        let total: f32 = cluster.iter().map(|d| d.score).sum();
        let mut merged = Detection { bbox: [0.0; 4], score: best.score, keypoints: [[0.0; 2]; 6] };
        for d in &cluster {
            let w = d.score / total;
            for k in 0..4 {
                merged.bbox[k] += d.bbox[k] * w;
            }
            for (m, p) in merged.keypoints.iter_mut().zip(&d.keypoints) {
                m[0] += p[0] * w;
                m[1] += p[1] * w;
            }
        }
        out.push(merged);
    }
    out
}

/// Levels of the tile pyramid see one face at different scales, and a coarse level sometimes
/// boxes a face together with its surroundings: drop a detection that mostly overlaps a
/// better-scored one (intersection over the smaller box), which two real faces never do.
fn drop_nested(dets: Vec<Detection>) -> Vec<Detection> {
    let mut kept: Vec<Detection> = Vec::new();
    for d in dets {
        let area = |b: [f32; 4]| b[2] * b[3];
        let nested = kept.iter().any(|k| box_intersection(d.bbox, k.bbox) > 0.6 * area(d.bbox).min(area(k.bbox)));
        if !nested {
            kept.push(d);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, score: f32) -> Detection {
        Detection { bbox: [x, 0.0, 10.0, 10.0], score, keypoints: [[x, 0.0]; 6] }
    }

    #[test]
    fn nms_merges_overlaps_by_score_weight() {
        let out = weighted_nms(vec![det(0.0, 0.9), det(100.0, 0.6), det(2.0, 0.3)], 0.3);
        assert_eq!(out.len(), 2);
        // (0*0.9 + 2*0.3) / 1.2 = 0.5
        assert!((out[0].bbox[0] - 0.5).abs() < 1e-6 && out[0].score == 0.9);
        assert_eq!(out[1].bbox[0], 100.0);
    }

    #[test]
    fn nested_boxes_are_dropped() {
        let big = Detection { bbox: [-20.0, -20.0, 60.0, 60.0], score: 0.7, keypoints: [[0.0; 2]; 6] };
        let out = drop_nested(weighted_nms(vec![det(0.0, 0.9), big, det(100.0, 0.6)], 0.3));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
    }

    #[test]
    fn tiles_cover_the_frame() {
        let t = tile_centres(1000.0, 400.0, 500.0);
        // x: 1000 wide needs 3 tiles of 500 at >=25% overlap; y fits in one.
        assert_eq!(t.len(), 3);
        assert!((t[0].0 - 249.5).abs() < 1e-4 && (t[2].0 - 749.5).abs() < 1e-4);
    }
}
