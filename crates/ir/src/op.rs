//! The closed set of operations a cryptflow program may contain.
//!
//! Layout conventions: 4-D activations are NCHW, convolution kernels OIHW,
//! dense weights KxN. Importers insert [`Op::Transpose`] where a model uses
//! another layout; a pass removes the transposes that cancel.
//!
//! Tensors in the weights file are the model owner's secret; scalars stored in
//! an op (clip bounds, a LeakyRelu slope, pooling windows) are public.

use serde::{Deserialize, Serialize};

/// 2-D convolution over NCHW input. Inputs: x, kernel (OIHW, I = C/groups),
/// optional bias (O).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvParams {
    pub strides: [usize; 2],
    pub dilations: [usize; 2],
    /// top, left, bottom, right
    pub pads: [usize; 4],
    pub groups: usize,
}

/// Pooling over the two spatial axes of an NCHW tensor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolParams {
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    /// top, left, bottom, right
    pub pads: [usize; 4],
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Op {
    /// The data owner's input number `index`.
    Input {
        index: usize,
    },
    /// A tensor of the model owner's weights file, by name.
    Weight {
        name: String,
    },
    /// Convolution; inputs x, w[, bias].
    Conv(ConvParams),
    /// x[M,K] * w[K,N] (+ bias[N]); inputs x, w[, bias].
    MatMul,
    /// Element-wise a + b with numpy broadcasting.
    Add,
    /// Element-wise a - b with numpy broadcasting.
    Sub,
    /// Element-wise a * b with numpy broadcasting (one truncation).
    Mul,
    Relu,
    /// clamp(x, min, max); Relu6 is Clip{0, 6}.
    Clip {
        min: f32,
        max: f32,
    },
    LeakyRelu {
        alpha: f32,
    },
    Sigmoid,
    Tanh,
    /// Only as the last op: the data owner applies it in the clear to the
    /// revealed logits.
    Softmax {
        axis: usize,
    },
    MaxPool(PoolParams),
    /// Average pooling; padded cells count towards the divisor only when
    /// `count_include_pad`.
    AvgPool {
        pool: PoolParams,
        count_include_pad: bool,
    },
    /// Mean over H and W of an NCHW tensor, keeping them as size-1 axes.
    GlobalAvgPool,
    Concat {
        axis: usize,
    },
    /// Row-major reshape to the node's shape.
    Reshape,
    Transpose {
        perm: Vec<usize>,
    },
    /// Constant padding; `pads[i] = (before, after)` for axis i.
    Pad {
        pads: Vec<(usize, usize)>,
        value: f32,
    },
}

impl Op {
    /// A short name for tables and error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Input { .. } => "Input",
            Op::Weight { .. } => "Weight",
            Op::Conv(_) => "Conv",
            Op::MatMul => "MatMul",
            Op::Add => "Add",
            Op::Sub => "Sub",
            Op::Mul => "Mul",
            Op::Relu => "Relu",
            Op::Clip { .. } => "Clip",
            Op::LeakyRelu { .. } => "LeakyRelu",
            Op::Sigmoid => "Sigmoid",
            Op::Tanh => "Tanh",
            Op::Softmax { .. } => "Softmax",
            Op::MaxPool(_) => "MaxPool",
            Op::AvgPool { .. } => "AvgPool",
            Op::GlobalAvgPool => "GlobalAvgPool",
            Op::Concat { .. } => "Concat",
            Op::Reshape => "Reshape",
            Op::Transpose { .. } => "Transpose",
            Op::Pad { .. } => "Pad",
        }
    }

    /// Ops that only move or copy data: exact in every backend and free in MPC.
    pub fn is_layout(&self) -> bool {
        matches!(
            self,
            Op::Reshape | Op::Transpose { .. } | Op::Concat { .. } | Op::Pad { .. }
        )
    }
}
