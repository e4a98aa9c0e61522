//! Bad setup states give clear messages: missing or corrupt models, a model of the wrong kind,
//! stabilizer sidecars with numbers the runtime cannot use, ONNX Runtime missing, Python missing,
//! commands missing their inputs.

mod common;

use std::path::Path;
use std::process::Command;

use common::{default_paths, scratch};
use steadyface::Error;
use steadyface::heatmap::HeatmapSpec;
use steadyface::models_dir;
use steadyface::pipeline::{ModelPaths, Models};
use steadyface::runtime::Device;
use steadyface::scheme::Scheme;
use steadyface::stabilizer::{Sidecar, Stabilizer};

fn load_error(paths: &ModelPaths) -> String {
    match Models::load(paths, Device::Cpu, Scheme::Ibug68) {
        Ok(_) => panic!("loading {paths:?} should fail"),
        Err(e) => e.to_string(),
    }
}

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("steadyface-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("temp file");
    path
}

#[test]
fn missing_model_names_the_path() {
    let paths = ModelPaths { backbone: "/nonexistent/landmarks.onnx".into(), ..default_paths() };
    let msg = load_error(&paths);
    assert!(msg.contains("/nonexistent/landmarks.onnx") && msg.contains("does not exist"), "{msg}");
}

#[test]
fn corrupt_model_names_the_path() {
    let corrupt = temp_file("corrupt.onnx", b"this is not an ONNX protobuf");
    let msg = load_error(&ModelPaths { detector: corrupt.clone(), ..default_paths() });
    assert!(msg.contains(&*corrupt.to_string_lossy()) && msg.contains("could not be loaded"), "{msg}");
}

#[test]
fn detector_given_as_backbone_is_a_shape_error() {
    let paths = ModelPaths { backbone: default_paths().detector, ..default_paths() };
    let msg = load_error(&paths);
    assert!(
        msg.contains("unexpected shape")
            && msg.contains("neither heatmaps")
            && msg.contains("face_detection_front_128.onnx"),
        "{msg}"
    );
}

#[test]
fn setup_without_python_says_so() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("scripts/setup.sh"))
        .env("STEADYFACE_PYTHON", "/nonexistent/python3")
        .output()
        .expect("run setup.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("/nonexistent/python3 not found"), "{stderr}");
}

/// The shipped stabilizer and its sidecar.
fn shipped() -> (std::path::PathBuf, std::path::PathBuf) {
    let model = models_dir::default_model(models_dir::STABILIZER);
    let sidecar = model.with_extension("json");
    (model, sidecar)
}

/// A copy of the shipped stabilizer in a folder of its own, with `sidecar` (text) beside it;
/// returns the model's and the sidecar's paths.
fn stabilizer_with_sidecar(name: &str, sidecar: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = scratch(name);
    let model = dir.join("stabilizer.onnx");
    std::fs::copy(shipped().0, &model).expect("copy the shipped stabilizer");
    std::fs::write(dir.join("stabilizer.json"), sidecar).expect("write the sidecar");
    (model, dir.join("stabilizer.json"))
}

/// The shipped sidecar with `key` set to `value`.
fn shipped_sidecar_with(key: &str, value: serde_json::Value) -> String {
    let text = std::fs::read_to_string(shipped().1).expect("shipped sidecar");
    let mut json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    json[key] = value;
    json.to_string()
}

/// Loading `sidecar` beside the shipped model fails with a `SidecarInvalid` error naming the
/// sidecar and `field` (the field, or `line L, column C`); returns the message.
fn sidecar_error(name: &str, sidecar: &str, field: &str) -> String {
    let (model, path) = stabilizer_with_sidecar(name, sidecar);
    let err = match Stabilizer::load(&model, Device::Cpu) {
        Ok(_) => panic!("{sidecar} should be refused"),
        Err(e) => e,
    };
    let message = err.to_string();
    match &err {
        Error::SidecarInvalid { path: p, field: f, .. } => {
            assert!(*p == path && f == field, "{message}");
            assert!(message.contains(&*path.to_string_lossy()) && message.contains(field), "{message}");
        }
        other => panic!("expected a sidecar error about {field}, got: {other}"),
    }
    let _ = std::fs::remove_dir_all(path.parent().expect("folder"));
    message
}

/// The shipped sidecar loads into the values the runtime has always read from it, and reading and
/// writing it through the one sidecar type gives back the same bytes.
#[test]
fn the_shipped_sidecar_loads_as_before_and_round_trips_byte_for_byte() {
    let (model, sidecar) = shipped();
    let s = Stabilizer::load(&model, Device::Cpu).expect("the shipped stabilizer loads");
    assert_eq!((s.heatmap, s.window, s.pdc_threshold), (HeatmapSpec { size: 24, sigma: 1.5 }, 12, Some(0.2)));
    assert_eq!((s.points, s.state_channels), (68, 136));
    let sums = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/checksums.sha256")).unwrap();
    let backbone = sums.lines().find(|l| l.ends_with("face_landmark.onnx")).unwrap().split_whitespace().next();
    assert_eq!(s.backbone_sha256.as_deref(), backbone);

    let dir = scratch("sidecar-round-trip");
    let copy = dir.join("stabilizer.json");
    Sidecar::read(&sidecar).expect("reads").expect("present").write(&copy).expect("writes");
    assert!(
        std::fs::read(&copy).unwrap() == std::fs::read(&sidecar).unwrap(),
        "{} differs from the shipped one",
        copy.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Once a panic ("min > max") in the runtime.
#[test]
fn a_sidecar_heatmap_size_of_0_is_refused() {
    let msg = sidecar_error("sidecar-size-0", &shipped_sidecar_with("heatmap_size", 0.into()), "heatmap_size");
    assert!(msg.contains("heatmap_size: 0"), "{msg}");
}

/// Once accepted, giving points far from the backbone's with no warning.
#[test]
fn a_sidecar_heatmap_sigma_of_0_is_refused() {
    let msg = sidecar_error("sidecar-sigma-0", &shipped_sidecar_with("heatmap_sigma", 0.into()), "heatmap_sigma");
    assert!(msg.contains("positive"), "{msg}");
}

#[test]
fn a_negative_sidecar_pdc_threshold_is_refused() {
    let msg = sidecar_error("sidecar-pdc", &shipped_sidecar_with("pdc_threshold", (-5).into()), "pdc_threshold");
    assert!(msg.contains("-5") && msg.contains("[0, 1)"), "{msg}");
}

/// The stabilizer was trained on 24x24 maps (its sidecar's `config`); 48 would run it at twice
/// the scale it knows.
#[test]
fn a_sidecar_heatmap_size_other_than_the_trained_one_is_refused() {
    let msg = sidecar_error("sidecar-size-48", &shipped_sidecar_with("heatmap_size", 48.into()), "heatmap_size");
    assert!(msg.contains("48") && msg.contains("trained with 24"), "{msg}");
}

/// The shipped model's maps have no fixed size: only the sidecar says it was trained on 24x24
/// maps, so a sidecar without that is refused rather than run at the default 64.
#[test]
fn an_empty_sidecar_is_refused_for_a_model_without_a_fixed_map_size() {
    let msg = sidecar_error("sidecar-empty", "{}", "heatmap_size");
    assert!(msg.contains("missing"), "{msg}");
}

#[test]
fn a_sidecar_that_is_not_json_names_the_line_and_column() {
    // A second comma after the first `"heatmap_size": 24,`: the error is at that comma.
    let (text, field) = (std::fs::read_to_string(shipped().1).expect("shipped sidecar"), "\"heatmap_size\": 24,");
    let broken = text.replacen(field, &format!("{field},"), 1);
    let (line, at) = text.lines().enumerate().find_map(|(i, l)| Some((i + 1, l.find(field)?))).expect("the line");
    let msg = sidecar_error("sidecar-not-json", &broken, &format!("line {line}, column {}", at + field.len() + 1));
    assert!(msg.contains("not valid JSON"), "{msg}");
    // A value of the wrong type is located the same way.
    let (line, at) =
        text.lines().enumerate().find_map(|(i, l)| Some((i + 1, l.find("\"window\": ")?))).expect("window");
    let wrong = text.replace("\"window\": 12", "\"window\": \"twelve\"");
    let msg = sidecar_error("sidecar-wrong-type", &wrong, &format!("line {line}, column {}", at + 18));
    assert!(msg.contains("invalid type"), "{msg}");
}
