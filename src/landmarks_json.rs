//! The landmarks of one frame as JSON (`steadyface.landmarks/1`, docs/landmarks.schema.json):
//! the one serialisation every writer uses (`landmarkpublish`, `steadyface track` and `detect`;
//! `examples/print_landmarks.py` writes the same object).
//!
//! ```json
//! {"schema": "steadyface.landmarks/1", "frame": 0, "timestamp": 0, "width": 640, "height": 360,
//!  "scheme": "ibug68", "faces": [{"track_id": 1, "box": [x, y, w, h], "score": 0.98,
//!  "points": [[x, y], ...], "confidence": [...], "new_track": true, "stabilized": false}]}
//! ```
//!
//! `faces` is always a list (empty without faces); coordinates are frame pixels with pixel
//! centres at integers; `timestamp` is the buffer's presentation time in nanoseconds, or null.

use serde::{Deserialize, Serialize};

use crate::pipeline::Face;

/// The value of every line's `schema` key; a change that breaks readers gets a new number.
pub const SCHEMA: &str = "steadyface.landmarks/1";

/// One frame's landmarks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameLandmarks {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The frame's number: its position in the stream (0-based), or a numbered frame file's own
    /// number.
    pub frame: u64,
    /// Presentation timestamp in nanoseconds; `None` (null) when the buffer has none.
    pub timestamp: Option<u64>,
    /// The frame size the coordinates refer to.
    pub width: u32,
    pub height: u32,
    /// `ibug68`, or the backbone's own layout with `full-scheme` (`mediapipe468`, `backbone<N>`).
    pub scheme: String,
    /// Each face as the tracker reports it ([`Face`]'s fields; `bbox` is written `box`).
    pub faces: Vec<Face>,
}

impl FrameLandmarks {
    pub fn new(
        frame: u64,
        timestamp: Option<u64>,
        (width, height): (u32, u32),
        scheme: &str,
        faces: Vec<Face>,
    ) -> Self {
        FrameLandmarks { schema: SCHEMA.into(), frame, timestamp, width, height, scheme: scheme.into(), faces }
    }

    /// The object on one line (no newline).
    pub fn to_line(&self) -> String {
        // Plain data with string keys: serialisation cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_reads_back_as_written_with_faces_always_a_list() {
        let face = Face {
            track_id: 3,
            bbox: [1.0, 2.0, 30.0, 40.0],
            score: 0.75,
            points: vec![[1.5, 2.5]; 68],
            confidence: vec![1.0; 68],
            new_track: true,
            stabilized: false,
        };
        let frame = FrameLandmarks::new(7, Some(233_333_333), (640, 360), "ibug68", vec![face.clone()]);
        let line = frame.to_line();
        assert!(line.starts_with(r#"{"schema":"steadyface.landmarks/1","frame":7,"timestamp":233333333,"#), "{line}");
        assert!(line.contains(r#""box":[1.0,2.0,30.0,40.0]"#), "{line}");
        assert_eq!(serde_json::from_str::<FrameLandmarks>(&line).unwrap(), frame);
        let empty = FrameLandmarks::new(0, None, (2, 2), "ibug68", Vec::new()).to_line();
        assert!(empty.contains(r#""timestamp":null"#) && empty.ends_with(r#""faces":[]}"#), "{empty}");
    }
}
