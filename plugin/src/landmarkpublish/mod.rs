//! `landmarkpublish`: writes the landmarks that `facelandmarks` attached (the
//! `SteadyFaceLandmarks` meta) as JSON Lines, one `steadyface.landmarks/1` object per buffer
//! (docs/landmarks.schema.json), to a file, a FIFO, a device or standard output. A passthrough
//! element: buffers and their pixels go on untouched. Like DL Streamer's
//! `gvametaconvert ! gvametapublish file-path=...`.
//!
//! ```sh
//! gst-launch-1.0 filesrc location=input.mp4 ! decodebin ! videoconvert ! facelandmarks \
//!   ! landmarkpublish location=landmarks.jsonl ! fakesink
//! ```
//!
//! `location` is opened when the element starts (READY to PAUSED) and closed when it stops: a
//! regular file is created or truncated there and written in place, each line whole and as it
//! comes (`tail -f` follows it); a FIFO, a device or `/dev/stdout` is written through
//! (appending); `-` or empty is standard output. A location that cannot be opened fails the
//! start; a failed write is an element error.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct LandmarkPublish(ObjectSubclass<imp::LandmarkPublish>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "landmarkpublish", gst::Rank::NONE, LandmarkPublish::static_type())
}
