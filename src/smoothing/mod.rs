//! Point smoothing after the backbone (and the stabilizer): the deterministic filters a user can
//! pick instead of, or after, the learned stabilizer, and the baselines it is measured against.
//!
//! - [`one_euro`]: MediaPipe's One Euro filter on every coordinate (what FaceLandmarker does).
//! - [`pose`]: the points split into a similarity pose and a residual shape in the face's own
//!   frame, each smoothed by its own One Euro filters: the pose follows the head lightly, the shape
//!   (expression and the backbone's jitter) is smoothed harder. Per-point filters cannot tell a
//!   head turn from jitter; this split can.

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
#[derive(Debug, Clone)]
pub enum Smoother {
    OneEuro(PointsSmoother),
    PoseResidual(PoseResidualSmoother),
}

impl Smoother {
    pub fn new(smoothing: Smoothing) -> Self {
        match smoothing {
            Smoothing::OneEuro(p) => Smoother::OneEuro(PointsSmoother::new(p)),
            Smoothing::PoseResidual(p) => Smoother::PoseResidual(PoseResidualSmoother::new(p)),
        }
    }

    /// Smooths one frame's `points` (pixels) in place, observed at `timestamp_s`.
    pub fn smooth(&mut self, points: &mut [[f32; 2]], timestamp_s: f64) {
        match self {
            Smoother::OneEuro(s) => s.smooth(points, timestamp_s, object_scale(points)),
            Smoother::PoseResidual(s) => s.smooth(points, timestamp_s),
        }
    }
}
