//! Helpers shared by the integration tests: test media in ../shared/testdata and default models.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use steadyface::frame::Frame;
use steadyface::models_dir;
use steadyface::pipeline::{ModelPaths, Models};
use steadyface::runtime::Device;
use steadyface::scheme::Scheme;

pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata").join(name)
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

/// The built CLI run with `args`. It loads libgststeadyface.so from its own folder
/// (target/release), which `cargo build --release --workspace` puts there and `cargo test`
/// alone does not.
pub fn steadyface(args: &[&OsStr]) -> Output {
    let plugin = Path::new(env!("CARGO_BIN_EXE_steadyface")).with_file_name("libgststeadyface.so");
    assert!(
        plugin.exists(),
        "{} missing: build the plugin first (cargo build --release --workspace)",
        plugin.display()
    );
    Command::new(env!("CARGO_BIN_EXE_steadyface")).args(args).output().expect("steadyface runs")
}

/// [`steadyface`] that must succeed; its standard output.
pub fn run_ok(args: &[&OsStr]) -> String {
    let out = steadyface(args);
    assert!(out.status.success(), "steadyface {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// [`steadyface`] that must fail; its standard error.
pub fn run_err(args: &[&OsStr]) -> String {
    let out = steadyface(args);
    assert!(!out.status.success(), "steadyface {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// `steadyface finetune` on a tiny problem: 3-frame sequences from the two unannotated test
/// photos, takeo held out, a checkpoint every 2 steps; `extra` adds options (--steps ...).
pub fn tiny_finetune(out: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_steadyface"));
    cmd.arg("finetune").arg("--out").arg(out);
    cmd.arg("--images").args([testdata("single_face.jpg"), testdata("multi_face.jpg")]);
    cmd.arg("--holdout").arg(testdata("takeo.ppm"));
    cmd.args(["--sequences", "8", "--frames", "3", "--batch", "2", "--eval-every", "2", "--eval-frames", "0"]);
    cmd.arg("--quiet").args(extra);
    cmd
}

/// Command-line arguments of mixed types (`&str`, `&OsStr`) as `&[&OsStr]`.
#[allow(unused_macros)]
macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new($a)),*] };
}
