//! `steadyface eval`: the element pipeline over benchmark sequences (docs/design.md: numbered
//! frames + `gt.jsonl`, or a video without ground truth), scored with `steadyface::metrics`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use steadyface::metrics;
use steadyface_train::video::{RawFrame, VideoFrame};

use crate::element;
use crate::plot::{self, PlotSeries};

/// Failure / AUC cut-off on the per-frame NME (inter-ocular).
pub const CUTOFF: f32 = 0.08;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// The backbone alone: stabilizer="" and smoothing=none.
    Raw,
    /// smoothing=one-euro, no stabilizer.
    OneEuro,
    /// smoothing=pose-residual, no stabilizer.
    PoseResidual,
    /// The installed ConvLSTM stabilizer (or --stabilizer PATH), no smoothing.
    Stabilizer,
    /// The stabilizer, then smoothing=pose-residual.
    StabilizerPoseResidual,
    /// raw, one-euro and pose-residual, plus stabilizer when one is configured.
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Raw,
    OneEuro,
    PoseResidual,
    Stabilizer,
    StabilizerPoseResidual,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Raw => "raw",
            Method::OneEuro => "one-euro",
            Method::PoseResidual => "pose-residual",
            Method::Stabilizer => "stabilizer",
            Method::StabilizerPoseResidual => "stabilizer+pose-residual",
        }
    }

    /// The element properties of this method: raw = no stabilizer and no smoothing; one-euro =
    /// One Euro smoothing without stabilizer; stabilizer = the given stabilizer, no smoothing.
    fn properties(self, stabilizer: Option<&str>) -> Vec<(String, String)> {
        let (stab, smoothing) = match self {
            Method::Raw => ("", "none"),
            Method::OneEuro => ("", "one-euro"),
            Method::PoseResidual => ("", "pose-residual"),
            Method::Stabilizer => (stabilizer.unwrap_or(""), "none"),
            Method::StabilizerPoseResidual => (stabilizer.unwrap_or(""), "pose-residual"),
        };
        vec![("stabilizer".into(), stab.into()), ("smoothing".into(), smoothing.into())]
    }
}

pub struct EvalArgs {
    pub sequences: Vec<PathBuf>,
    pub method: MethodArg,
    pub stabilizer: Option<PathBuf>,
    pub set: Vec<String>,
    pub json: bool,
    pub plot: Option<PathBuf>,
    pub landmark: usize,
    /// `NAME=FILE`: also score the points in each sequence's FILE as a method named NAME.
    pub predictions: Vec<String>,
}

/// Decoded frames kept in memory up to this size (MiB; `STEADYFACE_EVAL_CACHE_MIB` changes it), so
/// that each method runs on the same frames without decoding them again and fps counts the
/// element alone.
const CACHE_MIB: usize = 2048;

fn cache_bytes() -> usize {
    std::env::var("STEADYFACE_EVAL_CACHE_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(CACHE_MIB) << 20
}

/// One sequence: its frames (in memory when they fit in [`CACHE_MIB`], else decoded again for
/// each method) and, when it has a `gt.jsonl`, the 68 true points of every frame (the line with
/// the frame's number).
pub struct Sequence {
    pub name: String,
    path: PathBuf,
    cached: Option<Vec<VideoFrame>>,
    pub frame_count: usize,
    /// Each frame's number (a numbered file's own number), in order.
    pub numbers: Vec<usize>,
    pub gt: Option<Vec<Vec<[f32; 2]>>>,
    /// Per frame, for a `steadyface synth` sequence (its `meta.json`): how many frames the face
    /// has stood still before it (`None` while it moves).
    pub still: Option<Vec<Option<usize>>>,
    /// Per frame of a `steadyface synth` sequence with expressions: whether an expression is
    /// rising (its onset frames), where a smoothing filter would lag behind the face.
    pub onset: Option<Vec<bool>>,
    /// The `steadyface synth` seed that made it (its `meta.json`): sequences of one face from
    /// several seeds share a name and differ in their trajectory.
    pub seed: Option<u64>,
}

impl Sequence {
    pub fn load(path: &Path) -> anyhow::Result<Sequence> {
        let name =
            path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| path.display().to_string());
        let (mut cached, mut bytes, mut numbers) = (Some(Vec::new()), 0usize, Vec::new());
        let limit = cache_bytes();
        for frame in steadyface_train::video::frames(path)? {
            let frame = frame?;
            numbers.push(frame.index);
            bytes += frame.rgb.len();
            if bytes > limit && cached.take().is_some() {
                eprintln!(
                    "eval: {}: more than {} MiB decoded; frames are decoded again for each method, \
                     so fps includes decoding",
                    path.display(),
                    limit >> 20
                );
            }
            if let Some(frames) = cached.as_mut() {
                frames.push(frame);
            }
        }
        let gt_path = path.join("gt.jsonl");
        let gt = if path.is_dir() && gt_path.is_file() {
            note_gaps(&name, &numbers);
            Some(steadyface::benchmark::read_gt(&gt_path, &numbers)?)
        } else {
            None
        };
        let meta = gt.as_ref().and_then(|_| read_meta(&path.join("meta.json")));
        let still = meta.as_ref().and_then(still_stretches);
        let onset = meta.as_ref().and_then(|m| expression_onsets(m, numbers.len()));
        let seed = meta.as_ref().and_then(|m| m.get("seed")?.as_u64());
        let frame_count = numbers.len();
        Ok(Sequence { name, path: path.to_path_buf(), cached, frame_count, numbers, gt, still, onset, seed })
    }

    /// The frames, from memory or decoded again.
    fn frames(&self) -> anyhow::Result<Box<dyn Iterator<Item = steadyface_train::Result<VideoFrame>> + '_>> {
        Ok(match &self.cached {
            Some(frames) => Box::new(frames.iter().cloned().map(Ok)),
            None => steadyface_train::video::frames(&self.path)?,
        })
    }
}

/// A synth sequence's `meta.json`; `None` when missing or unreadable (e.g. not made by synth).
fn read_meta(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Per frame of a synth sequence, from the trajectory's segments in its meta.json: the frame's
/// index in its still stretch (a segment that neither moves nor turns), `None` while moving.
/// `None` when the meta has no segments.
fn still_stretches(meta: &serde_json::Value) -> Option<Vec<Option<usize>>> {
    let mut out = Vec::new();
    for seg in meta.get("segments")?.as_array()? {
        let frames = seg.get("frames")?.as_u64()? as usize;
        let moves = |key: &str| {
            seg.get(key).and_then(|v| v.as_array()).is_some_and(|v| v.iter().any(|x| x.as_f64() != Some(0.0)))
        };
        let still = !moves("velocity") && seg.get("turn").and_then(|t| t.as_f64()) == Some(0.0);
        out.extend((0..frames).map(|k| still.then_some(k)));
    }
    Some(out)
}

/// Frame `t`'s index in a still stretch that follows motion (the face has stopped); `None` while
/// it moves, and in a stretch that opens the sequence (nothing stopped there: the track starts).
fn after_stop(still: &[Option<usize>], t: usize) -> Option<usize> {
    let k = still.get(t).copied().flatten()?;
    let first = t.checked_sub(k)?;
    (first > 0 && still.get(first - 1).is_some_and(|f| f.is_none())).then_some(k)
}

/// Per frame of a synth sequence with expressions: whether it is in an expression's onset (frames
/// `start .. start + onset` of an event in meta.json's `expression`, where the unit's weight
/// rises). `None` when the meta lists no expression (rigid motion).
fn expression_onsets(meta: &serde_json::Value, frames: usize) -> Option<Vec<bool>> {
    let events = meta.get("expression")?.as_array()?;
    let mut onset = vec![false; frames];
    for event in events {
        let field = |key: &str| event.get(key).and_then(|v| v.as_u64()).map(|v| v as usize);
        let (Some(start), Some(rise)) = (field("start"), field("onset")) else { continue };
        onset.iter_mut().skip(start).take(rise).for_each(|f| *f = true);
    }
    Some(onset)
}

/// Says on the console when a sequence's frame numbers have gaps: each frame is still scored
/// against its own number's line of gt.jsonl, and NMJ compares the frames on either side of a gap
/// as it compares frames on either side of one without a face.
fn note_gaps(name: &str, numbers: &[usize]) {
    let gaps: Vec<String> = numbers
        .windows(2)
        .filter(|pair| pair[1] != pair[0] + 1)
        .map(|pair| match pair[1] - pair[0] {
            2 => format!("{}", pair[0] + 1),
            _ => format!("{}-{}", pair[0] + 1, pair[1] - 1),
        })
        .collect();
    if !gaps.is_empty() {
        eprintln!(
            "eval: {name}: frame numbers missing: {}; each frame is scored against the gt.jsonl line of its own number",
            gaps.join(", ")
        );
    }
}

/// The scores of one method on one sequence (`None` where the sequence has no ground truth or
/// too few frames with a face).
#[derive(Debug, serde::Serialize)]
pub struct Scores {
    pub sequence: String,
    /// The synth seed of the sequence, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub method: String,
    pub frames: usize,
    /// Fraction of frames with a face.
    pub found: f32,
    pub nme68: Option<f32>,
    pub nme49: Option<f32>,
    pub auc: Option<f32>,
    pub failure_rate: Option<f32>,
    pub mcv: Option<f32>,
    /// Allan variance in (% of the inter-ocular distance)^2.
    pub mav: Option<f32>,
    pub nmj: Option<f32>,
    /// NMJ over the frame pairs of a still face once it has stood still for
    /// [`metrics::SETTLE_FRAMES`] frames, and over the first such pairs after it stopped (synth
    /// sequences only).
    pub nmj_still: Option<f32>,
    pub nmj_stop: Option<f32>,
    /// NME-49 % over the first [`metrics::SETTLE_FRAMES`] frames after each stop (a still stretch
    /// that follows motion: a lagging filter is still catching up) and over the frames where an
    /// expression rises (synth sequences only): lag shows as error there.
    pub nme_stop: Option<f32>,
    pub nme_onset: Option<f32>,
    /// Mean distance to the raw backbone's points, % of the inter-ocular distance.
    pub deviation_from_raw: Option<f32>,
    pub fps: f32,
}

/// Per-frame predictions of one method: the highest-scoring face's points.
pub struct Predictions {
    pub method: Method,
    pub points: Vec<Option<Vec<[f32; 2]>>>,
    pub fps: f32,
}

fn predict(
    seq: &Sequence,
    method: Method,
    stabilizer: Option<&str>,
    extra: &[(String, String)],
) -> anyhow::Result<Predictions> {
    let mut properties = method.properties(stabilizer);
    properties.extend(extra.iter().cloned());
    let frames = seq.frames()?.map(|f| f.and_then(RawFrame::from_packed));
    let run = element::run(frames, &properties, None, |_| Ok(()))
        .with_context(|| format!("{} ({})", seq.name, method.name()))?;
    // Scores pair the element's frames with the truth by position: only where the numbers agree.
    let numbers = run.frames.iter().map(|f| f.index);
    if let Some((i, (got, want))) = numbers.zip(&seq.numbers).enumerate().find(|(_, (got, want))| got != *want) {
        bail!(
            "{}: the element's frame {i} is numbered {got} but the sequence's frame {i} is {want}; \
             refusing to pair frames with the ground truth by position",
            seq.name
        );
    }
    let points: Vec<Option<Vec<[f32; 2]>>> = run
        .frames
        .into_iter()
        .map(|f| f.faces().iter().max_by(|a, b| a.score.total_cmp(&b.score)).map(element::points))
        .collect();
    if points.len() != seq.frame_count {
        bail!("{}: {} frames the first time, {} now", seq.name, seq.frame_count, points.len());
    }
    Ok(Predictions { method, points, fps: (seq.frame_count as f64 / run.seconds.max(1e-9)) as f32 })
}

/// The mean of the finite `errors` at the frames `keep` selects, in % (`None` when none is left).
fn mean_over(errors: &[f32], keep: impl Fn(usize) -> bool) -> Option<f32> {
    mean(errors.iter().enumerate().filter(|&(t, e)| keep(t) && e.is_finite()).map(|(_, e)| e * 100.0))
}

fn mean(values: impl IntoIterator<Item = f32>) -> Option<f32> {
    let (sum, n) = values.into_iter().fold((0.0f64, 0usize), |(s, n), v| (s + v as f64, n + 1));
    (n > 0).then(|| (sum / n as f64) as f32)
}

/// Per-frame jitter (% inter-ocular) between frame t and t+1 where both have a face: the RMS
/// over points of the change of the error, as in NMJ.
pub fn frame_jitter(pred: &[Option<Vec<[f32; 2]>>], gt: &[Vec<[f32; 2]>]) -> Vec<Option<f32>> {
    (0..pred.len())
        .map(|t| {
            let (Some(a), Some(Some(b))) = (&pred[t], pred.get(t + 1)) else { return None };
            metrics::nmj(&[a.clone(), b.clone()], &gt[t..t + 2])
        })
        .collect()
}

pub fn score(seq: &Sequence, p: &Predictions, raw: Option<&Predictions>) -> anyhow::Result<Scores> {
    let found: Vec<usize> = (0..p.points.len()).filter(|&i| p.points[i].is_some()).collect();
    let found_points: Vec<Vec<[f32; 2]>> = found.iter().filter_map(|&i| p.points[i].clone()).collect();
    if let Some(bad) = found_points.iter().find(|f| f.len() != 68) {
        bail!("{}: {} points per face; eval scores the 68 iBUG points (do not set full-scheme)", seq.name, bad.len());
    }
    // The scale for MAV and the deviation from raw: the truth's eye distance, or the raw backbone's.
    let reference: Vec<&Vec<[f32; 2]>> = match (&seq.gt, raw) {
        (Some(gt), _) => gt.iter().collect(),
        (None, Some(raw)) => raw.points.iter().flatten().collect(),
        (None, None) => found_points.iter().collect(),
    };
    let iod = mean(reference.iter().map(|r| metrics::inter_ocular(r)));
    let mut s = Scores {
        sequence: seq.name.clone(),
        seed: seq.seed,
        method: p.method.name().to_string(),
        frames: p.points.len(),
        found: found.len() as f32 / p.points.len().max(1) as f32,
        nme68: None,
        nme49: None,
        auc: None,
        failure_rate: None,
        mcv: metrics::coefficient_of_variation(&found_points),
        mav: iod.and_then(|iod| metrics::allan_variance(&found_points, iod / 100.0)),
        nmj: None,
        nmj_still: None,
        nmj_stop: None,
        nme_stop: None,
        nme_onset: None,
        deviation_from_raw: None,
        fps: p.fps,
    };
    if let Some(raw) = raw {
        let all: Vec<usize> = (0..68).collect();
        s.deviation_from_raw = mean(p.points.iter().zip(&raw.points).filter_map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) => Some(metrics::nme(a, b, &all) * 100.0),
            _ => None,
        }));
    }
    if let Some(gt) = &seq.gt {
        let all: Vec<usize> = (0..68).collect();
        let inner = metrics::inner49();
        let per_frame = |idx: &[usize]| -> Vec<f32> {
            p.points
                .iter()
                .zip(gt)
                .map(|(pred, g)| pred.as_ref().map_or(f32::NAN, |pr| metrics::nme(pr, g, idx)))
                .collect()
        };
        let (e68, e49) = (per_frame(&all), per_frame(&inner));
        s.nme68 = mean(e68.iter().copied().filter(|e| e.is_finite())).map(|e| e * 100.0);
        s.nme49 = mean(e49.iter().copied().filter(|e| e.is_finite())).map(|e| e * 100.0);
        s.auc = Some(metrics::auc(&e68, CUTOFF));
        s.failure_rate = Some(metrics::failure_rate(&e68, CUTOFF) * 100.0);
        let found_gt: Vec<Vec<[f32; 2]>> = found.iter().map(|&i| gt[i].clone()).collect();
        s.nmj = metrics::nmj(&found_points, &found_gt);
        if let Some(still) = &seq.still {
            // Pair (t, t + 1) is the k-th pair of a still stretch when frame t + 1 is its frame k + 1.
            let pair_in_stretch = |t: usize| still.get(t + 1).copied().flatten().and_then(|k| k.checked_sub(1));
            let pair_after_stop = |t: usize| after_stop(still, t + 1).and_then(|k| k.checked_sub(1));
            let settle = metrics::SETTLE_FRAMES;
            s.nmj_still = metrics::nmj_over(&p.points, gt, |t| pair_in_stretch(t).is_some_and(|k| k >= settle));
            s.nmj_stop = metrics::nmj_over(&p.points, gt, |t| pair_after_stop(t).is_some_and(|k| k < settle));
            s.nme_stop = mean_over(&e49, |t| after_stop(still, t).is_some_and(|k| k < settle));
        }
        if let Some(onset) = &seq.onset {
            s.nme_onset = mean_over(&e49, |t| onset.get(t).copied().unwrap_or(false));
        }
    }
    Ok(s)
}

fn cell(v: Option<f32>, decimals: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.decimals$}"))
}

pub const TABLE_HEADER: &str = "| sequence | method | frames | face found % | NME 68 % | NME 49 % | AUC@0.08 | FR@0.08 % | MCV | MAV (%IOD)² | NMJ % | NMJ still % | NMJ stop % | NME stop % | NME onset % | dev. from raw % | fps |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

pub fn table_row(s: &Scores) -> String {
    format!(
        "| {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
        s.sequence,
        s.method,
        s.frames,
        s.found * 100.0,
        cell(s.nme68, 2),
        cell(s.nme49, 2),
        cell(s.auc, 3),
        cell(s.failure_rate, 1),
        cell(s.mcv, 4),
        cell(s.mav, 3),
        cell(s.nmj, 3),
        cell(s.nmj_still, 3),
        cell(s.nmj_stop, 3),
        cell(s.nme_stop, 2),
        cell(s.nme_onset, 2),
        cell(s.deviation_from_raw, 2),
        s.fps
    )
}

pub fn eval(args: &EvalArgs) -> anyhow::Result<()> {
    if args.sequences.is_empty() {
        bail!(
            "no sequence given: steadyface eval SEQ_DIR... (a directory of numbered frames with gt.jsonl, or a video)"
        );
    }
    if args.landmark >= 68 {
        bail!("--landmark {}: the iBUG scheme has points 0-67", args.landmark);
    }
    // --predictions NAME=FILE: checked now (the files too), not after the element has run.
    let predictions: Vec<(&str, &Path)> = args
        .predictions
        .iter()
        .map(|spec| match spec.split_once('=') {
            Some((name, file)) if !name.trim().is_empty() && !file.is_empty() => Ok((name.trim(), Path::new(file))),
            _ => bail!("--predictions {spec}: expected NAME=FILE (FILE inside each sequence directory)"),
        })
        .collect::<anyhow::Result<_>>()?;
    for (seq, (_, file)) in args.sequences.iter().flat_map(|s| predictions.iter().map(move |p| (s, p))) {
        if !seq.join(file).is_file() {
            bail!("--predictions: {}: no such file", seq.join(file).display());
        }
    }
    // A plot that cannot be written fails now, not after every sequence has been scored.
    args.plot.as_deref().map(steadyface::output::Output::create).transpose()?;
    element::init()?;
    let extra: Vec<(String, String)> = args
        .set
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(n, v)| (n.trim().to_string(), v.to_string()))
                .with_context(|| format!("--set {pair}: expected NAME=VALUE"))
        })
        .collect::<anyhow::Result<_>>()?;
    if let Some((name, _)) = extra.iter().find(|(n, _)| n == "stabilizer" || n == "smoothing") {
        bail!("--set {name}=...: the method sets it (use --method, and --stabilizer PATH)");
    }
    // The stabilizer: --stabilizer, else the one shipped for the backbone when it is installed.
    let backbone = crate::options::model_property(&extra, "backbone", steadyface::models_dir::BACKBONE);
    let shipped = steadyface::models_dir::shipped_stabilizer(&backbone);
    let stabilizer = match &args.stabilizer {
        Some(p) if !p.is_file() => bail!("--stabilizer {}: no such file", p.display()),
        Some(p) => Some(p.to_string_lossy().to_string()),
        None => shipped.is_file().then(|| shipped.to_string_lossy().to_string()),
    };
    let methods: Vec<Method> = match args.method {
        MethodArg::Raw => vec![Method::Raw],
        MethodArg::OneEuro => vec![Method::OneEuro],
        MethodArg::PoseResidual => vec![Method::PoseResidual],
        MethodArg::Stabilizer | MethodArg::StabilizerPoseResidual if stabilizer.is_none() => bail!(
            "--method {}: no stabilizer configured: the shipped stabilizer is not \
             installed and --stabilizer PATH was not given",
            clap::ValueEnum::to_possible_value(&args.method).map_or_else(String::new, |v| v.get_name().to_string())
        ),
        MethodArg::Stabilizer => vec![Method::Stabilizer],
        MethodArg::StabilizerPoseResidual => vec![Method::StabilizerPoseResidual],
        MethodArg::All => {
            let mut m = vec![Method::Raw, Method::OneEuro, Method::PoseResidual];
            match stabilizer {
                Some(_) => m.push(Method::Stabilizer),
                None => {
                    eprintln!("eval: no stabilizer (the default one is not installed; --stabilizer PATH adds one)")
                }
            }
            m
        }
    };
    if !args.json {
        println!("{TABLE_HEADER}");
    }
    for (k, path) in args.sequences.iter().enumerate() {
        let seq = Sequence::load(path).with_context(|| format!("{}", path.display()))?;
        // Raw is the reference of the deviation (and of the scale without ground truth).
        let raw = predict(&seq, Method::Raw, None, &extra)?;
        let mut runs = Vec::new();
        for &m in &methods {
            runs.push(if m == Method::Raw { None } else { Some(predict(&seq, m, stabilizer.as_deref(), &extra)?) });
        }
        let runs: Vec<&Predictions> = runs.iter().map(|r| r.as_ref().unwrap_or(&raw)).collect();
        let scores = runs.iter().map(|p| score(&seq, p, Some(&raw)));
        let files = predictions.iter().map(|&(name, file)| score_file(&seq, name, &seq.path.join(file), &raw));
        for s in scores.chain(files) {
            let s = s?;
            if args.json {
                println!("{}", serde_json::to_string(&s)?);
            } else {
                println!("{}", table_row(&s));
            }
        }
        if k == 0
            && let Some(out) = &args.plot
        {
            let series: Vec<PlotSeries> = runs
                .iter()
                .map(|p| PlotSeries {
                    name: p.method.name(),
                    points: p.points.iter().map(|f| f.as_ref().map(|f| f[args.landmark])).collect(),
                    scatter: seq.gt.as_ref().map_or_else(Vec::new, |gt| error_vs_jitter(&p.points, gt)),
                })
                .collect();
            let truth: Option<Vec<[f32; 2]>> = seq.gt.as_ref().map(|gt| gt.iter().map(|g| g[args.landmark]).collect());
            plot::write(out, &seq.name, args.landmark, truth.as_deref(), &series)?;
            eprintln!("eval: plot written to {}", out.display());
        }
    }
    Ok(())
}

/// Scores another program's points on `seq` with [`score`], as the method `name`: `file` holds JSON
/// lines `{"frame": N, "points": [[x, y] x 68] or null}`, one for each of the sequence's frames
/// (paired by number, as the ground truth is).
fn score_file(seq: &Sequence, name: &str, file: &Path, raw: &Predictions) -> anyhow::Result<Scores> {
    let points = steadyface::benchmark::read_frame_points(file, &seq.numbers, true)?;
    // The method's name is the one given, not an element method's; no fps (another program ran).
    let mut s = score(seq, &Predictions { method: Method::Raw, points, fps: 0.0 }, Some(raw))?;
    s.method = name.to_string();
    Ok(s)
}

/// (NME %, jitter %) per frame with a face in this and the next frame.
fn error_vs_jitter(pred: &[Option<Vec<[f32; 2]>>], gt: &[Vec<[f32; 2]>]) -> Vec<(f32, f32)> {
    let all: Vec<usize> = (0..68).collect();
    frame_jitter(pred, gt)
        .into_iter()
        .enumerate()
        .filter_map(|(t, j)| Some((metrics::nme(pred[t].as_ref()?, &gt[t], &all) * 100.0, j?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onsets_and_stops_come_from_the_synth_meta() {
        let meta = serde_json::json!({
            "segments": [
                {"frames": 3, "turn": 0.0, "velocity": [1.0, 0.0]},
                {"frames": 4, "turn": -0.0, "velocity": [-0.0, 0.0]},
            ],
            "expression": [
                {"start": 1, "onset": 2, "hold": 9, "offset": 3, "unit": "blink", "amplitude": 1.0},
                {"start": 6, "onset": 5, "hold": 0, "offset": 3, "unit": "smile", "amplitude": 0.5},
            ],
        });
        let still = still_stretches(&meta).expect("segments");
        assert_eq!(still, vec![None, None, None, Some(0), Some(1), Some(2), Some(3)]);
        assert_eq!((0..7).map(|t| after_stop(&still, t)).collect::<Vec<_>>(), still, "stopped at frame 3");
        // A sequence that opens still: those frames follow no stop.
        let opening = [Some(0), Some(1), None, Some(0)];
        assert_eq!((0..4).map(|t| after_stop(&opening, t)).collect::<Vec<_>>(), [None, None, None, Some(0)]);
        // Frames 1-2 rise (blink), frames 6.. (smile; cut at the sequence's 7 frames).
        let want = [false, true, true, false, false, false, true];
        assert_eq!(expression_onsets(&meta, 7), Some(want.to_vec()));
        assert_eq!(expression_onsets(&serde_json::json!({"segments": []}), 7), None, "rigid: no expression list");
        // NME at frames 3 and 4 (0.01 and 0.03): 2 %; the NaN (no face) at frame 5 does not count.
        let errors = [0.5, 0.5, 0.5, 0.01, 0.03, f32::NAN, 0.5];
        let got = mean_over(&errors, |t| (3..6).contains(&t)).expect("two frames");
        assert!((got - 2.0).abs() < 1e-5, "{got}");
        assert_eq!(mean_over(&errors, |t| t == 5), None);
    }
}
