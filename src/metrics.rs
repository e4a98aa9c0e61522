//! Accuracy metrics over the iBUG 68 scheme (definitions in docs/design.md).

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

/// Normalised mean jitter (docs/design.md): RMS over consecutive frame pairs of the RMS over
/// points of `|(gt_t - pred_t) - (gt_{t+1} - pred_{t+1})|`, divided by the inter-ocular distance
/// of `gt_t`, x100. It measures jitter relative to the true motion, so a filter cannot lower it by
/// lagging. `None` with fewer than two frames.
pub fn nmj(pred: &[Vec<[f32; 2]>], gt: &[Vec<[f32; 2]>]) -> Option<f32> {
    let n = pred.len().min(gt.len());
    if n < 2 {
        return None;
    }
    let mut sum = 0.0f64;
    for t in 0..n - 1 {
        let points = gt[t].len();
        let ms: f64 = (0..points)
            .map(|i| {
                let e0 = [gt[t][i][0] - pred[t][i][0], gt[t][i][1] - pred[t][i][1]];
                let e1 = [gt[t + 1][i][0] - pred[t + 1][i][0], gt[t + 1][i][1] - pred[t + 1][i][1]];
                ((e0[0] - e1[0]) as f64).powi(2) + ((e0[1] - e1[1]) as f64).powi(2)
            })
            .sum::<f64>()
            / points as f64;
        sum += ms / (inter_ocular(&gt[t]) as f64).powi(2);
    }
    Some(((sum / (n - 1) as f64).sqrt() * 100.0) as f32)
}

/// Frames after a stop that count as settling rather than standing still (0.1 s at 30 fps).
pub const SETTLE_FRAMES: usize = 3;

/// [`nmj`] over the frame pairs `(t, t + 1)` that `keep(t)` selects and where both frames have
/// points: the root mean square of the pairs' jitters. `None` when no pair is left.
pub fn nmj_over(pred: &[Option<Vec<[f32; 2]>>], gt: &[Vec<[f32; 2]>], keep: impl Fn(usize) -> bool) -> Option<f32> {
    let jitters: Vec<f32> = (0..pred.len().min(gt.len()).saturating_sub(1))
        .filter(|&t| keep(t))
        .filter_map(|t| match (&pred[t], &pred[t + 1]) {
            (Some(a), Some(b)) => nmj(&[a.clone(), b.clone()], &gt[t..t + 2]),
            _ => None,
        })
        .collect();
    (!jitters.is_empty()).then(|| (jitters.iter().map(|v| v * v).sum::<f32>() / jitters.len() as f32).sqrt())
}

/// Area under the cumulative error curve up to `cutoff` (e.g. 0.08), normalised to [0, 1], over
/// per-frame NMEs: `(1/c) ∫_0^c F(e) de` with F the fraction of frames with NME <= e, which equals
/// the mean of `max(0, c - e_i) / c`.
pub fn auc(errors: &[f32], cutoff: f32) -> f32 {
    if errors.is_empty() {
        return 0.0;
    }
    errors.iter().map(|&e| if e.is_nan() { 0.0 } else { (cutoff - e).max(0.0) }).sum::<f32>()
        / errors.len() as f32
        / cutoff
}

/// Fraction of frames whose NME exceeds `cutoff` (NaN counts as a failure).
pub fn failure_rate(errors: &[f32], cutoff: f32) -> f32 {
    if errors.is_empty() {
        return 0.0;
    }
    errors.iter().filter(|&&e| e.is_nan() || e > cutoff).count() as f32 / errors.len() as f32
}

/// The fine-tuning paper's coefficient of variation (eq. 9) of one video: the paper leaves the
/// samples unnamed; here each landmark coordinate's series over the frames is one sample set
/// (sample std / mean), and the video's value is the mean over landmarks and axes. The paper's MCV
/// (eq. 10) is the mean of this over videos. Coordinates must be positive (frame pixels).
pub fn coefficient_of_variation(pred: &[Vec<[f32; 2]>]) -> Option<f32> {
    let frames = pred.len();
    let points = pred.first()?.len();
    if frames < 2 || points == 0 {
        return None;
    }
    let mut sum = 0.0f64;
    for k in 0..points {
        for d in 0..2 {
            let series: Vec<f64> = pred.iter().map(|f| f[k][d] as f64).collect();
            let mean = series.iter().sum::<f64>() / frames as f64;
            let var = series.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (frames - 1) as f64;
            sum += var.sqrt() / mean;
        }
    }
    Some((sum / (2 * points) as f64) as f32)
}

/// The paper's Allan variance (eq. 11) of one video, `Σ (u_{t+1} - u_t)^2 / (2 (T - 1))`, per
/// landmark coordinate, averaged over landmarks and axes, divided by `normaliser`^2 (1 for pixels^2,
/// the inter-ocular distance to compare faces of different sizes). The paper's MAV is the mean of
/// this over videos.
pub fn allan_variance(pred: &[Vec<[f32; 2]>], normaliser: f32) -> Option<f32> {
    let frames = pred.len();
    let points = pred.first()?.len();
    if frames < 2 || points == 0 {
        return None;
    }
    let sum: f64 = pred
        .windows(2)
        .flat_map(|pair| pair[0].iter().zip(&pair[1]))
        .map(|(a, b)| ((b[0] - a[0]) as f64).powi(2) + ((b[1] - a[1]) as f64).powi(2))
        .sum();
    let avar = sum / (2.0 * (frames - 1) as f64) / (2 * points) as f64;
    Some((avar / (normaliser as f64).powi(2)) as f32)
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

    #[test]
    fn auc_and_failure_rate_by_hand() {
        // Errors 0, 0.04, 0.08, 0.2 at cutoff 0.08: (0.08 + 0.04 + 0 + 0) / 4 / 0.08 = 0.375.
        let e = [0.0, 0.04, 0.08, 0.2];
        assert!((auc(&e, 0.08) - 0.375).abs() < 1e-6);
        assert_eq!(failure_rate(&e, 0.08), 0.25);
        assert_eq!(failure_rate(&[f32::NAN], 0.08), 1.0);
    }

    #[test]
    fn cvar_and_allan_variance_by_hand() {
        // One point: x = 10, 12, 14 (mean 12, sample sd 2, CVar 1/6); y = 5, 5, 5 (CVar 0).
        let pred: Vec<Vec<[f32; 2]>> = [10.0, 12.0, 14.0].iter().map(|&x| vec![[x, 5.0]]).collect();
        assert!((coefficient_of_variation(&pred).unwrap() - (1.0 / 6.0) / 2.0).abs() < 1e-6);
        // Allan: x steps 2, 2 -> (4 + 4) / (2 * 2) = 2; y 0; mean over the two axes 1; / 2^2.
        assert!((allan_variance(&pred, 1.0).unwrap() - 1.0).abs() < 1e-6);
        assert!((allan_variance(&pred, 2.0).unwrap() - 0.25).abs() < 1e-6);
        assert!(allan_variance(&pred[..1], 1.0).is_none());
    }

    #[test]
    fn nmj_by_hand() {
        // Eyes 10 px apart. The prediction follows the truth with a constant offset on frames
        // 0-1 (no jitter), then every point jumps by (3, 4) = 5 px on frame 2: over the two pairs
        // the RMS is sqrt((0 + 25) / 2) px = 3.5355 px = 35.355% of 10 px.
        let mut gt0 = vec![[0.0f32, 0.0]; 68];
        gt0[45] = [10.0, 0.0];
        let moved = |d: f32| -> Vec<[f32; 2]> { gt0.iter().map(|p| [p[0] + d, p[1]]).collect() };
        let gt = vec![moved(0.0), moved(1.0), moved(2.0)];
        let mut pred: Vec<Vec<[f32; 2]>> = gt.iter().map(|f| f.iter().map(|p| [p[0] + 1.0, p[1]]).collect()).collect();
        for p in &mut pred[2] {
            p[0] += 3.0;
            p[1] += 4.0;
        }
        assert!((nmj(&pred, &gt).unwrap() - 35.355).abs() < 1e-2);
        assert!(nmj(&pred[..1], &gt[..1]).is_none());
    }
}
