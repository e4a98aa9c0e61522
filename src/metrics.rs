//! Accuracy metrics over the iBUG 68 scheme (definitions in docs/DESIGN.md).

use crate::scheme::IBUG_OUTER_EYE;

/// The 68 points minus the jaw (0-16) and the inner mouth corners (60, 64).
pub fn inner49() -> Vec<usize> {
    (17..68).filter(|&i| i != 60 && i != 64).collect()
}

/// Distance between the outer eye corners (points 36 and 45).
pub fn inter_ocular(gt: &[[f32; 2]]) -> f32 {
    let (a, b) = (gt[IBUG_OUTER_EYE.0], gt[IBUG_OUTER_EYE.1]);
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// Mean point-to-point error over `indices`, divided by the inter-ocular distance of `gt`.
pub fn nme(pred: &[[f32; 2]], gt: &[[f32; 2]], indices: &[usize]) -> f32 {
    let sum: f32 = indices.iter().map(|&i| (pred[i][0] - gt[i][0]).hypot(pred[i][1] - gt[i][1])).sum();
    sum / indices.len() as f32 / inter_ocular(gt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner49_and_nme_by_hand() {
        let inner = inner49();
        assert_eq!(inner.len(), 49);
        assert!(!inner.contains(&16) && !inner.contains(&60) && !inner.contains(&64) && inner.contains(&17));
        // Eyes 10 px apart; every point off by (3, 4) -> error 5 -> NME 0.5.
        let mut gt = vec![[0.0f32, 0.0]; 68];
        gt[45] = [10.0, 0.0];
        let pred: Vec<[f32; 2]> = gt.iter().map(|p| [p[0] + 3.0, p[1] + 4.0]).collect();
        assert!((nme(&pred, &gt, &inner) - 0.5).abs() < 1e-6);
    }
}
