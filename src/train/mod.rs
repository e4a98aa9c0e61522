//! `steadyface finetune`: training the ConvLSTM stabilizer with candle (Jitter loss, SBR).
pub mod lk;
