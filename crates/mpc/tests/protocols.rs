//! Every protocol against the cleartext fixed-point semantics.
#![allow(clippy::unwrap_used)]

use cryptflow_mpc::compare::{b2a, drelu, max_pairwise, msb, relu, select};
use cryptflow_mpc::mul::{and, mul, mul_bilinear, ring_gemm_naive};
use cryptflow_mpc::share::{pack_bools, reveal_all, reveal_bits_all, reveal_to, share_input, share_input_bits};
use cryptflow_mpc::testing::{consistent, deal, deal_bits, ok, open, open_bits, run3, run3_seeded};
use cryptflow_mpc::trunc::{bilinear_trunc, mul_trunc, trunc};
use cryptflow_mpc::{AShare, MpcError, Party, Prg, Seed};
use proptest::prelude::*;

/// Shares `x` from party 0 (the protocol, not a dealer) inside a run.
fn input0(p: &mut Party, x: &[u64]) -> AShare {
    let v = if p.id() == 0 { Some(x) } else { None };
    ok(share_input(p, 0, v, x.len()))
}

/// Signed values with |v| < 2^(bits-1), biased towards 0, ±1 and the bounds.
fn bounded(bits: u32) -> impl Strategy<Value = i64> {
    let max = if bits >= 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    prop_oneof![
        Just(0i64),
        Just(1),
        Just(-1),
        Just(max),
        Just(-max),
        -max..=max,
        -1000i64..1000,
    ]
}

fn vec_bounded(bits: u32, n: usize) -> impl Strategy<Value = Vec<i64>> {
    proptest::collection::vec(bounded(bits), 1..n)
}

fn u(v: &[i64]) -> Vec<u64> {
    v.iter().map(|&x| x as u64).collect()
}

#[test]
fn input_and_reveal_from_every_owner() {
    let x: Vec<u64> = vec![0, 1, u64::MAX, 1 << 63, 12345];
    for owner in 0..3 {
        let r = run3(|p| {
            let v = if p.id() == owner { Some(&x[..]) } else { None };
            let s = ok(share_input(p, owner, v, x.len()));
            let all = ok(reveal_all(p, &s));
            let to1 = ok(reveal_to(p, 1, &s));
            (s, all, to1, p.counters())
        });
        let shares = [r[0].0.clone(), r[1].0.clone(), r[2].0.clone()];
        assert!(consistent(&shares));
        assert_eq!(open(&shares), x);
        for (i, ri) in r.iter().enumerate() {
            assert_eq!(ri.1, x);
            assert_eq!(ri.2.is_some(), i == 1);
            assert_eq!(ri.3.rounds, 3);
        }
        assert_eq!(r[1].2.as_ref().unwrap(), &x);
        // Input: n elements from the owner; reveal_all: n per party; reveal_to: n.
        let total: u64 = r.iter().map(|ri| ri.3.bytes_sent).sum();
        assert_eq!(total, 8 * 5 * (1 + 3 + 1));
    }
}

#[test]
fn bit_input_and_reveal() {
    let bits: Vec<bool> = (0..70).map(|i| i % 3 == 0).collect();
    let packed = pack_bools(&bits);
    let r = run3(|p| {
        let v = if p.id() == 2 { Some(&packed[..]) } else { None };
        let s = ok(share_input_bits(p, 2, v, bits.len()));
        ok(reveal_bits_all(p, &s))
    });
    for ri in r {
        assert_eq!(ri, packed);
    }
}

#[test]
fn malformed_message_is_an_error_not_a_panic() {
    let r = run3(|p| {
        let x = AShare::zeros(4);
        match p.id() {
            1 => {
                // Party 1 misbehaves: a 3-byte message where 32 bytes are expected.
                ok(p.send_bytes(0, vec![1, 2, 3]));
                None
            }
            // Party 2 only waits for party 0's reshare, so that party 0's send
            // cannot race with party 2 going away (it would see "closed").
            2 => {
                ok(p.recv_bytes(0, 32));
                None
            }
            _ => Some(mul(p, &x, &x)),
        }
    });
    assert!(
        matches!(
            r[0],
            Some(Err(MpcError::BadLength {
                peer: 1,
                expected: 32,
                got: 3
            }))
        ),
        "{:?}",
        r[0]
    );
    let msg = format!("{}", r[0].as_ref().unwrap().as_ref().unwrap_err());
    assert!(msg.contains("party 1"));
}

#[test]
fn debug_prints_no_values() {
    let s = AShare {
        a: vec![0xDEAD_BEEF],
        b: vec![0xFEED],
    };
    let d = format!("{s:?}");
    assert!(!d.contains("3735928559") && !d.contains("DEAD") && !d.contains("deadbeef"));
    assert_eq!(d, "AShare(len=1)");
}

#[test]
fn labels_split_counters() {
    let r = run3(|p| {
        let x = input0(p, &[1, 2, 3]);
        p.set_label("mul");
        let y = ok(mul(p, &x, &x));
        p.set_label("relu");
        let _ = ok(relu(p, &y, 32));
        p.label_counters()
    });
    for ri in &r {
        assert_eq!(ri["mul"].rounds, 1);
        assert_eq!(ri["mul"].bytes_sent, 24);
        assert_eq!(ri["relu"].rounds, 8);
        assert_eq!(ri[""].rounds, 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn local_linear_ops(x in vec_bounded(64, 20), c in any::<u64>(), seed in any::<u64>()) {
        let xs = u(&x);
        let ys: Vec<u64> = xs.iter().map(|v| v.rotate_left(7) ^ 0x5555).collect();
        let cv: Vec<u64> = xs.iter().map(|v| v.wrapping_mul(3).wrapping_add(c)).collect();
        let mut rng = Prg::new(&Seed::from_bytes([seed as u8; 16]));
        let sx = deal(&xs, &mut rng);
        let sy = deal(&ys, &mut rng);
        let res: [AShare; 3] = [0, 1, 2].map(|i| {
            sx[i].add(&sy[i]).sub(&sy[i].mul_const(2)).neg().add_const(i, c).mul_public(&cv).add_public(i, &xs)
        });
        let want: Vec<u64> = (0..xs.len()).map(|j| {
            let v = xs[j].wrapping_add(ys[j]).wrapping_sub(ys[j].wrapping_mul(2)).wrapping_neg().wrapping_add(c);
            v.wrapping_mul(cv[j]).wrapping_add(xs[j])
        }).collect();
        prop_assert!(consistent(&res));
        prop_assert_eq!(open(&res), want);
    }

    #[test]
    fn mul_matches_ring_product(x in proptest::collection::vec(any::<u64>(), 1..40), seed in any::<u64>()) {
        let y: Vec<u64> = x.iter().rev().map(|v| v ^ 0xABCDEF).collect();
        let r = run3_seeded(seed, |p| {
            let sx = input0(p, &x);
            let sy = input0(p, &y);
            (ok(mul(p, &sx, &sy)), p.counters())
        });
        let z = [r[0].0.clone(), r[1].0.clone(), r[2].0.clone()];
        prop_assert!(consistent(&z));
        let want: Vec<u64> = x.iter().zip(&y).map(|(a, b)| a.wrapping_mul(*b)).collect();
        prop_assert_eq!(open(&z), want);
        for ri in &r {
            // two inputs + one multiplication
            prop_assert_eq!(ri.1.rounds, 3);
        }
    }

    #[test]
    fn bilinear_gemm(m in 1usize..5, k in 1usize..6, n in 1usize..5, seed in any::<u64>()) {
        let mut g = Prg::new(&Seed::from_bytes([(seed % 251) as u8; 16]));
        let a = g.gen_u64(m * k);
        let b = g.gen_u64(k * n);
        let r = run3_seeded(seed, |p| {
            let sa = input0(p, &a);
            let sb = input0(p, &b);
            let before = p.counters().bytes_sent;
            let z = ok(mul_bilinear(p, &sa, &sb, m * n, |x, y| ring_gemm_naive(m, k, n, x, y)));
            (z, p.counters().bytes_sent - before)
        });
        let z = [r[0].0.clone(), r[1].0.clone(), r[2].0.clone()];
        prop_assert!(consistent(&z));
        prop_assert_eq!(open(&z), ring_gemm_naive(m, k, n, &a, &b));
        for ri in &r {
            prop_assert_eq!(ri.1, 8 * (m * n) as u64); // one element per output, not per weight
        }
    }

    /// Truncation: result is `x >> d` or `x >> d + 1` (values below 2^40: the
    /// large-error probability per element is < 2^-24, per test run < 1e-3).
    #[test]
    fn trunc_within_one(x in vec_bounded(37, 64), d in 1u32..20, seed in any::<u64>()) {
        let xs = u(&x);
        let r = run3_seeded(seed, |p| {
            let sx = input0(p, &xs);
            let before = p.counters();
            let t = ok(trunc(p, &sx, d));
            (t, p.counters().rounds - before.rounds)
        });
        let t = [r[0].0.clone(), r[1].0.clone(), r[2].0.clone()];
        prop_assert!(consistent(&t));
        for (j, got) in open(&t).into_iter().enumerate() {
            let want = x[j] >> d;
            let err = (got as i64).wrapping_sub(want);
            prop_assert!(err == 0 || err == 1, "x={} d={} got={} want={}", x[j], d, got as i64, want);
        }
        prop_assert_eq!(r[0].1, 1);
    }

    /// Fixed-point multiplication: `trunc(x * y)` up to +1.
    #[test]
    fn mul_trunc_fixed_point(pairs in proptest::collection::vec((bounded(22), bounded(18)), 1..40), s in 8u32..=16, seed in any::<u64>()) {
        let x: Vec<u64> = pairs.iter().map(|p| p.0 as u64).collect();
        let y: Vec<u64> = pairs.iter().map(|p| p.1 as u64).collect();
        let r = run3_seeded(seed, |p| {
            let sx = input0(p, &x);
            let sy = input0(p, &y);
            let a = ok(mul_trunc(p, &sx, &sy, s));
            let hadamard = |u: &[u64], v: &[u64]| -> Vec<u64> { u.iter().zip(v).map(|(a, b)| a.wrapping_mul(*b)).collect() };
            let b = ok(bilinear_trunc(p, &sx, &sy, None, x.len(), hadamard, s));
            // y as an input of party 0: one evaluation per party
            let c = ok(bilinear_trunc(p, &sx, &sy, Some(0), x.len(), hadamard, s));
            (a, b, c, p.counters())
        });
        let outs = [
            [r[0].0.clone(), r[1].0.clone(), r[2].0.clone()],
            [r[0].1.clone(), r[1].1.clone(), r[2].1.clone()],
            [r[0].2.clone(), r[1].2.clone(), r[2].2.clone()],
        ];
        for out in outs {
            prop_assert!(consistent(&out));
            for (j, got) in open(&out).into_iter().enumerate() {
                let want = (x[j].wrapping_mul(y[j]) as i64) >> s;
                let err = (got as i64).wrapping_sub(want);
                prop_assert!(err == 0 || err == 1, "j={} got={} want={}", j, got as i64, want);
            }
        }
        prop_assert_eq!(r[0].3.rounds, 2 + 2 + 2 + 2);
    }

    #[test]
    fn drelu_relu_exact_within_bound(bits in prop_oneof![Just(2u32), Just(3), Just(8), Just(17), Just(32), Just(40), Just(63), Just(64)], xs in proptest::collection::vec(any::<u64>(), 1..150), seed in any::<u64>()) {
        // Map arbitrary words into the bound |x| < 2^(bits-1), keeping the edge values.
        let x: Vec<i64> = xs.iter().enumerate().map(|(j, &w)| {
            let max = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
            match j % 7 {
                0 => 0,
                1 => 1,
                2 => -1,
                3 => max,
                4 => -max,
                _ => if bits == 64 { w as i64 } else { (w as i64) % (max + 1) },
            }
        }).collect();
        let xu = u(&x);
        let r = run3_seeded(seed, |p| {
            let sx = input0(p, &xu);
            let d = ok(drelu(p, &sx, bits));
            let m = ok(msb(p, &sx, bits));
            let rl = ok(relu(p, &sx, bits));
            (d, m, rl)
        });
        let d = open_bits(&[r[0].0.clone(), r[1].0.clone(), r[2].0.clone()]);
        let m = open_bits(&[r[0].1.clone(), r[1].1.clone(), r[2].1.clone()]);
        let rl = [r[0].2.clone(), r[1].2.clone(), r[2].2.clone()];
        prop_assert!(consistent(&rl));
        let rl = open(&rl);
        for j in 0..x.len() {
            let bit = (d[j / 64] >> (j % 64)) & 1;
            prop_assert_eq!(bit == 1, x[j] >= 0, "drelu x={} bits={}", x[j], bits);
            prop_assert_eq!((m[j / 64] >> (j % 64)) & 1 == 1, x[j] < 0);
            prop_assert_eq!(rl[j], if x[j] >= 0 { x[j] as u64 } else { 0 });
        }
        // padding bits of the last word are zero
        if !x.len().is_multiple_of(64) {
            prop_assert_eq!(d[x.len() / 64] >> (x.len() % 64), 0);
        }
    }

    #[test]
    fn select_and_b2a_and_and(xs in proptest::collection::vec(any::<u64>(), 1..100), bs in proptest::collection::vec(any::<bool>(), 100), seed in any::<u64>()) {
        let n = xs.len();
        let b1 = pack_bools(&bs[..n]);
        let b2 = pack_bools(&bs.iter().rev().take(n).copied().collect::<Vec<_>>());
        let mut g = Prg::new(&Seed::from_bytes([seed as u8; 16]));
        let sb1 = deal_bits(&b1, n, &mut g);
        let sb2 = deal_bits(&b2, n, &mut g);
        let r = run3_seeded(seed, |p| {
            let i = p.id();
            let sx = input0(p, &xs);
            let s = ok(select(p, &sb1[i], &sx));
            let a = ok(b2a(p, &sb1[i]));
            let c = ok(and(p, &sb1[i], &sb2[i]));
            (s, a, c)
        });
        let s = open(&[r[0].0.clone(), r[1].0.clone(), r[2].0.clone()]);
        let a = open(&[r[0].1.clone(), r[1].1.clone(), r[2].1.clone()]);
        let c = open_bits(&[r[0].2.clone(), r[1].2.clone(), r[2].2.clone()]);
        for j in 0..n {
            let bit = (b1[j / 64] >> (j % 64)) & 1;
            prop_assert_eq!(s[j], if bit == 1 { xs[j] } else { 0 });
            prop_assert_eq!(a[j], bit);
            prop_assert_eq!((c[j / 64] >> (j % 64)) & 1, bit & ((b2[j / 64] >> (j % 64)) & 1));
        }
    }

    #[test]
    fn max_pairwise_exact(pairs in proptest::collection::vec((bounded(31), bounded(31)), 1..60), seed in any::<u64>()) {
        let x: Vec<u64> = pairs.iter().map(|p| p.0 as u64).collect();
        let y: Vec<u64> = pairs.iter().map(|p| p.1 as u64).collect();
        let r = run3_seeded(seed, |p| {
            let sx = input0(p, &x);
            let sy = input0(p, &y);
            ok(max_pairwise(p, &sx, &sy, 32))
        });
        let got = open(&r);
        for j in 0..x.len() {
            prop_assert_eq!(got[j], pairs[j].0.max(pairs[j].1) as u64);
        }
    }
}

/// Outside the bound the fewer-bits DReLU may be wrong: documents that the
/// bound matters (x = 2^31 on 32 bits reads as negative).
#[test]
fn drelu_outside_bound_can_fail() {
    let x = vec![1u64 << 31, (1u64 << 31) - 1];
    let r = run3(|p| {
        let sx = input0(p, &x);
        ok(drelu(p, &sx, 32))
    });
    let d = open_bits(&r);
    assert_eq!(d[0] & 1, 0, "2^31 wraps on 32 bits");
    assert_eq!((d[0] >> 1) & 1, 1);
}

/// The large-error event of truncation has probability |x| / 2^64: checked
/// at |x| = 2^62 (expected rate 1/4) and 2^61 (1/8).
#[test]
fn trunc_large_error_rate_matches_formula() {
    for (x, rate) in [
        ((1u64 << 62), 0.25f64),
        (((1u64 << 61) as i64).wrapping_neg() as u64, 0.125),
    ] {
        let n = 8192;
        let xs = vec![x; n];
        let r = run3(|p| {
            let sx = input0(p, &xs);
            ok(trunc(p, &sx, 12))
        });
        let got = open(&r);
        let want = (x as i64) >> 12;
        let mut large = 0usize;
        for g in got {
            let e = (g as i64).wrapping_sub(want);
            if e != 0 && e != 1 {
                large += 1;
                // the large error is +-2^(64-12) (+1)
                assert!(e.unsigned_abs() >= (1 << 51));
            }
        }
        let f = large as f64 / n as f64;
        let sd = (rate * (1.0 - rate) / n as f64).sqrt();
        assert!((f - rate).abs() < 6.0 * sd, "rate {f} vs {rate}");
    }
}

/// The +1 of truncation is a stochastic rounding: its frequency is the
/// fractional part (checked at frac = 1/4).
#[test]
fn trunc_rounding_is_unbiased() {
    let n = 8192;
    let x = vec![(5u64 << 8) + 64; n]; // 5.25 at scale 8
    let r = run3(|p| {
        let sx = input0(p, &x);
        ok(trunc(p, &sx, 8))
    });
    let ups = open(&r).iter().filter(|&&v| v == 6).count() as f64 / n as f64;
    assert!((ups - 0.25).abs() < 0.03, "{ups}");
}

/// Empty and one-element vectors work, and rounds do not depend on the length.
#[test]
fn empty_and_single_vectors_and_constant_rounds() {
    let mut rounds = Vec::new();
    for n in [0usize, 1, 65, 1000] {
        let x: Vec<u64> = (0..n as u64)
            .map(|v| v.wrapping_mul(0x1234_5678).wrapping_sub(1 << 20))
            .collect();
        let r = run3(|p| {
            let sx = input0(p, &x);
            let before = p.rounds();
            let a = ok(relu(p, &sx, 40));
            let b = ok(mul_trunc(p, &sx, &a, 8));
            let c = ok(trunc(p, &b, 4));
            let d = ok(drelu(p, &c, 64));
            let e = ok(select(p, &d, &c));
            (a, e, p.rounds() - before)
        });
        let a = open(&[r[0].0.clone(), r[1].0.clone(), r[2].0.clone()]);
        assert_eq!(a.len(), n);
        for j in 0..n {
            assert_eq!(a[j], if (x[j] as i64) >= 0 { x[j] } else { 0 });
        }
        rounds.push(r[0].2);
    }
    assert!(rounds.iter().all(|&r| r == rounds[0]), "{rounds:?}");
}
