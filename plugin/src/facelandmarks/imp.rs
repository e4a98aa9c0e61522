//! `facelandmarks`: an analysis element. Buffers pass through with their memory untouched; each
//! gets the faces found in it as metadata (see `meta.rs`).

use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use steadyface::decode::{DEFAULT_PDC_THRESHOLD, Decoder};
use steadyface::models_dir;
use steadyface::pipeline::{ModelPaths, Models, Tracker, TrackerConfig};
use steadyface::runtime::Device;
use steadyface::scheme::Scheme;
use steadyface::smoothing::OneEuroParams;

use crate::{meta, video};

static CAT: LazyLock<gst::DebugCategory> =
    LazyLock::new(|| gst::DebugCategory::new("facelandmarks", gst::DebugColorFlags::empty(), Some("Facial landmarks")));

const DEFAULT_MAX_FACES: u32 = 5;
const DEFAULT_DETECT_INTERVAL: u32 = 10;
const DEFAULT_MIN_FACE_SCORE: f32 = 0.5;
const DEFAULT_DEVICE: &str = "auto";
const DEFAULT_DEVICE_ID: i32 = 0;
const DEFAULT_POST_MESSAGES: bool = false;
const DEFAULT_DECODER: &str = "pdc-soft";
const DEFAULT_SMOOTHING: &str = "none";

#[derive(Debug, Clone)]
struct Settings {
    backbone: PathBuf,
    detector: PathBuf,
    /// Empty: no stabilizer. The default is the shipped one, used only where it fits the backbone.
    stabilizer: PathBuf,
    decoder: String,
    pdc_threshold: f32,
    smoothing: String,
    one_euro: OneEuroParams,
    full_scheme: bool,
    motion_compensation: bool,
    max_faces: u32,
    detect_interval: u32,
    min_face_score: f32,
    device: String,
    device_id: i32,
    post_messages: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            backbone: models_dir::default_model(models_dir::BACKBONE),
            detector: models_dir::default_model(models_dir::DETECTOR),
            stabilizer: models_dir::default_model(models_dir::STABILIZER),
            decoder: DEFAULT_DECODER.into(),
            pdc_threshold: DEFAULT_PDC_THRESHOLD,
            smoothing: DEFAULT_SMOOTHING.into(),
            one_euro: OneEuroParams::default(),
            full_scheme: false,
            motion_compensation: TrackerConfig::default().motion_compensation,
            max_faces: DEFAULT_MAX_FACES,
            detect_interval: DEFAULT_DETECT_INTERVAL,
            min_face_score: DEFAULT_MIN_FACE_SCORE,
            device: DEFAULT_DEVICE.into(),
            device_id: DEFAULT_DEVICE_ID,
            post_messages: DEFAULT_POST_MESSAGES,
        }
    }
}

impl Settings {
    /// The tracker's configuration; the string settings were validated when they were set.
    fn tracker_config(&self) -> TrackerConfig {
        let defaults = TrackerConfig::default();
        TrackerConfig {
            max_faces: self.max_faces as usize,
            detect_interval: self.detect_interval as u64,
            min_face_score: self.min_face_score,
            decoder: Decoder::parse(&self.decoder, self.pdc_threshold).unwrap_or(defaults.decoder),
            smoothing: (self.smoothing == "one-euro").then_some(self.one_euro),
            motion_compensation: self.motion_compensation,
            ..defaults
        }
    }
}

struct State {
    tracker: Tracker,
    scheme: String,
    info: Option<gst_video::VideoInfo>,
}

#[derive(Default)]
pub struct FaceLandmarks {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

impl FaceLandmarks {
    fn reset_tracks(&self, why: &str) {
        if let Some(state) = self.state.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            gst::debug!(CAT, imp = self, "resetting face tracks: {why}");
            state.tracker.reset();
        }
    }
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
            let defaults = Settings::default();
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
                    .blurb("ConvLSTM stabilizer ONNX (inputs heatmaps, h, c; outputs s, h_out, c_out; sidecar .json beside it; steadyface finetune trains one); empty = none. Default: the one trained for the default backbone, installed with the plugin; with another backbone or full-scheme it is skipped with a warning")
                    .default_value(Some(stabilizer.as_ref()))
                    .flags(ready_only)
                    .build(),
                glib::ParamSpecString::builder("decoder")
                    .nick("Heatmap decoder")
                    .blurb("How heatmaps become points: pdc (Probability Density Centralization, the paper's Algorithm 1), pdc-soft (PDC with continuous weights: unbiased and without jumps), argmax, subpixel (argmax refined by a parabola)")
                    .default_value(Some(DEFAULT_DECODER))
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
                glib::ParamSpecString::builder("smoothing")
                    .nick("Smoothing")
                    .blurb("Point smoothing after the stabilizer: none, one-euro")
                    .default_value(Some(DEFAULT_SMOOTHING))
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
                glib::ParamSpecBoolean::builder("full-scheme")
                    .nick("Full point set")
                    .blurb("Report every point of the backbone instead of the iBUG 68-point scheme")
                    .default_value(false)
                    .flags(ready_only)
                    .build(),
                glib::ParamSpecBoolean::builder("motion-compensation")
                    .nick("Motion compensation")
                    .blurb("Move each face's stabilizer state with the face (the mean motion of its points beyond 0.2 heatmap pixels a frame), so the stabilizer smooths jitter without trailing moves")
                    .default_value(defaults.motion_compensation)
                    .flags(playing)
                    .build(),
                glib::ParamSpecUInt::builder("max-faces")
                    .nick("Maximum faces")
                    .blurb("Most faces tracked at once")
                    .minimum(1)
                    .maximum(64)
                    .default_value(DEFAULT_MAX_FACES)
                    .flags(playing)
                    .build(),
                glib::ParamSpecUInt::builder("detect-interval")
                    .nick("Detection interval")
                    .blurb("Run the face detector every N frames to pick up new faces (it also runs whenever no face is tracked); 0 = only when no face is tracked")
                    .default_value(DEFAULT_DETECT_INTERVAL)
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
                glib::ParamSpecString::builder("device")
                    .nick("Device")
                    .blurb("Where inference runs: auto (CUDA if available, else CPU), cpu, cuda (fails if CUDA is unavailable)")
                    .default_value(Some(DEFAULT_DEVICE))
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
        let mut s = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        let path = |v: &glib::Value| PathBuf::from(v.get::<Option<String>>().ok().flatten().unwrap_or_default());
        match pspec.name() {
            "backbone" => s.backbone = path(value),
            "detector" => s.detector = path(value),
            "stabilizer" => s.stabilizer = path(value),
            "decoder" => {
                let name = value.get::<Option<String>>().ok().flatten().unwrap_or_default();
                match Decoder::parse(&name, s.pdc_threshold) {
                    Ok(_) => s.decoder = name,
                    Err(e) => gst::error!(CAT, imp = self, "decoder not changed: {e}"),
                }
            }
            "pdc-threshold" => s.pdc_threshold = value.get().unwrap_or(DEFAULT_PDC_THRESHOLD),
            "smoothing" => {
                let name = value.get::<Option<String>>().ok().flatten().unwrap_or_default();
                match name.as_str() {
                    "none" | "one-euro" => s.smoothing = name,
                    other => {
                        gst::error!(CAT, imp = self, "smoothing not changed: unknown value '{other}' (none, one-euro)")
                    }
                }
            }
            "one-euro-min-cutoff" => s.one_euro.min_cutoff = value.get().unwrap_or(s.one_euro.min_cutoff),
            "one-euro-beta" => s.one_euro.beta = value.get().unwrap_or(s.one_euro.beta),
            "one-euro-derivative-cutoff" => {
                s.one_euro.derivative_cutoff = value.get().unwrap_or(s.one_euro.derivative_cutoff)
            }
            "full-scheme" => s.full_scheme = value.get().unwrap_or(false),
            "motion-compensation" => s.motion_compensation = value.get().unwrap_or(true),
            "max-faces" => s.max_faces = value.get().unwrap_or(DEFAULT_MAX_FACES),
            "detect-interval" => s.detect_interval = value.get().unwrap_or(DEFAULT_DETECT_INTERVAL),
            "min-face-score" => s.min_face_score = value.get().unwrap_or(DEFAULT_MIN_FACE_SCORE),
            "device" => {
                s.device = value.get::<Option<String>>().ok().flatten().unwrap_or_else(|| DEFAULT_DEVICE.into())
            }
            "device-id" => s.device_id = value.get().unwrap_or(DEFAULT_DEVICE_ID),
            "post-messages" => s.post_messages = value.get().unwrap_or(false),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
        let config = s.tracker_config();
        drop(s);
        // Thresholds apply to the running tracker at once.
        if let Some(state) = self.state.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            state.tracker.config = config;
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        match pspec.name() {
            "backbone" => s.backbone.to_string_lossy().to_value(),
            "detector" => s.detector.to_string_lossy().to_value(),
            "stabilizer" => s.stabilizer.to_string_lossy().to_value(),
            "decoder" => s.decoder.to_value(),
            "pdc-threshold" => s.pdc_threshold.to_value(),
            "smoothing" => s.smoothing.to_value(),
            "one-euro-min-cutoff" => s.one_euro.min_cutoff.to_value(),
            "one-euro-beta" => s.one_euro.beta.to_value(),
            "one-euro-derivative-cutoff" => s.one_euro.derivative_cutoff.to_value(),
            "full-scheme" => s.full_scheme.to_value(),
            "motion-compensation" => s.motion_compensation.to_value(),
            "max-faces" => s.max_faces.to_value(),
            "detect-interval" => s.detect_interval.to_value(),
            "min-face-score" => s.min_face_score.to_value(),
            "device" => s.device.to_value(),
            "device-id" => s.device_id.to_value(),
            "post-messages" => s.post_messages.to_value(),
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
        let device = Device::parse(&settings.device, settings.device_id)
            .map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ["{e}"]))?;
        let scheme = if settings.full_scheme { Scheme::Full } else { Scheme::Ibug68 };
        let paths = ModelPaths {
            detector: settings.detector.clone(),
            backbone: settings.backbone.clone(),
            stabilizer: (!settings.stabilizer.as_os_str().is_empty()).then(|| settings.stabilizer.clone()),
        };
        // The shipped stabilizer is trained for the shipped backbone: with another one it steps
        // aside (a warning says so) rather than failing a pipeline that only swapped the backbone.
        let shipped = models_dir::default_model(models_dir::STABILIZER);
        let loaded = if settings.stabilizer == shipped {
            Models::load_with_default_stabilizer(&paths, &shipped, device, scheme)
        } else {
            Models::load(&paths, device, scheme).map(|m| (m, None))
        };
        let (models, skipped) = loaded.map_err(|e| match e {
            steadyface::Error::ModelMissing { .. } => gst::error_msg!(gst::ResourceError::NotFound, ["{e}"]),
            _ => gst::error_msg!(gst::LibraryError::Init, ["{e}"]),
        })?;
        if let Some(why) = skipped {
            gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{why}"));
        }
        let scheme = models.scheme_name();
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(State { tracker: Tracker::new(models, settings.tracker_config()), scheme, info: None });
        gst::info!(CAT, imp = self, "loaded {} and {}", paths.detector.display(), paths.backbone.display());
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info =
            gst_video::VideoInfo::from_caps(incaps).map_err(|_| gst::loggable_error!(CAT, "invalid caps {incaps}"))?;
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let state = guard.as_mut().ok_or_else(|| gst::loggable_error!(CAT, "caps before start"))?;
        state.tracker.reset();
        state.info = Some(info);
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStop(_) => self.reset_tracks("flush"),
            gst::EventView::StreamStart(_) => self.reset_tracks("stream start"),
            gst::EventView::Segment(_) => self.reset_tracks("new segment"),
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let post_messages = self.settings.lock().unwrap_or_else(|p| p.into_inner()).post_messages;
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(state) = guard.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["buffer before start"]);
            return Err(gst::FlowError::Error);
        };
        let Some(info) = state.info.clone() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["buffer before caps"]);
            return Err(gst::FlowError::NotNegotiated);
        };
        if buf.flags().contains(gst::BufferFlags::DISCONT) {
            state.tracker.reset();
        }
        // Faces found upstream (ROI metas of type "face") replace the detector.
        let upstream = meta::upstream_faces(buf);
        let faces = {
            let vf = gst_video::VideoFrameRef::from_buffer_ref_readable(&*buf, &info).map_err(|_| {
                gst::element_imp_error!(self, gst::StreamError::Failed, ["could not map the frame readable"]);
                gst::FlowError::Error
            })?;
            let frame = video::frame(&vf).map_err(|e| {
                gst::element_imp_error!(self, gst::StreamError::Format, ["{e}"]);
                gst::FlowError::Error
            })?;
            let timestamp = buf.pts().map(|t| t.nseconds() as f64 / 1e9);
            let unusable = state.tracker.times.unusable;
            match state.tracker.process(&frame, timestamp, upstream.as_deref()) {
                Ok(faces) => {
                    let dropped = state.tracker.times.unusable - unusable;
                    if dropped > 0 {
                        gst::warning!(
                            CAT,
                            imp = self,
                            "{dropped} face(s) dropped: the model returned non-finite values"
                        );
                    }
                    faces
                }
                Err(e) => {
                    // A failed inference loses this frame's faces, not the stream.
                    gst::warning!(CAT, imp = self, "no landmarks for this frame: {e}");
                    state.tracker.reset();
                    Vec::new()
                }
            }
        };
        let structure = meta::landmarks_structure(info.width(), info.height(), &state.scheme, &faces);
        drop(guard);
        meta::attach(buf, &structure, &faces);
        if post_messages {
            let running_time =
                self.obj().segment().downcast_ref::<gst::ClockTime>().and_then(|seg| seg.to_running_time(buf.pts()));
            let mut s = structure;
            s.set_name("steadyface-landmarks");
            s.set("timestamp", buf.pts());
            s.set("running-time", running_time);
            let _ = self.obj().post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
