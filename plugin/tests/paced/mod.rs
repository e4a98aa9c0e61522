//! Paced playback, as live apps run `facelandmarks`: frames released by the clock
//! (`identity sync=true`), a sink that drops late frames and sends QoS upstream
//! (`fakesink sync=true qos=true max-lateness=20ms`). Shared by tests/live.rs and benches/live.rs.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gststeadyface::meta;

/// What reached one stream's sink, and what the element did.
#[derive(Default)]
pub struct Stream {
    /// Frames rendered by the sink (late ones are dropped before rendering).
    pub rendered: usize,
    /// Their timestamps.
    pub times: Vec<gst::ClockTime>,
    /// Rendered frames with a face, and those of them stabilized.
    pub with_face: usize,
    pub stabilized: usize,
    pub track_ids: Vec<u64>,
    /// Per frame (its timestamp), the time from entering the element to leaving it, measured by
    /// pad probes.
    pub processing: Vec<(gst::ClockTime, Duration)>,
}

/// `identity sync=true ! [facelandmarks] ! fakesink sync=true qos=true max-lateness=20ms`, the
/// element with the shipped ConvLSTM stabilizer, whose state is what a paced stream must keep.
fn paced(video: &Path, name: &str, with_element: bool) -> String {
    let element = match with_element {
        true => format!("facelandmarks name=fl{name} stabilizer=shipped ! "),
        false => String::new(),
    };
    format!(
        "filesrc location={} ! decodebin ! identity sync=true ! {element}\
         fakesink name=sink{name} sync=true qos=true max-lateness=20000000 signal-handoffs=true ",
        video.display()
    )
}

/// Plays `streams` (video, with the element?) in one pipeline to EOS; returns what each stream's
/// sink rendered and the element's latency answer (upstream's subtracted) of the first stream.
pub fn play(streams: &[(&Path, bool)]) -> (Vec<Stream>, Option<Duration>) {
    let launch: String =
        streams.iter().enumerate().map(|(i, (video, with))| paced(video, &i.to_string(), *with)).collect();
    let pipeline = gst::parse::launch(&launch).unwrap().downcast::<gst::Pipeline>().unwrap();
    let stats: Vec<Arc<Mutex<Stream>>> = streams.iter().map(|_| Arc::default()).collect();
    for (i, stat) in stats.iter().enumerate() {
        let sink = pipeline.by_name(&format!("sink{i}")).unwrap();
        let store = stat.clone();
        sink.connect("handoff", false, move |args| {
            let buffer = args[1].get::<gst::Buffer>().expect("handoff buffer");
            let faces = meta::read(&buffer).map(|(_, faces)| faces).unwrap_or_default();
            let mut s = store.lock().unwrap();
            s.rendered += 1;
            s.times.extend(buffer.pts());
            if let Some(face) = faces.first() {
                s.with_face += 1;
                s.stabilized += usize::from(face.stabilized);
            }
            s.track_ids.extend(faces.iter().map(|f| f.track_id));
            None
        });
        if let Some(element) = pipeline.by_name(&format!("fl{i}")) {
            time_element(&element, stat.clone());
        }
    }
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(120), &[gst::MessageType::Eos, gst::MessageType::Error])
        .expect("EOS within 2 minutes");
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("{} ({:?})", e.error(), e.debug());
    }
    let mut latency = None;
    if let Some(element) = pipeline.by_name("fl0") {
        latency = element_latency(&element);
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let stats = stats.into_iter().map(|s| std::mem::take(&mut *s.lock().unwrap())).collect();
    (stats, latency)
}

/// Records, per buffer, the time between the element's sink and src pad probes.
fn time_element(element: &gst::Element, stat: Arc<Mutex<Stream>>) {
    let entered = Arc::new(Mutex::new(None::<Instant>));
    let mark = entered.clone();
    element.static_pad("sink").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        *mark.lock().unwrap() = Some(Instant::now());
        gst::PadProbeReturn::Ok
    });
    element.static_pad("src").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let pts = info.buffer().and_then(|b| b.pts());
        if let (Some(t), Some(pts)) = (entered.lock().unwrap().take(), pts) {
            stat.lock().unwrap().processing.push((pts, t.elapsed()));
        }
        gst::PadProbeReturn::Ok
    });
}

/// The element's own part of the latency: its answer minus its upstream's.
fn element_latency(element: &gst::Element) -> Option<Duration> {
    let min = |pad: &gst::Pad| {
        let mut q = gst::query::Latency::new();
        pad.query(&mut q).then(|| q.result().1)
    };
    let ours = min(&element.static_pad("src")?)?;
    let upstream = min(&element.static_pad("sink")?.peer()?)?;
    Some(Duration::from_nanos((ours - upstream).nseconds()))
}

pub fn percentile(times: impl IntoIterator<Item = Duration>, p: f64) -> Duration {
    let mut sorted: Vec<Duration> = times.into_iter().collect();
    sorted.sort();
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

impl Stream {
    /// The distinct track ids, in order of appearance.
    pub fn tracks(&self) -> Vec<u64> {
        let mut ids = self.track_ids.clone();
        ids.dedup();
        ids
    }

    /// The element's processing times, frame by frame.
    pub fn processing_times(&self) -> impl Iterator<Item = Duration> + '_ {
        self.processing.iter().map(|(_, took)| *took)
    }

    /// The frames of `base` (the same stream played without the element) that this run did
    /// not render, each with the element's processing time for it (`None`: it never left the
    /// element).
    #[allow(dead_code)] // tests/live.rs reads it; benches/live.rs shares the module
    pub fn missing(&self, base: &Stream) -> Vec<(gst::ClockTime, Option<Duration>)> {
        let took = |t: &gst::ClockTime| self.processing.iter().find(|(pts, _)| pts == t).map(|(_, d)| *d);
        base.times.iter().filter(|t| !self.times.contains(t)).map(|t| (*t, took(t))).collect()
    }
}
