//! `steadyface eval --predictions NAME=FILE`: another program's points, scored like the element's.

#[path = "../../tests/common/mod.rs"]
mod common;
#[macro_use]
mod run;

use common::scratch;
use run::{json_lines, run_err, run_ok, synth};

#[test]
fn eval_scores_a_predictions_file_shifted_from_the_truth_and_rejects_bad_ones() {
    let dir = scratch("eval-predictions");
    let seq = synth(&dir, 30, "clean").join("takeo-clean");

    // The truth moved 1.5 px right on every point, and no face in frame 7.
    let gt = json_lines(&seq.join("gt.jsonl"));
    assert_eq!(gt.len(), 30);
    let mut text = String::new();
    let mut expected = Vec::new();
    for (n, g) in gt.iter().enumerate() {
        assert_eq!(g["frame"], n);
        let truth: Vec<[f64; 2]> = g["points"]
            .as_array()
            .expect("points")
            .iter()
            .map(|p| [p[0].as_f64().expect("x"), p[1].as_f64().expect("y")])
            .collect();
        let points = if n == 7 {
            serde_json::Value::Null
        } else {
            let (a, b) = (truth[36], truth[45]);
            expected.push(1.5 / (a[0] - b[0]).hypot(a[1] - b[1]) * 100.0);
            serde_json::json!(truth.iter().map(|p| [p[0] + 1.5, p[1]]).collect::<Vec<_>>())
        };
        text += &serde_json::json!({"frame": n, "points": points}).to_string();
        text.push('\n');
    }
    std::fs::write(seq.join("shifted.jsonl"), &text).unwrap();
    let nme68 = expected.iter().sum::<f64>() / expected.len() as f64;

    let stdout =
        run_ok(args!["eval", seq.as_os_str(), "--json", "--method", "raw", "--predictions", "shift=shifted.jsonl"]);
    let rows: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(rows.len(), 2, "raw and shift: {rows:?}");
    assert_eq!(rows[0]["method"], "raw");
    // Each row names the synth seed (run::synth's 3), which tells apart one face's trajectories.
    assert!(rows.iter().all(|r| r["seed"] == 3), "{rows:?}");
    let r = &rows[1];
    assert_eq!((&r["sequence"], &r["method"], &r["frames"]), (&"takeo-clean".into(), &"shift".into(), &30.into()));
    eprintln!("shifted truth: {r}");
    // A constant offset is no jitter, and its error is 1.5 px over each frame's eye distance.
    assert!(r["nmj"].as_f64().expect("nmj").abs() < 1e-4, "{r}");
    let got = r["nme68"].as_f64().expect("nme68");
    assert!((got - nme68).abs() < 1e-3, "NME-68 {got}, hand-computed {nme68}");
    assert!((r["nme49"].as_f64().expect("nme49") - nme68).abs() < 1e-3, "{r}");
    assert!((r["found"].as_f64().unwrap() - 29.0 / 30.0).abs() < 1e-6, "{r}");
    assert_eq!(r["fps"], 0.0);
    assert!(r["deviation_from_raw"].as_f64().is_some(), "{r}");

    // The table has the row too.
    let table = run_ok(args!["eval", seq.as_os_str(), "--method", "raw", "--predictions", "shift=shifted.jsonl"]);
    assert!(table.lines().any(|l| l.starts_with("| takeo-clean | shift | 30 |")), "{table}");

    // A missing file is named, before anything runs.
    let err = run_err(args!["eval", seq.as_os_str(), "--predictions", "mp=nothing.jsonl"]);
    assert!(err.contains(&*seq.join("nothing.jsonl").to_string_lossy()) && err.contains("no such file"), "{err}");
    let err = run_err(args!["eval", seq.as_os_str(), "--predictions", "shifted.jsonl"]);
    assert!(err.contains("expected NAME=FILE"), "{err}");

    // A bad line is named by file and line.
    let bad = seq.join("bad.jsonl");
    let mut broken: Vec<&str> = text.lines().collect();
    broken[2] = r#"{"frame": 2, "points": [[1, 2], [3]]}"#;
    std::fs::write(&bad, broken.join("\n")).unwrap();
    let err = run_err(args!["eval", seq.as_os_str(), "--method", "raw", "--predictions", "bad=bad.jsonl"]);
    assert!(err.contains(&format!("{}:3: a point is not [x, y]", bad.display())), "{err}");
    broken[2] = "not json";
    std::fs::write(&bad, broken.join("\n")).unwrap();
    let err = run_err(args!["eval", seq.as_os_str(), "--method", "raw", "--predictions", "bad=bad.jsonl"]);
    assert!(err.contains(&format!("{}:3: not JSON", bad.display())), "{err}");
    // A frame without its line.
    std::fs::write(&bad, text.lines().take(29).collect::<Vec<_>>().join("\n")).unwrap();
    let err = run_err(args!["eval", seq.as_os_str(), "--method", "raw", "--predictions", "bad=bad.jsonl"]);
    assert!(err.contains(&format!("{}: no line for frame 29", bad.display())), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
