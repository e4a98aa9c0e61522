//! Running the built `steadyface` in the command's tests (next to `common`, which they include
//! from the core's tests).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::testdata;

/// The built program run with `args` (it holds the elements it was built with).
pub fn steadyface(args: &[&OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_steadyface")).args(args).output().expect("steadyface runs")
}

/// The JSON lines of a file the program wrote.
pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
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

/// Synthetic benchmark sequences of takeo.ppm (exact ground truth) at `levels`, seed 3, in
/// `dir/seqs`; the sequence folders are `takeo-<level>`.
pub fn synth(dir: &Path, frames: usize, levels: &str) -> PathBuf {
    synth_sized(dir, frames, levels, "480x400")
}

pub fn synth_sized(dir: &Path, frames: usize, levels: &str, size: &str) -> PathBuf {
    let out = dir.join("seqs");
    let image = testdata("takeo.ppm");
    let frames = frames.to_string();
    run_ok(args![
        "synth",
        image.as_os_str(),
        "--out",
        out.as_os_str(),
        "--frames",
        &frames,
        "--levels",
        levels,
        "--seed",
        "3",
        "--size",
        size
    ]);
    out
}
