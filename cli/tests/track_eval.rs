//! `steadyface track` and `steadyface eval` over the real element pipeline (the program holds the
//! elements it was built with, registered statically).

#[path = "../../tests/common/mod.rs"]
mod common;
#[macro_use]
mod run;

use std::path::Path;
use std::process::Command;

use common::{scratch, testdata};
use run::{json_lines, run_err, run_ok, steadyface, synth, synth_sized};

fn points(value: &serde_json::Value) -> Vec<[f32; 2]> {
    value
        .as_array()
        .expect("points list")
        .iter()
        .map(|p| [p[0].as_f64().expect("x") as f32, p[1].as_f64().expect("y") as f32])
        .collect()
}

#[test]
fn track_single_face_writes_72_lines_of_68_points_and_an_overlay_video() {
    let dir = scratch("track-single");
    let (json, video) = (dir.join("out.jsonl"), dir.join("out.mp4"));
    let input = testdata("single_face.mp4");
    let out = steadyface(args![
        "track",
        input.as_os_str(),
        "--json",
        json.as_os_str(),
        "--overlay",
        video.as_os_str(),
        "--device",
        "cpu"
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let records = json_lines(&json);
    assert_eq!(records.len(), 72);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["frame"], i, "frames in order");
        let p = points(&r["faces"][0]["points"]);
        assert_eq!(p.len(), 68, "frame {i}");
        assert!(p.iter().all(|q| (0.0..640.0).contains(&q[0]) && (0.0..360.0).contains(&q[1])), "frame {i}: {p:?}");
    }
    // The annotated video decodes back to the same 72 frames.
    let decoded: Vec<_> = steadyface_train::video::frames(&video)
        .expect("overlay opens")
        .collect::<Result<_, _>>()
        .expect("overlay decodes");
    assert_eq!(decoded.len(), 72);
    assert_eq!((decoded[0].width, decoded[0].height), (640, 360));
    assert!(!dir.join(".out.mp4.part").exists() && !dir.join(".out.jsonl.part").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The type of `path` itself (a FIFO, a device, or a file put in its place).
fn file_type(path: &Path) -> std::fs::FileType {
    std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).file_type()
}

/// `--json` into a FIFO reaches its reader whole, and `--json` and `--overlay` into a character
/// device (both made in the test's folder, never the system's /dev) leave the device in place:
/// special files are written straight through, not replaced by a renamed file.
#[test]
fn track_writes_into_a_fifo_and_a_device_without_replacing_them() {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let dir = scratch("track-special");
    let fifo = dir.join("landmarks.pipe");
    assert!(Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()), "mkfifo");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = fifo.clone();
    std::thread::spawn(move || tx.send(std::fs::read_to_string(&reader)));
    let input = testdata("single_face.mp4");
    let out = steadyface(args!["track", input.as_os_str(), "--json", fifo.as_os_str(), "--device", "cpu"]);
    if !out.status.success() {
        // Release the reader if the program never opened the FIFO, then report.
        let _ = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&fifo);
        panic!("track into a FIFO failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(file_type(&fifo).is_fifo(), "the FIFO was replaced by a file");
    // A reader left waiting (the FIFO never opened for writing) fails the test, not hangs it.
    let text = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the FIFO's reader got nothing");
    let text = text.expect("read the FIFO");
    let records: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert_eq!(records.len(), 72, "every frame's line reaches the FIFO's reader");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["frame"], i);
        assert_eq!(points(&r["faces"][0]["points"]).len(), 68, "frame {i}");
    }

    // /dev/null's numbers, made here.
    let null = dir.join("null");
    let made = Command::new("mknod").arg(&null).args(["c", "1", "3"]).status().is_ok_and(|s| s.success());
    if made {
        run_ok(args!["track", input.as_os_str(), "--json", null.as_os_str(), "--overlay", null.as_os_str()]);
        assert!(file_type(&null).is_char_device(), "the device is still a device");
    } else {
        eprintln!("skipped the character device: mknod is not allowed here (not root)");
    }
    let mut left: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(
        left,
        if made { vec!["landmarks.pipe", "null"] } else { vec!["landmarks.pipe"] },
        "no files left beside them"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn track_no_face_writes_one_line_per_frame_without_faces() {
    // no_face.mp4 holds 98 coded frames, but its MP4 edit list starts the presentation at
    // 0.195 s, so GStreamer's demuxer/decoder present (and `track` sees) 96 of them.
    let input = testdata("no_face.mp4");
    let stdout = run_ok(args!["track", input.as_os_str(), "--device", "cpu"]);
    let records: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(records.len(), 96);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["frame"], i);
        assert_eq!(r["faces"].as_array().map(Vec::len), Some(0), "frame {i}: {r}");
        assert!(r.get("points").is_none());
    }
}

#[test]
fn track_on_numbered_frames_follows_the_synthetic_truth() {
    // 481 pixels wide: 1443-byte rows, which GStreamer pads to 1444 (its RGB rows are 4-byte
    // aligned), so the frames pushed into the element must be laid out with that stride.
    let dir = scratch("track-frames");
    let seqs = synth_sized(&dir, 20, "clean", "481x401");
    let seq = seqs.join("takeo-clean");
    let (json, video) = (dir.join("frames.jsonl"), dir.join("frames.mp4"));
    run_ok(args![
        "track",
        seq.as_os_str(),
        "--json",
        json.as_os_str(),
        "--overlay",
        video.as_os_str(),
        "--set",
        "max-faces=1"
    ]);
    let (pred, gt) = (json_lines(&json), json_lines(&seq.join("gt.jsonl")));
    assert_eq!(pred.len(), 20);
    let all: Vec<usize> = (0..68).collect();
    for (p, g) in pred.iter().zip(&gt) {
        let nme = steadyface::metrics::nme(&points(&p["faces"][0]["points"]), &points(&g["points"]), &all);
        assert!(nme < 0.1, "frame {}: NME {nme}", p["frame"]);
    }
    let decoded: Vec<_> = steadyface_train::video::frames(&video).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!((decoded.len(), decoded[0].width, decoded[0].height), (20, 481, 401));
    // `--smoothing none` turns the default smoothing off: other points, as close to the truth.
    let raw_json = dir.join("raw.jsonl");
    run_ok(args![
        "track",
        seq.as_os_str(),
        "--json",
        raw_json.as_os_str(),
        "--smoothing",
        "none",
        "--set",
        "max-faces=1"
    ]);
    let raw = json_lines(&raw_json);
    assert_eq!(raw.len(), 20);
    let moved = raw
        .iter()
        .zip(&pred)
        .filter(|(r, p)| points(&r["faces"][0]["points"]) != points(&p["faces"][0]["points"]))
        .count();
    assert!(moved > 10, "only {moved} of 20 frames differ with and without smoothing");
    for (r, g) in raw.iter().zip(&gt) {
        assert!(steadyface::metrics::nme(&points(&r["faces"][0]["points"]), &points(&g["points"]), &all) < 0.1);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn track_bad_inputs_give_clear_errors() {
    let dir = scratch("track-bad");
    let missing = dir.join("missing.mp4");
    let err = run_err(args!["track", missing.as_os_str()]);
    assert!(err.contains(&*missing.to_string_lossy()) && err.contains("no such"), "{err}");

    let text = dir.join("notes.mp4");
    std::fs::write(&text, "this is not a video\n".repeat(50)).unwrap();
    let err = run_err(args!["track", text.as_os_str()]);
    assert!(err.contains(&*text.to_string_lossy()) && err.contains("cannot be decoded"), "{err}");

    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = run_err(args!["track", empty.as_os_str()]);
    assert!(err.contains("no numbered frames"), "{err}");

    let input = testdata("single_face.mp4");
    let err = run_err(args!["track", input.as_os_str(), "--set", "no-such-thing=1"]);
    assert!(err.contains("no property 'no-such-thing'"), "{err}");
    let err = run_err(args!["track", input.as_os_str(), "--max-faces", "100"]);
    assert!(err.contains("max-faces=100: out of range"), "{err}");
    let err = run_err(args!["track", input.as_os_str(), "--decoder", "bogus"]);
    assert!(err.contains("decoder=bogus: not one of pdc, pdc-soft, argmax, subpixel"), "{err}");
    let err = run_err(args!["track", input.as_os_str(), "--backbone", missing.as_os_str()]);
    assert!(err.contains(&*missing.to_string_lossy()), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn eval_json(args: &[&std::ffi::OsStr]) -> Vec<serde_json::Value> {
    let mut all = vec![std::ffi::OsStr::new("eval"), std::ffi::OsStr::new("--json")];
    all.extend_from_slice(args);
    run_ok(&all).lines().map(|l| serde_json::from_str(l).expect("JSON")).collect()
}

fn row<'a>(rows: &'a [serde_json::Value], sequence: &str, method: &str) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| r["sequence"] == sequence && r["method"] == method)
        .unwrap_or_else(|| panic!("no row {sequence}/{method} in {rows:?}"))
}

#[test]
fn eval_on_a_clean_static_sequence_gives_near_zero_jitter() {
    // A still sequence: the first clean synth frame repeated, with its exact truth repeated.
    let dir = scratch("eval-static");
    let seqs = synth(&dir, 2, "clean");
    let source = seqs.join("takeo-clean");
    let still = dir.join("still");
    std::fs::create_dir_all(&still).unwrap();
    let gt0: serde_json::Value = json_lines(&source.join("gt.jsonl")).remove(0);
    let mut gt = String::new();
    for i in 0..30 {
        std::fs::copy(source.join("000000.png"), still.join(format!("{i:06}.png"))).unwrap();
        gt += &serde_json::json!({"frame": i, "points": gt0["points"]}).to_string();
        gt.push('\n');
    }
    std::fs::write(still.join("gt.jsonl"), gt).unwrap();
    let stab = common::identity_stabilizer(&dir, 4, None);
    let rows = eval_json(args![still.as_os_str(), "--stabilizer", stab.as_os_str()]);
    assert_eq!(rows.len(), 4);
    for method in ["raw", "one-euro", "pose-residual", "stabilizer"] {
        let r = row(&rows, "still", method);
        let nmj = r["nmj"].as_f64().expect("nmj");
        eprintln!("still {method}: NMJ {nmj:.4}, NME {}", r["nme68"]);
        assert!(nmj < 0.05, "{method}: NMJ {nmj} on a still sequence");
        assert_eq!(r["found"], 1.0);
        assert!(r["nme68"].as_f64().expect("nme") < 10.0, "{r}");
        assert!(r["mav"].as_f64().expect("mav") < 0.01, "{r}");
    }
    // An identity stabilizer keeps the backbone's points.
    assert!(row(&rows, "still", "stabilizer")["deviation_from_raw"].as_f64().unwrap() < 0.5);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn eval_on_noisy_moving_frames_the_smoothers_and_the_shipped_stabilizer_are_steadier_than_raw_and_plot() {
    let dir = scratch("eval-noise");
    let seqs = synth(&dir, 150, "noise10");
    let seq = seqs.join("takeo-noise10");
    let plot = dir.join("plot.png");
    let rows = eval_json(args![seq.as_os_str(), "--method", "all", "--plot", plot.as_os_str()]);
    assert_eq!(rows.len(), 4, "raw, one-euro, pose-residual and the shipped stabilizer: {rows:?}");
    let (raw, euro) = (row(&rows, "takeo-noise10", "raw"), row(&rows, "takeo-noise10", "one-euro"));
    let stab = row(&rows, "takeo-noise10", "stabilizer");
    let nmj = |r: &serde_json::Value| r["nmj"].as_f64().expect("nmj");
    eprintln!("noise10: NMJ raw {} one-euro {} stabilizer {}", nmj(raw), nmj(euro), nmj(stab));
    assert!(nmj(euro) < nmj(raw) * 0.9, "One Euro should cut jitter: raw {raw}, one-euro {euro}");
    // takeo was held out from the shipped stabilizer's training.
    assert!(nmj(stab) < nmj(raw) * 0.85, "the stabilizer should cut jitter: raw {raw}, stabilizer {stab}");
    // Smoothing must not cost accuracy: NME within 10% of raw.
    let nme = |r: &serde_json::Value| r["nme68"].as_f64().expect("nme");
    assert!(nme(euro) < nme(raw) * 1.1 && nme(raw) < 10.0, "raw {raw}, one-euro {euro}");
    assert!(nme(stab) < nme(raw) * 1.1, "raw {raw}, stabilizer {stab}");
    assert_eq!(raw["deviation_from_raw"], 0.0);
    // Pose/residual smoothing: steadier than One Euro (it tells head motion from jitter) at
    // about raw's accuracy.
    let pose = row(&rows, "takeo-noise10", "pose-residual");
    assert!(nmj(pose) < nmj(euro), "one-euro {euro}, pose-residual {pose}");
    assert!(nme(pose) < nme(raw) * 1.05, "raw {raw}, pose-residual {pose}");
    // Still and after-stop jitter come from the trajectory in meta.json: smoothing holds a still
    // face steadier than raw.
    let still = |r: &serde_json::Value| r["nmj_still"].as_f64().expect("nmj_still");
    assert!(still(pose) < still(raw) && still(euro) < still(raw), "raw {raw}, one-euro {euro}, pose {pose}");
    // Without registration the same filters trail the head: more jitter against the true
    // motion, most of all in the frames after each stop, where they catch up.
    let plain = eval_json(args![seq.as_os_str(), "--method", "pose-residual", "--set", "registration=false"]);
    let (plain, stop) = (&plain[0], |r: &serde_json::Value| r["nmj_stop"].as_f64().expect("nmj_stop"));
    eprintln!(
        "pose-residual NMJ {} stop {}; without registration {} / {}",
        nmj(pose),
        stop(pose),
        nmj(plain),
        stop(plain)
    );
    assert!(nmj(pose) < nmj(plain) && stop(pose) < stop(plain), "registered {pose}, plain {plain}");
    assert!(stop(pose) < stop(raw), "after a stop the registered filter is steadier than raw: {pose} vs {raw}");

    // The plot: a valid PNG with the ground truth (black), raw (red), One Euro (blue) and the
    // stabilizer (green) drawn.
    let img = image::open(&plot).expect("plot decodes as an image").to_rgb8();
    assert_eq!(img.dimensions(), (1600, 1000));
    let count = |c: [u8; 3]| img.pixels().filter(|p| p.0 == c).count();
    assert!(count([0, 0, 0]) > 1000, "black truth line");
    assert!(count([214, 39, 40]) > 500, "red raw series");
    assert!(count([31, 119, 180]) > 500, "blue One Euro series");
    assert!(count([44, 160, 44]) > 500, "green stabilizer series");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn motion_compensation_keeps_the_shipped_stabilizer_from_trailing_a_fast_move() {
    // finetune's held-out trajectory (seed 7, 80 px between the eyes): still, a drift, a fast
    // move of about 5 px per frame, still again; takeo is not in the stabilizer's training data.
    let dir = scratch("eval-motion");
    let out = dir.join("seqs");
    let image = testdata("takeo.ppm");
    let synth = args![
        "synth",
        image.as_os_str(),
        "--out",
        out.as_os_str(),
        "--frames",
        "150",
        "--levels",
        "clean",
        "--seed",
        "7",
        "--size",
        "400x400",
        "--iod",
        "80"
    ];
    run_ok(synth);
    let seq = out.join("takeo-clean");
    let score = |on: &str| {
        let set = format!("motion-compensation={on}");
        let rows = eval_json(args![seq.as_os_str(), "--method", "stabilizer", "--set", set.as_str()]);
        let r = row(&rows, "takeo-clean", "stabilizer");
        (r["nme49"].as_f64().expect("nme49"), r["nmj"].as_f64().expect("nmj"))
    };
    let ((nme_on, nmj_on), (nme_off, nmj_off)) = (score("true"), score("false"));
    eprintln!("motion compensation on: NME-49 {nme_on:.3} NMJ {nmj_on:.3}; off: {nme_off:.3} {nmj_off:.3}");
    assert!(nmj_on < 0.8 * nmj_off, "NMJ {nmj_on} with, {nmj_off} without");
    assert!(nme_on < nme_off, "NME-49 {nme_on} with, {nme_off} without");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A frame directory with gaps keeps its numbers: `track` reports each file's number, and `eval`
/// scores each frame against the gt.jsonl line of that number. synth's truth is exact, so the score
/// is computed here from track's points by number and must be eval's, not the one by position.
#[test]
fn a_frame_directory_with_gaps_keeps_its_numbers_and_eval_pairs_frames_by_number() {
    let dir = scratch("eval-gaps");
    // Seed 3 holds the face still for 40 frames, then drifts 0.58 px a frame: frame 0 and frames
    // 45-52 deleted, the sequence starts at 1 and the 17 frames after the gap are 9 numbers on.
    let seq = synth(&dir, 70, "clean").join("takeo-clean");
    let deleted = |n: usize| n == 0 || (45..=52).contains(&n);
    for n in (0..70).filter(|&n| deleted(n)) {
        std::fs::remove_file(seq.join(format!("{n:06}.png"))).expect("remove a frame");
    }
    let kept: Vec<usize> = (0..70).filter(|&n| !deleted(n)).collect();
    let json = dir.join("gaps.jsonl");
    run_ok(args!["track", seq.as_os_str(), "--json", json.as_os_str(), "--stabilizer", "", "--smoothing", "none"]);
    let pred = json_lines(&json);
    let numbers: Vec<usize> = pred.iter().map(|p| p["frame"].as_u64().expect("frame") as usize).collect();
    assert_eq!(numbers, kept, "track reports the files' numbers");

    let gt = json_lines(&seq.join("gt.jsonl"));
    assert!(gt.iter().enumerate().all(|(n, g)| g["frame"] == n), "synth writes line n for frame n");
    let all: Vec<usize> = (0..68).collect();
    let mean_nme = |truth_of: &dyn Fn(usize) -> usize| {
        let sum: f32 = (0..pred.len())
            .map(|i| {
                steadyface::metrics::nme(
                    &points(&pred[i]["faces"][0]["points"]),
                    &points(&gt[truth_of(i)]["points"]),
                    &all,
                )
            })
            .sum();
        100.0 * sum as f64 / pred.len() as f64
    };
    let (by_number, by_position) = (mean_nme(&|i| kept[i]), mean_nme(&|i| i));
    eprintln!("gapped sequence: NME-68 {by_number:.3}% by number, {by_position:.3}% by position");
    assert!(by_position > by_number + 0.5, "the face must move enough for the test to tell the pairings apart");
    let rows = eval_json(args![seq.as_os_str(), "--method", "raw"]);
    let raw = row(&rows, "takeo-clean", "raw");
    assert_eq!(raw["frames"], kept.len());
    let reported = raw["nme68"].as_f64().expect("nme68");
    assert!((reported - by_number).abs() < 1e-3, "eval reports NME-68 {reported}, by number it is {by_number}");

    // A frame without its line in gt.jsonl is an error naming the sequence and the frame (by
    // position, the 61 frames would have taken lines 0-60 and line 69 would not have been missed).
    let text = std::fs::read_to_string(seq.join("gt.jsonl")).expect("gt");
    let without_69: Vec<&str> = text.lines().take(69).collect();
    std::fs::write(seq.join("gt.jsonl"), without_69.join("\n")).expect("gt");
    let err = run_err(args!["eval", seq.as_os_str(), "--method", "raw"]);
    assert!(err.contains("takeo-clean") && err.contains("no line for frame 69"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn eval_errors_are_clear() {
    let dir = scratch("eval-bad");
    let seqs = synth(&dir, 3, "clean");
    let seq = seqs.join("takeo-clean");
    let missing = dir.join("missing.onnx");
    let err = run_err(args!["eval", seq.as_os_str(), "--stabilizer", missing.as_os_str()]);
    assert!(err.contains(&format!("{}: no such file", missing.display())), "{err}");
    // A broken line in gt.jsonl is named by file and line.
    let gt = seq.join("gt.jsonl");
    let text = std::fs::read_to_string(&gt).unwrap();
    let broken: Vec<&str> = text.lines().enumerate().map(|(i, l)| if i == 1 { "{\"frame\": 1}" } else { l }).collect();
    std::fs::write(&gt, broken.join("\n")).unwrap();
    let err = run_err(args!["eval", seq.as_os_str()]);
    assert!(err.contains(&format!("{}:2: no \"points\"", gt.display())), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn eval_without_ground_truth_reports_steadiness_and_deviation_from_raw() {
    let input = testdata("single_face.mp4");
    let rows = eval_json(args![input.as_os_str()]);
    let (raw, euro) = (row(&rows, "single_face.mp4", "raw"), row(&rows, "single_face.mp4", "one-euro"));
    assert!(raw["nme68"].is_null() && raw["nmj"].is_null());
    assert_eq!(raw["frames"], 72);
    assert_eq!(raw["deviation_from_raw"], 0.0);
    let dev = euro["deviation_from_raw"].as_f64().expect("deviation");
    assert!(dev > 0.0 && dev < 5.0, "One Euro stays within 5% IOD of the raw points: {dev}");
    assert!(euro["mav"].as_f64().unwrap() < raw["mav"].as_f64().unwrap(), "smoothing lowers Allan variance");
}

#[test]
fn the_program_runs_its_own_elements_with_no_plugin_installed() {
    // The program alone in a folder, with a private registry and no plugin path.
    let dir = scratch("track-no-plugin");
    let exe = dir.join("steadyface");
    std::fs::copy(env!("CARGO_BIN_EXE_steadyface"), &exe).expect("copy the program");
    let input = testdata("single_face.mp4");
    let out = Command::new(&exe)
        .args([std::ffi::OsStr::new("track"), input.as_os_str(), std::ffi::OsStr::new("--max-faces"), "1".as_ref()])
        .env("GST_PLUGIN_PATH", "")
        .env("GST_REGISTRY", dir.join("registry.bin"))
        .output()
        .expect("steadyface runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 72);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn track_lists_several_faces_with_track_ids_boxes_and_points() {
    // multi_face.jpg has five faces (testdata/PROVENANCE.md); three numbered copies as frames,
    // searched as still images are (the whole pyramid on each frame without faces).
    let dir = scratch("track-multi");
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    for i in 0..3 {
        std::fs::copy(testdata("multi_face.jpg"), frames.join(format!("{i:06}.jpg"))).unwrap();
    }
    for (max_faces, want) in [("5", 5usize), ("2", 2)] {
        let stdout = run_ok(args!["track", frames.as_os_str(), "--max-faces", max_faces, "--search-budget", "0"]);
        let records: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
        assert_eq!(records.len(), 3);
        for r in &records {
            let faces = r["faces"].as_array().unwrap_or_else(|| panic!("a faces list: {r}"));
            assert_eq!(faces.len(), want, "{r}");
            let mut ids: Vec<u64> = faces.iter().map(|f| f["track_id"].as_u64().expect("track id")).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), want, "distinct track ids");
            for f in faces {
                let b: Vec<f64> = f["box"].as_array().expect("box").iter().map(|v| v.as_f64().unwrap()).collect();
                let p = points(&f["points"]);
                assert_eq!(p.len(), 68);
                // Every face's points lie around its own box (boxes are not tight on the jaw).
                let (cx, cy) = (b[0] + b[2] / 2.0, b[1] + b[3] / 2.0);
                let inside =
                    p.iter().filter(|q| ((q[0] as f64 - cx).abs() < b[2]) && ((q[1] as f64 - cy).abs() < b[3])).count();
                assert_eq!(inside, 68, "points far from their box {b:?}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn eval_decoding_again_for_each_method_gives_the_same_scores() {
    // With no frame cache (as for a video too large to hold), every method decodes the frames
    // again; the element sees the same pixels, so the scores are the same.
    let dir = scratch("eval-stream");
    let seqs = synth(&dir, 20, "noise10");
    let seq = seqs.join("takeo-noise10");
    let cached = eval_json(args![seq.as_os_str()]);
    let out = Command::new(env!("CARGO_BIN_EXE_steadyface"))
        .args([std::ffi::OsStr::new("eval"), "--json".as_ref(), seq.as_os_str()])
        .env("STEADYFACE_EVAL_CACHE_MIB", "0")
        .output()
        .expect("steadyface runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.contains("decoded again for each method"), "{stderr}");
    let streamed: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(streamed.len(), cached.len());
    for (a, b) in cached.iter().zip(&streamed) {
        for key in ["method", "frames", "nme68", "nme49", "nmj", "mav", "deviation_from_raw"] {
            assert_eq!(a[key], b[key], "{key}: {a} vs {b}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
