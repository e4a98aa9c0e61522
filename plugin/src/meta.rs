//! The metadata `facelandmarks` attaches and `landmarkoverlay` (or any application) reads.
//!
//! One `GstCustomMeta` named `SteadyFaceLandmarks` per buffer whose structure
//! `steadyface/landmarks` holds:
//! - `width`, `height` (int): the frame size the coordinates refer to. An element downstream
//!   that rescales the video copies the meta unchanged, so a reader scales the points by
//!   its own frame size over these.
//! - `scheme` (string): `ibug68`, or the backbone's own layout.
//! - `faces` (array of `face` structures), each with `track-id` (uint64), `x`, `y`, `width`,
//!   `height` (double, frame pixels), `score` (double), `new-track` and `stabilized`
//!   (boolean), `points` (array of doubles x0, y0, x1, y1, ...) and `confidence` (array of
//!   doubles, one per point).
//!
//! Plus one `GstVideoRegionOfInterestMeta` of type `face` per face (id = track id) with the same
//! `face` structure, renamed `landmarks`, as its parameter.

use std::sync::Once;

use gst::meta::CustomMeta;
use steadyface::pipeline::Face;

pub const META_NAME: &str = "SteadyFaceLandmarks";
pub const STRUCTURE_NAME: &str = "steadyface/landmarks";

/// Registers the custom meta once per process (a second registration is a GLib critical).
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if !CustomMeta::is_registered(META_NAME) {
            CustomMeta::register(META_NAME, &[]);
        }
    });
}

fn doubles(values: impl IntoIterator<Item = f64>) -> gst::Array {
    gst::Array::new(values.into_iter().map(|v| v.to_send_value()))
}

use gst::prelude::*;

/// The structure describing one face (named `name`).
pub fn face_structure(name: &str, face: &Face) -> gst::Structure {
    gst::Structure::builder(name)
        .field("track-id", face.track_id)
        .field("x", face.bbox[0] as f64)
        .field("y", face.bbox[1] as f64)
        .field("width", face.bbox[2] as f64)
        .field("height", face.bbox[3] as f64)
        .field("score", face.score as f64)
        .field("new-track", face.new_track)
        .field("stabilized", face.stabilized)
        .field("points", doubles(face.points.iter().flat_map(|p| [p[0] as f64, p[1] as f64])))
        .field("confidence", doubles(face.confidence.iter().map(|&c| c as f64)))
        .build()
}

/// The frame-level structure: size, scheme and faces.
pub fn landmarks_structure(width: u32, height: u32, scheme: &str, faces: &[Face]) -> gst::Structure {
    let faces = gst::Array::new(faces.iter().map(|f| face_structure("face", f).to_send_value()));
    gst::Structure::builder(STRUCTURE_NAME)
        .field("width", width as i32)
        .field("height", height as i32)
        .field("scheme", scheme)
        .field("faces", faces)
        .build()
}

/// Attaches the custom meta and one ROI meta per face.
pub fn attach(buf: &mut gst::BufferRef, structure: &gst::Structure, faces: &[Face]) {
    if let Ok(mut meta) = CustomMeta::add(buf, META_NAME) {
        let s = meta.mut_structure();
        for (name, value) in structure.iter() {
            s.set_value(name, value.clone());
        }
    }
    let (fw, fh) = match (structure.get::<i32>("width"), structure.get::<i32>("height")) {
        (Ok(w), Ok(h)) => (w as f32, h as f32),
        _ => return,
    };
    for face in faces {
        let [x, y, w, h] = face.bbox;
        let (x0, y0) = (x.clamp(0.0, fw), y.clamp(0.0, fh));
        let (x1, y1) = ((x + w).clamp(0.0, fw), (y + h).clamp(0.0, fh));
        let rect = (x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32);
        let mut roi = gst_video::VideoRegionOfInterestMeta::add(buf, "face", rect);
        roi.set_id(face.track_id.min(i32::MAX as u64) as i32);
        roi.add_param(face_structure("landmarks", face));
    }
}

/// One face as read back from the meta: box, points and per-point confidence in the meta's
/// frame coordinates.
#[derive(Debug, Clone)]
pub struct ReadFace {
    pub track_id: u64,
    pub new_track: bool,
    pub stabilized: bool,
    pub bbox: [f64; 4],
    pub points: Vec<[f64; 2]>,
    pub confidence: Vec<f64>,
}

/// Reads the frame size and faces from a buffer's `SteadyFaceLandmarks` meta.
pub fn read(buf: &gst::BufferRef) -> Option<((u32, u32), Vec<ReadFace>)> {
    let meta = CustomMeta::from_buffer(buf, META_NAME).ok()?;
    let s = meta.structure();
    let size = (s.get::<i32>("width").ok()? as u32, s.get::<i32>("height").ok()? as u32);
    let faces = s.get::<gst::Array>("faces").ok()?;
    let faces = faces
        .iter()
        .filter_map(|v| v.get::<gst::Structure>().ok())
        .filter_map(|f| {
            let list = |name: &str| -> Vec<f64> {
                f.get::<gst::Array>(name)
                    .map(|a| a.iter().filter_map(|v| v.get::<f64>().ok()).collect())
                    .unwrap_or_default()
            };
            let flat = list("points");
            Some(ReadFace {
                track_id: f.get("track-id").ok()?,
                new_track: f.get("new-track").ok()?,
                stabilized: f.get("stabilized").ok()?,
                bbox: [f.get("x").ok()?, f.get("y").ok()?, f.get("width").ok()?, f.get("height").ok()?],
                points: flat.chunks_exact(2).map(|c| [c[0], c[1]]).collect(),
                confidence: list("confidence"),
            })
        })
        .collect();
    Some((size, faces))
}
