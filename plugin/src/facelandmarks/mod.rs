use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct FaceLandmarks(ObjectSubclass<imp::FaceLandmarks>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "facelandmarks", gst::Rank::NONE, FaceLandmarks::static_type())
}
