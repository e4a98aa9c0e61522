//! The ConvLSTM stabilizer of [`steadyface::onnx::convlstm`] in candle, for training: the same cell,
//! shared by all landmarks, with its weights as trainable variables.

use candle_core::{DType, Device, Tensor, Var};

use crate::Result;
use steadyface::onnx::{ConvLstmSpec, ConvLstmWeights};

/// Trainable ConvLSTM weights.
pub struct Cell {
    pub spec: ConvLstmSpec,
    gates_w: Var,
    gates_b: Var,
    out_w: Var,
    out_b: Var,
}

fn var(data: &[f32], shape: &[usize], device: &Device, dtype: DType) -> Result<Var> {
    Ok(Var::from_tensor(&Tensor::from_slice(data, shape, device)?.to_dtype(dtype)?)?)
}

fn values(var: &Var) -> Result<Vec<f32>> {
    Ok(var.as_tensor().to_dtype(DType::F32)?.flatten_all()?.to_vec1()?)
}

/// Stride-1 "same" convolution `[N,Cin,H,W]` * `[Cout,Cin,k,k]` as one matrix product over the
/// k*k shifted copies of the input (im2col): candle's direct CPU convolution is ~10x slower on
/// these few-channel, many-image shapes, and this form's gradient is plain matmul and slicing.
fn conv_same(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let (n, cin, h, wd) = x.dims4()?;
    let (cout, _, k, _) = w.dims4()?;
    let p = k / 2;
    let padded = x.pad_with_zeros(2, p, p)?.pad_with_zeros(3, p, p)?;
    let mut shifted = Vec::with_capacity(k * k);
    for ky in 0..k {
        for kx in 0..k {
            shifted.push(padded.narrow(2, ky, h)?.narrow(3, kx, wd)?);
        }
    }
    // Column (ky*k + kx)*Cin + c holds channel c shifted by (ky, kx): weights as [Cout, k, k, Cin].
    let cols = Tensor::cat(&shifted, 1)?.reshape((n, k * k * cin, h * wd))?;
    let weights = w.permute((0, 2, 3, 1))?.reshape((1, cout, k * k * cin))?;
    weights.broadcast_matmul(&cols)?.reshape((n, cout, h, wd))
}

fn sigmoid(x: &Tensor) -> candle_core::Result<Tensor> {
    (x.neg()?.exp()? + 1.0)?.recip()
}

impl Cell {
    pub fn new(weights: &ConvLstmWeights, device: &Device, dtype: DType) -> Result<Self> {
        weights.check()?;
        let spec = weights.spec;
        Ok(Cell {
            spec,
            gates_w: var(&weights.gates_w, &spec.gates_w_shape(), device, dtype)?,
            gates_b: var(&weights.gates_b, &[4 * spec.hidden], device, dtype)?,
            out_w: var(&weights.out_w, &spec.out_w_shape(), device, dtype)?,
            out_b: var(&weights.out_b, &[1], device, dtype)?,
        })
    }

    pub fn vars(&self) -> Vec<Var> {
        vec![self.gates_w.clone(), self.gates_b.clone(), self.out_w.clone(), self.out_b.clone()]
    }

    /// The current weights, for export to ONNX and checkpoints.
    pub fn weights(&self) -> Result<ConvLstmWeights> {
        Ok(ConvLstmWeights {
            spec: self.spec,
            gates_w: values(&self.gates_w)?,
            gates_b: values(&self.gates_b)?,
            out_w: values(&self.out_w)?,
            out_b: values(&self.out_b)?,
        })
    }

    /// One step for a batch of faces: `o` `[B,K,H,W]`, `h`, `c` `[B*K,C,H,W]` (landmark j of face b
    /// is row b*K+j, as in the ONNX graph's reshape). Returns `(s, h, c)`.
    pub fn step(&self, o: &Tensor, h: &Tensor, c: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let (b, k, height, width) = o.dims4()?;
        let hidden = self.spec.hidden;
        let o1 = o.reshape((b * k, 1, height, width))?;
        let z = conv_same(&Tensor::cat(&[&o1, h], 1)?, self.gates_w.as_tensor())?
            .broadcast_add(&self.gates_b.as_tensor().reshape((1, 4 * hidden, 1, 1))?)?;
        let gate = |g: usize| z.narrow(1, g * hidden, hidden);
        let (i, f, og, g) = (sigmoid(&gate(0)?)?, sigmoid(&gate(1)?)?, sigmoid(&gate(2)?)?, gate(3)?.tanh()?);
        let c_out = ((f * c)? + (i * g)?)?;
        let h_out = (og * c_out.tanh()?)?;
        let delta = conv_same(&Tensor::cat(&[&o1, &h_out], 1)?, self.out_w.as_tensor())?
            .broadcast_add(&self.out_b.as_tensor().reshape((1, 1, 1, 1))?)?;
        let s = (o1 + delta)?.reshape((b, k, height, width))?;
        Ok((s, h_out, c_out))
    }

    /// A whole sequence from zero states: `heatmaps` `[B,T,K,H,W]` -> stabilized `[B,T,K,H,W]`.
    pub fn run(&self, heatmaps: &Tensor) -> Result<Tensor> {
        Ok(self.run_with_hidden(heatmaps)?.0)
    }

    /// [`Cell::run`] that also returns the hidden state after every step, `[T, B*K, C, H, W]`
    /// (the frame-order pretext task classifies windows from it).
    pub fn run_with_hidden(&self, heatmaps: &Tensor) -> Result<(Tensor, Tensor)> {
        let (b, t, k, height, width) = heatmaps.dims5()?;
        let zeros = Tensor::zeros((b * k, self.spec.hidden, height, width), heatmaps.dtype(), heatmaps.device())?;
        let (mut h, mut c) = (zeros.clone(), zeros);
        let (mut out, mut hidden) = (Vec::with_capacity(t), Vec::with_capacity(t));
        for step in 0..t {
            let (s, h2, c2) = self.step(&heatmaps.narrow(1, step, 1)?.squeeze(1)?, &h, &c)?;
            (h, c) = (h2, c2);
            hidden.push(h.clone());
            out.push(s);
        }
        Ok((Tensor::stack(&out, 1)?, Tensor::stack(&hidden, 0)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The candle cell computes what the reference forward pass (itself checked against ONNX
    /// Runtime and numpy in tests/convlstm_onnx.rs) computes, over several steps.
    #[test]
    fn candle_cell_matches_the_reference_forward() {
        let spec = ConvLstmSpec { points: 3, hidden: 2, kernel: 3 };
        let weights = ConvLstmWeights::seeded(spec, 5, 0.4);
        let cell = Cell::new(&weights, &Device::Cpu, DType::F32).unwrap();
        let (b, t, hh, ww) = (2, 3, 5, 6);
        let data: Vec<f32> = (0..b * t * 3 * hh * ww).map(|i| ((i * 37 % 101) as f32) / 101.0).collect();
        let seq = Tensor::from_slice(&data, (b, t, 3, hh, ww), &Device::Cpu).unwrap();
        let got: Vec<f32> = cell.run(&seq).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let plane = 3 * hh * ww;
        let mut h = vec![0.0; b * spec.state_channels() * hh * ww];
        let mut c = h.clone();
        let mut worst = 0.0f32;
        for step in 0..t {
            let input: Vec<f32> =
                (0..b).flat_map(|i| data[(i * t + step) * plane..(i * t + step + 1) * plane].to_vec()).collect();
            let (s, h2, c2) = weights.forward(&input, &h, &c, b, hh, ww).unwrap();
            (h, c) = (h2, c2);
            for i in 0..b {
                let want = &s[i * plane..(i + 1) * plane];
                let have = &got[(i * t + step) * plane..(i * t + step + 1) * plane];
                worst = want.iter().zip(have).map(|(a, b)| (a - b).abs()).fold(worst, f32::max);
            }
        }
        assert!(worst < 1e-5, "candle and reference differ by {worst}");
    }

    #[test]
    fn weights_round_trip() {
        let spec = ConvLstmSpec { points: 4, hidden: 2, kernel: 3 };
        let weights = ConvLstmWeights::seeded(spec, 2, 0.3);
        let cell = Cell::new(&weights, &Device::Cpu, DType::F32).unwrap();
        assert_eq!(cell.weights().unwrap(), weights);
    }
}

#[cfg(test)]
mod timing {
    use super::*;

    /// `cargo test --release --lib train::cell::timing -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn step_timing() {
        let spec = ConvLstmSpec { points: 68, hidden: 2, kernel: 3 };
        let cell = Cell::new(&ConvLstmWeights::seeded(spec, 1, 0.1), &Device::Cpu, DType::F32).unwrap();
        let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(24);
        let x = Tensor::rand(0f32, 1.0, (12, 6, 68, n, n), &Device::Cpu).unwrap();
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let s = cell.run(&x).unwrap();
            let loss = s.sqr().unwrap().sum_all().unwrap();
            let fwd = t.elapsed();
            let _ = loss.backward().unwrap();
            eprintln!("forward {fwd:?}, backward {:?}", t.elapsed() - fwd);
        }
    }
}
