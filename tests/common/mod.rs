//! Helpers shared by the integration tests of the workspace's crates (included by path): test
//! media in ../shared/testdata and the default models.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use steadyface::frame::Frame;
use steadyface::models_dir;
use steadyface::pipeline::{ModelPaths, Models};
use steadyface::runtime::Device;
use steadyface::scheme::Scheme;

/// The repository's root (this file is shared by the tests of every crate of the workspace).
pub fn root() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir.ancestors().find(|d| d.join("models/MODELS.md").is_file()).unwrap_or(crate_dir).to_path_buf()
}

pub fn testdata(name: &str) -> PathBuf {
    root().join("../shared/testdata").join(name)
}

pub struct Rgb {
    pub data: Vec<u8>,
    pub width: usize,
    pub height: usize,
}

impl Rgb {
    pub fn frame(&self) -> Frame<'_> {
        Frame::rgb(&self.data, self.width, self.height).expect("valid RGB frame")
    }
}

pub fn load_rgb(name: &str) -> Rgb {
    let img = image::open(testdata(name)).unwrap_or_else(|e| panic!("{name}: {e}")).to_rgb8();
    Rgb { width: img.width() as usize, height: img.height() as usize, data: img.into_raw() }
}

pub fn default_paths() -> ModelPaths {
    ModelPaths {
        detector: models_dir::default_model(models_dir::DETECTOR),
        backbone: models_dir::default_model(models_dir::BACKBONE),
        stabilizer: None,
    }
}

pub fn models() -> std::sync::Arc<Models> {
    Models::load(&default_paths(), Device::Cpu, Scheme::Ibug68).expect("default models load")
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Writes an identity ConvLSTM stabilizer for the 68 iBUG points into `dir`, with `sidecar`
/// (JSON) beside it when given; returns its path.
pub fn identity_stabilizer(dir: &Path, hidden: usize, sidecar: Option<&str>) -> PathBuf {
    use steadyface::onnx::{ConvLstmSpec, ConvLstmWeights, convlstm_model, write_model};
    let path = dir.join("stabilizer.onnx");
    let weights = ConvLstmWeights::identity(ConvLstmSpec { points: 68, hidden, kernel: 3 });
    write_model(&path, &convlstm_model(&weights).expect("model")).expect("write stabilizer");
    if let Some(json) = sidecar {
        std::fs::write(path.with_extension("json"), json).expect("write sidecar");
    }
    path
}
