//! The end-of-training check: the whole tracking pipeline (detector, crops, backbone, stabilizer,
//! decoder) on held-out moving sequences made from annotated faces, backbone alone vs One Euro
//! vs the stabilizer, scored with the metrics of docs/design.md.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::synth::{Degradation, moving_frames, random_segments, trajectory};
use steadyface::frame::Frame;
use steadyface::geometry::centroid;
use steadyface::metrics::{allan_variance, coefficient_of_variation, inner49, inter_ocular, nme, nmj};
use steadyface::pipeline::{FrameInput, ModelPaths, Models, Tracker, TrackerConfig};
use steadyface::pts::read_pts_expecting;
use steadyface::runtime::Device;
use steadyface::scheme::Scheme;
use steadyface::smoothing::{OneEuroParams, PoseResidualParams, Smoothing};

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

pub use steadyface::metrics::SETTLE_FRAMES;

/// One method on one sequence.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub sequence: String,
    pub method: String,
    /// Mean inner-49 NME over frames, % of inter-ocular distance.
    pub nme49: f32,
    /// NMJ over all frame pairs, % of inter-ocular distance.
    pub nmj: f32,
    /// NMJ over pairs of frames inside still stretches once the face has been still for
    /// [`SETTLE_FRAMES`] frames: how much a still face's points move.
    pub nmj_still: f32,
    /// NMJ over the first [`SETTLE_FRAMES`] pairs of each still stretch: the points catching up
    /// with a face that stopped (lag, reported apart so it neither hides nor poses as jitter).
    pub nmj_stop: f32,
    pub mcv: f32,
    /// Allan variance normalised by the inter-ocular distance, x 1e4.
    pub mav: f32,
    /// Frames where the pipeline reported no face.
    pub missed: usize,
}

/// The methods compared: name, stabilizer, One Euro.
fn methods(stabilizer: Option<&Path>) -> Vec<(&'static str, Option<PathBuf>, Option<Smoothing>)> {
    let mut m = vec![
        ("raw", None, None),
        ("one-euro", None, Some(Smoothing::OneEuro(OneEuroParams::default()))),
        ("pose-residual", None, Some(Smoothing::PoseResidual(PoseResidualParams::default()))),
    ];
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
        // Per frame: how many frames its still stretch has lasted, None while moving.
        let still: Vec<Option<usize>> =
            segments.iter().flat_map(|s| (0..s.frames).map(move |k| (s.velocity == [0.0, 0.0]).then_some(k))).collect();
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
                    Tracker::new(models, TrackerConfig { smoothing, max_faces: 1, ..TrackerConfig::whole_pyramid() });
                let (mut pred, mut gt, mut pairs, mut missed) = (Vec::new(), Vec::new(), Vec::new(), 0);
                for (i, (rgb, truth)) in seq.iter().enumerate() {
                    let frame = Frame::rgb(rgb, held_out.size[0], held_out.size[1])?;
                    match tracker.process(&frame, FrameInput::at(i as f64 / 30.0))?.faces.into_iter().next() {
                        Some(face) => {
                            pred.push(face.points);
                            gt.push(truth.clone());
                            // The pair (i, i + 1) lies inside a still stretch when frame i + 1 does.
                            pairs.push(still.get(i + 1).copied().flatten().and_then(|k| k.checked_sub(1)));
                        }
                        None => missed += 1,
                    }
                }
                rows.push(score(&name, method, &pred, &gt, &pairs, missed, &inner));
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
    still: &[Option<usize>],
    missed: usize,
    inner: &[usize],
) -> Row {
    let n = pred.len().max(1) as f32;
    let nme49 = 100.0 * pred.iter().zip(gt).map(|(p, g)| nme(p, g, inner)).sum::<f32>() / n;
    // The root mean square of the jitter of the still pairs that `keep` selects by their index
    // in the stretch.
    let still_nmj = |keep: fn(usize) -> bool| {
        let jitters: Vec<f32> = (0..pred.len().saturating_sub(1))
            .filter(|&i| still[i].is_some_and(keep))
            .filter_map(|i| nmj(&pred[i..i + 2], &gt[i..i + 2]))
            .collect();
        (jitters.iter().map(|v| v * v).sum::<f32>() / jitters.len().max(1) as f32).sqrt()
    };
    let iod = gt.iter().map(|g| inter_ocular(g)).sum::<f32>() / n;
    Row {
        sequence: sequence.into(),
        method: method.into(),
        nme49,
        nmj: nmj(pred, gt).unwrap_or(f32::NAN),
        nmj_still: still_nmj(|k| k >= SETTLE_FRAMES),
        nmj_stop: still_nmj(|k| k < SETTLE_FRAMES),
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
                nmj_stop: mean(|r| r.nmj_stop),
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
        "| sequence | method | NME inner-49 % | NMJ % | NMJ still % | NMJ stop % | MCV | MAV x1e4 | missed |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out += &format!(
            "| {} | {} | {:.2} | {:.3} | {:.3} | {:.3} | {:.4} | {:.3} | {} |\n",
            r.sequence, r.method, r.nme49, r.nmj, r.nmj_still, r.nmj_stop, r.mcv, r.mav, r.missed
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn still_jitter_splits_the_stop_from_the_settled_stretch() {
        // A face standing still for 6 frames, eye corners 100 px apart; the prediction moves
        // every point 1 px right between frames 0 and 1 (catching up after a stop) and 0.5 px
        // between frames 4 and 5 (jitter of a settled face).
        let mut face = vec![[0.0f32, 0.0]; 68];
        face[45] = [100.0, 0.0];
        let gt = vec![face.clone(); 6];
        let shift = [0.0, 1.0, 1.0, 1.0, 1.0, 1.5];
        let pred: Vec<Vec<[f32; 2]>> =
            shift.iter().map(|&dx| face.iter().map(|&[x, y]| [x + dx, y]).collect()).collect();
        let pairs: Vec<Option<usize>> = (0..6).map(|i| (i < 5).then_some(i)).collect();
        let row = score("s", "m", &pred, &gt, &pairs, 0, &inner49());
        // Stop pairs 0-2 jitter 1, 0, 0 (% of 100 px): rms sqrt(1/3). Settled pairs 3-4: 0, 0.5.
        assert!((row.nmj_stop - (1.0f32 / 3.0).sqrt()).abs() < 1e-4, "{}", row.nmj_stop);
        assert!((row.nmj_still - (0.25f32 / 2.0).sqrt()).abs() < 1e-4, "{}", row.nmj_still);
    }
}
