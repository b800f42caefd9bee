//! The graph: nodes in topological order, one output value per node.

use crate::op::{ConvParams, Op, PoolParams};
use crate::tensor::numel;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// A value is named by the index of the node that produces it.
pub type ValueId = usize;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The name the node had in the source model, for messages.
    pub name: String,
    pub op: Op,
    pub inputs: Vec<ValueId>,
    /// Static shape of the output.
    pub shape: Vec<usize>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub outputs: Vec<ValueId>,
}

impl Graph {
    /// Appends a node, inferring and checking its shape; returns its id.
    pub fn push(&mut self, name: impl Into<String>, op: Op, inputs: Vec<ValueId>) -> Result<ValueId> {
        let name = name.into();
        let shapes: Vec<&[usize]> = inputs
            .iter()
            .map(|&i| {
                self.nodes
                    .get(i)
                    .map(|n| n.shape.as_slice())
                    .ok_or_else(|| Error::invalid(format!("node {name}: unknown input {i}")))
            })
            .collect::<Result<_>>()?;
        let shape =
            infer_shape(&op, &shapes).map_err(|e| Error::invalid(format!("node {name} ({}): {e}", op.kind())))?;
        self.nodes.push(Node {
            name,
            op,
            inputs,
            shape,
        });
        Ok(self.nodes.len() - 1)
    }

    /// Appends a node whose shape is given (Input, Weight, Reshape).
    pub fn push_shaped(
        &mut self,
        name: impl Into<String>,
        op: Op,
        inputs: Vec<ValueId>,
        shape: Vec<usize>,
    ) -> Result<ValueId> {
        let name = name.into();
        for &i in &inputs {
            if i >= self.nodes.len() {
                return Err(Error::invalid(format!("node {name}: unknown input {i}")));
            }
        }
        if let Op::Reshape = op {
            let n_in = numel(&self.nodes[inputs[0]].shape);
            if n_in != numel(&shape) {
                return Err(Error::invalid(format!(
                    "node {name}: cannot reshape {:?} to {:?}",
                    self.nodes[inputs[0]].shape, shape
                )));
            }
        }
        self.nodes.push(Node {
            name,
            op,
            inputs,
            shape,
        });
        Ok(self.nodes.len() - 1)
    }

    pub fn input_ids(&self) -> Vec<ValueId> {
        let mut v: Vec<(usize, ValueId)> = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(id, n)| match n.op {
                Op::Input { index } => Some((index, id)),
                _ => None,
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, id)| id).collect()
    }

    /// For each value, the index of the last node that reads it (or
    /// `usize::MAX` for graph outputs), so executors can free dead tensors.
    pub fn last_uses(&self) -> Vec<usize> {
        let mut last = vec![0usize; self.nodes.len()];
        for (id, n) in self.nodes.iter().enumerate() {
            for &i in &n.inputs {
                last[i] = last[i].max(id);
            }
        }
        for &o in &self.outputs {
            last[o] = usize::MAX;
        }
        last
    }

    /// Checks everything an untrusted program file could get wrong: input
    /// ids point backwards, arities, shapes consistent with the ops.
    pub fn validate(&self) -> Result<()> {
        let mut inputs_seen = Vec::new();
        for (id, n) in self.nodes.iter().enumerate() {
            if n.inputs.iter().any(|&i| i >= id) {
                return Err(Error::invalid(format!(
                    "node {} ({}): input does not precede it",
                    id,
                    n.op.kind()
                )));
            }
            if n.shape.len() > 8 || n.shape.iter().any(|&d| d == 0 || d > 1 << 28) || numel_checked(&n.shape).is_none()
            {
                return Err(Error::invalid(format!(
                    "node {} ({}): bad shape {:?}",
                    id,
                    n.op.kind(),
                    n.shape
                )));
            }
            let shapes: Vec<&[usize]> = n.inputs.iter().map(|&i| self.nodes[i].shape.as_slice()).collect();
            match &n.op {
                Op::Input { index } => inputs_seen.push(*index),
                Op::Weight { .. } => {}
                Op::Reshape => {
                    if shapes.len() != 1 || numel(shapes[0]) != numel(&n.shape) {
                        return Err(Error::invalid(format!("node {id} (Reshape): element count changes")));
                    }
                }
                op => {
                    let s = infer_shape(op, &shapes)
                        .map_err(|e| Error::invalid(format!("node {id} ({}): {e}", op.kind())))?;
                    if s != n.shape {
                        return Err(Error::invalid(format!(
                            "node {id} ({}): shape {:?} does not match inferred {:?}",
                            op.kind(),
                            n.shape,
                            s
                        )));
                    }
                }
            }
            if let Op::Softmax { .. } = n.op {
                if !self.outputs.contains(&id) {
                    return Err(Error::Unsupported(format!(
                        "Softmax node {} is not a model output",
                        n.name
                    )));
                }
            }
        }
        inputs_seen.sort();
        if inputs_seen.iter().enumerate().any(|(i, &x)| i != x) {
            return Err(Error::invalid("graph inputs are not numbered 0..n"));
        }
        if self.outputs.is_empty() || self.outputs.iter().any(|&o| o >= self.nodes.len()) {
            return Err(Error::invalid("graph outputs missing or out of range"));
        }
        Ok(())
    }
}

fn numel_checked(shape: &[usize]) -> Option<usize> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= 1 << 31)
}

/// numpy broadcasting of two shapes.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(Error::invalid(format!("shapes {a:?} and {b:?} do not broadcast"))),
        };
    }
    Ok(out)
}

/// Output size of a sliding window along one axis.
pub fn window_out(len: usize, k: usize, stride: usize, dil: usize, pad_lo: usize, pad_hi: usize) -> Result<usize> {
    const LIMIT: usize = 1 << 28;
    if [len, k, stride, dil, pad_lo, pad_hi].iter().any(|&v| v > LIMIT) {
        return Err(Error::invalid("window, stride, dilation or padding out of range"));
    }
    let span = dil * k.saturating_sub(1) + 1;
    let padded = len + pad_lo + pad_hi;
    if k == 0 || stride == 0 || dil == 0 || span > padded {
        return Err(Error::invalid(format!(
            "window {k} (dilation {dil}) does not fit axis {len} with pads {pad_lo}+{pad_hi}"
        )));
    }
    Ok((padded - span) / stride + 1)
}

fn conv_shape(p: &ConvParams, s: &[&[usize]]) -> Result<Vec<usize>> {
    if s.len() < 2 || s.len() > 3 || s[0].len() != 4 || s[1].len() != 4 {
        return Err(Error::invalid(
            "Conv takes NCHW input, OIHW kernel and an optional bias",
        ));
    }
    let (x, w) = (s[0], s[1]);
    if p.groups == 0 || !x[1].is_multiple_of(p.groups) || !w[0].is_multiple_of(p.groups) || w[1] * p.groups != x[1] {
        return Err(Error::invalid(format!(
            "Conv channels: input {:?}, kernel {:?}, groups {}",
            x, w, p.groups
        )));
    }
    if s.len() == 3 && s[2] != [w[0]] {
        return Err(Error::invalid(format!(
            "Conv bias shape {:?}, expected [{}]",
            s[2], w[0]
        )));
    }
    let oh = window_out(x[2], w[2], p.strides[0], p.dilations[0], p.pads[0], p.pads[2])?;
    let ow = window_out(x[3], w[3], p.strides[1], p.dilations[1], p.pads[1], p.pads[3])?;
    Ok(vec![x[0], w[0], oh, ow])
}

fn pool_shape(p: &PoolParams, s: &[&[usize]]) -> Result<Vec<usize>> {
    if s.len() != 1 || s[0].len() != 4 {
        return Err(Error::invalid("pooling takes one NCHW input"));
    }
    let x = s[0];
    if p.pads[0] >= p.kernel[0] || p.pads[2] >= p.kernel[0] || p.pads[1] >= p.kernel[1] || p.pads[3] >= p.kernel[1] {
        return Err(Error::invalid("pooling pads must be smaller than the window"));
    }
    let oh = window_out(x[2], p.kernel[0], p.strides[0], 1, p.pads[0], p.pads[2])?;
    let ow = window_out(x[3], p.kernel[1], p.strides[1], 1, p.pads[1], p.pads[3])?;
    Ok(vec![x[0], x[1], oh, ow])
}

/// The output shape of `op` given its input shapes, or why they do not fit.
pub fn infer_shape(op: &Op, s: &[&[usize]]) -> Result<Vec<usize>> {
    let unary = |s: &[&[usize]]| -> Result<Vec<usize>> {
        if s.len() != 1 {
            return Err(Error::invalid("expects one input"));
        }
        Ok(s[0].to_vec())
    };
    match op {
        Op::Input { .. } | Op::Weight { .. } | Op::Reshape => Err(Error::invalid("shape must be given")),
        Op::Conv(p) => conv_shape(p, s),
        Op::MatMul => {
            if s.len() < 2 || s.len() > 3 || s[0].len() != 2 || s[1].len() != 2 || s[0][1] != s[1][0] {
                return Err(Error::invalid(format!("MatMul of {:?} by {:?}", s.first(), s.get(1))));
            }
            if s.len() == 3 && s[2] != [s[1][1]] {
                return Err(Error::invalid("MatMul bias does not match"));
            }
            Ok(vec![s[0][0], s[1][1]])
        }
        Op::Add | Op::Sub | Op::Mul => {
            if s.len() != 2 {
                return Err(Error::invalid("expects two inputs"));
            }
            broadcast_shape(s[0], s[1])
        }
        Op::Relu | Op::Clip { .. } | Op::LeakyRelu { .. } | Op::Sigmoid | Op::Tanh => unary(s),
        Op::Softmax { axis } => {
            let r = unary(s)?;
            if *axis >= r.len() {
                return Err(Error::invalid("Softmax axis out of range"));
            }
            Ok(r)
        }
        Op::MaxPool(p) | Op::AvgPool { pool: p, .. } => pool_shape(p, s),
        Op::GlobalAvgPool => {
            let r = unary(s)?;
            if r.len() != 4 {
                return Err(Error::invalid("GlobalAvgPool takes an NCHW input"));
            }
            Ok(vec![r[0], r[1], 1, 1])
        }
        Op::Concat { axis } => {
            if s.is_empty() || *axis >= s[0].len() {
                return Err(Error::invalid("Concat axis out of range"));
            }
            let mut out = s[0].to_vec();
            for x in &s[1..] {
                if x.len() != out.len() || (0..out.len()).any(|i| i != *axis && x[i] != out[i]) {
                    return Err(Error::invalid(format!("Concat of {:?} and {:?}", s[0], x)));
                }
                out[*axis] += x[*axis];
            }
            Ok(out)
        }
        Op::Transpose { perm } => {
            let r = unary(s)?;
            let mut seen = vec![false; r.len()];
            if perm.len() != r.len()
                || perm
                    .iter()
                    .any(|&p| p >= r.len() || std::mem::replace(&mut seen[p], true))
            {
                return Err(Error::invalid(format!("bad permutation {perm:?}")));
            }
            Ok(perm.iter().map(|&p| r[p]).collect())
        }
        Op::Pad { pads, .. } => {
            let r = unary(s)?;
            if pads.len() != r.len() || pads.iter().any(|&(a, b)| a > 1 << 16 || b > 1 << 16) {
                return Err(Error::invalid("Pad needs one (before, after) pair per axis"));
            }
            Ok(r.iter().zip(pads).map(|(d, (a, b))| d + a + b).collect())
        }
    }
}
