//! Lowering a typed tract model into cryptflow's IR.
//!
//! Every tract node becomes zero or more IR nodes; constant outputs (tract's
//! `konst` facts, which cover whole constant subgraphs such as BatchNorm
//! statistics) become weights. Each lowered node's shape is checked against
//! tract's inferred shape, so a lowering mistake is an error, not a silent
//! wrong answer. Anything not in the supported set is an error that names
//! the op and the node.

use crate::{tract_msg, Error, Result};
use cryptflow_ir::{ConvParams, Graph, Op, PoolParams, Tensor as IrTensor, ValueId, Weights};
use std::collections::HashMap;
use std::sync::Arc;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::array::{Pad, PadMode, TypedConcat};
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, MaxPool, PoolSpec, SumPool};
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::nn::{DataFormat, Reduce, Reducer, Softmax};
use tract_onnx::tract_core::ops::source::TypedSource;

#[derive(Clone)]
enum Val {
    Node(ValueId),
    Const(Arc<Tensor>),
}

struct Lowerer<'a> {
    model: &'a TypedModel,
    g: Graph,
    w: Weights,
    vals: HashMap<OutletId, Val>,
    const_nodes: HashMap<OutletId, ValueId>,
    /// Values lowered as a mean that the model computed as a sum: the true
    /// value is this factor times the IR value.
    pending_scale: HashMap<ValueId, f32>,
}

pub fn lower(model: &TypedModel) -> Result<(Graph, Weights)> {
    let mut l = Lowerer {
        model,
        g: Graph::default(),
        w: Weights::default(),
        vals: HashMap::new(),
        const_nodes: HashMap::new(),
        pending_scale: HashMap::new(),
    };
    let order = model.eval_order().map_err(|e| Error::Invalid(tract_msg(&e)))?;
    let inputs = model
        .input_outlets()
        .map_err(|e| Error::Invalid(tract_msg(&e)))?
        .to_vec();
    for id in order {
        let node = model.node(id);
        if node.op_is::<TypedSource>() {
            let index = inputs
                .iter()
                .position(|o| o.node == id)
                .ok_or_else(|| Error::Invalid(format!("source node {} is not a model input", node.name)))?;
            let shape = l.out_shape(id, 0)?;
            let v = l.g.push_shaped(&node.name, Op::Input { index }, vec![], shape)?;
            l.vals.insert(OutletId::new(id, 0), Val::Node(v));
            continue;
        }
        // constant outputs, whatever computes them
        let mut all_const = !node.outputs.is_empty();
        for slot in 0..node.outputs.len() {
            match &model
                .outlet_fact(OutletId::new(id, slot))
                .map_err(|e| Error::Invalid(tract_msg(&e)))?
                .konst
            {
                Some(k) => {
                    l.vals.insert(OutletId::new(id, slot), Val::Const(k.clone()));
                }
                None => all_const = false,
            }
        }
        if all_const {
            continue;
        }
        // constant inputs only: evaluate now with tract's own kernels
        if !node.inputs.is_empty() && node.inputs.iter().all(|i| matches!(l.vals.get(i), Some(Val::Const(_)))) {
            if let Some(outs) = l.eval_const(node) {
                for (slot, t) in outs.into_iter().enumerate() {
                    l.vals.insert(OutletId::new(id, slot), Val::Const(t));
                }
                continue;
            }
        }
        for slot in 1..node.outputs.len() {
            if !node.outputs[slot].successors.is_empty() || inputs.contains(&OutletId::new(id, slot)) {
                return Err(Error::Unsupported(format!(
                    "node '{}' ({}): only the first output of an op may be used",
                    node.name,
                    node.op.name()
                )));
            }
        }
        let v = l.lower_node(node)?;
        if let Val::Node(vid) = &v {
            let want = l.out_shape(id, 0)?;
            if l.g.nodes[*vid].shape != want {
                return Err(Error::Invalid(format!(
                    "internal: lowering node '{}' ({}) gave shape {:?}, tract infers {:?}",
                    node.name,
                    node.op.name(),
                    l.g.nodes[*vid].shape,
                    want
                )));
            }
        }
        l.vals.insert(OutletId::new(id, 0), v);
    }
    let outs = model
        .output_outlets()
        .map_err(|e| Error::Invalid(tract_msg(&e)))?
        .to_vec();
    for o in outs {
        match l.vals.get(&o) {
            Some(Val::Node(v)) => {
                let v = l.materialize_scale(*v, &model.node(o.node).name)?;
                l.g.outputs.push(v)
            }
            _ => {
                return Err(Error::Unsupported(format!(
                    "model output '{}' is a constant",
                    model.node(o.node).name
                )))
            }
        }
    }
    l.g.validate()?;
    Ok((l.g, l.w))
}

fn unsupported(node: &TypedNode, what: &str) -> Error {
    Error::Unsupported(format!(
        "unsupported op {} in node '{}'{}{}",
        node.op.name(),
        node.name,
        if what.is_empty() { "" } else { ": " },
        what
    ))
}

fn tensor_f32(t: &Tensor) -> Result<IrTensor<f32>> {
    let c = t.cast_to::<f32>().map_err(|e| Error::Invalid(tract_msg(&e)))?;
    let view = c
        .to_plain_array_view::<f32>()
        .map_err(|e| Error::Invalid(tract_msg(&e)))?;
    Ok(IrTensor {
        shape: view.shape().to_vec(),
        data: view.iter().cloned().collect(),
    })
}

/// Permutes a tensor's axes: output axis i is input axis perm[i].
fn permute(t: &IrTensor<f32>, perm: &[usize]) -> IrTensor<f32> {
    cryptflow_ir::layout::transpose(t, perm)
}

impl Lowerer<'_> {
    fn out_shape(&self, id: usize, slot: usize) -> Result<Vec<usize>> {
        let f = self
            .model
            .outlet_fact(OutletId::new(id, slot))
            .map_err(|e| Error::Invalid(tract_msg(&e)))?;
        f.shape.as_concrete().map(|s| s.to_vec()).ok_or_else(|| {
            Error::Invalid(format!(
                "node '{}' has a symbolic shape {:?}; bind the input shape with --input-shape",
                self.model.node(id).name,
                f.shape
            ))
        })
    }

    fn eval_const(&self, node: &TypedNode) -> Option<Vec<Arc<Tensor>>> {
        let ins: TVec<TValue> = node
            .inputs
            .iter()
            .map(|i| match self.vals.get(i) {
                Some(Val::Const(t)) => Some(TValue::from_const(t.clone())),
                _ => None,
            })
            .collect::<Option<_>>()?;
        let outs = node.op.eval_out_of_plan(ins).ok()??;
        Some(outs.into_iter().map(|t| t.into_arc_tensor()).collect())
    }

    fn input_val(&self, node: &TypedNode, i: usize) -> Result<Val> {
        let o = node
            .inputs
            .get(i)
            .ok_or_else(|| Error::Invalid(format!("node '{}' lacks input {i}", node.name)))?;
        self.vals
            .get(o)
            .cloned()
            .ok_or_else(|| Error::Invalid(format!("node '{}': input {i} not lowered", node.name)))
    }

    fn const_input(&self, node: &TypedNode, i: usize) -> Option<Arc<Tensor>> {
        match self.input_val(node, i) {
            Ok(Val::Const(t)) => Some(t),
            _ => None,
        }
    }

    fn add_weight(&mut self, base: &str, t: IrTensor<f32>) -> Result<ValueId> {
        let mut name: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-/".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if name.is_empty() {
            name = "w".into();
        }
        let mut unique = name.clone();
        let mut k = 1;
        while self.w.tensors.contains_key(&unique) {
            k += 1;
            unique = format!("{name}.{k}");
        }
        let shape = t.shape.clone();
        self.w.tensors.insert(unique.clone(), t);
        Ok(self
            .g
            .push_shaped(&unique, Op::Weight { name: unique.clone() }, vec![], shape)?)
    }

    /// The IR value of input i, making a weight of a constant.
    fn value(&mut self, node: &TypedNode, i: usize) -> Result<ValueId> {
        let outlet = node.inputs[i];
        match self.input_val(node, i)? {
            Val::Node(v) => self.materialize_scale(v, &node.name),
            Val::Const(t) => {
                if let Some(&v) = self.const_nodes.get(&outlet) {
                    return Ok(v);
                }
                let name = self.model.node(outlet.node).name.to_string();
                let v = self.add_weight(&name, tensor_f32(&t)?)?;
                self.const_nodes.insert(outlet, v);
                Ok(v)
            }
        }
    }

    /// A value with a pending scale factor used by anything but a division
    /// that cancels it: multiply it out.
    fn materialize_scale(&mut self, v: ValueId, name: &str) -> Result<ValueId> {
        let Some(f) = self.pending_scale.remove(&v) else {
            return Ok(v);
        };
        let c = self.add_weight(&format!("{name}.scale"), IrTensor::new(vec![1], vec![f])?)?;
        let r = self.g.push(format!("{name}.sum"), Op::Mul, vec![v, c])?;
        // later users of v must see the scaled value
        for val in self.vals.values_mut() {
            if let Val::Node(x) = val {
                if *x == v {
                    *x = r;
                }
            }
        }
        Ok(r)
    }

    fn push(&mut self, node: &TypedNode, op: Op, inputs: Vec<ValueId>) -> Result<Val> {
        Ok(Val::Node(self.g.push(&node.name, op, inputs)?))
    }

    fn lower_node(&mut self, node: &TypedNode) -> Result<Val> {
        let name = node.op.name();
        if let Some(conv) = node.op_as::<Conv>() {
            return self.conv(node, conv);
        }
        if let Some(es) = node.op_as::<EinSum>() {
            return self.einsum(node, es);
        }
        if let Some(bin) = node.op_as::<TypedBinOp>() {
            return self.binary(node, bin.0.name());
        }
        if let Some(ew) = node.op_as::<ElementWiseOp>() {
            let x = self.value(node, 0)?;
            let op = match ew.0.name().as_str() {
                "Sigmoid" => Op::Sigmoid,
                "Tanh" => Op::Tanh,
                "LeakyRelu" => {
                    let lr =
                        ew.0.downcast_ref::<tract_onnx::tract_core::ops::nn::LeakyRelu>()
                            .ok_or_else(|| unsupported(node, "LeakyRelu without a slope"))?;
                    Op::LeakyRelu { alpha: lr.alpha }
                }
                other => return Err(unsupported(node, &format!("element-wise {other}"))),
            };
            return self.push(node, op, vec![x]);
        }
        if let Some(mp) = node.op_as::<MaxPool>() {
            return self.pool(node, &mp.pool_spec, None);
        }
        if let Some(sp) = node.op_as::<SumPool>() {
            if !sp.normalize {
                return Err(unsupported(node, "unnormalised sum pooling"));
            }
            return self.pool(node, &sp.pool_spec, Some(sp.count_include_pad));
        }
        if let Some(r) = node.op_as::<Reduce>() {
            return self.reduce(node, r);
        }
        if let Some(ax) = node.op_as::<AxisOp>() {
            let x = self.value(node, 0)?;
            let in_rank = self.g.nodes[x].shape.len();
            if let AxisOp::Move(from, to) = ax {
                let mut perm: Vec<usize> = (0..in_rank).collect();
                let a = perm.remove(*from);
                perm.insert(*to, a);
                return self.push(node, Op::Transpose { perm }, vec![x]);
            }
            let shape = self.out_shape(node.id, 0)?;
            return Ok(Val::Node(self.g.push_shaped(
                &node.name,
                Op::Reshape,
                vec![x],
                shape,
            )?));
        }
        if let Some(c) = node.op_as::<TypedConcat>() {
            let xs = (0..node.inputs.len())
                .map(|i| self.value(node, i))
                .collect::<Result<Vec<_>>>()?;
            return self.push(node, Op::Concat { axis: c.axis }, xs);
        }
        if let Some(p) = node.op_as::<Pad>() {
            let value = match &p.mode {
                PadMode::Constant(t) => tensor_f32(t)?.data.first().copied().unwrap_or(0.0),
                _ => return Err(unsupported(node, "only constant padding is supported")),
            };
            let x = self.value(node, 0)?;
            return self.push(
                node,
                Op::Pad {
                    pads: p.pads.clone(),
                    value,
                },
                vec![x],
            );
        }
        if let Some(s) = node.op_as::<Softmax>() {
            if s.axes.len() != 1 {
                return Err(unsupported(node, "softmax over several axes"));
            }
            let x = self.value(node, 0)?;
            return self.push(node, Op::Softmax { axis: s.axes[0] }, vec![x]);
        }
        match &*name {
            // pass-through ops: identity, and casts that keep f32
            "Identity" | "Cast" | "Dropout" => {
                let dt = self
                    .model
                    .outlet_fact(OutletId::new(node.id, 0))
                    .map_err(|e| Error::Invalid(tract_msg(&e)))?
                    .datum_type;
                if dt != f32::datum_type() {
                    return Err(unsupported(node, &format!("produces {dt:?}, only f32 is supported")));
                }
                let v = self.value(node, 0)?;
                Ok(Val::Node(v))
            }
            // a TF control dependency carries no data
            "Noop" | "NoOp" => Ok(Val::Const(Arc::new(tensor0(0f32)))),
            _ => Err(unsupported(node, "")),
        }
    }

    fn nchw_in(&mut self, node: &TypedNode, fmt: &DataFormat, x: ValueId) -> Result<ValueId> {
        match fmt {
            DataFormat::NCHW => Ok(x),
            DataFormat::NHWC => Ok(self.g.push(
                format!("{}.to_nchw", node.name),
                Op::Transpose { perm: vec![0, 3, 1, 2] },
                vec![x],
            )?),
            f => Err(unsupported(node, &format!("data format {f:?}"))),
        }
    }

    fn nchw_out(&mut self, node: &TypedNode, fmt: &DataFormat, y: ValueId) -> Result<Val> {
        match fmt {
            DataFormat::NHWC => Ok(Val::Node(self.g.push(
                format!("{}.to_nhwc", node.name),
                Op::Transpose { perm: vec![0, 2, 3, 1] },
                vec![y],
            )?)),
            _ => Ok(Val::Node(y)),
        }
    }

    /// (pads [t,l,b,r], strides, dilations, kernel) of a 2-D pool spec.
    fn geometry(
        &self,
        node: &TypedNode,
        ps: &PoolSpec,
        x_nchw: &[usize],
    ) -> Result<([usize; 4], [usize; 2], [usize; 2])> {
        if ps.kernel_shape.len() != 2 {
            return Err(unsupported(node, "only 2-D convolution and pooling are supported"));
        }
        let hw = [x_nchw[2], x_nchw[3]];
        let pads = ps.computed_padding(&hw);
        let st = ps.strides();
        let dl = ps.dilations();
        Ok((
            [
                pads[0].pad_before,
                pads[1].pad_before,
                pads[0].pad_after,
                pads[1].pad_after,
            ],
            [st[0], st[1]],
            [dl[0], dl[1]],
        ))
    }

    fn conv(&mut self, node: &TypedNode, conv: &Conv) -> Result<Val> {
        if conv.q_params.is_some() {
            return Err(unsupported(node, "quantised convolution"));
        }
        let kernel = self
            .const_input(node, 1)
            .ok_or_else(|| unsupported(node, "the kernel must be a constant"))?;
        let k = tensor_f32(&kernel)?;
        if k.shape.len() != 4 {
            return Err(unsupported(node, "only 2-D convolution is supported"));
        }
        let k = match conv.kernel_fmt {
            KernelFormat::OIHW => k,
            KernelFormat::HWIO => permute(&k, &[3, 2, 0, 1]),
            KernelFormat::OHWI => permute(&k, &[0, 3, 1, 2]),
        };
        let fmt = conv.pool_spec.data_format;
        let x0 = self.value(node, 0)?;
        let x = self.nchw_in(node, &fmt, x0)?;
        let xs = self.g.nodes[x].shape.clone();
        let (pads, strides, dilations) = self.geometry(node, &conv.pool_spec, &xs)?;
        let o = k.shape[0];
        let bias = match self.const_input(node, 2) {
            Some(b) => {
                let b = tensor_f32(&b)?;
                if b.data.iter().all(|&v| v == 0.0) {
                    None
                } else if b.data.len() == 1 {
                    Some(IrTensor::new(vec![o], vec![b.data[0]; o])?)
                } else if b.data.len() == o {
                    Some(IrTensor::new(vec![o], b.data)?)
                } else {
                    return Err(unsupported(node, "bias shape"));
                }
            }
            None if node.inputs.len() > 2 => return Err(unsupported(node, "the bias must be a constant")),
            None => None,
        };
        let kw = self.add_weight(&format!("{}.kernel", node.name), k)?;
        let mut ins = vec![x, kw];
        if let Some(b) = bias {
            ins.push(self.add_weight(&format!("{}.bias", node.name), b)?);
        }
        let p = ConvParams {
            strides,
            dilations,
            pads,
            groups: conv.group,
        };
        let y = self.g.push(format!("{}.nchw", node.name), Op::Conv(p), ins)?;
        let out = self.nchw_out(node, &fmt, y)?;
        self.rename_last(node);
        Ok(out)
    }

    /// The last pushed node takes the tract node's name (for messages).
    fn rename_last(&mut self, node: &TypedNode) {
        if let Some(n) = self.g.nodes.last_mut() {
            n.name = node.name.clone();
        }
    }

    fn pool(&mut self, node: &TypedNode, ps: &PoolSpec, avg: Option<bool>) -> Result<Val> {
        let fmt = ps.data_format;
        let x0 = self.value(node, 0)?;
        let x = self.nchw_in(node, &fmt, x0)?;
        let xs = self.g.nodes[x].shape.clone();
        let (pads, strides, dil) = self.geometry(node, ps, &xs)?;
        if dil != [1, 1] {
            return Err(unsupported(node, "dilated pooling"));
        }
        let pool = PoolParams {
            kernel: [ps.kernel_shape[0], ps.kernel_shape[1]],
            strides,
            pads,
        };
        let op = match avg {
            None => Op::MaxPool(pool),
            Some(count_include_pad) => Op::AvgPool {
                pool,
                count_include_pad,
            },
        };
        // ceil mode: extend the bottom/right padding until the window count
        // matches tract's (padding cells never win a max)
        let want = self.out_shape(node.id, 0)?;
        let (wh, ww) = match fmt {
            DataFormat::NHWC => (want[1], want[2]),
            _ => (want[2], want[3]),
        };
        let mut op = op;
        if let Op::MaxPool(p) | Op::AvgPool { pool: p, .. } = &mut op {
            for (ax, target) in [(0usize, wh), (1usize, ww)] {
                let len = xs[2 + ax];
                let covered = (target - 1) * p.strides[ax] + p.kernel[ax];
                let have = len + p.pads[ax] + p.pads[ax + 2];
                if covered > have {
                    p.pads[ax + 2] += covered - have;
                }
            }
        }
        if let Op::AvgPool {
            count_include_pad: true,
            pool,
        } = &op
        {
            let plain = self.geometry(node, ps, &xs)?.0;
            if plain != pool.pads {
                return Err(unsupported(node, "ceil-mode average pooling that counts padding"));
            }
        }
        let y = self.g.push(format!("{}.nchw", node.name), op, vec![x])?;
        let out = self.nchw_out(node, &fmt, y)?;
        self.rename_last(node);
        Ok(out)
    }

    fn reduce(&mut self, node: &TypedNode, r: &Reduce) -> Result<Val> {
        let x = self.value(node, 0)?;
        let xs = self.g.nodes[x].shape.clone();
        let mut axes = r.axes.to_vec();
        axes.sort();
        if matches!(r.reducer, Reducer::Max) && xs.len() == 4 && axes == [2, 3] {
            let pool = PoolParams {
                kernel: [xs[2], xs[3]],
                strides: [1, 1],
                pads: [0; 4],
            };
            return self.push(node, Op::MaxPool(pool), vec![x]);
        }
        if !matches!(r.reducer, Reducer::Sum) || xs.len() != 4 {
            return Err(unsupported(
                node,
                "only a sum over both spatial axes (global average pooling) is supported",
            ));
        }
        let (fmt, hw) = match axes.as_slice() {
            [2, 3] => (DataFormat::NCHW, xs[2] * xs[3]),
            [1, 2] => (DataFormat::NHWC, xs[1] * xs[2]),
            _ => return Err(unsupported(node, "only a sum over both spatial axes is supported")),
        };
        let xn = self.nchw_in(node, &fmt, x)?;
        let y = self
            .g
            .push(format!("{}.nchw", node.name), Op::GlobalAvgPool, vec![xn])?;
        let out = self.nchw_out(node, &fmt, y)?;
        self.rename_last(node);
        if let Val::Node(v) = out {
            // the model computes a sum; a following division usually cancels this
            self.pending_scale.insert(v, hw as f32);
        }
        Ok(out)
    }

    fn binary(&mut self, node: &TypedNode, name: &str) -> Result<Val> {
        let (ca, cb) = (self.const_input(node, 0), self.const_input(node, 1));
        let scalar = |t: &Arc<Tensor>| -> Result<Option<f32>> {
            let t = tensor_f32(t)?;
            let first = t.data.first().copied().unwrap_or(0.0);
            Ok(if t.data.iter().all(|&v| v == first) {
                Some(first)
            } else {
                None
            })
        };
        match name {
            "Add" | "Sub" | "Mul" => {
                // a Mul by a constant that cancels a pending sum-to-mean factor
                if name == "Mul" {
                    if let (Ok(Val::Node(v)), Some(c)) = (self.input_val(node, 0), &cb) {
                        if let (Some(&f), Some(s)) = (self.pending_scale.get(&v), scalar(c)?) {
                            if (f * s - 1.0).abs() < 1e-5 {
                                self.pending_scale.remove(&v);
                                return Ok(Val::Node(v));
                            }
                        }
                    }
                }
                let a = self.value(node, 0)?;
                let b = self.value(node, 1)?;
                let op = match name {
                    "Add" => Op::Add,
                    "Sub" => Op::Sub,
                    _ => Op::Mul,
                };
                self.push(node, op, vec![a, b])
            }
            "Div" => {
                let c = cb.ok_or_else(|| unsupported(node, "division by a non-constant"))?;
                if let Ok(Val::Node(v)) = self.input_val(node, 0) {
                    if let (Some(&f), Some(s)) = (self.pending_scale.get(&v), scalar(&c)?) {
                        if ((f - s) / s).abs() < 1e-5 {
                            self.pending_scale.remove(&v);
                            return Ok(Val::Node(v));
                        }
                    }
                }
                let t = tensor_f32(&c)?;
                if t.data.contains(&0.0) {
                    return Err(unsupported(node, "division by zero"));
                }
                let a = self.value(node, 0)?;
                let recip = self.add_weight(&format!("{}.recip", node.name), t.map(|v| 1.0 / v))?;
                self.push(node, Op::Mul, vec![a, recip])
            }
            "Max" | "Min" => {
                let (x, c) = match (&ca, &cb) {
                    (None, Some(c)) => (self.value(node, 0)?, c.clone()),
                    (Some(c), None) => (self.value(node, 1)?, c.clone()),
                    _ => return Err(unsupported(node, "max/min of two tensors")),
                };
                let c = scalar(&c)?.ok_or_else(|| unsupported(node, "max/min with a non-uniform constant"))?;
                let op = if name == "Max" {
                    if c == 0.0 {
                        Op::Relu
                    } else {
                        Op::Clip {
                            min: c,
                            max: f32::INFINITY,
                        }
                    }
                } else {
                    Op::Clip {
                        min: f32::NEG_INFINITY,
                        max: c,
                    }
                };
                self.push(node, op, vec![x])
            }
            other => Err(unsupported(node, &format!("binary {other}"))),
        }
    }

    /// A two-operand EinSum with one constant operand becomes
    /// transpose + reshape + MatMul + reshape + transpose.
    fn einsum(&mut self, node: &TypedNode, es: &EinSum) -> Result<Val> {
        if es.q_params.is_some() || node.inputs.len() != 2 {
            return Err(unsupported(node, "only two-operand float einsums are supported"));
        }
        let (act, wt) = match (self.const_input(node, 0), self.const_input(node, 1)) {
            (None, Some(w)) => (0usize, w),
            (Some(w), None) => (1usize, w),
            _ => return Err(unsupported(node, "a product of two activations")),
        };
        let wslot = 1 - act;
        let x = self.value(node, act)?;
        let xs = self.g.nodes[x].shape.clone();
        let w = tensor_f32(&wt)?;
        let out_shape = self.out_shape(node.id, 0)?;
        let single = |v: &[usize]| -> Result<Option<usize>> {
            match v.len() {
                0 => Ok(None),
                1 => Ok(Some(v[0])),
                _ => Err(unsupported(node, "repeated einsum axis")),
            }
        };
        // (axis in act, axis in weight, axis in output)
        let mut m_ax = Vec::new();
        let mut k_ax = Vec::new();
        let mut n_ax = Vec::new();
        let mut x_drop = Vec::new();
        let mut w_drop = Vec::new();
        let mut o_only = Vec::new();
        for axis in es.axes.iter_all_axes() {
            let a = single(&axis.inputs[act])?;
            let b = single(&axis.inputs[wslot])?;
            let o = single(&axis.outputs[0])?;
            let size = |p: Option<usize>, s: &[usize]| p.map(|p| s[p]).unwrap_or(1);
            match (a, b, o) {
                (Some(a), Some(b), None) => k_ax.push((a, b)),
                (Some(a), None, Some(o)) => m_ax.push((a, o)),
                (None, Some(b), Some(o)) => n_ax.push((b, o)),
                (Some(a), Some(b), Some(o)) if w.shape[b] == 1 => {
                    m_ax.push((a, o));
                    w_drop.push(b);
                }
                (Some(a), Some(b), Some(o)) if xs[a] == 1 => {
                    n_ax.push((b, o));
                    x_drop.push(a);
                }
                (Some(a), None, None) if size(Some(a), &xs) == 1 => x_drop.push(a),
                (None, Some(b), None) if size(Some(b), &w.shape) == 1 => w_drop.push(b),
                (None, None, Some(o)) if out_shape[o] == 1 => o_only.push(o),
                _ => return Err(unsupported(node, "einsum with batch or reduced-only axes")),
            }
        }
        let mdims: Vec<usize> = m_ax.iter().map(|&(a, _)| xs[a]).collect();
        let ndims: Vec<usize> = n_ax.iter().map(|&(b, _)| w.shape[b]).collect();
        let (mt, kt, nt) = (
            mdims.iter().product::<usize>(),
            k_ax.iter().map(|&(a, _)| xs[a]).product::<usize>(),
            ndims.iter().product::<usize>(),
        );
        // activation -> [M.., K.., dropped..] -> [M, K]
        let xperm: Vec<usize> = m_ax
            .iter()
            .map(|&(a, _)| a)
            .chain(k_ax.iter().map(|&(a, _)| a))
            .chain(x_drop.iter().cloned())
            .collect();
        let xt = self
            .g
            .push(format!("{}.lhs", node.name), Op::Transpose { perm: xperm }, vec![x])?;
        let x2 = self
            .g
            .push_shaped(format!("{}.lhs2d", node.name), Op::Reshape, vec![xt], vec![mt, kt])?;
        // weight -> [K.., N.., dropped..] -> [K, N]
        let wperm: Vec<usize> = k_ax
            .iter()
            .map(|&(_, b)| b)
            .chain(n_ax.iter().map(|&(b, _)| b))
            .chain(w_drop.iter().cloned())
            .collect();
        let w2 = IrTensor::new(vec![kt, nt], permute(&w, &wperm).data)?;
        let wv = self.add_weight(&format!("{}.weight", node.name), w2)?;
        let y = self.g.push(format!("{}.matmul", node.name), Op::MatMul, vec![x2, wv])?;
        // [M.., N.., 1..] then to the output's axis order
        let mut yshape = mdims.clone();
        yshape.extend(&ndims);
        yshape.extend(std::iter::repeat_n(1, o_only.len()));
        let y3 = self
            .g
            .push_shaped(format!("{}.unflat", node.name), Op::Reshape, vec![y], yshape)?;
        let slots: Vec<usize> = m_ax
            .iter()
            .map(|&(_, o)| o)
            .chain(n_ax.iter().map(|&(_, o)| o))
            .chain(o_only.iter().cloned())
            .collect();
        let mut perm = vec![0; slots.len()];
        for (i, &o) in slots.iter().enumerate() {
            perm[o] = i;
        }
        let out = self.g.push(&node.name, Op::Transpose { perm }, vec![y3])?;
        Ok(Val::Node(out))
    }
}
