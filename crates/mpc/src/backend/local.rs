//! Running a program as one party (any transport), and all three parties in
//! one process (threads), which is what `cryptflow run --backend 3pc`,
//! `demo` and the tests use.

use super::{ThreePcBackend, DATA_OWNER, MODEL_OWNER};
use crate::{Counters, Party};
use cryptflow_exec::executor::{execute, split_batch, NodeEvent};
use cryptflow_exec::{Backend, Error, Result};
use cryptflow_ir::{Program, Tensor, Weights};
use cryptflow_net::Channel;
use std::collections::BTreeMap;
use std::time::Instant;

/// What one party saw of a run.
#[derive(Debug, Default)]
pub struct PartyReport {
    pub party: usize,
    /// The revealed output: only at the data owner.
    pub output: Option<Tensor<f32>>,
    pub counters: Counters,
    /// Counters per node name (layer), summed over batches.
    pub layers: BTreeMap<String, Counters>,
    pub seconds: f64,
}

/// Runs `program` as this party over `samples` inputs (the data owner's
/// `input` holds them; the model owner's `weights`). Samples run in chunks of
/// the program's batch size, the last chunk padded with zeros.
pub fn run_party(
    party: Party,
    program: &Program,
    weights: Option<&Weights>,
    input: Option<&Tensor<f32>>,
    samples: usize,
    on_node: &mut dyn FnMut(NodeEvent),
) -> Result<PartyReport> {
    let t0 = Instant::now();
    let id = party.id();
    let mut be = ThreePcBackend::new(party, program.scale, program.compare_bits);
    let output = run_samples(&mut be, id, program, weights, input, samples, on_node)?;
    let mut party = be.party;
    Ok(PartyReport {
        party: id,
        output,
        counters: party.counters(),
        layers: party.label_counters(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The backend-independent part of a party's run, shared by the `3pc` and
/// `3pc-malicious` backends: checks that the model owner has the weights and
/// the data owner the input, then executes `program` on `backend` over
/// `samples` inputs in chunks of the program's batch size (the last chunk
/// padded with zeros). Returns the output at the data owner.
pub fn run_samples<B: Backend>(
    backend: &mut B,
    id: usize,
    program: &Program,
    weights: Option<&Weights>,
    input: Option<&Tensor<f32>>,
    samples: usize,
    on_node: &mut dyn FnMut(NodeEvent),
) -> Result<Option<Tensor<f32>>> {
    if id == MODEL_OWNER && weights.is_none() {
        return Err(Error::Backend("the model owner needs the weights".into()));
    }
    if id == DATA_OWNER && input.is_none() {
        return Err(Error::Backend("the data owner needs an input".into()));
    }
    let g = &program.graph;
    let ids = g.input_ids();
    if ids.len() != 1 {
        return Err(Error::Backend("only single-input models are supported".into()));
    }
    let want = g.nodes[ids[0]].shape.clone();
    let per: usize = want[1..].iter().product();
    if let Some(x) = input {
        let (n, _) = split_batch(&x.shape, &want)?;
        if n != samples {
            return Err(Error::Backend(format!("input holds {n} samples, {samples} announced")));
        }
    }
    let batch = want[0];
    let mut outs: Vec<f32> = Vec::new();
    let mut out_shape: Vec<usize> = Vec::new();
    let mut start = 0;
    while start < samples {
        let take = batch.min(samples - start);
        let chunk = match input {
            Some(x) => {
                let mut d = x.data[start * per..(start + take) * per].to_vec();
                d.resize(batch * per, 0.0);
                Some(Tensor::new(want.clone(), d)?)
            }
            None => None,
        };
        let w = if id == MODEL_OWNER { weights } else { None };
        let res = execute(backend, g, &[chunk.as_ref()], w, on_node)?;
        if let Some(Some(y)) = res.into_iter().next() {
            let per_out = y.data.len() / batch;
            outs.extend_from_slice(&y.data[..take * per_out]);
            out_shape = y.shape.clone();
        }
        start += take;
    }
    if out_shape.is_empty() {
        return Ok(None);
    }
    out_shape[0] = samples;
    Ok(Some(Tensor::new(out_shape, outs)?))
}

/// The error to report from the three parties' results, if any: a
/// detected cheat first, then a party's own failure before its peers'
/// "closed" (which only follows from it). Otherwise every party's value.
pub fn root_cause<T, E: std::fmt::Display>(results: Vec<std::result::Result<T, E>>) -> std::result::Result<Vec<T>, E> {
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(v) => values.push(v),
            Err(e) => errors.push(e),
        }
    }
    let rank = |e: &E| {
        let m = e.to_string();
        (!m.contains("cheating detected"), m.contains("closed"))
    };
    match errors.into_iter().min_by_key(rank) {
        Some(e) => Err(e),
        None => Ok(values),
    }
}

/// Runs the three parties on threads over `chans` (index = party id).
/// Returns the three reports; the first error of any party otherwise.
pub fn run_local(
    chans: Vec<Box<dyn Channel>>,
    program: &Program,
    weights: &Weights,
    input: &Tensor<f32>,
) -> Result<Vec<PartyReport>> {
    let g = &program.graph;
    let ids = g.input_ids();
    let want = ids
        .first()
        .map(|&i| g.nodes[i].shape.clone())
        .ok_or_else(|| Error::Backend("the model has no input".into()))?;
    let (samples, _) = split_batch(&input.shape, &want)?;
    let results: Vec<Result<PartyReport>> = std::thread::scope(|s| {
        let handles: Vec<_> = chans
            .into_iter()
            .enumerate()
            .map(|(id, chan)| {
                s.spawn(move || {
                    let party = Party::setup(chan).map_err(|e| Error::Backend(format!("party {id}: setup: {e}")))?;
                    let w = (id == MODEL_OWNER).then_some(weights);
                    let x = (id == DATA_OWNER).then_some(input);
                    run_party(party, program, w, x, samples, &mut |_| {})
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Backend("a party thread panicked".into())))
            })
            .collect()
    });
    root_cause(results)
}
