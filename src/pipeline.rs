//! The per-frame landmark pipeline: detect (every N frames or when no face is tracked), track each
//! face by cropping the next frame around this frame's landmarks, run the backbone on all faces
//! at once, stabilize the heatmaps with the ConvLSTM (state per face), decode, smooth, and map the
//! points back to the frame.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backbone::{Backbone, Landmarks};
use crate::decode::Decoder;
use crate::detector::{Detection, Detector, DetectorConfig};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::geometry::{Roi, Similarity, eye_angle, points_box};
use crate::heatmap::{HeatmapSpec, crop_to_heatmap, heatmap_to_crop, render};
use crate::runtime::Device;
use crate::scheme::{self, Scheme};
use crate::smoothing::{OneEuroParams, PointsSmoother, object_scale};
use crate::stabilizer::{HiddenState, Stabilizer, Windows};

/// Models shared by every stream in the process.
pub struct Models {
    pub detector: Detector,
    pub backbone: Backbone,
    pub stabilizer: Option<Stabilizer>,
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
    /// None: no stabilizer (the backbone's points pass through).
    pub stabilizer: Option<PathBuf>,
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
        let stabilizer = match &paths.stabilizer {
            Some(path) => {
                let s = Stabilizer::load(path, device)?;
                let mismatch = |reason: String| Error::ModelShape { path: path.clone(), reason };
                if s.points != selection.len() {
                    return Err(mismatch(format!(
                        "the stabilizer takes {} heatmaps but {} points are reported ({} scheme)",
                        s.points,
                        selection.len(),
                        scheme.name(k)
                    )));
                }
                if let Some(expected) = &s.backbone_sha256 {
                    let actual = sha256_hex(&paths.backbone)?;
                    if !actual.eq_ignore_ascii_case(expected) {
                        return Err(mismatch(format!(
                            "it was trained for the backbone with sha256 {expected}, but {} has sha256 {actual}; \
                             use that backbone or train a stabilizer for this one (steadyface finetune)",
                            paths.backbone.display()
                        )));
                    }
                }
                if let Some(size) = backbone.heatmap_size().filter(|&size| size != s.heatmap.size) {
                    return Err(mismatch(format!(
                        "the backbone emits {size}x{size} heatmaps, the stabilizer expects {}x{}",
                        s.heatmap.size, s.heatmap.size
                    )));
                }
                Some(s)
            }
            None => None,
        };
        Ok(Arc::new(Models { detector, backbone, stabilizer, selection, eye_pair, scheme }))
    }

    /// [`Models::load`] with `stabilizer` as the shipped default: it is used when it runs with
    /// this backbone and scheme; when it is missing or was made for another backbone or point
    /// set, the models load without a stabilizer and the reason comes back, so that swapping the
    /// backbone does not demand also clearing the stabilizer.
    pub fn load_with_default_stabilizer(
        paths: &ModelPaths,
        stabilizer: &Path,
        device: Device,
        scheme: Scheme,
    ) -> Result<(Arc<Self>, Option<String>)> {
        let with = ModelPaths { stabilizer: Some(stabilizer.to_path_buf()), ..paths.clone() };
        match Models::load(&with, device, scheme) {
            Err(e @ (Error::ModelMissing { .. } | Error::ModelShape { .. })) if e.path() == Some(stabilizer) => {
                let without = ModelPaths { stabilizer: None, ..paths.clone() };
                Ok((Models::load(&without, device, scheme)?, Some(format!("running without a stabilizer: {e}"))))
            }
            loaded => Ok((loaded?, None)),
        }
    }

    pub fn scheme_name(&self) -> String {
        self.scheme.name(self.backbone.point_count())
    }

    /// Backbone point indices reported for the chosen scheme.
    pub fn selection(&self) -> &[usize] {
        &self.selection
    }

    /// The two backbone points whose line gives the face's rotation (crops are made upright).
    pub fn eye_pair(&self) -> (usize, usize) {
        self.eye_pair
    }

    /// The stabilizer's input for one face: each reported point's window (`windows`) of its
    /// heatmap (`spec`), cut from a heatmap backbone's map (whose size is `spec.size`, checked at
    /// load) or rendered from a coordinate backbone's point (crop pixels of a `crop_size` crop).
    /// `dst` holds K windows.
    pub fn stabilizer_input(
        &self,
        landmarks: &Landmarks,
        crop_size: usize,
        spec: &HeatmapSpec,
        windows: &Windows,
        dst: &mut [f32],
    ) {
        let (n, s) = (spec.size, windows.size);
        for (j, (&k, window)) in self.selection.iter().zip(dst.chunks_exact_mut(s * s)).enumerate() {
            match landmarks {
                Landmarks::Heatmaps { maps, .. } => match maps.get(k * n * n..(k + 1) * n * n) {
                    Some(map) => windows.cut(j, map, n, window),
                    None => window.fill(0.0),
                },
                Landmarks::Points(all) => {
                    let p = windows.to_map(j).inverse().apply(crop_to_heatmap(all[k], crop_size, n));
                    render(&[p], &HeatmapSpec { size: s, ..*spec }, window);
                    windows.clip(j, n, window);
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct TrackerConfig {
    pub max_faces: usize,
    /// Run the detector every this many frames while fewer than `max_faces` are tracked (it also
    /// runs whenever no face is tracked). 0 = only when no face is tracked. While faces are
    /// tracked the search runs on another thread and its new faces join 3 frames later (at most
    /// this interval later), so the search adds little to any frame's time.
    pub detect_interval: u64,
    /// Drop a track when the backbone's face-presence score falls below this.
    pub min_face_score: f32,
    /// ROI side relative to the landmarks' extent (MediaPipe: 1.5).
    pub roi_scale: f32,
    /// Re-crops of a new track's first frame around its own landmarks (at most).
    pub refine_iterations: usize,
    /// Keep the previous crop while the face's new crop differs from it by less than this
    /// fraction of its size (centre shift, size change) or this many radians; 0 = the crop
    /// follows the face every frame. When the crop moves, the stabilizer's hidden state is
    /// resampled into the new crop. Default 0.05: on the synthetic sequences of
    /// `cargo bench --bench crop_policy` it cut NMJ from 1.33% to 1.16% (mean of two faces) and
    /// on still frames from 1.34% to 0.86%, at equal NME (docs/benchmarks.md). With the shipped
    /// stabilizer following measured less jitter on those moving sequences (0.29/0.84% vs
    /// 0.39/0.86%) but more on their still frames (0.27/0.81% vs 0.23/0.66%), and on a clean still
    /// face a following crop keeps adjusting to its own landmarks, so even an identity stabilizer
    /// jitters (NMJ 0.33% vs 0.00% held): holding stays.
    pub hold_tolerance: f32,
    /// Move each face's stabilizer state with the face (see [`Stabilizer::face_motion`]), so the
    /// stabilizer smooths jitter without trailing the face's moves. On the held-out synthetic
    /// sequences (takeo, einstein x clean, noise10, combined) it cut the stabilizer's NMJ on takeo
    /// from 0.57-0.59% to 0.35-0.39% and its NME from 4.60-4.72% to 4.46-4.58%, and on einstein
    /// NMJ from 0.80-1.20% to 0.72-1.17% (docs/benchmarks.md).
    pub motion_compensation: bool,
    /// Heatmaps -> points (stabilized or heatmap-backbone output). Default: PDC with continuous
    /// weights (`pdc-soft`): the paper's hard cut biases a Gaussian's centre by up to 0.09 px and
    /// makes points jump when a pixel crosses the cut; the soft form stays within 0.02 px.
    pub decoder: Decoder,
    /// One Euro smoothing of the final points, after the stabilizer.
    pub smoothing: Option<OneEuroParams>,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            max_faces: 5,
            detect_interval: 10,
            min_face_score: 0.5,
            roi_scale: 1.5,
            refine_iterations: 3,
            hold_tolerance: 0.05,
            motion_compensation: true,
            decoder: Decoder::PdcSoft { threshold: crate::decode::DEFAULT_PDC_THRESHOLD },
            smoothing: None,
        }
    }
}

/// One face in one frame, in frame pixels.
#[derive(Debug, Clone)]
pub struct Face {
    pub track_id: u64,
    /// x, y, width, height.
    pub bbox: [f32; 4],
    /// Detector score on the track's first frame, then the landmark model's presence score.
    pub score: f32,
    pub points: Vec<[f32; 2]>,
    pub confidence: Vec<f32>,
    /// True on the first frame of a track (its stabilizer state starts fresh there).
    pub new_track: bool,
    pub stabilized: bool,
}

/// Wall time spent in each stage since the tracker was made (see [`Tracker::times`]).
#[derive(Debug, Clone, Default)]
pub struct StageTimes {
    pub frames: u64,
    /// Faces through the backbone (refinement passes included).
    pub faces: u64,
    pub detector_runs: u64,
    /// Faces dropped because the models' output for them was not finite.
    pub unusable: u64,
    pub detector: Duration,
    pub crop: Duration,
    pub backbone: Duration,
    /// Heatmap rendering, hidden-state warping and the ConvLSTM.
    pub stabilizer: Duration,
    /// Heatmap decoding, mapping to the frame, smoothing, the next crop.
    pub decode: Duration,
    pub total: Duration,
}

struct Track {
    id: u64,
    roi: Roi,
    score: f32,
    age: u64,
    state: Option<HiddenState>,
    smoother: Option<PointsSmoother>,
}

/// One face's result before the track bookkeeping.
struct FaceResult {
    /// The crop for the next frame, from the backbone's full point set.
    next_roi: Roi,
    points: Vec<[f32; 2]>,
    confidence: Vec<f32>,
    presence: f32,
    state: Option<HiddenState>,
}

/// Frames between the start of a search for new faces and the frame whose tracks it joins (at
/// most the detector interval): about 100 ms at 30 fps, and time for the detector (two runs, 11
/// ms on this project's 2-core machine) to finish on the other core while three frames are tracked.
const SEARCH_LAG: u64 = 3;

/// A search for new faces running on another thread (see [`Tracker::start_search`]).
struct Search {
    /// The frame number whose tracks its faces join.
    merge_at: u64,
    worker: std::thread::JoinHandle<Result<(Vec<Detection>, Duration)>>,
    /// Time spent copying the frame for it.
    prepared_in: Duration,
}

/// Per-stream tracking state. Never shared between streams.
pub struct Tracker {
    models: Arc<Models>,
    pub config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
    frame_index: u64,
    /// The tile searched next for new faces while tracking (see `start_search`).
    tile_cursor: usize,
    /// A search for new faces in flight.
    search: Option<Search>,
    /// The backbone's input, reused from frame to frame ([`Backbone::crop_batch`]).
    backbone_input: Vec<f32>,
    pub times: StageTimes,
}

impl Tracker {
    pub fn new(models: Arc<Models>, config: TrackerConfig) -> Self {
        Tracker {
            models,
            config,
            tracks: Vec::new(),
            next_id: 1,
            frame_index: 0,
            tile_cursor: 0,
            search: None,
            backbone_input: Vec::new(),
            times: StageTimes::default(),
        }
    }

    /// Forgets every track, and with them the stabilizer and smoother states (on flush, seek,
    /// stream start, discontinuity, caps change). Track ids keep counting up.
    pub fn reset(&mut self) {
        self.tracks.clear();
        self.search = None;
        self.frame_index = 0;
    }

    /// The faces in `frame`. `timestamp_s` (the frame's time, for smoothing) defaults to the frame
    /// count at 30 fps. `given`: face boxes from upstream, used instead of the detector: a track
    /// continues while a given box overlaps it, and ends when none does.
    pub fn process(
        &mut self,
        frame: &Frame,
        timestamp_s: Option<f64>,
        given: Option<&[Detection]>,
    ) -> Result<Vec<Face>> {
        let start = Instant::now();
        let cfg = self.config.clone();
        let index = self.frame_index;
        let due = cfg.detect_interval > 0 && index.is_multiple_of(cfg.detect_interval);
        let timestamp = timestamp_s.unwrap_or(index as f64 / 30.0);
        self.frame_index += 1;
        let detections = match given {
            Some(d) => {
                // Upstream knows where the faces are: a track lives while a given box overlaps
                // it; boxes that overlap no track start new ones (below).
                self.tracks.retain(|t| d.iter().any(|det| t.roi.iou(&det.roi()) > 0.3));
                Some(d.to_vec())
            }
            None if self.tracks.is_empty() => {
                // With no face tracked, search everywhere, now.
                self.search = None;
                let t = Instant::now();
                let detector = &self.models.detector;
                let regions = detector.regions(frame.width(), frame.height());
                let found = detector.detect_regions(frame, &regions, cfg.max_faces)?;
                self.times.detector += t.elapsed();
                self.times.detector_runs += 1;
                Some(found)
            }
            None => {
                let found = match self.search.take_if(|s| s.merge_at <= index) {
                    Some(search) => Some(self.finish_search(search)?),
                    None => None,
                };
                if due && self.search.is_none() && self.tracks.len() < cfg.max_faces {
                    self.start_search(frame, index);
                }
                found
            }
        };
        let mut fresh: Vec<Track> = Vec::new();
        for det in detections.into_iter().flatten() {
            let roi = det.roi();
            let overlaps = self.tracks.iter().chain(&fresh).any(|t| t.roi.iou(&roi) > 0.3);
            if !overlaps && self.tracks.len() + fresh.len() < cfg.max_faces {
                fresh.push(Track { id: self.next_id, roi, score: det.score, age: 0, state: None, smoother: None });
                self.next_id += 1;
            }
        }
        // A new track's first crop comes from the detector's coarse box; re-crop the same frame
        // around its own landmarks until the ROI settles, so the track does not start with a jump.
        for _ in 0..cfg.refine_iterations {
            if fresh.is_empty() {
                break;
            }
            let rois: Vec<Roi> = fresh.iter().map(|t| t.roi).collect();
            let refined = self.landmarks(frame, &rois, None)?;
            let mut moved = false;
            for (t, r) in fresh.iter_mut().zip(refined) {
                if let Some(r) = r {
                    moved |= (r.next_roi.cx - t.roi.cx).hypot(r.next_roi.cy - t.roi.cy) > 0.01 * r.next_roi.width;
                    t.roi = r.next_roi;
                }
            }
            if !moved {
                break;
            }
        }
        self.tracks.extend(fresh);

        let tracks = std::mem::take(&mut self.tracks);
        let rois: Vec<Roi> = tracks.iter().map(|t| t.roi).collect();
        let results = self.landmarks(frame, &rois, Some(&tracks))?;
        let mut faces = Vec::new();
        let mut kept: Vec<Track> = Vec::new();
        let t = Instant::now();
        for (mut track, result) in tracks.into_iter().zip(results) {
            let Some(mut r) = result else { continue };
            if r.presence < cfg.min_face_score {
                continue;
            }
            // Two tracks that converged on one face: keep the older.
            if kept.iter().any(|k| k.roi.iou(&r.next_roi) > 0.5) {
                continue;
            }
            if let Some(params) = cfg.smoothing {
                let scale = object_scale(&r.points);
                track.smoother.get_or_insert_with(|| PointsSmoother::new(params)).smooth(
                    &mut r.points,
                    timestamp,
                    scale,
                );
            }
            faces.push(Face {
                track_id: track.id,
                bbox: points_box(&r.points).unwrap_or_default(),
                score: if track.age == 0 { track.score } else { r.presence },
                new_track: track.age == 0,
                stabilized: r.state.is_some(),
                points: r.points,
                confidence: r.confidence,
            });
            if !holds(&track.roi, &r.next_roi, cfg.hold_tolerance) {
                track.roi = r.next_roi;
            }
            track.state = r.state;
            track.age += 1;
            kept.push(track);
        }
        self.times.decode += t.elapsed();
        self.tracks = kept;
        self.times.frames += 1;
        self.times.total += start.elapsed();
        Ok(faces)
    }

    /// Starts a search for new faces in `frame` (frame number `index`) on another thread. While
    /// faces are tracked a search is not urgent, so it runs beside the tracking of the next
    /// frames instead of adding its time to this one, and is merged a fixed number of frames
    /// later (the same frame whatever the timing, so results stay reproducible). Each search
    /// covers the whole frame and one tile, the tiles in turn: small new faces are found within
    /// a few searches, and no frame pays for the whole pyramid.
    fn start_search(&mut self, frame: &Frame, index: u64) {
        let t = Instant::now();
        let detector = &self.models.detector;
        let regions = detector.regions(frame.width(), frame.height());
        let mut searched = vec![regions[0]];
        if regions.len() > 1 {
            self.tile_cursor = self.tile_cursor % (regions.len() - 1) + 1;
            searched.push(regions[self.tile_cursor]);
        }
        let copy = frame.to_owned_frame();
        let models = self.models.clone();
        let worker = std::thread::spawn(move || {
            let t = Instant::now();
            models.detector.detect_regions(&copy.frame(), &searched, usize::MAX).map(|found| (found, t.elapsed()))
        });
        let lag = SEARCH_LAG.min(self.config.detect_interval).max(1);
        self.search = Some(Search { merge_at: index + lag, worker, prepared_in: t.elapsed() });
    }

    /// Waits for a search started by [`Tracker::start_search`] and returns what it found.
    fn finish_search(&mut self, search: Search) -> Result<Vec<Detection>> {
        let (found, took) =
            search.worker.join().map_err(|_| Error::Other("the search for new faces panicked".into()))??;
        self.times.detector += search.prepared_in + took;
        self.times.detector_runs += 1;
        Ok(found)
    }

    /// Crops, runs the backbone (one batch), and, when `tracks` are given and a stabilizer is
    /// loaded, stabilizes with their states. `None` for a face whose output is unusable (NaN).
    fn landmarks(&mut self, frame: &Frame, rois: &[Roi], tracks: Option<&[Track]>) -> Result<Vec<Option<FaceResult>>> {
        let models = self.models.clone();
        let m = &*models;
        let size = m.backbone.input_size();
        let crops: Vec<Similarity> = rois.iter().map(|r| r.crop_to_frame(size)).collect();
        let t = Instant::now();
        m.backbone.crop_batch(frame, &crops, &mut self.backbone_input);
        self.times.crop += t.elapsed();
        let t = Instant::now();
        let outputs = m.backbone.run_batch(&self.backbone_input, crops.len())?;
        self.times.backbone += t.elapsed();
        self.times.faces += crops.len() as u64;

        let t = Instant::now();
        let decoder = self.config.decoder;
        // Every backbone point in crop pixels (for the next crop) and the reported points' raw
        // form (points, or heatmaps of the reported points).
        let mut full: Vec<Vec<[f32; 2]>> = Vec::with_capacity(outputs.len());
        let mut reported: Vec<(Vec<[f32; 2]>, Vec<f32>)> = Vec::with_capacity(outputs.len());
        for out in &outputs {
            let (all, conf) = match &out.landmarks {
                Landmarks::Points(p) => (p.clone(), vec![1.0; p.len()]),
                Landmarks::Heatmaps { maps, size: n } => {
                    let (pts, conf) = decoder.decode(maps, maps.len() / (n * n), *n, *n);
                    (pts.iter().map(|&p| heatmap_to_crop(p, size, *n)).collect(), conf)
                }
            };
            reported
                .push((m.selection.iter().map(|&i| all[i]).collect(), m.selection.iter().map(|&i| conf[i]).collect()));
            full.push(all);
        }
        self.times.decode += t.elapsed();

        let mut states: Vec<Option<HiddenState>> = vec![None; crops.len()];
        if let (Some(stab), Some(tracks)) = (&m.stabilizer, tracks) {
            let t = Instant::now();
            let (n, s) = (stab.heatmap.size, stab.window);
            let per = stab.points * s * s;
            let mut windows = vec![0f32; per * crops.len()];
            let mut placed = Vec::with_capacity(crops.len());
            let mut motion = Vec::with_capacity(crops.len());
            let mut observed = Vec::with_capacity(crops.len());
            for (i, (out, track)) in outputs.iter().zip(tracks).enumerate() {
                let centres: Vec<[f32; 2]> = reported[i].0.iter().map(|&p| crop_to_heatmap(p, size, n)).collect();
                let at = stab.windows(&centres, &crops[i], track.state.as_ref());
                motion.push(match (&track.state, self.config.motion_compensation) {
                    (Some(state), true) => stab.face_motion(&centres, state, &crops[i], size),
                    _ => [0.0, 0.0],
                });
                m.stabilizer_input(&out.landmarks, size, &stab.heatmap, &at, &mut windows[i * per..(i + 1) * per]);
                placed.push(at);
                observed.push(centres);
            }
            let prev: Vec<Option<&HiddenState>> = tracks.iter().map(|t| t.state.as_ref()).collect();
            let (stabilized, mut next) = stab.step(&windows, &placed, &prev, &crops, size, &motion)?;
            for (state, centres) in next.iter_mut().zip(observed) {
                state.observed = centres;
            }
            self.times.stabilizer += t.elapsed();
            let t = Instant::now();
            let decoder = match (decoder, stab.pdc_threshold) {
                (Decoder::Pdc { .. }, Some(threshold)) => Decoder::Pdc { threshold },
                (Decoder::PdcSoft { .. }, Some(threshold)) => Decoder::PdcSoft { threshold },
                (d, _) => d,
            };
            for (i, state) in next.into_iter().enumerate() {
                let (pts, conf) = decoder.decode(&stabilized[i * per..(i + 1) * per], stab.points, s, s);
                // Window pixels -> heatmap pixels -> crop pixels.
                let pts =
                    pts.iter().enumerate().map(|(j, &p)| heatmap_to_crop(state.windows.to_map(j).apply(p), size, n));
                reported[i] = (pts.collect(), conf);
                states[i] = Some(state);
            }
            self.times.decode += t.elapsed();
        }

        let t = Instant::now();
        let mut unusable = 0;
        let results = outputs
            .iter()
            .zip(full)
            .zip(reported)
            .zip(crops.iter().zip(states))
            .map(|(((out, all), (points, confidence)), (to_frame, state))| {
                let all: Vec<[f32; 2]> = all.iter().map(|&p| to_frame.apply(p)).collect();
                let points: Vec<[f32; 2]> = points.iter().map(|&p| to_frame.apply(p)).collect();
                if points.iter().any(|p| !p[0].is_finite() || !p[1].is_finite()) {
                    unusable += 1;
                    return None;
                }
                let (a, b) = m.eye_pair;
                let angle = eye_angle(*all.get(a)?, *all.get(b)?);
                let next_roi = Roi::around_points(&all, angle, self.config.roi_scale)?;
                Some(FaceResult { next_roi, points, confidence, presence: out.face_score.unwrap_or(1.0), state })
            })
            .collect();
        self.times.decode += t.elapsed();
        self.times.unusable += unusable;
        Ok(results)
    }
}

/// The hex SHA-256 of a file (a stabilizer's sidecar names the backbone it was trained for so).
fn sha256_hex(path: &std::path::Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let bytes =
        std::fs::read(path).map_err(|e| Error::ModelInvalid { path: path.to_path_buf(), reason: e.to_string() })?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether the crop `current` may stay in place of `next` (see `TrackerConfig::hold_tolerance`).
fn holds(current: &Roi, next: &Roi, tolerance: f32) -> bool {
    if tolerance <= 0.0 {
        return false;
    }
    let size = current.width.max(current.height);
    let shift = (next.cx - current.cx).hypot(next.cy - current.cy) / size;
    let scale = (next.width.max(next.height) / size).ln().abs();
    let turn = (next.angle - current.angle).sin().abs();
    shift < tolerance && scale < tolerance && turn < tolerance
}
