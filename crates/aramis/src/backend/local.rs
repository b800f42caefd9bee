//! Running a program as one party with the `3pc-malicious` backend (any
//! transport), and all three parties in one process (threads), for
//! `cryptflow run/demo/bench --backend 3pc-malicious` and the tests.

use super::{MaliciousBackend, DATA_OWNER, MODEL_OWNER};
use crate::{Aramis, Cheat};
use cryptflow_exec::executor::{split_batch, NodeEvent};
use cryptflow_exec::{Error, Result};
use cryptflow_ir::{Program, Tensor, Weights};
use cryptflow_mpc::backend::local::{root_cause, run_samples, PartyReport};
use cryptflow_mpc::Party;
use cryptflow_net::Channel;
use std::time::Instant;

/// Runs `program` as this party over `samples` inputs (the data owner's
/// `input` holds them; the model owner's `weights`), in chunks of the
/// program's batch size, the last chunk padded with zeros. Every chunk ends
/// with the MAC check inside the output; nothing is released to the data
/// owner unless it passes.
pub fn run_party(
    aramis: Aramis,
    program: &Program,
    weights: Option<&Weights>,
    input: Option<&Tensor<f32>>,
    samples: usize,
    on_node: &mut dyn FnMut(NodeEvent),
) -> Result<PartyReport> {
    let t0 = Instant::now();
    let id = aramis.id();
    let mut be = MaliciousBackend::new(aramis, program.scale, program.compare_bits);
    be.aramis.set_label("setup");
    let output = run_samples(&mut be, id, program, weights, input, samples, on_node)?;
    let mut aramis = be.aramis;
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
    root_cause(results)
}
