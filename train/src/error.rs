//! The training crate's errors: the core's, candle's, and its own (which name the file at fault).

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] steadyface::Error),

    #[error("training: {0}")]
    Candle(#[from] candle_core::Error),

    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
