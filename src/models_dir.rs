//! Where the default models live: the install directory chosen at build time (meson sets
//! `STEADYFACE_MODEL_DIR`), else the source tree's `models/`.

use std::path::{Path, PathBuf};

pub const DETECTOR: &str = "face_detection_front_128.onnx";
pub const BACKBONE: &str = "face_landmark.onnx";
/// The ConvLSTM stabilizer trained for [`BACKBONE`] (sidecar `stabilizer.json` beside it).
pub const STABILIZER: &str = "stabilizer.onnx";

/// The stabilizer shipped for the backbone at `backbone`: `NAME.stabilizer.onnx` beside
/// `NAME.onnx` when there is one (each backbone's own, e.g. `face_api_landmark68.stabilizer.onnx`),
/// else the default [`STABILIZER`] (made for [`BACKBONE`]; it steps aside for another backbone,
/// see `Models::load_with_default_stabilizer`).
pub fn shipped_stabilizer(backbone: &Path) -> PathBuf {
    let own = backbone.with_extension("stabilizer.onnx");
    if own.is_file() { own } else { default_model(STABILIZER) }
}

/// The value of a `stabilizer` setting (the element's property, `--stabilizer`) that names the
/// stabilizer shipped for the backbone, without its path.
pub const SHIPPED_STABILIZER: &str = "shipped";

/// The stabilizer a `stabilizer` setting names for `backbone`: none for an empty one, the one
/// shipped for the backbone ([`shipped_stabilizer`]) for [`SHIPPED_STABILIZER`], else the path
/// given.
pub fn stabilizer_setting(value: &Path, backbone: &Path) -> Option<PathBuf> {
    if value.as_os_str().is_empty() {
        None
    } else if value == Path::new(SHIPPED_STABILIZER) {
        Some(shipped_stabilizer(backbone))
    } else {
        Some(value.to_path_buf())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backbone_with_its_own_stabilizer_gets_it_and_others_the_default() {
        let dir = std::env::temp_dir().join(format!("steadyface-shipped-stabilizer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let own = dir.join("mine.stabilizer.onnx");
        std::fs::write(&own, b"x").expect("write");
        assert_eq!(shipped_stabilizer(&dir.join("mine.onnx")), own);
        assert_eq!(shipped_stabilizer(&dir.join("other.onnx")), default_model(STABILIZER));
        let setting = |value: &str| stabilizer_setting(Path::new(value), &dir.join("mine.onnx"));
        assert_eq!(setting(""), None);
        assert_eq!(setting("shipped"), Some(own.clone()));
        assert_eq!(setting("/x/s.onnx"), Some(PathBuf::from("/x/s.onnx")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
