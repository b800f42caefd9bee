//! The field GF(2^64) = GF(2)\[x\] / (x^64 + x^4 + x^3 + x + 1), for MACs and
//! proofs over Boolean values (the extension field in which Boolean
//! multiplications are verified, as in Boyle et al. CCS 2019 and Chida et
//! al. CRYPTO 2018 §5). Addition is XOR; multiplication is a carry-less
//! product (PCLMULQDQ when present, `cryptflow_exec::kernel`) reduced by the
//! pentanomial. Inner products reduce once, after XOR-accumulating the
//! 128-bit products.
//!
//! The field of the distributed zero-knowledge proofs of the Boolean
//! domain's AND gates (`dzkp.rs`). The vector operations below are the
//! executor's `kernel::Gf64`: AVX-512 VPCLMULQDQ (four products per
//! instruction, reduced in the vector registers) when the CPU has it, the
//! block kernels (PCLMULQDQ or portable) otherwise; both give the same
//! elements.

use cryptflow_exec::kernel::{clmul_portable, gf64_reduce, Gf64};

/// The low terms of the modulus: x^64 = x^4 + x^3 + x + 1.
pub const MODULUS_LOW: u64 = 0b1_1011;

/// Reduces the 128-bit polynomial `hi * x^64 + lo` modulo the field
/// polynomial (constant time).
#[inline]
pub fn reduce(lo: u64, hi: u64) -> u64 {
    gf64_reduce(lo, hi)
}

/// `a * b` in GF(2^64).
#[inline]
pub fn mul(a: u64, b: u64) -> u64 {
    let (lo, hi) = clmul_portable(a, b);
    reduce(lo, hi)
}

/// `sum_j a[j] * b[j]` in GF(2^64) (hardware carry-less products when present).
pub fn dot(a: &[u64], b: &[u64]) -> u64 {
    Gf64::auto().dot(a, b)
}

/// `out[j] = a[j] * b[j]`.
pub fn mul_into(a: &[u64], b: &[u64], out: &mut [u64]) {
    Gf64::auto().mul_into(a, b, out)
}

/// `v[j] = v[j] * s`.
pub fn scale(v: &mut [u64], s: u64) {
    Gf64::auto().scale(v, s)
}

/// Binds the lowest variable of a multilinear table to `r`: entry `p` of
/// the result is `v[2p] + r (v[2p] + v[2p+1])`. `v` has even length.
pub fn fold(v: &[u64], r: u64) -> Vec<u64> {
    let mut d = v.to_vec();
    fold_in_place(&mut d, r);
    d
}

/// [`fold`] in place: `v` becomes the folded table, half as long (no new
/// allocation: the prover folds its tables once per round).
pub fn fold_in_place(v: &mut Vec<u64>, r: u64) {
    Gf64::auto().fold_in_place(v, r);
    v.truncate(v.len() / 2);
}

/// [`fold_in_place`] on a slice: the folded table is its lower half.
pub fn fold_slice(v: &mut [u64], r: u64) {
    Gf64::auto().fold_in_place(v, r);
}

/// The eq weights of `tau[1..]` from those of `tau`: entries `2j` and
/// `2j + 1` carry the factors `1 + tau_0` and `tau_0`, which add up to 1.
/// In place, as [`fold_in_place`] (no multiplication at all).
pub fn eq_drop_first(e: &mut Vec<u64>) {
    let half = e.len() / 2;
    for p in 0..half {
        e[p] = e[2 * p] ^ e[2 * p + 1];
    }
    e.truncate(half.max(1));
}

/// The table of `eq(tau, j) = prod_t (tau_t if bit t of j else 1 + tau_t)`
/// for `j < 2^len(tau)`: the weights that turn a multilinear table into
/// its extension's value at `tau`.
pub fn eq_table(tau: &[u64]) -> Vec<u64> {
    let mut e = crate::scratch::zeroed(1 << tau.len());
    e[0] = 1;
    let gf = Gf64::auto();
    for (t, &x) in tau.iter().enumerate() {
        let (a, b) = e.split_at_mut(1 << t);
        gf.eq_expand(a, &mut b[..1 << t], x); // e (1 + x) = e + e x
    }
    e
}

/// For a table `u`, `v` of pairs `(2p, 2p+1)` and weights `w[p mod w.len()]`:
/// `(sum_p w u_2p v_2p, sum_p w u_2p+1 v_2p+1, sum_p w (u_2p + u_2p+1)(v_2p + v_2p+1))`,
/// the values at 0 and 1 and the leading coefficient of
/// `sum_p w (u_2p + X du)(v_2p + X dv)`. `w.len()` divides the pair count.
/// The pairs that share a weight are added before it multiplies them, and
/// the sums reduced once (`Gf64::quad_sums`).
pub fn quad_sums(u: &[u64], v: &[u64], w: &[u64]) -> [u64; 3] {
    Gf64::auto().quad_sums(u, v, w)
}

/// `eq(tau, j)` for one index `j`.
pub fn eq_at(tau: &[u64], j: usize) -> u64 {
    tau.iter()
        .enumerate()
        .fold(1, |acc, (t, &x)| mul(acc, if (j >> t) & 1 == 1 { x } else { 1 ^ x }))
}

/// `a^e` by square-and-multiply.
pub fn pow(mut a: u64, mut e: u64) -> u64 {
    let mut r = 1;
    while e > 0 {
        if e & 1 == 1 {
            r = mul(r, a);
        }
        a = mul(a, a);
        e >>= 1;
    }
    r
}

/// The inverse of a non-zero element (`a^(2^64 - 2)`); 0 for 0.
pub fn inv(a: u64) -> u64 {
    pow(a, u64::MAX - 1)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Xorshift words for the field and proof tests.
    pub(crate) fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut g = cryptflow_exec::testdata::Xorshift::new(seed);
        move || g.next_u64()
    }

    #[test]
    fn the_modulus_reduces_x_to_the_64() {
        assert_eq!(mul(1 << 63, 2), MODULUS_LOW);
        assert_eq!(mul(1 << 63, 1 << 63), mul(MODULUS_LOW, 1 << 62));
        assert_eq!(mul(1, 0xdead_beef), 0xdead_beef);
    }

    #[test]
    fn field_laws_and_inverses() {
        let mut r = rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..200 {
            let (a, b, c) = (r(), r(), r());
            assert_eq!(mul(a, b), mul(b, a));
            assert_eq!(mul(mul(a, b), c), mul(a, mul(b, c)));
            assert_eq!(mul(a ^ b, c), mul(a, c) ^ mul(b, c));
            // every non-zero element is invertible (the modulus is irreducible)
            assert_eq!(mul(a, inv(a)), 1, "{a:#x}");
        }
        // the multiplicative group has order 2^64 - 1
        let g = r();
        assert_eq!(pow(g, u64::MAX), 1);
    }

    #[test]
    fn vector_operations_match_the_scalar_ones() {
        let mut r = rng(11);
        let a: Vec<u64> = (0..1100).map(|_| r()).collect();
        let b: Vec<u64> = (0..1100).map(|_| r()).collect();
        let mut out = vec![0; 1100];
        mul_into(&a, &b, &mut out);
        assert!((0..1100).all(|j| out[j] == mul(a[j], b[j])));
        let s = r();
        let mut v = a.clone();
        scale(&mut v, s);
        assert!((0..1100).all(|j| v[j] == mul(a[j], s)));
        let f = fold(&a, s);
        assert!((0..550).all(|p| f[p] == a[2 * p] ^ mul(s, a[2 * p] ^ a[2 * p + 1])));
        let tau: Vec<u64> = (0..5).map(|_| r()).collect();
        let e = eq_table(&tau);
        assert_eq!(e.len(), 32);
        assert!((0..32).all(|j| e[j] == eq_at(&tau, j)));
        // the eq weights sum to 1 and evaluate a table's extension at tau
        assert_eq!(e.iter().fold(0, |s, x| s ^ x), 1);
        let t: Vec<u64> = (0..32).map(|_| r()).collect();
        let mut folded = t.clone();
        for &x in &tau {
            folded = fold(&folded, x);
        }
        assert_eq!(folded[0], dot(&e, &t));
        // the three sums of a sum-check round, with periodic weights
        let w: Vec<u64> = (0..5).map(|_| r()).collect();
        let (u, v) = (&a[..1100], &b[..1100]);
        let mut want = [0u64; 3];
        for p in 0..550 {
            let wp = w[p % 5];
            let (u0, u1, v0, v1) = (u[2 * p], u[2 * p + 1], v[2 * p], v[2 * p + 1]);
            want[0] ^= mul(wp, mul(u0, v0));
            want[1] ^= mul(wp, mul(u1, v1));
            want[2] ^= mul(wp, mul(u0 ^ u1, v0 ^ v1));
        }
        assert_eq!(quad_sums(u, v, &w), want);
    }

    #[test]
    fn dot_equals_the_sum_of_products() {
        let mut r = rng(7);
        let a: Vec<u64> = (0..513).map(|_| r()).collect();
        let b: Vec<u64> = (0..513).map(|_| r()).collect();
        let want = a.iter().zip(&b).fold(0, |s, (&x, &y)| s ^ mul(x, y));
        assert_eq!(dot(&a, &b), want);
    }
}
