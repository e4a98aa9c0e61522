//! One Euro filter (Casiez et al., CHI 2012) as MediaPipe runs it on landmarks: the baseline point
//! smoother that the stabilizer has to beat.
//!
//! Mirrors MediaPipe's `mediapipe/util/filtering/one_euro_filter.cc` (+ `low_pass_filter.cc`)
//! and the object scaling of `mediapipe/calculators/util/landmarks_smoothing_calculator.cc`
//! (`landmarks_smoothing_calculator_utils.cc` in newer releases): values are filtered in pixels,
//! but the speed that opens the cutoff is measured in object sizes per second
//! (`value_scale = 1 / object_scale`), so one `beta` suits big and small faces alike.

use std::f64::consts::PI;

/// Below this object scale MediaPipe returns the points unfiltered (its
/// `min_allowed_object_scale` default), since 1 / scale would blow the speed up.
pub const MIN_ALLOWED_OBJECT_SCALE: f32 = 1e-6;

/// One Euro parameters, in Hz (cutoffs) and Hz per (object size / s) (beta).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneEuroParams {
    /// Cutoff frequency when the point is still: lower = steadier and laggier.
    pub min_cutoff: f32,
    /// How fast the cutoff opens with speed: higher = less lag when moving.
    pub beta: f32,
    /// Cutoff of the low-pass on the speed estimate itself.
    pub derivative_cutoff: f32,
}

impl OneEuroParams {
    /// Casiez et al.'s generic defaults (also MediaPipe's proto defaults), kept for comparison; see
    /// [`OneEuroParams::default`] for why they are not the default here.
    pub const GENERIC: OneEuroParams = OneEuroParams { min_cutoff: 1.0, beta: 0.0, derivative_cutoff: 1.0 };
}

impl Default for OneEuroParams {
    /// MediaPipe FaceLandmarker's video-mode setting (`face_landmarks_detector_graph.cc`): alpha
    /// about 0.01 when still, about 0.94 when moving fast. The generic min_cutoff 1 / beta 0 lags
    /// so much on moving faces that their jitter relative to the true motion ends up worse than
    /// unfiltered.
    fn default() -> Self {
        OneEuroParams { min_cutoff: 0.05, beta: 80.0, derivative_cutoff: 1.0 }
    }
}

/// MediaPipe's object scale when no ROI is given (what FaceLandmarker uses): the mean of the width
/// and height of the points' axis-aligned bounding box, in the points' units. Non-finite points are
/// ignored; 0 when there is no finite point.
///
/// MediaPipe measures it on its 478-point mesh; on the 68 iBUG points the box lacks the forehead,
/// so it is somewhat smaller and `beta` acts a little stronger for the same face.
pub fn object_scale(points: &[[f32; 2]]) -> f32 {
    crate::geometry::points_box(points).map_or(0.0, |[_, _, w, h]| (w + h) / 2.0)
}

/// `alpha = 1 / (1 + tau / te)`, `tau = 1 / (2 pi cutoff)`, written as `r / (1 + r)` with
/// `r = 2 pi cutoff te` so a zero cutoff gives 0 instead of dividing by zero. A nonsensical
/// (NaN) cutoff disables smoothing rather than poisoning the state.
fn alpha(cutoff: f64, te: f64) -> f64 {
    let r = 2.0 * PI * cutoff * te;
    if r.is_nan() || r == f64::INFINITY { 1.0 } else { (r / (1.0 + r)).clamp(0.0, 1.0) }
}

/// Exponential smoothing that passes its first sample through (MediaPipe's `LowPassFilter`).
#[derive(Debug, Clone, Copy, Default)]
struct LowPass {
    /// (last raw input, last output) once initialised.
    last: Option<(f64, f64)>,
}

impl LowPass {
    fn apply(&mut self, value: f64, alpha: f64) -> f64 {
        // prev + alpha * (value - prev): a constant input stays bit-exact.
        let out = match self.last {
            Some((_, prev)) => prev + alpha * (value - prev),
            None => value,
        };
        self.last = Some((value, out));
        out
    }

    /// Moves the state by `delta`, as if every past sample had been `delta` further on.
    fn shift(&mut self, delta: f64) {
        if let Some((raw, out)) = &mut self.last {
            *raw += delta;
            *out += delta;
        }
    }
}

/// One Euro filter of one scalar signal.
#[derive(Debug, Clone, Copy)]
pub struct OneEuroFilter {
    params: OneEuroParams,
    x: LowPass,
    dx: LowPass,
    last_time: Option<f64>,
}

impl OneEuroFilter {
    pub fn new(params: OneEuroParams) -> Self {
        OneEuroFilter { params, x: LowPass::default(), dx: LowPass::default(), last_time: None }
    }

    pub fn reset(&mut self) {
        *self = OneEuroFilter::new(self.params);
    }

    /// Moves the filter's past by `delta`: the signal is known to have moved that much since the
    /// last sample (measured elsewhere), so only what the next sample adds beyond it is smoothed,
    /// and only that opens the cutoff. A non-finite `delta` is ignored.
    pub fn shift(&mut self, delta: f32) {
        if delta.is_finite() {
            self.x.shift(delta as f64);
        }
    }

    /// Takes `timestamp_s` as a sample that repeats the last one exactly: the value stays where
    /// it is and the speed estimate decays towards 0, as the last sample seen again would make
    /// it, but the output does not settle on towards that sample (nothing new was observed).
    /// Ignored with no sample yet, or at a timestamp not after the last one.
    pub fn hold(&mut self, timestamp_s: f64) {
        let te = match self.last_time {
            Some(last) if timestamp_s.is_finite() && timestamp_s > last => timestamp_s - last,
            _ => return,
        };
        self.last_time = Some(timestamp_s);
        self.dx.apply(0.0, alpha(self.params.derivative_cutoff as f64, te));
    }

    /// Filters `value` observed at `timestamp_s` (seconds). The speed is `value_scale` times the
    /// change per second, as in MediaPipe.
    ///
    /// The first sample passes through. A non-finite value, timestamp or value scale, or a
    /// timestamp not after the previous one, passes the value through and leaves the state
    /// untouched (MediaPipe does the same for timestamps), so one bad frame cannot poison the rest.
    pub fn apply(&mut self, value: f32, timestamp_s: f64, value_scale: f32) -> f32 {
        if !(value.is_finite() && timestamp_s.is_finite() && value_scale.is_finite()) {
            return value;
        }
        let te = match self.last_time {
            Some(last) if timestamp_s <= last => return value,
            Some(last) => timestamp_s - last,
            // Only the first sample has no interval, and it passes through whatever alpha is.
            None => 1.0 / 30.0,
        };
        self.last_time = Some(timestamp_s);
        let value = value as f64;
        let speed = match self.x.last {
            Some((raw, _)) => (value - raw) * value_scale as f64 / te,
            None => 0.0,
        };
        let p = &self.params;
        let smooth_speed = self.dx.apply(speed, alpha(p.derivative_cutoff as f64, te));
        let cutoff = p.min_cutoff as f64 + p.beta as f64 * smooth_speed.abs();
        self.x.apply(value, alpha(cutoff, te)) as f32
    }
}

/// One Euro filters for the x and y of each of K points.
#[derive(Debug, Clone)]
pub struct PointsSmoother {
    params: OneEuroParams,
    filters: Vec<[OneEuroFilter; 2]>,
}

impl PointsSmoother {
    pub fn new(params: OneEuroParams) -> Self {
        PointsSmoother { params, filters: Vec::new() }
    }

    pub fn params(&self) -> OneEuroParams {
        self.params
    }

    /// Forgets the history (new track, seek, flush): the next call passes its points through.
    pub fn reset(&mut self) {
        self.filters.clear();
    }

    /// Moves each point's filters by how far it is known to have moved since the last frame
    /// (see [`OneEuroFilter::shift`]); ignored unless there is one move per point.
    pub fn shift(&mut self, moves: &[[f32; 2]]) {
        if moves.len() == self.filters.len() {
            for (f, m) in self.filters.iter_mut().zip(moves) {
                f[0].shift(m[0]);
                f[1].shift(m[1]);
            }
        }
    }

    /// A frame whose points repeat the last ones (see [`OneEuroFilter::hold`]).
    pub fn hold(&mut self, timestamp_s: f64) {
        self.filters.iter_mut().flatten().for_each(|f| f.hold(timestamp_s));
    }

    /// Smooths `points` (pixels) in place. `object_scale` is the face size in the same pixels,
    /// normally [`object_scale`] of the raw points, as MediaPipe does.
    ///
    /// A different number of points than last time resets the filters (a new scheme means new
    /// points). An object scale below [`MIN_ALLOWED_OBJECT_SCALE`] or not finite leaves the points
    /// and the state untouched, as in MediaPipe. Per coordinate, see [`OneEuroFilter::apply`].
    pub fn smooth(&mut self, points: &mut [[f32; 2]], timestamp_s: f64, object_scale: f32) {
        if !(object_scale.is_finite() && object_scale >= MIN_ALLOWED_OBJECT_SCALE) {
            return;
        }
        if self.filters.len() != points.len() {
            self.filters = vec![[OneEuroFilter::new(self.params); 2]; points.len()];
        }
        let value_scale = 1.0 / object_scale;
        for (p, f) in points.iter_mut().zip(&mut self.filters) {
            p[0] = f[0].apply(p[0], timestamp_s, value_scale);
            p[1] = f[1].apply(p[1], timestamp_s, value_scale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cutoff that gives `alpha` at sampling interval `te`: alpha = r / (1 + r), r = 2 pi c te.
    fn cutoff_for(alpha: f64, te: f64) -> f32 {
        (alpha / (1.0 - alpha) / (2.0 * PI * te)) as f32
    }

    #[test]
    fn defaults() {
        let p = OneEuroParams::default();
        assert_eq!((p.min_cutoff, p.beta, p.derivative_cutoff), (0.05, 80.0, 1.0));
        // MediaPipe's comments: min_cutoff 0.05 -> alpha ~0.01 at 30 fps; derivative 1 -> ~0.17.
        assert!((alpha(0.05, 1.0 / 30.0) - 0.0104).abs() < 1e-3);
        assert!((alpha(1.0, 1.0 / 30.0) - 0.173).abs() < 1e-3);
    }

    #[test]
    fn a_shift_moves_the_past_so_a_known_move_passes_without_lag() {
        // A fixed low-pass, alpha 0.5 at 10 frames per second (beta 0): 0, then 10 gives 5; told
        // that the signal moved by 10 first, 10 comes out as 10, and 12 as 11.
        let te = 0.1;
        let half = OneEuroParams { min_cutoff: cutoff_for(0.5, te), beta: 0.0, derivative_cutoff: 1.0 };
        let mut plain = OneEuroFilter::new(half);
        plain.apply(0.0, 0.0, 1.0);
        assert!((plain.apply(10.0, te, 1.0) - 5.0).abs() < 1e-4);
        for (value, want) in [(10.0, 10.0), (12.0, 11.0)] {
            let mut told = OneEuroFilter::new(half);
            told.apply(0.0, 0.0, 1.0);
            told.shift(10.0);
            assert!((told.apply(value, te, 1.0) - want).abs() < 1e-4, "{value}");
        }
        // Before the first sample there is no past to move; NaN is ignored.
        let mut fresh = OneEuroFilter::new(half);
        fresh.shift(3.0);
        fresh.shift(f32::NAN);
        assert_eq!(fresh.apply(7.0, 0.0, 1.0), 7.0);
        assert!((fresh.apply(7.0, te, 1.0) - 7.0).abs() < 1e-6);
    }

    #[test]
    fn alpha_formula() {
        // tau = 1 / (2 pi c) = te  ->  alpha = 1 / (1 + 1) = 0.5.
        let te = 0.1;
        assert!((alpha(1.0 / (2.0 * PI * te), te) - 0.5).abs() < 1e-12);
        assert_eq!(alpha(0.0, te), 0.0);
        assert_eq!(alpha(f64::NAN, te), 1.0);
        assert_eq!(alpha(f64::INFINITY, te), 1.0);
    }

    #[test]
    fn first_sample_passes_through_and_constant_stays_constant() {
        let mut s = PointsSmoother::new(OneEuroParams::default());
        let pts = [[12.25f32, -3.5], [100.0, 200.0]];
        for i in 0..50 {
            let mut p = pts;
            s.smooth(&mut p, 1.0 + i as f64 / 30.0, 80.0);
            assert_eq!(p, pts);
        }
    }

    #[test]
    fn one_step_with_alpha_one_half() {
        // beta 0: a plain low-pass. te = 0.1 s and cutoff 1/(2 pi 0.1) Hz give alpha = 0.5, so
        // after 0 the input 10 comes out as 0 + 0.5 * (10 - 0) = 5, then 5 + 0.5 * (10 - 5) = 7.5.
        let p = OneEuroParams { min_cutoff: cutoff_for(0.5, 0.1), beta: 0.0, derivative_cutoff: 1.0 };
        let mut f = OneEuroFilter::new(p);
        assert_eq!(f.apply(0.0, 2.0, 1.0), 0.0);
        assert_eq!(f.apply(10.0, 2.1, f32::NAN), 10.0);
        assert!((f.apply(10.0, 2.1, 1.0) - 5.0).abs() < 1e-5);
        assert!((f.apply(10.0, 2.2, 1.0) - 7.5).abs() < 1e-5);
    }

    #[test]
    fn one_step_of_the_speed_term_by_hand() {
        // te = 0.1 s; derivative cutoff with alpha_d = 0.5; min_cutoff with r = 2 pi c te = 1.
        // Step 0 -> 1 with object scale 1: speed = 1 / 0.1 = 10 /s, smoothed 0 + 0.5 * 10 = 5;
        // beta = 3/pi makes r = 1 + 2 pi (3/pi) 5 * 0.1 = 1 + 3 = 4, alpha = 4/5 -> output 0.8.
        // Object scale 2 halves the speed: r = 1 + 1.5 = 2.5, alpha = 2.5/3.5 -> output 5/7.
        let p = OneEuroParams {
            min_cutoff: cutoff_for(0.5, 0.1),
            beta: (3.0 / PI) as f32,
            derivative_cutoff: cutoff_for(0.5, 0.1),
        };
        for (scale, want) in [(1.0f32, 0.8f32), (2.0, 5.0 / 7.0)] {
            let mut f = OneEuroFilter::new(p);
            f.apply(0.0, 0.0, 1.0 / scale);
            let got = f.apply(1.0, 0.1, 1.0 / scale);
            assert!((got - want).abs() < 1e-5, "scale {scale}: {got} vs {want}");
        }
    }

    #[test]
    fn beta_zero_is_a_fixed_low_pass() {
        let te = 1.0 / 30.0;
        let p = OneEuroParams { min_cutoff: 2.0, beta: 0.0, derivative_cutoff: 1.0 };
        let a = alpha(2.0, te);
        let mut f = OneEuroFilter::new(p);
        let mut want = 0f64;
        for i in 0..100 {
            // Arbitrary jumpy input: the speed varies a lot but must not matter.
            let v = ((i * 37 % 11) as f64 - 5.0) * 3.0 + i as f64;
            want = if i == 0 { v } else { want + a * (v - want) };
            let got = f.apply(v as f32, i as f64 * te, 0.01);
            assert!((got as f64 - want).abs() < 1e-3, "step {i}: {got} vs {want}");
        }
    }

    /// Lag behind a ramp of `speed` px per frame at 30 fps after `n` frames.
    fn ramp_lag(params: OneEuroParams, speed: f32, n: usize, scale: f32) -> f32 {
        let mut s = PointsSmoother::new(params);
        let mut last = 0.0;
        for i in 0..n {
            let truth = 50.0 + speed * i as f32;
            let mut p = [[truth, 10.0]];
            s.smooth(&mut p, i as f64 / 30.0, scale);
            last = truth - p[0][0];
        }
        last
    }

    #[test]
    fn larger_beta_lags_less_on_a_ramp() {
        // A face of 100 px moving 2 px per frame (0.6 face sizes per second).
        let base = OneEuroParams { min_cutoff: 0.05, beta: 0.0, derivative_cutoff: 1.0 };
        let lags: Vec<f32> = [0.0, 1.0, 10.0, 80.0]
            .iter()
            .map(|&beta| ramp_lag(OneEuroParams { beta, ..base }, 2.0, 60, 100.0))
            .collect();
        eprintln!("lag after 60 frames of a 2 px/frame ramp, beta 0/1/10/80: {lags:?} px");
        assert!(lags.windows(2).all(|w| w[1] < w[0]), "{lags:?}");
        // MediaPipe's setting follows within about a frame's motion; beta 0 trails by tens of px.
        assert!(lags[3] < 2.0 && lags[0] > 30.0, "{lags:?}");
    }

    #[test]
    fn scaling_the_face_scales_the_output() {
        // Same motion in face sizes, face twice as big: outputs exactly twice as big.
        let p = OneEuroParams::default();
        let (mut a, mut b) = (PointsSmoother::new(p), PointsSmoother::new(p));
        for i in 0..40 {
            let v = 30.0 + (i as f32 * 0.7).sin() * 5.0 + i as f32;
            let (mut pa, mut pb) = ([[v, -v]], [[2.0 * v, -2.0 * v]]);
            a.smooth(&mut pa, i as f64 / 30.0, 50.0);
            b.smooth(&mut pb, i as f64 / 30.0, 100.0);
            assert!((pb[0][0] - 2.0 * pa[0][0]).abs() < 1e-3 && (pb[0][1] - 2.0 * pa[0][1]).abs() < 1e-3);
        }
    }

    #[test]
    fn nan_passes_through_without_poisoning() {
        let p = OneEuroParams { min_cutoff: cutoff_for(0.5, 0.1), beta: 0.0, derivative_cutoff: 1.0 };
        let mut s = PointsSmoother::new(p);
        let mut a = [[0.0f32, 0.0]];
        s.smooth(&mut a, 0.0, 10.0);
        let mut b = [[f32::NAN, 4.0]];
        s.smooth(&mut b, 0.1, 10.0);
        assert!(b[0][0].is_nan());
        assert!((b[0][1] - 2.0).abs() < 1e-5);
        // x resumes from its last good state (0) over the 0.2 s since its last good sample.
        let mut c = [[10.0f32, 4.0]];
        s.smooth(&mut c, 0.2, 10.0);
        let a2 = alpha(p.min_cutoff as f64, 0.2) as f32;
        assert!((c[0][0] - 10.0 * a2).abs() < 1e-4, "{c:?}");
        assert!((c[0][1] - 3.0).abs() < 1e-5);
        assert!(c[0][0].is_finite());
    }

    #[test]
    fn bad_timestamps_and_scales_pass_through() {
        let p = OneEuroParams { min_cutoff: cutoff_for(0.5, 0.1), beta: 0.0, derivative_cutoff: 1.0 };
        let mut s = PointsSmoother::new(p);
        let mut a = [[0.0f32, 0.0]];
        s.smooth(&mut a, 1.0, 10.0);
        for (t, scale) in [(1.0, 10.0), (0.5, 10.0), (f64::NAN, 10.0), (1.1, 0.0), (1.1, f32::NAN), (1.1, -5.0)] {
            let mut b = [[10.0f32, 10.0]];
            s.smooth(&mut b, t, scale);
            assert_eq!(b, [[10.0, 10.0]], "t {t} scale {scale}");
        }
        // State untouched: the next good step is the first real step after 0.
        let mut c = [[10.0f32, 10.0]];
        s.smooth(&mut c, 1.1, 10.0);
        assert!((c[0][0] - 5.0).abs() < 1e-5, "{c:?}");
    }

    #[test]
    fn a_new_point_count_resets() {
        let mut s = PointsSmoother::new(OneEuroParams::default());
        let mut a = [[0.0f32, 0.0]; 3];
        s.smooth(&mut a, 0.0, 10.0);
        let mut b = [[7.0f32, 8.0]; 5];
        s.smooth(&mut b, 0.1, 10.0);
        assert_eq!(b, [[7.0, 8.0]; 5]);
        s.reset();
        let mut c = [[1.0f32, 2.0]; 5];
        s.smooth(&mut c, 0.2, 10.0);
        assert_eq!(c, [[1.0, 2.0]; 5]);
    }

    #[test]
    fn object_scale_is_mediapipes() {
        // Box 10 wide, 30 tall -> (10 + 30) / 2.
        assert_eq!(object_scale(&[[0.0, 0.0], [10.0, 5.0], [3.0, 30.0], [f32::NAN, 100.0]]), 20.0);
        assert_eq!(object_scale(&[]), 0.0);
        assert_eq!(object_scale(&[[f32::NAN, 1.0]]), 0.0);
    }
}
