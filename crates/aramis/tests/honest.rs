//! Honest runs of every Aramis protocol equal the cleartext ring computation mod 2^64.
#![allow(clippy::unwrap_used)]

use cryptflow_aramis::bilinear::Weights;
use cryptflow_aramis::testing::run3;
use cryptflow_aramis::{Aramis, Bilinear, Gemm, Result};
use proptest::prelude::*;

fn gemm64(m: usize, k: usize, n: usize, a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut c = vec![0u64; m * n];
    for i in 0..m {
        for l in 0..k {
            for j in 0..n {
                c[i * n + j] = c[i * n + j].wrapping_add(a[i * k + l].wrapping_mul(b[l * n + j]));
            }
        }
    }
    c
}

/// P0 owns `w` (n) and `wm` (m x k), P1 owns `x` (n) and `xm` (k x q).
/// Computes `s = x*w + 3x - w + 5`, `p = s*s - c*x` (public c), `y = wm · xm`,
/// opens `x + w` to all, `w` to P2, then releases `p` and `y` to P1.
#[allow(clippy::type_complexity)]
fn program(
    a: &mut Aramis,
    w: &[u64],
    x: &[u64],
    c: &[u64],
    wm: &[u64],
    xm: &[u64],
    (m, k, q): (usize, usize, usize),
) -> Result<(Vec<u64>, Option<Vec<u64>>, Option<Vec<u64>>, Option<Vec<u64>>)> {
    let n = w.len();
    let me = a.id();
    let sw = a.input(0, (me == 0).then_some(w), n)?;
    let sx = a.input(1, (me == 1).then_some(x), n)?;
    let swm = a.input(0, (me == 0).then_some(wm), m * k)?;
    let sxm = a.input(1, (me == 1).then_some(xm), k * q)?;
    let xw = a.mul(&sx, &sw)?;
    let s = a.add_const(&xw.add(&sx.mul_const(3)).sub(&sw), 5);
    let p = a.mul(&s, &s)?.sub(&sx.mul_public(c));
    let y = a.mul_bilinear(&swm, &sxm, Gemm { m, k, n: q })?;
    let opened = a.open_all(&sx.add(&sw))?;
    let w_at_2 = a.open_to(2, &sw)?;
    a.verify()?;
    let p_out = a.output_to(1, &p)?;
    let y_out = a.output_to(1, &y)?;
    Ok((opened, w_at_2, p_out, y_out))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn honest_runs_equal_the_cleartext_ring_computation(
        n in 0usize..6,
        dims in (1usize..4, 1usize..4, 1usize..4),
        seed in any::<u64>(),
        vals in proptest::collection::vec(
            prop_oneof![Just(0u64), Just(1), Just(u64::MAX), Just(1 << 63), any::<u64>()], 64),
    ) {
        let (m, k, q) = dims;
        let w: Vec<u64> = vals[..n].to_vec();
        let x: Vec<u64> = vals[8..8 + n].iter().map(|v| v.rotate_left(7)).collect();
        let c: Vec<u64> = vals[16..16 + n].to_vec();
        let wm: Vec<u64> = (0..m * k).map(|i| vals[24 + i]).collect();
        let xm: Vec<u64> = (0..k * q).map(|i| vals[40 + i]).collect();
        let res = run3(Some(seed), [None; 3], |a| program(a, &w, &x, &c, &wm, &xm, (m, k, q)));
        let s: Vec<u64> = (0..n)
            .map(|j| x[j].wrapping_mul(w[j]).wrapping_add(x[j].wrapping_mul(3)).wrapping_sub(w[j]).wrapping_add(5))
            .collect();
        let p: Vec<u64> = (0..n).map(|j| s[j].wrapping_mul(s[j]).wrapping_sub(c[j].wrapping_mul(x[j]))).collect();
        let y = gemm64(m, k, q, &wm, &xm);
        let xw: Vec<u64> = (0..n).map(|j| x[j].wrapping_add(w[j])).collect();
        for (id, r) in res.into_iter().enumerate() {
            let (opened, w2, p_out, y_out) = r.unwrap();
            prop_assert_eq!(&opened, &xw);
            prop_assert_eq!(w2, (id == 2).then(|| w.clone()));
            prop_assert_eq!(p_out, (id == 1).then(|| p.clone()));
            prop_assert_eq!(y_out, (id == 1).then(|| y.clone()));
        }
    }
}

#[test]
fn shares_and_macs_are_full_width_and_consistent() {
    // Reconstruct from the three parties' shares: value and MAC agree, the
    // top 64 bits of the components are random (not a 64-bit sharing).
    let res = run3(Some(7), [None; 3], |a| {
        let me = a.id();
        let x = a.input(2, (me == 2).then_some(&[42u64, u64::MAX][..]), 2).unwrap();
        let y = a.mul(&x, &x).unwrap();
        a.verify().unwrap();
        (x, y)
    });
    let rec = |f: &dyn Fn(usize) -> (u128, u128, u128), j: usize| {
        let _ = j;
        let (a, b, c) = f(j);
        a.wrapping_add(b).wrapping_add(c)
    };
    for j in 0..2 {
        let xv = rec(&|j| (res[0].0.v.a[j], res[1].0.v.a[j], res[2].0.v.a[j]), j);
        let yv = rec(&|j| (res[0].1.v.a[j], res[1].1.v.a[j], res[2].1.v.a[j]), j);
        let ym = rec(&|j| (res[0].1.m.a[j], res[1].1.m.a[j], res[2].1.m.a[j]), j);
        let xm = rec(&|j| (res[0].0.m.a[j], res[1].0.m.a[j], res[2].0.m.a[j]), j);
        assert_eq!(xv as u64, [42u64, u64::MAX][j]);
        assert_eq!(yv as u64, (xv as u64).wrapping_mul(xv as u64));
        // alpha = xm / xv is not computable for even xv, but the relation
        // ym * xv == xm * yv holds (both are alpha * xv * yv).
        assert_eq!(ym.wrapping_mul(xv), xm.wrapping_mul(yv));
        // replicated: party i's b equals party i+1's a
        for i in 0..3 {
            assert_eq!(res[i].1.v.b[j], res[(i + 1) % 3].1.v.a[j]);
            assert_eq!(res[i].1.m.b[j], res[(i + 1) % 3].1.m.a[j]);
        }
    }
    assert!(res.iter().any(|r| r.0.v.a.iter().any(|c| c >> 64 != 0)));
}

/// A GEMM that counts its evaluations (per party: each runs in its thread).
struct Counted(Gemm, std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Bilinear for Counted {
    fn lens(&self) -> (usize, usize, usize) {
        self.0.lens()
    }
    fn grid(&self) -> (usize, usize) {
        self.0.grid()
    }
    fn eval(&self, x: &[u128], y: &[u128], bits: u32) -> Vec<u128> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.0.eval(x, y, bits)
    }
    fn weigh(&self, z: &[u128], w: &[Weights]) -> Vec<u128> {
        self.0.weigh(z, w)
    }
    fn contract_x(&self, x: &[u128], w: &[Weights]) -> Vec<Vec<u128>> {
        self.0.contract_x(x, w)
    }
    fn contract_y(&self, y: &[u128], w: &[Weights]) -> Vec<Vec<u128>> {
        self.0.contract_y(y, w)
    }
}

#[test]
fn a_layer_by_weights_evaluates_the_map_once_per_party() {
    // P1's data x (m x k) times P0's weights w (k x q), the weights shared
    // by `input_values`: told so, every party evaluates the map once (the
    // result is right, and checked); not told, P0 evaluates it twice.
    let (m, k, q) = (3, 5, 4);
    let x: Vec<u64> = (0..m * k)
        .map(|i| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    let w: Vec<u64> = (0..k * q)
        .map(|i| (i as u64 + 3).wrapping_mul(0xbf58_476d_1ce4_e5b9))
        .collect();
    let want = gemm64(m, k, q, &x, &w);
    for (hint, evals) in [(Some(0), [1, 1, 1]), (None, [2, 1, 1])] {
        let res = run3(Some(11), [None; 3], |a| {
            let me = a.id();
            let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let sx = a.input(1, (me == 1).then_some(&x[..]), m * k)?;
            let sw = a.input_values(0, (me == 0).then_some(&w[..]), k * q)?;
            let z = a.mul_bilinear_values(&sx, &sw, hint, Counted(Gemm { m, k, n: q }, n.clone()))?;
            let z = a.authenticate_values(&z)?;
            let out = a.output_to(1, &z)?;
            Ok::<_, cryptflow_aramis::AramisError>((out, n.load(std::sync::atomic::Ordering::Relaxed)))
        });
        for (id, r) in res.into_iter().enumerate() {
            let (out, count) = r.unwrap();
            assert_eq!(out, (id == 1).then(|| want.clone()), "{hint:?}");
            assert_eq!(count, evals[id], "party {id}, {hint:?}");
        }
    }
    // a sharing without the zero component the hint claims is refused by
    // the parties that hold that component
    let res = run3(Some(12), [None; 3], |a| {
        let me = a.id();
        let sx = a.input(1, (me == 1).then_some(&x[..]), m * k)?;
        let sw = a.input_values(0, (me == 0).then_some(&w[..]), k * q)?;
        a.mul_bilinear_values(&sx, &sw, Some(1), Gemm { m, k, n: q })
    });
    for id in [0, 2] {
        let e = res[id].as_ref().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("not shared by party 1"), "party {id}: {e}");
    }
}

/// Weights shared in the small form (`input_small_values`: a stream
/// component below 2^78, the sent one an 80-bit integer, 10 B each) give
/// the exact layer, negative values and the range's edges included; a
/// value of magnitude 2^28 is refused at the owner, before anything is sent.
#[test]
fn small_values_are_shared_exactly_and_out_of_range_ones_refused() {
    let (m, k, q) = (3, 5, 4);
    let x: Vec<u64> = (0..m * k)
        .map(|i| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    let edge = (1i64 << 28) - 1;
    let w: Vec<u64> = (0..k * q)
        .map(|i| match i {
            0 => edge as u64,
            1 => (-edge) as u64,
            _ => ((i as i64 * 7919) % 20001 - 10000) as u64,
        })
        .collect();
    let want = gemm64(m, k, q, &x, &w);
    let res = run3(Some(13), [None; 3], |a| {
        let me = a.id();
        let sx = a.input(1, (me == 1).then_some(&x[..]), m * k)?;
        let sw = a.input_small_values(0, (me == 0).then_some(&w[..]), k * q)?;
        let z = a.mul_bilinear_values(&sx, &sw, Some(0), Gemm { m, k, n: q })?;
        let z = a.authenticate_values(&z)?;
        a.output_to(1, &z)
    });
    for (id, r) in res.into_iter().enumerate() {
        assert_eq!(r.unwrap(), (id == 1).then(|| want.clone()), "party {id}");
    }
    let too_big = [5u64, 1 << 28];
    let res = run3(Some(14), [None; 3], |a| {
        let me = a.id();
        a.input_small_values(0, (me == 0).then_some(&too_big[..]), 2)
    });
    let e = res[0].as_ref().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("cannot be shared"), "{e}");
}
