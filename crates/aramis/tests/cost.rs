//! Bytes and rounds of every Aramis protocol, against the semi-honest crate,
//! measured from the channel counters (the table in docs/PROTOCOLS.md).
#![allow(clippy::unwrap_used)]

use cryptflow_aramis::testing::run3;
use cryptflow_aramis::{Aramis, Counters, Gemm};
use cryptflow_mpc::testing::run3_seeded;
use cryptflow_mpc::Party;

const N: usize = 4096;

/// Total bytes over the three parties and rounds of `op`, run after `prep`.
fn aramis_cost<P, O>(prep: P, op: O) -> (u64, u64)
where
    P: Fn(&mut Aramis) -> Vec<cryptflow_aramis::AuthShare> + Sync,
    O: Fn(&mut Aramis, &[cryptflow_aramis::AuthShare]) + Sync,
{
    let r = run3(Some(3), [None; 3], |a| {
        let xs = prep(a);
        let before = a.counters();
        op(a, &xs);
        let after = a.counters();
        Counters {
            bytes_sent: after.bytes_sent - before.bytes_sent,
            rounds: after.rounds - before.rounds,
            ..Counters::default()
        }
    });
    assert!(r.iter().all(|c| c.rounds == r[0].rounds));
    (r.iter().map(|c| c.bytes_sent).sum(), r[0].rounds)
}

fn semi_honest_bytes<O>(op: O) -> u64
where
    O: Fn(&mut Party) + Sync,
{
    let r = run3_seeded(3, |p| {
        let before = p.counters();
        op(p);
        p.counters().bytes_sent - before.bytes_sent
    });
    r.iter().sum()
}

fn inputs(a: &mut Aramis) -> Vec<cryptflow_aramis::AuthShare> {
    let me = a.id();
    let v: Vec<u64> = (0..N as u64).collect();
    let x = a.input(0, (me == 0).then_some(&v[..]), N).unwrap();
    let y = a.input(1, (me == 1).then_some(&v[..]), N).unwrap();
    vec![x, y]
}

#[test]
fn costs_per_element() {
    let n = N as u64;
    let none = |_: &mut Aramis| Vec::new();
    let input = aramis_cost(none, |a, _| {
        let me = a.id();
        let v = vec![5u64; N];
        a.input(0, (me == 0).then_some(&v[..]), N).unwrap();
    });
    let input_values = aramis_cost(none, |a, _| {
        let me = a.id();
        let v = vec![5u64; N];
        a.input_values(0, (me == 0).then_some(&v[..]), N).unwrap();
    });
    let input_small = aramis_cost(none, |a, _| {
        let me = a.id();
        let v = vec![5u64.wrapping_neg(); N];
        a.input_small_values(0, (me == 0).then_some(&v[..]), N).unwrap();
    });
    let mul = aramis_cost(inputs, |a, x| {
        a.mul(&x[0], &x[1]).unwrap();
    });
    // 64 x 64 times 64 x 64: N output elements
    let bil = aramis_cost(inputs, |a, x| {
        a.mul_bilinear(&x[0], &x[1], Gemm { m: 64, k: 64, n: 64 }).unwrap();
    });
    let bil_values = aramis_cost(inputs, |a, x| {
        a.mul_bilinear_values(&x[0], &x[1].v, None, Gemm { m: 64, k: 64, n: 64 })
            .unwrap();
    });
    // the layer's Freivalds check rides on the checkpoint: no extra traffic
    let bil_verify = aramis_cost(inputs, |a, x| {
        a.mul_bilinear(&x[0], &x[1], Gemm { m: 64, k: 64, n: 64 }).unwrap();
        a.verify().unwrap();
    });
    let open_all = aramis_cost(inputs, |a, x| {
        a.open_all(&x[0]).unwrap();
    });
    let open_to = aramis_cost(inputs, |a, x| {
        a.open_to(1, &x[0]).unwrap();
    });
    let verify = aramis_cost(inputs, |a, _| a.verify().unwrap());
    let output = aramis_cost(inputs, |a, x| {
        a.output_to(1, &x[0]).unwrap();
    });

    let sh_input = semi_honest_bytes(|p| {
        let v = vec![5u64; N];
        cryptflow_mpc::share_input(p, 0, (p.id() == 0).then_some(&v[..]), N).unwrap();
    });
    let sh_mul = semi_honest_bytes(|p| {
        let x = cryptflow_mpc::AShare::zeros(N);
        cryptflow_mpc::mul(p, &x, &x).unwrap();
    });
    let sh_open_all = semi_honest_bytes(|p| {
        cryptflow_mpc::reveal_all(p, &cryptflow_mpc::AShare::zeros(N)).unwrap();
    });
    let sh_open_to = semi_honest_bytes(|p| {
        cryptflow_mpc::reveal_to(p, 1, &cryptflow_mpc::AShare::zeros(N)).unwrap();
    });

    let rows = [
        ("input (one owner)", input, sh_input),
        ("input, value shares only (weights)", input_values, sh_input),
        ("mul", mul, sh_mul),
        ("mul_bilinear (per output element)", bil, sh_mul),
        ("mul_bilinear_values (no MAC)", bil_values, sh_mul),
        ("open_all", open_all, sh_open_all),
        ("open_to", open_to, sh_open_to),
        ("verify (whole batch)", verify, 0),
        ("output_to (verify + release)", output, sh_open_to),
    ];
    println!("| protocol | Aramis bytes total (n = {N}) | per element | rounds | semi-honest per element |");
    for (name, (b, r), sh) in rows {
        println!(
            "| {name} | {b} | {:.3} | {r} | {:.3} |",
            b as f64 / n as f64,
            sh as f64 / n as f64
        );
    }
    assert_eq!(input, (80 * n + 64, 2));
    assert_eq!(input_values, (16 * n, 1));
    // the small form (values below 2^36: the backend's weights): 10 B
    assert_eq!(input_small, (10 * n, 1));
    assert_eq!(mul, (96 * n, 1));
    assert_eq!(bil, (96 * n, 2));
    assert_eq!(bil_verify, (96 * n + 390, 7));
    assert_eq!(bil_values, (48 * n, 1));
    assert_eq!(open_all, (24 * n + 96, 1));
    assert_eq!(open_to, (8 * n + 32, 1));
    assert_eq!(verify, (390, 5));
    assert_eq!(output, (8 * n + 32 + 390 + 6, 7));
    assert_eq!(
        (sh_input, sh_mul, sh_open_all, sh_open_to),
        (8 * n, 24 * n, 24 * n, 8 * n)
    );
}

#[test]
fn truncation_and_relu_costs() {
    let n = N as u64;
    // (the inputs checked, so that a truncation's check of everything
    // before its opening finds nothing to do: the op's own cost)
    let small = |a: &mut Aramis| {
        let me = a.id();
        let v: Vec<u64> = (0..N as u64).map(|i| i.wrapping_sub(2000)).collect();
        let x = a.input(1, (me == 1).then_some(&v[..]), N).unwrap();
        a.verify().unwrap();
        vec![x]
    };
    let trunc = aramis_cost(small, |a, x| {
        a.trunc(&x[0], 13).unwrap();
    });
    let trunc_lazy = aramis_cost(small, |a, x| {
        a.trunc_values_lazy(&x[0].v, 13).unwrap();
    });
    let relu_lazy = aramis_cost(small, |a, x| {
        a.relu_lazy(&x[0], 28).unwrap();
    });
    // a layer and its truncation in one opening: data (64 x 64) times
    // weights (64 x 64) as the backend shares them
    let layer = |a: &mut Aramis| {
        let mut xs = small(a);
        let me = a.id();
        let w: Vec<u64> = (0..N as u64).map(|i| i % 7).collect();
        let v = a.input_values(0, (me == 0).then_some(&w[..]), N).unwrap();
        a.verify().unwrap();
        xs.push(cryptflow_aramis::AuthShare {
            v,
            m: Default::default(),
        });
        xs
    };
    let gemm = Gemm { m: 64, k: 64, n: 64 };
    let fused = aramis_cost(layer, |a, x| {
        a.bilinear_trunc_lazy(&x[0], &x[1].v, Some(0), gemm.clone(), 13)
            .unwrap();
    });
    let fused_verify = aramis_cost(layer, |a, x| {
        a.bilinear_trunc_lazy(&x[0], &x[1].v, Some(0), gemm.clone(), 13)
            .unwrap();
        a.verify().unwrap();
    });
    let replicate = aramis_cost(small, |a, x| {
        let r = a.relu_lazy(&x[0], 28).unwrap();
        a.replicate_mac(&r).unwrap();
    });
    // a fold of what awaits the check (here the input's MAC relation):
    // the coin's redundant opening, no other message
    let fold = aramis_cost(
        |a: &mut Aramis| {
            let me = a.id();
            let v: Vec<u64> = (0..N as u64).collect();
            vec![a.input(1, (me == 1).then_some(&v[..]), N).unwrap()]
        },
        |a, _| a.checkpoint_if_over(0).unwrap(),
    );
    // (16 B component and 32 B hash per party)
    assert_eq!(fold, (144, 1));
    let bits = aramis_cost(small, |a, _| {
        a.random_bits(N).unwrap();
    });
    let mut relus = Vec::new();
    for w in [16u32, 28] {
        relus.push((
            w,
            aramis_cost(small, |a, x| {
                a.relu(&x[0], w).unwrap();
            }),
        ));
    }
    println!("trunc {trunc:?}, bits {bits:?}, relu {relus:?}");
    // MAC reshare 16 B + a 78-bit component (10 B) per party; 3 hashes per call
    assert_eq!(trunc, (78 * n + 96, 2));
    // with the MAC left additive: the opening alone
    assert_eq!(trunc_lazy, (30 * n + 96, 1));
    // fused with the layer: the two other parties' masked 78-bit shares to
    // the layer's king, which sends the sum to both (40 B per output
    // element instead of 48 + 30, two rounds); the keyed digests of the
    // sum (3 x 8 B: every party takes part) ride on the check
    assert_eq!(fused, (40 * n, 2));
    assert_eq!(fused_verify, (40 * n + 390 + 24, 2 + 5));
    // a 28-bit ReLU whose MAC stays additive: 48 B per element less (no
    // MAC reshare); making it replicated costs them back in one more round
    let relu28 = (106 + 3 * 32) * n + (3 * 28 + 27) * n / 8 + 96;
    assert_eq!(relu_lazy, (relu28 - 48 * n, 28 + 4));
    assert_eq!(replicate, (relu28, 28 + 5));
    // MACs of two pair bits (each from two parties: 2 x 2 x 16 B), b_0 b_1
    // as P0's small input to P1 (10 B), u b_2 from P1 and P2 alone (2 x 16
    // B), the result's MAC (3 x 16 B)
    assert_eq!(bits, (154 * n, 4));
    for (w, c) in relus {
        let w = w as u64;
        // per party: w-1 ANDs (the ripple carry of x0 + (x1 + x2)) of one
        // bit each and the opened bit; P1's carry shares to P2 (w-1 bits);
        // daBit 106 over the three parties (no MAC of its own), select 32
        // per party (+96 B per call)
        let ands = w - 1;
        assert_eq!(
            c,
            ((106 + 3 * 32) * n + (3 * (ands + 1) + (w - 1)) * n / 8 + 96, w + 4),
            "w = {w}"
        );
    }
}

#[test]
fn and_gate_proof_cost_is_logarithmic() {
    let relu = |a: &mut Aramis| {
        let me = a.id();
        let v: Vec<u64> = (0..N as u64).map(|i| i.wrapping_sub(2000)).collect();
        let x = a.input(1, (me == 1).then_some(&v[..]), N).unwrap();
        vec![a.relu(&x, 28).unwrap()]
    };
    let check = aramis_cost(relu, |a, _| a.verify().unwrap());
    // 27 AND planes of 4096 bits: 110,592 gates, a batch of 2^17, m = 18;
    // the adder's 27 carry planes the same, proved by P1 alone (the same
    // bytes as one party's share of the three AND proofs) in the same
    // rounds
    let m = 18u64;
    let per_party = 8 + 8 * (m - 1) + 32 * m + 16 * (m + 2);
    println!("checkpoint with the AND proof: {check:?}");
    assert_eq!(check, (390 + 4 * per_party, 5 + 2 * m + 3));
}
