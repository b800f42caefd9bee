//! Statistical privacy checks.
//!
//! (a) A party's shares of a fixed secret look uniform.
//! (b) For every sub-protocol, the messages an observing party receives have
//!     the same distribution whichever secret is used. The observer's own
//!     input shares **and its own seeds** (its two pair keys) are fixed across
//!     all runs; only the third party's seed varies, and the missing share
//!     component is `secret - (fixed components)`. A protocol that leaks
//!     anything about the secret beyond the observer's knowledge then shows a
//!     different distribution for secret A and secret B. Tests: per-bit
//!     two-proportion z-test on every bit of the view (|z| > 6 rejects) and a
//!     two-sample Kolmogorov-Smirnov test on every 64-bit word of the view
//!     (alpha = 1e-6). Negative controls: two deliberately leaky toy protocols
//!     are caught by the same tests.
#![allow(clippy::unwrap_used)]

use cryptflow_mpc::compare::{drelu, relu, select};
use cryptflow_mpc::mul::mul;
use cryptflow_mpc::share::{reveal_to, share_input};
use cryptflow_mpc::testing::{ok, run3_recorded, run3_seeded, seeds_from};
use cryptflow_mpc::trunc::{mul_trunc, trunc};
use cryptflow_mpc::{AShare, BShare, Party, Prg, Seed};

const RUNS: usize = 400;

fn fixed_seed(tag: u8) -> Seed {
    Seed::from_bytes([tag; 16])
}

/// Shares of `secret` where the observer's components are fixed.
fn shares_with_fixed_observer(observer: usize, secret: &[u64]) -> [AShare; 3] {
    let n = secret.len();
    let mut g = Prg::new(&fixed_seed(40 + observer as u8));
    let mut comp = [vec![0u64; n], vec![0u64; n], vec![0u64; n]];
    let (i, j, k) = (observer, (observer + 1) % 3, (observer + 2) % 3);
    comp[i] = g.gen_u64(n);
    comp[j] = g.gen_u64(n);
    comp[k] = (0..n)
        .map(|e| secret[e].wrapping_sub(comp[i][e]).wrapping_sub(comp[j][e]))
        .collect();
    [0, 1, 2].map(|p| AShare {
        a: comp[p].clone(),
        b: comp[(p + 1) % 3].clone(),
    })
}

fn bit_shares_with_fixed_observer(observer: usize, bits: u64, n: usize) -> [BShare; 3] {
    let mut g = Prg::new(&fixed_seed(50 + observer as u8));
    let mut comp = [vec![0u64; 1], vec![0u64; 1], vec![0u64; 1]];
    let (i, j, k) = (observer, (observer + 1) % 3, (observer + 2) % 3);
    let mask = (1u64 << n) - 1;
    comp[i] = vec![g.next_u64() & mask];
    comp[j] = vec![g.next_u64() & mask];
    comp[k] = vec![(bits ^ comp[i][0] ^ comp[j][0]) & mask];
    [0, 1, 2].map(|p| BShare {
        a: comp[p].clone(),
        b: comp[(p + 1) % 3].clone(),
        len: n,
    })
}

/// The observer's received bytes in one run with `secret`; the seeds of the
/// observer and of `next(observer)` (hence both pair keys the observer holds)
/// are fixed, the seed of `prev(observer)` is `run`-dependent.
fn view<F>(observer: usize, secret: &[u64], secret_bits: u64, run: u64, proto: &F) -> Vec<u8>
where
    F: Fn(&mut Party, &AShare, &BShare, &[u64]) + Sync,
{
    let sh = shares_with_fixed_observer(observer, secret);
    let bsh = bit_shares_with_fixed_observer(observer, secret_bits, secret.len());
    let mut seeds = seeds_from(run.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xC0FFEE);
    seeds[observer] = fixed_seed(1 + observer as u8);
    seeds[(observer + 1) % 3] = fixed_seed(10 + observer as u8);
    let r = run3_recorded(seeds, |p| {
        let i = p.id();
        proto(p, &sh[i], &bsh[i], secret);
    });
    r[observer].1.clone()
}

struct Verdict {
    max_z: f64,
    max_ks: f64,
    ks_limit: f64,
}

impl Verdict {
    fn same(&self) -> bool {
        self.max_z <= 6.0 && self.max_ks <= self.ks_limit
    }
}

fn ks(a: &mut [u64], b: &mut [u64]) -> f64 {
    a.sort_unstable();
    b.sort_unstable();
    let (mut i, mut j, mut d) = (0usize, 0usize, 0f64);
    while i < a.len() && j < b.len() {
        let v = a[i].min(b[j]);
        while i < a.len() && a[i] == v {
            i += 1;
        }
        while j < b.len() && b[j] == v {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

fn compare(va: &[Vec<u8>], vb: &[Vec<u8>]) -> Verdict {
    let len = va[0].len();
    assert!(
        va.iter().chain(vb).all(|v| v.len() == len),
        "view length depends on the secret"
    );
    let (na, nb) = (va.len() as f64, vb.len() as f64);
    let mut max_z = 0f64;
    for bit in 0..len * 8 {
        let ca = va.iter().filter(|v| (v[bit / 8] >> (bit % 8)) & 1 == 1).count() as f64;
        let cb = vb.iter().filter(|v| (v[bit / 8] >> (bit % 8)) & 1 == 1).count() as f64;
        let p = (ca + cb) / (na + nb);
        if p > 0.0 && p < 1.0 {
            let z = (ca / na - cb / nb).abs() / (p * (1.0 - p) * (1.0 / na + 1.0 / nb)).sqrt();
            max_z = max_z.max(z);
        }
    }
    let word = |v: &Vec<u8>, w: usize| {
        let mut b = [0u8; 8];
        let end = (w * 8 + 8).min(v.len());
        b[..end - w * 8].copy_from_slice(&v[w * 8..end]);
        u64::from_le_bytes(b)
    };
    let mut max_ks = 0f64;
    for w in 0..len.div_ceil(8) {
        let mut a: Vec<u64> = va.iter().map(|v| word(v, w)).collect();
        let mut b: Vec<u64> = vb.iter().map(|v| word(v, w)).collect();
        max_ks = max_ks.max(ks(&mut a, &mut b));
    }
    // c(alpha) = sqrt(-ln(alpha/2)/2) with alpha = 1e-6.
    let ks_limit = 2.69 * ((na + nb) / (na * nb)).sqrt();
    Verdict {
        max_z,
        max_ks,
        ks_limit,
    }
}

fn two_sample<F>(observer: usize, a: (&[u64], u64), b: (&[u64], u64), proto: F) -> Verdict
where
    F: Fn(&mut Party, &AShare, &BShare, &[u64]) + Sync,
{
    let va: Vec<Vec<u8>> = (0..RUNS).map(|r| view(observer, a.0, a.1, r as u64, &proto)).collect();
    let vb: Vec<Vec<u8>> = (0..RUNS)
        .map(|r| view(observer, b.0, b.1, (RUNS + r) as u64, &proto))
        .collect();
    compare(&va, &vb)
}

const A: [u64; 4] = [0, 1, 5 << 12, 0];
fn secret_b() -> [u64; 4] {
    [
        (-(3i64 << 20)) as u64,
        (1u64 << 30) - 1,
        (-1i64) as u64,
        (-(1i64 << 29)) as u64,
    ]
}

fn assert_private<F>(name: &str, proto: F)
where
    F: Fn(&mut Party, &AShare, &BShare, &[u64]) + Sync,
{
    let b = secret_b();
    for observer in 0..3 {
        let v = two_sample(observer, (&A, 0b0101), (&b, 0b1010), &proto);
        assert!(
            v.same(),
            "{name}: observer {observer} sees the secret: max z {:.2}, max KS {:.3} (limit {:.3})",
            v.max_z,
            v.max_ks,
            v.ks_limit
        );
    }
}

#[test]
fn mul_is_private() {
    assert_private("mul", |p, x, _, _| drop(ok(mul(p, x, x))));
}

#[test]
fn trunc_is_private() {
    assert_private("trunc", |p, x, _, _| drop(ok(trunc(p, x, 12))));
    assert_private("mul_trunc", |p, x, _, _| drop(ok(mul_trunc(p, x, x, 12))));
}

#[test]
fn drelu_and_relu_are_private() {
    assert_private("drelu64", |p, x, _, _| drop(ok(drelu(p, x, 64))));
    assert_private("drelu32", |p, x, _, _| drop(ok(drelu(p, x, 32))));
    assert_private("relu64", |p, x, _, _| drop(ok(relu(p, x, 64))));
    assert_private("relu32", |p, x, _, _| drop(ok(relu(p, x, 32))));
}

#[test]
fn select_is_private() {
    assert_private("select", |p, x, b, _| drop(ok(select(p, b, x))));
}

#[test]
fn reveal_to_another_party_is_private_for_the_others() {
    // Opening to party 0: parties 1 and 2 must learn nothing.
    let b = secret_b();
    for observer in [1, 2] {
        let v = two_sample(observer, (&A, 0), (&b, 0), |p, x, _, _| drop(ok(reveal_to(p, 0, x))));
        assert!(v.same());
    }
    // The input protocol: a non-owner learns nothing about the owner's input
    // (the owner is the party whose seed varies; the other non-owner sees nothing).
    for observer in 0..3 {
        let owner = (observer + 2) % 3;
        let v = two_sample(observer, (&A, 0), (&b, 0), |p, _, _, secret| {
            let v = if p.id() == owner { Some(secret) } else { None };
            drop(ok(share_input(p, owner, v, secret.len())));
        });
        assert!(v.same(), "input: z {:.2} ks {:.3}", v.max_z, v.max_ks);
    }
}

/// Negative controls: the same test catches protocols that leak.
#[test]
fn leaky_toy_protocols_are_caught() {
    let b = secret_b();
    // Toy 1: party 1 sends x1 + x2 to party 0, who forwards the opened secret to party 2.
    let forward = |p: &mut Party, x: &AShare, _: &BShare, _: &[u64]| match p.id() {
        0 => {
            let m = ok(p.recv_u64s(1, x.len()));
            let s: Vec<u64> = (0..x.len()).map(|j| m[j].wrapping_add(x.a[j])).collect();
            ok(p.send_u64s(2, &s));
        }
        1 => {
            let s: Vec<u64> = (0..x.len()).map(|j| x.a[j].wrapping_add(x.b[j])).collect();
            ok(p.send_u64s(0, &s));
        }
        _ => drop(ok(p.recv_u64s(0, x.len()))),
    };
    let v = two_sample(2, (&A, 0), (&b, 0), forward);
    assert!(
        !v.same(),
        "forwarded secret not caught: z {:.2} ks {:.3}",
        v.max_z,
        v.max_ks
    );
    // Toy 2: party 1 sends x2 masked with the 0-1 stream, which party 0 also holds.
    let known_mask = |p: &mut Party, x: &AShare, _: &BShare, _: &[u64]| match p.id() {
        0 => {
            let _m = ok(p.recv_u64s(1, x.len()));
            let _ = p.prg_next().gen_u64(x.len());
        }
        1 => {
            let r = p.prg_prev().gen_u64(x.len());
            let s: Vec<u64> = (0..x.len()).map(|j| x.b[j].wrapping_add(r[j])).collect();
            ok(p.send_u64s(0, &s));
        }
        _ => {}
    };
    let v = two_sample(0, (&A, 0), (&b, 0), known_mask);
    assert!(
        !v.same(),
        "weakly masked secret not caught: z {:.2} ks {:.3}",
        v.max_z,
        v.max_ks
    );
    // ... while masking with the 1-2 stream (unknown to party 0) passes.
    let good_mask = |p: &mut Party, x: &AShare, _: &BShare, _: &[u64]| match p.id() {
        0 => drop(ok(p.recv_u64s(1, x.len()))),
        1 => {
            let r = p.prg_next().gen_u64(x.len());
            let s: Vec<u64> = (0..x.len()).map(|j| x.b[j].wrapping_add(r[j])).collect();
            ok(p.send_u64s(0, &s));
        }
        _ => drop(p.prg_prev().gen_u64(x.len())),
    };
    assert!(two_sample(0, (&A, 0), (&b, 0), good_mask).same());
}

/// (a) Shares of a fixed secret look uniform.
#[test]
fn shares_of_a_fixed_secret_look_uniform() {
    let n = 4;
    let secret = [0u64, 1, u64::MAX, 1 << 40];
    let runs = 2000;
    // counts[party][component a/b][bit]
    let mut input_counts = vec![0u32; 2 * 64 * n];
    let mut mul_counts = vec![[0u32; 64 * 4]; 3];
    for r in 0..runs {
        let res = run3_seeded(r as u64 + 7, |p| {
            let v = if p.id() == 0 { Some(&secret[..]) } else { None };
            let s = ok(share_input(p, 0, v, n));
            let one = AShare::from_public(p.id(), &vec![1u64; n]);
            let m = ok(mul(p, &s, &one));
            (s, m)
        });
        // Input sharing from party 0: component 1 (party 1's a) and component 0 (party 2's b)
        // are the random ones; component 2 is structurally 0.
        for j in 0..n {
            for bit in 0..64 {
                input_counts[j * 64 + bit] += ((res[1].0.a[j] >> bit) & 1) as u32;
                input_counts[(n + j) * 64 + bit] += ((res[2].0.b[j] >> bit) & 1) as u32;
            }
        }
        assert!(res[1].0.b.iter().all(|&v| v == 0));
        // After a multiplication every component of every party is random.
        for (pi, rp) in res.iter().enumerate() {
            for j in 0..n {
                for bit in 0..64 {
                    mul_counts[pi][(j * 64 + bit) % 256] += ((rp.1.a[j] >> bit) & 1) as u32;
                    mul_counts[pi][(j * 64 + bit) % 256] += ((rp.1.b[j] >> bit) & 1) as u32;
                }
            }
        }
    }
    let tol = 6.0 * (0.25 / runs as f64).sqrt();
    for c in &input_counts {
        let f = *c as f64 / runs as f64;
        assert!((f - 0.5).abs() < tol, "input share bit frequency {f}");
    }
    let tol2 = 6.0 * (0.25 / (2 * runs) as f64).sqrt();
    for pc in &mul_counts {
        for c in pc {
            let f = *c as f64 / (2 * runs) as f64;
            assert!((f - 0.5).abs() < tol2, "product share bit frequency {f}");
        }
    }
}
