//! GStreamer plugin `steadyface`: `facelandmarks` attaches steady facial landmarks to each buffer,
//! `landmarkoverlay` draws them. Thin glue over the `steadyface` core library.

use gst::glib;

mod facelandmarks;
mod landmarkoverlay;
pub mod meta;
mod video;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    facelandmarks::register(plugin)?;
    landmarkoverlay::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    steadyface,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
