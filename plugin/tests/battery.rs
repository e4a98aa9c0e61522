//! Issue 22's battery of bad input, faults and load, element side: odd sizes and formats, caps
//! changes, seeks, state changes, corrupt and mismatched models, nonsense upstream ROIs and
//! property abuse, each with the outcome it must have. The slow cases (8K frames, 50 faces, 300
//! state cycles, 8 pipelines at once, a 30,000-frame soak) are `#[ignore]`d: run them with
//! `cargo test --release -p gst-plugin-steadyface --test battery -- --ignored` (README).

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use gst::prelude::*;
use gst_video::VideoFormat;
use gststeadyface::meta::{self, ReadFace};

/// What reached the sink per buffer: the meta's frame size and faces (None: no meta).
type Metas = Vec<Option<((u32, u32), Vec<ReadFace>)>>;

/// A fresh folder for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sf-battery-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn rgb_image(name: &str) -> image::RgbImage {
    image::open(testdata(name)).unwrap_or_else(|e| panic!("{name}: {e}")).to_rgb8()
}

fn video_info(format: VideoFormat, width: u32, height: u32) -> gst_video::VideoInfo {
    init();
    gst_video::VideoInfo::builder(format, width, height).fps(gst::Fraction::new(30, 1)).build().expect("video info")
}

/// A buffer of `data` stamped as frame `i` of a 30 fps stream.
fn frame_buffer(data: Vec<u8>, i: u64) -> gst::Buffer {
    let mut buffer = gst::Buffer::from_mut_slice(data);
    let b = buffer.get_mut().expect("fresh buffer");
    b.set_pts(gst::ClockTime::from_nseconds(i * 1_000_000_000 / 30));
    b.set_duration(gst::ClockTime::from_nseconds(1_000_000_000 / 30));
    buffer
}

/// An RGB image as a buffer of `info`'s layout (RGB rows padded to its stride, or GRAY8 luma).
fn laid_out(img: &image::RgbImage, info: &gst_video::VideoInfo) -> Vec<u8> {
    let (w, stride) = (img.width() as usize, info.stride()[0] as usize);
    let mut out = vec![0u8; info.size()];
    for (y, row) in img.rows().enumerate() {
        let dst = &mut out[y * stride..];
        for (x, p) in row.enumerate() {
            match info.format() {
                VideoFormat::Rgb => dst[x * 3..x * 3 + 3].copy_from_slice(&p.0),
                VideoFormat::Gray8 => {
                    dst[x] = ((77 * p.0[0] as u32 + 150 * p.0[1] as u32 + 29 * p.0[2] as u32) >> 8) as u8
                }
                other => panic!("laid_out: {other:?}"),
            }
        }
        assert!(w <= stride);
    }
    out
}

/// Records every buffer's meta at the fakesink named `sink`.
fn record_metas(pipeline: &gst::Bin) -> Arc<Mutex<Metas>> {
    let metas = Arc::new(Mutex::new(Vec::new()));
    let store = metas.clone();
    let pad = pipeline.by_name("sink").expect("a fakesink named sink").static_pad("sink").expect("sink pad");
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buf) = info.buffer() {
            store.lock().unwrap().push(meta::read(buf));
        }
        gst::PadProbeReturn::Ok
    });
    metas
}

/// `appsrc name=src ! CHAIN ! fakesink name=sink`, recording every buffer's meta.
fn appsrc_pipeline(chain: &str) -> (gst::Bin, gst_app::AppSrc, Arc<Mutex<Metas>>) {
    let pipeline = parse(&format!("appsrc name=src format=time ! {chain} ! fakesink name=sink sync=false")).unwrap();
    let metas = record_metas(&pipeline);
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    (pipeline, src, metas)
}

/// Pushes `frames` (each with its caps, set where they change), then EOS; stops at a refused
/// buffer (the pipeline stopped).
fn push_all(src: &gst_app::AppSrc, frames: impl IntoIterator<Item = (gst::Caps, gst::Buffer)>) {
    let mut caps: Option<gst::Caps> = None;
    for (c, buffer) in frames {
        if caps.as_ref() != Some(&c) {
            src.set_caps(Some(&c));
            caps = Some(c);
        }
        if src.push_buffer(buffer).is_err() {
            return;
        }
    }
    let _ = src.end_of_stream();
}

/// `appsrc ! facelandmarks PROPS ! fakesink`: pushes `frames` and plays to the end within
/// `timeout_s`.
fn feed(props: &str, frames: Vec<(gst::Caps, gst::Buffer)>, timeout_s: u64) -> (Metas, Ending) {
    let (pipeline, src, metas) = appsrc_pipeline(&format!("facelandmarks {props}"));
    src.set_max_bytes(0);
    let _ = pipeline.set_state(gst::State::Playing);
    push_all(&src, frames);
    let ending = play_within(&pipeline, timeout_s);
    let metas = std::mem::take(&mut *metas.lock().unwrap());
    (metas, ending)
}

/// `n` copies of `img` as frames of `info`'s layout.
fn still_frames(img: &image::RgbImage, info: &gst_video::VideoInfo, n: u64) -> Vec<(gst::Caps, gst::Buffer)> {
    let data = laid_out(img, info);
    (0..n).map(|i| (info.to_caps().unwrap(), frame_buffer(data.clone(), i))).collect()
}

fn faces_of(metas: &Metas) -> Vec<usize> {
    metas.iter().map(|m| m.as_ref().map_or(usize::MAX, |(_, f)| f.len())).collect()
}

fn all_finite(faces: &[ReadFace]) -> bool {
    faces.iter().all(|f| f.points.iter().flatten().chain(&f.bbox).all(|v| v.is_finite()))
}

/// Resident memory of this process in MiB.
fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: f64 = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("resident pages");
    pages * 4096.0 / (1024.0 * 1024.0)
}

// ---------------------------------------------------------------------------------------------
// Sizes and formats

/// 1x1, 3x3 with 2x2 chroma, and 4096x8 / 8x4096 slivers: each frame passes with a meta of its
/// size and no face.
#[test]
fn tiny_and_sliver_frames_pass_with_an_empty_meta() {
    for (format, w, h) in [
        (VideoFormat::Rgb, 1, 1),
        (VideoFormat::Gray8, 1, 1),
        (VideoFormat::I420, 3, 3),
        (VideoFormat::Nv12, 3, 3),
        (VideoFormat::Rgb, 4096, 8),
        (VideoFormat::Bgrx, 8, 4096),
    ] {
        let info = video_info(format, w, h);
        let frames = (0..3).map(|i| (info.to_caps().unwrap(), frame_buffer(vec![128; info.size()], i))).collect();
        let (metas, ending) = feed("", frames, 60);
        assert!(ending.error.is_none(), "{format:?} {w}x{h}: {ending:?}");
        assert_eq!(metas.len(), 3, "{format:?} {w}x{h}");
        for m in &metas {
            let (size, faces) = m.as_ref().expect("a meta on every buffer");
            assert_eq!((*size, faces.len()), ((w, h), 0), "{format:?}");
        }
    }
}

/// The nine accepted formats, converted from one photo: the face is found in each, its points
/// within 2% of the face's width of the RGB ones (GRAY8 loses the colour, so 6%).
#[test]
fn every_accepted_format_finds_the_face_in_the_same_place() {
    let points = |format: &str| -> Vec<[f64; 2]> {
        let launch = format!(
            "filesrc location={} ! jpegdec ! imagefreeze num-buffers=1 ! videoconvert ! video/x-raw,format={format} \
             ! facelandmarks search-budget=0 ! fakesink name=sink",
            testdata("single_face.jpg").display()
        );
        let frames = run(&launch).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert!(frames.len() == 1 && frames[0].len() == 1, "{format}: {:?}", frames.iter().map(Vec::len));
        frames[0][0].points.clone()
    };
    let rgb = points("RGB");
    let width = rgb.iter().map(|p| p[0]).fold(f64::MIN, f64::max) - rgb.iter().map(|p| p[0]).fold(f64::MAX, f64::min);
    for format in ["BGR", "RGBA", "BGRA", "RGBx", "BGRx", "I420", "NV12", "GRAY8"] {
        let other = points(format);
        let worst = rgb.iter().zip(&other).map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1])).fold(0.0, f64::max);
        let bound = if format == "GRAY8" { 0.06 } else { 0.02 } * width;
        eprintln!("{format}: points within {worst:.2} px of RGB's (bound {bound:.1})");
        assert!(worst < bound, "{format}: a point {worst:.1} px from RGB's");
    }
}

/// BGRx whose rows are 256 bytes longer than the pixels (a GstVideoMeta says so, as hardware
/// decoders' buffers do): the same points as the tightly packed frame.
#[test]
fn a_padded_stride_from_the_video_meta_is_read_right() {
    let img = rgb_image("single_face.jpg");
    let (w, h) = (img.width() as usize, img.height() as usize);
    let info = video_info(VideoFormat::Bgrx, w as u32, h as u32);
    let pixels = |stride: usize| {
        let mut out = vec![0u8; stride * h];
        for (y, row) in img.rows().enumerate() {
            for (x, p) in row.enumerate() {
                out[y * stride + x * 4..][..4].copy_from_slice(&[p.0[2], p.0[1], p.0[0], 255]);
            }
        }
        out
    };
    let stride = w * 4 + 256;
    let mut padded = frame_buffer(pixels(stride), 0);
    gst_video::VideoMeta::add_full(
        padded.get_mut().unwrap(),
        gst_video::VideoFrameFlags::empty(),
        VideoFormat::Bgrx,
        w as u32,
        h as u32,
        &[0],
        &[stride as i32],
    )
    .expect("video meta");
    let caps = info.to_caps().unwrap();
    let run_one = |buffer: gst::Buffer| {
        let (metas, ending) = feed("search-budget=0", vec![(caps.clone(), buffer)], 60);
        assert!(ending.error.is_none(), "{ending:?}");
        let (_, faces) = metas[0].clone().expect("meta");
        assert_eq!(faces.len(), 1);
        faces[0].points.clone()
    };
    let want = run_one(frame_buffer(pixels(w * 4), 0));
    assert_eq!(run_one(padded), want, "the padded frame's points differ");
}

/// YUY2 is not among the accepted formats: linking or negotiation fails with a message saying
/// so, rather than frames read in the wrong layout.
#[test]
fn an_unsupported_format_fails_negotiation() {
    let launch = "videotestsrc num-buffers=3 ! video/x-raw,format=YUY2 ! facelandmarks ! fakesink name=sink";
    let message = match parse(launch) {
        Err(e) => e,
        Ok(pipeline) => play_within(&pipeline, 60).error.expect("an error, not frames"),
    };
    assert!(message.contains("link") || message.contains("negotiat"), "{message}");
}

/// A buffer holding less than its caps' frame size: an element error, the stream stops.
#[test]
fn a_buffer_shorter_than_its_caps_is_an_element_error() {
    let info = video_info(VideoFormat::Rgb, 640, 360);
    let (metas, ending) = feed("", vec![(info.to_caps().unwrap(), frame_buffer(vec![0; 1000], 0))], 60);
    let error = ending.error.expect("an element error");
    assert!(error.contains("could not map the frame"), "{error}");
    assert!(metas.is_empty());
}

/// Buffers without timestamps (a raw appsrc without do-timestamp): one face, one track.
#[test]
fn buffers_without_timestamps_keep_one_track() {
    let img = rgb_image("single_face.jpg");
    let info = video_info(VideoFormat::Rgb, img.width(), img.height());
    let data = laid_out(&img, &info);
    let frames = (0..10).map(|_| (info.to_caps().unwrap(), gst::Buffer::from_mut_slice(data.clone()))).collect();
    let (metas, ending) = feed("", frames, 60);
    assert!(ending.error.is_none(), "{ending:?}");
    let ids: Vec<Vec<u64>> =
        metas.iter().map(|m| m.as_ref().map(|(_, f)| f.iter().map(|f| f.track_id).collect()).unwrap()).collect();
    assert!(ids.len() == 10 && ids.iter().all(|i| *i == ids[0] && i.len() == 1), "{ids:?}");
}

// ---------------------------------------------------------------------------------------------
// Caps changes, seeks, state changes

/// The frames of a test video, decoded.
fn video_frames(name: &str) -> Vec<steadyface_train::video::VideoFrame> {
    steadyface_train::video::frames(&testdata(name)).expect("video").map(|f| f.expect("frame")).collect()
}

/// A test video's frames as RGB buffers for appsrc.
fn clip(name: &str) -> Vec<(gst::Caps, gst::Buffer)> {
    video_frames(name)
        .into_iter()
        .map(|f| {
            let info = video_info(VideoFormat::Rgb, f.width as u32, f.height as u32);
            let img = image::RgbImage::from_raw(f.width as u32, f.height as u32, f.rgb).unwrap();
            (info.to_caps().unwrap(), frame_buffer(laid_out(&img, &info), f.index as u64))
        })
        .collect()
}

/// 20 frames at 640x360 RGB, the next 20 at 320x180 RGB, the last 20 as 320x180 GRAY8: each
/// change ends the track (a new one starts on its first frame), the meta tells the new size,
/// and the points lie in the new frame.
#[test]
fn caps_changes_mid_stream_start_new_tracks_in_the_new_size() {
    let clip = video_frames("single_face.mp4");
    let mut frames = Vec::new();
    for (i, f) in clip.iter().take(60).enumerate() {
        let img = image::RgbImage::from_raw(f.width as u32, f.height as u32, f.rgb.clone()).unwrap();
        let (img, format) = match i {
            0..20 => (img, VideoFormat::Rgb),
            20..40 => {
                (image::imageops::resize(&img, 320, 180, image::imageops::FilterType::Triangle), VideoFormat::Rgb)
            }
            _ => (image::imageops::resize(&img, 320, 180, image::imageops::FilterType::Triangle), VideoFormat::Gray8),
        };
        let info = video_info(format, img.width(), img.height());
        frames.push((info.to_caps().unwrap(), frame_buffer(laid_out(&img, &info), i as u64)));
    }
    let (metas, ending) = feed("", frames, 120);
    assert!(ending.error.is_none(), "{ending:?}");
    assert_eq!(metas.len(), 60);
    let mut last_id = 0;
    for (i, m) in metas.iter().enumerate() {
        let ((w, h), faces) = m.clone().expect("meta");
        assert_eq!((w, h), if i < 20 { (640, 360) } else { (320, 180) }, "frame {i}");
        assert_eq!(faces.len(), 1, "frame {i}");
        let face = &faces[0];
        let changed = i == 0 || i == 20 || i == 40;
        assert_eq!(face.new_track, changed, "frame {i}");
        assert!(if changed { face.track_id > last_id } else { face.track_id == last_id }, "frame {i}");
        last_id = face.track_id;
        assert!(
            face.points.iter().all(|p| (0.0..w as f64).contains(&p[0]) && (0.0..h as f64).contains(&p[1])),
            "frame {i}: a point outside {w}x{h}"
        );
    }
}

/// A looping player: a flushing segment seek, then on each SEGMENT_DONE a non-flushing segment
/// seek back to the start (twice), then a plain non-flushing seek that plays to EOS. Every pass
/// gets all 72 frames and starts its own track on its first frame.
#[test]
fn non_flushing_segment_seeks_loop_the_clip_with_a_new_track_each_pass() {
    let (pipeline, frames) = single_face_pipeline(false);
    preroll(&pipeline);
    let bus = pipeline.bus().unwrap();
    let wanted = [gst::MessageType::SegmentDone, gst::MessageType::Eos, gst::MessageType::Error];
    let next = || bus.timed_pop_filtered(gst::ClockTime::from_seconds(60), &wanted).expect("a message within 60 s");
    // The frame prerolled before the first seek is not part of a pass.
    let prerolled = frames.lock().unwrap().len();
    let seek = |flags: gst::SeekFlags| pipeline.seek_simple(flags, gst::ClockTime::ZERO).expect("seek");
    seek(gst::SeekFlags::FLUSH | gst::SeekFlags::SEGMENT);
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut segments_done = 0;
    loop {
        let msg = next();
        match msg.view() {
            gst::MessageView::SegmentDone(_) => {
                segments_done += 1;
                seek(if segments_done < 3 { gst::SeekFlags::SEGMENT } else { gst::SeekFlags::empty() });
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{} ({:?})", e.error(), e.debug()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(segments_done, 3);
    let frames = &frames.lock().unwrap()[prerolled..];
    let starts: Vec<usize> =
        frames.iter().enumerate().filter(|(_, f)| f.first().is_some_and(|f| f.new_track)).map(|(i, _)| i).collect();
    assert!(frames.iter().all(|f| f.len() == 1), "{:?}", frames.iter().map(Vec::len).collect::<Vec<_>>());
    assert_eq!(frames.len(), 4 * 72);
    assert_eq!(starts, [0, 72, 144, 216], "a new track at the start of each pass");
}

/// A seek beyond the end of the clip: EOS, no error, no frame.
#[test]
fn a_seek_past_the_end_reaches_eos() {
    let (pipeline, frames) = single_face_pipeline(false);
    preroll(&pipeline);
    let prerolled = frames.lock().unwrap().len();
    pipeline.seek_simple(gst::SeekFlags::FLUSH, gst::ClockTime::from_seconds(100)).expect("seek");
    let ending = play_within(&pipeline, 60);
    assert!(ending.error.is_none(), "{ending:?}");
    assert_eq!(frames.lock().unwrap().len(), prerolled, "no frame after the seek past the end");
}

/// PAUSED and PLAYING in turn 20 times while the clip plays at its pace: every frame arrives
/// with its face, all on one track (pausing is no gap in the stream).
///
/// Each change is let complete before the next. Toggled faster, GStreamer 1.22 itself can stall:
/// a pipeline of `decodebin ! videoconvert ! video/x-raw,format=RGB ! identity ! fakesink
/// sync=true`, without this element, was left PAUSED with PLAYING pending forever (every
/// element PAUSED, none pending) after its first buffer in 3 of 80 runs (2026-12-05).
#[test]
fn pausing_and_resuming_20_times_keeps_one_track() {
    let (pipeline, frames) = single_face_pipeline(true);
    let set = |state: gst::State| {
        pipeline.set_state(state).unwrap();
        let (done, now, _) = pipeline.state(gst::ClockTime::from_seconds(60));
        assert!(done.is_ok() && now == state, "{state:?} not reached within 60 s: {done:?}, {now:?}");
    };
    set(gst::State::Playing);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(40));
        set(gst::State::Paused);
        std::thread::sleep(Duration::from_millis(20));
        set(gst::State::Playing);
    }
    let ending = play_within(&pipeline, 60);
    assert!(ending.error.is_none(), "{ending:?}");
    let frames = frames.lock().unwrap();
    assert_eq!(frames.len(), 72);
    let mut ids: Vec<u64> = frames.iter().flatten().map(|f| f.track_id).collect();
    assert_eq!(ids.len(), 72, "a face on every frame");
    ids.dedup();
    assert_eq!(ids.len(), 1, "one track: {ids:?}");
}

/// Stopped (NULL) mid-stream 20 times after 1-20 frames, with the search thread busy, then
/// played through: each stop returns, and the full run is as a fresh pipeline's (72 frames, the
/// face on each, one track).
#[test]
fn stopping_mid_stream_20_times_then_a_full_run() {
    let frames = clip("single_face.mp4");
    let (pipeline, src, metas) = appsrc_pipeline("facelandmarks");
    src.set_property("block", true);
    src.set_max_buffers(2);
    for stop_after in 1..=20 {
        metas.lock().unwrap().clear();
        pipeline.set_state(gst::State::Playing).unwrap();
        let pusher = std::thread::spawn({
            let (src, frames) = (src.clone(), frames.clone());
            move || push_all(&src, frames)
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        while metas.lock().unwrap().len() < stop_after {
            assert!(Instant::now() < deadline, "no frame {stop_after} within 60 s");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(pipeline.set_state(gst::State::Null), Ok(gst::StateChangeSuccess::Success));
        pusher.join().unwrap();
    }
    metas.lock().unwrap().clear();
    pipeline.set_state(gst::State::Playing).unwrap();
    let pusher = std::thread::spawn(move || push_all(&src, frames));
    let ending = play_within(&pipeline, 60);
    pusher.join().unwrap();
    assert!(ending.error.is_none(), "{ending:?}");
    let metas = metas.lock().unwrap();
    let mut ids: Vec<u64> =
        metas.iter().flat_map(|m| m.iter().flat_map(|(_, f)| f.iter().map(|f| f.track_id))).collect();
    assert!(metas.len() == 72 && ids.len() == 72, "{} frames, {} faces", metas.len(), ids.len());
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

/// NULL -> PAUSED -> NULL 50 times with no buffer ever (models loaded and released each time),
/// then frames: every start succeeds and the stream runs.
#[test]
fn starting_and_stopping_50_times_without_data() {
    let (pipeline, src, frames) = appsrc_pipeline("facelandmarks");
    for i in 0..50 {
        let change = pipeline.set_state(gst::State::Paused);
        assert!(change.is_ok(), "start {i}: {change:?}");
        assert_eq!(pipeline.set_state(gst::State::Null), Ok(gst::StateChangeSuccess::Success), "stop {i}");
    }
    let img = rgb_image("single_face.jpg");
    let info = video_info(VideoFormat::Rgb, img.width(), img.height());
    pipeline.set_state(gst::State::Playing).unwrap();
    src.set_caps(Some(&info.to_caps().unwrap()));
    for i in 0..3 {
        src.push_buffer(frame_buffer(laid_out(&img, &info), i)).unwrap();
    }
    src.end_of_stream().unwrap();
    let ending = play_within(&pipeline, 60);
    assert!(ending.error.is_none(), "{ending:?}");
    assert_eq!(faces_of(&frames.lock().unwrap()), [1, 1, 1]);
}

/// One pipeline played to EOS twice (NULL between): the second run gives the first one's
/// points exactly (nothing of the first stream is left in the element).
#[test]
fn a_pipeline_played_twice_gives_the_same_points() {
    let frames = clip("single_face.mp4");
    let (pipeline, src, metas) = appsrc_pipeline("facelandmarks");
    src.set_max_bytes(0);
    let mut runs = Vec::new();
    for _ in 0..2 {
        pipeline.set_state(gst::State::Playing).unwrap();
        push_all(&src, frames.clone());
        let ending = play_within(&pipeline, 60);
        assert!(ending.error.is_none(), "{ending:?}");
        let run = std::mem::take(&mut *metas.lock().unwrap());
        runs.push(
            run.into_iter()
                .map(|m| m.expect("meta").1.into_iter().map(|f| f.points).collect::<Vec<_>>())
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(runs[0].len(), 72);
    assert!(runs[0].iter().all(|f| f.len() == 1));
    assert!(runs[0] == runs[1], "the second run's points differ from the first's");
}

// ---------------------------------------------------------------------------------------------
// Corrupt and mismatched models

fn shipped(name: &str) -> PathBuf {
    steadyface::models_dir::default_model(name)
}

/// Each model property given a truncated copy of its model, an empty file, a text file and a
/// folder: the pipeline stops with an element error naming that path (no crash, no hang).
#[test]
fn corrupt_models_are_element_errors_naming_the_file() {
    use steadyface::models_dir::{BACKBONE, DETECTOR, STABILIZER};
    let dir = scratch("corrupt-models");
    for (property, model) in [("backbone", BACKBONE), ("detector", DETECTOR), ("stabilizer", STABILIZER)] {
        let bytes = std::fs::read(shipped(model)).expect("shipped model");
        let folder = dir.join(format!("{property}-folder.onnx"));
        std::fs::create_dir_all(&folder).unwrap();
        let cases: [(&str, Option<&[u8]>); 4] = [
            ("truncated", Some(&bytes[..bytes.len() / 2])),
            ("empty", Some(b"")),
            ("text", Some(b"this is not an ONNX model\n")),
            ("folder", None),
        ];
        for (kind, content) in cases {
            let path = match content {
                Some(content) => {
                    let path = dir.join(format!("{property}-{kind}.onnx"));
                    std::fs::write(&path, content).unwrap();
                    // The shipped sidecar beside a stabilizer, so that the model itself is what fails.
                    std::fs::copy(shipped(STABILIZER).with_extension("json"), path.with_extension("json")).unwrap();
                    path
                }
                None => folder.clone(),
            };
            let pipeline = parse(&format!(
                "videotestsrc num-buffers=3 ! facelandmarks {property}={} ! fakesink name=sink",
                path.display()
            ))
            .unwrap();
            let error = play_within(&pipeline, 60).error.unwrap_or_else(|| panic!("{property} {kind}: no error"));
            assert!(error.contains(&*path.to_string_lossy()), "{property} {kind}: {error}");
            let why = if kind == "folder" { "a folder, not a model file" } else { "could not be loaded" };
            assert!(error.contains(why), "{property} {kind}: {error}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A ConvLSTM stabilizer for 5 points with the 68-point scheme: an error naming the file and
/// both counts.
#[test]
fn a_stabilizer_for_another_point_count_is_an_element_error() {
    use steadyface::onnx::{ConvLstmSpec, ConvLstmWeights, convlstm_model, write_model};
    let dir = scratch("five-points");
    let path = dir.join("five.onnx");
    let weights = ConvLstmWeights::identity(ConvLstmSpec { points: 5, hidden: 2, kernel: 3 });
    write_model(&path, &convlstm_model(&weights).unwrap()).unwrap();
    let pipeline = parse(&format!(
        "videotestsrc num-buffers=3 ! facelandmarks stabilizer={} ! fakesink name=sink",
        path.display()
    ))
    .unwrap();
    let error = play_within(&pipeline, 60).error.expect("an error");
    assert!(error.contains(&*path.to_string_lossy()) && error.contains("takes 5 heatmaps but 68 points"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A sidecar with `heatmap_size: 0` (once a panic that left the element failing every buffer):
/// an error naming the sidecar and the field; the same element, its stabilizer cleared, then
/// runs the clip.
#[test]
fn a_bad_sidecar_is_an_error_and_clearing_the_stabilizer_recovers() {
    let dir = scratch("bad-sidecar");
    let model = dir.join("stabilizer.onnx");
    std::fs::copy(shipped(steadyface::models_dir::STABILIZER), &model).unwrap();
    let text = std::fs::read_to_string(shipped(steadyface::models_dir::STABILIZER).with_extension("json")).unwrap();
    assert!(text.contains("\"heatmap_size\": 24,"), "{text}");
    std::fs::write(model.with_extension("json"), text.replace("\"heatmap_size\": 24,", "\"heatmap_size\": 0,"))
        .unwrap();
    let frames = clip("single_face.mp4");
    let (pipeline, src, metas) = appsrc_pipeline(&format!("facelandmarks name=fl stabilizer={}", model.display()));
    src.set_max_bytes(0);
    let _ = pipeline.set_state(gst::State::Playing);
    push_all(&src, frames.clone());
    let error = play_within(&pipeline, 60).error.expect("an error");
    let sidecar = model.with_extension("json");
    assert!(error.contains(&*sidecar.to_string_lossy()) && error.contains("heatmap_size"), "{error}");
    pipeline.by_name("fl").unwrap().set_property("stabilizer", "");
    metas.lock().unwrap().clear();
    pipeline.set_state(gst::State::Playing).unwrap();
    push_all(&src, frames);
    let ending = play_within(&pipeline, 60);
    assert!(ending.error.is_none(), "{ending:?}");
    let metas = metas.lock().unwrap();
    assert_eq!(faces_of(&metas), [1; 72]);
    assert!(metas.iter().flatten().all(|(_, f)| !f[0].stabilized));
    let _ = std::fs::remove_dir_all(&dir);
}

/// device=cuda with a device id no machine here has: an error that names CUDA, not a crash or
/// a silent run on the CPU.
#[test]
fn cuda_asked_for_where_it_cannot_run_is_an_error_naming_cuda() {
    let pipeline =
        parse("videotestsrc num-buffers=3 ! facelandmarks device=cuda device-id=63 ! fakesink name=sink").unwrap();
    let error = play_within(&pipeline, 60).error.expect("an error");
    assert!(error.contains("CUDA"), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Nonsense upstream ROIs

/// Boxes of zero size, outside the frame, at "negative" coordinates (-100 as an unsigned
/// wrap), and 4 billion pixels wide: no error, and no face where there is none.
#[test]
fn nonsense_upstream_rois_give_no_face_and_no_error() {
    let wrap = |v: i32| v as u32;
    for (what, rect) in [
        ("zero size", (390, 330, 0, 0)),
        ("outside the frame", (10_000, 10_000, 200, 200)),
        ("negative", (wrap(-100), wrap(-100), 300, 300)),
        ("huge", (0, 0, u32::MAX, u32::MAX)),
    ] {
        let (frames, ending, _) = einstein_with_rois(vec![("face", rect)]);
        assert!(ending.error.is_none(), "{what}: {ending:?}");
        assert_eq!(frames.len(), 3, "{what}");
        eprintln!("{what}: faces {:?}", frames.iter().map(Vec::len).collect::<Vec<_>>());
        assert!(
            frames.iter().all(|f| f.is_empty()),
            "{what}: {:?}",
            frames.iter().map(|f| f.iter().map(|f| f.bbox).collect::<Vec<_>>()).collect::<Vec<_>>()
        );
    }
}

/// 100 face ROIs around Einstein's face (1-px steps) and one ROI of type "car" elsewhere: one
/// face (the overlapping boxes are one track; at most max-faces), and a non-face ROI does not
/// turn the detector off on its own.
#[test]
fn a_hundred_overlapping_rois_are_one_face_and_other_roi_types_are_ignored() {
    let many: Vec<_> = (0..100u32).map(|i| ("face", (340 + i % 10, 270 + i / 10, 110, 120))).collect();
    let (frames, ending, _) = einstein_with_rois(many);
    assert!(ending.error.is_none(), "{ending:?}");
    assert_eq!(frames.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 1]);
    assert!(frames.iter().all(|f| all_finite(f)));
    let (frames, ending, _) = einstein_with_rois(vec![("car", (0, 0, 100, 100))]);
    assert!(ending.error.is_none(), "{ending:?}");
    assert_eq!(frames.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 1], "the detector found Einstein");
}

// ---------------------------------------------------------------------------------------------
// Property abuse

/// The default of `element`'s property `name`, and its value now, as text.
fn value_and_default(element: &gst::Element, name: &str) -> (String, String) {
    let pspec = element.find_property(name).expect("property");
    let text = |v: &gst::glib::Value| v.serialize().map(|s| s.to_string()).unwrap_or_default();
    (text(&element.property_value(name)), text(pspec.default_value()))
}

/// Out-of-range values on a launch line: GLib refuses each with a warning naming the property
/// and the element keeps its default. `max-gap=-1` (GST_CLOCK_TIME_NONE, GStreamer's usual "no
/// limit") once aborted the process (a panic in set_property); it is now the longest gap there is.
#[test]
fn out_of_range_values_on_a_launch_line_are_refused_and_max_gap_minus_1_is_no_limit() {
    for setting in
        ["max-faces=0", "max-faces=65", "pdc-threshold=2", "min-face-score=-1", "search-budget=65", "device-id=-1"]
    {
        let name = setting.split('=').next().unwrap();
        let out = with_built_plugin("gst-launch-1.0")
            .args(["-q", "videotestsrc", "num-buffers=2", "!", "facelandmarks", setting, "!", "fakesink"])
            .output()
            .expect("gst-launch-1.0");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{setting}: {stderr}");
        assert!(stderr.contains(&format!("out of range for property '{name}'")), "{setting}: {stderr}");
        let pipeline =
            parse(&format!("videotestsrc num-buffers=1 ! facelandmarks name=fl {setting} ! fakesink name=sink"))
                .unwrap();
        let (now, default) = value_and_default(&pipeline.by_name("fl").unwrap(), name);
        assert_eq!(now, default, "{setting}");
    }
    let out = with_built_plugin("gst-launch-1.0")
        .args(["-q", "filesrc", &format!("location={}", testdata("single_face.mp4").display())])
        .args(["!", "decodebin", "!", "facelandmarks", "max-gap=-1", "!", "fakesink"])
        .output()
        .expect("gst-launch-1.0");
    assert!(out.status.success(), "max-gap=-1: {:?}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let element = parse("videotestsrc num-buffers=1 ! facelandmarks name=fl max-gap=-1 ! fakesink name=sink")
        .unwrap()
        .by_name("fl")
        .unwrap();
    assert_eq!(element.property::<u64>("max-gap"), gst::ClockTime::MAX.nseconds());
}

/// Values at the ends of their ranges, each on the clip: every frame passes with finite points
/// in the frame, and each does what it says.
#[test]
fn values_at_the_ends_of_their_ranges_run_the_clip() {
    for settings in [
        "detect-interval=4294967295 search-budget=64 max-faces=64 min-face-score=0",
        "smoothing=one-euro one-euro-min-cutoff=0 one-euro-beta=0 one-euro-derivative-cutoff=0",
        "smoothing=one-euro one-euro-min-cutoff=3.4e38 one-euro-beta=3.4e38 one-euro-derivative-cutoff=3.4e38",
        "smoothing=pose-residual pose-min-cutoff=0 pose-beta=0 shape-min-cutoff=0 shape-beta=0",
        "smoothing=pose-residual pose-min-cutoff=3.4e38 pose-beta=3.4e38 shape-min-cutoff=3.4e38 shape-beta=3.4e38",
        "decoder=pdc pdc-threshold=0 stabilizer=\"\"",
        "decoder=pdc pdc-threshold=1 stabilizer=\"\"",
        "max-gap=0",
        "max-gap=18446744073709551614",
        "min-face-score=1",
        "detect-interval=0 search-budget=0",
    ] {
        let frames = run(&format!("{} ! facelandmarks {settings} ! fakesink name=sink", decode("single_face.mp4")))
            .unwrap_or_else(|e| panic!("{settings}: {e}"));
        let counts: Vec<usize> = frames.iter().map(Vec::len).collect();
        let new_tracks = frames.iter().flatten().filter(|f| f.new_track).count();
        eprintln!("{settings}: faces {counts:?}, new tracks {new_tracks}");
        assert_eq!(counts, [1; 72], "{settings}");
        assert_eq!(new_tracks, if settings == "max-gap=0" { 72 } else { 1 }, "{settings}");
        for (i, faces) in frames.iter().enumerate() {
            assert!(all_finite(faces), "{settings}: frame {i}");
            let inside = faces
                .iter()
                .flat_map(|f| &f.points)
                .all(|p| (0.0..640.0).contains(&p[0]) && (0.0..360.0).contains(&p[1]));
            assert!(inside, "{settings}: frame {i}: a point outside the frame");
        }
    }
}

/// Every property set over and over from another thread while the clip plays at its pace: the
/// ones that may change while playing take effect (every frame keeps its face, points finite),
/// the model ones are refused with a warning each time and read back unchanged.
#[test]
fn every_property_set_while_playing() {
    let pipeline =
        parse(&format!("{} ! facelandmarks name=fl ! fakesink name=sink sync=true", decode("single_face.mp4")))
            .unwrap();
    let element = pipeline.by_name("fl").unwrap();
    let models: Vec<(&str, String)> = ["backbone", "detector", "stabilizer", "full-scheme", "device", "device-id"]
        .iter()
        .map(|&name| (name, value_and_default(&element, name).0))
        .collect();
    let playing: [(&str, &[&str]); 19] = [
        ("decoder", &["pdc", "argmax", "subpixel", "pdc-soft"]),
        ("pdc-threshold", &["0.1", "0.5", "0.2"]),
        ("smoothing", &["one-euro", "pose-residual", "none"]),
        ("one-euro-min-cutoff", &["0.01", "5", "0.05"]),
        ("one-euro-beta", &["0", "1000", "80"]),
        ("one-euro-derivative-cutoff", &["0.1", "10", "1"]),
        ("pose-min-cutoff", &["0", "50", "0.1"]),
        ("pose-beta", &["0", "1000", "5"]),
        ("shape-min-cutoff", &["0", "50", "0.1"]),
        ("shape-beta", &["0", "1000", "10"]),
        ("registration", &["false", "true"]),
        ("motion-compensation", &["false", "true"]),
        ("max-faces", &["1", "64", "5"]),
        ("detect-interval", &["0", "1", "10"]),
        ("search-budget", &["0", "2", "1"]),
        ("max-gap", &["100000000", "10000000000", "1000000000"]),
        ("min-face-score", &["0.3", "0.7", "0.5"]),
        ("post-messages", &["true", "false"]),
        ("qos", &["false", "true"]),
    ];
    let refused: [(&str, &str); 6] = [
        ("backbone", "/elsewhere/backbone.onnx"),
        ("detector", "/elsewhere/detector.onnx"),
        ("stabilizer", ""),
        ("full-scheme", "true"),
        ("device", "cpu"),
        ("device-id", "3"),
    ];
    let frames = record_faces(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    let (started, _, _) = pipeline.state(gst::ClockTime::from_seconds(30));
    assert!(started.is_ok(), "{started:?}");
    let stop = Arc::new(AtomicBool::new(false));
    let setter = std::thread::spawn({
        let (element, stop) = (element.clone(), stop.clone());
        move || {
            let mut round = 0usize;
            while !stop.load(Ordering::Relaxed) {
                for (name, values) in &playing {
                    element.set_property_from_str(name, values[round % values.len()]);
                }
                if round.is_multiple_of(10) {
                    for (name, value) in refused {
                        element.set_property_from_str(name, value);
                    }
                }
                round += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            round
        }
    });
    let ending = play_until_end(&pipeline, 120);
    stop.store(true, Ordering::Relaxed);
    let rounds = setter.join().unwrap();
    assert!(ending.error.is_none(), "{ending:?}");
    assert!(rounds > 100, "only {rounds} rounds of settings");
    assert!(
        !ending.warnings.is_empty()
            && ending.warnings.iter().all(|w| w.contains("changes only in the NULL or READY state")),
        "{:?}",
        ending.warnings.first()
    );
    for (name, before) in models {
        assert_eq!(value_and_default(&element, name).0, before, "{name} changed while playing");
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let frames = frames.lock().unwrap();
    assert_eq!(frames.len(), 72);
    for (i, faces) in frames.iter().enumerate() {
        assert_eq!(faces.len(), 1, "frame {i}");
        assert!(all_finite(faces), "frame {i}");
    }
}

/// landmarkoverlay at its limits (radius 50, boxes, track ids, confidence colours) on a face
/// cut by the frame's top edge, so the id's text and the box fall partly outside: marks drawn,
/// no error; and frames that carry no landmarks pass with their pixels untouched.
#[test]
fn landmarkoverlay_draws_at_its_limits_and_leaves_frames_without_landmarks_alone() {
    let full = rgb_image("single_face.jpg");
    // The face's box starts at y = 213: from row 250 on, its top is cut.
    let img = image::imageops::crop_imm(&full, 0, 250, full.width(), full.height() - 250).to_image();
    let info = video_info(VideoFormat::Rgb, img.width(), img.height());
    let input = laid_out(&img, &info);
    for (chain, marked) in [
        (
            "facelandmarks search-budget=0 ! landmarkoverlay radius=50 draw-box=true draw-id=true confidence-color=true",
            true,
        ),
        ("landmarkoverlay radius=50 draw-box=true draw-id=true", false),
    ] {
        let (pipeline, src, metas) = appsrc_pipeline(chain);
        let changed = Arc::new(Mutex::new(Vec::new()));
        let store = changed.clone();
        let original = input.clone();
        pipeline.by_name("sink").unwrap().static_pad("sink").unwrap().add_probe(
            gst::PadProbeType::BUFFER,
            move |_, info| {
                let map = info.buffer().unwrap().map_readable().unwrap();
                let differing = map.iter().zip(&original).filter(|(a, b)| a != b).count();
                store.lock().unwrap().push(differing);
                gst::PadProbeReturn::Ok
            },
        );
        pipeline.set_state(gst::State::Playing).unwrap();
        push_all(&src, still_frames(&img, &info, 3));
        let ending = play_within(&pipeline, 60);
        assert!(ending.error.is_none(), "{chain}: {ending:?}");
        let changed = changed.lock().unwrap();
        assert_eq!(changed.len(), 3, "{chain}");
        if marked {
            assert_eq!(faces_of(&metas.lock().unwrap()), [1, 1, 1], "the cut face is found");
            assert!(changed.iter().all(|&n| n > 1000), "{chain}: {changed:?} bytes changed");
        } else {
            assert!(changed.iter().all(|&n| n == 0), "{chain}: {changed:?} bytes changed");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Load (slow: `-- --ignored`)

/// multi_face.jpg's five faces (75-108 px) pasted unscaled into a 1920x1080 frame, searched
/// with the whole pyramid (`search-budget=0`): all five should be found, as they are in the
/// 1000x667 photo itself.
#[test]
#[ignore = "known failure: the detector's pyramid has two levels (the frame, tiles of half its long side), so faces under about 1/12 of the long side are missed: 2 of these 5 at 1080p, 0 at 4K, 0 of the 50 in fifty_faces_in_one_frame's tiling without ROIs"]
fn small_faces_in_a_large_frame_are_found() {
    let photo = rgb_image("multi_face.jpg");
    let mut canvas = image::RgbImage::from_pixel(1920, 1080, image::Rgb([90, 90, 90]));
    image::imageops::replace(&mut canvas, &photo, 460, 206);
    let info = video_info(VideoFormat::Rgb, 1920, 1080);
    let (metas, ending) = feed("search-budget=0", still_frames(&canvas, &info, 2), 60);
    assert!(ending.error.is_none(), "{ending:?}");
    assert_eq!(faces_of(&metas), [5, 5]);
}

/// A 7680x4320 RGB stream, single_face.jpg enlarged 7 times in it (a face about 1300 px wide):
/// the face on every frame, in its place, each frame within 10 s on 2 cores.
#[test]
#[ignore = "slow: 8K frames (100 MB each)"]
fn an_8k_stream_finds_the_face() {
    let face = rgb_image("single_face.jpg");
    let big =
        image::imageops::resize(&face, face.width() * 7, face.height() * 7, image::imageops::FilterType::Triangle);
    let mut canvas = image::RgbImage::from_pixel(7680, 4320, image::Rgb([90, 90, 90]));
    let (x0, y0) = (1800u32, 190u32);
    image::imageops::replace(&mut canvas, &big, x0 as i64, y0 as i64);
    let info = video_info(VideoFormat::Rgb, 7680, 4320);
    let started = Instant::now();
    let (metas, ending) = feed("", still_frames(&canvas, &info, 3), 120);
    let took = started.elapsed();
    eprintln!("8K: 3 frames in {took:?}");
    assert!(ending.error.is_none(), "{ending:?}");
    assert_eq!(faces_of(&metas), [1, 1, 1]);
    // single_face.jpg's face box (188, 213, 189 x 185), scaled and moved as pasted, grown by a third.
    let (bx, by) = ((x0 + 188 * 7) as f64, (y0 + 213 * 7) as f64);
    for (_, faces) in metas.iter().flatten() {
        let inside = faces[0]
            .points
            .iter()
            .all(|p| (bx - 440.0..bx + 1763.0).contains(&p[0]) && (by - 430.0..by + 1725.0).contains(&p[1]));
        assert!(inside, "points outside the pasted face");
    }
    assert!(took < Duration::from_secs(30), "{took:?} for 3 frames");
}

/// multi_face.jpg (five faces) tiled 5 x 2 into one 5000x1334 frame: its 50 faces given as
/// upstream face ROIs (each copy's five boxes, moved), max-faces=64: 50 faces on every frame,
/// 68 finite points each, 50 distinct tracks that last.
#[test]
fn fifty_faces_in_one_frame() {
    let one = rgb_image("multi_face.jpg");
    let (w, h) = (one.width(), one.height());
    let mut tiled = image::RgbImage::new(w * 5, h * 2);
    let mut rois = Vec::new();
    // The five faces' boxes in multi_face.jpg (`steadyface detect`).
    let boxes = [(534, 338, 98, 96), (315, 263, 94, 95), (436, 235, 79, 75), (216, 88, 88, 85), (684, 322, 108, 99)];
    for i in 0..10 {
        let (ox, oy) = ((i % 5) * w, (i / 5) * h);
        image::imageops::replace(&mut tiled, &one, ox as i64, oy as i64);
        rois.extend(boxes.iter().map(|&(x, y, bw, bh)| (x + ox, y + oy, bw, bh)));
    }
    let info = video_info(VideoFormat::Rgb, tiled.width(), tiled.height());
    let frames = still_frames(&tiled, &info, 5)
        .into_iter()
        .map(|(caps, mut buffer)| {
            for rect in &rois {
                gst_video::VideoRegionOfInterestMeta::add(buffer.get_mut().unwrap(), "face", *rect);
            }
            (caps, buffer)
        })
        .collect();
    let started = Instant::now();
    let (metas, ending) = feed("max-faces=64", frames, 300);
    eprintln!("50 faces: 5 frames in {:?}", started.elapsed());
    assert!(ending.error.is_none(), "{ending:?}");
    assert_eq!(faces_of(&metas), [50; 5]);
    let mut ids: Vec<u64> = Vec::new();
    for (_, faces) in metas.iter().flatten() {
        assert!(all_finite(faces) && faces.iter().all(|f| f.points.len() == 68));
        let mut these: Vec<u64> = faces.iter().map(|f| f.track_id).collect();
        these.sort();
        these.dedup();
        assert_eq!(these.len(), 50, "distinct track ids");
        assert!(ids.is_empty() || ids == these, "the tracks last from frame to frame");
        ids = these;
    }
}

/// 300 runs of one pipeline, PLAYING to EOS and back to NULL (models loaded and released each
/// time): each run gives the face on its 5 frames, and memory stays flat after the first 150
/// runs (growth from run 150 to 300 below 16 MiB).
#[test]
#[ignore = "slow: 300 state cycles"]
fn three_hundred_playing_null_cycles_keep_memory_flat() {
    let pipeline = parse(&format!(
        "filesrc location={} ! jpegdec ! imagefreeze num-buffers=5 ! videoconvert ! facelandmarks search-budget=0 \
         ! fakesink name=sink sync=false",
        testdata("single_face.jpg").display()
    ))
    .unwrap();
    let frames = record_faces(&pipeline);
    let mut rss = Vec::new();
    for cycle in 1..=300 {
        let ending = play_within(&pipeline, 60);
        assert!(ending.error.is_none(), "cycle {cycle}: {ending:?}");
        let got: Vec<usize> = std::mem::take(&mut *frames.lock().unwrap()).iter().map(Vec::len).collect();
        assert_eq!(got, [1; 5], "cycle {cycle}");
        if [1, 50, 100, 150, 200, 250, 300].contains(&cycle) {
            rss.push((cycle, rss_mib()));
        }
    }
    eprintln!("RSS (cycle, MiB): {rss:?}");
    let at = |c: usize| rss.iter().find(|r| r.0 == c).unwrap().1;
    assert!(at(300) - at(150) < 16.0, "memory grows with state cycles: {rss:?}");
}

/// Eight pipelines in one process at once, each single_face.mp4: every one reaches EOS with the
/// face on all 72 frames and its own single track.
#[test]
fn eight_pipelines_at_once_each_keep_their_face() {
    let pipelines: Vec<(gst::Bin, Arc<Mutex<Frames>>)> = (0..8).map(|_| single_face_pipeline(false)).collect();
    let started = Instant::now();
    for (p, _) in &pipelines {
        p.set_state(gst::State::Playing).unwrap();
    }
    let endings: Vec<Ending> = pipelines.iter().map(|(p, _)| play_within(p, 300)).collect();
    eprintln!("8 pipelines: {:?}", started.elapsed());
    for (i, ((_, frames), ending)) in pipelines.iter().zip(&endings).enumerate() {
        assert!(ending.error.is_none(), "pipeline {i}: {ending:?}");
        let frames = frames.lock().unwrap();
        let mut ids: Vec<u64> = frames.iter().flatten().map(|f| f.track_id).collect();
        assert!(frames.len() == 72 && ids.len() == 72, "pipeline {i}: {} frames, {} faces", frames.len(), ids.len());
        ids.dedup();
        assert_eq!(ids.len(), 1, "pipeline {i}: {ids:?}");
    }
}

/// single_face.mp4 looped for 30,000 frames through one element (timestamps running on): the
/// face on every frame, and memory flat after warm-up (growth from frame 6,000 to 30,000 below
/// 16 MiB).
#[test]
#[ignore = "slow: 30,000-frame soak"]
fn a_30000_frame_soak_keeps_memory_flat() {
    const FRAMES: u64 = 30_000;
    let clip = clip("single_face.mp4");
    // Counted, not recorded: 30,000 frames of recorded points would be memory growth of their own.
    let pipeline =
        parse("appsrc name=src format=time block=true max-buffers=4 ! facelandmarks ! fakesink name=sink sync=false")
            .unwrap();
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    let rss = Arc::new(Mutex::new(Vec::new()));
    let store = rss.clone();
    let seen = Arc::new(Mutex::new((0u64, 0u64)));
    let count = seen.clone();
    pipeline.by_name("sink").unwrap().static_pad("sink").unwrap().add_probe(
        gst::PadProbeType::BUFFER,
        move |_, info| {
            let faces = info.buffer().and_then(|b| meta::read(b)).map_or(0, |(_, f)| f.len());
            let mut c = count.lock().unwrap();
            c.0 += 1;
            c.1 += u64::from(faces == 1);
            if c.0.is_multiple_of(3000) {
                store.lock().unwrap().push((c.0, rss_mib()));
            }
            gst::PadProbeReturn::Ok
        },
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let started = Instant::now();
    let pusher = std::thread::spawn(move || {
        let looped = (0..FRAMES).map(|i| {
            let (caps, buffer) = &clip[(i % clip.len() as u64) as usize];
            let mut buffer = buffer.copy();
            let b = buffer.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_nseconds(i * 1_000_000_000 / 30));
            (caps.clone(), buffer)
        });
        push_all(&src, looped);
    });
    let ending = play_within(&pipeline, 3600);
    pusher.join().unwrap();
    let rss = rss.lock().unwrap();
    let (frames, with_face) = *seen.lock().unwrap();
    eprintln!("soak: {frames} frames in {:?}, {with_face} with the face; RSS (frame, MiB): {rss:?}", started.elapsed());
    assert!(ending.error.is_none(), "{ending:?}");
    assert_eq!((frames, with_face), (FRAMES, FRAMES));
    let at = |f: u64| rss.iter().find(|r| r.0 == f).unwrap().1;
    assert!(at(30_000) - at(6_000) < 16.0, "memory grows over the soak: {rss:?}");
}
