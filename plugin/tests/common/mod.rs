//! Helpers shared by the element tests (elements.rs, battery.rs): pipelines over
//! ../shared/testdata with the default models, the faces each buffer carries, the bus.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gst::prelude::*;
use gststeadyface::meta::{self, ReadFace};

pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        gst::init().expect("gst init");
        gststeadyface::plugin_register_static().expect("register plugin");
    });
}

pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata").join(name)
}

/// Per frame: the faces in the meta reaching the sink.
pub type Frames = Vec<Vec<ReadFace>>;

/// Parses a pipeline (which must name a fakesink `sink`).
pub fn parse(launch: &str) -> Result<gst::Bin, String> {
    init();
    let pipeline = gst::parse::launch(launch).map_err(|e| e.to_string())?;
    Ok(pipeline.downcast::<gst::Bin>().expect("a pipeline is a bin"))
}

/// Records the faces of every buffer reaching the fakesink named `sink`.
pub fn record_faces(pipeline: &gst::Bin) -> Arc<Mutex<Frames>> {
    let frames = Arc::new(Mutex::new(Vec::new()));
    let store = frames.clone();
    let pad = pipeline.by_name("sink").expect("a fakesink named sink").static_pad("sink").expect("sink pad");
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buf) = info.buffer() {
            store.lock().unwrap().push(meta::read(buf).map(|(_, f)| f).unwrap_or_default());
        }
        gst::PadProbeReturn::Ok
    });
    frames
}

/// Waits for EOS (Ok) or an error (its message), then stops the pipeline.
pub fn finish(pipeline: &gst::Bin) -> Result<(), String> {
    let bus = pipeline.bus().expect("bus");
    let result = match bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(300), &[gst::MessageType::Eos, gst::MessageType::Error])
    {
        Some(msg) => match msg.view() {
            gst::MessageView::Error(e) => Err(format!("{} ({:?})", e.error(), e.debug())),
            _ => Ok(()),
        },
        None => Err("timeout".into()),
    };
    pipeline.set_state(gst::State::Null).map_err(|e| e.to_string())?;
    result
}

/// Runs `launch` to EOS and returns the faces of each frame reaching the sink, or the bus error.
pub fn run(launch: &str) -> Result<Frames, String> {
    let pipeline = parse(launch)?;
    let frames = record_faces(&pipeline);
    // A failing start() makes the state change fail; the reason is on the bus either way.
    let _ = pipeline.set_state(gst::State::Playing);
    finish(&pipeline)?;
    Ok(std::mem::take(&mut *frames.lock().unwrap()))
}

/// What a pipeline played to its end posted: the warnings and, if it stopped on one, the error
/// (message and detail).
#[derive(Debug, Default)]
pub struct Ending {
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

/// Plays `pipeline` until EOS or an error, at most `timeout_s` seconds (a timeout fails the
/// test), and stops it.
pub fn play_within(pipeline: &gst::Bin, timeout_s: u64) -> Ending {
    let ending = play_until_end(pipeline, timeout_s);
    pipeline.set_state(gst::State::Null).expect("stop");
    ending
}

/// [`play_within`], leaving the pipeline in its state at the end (PLAYING after EOS).
pub fn play_until_end(pipeline: &gst::Bin, timeout_s: u64) -> Ending {
    let bus = pipeline.bus().expect("bus");
    let _ = pipeline.set_state(gst::State::Playing);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout_s);
    let wanted = [gst::MessageType::Eos, gst::MessageType::Error, gst::MessageType::Warning];
    let mut ending = Ending::default();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Some(msg) = bus.timed_pop_filtered(gst::ClockTime::from_nseconds(left.as_nanos() as u64), &wanted) else {
            let _ = pipeline.set_state(gst::State::Null);
            panic!("no EOS or error within {timeout_s} s ({ending:?})");
        };
        match msg.view() {
            gst::MessageView::Warning(w) => ending.warnings.push(w.error().to_string()),
            gst::MessageView::Error(e) => {
                ending.error = Some(format!("{} ({})", e.error(), e.debug().unwrap_or_default()));
                break;
            }
            _ => break,
        }
    }
    ending
}

/// Plays `pipeline` to EOS and stops it; returns the warnings posted on the bus (an error fails
/// the test).
pub fn play_to_eos(pipeline: &gst::Bin) -> Vec<String> {
    let ending = play_within(pipeline, 300);
    if let Some(error) = ending.error {
        panic!("{error}");
    }
    ending.warnings
}

/// `filesrc ! decodebin ! videoconvert` for a test file.
pub fn decode(name: &str) -> String {
    format!("filesrc location={} ! decodebin ! videoconvert", testdata(name).display())
}

/// `single_face.mp4 ! facelandmarks ! fakesink name=sink sync=SYNC`, recording every frame's faces.
pub fn single_face_pipeline(sync: bool) -> (gst::Bin, Arc<Mutex<Frames>>) {
    let launch = format!("{} ! facelandmarks ! fakesink name=sink sync={sync}", decode("single_face.mp4"));
    let pipeline = parse(&launch).unwrap();
    let frames = record_faces(&pipeline);
    (pipeline, frames)
}

/// Pauses `pipeline` and waits (60 s at most) until it has prerolled.
pub fn preroll(pipeline: &gst::Bin) {
    pipeline.set_state(gst::State::Paused).unwrap();
    let bus = pipeline.bus().unwrap();
    bus.timed_pop_filtered(gst::ClockTime::from_seconds(60), &[gst::MessageType::AsyncDone]).expect("prerolled");
}

/// The nick of an enum property's value.
pub fn enum_nick(element: &gst::Element, name: &str) -> String {
    let value = element.property_value(name);
    let (_, v) = gst::glib::EnumValue::from_value(&value).expect("an enum property");
    v.nick().to_string()
}

/// A command that sees the built plugin through GST_PLUGIN_PATH (and a private registry).
pub fn with_built_plugin(program: &str) -> std::process::Command {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("release");
    assert!(dir.join("libgststeadyface.so").exists(), "build the plugin first (cargo build --release)");
    let mut cmd = std::process::Command::new(program);
    cmd.env("GST_PLUGIN_PATH", &dir)
        .env("GST_REGISTRY", std::env::temp_dir().join(format!("sf-registry-{}-{program}.bin", std::process::id())));
    cmd
}

/// An upstream ROI's x, y, width, height.
pub type Rect = (u32, u32, u32, u32);

/// einstein.jpg (3 frames) with upstream ROI metas `rois` (type, rectangle) on every buffer;
/// the whole detector pyramid runs on frames without a face ROI (`search-budget=0`).
pub fn einstein_with_rois(rois: Vec<(&'static str, Rect)>) -> (Frames, Ending, RoiRecord) {
    let launch = format!(
        "filesrc location={} ! jpegdec ! imagefreeze num-buffers=3 ! videoconvert ! identity name=roi \
         ! facelandmarks search-budget=0 ! fakesink name=sink",
        testdata("einstein.jpg").display()
    );
    let pipeline = parse(&launch).unwrap();
    pipeline.by_name("roi").unwrap().static_pad("src").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(gst::PadProbeData::Buffer(buffer)) = info.data.as_mut() {
            // Ids 100, 101, ...: an upstream tracker's own, not the element's track ids.
            for (i, (kind, rect)) in rois.iter().enumerate() {
                gst_video::VideoRegionOfInterestMeta::add(buffer.make_mut(), kind, *rect).set_id(100 + i as i32);
            }
        }
        gst::PadProbeReturn::Ok
    });
    let frames = record_faces(&pipeline);
    let rois = record_rois(&pipeline);
    let ending = play_within(&pipeline, 60);
    let frames = std::mem::take(&mut *frames.lock().unwrap());
    let rois = std::mem::take(&mut *rois.lock().unwrap());
    (frames, ending, rois)
}

/// Per buffer at the sink: each ROI meta's (type, id, whether it carries `landmarks`).
pub type RoiRecord = Vec<Vec<(String, i32, bool)>>;

fn record_rois(pipeline: &gst::Bin) -> Arc<Mutex<RoiRecord>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let store = seen.clone();
    let pad = pipeline.by_name("sink").unwrap().static_pad("sink").unwrap();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buf) = info.buffer() {
            let rois = buf
                .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
                .map(|r| (r.roi_type().to_string(), r.id(), r.params().any(|p| p.name() == "landmarks")))
                .collect();
            store.lock().unwrap().push(rois);
        }
        gst::PadProbeReturn::Ok
    });
    seen
}
