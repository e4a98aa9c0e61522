//! `landmarkpublish`: one `steadyface.landmarks/1` JSON line per buffer (docs/landmarks.schema.json)
//! into a file, a FIFO or standard output, from `gst-launch-1.0` with the built plugin.

mod common;
#[path = "../../tests/landmarks_schema/mod.rs"]
mod landmarks_schema;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{play_within, testdata, with_built_plugin};

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sf-publish-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// `gst-launch-1.0 -q filesrc location=single_face.mp4 ! decodebin ! videoconvert ! facelandmarks
/// ! landmarkpublish location=LOCATION ! fakesink` with the built plugin.
fn launch(location: &str) -> Output {
    let input = testdata("single_face.mp4");
    with_built_plugin("gst-launch-1.0")
        .args(["-q", "filesrc", &format!("location={}", input.display())])
        .args(["!", "decodebin", "!", "videoconvert", "!", "facelandmarks", "device=cpu"])
        .args(["!", "landmarkpublish", &format!("location={location}"), "!", "fakesink"])
        .output()
        .expect("gst-launch-1.0 runs")
}

/// Every line valid; 72 frames numbered 0..71, increasing timestamps, one face of 68 points each.
fn check_single_face(text: &str) {
    let lines = landmarks_schema::check_lines(&landmarks_schema::schema(), text);
    assert_eq!(lines.len(), 72, "one line per frame");
    let mut last = None;
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["frame"], i, "{l}");
        assert_eq!((l["width"].as_u64(), l["height"].as_u64()), (Some(640), Some(360)));
        assert_eq!(l["scheme"], "ibug68");
        let faces = l["faces"].as_array().expect("faces");
        assert_eq!(faces.len(), 1, "frame {i}: one face");
        assert_eq!(faces[0]["points"].as_array().map(Vec::len), Some(68));
        let t = l["timestamp"].as_u64().expect("a timestamp");
        assert!(last.is_none_or(|last| t > last), "frame {i}: timestamp {t} after {last:?}");
        last = Some(t);
    }
}

fn ok(out: &Output) {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn gst_launch_publishes_one_valid_line_per_frame_to_a_file() {
    let dir = scratch("file");
    let json = dir.join("out.jsonl");
    // What was there before is replaced, not appended to.
    std::fs::write(&json, "an old line\n").unwrap();
    ok(&launch(&json.to_string_lossy()));
    check_single_face(&std::fs::read_to_string(&json).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn publishes_to_standard_output() {
    let out = launch("-");
    ok(&out);
    check_single_face(&String::from_utf8(out.stdout).expect("UTF-8"));
}

/// Into a FIFO: the reader, started first, gets every line (the element writes through the FIFO,
/// never replacing it with a file).
#[test]
fn publishes_into_a_fifo() {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let dir = scratch("fifo");
    let fifo = dir.join("landmarks.pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = fifo.clone();
    std::thread::spawn(move || tx.send(std::fs::read_to_string(&reader)));
    let out = launch(&fifo.to_string_lossy());
    if !out.status.success() {
        // Release the reader if the FIFO was never opened, then report.
        let _ = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&fifo);
        panic!("landmarkpublish into a FIFO failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the FIFO's reader got nothing");
    check_single_face(&text.expect("read the FIFO"));
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "still a FIFO");
    let _ = std::fs::remove_dir_all(&dir);
}

/// einstein.jpg as `frames` buffers through facelandmarks into `landmarkpublish location=...`.
fn einstein_into(location: &Path, frames: u32) -> common::Ending {
    let launch = format!(
        "filesrc location={} ! jpegdec ! imagefreeze num-buffers={frames} ! videoconvert ! facelandmarks device=cpu \
         ! landmarkpublish location={} ! fakesink name=sink",
        testdata("einstein.jpg").display(),
        location.display()
    );
    play_within(&common::parse(&launch).unwrap(), 120)
}

#[test]
fn a_location_that_cannot_be_opened_fails_the_start_and_a_failed_write_is_an_element_error() {
    let dir = scratch("errors");
    let missing = dir.join("no-such-folder/out.jsonl");
    let ending = einstein_into(&missing, 2);
    let error = ending.error.expect("the start fails");
    assert!(error.contains(&format!("Could not open {} for writing", missing.display())), "{error}");
    assert!(error.contains("No such file or directory"), "{error}");
    let ending = einstein_into(&dir, 2);
    assert!(ending.error.is_some_and(|e| e.contains("it is a folder")), "a folder is refused");
    // /dev/full takes no byte: the first line fails with an element error (no panic, no hang).
    if Path::new("/dev/full").exists() {
        let ending = einstein_into(Path::new("/dev/full"), 2);
        let error = ending.error.expect("writing to /dev/full fails");
        assert!(error.contains("Could not write to /dev/full") && error.contains("No space left"), "{error}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without facelandmarks upstream there is nothing to write: buffers pass, one warning says why.
#[test]
fn buffers_without_landmarks_pass_with_one_warning_and_no_line() {
    let dir = scratch("no-meta");
    let json = dir.join("out.jsonl");
    let launch =
        format!("videotestsrc num-buffers=5 ! landmarkpublish location={} ! fakesink name=sink", json.display());
    let pipeline = common::parse(&launch).unwrap();
    let frames = common::record_faces(&pipeline);
    let ending = play_within(&pipeline, 60);
    assert!(ending.error.is_none(), "{ending:?}");
    assert_eq!(frames.lock().unwrap().len(), 5, "every buffer passes");
    assert_eq!(ending.warnings, ["Buffers without landmarks are not written"], "{ending:?}");
    assert_eq!(std::fs::read_to_string(&json).unwrap(), "", "created at start, empty");
    let _ = std::fs::remove_dir_all(&dir);
}
