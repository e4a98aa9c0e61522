//! The core pipeline on real photos with human-annotated points.

mod common;

use common::{load_rgb, models, testdata};
use steadyface::metrics::{inner49, nme};
use steadyface::pipeline::{Tracker, TrackerConfig};
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
    let mut tracker = Tracker::new(models(), TrackerConfig::default());
    let faces = tracker.process(&img.frame(), None, None).expect("pipeline runs");
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
