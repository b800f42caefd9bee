//! The f32 reference backend: what the model computes before any conversion.

use crate::fixedpoint::{sigmoid_table, tanh_table};
use crate::ring;
use crate::{Backend, Error, Result};
use cryptflow_ir::layout::{self, ConvGeom, PoolWindows};
use cryptflow_ir::{Node, Op, Tensor};

#[derive(Default)]
pub struct FloatBackend {
    /// Evaluate Sigmoid/Tanh with the same piecewise-linear approximation as
    /// the fixed-point backends (to isolate quantisation error) instead of
    /// the exact function.
    pub approx_activations: bool,
}

impl Backend for FloatBackend {
    type Value = Tensor<f32>;

    fn name(&self) -> &'static str {
        "float"
    }

    fn input(&mut self, node: &Node, data: Option<&Tensor<f32>>) -> Result<Tensor<f32>> {
        data.cloned().ok_or_else(|| Error::node(node, "no input given"))
    }

    fn weight(&mut self, node: &Node, data: Option<&Tensor<f32>>) -> Result<Tensor<f32>> {
        data.cloned().ok_or_else(|| Error::node(node, "no weights given"))
    }

    fn output(&mut self, _node: &Node, value: &Tensor<f32>) -> Result<Option<Tensor<f32>>> {
        Ok(Some(value.clone()))
    }

    fn eval(&mut self, node: &Node, x: &[&Tensor<f32>]) -> Result<Tensor<f32>> {
        let shape = node.shape.clone();
        let out = match &node.op {
            Op::Conv(p) => {
                let g = ConvGeom::new(&x[0].shape, &x[1].shape, p)?;
                let mut y = ring::conv(&g, &x[0].data, &x[1].data);
                if let Some(b) = x.get(2) {
                    add_channel_bias(&mut y, &b.data, g.out_pixels());
                }
                Tensor { shape, data: y }
            }
            Op::MatMul => {
                let (m, k, n) = (x[0].shape[0], x[0].shape[1], x[1].shape[1]);
                let mut y = ring::gemm(m, k, n, &x[0].data, &x[1].data);
                if let Some(b) = x.get(2) {
                    for row in y.chunks_mut(n) {
                        row.iter_mut().zip(&b.data).for_each(|(v, b)| *v += b);
                    }
                }
                Tensor { shape, data: y }
            }
            Op::Add => layout::zip_broadcast(x[0], x[1], |a, b| a + b)?,
            Op::Sub => layout::zip_broadcast(x[0], x[1], |a, b| a - b)?,
            Op::Mul => layout::zip_broadcast(x[0], x[1], |a, b| a * b)?,
            Op::Relu => x[0].map(|v| v.max(0.0)),
            Op::Clip { min, max } => x[0].map(|v| v.clamp(*min, *max)),
            Op::LeakyRelu { alpha } => x[0].map(|&v| if v < 0.0 { alpha * v } else { v }),
            Op::Sigmoid if self.approx_activations => {
                let t = sigmoid_table();
                x[0].map(|&v| t.eval(v as f64) as f32)
            }
            Op::Tanh if self.approx_activations => {
                let t = tanh_table();
                x[0].map(|&v| t.eval(v as f64) as f32)
            }
            Op::Sigmoid => x[0].map(|&v| 1.0 / (1.0 + (-v).exp())),
            Op::Tanh => x[0].map(|v| v.tanh()),
            Op::MaxPool(p) => {
                let w = PoolWindows::new(&x[0].shape, p)?;
                let gather = w.max_gather();
                let mut out: Vec<f32> = gather[..w.n_out].iter().map(|&i| x[0].data[i]).collect();
                for k in 1..w.cells {
                    for (j, o) in out.iter_mut().enumerate() {
                        *o = o.max(x[0].data[gather[k * w.n_out + j]]);
                    }
                }
                Tensor { shape, data: out }
            }
            Op::AvgPool {
                pool,
                count_include_pad,
            } => {
                let w = PoolWindows::new(&x[0].shape, pool)?;
                let counts = w.valid_counts();
                let data = (0..w.n_out)
                    .map(|j| {
                        let s: f32 = (0..w.cells)
                            .filter_map(|k| w.idx[k * w.n_out + j])
                            .map(|i| x[0].data[i])
                            .sum();
                        s / if *count_include_pad { w.cells } else { counts[j] } as f32
                    })
                    .collect();
                Tensor { shape, data }
            }
            Op::GlobalAvgPool => {
                let hw = x[0].shape[2] * x[0].shape[3];
                let data = x[0]
                    .data
                    .chunks(hw)
                    .map(|c| c.iter().sum::<f32>() / hw as f32)
                    .collect();
                Tensor { shape, data }
            }
            Op::Concat { axis } => layout::concat(x, *axis),
            Op::Reshape => Tensor {
                shape,
                data: x[0].data.clone(),
            },
            Op::Transpose { perm } => layout::transpose(x[0], perm),
            Op::Pad { pads, value } => layout::pad(x[0], pads, *value),
            Op::Input { .. } | Op::Weight { .. } | Op::Softmax { .. } => {
                return Err(Error::node(node, "not evaluated by a backend"))
            }
        };
        Ok(out)
    }
}

/// Adds `bias[o]` to every pixel of channel o of an N x O x pixels tensor.
pub fn add_channel_bias<T: ring::Scalar>(y: &mut [T], bias: &[T], pixels: usize) {
    let o = bias.len();
    for (i, chunk) in y.chunks_mut(pixels).enumerate() {
        let b = bias[i % o];
        chunk.iter_mut().for_each(|v| *v = T::add(*v, b));
    }
}
