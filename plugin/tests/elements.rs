//! The elements in real pipelines over ../shared/testdata with the default models.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::*;
use gst::prelude::*;
use gst_video::prelude::*;
use gststeadyface::meta::{self, ReadFace};

#[test]
fn single_face_video_has_one_tracked_face_every_frame() {
    let frames = run(&format!("{} ! facelandmarks ! fakesink name=sink", decode("single_face.mp4"))).unwrap();
    assert_eq!(frames.len(), 72);
    for (i, faces) in frames.iter().enumerate() {
        assert_eq!(faces.len(), 1, "frame {i}");
        assert_eq!(faces[0].points.len(), 68, "frame {i}");
        assert_eq!(faces[0].track_id, frames[0][0].track_id, "frame {i}: track id changed");
        assert!(!faces[0].stabilized, "frame {i}: no ConvLSTM stabilizer by default (smoothing=pose-residual)");
    }
}

/// The second backbone (face-api.js's net: NCHW, mean/std input, normalised coordinates, no
/// presence output), with its description and its own stabilizer beside it, runs in a paced
/// pipeline with only `backbone=` and `stabilizer=shipped` set: 68 stabilized points on every
/// frame, one track.
#[test]
fn the_second_backbone_runs_paced_with_its_own_stabilizer() {
    let backbone = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/face_api_landmark68.onnx");
    let frames = run(&format!(
        "{} ! identity sync=true ! facelandmarks backbone={} stabilizer=shipped \
         ! fakesink name=sink sync=true qos=true",
        decode("single_face.mp4"),
        backbone.display()
    ))
    .unwrap();
    // QoS may drop late frames on a loaded machine; keeping up is live.rs's subject.
    assert!(frames.len() >= 36, "{} of 72 frames", frames.len());
    for (i, faces) in frames.iter().enumerate() {
        assert_eq!(faces.len(), 1, "frame {i}");
        assert_eq!(faces[0].points.len(), 68, "frame {i}");
        assert!(faces[0].stabilized, "frame {i}: face_api_landmark68.stabilizer.onnx is loaded");
        assert_eq!(faces[0].track_id, frames[0][0].track_id, "frame {i}: track id changed");
    }
}

#[test]
fn the_default_stabilizer_steps_aside_with_a_warning_where_it_does_not_fit() {
    // The shipped stabilizer knows the 68 iBUG points; with the backbone's full point set the
    // pipeline runs without it and says so on the bus.
    // (`stabilizer=shipped` names the installed one.)
    let pipeline = parse(&format!(
        "{} ! facelandmarks full-scheme=true stabilizer=shipped ! fakesink name=sink",
        decode("single_face.mp4")
    ))
    .unwrap();
    let frames = record_faces(&pipeline);
    let warnings = play_to_eos(&pipeline);
    let warning = warnings.first().cloned();
    let warning = warning.expect("a warning that the stabilizer is skipped");
    assert!(warning.contains("running without a stabilizer") && warning.contains("68 heatmaps"), "{warning}");
    let frames = frames.lock().unwrap();
    assert_eq!(frames.len(), 72);
    for (i, faces) in frames.iter().enumerate() {
        assert!(faces.len() == 1 && faces[0].points.len() > 68 && !faces[0].stabilized, "frame {i}");
    }
}

#[test]
fn a_lost_face_ends_its_track_and_a_new_one_starts_fresh() {
    // face_noface.mov shows the face for 72 frames, then none; played twice in a row (concat),
    // the face comes back in the second part.
    let clip = testdata("face_noface.mov");
    let launch = format!(
        "concat name=c ! videoconvert ! facelandmarks ! fakesink name=sink \
         filesrc location={0} ! decodebin ! c. filesrc location={0} ! decodebin ! c.",
        clip.display()
    );
    let frames = run(&launch).unwrap();
    let presence: String = frames.iter().map(|f| if f.is_empty() { '.' } else { 'F' }).collect();
    let (first, second) = presence.split_at(frames.len() / 2);
    assert!(first.starts_with(&"F".repeat(60)) && first.ends_with(&".".repeat(60)), "{presence}");
    assert!(second.starts_with(&"F".repeat(60)), "{presence}");
    let ids = |part: &[Vec<ReadFace>]| -> Vec<u64> {
        let mut ids: Vec<u64> = part.iter().flatten().map(|f| f.track_id).collect();
        ids.dedup();
        ids
    };
    let (a, b) = frames.split_at(frames.len() / 2);
    assert_eq!(ids(a).len(), 1, "one track while the face is visible");
    assert_eq!(ids(b).len(), 1);
    assert!(ids(b)[0] > ids(a)[0], "the returning face gets a new track id");
    let first_of_b = b.iter().flatten().next().expect("a face in the second part");
    assert!(first_of_b.new_track, "the new track starts fresh");
    assert!(b.iter().flatten().skip(1).all(|f| !f.new_track));
}

#[test]
fn meta_survives_videoscale_and_videoconvert_with_scaled_coordinates() {
    let full = run(&format!("{} ! facelandmarks ! fakesink name=sink", decode("single_face.mp4"))).unwrap();
    let half = run(&format!(
        "{} ! facelandmarks ! videoconvert ! video/x-raw,format=I420 ! videoscale \
         ! video/x-raw,width=320,height=180 ! videoconvert ! video/x-raw,format=RGB ! fakesink name=sink",
        decode("single_face.mp4")
    ))
    .unwrap();
    assert_eq!(full.len(), half.len());
    let mut worst = 0.0f64;
    for (a, b) in full.iter().zip(&half) {
        assert_eq!(a.len(), 1);
        assert_eq!(b.len(), 1, "the meta made it through");
        for (p, q) in a[0].points.iter().zip(&b[0].points) {
            // Pixel centres: x_half = (x + 0.5) / 2 - 0.5.
            let want = [(p[0] + 0.5) / 2.0 - 0.5, (p[1] + 0.5) / 2.0 - 0.5];
            worst = worst.max((want[0] - q[0]).abs().max((want[1] - q[1]).abs()));
        }
    }
    assert!(worst < 1e-6, "points off by {worst} px after scaling");

    // The face ROI meta: its rectangle is scaled; GStreamer 1.22's ROI meta transform does not
    // copy its parameter structures, so the `landmarks` parameter is gone (README says so).
    let pipeline = parse(&format!(
        "{} ! facelandmarks ! videoconvert ! videoscale ! video/x-raw,width=320,height=180 ! fakesink name=sink",
        decode("single_face.mp4")
    ))
    .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let store = seen.clone();
    pipeline.by_name("sink").unwrap().static_pad("sink").unwrap().add_probe(
        gst::PadProbeType::BUFFER,
        move |_, info| {
            if let Some(buf) = info.buffer() {
                for roi in buf.iter_meta::<gst_video::VideoRegionOfInterestMeta>() {
                    store.lock().unwrap().push((roi.rect(), roi.params().count()));
                }
            }
            gst::PadProbeReturn::Ok
        },
    );
    play_to_eos(&pipeline);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 72, "one face ROI per frame");
    for (((x, y, w, _), params), faces) in seen.iter().zip(&full) {
        let b = faces[0].bbox;
        assert!((*x as f64 - b[0] / 2.0).abs() <= 1.0 && (*y as f64 - b[1] / 2.0).abs() <= 1.0, "scaled rect");
        assert!((*w as f64 - b[2] / 2.0).abs() <= 1.5);
        assert_eq!(*params, 0, "GStreamer now keeps ROI parameters through videoscale: update the README");
    }
}

/// Runs einstein.jpg (3 frames) through facelandmarks with an upstream face ROI meta of `rect`
/// added to every buffer; returns the faces of each frame.
fn with_upstream_roi(rect: (u32, u32, u32, u32)) -> (Frames, RoiRecord) {
    let (frames, ending, rois) = einstein_with_rois(vec![("face", rect)]);
    assert!(ending.error.is_none(), "{ending:?}");
    (frames, rois)
}

#[test]
fn upstream_face_rois_replace_the_detector() {
    // The box of einstein.pts' 68 points (1-based, so -1), grown by 10%: an upstream tracker's box.
    let pts = steadyface::pts::read_pts(&testdata("einstein.pts")).unwrap();
    let (lo, hi) = pts.iter().fold(([f32::MAX; 2], [f32::MIN; 2]), |(lo, hi), p| {
        ([lo[0].min(p[0]), lo[1].min(p[1])], [hi[0].max(p[0]), hi[1].max(p[1])])
    });
    let (w, h) = ((hi[0] - lo[0]) * 1.1, (hi[1] - lo[1]) * 1.1);
    let rect = ((lo[0] - w * 0.05) as u32, (lo[1] - h * 0.05) as u32, w as u32, h as u32);
    let (frames, rois) = with_upstream_roi(rect);
    assert_eq!(frames.len(), 3);
    for faces in &frames {
        assert_eq!(faces.len(), 1);
        let pred: Vec<[f32; 2]> = faces[0].points.iter().map(|p| [p[0] as f32, p[1] as f32]).collect();
        let e = steadyface::metrics::nme(&pred, &pts, &steadyface::metrics::inner49());
        assert!(e < 0.10, "inner-49 NME {e} from the upstream box");
    }
    // The same track all along: the upstream box keeps it alive.
    assert!(frames.iter().all(|f| f[0].track_id == frames[0][0].track_id));
    // Secondary mode: the landmarks go onto the upstream ROI (its id, 100, kept); no second ROI.
    assert_eq!(rois.len(), 3);
    for (faces, rois) in frames.iter().zip(&rois) {
        assert_eq!(rois, &[("face".to_string(), 100, true)], "one ROI per face, the upstream one, with landmarks");
        assert_eq!(faces[0].roi_id, Some(100), "the meta names the upstream ROI");
    }
    // A box on the empty top-left corner: the landmark model finds no face there, and the
    // detector (which would find Einstein) is not run.
    let (empty, rois) = with_upstream_roi((0, 0, 150, 150));
    assert!(empty.iter().all(|f| f.is_empty()), "{:?}", empty.iter().map(|f| f.len()).collect::<Vec<_>>());
    // The upstream ROI without a face passes as it came: no landmarks, no ROI added.
    assert!(rois.iter().all(|r| r == &[("face".to_string(), 100, false)]), "{rois:?}");
}

#[test]
fn two_streams_in_one_pipeline_keep_their_own_faces_and_messages_carry_running_time() {
    init();
    // Two facelandmarks side by side: a one-face video and a five-face photo.
    let launch = format!(
        "{} ! facelandmarks name=a post-messages=true ! fakesink name=sink \
         filesrc location={} ! jpegdec ! imagefreeze num-buffers=10 ! videoconvert \
         ! facelandmarks name=b search-budget=0 ! fakesink",
        decode("single_face.mp4"),
        testdata("multi_face.jpg").display()
    );
    let pipeline = gst::parse::launch(&launch).unwrap().downcast::<gst::Bin>().unwrap();
    let counts = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    for (name, first) in [("a", true), ("b", false)] {
        let store = counts.clone();
        let pad = pipeline.by_name(name).unwrap().static_pad("src").unwrap();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let n = info.buffer().and_then(|b| meta::read(b)).map(|(_, f)| f.len()).unwrap_or(usize::MAX);
            let mut c = store.lock().unwrap();
            if first {
                c.0.push(n)
            } else {
                c.1.push(n)
            }
            gst::PadProbeReturn::Ok
        });
    }
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let mut messages = 0;
    loop {
        let msg = bus
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(120),
                &[gst::MessageType::Eos, gst::MessageType::Error, gst::MessageType::Element],
            )
            .expect("a message");
        match msg.view() {
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                if s.name() == "steadyface-landmarks" {
                    assert!(s.get::<Option<gst::ClockTime>>("running-time").unwrap().is_some());
                    assert_eq!(s.get::<gst::Array>("faces").unwrap().len(), 1);
                    messages += 1;
                }
            }
            gst::MessageView::Eos(_) => break,
            _ => panic!("error: {msg:?}"),
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let (a, b) = counts.lock().unwrap().clone();
    assert_eq!(messages, 72, "one message per frame of stream a");
    assert!(a.len() == 72 && a.iter().all(|&n| n == 1), "{a:?}");
    assert!(b.len() == 10 && b.iter().all(|&n| n == 5), "{b:?}");
}

#[test]
fn five_faces_in_a_still_image() {
    let launch = format!(
        "filesrc location={} ! decodebin ! imagefreeze num-buffers=3 ! videoconvert ! facelandmarks search-budget=0 \
         ! fakesink name=sink",
        testdata("multi_face.jpg").display()
    );
    let frames = run(&launch).unwrap();
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().all(|f| f.len() == 5 && f.iter().all(|face| face.points.len() == 68)));
}

#[test]
fn a_seek_starts_new_tracks() {
    let (pipeline, seen) = single_face_pipeline(false);
    preroll(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    // Let some frames through, then seek back to the start (flushing).
    while seen.lock().unwrap().len() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let before = seen.lock().unwrap().len();
    pipeline.seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE, gst::ClockTime::ZERO).expect("seek");
    finish(&pipeline).unwrap();
    let frames = seen.lock().unwrap();
    let first_id = frames[0][0].track_id;
    // After the seek a frame with a new track (higher id, new-track set) follows.
    let restart = frames[before.min(frames.len())..]
        .iter()
        .flatten()
        .find(|f| f.track_id != first_id)
        .expect("a new track after the seek");
    assert!(restart.track_id > first_id && restart.new_track);
}

#[test]
fn thresholds_and_smoothing_change_while_playing() {
    let pipeline =
        parse(&format!("{} ! facelandmarks name=fl ! fakesink name=sink sync=false", decode("single_face.mp4")))
            .unwrap();
    let seen = record_faces(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    while seen.lock().unwrap().len() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let element = pipeline.by_name("fl").unwrap();
    element.set_property_from_str("smoothing", "one-euro");
    element.set_property_from_str("decoder", "subpixel");
    element.set_property("min-face-score", 0.3f32);
    assert!(element.property::<bool>("motion-compensation"), "on by default");
    element.set_property("motion-compensation", false);
    assert!(!element.property::<bool>("motion-compensation"));
    assert_eq!(enum_nick(&element, "decoder"), "subpixel");
    assert_eq!(enum_nick(&element, "smoothing"), "one-euro");
    finish(&pipeline).unwrap();
    let frames = seen.lock().unwrap();
    assert_eq!(frames.len(), 72);
    assert!(frames.iter().all(|f| f.len() == 1));
}

#[test]
fn choices_are_enums_and_a_bad_one_fails_the_launch_line() {
    init();
    let element = gst::ElementFactory::make("facelandmarks").build().unwrap();
    for (name, default, choices) in [
        ("decoder", "pdc-soft", &["pdc", "pdc-soft", "argmax", "subpixel"][..]),
        ("smoothing", "pose-residual", &["none", "one-euro", "pose-residual"][..]),
        ("device", "auto", &["auto", "cpu", "cuda"][..]),
    ] {
        assert_eq!(enum_nick(&element, name), default);
        let class = gst::glib::EnumClass::with_type(element.find_property(name).unwrap().value_type()).unwrap();
        let nicks: Vec<&str> = class.values().iter().map(|v| v.nick()).collect();
        assert_eq!(nicks, choices, "{name}");
    }
    let err = parse("videotestsrc num-buffers=1 ! facelandmarks decoder=bogus ! fakesink name=sink").unwrap_err();
    assert!(err.contains("decoder") && err.contains("bogus"), "{err}");
}

#[test]
fn no_face_video_runs_to_eos_without_faces() {
    let frames = run(&format!("{} ! facelandmarks ! fakesink name=sink", decode("no_face.mp4"))).unwrap();
    // Every decoded frame passes (the container holds 96 samples).
    let decoded = run(&format!("{} ! fakesink name=sink", decode("no_face.mp4"))).unwrap();
    assert_eq!(frames.len(), decoded.len());
    assert!(frames.len() > 90);
    assert!(frames.iter().all(|f| f.is_empty()));
}

#[test]
fn i420_frames_are_read_without_conversion() {
    // Same video, but the element sees the decoder's I420 directly; the face must be found too.
    let launch =
        format!("{} ! video/x-raw,format=I420 ! facelandmarks ! fakesink name=sink", decode("single_face.mp4"));
    let frames = run(&launch).unwrap();
    assert!(frames.iter().all(|f| f.len() == 1));
}

#[test]
fn odd_frame_sizes_and_padded_strides_are_read_right() {
    // 321x183: odd luma and chroma sizes, and rows padded to 4 bytes in every format below.
    for format in ["I420", "NV12", "RGB", "BGRx"] {
        let launch = format!(
            "{} ! videoscale ! video/x-raw,width=321,height=183 ! videoconvert ! video/x-raw,format={format} \
             ! facelandmarks ! fakesink name=sink",
            decode("single_face.mp4")
        );
        let frames = run(&launch).unwrap();
        assert_eq!(frames.len(), 72, "{format}");
        assert!(frames.iter().all(|f| f.len() == 1), "{format}: the face in every frame");
    }
}

#[test]
fn missing_model_is_an_element_error_naming_the_path() {
    let launch =
        format!("{} ! facelandmarks backbone=/nonexistent/model.onnx ! fakesink name=sink", decode("single_face.mp4"));
    let err = run(&launch).unwrap_err();
    assert!(err.contains("/nonexistent/model.onnx"), "{err}");
}

#[test]
fn a_bad_backbone_description_is_an_element_error_naming_the_file_and_the_field() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bad-description-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("landmarks.onnx");
    let shipped = steadyface::models_dir::default_model(steadyface::models_dir::BACKBONE);
    std::fs::copy(&shipped, &model).unwrap();
    let description = std::fs::read_to_string(shipped.with_extension("json")).unwrap();
    std::fs::write(model.with_extension("json"), description.replace("\"face_scale\": 1.5", "\"face_scale\": 0"))
        .unwrap();
    let launch =
        format!("{} ! facelandmarks backbone={} ! fakesink name=sink", decode("single_face.mp4"), model.display());
    let err = run(&launch).unwrap_err();
    let want = format!("{}: crop.face_scale: 0: must be > 0", model.with_extension("json").display());
    assert!(err.contains(&want), "want {want:?} in {err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn overlay_draws_the_points_where_the_meta_says() {
    // Draw 1-px green points on RGB, then check the pixel under each point is green.
    init();
    let launch = format!(
        "{} ! video/x-raw,format=RGB ! facelandmarks ! landmarkoverlay radius=1 draw-box=false point-color=0xff00ff00 ! fakesink name=sink",
        decode("single_face.mp4")
    );
    let pipeline = gst::parse::launch(&launch).unwrap().downcast::<gst::Bin>().unwrap();
    let checked = Arc::new(Mutex::new(0usize));
    let counter = checked.clone();
    let pad = pipeline.by_name("sink").unwrap().static_pad("sink").unwrap();
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let caps = pad.current_caps().unwrap();
        let vinfo = gst_video::VideoInfo::from_caps(&caps).unwrap();
        let buf = info.buffer().unwrap();
        let (_, faces) = meta::read(buf).unwrap();
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &vinfo).unwrap();
        let (data, stride) = (frame.plane_data(0).unwrap(), frame.plane_stride()[0] as usize);
        for p in &faces[0].points {
            let (x, y) = (p[0].round() as usize, p[1].round() as usize);
            let px = &data[y * stride + x * 3..][..3];
            assert_eq!(px, [0, 255, 0], "pixel at {x},{y}");
        }
        *counter.lock().unwrap() += 1;
        gst::PadProbeReturn::Ok
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg =
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(300), &[gst::MessageType::Eos, gst::MessageType::Error]);
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(matches!(msg.map(|m| m.type_()), Some(gst::MessageType::Eos)));
    assert_eq!(*checked.lock().unwrap(), 72);
}

#[test]
fn python_example_prints_the_landmarks() {
    let out = with_built_plugin("/usr/bin/python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/print_landmarks.py"))
        .arg(testdata("single_face.mp4"))
        .args(["--max-frames", "5"])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    for (i, line) in lines.iter().enumerate() {
        // Each line: {"schema": "steadyface.landmarks/1", "frame": i, ..., "faces": [{..., "points": [[x, y] x 68], ...}]}
        let line: serde_json::Value = serde_json::from_str(line).expect("JSON");
        assert_eq!((&line["schema"], &line["frame"]), (&"steadyface.landmarks/1".into(), &i.into()), "{line}");
        assert_eq!(line["faces"][0]["points"].as_array().map(Vec::len), Some(68), "{line}");
    }
}

#[test]
fn gst_inspect_lists_the_plugin() {
    let out = with_built_plugin("gst-inspect-1.0").arg("steadyface").output().expect("gst-inspect-1.0 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(["facelandmarks", "landmarkoverlay", "landmarkpublish"].iter().all(|e| stdout.contains(e)), "{stdout}");
}

/// The element on its own in a `gst_check::Harness`: a frame of `multi_face.jpg` pushed as RGB
/// comes back unchanged, with the meta (five faces) and one face ROI meta per face.
#[test]
fn harness_passes_the_frame_through_with_metas() {
    init();
    let img = image::open(testdata("multi_face.jpg")).expect("test image").to_rgb8();
    let (w, h) = (img.width(), img.height());
    let mut harness = gst_check::Harness::new("facelandmarks");
    // A still image: every face from the first frame on.
    harness.element().unwrap().set_property("search-budget", 0u32);
    let caps = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, w, h).build().unwrap().to_caps().unwrap();
    harness.set_src_caps(caps);
    let pixels = img.into_raw();
    let out = harness.push_and_pull(gst::Buffer::from_slice(pixels.clone())).expect("a buffer back");
    let map = out.map_readable().unwrap();
    // Pixels untouched (RGB rows of 3000 bytes need no padding).
    assert_eq!(map.as_slice(), &pixels[..]);
    let ((mw, mh), faces) = meta::read(&out).expect("landmarks meta");
    assert_eq!((mw, mh), (w, h));
    assert_eq!(faces.len(), 5);
    let rois: Vec<_> = out.iter_meta::<gst_video::VideoRegionOfInterestMeta>().collect();
    assert_eq!(rois.len(), 5);
    assert!(rois.iter().all(|r| r.roi_type() == "face" && r.params().any(|p| p.name() == "landmarks")));
}

/// A stabilizer whose output is NaN: every face keeps its backbone points, marked unstabilized,
/// and the bus gets one warning for the stream, not one per frame.
#[test]
fn a_nan_stabilizer_warns_once_and_leaves_the_backbone_points() {
    use steadyface::onnx::{ConvLstmSpec, ConvLstmWeights, convlstm_model, write_model};
    let dir = std::env::temp_dir().join(format!("sf-nan-stabilizer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nan.onnx");
    let mut weights = ConvLstmWeights::identity(ConvLstmSpec { points: 68, hidden: 2, kernel: 3 });
    weights.out_b = vec![f32::NAN];
    write_model(&path, &convlstm_model(&weights).unwrap()).unwrap();
    let launch =
        format!("{} ! facelandmarks stabilizer={} ! fakesink name=sink", decode("single_face.mp4"), path.display());
    let pipeline = parse(&launch).unwrap();
    let frames = record_faces(&pipeline);
    let warnings = play_to_eos(&pipeline);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("stabilizer") && warnings[0].contains("not finite"), "{warnings:?}");
    let frames = frames.lock().unwrap();
    assert_eq!(frames.len(), 72);
    assert!(
        frames.iter().all(|f| f.len() == 1 && !f[0].stabilized && f[0].points.iter().flatten().all(|v| v.is_finite()))
    );
}

/// Models and device load in start(): set while playing they are refused with a warning and
/// read back unchanged, instead of being accepted and silently unused.
#[test]
fn model_properties_are_refused_while_playing() {
    let pipeline =
        parse("videotestsrc num-buffers=600 ! facelandmarks name=fl ! fakesink name=sink sync=true").unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let (changed, state, _) = pipeline.state(gst::ClockTime::from_seconds(30));
    assert!(changed.is_ok() && state == gst::State::Playing);
    let element = pipeline.by_name("fl").unwrap();
    let backbone: String = element.property("backbone");
    element.set_property("backbone", "/elsewhere/model.onnx");
    element.set_property("full-scheme", true);
    element.set_property_from_str("device", "cpu");
    assert_eq!(element.property::<String>("backbone"), backbone);
    assert!(!element.property::<bool>("full-scheme"));
    assert_eq!(enum_nick(&element, "device"), "auto");
    let bus = pipeline.bus().unwrap();
    let warning =
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Warning]).expect("a warning");
    let gst::MessageView::Warning(w) = warning.view() else { unreachable!() };
    assert!(w.error().to_string().contains("backbone changes only in the NULL or READY state"), "{}", w.error());
    pipeline.set_state(gst::State::Null).unwrap();
    // Stopped, it is taken.
    element.set_property("full-scheme", true);
    assert!(element.property::<bool>("full-scheme"));
}

/// GST_DEBUG=facelandmarks:5 tells a user what the element did: each search with its time and
/// result, each track's start and end with the reason, each reset with its cause.
#[test]
fn the_debug_log_tells_searches_tracks_and_resets() {
    init();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let store = lines.clone();
    gst::log::set_threshold_for_name("facelandmarks", gst::DebugLevel::Debug);
    gst::log::set_active(true);
    // Only what the log function gets, not GStreamer's default output on stderr.
    gst::log::remove_default_log_function();
    let log = gst::log::add_log_function(move |cat, _level, _file, _function, _line, object, message| {
        // Naming an object takes its lock: only for this category, which never logs under it.
        if cat.name() == "facelandmarks" && object.is_some_and(|o| o.to_string().contains("logged")) {
            store.lock().unwrap().extend(message.get().map(|m| m.to_string()));
        }
    });
    run(&format!("{} ! facelandmarks name=logged ! fakesink name=sink", decode("face_noface.mov"))).unwrap();
    gst::log::remove_log_function(log);
    gst::log::set_threshold_for_name("facelandmarks", gst::DebugLevel::None);
    let lines = lines.lock().unwrap();
    let has = |text: &str| lines.iter().any(|l| l.contains(text));
    assert!(has("reset (stream start)"), "{lines:#?}");
    assert!(has("no face tracked: searched 1 region(s) in "), "{lines:#?}");
    assert!(has("background sweep of the first frame's tiles: "), "{lines:#?}");
    assert!(has("track 1 started (detector score "), "{lines:#?}");
    assert!(has("track 1 ended: face lost (presence score "), "{lines:#?}");
}

/// No thread of the element outlives its pipeline: every process exits without ONNX Runtime
/// complaining that a session was used while it tore down (about a third of runs before).
#[test]
fn processes_exit_cleanly() {
    for _ in 0..10 {
        let out = with_built_plugin("gst-launch-1.0")
            .args(["-q", "filesrc", &format!("location={}", testdata("single_face.mp4").display())])
            .args(["!", "decodebin", "!", "facelandmarks", "!", "fakesink"])
            .output()
            .expect("gst-launch-1.0");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(!stderr.contains("not implemented") && !stderr.contains("CRITICAL"), "{stderr}");
    }
}
