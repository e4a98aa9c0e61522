//! A backbone's model description: `MODEL.json` beside `MODEL.onnx`, saying what the tensors
//! cannot: the input's value scale and channel order, how much context the crop holds around the
//! face, the output's units, and the backbone's point order (its iBUG-68 mapping). The format is
//! documented in docs/design.md ("Formats"); `models/face_landmark.json` is the shipped example.
//!
//! Every field is checked here (types, ranges); [`super::Backbone::load`] then checks the fields
//! that the model's tensors also tell (layout, crop size, output kind and point count). Errors
//! name the file and the field ([`Error::DescriptionInvalid`]).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::crop::{ChannelScale, Layout};
use crate::error::{Error, Result};
use crate::scheme::Scheme;

/// The `format` of the version this code reads.
pub const FORMAT: &str = "steadyface.backbone/1";

/// Channel order of the model's input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    Rgb,
    Bgr,
}

/// What the backbone's main output holds, as the description says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputSpec {
    /// Points as x, y (and possibly z) values; `normalized`: x, y in 0..1 of the crop's side,
    /// else in crop pixels (0..size spans the crop).
    Coordinates {
        normalized: bool,
    },
    Heatmaps,
}

/// How a pixel value v (0..255) becomes a model input value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InputValues {
    /// 0 -> `range[0]`, 255 -> `range[1]`, linearly, every channel.
    Range([f32; 2]),
    /// `(v - mean[c]) / std[c]`, channel c in the model's channel order.
    MeanStd { mean: [f32; 3], std: [f32; 3] },
}

/// A backbone's conventions (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    /// The file it was read from; `None` for [`Description::mediapipe`] (no file).
    pub path: Option<PathBuf>,
    pub layout: Layout,
    pub color: Color,
    pub values: InputValues,
    /// Side of the square input crop in pixels.
    pub crop_size: usize,
    /// Side of the crop relative to the face's extent (the detector's box, or the box of the
    /// backbone's points while tracking).
    pub face_scale: f32,
    pub output: OutputSpec,
    /// Number of points the backbone emits.
    pub points: usize,
    /// The name of the backbone's own point order (the `full` scheme's name).
    pub scheme_name: String,
    /// Backbone index of each iBUG-68 point; `None`: no mapping (a 68-point backbone is then
    /// taken as iBUG-68 itself).
    pub ibug68: Option<Vec<usize>>,
    /// The subject's right and left eye (outer corners): their line levels the crop.
    pub eyes: Option<(usize, usize)>,
}

/// The shipped backbone's description (`models/face_landmark.json`): the conventions assumed for
/// a backbone without one.
pub const SHIPPED: &str = include_str!("../../models/face_landmark.json");

impl Description {
    /// Where the description of the backbone at `model` lives: `MODEL.json` beside `MODEL.onnx`.
    pub fn path_for(model: &Path) -> PathBuf {
        model.with_extension("json")
    }

    /// MediaPipe's conventions (the shipped backbone's description, [`SHIPPED`]), for a backbone
    /// without a description: RGB in [0,1], coordinates in crop pixels, a crop 1.5 times the face;
    /// 468 or 478 points (the face mesh, with or without irises) keep its iBUG-68 mapping and eyes,
    /// 68 points are taken as iBUG-68's, others have no mapping. `layout`, `crop_size`, `output` and
    /// `points` come from the tensors.
    pub fn mediapipe(layout: Layout, crop_size: usize, output: OutputSpec, points: usize) -> Self {
        let shipped = Description::parse(SHIPPED, Path::new("models/face_landmark.json"))
            .expect("the shipped description is valid (tested)");
        let mesh = points == 468 || points == 478;
        Description {
            path: None,
            layout,
            crop_size,
            output,
            points,
            scheme_name: if mesh { shipped.scheme_name.clone() } else { format!("backbone{points}") },
            ibug68: if mesh { shipped.ibug68.clone() } else { None },
            eyes: if mesh { shipped.eyes } else { None },
            ..shipped
        }
    }

    /// Reads the description beside the backbone `model`; `Ok(None)` when there is none.
    pub fn for_model(model: &Path) -> Result<Option<Self>> {
        let path = Description::path_for(model);
        match std::fs::read_to_string(&path) {
            Ok(text) => Description::parse(&text, &path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::DescriptionInvalid { path, field: "(file)".into(), reason: e.to_string() }),
        }
    }

    /// Parses and checks a description (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let fail = |field: &str, reason: String| Error::DescriptionInvalid {
            path: path.to_path_buf(),
            field: field.to_string(),
            reason,
        };
        let root: Value = serde_json::from_str(text)
            .map_err(|e| fail(&format!("line {} column {}", e.line(), e.column()), format!("not valid JSON: {e}")))?;
        let r = Reader { fail: &fail };
        let top = r.object(&root, "(top level)", &["format", "input", "crop", "output", "scheme"])?;

        let format = r.string(r.required(top, "", "format")?, "format")?;
        if format != FORMAT {
            return Err(fail("format", format!("\"{format}\" is not supported; this version reads \"{FORMAT}\"")));
        }

        let input = r.object(r.required(top, "", "input")?, "input", &["layout", "color", "scale"])?;
        let layout = match r.string(r.required(input, "input", "layout")?, "input.layout")? {
            "nhwc" => Layout::Hwc,
            "nchw" => Layout::Chw,
            other => return Err(fail("input.layout", format!("\"{other}\": expected \"nhwc\" or \"nchw\""))),
        };
        let color = match r.string(r.required(input, "input", "color")?, "input.color")? {
            "rgb" => Color::Rgb,
            "bgr" => Color::Bgr,
            other => return Err(fail("input.color", format!("\"{other}\": expected \"rgb\" or \"bgr\""))),
        };
        let scale = r.object(r.required(input, "input", "scale")?, "input.scale", &["range", "mean", "std"])?;
        let values = match (scale.get("range"), scale.get("mean"), scale.get("std")) {
            (Some(range), None, None) => {
                let [lo, hi] = r.numbers::<2>(range, "input.scale.range")?;
                if lo == hi {
                    return Err(fail("input.scale.range", format!("[{lo}, {hi}] is empty: the ends must differ")));
                }
                InputValues::Range([lo, hi])
            }
            (None, Some(mean), Some(std)) => {
                let mean = r.numbers::<3>(mean, "input.scale.mean")?;
                let std = r.numbers::<3>(std, "input.scale.std")?;
                if std.iter().any(|&s| s <= 0.0) {
                    return Err(fail("input.scale.std", format!("{std:?}: every std must be > 0")));
                }
                InputValues::MeanStd { mean, std }
            }
            (None, Some(_), None) => return Err(fail("input.scale.std", "missing (mean needs std)".into())),
            (None, None, Some(_)) => return Err(fail("input.scale.mean", "missing (std needs mean)".into())),
            _ => {
                return Err(fail(
                    "input.scale",
                    "expected either {\"range\": [lo, hi]} or {\"mean\": [..3], \"std\": [..3]}".into(),
                ));
            }
        };

        let crop = r.object(r.required(top, "", "crop")?, "crop", &["size", "face_scale"])?;
        let crop_size = r.count(r.required(crop, "crop", "size")?, "crop.size")?;
        let face_scale = r.number(r.required(crop, "crop", "face_scale")?, "crop.face_scale")?;
        if face_scale <= 0.0 {
            return Err(fail("crop.face_scale", format!("{face_scale}: must be > 0")));
        }

        let out = r.object(r.required(top, "", "output")?, "output", &["kind", "units", "points"])?;
        let output = match r.string(r.required(out, "output", "kind")?, "output.kind")? {
            "coordinates" => {
                let normalized = match r.string(r.required(out, "output", "units")?, "output.units")? {
                    "pixels" => false,
                    "normalized" => true,
                    other => {
                        return Err(fail(
                            "output.units",
                            format!("\"{other}\": expected \"pixels\" or \"normalized\""),
                        ));
                    }
                };
                OutputSpec::Coordinates { normalized }
            }
            "heatmaps" => {
                if out.contains_key("units") {
                    return Err(fail("output.units", "only coordinates have units (heatmaps span the crop)".into()));
                }
                OutputSpec::Heatmaps
            }
            other => {
                return Err(fail("output.kind", format!("\"{other}\": expected \"coordinates\" or \"heatmaps\"")));
            }
        };
        let points = r.count(r.required(out, "output", "points")?, "output.points")?;

        let scheme = r.object(r.required(top, "", "scheme")?, "scheme", &["name", "ibug68", "eyes"])?;
        let scheme_name = r.string(r.required(scheme, "scheme", "name")?, "scheme.name")?.to_string();
        if scheme_name.is_empty() {
            return Err(fail("scheme.name", "empty".into()));
        }
        let index = |v: &Value, field: &str| -> Result<usize> {
            let i = r.index(v, field)?;
            if i >= points {
                return Err(fail(
                    field,
                    format!("{i} is out of range: the backbone has {points} points (output.points)"),
                ));
            }
            Ok(i)
        };
        let ibug68 = match scheme.get("ibug68") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) if items.len() == 68 => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| index(v, &format!("scheme.ibug68[{i}]")))
                    .collect::<Result<_>>()?,
            ),
            Some(_) => {
                return Err(fail("scheme.ibug68", "expected 68 point indices (or null: no iBUG-68 mapping)".into()));
            }
        };
        let eyes = match scheme.get("eyes") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) if items.len() == 2 => {
                Some((index(&items[0], "scheme.eyes[0]")?, index(&items[1], "scheme.eyes[1]")?))
            }
            Some(_) => return Err(fail("scheme.eyes", "expected 2 point indices: [right eye, left eye]".into())),
        };

        Ok(Description {
            path: Some(path.to_path_buf()),
            layout,
            color,
            values,
            crop_size,
            face_scale,
            output,
            points,
            scheme_name,
            ibug68,
            eyes,
        })
    }

    /// The crop's per-channel gain, bias and channel order that make this model's input.
    pub fn channel_scale(&self) -> ChannelScale {
        let (gain, bias) = match self.values {
            InputValues::Range([lo, hi]) => ([(hi - lo) / 255.0; 3], [lo; 3]),
            InputValues::MeanStd { mean, std } => (std.map(|s| 1.0 / s), [0, 1, 2].map(|c| -mean[c] / std[c])),
        };
        ChannelScale { gain, bias, bgr: self.color == Color::Bgr }
    }

    /// Backbone indices of the iBUG-68 points: the description's mapping, or 0..67 for a
    /// 68-point backbone without one; `None` when the backbone's points cannot be mapped.
    pub fn ibug68_selection(&self) -> Option<Vec<usize>> {
        match &self.ibug68 {
            Some(map) => Some(map.clone()),
            None if self.points == 68 => Some((0..68).collect()),
            None => None,
        }
    }

    /// Backbone indices of the points reported for `scheme`; `None` when the backbone's points
    /// cannot be mapped to it.
    pub fn selection(&self, scheme: Scheme) -> Option<Vec<usize>> {
        match scheme {
            Scheme::Full => Some((0..self.points).collect()),
            Scheme::Ibug68 => self.ibug68_selection(),
        }
    }

    /// The name of `scheme`'s points with this backbone ("ibug68", or the backbone's own scheme).
    pub fn scheme_name(&self, scheme: Scheme) -> String {
        match scheme {
            Scheme::Ibug68 => "ibug68".into(),
            Scheme::Full => self.scheme_name.clone(),
        }
    }

    /// The two points whose line levels the crop: `eyes`, else the iBUG-68 outer eye corners
    /// (points 36 and 45) through the mapping; (0, 0) (no rotation) when neither is known.
    pub fn eye_pair(&self) -> (usize, usize) {
        let (right, left) = crate::scheme::IBUG_OUTER_EYE;
        self.eyes.or_else(|| self.ibug68_selection().map(|m| (m[right], m[left]))).unwrap_or((0, 0))
    }

    /// The file this description was read from, for messages ("(none)" for the defaults).
    pub fn origin(&self) -> String {
        self.path.as_ref().map_or_else(|| "(no description)".into(), |p| p.display().to_string())
    }

    /// An error about `field` of this description.
    pub fn error(&self, field: &str, reason: impl Into<String>) -> Error {
        Error::DescriptionInvalid {
            path: self.path.clone().unwrap_or_default(),
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

/// Typed access to JSON values, failing with the field's path.
struct Reader<'a> {
    fail: &'a dyn Fn(&str, String) -> Error,
}

impl Reader<'_> {
    fn object<'v>(&self, v: &'v Value, field: &str, known: &[&str]) -> Result<&'v Map<String, Value>> {
        let map = v.as_object().ok_or_else(|| (self.fail)(field, format!("expected an object, got {v}")))?;
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            let at = if field.starts_with('(') { unknown.clone() } else { format!("{field}.{unknown}") };
            return Err((self.fail)(&at, format!("unknown field (expected one of: {})", known.join(", "))));
        }
        Ok(map)
    }

    fn required<'v>(&self, map: &'v Map<String, Value>, parent: &str, key: &str) -> Result<&'v Value> {
        let field = if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") };
        map.get(key).ok_or_else(|| (self.fail)(&field, "missing".into()))
    }

    fn string<'v>(&self, v: &'v Value, field: &str) -> Result<&'v str> {
        v.as_str().ok_or_else(|| (self.fail)(field, format!("expected a string, got {v}")))
    }

    fn number(&self, v: &Value, field: &str) -> Result<f32> {
        match v.as_f64() {
            Some(x) if (x as f32).is_finite() => Ok(x as f32),
            _ => Err((self.fail)(field, format!("expected a number, got {v}"))),
        }
    }

    fn numbers<const N: usize>(&self, v: &Value, field: &str) -> Result<[f32; N]> {
        let bad = || (self.fail)(field, format!("expected {N} numbers, got {v}"));
        let items = v.as_array().filter(|a| a.len() == N).ok_or_else(bad)?;
        let mut out = [0.0; N];
        for (o, item) in out.iter_mut().zip(items) {
            *o = self.number(item, field).map_err(|_| bad())?;
        }
        Ok(out)
    }

    /// A non-negative integer.
    fn index(&self, v: &Value, field: &str) -> Result<usize> {
        v.as_u64()
            .map(|i| i as usize)
            .ok_or_else(|| (self.fail)(field, format!("expected a point index (0, 1, ...), got {v}")))
    }

    /// A positive integer.
    fn count(&self, v: &Value, field: &str) -> Result<usize> {
        match v.as_u64() {
            Some(n) if n > 0 => Ok(n as usize),
            _ => Err((self.fail)(field, format!("expected a positive integer, got {v}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Description> {
        Description::parse(text, Path::new("models/x.json"))
    }

    /// The shipped description with `edit` applied to its JSON.
    fn edited(edit: impl FnOnce(&mut Value)) -> String {
        let mut v: Value = serde_json::from_str(SHIPPED).unwrap();
        edit(&mut v);
        v.to_string()
    }

    fn message(text: &str) -> String {
        parse(text).expect_err("must be refused").to_string()
    }

    #[test]
    fn shipped_description_is_mediapipes_conventions() {
        let d = parse(SHIPPED).unwrap();
        let defaults = Description::mediapipe(Layout::Hwc, 192, OutputSpec::Coordinates { normalized: false }, 468);
        assert_eq!(Description { path: None, ..d.clone() }, defaults);
        assert_eq!(
            (d.layout, d.color, d.values, d.crop_size, d.face_scale),
            (Layout::Hwc, Color::Rgb, InputValues::Range([0.0, 1.0]), 192, 1.5)
        );
        assert_eq!(d.output, OutputSpec::Coordinates { normalized: false });
        assert_eq!((d.points, d.scheme_name.as_str(), d.eye_pair()), (468, "mediapipe468", (33, 263)));
        let other = Description::mediapipe(Layout::Chw, 112, OutputSpec::Coordinates { normalized: false }, 68);
        assert_eq!((other.ibug68_selection(), other.eye_pair()), (Some((0..68).collect()), (36, 45)));
        assert_eq!(Description::mediapipe(Layout::Chw, 64, OutputSpec::Heatmaps, 98).ibug68_selection(), None);
        let s = d.channel_scale();
        assert_eq!((s.gain, s.bias, s.bgr), ([1.0 / 255.0; 3], [0.0; 3], false));
    }

    #[test]
    fn mapping_is_a_set_of_distinct_mesh_vertices() {
        let mut v = parse(SHIPPED).unwrap().ibug68.unwrap();
        v.sort();
        v.dedup();
        assert_eq!(v.len(), 68);
        assert!(v.iter().all(|&i| i < 468));
    }

    #[test]
    fn mean_std_and_bgr_give_per_channel_gain_and_bias() {
        let text = edited(|v| {
            v["input"]["color"] = "bgr".into();
            v["input"]["scale"] = serde_json::json!({"mean": [104, 117, 123], "std": [2, 4, 8]});
        });
        let s = parse(&text).unwrap().channel_scale();
        assert!(s.bgr);
        assert_eq!(s.gain, [0.5, 0.25, 0.125]);
        assert_eq!(s.bias, [-52.0, -29.25, -15.375]);
    }

    #[test]
    fn bad_fields_name_the_file_and_the_field() {
        let cases: Vec<(String, &str)> = vec![
            (
                edited(|v| v["input"]["scale"] = serde_json::json!({"mean": [1, 2, 3], "std": [1, 2]})),
                "input.scale.std: expected 3 numbers",
            ),
            (
                edited(|v| v["input"]["scale"] = serde_json::json!({"mean": [1, 2, 3], "std": [1, 0, 2]})),
                "input.scale.std: ",
            ),
            (edited(|v| v["input"]["scale"] = serde_json::json!({"mean": [1, 2, 3]})), "input.scale.std: missing"),
            (edited(|v| v["input"]["layout"] = "hwc".into()), "input.layout: \"hwc\""),
            (edited(|v| v["input"]["colour"] = "rgb".into()), "input.colour: unknown field"),
            (edited(|v| v["output"]["units"] = "metres".into()), "output.units: \"metres\""),
            (
                edited(|v| v["output"].as_object_mut().unwrap().remove("points").map(drop).unwrap()),
                "output.points: missing",
            ),
            (edited(|v| v["crop"]["face_scale"] = 0.into()), "crop.face_scale: 0: must be > 0"),
            (edited(|v| v["crop"]["face_scale"] = (-1.5).into()), "crop.face_scale: -1.5: must be > 0"),
            (edited(|v| v["crop"]["size"] = 0.into()), "crop.size: expected a positive integer"),
            (edited(|v| v["scheme"]["ibug68"][5] = 468.into()), "scheme.ibug68[5]: 468 is out of range"),
            (edited(|v| v["scheme"]["ibug68"].as_array_mut().unwrap().truncate(67)), "scheme.ibug68: expected 68"),
            (
                edited(|v| v["format"] = "steadyface.backbone/2".into()),
                "format: \"steadyface.backbone/2\" is not supported",
            ),
            ("{\"format\": ".into(), "line 1 column 11: not valid JSON"),
        ];
        for (text, want) in cases {
            let msg = message(&text);
            assert!(msg.starts_with("models/x.json: ") && msg.contains(want), "want {want:?} in {msg:?}");
        }
    }
}
