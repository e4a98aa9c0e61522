//! The options of the subcommands that run the GStreamer element (`track`, `eval`).

use std::path::PathBuf;

/// Every `facelandmarks` property as an option; unset ones keep the element's defaults.
#[derive(clap::Args, Clone, Default)]
pub struct ElementArgs {
    /// Landmark backbone ONNX (property `backbone`).
    #[arg(long)]
    pub backbone: Option<PathBuf>,
    /// Face detector ONNX (property `detector`).
    #[arg(long)]
    pub detector: Option<PathBuf>,
    /// ConvLSTM stabilizer ONNX (property `stabilizer`; "" = none). Text, not a path, so that
    /// the empty value gets through.
    #[arg(long)]
    pub stabilizer: Option<String>,
    /// pdc | pdc-soft | argmax | subpixel
    #[arg(long)]
    pub decoder: Option<String>,
    /// PDC ignores heatmap values below this fraction of each map's peak (property `pdc-threshold`).
    #[arg(long)]
    pub pdc_threshold: Option<f32>,
    /// none | one-euro | pose-residual (its pose-*/shape-* parameters: --set pose-beta=10 ...)
    #[arg(long)]
    pub smoothing: Option<String>,
    /// One Euro cutoff in Hz when still (lower = steadier, more lag).
    #[arg(long)]
    pub one_euro_min_cutoff: Option<f32>,
    /// How fast the One Euro cutoff opens with speed (higher = less lag).
    #[arg(long)]
    pub one_euro_beta: Option<f32>,
    /// One Euro cutoff in Hz of the speed estimate.
    #[arg(long)]
    pub one_euro_derivative_cutoff: Option<f32>,
    /// Every backbone point instead of the iBUG 68.
    #[arg(long)]
    pub full_scheme: bool,
    /// Move the stabilizer's state with the face (default true).
    #[arg(long)]
    pub motion_compensation: Option<bool>,
    /// Most faces tracked at once (1-64).
    #[arg(long)]
    pub max_faces: Option<u32>,
    /// Search for new faces every N frames while faces are tracked, up to 3N while the searches
    /// find nothing new (0 = only when none is).
    #[arg(long)]
    pub detect_interval: Option<u32>,
    /// Detector runs per frame while no face is tracked (0 = the whole pyramid every frame).
    #[arg(long)]
    pub search_budget: Option<u32>,
    /// Tracks survive a gap in the timestamps up to this many nanoseconds.
    #[arg(long)]
    pub max_gap: Option<u64>,
    /// A track ends when the face-presence score falls below this.
    #[arg(long)]
    pub min_face_score: Option<f32>,
    /// auto | cpu | cuda
    #[arg(long)]
    pub device: Option<String>,
    /// CUDA device index.
    #[arg(long)]
    pub device_id: Option<i32>,
    /// Any element property, NAME=VALUE (repeatable; applied after the options above).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
}

impl ElementArgs {
    /// The properties to set, by element property name, as text.
    pub fn properties(&self) -> anyhow::Result<Vec<(String, String)>> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().to_string());
        let options: [(&str, Option<String>); 18] = [
            ("backbone", path(&self.backbone)),
            ("detector", path(&self.detector)),
            ("stabilizer", self.stabilizer.clone()),
            ("decoder", self.decoder.clone()),
            ("pdc-threshold", self.pdc_threshold.map(|v| v.to_string())),
            ("smoothing", self.smoothing.clone()),
            ("one-euro-min-cutoff", self.one_euro_min_cutoff.map(|v| v.to_string())),
            ("one-euro-beta", self.one_euro_beta.map(|v| v.to_string())),
            ("one-euro-derivative-cutoff", self.one_euro_derivative_cutoff.map(|v| v.to_string())),
            ("full-scheme", self.full_scheme.then(|| "true".to_string())),
            ("motion-compensation", self.motion_compensation.map(|v| v.to_string())),
            ("max-faces", self.max_faces.map(|v| v.to_string())),
            ("detect-interval", self.detect_interval.map(|v| v.to_string())),
            ("search-budget", self.search_budget.map(|v| v.to_string())),
            ("max-gap", self.max_gap.map(|v| v.to_string())),
            ("min-face-score", self.min_face_score.map(|v| v.to_string())),
            ("device", self.device.clone()),
            ("device-id", self.device_id.map(|v| v.to_string())),
        ];
        let mut out: Vec<(String, String)> =
            options.into_iter().filter_map(|(name, value)| Some((name.to_string(), value?))).collect();
        for pair in &self.set {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--set {pair}: expected NAME=VALUE (e.g. --set max-faces=1)"))?;
            out.push((name.trim().to_string(), value.to_string()));
        }
        Ok(out)
    }
}

/// The property `name` as the element will get it from `properties` (name, value pairs set in
/// order: the last setting wins).
pub fn property<'a>(properties: &'a [(String, String)], name: &str) -> Option<&'a str> {
    properties.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// The model file the property `name` names in `properties`, else the installed `default` (a
/// `steadyface::models_dir` name), as the element resolves it.
pub fn model_property(properties: &[(String, String)], name: &str, default: &str) -> PathBuf {
    property(properties, name).map_or_else(|| steadyface::models_dir::default_model(default), PathBuf::from)
}

/// `track --personalize`: adapting the stabilizer to the video before tracking it.
#[derive(clap::Args, Clone, Default)]
pub struct PersonalizeArgs {
    /// Offline, for long recordings: before tracking, adapt the stabilizer (--stabilizer, else the
    /// one shipped for the backbone) to this video without labels (SBR's personalised adaptation:
    /// its registration loss, TSAL's EMA teacher and the disturbed-sequence loss; docs/design.md,
    /// "Personalisation"), then track with the adapted stabilizer on.
    #[arg(long, help_heading = PERSONALIZE)]
    pub personalize: bool,
    /// Seconds of training for the adaptation (reading the video's windows comes first, not
    /// counted); it stops before a step that would overrun.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, requires = "personalize", help_heading = PERSONALIZE)]
    pub personalize_budget: f64,
    /// At most this many training steps (reproducible runs; the budget still applies).
    #[arg(long, value_name = "N", requires = "personalize", help_heading = PERSONALIZE)]
    pub personalize_steps: Option<usize>,
    /// Also write the adapted stabilizer here (ONNX, its .json sidecar beside it), for
    /// --stabilizer later.
    #[arg(long, value_name = "PATH", requires = "personalize", help_heading = PERSONALIZE)]
    pub personalize_out: Option<PathBuf>,
}

const PERSONALIZE: &str = "Personalisation";
