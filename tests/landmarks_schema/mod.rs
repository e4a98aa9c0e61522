//! Checking JSON lines against docs/landmarks.schema.json (included by path by the tests of the
//! plugin and the command). A small JSON Schema validator for the keywords that schema uses; any
//! other keyword fails the check, so the schema cannot grow beyond what is validated here.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Keywords that only document.
const ANNOTATIONS: &[&str] = &["$schema", "$id", "title", "description", "$comment", "$defs"];

/// docs/landmarks.schema.json.
pub fn schema_path() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = crate_dir.ancestors().find(|d| d.join("docs/landmarks.schema.json").is_file()).expect("repository root");
    root.join("docs/landmarks.schema.json")
}

pub fn schema() -> Value {
    let path = schema_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Checks one line: valid JSON, valid against the schema, and one confidence per point.
pub fn check_line(schema: &Value, line: &str) -> Result<Value, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e}): {line}"))?;
    validate(schema, schema, &value, "").map_err(|e| format!("{e}\n  in: {}", abbreviated(line)))?;
    // What JSON Schema cannot say: the two lists of a face have the same length.
    for (i, face) in value["faces"].as_array().into_iter().flatten().enumerate() {
        let (p, c) = (face["points"].as_array().map(Vec::len), face["confidence"].as_array().map(Vec::len));
        if p != c {
            return Err(format!("/faces/{i}: {p:?} points but {c:?} confidences"));
        }
    }
    Ok(value)
}

/// Checks every line of `text` (at least one); the parsed lines.
pub fn check_lines(schema: &Value, text: &str) -> Vec<Value> {
    let lines: Vec<Value> = text
        .lines()
        .enumerate()
        .map(|(n, l)| check_line(schema, l).unwrap_or_else(|e| panic!("line {}: {e}", n + 1)))
        .collect();
    assert!(!lines.is_empty(), "no lines to check");
    lines
}

fn abbreviated(line: &str) -> String {
    if line.len() > 300 { format!("{}...", &line[..line.floor_char_boundary(300)]) } else { line.to_string() }
}

/// `value` at JSON pointer `at` against `schema` (a sub-schema of `root`).
pub fn validate(root: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let Some(keywords) = schema.as_object() else {
        return match schema {
            Value::Bool(true) => Ok(()),
            Value::Bool(false) => Err(format!("{at}: not allowed")),
            _ => panic!("{at}: a schema must be an object or a boolean: {schema}"),
        };
    };
    let fail = |what: String| Err(format!("{}: {what}", if at.is_empty() { "/" } else { at }));
    for (keyword, arg) in keywords {
        match keyword.as_str() {
            k if ANNOTATIONS.contains(&k) => {}
            "$ref" => {
                let target = arg.as_str().and_then(|r| r.strip_prefix('#')).and_then(|p| root.pointer(p));
                validate(root, target.unwrap_or_else(|| panic!("unresolved $ref {arg}")), value, at)?;
            }
            "type" => {
                let types: Vec<&str> = match arg {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().map(|t| t.as_str().expect("type name")).collect(),
                    _ => panic!("bad type {arg}"),
                };
                if !types.iter().any(|t| has_type(value, t)) {
                    return fail(format!("expected {types:?}, got {value}"));
                }
            }
            "const" if value != arg => return fail(format!("expected {arg}, got {value}")),
            "const" => {}
            "enum" if !arg.as_array().expect("enum list").contains(value) => {
                return fail(format!("{value} is not one of {arg}"));
            }
            "enum" => {}
            "minimum" => {
                if let (Some(v), Some(min)) = (value.as_f64(), arg.as_f64())
                    && v < min
                {
                    return fail(format!("{v} < {min}"));
                }
            }
            "minLength" => {
                if let Some(s) = value.as_str()
                    && (s.chars().count() as u64) < arg.as_u64().expect("minLength")
                {
                    return fail(format!("{s:?} is shorter than {arg}"));
                }
            }
            "minItems" | "maxItems" => {
                if let Some(a) = value.as_array() {
                    let n = arg.as_u64().expect("item count") as usize;
                    if (keyword == "minItems" && a.len() < n) || (keyword == "maxItems" && a.len() > n) {
                        return fail(format!("{} items, {keyword} {n}", a.len()));
                    }
                }
            }
            "items" => {
                for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                    validate(root, arg, item, &format!("{at}/{i}"))?;
                }
            }
            "required" => {
                if let Some(object) = value.as_object() {
                    for key in arg.as_array().expect("required list") {
                        let key = key.as_str().expect("required key");
                        if !object.contains_key(key) {
                            return fail(format!("missing key {key:?}"));
                        }
                    }
                }
            }
            "properties" => {
                let properties = arg.as_object().expect("properties object");
                for (key, item) in value.as_object().into_iter().flatten() {
                    if let Some(sub) = properties.get(key) {
                        validate(root, sub, item, &format!("{at}/{key}"))?;
                    }
                }
            }
            "additionalProperties" => {
                let known = keywords.get("properties").and_then(Value::as_object);
                for (key, item) in value.as_object().into_iter().flatten() {
                    if !known.is_some_and(|k| k.contains_key(key)) {
                        validate(root, arg, item, &format!("{at}/{key}"))
                            .map_err(|_| format!("{at}/{key}: unexpected key"))?;
                    }
                }
            }
            "if" => {
                let branch = if validate(root, arg, value, at).is_ok() { "then" } else { "else" };
                if let Some(sub) = keywords.get(branch) {
                    validate(root, sub, value, at)?;
                }
            }
            "then" | "else" => {}
            "allOf" => {
                for sub in arg.as_array().expect("allOf list") {
                    validate(root, sub, value, at)?;
                }
            }
            other => panic!("schema keyword {other:?} (at {at}) is not checked by this validator: add it here"),
        }
    }
    Ok(())
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.is_u64() || value.is_i64() || value.as_f64().is_some_and(|f| f.fract() == 0.0),
        other => panic!("unknown type {other:?}"),
    }
}

/// Lines in the shapes the project wrote before the schema (track with one face, track without,
/// detect, print_landmarks.py): each must be rejected.
pub fn old_shapes() -> Vec<String> {
    let points: Vec<[f64; 2]> = (0..68).map(|i| [i as f64, 2.0 * i as f64]).collect();
    let face = serde_json::json!({"track_id": 1, "box": [1.0, 2.0, 3.0, 4.0], "score": 0.9, "points": points});
    let mut one = face.clone();
    one["frame"] = 0.into();
    vec![
        one.to_string(),
        serde_json::json!({"frame": 3, "faces": []}).to_string(),
        serde_json::json!({"image": "a.jpg", "detections": [], "faces": [{"track_id": 1, "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.9, "points": points}]}).to_string(),
        serde_json::json!({"frame": 0, "width": 640, "height": 360, "scheme": "ibug68", "faces": [face]}).to_string(),
    ]
}
