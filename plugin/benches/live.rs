//! `facelandmarks` live, measured: paced playback (frames released by the clock, a sink dropping
//! late frames with QoS on, see tests/paced) of the demo video and single_face.mp4 with and
//! without the element in the same run, two streams at once, and the CPU a frame without a face
//! costs against a tracked frame of the same size.
//!
//!     cargo bench -p gst-plugin-steadyface --bench live [-- --rounds N] [--only paced|cpu]
//!
//! The demo video is the one `make setup` fetches into .cache/sample.

#[path = "../tests/paced/mod.rs"]
mod paced;

use std::path::{Path, PathBuf};
use std::time::Duration;

use gst::prelude::*;
use paced::{Stream, percentile, play};
use steadyface::runtime::Device;
use steadyface::scheme::Scheme;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// CPU time (user + system) of this process so far, from /proc/self/stat (clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    // After the command name: state is field 3, utime 14 and stime 15 (1-based, man proc).
    let ticks = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(14) + ticks(15)) / 100.0
}

/// Runs `launch` to EOS as fast as it goes; returns (frames at the sink named `sink`, CPU s).
fn unpaced(launch: &str) -> (usize, f64) {
    let pipeline = gst::parse::launch(launch).expect("pipeline").downcast::<gst::Pipeline>().unwrap();
    let frames = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = frames.clone();
    pipeline.by_name("sink").expect("sink").static_pad("sink").unwrap().add_probe(
        gst::PadProbeType::BUFFER,
        move |_, _| {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        },
    );
    let before = cpu_seconds();
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::NONE, &[gst::MessageType::Eos, gst::MessageType::Error]);
    if let Some(gst::MessageView::Error(e)) = msg.as_ref().map(|m| m.view()) {
        panic!("{launch}: {}", e.error());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (frames.load(std::sync::atomic::Ordering::Relaxed), cpu_seconds() - before)
}

/// The element's CPU per frame (ms) on `source` (a decoding pipeline ending in raw video): the
/// pipeline with `facelandmarks PROPS` minus the same without it.
fn element_cpu_ms(source: &str, props: &str) -> f64 {
    let (n, without) = unpaced(&format!("{source} ! fakesink name=sink sync=false"));
    let (m, with) = unpaced(&format!("{source} ! facelandmarks {props} ! fakesink name=sink sync=false"));
    assert_eq!(n, m, "the element passes every frame");
    (with - without) * 1e3 / n as f64
}

fn row(video: &str, streams: usize, round: usize, frames: usize, base: &Stream, s: &Stream, latency: Option<Duration>) {
    let latency = latency.map_or("-".to_string(), |l| format!("{:.1}", ms(l)));
    println!(
        "| {video} | {streams} | {round} | {frames} | {} | {} | {} | {} / {} | {:.1} / {:.1} | {latency} |",
        base.rendered,
        s.rendered,
        s.tracks().len(),
        s.stabilized,
        s.with_face,
        ms(percentile(s.processing_times(), 0.5)),
        ms(percentile(s.processing_times(), 0.95)),
    );
}

fn main() {
    gst::init().expect("GStreamer");
    gststeadyface::plugin_register_static().expect("plugin");
    let option = |name: &str| std::env::args().skip_while(|a| a != name).nth(1);
    let rounds: usize = option("--rounds").and_then(|v| v.parse().ok()).unwrap_or(3);
    let only = option("--only");
    let wants = |section: &str| only.as_deref().is_none_or(|o| o == section);
    let testdata = root().join("../shared/testdata");
    let demo = root().join(".cache/sample/WolfgangLanger_Pexels.mp4");
    assert!(demo.is_file(), "{} missing: run `make setup`", demo.display());
    let single = testdata.join("single_face.mp4");
    let clips: [(&str, &Path); 2] = [("WolfgangLanger_Pexels.mp4", &demo), ("single_face.mp4", &single)];
    if wants("paced") {
        paced_playback(&clips, &single, rounds);
    }
    if wants("cpu") {
        cpu_per_frame(&demo, &testdata, rounds);
    }
}

fn paced_playback(clips: &[(&str, &Path)], single: &Path, rounds: usize) {
    println!(
        "## Paced playback (identity sync=true ! facelandmarks ! fakesink sync=true qos=true max-lateness=20ms)\n"
    );
    println!(
        "| video | streams | round | frames | rendered without the element | rendered with | track ids | stabilized / with a face | processing p50 / p95 ms | latency answer ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    play(&[(single, false)]); // the process's first pipeline warms up the decoders
    for round in 1..=rounds {
        for &(name, path) in clips {
            let frames =
                unpaced(&format!("filesrc location={} ! decodebin ! fakesink name=sink sync=false", path.display())).0;
            let (without, _) = play(&[(path, false)]);
            let (with, latency) = play(&[(path, true)]);
            row(name, 1, round, frames, &without[0], &with[0], latency);
            let (without, _) = play(&[(path, false), (path, false)]);
            let (with, _) = play(&[(path, true), (path, true)]);
            for (base, s) in without.iter().zip(&with) {
                row(name, 2, round, frames, base, s, None);
            }
        }
    }
}

fn cpu_per_frame(demo: &Path, testdata: &Path, rounds: usize) {
    // The models stay loaded for the whole section, as in a process whose pipelines come and go:
    // each run's element then reuses their sessions, and the CPU counted is the frames'.
    let paths = steadyface::pipeline::ModelPaths {
        detector: steadyface::models_dir::default_model(steadyface::models_dir::DETECTOR),
        backbone: steadyface::models_dir::default_model(steadyface::models_dir::BACKBONE),
        stabilizer: Some(steadyface::models_dir::default_model(steadyface::models_dir::STABILIZER)),
    };
    let _loaded = steadyface::pipeline::Models::load(&paths, Device::Auto, Scheme::Ibug68).expect("default models");
    println!("\n## CPU per frame of the element, 960x540, unpaced (pipeline with the element minus without)\n");
    println!(
        "| round | tracked frame (demo video scaled) ms | frame without a face (no_face.mp4) ms | ratio | no face, search-budget=0 (whole pyramid every frame) ms |"
    );
    println!("|---|---|---|---|---|");
    let tracked_source = format!(
        "filesrc location={} ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=960,height=540",
        demo.display()
    );
    let empty_source = format!("filesrc location={} ! decodebin", testdata.join("no_face.mp4").display());
    for round in 1..=rounds {
        let tracked = element_cpu_ms(&tracked_source, "");
        let empty = element_cpu_ms(&empty_source, "");
        let pyramid = element_cpu_ms(&empty_source, "search-budget=0");
        println!("| {round} | {tracked:.2} | {empty:.2} | {:.2} | {pyramid:.2} |", empty / tracked);
    }
}
