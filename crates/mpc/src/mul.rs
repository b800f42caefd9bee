//! Multiplication of replicated shares: element-wise, bilinear (GEMM /
//! convolution), and AND of boolean shares.
//!
//! Follows Araki, Furukawa, Lindell, Nof, Ohara, "High-Throughput
//! Semi-Honest Secure Three-Party Computation with an Honest Majority",
//! CCS 2016, §2.2-2.3 (also ABY3, Mohassel-Rindal CCS 2018, §2.2 and §5.1).
//!
//! Threat model: semi-honest, honest majority; no two parties collude.
//!
//! Party `i` holds `(x_i, x_{i+1})`, `(y_i, y_{i+1})` and computes locally the
//! 3-out-of-3 share `z_i = x_i y_i + x_i y_{i+1} + x_{i+1} y_i + alpha_i`
//! (`alpha` a zero sharing from [`Party::zero_share`]), then sends `z_i` to
//! `prev(i)`; it receives `z_{i+1}` from `next(i)` and holds `(z_i, z_{i+1})`.
//! `z_i` is uniformly random to `prev(i)` because `alpha_i` contains
//! `F(k_{i+1})`, a stream `prev(i)` does not hold.
//!
//! Cost: **1 round; 1 ring element (8 bytes) sent per party per output
//! element, 24 bytes in total**. For a bilinear map `f` (matrix product,
//! convolution) the local step is two evaluations of `f`,
//! `f(x_i, y_i + y_{i+1}) + f(x_{i+1}, y_i)`, and the reshare costs one ring
//! element per *output* element, independent of the size of the operands.
//! AND on boolean shares is the same over GF(2): 1 round, 1 bit sent per
//! party per gate.

use crate::error::{MpcError, Result};
use crate::party::Party;
use crate::share::{AShare, BShare};
use cryptflow_net::{next, prev, PartyId};

fn check(x: &AShare, what: &str) -> Result<()> {
    if x.a.len() != x.b.len() {
        return Err(MpcError::Shape(format!("{what}: share components differ in length")));
    }
    Ok(())
}

/// The local 3-out-of-3 product share (with the zero sharing added).
pub(crate) fn mul_local(p: &mut Party, x: &AShare, y: &AShare) -> Result<Vec<u64>> {
    check(x, "mul lhs")?;
    check(y, "mul rhs")?;
    if x.len() != y.len() {
        return Err(MpcError::Shape(format!("mul of {} and {} elements", x.len(), y.len())));
    }
    let alpha = p.zero_share(x.len());
    Ok((0..x.len())
        .map(|j| {
            x.a[j]
                .wrapping_mul(y.a[j].wrapping_add(y.b[j]))
                .wrapping_add(x.b[j].wrapping_mul(y.a[j]))
                .wrapping_add(alpha[j])
        })
        .collect())
}

/// Local bilinear 3-out-of-3 share of `f(x, y)`, zero sharing included.
///
/// In general `f(x_i, y_i + y_(i+1)) + f(x_(i+1), y_i)`: two evaluations.
/// Where a component of `y` is zero, as in an input or weight that party
/// `o` shared with `share_input` (component `o + 2` zero, `y_input_of =
/// Some(o)`), the six non-zero cross terms `x_j y_k` are split so that
/// every party evaluates `f` once: `P_o` (holding both non-zero components
/// of `y`) takes the four it can, `f(x_o + x_(o+1), y_o + y_(o+1))`,
/// `P_(o+1)` takes `f(x_(o+2), y_(o+1))` and `P_(o+2)` `f(x_(o+2), y_o)`:
/// 3 GEMMs per layer over the parties instead of 4 (6 without the zero
/// component). The two parties that hold the zero component check it; the
/// third cannot, so `y_input_of` must come from the sharing's origin.
pub(crate) fn bilinear_local<F>(
    p: &mut Party,
    x: &AShare,
    y: &AShare,
    y_input_of: Option<PartyId>,
    out_len: usize,
    f: F,
) -> Result<Vec<u64>>
where
    F: Fn(&[u64], &[u64]) -> Vec<u64>,
{
    check(x, "bilinear lhs")?;
    check(y, "bilinear rhs")?;
    let sum = |u: &[u64], v: &[u64]| -> Vec<u64> { u.iter().zip(v).map(|(p, q)| p.wrapping_add(*q)).collect() };
    let zero = |c: &[u64]| c.iter().all(|&v| v == 0);
    let me = p.id();
    let mut z = match y_input_of {
        Some(o) if me == o => f(&sum(&x.a, &x.b), &sum(&y.a, &y.b)),
        Some(o) if me == next(o) && zero(&y.b) => f(&x.b, &y.a),
        Some(o) if me == prev(o) && zero(&y.a) => f(&x.a, &y.b),
        Some(o) => {
            return Err(MpcError::Param(format!(
                "bilinear rhs: not shared by party {o} with a zero component"
            )))
        }
        // x_i (y_i + y_(i+1)) + x_(i+1) y_i, once where this party holds a
        // zero component of y
        None if zero(&y.a) => f(&x.a, &y.b),
        None if zero(&y.b) => f(&sum(&x.a, &x.b), &y.a),
        None => {
            let mut z = f(&x.a, &sum(&y.a, &y.b));
            let z2 = f(&x.b, &y.a);
            if z2.len() != z.len() {
                return Err(MpcError::Shape(format!(
                    "bilinear map returned {} elements, expected {out_len}",
                    z2.len()
                )));
            }
            z.iter_mut().zip(&z2).for_each(|(p, q)| *p = p.wrapping_add(*q));
            z
        }
    };
    if z.len() != out_len {
        return Err(MpcError::Shape(format!(
            "bilinear map returned {} elements, expected {out_len}",
            z.len()
        )));
    }
    let alpha = p.zero_share(out_len);
    z.iter_mut().zip(&alpha).for_each(|(p, q)| *p = p.wrapping_add(*q));
    Ok(z)
}

/// Turns 3-out-of-3 shares that include a zero sharing into replicated shares.
/// 1 round: sends `z` (n elements) to `prev`, receives `n` from `next`.
pub fn reshare(p: &mut Party, z: Vec<u64>) -> Result<AShare> {
    let me = p.id();
    p.tick();
    p.send_u64s(prev(me), &z)?;
    let b = p.recv_u64s(next(me), z.len())?;
    Ok(AShare { a: z, b })
}

/// Element-wise product `x * y` mod 2^64. 1 round, 8 bytes sent per party per element.
pub fn mul(p: &mut Party, x: &AShare, y: &AShare) -> Result<AShare> {
    let z = mul_local(p, x, y)?;
    reshare(p, z)
}

/// Secure evaluation of a bilinear map `f` (e.g. a ring GEMM or a
/// convolution with the weights as second operand): returns a sharing of
/// `f(x, y)` of length `out_len`. `f` must be bilinear over Z_2^64 and return
/// `out_len` elements. 1 round, 8 bytes sent per party per *output* element.
pub fn mul_bilinear<F>(p: &mut Party, x: &AShare, y: &AShare, out_len: usize, f: F) -> Result<AShare>
where
    F: Fn(&[u64], &[u64]) -> Vec<u64>,
{
    let z = bilinear_local(p, x, y, None, out_len, f)?;
    reshare(p, z)
}

/// Naive ring GEMM: `a` is `m x k`, `b` is `k x n`, both row-major; returns
/// the `m x n` product mod 2^64 (the executor's reference triple loop,
/// `cryptflow_exec::kernel::gemm_u64_naive`). For tests.
pub fn ring_gemm_naive(m: usize, k: usize, n: usize, a: &[u64], b: &[u64]) -> Vec<u64> {
    cryptflow_exec::kernel::gemm_u64_naive(m, k, n, a, b)
}

// ---- boolean AND ----------------------------------------------------------

/// Local 3-out-of-3 share of `x & y` on packed words (zero sharing included).
pub(crate) fn and_local(p: &mut Party, xa: &[u64], xb: &[u64], ya: &[u64], yb: &[u64]) -> Vec<u64> {
    let alpha = p.zero_share_bits(xa.len());
    (0..xa.len())
        .map(|j| (xa[j] & (ya[j] ^ yb[j])) ^ (xb[j] & ya[j]) ^ alpha[j])
        .collect()
}

/// AND of `planes` packed bit planes of `nbits` bits each, stored flat
/// (`planes * ceil(nbits/64)` words per operand component). 1 round,
/// `planes * ceil(nbits/8)` bytes sent per party. Returns the `(a, b)` components.
pub(crate) fn and_planes(
    p: &mut Party,
    x: (&[u64], &[u64]),
    y: (&[u64], &[u64]),
    planes: usize,
    nbits: usize,
) -> Result<(Vec<u64>, Vec<u64>)> {
    let me = p.id();
    let t = and_local(p, x.0, x.1, y.0, y.1);
    p.tick();
    p.send_bits(prev(me), &t, nbits)?;
    let r = p.recv_bits(next(me), planes, nbits)?;
    Ok((t, r))
}

/// `x & y` on boolean shares. 1 round, `ceil(n/8)` bytes sent per party.
pub fn and(p: &mut Party, x: &BShare, y: &BShare) -> Result<BShare> {
    let nw = x.words();
    if x.len != y.len || [x.a.len(), x.b.len(), y.a.len(), y.b.len()].iter().any(|&l| l != nw) {
        return Err(MpcError::Shape("AND operands differ in length".into()));
    }
    let (mut a, mut b) = and_planes(p, (&x.a, &x.b), (&y.a, &y.b), 1, x.len)?;
    crate::prg::mask_tail(&mut a, x.len);
    crate::prg::mask_tail(&mut b, x.len);
    Ok(BShare { a, b, len: x.len })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_gemm_small() {
        // [1 2; 3 4] * [5; 6] = [17; 39]
        assert_eq!(ring_gemm_naive(2, 2, 1, &[1, 2, 3, 4], &[5, 6]), vec![17, 39]);
        let neg = 0u64.wrapping_sub(1);
        assert_eq!(ring_gemm_naive(1, 1, 1, &[neg], &[neg]), vec![1]);
    }
}
