//! `steadyface finetune`: training the ConvLSTM stabilizer with candle (Jitter loss, SBR), the
//! synthetic moving sequences it and the benchmarks are made of, and reading videos.

pub mod cell;
pub mod consistency;
pub mod data;
pub mod evaluate;
pub mod finetune;
pub mod lk;
pub mod loss;
pub mod personalize;
pub mod run;
pub mod synth;
pub mod video;

pub mod error;
pub use error::{Error, Result};
