//! `facelandmarks`' implementation: settings and properties, the models loaded in `start()`, and
//! per buffer the tracker, QoS, the latency estimate and the metadata.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use steadyface::decode::{DEFAULT_PDC_THRESHOLD, Decoder};
use steadyface::detector::Detection;
use steadyface::models_dir;
use steadyface::pipeline::{
    DEFAULT_POINT_NOISE_WEIGHT, Event, FrameInput, FrameReport, ModelPaths, Models, SearchReason, TrackEnd, Tracker,
    TrackerConfig,
};
use steadyface::runtime::Device;
use steadyface::scheme::Scheme;
use steadyface::smoothing::{OneEuroParams, PoseResidualParams, Smoothing};

use super::latency::LatencyEstimate;
use super::{DecoderKind, DeviceKind, SmoothingKind};
use crate::{meta, video};

static CAT: LazyLock<gst::DebugCategory> =
    LazyLock::new(|| gst::DebugCategory::new("facelandmarks", gst::DebugColorFlags::empty(), Some("Facial landmarks")));

const DEFAULT_MAX_FACES: u32 = 5;
const DEFAULT_DETECT_INTERVAL: u32 = 10;
const DEFAULT_SEARCH_BUDGET: u32 = 1;
const DEFAULT_MAX_GAP: gst::ClockTime = gst::ClockTime::SECOND;
const DEFAULT_MIN_FACE_SCORE: f32 = 0.5;
const DEFAULT_DEVICE_ID: i32 = 0;
const DEFAULT_POST_MESSAGES: bool = false;

/// Properties that choose what `start()` loads: they change only in NULL or READY.
const MODEL_PROPERTIES: [&str; 6] = ["backbone", "detector", "stabilizer", "full-scheme", "device", "device-id"];

/// What `start()` loads.
#[derive(Debug, Clone)]
struct ModelSettings {
    backbone: PathBuf,
    detector: PathBuf,
    /// Empty (the default): no stabilizer. `shipped`: the one installed for the backbone
    /// (`models_dir::shipped_stabilizer`), used only where it fits the backbone.
    stabilizer: PathBuf,
    full_scheme: bool,
    device: DeviceKind,
    device_id: i32,
}

impl Default for ModelSettings {
    fn default() -> Self {
        ModelSettings {
            backbone: models_dir::default_model(models_dir::BACKBONE),
            detector: models_dir::default_model(models_dir::DETECTOR),
            // Registered pose/residual smoothing beats the shipped ConvLSTM on the validation faces
            // on every column (models/MODELS.md, "Smoothing"): it is the default, the ConvLSTM opt-in.
            stabilizer: PathBuf::new(),
            full_scheme: false,
            device: DeviceKind::default(),
            device_id: DEFAULT_DEVICE_ID,
        }
    }
}

/// What each frame reads (a copy is taken per frame, so a change applies from the next frame).
#[derive(Debug, Clone, Copy)]
struct FrameSettings {
    decoder: DecoderKind,
    pdc_threshold: f32,
    smoothing: SmoothingKind,
    one_euro: OneEuroParams,
    pose_residual: PoseResidualParams,
    registration: bool,
    point_registration: bool,
    point_noise_weight: f32,
    motion_compensation: bool,
    max_faces: u32,
    detect_interval: u32,
    search_budget: u32,
    max_gap: gst::ClockTime,
    min_face_score: f32,
    post_messages: bool,
}

impl Default for FrameSettings {
    fn default() -> Self {
        FrameSettings {
            decoder: DecoderKind::default(),
            pdc_threshold: DEFAULT_PDC_THRESHOLD,
            smoothing: SmoothingKind::default(),
            one_euro: OneEuroParams::default(),
            pose_residual: PoseResidualParams::default(),
            registration: TrackerConfig::default().registration,
            point_registration: TrackerConfig::default().point_registration.is_some(),
            point_noise_weight: DEFAULT_POINT_NOISE_WEIGHT,
            motion_compensation: TrackerConfig::default().motion_compensation,
            max_faces: DEFAULT_MAX_FACES,
            detect_interval: DEFAULT_DETECT_INTERVAL,
            search_budget: DEFAULT_SEARCH_BUDGET,
            max_gap: DEFAULT_MAX_GAP,
            min_face_score: DEFAULT_MIN_FACE_SCORE,
            post_messages: DEFAULT_POST_MESSAGES,
        }
    }
}

impl FrameSettings {
    fn tracker_config(&self) -> TrackerConfig {
        let threshold = self.pdc_threshold;
        TrackerConfig {
            max_faces: self.max_faces as usize,
            detect_interval: self.detect_interval as u64,
            search_budget: self.search_budget as usize,
            max_gap_s: self.max_gap.nseconds() as f64 / 1e9,
            min_face_score: self.min_face_score,
            decoder: match self.decoder {
                DecoderKind::Pdc => Decoder::Pdc { threshold },
                DecoderKind::PdcSoft => Decoder::PdcSoft { threshold },
                DecoderKind::Argmax => Decoder::Argmax,
                DecoderKind::Subpixel => Decoder::Subpixel,
            },
            smoothing: match self.smoothing {
                SmoothingKind::None => None,
                SmoothingKind::OneEuro => Some(Smoothing::OneEuro(self.one_euro)),
                SmoothingKind::PoseResidual => Some(Smoothing::PoseResidual(self.pose_residual)),
            },
            motion_compensation: self.motion_compensation,
            registration: self.registration,
            point_registration: self.point_registration.then_some(self.point_noise_weight),
            ..TrackerConfig::default()
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Settings {
    models: ModelSettings,
    frame: FrameSettings,
}

/// Between `start()` and `stop()`.
struct State {
    tracker: Tracker,
    scheme: String,
    info: Option<gst_video::VideoInfo>,
    latency: LatencyEstimate,
    /// Warnings posted once per stream: a face's model output, or its stabilizer output, was
    /// not finite.
    warned_unusable: bool,
    warned_stabilizer: bool,
}

/// `qos_earliest` when no QoS event has come.
const NO_QOS: u64 = u64::MAX;

pub struct FaceLandmarks {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// The models are loaded (between `start()` and `stop()`): model properties are refused.
    started: AtomicBool,
    /// Running time (ns) before which a frame is late, from downstream's QoS events.
    qos_earliest: AtomicU64,
    /// The latency answered to queries (ns); kept outside the state, whose lock is held while a
    /// frame is processed.
    latency: AtomicU64,
}

impl Default for FaceLandmarks {
    fn default() -> Self {
        FaceLandmarks {
            settings: Mutex::default(),
            state: Mutex::default(),
            started: AtomicBool::new(false),
            qos_earliest: AtomicU64::new(NO_QOS),
            latency: AtomicU64::new(0),
        }
    }
}

impl FaceLandmarks {
    fn reset_tracks(&self, why: &str) {
        if let Some(state) = self.state.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let ended = state.tracker.reset();
            gst::debug!(CAT, imp = self, "reset ({why}): {ended} track(s) ended");
        }
    }

    /// Whether a frame at `running_time` is already late by downstream's last QoS report.
    fn is_late(&self, running_time: Option<gst::ClockTime>) -> bool {
        let earliest = self.qos_earliest.load(Ordering::Relaxed);
        earliest != NO_QOS && running_time.is_some_and(|t| t.nseconds() <= earliest)
    }

    /// The tracker on one frame. A failed inference loses this frame's faces, not the stream.
    fn process(
        &self,
        state: &mut State,
        buf: &gst::BufferRef,
        info: &gst_video::VideoInfo,
        input: FrameInput,
    ) -> Result<FrameReport, gst::FlowError> {
        let vf = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, info).map_err(|_| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("could not map the frame readable"));
            gst::FlowError::Error
        })?;
        let frame = video::frame(&vf).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Format, ("{e}"));
            gst::FlowError::Error
        })?;
        match state.tracker.process(&frame, input) {
            Ok(report) => Ok(report),
            Err(e) => {
                let ended = state.tracker.reset();
                gst::warning!(CAT, imp = self, "no landmarks for this frame: {e} ({ended} track(s) reset)");
                Ok(FrameReport::default())
            }
        }
    }

    /// Logs what happened in a frame (levels DEBUG and LOG), and warns once per stream about
    /// model output that was not finite.
    fn log_events(&self, state: &mut State, events: &[Event]) {
        for event in events {
            match event {
                Event::Gap { seconds, tracks } => {
                    gst::debug!(CAT, imp = self, "gap of {seconds:.3} s beyond max-gap: {tracks} track(s) reset")
                }
                Event::Search(run) => {
                    let (regions, found) = (run.regions, run.found);
                    let what = match run.why {
                        SearchReason::NoFace => "no face tracked: searched",
                        SearchReason::Sweep => "background sweep of the first frame's tiles:",
                        SearchReason::Periodic => "background search for new faces:",
                    };
                    let ms = run.took.as_secs_f64() * 1e3;
                    gst::debug!(CAT, imp = self, "{what} {regions} region(s) in {ms:.1} ms, {found} face(s) found");
                }
                Event::SearchPostponed => {
                    gst::log!(CAT, imp = self, "late frame (QoS): the search for new faces waits")
                }
                Event::TrackStarted { id, score } => {
                    gst::debug!(CAT, imp = self, "track {id} started (detector score {score:.2})")
                }
                Event::TrackEnded { id, why } => {
                    gst::debug!(CAT, imp = self, "track {id} ended: {}", track_end(why));
                    if *why == TrackEnd::Unusable && !std::mem::replace(&mut state.warned_unusable, true) {
                        gst::element_imp_warning!(
                            self,
                            gst::LibraryError::Failed,
                            ("the landmark model's output for a face was not finite: the face was dropped (said once per stream)")
                        );
                    }
                }
                Event::StabilizerUnusable { id } => {
                    gst::warning!(CAT, imp = self, "track {id}: stabilizer output not finite, backbone points used");
                    if !std::mem::replace(&mut state.warned_stabilizer, true) {
                        gst::element_imp_warning!(
                            self,
                            gst::LibraryError::Failed,
                            ("the stabilizer's output for a face was not finite: its unstabilized points were used and its state restarted (said once per stream)")
                        );
                    }
                }
            }
        }
    }

    fn post_landmarks_message(
        &self,
        structure: &gst::Structure,
        buf: &gst::BufferRef,
        running_time: Option<gst::ClockTime>,
    ) {
        let mut s = structure.clone();
        s.set_name("steadyface-landmarks");
        s.set("timestamp", buf.pts());
        s.set("running-time", running_time);
        let _ = self.obj().post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
    }
}

fn track_end(why: &TrackEnd) -> String {
    match why {
        TrackEnd::Lost { score } => format!("face lost (presence score {score:.2} below min-face-score)"),
        TrackEnd::Unusable => "the models' output for it was not finite".into(),
        TrackEnd::Duplicate { of } => format!("same face as track {of}"),
        TrackEnd::NotGiven => "no upstream face ROI overlaps it".into(),
        TrackEnd::OverLimit => "more faces than max-faces".into(),
    }
}

/// The models of `settings`, with the shipped stabilizer stepping aside (and the reason) where it
/// does not fit the backbone, rather than failing a pipeline that only swapped the backbone.
fn load_models(settings: &ModelSettings) -> Result<(Arc<Models>, Option<String>), gst::ErrorMessage> {
    let device = match settings.device {
        DeviceKind::Auto => Device::Auto,
        DeviceKind::Cpu => Device::Cpu,
        DeviceKind::Cuda => Device::Cuda(settings.device_id),
    };
    let scheme = if settings.full_scheme { Scheme::Full } else { Scheme::Ibug68 };
    let shipped = models_dir::shipped_stabilizer(&settings.backbone);
    let stabilizer = models_dir::stabilizer_setting(&settings.stabilizer, &settings.backbone);
    let paths = ModelPaths { detector: settings.detector.clone(), backbone: settings.backbone.clone(), stabilizer };
    let loaded = if paths.stabilizer.as_ref() == Some(&shipped) {
        Models::load_with_default_stabilizer(&paths, &shipped, device, scheme)
    } else {
        Models::load(&paths, device, scheme).map(|m| (m, None))
    };
    loaded.map_err(|e| match e {
        steadyface::Error::ModelMissing { .. } => gst::error_msg!(gst::ResourceError::NotFound, ("{e}")),
        _ => gst::error_msg!(gst::LibraryError::Init, ("{e}")),
    })
}

/// A panic's message.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic")
}

#[glib::object_subclass]
impl ObjectSubclass for FaceLandmarks {
    const NAME: &'static str = "GstFaceLandmarks";
    type Type = super::FaceLandmarks;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for FaceLandmarks {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let defaults = ModelSettings::default();
            let (backbone, detector, stabilizer) = (
                defaults.backbone.to_string_lossy(),
                defaults.detector.to_string_lossy(),
                defaults.stabilizer.to_string_lossy(),
            );
            let ready_only = glib::ParamFlags::READWRITE | gst::PARAM_FLAG_MUTABLE_READY;
            let playing = glib::ParamFlags::READWRITE | gst::PARAM_FLAG_MUTABLE_PLAYING;
            vec![
                glib::ParamSpecString::builder("backbone")
                    .nick("Landmark backbone")
                    .blurb("ONNX landmark model: heatmaps [N,K,H,W] or coordinates [N,K*2|K*3] (default: MediaPipe face landmarks, installed with the plugin)")
                    .default_value(Some(backbone.as_ref()))
                    .flags(ready_only)
                    .build(),
                glib::ParamSpecString::builder("detector")
                    .nick("Face detector")
                    .blurb("BlazeFace ONNX model (default: the 128x128 front-camera model installed with the plugin)")
                    .default_value(Some(detector.as_ref()))
                    .flags(ready_only)
                    .build(),
                glib::ParamSpecString::builder("stabilizer")
                    .nick("Stabilizer")
                    .blurb("ConvLSTM stabilizer ONNX (inputs heatmaps, h, c; outputs s, h_out, c_out; sidecar .json beside it; steadyface finetune trains one); empty (the default) = none; `shipped` = the one trained for the backbone, installed beside it (NAME.stabilizer.onnx for backbone NAME.onnx, else stabilizer.onnx, made for the default backbone); where it does not fit the backbone or full-scheme it is skipped with a warning")
                    .default_value(Some(stabilizer.as_ref()))
                    .flags(ready_only)
                    .build(),
                glib::ParamSpecEnum::builder_with_default("decoder", DecoderKind::default())
                    .nick("Heatmap decoder")
                    .blurb("How heatmaps become points")
                    .flags(playing)
                    .build(),
                glib::ParamSpecFloat::builder("pdc-threshold")
                    .nick("PDC threshold")
                    .blurb("PDC ignores heatmap values below this fraction of each map's peak (the paper's 0.2 for peak-1 maps); a stabilizer's sidecar value takes precedence")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_PDC_THRESHOLD)
                    .flags(playing)
                    .build(),
                glib::ParamSpecEnum::builder_with_default("smoothing", SmoothingKind::default())
                    .nick("Smoothing")
                    .blurb("Point smoothing after the stabilizer")
                    .flags(playing)
                    .build(),
                glib::ParamSpecFloat::builder("one-euro-min-cutoff")
                    .nick("One Euro minimum cutoff")
                    .blurb("Cutoff frequency in Hz when still: lower = steadier, more lag (default: MediaPipe FaceLandmarker video mode)")
                    .minimum(0.0)
                    .default_value(OneEuroParams::default().min_cutoff)
                    .flags(playing)
                    .build(),
                glib::ParamSpecFloat::builder("one-euro-beta")
                    .nick("One Euro beta")
                    .blurb("How fast the cutoff opens with speed (speed measured in face sizes per second): higher = less lag")
                    .minimum(0.0)
                    .default_value(OneEuroParams::default().beta)
                    .flags(playing)
                    .build(),
                glib::ParamSpecFloat::builder("one-euro-derivative-cutoff")
                    .nick("One Euro derivative cutoff")
                    .blurb("Cutoff frequency in Hz of the speed estimate")
                    .minimum(0.0)
                    .default_value(OneEuroParams::default().derivative_cutoff)
                    .flags(playing)
                    .build(),
                glib::ParamSpecFloat::builder("pose-min-cutoff")
                    .nick("Pose minimum cutoff")
                    .blurb("smoothing=pose-residual: cutoff in Hz of the head pose (centre, scale, rotation) when still")
                    .minimum(0.0)
                    .default_value(PoseResidualParams::default().pose.min_cutoff)
                    .flags(playing)
                    .build(),
                glib::ParamSpecFloat::builder("pose-beta")
                    .nick("Pose beta")
                    .blurb("smoothing=pose-residual: how fast the pose cutoff opens with speed (face sizes, radians or log-scale per second)")
                    .minimum(0.0)
                    .default_value(PoseResidualParams::default().pose.beta)
                    .flags(playing)
                    .build(),
                glib::ParamSpecFloat::builder("shape-min-cutoff")
                    .nick("Shape minimum cutoff")
                    .blurb("smoothing=pose-residual: cutoff in Hz of the face's shape in its own frame (expression, jitter) when still")
                    .minimum(0.0)
                    .default_value(PoseResidualParams::default().shape.min_cutoff)
                    .flags(playing)
                    .build(),
                glib::ParamSpecFloat::builder("shape-beta")
                    .nick("Shape beta")
                    .blurb("smoothing=pose-residual: how fast the shape cutoff opens with speed (face radii per second): higher = expressions lag less")
                    .minimum(0.0)
                    .default_value(PoseResidualParams::default().shape.beta)
                    .flags(playing)
                    .build(),
                glib::ParamSpecBoolean::builder("registration")
                    .nick("Registration")
                    .blurb("Smoothing follows the face's motion measured on the image (registration of the face from frame to frame), so it does not trail the head")
                    .default_value(TrackerConfig::default().registration)
                    .flags(playing)
                    .build(),
                glib::ParamSpecBoolean::builder("point-registration")
                    .nick("Point registration")
                    .blurb("With registration, each point is also registered on its own (an eyelid, a lip), so smoothing follows expressions as it follows the head")
                    .default_value(TrackerConfig::default().point_registration.is_some())
                    .flags(playing)
                    .build(),
                glib::ParamSpecFloat::builder("point-noise-weight")
                    .nick("Point registration noise weight")
                    .blurb("point-registration: how much a point's own motion is discounted by its uncertainty (a poor match: noise, blur); a move well beyond it passes; 0 = always trusted")
                    .minimum(0.0)
                    .default_value(DEFAULT_POINT_NOISE_WEIGHT)
                    .flags(playing)
                    .build(),
                glib::ParamSpecBoolean::builder("full-scheme")
                    .nick("Full point set")
                    .blurb("Report every point of the backbone instead of the iBUG 68-point scheme")
                    .default_value(false)
                    .flags(ready_only)
                    .build(),
                glib::ParamSpecBoolean::builder("motion-compensation")
                    .nick("Motion compensation")
                    .blurb("Move each face's stabilizer state with the face (the mean motion of its points beyond 0.2 heatmap pixels a frame), so the stabilizer smooths jitter without trailing moves")
                    .default_value(FrameSettings::default().motion_compensation)
                    .flags(playing)
                    .build(),
                glib::ParamSpecUInt::builder("max-faces")
                    .nick("Maximum faces")
                    .blurb("Most faces tracked at once; lowered while playing, the newest tracks end on the next frame")
                    .minimum(1)
                    .maximum(64)
                    .default_value(DEFAULT_MAX_FACES)
                    .flags(playing)
                    .build(),
                glib::ParamSpecUInt::builder("detect-interval")
                    .nick("Detection interval")
                    .blurb("Search for new faces every N frames while faces are tracked (on another thread; late frames postpone it), backing off to every 2N, then 3N frames while the searches find nothing new; 0 = only when no face is tracked")
                    .default_value(DEFAULT_DETECT_INTERVAL)
                    .flags(playing)
                    .build(),
                glib::ParamSpecUInt::builder("search-budget")
                    .nick("Search budget")
                    .blurb("Detector runs per frame while no face is tracked: the whole frame every other run, the tiles of the finer pyramid level in turn between; 0 = the whole pyramid on every frame")
                    .maximum(64)
                    .default_value(DEFAULT_SEARCH_BUDGET)
                    .flags(playing)
                    .build(),
                glib::ParamSpecUInt64::builder("max-gap")
                    .nick("Maximum gap")
                    .blurb("Tracks survive a gap in the buffers' timestamps (dropped frames, a stalled source) up to this long, in nanoseconds; a longer gap or a step back in time starts afresh")
                    .default_value(DEFAULT_MAX_GAP.nseconds())
                    .flags(playing)
                    .build(),
                glib::ParamSpecFloat::builder("min-face-score")
                    .nick("Minimum face score")
                    .blurb("A track ends when the landmark model's face-presence score falls below this")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_MIN_FACE_SCORE)
                    .flags(playing)
                    .build(),
                glib::ParamSpecEnum::builder_with_default("device", DeviceKind::default())
                    .nick("Device")
                    .blurb("Where inference runs")
                    .flags(ready_only)
                    .build(),
                glib::ParamSpecInt::builder("device-id")
                    .nick("Device id")
                    .blurb("CUDA device index for device=cuda")
                    .minimum(0)
                    .default_value(DEFAULT_DEVICE_ID)
                    .flags(ready_only)
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Also post an element message 'steadyface-landmarks' per frame with the landmarks and the buffer's running time")
                    .default_value(DEFAULT_POST_MESSAGES)
                    .flags(playing)
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let name = pspec.name();
        if MODEL_PROPERTIES.contains(&name) && self.started.load(Ordering::Relaxed) {
            gst::warning!(CAT, imp = self, "{name} changes only in the NULL or READY state: ignored");
            gst::element_imp_warning!(
                self,
                gst::LibraryError::Settings,
                ("{name} changes only in the NULL or READY state: the new value is ignored")
            );
            return;
        }
        let mut guard = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        let Settings { models: m, frame: f } = &mut *guard;
        // GLib has checked the value's type and range against the spec.
        let path = |v: &glib::Value| PathBuf::from(v.get::<Option<String>>().ok().flatten().unwrap_or_default());
        match name {
            "backbone" => m.backbone = path(value),
            "detector" => m.detector = path(value),
            "stabilizer" => m.stabilizer = path(value),
            "full-scheme" => m.full_scheme = value.get().unwrap_or(m.full_scheme),
            "device" => m.device = value.get().unwrap_or(m.device),
            "device-id" => m.device_id = value.get().unwrap_or(m.device_id),
            "decoder" => f.decoder = value.get().unwrap_or(f.decoder),
            "pdc-threshold" => f.pdc_threshold = value.get().unwrap_or(f.pdc_threshold),
            "smoothing" => f.smoothing = value.get().unwrap_or(f.smoothing),
            "one-euro-min-cutoff" => f.one_euro.min_cutoff = value.get().unwrap_or(f.one_euro.min_cutoff),
            "one-euro-beta" => f.one_euro.beta = value.get().unwrap_or(f.one_euro.beta),
            "one-euro-derivative-cutoff" => {
                f.one_euro.derivative_cutoff = value.get().unwrap_or(f.one_euro.derivative_cutoff)
            }
            "pose-min-cutoff" => {
                f.pose_residual.pose.min_cutoff = value.get().unwrap_or(f.pose_residual.pose.min_cutoff)
            }
            "pose-beta" => f.pose_residual.pose.beta = value.get().unwrap_or(f.pose_residual.pose.beta),
            "shape-min-cutoff" => {
                f.pose_residual.shape.min_cutoff = value.get().unwrap_or(f.pose_residual.shape.min_cutoff)
            }
            "shape-beta" => f.pose_residual.shape.beta = value.get().unwrap_or(f.pose_residual.shape.beta),
            "registration" => f.registration = value.get().unwrap_or(f.registration),
            "point-registration" => f.point_registration = value.get().unwrap_or(f.point_registration),
            "point-noise-weight" => f.point_noise_weight = value.get().unwrap_or(f.point_noise_weight),
            "motion-compensation" => f.motion_compensation = value.get().unwrap_or(f.motion_compensation),
            "max-faces" => f.max_faces = value.get().unwrap_or(f.max_faces),
            "detect-interval" => f.detect_interval = value.get().unwrap_or(f.detect_interval),
            "search-budget" => f.search_budget = value.get().unwrap_or(f.search_budget),
            "max-gap" => {
                f.max_gap = value
                    .get::<u64>()
                    .map(|ns| gst::ClockTime::from_nseconds(ns.min(gst::ClockTime::MAX.nseconds())))
                    .unwrap_or(f.max_gap)
            }
            "min-face-score" => f.min_face_score = value.get().unwrap_or(f.min_face_score),
            "post-messages" => f.post_messages = value.get().unwrap_or(f.post_messages),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        let (m, f) = (&settings.models, &settings.frame);
        match pspec.name() {
            "backbone" => m.backbone.to_string_lossy().to_value(),
            "detector" => m.detector.to_string_lossy().to_value(),
            "stabilizer" => m.stabilizer.to_string_lossy().to_value(),
            "full-scheme" => m.full_scheme.to_value(),
            "device" => m.device.to_value(),
            "device-id" => m.device_id.to_value(),
            "decoder" => f.decoder.to_value(),
            "pdc-threshold" => f.pdc_threshold.to_value(),
            "smoothing" => f.smoothing.to_value(),
            "one-euro-min-cutoff" => f.one_euro.min_cutoff.to_value(),
            "one-euro-beta" => f.one_euro.beta.to_value(),
            "one-euro-derivative-cutoff" => f.one_euro.derivative_cutoff.to_value(),
            "pose-min-cutoff" => f.pose_residual.pose.min_cutoff.to_value(),
            "pose-beta" => f.pose_residual.pose.beta.to_value(),
            "shape-min-cutoff" => f.pose_residual.shape.min_cutoff.to_value(),
            "shape-beta" => f.pose_residual.shape.beta.to_value(),
            "registration" => f.registration.to_value(),
            "point-registration" => f.point_registration.to_value(),
            "point-noise-weight" => f.point_noise_weight.to_value(),
            "motion-compensation" => f.motion_compensation.to_value(),
            "max-faces" => f.max_faces.to_value(),
            "detect-interval" => f.detect_interval.to_value(),
            "search-budget" => f.search_budget.to_value(),
            "max-gap" => f.max_gap.nseconds().to_value(),
            "min-face-score" => f.min_face_score.to_value(),
            "post-messages" => f.post_messages.to_value(),
            _ => pspec.default_value().clone(),
        }
    }
}

impl GstObjectImpl for FaceLandmarks {}

impl ElementImpl for FaceLandmarks {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Facial landmarks",
                "Filter/Analyzer/Video",
                "Finds faces and attaches their landmarks (SteadyFaceLandmarks custom meta and face ROI metas) to each buffer",
                "steadyface developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(video::pad_templates);
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for FaceLandmarks {
    // In place without touching pixels: only the buffer's metadata changes, which makes a
    // shared buffer writable by copying its header, never its memory.
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        meta::register();
        let settings = self.settings.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let loaded = catch_unwind(|| {
            let (models, skipped) = load_models(&settings.models)?;
            let warm_up = models.warm_up().map_err(|e| gst::error_msg!(gst::LibraryError::Init, ("{e}")))?;
            Ok::<_, gst::ErrorMessage>((models, skipped, warm_up))
        });
        let (models, skipped, warm_up) = loaded.map_err(|panic| {
            gst::error_msg!(gst::LibraryError::Init, ("loading the models panicked: {}", panic_message(&*panic)))
        })??;
        if let Some(why) = skipped {
            gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{why}"));
        }
        if let Some(why) = &models.backbone.assumed {
            gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{why}"));
        }
        if let (DeviceKind::Auto, Some(why)) = (settings.models.device, steadyface::runtime::auto_fallback()) {
            gst::info!(CAT, imp = self, "device=auto: CUDA unavailable ({why}); running on the CPU");
        }
        let scheme = models.scheme_name();
        let tracker = Tracker::new(models, settings.frame.tracker_config());
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = Some(State {
            tracker,
            scheme,
            info: None,
            latency: LatencyEstimate::new(warm_up),
            warned_unusable: false,
            warned_stabilizer: false,
        });
        self.latency.store(warm_up.as_nanos() as u64, Ordering::Relaxed);
        self.qos_earliest.store(NO_QOS, Ordering::Relaxed);
        self.started.store(true, Ordering::Relaxed);
        gst::info!(
            CAT,
            imp = self,
            "loaded {} and {}; a warm-up frame took {:.1} ms",
            settings.models.detector.display(),
            settings.models.backbone.display(),
            warm_up.as_secs_f64() * 1e3
        );
        Ok(())
    }

    /// Drops the tracker, which waits for a search still running: no thread of this element
    /// touches a model after `stop()` returns.
    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.started.store(false, Ordering::Relaxed);
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info =
            gst_video::VideoInfo::from_caps(incaps).map_err(|_| gst::loggable_error!(CAT, "invalid caps {incaps}"))?;
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let state = guard.as_mut().ok_or_else(|| gst::loggable_error!(CAT, "caps before start"))?;
        // Caps sent again unchanged (or with another frame rate) leave the faces where they are.
        let same_frames = state.info.as_ref().is_some_and(|old| {
            (old.width(), old.height(), old.format()) == (info.width(), info.height(), info.format())
        });
        if !same_frames {
            let ended = state.tracker.reset();
            gst::debug!(CAT, imp = self, "reset (new frame size or format): {ended} track(s) ended");
        }
        state.info = Some(info);
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStop(_) => {
                self.qos_earliest.store(NO_QOS, Ordering::Relaxed);
                self.reset_tracks("flush");
            }
            gst::EventView::StreamStart(_) => self.reset_tracks("stream start"),
            // A segment sent again unchanged is no seek.
            gst::EventView::Segment(s) if *s.segment() != self.obj().segment() => self.reset_tracks("new segment"),
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn src_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Qos(qos) = event.view() {
            let (_, _, diff, timestamp) = qos.get();
            if let Some(timestamp) = timestamp {
                // As GstBaseTransform: the frame that reached the sink at `timestamp` was `diff` late.
                let earliest = timestamp.nseconds().saturating_add_signed(diff);
                self.qos_earliest.store(earliest, Ordering::Relaxed);
            }
        }
        self.parent_src_event(event)
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        let is_latency = matches!(query.view(), gst::QueryView::Latency(_));
        if direction != gst::PadDirection::Src || !is_latency {
            return BaseTransformImplExt::parent_query(self, direction, query);
        }
        if !BaseTransformImplExt::parent_query(self, direction, query) {
            return false;
        }
        if let gst::QueryViewMut::Latency(q) = query.view_mut() {
            let (live, min, max) = q.result();
            let ours = gst::ClockTime::from_nseconds(self.latency.load(Ordering::Relaxed));
            gst::debug!(CAT, imp = self, "latency: upstream {min} - {max:?}, ours {ours}");
            q.set(live, min + ours, max.map(|m| m + ours));
        }
        true
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let started = Instant::now();
        let settings = self.settings.lock().unwrap_or_else(|p| p.into_inner()).frame;
        let running_time =
            self.obj().segment().downcast_ref::<gst::ClockTime>().and_then(|seg| seg.to_running_time(buf.pts()));
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(state) = guard.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ("buffer before start"));
            return Err(gst::FlowError::Error);
        };
        let Some(info) = state.info.clone() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ("buffer before caps"));
            return Err(gst::FlowError::NotNegotiated);
        };
        state.tracker.set_config(settings.tracker_config());
        // Faces found upstream (ROI metas of type "face") replace the detector.
        let upstream = meta::upstream_rois(buf);
        let given: Option<Vec<Detection>> =
            upstream.as_ref().map(|rois| rois.iter().map(|r| Detection::from_box(r.rect, 1.0)).collect());
        let input = FrameInput {
            time_s: buf.pts().map(|t| t.nseconds() as f64 / 1e9),
            given: given.as_deref(),
            late: self.is_late(running_time),
        };
        // A panic is a bug: the element stops with an error and leaves no half-updated state
        // behind, so a restart (start() again) begins clean.
        let report = match catch_unwind(AssertUnwindSafe(|| self.process(state, buf, &info, input))) {
            Ok(report) => report?,
            Err(panic) => {
                *guard = None;
                gst::element_imp_error!(
                    self,
                    gst::LibraryError::Failed,
                    ("internal error (a bug): {}; restart the pipeline", panic_message(&*panic))
                );
                return Err(gst::FlowError::Error);
            }
        };
        self.log_events(state, &report.events);
        // Landmarks of faces found upstream go onto those faces' own ROIs.
        let rois = match &upstream {
            Some(rois) => meta::match_rois(&report.faces, rois),
            None => vec![None; report.faces.len()],
        };
        let structure = meta::landmarks_structure(info.width(), info.height(), &state.scheme, &report.faces, &rois);
        meta::attach(buf, &structure, &report.faces, &rois);
        let took = started.elapsed();
        gst::log!(CAT, imp = self, "{} face(s) in {:.1} ms", report.faces.len(), took.as_secs_f64() * 1e3);
        let latency_changed = state.latency.record(took);
        drop(guard);
        if let Some(latency) = latency_changed {
            gst::debug!(
                CAT,
                imp = self,
                "processing latency now {:.1} ms (95th percentile)",
                latency.as_secs_f64() * 1e3
            );
            self.latency.store(latency.as_nanos() as u64, Ordering::Relaxed);
            let _ = self.obj().post_message(gst::message::Latency::builder().src(&*self.obj()).build());
        }
        if settings.post_messages {
            self.post_landmarks_message(&structure, buf, running_time);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
