//! The core pipeline on real photos with human-annotated points.

mod common;

use common::{load_rgb, models, testdata};
use steadyface::metrics::{inner49, nme};
use steadyface::pipeline::{FrameInput, Tracker, TrackerConfig};
use steadyface::pts::read_pts;

fn faces_found(name: &str) -> usize {
    let img = load_rgb(name);
    models().detector.detect(&img.frame()).expect("detector runs").len()
}

#[test]
fn blazeface_finds_the_faces() {
    assert_eq!(faces_found("single_face.jpg"), 1);
    assert_eq!(faces_found("takeo.ppm"), 1);
    assert_eq!(faces_found("einstein.jpg"), 1);
    assert_eq!(faces_found("multi_face.jpg"), 5);
}

/// Inner-49 NME of the first face the pipeline reports, found by the detector.
fn inner49_nme(name: &str, pts: &str) -> f32 {
    let img = load_rgb(name);
    let gt = read_pts(&testdata(pts)).expect("annotation");
    let mut tracker = Tracker::new(models(), TrackerConfig::whole_pyramid());
    let faces = tracker.process(&img.frame(), FrameInput::default()).expect("pipeline runs").faces;
    assert_eq!(faces.len(), 1, "{name}: faces");
    assert_eq!(faces[0].points.len(), 68);
    nme(&faces[0].points, &gt, &inner49())
}

#[test]
fn takeo_inner49_nme_below_6_percent() {
    let e = inner49_nme("takeo.ppm", "takeo.pts");
    eprintln!("takeo inner-49 NME {:.2}%", e * 100.0);
    assert!(e < 0.06, "takeo NME {e}");
}

#[test]
fn einstein_inner49_nme_below_10_percent() {
    let e = inner49_nme("einstein.jpg", "einstein.pts");
    eprintln!("einstein inner-49 NME {:.2}%", e * 100.0);
    assert!(e < 0.10, "einstein NME {e}");
}

/// With an identity ConvLSTM the stabilized path (render heatmaps, stabilizer, soft-PDC decode)
/// gives back the backbone's points: the heatmap round trip loses well under a pixel.
#[test]
fn identity_stabilizer_keeps_the_backbone_points() {
    use steadyface::pipeline::Models;
    use steadyface::runtime::Device;
    use steadyface::scheme::Scheme;

    let dir = common::scratch("identity-stabilizer");
    let path = common::identity_stabilizer(&dir, 4, None);
    let paths = steadyface::pipeline::ModelPaths { stabilizer: Some(path), ..common::default_paths() };
    let stabilized = Models::load(&paths, Device::Cpu, Scheme::Ibug68).expect("models with stabilizer");

    let img = load_rgb("takeo.ppm");
    let plain =
        Tracker::new(models(), TrackerConfig::default()).process(&img.frame(), FrameInput::default()).unwrap().faces;
    let with =
        Tracker::new(stabilized, TrackerConfig::default()).process(&img.frame(), FrameInput::default()).unwrap().faces;
    assert!(with[0].stabilized && !plain[0].stabilized);
    let worst =
        plain[0].points.iter().zip(&with[0].points).map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1])).fold(0.0, f32::max);
    eprintln!("identity stabilizer: max point difference {worst:.3} px");
    assert!(worst < 0.3, "identity stabilizer moved a point by {worst} px");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pipeline_tracks_all_five_faces_and_respects_the_cap() {
    let img = load_rgb("multi_face.jpg");
    let faces = Tracker::new(models(), TrackerConfig::whole_pyramid())
        .process(&img.frame(), FrameInput::default())
        .unwrap()
        .faces;
    assert_eq!(faces.len(), 5);
    let mut ids: Vec<u64> = faces.iter().map(|f| f.track_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "distinct track ids");
    assert!(faces.iter().all(|f| f.points.len() == 68 && f.new_track));
    let capped = TrackerConfig { max_faces: 2, ..TrackerConfig::whole_pyramid() };
    assert_eq!(Tracker::new(models(), capped).process(&img.frame(), FrameInput::default()).unwrap().faces.len(), 2);
}

#[test]
fn faces_found_while_tracking_join_a_fixed_number_of_frames_after_the_search() {
    // One face tracked (cap 1), then the cap is raised: searches for new faces start on
    // multiples of 10 frames (the detector interval, or up to three of them while searches find
    // nothing new) beside the tracking, each over the whole frame and one tile, and what they
    // find joins 3 frames later, whatever the timing: the count changes only on frames 13, 23,
    // ... and reaches the photo's five faces once the tiles have been searched.
    let img = load_rgb("multi_face.jpg");
    let config = TrackerConfig { max_faces: 1, ..TrackerConfig::whole_pyramid() };
    let mut tracker = Tracker::new(models(), config);
    let first = tracker.process(&img.frame(), FrameInput::default()).unwrap().faces;
    assert_eq!(first.len(), 1);
    tracker.set_config(TrackerConfig { max_faces: 5, ..config });
    let mut counts = vec![1];
    for _ in 1..80 {
        let faces = tracker.process(&img.frame(), FrameInput::default()).unwrap().faces;
        assert_eq!(faces.iter().filter(|f| f.track_id == first[0].track_id).count(), 1, "the first track goes on");
        counts.push(faces.len());
    }
    for i in 1..counts.len() {
        assert!(counts[i] == counts[i - 1] || i % 10 == 3, "count changed on frame {i}: {counts:?}");
    }
    assert!(counts[13] > 1, "the first search's faces join on frame 13: {counts:?}");
    assert_eq!(counts[79], 5, "{counts:?}");
}

#[test]
fn tiny_and_faceless_frames_give_no_faces() {
    let mut tracker = Tracker::new(models(), TrackerConfig::default());
    for (w, h) in [(1, 1), (2, 3), (7, 5)] {
        let data = vec![128u8; w * h * 3];
        let frame = steadyface::frame::Frame::rgb(&data, w, h).unwrap();
        assert!(tracker.process(&frame, FrameInput::default()).unwrap().faces.is_empty(), "{w}x{h}");
    }
}

/// A backbone that answers NaN for every point (built here: a zero convolution divided by zero)
/// loses the face for that frame; nothing panics and the tracker keeps working.
#[test]
fn nan_from_the_backbone_drops_the_face() {
    use steadyface::onnx::{Dim, GraphBuilder, OPSET, model, write_model};
    use steadyface::pipeline::{ModelPaths, Models};
    use steadyface::runtime::Device;
    use steadyface::scheme::Scheme;

    let size = 16;
    let mut g = GraphBuilder::new("nan_backbone");
    g.input("image", &[Dim::param("N"), 3.into(), size.into(), size.into()])
        .output("points", &[Dim::param("N"), 1404.into(), 1.into(), 1.into()])
        .initializer("w", &[1404, 3, size, size], &vec![0.0; 1404 * 3 * size * size])
        .initializer("zero", &[1], &[0.0])
        .node("Conv", &["image", "w"], &["zeros"], vec![])
        .node("Div", &["zeros", "zero"], &["points"], vec![]);
    let dir = common::scratch("nan-backbone");
    let path = dir.join("nan.onnx");
    write_model(&path, &model(g.build().unwrap(), OPSET)).unwrap();

    let paths = ModelPaths { backbone: path, ..common::default_paths() };
    let models = Models::load(&paths, Device::Cpu, Scheme::Ibug68).expect("a NaN backbone still loads");
    let mut tracker = Tracker::new(models, TrackerConfig::default());
    let img = load_rgb("takeo.ppm");
    for _ in 0..3 {
        assert!(tracker.process(&img.frame(), FrameInput::default()).unwrap().faces.is_empty());
    }
    assert!(tracker.times().unusable >= 3, "the dropped faces are counted (for the element's warning)");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Half of the face outside the frame: the crop repeats the border, the pipeline still answers.
#[test]
fn face_at_the_border_is_handled() {
    let img = load_rgb("single_face.jpg");
    // The face spans x = 188..377 (steadyface detect): cut at x = 250, a third of it is gone.
    let keep = img.width - 250;
    let data: Vec<u8> = (0..img.height)
        .flat_map(|y| img.data[(y * img.width + img.width - keep) * 3..(y * img.width + img.width) * 3].to_vec())
        .collect();
    let frame = steadyface::frame::Frame::rgb(&data, keep, img.height).unwrap();
    let faces = Tracker::new(models(), TrackerConfig::default()).process(&frame, FrameInput::default()).unwrap().faces;
    assert_eq!(faces.len(), 1, "the cut face is still found");
    let points = &faces[0].points;
    assert!(points.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
    let leftmost = points.iter().map(|p| p[0]).fold(f32::MAX, f32::min);
    eprintln!("cut face: leftmost point at x = {leftmost:.1}");
    assert!(leftmost < 10.0, "the landmarks reach the cut edge (leftmost x = {leftmost})");
}

/// A stabilizer whose sidecar names another backbone is refused, with both checksums; as the
/// shipped default it steps aside instead.
#[test]
fn stabilizer_for_another_backbone_is_refused() {
    use steadyface::pipeline::{ModelPaths, Models};
    use steadyface::runtime::Device;
    use steadyface::scheme::Scheme;

    let dir = common::scratch("other-backbone");
    let sidecar = r#"{"points": 68, "heatmap_size": 24, "backbone_sha256": "00ff"}"#;
    let path = common::identity_stabilizer(&dir, 2, Some(sidecar));
    let paths = ModelPaths { stabilizer: Some(path.clone()), ..common::default_paths() };
    let err = match Models::load(&paths, Device::Cpu, Scheme::Ibug68) {
        Ok(_) => panic!("a stabilizer for another backbone must be refused"),
        Err(e) => e.to_string(),
    };
    // The committed backbone's checksum, from models/checksums.sha256 (independent of the code).
    let sums =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/checksums.sha256"))
            .unwrap();
    let backbone_sum =
        sums.lines().find(|l| l.ends_with("face_landmark.onnx")).unwrap().split_whitespace().next().unwrap();
    assert!(err.contains("00ff") && err.contains(backbone_sum), "{err}");

    // As the shipped default, the same mismatch loads the models without a stabilizer and says why.
    let (models, why) = Models::load_with_default_stabilizer(&paths, &path, Device::Cpu, Scheme::Ibug68).unwrap();
    assert!(models.stabilizer.is_none(), "the mismatched default must step aside");
    assert!(why.as_deref().is_some_and(|w| w.contains("00ff")), "{why:?}");
    // A missing default too; the full point set does not fit a 68-point stabilizer either.
    let (models, why) =
        Models::load_with_default_stabilizer(&paths, &dir.join("none.onnx"), Device::Cpu, Scheme::Ibug68).unwrap();
    assert!(models.stabilizer.is_none() && why.is_some_and(|w| w.contains("none.onnx")));
    let fitting = common::identity_stabilizer(&common::scratch("fitting-default"), 2, None);
    let (models, why) = Models::load_with_default_stabilizer(&paths, &fitting, Device::Cpu, Scheme::Full).unwrap();
    assert!(models.stabilizer.is_none() && why.is_some_and(|w| w.contains("68 heatmaps")));
    // One that fits is used.
    let (models, why) = Models::load_with_default_stabilizer(&paths, &fitting, Device::Cpu, Scheme::Ibug68).unwrap();
    assert!(models.stabilizer.is_some() && why.is_none(), "{why:?}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(fitting.parent().unwrap());
}

/// A backbone whose points are a real face's (the default backbone's on takeo, as constants)
/// and whose face-presence logit is NaN. Returns its path in `dir`.
fn nan_presence_backbone(dir: &std::path::Path) -> std::path::PathBuf {
    use steadyface::backbone::{Backbone, Landmarks};
    use steadyface::onnx::{AttributeProto, Dim, GraphBuilder, OPSET, model, write_model};
    use steadyface::runtime::Device;

    let models = models();
    let img = load_rgb("takeo.ppm");
    let face = models.detector.detect(&img.frame()).unwrap().remove(0);
    let real = Backbone::load(&common::default_paths().backbone, Device::Cpu).unwrap();
    let size = real.input_size();
    let mut input = Vec::new();
    real.crop_batch(&img.frame(), &[face.roi().crop_to_frame(size)], &mut input);
    let Landmarks::Points(points) = real.run_batch(&input, 1).unwrap().remove(0).landmarks else {
        panic!("the default backbone gives points")
    };
    // The model's own convention: continuous crop positions (+0.5), x y z per point.
    let values: Vec<f32> = points.iter().flat_map(|p| [p[0] + 0.5, p[1] + 0.5, 0.0]).collect();
    let mut g = GraphBuilder::new("nan_presence");
    g.input("image", &[Dim::param("N"), size.into(), size.into(), 3.into()])
        .output("points", &[Dim::param("N"), 1.into(), 1.into(), values.len().into()])
        .output("presence", &[Dim::param("N"), 1.into(), 1.into(), 1.into()])
        .initializer("constant", &[1, 1, 1, values.len()], &values)
        .initializer("zero", &[1], &[0.0])
        .node("Mul", &["image", "zero"], &["blank"], vec![])
        .node("ReduceMax", &["blank"], &["zeros"], vec![AttributeProto::ints("axes", &[1, 2, 3])])
        .node("Add", &["zeros", "constant"], &["points"], vec![])
        .node("Div", &["zeros", "zero"], &["presence"], vec![]);
    let path = dir.join("nan_presence.onnx");
    write_model(&path, &model(g.build().unwrap(), OPSET)).unwrap();
    path
}

/// A NaN face-presence score ends the track on that frame: it never reaches the faces (as
/// `score = NaN`) and never keeps a track alive.
#[test]
fn a_nan_presence_score_ends_the_track() {
    use steadyface::pipeline::{Event, ModelPaths, Models, TrackEnd};
    use steadyface::runtime::Device;
    use steadyface::scheme::Scheme;

    let dir = common::scratch("nan-presence");
    let paths = ModelPaths { backbone: nan_presence_backbone(&dir), ..common::default_paths() };
    let models = Models::load(&paths, Device::Cpu, Scheme::Ibug68).unwrap();
    let mut tracker = Tracker::new(models, TrackerConfig::default());
    let img = load_rgb("takeo.ppm");
    for _ in 0..3 {
        let report = tracker.process(&img.frame(), FrameInput::default()).unwrap();
        assert!(report.faces.is_empty(), "{:?}", report.faces.iter().map(|f| f.score).collect::<Vec<_>>());
        let lost = report
            .events
            .iter()
            .any(|e| matches!(e, Event::TrackEnded { why: TrackEnd::Lost { score }, .. } if score.is_nan()));
        assert!(lost, "{:?}", report.events);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stabilizer whose output is NaN (its output bias is NaN) leaves each face its backbone points,
/// marked unstabilized, with an event saying so; never displaced points marked stabilized.
#[test]
fn a_nan_stabilizer_output_leaves_the_backbone_points() {
    use steadyface::onnx::{ConvLstmSpec, ConvLstmWeights, convlstm_model, write_model};
    use steadyface::pipeline::{Event, ModelPaths, Models};
    use steadyface::runtime::Device;
    use steadyface::scheme::Scheme;

    let dir = common::scratch("nan-stabilizer");
    let path = dir.join("stabilizer.onnx");
    let mut weights = ConvLstmWeights::identity(ConvLstmSpec { points: 68, hidden: 2, kernel: 3 });
    weights.out_b = vec![f32::NAN];
    write_model(&path, &convlstm_model(&weights).unwrap()).unwrap();
    let paths = ModelPaths { stabilizer: Some(path), ..common::default_paths() };
    let nan = Models::load(&paths, Device::Cpu, Scheme::Ibug68).unwrap();
    let img = load_rgb("takeo.ppm");
    let mut plain = Tracker::new(models(), TrackerConfig::default());
    let mut with = Tracker::new(nan, TrackerConfig::default());
    for _ in 0..3 {
        let want = plain.process(&img.frame(), FrameInput::default()).unwrap().faces;
        let got = with.process(&img.frame(), FrameInput::default()).unwrap();
        assert_eq!(got.faces.len(), 1);
        assert!(!got.faces[0].stabilized);
        assert_eq!(got.faces[0].points, want[0].points, "the backbone's points, unchanged");
        assert!(got.events.iter().any(|e| matches!(e, Event::StabilizerUnusable { .. })), "{:?}", got.events);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sessions live as long as a model holds them: once the last `Models` using a file is dropped
/// (an element's `stop()`), its ONNX Runtime sessions are released.
#[test]
fn sessions_are_released_with_the_last_model_that_holds_them() {
    use steadyface::pipeline::{ModelPaths, Models};
    use steadyface::runtime::{Device, is_loaded};
    use steadyface::scheme::Scheme;

    // Copies of its own, so no test running beside this one holds the same files.
    let dir = common::scratch("released-sessions");
    let copy = |p: &std::path::Path| {
        let to = dir.join(p.file_name().unwrap());
        std::fs::copy(p, &to).unwrap();
        to
    };
    let defaults = common::default_paths();
    let paths = ModelPaths { detector: copy(&defaults.detector), backbone: copy(&defaults.backbone), stabilizer: None };
    assert!(!is_loaded(&paths.backbone));
    let first = Models::load(&paths, Device::Cpu, Scheme::Ibug68).unwrap();
    let second = Models::load(&paths, Device::Cpu, Scheme::Ibug68).unwrap();
    assert!(is_loaded(&paths.backbone) && is_loaded(&paths.detector));
    drop(first);
    assert!(is_loaded(&paths.backbone), "the second model still uses them");
    drop(second);
    assert!(!is_loaded(&paths.backbone) && !is_loaded(&paths.detector));
    let _ = std::fs::remove_dir_all(&dir);
}
