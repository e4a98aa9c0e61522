//! Where the default models live: the install directory chosen at build time (meson sets
//! `STEADYFACE_MODEL_DIR`), else the source tree's `models/`.

use std::path::{Path, PathBuf};

pub const DETECTOR: &str = "face_detection_front_128.onnx";
pub const BACKBONE: &str = "face_landmark.onnx";
/// The ConvLSTM stabilizer trained for [`BACKBONE`] (sidecar `stabilizer.json` beside it).
pub const STABILIZER: &str = "stabilizer.onnx";

/// Directories searched for default models, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("STEADYFACE_MODEL_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(dir) = option_env!("STEADYFACE_MODEL_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
    dirs
}

/// The default model called `name`: the first search directory that has it, or the first
/// candidate path (so that a "missing model" error names where it was expected).
pub fn default_model(name: &str) -> PathBuf {
    let candidates: Vec<PathBuf> = search_dirs().into_iter().map(|d| d.join(name)).collect();
    candidates.iter().find(|p| p.is_file()).cloned().unwrap_or_else(|| candidates[candidates.len() - 1].clone())
}
