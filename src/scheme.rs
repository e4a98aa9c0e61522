//! Landmark schemes: the iBUG 68-point layout, or every point of the backbone in its own order.
//! A backbone's mapping to iBUG-68 is in its model description
//! ([`crate::backbone::Description`]; the shipped face mesh's is `models/face_landmark.json`).

/// Which points the pipeline reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    /// The 68 iBUG / 300-W points (mapped when the backbone has another layout).
    #[default]
    Ibug68,
    /// Every point the backbone emits, in its own order.
    Full,
}

/// Outer eye corners in iBUG 68 (0-based): their distance is the inter-ocular normaliser.
pub const IBUG_OUTER_EYE: (usize, usize) = (36, 45);

/// Which side of a closed contour its points' own tissue lies on: outside an opening (an eyelid
/// around the eye, a lip around the mouth's opening), or inside a region (the lips).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tissue {
    Outside,
    Inside,
}

/// A closed contour of reported points, in order clockwise on the image (as iBUG-68 runs), and
/// where its points' tissue lies. A point on it is moved by that tissue alone: an upper eyelid
/// closes over an eye that stays, a lower lip drops from an upper lip that stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contour {
    pub points: Vec<usize>,
    pub tissue: Tissue,
}

/// iBUG-68's contours whose two sides move apart in expressions: the eyes and the mouth's
/// opening (lids outside), the lips' outer edge (lip inside).
const IBUG_CONTOURS: [(std::ops::Range<usize>, Tissue); 4] =
    [(36..42, Tissue::Outside), (42..48, Tissue::Outside), (60..68, Tissue::Outside), (48..60, Tissue::Inside)];

/// The iBUG-68 contours, each point `i` reported as `index(i)` (the identity for the iBUG scheme,
/// the backbone's index of iBUG point `i` for the full scheme).
pub fn ibug_contours(index: impl Fn(usize) -> usize) -> Vec<Contour> {
    IBUG_CONTOURS
        .iter()
        .map(|(range, tissue)| Contour { points: range.clone().map(&index).collect(), tissue: *tissue })
        .collect()
}

/// For each of `points`, the unit normal from it towards its tissue where it lies on one of
/// `contours` (`None` elsewhere, on a contour that names a point beyond `points`, or where its
/// neighbours along the contour coincide). The normal is the tangent (next neighbour minus
/// previous) turned a right angle: on a contour running clockwise on the image (y down)
/// `(ty, -tx)` points outwards. Any similarity of the points (no mirror) turns the normals with
/// them.
pub fn tissue_normals(points: &[[f32; 2]], contours: &[Contour]) -> Vec<Option<[f32; 2]>> {
    let mut normals = vec![None; points.len()];
    for contour in contours.iter().filter(|c| c.points.len() > 2 && c.points.iter().all(|&i| i < points.len())) {
        let (n, sign) = (contour.points.len(), if contour.tissue == Tissue::Outside { 1.0 } else { -1.0 });
        let at = |k: usize| points[contour.points[k % n]];
        for (k, &i) in contour.points.iter().enumerate() {
            let (prev, next) = (at(k + n - 1), at(k + 1));
            let t = [next[0] - prev[0], next[1] - prev[1]];
            let len = t[0].hypot(t[1]);
            if len > 0.0 && len.is_finite() {
                normals[i] = Some([sign * t[1] / len, -sign * t[0] / len]);
            }
        }
    }
    normals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lids_face_away_from_the_opening_and_lips_inwards_even_when_the_mouth_is_shut() {
        // A mouth shut flat on y = 0 (inner lips 60-67 coincide in pairs), its outer edge a
        // diamond around it, as iBUG orders them (60 left, 61-63 upper, 64 right, 65-67 lower).
        let mut points = vec![[0.0f32, 0.0]; 68];
        let inner = [[-2.0, 0.0], [-1.0, 0.0], [0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [1.0, 0.0], [0.0, 0.0], [-1.0, 0.0]];
        points[60..68].copy_from_slice(&inner);
        for (k, p) in points[48..60].iter_mut().enumerate() {
            // Clockwise on the image (y down) from the left corner: up over the top, back below.
            let a = std::f32::consts::PI + k as f32 * std::f32::consts::TAU / 12.0;
            *p = [3.0 * a.cos(), 3.0 * a.sin()];
        }
        let normals = tissue_normals(&points, &ibug_contours(|i| i));
        let near =
            |n: Option<[f32; 2]>, want: [f32; 2]| n.is_some_and(|n| (n[0] - want[0]).hypot(n[1] - want[1]) < 1e-5);
        // Upper inner lip: its tissue is above (y up is negative), the lower's below.
        assert!(near(normals[62], [0.0, -1.0]), "{:?}", normals[62]);
        assert!(near(normals[66], [0.0, 1.0]), "{:?}", normals[66]);
        // Outer edge: towards the lip, i.e. the centre; the top point (k = 3, at (0, -3)) down.
        assert!(near(normals[51], [0.0, 1.0]), "{:?}", normals[51]);
        // Points on no contour, and a list too short for the contours, have none.
        assert_eq!(normals[30], None);
        assert!(tissue_normals(&points[..40], &ibug_contours(|i| i)).iter().all(Option::is_none));
    }
}
