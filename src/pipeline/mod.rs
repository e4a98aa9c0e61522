//! The per-frame landmark pipeline of one stream: search for faces (see [`search`]), track each
//! face by cropping the next frame around this frame's landmarks, run the backbone on all faces at
//! once, stabilize with the ConvLSTM (state per face, see [`stabilize`]), decode, smooth, and map
//! the points back to the frame. [`Tracker::process`] returns the faces and what happened (searches,
//! tracks started and ended) for the caller to log; the core never prints.

mod models;
mod search;
mod stabilize;
mod track;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use models::{ModelPaths, Models};
pub use search::{SearchReason, SearchRun};

use crate::backbone::{BackboneOutput, Landmarks};
use crate::decode::Decoder;
use crate::detector::Detection;
use crate::error::Result;
use crate::frame::Frame;
use crate::geometry::{Roi, Similarity, eye_angle, points_box};
use crate::heatmap::heatmap_to_crop;
use crate::registration::{Follow, Patch};
use crate::smoothing::{Smoother, Smoothing};
use crate::stabilizer::HiddenState;
use search::Searcher;
use stabilize::stabilize;
use track::Track;

/// How a stream is tracked. Every field can change between frames ([`Tracker::set_config`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    pub max_faces: usize,
    /// Search for new faces every this many frames while fewer than `max_faces` are tracked (on
    /// another thread; its faces join 3 frames later), backing off to up to 3 times this while
    /// the searches find nothing new (see [`search`]). 0 = only when no face is tracked.
    pub detect_interval: u64,
    /// Detector runs per frame while no face is tracked: the whole frame every other run, the
    /// tiles of the pyramid's finer level in turn between (see [`search`]). 0 = the whole pyramid
    /// on every frame.
    pub search_budget: usize,
    /// Tracks outlive a gap in the frames' timestamps (dropped frames, a stalled source) up to
    /// this many seconds; a longer gap, or time going backwards, starts afresh.
    pub max_gap_s: f64,
    /// Drop a track when the backbone's face-presence score falls below this.
    pub min_face_score: f32,
    /// Overrides the crop's side relative to the face's extent (the detector's box, or the box of
    /// the landmarks); `None` (the default): the backbone description's `crop.face_scale`
    /// ([`crate::backbone::Backbone::face_scale`]; MediaPipe's 1.5 for the shipped backbone).
    pub roi_scale: Option<f32>,
    /// Re-crops of a new track's first frame around its own landmarks (at most).
    pub refine_iterations: usize,
    /// Keep the previous crop while the face's new crop differs from it by less than this
    /// fraction of its size (centre shift, size change) or this many radians; 0 = the crop
    /// follows the face every frame. When the crop moves, the stabilizer's hidden state is
    /// resampled into the new crop. Holding keeps a still face's crop, and so its points, still;
    /// `cargo bench --bench crop_policy` compares the policies (docs/benchmarks.md).
    pub hold_tolerance: f32,
    /// Move each face's stabilizer state with the face (see
    /// [`crate::stabilizer::Stabilizer::face_motion`]), so the stabilizer smooths jitter without
    /// trailing the face's moves.
    pub motion_compensation: bool,
    /// Heatmaps -> points (stabilized or heatmap-backbone output). Default: PDC with continuous
    /// weights (`pdc-soft`, see [`Decoder::PdcSoft`]).
    pub decoder: Decoder,
    /// Smoothing of the final points, after the stabilizer.
    pub smoothing: Option<Smoothing>,
    /// Smoothing follows the face's motion measured by registering its image from frame to
    /// frame ([`crate::registration`]), so it does not trail the head.
    pub registration: bool,
    /// With registration, also register each point on its own (an eyelid, a lip), so that
    /// smoothing follows expressions as it follows the head: `Some(noise weight)`, how much a
    /// point's own motion is discounted for a poor match (see
    /// [`crate::registration::Patch::point_motions`]); `None` = off.
    pub point_registration: Option<f32>,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            max_faces: 5,
            detect_interval: 10,
            search_budget: 1,
            max_gap_s: 1.0,
            min_face_score: 0.5,
            roi_scale: None,
            refine_iterations: 3,
            hold_tolerance: 0.05,
            motion_compensation: true,
            decoder: Decoder::PdcSoft { threshold: crate::decode::DEFAULT_PDC_THRESHOLD },
            smoothing: None,
            registration: true,
            point_registration: Some(DEFAULT_POINT_NOISE_WEIGHT),
        }
    }
}

impl TrackerConfig {
    /// Every search for faces covers the whole pyramid: what a still image wants, or offline
    /// work where no frame's cost matters (training data, evaluation).
    pub fn whole_pyramid() -> Self {
        TrackerConfig { search_budget: 0, ..TrackerConfig::default() }
    }
}

/// A track of a backbone without a presence output is checked by the detector every this many
/// frames: a face that leaves is reported for at most this many frames more.
pub const PRESENCE_CHECK_EVERY: u64 = 5;

/// [`TrackerConfig::point_registration`]'s default, chosen on the validation faces
/// (models/MODELS.md, "Smoothing").
pub const DEFAULT_POINT_NOISE_WEIGHT: f32 = 0.35;
/// The detector sees the track's crop with this much context (side over the crop's side): it
/// finds faces that fill a part of its input, not all of it.
const PRESENCE_CONTEXT: f32 = 2.0;

/// What the caller knows about a frame besides its pixels.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameInput<'a> {
    /// The frame's time in seconds (smoothing, gaps); `None`: the frame count at 30 fps.
    pub time_s: Option<f64>,
    /// Faces found upstream, used instead of the detector: a track continues while a given box
    /// overlaps it and ends when none does.
    pub given: Option<&'a [Detection]>,
    /// The frame is already late (QoS): a search for new faces that falls due waits for a frame
    /// that is not.
    pub late: bool,
}

impl FrameInput<'_> {
    /// A frame at `time_s` seconds.
    pub fn at(time_s: f64) -> Self {
        FrameInput { time_s: Some(time_s), ..Default::default() }
    }
}

/// One face in one frame, in frame pixels (also its `steadyface.landmarks/1` JSON object,
/// [`crate::landmarks_json`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Face {
    /// Stable while the face is tracked; a new id when a face is found again.
    pub track_id: u64,
    /// x, y, width, height.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Detector score on the track's first frame, then the landmark model's presence score.
    pub score: f32,
    pub points: Vec<[f32; 2]>,
    pub confidence: Vec<f32>,
    /// True on the first frame of a track (its stabilizer state starts fresh there).
    pub new_track: bool,
    pub stabilized: bool,
}

/// Why a track ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrackEnd {
    /// The landmark model's face-presence score fell below `min_face_score`.
    Lost { score: f32 },
    /// The models' output for it was not finite (or gave no crop).
    Unusable,
    /// It converged on the same face as an older track.
    Duplicate { of: u64 },
    /// No face given by upstream overlaps it any more.
    NotGiven,
    /// More faces are tracked than `max_faces` allows (it was lowered): the newest end.
    OverLimit,
}

/// Something that happened while processing a frame, for the caller to log.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The gap since the previous frame was longer than `max_gap_s` (or time went backwards):
    /// every track was forgotten.
    Gap {
        seconds: f64,
        tracks: usize,
    },
    /// The detector searched for faces (on this frame's thread, or a background search joined).
    Search(SearchRun),
    /// A search for new faces fell due on a late frame and waits.
    SearchPostponed,
    TrackStarted {
        id: u64,
        score: f32,
    },
    TrackEnded {
        id: u64,
        why: TrackEnd,
    },
    /// The stabilizer's output for this track was not finite: its points are the backbone's in
    /// this frame and its state starts again.
    StabilizerUnusable {
        id: u64,
    },
}

/// A frame's faces and what happened to find them.
#[derive(Debug, Clone, Default)]
pub struct FrameReport {
    pub faces: Vec<Face>,
    pub events: Vec<Event>,
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
    /// Heatmap decoding, mapping to the frame, the next crop.
    pub decode: Duration,
    /// Each face's grey patch, registering its motion and smoothing its points.
    pub smoothing: Duration,
    pub total: Duration,
}

impl StageTimes {
    /// Adds `other`'s counts and times to these.
    pub fn add(&mut self, other: &StageTimes) {
        self.frames += other.frames;
        self.faces += other.faces;
        self.detector_runs += other.detector_runs;
        self.unusable += other.unusable;
        self.detector += other.detector;
        self.crop += other.crop;
        self.backbone += other.backbone;
        self.stabilizer += other.stabilizer;
        self.decode += other.decode;
        self.smoothing += other.smoothing;
        self.total += other.total;
    }
}

/// One face's reported points (crop pixels) and their confidence.
struct Reported {
    points: Vec<[f32; 2]>,
    confidence: Vec<f32>,
}

/// One face's landmarks before the track bookkeeping.
struct FaceResult {
    /// The crop for the next frame, from the backbone's full point set.
    next_roi: Roi,
    points: Vec<[f32; 2]>,
    confidence: Vec<f32>,
    presence: f32,
    /// The stabilizer's state after this frame; `None` without a stabilizer, or when its output
    /// was not finite (`stabilizer_failed`).
    state: Option<HiddenState>,
    stabilizer_failed: bool,
    /// The face's grey patch from its backbone crop, when smoothing follows registered motion.
    patch: Option<Patch>,
}

/// Per-stream tracking state. Never shared between streams.
pub struct Tracker {
    models: Arc<Models>,
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
    frame_index: u64,
    /// The previous frame's time (seconds).
    last_time: Option<f64>,
    searcher: Searcher,
    /// The backbone's input, reused from frame to frame ([`crate::backbone::Backbone::crop_batch`]).
    backbone_input: Vec<f32>,
    times: StageTimes,
}

impl Tracker {
    pub fn new(models: Arc<Models>, config: TrackerConfig) -> Self {
        Tracker {
            models,
            config,
            tracks: Vec::new(),
            next_id: 1,
            frame_index: 0,
            last_time: None,
            searcher: Searcher::default(),
            backbone_input: Vec::new(),
            times: StageTimes::default(),
        }
    }

    /// Applies from the next frame on (a lower `max_faces` ends the newest tracks there).
    pub fn set_config(&mut self, config: TrackerConfig) {
        self.config = config;
    }

    /// Time spent per stage so far.
    pub fn times(&self) -> &StageTimes {
        &self.times
    }

    /// Forgets every track, and with them the stabilizer and smoother states (on flush, seek,
    /// stream start, caps change), and waits for a search still running. Returns how many tracks
    /// ended. Track ids keep counting up.
    pub fn reset(&mut self) -> usize {
        let ended = self.tracks.len();
        self.tracks.clear();
        self.searcher.reset();
        self.frame_index = 0;
        self.last_time = None;
        ended
    }

    /// The faces in `frame`, and what happened to find them.
    pub fn process(&mut self, frame: &Frame, input: FrameInput) -> Result<FrameReport> {
        let start = Instant::now();
        let mut events = Vec::new();
        self.check_gap(input.time_s, &mut events);
        let time = input.time_s.unwrap_or(self.frame_index as f64 / 30.0);
        self.end_over_limit(&mut events);
        let searched_here = input.given.is_none() && self.tracks.is_empty();
        let found = self.find_faces(frame, &input, &mut events)?;
        let fresh = self.start_tracks(frame, found, &mut events)?;
        self.tracks.extend(fresh);
        let faces = self.update_tracks(frame, time, input.given.is_none(), &mut events)?;
        if input.given.is_none() {
            let periodic = |e: &Event| matches!(e, Event::Search(r) if r.why == SearchReason::Periodic);
            let changed = |e: &Event| matches!(e, Event::TrackStarted { .. } | Event::TrackEnded { .. });
            self.searcher.tracks_settled(events.iter().any(periodic), events.iter().any(changed));
            self.start_background_search(frame, searched_here, input.late, &mut events);
        }
        self.frame_index += 1;
        self.searcher.tick();
        self.times.frames += 1;
        self.times.total += start.elapsed();
        Ok(FrameReport { faces, events })
    }

    /// Tracks survive a gap up to `max_gap_s` (the crop and the states move on with the face as
    /// on any frame, and the presence score still ends a track whose face has gone); a longer gap
    /// or a step back in time starts afresh.
    fn check_gap(&mut self, time: Option<f64>, events: &mut Vec<Event>) {
        if let (Some(then), Some(now)) = (self.last_time, time) {
            let gap = now - then;
            if !(0.0..=self.config.max_gap_s).contains(&gap) {
                let tracks = self.reset();
                events.push(Event::Gap { seconds: gap, tracks });
            }
        }
        self.last_time = time.or(self.last_time);
    }

    /// A lowered `max_faces` ends the newest tracks.
    fn end_over_limit(&mut self, events: &mut Vec<Event>) {
        let limit = self.config.max_faces;
        if self.tracks.len() > limit {
            for track in self.tracks.drain(limit..) {
                events.push(Event::TrackEnded { id: track.id, why: TrackEnd::OverLimit });
            }
        }
    }

    /// Faces from upstream, from a search on this frame (nothing tracked), or from a background
    /// search due now.
    fn find_faces(&mut self, frame: &Frame, input: &FrameInput, events: &mut Vec<Event>) -> Result<Vec<Detection>> {
        let (cfg, index, scale) = (self.config, self.frame_index, self.face_scale());
        if let Some(given) = input.given {
            self.tracks.retain(|t| {
                let kept = given.iter().any(|det| t.roi.iou(&det.roi_scaled(scale)) > 0.3);
                if !kept {
                    events.push(Event::TrackEnded { id: t.id, why: TrackEnd::NotGiven });
                }
                kept
            });
            return Ok(given.to_vec());
        }
        let mut found = match self.searcher.collect(index)? {
            Some((found, run)) => {
                self.count_search(run, events);
                found
            }
            None => Vec::new(),
        };
        if self.tracks.is_empty() {
            let (now, run) =
                self.searcher.search_now(&self.models.detector, frame, cfg.search_budget, cfg.max_faces)?;
            self.count_search(run, events);
            found.extend(now);
        }
        Ok(found)
    }

    /// Starts a search on another thread, once this frame's own work is done (so the two do not
    /// compete for the cores), while fewer faces than `max_faces` are tracked: the next part of
    /// the sweep of the tiles after a reset, else, while faces are tracked, the periodic search
    /// when it falls due. A late frame postpones either.
    fn start_background_search(&mut self, frame: &Frame, searched_here: bool, late: bool, events: &mut Vec<Event>) {
        let (cfg, index) = (self.config, self.frame_index);
        if self.tracks.len() >= cfg.max_faces {
            return;
        }
        // With a budget of 0 every frame without faces searched the whole pyramid already.
        let sweep = cfg.search_budget > 0 && self.searcher.sweep_due();
        if !sweep && (searched_here || !self.searcher.due(cfg.detect_interval)) {
            return;
        }
        if late {
            events.push(Event::SearchPostponed);
        } else if sweep {
            self.searcher.sweep(&self.models, frame, index);
        } else {
            self.searcher.start(&self.models, frame, index, cfg.detect_interval);
        }
    }

    fn count_search(&mut self, run: SearchRun, events: &mut Vec<Event>) {
        self.times.detector += run.took;
        self.times.detector_runs += 1;
        events.push(Event::Search(run));
    }

    /// New tracks for the detections that overlap no track, up to `max_faces`. A new track's
    /// first crop comes from the detector's coarse box; the same frame is re-cropped around its
    /// own landmarks until the crop settles, so the track does not start with a jump.
    fn start_tracks(&mut self, frame: &Frame, found: Vec<Detection>, events: &mut Vec<Event>) -> Result<Vec<Track>> {
        let (cfg, scale) = (self.config, self.face_scale());
        let mut fresh: Vec<Track> = Vec::new();
        for det in found {
            let roi = det.roi_scaled(scale);
            let overlaps = self.tracks.iter().chain(&fresh).any(|t| t.roi.iou(&roi) > 0.3);
            if !overlaps && self.tracks.len() + fresh.len() < cfg.max_faces {
                fresh.push(Track::new(self.next_id, roi, det.score));
                events.push(Event::TrackStarted { id: self.next_id, score: det.score });
                self.next_id += 1;
            }
        }
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
        Ok(fresh)
    }

    /// Landmarks for every track on this frame; ends the tracks whose face is gone (`verify`:
    /// the detector judges that for a backbone without a presence output; upstream faces do).
    fn update_tracks(&mut self, frame: &Frame, time: f64, verify: bool, events: &mut Vec<Event>) -> Result<Vec<Face>> {
        let cfg = self.config;
        let tracks = std::mem::take(&mut self.tracks);
        let rois: Vec<Roi> = tracks.iter().map(|t| t.roi).collect();
        let mut results = self.landmarks(frame, &rois, Some(&tracks))?;
        if verify && !self.models.backbone.has_presence() {
            for (track, result) in tracks.iter().zip(&mut results) {
                if let Some(r) = result {
                    r.presence = self.detector_presence(frame, track)?;
                }
            }
        }
        let t = Instant::now();
        let mut smoothing_time = Duration::ZERO;
        let mut faces = Vec::with_capacity(tracks.len());
        let mut kept: Vec<Track> = Vec::with_capacity(tracks.len());
        for (mut track, result) in tracks.into_iter().zip(results) {
            let Some(mut r) = result else {
                events.push(Event::TrackEnded { id: track.id, why: TrackEnd::Unusable });
                continue;
            };
            if r.presence.is_nan() || r.presence < cfg.min_face_score {
                events.push(Event::TrackEnded { id: track.id, why: TrackEnd::Lost { score: r.presence } });
                continue;
            }
            if let Some(older) = kept.iter().find(|k| k.roi.iou(&r.next_roi) > 0.5) {
                events.push(Event::TrackEnded { id: track.id, why: TrackEnd::Duplicate { of: older.id } });
                continue;
            }
            if r.stabilizer_failed {
                events.push(Event::StabilizerUnusable { id: track.id });
            }
            if let Some(smoothing) = cfg.smoothing {
                let started = Instant::now();
                let last = cfg.point_registration.and_then(|w| Some((track.smoother.as_ref()?.last_points()?, w)));
                let follow = last.as_ref().map(|(points, noise_weight)| Follow {
                    points,
                    contours: self.models.contours(),
                    noise_weight: *noise_weight,
                });
                let motion = r.patch.take().and_then(|patch| track.motion(patch, &r.points, follow.as_ref()));
                let (face_motion, moved) = motion.map_or((None, None), |m| (Some(m.face), m.points));
                track.smoother.get_or_insert_with(|| Smoother::new(smoothing)).smooth(
                    &mut r.points,
                    time,
                    face_motion.as_ref(),
                    moved.as_deref(),
                );
                smoothing_time += started.elapsed();
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
            track.move_crop(r.next_roi, cfg.hold_tolerance);
            track.score = r.presence;
            track.state = r.state;
            track.age += 1;
            kept.push(track);
        }
        self.times.decode += t.elapsed().saturating_sub(smoothing_time);
        self.times.smoothing += smoothing_time;
        self.tracks = kept;
        Ok(faces)
    }

    /// A track's presence score when the backbone has no presence output: the detector's, run on
    /// the track's crop every [`PRESENCE_CHECK_EVERY`] frames, kept in between (one detector run
    /// per face every few frames costs little beside the backbone on every frame).
    fn detector_presence(&mut self, frame: &Frame, track: &Track) -> Result<f32> {
        if !track.age.is_multiple_of(PRESENCE_CHECK_EVERY) {
            return Ok(track.score);
        }
        let t = Instant::now();
        let score = self.models.detector.presence(frame, &track.roi, PRESENCE_CONTEXT);
        self.times.detector += t.elapsed();
        self.times.detector_runs += 1;
        score
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
        // Every backbone point in crop pixels (for the next crop) and the reported points.
        let (full, mut reported): (Vec<_>, Vec<Reported>) =
            outputs.iter().map(|out| self.decode_backbone(out, size)).unzip();
        self.times.decode += t.elapsed();

        let mut states: Vec<Option<HiddenState>> = vec![None; crops.len()];
        let mut failed = vec![false; crops.len()];
        if let (Some(stab), Some(tracks)) = (&m.stabilizer, tracks) {
            let t = Instant::now();
            let prev: Vec<Option<&HiddenState>> = tracks.iter().map(|t| t.state.as_ref()).collect();
            let cfg = &self.config;
            let stabilized =
                stabilize(m, stab, &outputs, &reported, &prev, &crops, size, cfg.decoder, cfg.motion_compensation)?;
            for (i, result) in stabilized.into_iter().enumerate() {
                // A stabilizer whose output is not finite leaves the backbone's points.
                match result {
                    Some(s) => {
                        reported[i] = Reported { points: s.points, confidence: s.confidence };
                        states[i] = Some(s.state);
                    }
                    None => failed[i] = true,
                }
            }
            self.times.stabilizer += t.elapsed();
        }

        // The patches registration compares from frame to frame, from the crops already made.
        let t = Instant::now();
        let registered = tracks.is_some() && self.config.smoothing.is_some() && self.config.registration;
        let per_face = self.backbone_input.len() / crops.len().max(1);
        let mut patches: Vec<Option<Patch>> = (0..crops.len())
            .map(|i| {
                let crop = &self.backbone_input[i * per_face..(i + 1) * per_face];
                registered.then(|| Patch::from_crop(crop, size, m.backbone.layout(), &crops[i]))
            })
            .collect();
        self.times.smoothing += t.elapsed();

        let t = Instant::now();
        let mut results = Vec::with_capacity(crops.len());
        for (i, (all, reported)) in full.into_iter().zip(reported).enumerate() {
            let presence = outputs[i].face_score.unwrap_or(1.0);
            let found = self.face_result(&all, reported, &crops[i], presence);
            let patch = patches[i].take();
            results.push(found.map(|r| FaceResult {
                state: states[i].take(),
                stabilizer_failed: failed[i],
                patch,
                ..r
            }));
        }
        self.times.decode += t.elapsed();
        self.times.unusable += results.iter().filter(|r| r.is_none()).count() as u64;
        Ok(results)
    }

    /// The crop's side relative to the face's extent: the config's override, else the
    /// backbone's description.
    fn face_scale(&self) -> f32 {
        self.config.roi_scale.unwrap_or_else(|| self.models.backbone.face_scale())
    }

    /// One face in frame pixels with the crop for its next frame, from every backbone point
    /// (`all`) and the reported points, crop pixels of the crop `to_frame`; `None` when a point is
    /// not finite.
    fn face_result(
        &self,
        all: &[[f32; 2]],
        reported: Reported,
        to_frame: &Similarity,
        presence: f32,
    ) -> Option<FaceResult> {
        let all: Vec<[f32; 2]> = all.iter().map(|&p| to_frame.apply(p)).collect();
        let points: Vec<[f32; 2]> = reported.points.iter().map(|&p| to_frame.apply(p)).collect();
        if !all.iter().chain(&points).flatten().all(|v| v.is_finite()) {
            return None;
        }
        let (a, b) = self.models.eye_pair();
        let angle = eye_angle(*all.get(a)?, *all.get(b)?);
        let next_roi = Roi::around_points(&all, angle, self.face_scale())?;
        let confidence = reported.confidence;
        Some(FaceResult { next_roi, points, confidence, presence, state: None, stabilizer_failed: false, patch: None })
    }

    /// One face's backbone output as every point in crop pixels (for the next crop) and the
    /// reported points with their confidence.
    fn decode_backbone(&self, out: &BackboneOutput, crop_size: usize) -> (Vec<[f32; 2]>, Reported) {
        let selection = self.models.selection();
        let (all, conf) = match &out.landmarks {
            Landmarks::Points(p) => (p.clone(), vec![1.0; p.len()]),
            Landmarks::Heatmaps { maps, size: n } => {
                let (pts, conf) = self.config.decoder.decode(maps, maps.len() / (n * n), *n, *n);
                (pts.iter().map(|&p| heatmap_to_crop(p, crop_size, *n)).collect(), conf)
            }
        };
        let reported = Reported {
            points: selection.iter().map(|&i| all[i]).collect(),
            confidence: selection.iter().map(|&i| conf[i]).collect(),
        };
        (all, reported)
    }
}
