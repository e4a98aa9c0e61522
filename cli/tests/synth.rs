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
