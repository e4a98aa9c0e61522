//! The stabilizer's ConvLSTM cell evaluated on the CPU (AVX-512 or AVX2), without ONNX Runtime.
//!
//! The shipped cell is 2.4 M multiply-adds and 100 k exponentials a face, yet ONNX Runtime spends
//! most of its time around them: 21 nodes of a few microseconds of work each, and its blocked
//! convolutions pad the 3 input and 1 output channels to 16 (docs/benchmarks.md). Here the whole step runs in one
//! pass per landmark over a few kilobytes that stay in L1. It computes exactly the graph
//! [`convlstm_model`](crate::onnx::convlstm_model) writes (the module docs of
//! [`crate::onnx::convlstm`] give the equations), so [`super::Stabilizer`] uses it only for models
//! that are that graph; tests check it against ONNX Runtime.
//!
//! One body serves both instruction sets: the kernels are generic over [`Vector`], and
//! `#[target_feature]` entry points instantiate them for AVX-512 (16 floats a register, 32
//! registers) and AVX2 with FMA (8 floats, 16 registers).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use crate::onnx::{ConvLstmSpec, ConvLstmWeights};

/// The widest vector (AVX-512): buffers are padded for it whichever width runs.
const MAX_LANES: usize = 16;

/// The cell's weights, laid out for [`NativeCell::step`].
#[derive(Debug, Clone)]
pub struct NativeCell {
    spec: ConvLstmSpec,
    isa: Isa,
    /// `[taps][4C]`: the gate convolution's weights, tap-major (tap = input channel, ky, kx), so
    /// that one input vector meets the weights of every output channel in a row.
    gates_w: Vec<f32>,
    gates_b: Vec<f32>,
    /// `[taps]`: the output convolution (one output channel).
    out_w: Vec<f32>,
    out_b: f32,
}

/// The instruction set [`NativeCell::step`] runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    Avx512,
    Avx2,
}

impl Isa {
    /// The best this CPU has, if any.
    fn detect() -> Option<Isa> {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                return Some(Isa::Avx512);
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Some(Isa::Avx2);
            }
        }
        None
    }
}

impl NativeCell {
    /// The cell for `weights` with the best instruction set this CPU has (or `isa`, when it has
    /// that one); `None` when it has neither (ONNX Runtime then runs the model).
    pub fn new(weights: &ConvLstmWeights, isa: Option<Isa>) -> Option<Self> {
        let best = Isa::detect()?;
        let isa = match isa {
            Some(Isa::Avx512) if best != Isa::Avx512 => return None,
            Some(isa) => isa,
            None => best,
        };
        weights.check().ok()?;
        let spec = weights.spec;
        let taps = (1 + spec.hidden) * spec.kernel * spec.kernel;
        let gates = 4 * spec.hidden;
        let gates_w = (0..taps * gates).map(|i| weights.gates_w[(i % gates) * taps + i / gates]).collect();
        Some(NativeCell {
            spec,
            isa,
            gates_w,
            gates_b: weights.gates_b.clone(),
            out_w: weights.out_w.clone(),
            out_b: weights.out_b[0],
        })
    }

    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// One step for `images` landmark images of `height` x `width` (N faces x K landmarks, image
    /// `b * K + j` being landmark j of face b): `heatmaps` `[images, H, W]`, states `h`, `c`
    /// `[images, C, H, W]`. Writes `s`, `h_out`, `c_out` in the same layouts.
    pub fn step(&self, inputs: [&[f32]; 3], outputs: [&mut [f32]; 3], height: usize, width: usize) {
        let plane = height * width;
        let states = plane * self.spec.hidden;
        let images = inputs[0].len() / plane.max(1);
        assert!(
            plane > 0
                && inputs[0].len() == images * plane
                && [inputs[1].len(), inputs[2].len()] == [images * states; 2]
                && [outputs[0].len(), outputs[1].len(), outputs[2].len()]
                    == [images * plane, images * states, images * states],
            "cell step: buffer lengths do not match {images} images of {height}x{width}"
        );
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `new` made the cell for an instruction set this CPU has.
        unsafe {
            match self.isa {
                Isa::Avx512 => self.step_avx512(inputs, outputs, height, width),
                Isa::Avx2 => self.step_avx2(inputs, outputs, height, width),
            }
        }
        // Never made off x86_64 (`Isa::detect` is None there).
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (inputs, outputs);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn step_avx512(&self, inputs: [&[f32]; 3], outputs: [&mut [f32]; 3], height: usize, width: usize) {
        // SAFETY: this function's features are the ones `__m512` needs.
        unsafe { self.step_with::<__m512>(inputs, outputs, height, width) }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn step_avx2(&self, inputs: [&[f32]; 3], outputs: [&mut [f32]; 3], height: usize, width: usize) {
        // SAFETY: this function's features are the ones `__m256` needs.
        unsafe { self.step_with::<__m256>(inputs, outputs, height, width) }
    }

    /// # Safety
    /// The CPU has `V`'s features (see [`Vector`]); buffer lengths as `step` asserts.
    #[inline(always)]
    unsafe fn step_with<V: Vector>(
        &self,
        [heatmaps, h, c]: [&[f32]; 3],
        [s, h_out, c_out]: [&mut [f32]; 3],
        height: usize,
        width: usize,
    ) {
        let cc = self.spec.hidden;
        let plane = height * width;
        let mut x = Padded::new(1 + cc, self.spec.kernel, height, width);
        let len = x.output_len();
        let (mut z, mut c_then) = (vec![0.0f32; 4 * cc * len], vec![0.0f32; cc * len]);
        let (mut h_now, mut c_now, mut delta) = (vec![0.0f32; cc * len], vec![0.0f32; cc * len], vec![0.0f32; len]);
        let mask = x.pixel_mask();
        let state = cc * plane;
        for (j, o) in heatmaps.chunks_exact(plane).enumerate() {
            let states = j * state..(j + 1) * state;
            x.set_plane(0, o);
            for (ch, h) in h[states.clone()].chunks_exact(plane).enumerate() {
                x.set_plane(1 + ch, h);
            }
            for (ch, c) in c[states.clone()].chunks_exact(plane).enumerate() {
                x.image_to_output(c, &mut c_then[ch * len..(ch + 1) * len]);
            }
            // SAFETY (here and for the output convolution below): the caller's.
            unsafe {
                x.convolve::<V>(&self.gates_w, &self.gates_b, &mut z);
                lstm::<V>(&mut z, &c_then, &mask, &mut h_now, &mut c_now);
            }
            for ch in 0..cc {
                let image = states.start + ch * plane..states.start + (ch + 1) * plane;
                x.output_to_image(&h_now[ch * len..(ch + 1) * len], &mut h_out[image.clone()]);
                x.output_to_image(&c_now[ch * len..(ch + 1) * len], &mut c_out[image]);
                // h_now is zero off the pixels (mask), so it drops into the padded plane whole.
                x.set_plane_from_output(1 + ch, &h_now[ch * len..(ch + 1) * len]);
            }
            unsafe { x.convolve::<V>(&self.out_w, std::slice::from_ref(&self.out_b), &mut delta) };
            let s = &mut s[j * plane..(j + 1) * plane];
            x.output_to_image(&delta, s);
            for (s, &o) in s.iter_mut().zip(o) {
                *s += o;
            }
        }
    }
}

/// A few H x W planes inside a zero border of `k / 2` pixels, rows `pitch = W + 2 (k / 2)` apart.
///
/// A stride-1 `k x k` convolution is then a sum of whole shifted copies of the planes: output
/// pixel (y, x) sits at `y * pitch + x` of the output layout and reads tap (ch, ky, kx) at that
/// index plus `ch * area + ky * pitch + kx`, one contiguous run per tap, with no bounds tests and
/// no patches to copy. The output layout's columns W..pitch are not pixels (they read the border
/// and the next row); [`Padded::pixel_mask`] marks them.
struct Padded {
    width: usize,
    pitch: usize,
    /// Padded plane size.
    area: usize,
    pad: usize,
    /// Where each tap (channel, ky, kx) reads, relative to the output index.
    taps: Vec<usize>,
    /// Output indices that hold pixels: `height * pitch - 2 pad`.
    span: usize,
    data: Vec<f32>,
}

impl Padded {
    fn new(channels: usize, kernel: usize, height: usize, width: usize) -> Self {
        let pad = kernel / 2;
        let pitch = width + 2 * pad;
        let area = (height + 2 * pad) * pitch;
        let taps = (0..channels * kernel * kernel)
            .map(|t| t / (kernel * kernel) * area + t / kernel % kernel * pitch + t % kernel)
            .collect();
        let span = height * pitch - 2 * pad;
        // The last vector of outputs reads up to MAX_LANES - 1 values past the last plane.
        Padded { width, pitch, area, pad, taps, span, data: vec![0.0; channels * area + MAX_LANES] }
    }

    /// Length of one plane of the output layout: [`Padded::span`] rounded up to whole vectors.
    fn output_len(&self) -> usize {
        self.span.next_multiple_of(MAX_LANES)
    }

    /// 1 where the output layout holds a pixel, 0 elsewhere.
    fn pixel_mask(&self) -> Vec<f32> {
        (0..self.output_len()).map(|i| f32::from(u8::from(i < self.span && i % self.pitch < self.width))).collect()
    }

    /// Channel `ch`'s interior as the H x W plane `src`.
    fn set_plane(&mut self, ch: usize, src: &[f32]) {
        let start = ch * self.area + self.pad * self.pitch + self.pad;
        for (y, row) in src.chunks_exact(self.width).enumerate() {
            self.data[start + y * self.pitch..][..self.width].copy_from_slice(row);
        }
    }

    /// Channel `ch`'s interior from a plane in the output layout that is zero off the pixels.
    fn set_plane_from_output(&mut self, ch: usize, src: &[f32]) {
        let start = ch * self.area + self.pad * self.pitch + self.pad;
        self.data[start..start + self.span].copy_from_slice(&src[..self.span]);
    }

    /// An H x W plane into the output layout (other entries untouched).
    fn image_to_output(&self, src: &[f32], dst: &mut [f32]) {
        for (y, row) in src.chunks_exact(self.width).enumerate() {
            dst[y * self.pitch..][..self.width].copy_from_slice(row);
        }
    }

    /// The pixels of a plane in the output layout as an H x W plane.
    fn output_to_image(&self, src: &[f32], dst: &mut [f32]) {
        for (y, row) in dst.chunks_exact_mut(self.width).enumerate() {
            row.copy_from_slice(&src[y * self.pitch..][..self.width]);
        }
    }

    /// `out[oc]` (planes of [`Padded::output_len`] in the output layout) = `bias[oc]` + the
    /// convolution of the channels with the tap-major weights (`weights[tap * OC + oc]`).
    ///
    /// # Safety
    /// The CPU has `V`'s features.
    #[inline(always)]
    unsafe fn convolve<V: Vector>(&self, weights: &[f32], bias: &[f32], out: &mut [f32]) {
        let (len, oc) = (self.output_len(), bias.len());
        // What `convolve_vectors` reads and writes: the last vector of outputs reads up to the
        // last tap's offset + len (the data's slack covers it), and writes up to oc planes.
        let last_tap = self.taps.last().copied().unwrap_or(0);
        assert!(weights.len() == self.taps.len() * oc && out.len() >= oc * len && self.data.len() >= last_tap + len);
        // Blocks of output channels x vectors whose accumulators fill about half the registers:
        // independent multiply-adds hide each other's latency, and each loaded input and
        // broadcast weight serves several of them (4 x 2 was the fastest of the blocks measured,
        // docs/benchmarks.md).
        let mut first = 0;
        while first < oc {
            // SAFETY: bounds asserted above; the CPU has V's features (the caller's).
            first += unsafe {
                match (oc - first, V::LANES) {
                    (8.., 16) => self.convolve_block::<V, 8, 2>(weights, bias, first, out),
                    (4.., _) => self.convolve_block::<V, 4, 2>(weights, bias, first, out),
                    (2..=3, _) => self.convolve_block::<V, 2, 4>(weights, bias, first, out),
                    _ => self.convolve_block::<V, 1, 8>(weights, bias, first, out),
                }
            };
        }
    }

    /// Output channels `first..first + OC` of [`Padded::convolve`], `B` vectors at a time, then
    /// one at a time for the rest; returns `OC`.
    ///
    /// # Safety
    /// The bounds that [`Padded::convolve`] asserts, `first + OC <= bias.len()`, and `V`'s
    /// features.
    #[inline(always)]
    unsafe fn convolve_block<V: Vector, const OC: usize, const B: usize>(
        &self,
        weights: &[f32],
        bias: &[f32],
        first: usize,
        out: &mut [f32],
    ) -> usize {
        let vectors = self.output_len() / V::LANES;
        let whole = vectors / B * B;
        // SAFETY: passed on from the caller.
        unsafe {
            for v in (0..whole).step_by(B) {
                self.convolve_vectors::<V, OC, B>(weights, bias, first, v * V::LANES, out);
            }
            for v in whole..vectors {
                self.convolve_vectors::<V, OC, 1>(weights, bias, first, v * V::LANES, out);
            }
        }
        OC
    }

    /// `B` vectors of outputs from index `start`, for output channels `first..first + OC`.
    /// Raw pointers: bounds checks in this loop cost as much as the arithmetic.
    ///
    /// # Safety
    /// As [`Padded::convolve_block`], and `start + B * V::LANES <= self.output_len()`.
    #[inline(always)]
    unsafe fn convolve_vectors<V: Vector, const OC: usize, const B: usize>(
        &self,
        weights: &[f32],
        bias: &[f32],
        first: usize,
        start: usize,
        out: &mut [f32],
    ) {
        let (stride, len, lanes) = (bias.len(), self.output_len(), V::LANES);
        let (data, w, out) = (self.data.as_ptr(), weights.as_ptr(), out.as_mut_ptr());
        // SAFETY: reads data[start + v * lanes + offset..][..lanes] within data[..last_tap + len],
        // weights[tap * stride + first + o] < taps * stride; writes out[(first + o) * len + start
        // + v * lanes..][..lanes] within oc * len (the caller's bounds); V's features.
        unsafe {
            let mut acc = [[V::splat(0.0); B]; OC];
            for (acc, &b) in acc.iter_mut().zip(&bias[first..first + OC]) {
                *acc = [V::splat(b); B];
            }
            for (t, &offset) in self.taps.iter().enumerate() {
                let x: [V; B] = std::array::from_fn(|v| V::load(data.add(start + v * lanes + offset)));
                for (o, acc) in acc.iter_mut().enumerate() {
                    let w = V::splat(*w.add(t * stride + first + o));
                    for (acc, &x) in acc.iter_mut().zip(&x) {
                        *acc = w.mul_add(x, *acc);
                    }
                }
            }
            for (o, acc) in acc.iter().enumerate() {
                for (v, a) in acc.iter().enumerate() {
                    a.store(out.add((first + o) * len + start + v * lanes));
                }
            }
        }
    }
}

/// The gates and states over whole planes of the output layout (`z` = 4C planes in the gate
/// order i, f, o, g; `c`, `h_out`, `c_out` = C planes): `c_out = f * c + i * g`,
/// `h_out = o * tanh(c_out)`, with `i, f, o = sigmoid(zi, zf, zo)`, `g = tanh(zg)`. Both outputs
/// are zeroed off the pixels (`mask`). The gates are activated in place first, in a loop of its
/// own: short independent iterations overlap in the CPU, where one loop doing all five
/// exponentials of a value waited on their chains.
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
unsafe fn lstm<V: Vector>(z: &mut [f32], c: &[f32], mask: &[f32], h_out: &mut [f32], c_out: &mut [f32]) {
    let (len, n) = (mask.len(), c.len());
    assert!(z.len() == 4 * n && h_out.len() == n && c_out.len() == n && n.is_multiple_of(len));
    let (sigmoids, candidates) = z.split_at_mut(3 * n);
    // SAFETY: V's features (the caller's); `load`/`store` check their slices.
    unsafe {
        for v in sigmoids.chunks_exact_mut(V::LANES) {
            store(v, sigmoid(load::<V>(v)));
        }
        for v in candidates.chunks_exact_mut(V::LANES) {
            store(v, tanh(load::<V>(v)));
        }
        for (p, m) in (0..n).step_by(V::LANES).zip(mask.chunks_exact(V::LANES).cycle()) {
            let gate = |g: usize| load::<V>(&z[g * n + p..]);
            let cell = gate(1).mul_add(load(&c[p..]), gate(0).mul(gate(3))).mul(load(m));
            store(&mut c_out[p..], cell);
            store(&mut h_out[p..], gate(2).mul(tanh(cell)));
        }
    }
}

/// The first `V::LANES` floats of `s` (panics when shorter).
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
unsafe fn load<V: Vector>(s: &[f32]) -> V {
    let s = &s[..V::LANES];
    // SAFETY: `s` holds a vector's floats; the load has no alignment requirement.
    unsafe { V::load(s.as_ptr()) }
}

/// Stores `v` into the first `V::LANES` floats of `s` (panics when shorter).
///
/// # Safety
/// As [`load`].
#[inline(always)]
unsafe fn store<V: Vector>(s: &mut [f32], v: V) {
    let s = &mut s[..V::LANES];
    // SAFETY: as in `load`.
    unsafe { v.store(s.as_mut_ptr()) }
}

/// # Safety
/// The CPU has `V`'s features (all the functions on vectors below).
#[inline(always)]
unsafe fn sigmoid<V: Vector>(x: V) -> V {
    unsafe { recip(V::splat(1.0).add(exp(V::splat(0.0).sub(x)))) }
}

/// `1 - 2 / (1 + e^2x)`, which is 1 to the last bit from x = 9 on and -1 from x = -9.
#[inline(always)]
unsafe fn tanh<V: Vector>(x: V) -> V {
    unsafe {
        let two = V::splat(2.0);
        V::splat(1.0).sub(two.mul(recip(V::splat(1.0).add(exp(two.mul(x))))))
    }
}

/// 1 / d for d >= 1 up to e^80 (what `sigmoid` and `tanh` divide by): the hardware's estimate
/// (12 or 14 bits) and one Newton step, within 2e-7 relative, at a fraction of a division's cost
/// (five divisions per value made the gates slower than the convolutions).
#[inline(always)]
unsafe fn recip<V: Vector>(d: V) -> V {
    unsafe {
        let r = d.recip_estimate();
        r.mul(d.neg_mul_add(r, V::splat(2.0)))
    }
}

/// e^x for x in [-87, 80], clamped to that range beyond it (so that 1 + e^x stays finite for
/// [`recip`]); NaN stays NaN. x = n ln2 + r with |r| <= ln2 / 2, e^r by its Taylor series to
/// r^7 / 7! (relative error below 2e-7), times 2^n made in the exponent bits.
#[inline(always)]
unsafe fn exp<V: Vector>(x: V) -> V {
    unsafe {
        let x = x.clamp(-87.0, 80.0);
        let n = x.mul(V::splat(std::f32::consts::LOG2_E)).round();
        let r = n.neg_mul_add(V::splat(0.693_145_75), x);
        let r = n.neg_mul_add(V::splat(1.428_606_8e-6), r);
        let mut p = V::splat(1.0 / 5040.0);
        for coefficient in [1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
            p = p.mul_add(r, V::splat(coefficient));
        }
        p.mul(n.exp2_integer())
    }
}

/// One register of floats and the operations the cell needs on it: the one place that names
/// instructions.
///
/// # Safety
/// Every method needs the CPU features of its type: AVX-512F for `__m512`, AVX2 and FMA for
/// `__m256`. The kernels above are generic over this and run inside `#[target_feature]` entry
/// points, into which these `#[inline(always)]` bodies are compiled.
trait Vector: Copy {
    const LANES: usize;
    unsafe fn splat(x: f32) -> Self;
    /// `LANES` floats from `p`, no alignment needed.
    unsafe fn load(p: *const f32) -> Self;
    unsafe fn store(self, p: *mut f32);
    unsafe fn add(self, b: Self) -> Self;
    unsafe fn sub(self, b: Self) -> Self;
    unsafe fn mul(self, b: Self) -> Self;
    /// `self * b + c`, rounded once.
    unsafe fn mul_add(self, b: Self, c: Self) -> Self;
    /// `c - self * b`, rounded once.
    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self;
    /// Into `[lo, hi]`; NaN stays NaN.
    unsafe fn clamp(self, lo: f32, hi: f32) -> Self;
    /// To the nearest integer.
    unsafe fn round(self) -> Self;
    /// About 1 / self (12 bits or better).
    unsafe fn recip_estimate(self) -> Self;
    /// 2^self for integers from -126 to 127, made in the exponent bits.
    unsafe fn exp2_integer(self) -> Self;
}

#[cfg(target_arch = "x86_64")]
impl Vector for __m256 {
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        unsafe { _mm256_storeu_ps(p, self) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        unsafe { _mm256_add_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        unsafe { _mm256_sub_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        unsafe { _mm256_mul_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        unsafe { _mm256_fmadd_ps(self, b, c) }
    }
    #[inline(always)]
    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self {
        unsafe { _mm256_fnmadd_ps(self, b, c) }
    }
    #[inline(always)]
    unsafe fn clamp(self, lo: f32, hi: f32) -> Self {
        // max/min return their second operand when one is NaN, so NaN passes through.
        unsafe { _mm256_min_ps(_mm256_set1_ps(hi), _mm256_max_ps(_mm256_set1_ps(lo), self)) }
    }
    #[inline(always)]
    unsafe fn round(self) -> Self {
        unsafe { _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self) }
    }
    #[inline(always)]
    unsafe fn recip_estimate(self) -> Self {
        unsafe { _mm256_rcp_ps(self) }
    }
    #[inline(always)]
    unsafe fn exp2_integer(self) -> Self {
        unsafe {
            let biased = _mm256_add_epi32(_mm256_cvtps_epi32(self), _mm256_set1_epi32(127));
            _mm256_castsi256_ps(_mm256_slli_epi32::<23>(biased))
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Vector for __m512 {
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        unsafe { _mm512_storeu_ps(p, self) }
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        unsafe { _mm512_add_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        unsafe { _mm512_sub_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        unsafe { _mm512_mul_ps(self, b) }
    }
    #[inline(always)]
    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        unsafe { _mm512_fmadd_ps(self, b, c) }
    }
    #[inline(always)]
    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self {
        unsafe { _mm512_fnmadd_ps(self, b, c) }
    }
    #[inline(always)]
    unsafe fn clamp(self, lo: f32, hi: f32) -> Self {
        // As for __m256: the second operand wins on NaN.
        unsafe { _mm512_min_ps(_mm512_set1_ps(hi), _mm512_max_ps(_mm512_set1_ps(lo), self)) }
    }
    #[inline(always)]
    unsafe fn round(self) -> Self {
        unsafe { _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self) }
    }
    #[inline(always)]
    unsafe fn recip_estimate(self) -> Self {
        unsafe { _mm512_rcp14_ps(self) }
    }
    #[inline(always)]
    unsafe fn exp2_integer(self) -> Self {
        unsafe {
            let biased = _mm512_add_epi32(_mm512_cvtps_epi32(self), _mm512_set1_epi32(127));
            _mm512_castsi512_ps(_mm512_slli_epi32::<23>(biased))
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// The instruction sets this CPU can run.
    fn available() -> Vec<Isa> {
        [Isa::Avx512, Isa::Avx2]
            .into_iter()
            .filter(|&isa| NativeCell::new(&ConvLstmWeights::identity(spec(1, 3)), Some(isa)).is_some())
            .collect()
    }

    fn spec(hidden: usize, kernel: usize) -> ConvLstmSpec {
        ConvLstmSpec { points: 3, hidden, kernel }
    }

    /// `[exp(x), sigmoid(x), tanh(x)]` lane by lane, computed with `isa`.
    fn functions(isa: Isa, x: [f32; 16]) -> [[f32; 16]; 3] {
        let mut out = [[0.0; 16]; 3];
        // SAFETY: only called with an instruction set that `available` found.
        unsafe {
            match isa {
                Isa::Avx512 => functions_avx512(&x, &mut out),
                Isa::Avx2 => functions_avx2(&x, &mut out),
            }
        }
        out
    }

    #[target_feature(enable = "avx512f")]
    fn functions_avx512(x: &[f32; 16], out: &mut [[f32; 16]; 3]) {
        // SAFETY: 16 floats in and out; this function's features.
        unsafe {
            let v = __m512::load(x.as_ptr());
            for (f, out) in [exp(v), sigmoid(v), tanh(v)].into_iter().zip(out) {
                f.store(out.as_mut_ptr());
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    fn functions_avx2(x: &[f32; 16], out: &mut [[f32; 16]; 3]) {
        // SAFETY: two halves of 8 floats in and out; this function's features.
        unsafe {
            for half in [0, 8] {
                let v = __m256::load(x.as_ptr().add(half));
                for (f, out) in [exp(v), sigmoid(v), tanh(v)].into_iter().zip(out.iter_mut()) {
                    f.store(out.as_mut_ptr().add(half));
                }
            }
        }
    }

    #[test]
    fn exp_sigmoid_and_tanh_match_the_standard_library() {
        for isa in available() {
            let mut worst = [0.0f32; 3];
            for i in (-40_000..40_000).step_by(16) {
                let x: [f32; 16] = std::array::from_fn(|l| (i + l as i32) as f32 * 0.002);
                let [e, s, t] = functions(isa, x);
                for l in 0..16 {
                    worst[0] = worst[0].max((e[l] - x[l].exp()).abs() / x[l].exp());
                    worst[1] = worst[1].max((s[l] - 1.0 / (1.0 + (-x[l]).exp())).abs());
                    worst[2] = worst[2].max((t[l] - x[l].tanh()).abs());
                }
            }
            assert!(worst[0] < 3e-7 && worst[1] < 3e-7 && worst[2] < 5e-7, "{isa:?}: {worst:?}");
            let mut ends = [0.0; 16];
            ends[..8].copy_from_slice(&[100.0, -200.0, 50.0, -50.0, 200.0, -100.0, 0.0, f32::NAN]);
            let [e, s, t] = functions(isa, ends);
            assert_eq!(&e[..2], &[80.0f32.exp(), (-87.0f32).exp()], "{isa:?}: exp saturates");
            // AVX2's 12-bit reciprocal estimate after one Newton step is within 2 ulp of 1.
            for (got, want) in [(t[2], 1.0), (t[3], -1.0), (s[4], 1.0), (s[6], 0.5)] {
                assert!((got - want).abs() < 2e-7, "{isa:?}: {got} instead of {want}");
            }
            assert!((0.0..1e-34).contains(&s[5]), "{isa:?}: sigmoid(-100) = {}", s[5]);
            assert!(e[7].is_nan() && s[7].is_nan() && t[7].is_nan(), "{isa:?}: NaN must stay NaN");
        }
    }

    /// Against the plain loops of [`ConvLstmWeights::forward`], with every instruction set this
    /// CPU has, over odd sizes (rows that are not whole vectors, a 1x1 map), several hidden sizes
    /// (1, 2, 3 and 5 give gate blocks of 4, 8, 8 + 4 and 16 + 4 channels) and three kernels.
    #[test]
    fn step_matches_the_reference_forward() {
        for isa in available() {
            for (hidden, kernel, height, width) in
                [(2, 3, 12, 12), (1, 3, 5, 7), (3, 5, 9, 4), (5, 3, 1, 1), (2, 1, 3, 3)]
            {
                let weights = ConvLstmWeights::seeded(spec(hidden, kernel), 7, 0.4);
                let cell = NativeCell::new(&weights, Some(isa)).expect("cell");
                assert_eq!(cell.isa(), isa);
                let (n, plane) = (2, height * width);
                let wave = |len: usize, f: f32| (0..len).map(|i| (i as f32 * f).sin()).collect::<Vec<f32>>();
                let heat = wave(n * 3 * plane, 0.37);
                let (h, c) = (wave(n * 3 * hidden * plane, 0.11), wave(n * 3 * hidden * plane, 0.23));
                let (want_s, want_h, want_c) = weights.forward(&heat, &h, &c, n, height, width).expect("forward");
                let (mut s, mut h_out, mut c_out) = (vec![0.0; heat.len()], vec![0.0; h.len()], vec![0.0; h.len()]);
                cell.step([&heat, &h, &c], [&mut s, &mut h_out, &mut c_out], height, width);
                for (name, got, want) in [("s", &s, &want_s), ("h", &h_out, &want_h), ("c", &c_out, &want_c)] {
                    let d = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
                    assert!(d < 2e-6, "{isa:?}: {name} differs by {d} for C={hidden} k={kernel} {height}x{width}");
                }
            }
        }
    }
}
