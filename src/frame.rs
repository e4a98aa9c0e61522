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
    #[inline]
    pub fn pixel(&self, x: usize, y: usize) -> [f32; 3] {
        if let Some((bpp, [r, g, b])) = self.format.packed_layout() {
            let i = y * self.strides[0] + x * bpp;
            let px = &self.planes[0][i..i + bpp];
            return [px[r] as f32, px[g] as f32, px[b] as f32];
        }
        let luma = self.planes[0][y * self.strides[0] + x] as f32;
        let (u, v) = match self.format {
            PixelFormat::I420 => {
                (self.planes[1][(y / 2) * self.strides[1] + x / 2], self.planes[2][(y / 2) * self.strides[2] + x / 2])
            }
            _ => {
                let i = (y / 2) * self.strides[1] + (x / 2) * 2;
                (self.planes[1][i], self.planes[1][i + 1])
            }
        };
        yuv_to_rgb(luma, u as f32, v as f32)
    }

    /// Bilinear RGB at a sub-pixel position (pixel centres at integers); outside the frame the
    /// border pixels repeat.
    #[inline]
    pub fn sample(&self, x: f32, y: f32) -> [f32; 3] {
        let max_x = (self.width - 1) as f32;
        let max_y = (self.height - 1) as f32;
        let x = if x.is_finite() { x.clamp(0.0, max_x) } else { 0.0 };
        let y = if y.is_finite() { y.clamp(0.0, max_y) } else { 0.0 };
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let (a, b, c, d) = (self.pixel(x0, y0), self.pixel(x1, y0), self.pixel(x0, y1), self.pixel(x1, y1));
        std::array::from_fn(|k| {
            let top = a[k] + (b[k] - a[k]) * fx;
            let bottom = c[k] + (d[k] - c[k]) * fx;
            top + (bottom - top) * fy
        })
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
