//! Similarity transforms between frame pixels and model-input (crop) pixels.
//! Pixel centres sit at integer coordinates in both spaces.

/// x' = a*x - b*y + tx, y' = b*x + a*y + ty (rotation + uniform scale + translation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    pub const IDENTITY: Similarity = Similarity { a: 1.0, b: 0.0, tx: 0.0, ty: 0.0 };

    #[inline]
    pub fn apply(&self, [x, y]: [f32; 2]) -> [f32; 2] {
        [self.a * x - self.b * y + self.tx, self.b * x + self.a * y + self.ty]
    }

    pub fn inverse(&self) -> Similarity {
        let det = self.a * self.a + self.b * self.b;
        let (a, b) = (self.a / det, -self.b / det);
        Similarity { a, b, tx: -(a * self.tx - b * self.ty), ty: -(b * self.tx + a * self.ty) }
    }

    /// The transform that applies `self`, then `next`.
    pub fn then(&self, next: &Similarity) -> Similarity {
        // Complex form: z -> s z + t; next(self(z)) = (n s) z + (n t + u).
        Similarity {
            a: next.a * self.a - next.b * self.b,
            b: next.a * self.b + next.b * self.a,
            tx: next.a * self.tx - next.b * self.ty + next.tx,
            ty: next.b * self.tx + next.a * self.ty + next.ty,
        }
    }

    /// Scale factor (crop-to-frame pixel size ratio for a crop transform).
    pub fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }
}

/// A rotated square (or rectangle) region of the frame: what MediaPipe calls a normalized rect,
/// here in frame pixels. `angle` is in radians, counter-clockwise in image coordinates (y down),
/// so that a face tilted by `angle` becomes upright in the crop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roi {
    pub cx: f32,
    pub cy: f32,
    pub width: f32,
    pub height: f32,
    pub angle: f32,
}

impl Roi {
    /// The transform from pixels of a `size`x`size` crop to frame pixels.
    pub fn crop_to_frame(&self, size: usize) -> Similarity {
        let s = self.width.max(self.height) / size as f32;
        let (a, b) = (s * self.angle.cos(), s * self.angle.sin());
        let c = (size as f32 - 1.0) / 2.0;
        // Maps the crop centre c to (cx, cy).
        Similarity { a, b, tx: self.cx - (a * c - b * c), ty: self.cy - (b * c + a * c) }
    }

    /// Axis-aligned bounding box (x, y, w, h) of the rotated region.
    pub fn bounding_box(&self) -> [f32; 4] {
        let (c, s) = (self.angle.cos().abs(), self.angle.sin().abs());
        let w = self.width * c + self.height * s;
        let h = self.width * s + self.height * c;
        [self.cx - w / 2.0, self.cy - h / 2.0, w, h]
    }

    /// The ROI MediaPipe derives from a set of points: the box of the points in a frame rotated by
    /// `angle`, centred on that box, made square on its long side and scaled by `scale`.
    pub fn around_points(points: &[[f32; 2]], angle: f32, scale: f32) -> Option<Roi> {
        if points.is_empty() || points.iter().any(|p| !p[0].is_finite() || !p[1].is_finite()) {
            return None;
        }
        let (c, s) = (angle.cos(), angle.sin());
        // Rotate into the face-upright frame: u = R(-angle) p.
        let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
        for &[x, y] in points {
            let u = [c * x + s * y, -s * x + c * y];
            for k in 0..2 {
                lo[k] = lo[k].min(u[k]);
                hi[k] = hi[k].max(u[k]);
            }
        }
        let (mu, mv) = ((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0);
        let side = (hi[0] - lo[0]).max(hi[1] - lo[1]) * scale;
        if side.is_nan() || side <= 0.0 {
            return None;
        }
        Some(Roi { cx: c * mu - s * mv, cy: s * mu + c * mv, width: side, height: side, angle })
    }

    /// Intersection over union of the axis-aligned boxes of two ROIs.
    pub fn iou(&self, other: &Roi) -> f32 {
        box_iou(self.bounding_box(), other.bounding_box())
    }
}

/// Area of the overlap of two (x, y, w, h) boxes.
pub fn box_intersection(a: [f32; 4], b: [f32; 4]) -> f32 {
    let ix = ((a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0])).max(0.0);
    let iy = ((a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1])).max(0.0);
    ix * iy
}

/// Intersection over union of two (x, y, w, h) boxes.
pub fn box_iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let inter = box_intersection(a, b);
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// The mean of the points (NaN for none).
pub fn centroid(points: &[[f32; 2]]) -> [f32; 2] {
    let n = points.len() as f32;
    let sum = points.iter().fold([0.0f32; 2], |s, p| [s[0] + p[0], s[1] + p[1]]);
    [sum[0] / n, sum[1] / n]
}

/// The similarity that maps `from` onto `to` best in the least-squares sense (Umeyama without
/// reflection): `None` for fewer than two pairs, different lengths, or points all in one place.
pub fn fit_similarity(from: &[[f32; 2]], to: &[[f32; 2]]) -> Option<Similarity> {
    if from.len() != to.len() || from.len() < 2 {
        return None;
    }
    let (cf, ct) = (centroid(from), centroid(to));
    let (mut dot, mut cross, mut norm) = (0.0f64, 0.0f64, 0.0f64);
    for (p, q) in from.iter().zip(to) {
        let (x, y) = ((p[0] - cf[0]) as f64, (p[1] - cf[1]) as f64);
        let (u, v) = ((q[0] - ct[0]) as f64, (q[1] - ct[1]) as f64);
        dot += x * u + y * v;
        cross += x * v - y * u;
        norm += x * x + y * y;
    }
    if !(norm > 0.0 && dot.is_finite() && cross.is_finite()) {
        return None;
    }
    let (a, b) = ((dot / norm) as f32, (cross / norm) as f32);
    // to = a * from - b * from_perp + t, with the centroids mapped onto each other.
    Some(Similarity { a, b, tx: ct[0] - (a * cf[0] - b * cf[1]), ty: ct[1] - (b * cf[0] + a * cf[1]) })
}

/// The axis-aligned box (x, y, w, h) of the finite points; `None` when there is none.
pub fn points_box(points: &[[f32; 2]]) -> Option<[f32; 4]> {
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for &[x, y] in points.iter().filter(|p| p[0].is_finite() && p[1].is_finite()) {
        lo = [lo[0].min(x), lo[1].min(y)];
        hi = [hi[0].max(x), hi[1].max(y)];
    }
    (lo[0] <= hi[0]).then(|| [lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])
}

/// Image-space angle that makes the line from `right_eye` to `left_eye` horizontal in the crop.
/// (The subject's right eye is on the image's left.)
pub fn eye_angle(right_eye: [f32; 2], left_eye: [f32; 2]) -> f32 {
    (left_eye[1] - right_eye[1]).atan2(left_eye[0] - right_eye[0])
}

#[cfg(test)]
mod tests {
    #[test]
    fn fit_similarity_recovers_a_known_transform() {
        // x' = 2 cos30 x - 2 sin30 y + 5, y' = 2 sin30 x + 2 cos30 y - 3, by hand for 3 points.
        let t = super::Similarity { a: 3f32.sqrt(), b: 1.0, tx: 5.0, ty: -3.0 };
        let from = [[0.0f32, 0.0], [10.0, 0.0], [0.0, 4.0]];
        let to = [[5.0f32, -3.0], [5.0 + 10.0 * 3f32.sqrt(), 7.0], [1.0, -3.0 + 4.0 * 3f32.sqrt()]];
        assert!(from.iter().zip(&to).all(|(p, q)| (t.apply(*p)[0] - q[0]).abs() < 1e-4));
        let fit = super::fit_similarity(&from, &to).unwrap();
        for (got, want) in [(fit.a, t.a), (fit.b, t.b), (fit.tx, t.tx), (fit.ty, t.ty)] {
            assert!((got - want).abs() < 1e-4, "{fit:?}");
        }
        assert!(super::fit_similarity(&from[..1], &to[..1]).is_none());
        assert!(super::fit_similarity(&[[1.0, 1.0]; 3], &to).is_none());
    }

    use super::*;

    #[test]
    fn crop_round_trip_is_exact() {
        let roi = Roi { cx: 312.7, cy: 201.3, width: 187.0, height: 187.0, angle: 0.37 };
        let t = roi.crop_to_frame(192);
        let inv = t.inverse();
        for p in [[0.0, 0.0], [191.0, 0.0], [95.5, 95.5], [13.25, 170.75]] {
            let q = inv.apply(t.apply(p));
            assert!((q[0] - p[0]).abs() < 1e-3 && (q[1] - p[1]).abs() < 1e-3, "{p:?} -> {q:?}");
        }
        // The crop centre lands on the ROI centre, and a crop edge is half the width away.
        let centre = t.apply([95.5, 95.5]);
        assert!((centre[0] - 312.7).abs() < 1e-3 && (centre[1] - 201.3).abs() < 1e-3);
        assert!((t.scale() * 192.0 - 187.0).abs() < 1e-3);
    }

    #[test]
    fn composition_applies_in_order() {
        let r = Similarity { a: 0.0, b: 2.0, tx: 1.0, ty: -1.0 }; // rotate 90 degrees, scale 2
        let t = Similarity { a: 1.0, b: 0.0, tx: 5.0, ty: 7.0 }; // translate
        let p = [3.0, 4.0];
        let expect = t.apply(r.apply(p));
        let got = r.then(&t).apply(p);
        assert!((got[0] - expect[0]).abs() < 1e-5 && (got[1] - expect[1]).abs() < 1e-5);
        // By hand: r(3,4) = (0*3 - 2*4 + 1, 2*3 + 0*4 - 1) = (-7, 5); then + (5, 7) = (-2, 12).
        assert_eq!(expect, [-2.0, 12.0]);
    }

    #[test]
    fn roi_around_rotated_square() {
        // Corners of a 10x10 square rotated by 30 degrees around (50, 40).
        let ang = 30f32.to_radians();
        let pts: Vec<[f32; 2]> = [[-5.0, -5.0], [5.0, -5.0], [5.0, 5.0], [-5.0, 5.0]]
            .iter()
            .map(|[x, y]| [50.0 + ang.cos() * x - ang.sin() * y, 40.0 + ang.sin() * x + ang.cos() * y])
            .collect();
        let roi = Roi::around_points(&pts, ang, 1.5).unwrap();
        assert!((roi.cx - 50.0).abs() < 1e-4 && (roi.cy - 40.0).abs() < 1e-4);
        assert!((roi.width - 15.0).abs() < 1e-4);
        assert!((eye_angle(pts[0], pts[1]) - ang).abs() < 1e-6);
    }

    #[test]
    fn iou_of_known_boxes() {
        assert!((box_iou([0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 2.0, 2.0]) - 2.0 / 6.0).abs() < 1e-6);
        assert_eq!(box_iou([0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 1.0, 1.0]), 0.0);
    }
}
