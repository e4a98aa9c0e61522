//! When and where the detector looks for new faces.
//!
//! With no face tracked the search runs on the frame's own thread, within a budget of detector
//! runs per frame: the whole frame every other run and the tiles of the pyramid's finer level in
//! turn between. A frame without a face then costs about one detector run instead of the whole
//! pyramid, a face the whole-frame pass can see is found within two frames, and a small one
//! within one cycle of the tiles. A budget of 0 searches the whole pyramid on every frame, on the
//! frame's thread (what a still image wants).
//!
//! After a reset the tiles are also swept on another thread, two at a time and back to back, so
//! the small faces of a stream's first frames join within about ten frames without any frame
//! paying for the pyramid, and without the sweep crowding out the frames' own work. Then, while
//! faces are tracked, a search (the whole frame and one tile) runs every `interval` frames on
//! another thread, on a copy of the frame. A late frame postpones both. While these searches find
//! nothing new, they back off: the next waits twice the interval, then three times, and stays
//! there until a track starts or ends (a face that enters then joins within 3 intervals and 3
//! frames, about a second at 30 fps with the default 10).
//!
//! Background searches join a fixed number of frames after they start, whatever the timing, so
//! results stay reproducible.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Models;
use crate::detector::{Detection, Detector};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::geometry::Roi;

/// Frames between the start of a search on another thread and the frame whose tracks it joins
/// (at most the search interval): about 100 ms at 30 fps, time for the detector's two runs to
/// finish on another core while three frames are tracked.
const LAG: u64 = 3;

/// Detector runs of one periodic search while faces are tracked: the whole frame and one tile.
const PERIODIC_RUNS: usize = 2;

/// Tiles per search of the sweep after a reset.
const SWEEP_RUNS: usize = 2;

/// The periodic search waits at most this many intervals while it finds nothing new. On a
/// single tracked face, most of what the search costs is spent confirming that face; each
/// search is still worth as much as the first to a face that enters, so the wait is capped.
const MAX_BACKOFF: u64 = 3;

/// Why the detector ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchReason {
    /// No face is tracked: searched on the frame's own thread, within the budget.
    NoFace,
    /// The sweep of the tiles after a reset, two at a time, on another thread.
    Sweep,
    /// The periodic search for new faces beside the tracked ones, on another thread.
    Periodic,
}

/// What one search did.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRun {
    pub why: SearchReason,
    /// Detector runs (the whole frame or one tile each).
    pub regions: usize,
    /// Wall time of the search, the frame copy of a background search included.
    pub took: Duration,
    pub found: usize,
}

/// A search running on another thread.
struct Pending {
    why: SearchReason,
    /// The frame number whose tracks its faces join.
    merge_at: u64,
    regions: usize,
    worker: JoinHandle<Result<(Vec<Detection>, Duration)>>,
    /// Time spent copying the frame for it.
    prepared_in: Duration,
}

/// The search state of one stream.
#[derive(Default)]
pub(super) struct Searcher {
    /// Position in the cycle whole frame, tile 1, whole frame, tile 2, ...
    step: usize,
    /// Tiles swept since the last reset (the sweep is over once it reaches the tile count).
    swept: usize,
    /// The sweep is over.
    swept_all: bool,
    /// Frames since a search last started.
    since_start: u64,
    /// Periodic searches in a row that found nothing new (no track started or ended since).
    fruitless: u64,
    pending: Option<Pending>,
}

impl Searcher {
    /// Waits for a search still running (its faces belong to frames before the reset); the cycle
    /// starts again at the whole frame, and the sweep of the tiles again.
    pub fn reset(&mut self) {
        if let Some(pending) = self.pending.take() {
            let _ = join(pending);
        }
        self.step = 0;
        self.swept = 0;
        self.swept_all = false;
        self.fruitless = 0;
    }

    /// What the frame's periodic search (if one joined it) came to: with no track started or
    /// ended, the next search waits one interval longer (up to [`MAX_BACKOFF`] intervals); a
    /// track started or ended, on any frame, brings the interval back.
    pub fn tracks_settled(&mut self, periodic_joined: bool, tracks_changed: bool) {
        if tracks_changed {
            self.fruitless = 0;
        } else if periodic_joined {
            self.fruitless = self.fruitless.saturating_add(1);
        }
    }

    /// Counts a frame (for the interval between periodic searches).
    pub fn tick(&mut self) {
        self.since_start = self.since_start.saturating_add(1);
    }

    /// Searches `frame` now, on this thread: the next `budget` regions of the cycle, or the
    /// whole pyramid when `budget` is 0. Stops once `enough` faces are found.
    pub fn search_now(
        &mut self,
        detector: &Detector,
        frame: &Frame,
        budget: usize,
        enough: usize,
    ) -> Result<(Vec<Detection>, SearchRun)> {
        let t = Instant::now();
        let all = detector.regions(frame.width(), frame.height());
        let regions = if budget > 0 { self.next_regions(&all, budget) } else { all };
        self.since_start = 0;
        let found = detector.detect_regions(frame, &regions, enough)?;
        let run =
            SearchRun { why: SearchReason::NoFace, regions: regions.len(), took: t.elapsed(), found: found.len() };
        Ok((found, run))
    }

    /// Whether the sweep of the tiles after a reset has tiles left and none is being searched.
    pub fn sweep_due(&self) -> bool {
        !self.swept_all && self.pending.is_none()
    }

    /// Starts the next part of the sweep (the next two tiles of `frame`, frame number `index`) on
    /// another thread, unless a search is running; the sweep ends with the frame's last tile.
    pub fn sweep(&mut self, models: &Arc<Models>, frame: &Frame, index: u64) {
        if self.swept_all || self.pending.is_some() {
            return;
        }
        let all = models.detector.regions(frame.width(), frame.height());
        let tiles = &all[1.min(all.len())..];
        let next: Vec<Roi> = tiles.iter().skip(self.swept).take(SWEEP_RUNS).copied().collect();
        self.swept += next.len();
        self.swept_all = self.swept >= tiles.len();
        if !next.is_empty() {
            self.spawn(models, frame, next, SearchReason::Sweep, index + LAG);
        }
    }

    /// Whether a periodic search may start: `interval` frames since the last search (0: never),
    /// or up to [`MAX_BACKOFF`] times that while searches find nothing new; none running.
    pub fn due(&self, interval: u64) -> bool {
        let wait = interval.saturating_mul((self.fruitless + 1).min(MAX_BACKOFF));
        interval > 0 && self.since_start >= wait && self.pending.is_none()
    }

    /// Starts a periodic search of `frame` (frame number `index`): the whole frame and the next
    /// tile, joining frame `index + min(LAG, interval)`.
    pub fn start(&mut self, models: &Arc<Models>, frame: &Frame, index: u64, interval: u64) {
        let all = models.detector.regions(frame.width(), frame.height());
        let regions = self.next_regions(&all, PERIODIC_RUNS);
        self.spawn(models, frame, regions, SearchReason::Periodic, index + LAG.min(interval).max(1));
    }

    /// Searches `regions` of a copy of `frame` on another thread.
    fn spawn(&mut self, models: &Arc<Models>, frame: &Frame, regions: Vec<Roi>, why: SearchReason, merge_at: u64) {
        let t = Instant::now();
        let copy = frame.to_owned_frame();
        let models = models.clone();
        let count = regions.len();
        let worker = std::thread::spawn(move || {
            let t = Instant::now();
            models.detector.detect_regions(&copy.frame(), &regions, usize::MAX).map(|found| (found, t.elapsed()))
        });
        self.since_start = 0;
        self.pending = Some(Pending { why, merge_at, regions: count, worker, prepared_in: t.elapsed() });
    }

    /// The faces of the background search due at frame `index`, if one is.
    pub fn collect(&mut self, index: u64) -> Result<Option<(Vec<Detection>, SearchRun)>> {
        let Some(pending) = self.pending.take_if(|p| p.merge_at <= index) else { return Ok(None) };
        let (why, regions) = (pending.why, pending.regions);
        let (found, took) = join(pending)?;
        let run = SearchRun { why, regions, took, found: found.len() };
        Ok(Some((found, run)))
    }

    /// The next `count` regions of the cycle (each at most once): the whole frame (`all[0]`)
    /// every other step, the tiles (`all[1..]`) in turn between.
    fn next_regions(&mut self, all: &[Roi], count: usize) -> Vec<Roi> {
        let tiles = all.len().saturating_sub(1);
        if tiles == 0 {
            return all.to_vec();
        }
        let mut regions: Vec<Roi> = Vec::with_capacity(count);
        for _ in 0..count.min(2 * tiles) {
            let region = if self.step.is_multiple_of(2) { all[0] } else { all[1 + (self.step / 2) % tiles] };
            self.step = (self.step + 1) % (2 * tiles);
            if !regions.contains(&region) {
                regions.push(region);
            }
        }
        regions
    }
}

impl Drop for Searcher {
    /// No search thread outlives its stream (nor touches a model while the process exits).
    fn drop(&mut self) {
        self.reset();
    }
}

/// The faces of a background search and its time, frame copy included.
fn join(pending: Pending) -> Result<(Vec<Detection>, Duration)> {
    let (found, took) =
        pending.worker.join().map_err(|_| Error::Other("the search for new faces panicked".into()))??;
    Ok((found, pending.prepared_in + took))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(i: usize) -> Roi {
        Roi { cx: i as f32, cy: 0.0, width: 1.0, height: 1.0, angle: 0.0 }
    }

    fn names(regions: &[Roi]) -> Vec<usize> {
        regions.iter().map(|r| r.cx as usize).collect()
    }

    #[test]
    fn one_run_a_frame_alternates_the_whole_frame_and_each_tile() {
        let all: Vec<Roi> = (0..4).map(region).collect();
        let mut s = Searcher::default();
        let seen: Vec<Vec<usize>> = (0..8).map(|_| names(&s.next_regions(&all, 1))).collect();
        assert_eq!(seen, [[0], [1], [0], [2], [0], [3], [0], [1]]);
    }

    #[test]
    fn two_runs_pair_the_whole_frame_with_the_next_tile() {
        let all: Vec<Roi> = (0..3).map(region).collect();
        let mut s = Searcher::default();
        let seen: Vec<Vec<usize>> = (0..3).map(|_| names(&s.next_regions(&all, 2))).collect();
        assert_eq!(seen, [[0, 1], [0, 2], [0, 1]]);
    }

    #[test]
    fn a_frame_without_tiles_is_searched_whole() {
        let mut s = Searcher::default();
        assert_eq!(names(&s.next_regions(&[region(0)], 1)), [0]);
        // A budget beyond the cycle covers each region once.
        let all: Vec<Roi> = (0..3).map(region).collect();
        assert_eq!(names(&s.next_regions(&all, 9)), [0, 1, 2]);
    }

    #[test]
    fn background_searches_wait_for_the_interval() {
        let mut s = Searcher::default();
        assert!(!s.due(10), "a search just happened (the counter starts at 0)");
        for _ in 0..9 {
            s.tick();
        }
        assert!(!s.due(10));
        s.tick();
        assert!(s.due(10));
        assert!(!s.due(0), "interval 0: only when no face is tracked");
    }

    #[test]
    fn fruitless_searches_back_off_to_three_intervals_and_a_track_change_resets() {
        let mut s = Searcher::default();
        // The frames a search waits after each of four fruitless searches, then after a change.
        let mut waits = Vec::new();
        for changed in [false, false, false, false, true] {
            s.tracks_settled(true, changed);
            s.since_start = 0;
            let mut frames = 0;
            while !s.due(10) {
                s.tick();
                frames += 1;
            }
            waits.push(frames);
        }
        assert_eq!(waits, [20, 30, 30, 30, 10]);
        // Frames without a search leave the count alone; a reset clears it.
        s.tracks_settled(true, false);
        s.tracks_settled(false, false);
        assert_eq!(s.fruitless, 1);
        s.reset();
        assert_eq!(s.fruitless, 0);
    }
}
