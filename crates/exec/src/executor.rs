//! The executor: evaluates a graph node by node and frees each value after
//! its last use, so peak memory follows the live set, not the whole graph.

use crate::{Backend, Error, Result};
use cryptflow_ir::{Graph, Node, Op, Tensor, Weights};
use std::time::Instant;

/// Reported after every node, for progress bars and per-layer tables.
pub struct NodeEvent<'a> {
    pub index: usize,
    pub total: usize,
    pub node: &'a Node,
    pub seconds: f64,
}

/// Runs `graph` on `backend`. `inputs[i]` is the data owner's input i (given
/// only at the party that holds it); `weights` likewise at the model owner.
/// Returns the revealed outputs (`None` at parties that learn nothing).
pub fn execute<B: Backend>(
    backend: &mut B,
    graph: &Graph,
    inputs: &[Option<&Tensor<f32>>],
    weights: Option<&Weights>,
    on_node: &mut dyn FnMut(NodeEvent),
) -> Result<Vec<Option<Tensor<f32>>>> {
    let last = graph.last_uses();
    let mut values: Vec<Option<B::Value>> = (0..graph.nodes.len()).map(|_| None).collect();
    let mut outputs: Vec<Option<Option<Tensor<f32>>>> = vec![None; graph.outputs.len()];
    let total = graph.nodes.len();
    for (id, node) in graph.nodes.iter().enumerate() {
        let t0 = Instant::now();
        let v = match &node.op {
            Op::Input { index } => {
                let data = inputs.get(*index).copied().flatten();
                if let Some(d) = data {
                    if d.shape != node.shape {
                        return Err(Error::node(
                            node,
                            format!("input has shape {:?}, the model expects {:?}", d.shape, node.shape),
                        ));
                    }
                }
                Some(backend.input(node, data)?)
            }
            // weights are shared lazily, just before their first use, so the
            // live set (and a party's memory) holds only the layers at hand
            Op::Weight { .. } => None,
            Op::Softmax { axis } => {
                let x = values[node.inputs[0]]
                    .as_ref()
                    .ok_or_else(|| Error::node(node, "input freed"))?;
                let revealed = backend.output(node, x)?.map(|t| softmax(&t, *axis));
                store_output(graph, id, revealed, &mut outputs);
                None
            }
            _ => {
                for &i in &node.inputs {
                    if values[i].is_none() {
                        if let Op::Weight { name } = &graph.nodes[i].op {
                            let data = match weights {
                                Some(w) => Some(w.get(name)?),
                                None => None,
                            };
                            values[i] = Some(backend.weight(&graph.nodes[i], data)?);
                        }
                    }
                }
                let ins: Vec<&B::Value> = node
                    .inputs
                    .iter()
                    .map(|&i| {
                        values[i]
                            .as_ref()
                            .ok_or_else(|| Error::node(node, "input value missing"))
                    })
                    .collect::<Result<_>>()?;
                Some(backend.eval(node, &ins)?)
            }
        };
        if let Some(v) = v {
            if graph.outputs.contains(&id) {
                let revealed = backend.output(node, &v)?;
                store_output(graph, id, revealed, &mut outputs);
            }
            values[id] = Some(v);
        }
        for &i in &node.inputs {
            if last[i] == id {
                values[i] = None;
            }
        }
        on_node(NodeEvent {
            index: id,
            total,
            node,
            seconds: t0.elapsed().as_secs_f64(),
        });
    }
    Ok(outputs.into_iter().map(|o| o.flatten()).collect())
}

fn store_output(graph: &Graph, id: usize, v: Option<Tensor<f32>>, outputs: &mut [Option<Option<Tensor<f32>>>]) {
    for (k, &o) in graph.outputs.iter().enumerate() {
        if o == id {
            outputs[k] = Some(v.clone());
        }
    }
}

/// Softmax along `axis`, computed in the clear by the data owner.
pub fn softmax(t: &Tensor<f32>, axis: usize) -> Tensor<f32> {
    let inner: usize = t.shape[axis + 1..].iter().product();
    let len = t.shape[axis];
    let outer: usize = t.shape[..axis].iter().product();
    let mut out = t.clone();
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * len + k) * inner + i;
            let m = (0..len).map(|k| t.data[at(k)]).fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = (0..len).map(|k| (t.data[at(k)] - m).exp()).sum();
            for k in 0..len {
                out.data[at(k)] = (t.data[at(k)] - m).exp() / sum;
            }
        }
    }
    out
}

/// Runs a one-input graph on a batch of N samples (`input` is [N, ...] or one
/// sample without the batch axis), in chunks of the graph's own batch size;
/// returns the first output for all N samples, concatenated on axis 0.
pub fn run_batched<B: Backend>(
    backend: &mut B,
    graph: &Graph,
    weights: Option<&Weights>,
    input: &Tensor<f32>,
    on_node: &mut dyn FnMut(NodeEvent),
) -> Result<Tensor<f32>> {
    let ids = graph.input_ids();
    if ids.len() != 1 {
        return Err(Error::Backend(format!(
            "the model has {} inputs; only one is supported",
            ids.len()
        )));
    }
    let want = &graph.nodes[ids[0]].shape;
    let (n, per) = split_batch(&input.shape, want)?;
    let b = want[0];
    let mut outs = Vec::new();
    let mut out_shape = Vec::new();
    let mut start = 0;
    while start < n {
        let take = b.min(n - start);
        let mut chunk = input.data[start * per..(start + take) * per].to_vec();
        chunk.resize(b * per, 0.0);
        let t = Tensor::new(want.clone(), chunk)?;
        let res = execute(backend, graph, &[Some(&t)], weights, on_node)?;
        let y = res
            .into_iter()
            .next()
            .flatten()
            .ok_or_else(|| Error::Backend("the output was not revealed to this party".into()))?;
        let per_out = y.data.len() / b;
        outs.extend_from_slice(&y.data[..take * per_out]);
        out_shape = y.shape.clone();
        start += take;
    }
    out_shape[0] = n;
    Ok(Tensor::new(out_shape, outs)?)
}

/// How many samples `have` holds for a model input of shape `want`, and the
/// size of one sample.
pub fn split_batch(have: &[usize], want: &[usize]) -> Result<(usize, usize)> {
    let per: usize = want[1..].iter().product();
    if want.is_empty() {
        return Err(Error::Backend("the model input has no batch axis".into()));
    }
    if have.len() == want.len() && have[1..] == want[1..] {
        return Ok((have[0], per));
    }
    if have == &want[1..] {
        return Ok((1, per));
    }
    Err(Error::Backend(format!(
        "input has shape {:?}; the model expects {:?} (any batch size)",
        have,
        [
            &["N".to_string()][..],
            &want[1..].iter().map(|d| d.to_string()).collect::<Vec<_>>()
        ]
        .concat()
    )))
}
