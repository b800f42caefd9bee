//! Every network message a protocol reads comes from a peer and may be
//! anything: a property test feeds arbitrary byte strings (of arbitrary
//! lengths) as the peers' messages to setup, input sharing, multiplication,
//! truncation, ReLU, max and reveal. Each must return a result or a clean
//! error; none may panic.

use cryptflow_mpc::{max_pairwise, mul_trunc, relu, reveal_to, share_input, AShare, Party};
use cryptflow_net::{Channel, NetError, PartyId, Stats};
use proptest::prelude::*;
use std::collections::VecDeque;

/// A "peer" that answers every receive with the next fuzzed message.
struct Garbage {
    id: PartyId,
    msgs: VecDeque<Vec<u8>>,
}

impl Channel for Garbage {
    fn id(&self) -> PartyId {
        self.id
    }
    fn send(&mut self, _to: PartyId, _msg: Vec<u8>) -> cryptflow_net::Result<()> {
        Ok(())
    }
    fn recv(&mut self, from: PartyId) -> cryptflow_net::Result<Vec<u8>> {
        self.msgs.pop_front().ok_or(NetError::Closed { peer: from })
    }
    fn stats(&self) -> Stats {
        Stats::default()
    }
}

fn session(p: &mut Party, n: usize) -> Result<(), cryptflow_mpc::MpcError> {
    let mine: Vec<u64> = (0..n as u64).collect();
    let x = share_input(p, 1, (p.id() == 1).then_some(mine.as_slice()), n)?;
    let y = share_input(p, 0, (p.id() == 0).then_some(mine.as_slice()), n)?;
    let z = mul_trunc(p, &x, &y, 8)?;
    let r = relu(p, &z, 32)?;
    let m = max_pairwise(p, &r, &AShare::concat(&[&x]), 64)?;
    let _ = reveal_to(p, 1, &m)?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn garbage_from_peers_never_panics(
        id in 0usize..3,
        n in 0usize..70,
        msgs in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..64),
                proptest::collection::vec(any::<u8>(), 0..1200),
                Just(vec![0u8; 16]),
            ],
            0..40,
        ),
    ) {
        let chan = Garbage { id, msgs: msgs.into() };
        if let Ok(mut p) = Party::setup(Box::new(chan)) {
            let _ = session(&mut p, n);
        }
    }

    /// Messages of exactly the expected lengths (so every length check
    /// passes) but random contents: the protocol runs to the end.
    #[test]
    fn well_sized_random_messages_never_panic(id in 0usize..3, seed in any::<u64>()) {
        let mut g = cryptflow_exec::testdata::Xorshift::new(seed | 1);
        let mut next = move |len: usize| -> Vec<u8> {
            (0..len).map(|_| g.next_u64() as u8).collect()
        };
        // generous supply of plausible sizes: seeds, u64 vectors, bit vectors
        let sizes = [16usize, 40, 40, 40, 40, 8, 40, 5, 40, 40, 8, 40, 8, 8, 8, 8, 8, 8, 8, 8, 40, 40, 40];
        let msgs: VecDeque<Vec<u8>> = sizes.iter().map(|&l| next(l)).collect();
        let chan = Garbage { id, msgs };
        if let Ok(mut p) = Party::setup(Box::new(chan)) {
            let _ = session(&mut p, 5);
        }
    }
}
