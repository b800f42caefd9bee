//! The field GF(2^64) = GF(2)\[x\] / (x^64 + x^4 + x^3 + x + 1), for MACs and
//! proofs over Boolean values (the extension field in which Boolean
//! multiplications are verified, as in Boyle et al. CCS 2019 and Chida et
//! al. CRYPTO 2018 §5). Addition is XOR; multiplication is a carry-less
//! product (PCLMULQDQ when present, `cryptflow_exec::kernel`) reduced by the
//! pentanomial. Inner products reduce once, after XOR-accumulating the
//! 128-bit products.
//!
//! The field of the distributed zero-knowledge proofs of the Boolean
//! domain's AND gates (`dzkp.rs`). The vector operations below run the
//! carry-less products in blocks through the executor's kernel (PCLMULQDQ
//! when present) and reduce afterwards.

use cryptflow_exec::kernel::{clmul_pairs, clmul_portable, clmul_scalar, clmul_xor_sum};

/// Block length of the vector operations (two scratch buffers on the stack).
const BLOCK: usize = 512;

/// The low terms of the modulus: x^64 = x^4 + x^3 + x + 1.
pub const MODULUS_LOW: u64 = 0b1_1011;

/// Reduces the 128-bit polynomial `hi * x^64 + lo` modulo the field
/// polynomial (constant time).
#[inline]
pub fn reduce(lo: u64, hi: u64) -> u64 {
    // hi * x^64 = hi * (x^4 + x^3 + x + 1); the bits shifted past x^63 come
    // back once more (at most 4 of them, so no third round).
    let t = (hi >> 63) ^ (hi >> 61) ^ (hi >> 60);
    lo ^ hi ^ (hi << 1) ^ (hi << 3) ^ (hi << 4) ^ t ^ (t << 1) ^ (t << 3) ^ (t << 4)
}

/// `a * b` in GF(2^64).
#[inline]
pub fn mul(a: u64, b: u64) -> u64 {
    let (lo, hi) = clmul_portable(a, b);
    reduce(lo, hi)
}

/// `sum_j a[j] * b[j]` in GF(2^64) (hardware carry-less products when present).
pub fn dot(a: &[u64], b: &[u64]) -> u64 {
    let (lo, hi) = clmul_xor_sum(a, b);
    reduce(lo, hi)
}

/// `out[j] = a[j] * b[j]`.
pub fn mul_into(a: &[u64], b: &[u64], out: &mut [u64]) {
    assert!(a.len() == b.len() && a.len() == out.len(), "gf64: lengths differ");
    let (mut lo, mut hi) = ([0u64; BLOCK], [0u64; BLOCK]);
    for ((x, y), o) in a.chunks(BLOCK).zip(b.chunks(BLOCK)).zip(out.chunks_mut(BLOCK)) {
        let k = x.len();
        clmul_pairs(x, y, &mut lo[..k], &mut hi[..k]);
        for j in 0..k {
            o[j] = reduce(lo[j], hi[j]);
        }
    }
}

/// `v[j] = v[j] * s`.
pub fn scale(v: &mut [u64], s: u64) {
    let (mut lo, mut hi) = ([0u64; BLOCK], [0u64; BLOCK]);
    for o in v.chunks_mut(BLOCK) {
        let k = o.len();
        clmul_scalar(o, s, &mut lo[..k], &mut hi[..k]);
        for j in 0..k {
            o[j] = reduce(lo[j], hi[j]);
        }
    }
}

/// Binds the lowest variable of a multilinear table to `r`: entry `p` of
/// the result is `v[2p] + r (v[2p] + v[2p+1])`. `v` has even length.
pub fn fold(v: &[u64], r: u64) -> Vec<u64> {
    let mut d: Vec<u64> = v.chunks_exact(2).map(|c| c[0] ^ c[1]).collect();
    scale(&mut d, r);
    for (o, c) in d.iter_mut().zip(v.chunks_exact(2)) {
        *o ^= c[0];
    }
    d
}

/// The table of `eq(tau, j) = prod_t (tau_t if bit t of j else 1 + tau_t)`
/// for `j < 2^len(tau)`: the weights that turn a multilinear table into
/// its extension's value at `tau`.
pub fn eq_table(tau: &[u64]) -> Vec<u64> {
    let mut e = Vec::with_capacity(1 << tau.len());
    e.push(1u64);
    for &t in tau {
        let mut hi = e.clone();
        scale(&mut hi, t);
        for (lo, h) in e.iter_mut().zip(&hi) {
            *lo ^= *h; // e (1 + t) = e + e t
        }
        e.extend_from_slice(&hi);
    }
    e
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
mod tests {
    use super::*;

    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
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
