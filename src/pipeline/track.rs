//! One tracked face: where its next crop is, and the states that follow it from frame to frame.

use crate::geometry::{Roi, Similarity, fit_similarity};
use crate::registration::{Follow, Patch};
use crate::smoothing::Smoother;
use crate::stabilizer::HiddenState;

pub(super) struct Track {
    pub id: u64,
    /// The crop the next frame is read from.
    pub roi: Roi,
    /// The detector's score (first frame), then the landmark model's presence score.
    pub score: f32,
    /// Frames with landmarks so far (0 on the track's first frame).
    pub age: u64,
    pub state: Option<HiddenState>,
    pub smoother: Option<Smoother>,
    /// The face's patch and points on the last frame, to measure its next motion from.
    last: Option<(Patch, Vec<[f32; 2]>)>,
}

/// How a face moved since the last frame (see [`Track::motion`]).
pub(super) struct Motion {
    pub face: Similarity,
    /// Where each followed point is now, registered on its own (`None`: where `face` puts it).
    pub points: Option<Vec<Option<[f32; 2]>>>,
}

impl Track {
    pub fn new(id: u64, roi: Roi, score: f32) -> Self {
        Track { id, roi, score, age: 0, state: None, smoother: None, last: None }
    }

    /// How the face moved since the last frame: the motion of its points (`points`, this
    /// frame's), refined by registering last frame's patch of the face on this frame's (`now`,
    /// from the crop this frame was read from); the points' motion alone where registration
    /// fails. With `follow` (last frame's smoothed points, and how to register them), also where
    /// each of them is now, registered on its own (see [`Patch::point_motions`]). `None` on the
    /// track's first frame. Keeps `now` and `points` for the next frame.
    pub fn motion(&mut self, now: Patch, points: &[[f32; 2]], follow: Option<&Follow>) -> Option<Motion> {
        let motion = self.last.as_ref().and_then(|(then, then_points)| {
            let guess = fit_similarity(then_points, points)?;
            let motion = then.motion_to(&now, &guess).unwrap_or(guess);
            let moved = follow.map(|f| then.point_motions(&now, &motion, f));
            Some(Motion { face: motion, points: moved })
        });
        self.last = Some((now, points.to_vec()));
        motion
    }

    /// Takes `next` as the crop for the next frame unless the current one may stay (see
    /// `TrackerConfig::hold_tolerance`).
    pub fn move_crop(&mut self, next: Roi, tolerance: f32) {
        if !holds(&self.roi, &next, tolerance) {
            self.roi = next;
        }
    }
}

/// Whether the crop `current` may stay in place of `next`: the centre moved by less than
/// `tolerance` of the crop's size, the size changed by less than that fraction (in log scale) and
/// the angle by less than `tolerance` radians (its sine). 0: never.
fn holds(current: &Roi, next: &Roi, tolerance: f32) -> bool {
    if tolerance <= 0.0 {
        return false;
    }
    let size = current.width.max(current.height);
    let shift = (next.cx - current.cx).hypot(next.cy - current.cy) / size;
    let scale = (next.width.max(next.height) / size).ln().abs();
    let turn = (next.angle - current.angle).sin().abs();
    shift < tolerance && scale < tolerance && turn < tolerance
}

#[cfg(test)]
mod tests {
    use super::*;

    const CROP: Roi = Roi { cx: 100.0, cy: 100.0, width: 200.0, height: 200.0, angle: 0.0 };

    #[test]
    fn the_crop_holds_within_the_tolerance_on_every_axis() {
        // 5% of 200 px is 10 px; ln(1.04) = 0.039; sin(0.04) = 0.040.
        let near = Roi { cx: 106.0, cy: 107.0, width: 208.0, height: 208.0, angle: 0.04 };
        assert!(holds(&CROP, &near, 0.05));
        let shifted = Roi { cx: 108.0, cy: 107.0, ..CROP }; // hypot(8, 7) = 10.6 px > 10
        assert!(!holds(&CROP, &shifted, 0.05));
        let grown = Roi { width: 212.0, height: 212.0, ..CROP }; // ln(1.06) = 0.058
        assert!(!holds(&CROP, &grown, 0.05));
        let turned = Roi { angle: 0.06, ..CROP };
        assert!(!holds(&CROP, &turned, 0.05));
    }

    #[test]
    fn tolerance_zero_always_follows() {
        let mut track = Track::new(1, CROP, 0.9);
        track.move_crop(CROP, 0.0);
        assert!(!holds(&CROP, &CROP, 0.0));
        let next = Roi { cx: 101.0, ..CROP };
        track.move_crop(next, 0.05);
        assert_eq!(track.roi, CROP, "1 px holds at 5%");
        track.move_crop(next, 0.0);
        assert_eq!(track.roi, next);
    }
}
