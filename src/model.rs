//! A loaded ONNX model with its declared input and output shapes, run on plain f32 buffers.

use std::path::{Path, PathBuf};

use ort::value::TensorRef;

use crate::error::{Error, Result};
use crate::runtime::{self, Device, SessionPool};

/// A tensor's name and declared shape (-1 for a symbolic dimension).
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<i64>,
}

/// An output tensor copied out of ONNX Runtime.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

pub struct OnnxModel {
    path: PathBuf,
    sessions: std::sync::Arc<SessionPool>,
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
}

impl OnnxModel {
    /// Loads (or reuses, process-wide) the session for `path` and reads its signature.
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        let sessions = runtime::session(path, device)?;
        let (inputs, outputs) = sessions.outlets(|s| {
            let info = |o: &ort::value::Outlet| TensorInfo {
                name: o.name().to_string(),
                shape: o.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default(),
            };
            (s.inputs().iter().map(info).collect(), s.outputs().iter().map(info).collect())
        });
        Ok(OnnxModel { path: path.to_path_buf(), sessions, inputs, outputs })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An error about this model's shapes.
    pub fn shape_error(&self, reason: impl Into<String>) -> Error {
        Error::ModelShape { path: self.path.clone(), reason: reason.into() }
    }

    /// Runs the model on inputs given in declaration order as (shape, data); returns every output.
    pub fn run(&self, inputs: &[(&[usize], &[f32])]) -> Result<Vec<Tensor>> {
        let fail = |reason: String| Error::Inference { model: self.path.display().to_string(), reason };
        if inputs.len() != self.inputs.len() {
            return Err(fail(format!("expected {} inputs, got {}", self.inputs.len(), inputs.len())));
        }
        let mut values = Vec::with_capacity(inputs.len());
        for (info, (shape, data)) in self.inputs.iter().zip(inputs) {
            let tensor = TensorRef::from_array_view((shape.to_vec(), *data)).map_err(|e| fail(e.to_string()))?;
            values.push((info.name.as_str(), tensor));
        }
        self.sessions.with_session(|session| {
            let outputs = session.run(values).map_err(|e| fail(e.to_string()))?;
            outputs
                .values()
                .map(|v| {
                    let (shape, data) = v.try_extract_tensor::<f32>().map_err(|e| fail(e.to_string()))?;
                    Ok(Tensor { shape: shape.iter().map(|&d| d.max(0) as usize).collect(), data: data.to_vec() })
                })
                .collect()
        })?
    }
}
