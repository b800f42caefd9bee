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
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// One component of a sharing: a vector held by reference count, so that a
/// sharing kept both by its caller and by the pending check (or by a layer
/// claim, or as another op's operand) is one buffer, not a copy per holder.
/// Writing through it copies the buffer first if it is shared
/// (`Arc::make_mut`), so a writer never changes another holder's data.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Comp(Arc<Vec<u128>>);

impl Deref for Comp {
    type Target = Vec<u128>;
    #[inline(always)]
    fn deref(&self) -> &Vec<u128> {
        &self.0
    }
}

impl DerefMut for Comp {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut Vec<u128> {
        Arc::make_mut(&mut self.0)
    }
}

impl From<Vec<u128>> for Comp {
    fn from(v: Vec<u128>) -> Comp {
        Comp(Arc::new(v))
    }
}

impl FromIterator<u128> for Comp {
    fn from_iter<I: IntoIterator<Item = u128>>(it: I) -> Comp {
        Comp(Arc::new(it.into_iter().collect()))
    }
}

impl<'a> IntoIterator for &'a Comp {
    type Item = &'a u128;
    type IntoIter = std::slice::Iter<'a, u128>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl zeroize::Zeroize for Comp {
    /// Zeroes the buffer if this is its only holder; otherwise drops this
    /// reference (the last holder's zeroize clears it).
    fn zeroize(&mut self) {
        match Arc::get_mut(&mut self.0) {
            Some(v) => v.zeroize(),
            None => *self = Comp::default(),
        }
    }
}

impl std::fmt::Debug for Comp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Comp(len={})", self.0.len())
    }
}

/// One party's replicated share of a vector over Z_2^128.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RShare {
    /// Component `x_i`.
    pub a: Comp,
    /// Component `x_{i+1}`.
    pub b: Comp,
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
            a: vec![0; n].into(),
            b: vec![0; n].into(),
        }
    }

    /// Public values `c` as a sharing: component 0 is `c`, the others 0.
    pub fn from_public(id: PartyId, c: &[u128]) -> RShare {
        let mut r = RShare::zeros(c.len());
        match id {
            0 => r.a = c.to_vec().into(),
            2 => r.b = c.to_vec().into(),
            _ => {}
        }
        r
    }

    pub fn add(&self, o: &RShare) -> RShare {
        RShare {
            a: zip(&self.a, &o.a, u128::wrapping_add).into(),
            b: zip(&self.b, &o.b, u128::wrapping_add).into(),
        }
    }

    pub fn sub(&self, o: &RShare) -> RShare {
        RShare {
            a: zip(&self.a, &o.a, u128::wrapping_sub).into(),
            b: zip(&self.b, &o.b, u128::wrapping_sub).into(),
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
            a: zip(&self.a, c, u128::wrapping_mul).into(),
            b: zip(&self.b, c, u128::wrapping_mul).into(),
        }
    }

    pub fn slice(&self, r: std::ops::Range<usize>) -> RShare {
        RShare {
            a: self.a[r.clone()].to_vec().into(),
            b: self.b[r].to_vec().into(),
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
            a: cat(|x| &x.a).into(),
            b: cat(|x| &x.b).into(),
        }
    }

    /// Applies the same public linear map to both components.
    pub fn map(&self, f: impl Fn(&[u128]) -> Vec<u128>) -> RShare {
        RShare {
            a: f(&self.a).into(),
            b: f(&self.b).into(),
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

    /// `self + o` with an additive MAC, for MACs of either kind: the `a`
    /// half of a replicated MAC is this party's additive share of it.
    /// Panics if the lengths differ.
    pub fn add_additive(&self, o: &AuthShare) -> AuthShare {
        AuthShare {
            v: self.v.add(&o.v),
            m: RShare {
                a: zip(&self.m.a, &o.m.a, u128::wrapping_add).into(),
                b: Vec::new().into(),
            },
        }
    }

    /// The same sharing with an additive MAC (a replicated MAC's `b` half
    /// dropped: its `a` half is this party's additive share).
    pub fn into_additive(mut self) -> AuthShare {
        self.m.b = Vec::new().into();
        self
    }

    /// `self -= o`, in place where this sharing holds its buffers alone (no
    /// new vectors). Panics if the lengths differ.
    pub fn sub_assign(&mut self, o: &AuthShare) {
        for (x, y) in [
            (&mut self.v.a, &o.v.a),
            (&mut self.v.b, &o.v.b),
            (&mut self.m.a, &o.m.a),
            (&mut self.m.b, &o.m.b),
        ] {
            assert_eq!(x.len(), y.len(), "share length mismatch");
            x.iter_mut().zip(y.iter()).for_each(|(p, q)| *p = p.wrapping_sub(*q));
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
                a: cut(&mut self.v.a).into(),
                b: cut(&mut self.v.b).into(),
            },
            m: RShare {
                a: cut(&mut self.m.a).into(),
                b: cut(&mut self.m.b).into(),
            },
        }
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
    /// result, see `Aramis::relu_lazy`). Conv/MatMul and MaxPool take it as
    /// it is, sums and layout ops keep it; everything else gets a replicated
    /// MAC first (`Aramis::replicate_mac`); `check` rejects it.
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

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroize;

    #[test]
    fn a_clone_shares_the_buffer_until_one_holder_writes() {
        let x = RShare {
            a: vec![1, 2, 3].into(),
            b: vec![4, 5, 6].into(),
        };
        let mut y = x.clone();
        assert!(std::ptr::eq(x.a.as_ptr(), y.a.as_ptr()), "a clone is not a copy");
        y.a[0] = 9;
        assert_eq!((x.a[0], y.a[0]), (1, 9), "a write never reaches the other holder");
        assert!(!std::ptr::eq(x.a.as_ptr(), y.a.as_ptr()));
        assert!(
            std::ptr::eq(x.b.as_ptr(), y.b.as_ptr()),
            "the unwritten component stays shared"
        );
        let p = y.a.as_ptr();
        y.a[1] = 7;
        assert_eq!(p, y.a.as_ptr(), "a sole holder writes in place");
        assert_eq!(*y.a, vec![9, 7, 3]);
    }

    #[test]
    fn zeroize_clears_a_sole_buffer_and_drops_a_shared_one() {
        let mut k: Comp = vec![7u128; 4].into();
        let other = k.clone();
        k.zeroize();
        assert!(k.is_empty());
        assert_eq!(*other, vec![7u128; 4], "the other holder keeps its data");
        let mut k: Comp = vec![7u128; 4].into();
        k.zeroize();
        assert!(k.iter().all(|&v| v == 0));
    }
}
