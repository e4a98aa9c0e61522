//! `steadyface finetune`: training the ConvLSTM stabilizer with candle (Jitter loss, SBR).

pub mod cell;
pub mod lk;
pub mod loss;
