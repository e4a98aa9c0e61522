//! steadyface core: every stage of the facial-landmark pipeline, independent of GStreamer.
//!
//! frame -> [`detector`] (BlazeFace) -> [`pipeline::Tracker`] ROIs -> [`crop`] ->
//! [`backbone`] -> points in frame pixels.

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
pub mod metrics;
pub mod model;
pub mod models_dir;
pub mod onnx;
pub mod output;
pub mod pipeline;
pub mod pts;
pub mod runtime;
pub mod scheme;
pub mod smoothing;
pub mod stabilizer;
pub mod synth;
pub mod train;
pub mod video;

pub use error::{Error, Result};
