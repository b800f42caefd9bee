//! Running a program as one party with the `3pc-malicious` backend (any
//! transport), and all three parties in one process (threads), for
//! `cryptflow run/demo/bench --backend 3pc-malicious` and the tests.

use super::{MaliciousBackend, DATA_OWNER, MODEL_OWNER};
use crate::{Aramis, Cheat};
use cryptflow_exec::executor::{execute, split_batch, NodeEvent};
use cryptflow_exec::{Error, Result};
use cryptflow_ir::{Program, Tensor, Weights};
use cryptflow_mpc::backend::local::PartyReport;
use cryptflow_mpc::Party;
use cryptflow_net::Channel;
use std::time::Instant;

/// Runs `program` as this party over `samples` inputs (the data owner's
/// `input` holds them; the model owner's `weights`), in chunks of the
/// program's batch size, the last chunk padded with zeros. Every chunk ends
/// with the MAC check inside the output; nothing is released to the data
/// owner unless it passes.
pub fn run_party(
    mut aramis: Aramis,
    program: &Program,
    weights: Option<&Weights>,
    input: Option<&Tensor<f32>>,
    samples: usize,
    on_node: &mut dyn FnMut(NodeEvent),
) -> Result<PartyReport> {
    let t0 = Instant::now();
    let id = aramis.id();
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
    aramis.set_label("setup");
    let mut be = MaliciousBackend::new(aramis, program.scale, program.compare_bits);
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
        let res = execute(&mut be, g, &[chunk.as_ref()], w, on_node)?;
        if let Some(Some(y)) = res.into_iter().next() {
            let per_out = y.data.len() / batch;
            outs.extend_from_slice(&y.data[..take * per_out]);
            out_shape = y.shape.clone();
        }
        start += take;
    }
    let mut aramis = be.aramis;
    let output = if out_shape.is_empty() {
        None
    } else {
        out_shape[0] = samples;
        Some(Tensor::new(out_shape, outs)?)
    };
    Ok(PartyReport {
        party: id,
        output,
        counters: aramis.mpc_counters(),
        layers: aramis.label_counters(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Runs the three parties on threads over `chans` (index = party id);
/// `cheats[i]` makes party `i` deviate once (`--simulate-cheater`). Returns
/// the three results, one per party, so that a caller can show what each
/// honest party saw.
pub fn run_local(
    chans: Vec<Box<dyn Channel>>,
    program: &Program,
    weights: &Weights,
    input: &Tensor<f32>,
    cheats: [Option<Cheat>; 3],
) -> Result<Vec<Result<PartyReport>>> {
    let g = &program.graph;
    let want = g
        .input_ids()
        .first()
        .map(|&i| g.nodes[i].shape.clone())
        .ok_or_else(|| Error::Backend("the model has no input".into()))?;
    let (samples, _) = split_batch(&input.shape, &want)?;
    Ok(std::thread::scope(|s| {
        let handles: Vec<_> = chans
            .into_iter()
            .enumerate()
            .map(|(id, chan)| {
                s.spawn(move || {
                    let party = Party::setup(chan).map_err(|e| Error::Backend(format!("party {id}: setup: {e}")))?;
                    let mut a = Aramis::from_party(party);
                    a.set_cheat(cheats.get(id).copied().flatten());
                    let w = (id == MODEL_OWNER).then_some(weights);
                    let x = (id == DATA_OWNER).then_some(input);
                    run_party(a, program, w, x, samples, &mut |_| {})
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
    }))
}

/// The first error among the parties' results, preferring a root cause
/// (cheating detected, a party's own failure) over a peer's "closed".
pub fn first_error(results: Vec<Result<PartyReport>>) -> Result<Vec<PartyReport>> {
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(rep) => reports.push(rep),
            Err(e) => errors.push(e),
        }
    }
    if let Some(e) = errors.into_iter().min_by_key(|e| {
        (
            !e.to_string().contains("cheating detected"),
            e.to_string().contains("closed"),
        )
    }) {
        return Err(e);
    }
    Ok(reports)
}
