//! Driving the real `facelandmarks` element from the command line: frames pushed through
//! `appsrc ! facelandmarks ! (landmarkoverlay ! encoder ! file | fakesink)`, the landmarks read
//! back from each buffer's `SteadyFaceLandmarks` meta the way any consumer reads them.

use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, bail};
use gst::prelude::*;
use gststeadyface::meta::{Landmarks, ReadFace};
use steadyface::landmarks_json::FrameLandmarks;
use steadyface::output::Output;
use steadyface_train::video::RawFrame;

pub const ELEMENT: &str = "facelandmarks";

/// Initialises GStreamer with the elements of this build registered (statically: the program
/// runs the very code it was built with, installed plugin or not).
pub fn init() -> anyhow::Result<()> {
    gst::init().context("GStreamer could not be initialised")?;
    gststeadyface::plugin_register_static().context("registering the steadyface elements")?;
    Ok(())
}

/// A new `facelandmarks` with `properties` (name, value as text) applied; every value is
/// checked against the property's type, choices and range.
pub fn facelandmarks(properties: &[(String, String)]) -> anyhow::Result<gst::Element> {
    let element = gst::ElementFactory::make(ELEMENT).build().with_context(|| format!("creating {ELEMENT}"))?;
    for (name, text) in properties {
        set_property(&element, name, text)?;
    }
    Ok(element)
}

fn set_property(element: &gst::Element, name: &str, text: &str) -> anyhow::Result<()> {
    let Some(pspec) = element.find_property(name) else {
        let names: Vec<String> = element.list_properties().iter().map(|p| p.name().to_string()).collect();
        bail!("{ELEMENT} has no property '{name}'; its properties: {}", names.join(", "));
    };
    let value = if pspec.value_type() == String::static_type() {
        text.to_value()
    } else {
        gst::glib::Value::deserialize(text, pspec.value_type()).map_err(|_| match choices(&pspec) {
            Some(choices) => anyhow::anyhow!("{name}={text}: not one of {choices}"),
            None => anyhow::anyhow!("{name}={text}: not a valid {}", pspec.value_type().name()),
        })?
    };
    if !in_range(&pspec, &value) {
        bail!("{name}={text}: out of range for {ELEMENT} (see `gst-inspect-1.0 {ELEMENT}`)");
    }
    element.set_property_from_value(name, &value);
    Ok(())
}

/// The choices of an enum property, as "a, b, c".
fn choices(pspec: &gst::glib::ParamSpec) -> Option<String> {
    let class = gst::glib::EnumClass::with_type(pspec.value_type())?;
    Some(class.values().iter().map(|v| v.nick()).collect::<Vec<_>>().join(", "))
}

/// Whether `value` is within the property's range (GLib's validation would change it otherwise;
/// setting such a value through glib-rs panics).
fn in_range(pspec: &gst::glib::ParamSpec, value: &gst::glib::Value) -> bool {
    use gst::glib::translate::{ToGlibPtr, ToGlibPtrMut};
    let mut copy = value.clone();
    // SAFETY: both pointers are valid for the call; validation only modifies `copy`.
    let changed =
        unsafe { gst::glib::gobject_ffi::g_param_value_validate(pspec.to_glib_none().0, copy.to_glib_none_mut().0) };
    changed == 0
}

/// One frame as read from its meta.
#[derive(Debug, Clone)]
pub struct FrameRecord {
    pub index: usize,
    /// The buffer's presentation time.
    pub pts: Option<gst::ClockTime>,
    /// The meta's frame size, scheme and faces (empty, 0x0, when a buffer carried none).
    pub landmarks: Landmarks,
}

impl FrameRecord {
    /// The faces, as read from the meta.
    pub fn faces(&self) -> &[ReadFace] {
        &self.landmarks.faces
    }

    /// The frame as one `steadyface.landmarks/1` JSON object (docs/landmarks.schema.json).
    pub fn to_json(&self) -> FrameLandmarks {
        self.landmarks.to_json(self.index as u64, self.pts)
    }
}

/// A face's points at the precision the element computed them (the meta carries doubles).
pub fn points(face: &ReadFace) -> Vec<[f32; 2]> {
    face.points.iter().map(|p| [p[0] as f32, p[1] as f32]).collect()
}

/// What one run produced.
pub struct Run {
    pub frames: Vec<FrameRecord>,
    /// Wall time from the first buffer pushed to end of stream.
    pub seconds: f64,
}

/// Pushes `frames` (their buffers, as they are) through `facelandmarks` configured with
/// `properties`; with `overlay`, the annotated video is encoded (H.264 in MP4) into that file
/// through [`steadyface::output`] (written beside it and renamed when complete, or straight into
/// a device or FIFO). `on_frame` sees each frame's landmarks as they come.
pub fn run(
    frames: impl Iterator<Item = steadyface_train::Result<RawFrame>>,
    properties: &[(String, String)],
    overlay: Option<&Path>,
    mut on_frame: impl FnMut(&FrameRecord) -> anyhow::Result<()>,
) -> anyhow::Result<Run> {
    // The first frame sets the caps.
    let mut frames = frames;
    let first = frames.next().context("no frames to process")??;
    let (format, width, height) = (first.info.format(), first.info.width(), first.info.height());
    let frames = std::iter::once(Ok(first)).chain(frames);
    let landmarks = facelandmarks(properties)?;
    let pipeline = gst::Pipeline::new();
    let info = gst_video::VideoInfo::builder(format, width, height)
        .fps(gst::Fraction::new(30, 1))
        .build()
        .context("video caps")?;
    let caps = info.to_caps().context("video caps")?;
    let src = gst_app::AppSrc::builder().caps(&caps).format(gst::Format::Time).max_buffers(4).block(true).build();
    let mut chain: Vec<gst::Element> = vec![src.clone().upcast(), landmarks.clone()];
    let partial = overlay.map(Output::create).transpose()?;
    match &partial {
        Some(file) => {
            for name in ["landmarkoverlay", "videoconvert", "x264enc", "mp4mux", "filesink"] {
                let element = gst::ElementFactory::make(name).build().with_context(|| {
                    format!("GStreamer element {name} is missing (x264enc: Debian package gstreamer1.0-plugins-ugly; run `make setup`)")
                })?;
                chain.push(element);
            }
            chain[4].set_property_from_str("speed-preset", "veryfast");
            // Without B-frames mp4mux writes no edit list, so every frame is presented.
            chain[4].set_property("bframes", 0u32);
            chain[6].set_property("location", file.path().to_string_lossy().to_string());
        }
        None => chain.push(gst::ElementFactory::make("fakesink").property("sync", false).build().context("fakesink")?),
    }
    pipeline.add_many(&chain).context("building the pipeline")?;
    gst::Element::link_many(&chain).context("linking the pipeline")?;

    let (tx, rx) = mpsc::channel::<FrameRecord>();
    let pad = landmarks.static_pad("src").context("facelandmarks has no src pad")?;
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buffer) = info.buffer() {
            let landmarks = gststeadyface::meta::read_landmarks(buffer).unwrap_or_else(|| Landmarks {
                width: 0,
                height: 0,
                scheme: String::new(),
                faces: Vec::new(),
            });
            let _ = tx.send(FrameRecord { index: buffer.offset() as usize, pts: buffer.pts(), landmarks });
        }
        gst::PadProbeReturn::Ok
    });
    let bus = pipeline.bus().context("pipeline without bus")?;
    let bus_error = || -> Option<anyhow::Error> {
        let msg = bus.timed_pop_filtered(gst::ClockTime::from_seconds(2), &[gst::MessageType::Error])?;
        let gst::MessageView::Error(e) = msg.view() else { return None };
        Some(error_of(&msg, e))
    };
    let started = pipeline.set_state(gst::State::Playing);
    if started.is_err() {
        let e = bus_error().unwrap_or_else(|| anyhow::anyhow!("the pipeline could not start"));
        let _ = pipeline.set_state(gst::State::Null);
        return Err(e);
    }

    let mut records = Vec::new();
    let mut deliver = |record: FrameRecord, records: &mut Vec<FrameRecord>| -> anyhow::Result<()> {
        on_frame(&record)?;
        records.push(record);
        Ok(())
    };
    let start = Instant::now();
    let mut pushed = 0usize;
    let mut push_failed = false;
    let mut failure = None;
    for frame in frames {
        let frame = match frame {
            Ok(f) if (f.info.format(), f.info.width(), f.info.height()) == (format, width, height) => f,
            Ok(f) => {
                let (got, first) = if f.info.format() == format {
                    (format!("size {}x{}", f.info.width(), f.info.height()), format!("{width}x{height}"))
                } else {
                    (format!("format {:?}", f.info.format()), format!("{format:?}"))
                };
                failure = Some(anyhow::anyhow!("frame {}: {got} differs from the first frame's {first}", f.index));
                break;
            }
            Err(e) => {
                failure = Some(e.into());
                break;
            }
        };
        let mut buffer = frame.buffer;
        {
            // (The decoder keeps no reference: this writes in place, copying nothing.)
            let b = buffer.make_mut();
            b.set_pts(gst::ClockTime::from_nseconds((frame.time_s.max(0.0) * 1e9).round() as u64));
            b.set_offset(frame.index as u64);
            // A known duration keeps the last frame in the MP4 (mp4mux gives it this length).
            b.set_duration(gst::ClockTime::from_nseconds(1_000_000_000 / 30));
        }
        if src.push_buffer(buffer).is_err() {
            // The pipeline stopped: its error is on the bus (or it was told to stop).
            push_failed = true;
            break;
        }
        pushed += 1;
        while let Ok(record) = rx.try_recv() {
            if let Err(e) = deliver(record, &mut records) {
                failure = Some(e);
                break;
            }
        }
        if failure.is_some() {
            break;
        }
    }
    let _ = src.end_of_stream();
    // After a refused buffer no end of stream may come: wait for the error only a little.
    let wait = if push_failed { Some(gst::ClockTime::from_seconds(5)) } else { gst::ClockTime::NONE };
    let msg = if failure.is_none() {
        bus.timed_pop_filtered(wait, &[gst::MessageType::Eos, gst::MessageType::Error])
    } else {
        None
    };
    if push_failed && failure.is_none() && msg.is_none() {
        failure = Some(anyhow::anyhow!("the pipeline stopped taking frames after {pushed} frames"));
    }
    let seconds = start.elapsed().as_secs_f64();
    if let Some(gst::MessageView::Error(e)) = msg.as_ref().map(|m| m.view()) {
        failure = msg.as_ref().map(|m| error_of(m, e));
    }
    let _ = pipeline.set_state(gst::State::Null);
    if failure.is_none() {
        while let Ok(record) = rx.try_recv() {
            if let Err(e) = deliver(record, &mut records) {
                failure = Some(e);
                break;
            }
        }
    }
    if failure.is_none() && records.len() != pushed {
        failure = Some(anyhow::anyhow!("{pushed} frames pushed but {} came out of {ELEMENT}", records.len()));
    }
    // Dropped without a commit on failure, the overlay's temporary file is removed.
    if let Some(e) = failure {
        return Err(e);
    }
    if let Some(partial) = partial {
        partial.commit()?;
    }
    Ok(Run { frames: records, seconds })
}

/// An error message from the bus: the element, GStreamer's message, and its details (which
/// hold the element's own explanation, e.g. the missing model's path).
fn error_of(msg: &gst::Message, e: &gst::message::Error) -> anyhow::Error {
    let from = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
    let debug = e.debug().map(|d| format!(": {d}")).unwrap_or_default();
    anyhow::anyhow!("{from}: {}{debug}", e.error())
}
