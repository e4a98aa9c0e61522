//! The stabilizer's JSON sidecar (`stabilizer.json` beside `stabilizer.onnx`): one type, written by
//! `steadyface finetune` and read by the runtime, which checks every number before it uses one.
//!
//! The ONNX model holds the cell's weights but not the scale it was trained at (its spatial
//! dimensions are free): the sidecar says the heatmap size and sigma, the window the cell runs
//! on, the PDC threshold and the backbone it was trained for, and keeps the training's record
//! (command, configuration, data, validation), of which the runtime reads only the configuration,
//! to check that the runtime fields agree with what the stabilizer was trained with.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::heatmap::HeatmapSpec;

/// Largest heatmap side accepted: far above any backbone's (64 for 256-pixel crops), and small
/// enough that a typo cannot make the element allocate gigabytes per face.
pub const MAX_HEATMAP_SIZE: usize = 1024;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Sidecar {
    /// K: heatmaps in and out (must match the model's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<usize>,
    /// The cell's hidden channels per landmark (h and c have K x this many).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<usize>,
    /// The cell's convolution kernel side (a record; the model holds the weights).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<usize>,
    /// Side of the heatmaps the stabilizer was trained on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heatmap_size: Option<usize>,
    /// Sigma of the Gaussians rendered from a coordinate backbone's points (heatmap pixels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heatmap_sigma: Option<f32>,
    /// Side of the per-landmark window the cell runs on (heatmap pixels); the whole map without.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<usize>,
    /// The PDC threshold it was trained with, a fraction of each map's peak in [0, 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdc_threshold: Option<f64>,
    /// File name of the backbone it was trained for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backbone: Option<String>,
    /// SHA-256 (hex) of that backbone; the pipeline refuses another backbone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backbone_sha256: Option<String>,
    /// The `steadyface finetune` command line that trained it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The training configuration, as `steadyface finetune` wrote it (its heatmap size, sigma,
    /// PDC threshold and hidden size must agree with the fields above; the rest is a record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
    /// What each data source gave, and what was skipped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training: Option<Training>,
    /// Held-out scores at the heatmap level (before and after), a report the runtime never reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_heatmap_level: Option<serde_json::Value>,
    /// The held-out table of the whole pipeline, a report the runtime never reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<serde_json::Value>,
}

/// How long training took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Training {
    pub steps: usize,
    pub seconds: f64,
}

/// The model a sidecar is checked against: K, the channels of h, and the spatial side of its
/// inputs when the model fixes one.
#[derive(Debug, Clone, Copy)]
pub struct ModelShape {
    pub points: usize,
    pub state_channels: usize,
    pub fixed_size: Option<usize>,
}

/// What the runtime takes from a sidecar, every number checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub heatmap: HeatmapSpec,
    /// Side of the window the cell runs on, `1..=heatmap.size`.
    pub window: usize,
    pub pdc_threshold: Option<f32>,
    pub backbone_sha256: Option<String>,
}

impl Sidecar {
    /// Reads the sidecar at `path`; `None` when there is no such file.
    pub fn read(path: &Path) -> Result<Option<Sidecar>> {
        let text = match std::fs::read_to_string(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(invalid(path, "file", e.to_string())),
            Ok(text) => text,
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            let what = if e.is_data() { "" } else { "not valid JSON: " };
            invalid(path, &format!("line {}, column {}", e.line(), e.column()), format!("{what}{e}"))
        })
    }

    /// Writes it to `path` through [`crate::output`], pretty-printed with its keys sorted (as
    /// every sidecar has been written).
    pub fn write(&self, path: &Path) -> Result<()> {
        let fail = |e: serde_json::Error| Error::Other(format!("{}: {e}", path.display()));
        // Through a `Value`, whose object keys are sorted.
        let text = serde_json::to_value(self).and_then(|v| serde_json::to_string_pretty(&v)).map_err(fail)?;
        crate::output::write(path, text.as_bytes())
    }

    /// The runtime settings of the sidecar at `path` for `model`, or an error naming the file and
    /// the field. Without a sidecar (`None`) the heatmap size is the model's fixed side, else the
    /// default; a sidecar must give `heatmap_size` when the model fixes no side, since nothing
    /// else says what scale the stabilizer was trained at (a sidecar without it, like `{}`, is
    /// truncated or hand-broken, and running it at the default scale would displace the points).
    pub fn check(sidecar: Option<&Sidecar>, path: &Path, model: ModelShape) -> Result<Checked> {
        let mut heatmap = HeatmapSpec::default();
        heatmap.size = model.fixed_size.unwrap_or(heatmap.size);
        let Some(s) = sidecar else {
            return Ok(Checked { heatmap, window: heatmap.size, pdc_threshold: None, backbone_sha256: None });
        };
        let bad = |field: &str, reason: String| Err(invalid(path, field, reason));
        if let Some(k) = s.points.filter(|&k| k != model.points) {
            return bad("points", format!("{k}, but the model takes {} heatmaps", model.points));
        }
        if let Some(h) = s.hidden.filter(|&h| h == 0 || h * model.points != model.state_channels) {
            return bad("hidden", format!("{h} per landmark, but the model's h has {} channels", model.state_channels));
        }
        heatmap.size = s.heatmap_size(path, model.fixed_size)?.unwrap_or(heatmap.size);
        if let Some(sigma) = s.heatmap_sigma {
            if !(sigma.is_finite() && sigma > 0.0) {
                return bad("heatmap_sigma", format!("{sigma}; a Gaussian's sigma is a positive number"));
            }
            heatmap.sigma = sigma;
        }
        let window = s.window.unwrap_or(heatmap.size);
        if window == 0 || window > heatmap.size {
            return bad("window", format!("{window}; the window lies within the {0}x{0} heatmap", heatmap.size));
        }
        if let Some(fixed) = model.fixed_size.filter(|&f| f != window) {
            let field = if s.window.is_some() { "window" } else { "heatmap_size" };
            return bad(field, format!("the cell would run on {window}x{window}, but the model takes {fixed}x{fixed}"));
        }
        if let Some(t) = s.pdc_threshold.filter(|t| !(0.0..1.0).contains(t)) {
            return bad("pdc_threshold", format!("{t}; a fraction of each map's peak in [0, 1)"));
        }
        s.agrees_with_config(path)?;
        Ok(Checked {
            heatmap,
            window,
            pdc_threshold: s.pdc_threshold.map(|t| t as f32),
            backbone_sha256: s.backbone_sha256.clone(),
        })
    }

    /// `heatmap_size`, checked: positive, at most [`MAX_HEATMAP_SIZE`], and present when the model
    /// fixes no side.
    fn heatmap_size(&self, path: &Path, fixed: Option<usize>) -> Result<Option<usize>> {
        match self.heatmap_size {
            None if fixed.is_none() => Err(invalid(
                path,
                "heatmap_size",
                "missing; the model's heatmaps have no fixed size, so the sidecar must give the size the \
                 stabilizer was trained at"
                    .into(),
            )),
            Some(n) if n == 0 || n > MAX_HEATMAP_SIZE => {
                Err(invalid(path, "heatmap_size", format!("{n}; a heatmap side is 1 to {MAX_HEATMAP_SIZE}")))
            }
            size => Ok(size),
        }
    }

    /// The runtime fields agree with the training configuration recorded beside them.
    fn agrees_with_config(&self, path: &Path) -> Result<()> {
        let Some(config) = &self.config else { return Ok(()) };
        let trained = |key: &str| config.get(key).and_then(serde_json::Value::as_f64);
        let pairs = [
            ("heatmap_size", self.heatmap_size.map(|v| v as f64), trained("heatmap_size")),
            // A sigma is an f32: compared as one.
            ("heatmap_sigma", self.heatmap_sigma.map(f64::from), trained("heatmap_sigma").map(|v| f64::from(v as f32))),
            ("pdc_threshold", self.pdc_threshold, trained("pdc_threshold")),
            ("hidden", self.hidden.map(|v| v as f64), trained("hidden")),
        ];
        for (field, value, trained) in pairs {
            if let (Some(v), Some(trained)) = (value, trained)
                && v != trained
            {
                return Err(invalid(
                    path,
                    field,
                    format!("{v}, but the stabilizer was trained with {trained} (config.{field})"),
                ));
            }
        }
        Ok(())
    }
}

fn invalid(path: &Path, field: &str, reason: String) -> Error {
    Error::SidecarInvalid { path: path.to_path_buf(), field: field.to_string(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: ModelShape = ModelShape { points: 68, state_channels: 136, fixed_size: None };

    fn check(json: &str, model: ModelShape) -> Result<Checked> {
        let sidecar: Sidecar = serde_json::from_str(json).expect("JSON");
        Sidecar::check(Some(&sidecar), Path::new("s.json"), model)
    }

    #[test]
    fn runtime_fields_come_through_checked() {
        let c = check(
            r#"{"points": 68, "heatmap_size": 24, "heatmap_sigma": 1.5, "window": 12, "pdc_threshold": 0.2}"#,
            MODEL,
        )
        .expect("valid");
        assert_eq!((c.heatmap, c.window, c.pdc_threshold), (HeatmapSpec { size: 24, sigma: 1.5 }, 12, Some(0.2)));
        // No window: the whole map; a model with a fixed side needs no heatmap_size.
        assert_eq!(check(r#"{"heatmap_size": 32}"#, MODEL).expect("valid").window, 32);
        let fixed = ModelShape { fixed_size: Some(16), ..MODEL };
        assert_eq!(check("{}", fixed).expect("valid").heatmap.size, 16);
        // No sidecar at all: the model's side, or the default.
        let none = Sidecar::check(None, Path::new("s.json"), MODEL).expect("valid");
        assert_eq!((none.heatmap, none.window), (HeatmapSpec::default(), HeatmapSpec::default().size));
    }

    #[test]
    fn bad_numbers_name_the_file_and_the_field() {
        let fixed = ModelShape { fixed_size: Some(24), ..MODEL };
        for (json, model, field) in [
            (r#"{"heatmap_size": 2000}"#, MODEL, "heatmap_size"),
            (r#"{"heatmap_size": 24, "heatmap_sigma": -1}"#, MODEL, "heatmap_sigma"),
            (r#"{"heatmap_size": 24, "window": 0}"#, MODEL, "window"),
            (r#"{"heatmap_size": 24, "window": 25}"#, MODEL, "window"),
            (r#"{"heatmap_size": 24, "pdc_threshold": 1}"#, MODEL, "pdc_threshold"),
            (r#"{"heatmap_size": 24, "points": 5}"#, MODEL, "points"),
            (r#"{"heatmap_size": 24, "hidden": 3}"#, MODEL, "hidden"),
            (r#"{"window": 12}"#, fixed, "window"),
            (r#"{"heatmap_size": 32}"#, fixed, "heatmap_size"),
        ] {
            let err = check(json, model).expect_err(json).to_string();
            assert!(err.contains("s.json") && err.contains(&format!(": {field}: ")), "{json}: {err}");
        }
    }
}
