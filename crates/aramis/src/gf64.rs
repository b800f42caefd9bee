//! The field GF(2^64) = GF(2)\[x\] / (x^64 + x^4 + x^3 + x + 1), for MACs and
//! proofs over Boolean values (the extension field in which Boolean
//! multiplications are verified, as in Boyle et al. CCS 2019 and Chida et
//! al. CRYPTO 2018 §5). Addition is XOR; multiplication is a carry-less
//! product (PCLMULQDQ when present, `cryptflow_exec::kernel`) reduced by the
//! pentanomial. Inner products reduce once, after XOR-accumulating the
//! 128-bit products.
//!
//! Used by the Boolean domain's MAC check (`small.rs`); also the field a
//! distributed-ZK verification of Boolean gates would work in
//! (docs/PROTOCOLS.md, "Limits and next steps").

use cryptflow_exec::kernel::{clmul_portable, clmul_xor_sum};

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
    fn dot_equals_the_sum_of_products() {
        let mut r = rng(7);
        let a: Vec<u64> = (0..513).map(|_| r()).collect();
        let b: Vec<u64> = (0..513).map(|_| r()).collect();
        let want = a.iter().zip(&b).fold(0, |s, (&x, &y)| s ^ mul(x, y));
        assert_eq!(dot(&a, &b), want);
    }
}
