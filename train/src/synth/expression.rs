//! Facial expressions on the 68 iBUG points (0-based): four units, each a displacement of the
//! points at full weight in units of the inter-ocular distance and in the face's own frame (the
//! eye line gives "right", its perpendicular "down"), and a seeded schedule of events that
//! animates their weights over the frames.

use serde::Serialize;

use super::Rng;

/// An expression unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Both upper lids down onto the lower lids (closed at weight 1).
    Blink,
    /// Lower lip and chin down by up to 0.35 inter-ocular distances.
    MouthOpen,
    /// Mouth corners out and up by 0.12 inter-ocular distances.
    Smile,
    /// Both brows up by 0.12 inter-ocular distances.
    BrowRaise,
}

impl Unit {
    pub const ALL: [Unit; 4] = [Unit::Blink, Unit::MouthOpen, Unit::Smile, Unit::BrowRaise];
}

/// The units' displacement fields for one neutral face (source pixels).
pub struct Units {
    neutral: Vec<[f32; 2]>,
    fields: [Vec<[f32; 2]>; 4],
}

impl Units {
    /// The fields of the neutral 68 `points`.
    pub fn new(points: &[[f32; 2]]) -> Units {
        assert_eq!(points.len(), 68, "expressions are defined on the 68 iBUG points");
        Units { neutral: points.to_vec(), fields: Unit::ALL.map(|u| field(u, points)) }
    }

    /// The points with unit `Unit::ALL[k]` at `weights[k]`; the fields add up.
    pub fn deform(&self, weights: [f32; 4]) -> Vec<[f32; 2]> {
        let mut out = self.neutral.clone();
        for (field, w) in self.fields.iter().zip(weights) {
            for (p, d) in out.iter_mut().zip(field) {
                *p = [p[0] + w * d[0], p[1] + w * d[1]];
            }
        }
        out
    }
}

/// The displacement of every point for `unit` at weight 1.
fn field(unit: Unit, p: &[[f32; 2]]) -> Vec<[f32; 2]> {
    let iod = steadyface::metrics::inter_ocular(p);
    let (l, r) = (p[36], p[45]);
    // "right" along the eye line (image left to right), "down" its perpendicular (y grows down).
    let right = [(r[0] - l[0]) / iod, (r[1] - l[1]) / iod];
    let down = [-right[1], right[0]];
    let step = |dir: [f32; 2], amount: f32| [dir[0] * amount * iod, dir[1] * amount * iod];
    let mut d = vec![[0.0f32; 2]; p.len()];
    match unit {
        Unit::Blink => {
            // Upper lid onto the lower lid straight below it: 37 -> 41, 38 -> 40, 43 -> 47, 44 -> 46.
            for (upper, lower) in [(37, 41), (38, 40), (43, 47), (44, 46)] {
                d[upper] = [p[lower][0] - p[upper][0], p[lower][1] - p[upper][1]];
            }
        }
        Unit::MouthOpen => {
            // The jaw drops: the lower lip (outer 55-59, inner 65-67) and the chin most, the lip
            // near the corners less; jaw points 5-11 by their closeness to the chin (8).
            let lip = [(55, 0.5), (56, 0.85), (57, 1.0), (58, 0.85), (59, 0.5), (65, 0.85), (66, 1.0), (67, 0.85)];
            let jaw = (5..=11).map(|i: usize| (i, 1.0 - i.abs_diff(8) as f32 / 4.0));
            for (i, share) in lip.into_iter().chain(jaw) {
                d[i] = step(down, 0.35 * share);
            }
        }
        Unit::Smile => {
            // Corners out and up, their neighbours (next outer lip points, inner corners) half as much.
            let up = [-down[0], -down[1]];
            let left = [-right[0], -right[1]];
            for (out, points) in [(left, [48, 49, 59, 60]), (right, [54, 53, 55, 64])] {
                let dir = [0.6 * out[0] + 0.8 * up[0], 0.6 * out[1] + 0.8 * up[1]];
                for (k, i) in points.into_iter().enumerate() {
                    d[i] = step(dir, if k == 0 { 0.12 } else { 0.06 });
                }
            }
        }
        Unit::BrowRaise => {
            d[17..=26].fill(step([-down[0], -down[1]], 0.12));
        }
    }
    d
}

/// One expression event: the unit's weight rises smoothly over `onset` frames from frame
/// `start` to `amplitude`, holds for `hold` frames and falls back over `offset` frames.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Event {
    pub unit: Unit,
    pub start: usize,
    pub onset: usize,
    pub hold: usize,
    pub offset: usize,
    pub amplitude: f32,
}

impl Event {
    /// The weight at `frame`: 0 before and after, `amplitude` from `start + onset` to
    /// `start + onset + hold`, smoothstep ramps between.
    pub fn weight(&self, frame: usize) -> f32 {
        let k = frame as f32 - self.start as f32;
        let (onset, hold, offset) = (self.onset.max(1) as f32, self.hold as f32, self.offset.max(1) as f32);
        let ramp = if k <= onset { smoothstep(k / onset) } else { smoothstep(1.0 - (k - onset - hold) / offset) };
        self.amplitude * ramp
    }
}

/// 3x^2 - 2x^3 on [0, 1], 0 before, 1 after: starts and ends with zero speed.
fn smoothstep(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// The expression events of a sequence.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExpressionSchedule {
    pub events: Vec<Event>,
}

/// Frames per second the schedule's timings assume (the benchmark sequences' rate).
const FPS: usize = 30;

impl ExpressionSchedule {
    /// A random schedule of `frames` frames from `seed` (deterministic): full, short blinks every
    /// 2-5 s (the first within 3 s), and for each other unit events of random amplitude one
    /// after the other, the first within the first half of the sequence (of at most 2 s) so short
    /// sequences show one; the units overlap freely.
    pub fn random(frames: usize, seed: u64) -> Self {
        // Its own stream: the same seed also draws the trajectory, which should not correlate.
        let mut rng = Rng::new(seed ^ 0x6578_7072_6573_7369);
        let mut events = Vec::new();
        let mut t = rng.below(3 * FPS);
        while t < frames {
            let (onset, hold, offset) = (2 + rng.below(2), rng.below(3), 3 + rng.below(2));
            events.push(Event { unit: Unit::Blink, start: t, onset, hold, offset, amplitude: 1.0 });
            t += 2 * FPS + rng.below(3 * FPS + 1);
        }
        for unit in [Unit::MouthOpen, Unit::Smile, Unit::BrowRaise] {
            let mut t = rng.below(frames.clamp(2, 2 * FPS) / 2);
            while t < frames {
                let (onset, hold, offset) = (3 + rng.below(6), rng.below(21), 3 + rng.below(8));
                let amplitude = 0.4 + 0.6 * rng.unit();
                events.push(Event { unit, start: t, onset, hold, offset, amplitude });
                t += onset + hold + offset + 5 + rng.below(40);
            }
        }
        ExpressionSchedule { events }
    }

    /// The weight of every unit (in the order of [`Unit::ALL`]) at `frame`, each in [0, 1].
    pub fn weights(&self, frame: usize) -> [f32; 4] {
        Unit::ALL.map(|u| {
            let of_unit = self.events.iter().filter(|e| e.unit == u);
            of_unit.map(|e| e.weight(frame)).fold(0.0, f32::max).clamp(0.0, 1.0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn takeo_points() -> Vec<[f32; 2]> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/takeo.pts");
        steadyface::pts::read_pts(std::path::Path::new(path)).unwrap()
    }

    fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
        (a[0] - b[0]).hypot(a[1] - b[1])
    }

    #[test]
    fn units_move_the_named_points_by_the_named_amounts_in_the_faces_frame() {
        // takeo levelled (outer eye corners at one height), then turned by 30 degrees about the
        // origin: the face's "up" is then (sin, -cos) of 30 degrees in image coordinates (y down).
        let takeo = takeo_points();
        let tilt = (takeo[45][1] - takeo[36][1]).atan2(takeo[45][0] - takeo[36][0]);
        let angle = 30f32.to_radians();
        let (c, s) = (angle.cos(), angle.sin());
        let turn = |p: [f32; 2], a: f32| [a.cos() * p[0] - a.sin() * p[1], a.sin() * p[0] + a.cos() * p[1]];
        let points: Vec<[f32; 2]> = takeo.iter().map(|&p| turn(turn(p, -tilt), angle)).collect();
        let iod = steadyface::metrics::inter_ocular(&points);
        let up = [s, -c];
        let units = Units::new(&points);
        let moved_by =
            |i: usize, moved: &[[f32; 2]]| [(moved[i][0] - points[i][0]) / iod, (moved[i][1] - points[i][1]) / iod];
        let close = |a: [f32; 2], b: [f32; 2]| dist(a, b) < 1e-4;
        let brows = units.deform([0.0, 0.0, 0.0, 1.0]);
        for i in 0..68 {
            let want = if (17..=26).contains(&i) { [0.12 * up[0], 0.12 * up[1]] } else { [0.0, 0.0] };
            assert!(close(moved_by(i, &brows), want), "brow raise, point {i}");
        }
        let open = units.deform([0.0, 1.0, 0.0, 0.0]);
        for (i, amount) in [
            (57, 0.35),
            (66, 0.35),
            (8, 0.35),
            (7, 0.2625),
            (5, 0.0875),
            (11, 0.0875),
            (4, 0.0),
            (30, 0.0),
            (51, 0.0),
            (62, 0.0),
        ] {
            assert!(close(moved_by(i, &open), [-amount * up[0], -amount * up[1]]), "mouth open, point {i}");
        }
        let blink = units.deform([1.0, 0.0, 0.0, 0.0]);
        for (upper, lower) in [(37, 41), (38, 40), (43, 47), (44, 46)] {
            assert!(close(blink[upper], points[lower]) && close(blink[lower], points[lower]), "blink closes {upper}");
        }
        // Smile: corners 0.12 out (away from the face's middle along the eye line) and up.
        let smile = units.deform([0.0, 0.0, 1.0, 0.0]);
        let right = [c, s];
        for (corner, out) in [(48, -1.0), (54, 1.0)] {
            let d = moved_by(corner, &smile);
            let (along, upward) = (d[0] * right[0] + d[1] * right[1], d[0] * up[0] + d[1] * up[1]);
            assert!((d[0].hypot(d[1]) - 0.12).abs() < 1e-4 && along * out > 0.05 && upward > 0.05, "{corner}: {d:?}");
        }
        // Units add up.
        let both = units.deform([0.0, 1.0, 0.0, 1.0]);
        assert!(close(both[57], open[57]) && close(both[20], brows[20]));
    }

    #[test]
    fn schedules_stay_in_range_blink_every_two_to_five_seconds_and_close_the_eyes() {
        let points = takeo_points();
        let iod = steadyface::metrics::inter_ocular(&points);
        let units = Units::new(&points);
        for seed in 0..20 {
            let schedule = ExpressionSchedule::random(600, seed);
            assert_eq!(schedule, ExpressionSchedule::random(600, seed), "deterministic");
            for frame in 0..620 {
                assert!(schedule.weights(frame).iter().all(|w| (0.0..=1.0).contains(w)));
            }
            let blinks: Vec<&Event> = schedule.events.iter().filter(|e| e.unit == Unit::Blink).collect();
            assert!(blinks.len() >= 4, "seed {seed}: {} blinks in 20 s", blinks.len());
            assert!(blinks.windows(2).all(|b| (60..=150).contains(&(b[1].start - b[0].start))));
            for b in blinks {
                assert!((2..=3).contains(&b.onset) && b.hold <= 2 && (3..=4).contains(&b.offset));
                // At the peak the upper lids are on the lower ones.
                let peak = units.deform(schedule.weights(b.start + b.onset));
                for (upper, lower) in [(37, 41), (38, 40), (43, 47), (44, 46)] {
                    assert!(dist(peak[upper], peak[lower]) < 0.1 * iod, "seed {seed}: {upper} open at the peak");
                }
                // And open again once it is over.
                let after = units.deform(schedule.weights(b.start + b.onset + b.hold + b.offset));
                assert!(dist(after[37], points[37]) < 1e-3, "seed {seed}");
            }
            for e in schedule.events.iter().filter(|e| e.unit != Unit::Blink) {
                assert!((3..=8).contains(&e.onset) && e.hold <= 20 && (3..=10).contains(&e.offset));
                assert!((0.4..=1.0).contains(&e.amplitude));
            }
        }
        assert_ne!(ExpressionSchedule::random(600, 1), ExpressionSchedule::random(600, 2));
    }

    #[test]
    fn an_event_rises_holds_and_falls_smoothly() {
        let e = Event { unit: Unit::Smile, start: 10, onset: 4, hold: 3, offset: 5, amplitude: 0.8 };
        let w: Vec<f32> = (0..30).map(|f| e.weight(f)).collect();
        assert!(w[..=10].iter().all(|&v| v == 0.0) && w[22..].iter().all(|&v| v == 0.0));
        assert!(w[14..=17].iter().all(|&v| (v - 0.8).abs() < 1e-6), "{w:?}");
        // Smoothstep: half way up at the middle of the onset, a gentle start.
        assert!((w[12] - 0.4).abs() < 1e-6 && w[11] < 0.2 * 0.8, "{w:?}");
        assert!(w[11..14].windows(2).all(|p| p[1] > p[0]) && w[17..22].windows(2).all(|p| p[1] < p[0]));
    }

    #[test]
    fn short_sequences_show_an_expression() {
        for seed in 0..50 {
            let schedule = ExpressionSchedule::random(30, seed);
            let peak = |k: usize| (0..30).map(|f| schedule.weights(f)[k]).fold(0.0, f32::max);
            assert!(peak(1) >= 0.4 && peak(2) >= 0.4 && peak(3) >= 0.4, "seed {seed}");
        }
    }
}
