//! `steadyface_train::video::frames`: decoding files through GStreamer and reading numbered frames.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::{scratch, testdata};
use gst_video::VideoFormat;
use steadyface_train::video::{RawFrame, frames, raw_frames};

#[test]
fn a_video_file_decodes_to_all_its_frames_in_order() {
    let decoded: Vec<_> = frames(&testdata("single_face.mp4")).unwrap().collect::<Result<_, _>>().unwrap();
    // 640x360, 30 fps, 72 frames (testdata/PROVENANCE.md).
    assert_eq!(decoded.len(), 72);
    for (i, f) in decoded.iter().enumerate() {
        assert_eq!((f.index, f.width, f.height, f.rgb.len()), (i, 640, 360, 640 * 360 * 3));
    }
    let step = decoded[1].time_s - decoded[0].time_s;
    assert!((step - 1.0 / 30.0).abs() < 1e-6, "frame step {step}");
}

#[test]
fn decoded_pixels_match_an_independent_decoder_with_row_padding() {
    // A 161-pixel-wide PNG: GStreamer pads its RGB rows to 484 bytes, frames() must unpad them.
    // The `image` crate decodes the same lossless file independently.
    let dir = scratch("video-png");
    let (w, h) = (161u32, 37u32);
    let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
    let png = dir.join("odd.png");
    image::save_buffer(&png, &rgb, w, h, image::ExtendedColorType::Rgb8).unwrap();
    let decoded: Vec<_> = frames(&png).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(decoded.len(), 1);
    assert_eq!((decoded[0].width, decoded[0].height), (161, 37));
    assert!(decoded[0].rgb == rgb, "pixels differ from the PNG's");

    // The same file as frame 0 of a numbered directory (with a stray file that is skipped).
    let seq = dir.join("seq");
    std::fs::create_dir_all(&seq).unwrap();
    std::fs::copy(&png, seq.join("000000.png")).unwrap();
    std::fs::copy(&png, seq.join("000001.png")).unwrap();
    std::fs::write(seq.join("gt.jsonl"), "").unwrap();
    let listed: Vec<_> = frames(&seq).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed[1].rgb == rgb && listed[1].index == 1 && (listed[1].time_s - 1.0 / 30.0).abs() < 1e-9);

    // Unpacked (what `track` pushes into the element): BGRx rows decoded, the directory's RGB
    // image as it was read, each at GStreamer's stride.
    for (path, format, pixel, stride) in [(&png, VideoFormat::Bgrx, 4, 644), (&seq, VideoFormat::Rgb, 3, 484)] {
        let raw: Vec<RawFrame> = raw_frames(path).unwrap().collect::<Result<_, _>>().unwrap();
        let info = &raw[0].info;
        assert_eq!((info.format(), info.width(), info.height(), info.stride()[0]), (format, 161, 37, stride));
        let map = raw[0].buffer.map_readable().unwrap();
        let order = if format == VideoFormat::Bgrx { [2, 1, 0] } else { [0, 1, 2] };
        let rows = map.chunks(stride as usize).flat_map(|row| row[..161 * pixel].chunks(pixel));
        let unpacked: Vec<u8> = rows.flat_map(|p| order.map(|c| p[c])).collect();
        assert!(unpacked == rgb, "{}: pixels differ from the PNG's", path.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Files 8, 9, 11, 12 are frames 8, 9, 11, 12 (not 0-3), timed by their numbers; two files with
/// one number are refused.
#[test]
fn numbered_frames_keep_their_numbers_through_gaps() {
    let dir = scratch("video-gaps");
    let rgb: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 11 % 256) as u8).collect();
    for n in [8, 9, 11, 12] {
        image::save_buffer(dir.join(format!("{n:06}.png")), &rgb, 4, 3, image::ExtendedColorType::Rgb8).unwrap();
    }
    let listed: Vec<_> = frames(&dir).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(listed.iter().map(|f| f.index).collect::<Vec<_>>(), [8, 9, 11, 12]);
    assert!((listed[2].time_s - 11.0 / 30.0).abs() < 1e-9);
    assert_eq!(steadyface_train::video::frame_numbers(&dir).unwrap(), [8, 9, 11, 12]);
    std::fs::copy(dir.join("000009.png"), dir.join("9.png")).unwrap();
    let err = frames(&dir).err().expect("two frames 9").to_string();
    assert!(err.contains("000009.png") && err.contains("9.png") && err.contains("both frame 9"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_paths_and_files_are_named_in_the_error() {
    let dir = scratch("video-bad");
    let missing = dir.join("nope.mp4");
    let err = frames(&missing).err().expect("missing file fails").to_string();
    assert!(err.contains(&*missing.to_string_lossy()) && err.contains("no such"), "{err}");
    let junk = dir.join("junk.mp4");
    std::fs::write(&junk, [0u8, 1, 2, 3].repeat(1000)).unwrap();
    let err = match frames(&junk) {
        Err(e) => e.to_string(),
        Ok(mut it) => it.find_map(Result::err).expect("junk fails").to_string(),
    };
    assert!(err.contains(&*junk.to_string_lossy()) && err.contains("cannot be decoded"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
