//! Mapping GStreamer video frames onto the core library's frame views.

use gst_video::VideoFormat;
use gst_video::prelude::*;
use steadyface::draw::Canvas;
use steadyface::frame::{Frame, PixelFormat};

/// Raw formats both elements accept, in caps order (the preferred first).
pub const FORMATS: &[VideoFormat] = &[
    VideoFormat::Rgb,
    VideoFormat::Bgr,
    VideoFormat::Rgba,
    VideoFormat::Bgra,
    VideoFormat::Rgbx,
    VideoFormat::Bgrx,
    VideoFormat::I420,
    VideoFormat::Nv12,
    VideoFormat::Gray8,
];

fn caps() -> gst::Caps {
    gst_video::VideoCapsBuilder::new().format_list(FORMATS.iter().copied()).build()
}

/// Always-present src and sink pads with the same raw video caps (both elements work in place).
pub fn pad_templates() -> Vec<gst::PadTemplate> {
    let caps = caps();
    [("src", gst::PadDirection::Src), ("sink", gst::PadDirection::Sink)]
        .into_iter()
        .map(|(name, dir)| gst::PadTemplate::new(name, dir, gst::PadPresence::Always, &caps).expect("valid template"))
        .collect()
}

fn pixel_format(f: VideoFormat) -> Option<PixelFormat> {
    Some(match f {
        VideoFormat::Rgb => PixelFormat::Rgb,
        VideoFormat::Bgr => PixelFormat::Bgr,
        VideoFormat::Rgba => PixelFormat::Rgba,
        VideoFormat::Bgra => PixelFormat::Bgra,
        VideoFormat::Rgbx => PixelFormat::Rgbx,
        VideoFormat::Bgrx => PixelFormat::Bgrx,
        VideoFormat::I420 => PixelFormat::I420,
        VideoFormat::Nv12 => PixelFormat::Nv12,
        VideoFormat::Gray8 => PixelFormat::Gray8,
        _ => return None,
    })
}

fn unsupported(f: VideoFormat) -> steadyface::Error {
    steadyface::Error::Frame(format!("unsupported video format {f:?}"))
}

/// A read-only core view of a mapped frame.
pub fn frame<'a>(vf: &'a gst_video::VideoFrameRef<&gst::BufferRef>) -> steadyface::Result<Frame<'a>> {
    let format = pixel_format(vf.format()).ok_or_else(|| unsupported(vf.format()))?;
    let n = vf.n_planes();
    let planes: Vec<&[u8]> = (0..n).map(|i| vf.plane_data(i).unwrap_or(&[])).collect();
    let strides: Vec<usize> = vf.plane_stride().iter().map(|&s| s.max(0) as usize).collect();
    Frame::new(format, vf.width() as usize, vf.height() as usize, &planes, &strides)
}

/// A writable core view of a mapped frame.
pub fn canvas<'a>(vf: &'a mut gst_video::VideoFrameRef<&mut gst::BufferRef>) -> steadyface::Result<Canvas<'a>> {
    let format = pixel_format(vf.format()).ok_or_else(|| unsupported(vf.format()))?;
    let (w, h) = (vf.width() as usize, vf.height() as usize);
    let strides: Vec<usize> = vf.plane_stride().iter().map(|&s| s.max(0) as usize).collect();
    let n = vf.n_planes() as usize;
    let planes = vf.planes_data_mut().into_iter().take(n).collect();
    Canvas::new(format, w, h, planes, strides)
}
