//! Training sequences for the stabilizer, and their on-disk cache.
//!
//! Every sequence is `T` frames of one face seen through one fixed crop (the tracker holds its crop
//! while the face moves a little, see [`steadyface::pipeline::TrackerConfig::hold_tolerance`]). The
//! frozen backbone runs once per frame when the cache is built; training then reads records back
//! from disk one batch at a time, so memory does not grow with the data.
//!
//! Still images become moving sequences (the fine-tuning paper, sec. 4.2): the image and its
//! points move along a small random similarity trajectory (shift, optionally rotation and scale),
//! each frame degraded at a random level. The label is the image's `.pts` file when there is one,
//! else the backbone's own prediction on the clean, unmoved image, moved exactly by the known
//! motion: a stability target that needs no annotation.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::synth::{Degradation, Rng, Segment, moving_frames, render, trajectory};
use steadyface::frame::Frame;
use steadyface::geometry::{Roi, Similarity, centroid, eye_angle};
use steadyface::heatmap::{HeatmapSpec, crop_to_heatmap};
use steadyface::metrics::inter_ocular;
use steadyface::output::Output;
use steadyface::pipeline::{FrameInput, Models, Tracker, TrackerConfig};
use steadyface::pts::read_pts_expecting;
use steadyface::scheme::Scheme;
use steadyface::stabilizer::Windows;

/// What a record holds beyond the backbone's heatmaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// A moved still image with exact targets (Jitter loss).
    Still,
    /// A labelled video window (Jitter loss).
    LabelledVideo,
    /// An unlabelled video window: grey crops for the registration loss (SBR), no targets.
    Unlabelled,
}

/// The shape of every record in a cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// T: frames per sequence.
    pub frames: usize,
    /// K: landmarks.
    pub points: usize,
    /// Heatmap side.
    pub heatmap: usize,
    /// Side of the grey crops kept for SBR (the backbone's input size).
    pub crop: usize,
}

impl Layout {
    fn maps(&self) -> usize {
        self.frames * self.points * self.heatmap * self.heatmap
    }
    fn targets(&self) -> usize {
        self.frames * self.points * 2
    }
    fn grey(&self) -> usize {
        self.frames * self.crop * self.crop
    }
    /// Bytes of one record: maps and targets as f32, grey crops as u8.
    fn record_bytes(&self) -> usize {
        4 * (self.maps() + self.targets()) + self.grey()
    }
}

/// One training sequence.
#[derive(Debug, Clone)]
pub struct Record {
    pub kind: Kind,
    /// `[T,K,H,W]` backbone heatmaps (the stabilizer's input).
    pub maps: Vec<f32>,
    /// `[T,K,2]` target points in heatmap pixels; NaN where unknown or outside the map.
    pub targets: Vec<f32>,
    /// `[T,crop,crop]` grey crops (zeros unless the record is for SBR).
    pub grey: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CacheMeta {
    key: String,
    layout: Layout,
    kinds: Vec<Kind>,
    summary: Vec<String>,
}

/// A finished cache: records read from disk on demand.
pub struct Cache {
    file: File,
    pub layout: Layout,
    pub kinds: Vec<Kind>,
    /// One line per data source: what it gave.
    pub summary: Vec<String>,
}

impl Cache {
    /// The cache in `dir` if it was built for `key`.
    pub fn open(dir: &Path, key: &str) -> Result<Option<Cache>> {
        let Ok(text) = std::fs::read_to_string(dir.join("meta.json")) else { return Ok(None) };
        let meta: CacheMeta = match serde_json::from_str(&text) {
            Ok(m) => m,
            Err(_) => return Ok(None),
        };
        if meta.key != key {
            return Ok(None);
        }
        let path = dir.join("records.bin");
        let file = File::open(&path).map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
        let expect = (meta.kinds.len() * meta.layout.record_bytes()) as u64;
        if file.metadata().map(|m| m.len()).unwrap_or(0) != expect {
            return Ok(None);
        }
        Ok(Some(Cache { file, layout: meta.layout, kinds: meta.kinds, summary: meta.summary }))
    }

    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    pub fn read(&self, index: usize) -> Result<Record> {
        let l = self.layout;
        let mut bytes = vec![0u8; l.record_bytes()];
        self.file
            .read_exact_at(&mut bytes, (index * l.record_bytes()) as u64)
            .map_err(|e| Error::Other(format!("heatmap cache record {index}: {e}")))?;
        let floats = |range: std::ops::Range<usize>| -> Vec<f32> {
            bytes[range].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        };
        let maps_end = 4 * l.maps();
        let targets_end = maps_end + 4 * l.targets();
        Ok(Record {
            kind: self.kinds[index],
            maps: floats(0..maps_end),
            targets: floats(maps_end..targets_end),
            grey: bytes[targets_end..].to_vec(),
        })
    }
}

/// Writes records to `dir`; the cache becomes visible to [`Cache::open`] only when finished.
pub struct CacheWriter {
    dir: PathBuf,
    /// `records.bin`, written through a temporary file until [`CacheWriter::finish`].
    records: Output,
    out: BufWriter<File>,
    meta: CacheMeta,
}

impl CacheWriter {
    pub fn create(dir: &Path, key: &str, layout: Layout) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Other(format!("{}: {e}", dir.display())))?;
        let _ = std::fs::remove_file(dir.join("meta.json"));
        let records = Output::create(&dir.join("records.bin"))?;
        let file = records.open()?;
        Ok(CacheWriter {
            dir: dir.to_path_buf(),
            records,
            out: BufWriter::new(file),
            meta: CacheMeta { key: key.into(), layout, kinds: Vec::new(), summary: Vec::new() },
        })
    }

    pub fn push(&mut self, record: &Record) -> Result<()> {
        let l = self.meta.layout;
        if record.maps.len() != l.maps() || record.targets.len() != l.targets() || record.grey.len() != l.grey() {
            return Err(Error::Other("heatmap cache: record does not match the layout".into()));
        }
        let io = |e: std::io::Error| Error::Other(format!("{}: {e}", self.dir.display()));
        for v in record.maps.iter().chain(&record.targets) {
            self.out.write_all(&v.to_le_bytes()).map_err(io)?;
        }
        self.out.write_all(&record.grey).map_err(io)?;
        self.meta.kinds.push(record.kind);
        Ok(())
    }

    pub fn note(&mut self, line: String) {
        self.meta.summary.push(line);
    }

    pub fn len(&self) -> usize {
        self.meta.kinds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.meta.kinds.is_empty()
    }

    pub fn finish(self) -> Result<Cache> {
        let io = |e: std::io::Error| Error::Other(format!("{}: {e}", self.dir.display()));
        drop(self.out.into_inner().map_err(|e| io(e.into_error()))?);
        self.records.commit()?;
        let text = serde_json::to_string_pretty(&self.meta).map_err(|e| Error::Other(e.to_string()))?;
        steadyface::output::write(&self.dir.join("meta.json"), text.as_bytes())?;
        Cache::open(&self.dir, &self.meta.key)?
            .ok_or_else(|| Error::Other(format!("{}: cache unreadable right after writing", self.dir.display())))
    }
}

/// How moving sequences are made from stills.
#[derive(Debug, Clone)]
pub struct MotionConfig {
    pub frames: usize,
    /// Side of the rendered (square) frames.
    pub frame_size: usize,
    /// Eye distance in the rendered frames, drawn uniformly from this range (pixels).
    pub eye_distance: [f32; 2],
    /// Degradation levels, one drawn per sequence.
    pub degradations: Vec<Degradation>,
    /// Rotate along the trajectory (up to ~0.5 degrees per frame).
    pub rotate: bool,
    /// Zoom along the trajectory (up to 1% per frame).
    pub scale: bool,
}

impl Default for MotionConfig {
    fn default() -> Self {
        MotionConfig {
            frames: 6,
            frame_size: 256,
            eye_distance: [40.0, 110.0],
            degradations: Degradation::LEVELS.iter().filter_map(|l| Degradation::parse(l).ok()).collect(),
            rotate: true,
            scale: true,
        }
    }
}

/// A face in a still image, with its label and the backbone's full point set (for the crop).
pub struct StillFace {
    pub origin: String,
    image: Arc<image::RgbImage>,
    /// The K points the stabilizer is trained on, image pixels.
    pub label: Vec<[f32; 2]>,
    /// True when the label is a human annotation (`.pts`), false for the backbone's own points.
    pub annotated: bool,
    /// Every backbone point on the clean image (its extent sets the crop, as the tracker's does).
    full: Vec<[f32; 2]>,
}

/// What to do with a bad data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnBadData {
    /// Report it and go on with the rest.
    Skip,
    /// Stop with the error.
    Stop,
}

/// What the data gave, for the sidecar's `data`, and the bad data skipped, which the caller tells
/// the user (the library prints nothing).
#[derive(Debug, Default)]
pub struct Notes {
    /// Lines for the sidecar's `data` (each skipped item among them, as `skipped: ...`).
    pub lines: Vec<String>,
    /// Each skipped item's error, naming its file (and line, where the error is in one).
    pub skipped: Vec<String>,
}

impl Notes {
    /// `; skipped: ...` listing the items skipped from the `from`-th on, for an error that they
    /// may explain (empty when there are none).
    pub fn because(&self, from: usize) -> String {
        match self.skipped.get(from..) {
            Some(items) if !items.is_empty() => format!("; skipped: {}", items.join("; ")),
            _ => String::new(),
        }
    }
}

/// Applies the user's choice to an error about one data file: `Ok(None)` after noting it in
/// `notes` (skip), or the error (stop).
pub fn on_bad<T>(policy: OnBadData, result: Result<T>, notes: &mut Notes) -> Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if policy == OnBadData::Skip => {
            notes.lines.push(format!("skipped: {e}"));
            notes.skipped.push(e.to_string());
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Loads the faces of still images. `models` must report the full scheme. With a `.pts` beside
/// the image (same stem), the annotated face is the one nearest the annotation and its points are
/// the label; the other faces of the image are labelled by the backbone.
pub fn still_faces(models: &Arc<Models>, image: &Path) -> Result<Vec<StillFace>> {
    let img =
        image::open(image).map_err(|e| Error::Other(format!("{}: cannot read image: {e}", image.display())))?.to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let frame = Frame::rgb(img.as_raw(), w, h)?;
    let mut tracker = Tracker::new(models.clone(), TrackerConfig { max_faces: 8, ..TrackerConfig::whole_pyramid() });
    let faces = tracker.process(&frame, FrameInput::default())?.faces;
    let k = models.backbone.point_count();
    let ibug = models.backbone.description.selection(Scheme::Ibug68).ok_or_else(|| {
        Error::Other(format!(
            "a backbone with {k} points has no iBUG-68 mapping ({}: scheme.ibug68)",
            models.backbone.description.origin()
        ))
    })?;
    let pts_path = image.with_extension("pts");
    let annotation = if pts_path.is_file() { Some(read_pts_expecting(&pts_path, ibug.len())?) } else { None };
    let annotated_face = annotation.as_ref().and_then(|pts| {
        let c = centroid(pts);
        faces
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let d = centroid(&f.points);
                (i, (d[0] - c[0]).hypot(d[1] - c[1]))
            })
            .filter(|&(_, d)| d < inter_ocular(pts))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    });
    if annotation.is_some() && annotated_face.is_none() {
        return Err(Error::Other(format!(
            "{}: the backbone finds no face where {} puts its points",
            image.display(),
            pts_path.display()
        )));
    }
    let pixels = Arc::new(img);
    Ok(faces
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let (label, annotated) = match (&annotation, annotated_face) {
                (Some(pts), Some(j)) if j == i => (pts.clone(), true),
                _ => (ibug.iter().map(|&j| f.points[j]).collect(), false),
            };
            StillFace {
                origin: format!("{} face {i}", image_name(image)),
                image: pixels.clone(),
                label,
                annotated,
                full: f.points,
            }
        })
        .collect())
}

fn image_name(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The crop (crop-to-frame transform) the tracker would use for a face whose full point set is
/// `full`, perturbed by `rng` as a tracker's noisy landmarks would perturb it.
pub fn tracker_crop(models: &Models, full: &[[f32; 2]], rng: &mut Rng, jitter: f32) -> Option<Similarity> {
    let (a, b) = models.eye_pair();
    let angle = eye_angle(*full.get(a)?, *full.get(b)?);
    let mut roi = Roi::around_points(full, angle, models.backbone.face_scale())?;
    roi.cx += jitter * roi.width * rng.gauss();
    roi.cy += jitter * roi.width * rng.gauss();
    let grow = 1.0 + jitter * 1.5 * rng.gauss();
    roi.width *= grow;
    roi.height *= grow;
    roi.angle += jitter * 1.5 * rng.gauss();
    Some(roi.crop_to_frame(models.backbone.input_size()))
}

/// Runs the backbone on `frame` through `crops` and writes the stabilizer's input maps for each.
fn observe(models: &Models, frames: &[Frame], crops: &[Similarity], spec: &HeatmapSpec, out: &mut [f32]) -> Result<()> {
    let size = models.backbone.input_size();
    let per = models.selection().len() * spec.size * spec.size;
    let whole = Windows::whole(models.selection().len(), spec.size);
    for (i, (frame, crop)) in frames.iter().zip(crops).enumerate() {
        let mut input = Vec::new();
        models.backbone.crop_batch(frame, std::slice::from_ref(crop), &mut input);
        let output = models.backbone.run_batch(&input, 1)?;
        let Some(first) = output.first() else {
            return Err(Error::Other("the backbone returned no output".into()));
        };
        models.stabilizer_input(&first.landmarks, size, spec, &whole, &mut out[i * per..(i + 1) * per]);
    }
    Ok(())
}

/// Frame points -> heatmap pixels of the crop `crop_to_frame`; NaN when outside the map.
fn to_targets(points: &[[f32; 2]], crop_to_frame: &Similarity, crop: usize, spec: &HeatmapSpec, out: &mut Vec<f32>) {
    let to_crop = crop_to_frame.inverse();
    for &p in points {
        let q = crop_to_heatmap(to_crop.apply(p), crop, spec.size);
        let inside = q.iter().all(|&v| v.is_finite() && v >= 0.0 && v <= (spec.size - 1) as f32);
        out.extend(if inside { q } else { [f32::NAN; 2] });
    }
}

/// One moving sequence made from a still face. `models` report the iBUG-68 scheme (the
/// stabilizer's points); `seed` draws the motion, degradation and crop noise.
pub fn still_sequence(
    models: &Models,
    face: &StillFace,
    motion: &MotionConfig,
    spec: &HeatmapSpec,
    layout: Layout,
    seed: u64,
) -> Result<Record> {
    let mut rng = Rng::new(seed);
    let size = [motion.frame_size; 2];
    let [lo, hi] = motion.eye_distance;
    let zoom = (lo + (hi - lo) * rng.unit()) / inter_ocular(&face.label).max(1.0);
    // Segments of random length, each still, a slow drift or a fast move (frame pixels per frame)
    // in its own direction, so that sequences show faces stopping and starting, not one motion.
    let mut segments = Vec::new();
    let mut growths = Vec::new();
    let mut left = motion.frames;
    while left > 0 {
        let frames = (3 + rng.below(motion.frames.max(3))).min(left);
        let speed = match rng.below(3) {
            0 => 0.0,
            1 => 0.2 + 1.0 * rng.unit(),
            _ => 2.0 + 3.0 * rng.unit(),
        };
        let heading = std::f32::consts::TAU * rng.unit();
        let turn = if motion.rotate && speed > 0.0 { 0.008 * (2.0 * rng.unit() - 1.0) } else { 0.0 };
        let growth = if motion.scale && speed > 0.0 { 0.01 * (2.0 * rng.unit() - 1.0) } else { 0.0 };
        segments.push(Segment { frames, velocity: [speed * heading.cos(), speed * heading.sin()], turn });
        growths.extend(std::iter::repeat_n(growth, frames));
        left -= frames;
    }
    let centre = centroid(&face.label);
    // Frame t shows the source zoomed by zoom times the growth of the frames before it.
    let mut scale = 1.0;
    let transforms: Vec<Similarity> = (0..motion.frames)
        .filter_map(|t| {
            scale *= 1.0 + if t > 0 { growths[t - 1] } else { 0.0 };
            trajectory(&first_frames(&segments, t + 1), centre, size, zoom * scale).pop()
        })
        .collect();
    let Some(&level) = motion.degradations.get(rng.below(motion.degradations.len().max(1))) else {
        return Err(Error::Other("no degradation levels to draw from".into()));
    };
    let source = Frame::rgb(face.image.as_raw(), face.image.width() as usize, face.image.height() as usize)?;
    let (pixels, labels): (Vec<Vec<u8>>, Vec<Vec<[f32; 2]>>) =
        moving_frames(&source, &face.label, &transforms, size, level, seed).unzip();
    let frames: Vec<Frame> =
        pixels.iter().map(|p| Frame::rgb(p, size[0], size[1])).collect::<steadyface::Result<_>>()?;
    let to_frame0 = transforms[0].inverse();
    let full0: Vec<[f32; 2]> = face.full.iter().map(|&p| to_frame0.apply(p)).collect();
    let crop = tracker_crop(models, &full0, &mut rng, 0.02)
        .ok_or_else(|| Error::Other(format!("{}: no crop from the backbone's points", face.origin)))?;
    let crops = vec![crop; motion.frames];
    let mut maps = vec![0.0; layout.maps()];
    observe(models, &frames, &crops, spec, &mut maps)?;
    let mut targets = Vec::with_capacity(layout.targets());
    for label in &labels {
        to_targets(label, &crop, layout.crop, spec, &mut targets);
    }
    Ok(Record { kind: Kind::Still, maps, targets, grey: vec![0; layout.grey()] })
}

/// The first `frames` frames of `segments`.
fn first_frames(segments: &[Segment], frames: usize) -> Vec<Segment> {
    let mut left = frames;
    segments
        .iter()
        .map_while(|seg| {
            let take = seg.frames.min(left);
            left -= take;
            (take > 0).then_some(Segment { frames: take, ..*seg })
        })
        .collect()
}

/// One window of a video: `frames` (all of one size), the face's full backbone points in the
/// first frame (for the crop), and per-frame labels if the video has them.
pub fn video_window(
    models: &Models,
    frames: &[Frame],
    full: &[[f32; 2]],
    labels: Option<&[Vec<[f32; 2]>]>,
    spec: &HeatmapSpec,
    layout: Layout,
    seed: u64,
) -> Result<Record> {
    let mut rng = Rng::new(seed);
    let crop = tracker_crop(models, full, &mut rng, 0.0)
        .ok_or_else(|| Error::Other("no crop from the backbone's points".into()))?;
    let crops = vec![crop; frames.len()];
    let mut maps = vec![0.0; layout.maps()];
    observe(models, frames, &crops, spec, &mut maps)?;
    let mut targets = Vec::with_capacity(layout.targets());
    match labels {
        Some(labels) => labels.iter().for_each(|l| to_targets(l, &crop, layout.crop, spec, &mut targets)),
        None => targets.resize(layout.targets(), f32::NAN),
    }
    let side = layout.crop;
    let mut grey = Vec::with_capacity(layout.grey());
    for frame in frames {
        let rgb = render(frame, &crop, [side, side]);
        grey.extend(
            rgb.chunks_exact(3).map(|p| ((p[0] as u32 * 77 + p[1] as u32 * 150 + p[2] as u32 * 29) >> 8) as u8),
        );
    }
    let kind = if labels.is_some() { Kind::LabelledVideo } else { Kind::Unlabelled };
    Ok(Record { kind, maps, targets, grey })
}

/// The images (`.jpg`, `.jpeg`, `.png`, `.ppm`, `.pgm`) named by `paths`: files as given,
/// directories listed (sorted, not recursive).
pub fn image_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let is_image = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png" | "ppm" | "pgm"))
    };
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
            let mut files: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| is_image(p)).collect();
            files.sort();
            out.extend(files);
        } else if path.is_file() {
            out.push(path.clone());
        } else {
            return Err(Error::Other(format!("{}: no such file or directory", path.display())));
        }
    }
    Ok(out)
}

/// Windows of `layout.frames` consecutive frames of a video (a file GStreamer decodes or a
/// directory of numbered frames) in which one face is tracked throughout, one record per window
/// (non-overlapping, at most `max_windows`; never across a gap in a frame directory's numbers).
/// `full` reports every backbone point (for the crop), `models` the stabilizer's points; `labels`
/// (per frame in order, iBUG 68) make labelled records, else the records carry grey crops for SBR.
/// Frames stream through: only one window is in memory.
#[allow(clippy::too_many_arguments)]
pub fn video_records(
    full: &Arc<Models>,
    models: &Models,
    path: &Path,
    labels: Option<&[Vec<[f32; 2]>]>,
    spec: &HeatmapSpec,
    layout: Layout,
    max_windows: usize,
    seed: u64,
    push: &mut dyn FnMut(Record) -> Result<()>,
) -> Result<usize> {
    let mut tracker = Tracker::new(full.clone(), TrackerConfig { max_faces: 1, ..TrackerConfig::whole_pyramid() });
    // (frame pixels, width, height, track id and full points of the tracked face)
    type Seen = (Vec<u8>, usize, usize, Option<(u64, Vec<[f32; 2]>)>);
    let mut window: std::collections::VecDeque<Seen> = std::collections::VecDeque::new();
    let (mut made, mut previous) = (0, None);
    for (i, decoded) in crate::video::frames(path)?.enumerate() {
        if made >= max_windows {
            break;
        }
        let f = decoded?;
        if previous.is_some_and(|p: usize| p + 1 != f.index) {
            window.clear();
        }
        previous = Some(f.index);
        let frame = Frame::rgb(&f.rgb, f.width, f.height)?;
        let face = tracker
            .process(&frame, FrameInput::at(f.time_s))?
            .faces
            .into_iter()
            .next()
            .map(|face| (face.track_id, face.points));
        window.push_back((f.rgb, f.width, f.height, face));
        if window.len() > layout.frames {
            window.pop_front();
        }
        if window.len() < layout.frames || (i + 1) % layout.frames != 0 {
            continue;
        }
        let first = window[0].3.as_ref().map(|(id, _)| *id);
        let one_track = first.is_some() && window.iter().all(|w| w.3.as_ref().map(|(id, _)| *id) == first);
        let same_size = window.iter().all(|w| (w.1, w.2) == (window[0].1, window[0].2));
        if !one_track || !same_size {
            continue;
        }
        let start = i + 1 - layout.frames;
        let window_labels = match labels {
            Some(l) => Some(l.get(start..=i).ok_or_else(|| {
                Error::Other(format!("{}: frame {i} has no ground truth ({} lines)", path.display(), l.len()))
            })?),
            None => None,
        };
        let frames: Vec<Frame> =
            window.iter().map(|w| Frame::rgb(&w.0, w.1, w.2)).collect::<steadyface::Result<_>>()?;
        let Some((_, points)) = &window[0].3 else { continue };
        // With labels, the tracked face must be the labelled one (a frame may show other faces).
        if let Some(l) = window_labels.and_then(|l| l.first()) {
            let tracked: Vec<[f32; 2]> = models.selection().iter().map(|&j| points[j]).collect();
            let mean =
                tracked.iter().zip(l).map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1])).sum::<f32>() / l.len() as f32;
            if mean > 0.3 * inter_ocular(l) {
                continue;
            }
        }
        push(video_window(models, &frames, points, window_labels, spec, layout, seed.wrapping_add(i as u64))?)?;
        made += 1;
    }
    Ok(made)
}
