//! `steadyface finetune` end to end on the real models and test media, kept tiny (a few
//! sequences, a few steps): what it writes, that the pipeline runs what it writes, that
//! `--resume` continues exactly where a run stopped, and how bad data is reported.

use std::path::Path;
use std::process::{Command, Output};

use sha2::{Digest, Sha256};
use steadyface::models_dir;
use steadyface::pipeline::{FrameInput, ModelPaths, Models, Tracker, TrackerConfig};
use steadyface::runtime::Device;
use steadyface::scheme::Scheme;

#[path = "../../tests/common/mod.rs"]
mod common;
mod run;

use common::{scratch, testdata};

/// A tiny run (see [`run::tiny_finetune`]).
fn finetune(out: &Path, extra: &[&str]) -> Output {
    let out = run::tiny_finetune(out, extra).output().expect("run steadyface finetune");
    if !out.status.success() {
        eprintln!("stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    out
}

/// A tiny run with `single_face.mp4`'s unlabelled windows for SBR: 3 steps, 2 windows.
fn finetune_with_video(out: &Path, extra: &[&str]) -> Output {
    let video = testdata("single_face.mp4");
    let video = video.to_str().expect("utf-8 path");
    let mut args = vec!["--steps", "3", "--videos", video, "--windows-per-video", "2"];
    args.extend(extra);
    finetune(out, &args)
}

fn sidecar(out: &Path) -> serde_json::Value {
    let path = out.with_extension("json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("sidecar is JSON")
}

#[test]
fn finetune_writes_a_stabilizer_the_pipeline_runs() {
    let dir = scratch("finetune-writes");
    // A folder that does not exist yet: finetune makes it before training, not after.
    let out = dir.join("models/new/stabilizer.onnx");
    let run = finetune_with_video(&out, &[]);
    assert!(run.status.success(), "finetune failed");
    let meta = sidecar(&out);
    let backbone = models_dir::default_model(models_dir::BACKBONE);
    let sha = format!("{:x}", Sha256::digest(std::fs::read(&backbone).expect("backbone")));
    assert_eq!(meta["backbone_sha256"], sha.as_str(), "the sidecar names the backbone by checksum");
    assert_eq!(meta["points"], 68);
    assert!(meta["command"].as_str().is_some_and(|c| c.contains("finetune") && c.contains("--steps 3")));
    assert!(meta["data"][0].as_str().is_some_and(|d| d.contains("8 moving sequences")), "{}", meta["data"]);
    let log = std::fs::read_to_string(out.with_extension("train").join("log.csv")).expect("CSV log");
    assert_eq!(log.lines().count(), 1 + 3, "header + one line per step:\n{log}");
    // Every step has unlabelled windows, and the registration loss kept some tracked points.
    let kept: Vec<u64> = log.lines().skip(1).filter_map(|l| l.split(',').nth(6)?.parse().ok()).collect();
    assert!(kept.len() == 3 && kept.iter().all(|&k| k > 0), "SBR points kept per step: {kept:?}");
    assert!(meta["data"].to_string().contains("single_face.mp4: 2 unlabelled (SBR) windows"), "{}", meta["data"]);
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().expect("out's folder"))
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // The tracking pipeline loads it (backbone checksum and shapes checked) and stabilizes with it.
    let paths = ModelPaths {
        detector: models_dir::default_model(models_dir::DETECTOR),
        backbone,
        stabilizer: Some(out.clone()),
    };
    let models = Models::load(&paths, Device::Cpu, Scheme::Ibug68).expect("pipeline loads the trained stabilizer");
    let rgb = common::load_rgb("single_face.jpg");
    let frame = rgb.frame();
    let mut tracker = Tracker::new(models, TrackerConfig::default());
    let faces = tracker.process(&frame, FrameInput::default()).expect("pipeline").faces;
    assert_eq!(faces.len(), 1);
    assert!(faces[0].stabilized && faces[0].points.len() == 68);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Four steps in one go, or a session stopped after two then `--resume` to four: the same weights
/// and log (the checkpoint holds the optimiser's moments, batches are drawn from the seed and the
/// step number, the learning-rate schedule spans `--steps`), also when a kill left the
/// checkpoint's files or the log at different steps.
#[test]
fn resume_continues_exactly_where_the_run_stopped() {
    let dir = scratch("finetune-resume");
    let (straight, resumed) = (dir.join("a.onnx"), dir.join("b.onnx"));
    assert!(finetune(&straight, &["--steps", "4"]).status.success());
    assert!(finetune(&resumed, &["--steps", "4", "--stop-after", "2"]).status.success());
    let first_half = std::fs::read(&resumed).expect("model");
    let half_meta = std::fs::read(dir.join("b.train/checkpoint.json")).expect("checkpoint.json");
    let half_tensors = std::fs::read(dir.join("b.train/checkpoint.safetensors")).expect("checkpoint");
    assert!(finetune(&resumed, &["--steps", "4", "--resume"]).status.success());
    let (a, b) = (std::fs::read(&straight).expect("a"), std::fs::read(&resumed).expect("b"));
    assert_ne!(first_half, b, "resuming trained further");
    assert_eq!(a, b, "a resumed run must end with the weights of an uninterrupted one");
    let work = dir.join("b.train");
    let log = |name: &str| std::fs::read_to_string(dir.join(name).join("log.csv")).expect("log");
    assert_eq!(log("a.train"), log("b.train"), "the resumed run's log is the uninterrupted one's");
    // What a kill between the checkpoint's two files leaves (the step-4 weights beside the step-2
    // JSON), and then what a kill between the log and the checkpoint leaves (the log at step 4,
    // the checkpoint at step 2): resumed, the same weights and the same log again.
    std::fs::write(work.join("checkpoint.json"), &half_meta).expect("checkpoint.json");
    assert!(finetune(&resumed, &["--steps", "4", "--resume"]).status.success());
    assert!(a == std::fs::read(&resumed).expect("b"), "resumed from weights newer than their JSON");
    assert_eq!(log("a.train"), log("b.train"));
    std::fs::write(work.join("checkpoint.safetensors"), &half_tensors).expect("checkpoint");
    assert!(finetune(&resumed, &["--steps", "4", "--resume"]).status.success());
    assert!(a == std::fs::read(&resumed).expect("b"), "resumed from a checkpoint older than the log");
    assert_eq!(log("a.train"), log("b.train"), "rows of the log lost or repeated");
    // A checkpoint from other options is refused rather than silently mixed in.
    let clash = finetune(&resumed, &["--steps", "6", "--resume", "--hidden", "3"]);
    assert!(!clash.status.success());
    assert!(String::from_utf8_lossy(&clash.stderr).contains("other options or data"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_data_is_named_and_skipped_or_stops_the_run() {
    let dir = scratch("finetune-bad");
    // An image whose .pts has the wrong number of points.
    let images = dir.join("images");
    std::fs::create_dir_all(&images).expect("images dir");
    std::fs::copy(testdata("single_face.jpg"), images.join("face.jpg")).expect("copy");
    std::fs::write(images.join("face.pts"), "version: 1\nn_points: 2\n{\n10 10\n20 20\n}\n").expect("pts");
    std::fs::copy(testdata("multi_face.jpg"), images.join("group.jpg")).expect("copy");
    // An unreadable video and a labelled sequence whose gt.jsonl lacks frames.
    let video = dir.join("broken.mp4");
    std::fs::write(&video, "not a video").expect("video");
    let labelled = dir.join("seq");
    std::fs::create_dir_all(&labelled).expect("seq dir");
    let rgb = common::load_rgb("single_face.jpg");
    for i in 0..3 {
        let (w, h) = (rgb.width as u32, rgb.height as u32);
        image::save_buffer(labelled.join(format!("{i:06}.png")), &rgb.data, w, h, image::ExtendedColorType::Rgb8)
            .expect("frame");
    }
    std::fs::write(labelled.join("gt.jsonl"), "").expect("gt");

    let out = dir.join("s.onnx");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_steadyface"));
    let base = |cmd: &mut Command, policy: &str| {
        cmd.arg("finetune").arg("--out").arg(&out).arg("--images").arg(&images);
        cmd.arg("--videos").arg(&video).arg("--labelled-videos").arg(&labelled);
        cmd.arg("--holdout").arg(testdata("takeo.ppm"));
        cmd.args([
            "--sequences",
            "4",
            "--frames",
            "3",
            "--batch",
            "2",
            "--steps",
            "1",
            "--eval-frames",
            "0",
            "--quiet",
        ]);
        cmd.args(["--on-bad-data", policy]);
    };
    base(&mut cmd, "skip");
    let run = cmd.output().expect("run");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "skip keeps going:\n{stderr}");
    let notes = sidecar(&out)["data"].to_string();
    assert!(notes.contains("face.pts:2: 2 points, expected 68"), "{notes}");
    assert!(notes.contains("broken.mp4"), "{notes}");
    assert!(notes.contains("gt.jsonl: no line for frame 0"), "{notes}");
    // The console says what was skipped, each with its file (and line), even with --quiet.
    let skipped: Vec<&str> = stderr.lines().filter(|l| l.starts_with("steadyface finetune: skipped ")).collect();
    assert_eq!(skipped.len(), 3, "{stderr}");
    for what in ["face.pts:2: 2 points, expected 68", "broken.mp4", "gt.jsonl: no line for frame 0"] {
        assert!(skipped.iter().any(|l| l.contains(what)), "{what} not in:\n{stderr}");
    }

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_steadyface"));
    base(&mut cmd, "stop");
    let run = cmd.output().expect("run");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "stop stops");
    assert!(stderr.contains("face.pts:2: 2 points, expected 68"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A held-out image whose `.pts` is broken is named with the file and line (it is skipped, and
/// with no other held-out image the run stops saying why), not "no annotated face found" alone.
#[test]
fn a_bad_holdout_annotation_is_named_with_its_file_and_line() {
    let dir = scratch("finetune-bad-holdout");
    let image = dir.join("face.ppm");
    std::fs::copy(testdata("takeo.ppm"), &image).expect("copy");
    std::fs::write(dir.join("face.pts"), "version: 1\nn_points: 68\n{\n1 2\nthree 4\n}\n").expect("pts");
    let run = Command::new(env!("CARGO_BIN_EXE_steadyface"))
        .arg("finetune")
        .arg("--out")
        .arg(dir.join("s.onnx"))
        .arg("--images")
        .arg(testdata("single_face.jpg"))
        .arg("--holdout")
        .arg(&image)
        .args(["--sequences", "2", "--frames", "3", "--steps", "1", "--eval-frames", "0", "--quiet"])
        .output()
        .expect("run steadyface finetune");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "no held-out face is left: {stderr}");
    assert!(
        stderr.contains(&format!("{}:5: expected 'x y', got 'three 4'", dir.join("face.pts").display())),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every objective without labels switched on for a few steps (with unlabelled video, so the
/// teacher's target takes SBR's registration too): the run ends, the pre-training writes its log,
/// and log.csv has every term's column, a finite number at every step.
#[test]
fn objectives_without_labels_run_and_log_every_term() {
    let dir = scratch("finetune-objectives");
    let out = dir.join("s.onnx");
    let on = [
        ["--cycle-weight", "1"],
        ["--pseudo-weight", "1"],
        ["--inverse-weight", "1"],
        ["--disturb-weight", "1"],
        ["--teacher-weight", "1"],
        ["--teacher-every", "2"],
        ["--pretrain-shuffle-steps", "2"],
    ];
    let extra: Vec<&str> = on.iter().flatten().copied().collect();
    assert!(finetune_with_video(&out, &extra).status.success(), "finetune failed");
    let work = out.with_extension("train");
    let log = std::fs::read_to_string(work.join("log.csv")).expect("CSV log");
    let header: Vec<&str> = log.lines().next().expect("header").split(',').collect();
    let rows: Vec<Vec<&str>> = log.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3, "{log}");
    for term in ["cycle", "pseudo", "pseudo_kept", "inverse", "disturb", "teacher"] {
        let column = header.iter().position(|h| *h == term).unwrap_or_else(|| panic!("no column {term}: {log}"));
        for row in &rows {
            let value: f64 = row[column].parse().unwrap_or_else(|e| panic!("{term} {:?}: {e}", row[column]));
            assert!(value.is_finite() && value >= 0.0, "{term} {value}");
        }
    }
    // At the identity start the pseudo-labels are the backbone's own points, all of them kept.
    let kept = header.iter().position(|h| *h == "pseudo_kept").expect("pseudo_kept");
    assert!(rows.iter().all(|r| r[kept] != "0"), "{log}");
    let pretrain = std::fs::read_to_string(work.join("pretrain.csv")).expect("pretrain.csv");
    assert_eq!(pretrain.lines().next(), Some("step,order_loss,order_accuracy"));
    assert_eq!(pretrain.lines().count(), 1 + 2, "{pretrain}");
    let _ = std::fs::remove_dir_all(&dir);
}
