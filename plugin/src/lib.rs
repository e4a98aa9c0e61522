//! GStreamer plugin `steadyface`: `facelandmarks` attaches steady facial landmarks to each buffer,
//! `landmarkoverlay` draws them, `landmarkpublish` writes them as JSON Lines. Thin glue over the `steadyface` core library.

use gst::glib;

mod facelandmarks;
mod landmarkoverlay;
mod landmarkpublish;
pub mod meta;
mod video;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    facelandmarks::register(plugin)?;
    landmarkoverlay::register(plugin)?;
    landmarkpublish::register(plugin)?;
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
