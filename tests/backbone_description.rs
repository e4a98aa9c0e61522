//! A backbone's model description (`MODEL.json` beside `MODEL.onnx`) is honoured field by field:
//! a variant of the shipped backbone with other conventions (NCHW, BGR, mean/std-normalised
//! 0..255 input, coordinates normalised to 0..1 of the crop), built here by editing the shipped
//! graph, gives the shipped backbone's landmarks with its description, and fails or differs
//! without it. Bad descriptions are refused with the file and the field named.

mod common;

use std::path::{Path, PathBuf};

use common::{default_paths, load_rgb, scratch};
use steadyface::onnx::proto::{
    NodeProto, TensorShapeProto, ValueInfoProto,
    tensor_shape_proto::{Dimension, dimension},
    type_proto,
};
use steadyface::onnx::{AttributeProto, ModelProto, TensorProto, write_model};
use steadyface::pipeline::{FrameInput, ModelPaths, Models, Tracker, TrackerConfig};
use steadyface::runtime::Device;
use steadyface::scheme::Scheme;

/// An edit of a description's JSON.
type Edit = fn(&mut serde_json::Value);

/// The variant's input normalisation, in its channel order (B, G, R).
const MEAN: [f32; 3] = [103.9, 116.8, 123.7];
const STD: [f32; 3] = [57.4, 57.1, 58.4];
const SIZE: usize = 192;

fn node(op: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: Some(format!("variant_{}", outputs[0])),
        op_type: Some(op.to_string()),
        attribute,
        ..Default::default()
    }
}

/// The shipped backbone with an NCHW, BGR input holding `(pixel - MEAN) / STD` and its landmark
/// output divided by the crop size: Mul, Add, Gather (channel reversal), Mul (1/255) and
/// Transpose before the shipped graph, Div after it.
fn variant_backbone(dir: &Path) -> PathBuf {
    let bytes = std::fs::read(default_paths().backbone).unwrap();
    let mut model = ModelProto::from_bytes(&bytes).unwrap();
    let graph = model.graph.as_mut().unwrap();
    assert_eq!(graph.input.len(), 1);
    let shipped_input = graph.input[0].name.clone().unwrap();
    let dims = |v: &ValueInfoProto| match &v.r#type.as_ref().unwrap().value {
        Some(type_proto::Value::TensorType(t)) => t.shape.as_ref().unwrap().dim.clone(),
        None => panic!("not a tensor"),
    };
    let with_dims = |v: &ValueInfoProto, name: &str, dim: Vec<Dimension>| {
        let mut v = v.clone();
        v.name = Some(name.to_string());
        let Some(type_proto::Value::TensorType(t)) = &mut v.r#type.as_mut().unwrap().value else { unreachable!() };
        t.shape = Some(TensorShapeProto { dim });
        v
    };
    let fixed = |n: i64| Dimension { value: Some(dimension::Value::DimValue(n)), denotation: None };
    let batch = dims(&graph.input[0])[0].clone();
    let new_input = with_dims(&graph.input[0], "image", vec![batch, fixed(3), fixed(SIZE as i64), fixed(SIZE as i64)]);
    graph.input = vec![new_input];

    let f32s = |name: &str, dims: &[i64], data: &[f32]| TensorProto {
        name: Some(name.to_string()),
        dims: dims.to_vec(),
        data_type: Some(steadyface::onnx::proto::DATA_TYPE_FLOAT),
        float_data: data.to_vec(),
        ..Default::default()
    };
    graph.initializer.push(f32s("variant_std", &[1, 3, 1, 1], &STD));
    graph.initializer.push(f32s("variant_mean", &[1, 3, 1, 1], &MEAN));
    graph.initializer.push(f32s("variant_inv255", &[], &[1.0 / 255.0]));
    graph.initializer.push(f32s("variant_size", &[], &[SIZE as f32]));
    graph.initializer.push(TensorProto {
        name: Some("variant_reverse".into()),
        dims: vec![3],
        data_type: Some(steadyface::onnx::proto::DATA_TYPE_INT64),
        int64_data: vec![2, 1, 0],
        ..Default::default()
    });
    let prefix = vec![
        node("Mul", &["image", "variant_std"], &["variant_scaled"], vec![]),
        node("Add", &["variant_scaled", "variant_mean"], &["variant_bgr255"], vec![]),
        node(
            "Gather",
            &["variant_bgr255", "variant_reverse"],
            &["variant_rgb255"],
            vec![AttributeProto::int("axis", 1)],
        ),
        node("Mul", &["variant_rgb255", "variant_inv255"], &["variant_rgb"], vec![]),
        node("Transpose", &["variant_rgb"], &[&shipped_input], vec![AttributeProto::ints("perm", &[0, 2, 3, 1])]),
    ];
    graph.node.splice(0..0, prefix);

    // The landmark output (the largest) becomes `landmarks`, divided by the crop size.
    let main = (0..graph.output.len())
        .max_by_key(|&i| {
            dims(&graph.output[i])
                .iter()
                .filter_map(|d| match d.value {
                    Some(dimension::Value::DimValue(v)) => Some(v),
                    _ => None,
                })
                .product::<i64>()
        })
        .unwrap();
    let pixels = graph.output[main].name.clone().unwrap();
    graph.node.push(node("Div", &[&pixels, "variant_size"], &["landmarks"], vec![]));
    let out_dims = dims(&graph.output[main]);
    graph.output[main] = with_dims(&graph.output[main], "landmarks", out_dims);

    let path = dir.join("variant.onnx");
    write_model(&path, &model).unwrap();
    path
}

/// The variant's own description.
fn variant_description() -> serde_json::Value {
    let mut d: serde_json::Value =
        serde_json::from_str(steadyface::backbone::description::SHIPPED).expect("shipped description");
    d["input"] = serde_json::json!({"layout": "nchw", "color": "bgr", "scale": {"mean": MEAN, "std": STD}});
    d["output"]["units"] = "normalized".into();
    d
}

fn describe(model: &Path, description: &serde_json::Value) {
    std::fs::write(model.with_extension("json"), serde_json::to_string_pretty(description).unwrap()).unwrap();
}

/// Every backbone point (full scheme) of each face on single_face.jpg.
fn faces_with(backbone: &Path) -> steadyface::Result<Vec<Vec<[f32; 2]>>> {
    let paths = ModelPaths { backbone: backbone.to_path_buf(), ..default_paths() };
    let models = Models::load(&paths, Device::Cpu, Scheme::Full)?;
    let img = load_rgb("single_face.jpg");
    let mut tracker = Tracker::new(models, TrackerConfig::whole_pyramid());
    let mut faces = Vec::new();
    // Three frames: the track's crop then comes from the backbone's own points (face_scale).
    for _ in 0..3 {
        faces = tracker.process(&img.frame(), FrameInput::default())?.faces;
    }
    Ok(faces.into_iter().map(|f| f.points).collect())
}

fn max_difference(a: &[[f32; 2]], b: &[[f32; 2]]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(p, q)| (p[0] - q[0]).abs().max((p[1] - q[1]).abs())).fold(0.0, f32::max)
}

#[test]
fn a_backbone_with_other_conventions_gives_the_same_landmarks_with_its_description() {
    let dir = scratch("variant-backbone");
    let variant = variant_backbone(&dir);
    let shipped = faces_with(&default_paths().backbone).unwrap();
    assert_eq!(shipped.len(), 1, "single_face.jpg has one face");

    describe(&variant, &variant_description());
    let got = faces_with(&variant).unwrap();
    assert_eq!(got.len(), 1, "the variant finds the face");
    let diff = max_difference(&got[0], &shipped[0]);
    eprintln!("variant with its description: max difference {diff:.4} px over {} points", got[0].len());
    assert!(diff < 0.05, "max difference {diff} px");

    // Each convention matters: a description wrong in one field differs (or loses the face).
    let wrong: [(&str, Edit); 3] = [
        ("color rgb", |d| d["input"]["color"] = "rgb".into()),
        ("units pixels", |d| d["output"]["units"] = "pixels".into()),
        ("range [0,1]", |d| d["input"]["scale"] = serde_json::json!({"range": [0, 1]})),
    ];
    for (what, edit) in wrong {
        let mut d = variant_description();
        edit(&mut d);
        describe(&variant, &d);
        let got = faces_with(&variant).unwrap();
        let diff = got.first().map_or(f32::INFINITY, |f| max_difference(f, &shipped[0]));
        eprintln!("variant described with {what}: max difference {diff:.2} px ({} faces)", got.len());
        assert!(diff > 1.0, "{what}: the points must differ (max difference {diff} px)");
    }

    // The shipped backbone's description does not fit the variant: refused, naming the field.
    std::fs::copy(default_paths().backbone.with_extension("json"), variant.with_extension("json")).unwrap();
    let err = faces_with(&variant).unwrap_err().to_string();
    assert!(err.contains("variant.json: input.layout") && err.contains("nchw"), "{err}");

    // No description: MediaPipe's conventions are assumed (and said), which this model does not
    // follow: no face or other points.
    std::fs::remove_file(variant.with_extension("json")).unwrap();
    let paths = ModelPaths { backbone: variant.clone(), ..default_paths() };
    let models = Models::load(&paths, Device::Cpu, Scheme::Full).unwrap();
    let assumed = models.backbone.assumed.clone().expect("the missing description is reported");
    assert!(assumed.contains("variant.json") && assumed.contains("MediaPipe"), "{assumed}");
    let got = faces_with(&variant).unwrap();
    let diff = got.first().map_or(f32::INFINITY, |f| max_difference(f, &shipped[0]));
    assert!(diff > 1.0, "without a description the variant must not match (max difference {diff} px)");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A description beside a copy of the shipped backbone, edited by `edit`; the load error.
fn load_error_with(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let model = dir.join("landmarks.onnx");
    if !model.exists() {
        std::fs::copy(default_paths().backbone, &model).unwrap();
    }
    let mut d: serde_json::Value = serde_json::from_str(steadyface::backbone::description::SHIPPED).unwrap();
    edit(&mut d);
    describe(&model, &d);
    match Models::load(&ModelPaths { backbone: model, ..default_paths() }, Device::Cpu, Scheme::Ibug68) {
        Ok(_) => panic!("the description must be refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_descriptions_name_the_file_and_the_field() {
    let dir = scratch("bad-descriptions");
    let file = dir.join("landmarks.json").display().to_string();
    let cases: [(&str, Edit); 7] = [
        ("input.scale.std: expected 3 numbers", |d| {
            d["input"]["scale"] = serde_json::json!({"mean": [0, 0, 0], "std": [1, 1]})
        }),
        ("crop.face_scale: 0: must be > 0", |d| d["crop"]["face_scale"] = 0.into()),
        ("crop.face_scale: -2: must be > 0", |d| d["crop"]["face_scale"] = (-2).into()),
        ("scheme.ibug68[67]: 500 is out of range", |d| d["scheme"]["ibug68"][67] = 500.into()),
        ("crop.size: 112 but the model's input is 192x192", |d| d["crop"]["size"] = 112.into()),
        ("output.points: 68 but output conv2d_21 holds 1404 values", |d| {
            d["output"]["points"] = 68.into();
            d["scheme"] = serde_json::json!({"name": "ibug68", "ibug68": null});
        }),
        ("output.kind: \"heatmaps\"", |d| d["output"] = serde_json::json!({"kind": "heatmaps", "points": 468})),
    ];
    for (want, edit) in cases {
        let msg = load_error_with(&dir, edit);
        assert!(msg.contains(&format!("{file}: {want}")), "want {want:?} in {msg}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A backbone with no iBUG-68 mapping (null) loads for the full scheme only, and says why.
#[test]
fn without_an_ibug68_mapping_only_the_full_scheme_loads() {
    let dir = scratch("no-mapping");
    let model = dir.join("landmarks.onnx");
    std::fs::copy(default_paths().backbone, &model).unwrap();
    let mut d: serde_json::Value = serde_json::from_str(steadyface::backbone::description::SHIPPED).unwrap();
    d["scheme"]["ibug68"] = serde_json::Value::Null;
    d["scheme"]["name"] = "my-mesh".into();
    describe(&model, &d);
    let paths = ModelPaths { backbone: model, ..default_paths() };
    let err = Models::load(&paths, Device::Cpu, Scheme::Ibug68).err().expect("no iBUG-68 mapping").to_string();
    assert!(err.contains("scheme.ibug68 is null") && err.contains("full scheme"), "{err}");
    let full = Models::load(&paths, Device::Cpu, Scheme::Full).unwrap();
    assert_eq!((full.selection().len(), full.scheme_name()), (468, "my-mesh".to_string()));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The second real backbone (face-api.js's 68-point net rebuilt as ONNX by
/// models/face_api_landmark68.py, described by models/face_api_landmark68.json: NCHW, mean/std,
/// a 112 px crop, normalised coordinates) runs with only its path given, and its points on takeo
/// are near the human annotation (takeo.pts): NME-49 under 8% of the inter-ocular distance (face-api
/// measured 4.3% on this face's validation sequences).
#[test]
fn face_api_backbone_finds_takeo_landmarks_near_the_human_annotation() {
    let backbone = common::root().join("models/face_api_landmark68.onnx");
    let paths = ModelPaths { backbone, ..default_paths() };
    let models = Models::load(&paths, Device::Cpu, Scheme::Ibug68).expect("loads with its description");
    assert!(models.backbone.assumed.is_none(), "its description is read, no conventions assumed");
    let img = load_rgb("takeo.ppm");
    let mut tracker = Tracker::new(models, TrackerConfig::whole_pyramid());
    let mut faces = Vec::new();
    for _ in 0..3 {
        faces = tracker.process(&img.frame(), FrameInput::default()).expect("pipeline").faces;
    }
    let [face] = faces.as_slice() else { panic!("one face on takeo, got {}", faces.len()) };
    let truth = steadyface::pts::read_pts(&common::testdata("takeo.pts")).expect("takeo.pts");
    let nme = 100.0 * steadyface::metrics::nme(&face.points, &truth, &steadyface::metrics::inner49());
    eprintln!("face-api backbone on takeo: NME-49 {nme:.2}%");
    assert!(nme < 8.0, "NME-49 {nme:.2}%");
}
