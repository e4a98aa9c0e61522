//! Writing ONNX models from Rust: hand-written protobuf messages, a graph builder, atomic model
//! files, and the ConvLSTM stabilizer (graph, weights and reference forward pass).
//!
//! Used by tests to make small stabilizer models and by fine-tuning to export the trained one.

pub mod convlstm;
pub mod graph;
pub mod proto;

pub use convlstm::{ConvLstmSpec, ConvLstmWeights, OPSET, convlstm_model, recognise};
pub use graph::{Dim, GraphBuilder, IR_VERSION, PRODUCER, model, write_model};
pub use proto::{AttributeProto, GraphProto, ModelProto, TensorProto};
