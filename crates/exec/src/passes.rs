//! Graph passes over a graph and its weights, all exact in float:
//!
//! - constant folding: a node whose inputs are all weights becomes a weight;
//! - BatchNorm folding: a per-channel Mul/Add/Sub after a Conv (what
//!   BatchNormalization lowers to) or an Add after a MatMul goes into the
//!   kernel and bias;
//! - no-op removal: identity transposes and reshapes, chains of transposes or
//!   reshapes merged;
//! - Relu/Clip chains merged into one Clip (Relu then Relu6 is one op);
//! - ReLU/MaxPool reordering: MaxPool(Relu(x)) = Relu(MaxPool(x)), also
//!   through a zero Pad between them, which runs the ReLU on about
//!   stride^2 times fewer values;
//! - dead-code removal.

use crate::{Backend, FloatBackend, Result};
use cryptflow_ir::graph::Graph;
use cryptflow_ir::tensor::numel;
use cryptflow_ir::{Node, Op, Tensor, Weights};
use std::collections::HashMap;

/// Runs every pass to a fixed point.
pub fn simplify(graph: &Graph, weights: &Weights) -> Result<(Graph, Weights)> {
    let mut g = graph.clone();
    let mut w = weights.clone();
    for _ in 0..8 {
        let before = g.nodes.len();
        let mut r = Rewriter::new(&g, &w);
        r.fold_constants()?;
        r.fold_affine_into_linear();
        r.remove_noops();
        r.merge_clips();
        r.reorder_relu_maxpool();
        let (g2, w2) = r.finish()?;
        let same = g2 == g;
        g = g2;
        w = w2;
        if same && g.nodes.len() == before {
            break;
        }
    }
    Ok((g, w))
}

struct Rewriter {
    nodes: Vec<Node>,
    outputs: Vec<usize>,
    weights: HashMap<String, Tensor<f32>>,
    fresh: usize,
}

impl Rewriter {
    fn new(g: &Graph, w: &Weights) -> Self {
        Rewriter {
            nodes: g.nodes.clone(),
            outputs: g.outputs.clone(),
            weights: w.tensors.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            fresh: 0,
        }
    }

    fn uses(&self) -> Vec<usize> {
        let mut u = vec![0; self.nodes.len()];
        for n in &self.nodes {
            for &i in &n.inputs {
                u[i] += 1;
            }
        }
        for &o in &self.outputs {
            u[o] += 1;
        }
        u
    }

    fn weight_of(&self, id: usize) -> Option<&Tensor<f32>> {
        match &self.nodes[id].op {
            Op::Weight { name } => self.weights.get(name),
            _ => None,
        }
    }

    /// Adds a weight node; placed before everything when the graph is rebuilt.
    fn new_weight(&mut self, base: &str, t: Tensor<f32>) -> usize {
        let name = loop {
            self.fresh += 1;
            let n = format!("{base}.f{}", self.fresh);
            if !self.weights.contains_key(&n) {
                break n;
            }
        };
        self.nodes.push(Node {
            name: name.clone(),
            op: Op::Weight { name: name.clone() },
            inputs: vec![],
            shape: t.shape.clone(),
        });
        self.weights.insert(name, t);
        self.nodes.len() - 1
    }

    /// Points every use of `from` at `to`.
    fn replace_uses(&mut self, from: usize, to: usize) {
        for n in &mut self.nodes {
            for i in &mut n.inputs {
                if *i == from {
                    *i = to;
                }
            }
        }
        for o in &mut self.outputs {
            if *o == from {
                *o = to;
            }
        }
    }

    fn fold_constants(&mut self) -> Result<()> {
        for id in 0..self.nodes.len() {
            let n = &self.nodes[id];
            if matches!(n.op, Op::Input { .. } | Op::Weight { .. } | Op::Softmax { .. }) || n.inputs.is_empty() {
                continue;
            }
            let ins: Option<Vec<&Tensor<f32>>> = n.inputs.iter().map(|&i| self.weight_of(i)).collect();
            let Some(ins) = ins else { continue };
            let node = n.clone();
            let v = FloatBackend::default().eval(&node, &ins)?;
            let w = self.new_weight(&node.name, v);
            self.replace_uses(id, w);
        }
        Ok(())
    }

    /// Per-channel scale/shift after Conv, bias after MatMul.
    fn fold_affine_into_linear(&mut self) {
        for id in 0..self.nodes.len() {
            let uses = self.uses();
            let n = self.nodes[id].clone();
            if !matches!(n.op, Op::Mul | Op::Add | Op::Sub) || n.inputs.len() != 2 {
                continue;
            }
            // the linear node and the constant, in either order (Sub only as linear - c)
            let (lin, c) = if self.weight_of(n.inputs[1]).is_some() {
                (n.inputs[0], n.inputs[1])
            } else if self.weight_of(n.inputs[0]).is_some() && !matches!(n.op, Op::Sub) {
                (n.inputs[1], n.inputs[0])
            } else {
                continue;
            };
            if uses[lin] != 1 || n.shape != self.nodes[lin].shape {
                continue;
            }
            let ln = self.nodes[lin].clone();
            let Some(ct) = self.weight_of(c).cloned() else { continue };
            let channels = match ln.op {
                Op::Conv(_) => ln.shape[1],
                Op::MatMul => ln.shape[1],
                _ => continue,
            };
            let Some(per_ch) = per_channel(&ct, &ln.shape) else {
                continue;
            };
            debug_assert_eq!(per_ch.len(), channels);
            let Some(kernel) = self.weight_of(ln.inputs[1]).cloned() else {
                continue;
            };
            let bias: Vec<f32> = match ln.inputs.get(2) {
                Some(&b) => match self.weight_of(b) {
                    Some(t) => t.data.clone(),
                    None => continue,
                },
                None => vec![0.0; channels],
            };
            let (mut k2, mut b2) = (kernel.clone(), bias);
            match n.op {
                Op::Mul => {
                    scale_output_channels(&mut k2, &ln.op, &per_ch);
                    b2.iter_mut().zip(&per_ch).for_each(|(b, s)| *b *= s);
                }
                Op::Add => b2.iter_mut().zip(&per_ch).for_each(|(b, s)| *b += s),
                _ => b2.iter_mut().zip(&per_ch).for_each(|(b, s)| *b -= s),
            }
            let kw = self.new_weight(&ln.name, k2);
            let bw = self.new_weight(
                &ln.name,
                Tensor {
                    shape: vec![channels],
                    data: b2,
                },
            );
            let mut fused = ln.clone();
            fused.inputs = vec![ln.inputs[0], kw, bw];
            self.nodes[lin] = fused;
            self.replace_uses(id, lin);
        }
    }

    fn remove_noops(&mut self) {
        for id in 0..self.nodes.len() {
            let n = self.nodes[id].clone();
            match &n.op {
                Op::Reshape if self.nodes[n.inputs[0]].shape == n.shape => self.replace_uses(id, n.inputs[0]),
                Op::Reshape => {
                    if let Op::Reshape = self.nodes[n.inputs[0]].op {
                        let src = self.nodes[n.inputs[0]].inputs[0];
                        self.nodes[id].inputs = vec![src];
                    }
                }
                Op::Transpose { perm } if perm.iter().enumerate().all(|(i, &p)| i == p) => {
                    self.replace_uses(id, n.inputs[0])
                }
                Op::Transpose { perm } => {
                    if let Op::Transpose { perm: inner } = &self.nodes[n.inputs[0]].op {
                        let composed: Vec<usize> = perm.iter().map(|&p| inner[p]).collect();
                        let src = self.nodes[n.inputs[0]].inputs[0];
                        self.nodes[id].op = Op::Transpose { perm: composed };
                        self.nodes[id].inputs = vec![src];
                    }
                }
                _ => {}
            }
        }
    }

    /// Relu and Clip chains become one Clip; Clip{0, inf} becomes Relu.
    fn merge_clips(&mut self) {
        let uses = self.uses();
        let bounds = |op: &Op| match op {
            Op::Relu => Some((0.0f32, f32::INFINITY)),
            Op::Clip { min, max } => Some((*min, *max)),
            _ => None,
        };
        for id in 0..self.nodes.len() {
            let n = self.nodes[id].clone();
            let Some((lo2, hi2)) = bounds(&n.op) else { continue };
            let src = n.inputs[0];
            if uses[src] != 1 {
                continue;
            }
            let Some((lo1, hi1)) = bounds(&self.nodes[src].op) else {
                continue;
            };
            let (lo, hi) = (lo1.max(lo2), hi1.min(hi2));
            if lo > hi {
                continue;
            }
            let inner = self.nodes[src].inputs[0];
            self.nodes[id].inputs = vec![inner];
            self.nodes[id].op = Op::Clip { min: lo, max: hi };
        }
        for n in &mut self.nodes {
            if let Op::Clip { min, max } = n.op {
                if min == 0.0 && max == f32::INFINITY {
                    n.op = Op::Relu;
                }
            }
        }
    }

    fn reorder_relu_maxpool(&mut self) {
        let uses = self.uses();
        for id in 0..self.nodes.len() {
            let n = self.nodes[id].clone();
            let Op::MaxPool(_) = n.op else { continue };
            let r = n.inputs[0];
            // MaxPool(Pad0(Relu(x))) = Relu(MaxPool(Pad0(x))): a zero pad
            // cell only adds max(., 0), which the ReLU applies anyway
            // (ResNet's stem pads between its ReLU and its pool).
            if let Op::Pad { value, .. } = &self.nodes[r].op {
                let q = self.nodes[r].inputs[0];
                if *value == 0.0 && uses[r] == 1 && matches!(self.nodes[q].op, Op::Relu) && uses[q] == 1 {
                    let src = self.nodes[q].inputs[0];
                    let mut pad = self.nodes[r].clone();
                    pad.inputs = vec![src];
                    let mut pool = n.clone();
                    pool.inputs = vec![q];
                    let mut relu = self.nodes[q].clone();
                    relu.shape = n.shape.clone();
                    relu.inputs = vec![r];
                    // slots q < r < id keep a valid order: pad, pool, relu
                    self.nodes[q] = pad;
                    self.nodes[r] = pool;
                    self.nodes[id] = relu;
                }
                continue;
            }
            if !matches!(self.nodes[r].op, Op::Relu) || uses[r] != 1 {
                continue;
            }
            let src = self.nodes[r].inputs[0];
            // r becomes the pool, id becomes the relu: both keep valid order
            let mut pool = n.clone();
            pool.inputs = vec![src];
            let mut relu = self.nodes[r].clone();
            relu.shape = n.shape.clone();
            relu.inputs = vec![r];
            self.nodes[r] = pool;
            self.nodes[id] = relu;
        }
    }

    /// Rebuilds a compact graph: weights first, then live nodes in order.
    fn finish(self) -> Result<(Graph, Weights)> {
        let mut live = vec![false; self.nodes.len()];
        let mut stack: Vec<usize> = self.outputs.clone();
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut live[i], true) {
                stack.extend(&self.nodes[i].inputs);
            }
        }
        // inputs stay even when unused, so input numbering is stable
        for (i, n) in self.nodes.iter().enumerate() {
            if let Op::Input { .. } = n.op {
                live[i] = true;
            }
        }
        let is_w = |n: &Node| matches!(n.op, Op::Weight { .. });
        let order: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| live[i] && is_w(&self.nodes[i]))
            .chain((0..self.nodes.len()).filter(|&i| live[i] && !is_w(&self.nodes[i])))
            .collect();
        let mut new_id = vec![usize::MAX; self.nodes.len()];
        let mut g = Graph::default();
        let mut w = Weights::default();
        for &i in &order {
            let mut n = self.nodes[i].clone();
            n.inputs = n.inputs.iter().map(|&j| new_id[j]).collect();
            if let Op::Weight { name } = &n.op {
                if let Some(t) = self.weights.get(name) {
                    w.tensors.insert(name.clone(), t.clone());
                }
            }
            new_id[i] = g.nodes.len();
            g.nodes.push(n);
        }
        g.outputs = self.outputs.iter().map(|&o| new_id[o]).collect();
        g.validate()?;
        Ok((g, w))
    }
}

/// A constant that varies only along axis 1 of `out_shape` (or is a scalar),
/// as one value per channel.
fn per_channel(c: &Tensor<f32>, out_shape: &[usize]) -> Option<Vec<f32>> {
    let ch = *out_shape.get(1)?;
    if numel(&c.shape) == 1 {
        return Some(vec![c.data[0]; ch]);
    }
    // right-align c's shape with out_shape; all dims but axis 1 must be 1
    if c.shape.len() > out_shape.len() {
        return None;
    }
    let off = out_shape.len() - c.shape.len();
    for (i, &d) in c.shape.iter().enumerate() {
        let ax = i + off;
        if (ax == 1 && d != ch) || (ax != 1 && d != 1) {
            return None;
        }
    }
    Some(c.data.clone())
}

fn scale_output_channels(k: &mut Tensor<f32>, op: &Op, s: &[f32]) {
    match op {
        // OIHW: output channel is the outermost axis
        Op::Conv(_) => {
            let per = k.data.len() / s.len();
            for (o, chunk) in k.data.chunks_mut(per).enumerate() {
                chunk.iter_mut().for_each(|v| *v *= s[o]);
            }
        }
        // KxN: output channel is the column
        _ => {
            for row in k.data.chunks_mut(s.len()) {
                row.iter_mut().zip(s).for_each(|(v, f)| *v *= f);
            }
        }
    }
}
