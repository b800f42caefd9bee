//! The cleartext fixed-point backend: the reference every secure backend
//! must reproduce (bit for bit, or within the documented truncation error).
//!
//! Arithmetic, with s the global scale and trunc an arithmetic shift by s:
//! - Conv/MatMul: trunc(sum x*w) + bias
//! - Mul (element-wise): trunc(a*b); Add/Sub: exact
//! - Relu: exact; Clip(lo,hi): lo + relu(x-lo) - relu(x-hi) (one-sided:
//!   lo + relu(x-lo), or hi - relu(hi-x))
//! - LeakyRelu(a): trunc(enc(a)*x + enc(1-a)*relu(x))
//! - MaxPool: a tree of pairwise max over window cells
//! - AvgPool/GlobalAvgPool: trunc(window sum * enc(1/count))
//! - Sigmoid/Tanh: piecewise linear as a sum of ReLUs, one truncation

use crate::fixedpoint::{decode, encode, magnitude_bits, relu, sigmoid_table, tanh_table, trunc};
use crate::float::add_channel_bias;
use crate::ring;
use crate::{Backend, Error, Result};
use cryptflow_ir::layout::{self, ConvGeom, PoolWindows};
use cryptflow_ir::{Node, Op, Tensor};

/// Largest magnitudes seen, in bits, so the scale choice can report headroom.
#[derive(Clone, Debug, Default)]
pub struct Magnitudes {
    /// Before truncation (products at scale 2s).
    pub product_bits: u32,
    /// Of any value after truncation (activations at scale s).
    pub value_bits: u32,
    /// Of any input to a comparison (ReLU, max): bounds the bits a secure
    /// comparison needs.
    pub compare_bits: u32,
}

pub struct FixedBackend {
    pub scale: u32,
    pub seen: Magnitudes,
}

impl FixedBackend {
    pub fn new(scale: u32) -> Self {
        FixedBackend {
            scale,
            seen: Magnitudes::default(),
        }
    }

    fn trunc_all(&mut self, v: &mut [u64]) {
        let s = self.scale;
        let m = v.iter().map(|&x| magnitude_bits(x)).max().unwrap_or(0);
        self.seen.product_bits = self.seen.product_bits.max(m);
        v.iter_mut().for_each(|x| *x = trunc(*x, s));
    }

    fn note_compare(&mut self, v: &[u64]) {
        let m = v.iter().map(|&x| magnitude_bits(x)).max().unwrap_or(0);
        self.seen.compare_bits = self.seen.compare_bits.max(m);
    }

    fn pwl(&mut self, x: &Tensor<u64>, t: &crate::fixedpoint::PiecewiseLinear) -> Tensor<u64> {
        self.note_compare(&x.data);
        let s = self.scale;
        x.map(|&v| t.eval_fixed(v, s))
    }
}

impl Backend for FixedBackend {
    type Value = Tensor<u64>;

    fn name(&self) -> &'static str {
        "fixed"
    }

    fn input(&mut self, node: &Node, data: Option<&Tensor<f32>>) -> Result<Tensor<u64>> {
        let s = self.scale;
        Ok(data
            .ok_or_else(|| Error::node(node, "no input given"))?
            .map(|&v| encode(v as f64, s)))
    }

    fn weight(&mut self, node: &Node, data: Option<&Tensor<f32>>) -> Result<Tensor<u64>> {
        let s = self.scale;
        Ok(data
            .ok_or_else(|| Error::node(node, "no weights given"))?
            .map(|&v| encode(v as f64, s)))
    }

    fn output(&mut self, _node: &Node, value: &Tensor<u64>) -> Result<Option<Tensor<f32>>> {
        let s = self.scale;
        Ok(Some(value.map(|&v| decode(v, s) as f32)))
    }

    fn eval(&mut self, node: &Node, x: &[&Tensor<u64>]) -> Result<Tensor<u64>> {
        let s = self.scale;
        let shape = node.shape.clone();
        let out = match &node.op {
            Op::Conv(p) => {
                let g = ConvGeom::new(&x[0].shape, &x[1].shape, p)?;
                let mut y = ring::conv(&g, &x[0].data, &x[1].data);
                self.trunc_all(&mut y);
                if let Some(b) = x.get(2) {
                    add_channel_bias(&mut y, &b.data, g.out_pixels());
                }
                Tensor { shape, data: y }
            }
            Op::MatMul => {
                let (m, k, n) = (x[0].shape[0], x[0].shape[1], x[1].shape[1]);
                let mut y = ring::gemm(m, k, n, &x[0].data, &x[1].data);
                self.trunc_all(&mut y);
                if let Some(b) = x.get(2) {
                    for row in y.chunks_mut(n) {
                        row.iter_mut().zip(&b.data).for_each(|(v, b)| *v = v.wrapping_add(*b));
                    }
                }
                Tensor { shape, data: y }
            }
            Op::Add => layout::zip_broadcast(x[0], x[1], u64::wrapping_add)?,
            Op::Sub => layout::zip_broadcast(x[0], x[1], u64::wrapping_sub)?,
            Op::Mul => {
                let mut y = layout::zip_broadcast(x[0], x[1], u64::wrapping_mul)?;
                self.trunc_all(&mut y.data);
                y
            }
            Op::Relu => {
                self.note_compare(&x[0].data);
                x[0].map(|&v| relu(v))
            }
            Op::Clip { min, max } => {
                let (lo, hi) = (encode(*min as f64, s), encode(*max as f64, s));
                let (has_lo, has_hi) = (min.is_finite(), max.is_finite());
                if has_lo {
                    let d: Vec<u64> = x[0].data.iter().map(|v| v.wrapping_sub(lo)).collect();
                    self.note_compare(&d);
                }
                if has_hi {
                    let d: Vec<u64> = x[0].data.iter().map(|v| hi.wrapping_sub(*v)).collect();
                    self.note_compare(&d);
                }
                x[0].map(|&v| match (has_lo, has_hi) {
                    (true, true) => lo
                        .wrapping_add(relu(v.wrapping_sub(lo)))
                        .wrapping_sub(relu(v.wrapping_sub(hi))),
                    (true, false) => lo.wrapping_add(relu(v.wrapping_sub(lo))),
                    (false, true) => hi.wrapping_sub(relu(hi.wrapping_sub(v))),
                    (false, false) => v,
                })
            }
            Op::LeakyRelu { alpha } => {
                self.note_compare(&x[0].data);
                let a = encode(*alpha as f64, s);
                let b = encode(1.0 - *alpha as f64, s);
                let mut y: Vec<u64> = x[0]
                    .data
                    .iter()
                    .map(|&v| a.wrapping_mul(v).wrapping_add(b.wrapping_mul(relu(v))))
                    .collect();
                self.trunc_all(&mut y);
                Tensor { shape, data: y }
            }
            Op::Sigmoid => self.pwl(x[0], &sigmoid_table()),
            Op::Tanh => self.pwl(x[0], &tanh_table()),
            Op::MaxPool(p) => {
                let w = PoolWindows::new(&x[0].shape, p)?;
                let gather = w.max_gather();
                let mut rows: Vec<Vec<u64>> = (0..w.cells)
                    .map(|k| {
                        gather[k * w.n_out..(k + 1) * w.n_out]
                            .iter()
                            .map(|&i| x[0].data[i])
                            .collect()
                    })
                    .collect();
                // the same pairwise tree the secure backends use
                while rows.len() > 1 {
                    let half = rows.len() / 2;
                    let odd = rows.len() % 2 == 1;
                    let tail = if odd { rows.pop() } else { None };
                    let b_rows = rows.split_off(half);
                    for (a, b) in rows.iter_mut().zip(b_rows) {
                        let d: Vec<u64> = a.iter().zip(&b).map(|(x, y)| x.wrapping_sub(*y)).collect();
                        self.note_compare(&d);
                        for ((av, bv), dv) in a.iter_mut().zip(&b).zip(d) {
                            *av = bv.wrapping_add(relu(dv));
                        }
                    }
                    if let Some(t) = tail {
                        rows.push(t);
                    }
                }
                Tensor {
                    shape,
                    data: rows.pop().unwrap_or_default(),
                }
            }
            Op::AvgPool {
                pool,
                count_include_pad,
            } => {
                let w = PoolWindows::new(&x[0].shape, pool)?;
                let counts = w.valid_counts();
                let mut y: Vec<u64> = (0..w.n_out)
                    .map(|j| {
                        let sum = (0..w.cells)
                            .filter_map(|k| w.idx[k * w.n_out + j])
                            .fold(0u64, |a, i| a.wrapping_add(x[0].data[i]));
                        let c = if *count_include_pad { w.cells } else { counts[j] };
                        sum.wrapping_mul(encode(1.0 / c as f64, s))
                    })
                    .collect();
                self.trunc_all(&mut y);
                Tensor { shape, data: y }
            }
            Op::GlobalAvgPool => {
                let hw = x[0].shape[2] * x[0].shape[3];
                let inv = encode(1.0 / hw as f64, s);
                let mut y: Vec<u64> = x[0]
                    .data
                    .chunks(hw)
                    .map(|c| c.iter().fold(0u64, |a, &v| a.wrapping_add(v)).wrapping_mul(inv))
                    .collect();
                self.trunc_all(&mut y);
                Tensor { shape, data: y }
            }
            Op::Concat { axis } => layout::concat(x, *axis),
            Op::Reshape => Tensor {
                shape,
                data: x[0].data.clone(),
            },
            Op::Transpose { perm } => layout::transpose(x[0], perm),
            Op::Pad { pads, value } => layout::pad(x[0], pads, encode(*value as f64, s)),
            Op::Input { .. } | Op::Weight { .. } | Op::Softmax { .. } => {
                return Err(Error::node(node, "not evaluated by a backend"))
            }
        };
        let m = out.data.iter().map(|&v| magnitude_bits(v)).max().unwrap_or(0);
        self.seen.value_bits = self.seen.value_bits.max(m);
        Ok(out)
    }
}
