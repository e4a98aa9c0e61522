//! `steadyface track --personalize` on the real models and test media: it adapts the shipped
//! stabilizer to the video, tracks every frame with it, and writes an adapted stabilizer that
//! `--stabilizer` loads; bad input is refused with a message.

#[path = "../../tests/common/mod.rs"]
mod common;
#[macro_use]
mod run;

use common::{scratch, testdata};
use run::{json_lines, run_err, steadyface};

#[test]
fn track_personalize_writes_a_stabilizer_that_track_loads_and_a_line_per_frame() {
    let dir = scratch("personalize");
    let (out, json, again) = (dir.join("adapted.onnx"), dir.join("out.jsonl"), dir.join("again.jsonl"));
    let input = testdata("single_face.mp4");
    let run = steadyface(args![
        "track",
        input.as_os_str(),
        "--personalize",
        "--personalize-budget",
        "5",
        "--personalize-out",
        out.as_os_str(),
        "--json",
        json.as_os_str(),
        "--device",
        "cpu",
        "--quiet"
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("stabilizer personalised: 9 windows"), "{stderr}");
    let lines = json_lines(&json);
    assert_eq!(lines.len(), 72, "a line per frame");
    assert!(lines.iter().all(|l| l["faces"][0]["points"].as_array().is_some_and(|p| p.len() == 68)));
    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).expect("sidecar")).expect("JSON");
    assert!(sidecar["data"].to_string().contains("personalised from"), "{}", sidecar["data"]);
    assert!(sidecar["command"].as_str().is_some_and(|c| c.contains("--personalize")));
    // The adapted stabilizer is a stabilizer the element loads.
    let reuse = steadyface(args![
        "track",
        input.as_os_str(),
        "--stabilizer",
        out.as_os_str(),
        "--json",
        again.as_os_str(),
        "--device",
        "cpu",
        "--quiet"
    ]);
    assert!(reuse.status.success(), "{}", String::from_utf8_lossy(&reuse.stderr));
    assert_eq!(json_lines(&again).len(), 72);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn track_personalize_refuses_a_video_without_a_face_and_a_budget_of_zero() {
    let no_face = testdata("no_face.mp4");
    let err = run_err(args!["track", no_face.as_os_str(), "--personalize", "--device", "cpu", "--quiet"]);
    assert!(err.contains("no face tracked") && err.contains("nothing to personalise to"), "{err}");
    let face = testdata("single_face.mp4");
    let err = run_err(args!["track", face.as_os_str(), "--personalize", "--personalize-budget", "0", "--quiet"]);
    assert!(err.contains("--personalize-budget 0: give a positive number of seconds"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
