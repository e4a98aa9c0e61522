//! Drawing landmarks onto a frame in place, for every layout `Frame` reads.

use crate::error::{Error, Result};
use crate::frame::PixelFormat;

/// A writable frame: the same planes and strides as [`crate::frame::Frame`].
pub struct Canvas<'a> {
    format: PixelFormat,
    width: usize,
    height: usize,
    planes: Vec<&'a mut [u8]>,
    strides: Vec<usize>,
}

impl<'a> Canvas<'a> {
    pub fn new(
        format: PixelFormat,
        width: usize,
        height: usize,
        planes: Vec<&'a mut [u8]>,
        strides: Vec<usize>,
    ) -> Result<Self> {
        // Reuse Frame's size checks on a read-only view of the same planes.
        {
            let views: Vec<&[u8]> = planes.iter().map(|p| &**p).collect();
            crate::frame::Frame::new(format, width, height, &views, &strides)?;
        }
        if planes.len() != strides.len() {
            return Err(Error::Frame("planes and strides differ in count".into()));
        }
        Ok(Canvas { format, width, height, planes, strides })
    }

    /// Sets one pixel (integer coordinates inside the frame) to an RGB colour.
    fn put(&mut self, x: usize, y: usize, [r, g, b]: [u8; 3]) {
        let s = &self.strides;
        match self.format {
            PixelFormat::Rgb => self.planes[0][y * s[0] + x * 3..][..3].copy_from_slice(&[r, g, b]),
            PixelFormat::Bgr => self.planes[0][y * s[0] + x * 3..][..3].copy_from_slice(&[b, g, r]),
            PixelFormat::Rgba | PixelFormat::Rgbx => {
                self.planes[0][y * s[0] + x * 4..][..3].copy_from_slice(&[r, g, b])
            }
            PixelFormat::Bgra | PixelFormat::Bgrx => {
                self.planes[0][y * s[0] + x * 4..][..3].copy_from_slice(&[b, g, r])
            }
            PixelFormat::Gray8 => self.planes[0][y * s[0] + x] = rgb_to_yuv([r, g, b])[0],
            PixelFormat::I420 | PixelFormat::Nv12 => {
                let [yy, u, v] = rgb_to_yuv([r, g, b]);
                self.planes[0][y * s[0] + x] = yy;
                // Chroma is shared by a 2x2 block; write it from the block's top-left pixel only.
                if x.is_multiple_of(2) && y.is_multiple_of(2) {
                    if self.format == PixelFormat::I420 {
                        self.planes[1][(y / 2) * s[1] + x / 2] = u;
                        self.planes[2][(y / 2) * s[2] + x / 2] = v;
                    } else {
                        let i = (y / 2) * s[1] + x;
                        self.planes[1][i] = u;
                        self.planes[1][i + 1] = v;
                    }
                }
            }
        }
    }

    /// Fills the pixels whose centres lie within `radius` of (cx, cy); clipped to the frame.
    pub fn disc(&mut self, cx: f32, cy: f32, radius: f32, color: [u8; 3]) {
        if !(cx.is_finite() && cy.is_finite() && radius.is_finite()) {
            return;
        }
        let (x0, x1) = ((cx - radius).floor().max(0.0), (cx + radius).ceil().min(self.width as f32 - 1.0));
        let (y0, y1) = ((cy - radius).floor().max(0.0), (cy + radius).ceil().min(self.height as f32 - 1.0));
        if x0 > x1 || y0 > y1 {
            return;
        }
        for y in y0 as usize..=y1 as usize {
            for x in x0 as usize..=x1 as usize {
                if (x as f32 - cx).hypot(y as f32 - cy) <= radius {
                    self.put(x, y, color);
                }
            }
        }
    }

    /// Outline of the box (x, y, w, h), `thickness` pixels wide, clipped to the frame.
    pub fn rectangle(&mut self, [x, y, w, h]: [f32; 4], thickness: usize, color: [u8; 3]) {
        if ![x, y, w, h].iter().all(|v| v.is_finite()) {
            return;
        }
        let clamp_x = |v: f32| v.round().clamp(0.0, self.width as f32 - 1.0) as usize;
        let clamp_y = |v: f32| v.round().clamp(0.0, self.height as f32 - 1.0) as usize;
        let (l, r, t, b) = (clamp_x(x), clamp_x(x + w), clamp_y(y), clamp_y(y + h));
        for k in 0..thickness {
            for xx in l..=r {
                for yy in [t + k, b.saturating_sub(k)] {
                    if yy < self.height {
                        self.put(xx, yy, color);
                    }
                }
            }
            for yy in t..=b {
                for xx in [l + k, r.saturating_sub(k)] {
                    if xx < self.width {
                        self.put(xx, yy, color);
                    }
                }
            }
        }
    }
}

/// 3x5 bitmaps of the digits 0-9, one row per entry, the high bit of 3 on the left.
const DIGITS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b001, 0b001, 0b001],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

impl Canvas<'_> {
    /// Writes the decimal `number` with its top-left corner at (x, y), each font pixel `scale`
    /// pixels square; clipped to the frame.
    pub fn number(&mut self, x: f32, y: f32, number: u64, scale: usize, color: [u8; 3]) {
        if !(x.is_finite() && y.is_finite()) || scale == 0 {
            return;
        }
        let (x0, y0) = (x.round() as i64, y.round() as i64);
        for (i, ch) in number.to_string().bytes().enumerate() {
            let glyph = DIGITS[(ch - b'0') as usize];
            let left = x0 + (i * 4 * scale) as i64;
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..3 {
                    if bits & (0b100 >> col) == 0 {
                        continue;
                    }
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let (px, py) = (left + (col * scale + dx) as i64, y0 + (row * scale + dy) as i64);
                            if px >= 0 && py >= 0 && (px as usize) < self.width && (py as usize) < self.height {
                                self.put(px as usize, py as usize, color);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// BT.601 limited range, the inverse of `Frame`'s conversion.
fn rgb_to_yuv([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (r, g, b) = (r as f32, g as f32, b as f32);
    let y = 16.0 + 0.256_788 * r + 0.504_129 * g + 0.097_906 * b;
    let u = 128.0 - 0.148_223 * r - 0.290_993 * g + 0.439_216 * b;
    let v = 128.0 + 0.439_216 * r - 0.367_788 * g - 0.071_427 * b;
    [y.round() as u8, u.round() as u8, v.round() as u8]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;

    #[test]
    fn number_draws_the_glyphs() {
        // "10" at scale 1 on an 8x5 grey frame: "1" in columns 0-2, "0" in columns 4-6.
        let mut grey = vec![0u8; 8 * 5];
        Canvas::new(PixelFormat::Gray8, 8, 5, vec![&mut grey], vec![8]).unwrap().number(
            0.0,
            0.0,
            10,
            1,
            [255, 255, 255],
        );
        let lit: Vec<String> =
            grey.chunks(8).map(|row| row.iter().map(|&v| if v > 128 { '#' } else { '.' }).collect()).collect();
        assert_eq!(lit, [".#..###.", "##..#.#.", ".#..#.#.", ".#..#.#.", "###.###."]);
    }

    #[test]
    fn disc_is_clipped_and_coloured_in_every_layout() {
        let mut rgb = vec![0u8; 4 * 4 * 3];
        let mut c = Canvas::new(PixelFormat::Rgb, 4, 4, vec![&mut rgb], vec![12]).unwrap();
        c.disc(0.0, 0.0, 1.0, [255, 0, 0]);
        // (0,0), (1,0), (0,1) are within 1 px; (1,1) is not.
        assert_eq!(&rgb[0..6], &[255, 0, 0, 255, 0, 0]);
        assert_eq!(&rgb[12..15], &[255, 0, 0]);
        assert_eq!(&rgb[15..18], &[0, 0, 0]);

        let (mut y, mut u, mut v) = (vec![16u8; 16], vec![128u8; 4], vec![128u8; 4]);
        let mut c = Canvas::new(PixelFormat::I420, 4, 4, vec![&mut y, &mut u, &mut v], vec![4, 2, 2]).unwrap();
        c.disc(2.0, 2.0, 0.5, [0, 255, 0]);
        let f = Frame::new(PixelFormat::I420, 4, 4, &[&y, &u, &v], &[4, 2, 2]).unwrap();
        let px = f.pixel(2, 2);
        assert!(px[1] > 240.0 && px[0] < 15.0 && px[2] < 15.0, "{px:?}");
    }
}
