//! `facelandmarks` in a paced pipeline, as live apps run it (see `paced`). One test in its own
//! binary, so no other test competes with it for the CPU.

mod common;
mod paced;

use common::testdata;
use paced::{Stream, percentile, play};

#[test]
fn paced_playback_keeps_up_keeps_each_track_and_answers_its_latency() {
    gst::init().unwrap();
    gststeadyface::plugin_register_static().unwrap();
    let video = testdata("single_face.mp4");
    // The same pipeline without the element, for what this machine renders at all (the first
    // frame is often late while the decoder starts); the first run of the process warms up. A
    // shared machine can stall a process for longer than a frame (CI lost 7 frames once in a run
    // whose frames took 4.3 ms at the median), so a play that loses more than two frames is
    // tried again, up to three times: an element that is too slow loses them in every try.
    play(&[(&video, false)]);
    let attempts = 3;
    let (mut with, mut latency, mut base) = (Vec::new(), None, 0);
    for attempt in 1..=attempts {
        let (without, _) = play(&[(&video, false)]);
        (with, latency) = play(&[(&video, true)]);
        base = without[0].rendered;
        eprintln!("one stream, try {attempt}: missing {:?}", missing_frames(&with[0], &without[0]));
        if with[0].rendered + 2 >= base {
            break;
        }
    }
    let s = &with[0];
    let ids = s.tracks();
    let (median, p95) = (percentile(s.processing_times(), 0.5), percentile(s.processing_times(), 0.95));
    eprintln!(
        "single_face.mp4 paced: {} of 72 frames rendered ({base} without the element), {} with a face, {} stabilized, \
         track ids {ids:?}; processing median {median:?}, p95 {p95:?}; latency answer {latency:?}",
        s.rendered, s.with_face, s.stabilized
    );
    assert!(
        s.rendered + 2 >= base,
        "the element costs frames in each of {attempts} tries: {} rendered against {base}",
        s.rendered
    );
    assert_eq!(ids.len(), 1, "one track for the one face: {ids:?}");
    assert!(s.with_face + 1 >= s.rendered, "the face is on every rendered frame");
    assert!(s.stabilized as f64 >= 0.95 * s.with_face as f64, "{} of {} stabilized", s.stabilized, s.with_face);
    let latency = latency.expect("the element answers the latency query");
    // Within 2x of the processing time as measured from outside.
    assert!(latency >= median / 2 && latency <= 2 * p95, "latency {latency:?} against median {median:?}, p95 {p95:?}");

    // Two streams in one process at once: both keep up, each with its own single track. Both
    // streams start at once, so their first frames (a search and a new track each) compete for
    // the two cores while the decoders start: from half a second on, at most one frame of 59 may
    // be lost (the 98% the live use asks for). A shared machine can stall a process for longer
    // than a frame (CI lost two frames at 1.63 s in both streams once, in a run whose every other
    // frame took 4-6 ms), so a play that loses more is tried again, up to three times: an element
    // that is too slow loses frames in every try.
    let mut settled = false;
    for attempt in 1..=attempts {
        let (two_without, _) = play(&[(&video, false), (&video, false)]);
        let (two, _) = play(&[(&video, true), (&video, true)]);
        settled = true;
        for (i, (s, base)) in two.iter().zip(&two_without).enumerate() {
            let ids = s.tracks();
            let missing = missing_frames(s, base);
            eprintln!(
                "two streams, try {attempt}, stream {i}: {} rendered ({} without the element; missing {missing:?}), track ids {ids:?}",
                s.rendered, base.rendered
            );
            let after_start = |s: &Stream| s.times.iter().filter(|t| t.mseconds() >= 500).count();
            settled &= after_start(s) + 1 >= after_start(base);
            assert!(s.rendered + 5 >= base.rendered, "stream {i}: {} rendered against {}", s.rendered, base.rendered);
            assert_eq!(ids.len(), 1, "stream {i}: {ids:?}");
        }
        if settled {
            break;
        }
    }
    assert!(settled, "in each of {attempts} tries, a stream lost more than one frame after 0.5 s (above)");
}

/// Each frame `base` rendered and `s` did not: its time, and the element's processing time for
/// it or "not processed" (dropped by QoS before the element).
fn missing_frames(s: &Stream, base: &Stream) -> Vec<String> {
    s.missing(base)
        .iter()
        .map(|(t, took)| {
            format!(
                "{} ms ({})",
                t.mseconds(),
                took.map_or("not processed".into(), |d| format!("processed in {d:.1?}"))
            )
        })
        .collect()
}
