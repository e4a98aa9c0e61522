use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct LandmarkOverlay(ObjectSubclass<imp::LandmarkOverlay>) @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "landmarkoverlay", gst::Rank::NONE, LandmarkOverlay::static_type())
}
