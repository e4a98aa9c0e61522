//! Piecewise-affine warping of a still by its landmarks: the 68 points plus a fixed ring of
//! anchors far outside the face are triangulated once (Delaunay, on the neutral points); a frame
//! with the points moved shows, inside each triangle, the neutral triangle's pixels mapped
//! affinely onto the moved one. Outside the anchors, and in triangles that did not move, the
//! frame is exactly the rigid [`super::render`].

use steadyface::frame::{Frame, FrameVisitor, PixelSource};
use steadyface::geometry::Similarity;

/// Anchors on the ring around the face: enough that the triangles between the face and the ring
/// stay small compared with the ring, few enough to keep the mesh light.
const ANCHORS: usize = 16;

/// Triangles of the Delaunay triangulation of `points` (Bowyer-Watson), as indices into
/// `points`, each with a positive signed area `(b - a) x (c - a)`. Exact duplicates and fewer
/// than three points give what they can (possibly nothing).
pub fn delaunay(points: &[[f32; 2]]) -> Vec<[usize; 3]> {
    let n = points.len();
    let mut p: Vec<[f64; 2]> = points.iter().map(|&[x, y]| [x as f64, y as f64]).collect();
    if n < 3 {
        return Vec::new();
    }
    // A super-triangle so large that its corners never lie in the circumcircle of a triangle of
    // the points that should survive (a small one cuts triangles off the convex hull).
    let (lo, hi) = p.iter().fold(([f64::MAX; 2], [f64::MIN; 2]), |(lo, hi), q| {
        ([lo[0].min(q[0]), lo[1].min(q[1])], [hi[0].max(q[0]), hi[1].max(q[1])])
    });
    let span = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1.0) * 1e4;
    let mid = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    p.extend([[mid[0] - span, mid[1] - span], [mid[0] + span, mid[1] - span], [mid[0], mid[1] + span]]);
    let mut tris = vec![Circle::new(&p, [n, n + 1, n + 2])];
    for i in 0..n {
        // The triangles whose circumcircle holds the new point go; the hole they leave is
        // star-shaped around it and is filled with a fan from its boundary edges.
        let (bad, good): (Vec<Circle>, Vec<Circle>) = tris.into_iter().partition(|t| t.contains(p[i]));
        let edges: Vec<[usize; 2]> =
            bad.iter().flat_map(|t| [[t.v[0], t.v[1]], [t.v[1], t.v[2]], [t.v[2], t.v[0]]]).collect();
        tris = good;
        for &[a, b] in &edges {
            // An edge shared by two bad triangles is inside the hole (they run it in opposite directions).
            if !edges.contains(&[b, a]) {
                tris.push(Circle::new(&p, [a, b, i]));
            }
        }
    }
    tris.iter().filter(|t| t.r2 >= 0.0 && t.v.iter().all(|&k| k < n)).map(|t| t.v).collect()
}

/// A triangle (vertices ordered to a positive signed area) with its circumcircle.
struct Circle {
    v: [usize; 3],
    centre: [f64; 2],
    r2: f64,
}

impl Circle {
    fn new(p: &[[f64; 2]], v: [usize; 3]) -> Circle {
        let [a, b, c] = v.map(|k| p[k]);
        let (bx, by, cx, cy) = (b[0] - a[0], b[1] - a[1], c[0] - a[0], c[1] - a[1]);
        let d = 2.0 * (bx * cy - by * cx);
        let v = if d < 0.0 { [v[0], v[2], v[1]] } else { v };
        if d == 0.0 {
            // Collinear: no circle; it never holds a point and is dropped as degenerate later.
            return Circle { v, centre: a, r2: -1.0 };
        }
        let (b2, c2) = (bx * bx + by * by, cx * cx + cy * cy);
        let (ux, uy) = ((cy * b2 - by * c2) / d, (bx * c2 - cx * b2) / d);
        Circle { v, centre: [a[0] + ux, a[1] + uy], r2: ux * ux + uy * uy }
    }

    fn contains(&self, q: [f64; 2]) -> bool {
        (q[0] - self.centre[0]).powi(2) + (q[1] - self.centre[1]).powi(2) < self.r2
    }
}

/// `ANCHORS` points on an ellipse around the box of `points`, reaching a whole box size from its
/// centre (twice the box): far enough that the face's motion fades out before it, so hair and
/// background move rigidly. The angles start off the axes so no four anchors are concyclic.
pub fn anchors(points: &[[f32; 2]]) -> Vec<[f32; 2]> {
    let (lo, hi) = points.iter().fold(([f32::MAX; 2], [f32::MIN; 2]), |(lo, hi), q| {
        ([lo[0].min(q[0]), lo[1].min(q[1])], [hi[0].max(q[0]), hi[1].max(q[1])])
    });
    let mid = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    let radius = [(hi[0] - lo[0]).max(1.0), (hi[1] - lo[1]).max(1.0)];
    (0..ANCHORS)
        .map(|k| {
            let angle = 0.1 + std::f32::consts::TAU * k as f32 / ANCHORS as f32;
            [mid[0] + radius[0] * angle.cos(), mid[1] + radius[1] * angle.sin()]
        })
        .collect()
}

/// The mesh of a face: its points followed by the anchors, triangulated on the neutral points.
pub struct Mesh {
    neutral: Vec<[f32; 2]>,
    triangles: Vec<[usize; 3]>,
}

/// x' = m[0] x + m[1] y + m[2], y' = m[3] x + m[4] y + m[5].
#[derive(Clone, Copy)]
struct Affine([f32; 6]);

impl Affine {
    fn apply(&self, [x, y]: [f32; 2]) -> [f32; 2] {
        let m = &self.0;
        [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]]
    }
}

impl Mesh {
    /// The mesh of the neutral `points` (source pixels) and their anchors.
    pub fn new(points: &[[f32; 2]]) -> Mesh {
        let mut neutral = points.to_vec();
        neutral.extend(anchors(points));
        let triangles = delaunay(&neutral);
        Mesh { neutral, triangles }
    }

    pub fn triangles(&self) -> &[[usize; 3]] {
        &self.triangles
    }

    /// The face points then the anchors, neutral.
    pub fn neutral(&self) -> &[[f32; 2]] {
        &self.neutral
    }

    /// Renders one frame, packed RGB of `size`: output pixel p lies at `to_source(p)` in the
    /// source with its face points moved to `deformed` (as many as the mesh was made from); inside
    /// a moved triangle it shows the neutral source at the same barycentric position, elsewhere
    /// the source at `to_source(p)`, so with nothing moved this is [`super::render`] to the byte.
    pub fn render(&self, source: &Frame, to_source: &Similarity, size: [usize; 2], deformed: &[[f32; 2]]) -> Vec<u8> {
        let mut moved = deformed.to_vec();
        moved.extend_from_slice(&self.neutral[deformed.len()..]);
        let maps: Vec<Option<Affine>> = self.triangles.iter().map(|&t| self.to_neutral(t, &moved)).collect();
        let label = self.label_pixels(to_source, size, &moved, &maps);
        let [w, h] = size;
        let positions: Vec<[f32; 2]> = (0..w * h)
            .map(|i| {
                let q = to_source.apply([(i % w) as f32, (i / w) as f32]);
                maps.get(label[i] as usize).copied().flatten().map_or(q, |m| m.apply(q))
            })
            .collect();
        struct Sample<'a>(&'a [[f32; 2]]);
        impl FrameVisitor for Sample<'_> {
            type Output = Vec<u8>;
            fn visit<S: PixelSource>(self, src: &S) -> Vec<u8> {
                self.0.iter().flat_map(|&q| src.sample_at(q)).map(|v| v.round().clamp(0.0, 255.0) as u8).collect()
            }
        }
        source.visit(Sample(&positions))
    }

    /// The affine map from triangle `t` as moved to its neutral place; None where it did not
    /// move (the rigid path keeps those pixels exact) or where it collapsed or flipped, which
    /// leaves its pixels to the neighbours that cover them.
    fn to_neutral(&self, t: [usize; 3], moved: &[[f32; 2]]) -> Option<Affine> {
        if t.iter().all(|&k| moved[k] == self.neutral[k]) {
            return None;
        }
        let [d0, d1, d2] = t.map(|k| moved[k]);
        let [n0, n1, n2] = t.map(|k| self.neutral[k]);
        let (e1, e2) = ([d1[0] - d0[0], d1[1] - d0[1]], [d2[0] - d0[0], d2[1] - d0[1]]);
        let det = e1[0] * e2[1] - e1[1] * e2[0];
        let neutral_det = (n1[0] - n0[0]) * (n2[1] - n0[1]) - (n1[1] - n0[1]) * (n2[0] - n0[0]);
        if det * neutral_det.signum() <= 1e-3 * neutral_det.abs() {
            return None;
        }
        // q = d0 + l1 e1 + l2 e2  =>  [l1 l2] = E^-1 (q - d0); the neutral point is n0 + l1 f1 + l2 f2.
        let inv = [e2[1] / det, -e2[0] / det, -e1[1] / det, e1[0] / det];
        let (f1, f2) = ([n1[0] - n0[0], n1[1] - n0[1]], [n2[0] - n0[0], n2[1] - n0[1]]);
        let m = [
            f1[0] * inv[0] + f2[0] * inv[2],
            f1[0] * inv[1] + f2[0] * inv[3],
            f1[1] * inv[0] + f2[1] * inv[2],
            f1[1] * inv[1] + f2[1] * inv[3],
        ];
        let (bx, by) = (n0[0] - m[0] * d0[0] - m[1] * d0[1], n0[1] - m[2] * d0[0] - m[3] * d0[1]);
        Some(Affine([m[0], m[1], bx, m[2], m[3], by]))
    }

    /// Per output pixel, the index of the moved triangle it falls in (u32::MAX for none): each
    /// such triangle's box in the output is scanned and its pixels tested in source coordinates,
    /// where the sampling happens.
    fn label_pixels(
        &self,
        to_source: &Similarity,
        size: [usize; 2],
        moved: &[[f32; 2]],
        maps: &[Option<Affine>],
    ) -> Vec<u32> {
        let [w, h] = size;
        let mut label = vec![u32::MAX; w * h];
        let to_output = to_source.inverse();
        for (k, &t) in self.triangles.iter().enumerate() {
            if maps[k].is_none() {
                continue;
            }
            let corners = t.map(|v| to_output.apply(moved[v]));
            let fold = |f: fn(f32, f32) -> f32, axis: usize| corners.iter().map(|c| c[axis]).fold(corners[0][axis], f);
            let (x0, y0) = (fold(f32::min, 0).floor().max(0.0) as usize, fold(f32::min, 1).floor().max(0.0) as usize);
            let x1 = (fold(f32::max, 0).ceil() + 1.0).clamp(0.0, w as f32) as usize;
            let y1 = (fold(f32::max, 1).ceil() + 1.0).clamp(0.0, h as f32) as usize;
            let tri = t.map(|v| moved[v]);
            for y in y0..y1 {
                for x in x0..x1 {
                    if inside(&tri, to_source.apply([x as f32, y as f32])) {
                        label[y * w + x] = k as u32;
                    }
                }
            }
        }
        label
    }
}

/// Whether `q` lies in triangle `t` (either orientation; edges included, with a hair of slack so
/// that pixels on a shared edge are never left to the rigid path).
fn inside(t: &[[f32; 2]; 3], q: [f32; 2]) -> bool {
    let edge = |a: [f32; 2], b: [f32; 2]| (b[0] - a[0]) * (q[1] - a[1]) - (b[1] - a[1]) * (q[0] - a[0]);
    let (e0, e1, e2) = (edge(t[0], t[1]), edge(t[1], t[2]), edge(t[2], t[0]));
    let slack = 1e-4 * ((t[1][0] - t[0][0]) * (t[2][1] - t[0][1]) - (t[1][1] - t[0][1]) * (t[2][0] - t[0][0])).abs();
    (e0 >= -slack && e1 >= -slack && e2 >= -slack) || (e0 <= slack && e1 <= slack && e2 <= slack)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::expression::Units;
    use crate::synth::{Rng, render};

    const TAKEO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/takeo");

    fn takeo_points() -> Vec<[f32; 2]> {
        steadyface::pts::read_pts(std::path::Path::new(&format!("{TAKEO}.pts"))).unwrap()
    }

    /// Output pixel p shows source point centre + R(angle) (p - mid) / zoom.
    fn view(centre: [f32; 2], size: [usize; 2], zoom: f32, angle: f32) -> Similarity {
        let (a, b) = (angle.cos() / zoom, angle.sin() / zoom);
        let mid = [(size[0] as f32 - 1.0) / 2.0, (size[1] as f32 - 1.0) / 2.0];
        Similarity { a, b, tx: centre[0] - (a * mid[0] - b * mid[1]), ty: centre[1] - (b * mid[0] + a * mid[1]) }
    }

    /// Twice the signed area, (b - a) x (c - a).
    fn cross(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> f64 {
        (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    }

    /// Area of the convex hull (Andrew's monotone chain, then the shoelace formula).
    fn hull_area(points: &[[f64; 2]]) -> f64 {
        let mut p = points.to_vec();
        p.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let mut hull: Vec<[f64; 2]> = Vec::new();
        for pass in 0..2 {
            let start = hull.len();
            for &q in &p {
                while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], q) <= 0.0 {
                    hull.pop();
                }
                hull.push(q);
            }
            hull.pop();
            if pass == 0 {
                p.reverse();
            }
        }
        (0..hull.len()).map(|i| cross([0.0, 0.0], hull[i], hull[(i + 1) % hull.len()])).sum::<f64>().abs() / 2.0
    }

    /// The Delaunay property checked directly: no point strictly inside any triangle's circumcircle
    /// (the in-circle determinant), and the triangles tile the convex hull.
    fn check_delaunay(points: &[[f32; 2]]) {
        let p: Vec<[f64; 2]> = points.iter().map(|&[x, y]| [x as f64, y as f64]).collect();
        let tris = delaunay(points);
        let mut area = 0.0;
        for t in &tris {
            let [a, b, c] = t.map(|k| p[k]);
            assert!(cross(a, b, c) > 0.0, "{t:?} is not positively oriented");
            area += cross(a, b, c) / 2.0;
            for (k, &d) in p.iter().enumerate() {
                if t.contains(&k) {
                    continue;
                }
                let row = |q: [f64; 2]| [q[0] - d[0], q[1] - d[1], (q[0] - d[0]).powi(2) + (q[1] - d[1]).powi(2)];
                let [r0, r1, r2] = [row(a), row(b), row(c)];
                let det = r0[0] * (r1[1] * r2[2] - r1[2] * r2[1]) - r0[1] * (r1[0] * r2[2] - r1[2] * r2[0])
                    + r0[2] * (r1[0] * r2[1] - r1[1] * r2[0]);
                let scale = r0[2].max(r1[2]).max(r2[2]).powi(2);
                assert!(det <= 1e-9 * scale, "point {k} is inside the circumcircle of {t:?} ({det})");
            }
        }
        let hull = hull_area(&p);
        assert!((area - hull).abs() < 1e-6 * hull, "triangles cover {area}, the hull {hull}");
    }

    #[test]
    fn delaunay_circumcircles_are_empty_and_the_triangles_tile_the_hull() {
        let mut rng = Rng::new(5);
        let random: Vec<[f32; 2]> = (0..300).map(|_| [500.0 * rng.unit(), 300.0 * rng.unit()]).collect();
        check_delaunay(&random);
        // The mesh of a real face: its 68 points and the anchor ring, 2(n + 16) - 2 - 16 triangles
        // (Euler, with the 16 anchors on the hull).
        let mesh = Mesh::new(&takeo_points());
        check_delaunay(mesh.neutral());
        assert_eq!(mesh.triangles().len(), 2 * 84 - 2 - 16);
        // A regular grid: every cell's four corners are concyclic, the worst case for the in-circle test.
        let grid: Vec<[f32; 2]> = (0..64).map(|i| [(i % 8) as f32 * 10.0, (i / 8) as f32 * 10.0]).collect();
        check_delaunay(&grid);
    }

    #[test]
    fn with_nothing_moved_the_warp_is_the_rigid_frame_to_the_byte() {
        let img = image::open(format!("{TAKEO}.ppm")).unwrap().to_rgb8();
        let source = Frame::rgb(img.as_raw(), img.width() as usize, img.height() as usize).unwrap();
        let points = takeo_points();
        let size = [320, 240];
        let t = view([80.0, 130.0], size, 0.8, 0.3);
        let mesh = Mesh::new(&points);
        assert!(mesh.render(&source, &t, size, &points) == render(&source, &t, size));
        // Moved points change the face, and nothing beyond the anchors: outside the ellipse they
        // lie on (the box of the points about its centre, scaled by two).
        let moved = Units::new(&points).deform([1.0, 1.0, 1.0, 1.0]);
        let (warped, rigid) = (mesh.render(&source, &t, size, &moved), render(&source, &t, size));
        let (xs, ys) = (points.iter().map(|p| p[0]), points.iter().map(|p| p[1]));
        let (x0, x1) = (xs.clone().fold(f32::MAX, f32::min), xs.fold(f32::MIN, f32::max));
        let (y0, y1) = (ys.clone().fold(f32::MAX, f32::min), ys.fold(f32::MIN, f32::max));
        let (mut changed, mut outside) = (0, 0);
        for i in 0..size[0] * size[1] {
            let [x, y] = t.apply([(i % size[0]) as f32, (i / size[0]) as f32]);
            let beyond =
                ((2.0 * x - x0 - x1) / (x1 - x0) / 2.0).powi(2) + ((2.0 * y - y0 - y1) / (y1 - y0) / 2.0).powi(2) > 1.0;
            let differs = warped[3 * i..3 * i + 3] != rigid[3 * i..3 * i + 3];
            changed += differs as usize;
            outside += (differs && beyond) as usize;
        }
        assert!(changed > 1000, "{changed} pixels changed");
        assert_eq!(outside, 0, "pixels changed beyond the anchors");
    }

    /// A dark source with a small bright anti-aliased disc of `radius` at each of `centres`.
    fn discs(centres: &[[f32; 2]], size: [usize; 2], radius: f32) -> Vec<u8> {
        let mut out = vec![0u8; size[0] * size[1] * 3];
        for c in centres {
            let (x0, y0) = ((c[0] - radius - 1.0).max(0.0) as usize, (c[1] - radius - 1.0).max(0.0) as usize);
            for y in y0..(c[1] + radius + 2.0).min(size[1] as f32) as usize {
                for x in x0..(c[0] + radius + 2.0).min(size[0] as f32) as usize {
                    // Coverage of the pixel by the disc, from 4x4 samples.
                    let hits = (0..16)
                        .filter(|k| {
                            let s =
                                [x as f32 - 0.375 + 0.25 * (k % 4) as f32, y as f32 - 0.375 + 0.25 * (k / 4) as f32];
                            (s[0] - c[0]).hypot(s[1] - c[1]) <= radius
                        })
                        .count();
                    let v = &mut out[(y * size[0] + x) * 3..][..3];
                    v.fill(v[0].max((hits * 255 / 16) as u8));
                }
            }
        }
        out
    }

    /// Intensity-weighted centroid of a packed RGB frame's red channel within `window` of `at`.
    fn blob_centre(frame: &[u8], width: usize, at: [f32; 2], window: f32) -> [f32; 2] {
        let (mut sum, mut sx, mut sy) = (0.0f32, 0.0f32, 0.0f32);
        for y in (at[1] - window).ceil() as usize..=(at[1] + window).floor() as usize {
            for x in (at[0] - window).ceil() as usize..=(at[0] + window).floor() as usize {
                let v = frame[(y * width + x) * 3] as f32;
                (sum, sx, sy) = (sum + v, sx + v * x as f32, sy + v * y as f32);
            }
        }
        [sx / sum, sy / sum]
    }

    /// Whether `set[i]` is farther than `min` from every other point of `set`.
    fn alone(set: &[[f32; 2]], i: usize, min: f32) -> bool {
        set.iter().enumerate().all(|(k, q)| k == i || (q[0] - set[i][0]).hypot(q[1] - set[i][1]) > min)
    }

    /// takeo's points scaled to 120 px between the eyes in a 300x300 source; the same moved by
    /// mouth open, smile and brow raise at weight 1; the view, turned by 0.2 rad.
    fn big_face() -> (Vec<[f32; 2]>, Vec<[f32; 2]>, Similarity) {
        let takeo = takeo_points();
        let zoom = 120.0 / steadyface::metrics::inter_ocular(&takeo);
        let mean = steadyface::geometry::centroid(&takeo);
        let points: Vec<[f32; 2]> =
            takeo.iter().map(|p| [150.0 + (p[0] - mean[0]) * zoom, 130.0 + (p[1] - mean[1]) * zoom]).collect();
        let moved = Units::new(&points).deform([0.0, 1.0, 1.0, 1.0]);
        (points, moved, view([150.0, 150.0], [360, 360], 1.0, 0.2))
    }

    /// The frame of [`big_face`] rendered from a source of discs at `centres`.
    fn render_discs(points: &[[f32; 2]], moved: &[[f32; 2]], t: &Similarity, centres: &[[f32; 2]], r: f32) -> Vec<u8> {
        let pixels = discs(centres, [300, 300], r);
        let source = Frame::rgb(&pixels, 300, 300).unwrap();
        Mesh::new(points).render(&source, t, [360, 360], moved)
    }

    #[test]
    fn discs_inside_the_triangles_land_where_the_moved_triangles_put_them() {
        // A disc inside a triangle is mapped by one affine map, which keeps centroids: the blob
        // lies at the centroid of the moved triangle's corners, the mean of three moved points.
        let (points, moved, t) = big_face();
        let mesh = Mesh::new(&points);
        let to_frame = t.inverse();
        let mean = |p: &[[f32; 2]], tri: &[usize; 3]| {
            tri.iter().fold([0.0, 0.0], |m, &k| [m[0] + p[k][0] / 3.0, m[1] + p[k][1] / 3.0])
        };
        // Face triangles that moved, with room for a disc of radius 1.5 around their centroid.
        let tris: Vec<[usize; 3]> = mesh
            .triangles()
            .iter()
            .copied()
            .filter(|tri| tri.iter().all(|&k| k < 68) && tri.iter().any(|&k| moved[k] != points[k]))
            .filter(|tri| [&points, &moved].iter().all(|p| inradius(tri.map(|k| p[k])) > 4.0))
            .collect();
        let centres: Vec<[f32; 2]> = tris.iter().map(|tri| mean(&points, tri)).collect();
        let want: Vec<[f32; 2]> = tris.iter().map(|tri| to_frame.apply(mean(&moved, tri))).collect();
        let frame = render_discs(&points, &moved, &t, &centres, 1.5);
        let checked: Vec<usize> =
            (0..tris.len()).filter(|&i| alone(&centres, i, 9.0) && alone(&want, i, 9.0)).collect();
        assert!(checked.len() >= 15, "{} of {} triangles checked", checked.len(), tris.len());
        for i in checked {
            let got = blob_centre(&frame, 360, want[i], 4.0);
            let err = (got[0] - want[i][0]).hypot(got[1] - want[i][1]);
            assert!(err < 0.25, "triangle {:?}: blob at {got:?}, want {:?} ({err} px)", tris[i], want[i]);
        }
    }

    /// Radius of the circle inscribed in a triangle: twice its area over its perimeter.
    fn inradius(t: [[f32; 2]; 3]) -> f32 {
        let area = ((t[1][0] - t[0][0]) * (t[2][1] - t[0][1]) - (t[1][1] - t[0][1]) * (t[2][0] - t[0][0])).abs();
        let side = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).hypot(a[1] - b[1]);
        area / (side(t[0], t[1]) + side(t[1], t[2]) + side(t[2], t[0]))
    }

    #[test]
    fn discs_at_the_neutral_points_land_on_the_moved_points() {
        let (points, moved, t) = big_face();
        let frame = render_discs(&points, &moved, &t, &points, 1.0);
        let to_frame = t.inverse();
        let want: Vec<[f32; 2]> = moved.iter().map(|&p| to_frame.apply(p)).collect();
        // Points whose disc is alone in its window, before and after the move (most of the lips
        // are too close to each other at this scale); the eyes are left out, they do not move.
        let checked: Vec<usize> =
            (0..68).filter(|&i| !(36..48).contains(&i) && alone(&points, i, 8.0) && alone(&want, i, 10.0)).collect();
        let mouth = checked.iter().filter(|&&i| i >= 48).count();
        assert!(checked.contains(&8) && (17..=26).all(|i| checked.contains(&i)) && mouth >= 3, "{checked:?}");
        // A disc around a point straddles the triangles meeting there, each with its own affine
        // map, so the blob is not symmetric about the point: raised brows stretch the skin below
        // them 1.6 times and compress the forehead to 0.85, which moves the centroid of a blob of
        // radius ~1.5 px (disc and bilinear spread) by ~0.5 px; a mouth corner pulled between
        // still cheeks and half-moved lips, more. The points that move little are exact.
        let mut total = 0.0;
        for &i in &checked {
            let got = blob_centre(&frame, 360, want[i], 4.0);
            let err = (got[0] - want[i][0]).hypot(got[1] - want[i][1]);
            let bound = if (17..=26).contains(&i) || i >= 48 { 1.5 } else { 0.5 };
            assert!(err < bound, "point {i}: disc at {got:?}, moved point at {:?} ({err} px)", want[i]);
            total += err;
        }
        assert!(total / (checked.len() as f32) < 0.35, "mean error {}", total / checked.len() as f32);
        // The moves are large enough to matter: the chin went down by 0.35 * 120 px.
        let chin = to_frame.apply(points[8]);
        assert!((want[8][0] - chin[0]).hypot(want[8][1] - chin[1]) > 40.0);
    }
}
