//! The benchmark sequence format of docs/design.md: numbered frames (or a video) and `gt.jsonl`,
//! one `{"frame": i, "points": [[x, y] x 68]}` per frame.

use std::collections::BTreeMap;
use std::path::Path;

use crate::{Error, Result};

/// Reads `gt.jsonl` for the frames numbered `frames` (in that order): each frame is paired with
/// the line carrying its number, never by position; errors name `file:line`, or the first frame
/// without a line.
pub fn read_gt(path: &Path, frames: &[usize]) -> Result<Vec<Vec<[f32; 2]>>> {
    let points = read_frame_points(path, frames, false)?;
    // Without `faceless` every line has its points.
    Ok(points.into_iter().flatten().collect())
}

/// The 68 points of each of `frames` (by number) from lines `{"frame": i, "points": [[x, y] x 68]}`
/// in any order: the ground truth's format, and another program's predictions, which may say
/// `"points": null` for a frame without a face when `faceless` allows it (that frame is `None`).
/// A bad line is named `file:line`; a frame without a line, or a frame twice, is an error.
pub fn read_frame_points(path: &Path, frames: &[usize], faceless: bool) -> Result<Vec<Option<Vec<[f32; 2]>>>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    let mut by_frame = BTreeMap::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fail = |what: String| Error::Other(format!("{}:{}: {what}", path.display(), n + 1));
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| fail(format!("not JSON ({e})")))?;
        let frame = value["frame"].as_u64().ok_or_else(|| fail("no \"frame\" number".into()))? as usize;
        let points = match &value["points"] {
            serde_json::Value::Null if faceless => None,
            serde_json::Value::Array(points) => {
                let points = points
                    .iter()
                    .map(|p| match (p[0].as_f64(), p[1].as_f64()) {
                        (Some(x), Some(y)) => Some([x as f32, y as f32]),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| fail("a point is not [x, y]".into()))?;
                if points.len() != 68 {
                    return Err(fail(format!("{} points, the benchmark format has the 68 iBUG points", points.len())));
                }
                Some(points)
            }
            _ if faceless => return Err(fail("\"points\" is neither a list nor null".into())),
            _ => return Err(fail("no \"points\" list".into())),
        };
        if by_frame.insert(frame, points).is_some() {
            return Err(fail(format!("frame {frame} appears twice")));
        }
    }
    let lines = by_frame.len();
    frames
        .iter()
        .map(|&i| {
            by_frame.remove(&i).ok_or_else(|| {
                Error::Other(format!(
                    "{}: no line for frame {i} ({lines} lines, {} frames)",
                    path.display(),
                    frames.len()
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_named() {
        let dir = std::env::temp_dir().join(format!("steadyface-gt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gt.jsonl");
        let good = serde_json::json!({"frame": 0, "points": vec![[1.0, 2.0]; 68]}).to_string();
        std::fs::write(&path, format!("{good}\n{{\"frame\": 1, \"points\": [[1, 2]]}}\n")).unwrap();
        let err = read_gt(&path, &[0, 1]).unwrap_err().to_string();
        assert!(err.contains("gt.jsonl:2: 1 points"), "{err}");
        std::fs::write(&path, format!("{good}\n")).unwrap();
        assert_eq!(read_gt(&path, &[0]).unwrap()[0][67], [1.0, 2.0]);
        assert!(read_gt(&path, &[0, 1]).unwrap_err().to_string().contains("no line for frame 1"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_frame_without_a_face_is_null_only_where_allowed() {
        let dir = std::env::temp_dir().join(format!("steadyface-gt-null-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pred.jsonl");
        let good = serde_json::json!({"frame": 0, "points": vec![[3.0, 4.0]; 68]}).to_string();
        std::fs::write(&path, format!("{good}\n{{\"frame\": 1, \"points\": null}}\n")).unwrap();
        let read = read_frame_points(&path, &[0, 1], true).unwrap();
        assert_eq!((read[0].as_ref().map(|p| p[67]), read[1].is_none()), (Some([3.0, 4.0]), true));
        let err = read_gt(&path, &[0, 1]).unwrap_err().to_string();
        assert!(err.contains("pred.jsonl:2: no \"points\" list"), "{err}");
        std::fs::write(&path, format!("{good}\n{{\"frame\": 1, \"points\": 7}}\n")).unwrap();
        let err = read_frame_points(&path, &[0, 1], true).unwrap_err().to_string();
        assert!(err.contains("pred.jsonl:2: \"points\" is neither a list nor null"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn frames_are_paired_with_the_line_of_their_number() {
        let dir = std::env::temp_dir().join(format!("steadyface-gt-numbers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gt.jsonl");
        // Lines out of order, frame i's points all at (i, i).
        let line = |i: usize| serde_json::json!({"frame": i, "points": vec![[i, i]; 68]}).to_string();
        std::fs::write(&path, [9, 8, 12, 11, 10].map(line).join("\n")).unwrap();
        let gt = read_gt(&path, &[8, 9, 11, 12]).unwrap();
        assert_eq!(gt.iter().map(|p| p[0][0]).collect::<Vec<_>>(), [8.0, 9.0, 11.0, 12.0]);
        let err = read_gt(&path, &[8, 13]).unwrap_err().to_string();
        assert!(err.contains("no line for frame 13"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
