//! Landmark schemes: the iBUG 68-point layout and its mapping from MediaPipe's 468-point mesh.

/// Which points the pipeline reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    /// The 68 iBUG / 300-W points (mapped when the backbone has another layout).
    #[default]
    Ibug68,
    /// Every point the backbone emits, in its own order.
    Full,
}

impl Scheme {
    pub fn name(self, backbone_points: usize) -> String {
        match self {
            Scheme::Ibug68 => "ibug68".into(),
            Scheme::Full if backbone_points == 468 || backbone_points == 478 => "mediapipe468".into(),
            Scheme::Full => format!("backbone{backbone_points}"),
        }
    }
}

/// iBUG 68 point i is MediaPipe mesh vertex `MEDIAPIPE_TO_IBUG68[i]` (documented by region in
/// models/MODELS.md). The jaw contour of the mesh runs wider than iBUG's, so jaw points differ
/// by definition; the inner 49 points correspond closely.
pub const MEDIAPIPE_TO_IBUG68: [usize; 68] = [
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389, // jaw
    71, 63, 105, 66, 107, // right brow
    336, 296, 334, 293, 301, // left brow
    168, 197, 5, 4, // nose bridge
    75, 97, 2, 326, 305, // nose base
    33, 160, 158, 133, 153, 144, // right eye
    362, 385, 387, 263, 373, 380, // left eye
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181, // outer mouth
    78, 82, 13, 312, 308, 317, 14, 87, // inner mouth
];

/// Indices, within the backbone's own points, of the points reported for `scheme`;
/// `None` when the backbone's layout cannot be mapped to it.
pub fn selection(scheme: Scheme, backbone_points: usize) -> Option<Vec<usize>> {
    match (scheme, backbone_points) {
        (Scheme::Full, k) => Some((0..k).collect()),
        (Scheme::Ibug68, 68) => Some((0..68).collect()),
        (Scheme::Ibug68, 468 | 478) => Some(MEDIAPIPE_TO_IBUG68.to_vec()),
        _ => None,
    }
}

/// Outer eye corners in iBUG 68 (0-based): their distance is the inter-ocular normaliser.
pub const IBUG_OUTER_EYE: (usize, usize) = (36, 45);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_is_a_set_of_distinct_mesh_vertices() {
        let mut v = MEDIAPIPE_TO_IBUG68.to_vec();
        v.sort();
        v.dedup();
        assert_eq!(v.len(), 68);
        assert!(v.iter().all(|&i| i < 468));
        assert!(selection(Scheme::Ibug68, 98).is_none());
        assert_eq!(selection(Scheme::Full, 98).unwrap().len(), 98);
    }
}
