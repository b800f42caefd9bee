//! The `3pc` backend: one party's side of a program's secure evaluation.
//!
//! Roles are fixed: party 0 is the model owner (shares the weights), party 1
//! the data owner (shares the input, alone receives the output), party 2 the
//! helper. Every op follows the cleartext `fixed` backend's arithmetic (see
//! `cryptflow_exec::fixed`), so outputs agree with it bit for bit except for
//! the truncation error documented in docs/PROTOCOLS.md. Ops are grouped by
//! kind: [`linear`] (Conv, MatMul, Mul, pooling averages), [`nonlinear`]
//! (ReLU, Clip, LeakyRelu, Sigmoid/Tanh, MaxPool) and [`movement`] (layout
//! ops, which are local and free).

pub mod linear;
pub mod local;
pub mod movement;
pub mod nonlinear;

use crate::{reveal_to, share_input, AShare, Party};
use cryptflow_exec::fixedpoint::{decode, encode};
use cryptflow_exec::{Backend, Error, Result};
use cryptflow_ir::{Node, Op, Tensor};

pub const MODEL_OWNER: usize = 0;
pub const DATA_OWNER: usize = 1;
pub const HELPER: usize = 2;

/// A party's shares of a tensor.
#[derive(Clone)]
pub struct Shared {
    pub shape: Vec<usize>,
    pub s: AShare,
    /// `Some(o)`: an input or weight as `share_input` from party `o` shared
    /// it (component `o + 2` zero), which lets a product by it skip a GEMM
    /// (`mul::bilinear_local`); `None` for computed values.
    pub input_of: Option<usize>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shared{:?}", self.shape)
    }
}

pub struct ThreePcBackend {
    pub party: Party,
    pub scale: u32,
    /// Width of secure comparisons (see `Program::compare_bits`).
    pub compare_bits: u32,
}

/// What party `me` feeds into the sharing of `node` owned by `owner`: the
/// encoded values at the owner (an error if it was given none), nothing
/// elsewhere. Shared by the `3pc` and `3pc-malicious` backends.
pub fn owner_values(
    node: &Node,
    me: usize,
    owner: usize,
    data: Option<&Tensor<f32>>,
    scale: u32,
) -> Result<Option<Vec<u64>>> {
    match (me == owner, data) {
        (true, None) => Err(Error::node(node, "this party holds the value but was given none")),
        (true, Some(t)) => Ok(Some(t.data.iter().map(|&v| encode(v as f64, scale)).collect())),
        (false, _) => Ok(None),
    }
}

/// A revealed ring tensor as reals.
pub fn decoded(shape: &[usize], v: &[u64], scale: u32) -> Tensor<f32> {
    Tensor {
        shape: shape.to_vec(),
        data: v.iter().map(|&x| decode(x, scale) as f32).collect(),
    }
}

pub(crate) fn mpc_err(node: &Node, e: crate::MpcError) -> Error {
    Error::node(node, e)
}

impl ThreePcBackend {
    pub fn new(party: Party, scale: u32, compare_bits: u32) -> Self {
        ThreePcBackend {
            party,
            scale,
            compare_bits,
        }
    }

    pub fn id(&self) -> usize {
        self.party.id()
    }

    fn share_from(&mut self, node: &Node, owner: usize, data: Option<&Tensor<f32>>) -> Result<Shared> {
        let n: usize = node.shape.iter().product();
        let enc = owner_values(node, self.id(), owner, data, self.scale)?;
        let s = share_input(&mut self.party, owner, enc.as_deref(), n).map_err(|e| mpc_err(node, e))?;
        Ok(Shared {
            shape: node.shape.clone(),
            s,
            input_of: Some(owner),
        })
    }
}

impl Backend for ThreePcBackend {
    type Value = Shared;

    fn name(&self) -> &'static str {
        "3pc"
    }

    fn input(&mut self, node: &Node, data: Option<&Tensor<f32>>) -> Result<Shared> {
        self.party.set_label(&node.name);
        self.share_from(node, DATA_OWNER, data)
    }

    fn weight(&mut self, node: &Node, data: Option<&Tensor<f32>>) -> Result<Shared> {
        self.party.set_label(&node.name);
        self.share_from(node, MODEL_OWNER, data)
    }

    fn output(&mut self, node: &Node, value: &Shared) -> Result<Option<Tensor<f32>>> {
        self.party.set_label(&format!("{}.reveal", node.name));
        let r = reveal_to(&mut self.party, DATA_OWNER, &value.s).map_err(|e| mpc_err(node, e))?;
        Ok(r.map(|v| decoded(&value.shape, &v, self.scale)))
    }

    fn eval(&mut self, node: &Node, x: &[&Shared]) -> Result<Shared> {
        self.party.set_label(&node.name);
        let s = match &node.op {
            Op::Conv(p) => linear::conv(self, node, x, p)?,
            Op::MatMul => linear::matmul(self, node, x)?,
            Op::Add | Op::Sub => linear::add_sub(self, node, x)?,
            Op::Mul => linear::mul(self, node, x)?,
            Op::AvgPool {
                pool,
                count_include_pad,
            } => linear::avg_pool(self, node, x[0], pool, *count_include_pad)?,
            Op::GlobalAvgPool => linear::global_avg_pool(self, node, x[0])?,
            Op::Relu => nonlinear::relu(self, node, x[0])?,
            Op::Clip { min, max } => nonlinear::clip(self, node, x[0], *min, *max)?,
            Op::LeakyRelu { alpha } => nonlinear::leaky_relu(self, node, x[0], *alpha)?,
            Op::Sigmoid => nonlinear::piecewise(self, node, x[0], &cryptflow_exec::fixedpoint::sigmoid_table())?,
            Op::Tanh => nonlinear::piecewise(self, node, x[0], &cryptflow_exec::fixedpoint::tanh_table())?,
            Op::MaxPool(p) => nonlinear::max_pool(self, node, x[0], p)?,
            Op::Concat { .. } | Op::Reshape | Op::Transpose { .. } | Op::Pad { .. } => movement::eval(self, node, x)?,
            Op::Input { .. } | Op::Weight { .. } | Op::Softmax { .. } => {
                return Err(Error::node(node, "not evaluated by a backend"))
            }
        };
        if s.s.len() != node.shape.iter().product::<usize>() {
            return Err(Error::node(node, "internal: result has the wrong size"));
        }
        Ok(Shared {
            shape: node.shape.clone(),
            s: s.s,
            // (kept by a reshape, which moves no component)
            input_of: s.input_of,
        })
    }
}

/// Applies `f` to both components of a share, as tensors of `shape`.
pub(crate) fn on_components(x: &Shared, f: impl Fn(&Tensor<u64>) -> Result<Tensor<u64>>) -> Result<Shared> {
    let a = f(&Tensor {
        shape: x.shape.clone(),
        data: x.s.a.clone(),
    })?;
    let b = f(&Tensor {
        shape: x.shape.clone(),
        data: x.s.b.clone(),
    })?;
    Ok(Shared {
        shape: a.shape,
        s: AShare { a: a.data, b: b.data },
        input_of: None,
    })
}
