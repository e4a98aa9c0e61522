//! The per-frame landmark pipeline: detect (every N frames or when a track is lost), track each
//! face by cropping the next frame around this frame's landmarks, run the backbone, map points
//! back to the frame.

use std::path::PathBuf;
use std::sync::Arc;

use crate::backbone::Backbone;
use crate::detector::{Detection, Detector, DetectorConfig};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::geometry::{Roi, eye_angle};
use crate::runtime::Device;
use crate::scheme::{self, Scheme};

/// Models shared by every stream in the process.
pub struct Models {
    pub detector: Detector,
    pub backbone: Backbone,
    /// Backbone point indices reported for the chosen scheme.
    selection: Vec<usize>,
    /// The two points (backbone indices) whose line gives the face's rotation.
    eye_pair: (usize, usize),
    pub scheme: Scheme,
}

#[derive(Debug, Clone)]
pub struct ModelPaths {
    pub detector: PathBuf,
    pub backbone: PathBuf,
}

impl Models {
    pub fn load(paths: &ModelPaths, device: Device, scheme: Scheme) -> Result<Arc<Self>> {
        let detector = Detector::load(&paths.detector, device, DetectorConfig::default())?;
        let backbone = Backbone::load(&paths.backbone, device)?;
        let k = backbone.point_count();
        let selection = scheme::selection(scheme, k).ok_or_else(|| Error::ModelShape {
            path: paths.backbone.clone(),
            reason: format!("{k} points cannot be mapped to the iBUG 68 scheme; use the full scheme"),
        })?;
        let eye_pair = match k {
            468 | 478 => (33, 263),
            68 => scheme::IBUG_OUTER_EYE,
            _ => (0, 0),
        };
        Ok(Arc::new(Models { detector, backbone, selection, eye_pair, scheme }))
    }

    pub fn scheme_name(&self) -> String {
        self.scheme.name(self.backbone.point_count())
    }
}

#[derive(Debug, Clone)]
pub struct TrackerConfig {
    pub max_faces: usize,
    /// Run the detector every this many frames (and whenever fewer than `max_faces` are tracked
    /// and no face is tracked at all). 0 = only when no face is tracked.
    pub detect_interval: u64,
    /// Drop a track when the backbone's face-presence score falls below this.
    pub min_face_score: f32,
    /// ROI side relative to the landmarks' extent (MediaPipe: 1.5).
    pub roi_scale: f32,
    /// Re-crops of a new track's first frame around its own landmarks (at most).
    pub refine_iterations: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig { max_faces: 5, detect_interval: 10, min_face_score: 0.5, roi_scale: 1.5, refine_iterations: 3 }
    }
}

/// One face in one frame, in frame pixels.
#[derive(Debug, Clone)]
pub struct Face {
    pub track_id: u64,
    /// x, y, width, height.
    pub bbox: [f32; 4],
    /// Detector score at the track's last detection, or the landmark model's presence score.
    pub score: f32,
    pub points: Vec<[f32; 2]>,
    pub confidence: Vec<f32>,
    /// True on the first frame of a track (its stabilizer state starts fresh there).
    pub new_track: bool,
    pub stabilized: bool,
}

struct Track {
    id: u64,
    roi: Roi,
    score: f32,
    age: u64,
}

/// Per-stream tracking state. Never shared between streams.
pub struct Tracker {
    models: Arc<Models>,
    pub config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
    frame_index: u64,
}

impl Tracker {
    pub fn new(models: Arc<Models>, config: TrackerConfig) -> Self {
        Tracker { models, config, tracks: Vec::new(), next_id: 1, frame_index: 0 }
    }

    /// Forgets every track (on flush, seek, stream start, discontinuity).
    pub fn reset(&mut self) {
        self.tracks.clear();
        self.frame_index = 0;
    }

    /// Faces for `detections` given upstream instead of running the detector: existing tracks
    /// are replaced by these boxes.
    pub fn process(&mut self, frame: &Frame, given: Option<&[Detection]>) -> Result<Vec<Face>> {
        let cfg = self.config.clone();
        let due = cfg.detect_interval > 0 && self.frame_index.is_multiple_of(cfg.detect_interval);
        self.frame_index += 1;
        let mut fresh: Vec<Track> = Vec::new();
        let detections = match given {
            Some(d) => {
                self.tracks.clear();
                Some(d.to_vec())
            }
            None if self.tracks.is_empty() || (due && self.tracks.len() < cfg.max_faces) => {
                Some(self.models.detector.detect(frame)?)
            }
            None => None,
        };
        for det in detections.into_iter().flatten() {
            let roi = det.roi();
            let overlaps = self.tracks.iter().chain(&fresh).any(|t| t.roi.iou(&roi) > 0.3);
            if !overlaps && self.tracks.len() + fresh.len() < cfg.max_faces {
                fresh.push(Track { id: self.next_id, roi, score: det.score, age: 0 });
                self.next_id += 1;
            }
        }
        // A new track's first crop comes from the detector's coarse box; re-crop the same frame
        // around its own landmarks until the ROI settles, so the track does not start with a jump.
        for _ in 0..cfg.refine_iterations {
            let refined = self.landmarks(frame, &fresh)?;
            let mut moved = false;
            for (t, r) in fresh.iter_mut().zip(refined) {
                if let Some((roi, ..)) = r {
                    moved |= (roi.cx - t.roi.cx).hypot(roi.cy - t.roi.cy) > 0.01 * roi.width;
                    t.roi = roi;
                }
            }
            if !moved {
                break;
            }
        }
        self.tracks.extend(fresh);
        let results = self.landmarks(frame, &self.tracks)?;
        let mut faces = Vec::new();
        let mut kept = Vec::new();
        for (mut track, result) in std::mem::take(&mut self.tracks).into_iter().zip(results) {
            let Some((next_roi, points, confidence, presence)) = result else { continue };
            if presence < cfg.min_face_score {
                continue;
            }
            // Two tracks that converged on one face: keep the older.
            if kept.iter().any(|k: &Track| k.roi.iou(&next_roi) > 0.5) {
                continue;
            }
            faces.push(Face {
                track_id: track.id,
                bbox: points_bbox(&points),
                score: if track.age == 0 { track.score } else { presence },
                points,
                confidence,
                new_track: track.age == 0,
                stabilized: false,
            });
            track.roi = next_roi;
            track.age += 1;
            kept.push(track);
        }
        self.tracks = kept;
        Ok(faces)
    }

    /// Runs the backbone on each track's ROI. Per track: the ROI for the next frame, the reported
    /// points and confidences in frame pixels, and the face-presence score; `None` when the
    /// model's output is unusable (NaN) for that face.
    #[allow(clippy::type_complexity)]
    fn landmarks(&self, frame: &Frame, tracks: &[Track]) -> Result<Vec<Option<(Roi, Vec<[f32; 2]>, Vec<f32>, f32)>>> {
        let m = &self.models;
        let size = m.backbone.input_size();
        let crops: Vec<_> = tracks.iter().map(|t| t.roi.crop_to_frame(size)).collect();
        let outputs = m.backbone.infer(frame, &crops)?;
        Ok(outputs
            .into_iter()
            .zip(&crops)
            .map(|(out, to_frame)| {
                let all: Vec<[f32; 2]> = out.points.iter().map(|&p| to_frame.apply(p)).collect();
                let (a, b) = m.eye_pair;
                let angle = eye_angle(*all.get(a)?, *all.get(b)?);
                let roi = Roi::around_points(&all, angle, self.config.roi_scale)?;
                let points = m.selection.iter().map(|&i| all[i]).collect();
                let confidence = m.selection.iter().map(|&i| out.confidence[i]).collect();
                Some((roi, points, confidence, out.face_score.unwrap_or(1.0)))
            })
            .collect())
    }
}

fn points_bbox(points: &[[f32; 2]]) -> [f32; 4] {
    let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
    for p in points {
        for k in 0..2 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    [lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]]
}
