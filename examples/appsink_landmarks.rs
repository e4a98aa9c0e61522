//! An application reading steadyface's landmarks from an `appsink`: prints, per frame, the
//! track id and the first landmark of each face.
//!
//!     cargo run --release -p gst-plugin-steadyface --example appsink_landmarks -- VIDEO
//!
//! The plugin is registered into this process directly (`plugin_register_static`); an
//! application using the installed plugin would skip that line.

use gst::prelude::*;
use gststeadyface::meta;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let video = std::env::args().nth(1).ok_or("usage: appsink_landmarks VIDEO")?;
    gst::init()?;
    gststeadyface::plugin_register_static()?;
    let pipeline = gst::parse::launch(
        "filesrc name=src ! decodebin ! videoconvert ! facelandmarks ! appsink name=sink sync=false",
    )?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    pipeline.by_name("src").ok_or("no src")?.set_property("location", &video);
    let sink =
        pipeline.by_name("sink").ok_or("no sink")?.downcast::<gst_app::AppSink>().map_err(|_| "not an appsink")?;
    let mut frame = 0u64;
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(((width, height), faces)) = sample.buffer().and_then(meta::read) {
                    let summary: Vec<String> = faces
                        .iter()
                        .filter_map(|f| {
                            f.points.first().map(|p| format!("track {} at ({:.1}, {:.1})", f.track_id, p[0], p[1]))
                        })
                        .collect();
                    println!("frame {frame} ({width}x{height}): {} face(s) {}", faces.len(), summary.join(", "));
                }
                frame += 1;
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let result = match bus.timed_pop_filtered(gst::ClockTime::NONE, &[gst::MessageType::Eos, gst::MessageType::Error]) {
        Some(msg) => match msg.view() {
            gst::MessageView::Error(e) => {
                Err(format!("{}: {}", e.src().map(|s| s.name()).unwrap_or_default(), e.error()).into())
            }
            _ => Ok(()),
        },
        None => Ok(()),
    };
    pipeline.set_state(gst::State::Null)?;
    result
}
