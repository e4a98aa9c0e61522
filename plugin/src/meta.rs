//! The metadata `facelandmarks` attaches and `landmarkoverlay` (or any application) reads.
//!
//! One `GstCustomMeta` named `SteadyFaceLandmarks` per buffer whose structure
//! `steadyface/landmarks` holds:
//! - `width`, `height` (int): the frame size the coordinates refer to. The meta is registered
//!   with the `video` and `size` tags and a transform function, so `videoscale` (and
//!   `videoconvertscale`) rescale the points, boxes and these two fields along with the pixels;
//!   `videoconvert` and other elements copy it unchanged.
//! - `scheme` (string): `ibug68`, or the backbone's own layout.
//! - `faces` (array of `face` structures), each with `track-id` (uint64), `x`, `y`, `width`,
//!   `height` (double, frame pixels), `score` (double), `new-track` and `stabilized`
//!   (boolean), `points` (array of doubles x0, y0, x1, y1, ...) and `confidence` (array of
//!   doubles, one per point).
//!
//! Plus, per face, a `GstVideoRegionOfInterestMeta` of type `face` with the same `face` structure,
//! renamed `landmarks`, as its parameter. When the faces came from upstream ROIs (another
//! detector or tracker), that parameter is added to the upstream ROI of the face (the one its box
//! overlaps most) and the face structure carries `roi-id` (int), that ROI's id: one ROI per face,
//! keeping the upstream id. Otherwise the element adds the ROI, with id = track id.
//!
//! [`read_landmarks`] reads it back; [`Landmarks::to_json`] gives the frame as
//! `steadyface.landmarks/1` JSON (`landmarkpublish`, `steadyface track`).

use std::sync::Once;

use gst::meta::CustomMeta;
use gst::prelude::*;
use steadyface::geometry::box_iou;
use steadyface::landmarks_json::FrameLandmarks;
use steadyface::pipeline::Face;

pub const META_NAME: &str = "SteadyFaceLandmarks";
/// [`META_NAME`] for the C API.
const META_NAME_C: &std::ffi::CStr = c"SteadyFaceLandmarks";
pub const STRUCTURE_NAME: &str = "steadyface/landmarks";

/// Registers the custom meta once per process (a second registration is a GLib critical).
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if CustomMeta::is_registered(META_NAME) {
            return;
        }
        // gstreamer-rs's register_with_transform does not pass the transform's data (the video
        // infos of a scale), so the registration goes through the C API.
        let tags = [c"video".as_ptr(), c"size".as_ptr(), std::ptr::null()];
        // SAFETY: NUL-terminated name and tag list (copied by GStreamer); the transform function
        // has the C signature GStreamer expects and needs no user data.
        unsafe {
            gst::ffi::gst_meta_register_custom(
                META_NAME_C.as_ptr(),
                tags.as_ptr() as *mut _,
                Some(transform),
                std::ptr::null_mut(),
                None,
            );
        }
    });
}

/// Copies the meta to `dest` on a buffer copy, or rescales it on a video scale; other
/// transforms drop it (returns FALSE).
unsafe extern "C" fn transform(
    dest: *mut gst::ffi::GstBuffer,
    meta: *mut gst::ffi::GstCustomMeta,
    _src: *mut gst::ffi::GstBuffer,
    kind: gst::glib::ffi::GQuark,
    data: gst::glib::ffi::gpointer,
    _user_data: gst::glib::ffi::gpointer,
) -> gst::glib::ffi::gboolean {
    use gst::glib::translate::{FromGlib, IntoGlib};
    // SAFETY: GStreamer calls this with a valid custom meta of ours, a writable destination
    // buffer, and for the scale transform a GstVideoMetaTransform as data.
    unsafe {
        let source = gst::StructureRef::from_glib_borrow(gst::ffi::gst_custom_meta_get_structure(meta));
        let kind = gst::glib::Quark::from_glib(kind);
        let result = if kind == gst::glib::Quark::from_str("gst-copy") {
            Some(source.to_owned())
        } else if kind.into_glib() == gst_video::ffi::gst_video_meta_transform_scale_get_quark() && !data.is_null() {
            let t = &*(data as *const gst_video::ffi::GstVideoMetaTransform);
            let (from, to) = (&*t.in_info, &*t.out_info);
            Some(scaled(source, (from.width as u32, from.height as u32), (to.width as u32, to.height as u32)))
        } else {
            None
        };
        let Some(structure) = result else { return false.into_glib() };
        let copy = gst::ffi::gst_buffer_add_custom_meta(dest, META_NAME_C.as_ptr());
        if copy.is_null() {
            return false.into_glib();
        }
        let target = gst::StructureRef::from_glib_borrow_mut(gst::ffi::gst_custom_meta_get_structure(copy));
        for (name, value) in structure.iter() {
            target.set_value(name, value.clone());
        }
        true.into_glib()
    }
}

/// The landmarks structure of a `from`-sized frame, for the same frame scaled to `to`: points and
/// boxes scaled about pixel centres, `width` and `height` set to `to`.
pub fn scaled(s: &gst::StructureRef, from: (u32, u32), to: (u32, u32)) -> gst::Structure {
    let (sx, sy) = (to.0 as f64 / from.0.max(1) as f64, to.1 as f64 / from.1.max(1) as f64);
    let (px, py) = (|x: f64| (x + 0.5) * sx - 0.5, |y: f64| (y + 0.5) * sy - 0.5);
    let mut out = s.to_owned();
    out.set("width", to.0 as i32);
    out.set("height", to.1 as i32);
    let Ok(faces) = s.get::<gst::Array>("faces") else { return out };
    let faces = faces.iter().filter_map(|v| v.get::<gst::Structure>().ok()).map(|mut face| {
        let get = |name: &str| face.get::<f64>(name).unwrap_or(0.0);
        let (x, y, w, h) = (get("x"), get("y"), get("width"), get("height"));
        face.set("x", px(x));
        face.set("y", py(y));
        face.set("width", w * sx);
        face.set("height", h * sy);
        if let Ok(points) = face.get::<gst::Array>("points") {
            let flat: Vec<f64> = points.iter().filter_map(|v| v.get::<f64>().ok()).collect();
            let moved = flat.chunks_exact(2).flat_map(|p| [px(p[0]), py(p[1])]);
            face.set("points", doubles(moved));
        }
        face.to_send_value()
    });
    out.set("faces", gst::Array::new(faces));
    out
}

fn doubles(values: impl IntoIterator<Item = f64>) -> gst::Array {
    gst::Array::new(values.into_iter().map(|v| v.to_send_value()))
}

/// The structure describing one face (named `name`), with the id of the upstream ROI it belongs
/// to, if any.
pub fn face_structure(name: &str, face: &Face, roi_id: Option<i32>) -> gst::Structure {
    gst::Structure::builder(name)
        .field_if_some("roi-id", roi_id)
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

/// The frame-level structure: size, scheme and faces (`rois`: each face's upstream ROI).
pub fn landmarks_structure(
    width: u32,
    height: u32,
    scheme: &str,
    faces: &[Face],
    rois: &[Option<UpstreamRoi>],
) -> gst::Structure {
    let faces = faces.iter().zip(rois).map(|(f, r)| face_structure("face", f, r.map(|r| r.id)).to_send_value());
    let faces = gst::Array::new(faces);
    gst::Structure::builder(STRUCTURE_NAME)
        .field("width", width as i32)
        .field("height", height as i32)
        .field("scheme", scheme)
        .field("faces", faces)
        .build()
}

/// Attaches the custom meta and one ROI meta per face: the face's upstream ROI (`rois`, from
/// [`match_rois`]) gets its `landmarks` parameter, a face without one gets a ROI of its own.
pub fn attach(buf: &mut gst::BufferRef, structure: &gst::Structure, faces: &[Face], rois: &[Option<UpstreamRoi>]) {
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
    // By position among the buffer's ROI metas, not by id: upstream ids need not be unique.
    for (position, mut roi) in buf.iter_meta_mut::<gst_video::VideoRegionOfInterestMeta>().enumerate() {
        let matched = faces.iter().zip(rois).find(|(_, r)| r.is_some_and(|r| r.position == position));
        if let Some((face, Some(upstream))) = matched {
            roi.add_param(face_structure("landmarks", face, Some(upstream.id)));
        }
    }
    for face in faces.iter().zip(rois).filter(|(_, r)| r.is_none()).map(|(f, _)| f) {
        let [x, y, w, h] = face.bbox;
        let (x0, y0) = (x.clamp(0.0, fw), y.clamp(0.0, fh));
        let (x1, y1) = ((x + w).clamp(0.0, fw), (y + h).clamp(0.0, fh));
        let rect = (x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32);
        let mut roi = gst_video::VideoRegionOfInterestMeta::add(buf, "face", rect);
        roi.set_id(face.track_id.min(i32::MAX as u64) as i32);
        roi.add_param(face_structure("landmarks", face, None));
    }
}

/// A face box an upstream element attached as a `GstVideoRegionOfInterestMeta` of type `face`.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamRoi {
    pub id: i32,
    /// Its place among the buffer's ROI metas (of any type), which finds it again.
    pub position: usize,
    /// x, y, width, height in frame pixels.
    pub rect: [f32; 4],
}

/// The upstream face ROIs of a buffer (ours, which carry a `landmarks` parameter, are skipped);
/// `None` when there are none.
pub fn upstream_rois(buf: &gst::BufferRef) -> Option<Vec<UpstreamRoi>> {
    let rois: Vec<_> = buf
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .enumerate()
        .filter(|(_, roi)| roi.roi_type() == "face" && !roi.params().any(|p| p.name() == "landmarks"))
        .map(|(position, roi)| {
            let (x, y, w, h) = roi.rect();
            UpstreamRoi { id: roi.id(), position, rect: [x as f32, y as f32, w as f32, h as f32] }
        })
        .collect();
    (!rois.is_empty()).then_some(rois)
}

/// For each face, the upstream ROI its box overlaps most (IoU at least 0.3, each ROI given to one
/// face at most, the best overlaps first); `None` for a face no ROI claims.
pub fn match_rois(faces: &[Face], rois: &[UpstreamRoi]) -> Vec<Option<UpstreamRoi>> {
    let mut pairs: Vec<(f32, usize, usize)> = faces
        .iter()
        .enumerate()
        .flat_map(|(f, face)| rois.iter().enumerate().map(move |(r, roi)| (box_iou(face.bbox, roi.rect), f, r)))
        .filter(|(iou, _, _)| *iou >= 0.3)
        .collect();
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut ids, mut taken) = (vec![None; faces.len()], vec![false; rois.len()]);
    for (_, f, r) in pairs {
        if ids[f].is_none() && !taken[r] {
            ids[f] = Some(rois[r]);
            taken[r] = true;
        }
    }
    ids
}

/// One face as read back from the meta: box, points and per-point confidence in the meta's
/// frame coordinates.
#[derive(Debug, Clone)]
pub struct ReadFace {
    pub track_id: u64,
    /// The id of the upstream face ROI the landmarks were attached to, if they came from one.
    pub roi_id: Option<i32>,
    /// Detector score on the track's first frame, then the landmark model's presence score.
    pub score: f64,
    pub new_track: bool,
    pub stabilized: bool,
    pub bbox: [f64; 4],
    pub points: Vec<[f64; 2]>,
    pub confidence: Vec<f64>,
}

/// Everything a buffer's `SteadyFaceLandmarks` meta holds.
#[derive(Debug, Clone)]
pub struct Landmarks {
    /// The frame size the coordinates refer to.
    pub width: u32,
    pub height: u32,
    /// `ibug68` or the backbone's own layout.
    pub scheme: String,
    pub faces: Vec<ReadFace>,
}

impl Landmarks {
    /// The frame as `steadyface.landmarks/1` JSON (docs/landmarks.schema.json): frame number
    /// `frame`, presentation time `pts`.
    pub fn to_json(&self, frame: u64, pts: Option<gst::ClockTime>) -> FrameLandmarks {
        let faces = self.faces.iter().map(ReadFace::to_json).collect();
        FrameLandmarks::new(frame, pts.map(|t| t.nseconds()), (self.width, self.height), &self.scheme, faces)
    }
}

impl ReadFace {
    /// The face as in `steadyface.landmarks/1` JSON (the meta's doubles were the tracker's f32).
    pub fn to_json(&self) -> Face {
        Face {
            track_id: self.track_id,
            bbox: self.bbox.map(|v| v as f32),
            score: self.score as f32,
            points: self.points.iter().map(|p| [p[0] as f32, p[1] as f32]).collect(),
            confidence: self.confidence.iter().map(|&c| c as f32).collect(),
            new_track: self.new_track,
            stabilized: self.stabilized,
        }
    }
}

/// Reads the frame size and faces from a buffer's `SteadyFaceLandmarks` meta ([`read_landmarks`]).
pub fn read(buf: &gst::BufferRef) -> Option<((u32, u32), Vec<ReadFace>)> {
    read_landmarks(buf).map(|l| ((l.width, l.height), l.faces))
}

/// Reads a buffer's `SteadyFaceLandmarks` meta: the one reader of the metadata.
pub fn read_landmarks(buf: &gst::BufferRef) -> Option<Landmarks> {
    let meta = CustomMeta::from_buffer(buf, META_NAME).ok()?;
    let s = meta.structure();
    let (width, height) = (s.get::<i32>("width").ok()? as u32, s.get::<i32>("height").ok()? as u32);
    let scheme = s.get::<String>("scheme").unwrap_or_default();
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
                roi_id: f.get("roi-id").ok(),
                score: f.get("score").ok()?,
                new_track: f.get("new-track").ok()?,
                stabilized: f.get("stabilized").ok()?,
                bbox: [f.get("x").ok()?, f.get("y").ok()?, f.get("width").ok()?, f.get("height").ok()?],
                points: flat.chunks_exact(2).map(|c| [c[0], c[1]]).collect(),
                confidence: list("confidence"),
            })
        })
        .collect();
    Some(Landmarks { width, height, scheme, faces })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_face_gets_the_upstream_roi_it_overlaps_most_and_each_roi_one_face() {
        let face = |x: f32| Face {
            track_id: 1,
            bbox: [x, 0.0, 10.0, 10.0],
            score: 1.0,
            points: Vec::new(),
            confidence: Vec::new(),
            new_track: false,
            stabilized: false,
        };
        let roi = |id, x: f32| UpstreamRoi { id, position: id as usize, rect: [x, 0.0, 10.0, 10.0] };
        let ids = |m: Vec<Option<UpstreamRoi>>| m.iter().map(|r| r.map(|r| r.id)).collect::<Vec<_>>();
        // Face at 0 against ROIs at 2 (IoU 8/12 = 0.67) and 5 (5/15 = 0.33); face at 4 against
        // them: 8/12 at 2 too, 9/11 = 0.82 at 5. Best first: face 4 takes ROI 5 (0.82), face 0 then
        // ROI 2 (0.67). A face at 50 overlaps nothing; ROI 9 at 30 nothing either.
        let faces = [face(0.0), face(4.0), face(50.0)];
        let rois = [roi(7, 2.0), roi(8, 5.0), roi(9, 30.0)];
        assert_eq!(ids(match_rois(&faces, &rois)), vec![Some(7), Some(8), None]);
        // Two faces on one ROI (both 8/12 against the ROI at 2): one of them gets it, never both.
        assert_eq!(match_rois(&faces[..2], &rois[..1]).iter().filter(|r| r.is_some()).count(), 1);
        assert_eq!(ids(match_rois(&faces, &[])), vec![None, None, None]);
    }

    #[test]
    fn landmarks_go_to_the_matched_rois_even_when_upstream_ids_repeat() {
        gst::init().unwrap();
        let face = |id: u64, x: f32| Face {
            track_id: id,
            bbox: [x, 0.0, 10.0, 10.0],
            score: 1.0,
            points: vec![[x, 0.0]],
            confidence: vec![1.0],
            new_track: false,
            stabilized: false,
        };
        // Two face ROIs and a car, all with the unset id 0.
        let mut buf = gst::Buffer::new();
        for (kind, x) in [("face", 0), ("car", 0), ("face", 40)] {
            gst_video::VideoRegionOfInterestMeta::add(buf.get_mut().unwrap(), kind, (x, 0, 10, 10));
        }
        let faces = [face(5, 40.0), face(6, 0.0)];
        let rois = upstream_rois(&buf).unwrap();
        let matched = match_rois(&faces, &rois);
        assert_eq!(matched.iter().map(|r| r.map(|r| r.position)).collect::<Vec<_>>(), [Some(2), Some(0)]);
        let s = landmarks_structure(100, 100, "ibug68", &faces, &matched);
        attach(buf.get_mut().unwrap(), &s, &faces, &matched);
        let params: Vec<(String, Vec<u64>)> = buf
            .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
            .map(|r| (r.roi_type().to_string(), r.params().filter_map(|p| p.get::<u64>("track-id").ok()).collect()))
            .collect();
        let want = [("face".to_string(), vec![6]), ("car".to_string(), vec![]), ("face".to_string(), vec![5])];
        assert_eq!(params, want, "each face on its own ROI, the car untouched, no ROI added");
    }

    #[test]
    fn names_agree() {
        assert_eq!(META_NAME_C.to_str().unwrap(), META_NAME);
    }

    #[test]
    fn scaling_moves_points_about_pixel_centres() {
        gst::init().unwrap();
        let face = Face {
            track_id: 7,
            bbox: [9.5, 19.5, 40.0, 20.0],
            score: 0.9,
            points: vec![[-0.5, -0.5], [99.5, 49.5]],
            confidence: vec![1.0, 0.5],
            new_track: false,
            stabilized: true,
        };
        let s = landmarks_structure(100, 50, "ibug68", &[face], &[None]);
        let half = scaled(&s, (100, 50), (50, 25));
        assert_eq!((half.get::<i32>("width").unwrap(), half.get::<i32>("height").unwrap()), (50, 25));
        let faces = half.get::<gst::Array>("faces").unwrap();
        let f = faces.first().unwrap().get::<gst::Structure>().unwrap();
        let points: Vec<f64> = f.get::<gst::Array>("points").unwrap().iter().map(|v| v.get::<f64>().unwrap()).collect();
        // The frame's outer edges (-0.5 and 99.5 / 49.5 in pixel-centre coordinates) stay edges.
        assert_eq!(points, vec![-0.5, -0.5, 49.5, 24.5]);
        assert_eq!((f.get::<f64>("x").unwrap(), f.get::<f64>("width").unwrap()), (4.5, 20.0));
        assert_eq!(f.get::<u64>("track-id").unwrap(), 7);
    }
}
