//! Bad setup states give clear messages: missing or corrupt models, a model of the wrong kind,
//! ONNX Runtime missing, Python missing.

mod common;

use std::path::Path;
use std::process::Command;

use common::default_paths;
use steadyface::pipeline::{ModelPaths, Models};
use steadyface::runtime::Device;
use steadyface::scheme::Scheme;

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
fn onnx_runtime_missing_is_reported_with_the_path() {
    let out = Command::new(env!("CARGO_BIN_EXE_steadyface"))
        .arg("info")
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .expect("run steadyface info");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("/nonexistent/libonnxruntime.so") && stderr.contains("does not exist"), "{stderr}");
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
