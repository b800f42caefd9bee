//! SPDZ-wise replicated shares over Z_2^128 (= Z_2^(k+s), k = s = 64).
//!
//! [`RShare`] is a 2-out-of-3 replicated sharing (Araki et al. CCS 2016 §2.2)
//! of a vector over Z_2^128: `x = x0 + x1 + x2`, party `i` holds
//! `(x_i, x_{i+1})` as `(a, b)`. [`AuthShare`] is a value together with its
//! MAC: sharings of `x` and of `alpha * x` for the session's secret MAC key
//! `alpha` (Chida et al. CRYPTO 2018 §3; over the ring as in SPDZ2k).
//!
//! Values of the application live in Z_2^64: a `u64` is lifted to `u128` by
//! **sign extension** and results are read modulo 2^64. Since fixed-point
//! values are small signed integers and every operation is exact in
//! Z_2^128, a shared value is then the exact integer, not just its residue
//! mod 2^64; the truncation opens `x + r` mod 2^81 and relies on this (see
//! `trunc`). The top bits are the statistical-security headroom of the MAC.
//!
//! Linear operations are local and keep the MAC relation. `Debug` prints
//! lengths only.

use crate::error::{AramisError, Result};
use cryptflow_net::PartyId;

/// One party's replicated share of a vector over Z_2^128.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RShare {
    /// Component `x_i`.
    pub a: Vec<u128>,
    /// Component `x_{i+1}`.
    pub b: Vec<u128>,
}

impl std::fmt::Debug for RShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RShare(len={})", self.a.len())
    }
}

pub(crate) fn zip(x: &[u128], y: &[u128], f: impl Fn(u128, u128) -> u128) -> Vec<u128> {
    assert_eq!(x.len(), y.len(), "share length mismatch");
    x.iter().zip(y).map(|(&p, &q)| f(p, q)).collect()
}

/// Sign-extends one element of Z_2^64 (read as two's complement) into Z_2^128.
#[inline(always)]
pub fn sx(x: u64) -> u128 {
    x as i64 as i128 as u128
}

/// Lifts ring elements of Z_2^64 into Z_2^128 (sign extension, see [`sx`]).
pub fn lift(v: &[u64]) -> Vec<u128> {
    v.iter().map(|&x| sx(x)).collect()
}

impl RShare {
    pub fn len(&self) -> usize {
        self.a.len()
    }

    pub fn is_empty(&self) -> bool {
        self.a.is_empty()
    }

    pub fn zeros(n: usize) -> RShare {
        RShare {
            a: vec![0; n],
            b: vec![0; n],
        }
    }

    /// Public values `c` as a sharing: component 0 is `c`, the others 0.
    pub fn from_public(id: PartyId, c: &[u128]) -> RShare {
        let mut r = RShare::zeros(c.len());
        match id {
            0 => r.a = c.to_vec(),
            2 => r.b = c.to_vec(),
            _ => {}
        }
        r
    }

    pub fn add(&self, o: &RShare) -> RShare {
        RShare {
            a: zip(&self.a, &o.a, u128::wrapping_add),
            b: zip(&self.b, &o.b, u128::wrapping_add),
        }
    }

    pub fn sub(&self, o: &RShare) -> RShare {
        RShare {
            a: zip(&self.a, &o.a, u128::wrapping_sub),
            b: zip(&self.b, &o.b, u128::wrapping_sub),
        }
    }

    pub fn neg(&self) -> RShare {
        RShare {
            a: self.a.iter().map(|v| v.wrapping_neg()).collect(),
            b: self.b.iter().map(|v| v.wrapping_neg()).collect(),
        }
    }

    pub fn mul_const(&self, c: u128) -> RShare {
        RShare {
            a: self.a.iter().map(|v| v.wrapping_mul(c)).collect(),
            b: self.b.iter().map(|v| v.wrapping_mul(c)).collect(),
        }
    }

    pub fn mul_public(&self, c: &[u128]) -> RShare {
        RShare {
            a: zip(&self.a, c, u128::wrapping_mul),
            b: zip(&self.b, c, u128::wrapping_mul),
        }
    }

    pub fn slice(&self, r: std::ops::Range<usize>) -> RShare {
        RShare {
            a: self.a[r.clone()].to_vec(),
            b: self.b[r].to_vec(),
        }
    }

    /// The sharings one after the other.
    pub fn concat(xs: &[&RShare]) -> RShare {
        let cat = |part: fn(&RShare) -> &Vec<u128>| -> Vec<u128> {
            let mut out = Vec::with_capacity(xs.iter().map(|x| part(x).len()).sum());
            xs.iter().for_each(|x| out.extend_from_slice(part(x)));
            out
        };
        RShare {
            a: cat(|x| &x.a),
            b: cat(|x| &x.b),
        }
    }

    /// Applies the same public linear map to both components.
    pub fn map(&self, f: impl Fn(&[u128]) -> Vec<u128>) -> RShare {
        RShare {
            a: f(&self.a),
            b: f(&self.b),
        }
    }

    pub(crate) fn check(&self, what: &str) -> Result<()> {
        if self.a.len() != self.b.len() {
            return Err(AramisError::Shape(format!("{what}: share components differ in length")));
        }
        Ok(())
    }
}

/// A MAC-authenticated replicated sharing: `v` shares `x`, `m` shares `alpha * x`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct AuthShare {
    /// Sharing of the value.
    pub v: RShare,
    /// Sharing of `alpha * value`.
    pub m: RShare,
}

impl std::fmt::Debug for AuthShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthShare(len={})", self.v.len())
    }
}

impl AuthShare {
    pub fn len(&self) -> usize {
        self.v.len()
    }

    pub fn is_empty(&self) -> bool {
        self.v.is_empty()
    }

    /// `self + o` (MACs add). Panics if the lengths differ.
    pub fn add(&self, o: &AuthShare) -> AuthShare {
        AuthShare {
            v: self.v.add(&o.v),
            m: self.m.add(&o.m),
        }
    }

    /// `self - o`. Panics if the lengths differ.
    pub fn sub(&self, o: &AuthShare) -> AuthShare {
        AuthShare {
            v: self.v.sub(&o.v),
            m: self.m.sub(&o.m),
        }
    }

    pub fn neg(&self) -> AuthShare {
        AuthShare {
            v: self.v.neg(),
            m: self.m.neg(),
        }
    }

    /// `self * c` for a public scalar of Z_2^64 (sign-extended).
    pub fn mul_const(&self, c: u64) -> AuthShare {
        AuthShare {
            v: self.v.mul_const(sx(c)),
            m: self.m.mul_const(sx(c)),
        }
    }

    /// `self * c` element-wise for public values of Z_2^64.
    pub fn mul_public(&self, c: &[u64]) -> AuthShare {
        let c = lift(c);
        AuthShare {
            v: self.v.mul_public(&c),
            m: self.m.mul_public(&c),
        }
    }

    /// Elements `r`.
    pub fn slice(&self, r: std::ops::Range<usize>) -> AuthShare {
        AuthShare {
            v: self.v.slice(r.clone()),
            m: self.m.slice(r),
        }
    }

    /// Splits off elements `at..` (as `Vec::split_off`, on the four
    /// components; an empty MAC stays empty).
    pub fn split_off(&mut self, at: usize) -> AuthShare {
        let cut = |v: &mut Vec<u128>| if v.is_empty() { Vec::new() } else { v.split_off(at) };
        AuthShare {
            v: RShare {
                a: cut(&mut self.v.a),
                b: cut(&mut self.v.b),
            },
            m: RShare {
                a: cut(&mut self.m.a),
                b: cut(&mut self.m.b),
            },
        }
    }

    /// Appends `o`'s elements (as `Vec::append`, on the four components).
    pub fn append(&mut self, mut o: AuthShare) {
        self.v.a.append(&mut o.v.a);
        self.v.b.append(&mut o.v.b);
        self.m.a.append(&mut o.m.a);
        self.m.b.append(&mut o.m.b);
    }

    /// The sharings one after the other.
    pub fn concat(xs: &[&AuthShare]) -> AuthShare {
        let v: Vec<&RShare> = xs.iter().map(|x| &x.v).collect();
        let m: Vec<&RShare> = xs.iter().map(|x| &x.m).collect();
        AuthShare {
            v: RShare::concat(&v),
            m: RShare::concat(&m),
        }
    }

    /// Applies the same public linear map (a layout op, a window sum) to the
    /// four components; the MAC relation is kept.
    pub fn map(&self, f: impl Fn(&[u128]) -> Vec<u128>) -> AuthShare {
        AuthShare {
            v: self.v.map(&f),
            m: self.m.map(&f),
        }
    }

    /// Whether the MAC is *additive*: this party's 3-out-of-3 share of
    /// `alpha * x` in `m.a`, `m.b` empty (a lazy select's or truncation's
    /// result, see `Aramis::relu_lazy`). Conv/MatMul take it as it is, sums
    /// and layout ops keep it; everything else gets a replicated MAC first
    /// (`Aramis::replicate_mac`); `check` rejects it.
    pub fn mac_is_additive(&self) -> bool {
        self.m.b.is_empty() && !self.m.a.is_empty() && self.m.a.len() == self.v.len()
    }

    pub(crate) fn check(&self, what: &str) -> Result<()> {
        self.v.check(what)?;
        self.m.check(what)?;
        if self.v.len() != self.m.len() {
            return Err(AramisError::Shape(format!("{what}: value and MAC differ in length")));
        }
        Ok(())
    }
}
