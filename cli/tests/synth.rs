//! `steadyface synth`: deterministic benchmark sequences whose ground truth is the annotation
//! moved with the image.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;

use common::{scratch, testdata};

fn synth(out: &Path, image: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_steadyface"))
        .arg("synth")
        .arg(image)
        .arg("--out")
        .arg(out)
        .args(["--frames", "12", "--size", "160x120", "--iod", "40", "--levels", "clean,noise10"])
        .args(extra)
        .output()
        .expect("steadyface synth runs")
}

#[test]
fn sequences_are_deterministic_and_start_from_the_annotation() {
    let (a, b) = (scratch("synth-a"), scratch("synth-b"));
    let image = testdata("takeo.ppm");
    for dir in [&a, &b] {
        let out = synth(dir, &image, &["--seed", "7"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    for level in ["takeo-clean", "takeo-noise10"] {
        for file in ["gt.jsonl", "000000.png", "000011.png", "meta.json"] {
            let (x, y) =
                (std::fs::read(a.join(level).join(file)).unwrap(), std::fs::read(b.join(level).join(file)).unwrap());
            assert!(x == y, "{level}/{file} differs between two runs with the same seed");
        }
    }
    assert_ne!(
        std::fs::read(a.join("takeo-clean/000005.png")).unwrap(),
        std::fs::read(a.join("takeo-noise10/000005.png")).unwrap()
    );
    // Frame 0 shows the face centred and scaled so the eyes are 40 px apart: by hand,
    // p_frame = (p - mean) * 40 / iod + ((160 - 1) / 2, (120 - 1) / 2), with .pts 1-based.
    let pts = steadyface::pts::read_pts(&testdata("takeo.pts")).unwrap();
    let mean = pts.iter().fold([0.0, 0.0], |m, p| [m[0] + p[0] / 68.0, m[1] + p[1] / 68.0]);
    let zoom = 40.0 / steadyface::metrics::inter_ocular(&pts);
    let gt = std::fs::read_to_string(a.join("takeo-clean/gt.jsonl")).unwrap();
    assert_eq!(gt.lines().count(), 12);
    let first: serde_json::Value = serde_json::from_str(gt.lines().next().unwrap()).unwrap();
    assert_eq!(first["frame"], 0);
    for (i, p) in pts.iter().enumerate() {
        let want = [(p[0] - mean[0]) * zoom + 79.5, (p[1] - mean[1]) * zoom + 59.5];
        let got = [first["points"][i][0].as_f64().unwrap() as f32, first["points"][i][1].as_f64().unwrap() as f32];
        assert!((want[0] - got[0]).abs() < 1e-3 && (want[1] - got[1]).abs() < 1e-3, "point {i}: {got:?} vs {want:?}");
    }
}

#[test]
fn a_bad_annotation_names_file_and_line() {
    let dir = scratch("synth-bad");
    let image = dir.join("face.ppm");
    std::fs::copy(testdata("takeo.ppm"), &image).unwrap();
    std::fs::write(dir.join("face.pts"), "version: 1\nn_points: 68\n{\n1 2\nthree 4\n}\n").unwrap();
    let out = synth(&dir.join("out"), &image, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("face.pts:5:"), "{stderr}");
}

#[test]
fn expression_sequences_share_the_motion_and_move_the_mouth_not_the_nose_bridge() {
    let dir = scratch("synth-expr");
    let out = Command::new(env!("CARGO_BIN_EXE_steadyface"))
        .arg("synth")
        .arg(testdata("takeo.ppm"))
        .arg("--out")
        .arg(&dir)
        .args(["--frames", "30", "--size", "160x120", "--iod", "40", "--levels", "clean", "--motion", "both"])
        .output()
        .expect("steadyface synth runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read_gt = |name: &str| -> Vec<Vec<[f64; 2]>> {
        let text = std::fs::read_to_string(dir.join(name).join("gt.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        lines
            .iter()
            .map(|l| {
                l["points"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
                    .collect()
            })
            .collect()
    };
    let (rigid, expr) = (read_gt("takeo-clean"), read_gt("takeo-expr-clean"));
    for (name, gt) in [("takeo-clean", &rigid), ("takeo-expr-clean", &expr)] {
        assert_eq!(gt.len(), 30, "{name}");
        assert!(gt.iter().all(|points| points.len() == 68), "{name}");
        assert!(dir.join(name).join("000029.png").is_file() && !dir.join(name).join("000030.png").exists(), "{name}");
    }
    // Both start from the same frame (every expression starts at weight 0) and the face moves
    // within 30 frames.
    assert!(
        std::fs::read(dir.join("takeo-clean/000000.png")).unwrap()
            == std::fs::read(dir.join("takeo-expr-clean/000000.png")).unwrap()
    );
    let d = |a: [f64; 2], b: [f64; 2]| (a[0] - b[0]).hypot(a[1] - b[1]);
    assert!(d(rigid[0][30], rigid[29][30]) > 2.0, "the nose tip stays at {:?}", rigid[0][30]);
    // The expression moves the mouth by pixels (0.35 x 40 px open at full weight) and the nose
    // bridge, which no unit moves, not at all.
    let most = |points: std::ops::RangeInclusive<usize>| {
        (0..30)
            .flat_map(|f| points.clone().map(move |i| (f, i)))
            .map(|(f, i)| d(rigid[f][i], expr[f][i]))
            .fold(0.0, f64::max)
    };
    assert!(most(48..=67) > 3.0, "mouth moved at most {} px", most(48..=67));
    assert!(most(27..=30) < 1e-3, "nose bridge moved {} px", most(27..=30));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("takeo-expr-clean/meta.json")).unwrap()).unwrap();
    assert_eq!(meta["motion"], "expression");
    let events = meta["expression"].as_array().unwrap();
    assert!(!events.is_empty());
    for key in ["unit", "start", "onset", "hold", "offset", "amplitude"] {
        assert!(events.iter().all(|e| e.get(key).is_some()), "events without {key}");
    }
}
