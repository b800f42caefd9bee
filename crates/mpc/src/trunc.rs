//! Fixed-point truncation (division by 2^d with floor semantics, approximately).
//!
//! # Variant
//!
//! A semi-honest 3-party adaptation of the 2-out-of-2 local truncation of
//! SecureML (Mohassel-Zhang, S&P 2017, §4.1, Theorem 1) as used by ABY3's
//! `Π_trunc1` (Mohassel-Rindal, CCS 2018, §5.1.1): the value is first brought
//! to a 2-out-of-2 additive sharing `x = A + B` between two parties in which
//! `A` is **uniformly random and independent of `x`**; the two parties
//! truncate locally, `A' = A >> d` (logical shift) and `B' = -((-B) >> d)`,
//! and the result is re-shared into replicated form with masks from the pair
//! streams so that every message is uniformly random.
//!
//! Threat model: semi-honest, honest majority; no two parties collude.
//!
//! ## Error (proved in `docs/PROTOCOLS.md`, checked by the tests)
//!
//! Let `x` be the signed value (`x as i64`) and `D = 2^d`. Whenever
//! `A` does not wrap, i.e. outside an event of probability exactly
//! `|x| / 2^64` over the choice of `A`,
//! `A' + B' = ceil((x - r) / D)` with `r = A mod D`, which is
//! `floor(x / D)` or `floor(x / D) + 1`: **the result equals the reference
//! `(x as i64) >> d` or exceeds it by 1** (it is in fact an unbiased
//! stochastic rounding of `x / D`). In the wrapping event the result is off by
//! about `2^(64-d)` (a "large error"). For `|x| < 2^l` the large-error
//! probability per element is below `2^(l-64)`.
//!
//! ## Cost
//!
//! - [`trunc`] (input already replicated): **1 round; 2 ring elements in
//!   total per element** (parties 1 and 2 each send one to party 0), 16 bytes.
//! - [`mul_trunc`] / [`bilinear_trunc`] (fused with the multiplication's
//!   reshare): **2 rounds; 3 ring elements in total per output element**,
//!   24 bytes, i.e. the same bytes as a plain multiplication, one extra round.
//!
//! ## Who does what ([`trunc`], shares `(x_i, x_{i+1})`)
//!
//! Parties 1 and 2 draw `zeta, rho, mu` from their pair stream (`k_2`).
//! Party 1 sets `A = x1 + x2 - zeta`, party 2 `B = x0 + zeta`. Party 1 sends
//! `A' - rho + mu` to party 0, party 2 sends `B' - mu`. New components:
//! `u0 = B' - mu`, `u1 = A' - rho + mu`, `u2 = rho`.
//!
//! ## Who does what ([`mul_trunc`])
//!
//! Each party computes its 3-out-of-3 product share `z_i` (zero sharing
//! included). Round 1: party 2 sends `z2 + rho` to party 1 (`rho` from the
//! 0-2 stream `k_0`); party 1 holds `A = z1 + z2 + rho`, party 0 holds
//! `B = z0 - rho`. Round 2: party 0 sends `u0 = B' + mu` to party 2 (`mu` from
//! the 0-1 stream `k_1`), party 1 sends `u1 = A' - rho2 - mu` to party 0
//! (`rho2` from the 1-2 stream `k_2`); `u2 = rho2`.

use crate::error::{MpcError, Result};
use crate::mul::{bilinear_local, mul_local};
use crate::party::Party;
use crate::share::AShare;
use cryptflow_net::PartyId;

fn check_shift(d: u32) -> Result<()> {
    if d >= 64 {
        return Err(MpcError::Param(format!("truncation by {d} bits (must be < 64)")));
    }
    Ok(())
}

/// Truncation of the uniformly-masked half.
#[inline]
fn trunc_a(v: u64, d: u32) -> u64 {
    v >> d
}

/// Truncation of the other half: `-((-v) >> d)`.
#[inline]
fn trunc_b(v: u64, d: u32) -> u64 {
    (v.wrapping_neg() >> d).wrapping_neg()
}

/// `x / 2^d` (floor, up to +1; see the module doc) on replicated shares.
/// 1 round; parties 1 and 2 each send `n` elements to party 0.
pub fn trunc(p: &mut Party, x: &AShare, d: u32) -> Result<AShare> {
    check_shift(d)?;
    if x.a.len() != x.b.len() {
        return Err(MpcError::Shape("trunc: share components differ in length".into()));
    }
    let n = x.len();
    p.tick();
    match p.id() {
        0 => {
            let m1 = p.recv_u64s(1, n)?;
            let m2 = p.recv_u64s(2, n)?;
            Ok(AShare { a: m2, b: m1 })
        }
        1 => {
            let g = p.prg_next();
            let zeta = g.gen_u64(n);
            let rho = g.gen_u64(n);
            let mu = g.gen_u64(n);
            let m1: Vec<u64> = (0..n)
                .map(|j| {
                    let a = x.a[j].wrapping_add(x.b[j]).wrapping_sub(zeta[j]);
                    trunc_a(a, d).wrapping_sub(rho[j]).wrapping_add(mu[j])
                })
                .collect();
            p.send_u64s(0, &m1)?;
            Ok(AShare { a: m1, b: rho })
        }
        _ => {
            let g = p.prg_prev();
            let zeta = g.gen_u64(n);
            let rho = g.gen_u64(n);
            let mu = g.gen_u64(n);
            let m2: Vec<u64> = (0..n)
                .map(|j| {
                    let b = x.b[j].wrapping_add(zeta[j]);
                    trunc_b(b, d).wrapping_sub(mu[j])
                })
                .collect();
            p.send_u64s(0, &m2)?;
            Ok(AShare { a: rho, b: m2 })
        }
    }
}

/// Truncates a product held as 3-out-of-3 shares `z` (zero sharing included)
/// and returns replicated shares. 2 rounds, 3 elements per element in total.
pub(crate) fn trunc_from_local(p: &mut Party, z: Vec<u64>, d: u32) -> Result<AShare> {
    check_shift(d)?;
    let n = z.len();
    match p.id() {
        0 => {
            let rho = p.prg_prev().gen_u64(n);
            let mu = p.prg_next().gen_u64(n);
            p.tick();
            let u0: Vec<u64> = (0..n)
                .map(|j| trunc_b(z[j].wrapping_sub(rho[j]), d).wrapping_add(mu[j]))
                .collect();
            p.tick();
            p.send_u64s(2, &u0)?;
            let u1 = p.recv_u64s(1, n)?;
            Ok(AShare { a: u0, b: u1 })
        }
        1 => {
            let mu = p.prg_prev().gen_u64(n);
            let rho2 = p.prg_next().gen_u64(n);
            p.tick();
            let m = p.recv_u64s(2, n)?;
            let u1: Vec<u64> = (0..n)
                .map(|j| {
                    trunc_a(z[j].wrapping_add(m[j]), d)
                        .wrapping_sub(rho2[j])
                        .wrapping_sub(mu[j])
                })
                .collect();
            p.tick();
            p.send_u64s(0, &u1)?;
            Ok(AShare { a: u1, b: rho2 })
        }
        _ => {
            let rho2 = p.prg_prev().gen_u64(n);
            let rho = p.prg_next().gen_u64(n);
            p.tick();
            let m: Vec<u64> = z.iter().zip(&rho).map(|(u, v)| u.wrapping_add(*v)).collect();
            p.send_u64s(1, &m)?;
            p.tick();
            let u0 = p.recv_u64s(0, n)?;
            Ok(AShare { a: rho2, b: u0 })
        }
    }
}

/// `(x * y) / 2^d` element-wise, fused: 2 rounds, 3 elements in total per element.
pub fn mul_trunc(p: &mut Party, x: &AShare, y: &AShare, d: u32) -> Result<AShare> {
    check_shift(d)?;
    let z = mul_local(p, x, y)?;
    trunc_from_local(p, z, d)
}

/// `f(x, y) / 2^d` for a bilinear `f` returning `out_len` elements, fused:
/// 2 rounds, 3 elements in total per output element. `y_input_of` as in
/// [`crate::mul::bilinear_local`].
pub fn bilinear_trunc<F>(
    p: &mut Party,
    x: &AShare,
    y: &AShare,
    y_input_of: Option<PartyId>,
    out_len: usize,
    f: F,
    d: u32,
) -> Result<AShare>
where
    F: Fn(&[u64], &[u64]) -> Vec<u64>,
{
    check_shift(d)?;
    let z = bilinear_local(p, x, y, y_input_of, out_len, f)?;
    trunc_from_local(p, z, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two local truncations on a 2-out-of-2 sharing: exhaustive over a
    /// small grid of masks, checking the {0,+1} error and the wrap condition.
    #[test]
    fn local_rule_error_is_zero_or_one_without_wrap() {
        let d = 8;
        for x in [-70000i64, -257, -256, -255, -1, 0, 1, 255, 256, 257, 70000] {
            for a in [
                0u64,
                1,
                255,
                256,
                1 << 40,
                u64::MAX - 70000,
                u64::MAX,
                0x8000_0000_0000_0000,
            ] {
                let b = (x as u64).wrapping_sub(a);
                let got = trunc_a(a, d).wrapping_add(trunc_b(b, d)) as i64;
                let want = x >> d;
                // Wrap happens iff (x >= 0 and a < x) or (x < 0 and a >= 2^64 - |x|).
                let wraps = if x >= 0 {
                    a < x as u64
                } else {
                    a >= 0u64.wrapping_sub(x.unsigned_abs())
                };
                if !wraps {
                    assert!(got == want || got == want + 1, "x={x} a={a} got={got}");
                } else {
                    assert!((got - want).unsigned_abs() > 1 << 50);
                }
            }
        }
    }
}
