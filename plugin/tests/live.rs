//! `facelandmarks` in a paced pipeline, as live apps run it: frames released by the clock
//! (`identity sync=true`), a sink that drops late frames and sends QoS upstream. One test in its
//! own binary, so no other test competes with it for the CPU.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gststeadyface::meta;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata").join(name)
}

/// What reached one stream's sink, and what the element did.
#[derive(Default)]
struct Stream {
    /// Frames rendered by the sink (late ones are dropped before rendering).
    rendered: usize,
    /// Their timestamps.
    times: Vec<gst::ClockTime>,
    /// Rendered frames with a face, and those of them stabilized.
    with_face: usize,
    stabilized: usize,
    track_ids: Vec<u64>,
    /// Per frame, the time from entering the element to leaving it, measured by pad probes.
    processing: Vec<Duration>,
}

/// `identity sync=true ! [facelandmarks] ! fakesink sync=true qos=true max-lateness=20ms`.
fn paced(video: &str, name: &str, with_element: bool) -> String {
    let element = if with_element { format!("facelandmarks name=fl{name} ! ") } else { String::new() };
    format!(
        "filesrc location={} ! decodebin ! identity sync=true ! {element}\
         fakesink name=sink{name} sync=true qos=true max-lateness=20000000 signal-handoffs=true ",
        testdata(video).display()
    )
}

/// Plays `streams` (video, with the element?) in one pipeline to EOS; returns what each stream's
/// sink rendered and the element's latency answer (upstream's subtracted) of the first stream.
fn play(streams: &[(&str, bool)]) -> (Vec<Stream>, Option<Duration>) {
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
    element.static_pad("src").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        if let Some(t) = entered.lock().unwrap().take() {
            stat.lock().unwrap().processing.push(t.elapsed());
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

fn percentile(times: &[Duration], p: f64) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[test]
fn paced_playback_keeps_up_keeps_each_track_and_answers_its_latency() {
    gst::init().unwrap();
    gststeadyface::plugin_register_static().unwrap();
    // The same pipeline without the element, for what this machine renders at all (the first
    // frame is often late while the decoder starts); the first run of the process warms up.
    play(&[("single_face.mp4", false)]);
    let (without, _) = play(&[("single_face.mp4", false)]);
    let (with, latency) = play(&[("single_face.mp4", true)]);
    let (s, base) = (&with[0], without[0].rendered);
    let mut ids = s.track_ids.clone();
    ids.dedup();
    let (median, p95) = (percentile(&s.processing, 0.5), percentile(&s.processing, 0.95));
    eprintln!(
        "single_face.mp4 paced: {} of 72 frames rendered ({base} without the element), {} with a face, {} stabilized, \
         track ids {ids:?}; processing median {median:?}, p95 {p95:?}; latency answer {latency:?}",
        s.rendered, s.with_face, s.stabilized
    );
    assert!(s.rendered + 2 >= base, "the element costs frames: {} rendered against {base}", s.rendered);
    assert_eq!(ids.len(), 1, "one track for the one face: {ids:?}");
    assert!(s.with_face + 1 >= s.rendered, "the face is on every rendered frame");
    assert!(s.stabilized as f64 >= 0.95 * s.with_face as f64, "{} of {} stabilized", s.stabilized, s.with_face);
    let latency = latency.expect("the element answers the latency query");
    // Within 2x of the processing time as measured from outside.
    assert!(latency >= median / 2 && latency <= 2 * p95, "latency {latency:?} against median {median:?}, p95 {p95:?}");

    // Two streams in one process at once: both keep up, each with its own single track. Both
    // streams start at once, so their first frames (a search and a new track each) compete for
    // the two cores while the decoders start: from half a second on, no frame may be lost.
    let (two_without, _) = play(&[("single_face.mp4", false), ("single_face.mp4", false)]);
    let (two, _) = play(&[("single_face.mp4", true), ("single_face.mp4", true)]);
    for (i, (s, base)) in two.iter().zip(&two_without).enumerate() {
        let mut ids = s.track_ids.clone();
        ids.dedup();
        let missing: Vec<u64> = base.times.iter().filter(|t| !s.times.contains(t)).map(|t| t.mseconds()).collect();
        eprintln!(
            "two streams, stream {i}: {} rendered ({} without the element; missing at ms {missing:?}), track ids {ids:?}",
            s.rendered, base.rendered
        );
        let settled = |s: &Stream| s.times.iter().filter(|t| t.mseconds() >= 500).count();
        assert!(
            settled(s) >= settled(base),
            "stream {i}: {} rendered after 0.5 s against {}",
            settled(s),
            settled(base)
        );
        assert!(s.rendered + 5 >= base.rendered, "stream {i}: {} rendered against {}", s.rendered, base.rendered);
        assert_eq!(ids.len(), 1, "stream {i}: {ids:?}");
    }
}
