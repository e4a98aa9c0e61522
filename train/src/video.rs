//! Decoded video frames for the tools (`track`, `eval`, training on videos): a video file any
//! installed GStreamer decoder handles (or a URI `uridecodebin` plays), or a directory of numbered
//! frames (`000000.png`, ...). Decoding goes through GStreamer (`decodebin ! videoconvert !
//! appsink`); this is no element code, just a reader.

use std::path::{Path, PathBuf};

use gst::prelude::*;
use gst_video::prelude::*;

use crate::{Error, Result};

/// One decoded frame, tightly packed RGB (`width * 3` bytes per row).
#[derive(Debug, Clone)]
pub struct VideoFrame {
    /// The frame's number: its position in a video file, the file's own number in a directory
    /// of numbered frames (so gaps and a first number other than 0 are kept).
    pub index: usize,
    pub time_s: f64,
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

/// One decoded frame as GStreamer holds it: its buffer, laid out as `info` says, and where it is
/// in the video. Handing the buffer on costs no copy of the pixels, where a [`VideoFrame`] packs
/// them into a vector of its own (`steadyface track` pushes these into the element).
#[derive(Debug, Clone)]
pub struct RawFrame {
    /// As [`VideoFrame::index`].
    pub index: usize,
    pub time_s: f64,
    pub info: gst_video::VideoInfo,
    pub buffer: gst::Buffer,
}

impl RawFrame {
    /// A packed frame in a buffer of its own, RGB rows at the stride GStreamer's RGB caps imply
    /// (each row padded to 4 bytes).
    pub fn from_packed(frame: VideoFrame) -> Result<RawFrame> {
        let fail = |e: gst::glib::BoolError| Error::Other(format!("frame {}: {e}", frame.index));
        let (width, height) = (frame.width as u32, frame.height as u32);
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, width, height).build().map_err(fail)?;
        let stride = info.stride()[0].max(0) as usize;
        let buffer = gst::Buffer::from_mut_slice(padded(frame.rgb, frame.width * 3, stride));
        Ok(RawFrame { index: frame.index, time_s: frame.time_s, info, buffer })
    }

    /// The pixels copied out, tightly packed (RGB caps only: what [`Decoder`] asks for).
    fn packed(&self, name: &str) -> Result<VideoFrame> {
        let fail = |what: &str| Error::Other(format!("{name}: frame {}: {what}", self.index));
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(&self.buffer, &self.info)
            .map_err(|e| fail(&format!("mapping the frame: {e}")))?;
        let (width, height) = (self.info.width() as usize, self.info.height() as usize);
        let stride = frame.plane_stride()[0].max(0) as usize;
        let data = frame.plane_data(0).map_err(|e| fail(&format!("mapping the frame: {e}")))?;
        let row = width * 3;
        if self.info.format() != gst_video::VideoFormat::Rgb {
            return Err(fail(&format!("{:?}, not RGB", self.info.format())));
        }
        if stride < row || data.len() < stride * (height.max(1) - 1) + row {
            return Err(fail("frame smaller than its caps say"));
        }
        let mut rgb = Vec::with_capacity(row * height);
        for y in 0..height {
            rgb.extend_from_slice(&data[y * stride..y * stride + row]);
        }
        Ok(VideoFrame { index: self.index, time_s: self.time_s, width, height, rgb })
    }
}

/// Tightly packed rows of `row` bytes laid out `stride` bytes apart.
fn padded(rgb: Vec<u8>, row: usize, stride: usize) -> Vec<u8> {
    if stride <= row {
        return rgb;
    }
    let mut out = vec![0u8; stride * (rgb.len() / row.max(1))];
    for (dst, src) in out.chunks_exact_mut(stride).zip(rgb.chunks_exact(row)) {
        dst[..row].copy_from_slice(src);
    }
    out
}

/// Frame rate assumed for numbered frames and for buffers without timestamps.
pub const DEFAULT_FPS: f64 = 30.0;

/// Frame-image extensions a frame directory may hold.
const FRAME_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "ppm"];

/// A video file any installed GStreamer decoder handles, a directory of numbered frames
/// (000000.png ...), or a URI `uridecodebin` plays (`file://`, `rtsp://`, `http://`, ...).
pub fn frames(path: &Path) -> Result<Box<dyn Iterator<Item = Result<VideoFrame>>>> {
    if path.is_dir() {
        let files = numbered_frames(path)?;
        return Ok(Box::new(files.into_iter().map(|(number, file)| read_image(number, &file))));
    }
    let decoder = Decoder::open(source(path)?, gst_video::VideoFormat::Rgb)?;
    let name = decoder.name.clone();
    // Decoding stops at the first frame that cannot be packed, as at any other error.
    let packed = decoder.map(move |raw| raw.and_then(|r| r.packed(&name)));
    Ok(Box::new(packed.scan(false, |failed, frame| {
        (!*failed).then(|| {
            *failed = frame.is_err();
            frame
        })
    })))
}

/// [`frames`] as GStreamer decodes them, without packing them: BGRx buffers from a video (the
/// element reads them as they are), a numbered frame's RGB image in a buffer of its own.
pub fn raw_frames(path: &Path) -> Result<Box<dyn Iterator<Item = Result<RawFrame>>>> {
    if path.is_dir() {
        let files = numbered_frames(path)?;
        let read = files.into_iter().map(|(number, file)| read_image(number, &file).and_then(RawFrame::from_packed));
        return Ok(Box::new(read));
    }
    // BGRx, not RGB: videoconvert makes it from the decoders' 4:2:0 for less CPU (the demo
    // video decoded and converted: 0.60 against 0.65 s), with the same values (landmarks
    // identical), and the element reads 4-byte pixels as fast as 3-byte ones.
    Ok(Box::new(Decoder::open(source(path)?, gst_video::VideoFormat::Bgrx)?))
}

/// A video file, or else a URI (checked: a file URI naming no file fails here, as a missing path
/// does, not deep in the decoder).
fn source(path: &Path) -> Result<Source<'_>> {
    if path.is_file() {
        return Ok(Source::File(path));
    }
    let Some(uri) = uri_of(path) else {
        return Err(Error::Other(format!("{}: no such video file, frame directory or URI", path.display())));
    };
    if let Ok((file, _)) = gst::glib::filename_from_uri(uri)
        && !file.is_file()
    {
        return Err(Error::Other(format!("{uri}: no such video file ({})", file.display())));
    }
    Ok(Source::Uri(uri))
}

/// `path` as a URI when it reads as one: a scheme (a letter, then letters, digits, `+`, `-` or
/// `.`) followed by `://`.
fn uri_of(path: &Path) -> Option<&str> {
    let text = path.to_str()?;
    let (scheme, _) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then_some(text)
}

/// What a [`Decoder`] reads.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// `filesrc ! decodebin`.
    File(&'a Path),
    /// `uridecodebin`.
    Uri(&'a str),
}

impl Source<'_> {
    fn name(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Uri(uri) => uri.to_string(),
        }
    }
}

/// The numbered frame files of `dir` (stem all digits, an image extension) with their numbers, in
/// numeric order; two files with the same number (`000007.png`, `7.jpg`) are an error.
pub fn numbered_frames(dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Other(format!("{}: {e}", dir.display())))?;
    let mut numbered = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::Other(format!("{}: {e}", dir.display())))?.path();
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        let number = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse::<usize>().ok());
        if let (Some(ext), Some(number)) = (ext, number)
            && FRAME_EXTENSIONS.contains(&ext.as_str())
        {
            numbered.push((number, path));
        }
    }
    if numbered.is_empty() {
        return Err(Error::Other(format!(
            "{}: no numbered frames (000000.png, 000001.png, ...) in this directory",
            dir.display()
        )));
    }
    numbered.sort();
    if let Some(pair) = numbered.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(Error::Other(format!(
            "{}: {} and {} are both frame {}",
            dir.display(),
            pair[0].1.display(),
            pair[1].1.display(),
            pair[0].0
        )));
    }
    Ok(numbered)
}

/// The frame numbers of a video file (0, 1, ..., decoding it to count them) or of a directory of
/// numbered frames (the files' numbers).
pub fn frame_numbers(path: &Path) -> Result<Vec<usize>> {
    if path.is_dir() {
        return Ok(numbered_frames(path)?.into_iter().map(|(number, _)| number).collect());
    }
    frames(path)?.map(|frame| frame.map(|f| f.index)).collect()
}

fn read_image(index: usize, file: &Path) -> Result<VideoFrame> {
    let img = image::open(file).map_err(|e| Error::Other(format!("{}: {e}", file.display())))?.to_rgb8();
    Ok(VideoFrame {
        index,
        time_s: index as f64 / DEFAULT_FPS,
        width: img.width() as usize,
        height: img.height() as usize,
        rgb: img.into_raw(),
    })
}

/// How long a failure waits for GStreamer's error message.
const ERROR_WAIT: gst::ClockTime = gst::ClockTime::from_seconds(2);

/// `filesrc ! decodebin ! videoconvert ! RGB appsink` (or `uridecodebin ! ...`), pulled one
/// frame at a time.
struct Decoder {
    /// The file or URI, for messages.
    name: String,
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    index: usize,
    done: bool,
}

impl Decoder {
    /// `source` decoded and converted to `format`.
    fn open(source: Source, format: gst_video::VideoFormat) -> Result<Self> {
        let name = source.name();
        let shown = name.clone();
        let fail = |what: &str| Error::Other(format!("{shown}: {what}"));
        gst::init().map_err(|e| fail(&format!("GStreamer could not be initialised: {e}")))?;
        let pipeline = gst::Pipeline::new();
        let make = |name: &str| {
            gst::ElementFactory::make(name)
                .build()
                .map_err(|_| fail(&format!("GStreamer element {name} is missing (install gstreamer1.0-plugins-base)")))
        };
        let building = |e: gst::glib::BoolError| fail(&format!("building the decoding pipeline: {e}"));
        let convert = make("videoconvert")?;
        let caps = gst_video::VideoCapsBuilder::new().format(format).build();
        // Without a last sample kept, a pulled buffer has no other owner and goes on (into the
        // element, for `track`) without being copied.
        let sink = gst_app::AppSink::builder().caps(&caps).sync(false).max_buffers(4).enable_last_sample(false).build();
        pipeline.add_many([&convert, sink.upcast_ref()]).map_err(building)?;
        convert.link(&sink).map_err(building)?;
        let decode = match source {
            Source::File(path) => {
                let (src, decode) = (make("filesrc")?, make("decodebin")?);
                src.set_property("location", path.to_string_lossy().to_string());
                pipeline.add_many([&src, &decode]).map_err(building)?;
                src.link(&decode).map_err(building)?;
                decode
            }
            Source::Uri(uri) => {
                let decode = make("uridecodebin")?;
                decode.set_property("uri", uri);
                pipeline.add(&decode).map_err(building)?;
                decode
            }
        };
        // decodebin's pads appear once the stream is typed; the first video one is linked.
        let convert_weak = convert.downgrade();
        decode.connect_pad_added(move |_, pad| {
            let Some(convert) = convert_weak.upgrade() else { return };
            let Some(sink_pad) = convert.static_pad("sink") else { return };
            let is_video = pad
                .current_caps()
                .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
                .unwrap_or(false);
            if is_video && !sink_pad.is_linked() {
                let _ = pad.link(&sink_pad);
            }
        });
        let decoder = Decoder { name, pipeline, sink, index: 0, done: false };
        // Prerolling surfaces undecodable files here rather than at the first frame.
        if decoder.pipeline.set_state(gst::State::Paused).is_err() {
            return Err(decoder.bus_error(ERROR_WAIT).unwrap_or_else(|| fail("could not be opened")));
        }
        let (result, _, _) = decoder.pipeline.state(gst::ClockTime::from_seconds(30));
        if result.is_err() {
            return Err(decoder.bus_error(ERROR_WAIT).unwrap_or_else(|| fail("could not be decoded")));
        }
        if let Err(e) = decoder.pipeline.set_state(gst::State::Playing) {
            return Err(decoder
                .bus_error(ERROR_WAIT)
                .unwrap_or_else(|| fail(&format!("could not start decoding: {e}"))));
        }
        Ok(decoder)
    }

    /// The first error GStreamer posted, with its message and the element that posted it,
    /// waiting up to `wait` for one (a failed state change can return before its error is
    /// posted).
    fn bus_error(&self, wait: gst::ClockTime) -> Option<Error> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.timed_pop_filtered(wait, &[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = msg.view() {
                let debug = e.debug().map(|d| format!(" ({d})")).unwrap_or_default();
                return Some(Error::Other(format!("{}: cannot be decoded: {}{debug}", self.name, e.error())));
            }
        }
        None
    }

    /// The sample's buffer and caps, numbered and timed.
    fn raw(&self, sample: &gst::Sample) -> Result<RawFrame> {
        let fail = |what: &str| Error::Other(format!("{}: frame {}: {what}", self.name, self.index));
        let caps = sample.caps().ok_or_else(|| fail("sample without caps"))?;
        let info = gst_video::VideoInfo::from_caps(caps).map_err(|e| fail(&format!("caps {caps}: {e}")))?;
        let buffer = sample.buffer_owned().ok_or_else(|| fail("sample without buffer"))?;
        let time_s = buffer.pts().map(|t| t.nseconds() as f64 / 1e9).unwrap_or(self.index as f64 / DEFAULT_FPS);
        Ok(RawFrame { index: self.index, time_s, info, buffer })
    }
}

impl Iterator for Decoder {
    type Item = Result<RawFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // Polled, so that an error upstream (which stops the stream without an end of stream)
        // is seen instead of waiting for a frame that never comes.
        loop {
            if let Some(sample) = self.sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
                let frame = self.raw(&sample);
                self.index += 1;
                self.done = frame.is_err();
                return Some(frame);
            }
            if let Some(e) = self.bus_error(gst::ClockTime::ZERO) {
                self.done = true;
                return Some(Err(e));
            }
            if self.sink.is_eos() {
                self.done = true;
                return None;
            }
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
