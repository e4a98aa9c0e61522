//! `landmarkoverlay`: draws the landmarks that `facelandmarks` attached (the
//! `SteadyFaceLandmarks` meta) onto the frame: points, optionally the face box and track id.
//!
//! ```sh
//! gst-launch-1.0 filesrc location=input.mp4 ! decodebin ! videoconvert ! facelandmarks \
//!   ! landmarkoverlay draw-id=true ! videoconvert ! autovideosink
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct LandmarkOverlay(ObjectSubclass<imp::LandmarkOverlay>) @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "landmarkoverlay", gst::Rank::NONE, LandmarkOverlay::static_type())
}
