//! steadyface core: every stage of the facial-landmark pipeline at run time, independent of
//! GStreamer and of training (docs/design.md).
//!
//! frame -> [`detector`] (BlazeFace) -> [`pipeline::Tracker`] ROIs -> [`crop`] ->
//! [`backbone`] -> [`stabilizer`] -> [`decode`] -> points in frame pixels.

pub mod backbone;
pub mod benchmark;
pub mod crop;
pub mod decode;
pub mod detector;
pub mod draw;
pub mod error;
pub mod frame;
pub mod geometry;
pub mod heatmap;
pub mod landmarks_json;
pub mod metrics;
pub mod model;
pub mod models_dir;
pub mod onnx;
pub mod output;
pub mod pipeline;
pub mod pts;
pub mod registration;
pub mod runtime;
pub mod scheme;
pub mod smoothing;
pub mod stabilizer;

pub use error::{Error, Result};
