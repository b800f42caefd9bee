//! The `3pc-malicious` backend: one party's side of a program's evaluation
//! with Aramis (malicious security with abort).
//!
//! Same roles and the same fixed-point arithmetic as the semi-honest `3pc`
//! backend (`cryptflow_mpc::backend`): party 0 shares the weights, party 1
//! the input and alone receives the output, party 2 helps. Every tensor is an
//! [`AuthShare`] (value and MAC over Z_2^128; weights and Conv/MatMul
//! results without MAC). Ops map onto the Aramis protocols: the data input
//! with the receivers' cross-check, the weights by `input_values`,
//! `mul_bilinear_values` + `trunc_values` for Conv/MatMul, `mul`, `trunc`,
//! `relu`/`max_pairwise` (DReLU by masked opening), layout ops locally on
//! the four components, and `output_to`
//! (MAC check of everything computed, then release to the data owner).
//! Whenever the sharings and claims awaiting the batched check exceed
//! [`VERIFY_EVERY_ELEMENTS`] after a node, they are folded into the check's
//! sums under a coin of their own (`Aramis::checkpoint_if_over`), which
//! bounds the memory they hold; the test of the sums and the verdict come
//! with the output.

pub mod local;
mod ops;

use crate::{Aramis, AramisError, AuthShare};
use cryptflow_exec::{Backend, Error, Result};
use cryptflow_ir::{Node, Op, Tensor};
use cryptflow_mpc::backend::{decoded, owner_values};

/// The same fixed roles as the `3pc` backend.
pub use cryptflow_mpc::backend::{DATA_OWNER, HELPER, MODEL_OWNER};

/// The checks awaiting after a node are folded into the check's sums
/// where more than this many elements wait (1 round, 2 with a lazy layer):
/// a lower limit bounds the memory the held claims take, and the page
/// faults of a short run's growing heap. The digits CNN's peak: 350 -> 260
/// MB from 2^21 to 2^19 with full checkpoints (5 rounds each), 201 -> 175
/// MB from 2^19 to 2^16 with folds.
pub const VERIFY_EVERY_ELEMENTS: usize = 1 << 16;

/// A party's authenticated shares of a tensor.
#[derive(Clone)]
pub struct MShared {
    pub shape: Vec<usize>,
    pub s: AuthShare,
    /// `Some(o)`: weights that party `o` shared with `input_values`
    /// (component `o + 2` zero), which lets a Conv/MatMul by them evaluate
    /// the map once per party; `None` otherwise.
    pub input_of: Option<usize>,
}

impl MShared {
    /// Whether the MAC shares are present (weights get theirs on first use),
    /// replicated or additive.
    pub fn has_mac(&self) -> bool {
        self.s.m.len() == self.s.v.len()
    }
}

impl std::fmt::Debug for MShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MShared{:?}", self.shape)
    }
}

/// One party's `3pc-malicious` backend.
pub struct MaliciousBackend {
    pub aramis: Aramis,
    pub scale: u32,
    /// Width of secure comparisons (see `Program::compare_bits`).
    pub compare_bits: u32,
}

pub(crate) fn node_err(node: &Node, e: AramisError) -> Error {
    Error::node(node, e)
}

impl MaliciousBackend {
    pub fn new(aramis: Aramis, scale: u32, compare_bits: u32) -> Self {
        MaliciousBackend {
            aramis,
            scale,
            compare_bits,
        }
    }

    pub fn id(&self) -> usize {
        self.aramis.id()
    }

    fn share_from(&mut self, node: &Node, owner: usize, data: Option<&Tensor<f32>>) -> Result<MShared> {
        let n: usize = node.shape.iter().product();
        let enc = owner_values(node, self.id(), owner, data, self.scale)?;
        let s = if owner == MODEL_OWNER {
            // weights: value shares only, the MAC is made on first use by an
            // op that needs it (see `with_macs`)
            // (fixed-point weights are far below 2^28: the small form)
            let v = self
                .aramis
                .input_small_values(owner, enc.as_deref(), n)
                .map_err(|e| node_err(node, e))?;
            AuthShare {
                v,
                m: Default::default(),
            }
        } else {
            self.aramis
                .input(owner, enc.as_deref(), n)
                .map_err(|e| node_err(node, e))?
        };
        Ok(MShared {
            shape: node.shape.clone(),
            s,
            input_of: (owner == MODEL_OWNER).then_some(owner),
        })
    }

    /// The inputs of `node` with a MAC added to every one that lacks it,
    /// except where the op uses value shares only: the weights operand of
    /// Conv and MatMul (`mul_bilinear`) and layout-only Reshape/Transpose;
    /// and with a replicated MAC for every additive one (a Conv, MatMul or
    /// ReLU result), except as the data operand of Conv and MatMul, in sums,
    /// in layout ops other than Pad and in MaxPool.
    fn with_macs(&mut self, node: &Node, x: &[&MShared]) -> Result<Vec<Option<MShared>>> {
        let value_only = |i: usize| match node.op {
            Op::Conv(_) | Op::MatMul => i == 1,
            Op::Reshape | Op::Transpose { .. } => true,
            _ => false,
        };
        let mut out = Vec::with_capacity(x.len());
        for (i, v) in x.iter().enumerate() {
            if v.s.mac_is_additive() {
                // a Conv/MatMul or ReLU result: the data operand of a
                // Conv/MatMul (its layer check takes it as it is), sums and
                // layout ops keep it additive
                let keep = match node.op {
                    Op::Conv(_) | Op::MatMul => i == 0,
                    Op::Add | Op::Sub | Op::Reshape | Op::Transpose { .. } | Op::Concat { .. } => true,
                    // (its maxima reshare only the differences' MACs)
                    Op::MaxPool(_) => true,
                    _ => false,
                };
                out.push(if keep {
                    None
                } else {
                    let s = self.aramis.replicate_mac(&v.s).map_err(|e| node_err(node, e))?;
                    Some(MShared {
                        shape: v.shape.clone(),
                        s,
                        input_of: None,
                    })
                });
                continue;
            }
            if v.has_mac() || value_only(i) {
                out.push(None);
                continue;
            }
            let s = self.aramis.authenticate_values(&v.s.v).map_err(|e| node_err(node, e))?;
            out.push(Some(MShared {
                shape: v.shape.clone(),
                s,
                input_of: None,
            }));
        }
        Ok(out)
    }
}

impl Backend for MaliciousBackend {
    type Value = MShared;

    fn name(&self) -> &'static str {
        "3pc-malicious"
    }

    fn input(&mut self, node: &Node, data: Option<&Tensor<f32>>) -> Result<MShared> {
        self.aramis.set_label(&node.name);
        self.share_from(node, DATA_OWNER, data)
    }

    fn weight(&mut self, node: &Node, data: Option<&Tensor<f32>>) -> Result<MShared> {
        self.aramis.set_label(&node.name);
        self.share_from(node, MODEL_OWNER, data)
    }

    fn output(&mut self, node: &Node, value: &MShared) -> Result<Option<Tensor<f32>>> {
        self.aramis.set_label(&format!("{}.reveal", node.name));
        let macd = self.with_macs(node, &[value])?.pop().flatten();
        let value = macd.as_ref().unwrap_or(value);
        // (with_macs leaves an additive MAC where the node is a Conv/MatMul)
        let replicated = self.aramis.replicate_mac(&value.s).map_err(|e| node_err(node, e))?;
        let r = self
            .aramis
            .output_to(DATA_OWNER, &replicated)
            .map_err(|e| node_err(node, e))?;
        Ok(r.map(|v| decoded(&value.shape, &v, self.scale)))
    }

    fn eval(&mut self, node: &Node, x: &[&MShared]) -> Result<MShared> {
        self.aramis.set_label(&node.name);
        let macd = self.with_macs(node, x)?;
        let x: Vec<&MShared> = x.iter().zip(&macd).map(|(v, m)| m.as_ref().unwrap_or(v)).collect();
        let x = &x[..];
        let s = match &node.op {
            Op::Conv(p) => ops::conv(self, node, x, p)?,
            Op::MatMul => ops::matmul(self, node, x)?,
            Op::Add | Op::Sub => ops::add_sub(node, x)?,
            Op::Mul => ops::mul(self, node, x)?,
            Op::AvgPool {
                pool,
                count_include_pad,
            } => ops::avg_pool(self, node, x[0], pool, *count_include_pad)?,
            Op::GlobalAvgPool => ops::global_avg_pool(self, node, x[0])?,
            Op::Relu => ops::relu(self, node, x[0])?,
            Op::Clip { min, max } => ops::clip(self, node, x[0], *min, *max)?,
            Op::LeakyRelu { alpha } => ops::leaky_relu(self, node, x[0], *alpha)?,
            Op::Sigmoid => ops::piecewise(self, node, x[0], &cryptflow_exec::fixedpoint::sigmoid_table())?,
            Op::Tanh => ops::piecewise(self, node, x[0], &cryptflow_exec::fixedpoint::tanh_table())?,
            Op::MaxPool(p) => ops::max_pool(self, node, x[0], p)?,
            Op::Concat { .. } | Op::Reshape | Op::Transpose { .. } | Op::Pad { .. } => ops::movement(self, node, x)?,
            Op::Input { .. } | Op::Weight { .. } | Op::Softmax { .. } => {
                return Err(Error::node(node, "not evaluated by a backend"))
            }
        };
        if s.s.len() != node.shape.iter().product::<usize>() {
            return Err(Error::node(node, "internal: result has the wrong size"));
        }
        self.aramis
            .checkpoint_if_over(VERIFY_EVERY_ELEMENTS)
            .map_err(|e| node_err(node, e))?;
        Ok(MShared {
            shape: node.shape.clone(),
            s: s.s,
            // (kept by a reshape, which moves no component)
            input_of: s.input_of,
        })
    }
}
