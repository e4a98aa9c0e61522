//! Point smoothing after the backbone (and the stabilizer): the deterministic filters a user can
//! pick instead of, or after, the learned stabilizer, and the baselines it is measured against.
//!
//! - [`one_euro`]: MediaPipe's One Euro filter on every coordinate (what FaceLandmarker does).
//! - [`pose`]: the points split into a similarity pose and a residual shape in the face's own
//!   frame, each smoothed by its own One Euro filters: the pose follows the head lightly, the shape
//!   (expression and the backbone's jitter) is smoothed harder. Per-point filters cannot tell a
//!   head turn from jitter; this split can.

use crate::geometry::Similarity;

pub mod one_euro;
pub mod pose;

pub use one_euro::{MIN_ALLOWED_OBJECT_SCALE, OneEuroFilter, OneEuroParams, PointsSmoother, object_scale};
pub use pose::{PoseResidualParams, PoseResidualSmoother};

/// Which smoothing a track's points get, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Smoothing {
    OneEuro(OneEuroParams),
    PoseResidual(PoseResidualParams),
}

/// The state of one track's [`Smoothing`].
///
/// With the face's motion measured on the image ([`crate::registration`]), the filters run in
/// the face's own registered frame: the points are taken back through everything the face has
/// moved since the track began, smoothed there, where only jitter, expression and the error of
/// the registration move them, and put forward again. So the head's moves pass through without
/// lag however hard the filter smooths.
#[derive(Debug, Clone)]
pub struct Smoother {
    filter: Filter,
    /// The registered frame to the image: every measured motion of the track, composed.
    anchor: Similarity,
    /// The last frame's smoothed points, in the registered frame.
    last: Vec<[f32; 2]>,
    /// The last frame's points as they came in (image pixels).
    last_input: Vec<[f32; 2]>,
}

#[derive(Debug, Clone)]
enum Filter {
    OneEuro(PointsSmoother),
    PoseResidual(Box<PoseResidualSmoother>),
}

impl Filter {
    /// A frame that repeats the last one: time passes, nothing moves.
    fn hold(&mut self, timestamp_s: f64) {
        match self {
            Filter::OneEuro(s) => s.hold(timestamp_s),
            Filter::PoseResidual(s) => s.hold(timestamp_s),
        }
    }

    /// Moves the filters' past from the points at `then` to `now` (the registered frame).
    fn shift(&mut self, then: &[[f32; 2]], now: &[[f32; 2]]) {
        match self {
            Filter::OneEuro(s) => {
                let steps: Vec<[f32; 2]> = now.iter().zip(then).map(|(n, t)| [n[0] - t[0], n[1] - t[1]]).collect();
                s.shift(&steps)
            }
            Filter::PoseResidual(s) => s.shift(then, now),
        }
    }

    fn smooth(&mut self, points: &mut [[f32; 2]], timestamp_s: f64) {
        match self {
            Filter::OneEuro(s) => s.smooth(points, timestamp_s, object_scale(points)),
            Filter::PoseResidual(s) => s.smooth(points, timestamp_s),
        }
    }
}

impl Smoother {
    pub fn new(smoothing: Smoothing) -> Self {
        let filter = match smoothing {
            Smoothing::OneEuro(p) => Filter::OneEuro(PointsSmoother::new(p)),
            Smoothing::PoseResidual(p) => Filter::PoseResidual(Box::new(PoseResidualSmoother::new(p))),
        };
        Smoother { filter, anchor: Similarity::IDENTITY, last: Vec::new(), last_input: Vec::new() }
    }

    /// The last frame's smoothed points (image pixels): the points whose own motion to the next
    /// frame [`Smoother::smooth`] can be told.
    pub fn last_points(&self) -> Option<Vec<[f32; 2]>> {
        (!self.last.is_empty()).then(|| self.last.iter().map(|&p| self.anchor.apply(p)).collect())
    }

    /// Smooths one frame's `points` (pixels) in place, observed at `timestamp_s`; `motion` is
    /// how the face moved since the last frame (image pixels), when it was measured, and
    /// `moved` where each of [`Smoother::last_points`] is now, where that was measured (one
    /// entry per point; `None` = as `motion` moves it). Points exactly the last frame's come out
    /// as the last output (see [`OneEuroFilter::hold`]).
    pub fn smooth(
        &mut self,
        points: &mut [[f32; 2]],
        timestamp_s: f64,
        motion: Option<&Similarity>,
        moved: Option<&[Option<[f32; 2]>]>,
    ) {
        // The very points of the last frame (a held crop of the same pixels: a still face on a
        // clean source, or a repeated frame) tell nothing new. Filtering them again would only
        // let the output settle on towards them, moving points the backbone holds still.
        if !self.last.is_empty() && points == self.last_input.as_slice() {
            self.filter.hold(timestamp_s);
            points.iter_mut().zip(&self.last).for_each(|(p, &l)| *p = self.anchor.apply(l));
            return;
        }
        self.last_input = points.to_vec();
        if let Some(m) = motion.filter(|m| m.scale().is_finite() && m.scale() > 0.0) {
            self.anchor = self.anchor.then(m);
        }
        let to_face = self.anchor.inverse();
        if let Some(moved) = moved.filter(|m| m.len() == self.last.len()) {
            // In the registered frame the face's motion is gone: what is left is each point's own.
            let now: Vec<[f32; 2]> =
                moved.iter().zip(&self.last).map(|(m, &then)| m.map_or(then, |p| to_face.apply(p))).collect();
            self.filter.shift(&self.last, &now);
        }
        points.iter_mut().for_each(|p| *p = to_face.apply(*p));
        self.filter.smooth(points, timestamp_s);
        self.last = points.to_vec();
        points.iter_mut().for_each(|p| *p = self.anchor.apply(*p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed low-pass: alpha 0.5 at 10 frames per second (beta 0).
    fn half() -> OneEuroParams {
        let r = 1.0f64; // alpha = r / (1 + r) = 0.5 with r = 2 pi c te, te = 0.1 s
        OneEuroParams { min_cutoff: (r / (2.0 * std::f64::consts::PI * 0.1)) as f32, beta: 0.0, derivative_cutoff: 1.0 }
    }

    #[test]
    fn a_measured_motion_passes_through_and_only_the_rest_is_smoothed() {
        let face = [[10.0f32, 20.0], [30.0, 20.0], [20.0, 35.0]];
        let shift = |d: f32| face.map(|[x, y]| [x + d, y]);
        let step = Similarity { tx: 10.0, ..Similarity::IDENTITY };
        for smoothing in
            [Smoothing::OneEuro(half()), Smoothing::PoseResidual(PoseResidualParams { pose: half(), shape: half() })]
        {
            // Told that the face moved 10 px, a face that moved 10 px comes out where it is.
            let mut s = Smoother::new(smoothing);
            s.smooth(&mut face.clone(), 0.0, None, None);
            let mut p = shift(10.0);
            s.smooth(&mut p, 0.1, Some(&step), None);
            assert!(
                p.iter().zip(shift(10.0)).all(|(a, b)| (a[0] - b[0]).abs() < 1e-4 && (a[1] - b[1]).abs() < 1e-4),
                "{p:?}"
            );
            // Not told, it trails by half the move (alpha 0.5): at +5.
            let mut s = Smoother::new(smoothing);
            s.smooth(&mut face.clone(), 0.0, None, None);
            let mut p = shift(10.0);
            s.smooth(&mut p, 0.1, None, None);
            assert!(p.iter().zip(shift(5.0)).all(|(a, b)| (a[0] - b[0]).abs() < 1e-4), "{p:?}");
            // Told 10 px for the face and 14 px for the first point (its own motion on the
            // image), with the points there: they come out where they are.
            let mut s = Smoother::new(smoothing);
            s.smooth(&mut face.clone(), 0.0, None, None);
            let last = s.last_points().expect("a frame was smoothed");
            assert_eq!(last, face.to_vec());
            let mut want = shift(10.0);
            want[0][0] += 4.0;
            let moved = [Some(want[0]), None, None];
            let mut p = want;
            s.smooth(&mut p, 0.1, Some(&step), Some(&moved));
            assert!(p.iter().zip(want).all(|(a, b)| (a[0] - b[0]).abs() < 1e-3 && (a[1] - b[1]).abs() < 1e-3), "{p:?}");
            // Told 10 px but the points moved 12: the 2 px beyond the motion are smoothed to 1.
            let mut s = Smoother::new(smoothing);
            s.smooth(&mut face.clone(), 0.0, None, None);
            let mut p = shift(12.0);
            s.smooth(&mut p, 0.1, Some(&step), None);
            assert!(p.iter().zip(shift(11.0)).all(|(a, b)| (a[0] - b[0]).abs() < 1e-4), "{p:?}");
        }
    }

    #[test]
    fn a_repeated_frame_changes_nothing_and_time_still_passes() {
        let face = [[10.0f32, 20.0], [30.0, 20.0], [20.0, 35.0]];
        let shift = |d: f32| face.map(|[x, y]| [x + d, y]);
        let near = |p: &[[f32; 2]], d: f32| p.iter().zip(shift(d)).all(|(a, b)| (a[0] - b[0]).abs() < 1e-4);
        for smoothing in
            [Smoothing::OneEuro(half()), Smoothing::PoseResidual(PoseResidualParams { pose: half(), shape: half() })]
        {
            let mut s = Smoother::new(smoothing);
            s.smooth(&mut face.clone(), 0.0, None, None);
            let mut p = shift(10.0);
            s.smooth(&mut p, 0.1, None, None);
            assert!(near(&p, 5.0), "{p:?}");
            // The same points again: they stay at +5, bit for bit (filtered, +7.5).
            let held = p;
            let mut p = shift(10.0);
            s.smooth(&mut p, 0.2, None, None);
            assert_eq!(p, held);
            // The next new frame is one frame (0.1 s) on from the held one: alpha 0.5, so
            // 5 + 0.5 (12 - 5) = 8.5 (counted from 0.1 s, alpha 2/3: 9.67).
            let mut p = shift(12.0);
            s.smooth(&mut p, 0.3, None, None);
            assert!(near(&p, 8.5), "{p:?}");
        }
    }
}
