//! `landmarkpublish`: one JSON line per buffer (see the module documentation).

use std::io::Write;
use std::path::Path;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use crate::meta;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("landmarkpublish", gst::DebugColorFlags::empty(), Some("Landmark publisher"))
});

/// Standard output.
const DEFAULT_LOCATION: &str = "-";

#[derive(Debug, Clone)]
struct Settings {
    location: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { location: DEFAULT_LOCATION.into() }
    }
}

/// Where the lines go.
enum Sink {
    Stdout,
    File(std::fs::File),
}

impl Sink {
    /// Writes `line` (which ends with its newline) whole and flushes it.
    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(line)?;
                out.flush()
            }
            // Unbuffered: one write of the whole line.
            Sink::File(f) => f.write_all(line),
        }
    }
}

/// Between start() and stop().
struct State {
    sink: Sink,
    /// Where the lines go, for messages: `location` as it was at start, or "standard output".
    target: String,
    /// Buffers seen since start: the next line's `frame`.
    frame: u64,
    /// A buffer without the meta was reported already.
    warned_no_meta: bool,
}

#[derive(Default)]
pub struct LandmarkPublish {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for LandmarkPublish {
    const NAME: &'static str = "GstLandmarkPublish";
    type Type = super::LandmarkPublish;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for LandmarkPublish {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("location")
                    .nick("Location")
                    .blurb("Where the JSON lines go: a file (created or truncated at start, written line by line), a FIFO or device (written through), or - / empty for standard output; read when the element starts")
                    .default_value(Some(DEFAULT_LOCATION))
                    .flags(glib::ParamFlags::READWRITE | gst::PARAM_FLAG_MUTABLE_READY)
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        match pspec.name() {
            "location" => {
                let location: Option<String> = value.get().unwrap_or(None);
                s.location = location.unwrap_or_default();
                if self.state.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                    gst::warning!(CAT, imp = self, "location changed while running: applies from the next start");
                }
            }
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        match pspec.name() {
            "location" => s.location.to_value(),
            _ => pspec.default_value().clone(),
        }
    }
}

impl GstObjectImpl for LandmarkPublish {}

impl ElementImpl for LandmarkPublish {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Landmark publisher",
                "Filter/Metadata",
                "Writes the facial landmarks attached by facelandmarks as JSON Lines (steadyface.landmarks/1), one line per buffer",
                "steadyface developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::new_any();
            vec![
                gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &caps)
                    .expect("src pad template"),
                gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &caps)
                    .expect("sink pad template"),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for LandmarkPublish {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let location = self.settings.lock().unwrap_or_else(|p| p.into_inner()).location.clone();
        let (sink, target) = if location.is_empty() || location == "-" {
            (Sink::Stdout, "standard output".to_string())
        } else {
            let file = steadyface::output::open_log(Path::new(&location)).map_err(|e| {
                gst::error_msg!(gst::ResourceError::OpenWrite, ("Could not open {location} for writing"), ["{e}"])
            })?;
            (Sink::File(file), location)
        };
        gst::debug!(CAT, imp = self, "writing to {target}");
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(State { sink, target, frame: 0, warned_no_meta: false });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // Dropping the file closes it; every line was written whole already.
        self.state.lock().unwrap_or_else(|p| p.into_inner()).take();
        Ok(())
    }

    fn transform_ip_passthrough(&self, buf: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(state) = guard.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::StateChange, ["A buffer came before the element started"]);
            return Err(gst::FlowError::Error);
        };
        let frame = state.frame;
        state.frame += 1;
        let Some(landmarks) = meta::read_landmarks(buf) else {
            if !state.warned_no_meta {
                state.warned_no_meta = true;
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Format,
                    ("Buffers without landmarks are not written"),
                    ["buffer {frame} carries no {} meta: is facelandmarks upstream?", meta::META_NAME]
                );
            }
            return Ok(gst::FlowSuccess::Ok);
        };
        let mut line = landmarks.to_json(frame, buf.pts()).to_line();
        line.push('\n');
        if let Err(e) = state.sink.write_line(line.as_bytes()) {
            let target = &state.target;
            gst::element_imp_error!(self, gst::ResourceError::Write, ("Could not write to {target}"), ["{e}"]);
            return Err(gst::FlowError::Error);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
