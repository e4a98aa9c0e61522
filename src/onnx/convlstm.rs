//! The ConvLSTM stabilizer of "Backbone-replaceable fine-tuning with Jitter loss" (sec. 3.1, eq. 1):
//! `h_t, c_t, s_t = ConvLSTM(h_{t-1}, c_{t-1}, o_t)`, as an ONNX graph and as a plain Rust forward pass.
//!
//! The cell is shared by all K landmarks: each landmark's heatmap is one image of a batch of N x K,
//! with its own `C`-channel slice of the state. A landmark's heatmap moves on its own, so one
//! small cell applied per landmark learns a temporal filter for every landmark at once, whereas a
//! cell over all K maps would have to mix other landmarks' blobs into each output map through its
//! output convolution, and its PDC decode would see them. One step, on NCHW tensors (`o` = the
//! backbone's K heatmaps `[N,K,H,W]`, `h`, `c` = states `[N,K*C,H,W]`, landmark j owning channels
//! `j*C..(j+1)*C`; `*` elementwise; convolutions `k x k`, stride 1, zero padding `k / 2`):
//!
//! ```text
//! o1, h1, c1  = o, h, c as [N*K,1,H,W], [N*K,C,H,W], [N*K,C,H,W]
//! z           = Conv(Concat(o1, h1), gates_w, gates_b)    // 4C channels
//! zi,zf,zo,zg = Split(z) into 4 x C channels, in the gate order i, f, o, g
//! i, f, o     = Sigmoid(zi), Sigmoid(zf), Sigmoid(zo)
//! g           = Tanh(zg)
//! c_out       = f * c1 + i * g
//! h_out       = o * Tanh(c_out)
//! s           = o + Conv(Concat(o1, h_out), out_w, out_b) // back to [N,K,H,W]; states to [N,K*C,H,W]
//! ```
//!
//! The output is residual so that a zero output convolution makes the stabilizer exactly the
//! identity: fine-tuning starts from the backbone's own heatmaps. The output convolution sees the
//! current heatmap beside the state, so a blend `(1 - a) o + a * history` is one linear layer; from
//! the state alone it would need the gates to keep a copy of `o` apart from its history, which
//! training found slowly (held-out jitter did not move in 200 steps). The gate order i, f, o, g (unlike
//! PyTorch's i, f, g, o) keeps the three sigmoid gates together.

use prost::Message;

use super::graph::{Dim, GraphBuilder, model};
use super::proto::{AttributeProto, ModelProto};
use crate::error::{Error, Result};

/// Split takes its sizes as an int64 input from opset 13; 17 is the newest IR version 8 supports.
pub const OPSET: i64 = 17;

/// The shape of a stabilizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvLstmSpec {
    /// K: heatmap channels in and out (one per landmark).
    pub points: usize,
    /// C: channels of the hidden and cell states per landmark (the state has K x C channels).
    pub hidden: usize,
    /// Side of both square convolutions; odd so that `k / 2` padding keeps H x W.
    pub kernel: usize,
}

impl ConvLstmSpec {
    pub fn check(&self) -> Result<()> {
        if self.points == 0 || self.hidden == 0 || self.kernel.is_multiple_of(2) {
            return Err(Error::Other(format!(
                "ConvLSTM spec {self:?}: points and hidden must be positive and kernel odd"
            )));
        }
        Ok(())
    }

    /// `[4C, 1 + C, k, k]`: one landmark's heatmap and state in, gates out.
    pub fn gates_w_shape(&self) -> [usize; 4] {
        [4 * self.hidden, 1 + self.hidden, self.kernel, self.kernel]
    }

    /// `[1, 1 + C, k, k]`: one landmark's heatmap and new state in, its heatmap correction out.
    pub fn out_w_shape(&self) -> [usize; 4] {
        [1, 1 + self.hidden, self.kernel, self.kernel]
    }

    /// K x C: channels of `h` and `c`.
    pub fn state_channels(&self) -> usize {
        self.points * self.hidden
    }

    /// `[N, K, H, W]`: heatmaps in, stabilized heatmaps out.
    pub fn heatmaps_shape(&self, n: usize, height: usize, width: usize) -> [usize; 4] {
        [n, self.points, height, width]
    }

    /// `[N, K*C, H, W]`: `h` and `c`; all zeros before the first frame.
    pub fn state_shape(&self, n: usize, height: usize, width: usize) -> [usize; 4] {
        [n, self.state_channels(), height, width]
    }
}

/// Weights of a stabilizer, row-major in the shapes given by [`ConvLstmSpec`].
#[derive(Debug, Clone, PartialEq)]
pub struct ConvLstmWeights {
    pub spec: ConvLstmSpec,
    /// `[4C, 1 + C, k, k]`, output channels in gate order i, f, o, g; input channels heatmap then h.
    pub gates_w: Vec<f32>,
    /// `[4C]`
    pub gates_b: Vec<f32>,
    /// `[1, 1 + C, k, k]`, input channels heatmap then h_out.
    pub out_w: Vec<f32>,
    /// `[1]`
    pub out_b: Vec<f32>,
}

/// Deterministic numbers for weights and tests (Knuth's MMIX LCG, top 24 bits).
struct Lcg(u64);

impl Lcg {
    fn new(seed: u64) -> Self {
        let mut lcg = Lcg(seed ^ 0x9E37_79B9_7F4A_7C15);
        lcg.unit();
        lcg
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }

    fn fill(&mut self, len: usize, scale: f32) -> Vec<f32> {
        (0..len).map(|_| (2.0 * self.unit() - 1.0) * scale).collect()
    }
}

/// Scale of the random part of the initial gate weights: enough to break the symmetry between
/// hidden channels, small against the running-average start (PyTorch's default, +-1/sqrt(fan_in) =
/// +-0.19 here, bent and shifted the averaged blob so much that blending it in raised the loss).
const IDENTITY_NOISE: f32 = 0.02;

impl ConvLstmWeights {
    /// A stabilizer whose `s` is exactly its input heatmaps (zero output convolution).
    ///
    /// The gates are not zero: with zero gates and zero `out_w`, `h` stays 0 and no gradient reaches
    /// either convolution, so training could never leave the identity. They get small random
    /// weights ([`IDENTITY_NOISE`]) and a start as running averages of the heatmap: the
    /// candidate `g` takes half the heatmap's centre tap, the forget gates alternate between a
    /// short and a long memory (bias 0 and 2: f = 0.5, 0.88) with input gates i = 1 - f, and the
    /// output gate is open (bias 2).
    /// Then `h` holds smoothed copies of the map from the first step and training only has to learn
    /// how much of them the output blends in. From the random start alone, held-out jitter had not
    /// moved after 200 steps (the state was too faint for the output convolution to use).
    pub fn identity(spec: ConvLstmSpec) -> Self {
        let [gates, fan_in, k, _] = spec.gates_w_shape();
        let mut gates_w = Lcg::new(0x5354_4541_4459).fill(gates * fan_in * k * k, IDENTITY_NOISE);
        let c = spec.hidden;
        let centre = (k / 2) * k + k / 2;
        for ch in 0..c {
            // Gate g (block 3), channel ch, input channel 0 (the heatmap), centre tap: g ~ o / 2,
            // small enough that tanh stays nearly linear on peak-1 maps.
            gates_w[((3 * c + ch) * fan_in) * k * k + centre] += 0.5;
        }
        // i = 1 - f makes c an exponential average: c_t = f c_{t-1} + (1 - f) g_t.
        let mut gates_b = vec![0.0; gates];
        for ch in 0..c {
            let forget = if ch % 2 == 0 { 0.0 } else { 2.0 };
            gates_b[ch] = -forget;
            gates_b[c + ch] = forget;
        }
        gates_b[2 * c..3 * c].fill(2.0);
        let out_len = spec.out_w_shape().iter().product();
        ConvLstmWeights { spec, gates_w, gates_b, out_w: vec![0.0; out_len], out_b: vec![0.0] }
    }

    /// Every weight uniform in [-scale, scale], the same for the same seed on every machine.
    pub fn seeded(spec: ConvLstmSpec, seed: u64, scale: f32) -> Self {
        let mut lcg = Lcg::new(seed);
        ConvLstmWeights {
            spec,
            gates_w: lcg.fill(spec.gates_w_shape().iter().product(), scale),
            gates_b: lcg.fill(4 * spec.hidden, scale),
            out_w: lcg.fill(spec.out_w_shape().iter().product(), scale),
            out_b: lcg.fill(1, scale),
        }
    }

    /// Checks the spec and that every weight vector has its shape's length.
    pub fn check(&self) -> Result<()> {
        self.spec.check()?;
        let spec = self.spec;
        let expect = [
            ("gates_w", self.gates_w.len(), spec.gates_w_shape().iter().product::<usize>()),
            ("gates_b", self.gates_b.len(), 4 * spec.hidden),
            ("out_w", self.out_w.len(), spec.out_w_shape().iter().product()),
            ("out_b", self.out_b.len(), 1),
        ];
        for (name, got, want) in expect {
            if got != want {
                return Err(Error::Other(format!("ConvLSTM {spec:?}: {name} has {got} values, expected {want}")));
            }
        }
        Ok(())
    }

    /// One step of the cell on NCHW buffers; returns `(s, h_out, c_out)`.
    ///
    /// Naive loops in f32: the reference that the ONNX graph and training code are checked against.
    pub fn forward(
        &self,
        heatmaps: &[f32],
        h: &[f32],
        c: &[f32],
        n: usize,
        height: usize,
        width: usize,
    ) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
        self.check()?;
        let ConvLstmSpec { points: kk, hidden: cc, kernel } = self.spec;
        let plane = height * width;
        for (name, got, want) in [
            ("heatmaps", heatmaps.len(), n * kk * plane),
            ("h", h.len(), n * kk * cc * plane),
            ("c", c.len(), n * kk * cc * plane),
        ] {
            if got != want {
                return Err(Error::Other(format!(
                    "ConvLSTM forward: {name} has {got} values, expected {want} for N={n} H={height} W={width}"
                )));
            }
        }
        let (mut s, mut h_out, mut c_out) = (Vec::with_capacity(heatmaps.len()), Vec::new(), Vec::new());
        // Landmark j of face b is image b * K + j of the cell's batch.
        for j in 0..n * kk {
            let o_j = &heatmaps[j * plane..(j + 1) * plane];
            let h_j = &h[j * cc * plane..(j + 1) * cc * plane];
            let c_j = &c[j * cc * plane..(j + 1) * cc * plane];
            let x = [o_j, h_j].concat();
            let z = conv2d(&x, &self.gates_w, &self.gates_b, 1 + cc, 4 * cc, kernel, height, width);
            let gate = |g: usize, ch: usize| &z[(g * cc + ch) * plane..(g * cc + ch + 1) * plane];
            let mut h_new = vec![0.0; cc * plane];
            let mut c_new = vec![0.0; cc * plane];
            for ch in 0..cc {
                let (zi, zf, zo, zg) = (gate(0, ch), gate(1, ch), gate(2, ch), gate(3, ch));
                for p in 0..plane {
                    let (i, f, o, g) = (sigmoid(zi[p]), sigmoid(zf[p]), sigmoid(zo[p]), zg[p].tanh());
                    let cell = f * c_j[ch * plane + p] + i * g;
                    c_new[ch * plane + p] = cell;
                    h_new[ch * plane + p] = o * cell.tanh();
                }
            }
            let delta = conv2d(&[o_j, &h_new].concat(), &self.out_w, &self.out_b, 1 + cc, 1, kernel, height, width);
            s.extend(o_j.iter().zip(&delta).map(|(a, d)| a + d));
            h_out.extend(h_new);
            c_out.extend(c_new);
        }
        Ok((s, h_out, c_out))
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Stride-1 2-D convolution with zero padding `k / 2` of one CHW image, weights `[cout, cin, k, k]`.
#[allow(clippy::too_many_arguments)]
fn conv2d(
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    cin: usize,
    cout: usize,
    k: usize,
    height: usize,
    width: usize,
) -> Vec<f32> {
    let plane = height * width;
    let pad = (k / 2) as isize;
    let mut out = vec![0.0f32; cout * plane];
    for oc in 0..cout {
        let out_plane = &mut out[oc * plane..(oc + 1) * plane];
        out_plane.fill(bias[oc]);
        for ic in 0..cin {
            let in_plane = &input[ic * plane..(ic + 1) * plane];
            for ky in 0..k {
                let dy = ky as isize - pad;
                for kx in 0..k {
                    let dx = kx as isize - pad;
                    let w = weights[((oc * cin + ic) * k + ky) * k + kx];
                    // Output rows/columns whose shifted input lies inside the image.
                    let (y0, y1) = ((-dy).max(0) as usize, (height as isize - dy).clamp(0, height as isize) as usize);
                    let (x0, x1) = ((-dx).max(0) as usize, (width as isize - dx).clamp(0, width as isize) as usize);
                    for y in y0..y1 {
                        let src = ((y as isize + dy) as usize) * width;
                        for x in x0..x1 {
                            out_plane[y * width + x] += w * in_plane[src + (x as isize + dx) as usize];
                        }
                    }
                }
            }
        }
    }
    out
}

/// The stabilizer as an ONNX model (opset 17, IR 8): inputs `heatmaps` `[N,K,H,W]`, `h`, `c`
/// `[N,K*C,H,W]`; outputs `s`, `h_out`, `c_out` in that order. N, H and W are symbolic so one file
/// serves any batch and heatmap size (the per-landmark reshapes copy H and W with Reshape's `0`);
/// the spec is also stored as `steadyface.convlstm.*` metadata.
pub fn convlstm_model(weights: &ConvLstmWeights) -> Result<ModelProto> {
    weights.check()?;
    let spec = weights.spec;
    let (kk, cc, k) = (spec.points, spec.hidden, spec.kernel);
    let p = (k / 2) as i64;
    let conv_attrs = || {
        vec![
            AttributeProto::ints("kernel_shape", &[k as i64, k as i64]),
            AttributeProto::ints("pads", &[p, p, p, p]),
            AttributeProto::ints("strides", &[1, 1]),
            AttributeProto::ints("dilations", &[1, 1]),
            AttributeProto::int("group", 1),
        ]
    };
    let nchw = |ch: usize| [Dim::param("N"), Dim::Fixed(ch), Dim::param("H"), Dim::param("W")];
    let axis1 = || vec![AttributeProto::int("axis", 1)];
    let graph = GraphBuilder::new("convlstm_stabilizer")
        .input("heatmaps", &nchw(kk))
        .input("h", &nchw(kk * cc))
        .input("c", &nchw(kk * cc))
        .output("s", &nchw(kk))
        .output("h_out", &nchw(kk * cc))
        .output("c_out", &nchw(kk * cc))
        .initializer("gates_w", &spec.gates_w_shape(), &weights.gates_w)
        .initializer("gates_b", &[4 * cc], &weights.gates_b)
        .initializer("out_w", &spec.out_w_shape(), &weights.out_w)
        .initializer("out_b", &[1], &weights.out_b)
        .initializer_i64("gate_sizes", &[4], &[cc as i64; 4])
        .initializer_i64("per_landmark_map", &[4], &[-1, 1, 0, 0])
        .initializer_i64("per_landmark_state", &[4], &[-1, cc as i64, 0, 0])
        .initializer_i64("per_face_maps", &[4], &[-1, kk as i64, 0, 0])
        .initializer_i64("per_face_state", &[4], &[-1, (kk * cc) as i64, 0, 0])
        .node("Reshape", &["heatmaps", "per_landmark_map"], &["o1"], vec![])
        .node("Reshape", &["h", "per_landmark_state"], &["h1"], vec![])
        .node("Reshape", &["c", "per_landmark_state"], &["c1"], vec![])
        .node("Concat", &["o1", "h1"], &["x"], axis1())
        .node("Conv", &["x", "gates_w", "gates_b"], &["z"], conv_attrs())
        .node("Split", &["z", "gate_sizes"], &["zi", "zf", "zo", "zg"], axis1())
        .node("Sigmoid", &["zi"], &["i"], vec![])
        .node("Sigmoid", &["zf"], &["f"], vec![])
        .node("Sigmoid", &["zo"], &["o"], vec![])
        .node("Tanh", &["zg"], &["g"], vec![])
        .node("Mul", &["f", "c1"], &["f_c"], vec![])
        .node("Mul", &["i", "g"], &["i_g"], vec![])
        .node("Add", &["f_c", "i_g"], &["c_out1"], vec![])
        .node("Tanh", &["c_out1"], &["tanh_c"], vec![])
        .node("Mul", &["o", "tanh_c"], &["h_out1"], vec![])
        .node("Concat", &["o1", "h_out1"], &["y"], axis1())
        .node("Conv", &["y", "out_w", "out_b"], &["delta"], conv_attrs())
        .node("Add", &["o1", "delta"], &["s1"], vec![])
        .node("Reshape", &["s1", "per_face_maps"], &["s"], vec![])
        .node("Reshape", &["h_out1", "per_face_state"], &["h_out"], vec![])
        .node("Reshape", &["c_out1", "per_face_state"], &["c_out"], vec![])
        .build()?;
    Ok(model(graph, OPSET)
        .with_metadata("steadyface.model", "convlstm-stabilizer")
        .with_metadata("steadyface.convlstm.points", &kk.to_string())
        .with_metadata("steadyface.convlstm.hidden", &cc.to_string())
        .with_metadata("steadyface.convlstm.kernel", &k.to_string())
        .with_metadata("steadyface.convlstm.gate_order", "i,f,o,g")
        .with_metadata("steadyface.convlstm.layout", "per-landmark"))
}

/// The weights of the serialized model `bytes` when its graph is, byte for byte, the one
/// [`convlstm_model`] writes for them (same opset), so that any implementation of the equations
/// above computes exactly that model; `None` for every other model.
pub fn recognise(bytes: &[u8]) -> Option<ConvLstmWeights> {
    /// Just `ModelProto.graph`, undecoded: compared as bytes, fields that [`super::proto::GraphProto`] does not
    /// know (and so would drop when decoding) still count.
    #[derive(Clone, PartialEq, prost::Message)]
    struct RawGraph {
        #[prost(bytes = "vec", optional, tag = "7")]
        graph: Option<Vec<u8>>,
    }
    let model = ModelProto::from_bytes(bytes).ok()?;
    let meta = |key: &str| -> Option<usize> {
        let entry = model.metadata_props.iter().find(|e| e.key.as_deref() == Some(key))?;
        entry.value.as_deref()?.parse().ok()
    };
    let spec = ConvLstmSpec {
        points: meta("steadyface.convlstm.points")?,
        hidden: meta("steadyface.convlstm.hidden")?,
        kernel: meta("steadyface.convlstm.kernel")?,
    };
    let graph = model.graph.as_ref()?;
    let floats = |name: &str| -> Option<Vec<f32>> {
        let tensor = graph.initializer.iter().find(|t| t.name.as_deref() == Some(name))?;
        let raw = tensor.raw_data.as_deref()?;
        raw.chunks_exact(4).map(|b| <[u8; 4]>::try_from(b).ok().map(f32::from_le_bytes)).collect()
    };
    let weights = ConvLstmWeights {
        spec,
        gates_w: floats("gates_w")?,
        gates_b: floats("gates_b")?,
        out_w: floats("out_w")?,
        out_b: floats("out_b")?,
    };
    let rebuilt = convlstm_model(&weights).ok()?;
    let raw = RawGraph::decode(bytes).ok()?.graph?;
    let same = rebuilt.opset_import == model.opset_import && raw == rebuilt.graph?.encode_to_vec();
    same.then_some(weights)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::proto::{AttributeType, tensor_shape_proto::dimension, type_proto};

    const SPEC: ConvLstmSpec = ConvLstmSpec { points: 2, hidden: 3, kernel: 3 };

    #[test]
    fn model_round_trips_through_prost() {
        let bytes = convlstm_model(&ConvLstmWeights::seeded(SPEC, 1, 0.5)).unwrap().to_bytes();
        let m = ModelProto::from_bytes(&bytes).unwrap();
        assert_eq!((m.ir_version, m.producer_name.as_deref()), (Some(8), Some("steadyface")));
        assert_eq!(m.opset_import[0].version, Some(17));
        let g = m.graph.unwrap();
        let names: Vec<_> = g.input.iter().map(|v| v.name.clone().unwrap()).collect();
        assert_eq!(names, ["heatmaps", "h", "c"]);
        let Some(type_proto::Value::TensorType(t)) = &g.output[0].r#type.as_ref().unwrap().value else { panic!() };
        let dims: Vec<_> = t.shape.as_ref().unwrap().dim.iter().map(|d| d.value.clone().unwrap()).collect();
        assert_eq!(dims[0], dimension::Value::DimParam("N".into()));
        assert_eq!(dims[1], dimension::Value::DimValue(2));
        let split = g.node.iter().find(|n| n.op_type.as_deref() == Some("Split")).unwrap();
        assert_eq!(split.attribute[0].r#type, Some(AttributeType::Int as i32));
        let raw = g.initializer[0].raw_data.as_ref().unwrap();
        assert_eq!(raw.len(), 4 * SPEC.gates_w_shape().iter().product::<usize>());
    }

    /// The field numbers that are easy to get wrong, checked on the wire (key = tag << 3 | wire type).
    #[test]
    fn tricky_tags_on_the_wire() {
        let bytes = AttributeProto::int("axis", 0).encode_to_vec();
        // name (1, len) "axis", i (3, varint) 0 present, type (20, varint) = INT: key 160 = [0xA0, 0x01].
        assert_eq!(bytes, [0x0A, 4, b'a', b'x', b'i', b's', 0x18, 0, 0xA0, 0x01, 2]);
        let ints = AttributeProto::ints("pads", &[1, 1]).encode_to_vec();
        assert!(ints.windows(4).any(|w| w == [0x40, 1, 0x40, 1]), "ints unpacked under tag 8: {ints:?}");
    }

    #[test]
    fn identity_returns_the_heatmaps() {
        let w = ConvLstmWeights::identity(SPEC);
        let (n, hh, ww) = (2, 4, 5);
        let heat: Vec<f32> = Lcg::new(3).fill(n * 2 * hh * ww, 1.0);
        let state: Vec<f32> = Lcg::new(4).fill(n * SPEC.state_channels() * hh * ww, 1.0);
        let (s, h, _) = w.forward(&heat, &state, &state, n, hh, ww).unwrap();
        assert_eq!(s, heat);
        assert!(h.iter().any(|&v| v != 0.0), "h must move so that training has a gradient");
    }

    #[test]
    fn recognise_reads_back_exactly_the_graph_it_writes() {
        let weights = ConvLstmWeights::seeded(SPEC, 5, 0.5);
        let model = convlstm_model(&weights).unwrap();
        assert_eq!(recognise(&model.to_bytes()), Some(weights.clone()));
        // Any change to the graph, a weight's shape or the metadata: not this graph.
        let mut other = model.clone();
        other.graph.as_mut().unwrap().node[6].op_type = Some("HardSigmoid".into());
        assert_eq!(recognise(&other.to_bytes()), None);
        let mut other = model.clone();
        other.metadata_props.retain(|e| e.key.as_deref() != Some("steadyface.convlstm.hidden"));
        assert_eq!(recognise(&other.to_bytes()), None);
        let mut other = model.clone();
        other.graph.as_mut().unwrap().initializer[1].raw_data.as_mut().unwrap().truncate(6);
        assert_eq!(recognise(&other.to_bytes()), None);
        let mut other = model;
        other.opset_import[0].version = Some(13);
        assert_eq!(recognise(&other.to_bytes()), None);
        assert_eq!(recognise(b"not a model"), None);
    }

    #[test]
    fn conv_matches_a_hand_computed_value() {
        // 1 input channel 3x3 of ones, a 3x3 kernel of ones: corners see 4, edges 6, centre 9.
        let out = conv2d(&[1.0; 9], &[1.0; 9], &[0.5], 1, 1, 3, 3, 3);
        assert_eq!(out, [4.5, 6.5, 4.5, 6.5, 9.5, 6.5, 4.5, 6.5, 4.5]);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let mut w = ConvLstmWeights::seeded(SPEC, 1, 0.5);
        assert!(w.forward(&[0.0; 3], &[], &[], 1, 2, 2).is_err());
        w.out_b.pop();
        assert!(convlstm_model(&w).is_err());
        assert!(ConvLstmSpec { kernel: 2, ..SPEC }.check().is_err());
        assert_eq!(ConvLstmWeights::seeded(SPEC, 9, 0.5), ConvLstmWeights::seeded(SPEC, 9, 0.5));
    }
}
