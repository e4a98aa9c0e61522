//! One error type for the whole core library; every message names the file or value at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "ONNX Runtime library (libonnxruntime.so) not found; looked in:\n  {}\n\
         Run `make setup` (it installs the PyPI `onnxruntime` wheel into .venv), \
         or set ORT_DYLIB_PATH to the library file",
        .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join("\n  ")
    )]
    OrtNotFound { searched: Vec<PathBuf> },

    #[error("could not load ONNX Runtime from {path}: {reason}")]
    OrtLoad { path: PathBuf, reason: String },

    #[error("model file {path} does not exist")]
    ModelMissing { path: PathBuf },

    #[error("model {path} could not be loaded: {reason}")]
    ModelInvalid { path: PathBuf, reason: String },

    #[error("model {path} has an unexpected shape: {reason}")]
    ModelShape { path: PathBuf, reason: String },

    /// A stabilizer's JSON sidecar that is not valid JSON (`field` is then the line and column)
    /// or holds a value the runtime cannot use.
    #[error("stabilizer sidecar {path}: {field}: {reason}")]
    SidecarInvalid { path: PathBuf, field: String, reason: String },

    /// A backbone's model description (`MODEL.json` beside `MODEL.onnx`) that is not valid JSON
    /// (`field` is then the line and column), lacks a field, holds a value of the wrong kind, or
    /// disagrees with the model's tensors. `field` is the JSON path, e.g. `input.scale.std`.
    #[error("{path}: {field}: {reason}")]
    DescriptionInvalid { path: PathBuf, field: String, reason: String },

    #[error("CUDA execution provider unavailable: {0}")]
    CudaUnavailable(String),

    #[error("inference failed in {model}: {reason}")]
    Inference { model: String, reason: String },

    #[error("invalid frame: {0}")]
    Frame(String),

    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The model file (or model sidecar) an error is about, if it is about one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Error::ModelMissing { path }
            | Error::ModelInvalid { path, .. }
            | Error::ModelShape { path, .. }
            | Error::SidecarInvalid { path, .. }
            | Error::DescriptionInvalid { path, .. } => Some(path),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
