//! `facelandmarks`: finds faces, tracks them, and attaches their steady landmarks to each buffer.
//!
//! ```sh
//! gst-launch-1.0 v4l2src ! videoconvert ! facelandmarks ! landmarkoverlay ! videoconvert ! autovideosink
//! ```
//!
//! Buffers pass through untouched; each gets a `SteadyFaceLandmarks` custom meta and one face ROI
//! meta per face (see [`crate::meta`]). The models load in `start()`; every stage runs in the
//! `steadyface` core. Steadiness comes by default from `smoothing=pose-residual` in each face's
//! registered frame (its motion measured on the image); the ConvLSTM stabilizer is opt-in:
//!
//! ```sh
//! gst-launch-1.0 filesrc location=clip.mp4 ! decodebin ! videoconvert \
//!   ! facelandmarks stabilizer=shipped smoothing=none ! fakesink
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;
mod latency;

glib::wrapper! {
    pub struct FaceLandmarks(ObjectSubclass<imp::FaceLandmarks>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// How heatmaps become points (the `decoder` property).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstFaceLandmarksDecoder")]
pub enum DecoderKind {
    #[enum_value(name = "Probability Density Centralization, the fine-tuning paper's Algorithm 1", nick = "pdc")]
    Pdc,
    #[default]
    #[enum_value(name = "PDC with continuous weights: unbiased and without jumps", nick = "pdc-soft")]
    PdcSoft,
    #[enum_value(name = "Integer position of the maximum", nick = "argmax")]
    Argmax,
    #[enum_value(name = "Argmax refined by a parabola", nick = "subpixel")]
    Subpixel,
}

/// Point smoothing after the stabilizer (the `smoothing` property).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstFaceLandmarksSmoothing")]
pub enum SmoothingKind {
    #[enum_value(name = "None", nick = "none")]
    None,
    #[enum_value(name = "One Euro filter (the one-euro-* properties)", nick = "one-euro")]
    OneEuro,
    #[enum_value(
        name = "Head pose and face shape smoothed apart (the pose-* and shape-* properties)",
        nick = "pose-residual"
    )]
    #[default]
    PoseResidual,
}

/// Where inference runs (the `device` property).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstFaceLandmarksDevice")]
pub enum DeviceKind {
    #[default]
    #[enum_value(name = "CUDA if available, else CPU", nick = "auto")]
    Auto,
    #[enum_value(name = "CPU", nick = "cpu")]
    Cpu,
    #[enum_value(name = "CUDA (fails if unavailable)", nick = "cuda")]
    Cuda,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    DecoderKind::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    SmoothingKind::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    DeviceKind::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(Some(plugin), "facelandmarks", gst::Rank::NONE, FaceLandmarks::static_type())
}
