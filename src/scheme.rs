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
