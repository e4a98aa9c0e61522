//! A borrowed view of one video frame in any of the raw layouts the element accepts, with
//! bilinear RGB sampling so every stage can read it without a format conversion pass.

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Rgb,
    Bgr,
    Rgba,
    Bgra,
    Rgbx,
    Bgrx,
    Gray8,
    /// Planar Y, U, V (U and V at half width and height).
    I420,
    /// Y plane, then interleaved UV at half width and height.
    Nv12,
}

impl PixelFormat {
    /// Bytes per pixel of the first plane and the byte offsets of R, G, B within a pixel.
    fn packed_layout(self) -> Option<(usize, [usize; 3])> {
        match self {
            PixelFormat::Rgb => Some((3, [0, 1, 2])),
            PixelFormat::Bgr => Some((3, [2, 1, 0])),
            PixelFormat::Rgba | PixelFormat::Rgbx => Some((4, [0, 1, 2])),
            PixelFormat::Bgra | PixelFormat::Bgrx => Some((4, [2, 1, 0])),
            PixelFormat::Gray8 => Some((1, [0, 0, 0])),
            PixelFormat::I420 | PixelFormat::Nv12 => None,
        }
    }

    fn plane_count(self) -> usize {
        match self {
            PixelFormat::I420 => 3,
            PixelFormat::Nv12 => 2,
            _ => 1,
        }
    }
}

/// One frame: up to three planes with their strides (bytes per row).
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    format: PixelFormat,
    width: usize,
    height: usize,
    planes: [&'a [u8]; 3],
    strides: [usize; 3],
}

/// A frame that owns its planes (see [`Frame::to_owned_frame`]).
pub struct OwnedFrame {
    format: PixelFormat,
    width: usize,
    height: usize,
    planes: [Vec<u8>; 3],
    strides: [usize; 3],
}

impl OwnedFrame {
    pub fn frame(&self) -> Frame<'_> {
        let [a, b, c] = &self.planes;
        Frame { format: self.format, width: self.width, height: self.height, planes: [a, b, c], strides: self.strides }
    }
}

impl<'a> Frame<'a> {
    /// Checks that every plane holds `stride * rows` bytes (the last row may be short of padding).
    pub fn new(
        format: PixelFormat,
        width: usize,
        height: usize,
        planes: &[&'a [u8]],
        strides: &[usize],
    ) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(Error::Frame(format!("frame is {width}x{height}")));
        }
        let n = format.plane_count();
        if planes.len() < n || strides.len() < n {
            return Err(Error::Frame(format!("{format:?} needs {n} planes, got {}", planes.len())));
        }
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        let row_bytes: [(usize, usize); 3] = match format {
            PixelFormat::I420 => [(width, height), (cw, ch), (cw, ch)],
            PixelFormat::Nv12 => [(width, height), (2 * cw, ch), (0, 0)],
            f => [(width * f.packed_layout().map_or(1, |l| l.0), height), (0, 0), (0, 0)],
        };
        let mut p: [&[u8]; 3] = [&[], &[], &[]];
        let mut s = [0usize; 3];
        for i in 0..n {
            let (row, rows) = row_bytes[i];
            let need = strides[i] * (rows - 1) + row;
            if strides[i] < row || planes[i].len() < need {
                return Err(Error::Frame(format!(
                    "plane {i} of a {width}x{height} {format:?} frame: stride {} and {} bytes, need stride >= {row} and {need} bytes",
                    strides[i],
                    planes[i].len()
                )));
            }
            p[i] = planes[i];
            s[i] = strides[i];
        }
        Ok(Frame { format, width, height, planes: p, strides: s })
    }

    /// A copy of the planes that outlives the buffer (for work on another thread).
    pub fn to_owned_frame(&self) -> OwnedFrame {
        OwnedFrame {
            format: self.format,
            width: self.width,
            height: self.height,
            planes: self.planes.map(<[u8]>::to_vec),
            strides: self.strides,
        }
    }

    /// A tightly packed RGB frame.
    pub fn rgb(data: &'a [u8], width: usize, height: usize) -> Result<Self> {
        Frame::new(PixelFormat::Rgb, width, height, &[data], &[width * 3])
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// RGB of the pixel at integer coordinates (which must be inside the frame), 0..255.
    pub fn pixel(&self, x: usize, y: usize) -> [f32; 3] {
        struct At(usize, usize);
        impl FrameVisitor for At {
            type Output = [f32; 3];
            fn visit<S: PixelSource>(self, src: &S) -> [f32; 3] {
                src.rgb(self.0, self.1)
            }
        }
        self.visit(At(x, y))
    }

    /// Bilinear RGB at a sub-pixel position (pixel centres at integers); outside the frame the
    /// border pixels repeat.
    pub fn sample(&self, x: f32, y: f32) -> [f32; 3] {
        struct Sample(f32, f32);
        impl FrameVisitor for Sample {
            type Output = [f32; 3];
            fn visit<S: PixelSource>(self, src: &S) -> [f32; 3] {
                src.sample(self.0, self.1)
            }
        }
        self.visit(Sample(x, y))
    }

    /// Calls `visitor` with a reader specialised for this frame's layout, so that a loop over
    /// many pixels is compiled once per layout instead of deciding the layout at every pixel.
    pub fn visit<V: FrameVisitor>(&self, visitor: V) -> V::Output {
        let (w, h) = (self.width, self.height);
        let [p0, p1, p2] = self.planes;
        let [s0, s1, s2] = self.strides;
        match self.format {
            PixelFormat::Rgb => visitor.visit(&Packed::<3, 0, 1, 2> { data: p0, stride: s0, w, h }),
            PixelFormat::Bgr => visitor.visit(&Packed::<3, 2, 1, 0> { data: p0, stride: s0, w, h }),
            PixelFormat::Rgba | PixelFormat::Rgbx => {
                visitor.visit(&Packed::<4, 0, 1, 2> { data: p0, stride: s0, w, h })
            }
            PixelFormat::Bgra | PixelFormat::Bgrx => {
                visitor.visit(&Packed::<4, 2, 1, 0> { data: p0, stride: s0, w, h })
            }
            PixelFormat::Gray8 => visitor.visit(&Packed::<1, 0, 0, 0> { data: p0, stride: s0, w, h }),
            PixelFormat::I420 => {
                visitor.visit(&Yuv420 { luma: (p0, s0), u: (p1, s1), v: (p2, s2), chroma_step: 1, w, h })
            }
            PixelFormat::Nv12 => visitor.visit(&Yuv420 {
                luma: (p0, s0),
                u: (p1, s1),
                v: (&p1[1.min(p1.len())..], s1),
                chroma_step: 2,
                w,
                h,
            }),
        }
    }
}

/// Work done over a frame's pixels, given a reader specialised for the frame's layout.
pub trait FrameVisitor {
    type Output;
    fn visit<S: PixelSource>(self, src: &S) -> Self::Output;
}

/// A crop pixel's sums of fixed-point RGB taps: red, green, blue, and a fourth lane that stays 0
/// and pads them to 16 bytes, so that the vector path adds a tap with one load and one store
/// (three lanes extracted and added one by one were a third of its time; a 16-byte update of
/// 12-byte sums overlapped the next tap's and stalled).
pub type TapSums = [u32; 4];

/// RGB reads from one pixel layout. Positions are checked against the frame size by `Frame::new`.
pub trait PixelSource {
    fn size(&self) -> (usize, usize);

    /// RGB (0..255) of the pixel at integer coordinates inside the frame.
    fn rgb(&self, x: usize, y: usize) -> [f32; 3];

    /// The same as integers, for fixed-point resampling.
    fn texel(&self, x: usize, y: usize) -> [u32; 3];

    /// Fixed-point bilinear RGB between pixels (x0, y0) and (x0 + 1, y0 + 1), which must both be
    /// inside the frame, with weights `fx`, `fy` in 0..=256: the result is 65536 times the value.
    #[inline(always)]
    fn bilinear(&self, x0: usize, y0: usize, fx: u32, fy: u32) -> [u32; 3] {
        let w = [(256 - fx) * (256 - fy), fx * (256 - fy), (256 - fx) * fy, fx * fy];
        let t = [self.texel(x0, y0), self.texel(x0 + 1, y0), self.texel(x0, y0 + 1), self.texel(x0 + 1, y0 + 1)];
        std::array::from_fn(|k| t[0][k] * w[0] + t[1][k] * w[1] + t[2][k] * w[2] + t[3][k] * w[3])
    }

    /// Adds to `acc[i]` the fixed-point bilinear RGB ([`PixelSource::bilinear`]) of pixels
    /// (`x0[i]`, `y0[i]`) to (`x0[i] + 1`, `y0[i] + 1`) with weights `fx[i]`, `fy[i]`, for every
    /// tap of a row.
    #[inline(always)]
    fn add_bilinear_row(&self, x0: &[i32], fx: &[i32], y0: &[i32], fy: &[i32], acc: &mut [TapSums]) {
        add_bilinear_row_scalar(self, x0, fx, y0, fy, acc);
    }

    /// Asks the CPU to fetch the pixel at (x, y) into its caches ahead of its use; nothing when
    /// it is outside the frame or the layout has no such hint.
    #[inline(always)]
    fn prefetch(&self, _x: usize, _y: usize) {}

    /// [`PixelSource::sample`] at a point.
    #[inline(always)]
    fn sample_at(&self, [x, y]: [f32; 2]) -> [f32; 3] {
        self.sample(x, y)
    }

    /// The nearest position inside the frame (pixel centres at integers); a non-finite
    /// coordinate becomes 0.
    #[inline(always)]
    fn clamp(&self, [x, y]: [f32; 2]) -> [f32; 2] {
        let (w, h) = self.size();
        let x = if x.is_finite() { x.clamp(0.0, (w - 1) as f32) } else { 0.0 };
        let y = if y.is_finite() { y.clamp(0.0, (h - 1) as f32) } else { 0.0 };
        [x, y]
    }

    /// Bilinear RGB at a sub-pixel position (pixel centres at integers); outside the frame the
    /// border pixels repeat, and a non-finite position reads the top-left pixel.
    #[inline(always)]
    fn sample(&self, x: f32, y: f32) -> [f32; 3] {
        let (w, h) = self.size();
        let [x, y] = self.clamp([x, y]);
        let (x0, y0) = (x as usize, y as usize);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let (a, b, c, d) = (self.rgb(x0, y0), self.rgb(x1, y0), self.rgb(x0, y1), self.rgb(x1, y1));
        std::array::from_fn(|k| {
            let top = a[k] + (b[k] - a[k]) * fx;
            let bottom = c[k] + (d[k] - c[k]) * fx;
            top + (bottom - top) * fy
        })
    }
}

/// [`PixelSource::add_bilinear_row`] one tap at a time.
#[inline(always)]
fn add_bilinear_row_scalar<S: PixelSource + ?Sized>(
    src: &S,
    x0: &[i32],
    fx: &[i32],
    y0: &[i32],
    fy: &[i32],
    acc: &mut [TapSums],
) {
    for ((acc, (&x0, &fx)), (&y0, &fy)) in acc.iter_mut().zip(x0.iter().zip(fx)).zip(y0.iter().zip(fy)) {
        add_tap(src, x0 as usize, y0 as usize, fx, fy, acc);
    }
}

/// Adds one tap's fixed-point bilinear RGB ([`PixelSource::bilinear`]) to its sums.
#[inline(always)]
fn add_tap<S: PixelSource + ?Sized>(src: &S, x: usize, y: usize, fx: i32, fy: i32, acc: &mut TapSums) {
    let rgb = src.bilinear(x, y, fx as u32, fy as u32);
    for k in 0..3 {
        acc[k] += rgb[k];
    }
}

/// Interleaved 8-bit pixels of `BPP` bytes with R, G, B at the given byte offsets.
struct Packed<'a, const BPP: usize, const R: usize, const G: usize, const B: usize> {
    data: &'a [u8],
    stride: usize,
    w: usize,
    h: usize,
}

impl<const BPP: usize, const R: usize, const G: usize, const B: usize> PixelSource for Packed<'_, BPP, R, G, B> {
    #[inline(always)]
    fn size(&self) -> (usize, usize) {
        (self.w, self.h)
    }

    #[inline(always)]
    fn rgb(&self, x: usize, y: usize) -> [f32; 3] {
        self.texel(x, y).map(|v| v as f32)
    }

    #[inline(always)]
    fn texel(&self, x: usize, y: usize) -> [u32; 3] {
        let px = &self.data[y * self.stride + x * BPP..][..BPP];
        [px[R] as u32, px[G] as u32, px[B] as u32]
    }

    /// Reads the two pixel pairs as two slices (two bounds checks instead of eight).
    #[inline(always)]
    fn bilinear(&self, x0: usize, y0: usize, fx: u32, fy: u32) -> [u32; 3] {
        let start = y0 * self.stride + x0 * BPP;
        let top = &self.data[start..start + 2 * BPP];
        let bottom = &self.data[start + self.stride..start + self.stride + 2 * BPP];
        let (w00, w10, w01, w11) = ((256 - fx) * (256 - fy), fx * (256 - fy), (256 - fx) * fy, fx * fy);
        let at = |c: usize| {
            top[c] as u32 * w00 + top[BPP + c] as u32 * w10 + bottom[c] as u32 * w01 + bottom[BPP + c] as u32 * w11
        };
        [at(R), at(G), at(B)]
    }

    #[inline(always)]
    fn prefetch(&self, x: usize, y: usize) {
        #[cfg(target_arch = "x86_64")]
        if x < self.w && y < self.h {
            let at = y * self.stride + x * BPP;
            // SAFETY: `at` is inside `data` (x, y inside the frame, checked by `Frame::new`); a
            // prefetch reads nothing.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(self.data.as_ptr().add(at).cast())
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (x, y);
    }

    /// With AVX2 (the crop's taps are most of its time, and the crop a fifth of a tracked
    /// frame's CPU): see [`packed_bilinear_row_avx2`].
    #[inline(always)]
    fn add_bilinear_row(&self, x0: &[i32], fx: &[i32], y0: &[i32], fy: &[i32], acc: &mut [TapSums]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { packed_bilinear_row_avx2(self, x0, fx, y0, fy, acc) };
        }
        add_bilinear_row_scalar(self, x0, fx, y0, fy, acc);
    }
}

/// [`PixelSource::add_bilinear_row`] for interleaved pixels, a tap at a time in vector
/// registers: the two pixels of the tap's top row and of its bottom row are read 8 bytes at a
/// time, their channels paired (first pixel's, second pixel's) and weighted horizontally with
/// one multiply-add per row, then the rows blended as `256 * top + fy * (bottom - top)`. That
/// is the scalar path's four-weight sum rearranged in exact integer arithmetic, so the result is
/// the same to the bit. A tap whose 8-byte reads would pass the end of the plane takes the scalar
/// path.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn packed_bilinear_row_avx2<const BPP: usize, const R: usize, const G: usize, const B: usize>(
    src: &Packed<'_, BPP, R, G, B>,
    x0: &[i32],
    fx: &[i32],
    y0: &[i32],
    fy: &[i32],
    acc: &mut [TapSums],
) {
    use std::arch::x86_64::*;
    // Byte shuffle: each 128-bit half (top row, bottom row) becomes 16-bit R0 R1 G0 G1 B0 B1 0 0
    // (an index with its top bit set writes 0), so the fourth 32-bit sum is always 0.
    const Z: i8 = -128;
    let [r0, g0, b0] = [R, G, B].map(|c| c as i8);
    let [r1, g1, b1] = [R, G, B].map(|c| (BPP + c) as i8);
    #[rustfmt::skip]
    let pick = _mm256_setr_epi8(
        r0, Z, r1, Z, g0, Z, g1, Z, b0, Z, b1, Z, Z, Z, Z, Z,
        r0, Z, r1, Z, g0, Z, g1, Z, b0, Z, b1, Z, Z, Z, Z, Z,
    );
    let (data, stride) = (src.data, src.stride);
    let n = acc.len().min(x0.len()).min(fx.len()).min(y0.len()).min(fy.len());
    for i in 0..n {
        let (x, y, wx, wy) = (x0[i] as usize, y0[i] as usize, fx[i], fy[i]);
        // (Wrapping arithmetic: whatever it gives, nothing outside `data` is read below.)
        let start = y.wrapping_mul(stride).wrapping_add(x.wrapping_mul(BPP));
        let fits = start.checked_add(stride + 8).is_some_and(|end| end <= data.len());
        if !fits {
            add_tap(src, x, y, wx, wy, &mut acc[i]);
            continue;
        }
        // SAFETY: bytes start..start + 8 and start + stride..start + stride + 8 are inside
        // `data` (checked above).
        let (top, bottom) = unsafe {
            let p = data.as_ptr().add(start);
            (_mm_loadl_epi64(p.cast()), _mm_loadl_epi64(p.add(stride).cast()))
        };
        let pairs = _mm256_shuffle_epi8(_mm256_set_m128i(bottom, top), pick);
        // 16-bit weights (256 - fx, fx) against each pair: one row's channel, at most 255 * 256.
        let rows = _mm256_madd_epi16(pairs, _mm256_set1_epi32((wx << 16) | (256 - wx)));
        let (t, b) = (_mm256_castsi256_si128(rows), _mm256_extracti128_si256::<1>(rows));
        let blended = _mm_add_epi32(_mm_slli_epi32::<8>(t), _mm_mullo_epi32(_mm_sub_epi32(b, t), _mm_set1_epi32(wy)));
        // One 16-byte update of the padded sums (the fourth lane adds 0).
        let sums = acc[i].as_mut_ptr().cast::<__m128i>();
        // SAFETY: `acc[i]` is 16 bytes.
        unsafe { _mm_storeu_si128(sums, _mm_add_epi32(_mm_loadu_si128(sums), blended)) };
    }
}

/// 4:2:0 YUV: a full-size luma plane and half-size chroma, planar (I420, step 1) or interleaved
/// (NV12, step 2, with `v` starting one byte after `u`).
struct Yuv420<'a> {
    luma: (&'a [u8], usize),
    u: (&'a [u8], usize),
    v: (&'a [u8], usize),
    chroma_step: usize,
    w: usize,
    h: usize,
}

impl PixelSource for Yuv420<'_> {
    #[inline(always)]
    fn size(&self) -> (usize, usize) {
        (self.w, self.h)
    }

    #[inline(always)]
    fn rgb(&self, x: usize, y: usize) -> [f32; 3] {
        let luma = self.luma.0[y * self.luma.1 + x] as f32;
        let (cx, cy) = ((x / 2) * self.chroma_step, y / 2);
        let u = self.u.0[cy * self.u.1 + cx] as f32;
        let v = self.v.0[cy * self.v.1 + cx] as f32;
        yuv_to_rgb(luma, u, v)
    }

    #[inline(always)]
    fn texel(&self, x: usize, y: usize) -> [u32; 3] {
        self.rgb(x, y).map(|v| (v + 0.5) as u32)
    }
}

/// BT.601 limited range, what decoders and cameras produce for SD/HD content by default.
#[inline]
fn yuv_to_rgb(y: f32, u: f32, v: f32) -> [f32; 3] {
    let c = 1.164_383 * (y - 16.0);
    let (d, e) = (u - 128.0, v - 128.0);
    [
        (c + 1.596_027 * e).clamp(0.0, 255.0),
        (c - 0.391_762 * d - 0.812_968 * e).clamp(0.0, 255.0),
        (c + 2.017_232 * d).clamp(0.0, 255.0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_short_planes_and_zero_sizes() {
        let data = vec![0u8; 10];
        assert!(Frame::rgb(&data, 0, 5).is_err());
        assert!(Frame::rgb(&data, 4, 4).is_err());
        assert!(Frame::new(PixelFormat::I420, 2, 2, &[&data], &[2]).is_err());
    }

    #[test]
    fn formats_agree_on_a_pixel() {
        // A 2x2 frame with a padded stride: pixel (1,1) is (10, 20, 30).
        let mut rgb = vec![0u8; 2 * 8];
        rgb[8 + 3..8 + 6].copy_from_slice(&[10, 20, 30]);
        let f = Frame::new(PixelFormat::Rgb, 2, 2, &[&rgb], &[8]).unwrap();
        assert_eq!(f.pixel(1, 1), [10.0, 20.0, 30.0]);
        let mut bgrx = vec![0u8; 2 * 8];
        bgrx[8 + 4..8 + 8].copy_from_slice(&[30, 20, 10, 255]);
        let f = Frame::new(PixelFormat::Bgrx, 2, 2, &[&bgrx], &[8]).unwrap();
        assert_eq!(f.pixel(1, 1), [10.0, 20.0, 30.0]);
    }

    /// The vector path of a row of taps (on a CPU with AVX2) adds exactly what the scalar path
    /// does, for 3- and 4-byte pixels, up to the plane's last pixel (where it falls back).
    #[test]
    fn a_row_of_taps_adds_what_one_tap_at_a_time_adds() {
        let (w, h) = (23, 7);
        let bytes: Vec<u8> = (0..h * (w * 4 + 1)).map(|i| (i * 97 + i / 7) as u8).collect();
        // Every top-left pixel of a 2x2 neighbourhood, weights across 0..=256 (both ends).
        let (mut x0, mut fx, mut y0, mut fy) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (n, (x, y)) in (0..h - 1).flat_map(|y| (0..w - 1).map(move |x| (x, y))).enumerate() {
            x0.push(x as i32);
            y0.push(y as i32);
            fx.push((n * 37 % 257) as i32);
            fy.push((n * 53 % 257) as i32);
        }
        let rows = |src: &dyn Fn(&mut [TapSums], bool)| {
            let mut fast = vec![[7u32, 7, 7, 0]; x0.len()];
            let mut slow = fast.clone();
            src(&mut fast, true);
            src(&mut slow, false);
            assert_eq!(fast, slow);
        };
        let rgb = Packed::<3, 0, 1, 2> { data: &bytes[..h * (w * 3 + 1) - 1], stride: w * 3 + 1, w, h };
        rows(&|acc, fast| {
            if fast {
                rgb.add_bilinear_row(&x0, &fx, &y0, &fy, acc)
            } else {
                add_bilinear_row_scalar(&rgb, &x0, &fx, &y0, &fy, acc)
            }
        });
        let bgrx = Packed::<4, 2, 1, 0> { data: &bytes[..h * w * 4], stride: w * 4, w, h };
        rows(&|acc, fast| {
            if fast {
                bgrx.add_bilinear_row(&x0, &fx, &y0, &fy, acc)
            } else {
                add_bilinear_row_scalar(&bgrx, &x0, &fx, &y0, &fy, acc)
            }
        });
    }

    #[test]
    fn yuv_grey_and_bilinear_midpoint() {
        // Y=16 is black, Y=235 white in limited range; U=V=128 is grey.
        let y = [16u8, 235, 16, 235];
        let (u, v) = ([128u8], [128u8]);
        let f = Frame::new(PixelFormat::I420, 2, 2, &[&y, &u, &v], &[2, 1, 1]).unwrap();
        assert!((f.pixel(1, 0)[0] - 255.0).abs() < 0.5);
        assert!((f.sample(0.5, 0.0)[1] - 127.5).abs() < 0.5);
        let uv = [128u8, 128];
        let f = Frame::new(PixelFormat::Nv12, 2, 2, &[&y, &uv], &[2, 2]).unwrap();
        assert!(f.pixel(0, 0)[2].abs() < 0.5);
    }
}
