//! `steadyface finetune`: training the ConvLSTM stabilizer with candle (Jitter loss, SBR).

pub mod cell;
pub mod data;
pub mod evaluate;
pub mod finetune;
pub mod lk;
pub mod loss;
pub mod run;
