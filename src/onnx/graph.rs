//! Building float32 ONNX graphs and writing models to disk.

use std::path::Path;

use prost::Message;

use super::proto::{
    AttributeProto, AttributeType, DATA_TYPE_FLOAT, DATA_TYPE_INT64, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    tensor_shape_proto::{Dimension, dimension},
    type_proto,
};
use crate::error::{Error, Result};

/// IR version 8 (onnx 1.10-1.12) is the newest that every opset up to 17 pairs with, and old enough
/// for any ONNX Runtime a user may have.
pub const IR_VERSION: i64 = 8;
/// The `producer_name` of every model written here.
pub const PRODUCER: &str = "steadyface";

/// One dimension of a declared input or output shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    Fixed(usize),
    /// Symbolic, e.g. "N": ONNX Runtime accepts any size, and equal names must be equal sizes.
    Param(String),
}

impl Dim {
    pub fn param(name: &str) -> Self {
        Dim::Param(name.to_string())
    }
}

impl From<usize> for Dim {
    fn from(value: usize) -> Self {
        Dim::Fixed(value)
    }
}

impl From<&str> for Dim {
    fn from(name: &str) -> Self {
        Dim::param(name)
    }
}

impl AttributeProto {
    fn named(name: &str, kind: AttributeType) -> Self {
        AttributeProto { name: Some(name.to_string()), r#type: Some(kind as i32), ..Default::default() }
    }

    pub fn int(name: &str, value: i64) -> Self {
        AttributeProto { i: Some(value), ..Self::named(name, AttributeType::Int) }
    }

    pub fn ints(name: &str, values: &[i64]) -> Self {
        AttributeProto { ints: values.to_vec(), ..Self::named(name, AttributeType::Ints) }
    }

    pub fn float(name: &str, value: f32) -> Self {
        AttributeProto { f: Some(value), ..Self::named(name, AttributeType::Float) }
    }

    pub fn floats(name: &str, values: &[f32]) -> Self {
        AttributeProto { floats: values.to_vec(), ..Self::named(name, AttributeType::Floats) }
    }

    pub fn string(name: &str, value: &str) -> Self {
        AttributeProto { s: Some(value.as_bytes().to_vec()), ..Self::named(name, AttributeType::String) }
    }

    pub fn tensor(name: &str, value: TensorProto) -> Self {
        AttributeProto { t: Some(value), ..Self::named(name, AttributeType::Tensor) }
    }
}

impl TensorProto {
    /// A float32 tensor stored as little-endian `raw_data` (compact, and what exporters write).
    pub fn from_f32(name: &str, dims: &[usize], data: &[f32]) -> Result<Self> {
        check_len(name, dims, data.len())?;
        Ok(TensorProto {
            name: Some(name.to_string()),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(DATA_TYPE_FLOAT),
            raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Default::default()
        })
    }

    /// An int64 tensor (shape and split-size inputs) stored as little-endian `raw_data`.
    pub fn from_i64(name: &str, dims: &[usize], data: &[i64]) -> Result<Self> {
        check_len(name, dims, data.len())?;
        Ok(TensorProto {
            name: Some(name.to_string()),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(DATA_TYPE_INT64),
            raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Default::default()
        })
    }
}

fn check_len(name: &str, dims: &[usize], len: usize) -> Result<()> {
    let expected: usize = dims.iter().product();
    if expected != len {
        return Err(Error::Other(format!("tensor '{name}': shape {dims:?} needs {expected} values, got {len}")));
    }
    Ok(())
}

fn float_value_info(name: &str, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Fixed(v) => dimension::Value::DimValue(*v as i64),
                Dim::Param(p) => dimension::Value::DimParam(p.clone()),
            }),
            denotation: None,
        })
        .collect();
    let tensor = type_proto::Tensor { elem_type: Some(DATA_TYPE_FLOAT), shape: Some(TensorShapeProto { dim }) };
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)), denotation: None }),
        doc_string: None,
    }
}

/// Collects inputs, outputs, initializers and nodes (in topological order) into a `GraphProto`.
///
/// Every method returns `&mut Self` so a graph reads top to bottom; tensor-length mistakes are kept
/// until [`GraphBuilder::build`] so that the chain need not stop for `?` at each initializer.
#[derive(Debug)]
pub struct GraphBuilder {
    graph: GraphProto,
    error: Option<Error>,
}

impl GraphBuilder {
    pub fn new(name: &str) -> Self {
        GraphBuilder { graph: GraphProto { name: Some(name.to_string()), ..Default::default() }, error: None }
    }

    /// A float32 graph input.
    pub fn input(&mut self, name: &str, dims: &[Dim]) -> &mut Self {
        self.graph.input.push(float_value_info(name, dims));
        self
    }

    /// A float32 graph output.
    pub fn output(&mut self, name: &str, dims: &[Dim]) -> &mut Self {
        self.graph.output.push(float_value_info(name, dims));
        self
    }

    /// A float32 constant (weights); `data` is row-major in `dims`.
    pub fn initializer(&mut self, name: &str, dims: &[usize], data: &[f32]) -> &mut Self {
        let tensor = TensorProto::from_f32(name, dims, data);
        self.push_initializer(tensor)
    }

    /// An int64 constant (e.g. Split's sizes, Reshape's shape).
    pub fn initializer_i64(&mut self, name: &str, dims: &[usize], data: &[i64]) -> &mut Self {
        let tensor = TensorProto::from_i64(name, dims, data);
        self.push_initializer(tensor)
    }

    fn push_initializer(&mut self, tensor: Result<TensorProto>) -> &mut Self {
        match tensor {
            Ok(t) => self.graph.initializer.push(t),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// A node of the default `ai.onnx` domain; it is named `<op>_<index>` for readable errors.
    pub fn node(&mut self, op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<AttributeProto>) -> &mut Self {
        let name = format!("{op}_{}", self.graph.node.len());
        self.graph.node.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: Some(name),
            op_type: Some(op.to_string()),
            attribute: attrs,
            ..Default::default()
        });
        self
    }

    /// The finished graph, or the first initializer whose data did not fit its shape.
    pub fn build(&mut self) -> Result<GraphProto> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        Ok(std::mem::take(&mut self.graph))
    }
}

/// A model around `graph` using the default domain at `opset`, stamped with this crate's version.
pub fn model(graph: GraphProto, opset: i64) -> ModelProto {
    ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(opset) }],
        producer_name: Some(PRODUCER.to_string()),
        producer_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        graph: Some(graph),
        ..Default::default()
    }
}

impl ModelProto {
    /// Adds a `metadata_props` entry (readable with ONNX Runtime's model metadata).
    pub fn with_metadata(mut self, key: &str, value: &str) -> Self {
        self.metadata_props.push(StringStringEntryProto { key: Some(key.to_string()), value: Some(value.to_string()) });
        self
    }

    /// The serialized model, as an `.onnx` file holds it.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    /// Parses a serialized model (only the fields this module knows are kept).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        ModelProto::decode(bytes).map_err(|e| Error::Other(format!("not an ONNX model: {e}")))
    }
}

/// Writes `model` to `path` through [`crate::output`]: a reader (or a crash) never sees half a model.
pub fn write_model(path: &Path, model: &ModelProto) -> Result<()> {
    crate::output::write(path, &model.to_bytes())
}
