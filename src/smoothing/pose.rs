//! Pose/residual smoothing: the points of a face are a similarity pose (centre, scale, rotation)
//! applied to a shape in the face's own frame. A head moving or turning changes the pose; jitter
//! and expressions change the shape. Smoothing the two apart lets the pose follow the head with
//! little lag while the shape, which a still head does not move, is smoothed hard.
//!
//! Per frame: the centre is the points' mean, the scale their RMS distance from it, the rotation
//! the least-squares (Procrustes) angle from the last smoothed shape to the centred points, and
//! the shape the centred points rotated back and divided by the scale. Centre, log-scale and angle
//! each go through a One Euro filter (`pose`), every shape coordinate through another (`shape`),
//! and the smoothed pose is applied to the smoothed shape. Any point scheme works: nothing here
//! knows which point is an eye.

use super::one_euro::{OneEuroFilter, OneEuroParams, object_scale};

/// The two filters' parameters. Pose: the centre's speed is in face sizes per second (as the One
/// Euro smoother's), log-scale and angle speeds per second. Shape: coordinates in units of the
/// face's RMS radius, speeds per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoseResidualParams {
    pub pose: OneEuroParams,
    pub shape: OneEuroParams,
}

impl Default for PoseResidualParams {
    /// Chosen with registration and point registration on (the filters see the face in its
    /// registered frame) on the validation faces of models/faces.tsv (models/MODELS.md,
    /// "Smoothing"; the shape's last in "Point registration's trust as a shrinkage"): a pose that
    /// barely moves there is held hard, the shape opens quickly enough for expressions.
    fn default() -> Self {
        PoseResidualParams {
            pose: OneEuroParams { min_cutoff: 0.1, beta: 5.0, derivative_cutoff: 1.0 },
            shape: OneEuroParams { min_cutoff: 0.05, beta: 3.0, derivative_cutoff: 1.0 },
        }
    }
}

/// A similarity pose: frame point = centre + scale * R(angle) * shape point.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pose {
    centre: [f32; 2],
    scale: f32,
    angle: f32,
}

impl Pose {
    /// The pose of `points` and their shape in its frame, the rotation fitted to `reference` (the
    /// angle is 0 without one). `None` for points that are not finite or all in one place.
    fn fit(points: &[[f32; 2]], reference: Option<&[[f32; 2]]>) -> Option<(Pose, Vec<[f32; 2]>)> {
        if points.is_empty() || points.iter().flatten().any(|v| !v.is_finite()) {
            return None;
        }
        let centre = crate::geometry::centroid(points);
        let centred: Vec<[f32; 2]> = points.iter().map(|p| [p[0] - centre[0], p[1] - centre[1]]).collect();
        let scale = (centred.iter().map(|q| q[0] * q[0] + q[1] * q[1]).sum::<f32>() / points.len() as f32).sqrt();
        if !(scale > 0.0 && scale.is_finite()) {
            return None;
        }
        // Procrustes: the angle maximising sum r . R(angle) q-hat is atan2(sum r x q, sum r . q).
        let angle = reference.map_or(0.0, |r| {
            let (cross, dot) = r.iter().zip(&centred).fold((0.0f32, 0.0f32), |(c, d), (r, q)| {
                (c + r[0] * q[1] - r[1] * q[0], d + r[0] * q[0] + r[1] * q[1])
            });
            cross.atan2(dot)
        });
        let pose = Pose { centre, scale, angle };
        let shape = centred.iter().map(|&q| pose.rotate(q, -angle, 1.0 / scale)).collect();
        Some((pose, shape))
    }

    fn rotate(&self, [x, y]: [f32; 2], angle: f32, factor: f32) -> [f32; 2] {
        let (s, c) = angle.sin_cos();
        [factor * (c * x - s * y), factor * (s * x + c * y)]
    }

    fn apply(&self, q: [f32; 2]) -> [f32; 2] {
        let [x, y] = self.rotate(q, self.angle, self.scale);
        [self.centre[0] + x, self.centre[1] + y]
    }
}

/// `angle` moved by a multiple of 2 pi to within pi of `near`, so a head turning past +-180
/// degrees (relative to the first frame) does not make the angle filter jump a full turn.
fn unwrap(angle: f32, near: f32) -> f32 {
    use std::f32::consts::{PI, TAU};
    angle - ((angle - near + PI) / TAU).floor() * TAU
}

/// Pose/residual smoothing of one track's points (see the module documentation).
#[derive(Debug, Clone)]
pub struct PoseResidualSmoother {
    params: PoseResidualParams,
    /// Centre x, centre y, log scale, angle.
    pose: [OneEuroFilter; 4],
    shape: Vec<[OneEuroFilter; 2]>,
    /// The last smoothed shape, which the next frame's rotation is fitted against, and the
    /// last raw angle (for unwrapping); empty before the first frame.
    reference: Vec<[f32; 2]>,
    angle: f32,
    last_time: Option<f64>,
}

impl PoseResidualSmoother {
    pub fn new(params: PoseResidualParams) -> Self {
        PoseResidualSmoother {
            params,
            pose: [OneEuroFilter::new(params.pose); 4],
            shape: Vec::new(),
            reference: Vec::new(),
            angle: 0.0,
            last_time: None,
        }
    }

    pub fn params(&self) -> PoseResidualParams {
        self.params
    }

    /// Forgets the history: the next frame passes through.
    pub fn reset(&mut self) {
        *self = PoseResidualSmoother::new(self.params);
    }

    /// Moves the filters' past from the points at `then` to `now`: where the last frame's points
    /// are known to have gone (measured on the image), so only what the next frame's points add
    /// beyond that is smoothed. Both are split into pose and shape as the points are, and each
    /// filter moves by the difference. Ignored before the first frame or when either split fails.
    pub fn shift(&mut self, then: &[[f32; 2]], now: &[[f32; 2]]) {
        if self.reference.is_empty() || then.len() != self.shape.len() || now.len() != then.len() {
            return;
        }
        let reference = Some(self.reference.as_slice());
        let (Some((p0, s0)), Some((p1, s1))) = (Pose::fit(then, reference), Pose::fit(now, reference)) else { return };
        let [cx, cy, log_scale, turn] = &mut self.pose;
        cx.shift(p1.centre[0] - p0.centre[0]);
        cy.shift(p1.centre[1] - p0.centre[1]);
        log_scale.shift((p1.scale / p0.scale).ln());
        turn.shift(unwrap(p1.angle, p0.angle) - p0.angle);
        for (((f, r), a), b) in self.shape.iter_mut().zip(&mut self.reference).zip(&s0).zip(&s1) {
            let d = [b[0] - a[0], b[1] - a[1]];
            f[0].shift(d[0]);
            f[1].shift(d[1]);
            *r = [r[0] + d[0], r[1] + d[1]];
        }
    }

    /// A frame whose points repeat the last ones (see [`OneEuroFilter::hold`]).
    pub fn hold(&mut self, timestamp_s: f64) {
        if self.last_time.is_some_and(|t| timestamp_s > t) {
            self.last_time = Some(timestamp_s);
            self.pose.iter_mut().chain(self.shape.iter_mut().flatten()).for_each(|f| f.hold(timestamp_s));
        }
    }

    /// Smooths `points` (pixels) observed at `timestamp_s` in place. The first frame, and a frame
    /// with a different number of points (after a reset), pass through. Points that are not all
    /// finite (or all in one place), and a timestamp that is not finite or not after the last,
    /// leave the points and the state untouched, so one bad frame cannot poison the rest.
    pub fn smooth(&mut self, points: &mut [[f32; 2]], timestamp_s: f64) {
        if !timestamp_s.is_finite() || self.last_time.is_some_and(|t| timestamp_s <= t) {
            return;
        }
        if points.len() != self.reference.len() {
            self.reset();
        }
        let first = self.reference.is_empty();
        let reference = (!first).then_some(self.reference.as_slice());
        let Some((raw, shape)) = Pose::fit(points, reference) else { return };
        let angle = unwrap(raw.angle, self.angle);
        let scale = object_scale(points);
        let [cx, cy, log_scale, turn] = &mut self.pose;
        let pose = Pose {
            centre: [
                cx.apply(raw.centre[0], timestamp_s, 1.0 / scale),
                cy.apply(raw.centre[1], timestamp_s, 1.0 / scale),
            ],
            scale: log_scale.apply(raw.scale.ln(), timestamp_s, 1.0).exp(),
            angle: turn.apply(angle, timestamp_s, 1.0),
        };
        if self.shape.len() != shape.len() {
            self.shape = vec![[OneEuroFilter::new(self.params.shape); 2]; shape.len()];
        }
        self.reference = shape
            .iter()
            .zip(&mut self.shape)
            .map(|(q, [fx, fy])| [fx.apply(q[0], timestamp_s, 1.0), fy.apply(q[1], timestamp_s, 1.0)])
            .collect();
        // The first frame's filters pass it through: keep its points bit-exact, not rebuilt.
        if !first {
            for (p, &q) in points.iter_mut().zip(&self.reference) {
                *p = pose.apply(q);
            }
        }
        self.angle = angle;
        self.last_time = Some(timestamp_s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    /// A cutoff that gives `alpha` at sampling interval `te` (alpha = r / (1 + r), r = 2 pi c te).
    fn cutoff_for(alpha: f64, te: f64) -> f32 {
        (alpha / (1.0 - alpha) / (2.0 * PI * te)) as f32
    }

    /// A fixed low-pass with this alpha at 10 frames per second (beta 0).
    fn low_pass(alpha: f64) -> OneEuroParams {
        OneEuroParams { min_cutoff: cutoff_for(alpha, 0.1), beta: 0.0, derivative_cutoff: 1.0 }
    }

    const PASS: OneEuroParams = OneEuroParams { min_cutoff: f32::INFINITY, beta: 0.0, derivative_cutoff: 1.0 };

    fn face() -> Vec<[f32; 2]> {
        vec![[-30.0, -10.0], [30.0, -12.0], [0.0, 5.0], [-15.0, 25.0], [18.0, 24.0]]
    }

    fn moved(points: &[[f32; 2]], dx: f32, dy: f32, angle: f32, scale: f32) -> Vec<[f32; 2]> {
        let (s, c) = angle.sin_cos();
        points.iter().map(|p| [scale * (c * p[0] - s * p[1]) + dx, scale * (s * p[0] + c * p[1]) + dy]).collect()
    }

    fn close(a: &[[f32; 2]], b: &[[f32; 2]], tol: f32) -> bool {
        a.iter().zip(b).all(|(p, q)| (p[0] - q[0]).abs() < tol && (p[1] - q[1]).abs() < tol)
    }

    #[test]
    fn a_rigid_face_with_a_pass_through_pose_comes_out_unchanged() {
        // The shape never changes, so whatever the shape filter does it returns that shape; the
        // pose filter passes through: the output is the input (decomposition and reconstruction
        // are each other's inverse), even turning past 180 degrees.
        let params = PoseResidualParams { pose: PASS, shape: low_pass(0.1) };
        let mut s = PoseResidualSmoother::new(params);
        for i in 0..60 {
            let t = i as f32;
            let want = moved(&face(), 200.0 + 3.0 * t, 100.0 - t, 0.1 * t, 1.0 + 0.01 * t);
            let mut got = want.clone();
            s.smooth(&mut got, i as f64 * 0.1);
            assert!(close(&got, &want, 2e-3), "frame {i}: {got:?} vs {want:?}");
        }
    }

    #[test]
    fn the_pose_filter_moves_a_rigid_face_by_its_alpha() {
        // Fixed low-pass alpha 0.5 on the pose: a jump of 10 px comes out as 5, then 7.5; a turn
        // of 30 degrees as 15 (the shape is unchanged, so only the pose moves).
        let mut s = PoseResidualSmoother::new(PoseResidualParams { pose: low_pass(0.5), shape: low_pass(0.5) });
        let mut first = face();
        s.smooth(&mut first, 0.0);
        assert!(close(&first, &face(), 1e-4));
        for (t, want_dx) in [(0.1, 5.0), (0.2, 7.5)] {
            let mut p = moved(&face(), 10.0, 0.0, 0.0, 1.0);
            s.smooth(&mut p, t);
            assert!(close(&p, &moved(&face(), want_dx, 0.0, 0.0, 1.0), 1e-3), "{p:?}");
        }
        let mut r = PoseResidualSmoother::new(PoseResidualParams { pose: low_pass(0.5), shape: low_pass(0.5) });
        r.smooth(&mut face(), 0.0);
        let mut p = moved(&face(), 0.0, 0.0, 30f32.to_radians(), 1.0);
        r.smooth(&mut p, 0.1);
        // The face's centroid is not at the origin, so the turn is about it, not about 0.
        let c = crate::geometry::centroid(&face());
        let about = |pts: &[[f32; 2]], a: f32| {
            let centred: Vec<[f32; 2]> = pts.iter().map(|q| [q[0] - c[0], q[1] - c[1]]).collect();
            moved(&centred, c[0], c[1], a, 1.0)
        };
        // Input turned 30 degrees about 0 = turned 30 about the centroid, centroid moved: compare
        // the shapes about their own centroids.
        let got_c = crate::geometry::centroid(&p);
        let got: Vec<[f32; 2]> = p.iter().map(|q| [q[0] - got_c[0] + c[0], q[1] - got_c[1] + c[1]]).collect();
        assert!(close(&got, &about(&face(), 15f32.to_radians()), 1e-3), "{got:?}");
    }

    #[test]
    fn a_shape_change_at_a_fixed_pose_is_filtered_in_the_face_frame() {
        // Four points (+-1, 0), (0, +-1): centroid 0, RMS radius 1. Moving them to (+-a, 0),
        // (0, +-b) with a^2 + b^2 = 2 keeps centroid, radius and (by symmetry) rotation, so only
        // the shape changes; alpha 0.5 on the shape gives the points halfway: ((1 + a) / 2, 0)...
        let (a, b) = (1.2f32, (2.0f32 - 1.44).sqrt());
        let mut s = PoseResidualSmoother::new(PoseResidualParams { pose: low_pass(0.5), shape: low_pass(0.5) });
        s.smooth(&mut [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], 0.0);
        let mut p = [[a, 0.0], [-a, 0.0], [0.0, b], [0.0, -b]];
        s.smooth(&mut p, 0.1);
        let (ha, hb) = ((1.0 + a) / 2.0, (1.0 + b) / 2.0);
        assert!(close(&p, &[[ha, 0.0], [-ha, 0.0], [0.0, hb], [0.0, -hb]], 1e-5), "{p:?}");
    }

    #[test]
    fn points_known_to_have_moved_pass_and_only_the_rest_is_smoothed() {
        // Alpha 0.5 on pose and shape. Told the face moved 10 px and its shape changed as in the
        // test above, the moved, changed points come out as they are; a further 2 px the points
        // moved beyond what it was told are halved (as without any telling).
        let (a, b) = (1.2f32, (2.0f32 - 1.44).sqrt());
        let base = [[1.0f32, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]];
        let changed = [[a + 10.0, 0.0], [-a + 10.0, 0.0], [10.0, b], [10.0, -b]];
        let params = PoseResidualParams { pose: low_pass(0.5), shape: low_pass(0.5) };
        let mut s = PoseResidualSmoother::new(params);
        s.smooth(&mut base.clone(), 0.0);
        s.shift(&base, &changed);
        let mut p = changed;
        s.smooth(&mut p, 0.1);
        assert!(close(&p, &changed, 1e-4), "{p:?}");
        let mut s = PoseResidualSmoother::new(params);
        s.smooth(&mut base.clone(), 0.0);
        s.shift(&base, &changed);
        let mut p = changed.map(|[x, y]| [x + 2.0, y]);
        s.smooth(&mut p, 0.1);
        assert!(close(&p, &changed.map(|[x, y]| [x + 1.0, y]), 1e-4), "{p:?}");
    }

    #[test]
    fn bad_frames_leave_points_and_state_untouched() {
        let mut s = PoseResidualSmoother::new(PoseResidualParams { pose: low_pass(0.5), shape: low_pass(0.5) });
        s.smooth(&mut face(), 1.0);
        for (points, t) in [
            (moved(&face(), 10.0, 0.0, 0.0, 1.0), 1.0),
            (moved(&face(), 10.0, 0.0, 0.0, 1.0), f64::NAN),
            (vec![[f32::NAN, 0.0]; 5], 1.1),
            (vec![[3.0, 3.0]; 5], 1.1),
        ] {
            let mut p = points.clone();
            s.smooth(&mut p, t);
            assert!(p.iter().zip(&points).all(|(a, b)| a == b || a[0].is_nan()), "t {t}: {p:?}");
        }
        // The next good frame is the first real step after the first frame: halfway.
        let mut p = moved(&face(), 10.0, 0.0, 0.0, 1.0);
        s.smooth(&mut p, 1.1);
        assert!(close(&p, &moved(&face(), 5.0, 0.0, 0.0, 1.0), 1e-3), "{p:?}");
        // A new point count starts again: passes through.
        let mut q = [[0.0f32, 0.0], [4.0, 1.0], [2.0, 7.0]];
        let want = q;
        s.smooth(&mut q, 1.2);
        assert_eq!(q, want);
    }

    #[test]
    fn unwrap_keeps_angles_near_the_last() {
        use std::f32::consts::PI;
        assert!((unwrap(-0.9 * PI, 0.9 * PI) - 1.1 * PI).abs() < 1e-5);
        assert!((unwrap(0.2, 0.0) - 0.2).abs() < 1e-6);
        assert!((unwrap(0.9 * PI, -0.9 * PI) + 1.1 * PI).abs() < 1e-5);
    }
}
