//! Jitter and accuracy of the crop policies (the crop follows the face every frame, or holds
//! still until the face has moved by a tolerance) and of One Euro smoothing, on synthetic moving
//! sequences with exact ground truth made from the annotated test photos.
//!
//!     cargo bench --bench crop_policy
//!     STEADYFACE_BENCH_STABILIZER=out/stabilizer/stabilizer.onnx cargo bench --bench crop_policy
//!
//! With a stabilizer (the variable, else the shipped `models/stabilizer.onnx` if there is one),
//! the policies are also run with it: following the face every frame resamples the ConvLSTM's
//! state into the new crop each frame; holding the crop keeps the state where it was. The state
//! also moves with the face (motion compensation, the default) except in the row that says not.
//!
//! Each sequence: the photo magnified so the eyes are ~100 px apart, still 30 frames, a slow
//! drift with a turn (40), still (30), a fast move (15), still (30); Gaussian noise sigma 5.

use std::path::Path;
use std::sync::Arc;

use steadyface::frame::Frame;
use steadyface::geometry::Similarity;
use steadyface::metrics::{inner49, inter_ocular, nme, nmj};
use steadyface::models_dir;
use steadyface::pipeline::{FrameInput, ModelPaths, Models, Tracker, TrackerConfig};
use steadyface::pts::read_pts;
use steadyface::runtime::Device;
use steadyface::scheme::Scheme;
use steadyface::smoothing::{OneEuroParams, Smoothing};
use steadyface_train::synth::{Degradation, Segment, render, trajectory};

const SIZE: [usize; 2] = [480, 400];

struct Sequence {
    frames: Vec<Vec<u8>>,
    gt: Vec<Vec<[f32; 2]>>,
    /// Frame indices inside still stretches (both the frame and the next one still).
    still: Vec<usize>,
}

fn sequence(image: &str, pts: &str) -> Sequence {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata");
    let img = image::open(dir.join(image)).expect("test image").to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let source = Frame::rgb(img.as_raw(), w, h).expect("frame");
    let points = read_pts(&dir.join(pts)).expect("annotation");
    let centre = [points.iter().map(|p| p[0]).sum::<f32>() / 68.0, points.iter().map(|p| p[1]).sum::<f32>() / 68.0];
    let zoom = 100.0 / inter_ocular(&points);
    let segments = [
        Segment { frames: 30, velocity: [0.0, 0.0], turn: 0.0 },
        Segment { frames: 40, velocity: [0.7, 0.3], turn: 0.003 },
        Segment { frames: 30, velocity: [0.0, 0.0], turn: 0.0 },
        Segment { frames: 15, velocity: [-4.0, 1.0], turn: -0.004 },
        Segment { frames: 30, velocity: [0.0, 0.0], turn: 0.0 },
    ];
    let moves: Vec<bool> =
        segments.iter().flat_map(|s| std::iter::repeat_n(s.frames > 0 && s.velocity != [0.0, 0.0], s.frames)).collect();
    let transforms: Vec<Similarity> = trajectory(&segments, centre, SIZE, zoom);
    let frames = transforms
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut rgb = render(&source, t, SIZE);
            Degradation::Noise(5.0).apply(&mut rgb, SIZE[0], SIZE[1], i as u64 + 1);
            rgb
        })
        .collect();
    let gt = transforms.iter().map(|t| points.iter().map(|&p| t.inverse().apply(p)).collect()).collect();
    let still = (0..moves.len() - 1).filter(|&i| !moves[i] && !moves[i + 1]).collect();
    Sequence { frames, gt, still }
}

fn main() {
    let paths = ModelPaths {
        detector: models_dir::default_model(models_dir::DETECTOR),
        backbone: models_dir::default_model(models_dir::BACKBONE),
        stabilizer: None,
    };
    let plain = Models::load(&paths, Device::Cpu, Scheme::Ibug68).expect("models");
    let stabilizer = std::env::var_os("STEADYFACE_BENCH_STABILIZER")
        .map(std::path::PathBuf::from)
        .or_else(|| Some(models_dir::default_model(models_dir::STABILIZER)).filter(|p| p.is_file()));
    let stabilized = stabilizer.as_ref().map(|path| {
        let paths = ModelPaths { stabilizer: Some(path.clone()), ..paths.clone() };
        Models::load(&paths, Device::Cpu, Scheme::Ibug68).expect("stabilizer loads")
    });
    let follow = TrackerConfig { hold_tolerance: 0.0, ..TrackerConfig::default() };
    let hold = |tolerance| TrackerConfig { hold_tolerance: tolerance, ..follow };
    let one_euro = Some(Smoothing::OneEuro(OneEuroParams::default()));
    let mut policies: Vec<(&str, &Arc<Models>, TrackerConfig)> = vec![
        ("crop follows (raw)", &plain, follow),
        ("crop holds, tolerance 0.02", &plain, hold(0.02)),
        ("crop holds, tolerance 0.05", &plain, hold(0.05)),
        ("crop holds, tolerance 0.10", &plain, hold(0.10)),
        ("crop follows + One Euro (MediaPipe video)", &plain, TrackerConfig { smoothing: one_euro, ..follow }),
        ("crop holds 0.05 + One Euro (MediaPipe video)", &plain, TrackerConfig { smoothing: one_euro, ..hold(0.05) }),
    ];
    if let Some(models) = &stabilized {
        policies.extend([
            ("stabilizer, crop follows (state warped every frame)", models, follow),
            ("stabilizer, crop holds, tolerance 0.02", models, hold(0.02)),
            ("stabilizer, crop holds, tolerance 0.05", models, hold(0.05)),
            ("stabilizer, crop holds, tolerance 0.10", models, hold(0.10)),
            (
                "stabilizer, crop holds 0.05, no motion compensation",
                models,
                TrackerConfig { motion_compensation: false, ..hold(0.05) },
            ),
        ]);
    }
    if let Some(path) = &stabilizer {
        println!("stabilizer: {}\n", path.display());
    }
    println!("| sequence | policy | NME inner-49 % | NMJ % | NMJ on still frames % |");
    println!("|---|---|---|---|---|");
    for (image, pts) in [("takeo.ppm", "takeo.pts"), ("einstein.jpg", "einstein.pts")] {
        let seq = sequence(image, pts);
        for (name, models, config) in &policies {
            let mut tracker = Tracker::new(Arc::clone(models), *config);
            let mut pred = Vec::new();
            for (i, data) in seq.frames.iter().enumerate() {
                let frame = Frame::rgb(data, SIZE[0], SIZE[1]).expect("frame");
                let faces = tracker.process(&frame, FrameInput::at(i as f64 / 30.0)).expect("pipeline").faces;
                let face = faces.first().unwrap_or_else(|| panic!("{image}: no face in frame {i}"));
                pred.push(face.points.clone());
            }
            let inner = inner49();
            let mean_nme = pred.iter().zip(&seq.gt).map(|(p, g)| nme(p, g, &inner)).sum::<f32>() / pred.len() as f32;
            let pairs = |idx: &[usize]| -> f32 {
                let (p, g): (Vec<_>, Vec<_>) = idx
                    .iter()
                    .map(|&i| ((pred[i].clone(), pred[i + 1].clone()), (seq.gt[i].clone(), seq.gt[i + 1].clone())))
                    .unzip();
                // NMJ over the selected pairs: mean of squared pair jitters, then the root.
                let sq: f32 = p
                    .iter()
                    .zip(&g)
                    .map(|((a, b), (c, d))| {
                        nmj(&[a.clone(), b.clone()], &[c.clone(), d.clone()]).unwrap_or(0.0).powi(2)
                    })
                    .sum();
                (sq / idx.len() as f32).sqrt()
            };
            println!(
                "| {image} | {name} | {:.2} | {:.3} | {:.3} |",
                mean_nme * 100.0,
                nmj(&pred, &seq.gt).unwrap_or(f32::NAN),
                pairs(&seq.still)
            );
        }
    }
}
