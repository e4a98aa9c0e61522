//! The element's processing latency as it answers the LATENCY query: a high percentile of the
//! recent frames' processing times, so a live sink waits long enough for nearly every frame.

use std::collections::VecDeque;
use std::time::Duration;

/// Frames the percentile is taken over: about 4 s at 30 fps, long enough to hold the periodic
/// search's frames, short enough to follow a change of load.
const WINDOW: usize = 120;
/// Frames before the measured estimate replaces the initial one.
const MIN_SAMPLES: usize = 30;
/// The percentile reported.
const PERCENTILE: f64 = 0.95;

pub struct LatencyEstimate {
    recent: VecDeque<Duration>,
    reported: Duration,
}

impl LatencyEstimate {
    /// Starts at `initial` (a warm-up run's time) until enough frames are measured.
    pub fn new(initial: Duration) -> Self {
        LatencyEstimate { recent: VecDeque::with_capacity(WINDOW), reported: initial }
    }

    /// Records one frame's processing time. Returns the new latency when the percentile has
    /// moved far enough from the reported value that the pipeline should be told (above it by a
    /// quarter, or below two thirds of it): a live pipeline reconfigures on each change, so small
    /// moves are not worth one. The answer so stays within 0.8x-1.5x of the percentile.
    pub fn record(&mut self, took: Duration) -> Option<Duration> {
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(took);
        if self.recent.len() < MIN_SAMPLES {
            return None;
        }
        let now = self.percentile();
        let moved = now > self.reported.mul_f64(1.25) || now < self.reported.mul_f64(2.0 / 3.0);
        moved.then(|| {
            self.reported = now;
            now
        })
    }

    fn percentile(&self) -> Duration {
        let mut sorted: Vec<Duration> = self.recent.iter().copied().collect();
        sorted.sort_unstable();
        let rank = ((sorted.len() as f64 * PERCENTILE).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn reports_the_95th_percentile_once_enough_frames_are_seen() {
        let mut l = LatencyEstimate::new(ms(50));
        // 100 frames: 95 of 10 ms, 5 of 40 ms. The 95th percentile (rank 95) is 10 ms.
        let mut told = None;
        for i in 0..100 {
            told = l.record(ms(if i % 20 == 0 { 40 } else { 10 })).or(told);
        }
        assert_eq!(told, Some(ms(10)), "50 ms -> 10 ms is below two thirds: the pipeline is told");
    }

    #[test]
    fn small_moves_are_not_reported() {
        let mut l = LatencyEstimate::new(ms(10));
        for _ in 0..WINDOW {
            assert_eq!(l.record(ms(12)), None, "12 ms is within +25% of 10 ms");
        }
        let mut told = None;
        for _ in 0..WINDOW {
            told = l.record(ms(13)).or(told);
        }
        assert_eq!(told, Some(ms(13)), "13 ms is more than 25% above 10 ms");
    }

    #[test]
    fn nothing_changes_before_enough_frames() {
        let mut l = LatencyEstimate::new(ms(30));
        for _ in 0..MIN_SAMPLES - 1 {
            assert_eq!(l.record(ms(1)), None);
        }
        assert_eq!(l.record(ms(1)), Some(ms(1)), "the 30th frame brings the first estimate");
    }
}
