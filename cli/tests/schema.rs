//! Every writer of landmarks JSON follows docs/landmarks.schema.json (`steadyface.landmarks/1`):
//! the `landmarkpublish` element, `steadyface track` (paths, frame folders and URIs),
//! `steadyface detect` and examples/print_landmarks.py.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../../tests/landmarks_schema/mod.rs"]
mod landmarks_schema;
#[macro_use]
mod run;

use std::path::PathBuf;
use std::process::Command;

use common::{root, scratch, testdata};
use landmarks_schema::{check_line, check_lines, old_shapes, schema};
use run::{run_err, run_ok};

/// A program that sees the built plugin (target/release) through GST_PLUGIN_PATH.
fn with_built_plugin(program: &str) -> Command {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let dir = target.join("release");
    assert!(dir.join("libgststeadyface.so").exists(), "build the plugin first (cargo build --release)");
    let mut cmd = Command::new(program);
    cmd.env("GST_PLUGIN_PATH", &dir).env(
        "GST_REGISTRY",
        std::env::temp_dir().join(format!(
            "sf-registry-schema-{}-{}.bin",
            std::process::id(),
            program.replace('/', "_")
        )),
    );
    cmd
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn faces(line: &serde_json::Value) -> &Vec<serde_json::Value> {
    line["faces"].as_array().expect("faces is a list")
}

#[test]
fn every_writer_follows_the_landmarks_schema() {
    let schema = schema();
    let video = testdata("single_face.mp4");

    // The element, in a gst-launch line.
    let published = stdout_of(
        with_built_plugin("gst-launch-1.0")
            .args(["-q", "filesrc", &format!("location={}", video.display())])
            .args(["!", "decodebin", "!", "videoconvert", "!", "facelandmarks", "device=cpu"])
            .args(["!", "landmarkpublish", "location=-", "!", "fakesink"]),
    );
    let published = check_lines(&schema, &published);
    assert_eq!(published.len(), 72);
    assert!(published.iter().all(|l| faces(l).len() == 1));

    // `track` on a video, and on a folder of numbered frames without faces.
    let tracked = check_lines(&schema, &run_ok(args!["track", video.as_os_str(), "--device", "cpu"]));
    assert_eq!(tracked.len(), 72);
    assert!(tracked.iter().all(|l| faces(l).len() == 1));
    let dir = scratch("schema-track");
    for i in 0..2 {
        std::fs::copy(testdata("einstein.jpg"), dir.join(format!("{:06}.jpg", i + 4))).unwrap();
    }
    let frames = check_lines(&schema, &run_ok(args!["track", dir.as_os_str(), "--search-budget", "0"]));
    assert_eq!(frames.iter().map(|l| l["frame"].as_u64().unwrap()).collect::<Vec<_>>(), [4, 5], "the files' numbers");
    let no_face = check_lines(&schema, &run_ok(args!["track", testdata("no_face.mp4").as_os_str(), "--device", "cpu"]));
    assert!(no_face.iter().all(|l| faces(l).is_empty()), "no face: an empty list");

    // `detect` on stills: the schema's object plus the image and the detector's boxes.
    let (single, multi) = (testdata("einstein.jpg"), testdata("multi_face.jpg"));
    let detected = check_lines(&schema, &run_ok(args!["detect", single.as_os_str(), multi.as_os_str()]));
    assert_eq!(detected.len(), 2);
    assert_eq!((detected[0]["frame"].as_u64(), detected[1]["frame"].as_u64()), (Some(0), Some(1)));
    assert!(detected.iter().all(|l| l["timestamp"].is_null()), "stills have no timestamp");
    assert_eq!((faces(&detected[0]).len(), faces(&detected[1]).len()), (1, 5));
    assert_eq!(detected[1]["image"], multi.display().to_string());
    assert!(!detected[1]["detections"].as_array().expect("detections").is_empty());

    // The Python example reading the meta itself.
    let python = stdout_of(
        with_built_plugin("/usr/bin/python3")
            .arg(root().join("examples/print_landmarks.py"))
            .arg(&video)
            .args(["--max-frames", "5"]),
    );
    let python = check_lines(&schema, &python);
    assert_eq!(python.len(), 5);
    // Same pipeline as the element's line above: the same frames and timestamps.
    for (p, e) in python.iter().zip(&published) {
        assert_eq!(
            (&p["frame"], &p["timestamp"], &p["width"], &p["scheme"]),
            (&e["frame"], &e["timestamp"], &e["width"], &e["scheme"])
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The check can fail: the shapes written before the schema, and near misses of a valid line.
#[test]
fn the_schema_check_rejects_the_old_shapes_and_near_misses() {
    let schema = schema();
    for old in old_shapes() {
        assert!(check_line(&schema, &old).is_err(), "accepted an old line: {old}");
    }
    let points: Vec<[f32; 2]> = (0..68).map(|i| [i as f32, 1.0]).collect();
    let face = steadyface::pipeline::Face {
        track_id: 1,
        bbox: [0.0, 0.0, 10.0, 10.0],
        score: 0.9,
        points,
        confidence: vec![1.0; 68],
        new_track: true,
        stabilized: false,
    };
    let good = steadyface::landmarks_json::FrameLandmarks::new(0, Some(5), (64, 48), "ibug68", vec![face]);
    let good: serde_json::Value = serde_json::from_str(&good.to_line()).unwrap();
    check_line(&schema, &good.to_string()).expect("a valid line");
    type Damage = fn(&mut serde_json::Value);
    let broken: [(&str, Damage); 9] = [
        ("67 points for ibug68", |v| _ = v["faces"][0]["points"].as_array_mut().unwrap().pop()),
        ("a point of three numbers", |v| v["faces"][0]["points"][3] = serde_json::json!([1, 2, 3])),
        ("confidences fewer than points", |v| v["faces"][0]["confidence"] = serde_json::json!([1.0])),
        ("faces missing", |v| _ = v.as_object_mut().unwrap().remove("faces")),
        ("faces an object", |v| v["faces"] = v["faces"][0].clone()),
        ("timestamp as text", |v| v["timestamp"] = "5".into()),
        ("another schema", |v| v["schema"] = "steadyface.landmarks/2".into()),
        ("a box of three numbers", |v| v["faces"][0]["box"] = serde_json::json!([1, 2, 3])),
        ("an unknown key", |v| v["faces"][0]["bbox"] = serde_json::json!([1, 2, 3, 4])),
    ];
    for (what, damage) in broken {
        let mut v = good.clone();
        damage(&mut v);
        assert!(check_line(&schema, &v.to_string()).is_err(), "accepted {what}");
    }
    // Without a face, and without a timestamp, a line is valid; a full scheme may have any count.
    let mut empty = good.clone();
    empty["faces"] = serde_json::json!([]);
    empty["timestamp"] = serde_json::Value::Null;
    check_line(&schema, &empty.to_string()).expect("no face, no timestamp");
    let mut full = good.clone();
    full["scheme"] = "mediapipe468".into();
    full["faces"][0]["points"] = serde_json::json!([[1, 2], [3, 4]]);
    full["faces"][0]["confidence"] = serde_json::json!([1, 1]);
    check_line(&schema, &full.to_string()).expect("a full scheme");
}

#[test]
fn track_reads_a_file_uri_as_it_reads_the_path() {
    let dir = scratch("track-uri");
    let video = std::fs::canonicalize(testdata("single_face.mp4")).unwrap();
    let uri = format!("file://{}", video.display());
    let json = dir.join("out.jsonl");
    run_ok(args!["track", &uri, "--json", json.as_os_str(), "--device", "cpu"]);
    let schema = schema();
    let by_uri = check_lines(&schema, &std::fs::read_to_string(&json).unwrap());
    let by_path = check_lines(&schema, &run_ok(args!["track", video.as_os_str(), "--device", "cpu"]));
    assert_eq!(by_uri.len(), 72);
    let mut last = None;
    for (i, (u, p)) in by_uri.iter().zip(&by_path).enumerate() {
        assert_eq!(u["frame"], i);
        assert_eq!(faces(u).len(), 1, "frame {i}");
        assert_eq!(faces(u)[0]["points"].as_array().map(Vec::len), Some(68));
        let t = u["timestamp"].as_u64().expect("timestamp");
        assert!(last.is_none_or(|l| t > l), "timestamps increase");
        last = Some(t);
        assert_eq!((&u["timestamp"], &u["width"], &u["height"]), (&p["timestamp"], &p["width"], &p["height"]));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn track_bad_uris_give_clear_errors() {
    let err = run_err(args!["track", "file:///no/such/dir/video.mp4"]);
    assert!(err.contains("file:///no/such/dir/video.mp4: no such video file (/no/such/dir/video.mp4)"), "{err}");
    let err = run_err(args!["track", "bogus://host/video.mp4"]);
    assert!(
        err.contains("bogus://host/video.mp4") && err.contains("No URI handler implemented for \"bogus\""),
        "{err}"
    );
    let err = run_err(args!["track", "no-such-video.mp4"]);
    assert!(err.contains("no-such-video.mp4: no such video file, frame directory or URI"), "{err}");
}
