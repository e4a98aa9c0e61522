//! The stabilizer stage of a frame: each face's windows cut from the backbone's output, its state
//! moved with the face, one step of the cell for every face at once, and the stabilized points
//! decoded back to crop pixels.

use super::{Models, Reported};
use crate::backbone::BackboneOutput;
use crate::decode::Decoder;
use crate::error::Result;
use crate::geometry::Similarity;
use crate::heatmap::{crop_to_heatmap, heatmap_to_crop};
use crate::stabilizer::{FaceStep, HiddenState, Stabilizer, Windows};

/// One face after the stabilizer.
pub(super) struct Stabilized {
    /// The reported points, crop pixels.
    pub points: Vec<[f32; 2]>,
    pub confidence: Vec<f32>,
    /// The face's state for the next frame.
    pub state: HiddenState,
}

/// One face's part of the step.
struct FaceInput<'a> {
    /// The backbone's reported points, heatmap pixels of the face's crop.
    centres: Vec<[f32; 2]>,
    /// Where each landmark's window lies in that heatmap.
    windows: Windows,
    /// How far the face moved since its state's frame (heatmap pixels).
    motion: [f32; 2],
    state: Option<&'a HiddenState>,
}

/// The stabilized points of each face: `outputs[i]` is face i's backbone output on the crop
/// `crops[i]` (`crop_size` pixels), `reported[i]` its reported points (crop pixels), `states[i]`
/// its state from the previous frame. `None` for a face whose stabilized points are not finite.
#[allow(clippy::too_many_arguments)]
pub(super) fn stabilize(
    models: &Models,
    stab: &Stabilizer,
    outputs: &[BackboneOutput],
    reported: &[Reported],
    states: &[Option<&HiddenState>],
    crops: &[Similarity],
    crop_size: usize,
    decoder: Decoder,
    motion_compensation: bool,
) -> Result<Vec<Option<Stabilized>>> {
    let (n, s) = (stab.heatmap.size, stab.window);
    let per = stab.points * s * s;
    let faces: Vec<FaceInput> = reported
        .iter()
        .zip(states)
        .zip(crops)
        .map(|((reported, &state), crop)| {
            let centres: Vec<[f32; 2]> = reported.points.iter().map(|&p| crop_to_heatmap(p, crop_size, n)).collect();
            let windows = stab.windows(&centres, crop, state);
            let motion = match (state, motion_compensation) {
                (Some(state), true) => stab.face_motion(&centres, state, crop, crop_size),
                _ => [0.0, 0.0],
            };
            FaceInput { centres, windows, motion, state }
        })
        .collect();
    let mut windows = vec![0f32; per * faces.len()];
    for ((face, out), dst) in faces.iter().zip(outputs).zip(windows.chunks_exact_mut(per)) {
        models.stabilizer_input(&out.landmarks, crop_size, &stab.heatmap, &face.windows, dst);
    }
    let steps: Vec<FaceStep> = faces
        .iter()
        .zip(crops)
        .map(|(f, &crop)| FaceStep { windows: &f.windows, state: f.state, crop, motion: f.motion })
        .collect();
    let (stabilized, next) = stab.step(&windows, &steps, crop_size)?;
    // The decoder's threshold is the one the stabilizer was trained with, where its sidecar says.
    let decoder = match (decoder, stab.pdc_threshold) {
        (Decoder::Pdc { .. }, Some(threshold)) => Decoder::Pdc { threshold },
        (Decoder::PdcSoft { .. }, Some(threshold)) => Decoder::PdcSoft { threshold },
        (d, _) => d,
    };
    let results = next
        .into_iter()
        .zip(faces)
        .zip(stabilized.chunks_exact(per))
        .map(|((mut state, face), maps)| {
            // A decoder finds some point even in maps of NaN: check the maps themselves.
            if !maps.iter().all(|v| v.is_finite()) {
                return None;
            }
            let (points, confidence) = decoder.decode(maps, stab.points, s, s);
            // Window pixels -> heatmap pixels -> crop pixels.
            let points: Vec<[f32; 2]> = points
                .iter()
                .enumerate()
                .map(|(j, &p)| heatmap_to_crop(state.windows.to_map(j).apply(p), crop_size, n))
                .collect();
            if !points.iter().flatten().all(|v| v.is_finite()) {
                return None;
            }
            state.observed = face.centres;
            Some(Stabilized { points, confidence, state })
        })
        .collect();
    Ok(results)
}
