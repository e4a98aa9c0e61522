//! `landmarkoverlay`: draws the landmarks of the `SteadyFaceLandmarks` meta onto the frame.

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use crate::{meta, video};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("landmarkoverlay", gst::DebugColorFlags::empty(), Some("Landmark overlay"))
});

const DEFAULT_POINT_COLOR: u32 = 0xff00ff00;
const DEFAULT_BOX_COLOR: u32 = 0xffffa000;
const DEFAULT_RADIUS: f64 = 0.0;
const DEFAULT_DRAW_BOX: bool = true;
const DEFAULT_DRAW_ID: bool = true;
const DEFAULT_CONFIDENCE_COLOR: bool = false;

#[derive(Debug, Clone, Copy)]
struct Settings {
    point_color: u32,
    box_color: u32,
    radius: f64,
    draw_box: bool,
    draw_id: bool,
    confidence_color: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            point_color: DEFAULT_POINT_COLOR,
            box_color: DEFAULT_BOX_COLOR,
            radius: DEFAULT_RADIUS,
            draw_box: DEFAULT_DRAW_BOX,
            draw_id: DEFAULT_DRAW_ID,
            confidence_color: DEFAULT_CONFIDENCE_COLOR,
        }
    }
}

fn rgb(argb: u32) -> [u8; 3] {
    [(argb >> 16) as u8, (argb >> 8) as u8, argb as u8]
}

/// Red at confidence 0 through yellow to green at 1.
fn confidence_rgb(c: f64) -> [u8; 3] {
    let c = if c.is_finite() { c.clamp(0.0, 1.0) } else { 0.0 };
    [((1.0 - c) * 2.0).min(1.0).mul_add(255.0, 0.0) as u8, (c * 2.0).min(1.0).mul_add(255.0, 0.0) as u8, 0]
}

#[derive(Default)]
pub struct LandmarkOverlay {
    settings: Mutex<Settings>,
}

#[glib::object_subclass]
impl ObjectSubclass for LandmarkOverlay {
    const NAME: &'static str = "GstLandmarkOverlay";
    type Type = super::LandmarkOverlay;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for LandmarkOverlay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let flags = glib::ParamFlags::READWRITE | gst::PARAM_FLAG_MUTABLE_PLAYING;
            vec![
                glib::ParamSpecUInt::builder("point-color")
                    .nick("Point colour")
                    .blurb("Colour of the landmark points as 0xAARRGGBB (alpha ignored)")
                    .default_value(DEFAULT_POINT_COLOR)
                    .flags(flags)
                    .build(),
                glib::ParamSpecUInt::builder("box-color")
                    .nick("Box colour")
                    .blurb("Colour of the face box as 0xAARRGGBB (alpha ignored)")
                    .default_value(DEFAULT_BOX_COLOR)
                    .flags(flags)
                    .build(),
                glib::ParamSpecDouble::builder("radius")
                    .nick("Point radius")
                    .blurb("Radius of each point in pixels; 0 = scaled to the face (1/80 of its box, at least 1)")
                    .minimum(0.0)
                    .maximum(50.0)
                    .default_value(DEFAULT_RADIUS)
                    .flags(flags)
                    .build(),
                glib::ParamSpecBoolean::builder("draw-box")
                    .nick("Draw box")
                    .blurb("Draw each face's bounding box")
                    .default_value(DEFAULT_DRAW_BOX)
                    .flags(flags)
                    .build(),
                glib::ParamSpecBoolean::builder("draw-id")
                    .nick("Draw track id")
                    .blurb("Write each face's track id above its box, in the box colour")
                    .default_value(DEFAULT_DRAW_ID)
                    .flags(flags)
                    .build(),
                glib::ParamSpecBoolean::builder("confidence-color")
                    .nick("Confidence colour")
                    .blurb("Colour each point by its confidence (red = 0, green = 1) instead of point-color")
                    .default_value(DEFAULT_CONFIDENCE_COLOR)
                    .flags(flags)
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        match pspec.name() {
            "point-color" => s.point_color = value.get().unwrap_or(DEFAULT_POINT_COLOR),
            "box-color" => s.box_color = value.get().unwrap_or(DEFAULT_BOX_COLOR),
            "radius" => s.radius = value.get().unwrap_or(DEFAULT_RADIUS),
            "draw-box" => s.draw_box = value.get().unwrap_or(DEFAULT_DRAW_BOX),
            "draw-id" => s.draw_id = value.get().unwrap_or(DEFAULT_DRAW_ID),
            "confidence-color" => s.confidence_color = value.get().unwrap_or(DEFAULT_CONFIDENCE_COLOR),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        match pspec.name() {
            "point-color" => s.point_color.to_value(),
            "box-color" => s.box_color.to_value(),
            "radius" => s.radius.to_value(),
            "draw-box" => s.draw_box.to_value(),
            "draw-id" => s.draw_id.to_value(),
            "confidence-color" => s.confidence_color.to_value(),
            _ => pspec.default_value().clone(),
        }
    }
}

impl GstObjectImpl for LandmarkOverlay {}

impl ElementImpl for LandmarkOverlay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Landmark overlay",
                "Filter/Effect/Video",
                "Draws the facial landmarks attached by facelandmarks onto the video",
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

impl BaseTransformImpl for LandmarkOverlay {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;
}

impl VideoFilterImpl for LandmarkOverlay {
    fn transform_frame_ip(
        &self,
        vf: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some(((mw, mh), faces)) = meta::read(vf.buffer()) else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let s = *self.settings.lock().unwrap_or_else(|p| p.into_inner());
        // The meta's coordinates refer to the frame it was made on; scale to this one.
        let (sx, sy) = (vf.width() as f64 / mw.max(1) as f64, vf.height() as f64 / mh.max(1) as f64);
        let mut canvas = video::canvas(vf).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Format, ["{e}"]);
            gst::FlowError::Error
        })?;
        for face in &faces {
            let [x, y, w, h] = face.bbox;
            if s.draw_box {
                let thickness = ((w * sx).max(h * sy) / 100.0).ceil().max(1.0) as usize;
                canvas.rectangle(
                    [(x * sx) as f32, (y * sy) as f32, (w * sx) as f32, (h * sy) as f32],
                    thickness,
                    rgb(s.box_color),
                );
            }
            if s.draw_id {
                let scale = ((w * sx).max(h * sy) / 60.0).ceil().max(1.0) as usize;
                let top = (y * sy) as f32 - (6 * scale) as f32;
                canvas.number((x * sx) as f32, top.max(0.0), face.track_id, scale, rgb(s.box_color));
            }
            let radius = if s.radius > 0.0 { s.radius } else { ((w * sx).max(h * sy) / 80.0).max(1.0) };
            for (i, p) in face.points.iter().enumerate() {
                let color = match face.confidence.get(i) {
                    Some(&c) if s.confidence_color => confidence_rgb(c),
                    _ => rgb(s.point_color),
                };
                canvas.disc((p[0] * sx) as f32, (p[1] * sy) as f32, radius as f32, color);
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
