//! The end-of-training check: the whole tracking pipeline (detector, crops, backbone, stabilizer,
//! decoder) on held-out moving sequences made from annotated faces, backbone alone vs One Euro
//! vs the stabilizer, scored with the metrics of docs/DESIGN.md.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::geometry::centroid;
use crate::metrics::{allan_variance, coefficient_of_variation, inner49, inter_ocular, nme, nmj};
use crate::pipeline::{ModelPaths, Models, Tracker, TrackerConfig};
use crate::pts::read_pts_expecting;
use crate::runtime::Device;
use crate::scheme::Scheme;
use crate::smoothing::OneEuroParams;
use crate::synth::{Degradation, moving_frames, random_segments, trajectory};

/// How held-out sequences are made.
#[derive(Debug, Clone)]
pub struct HeldOut {
    /// Annotated images (`.pts` beside each).
    pub images: Vec<PathBuf>,
    pub levels: Vec<String>,
    pub frames: usize,
    pub size: [usize; 2],
    /// Eye distance in the frames (pixels).
    pub eye_distance: f32,
    pub seed: u64,
}

impl HeldOut {
    pub fn new(images: Vec<PathBuf>) -> Self {
        HeldOut {
            images,
            levels: ["clean", "noise10", "blur", "jpeg30", "combined"].map(String::from).to_vec(),
            frames: 150,
            size: [400, 400],
            eye_distance: 80.0,
            seed: 7,
        }
    }
}

/// One method on one sequence.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub sequence: String,
    pub method: String,
    /// Mean inner-49 NME over frames, % of inter-ocular distance.
    pub nme49: f32,
    /// NMJ over all frame pairs, % of inter-ocular distance.
    pub nmj: f32,
    /// NMJ over pairs of frames inside still stretches.
    pub nmj_still: f32,
    pub mcv: f32,
    /// Allan variance normalised by the inter-ocular distance, x 1e4.
    pub mav: f32,
    /// Frames where the pipeline reported no face.
    pub missed: usize,
}

/// The methods compared: name, stabilizer, One Euro.
fn methods(stabilizer: Option<&Path>) -> Vec<(&'static str, Option<PathBuf>, Option<OneEuroParams>)> {
    let mut m = vec![("raw", None, None), ("one-euro", None, Some(OneEuroParams::default()))];
    if let Some(s) = stabilizer {
        m.push(("stabilizer", Some(s.to_path_buf()), None));
    }
    m
}

/// Runs every method over every held-out sequence.
pub fn evaluate(
    detector: &Path,
    backbone: &Path,
    stabilizer: Option<&Path>,
    held_out: &HeldOut,
    mut progress: impl FnMut(&str),
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let inner = inner49();
    for image in &held_out.images {
        let pts_path = image.with_extension("pts");
        let points = read_pts_expecting(&pts_path, 68)?;
        let img = image::open(image).map_err(|e| Error::Other(format!("{}: {e}", image.display())))?.to_rgb8();
        let source = Frame::rgb(img.as_raw(), img.width() as usize, img.height() as usize)?;
        let centre = centroid(&points);
        let segments = random_segments(held_out.frames, held_out.seed);
        let still: Vec<bool> =
            segments.iter().flat_map(|s| std::iter::repeat_n(s.velocity == [0.0, 0.0], s.frames)).collect();
        let transforms = trajectory(&segments, centre, held_out.size, held_out.eye_distance / inter_ocular(&points));
        let stem = image.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        for level_name in &held_out.levels {
            let level = Degradation::parse(level_name)?;
            let seq: Vec<(Vec<u8>, Vec<[f32; 2]>)> =
                moving_frames(&source, &points, &transforms, held_out.size, level, held_out.seed).collect();
            let name = format!("{stem}-{level_name}");
            progress(&name);
            for (method, stab, smoothing) in methods(stabilizer) {
                let paths = ModelPaths { detector: detector.into(), backbone: backbone.into(), stabilizer: stab };
                let models = Models::load(&paths, Device::Cpu, Scheme::Ibug68)?;
                let mut tracker =
                    Tracker::new(models, TrackerConfig { smoothing, max_faces: 1, ..TrackerConfig::default() });
                let (mut pred, mut gt, mut kept_still, mut missed) = (Vec::new(), Vec::new(), Vec::new(), 0);
                for (i, (rgb, truth)) in seq.iter().enumerate() {
                    let frame = Frame::rgb(rgb, held_out.size[0], held_out.size[1])?;
                    match tracker.process(&frame, Some(i as f64 / 30.0), None)?.into_iter().next() {
                        Some(face) => {
                            pred.push(face.points);
                            gt.push(truth.clone());
                            kept_still.push(still[i] && still.get(i + 1).copied().unwrap_or(false));
                        }
                        None => missed += 1,
                    }
                }
                rows.push(score(&name, method, &pred, &gt, &kept_still, missed, &inner));
            }
        }
    }
    Ok(rows)
}

fn score(
    sequence: &str,
    method: &str,
    pred: &[Vec<[f32; 2]>],
    gt: &[Vec<[f32; 2]>],
    still: &[bool],
    missed: usize,
    inner: &[usize],
) -> Row {
    let n = pred.len().max(1) as f32;
    let nme49 = 100.0 * pred.iter().zip(gt).map(|(p, g)| nme(p, g, inner)).sum::<f32>() / n;
    // Still NMJ: the mean square of the pair jitters inside still stretches, then the root.
    let pairs: Vec<f32> = (0..pred.len().saturating_sub(1))
        .filter(|&i| still[i])
        .filter_map(|i| nmj(&pred[i..i + 2], &gt[i..i + 2]))
        .collect();
    let nmj_still = (pairs.iter().map(|v| v * v).sum::<f32>() / pairs.len().max(1) as f32).sqrt();
    let iod = gt.iter().map(|g| inter_ocular(g)).sum::<f32>() / n;
    Row {
        sequence: sequence.into(),
        method: method.into(),
        nme49,
        nmj: nmj(pred, gt).unwrap_or(f32::NAN),
        nmj_still,
        mcv: coefficient_of_variation(pred).unwrap_or(f32::NAN),
        mav: 1e4 * allan_variance(pred, iod).unwrap_or(f32::NAN),
        missed,
    }
}

/// Means per method over all sequences, in the order the methods first appear.
pub fn summary(rows: &[Row]) -> Vec<Row> {
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if !names.contains(&r.method.as_str()) {
            names.push(&r.method);
        }
    }
    names
        .iter()
        .map(|&m| {
            let sel: Vec<&Row> = rows.iter().filter(|r| r.method == m).collect();
            let n = sel.len().max(1) as f32;
            let mean = |f: fn(&Row) -> f32| sel.iter().map(|r| f(r)).sum::<f32>() / n;
            Row {
                sequence: "mean".into(),
                method: m.into(),
                nme49: mean(|r| r.nme49),
                nmj: mean(|r| r.nmj),
                nmj_still: mean(|r| r.nmj_still),
                mcv: mean(|r| r.mcv),
                mav: mean(|r| r.mav),
                missed: sel.iter().map(|r| r.missed).sum(),
            }
        })
        .collect()
}

/// The rows as a markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| sequence | method | NME inner-49 % | NMJ % | NMJ still % | MCV | MAV x1e4 | missed |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out += &format!(
            "| {} | {} | {:.2} | {:.3} | {:.3} | {:.4} | {:.3} | {} |\n",
            r.sequence, r.method, r.nme49, r.nmj, r.nmj_still, r.mcv, r.mav, r.missed
        );
    }
    out
}
