//! iBUG `.pts` landmark files: `version: 1`, `n_points: N`, `{`, N lines `x y`, `}`.
//!
//! `.pts` coordinates are 1-based (the 300-W / iBUG convention, Matlab heritage; menpo reads them
//! the same way). steadyface works in 0-based pixel coordinates with pixel centres at integers,
//! so reading subtracts 1.

use std::path::Path;

use crate::error::{Error, Result};

/// Reads a `.pts` file into 0-based pixel coordinates; errors name `file:line`.
pub fn read_pts(path: &Path) -> Result<Vec<[f32; 2]>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    let points = parse_pts(&text).map_err(|(line, msg)| Error::Other(format!("{}:{line}: {msg}", path.display())))?;
    Ok(points.into_iter().map(|[x, y]| [x - 1.0, y - 1.0]).collect())
}

/// Reads a `.pts` file that must hold `expected` points; a different count is reported at its
/// `n_points` line.
pub fn read_pts_expecting(path: &Path, expected: usize) -> Result<Vec<[f32; 2]>> {
    let points = read_pts(path)?;
    if points.len() != expected {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let line = text.lines().position(|l| l.trim_start().starts_with("n_points")).map_or(1, |i| i + 1);
        return Err(Error::Other(format!("{}:{line}: {} points, expected {expected}", path.display(), points.len())));
    }
    Ok(points)
}

/// Parses `.pts` text as written (1-based coordinates); an error carries its line number.
pub fn parse_pts(text: &str) -> Result<Vec<[f32; 2]>, (usize, String)> {
    let mut declared = None;
    let mut points = Vec::new();
    let mut inside = false;
    let mut last = 0;
    for (i, raw) in text.lines().enumerate() {
        let (n, line) = (i + 1, raw.trim());
        last = n;
        if line.is_empty() {
            continue;
        }
        if let Some(v) = line.strip_prefix("n_points:") {
            declared = Some(v.trim().parse::<usize>().map_err(|_| (n, format!("bad n_points '{}'", v.trim())))?);
        } else if line.starts_with("version:") {
        } else if line == "{" {
            inside = true;
        } else if line == "}" {
            let want = declared.ok_or((n, "no n_points line before '}'".to_string()))?;
            if points.len() != want {
                return Err((n, format!("n_points is {want} but {} points were listed", points.len())));
            }
            return Ok(points);
        } else if inside {
            let mut it = line.split_whitespace().map(str::parse::<f32>);
            match (it.next(), it.next(), it.next()) {
                (Some(Ok(x)), Some(Ok(y)), None) if x.is_finite() && y.is_finite() => points.push([x, y]),
                _ => return Err((n, format!("expected 'x y', got '{line}'"))),
            }
        } else {
            return Err((n, format!("unexpected line '{line}'")));
        }
    }
    Err((last, "missing closing '}'".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reports_lines() {
        assert_eq!(parse_pts("version: 1\nn_points: 2\n{\n1 2\n3.5 4\n}\n").unwrap(), vec![[1.0, 2.0], [3.5, 4.0]]);
        assert_eq!(parse_pts("version: 1\nn_points: 2\n{\n1 2\n}\n").unwrap_err().0, 5);
        assert_eq!(parse_pts("n_points: 1\n{\n1 x\n}").unwrap_err().0, 3);
        assert_eq!(parse_pts("n_points: 1\n{\n1 2\n").unwrap_err().0, 3);
    }
}
