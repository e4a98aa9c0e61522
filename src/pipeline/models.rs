//! The models one or more streams share, loaded together and checked against each other: the
//! detector, the backbone, and a stabilizer that must fit the backbone (point count, heatmap
//! size, and the backbone it was trained for).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backbone::{Backbone, Landmarks};
use crate::detector::{Detector, DetectorConfig};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::geometry::Roi;
use crate::heatmap::{HeatmapSpec, crop_to_heatmap, render};
use crate::runtime::Device;
use crate::scheme::{Contour, Scheme, ibug_contours};
use crate::stabilizer::{Stabilizer, Windows};

/// Models shared by every stream in the process.
pub struct Models {
    pub detector: Detector,
    pub backbone: Backbone,
    pub stabilizer: Option<Stabilizer>,
    /// Backbone point indices reported for the chosen scheme.
    selection: Vec<usize>,
    /// The two points (backbone indices) whose line gives the face's rotation.
    eye_pair: (usize, usize),
    /// The reported points' contours whose sides part in expressions (see
    /// [`crate::registration::Follow`]): iBUG-68's, through the backbone's mapping.
    contours: Vec<Contour>,
    pub scheme: Scheme,
}

#[derive(Debug, Clone)]
pub struct ModelPaths {
    pub detector: PathBuf,
    pub backbone: PathBuf,
    /// None: no stabilizer (the backbone's points pass through).
    pub stabilizer: Option<PathBuf>,
}

impl Models {
    pub fn load(paths: &ModelPaths, device: Device, scheme: Scheme) -> Result<Arc<Self>> {
        let detector = Detector::load(&paths.detector, device, DetectorConfig::default())?;
        let backbone = Backbone::load(&paths.backbone, device)?;
        let k = backbone.point_count();
        let description = &backbone.description;
        let selection = description.selection(scheme).ok_or_else(|| Error::ModelShape {
            path: paths.backbone.clone(),
            reason: format!(
                "its {k} points cannot be mapped to the iBUG 68 scheme ({}: scheme.ibug68 is null); use the full scheme",
                description.origin()
            ),
        })?;
        let eye_pair = description.eye_pair();
        let contours = match scheme {
            Scheme::Ibug68 => ibug_contours(|i| i),
            Scheme::Full => description.ibug68_selection().map_or_else(Vec::new, |map| ibug_contours(|i| map[i])),
        };
        let stabilizer = match &paths.stabilizer {
            Some(path) => {
                let s = Stabilizer::load(path, device)?;
                let mismatch = |reason: String| Error::ModelShape { path: path.clone(), reason };
                if s.points != selection.len() {
                    return Err(mismatch(format!(
                        "the stabilizer takes {} heatmaps but {} points are reported ({} scheme)",
                        s.points,
                        selection.len(),
                        backbone.description.scheme_name(scheme)
                    )));
                }
                if let Some(expected) = &s.backbone_sha256 {
                    let actual = sha256_hex(&paths.backbone)?;
                    if !actual.eq_ignore_ascii_case(expected) {
                        return Err(mismatch(format!(
                            "it was trained for the backbone with sha256 {expected}, but {} has sha256 {actual}; \
                             use that backbone or train a stabilizer for this one (steadyface finetune)",
                            paths.backbone.display()
                        )));
                    }
                }
                if let Some(size) = backbone.heatmap_size().filter(|&size| size != s.heatmap.size) {
                    return Err(mismatch(format!(
                        "the backbone emits {size}x{size} heatmaps, the stabilizer expects {}x{}",
                        s.heatmap.size, s.heatmap.size
                    )));
                }
                Some(s)
            }
            None => None,
        };
        Ok(Arc::new(Models { detector, backbone, stabilizer, selection, eye_pair, contours, scheme }))
    }

    /// [`Models::load`] with `stabilizer` as the shipped default: it is used when it runs with
    /// this backbone and scheme; when it is missing or was made for another backbone or point
    /// set, the models load without a stabilizer and the reason comes back, so that swapping the
    /// backbone does not demand also clearing the stabilizer.
    pub fn load_with_default_stabilizer(
        paths: &ModelPaths,
        stabilizer: &Path,
        device: Device,
        scheme: Scheme,
    ) -> Result<(Arc<Self>, Option<String>)> {
        let with = ModelPaths { stabilizer: Some(stabilizer.to_path_buf()), ..paths.clone() };
        match Models::load(&with, device, scheme) {
            Err(e @ (Error::ModelMissing { .. } | Error::ModelShape { .. })) if e.path() == Some(stabilizer) => {
                let without = ModelPaths { stabilizer: None, ..paths.clone() };
                Ok((Models::load(&without, device, scheme)?, Some(format!("running without a stabilizer: {e}"))))
            }
            loaded => Ok((loaded?, None)),
        }
    }

    /// Runs the detector and the backbone twice on a blank frame, so that the first real frame
    /// does not pay for ONNX Runtime's first-run allocations; returns the second run's time (a
    /// detector run and one face), a first estimate of a frame's processing time.
    pub fn warm_up(&self) -> Result<Duration> {
        let size = self.backbone.input_size();
        let pixels = vec![0u8; size * size * 3];
        let frame = Frame::rgb(&pixels, size, size)?;
        let centre = (size as f32 - 1.0) / 2.0;
        let roi = Roi { cx: centre, cy: centre, width: size as f32, height: size as f32, angle: 0.0 };
        let mut input = Vec::new();
        let mut took = Duration::ZERO;
        for _ in 0..2 {
            let t = Instant::now();
            self.detector.detect_regions(&frame, &[roi], 1)?;
            self.backbone.crop_batch(&frame, &[roi.crop_to_frame(size)], &mut input);
            self.backbone.run_batch(&input, 1)?;
            took = t.elapsed();
        }
        Ok(took)
    }

    pub fn scheme_name(&self) -> String {
        self.backbone.description.scheme_name(self.scheme)
    }

    /// Backbone point indices reported for the chosen scheme.
    pub fn selection(&self) -> &[usize] {
        &self.selection
    }

    /// The two backbone points whose line gives the face's rotation (crops are made upright).
    pub fn eye_pair(&self) -> (usize, usize) {
        self.eye_pair
    }

    /// The reported points' contours (see [`crate::scheme::Contour`]).
    pub fn contours(&self) -> &[Contour] {
        &self.contours
    }

    /// The stabilizer's input for one face: each reported point's window (`windows`) of its
    /// heatmap (`spec`), cut from a heatmap backbone's map (whose size is `spec.size`, checked at
    /// load) or rendered from a coordinate backbone's point (crop pixels of a `crop_size` crop).
    /// `dst` holds K windows.
    pub fn stabilizer_input(
        &self,
        landmarks: &Landmarks,
        crop_size: usize,
        spec: &HeatmapSpec,
        windows: &Windows,
        dst: &mut [f32],
    ) {
        let (n, s) = (spec.size, windows.size);
        for (j, (&k, window)) in self.selection.iter().zip(dst.chunks_exact_mut(s * s)).enumerate() {
            match landmarks {
                Landmarks::Heatmaps { maps, .. } => match maps.get(k * n * n..(k + 1) * n * n) {
                    Some(map) => windows.cut(j, map, n, window),
                    None => window.fill(0.0),
                },
                Landmarks::Points(all) => {
                    let p = windows.to_map(j).inverse().apply(crop_to_heatmap(all[k], crop_size, n));
                    render(&[p], &HeatmapSpec { size: s, ..*spec }, window);
                    windows.clip(j, n, window);
                }
            }
        }
    }
}

/// The hex SHA-256 of a file (a stabilizer's sidecar names the backbone it was trained for so).
fn sha256_hex(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let bytes =
        std::fs::read(path).map_err(|e| Error::ModelInvalid { path: path.to_path_buf(), reason: e.to_string() })?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}
