//! Honest runs of truncation, DReLU, ReLU and max against the cleartext
//! fixed-point semantics (signed values in Z_2^64).
#![allow(clippy::unwrap_used)]

use cryptflow_aramis::testing::run3;
use cryptflow_aramis::Aramis;

fn signed(seed: u64, n: usize, bound_bits: u32) -> Vec<u64> {
    let mut s = seed;
    (0..n)
        .map(|i| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let m = (s >> 11) % (1u64 << bound_bits);
            // edge values first
            match i {
                0 => 0,
                1 => 1,
                2 => u64::MAX,
                3 => (1u64 << bound_bits) - 1,
                4 => ((1u64 << bound_bits) - 1).wrapping_neg(),
                _ if s & 1 == 1 => m.wrapping_neg(),
                _ => m,
            }
        })
        .collect()
}

fn out(a: &mut Aramis, x: &cryptflow_aramis::AuthShare) -> Option<Vec<u64>> {
    a.output_to(1, x).unwrap()
}

#[test]
fn truncation_is_within_minus_one_to_two_ulps() {
    let xs = signed(7, 2000, 35);
    for d in [1u32, 13, 14, 20] {
        let r = run3(Some(d as u64), [None; 3], |a| {
            let me = a.id();
            let x = a.input(0, (me == 0).then_some(&xs[..]), xs.len()).unwrap();
            let y = a.trunc(&x, d).unwrap();
            out(a, &y)
        });
        let got = r[1].clone().unwrap();
        let mut hist = [0usize; 4];
        for (g, x) in got.iter().zip(&xs) {
            let want = ((*x as i64) >> d) as u64;
            let e = g.wrapping_sub(want) as i64;
            assert!(
                (-1..=2).contains(&e),
                "d={d} x={} got {} want {}",
                *x as i64,
                *g as i64,
                want as i64
            );
            hist[(e + 1) as usize] += 1;
        }
        // the error is spread, not stuck at one end
        assert!(hist[1] + hist[2] > xs.len() / 2, "{hist:?}");
    }
}

#[test]
fn drelu_relu_and_max_are_exact() {
    let bits = 28;
    let xs = signed(11, 3000, bits - 1);
    let ys = signed(12, 3000, bits - 2);
    let zs: Vec<u64> = signed(13, 3000, bits - 2);
    let r = run3(Some(3), [None; 3], |a| {
        let me = a.id();
        let x = a.input(1, (me == 1).then_some(&xs[..]), xs.len()).unwrap();
        let y = a.input(0, (me == 0).then_some(&ys[..]), ys.len()).unwrap();
        let z = a.input(0, (me == 0).then_some(&zs[..]), zs.len()).unwrap();
        let d = a.drelu(&x, bits).unwrap();
        let r = a.relu(&x, bits).unwrap();
        let m = a.max_pairwise(&y, &z, bits).unwrap();
        a.verify().unwrap();
        (out(a, &d), out(a, &r), out(a, &m))
    });
    let (d, rl, m) = r[1].clone();
    let (d, rl, m) = (d.unwrap(), rl.unwrap(), m.unwrap());
    for i in 0..xs.len() {
        let x = xs[i] as i64;
        assert_eq!(d[i], (x >= 0) as u64, "drelu({x})");
        assert_eq!(rl[i] as i64, x.max(0), "relu({x})");
        assert_eq!(m[i] as i64, (ys[i] as i64).max(zs[i] as i64), "max");
    }
    assert!(r[0].0.is_none() && r[2].0.is_none());
}

/// The max-pool tree's form: operands with additive MACs (as a conv's or a
/// lazy ReLU's result), the maximum's MAC left additive, and a tree level on
/// top of it; the MAC relations hold at the checkpoint.
#[test]
fn max_of_additive_macs_is_exact() {
    let bits = 28;
    let n = 700;
    let (xs, ys, zs) = (
        signed(31, n, bits - 3),
        signed(32, n, bits - 3),
        signed(33, n, bits - 3),
    );
    let r = run3(Some(5), [None; 3], |a| {
        let me = a.id();
        let mut add = |v: &[u64]| {
            let s = a.input(0, (me == 0).then_some(v), n).unwrap();
            // relu_lazy(s + 2^(bits-3)) - 2^(bits-3): s with an additive MAC
            let off = 1u64 << (bits - 3);
            let c = a.input(2, (me == 2).then_some(&vec![off; n][..]), n).unwrap();
            let pos = a.relu_lazy(&s.add(&c), bits).unwrap();
            assert!(pos.mac_is_additive());
            pos.add_additive(&c.neg())
        };
        let (x, y, z) = (add(&xs), add(&ys), add(&zs));
        let m = a.max_pairwise_lazy(x, &y, bits).unwrap();
        assert!(m.mac_is_additive());
        let m2 = a.max_pairwise_lazy(m.clone(), &z, bits).unwrap();
        a.verify().unwrap();
        let (m, m2) = (a.replicate_mac(&m).unwrap(), a.replicate_mac(&m2).unwrap());
        (out(a, &m), out(a, &m2))
    });
    let (m, m2) = r[1].clone();
    let (m, m2) = (m.unwrap(), m2.unwrap());
    for i in 0..n {
        let (x, y, z) = (xs[i] as i64, ys[i] as i64, zs[i] as i64);
        assert_eq!(m[i] as i64, x.max(y), "max({x}, {y})");
        assert_eq!(m2[i] as i64, x.max(y).max(z), "max({x}, {y}, {z})");
    }
}

#[test]
fn random_bits_are_bits_and_balanced() {
    let r = run3(None, [None; 3], |a| {
        let b = a.random_bits(4096).unwrap();
        out(a, &b)
    });
    let b = r[1].clone().unwrap();
    assert!(b.iter().all(|&v| v <= 1));
    let ones: usize = b.iter().map(|&v| v as usize).sum();
    // 4096 fair bits: mean 2048, sd 32
    assert!((1848..2248).contains(&ones), "{ones}");
}

#[test]
fn long_vectors_run_in_chunks() {
    let n = cryptflow_aramis::compare::COMPARE_CHUNK + 77;
    let xs = signed(21, n, 5);
    let r = run3(Some(8), [None; 3], |a| {
        let me = a.id();
        let x = a.input(1, (me == 1).then_some(&xs[..]), n).unwrap();
        let y = a.relu(&x, 6).unwrap();
        out(a, &y)
    });
    let got = r[1].clone().unwrap();
    for (g, x) in got.iter().zip(&xs) {
        assert_eq!(*g as i64, (*x as i64).max(0));
    }
}
