//! The command's own errors: a missing ONNX Runtime, subcommands without their inputs.

use std::process::Command;

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
fn detect_and_synth_without_images_fail_with_their_usage() {
    for command in ["detect", "synth"] {
        let out = Command::new(env!("CARGO_BIN_EXE_steadyface")).arg(command).output().expect("run steadyface");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "steadyface {command} without images must fail");
        assert!(stderr.contains("<IMAGES>...") && stderr.contains(&format!("Usage: steadyface {command}")), "{stderr}");
    }
}
