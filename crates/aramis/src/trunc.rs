//! Probabilistic truncation with MACs (fixed-point rescaling after products).
//!
//! Follows the probabilistic truncation of Catrina and Saxena (FC 2010, §3)
//! as used over Z_2^(k+s) by Dalskov, Escudero and Keller (PETS 2020, §4.1):
//! open `c = x + r` for a mask `r` whose high part `r >> d` is also shared,
//! and output `(c >> d) - [r >> d]`. The mask and its high part come **for
//! free from the pairwise PRG streams** instead of from edaBits: component
//! `j` of `r` is `r_j`, uniform in `[0, 2^76)`, drawn from the stream `k_j`
//! that its two holders share, so `[r]` and `[r_hi]` with components
//! `r_j >> d` are valid replicated sharings with no communication. Only the
//! MAC `[alpha * r_hi]` costs a reshare.
//!
//! # Bounds and error
//!
//! Inputs must satisfy `|x| < 2^TRUNC_VALUE_BITS` (36 bits; calibration
//! demands products below 2^34, so there is a 4x margin). Shared values are
//! exact integers in Z_2^128 (sign-extended lifting), so `x' = x + 2^36` lies
//! in `[0, 2^37)` and `c = x' + r_0 + r_1 + r_2 < 2^78` never wraps: it is
//! opened mod 2^78 (components reduced before they are sent), which the MAC
//! check guarantees correct (see `docs/PROTOCOLS.md`, soundness with values
//! checked mod 2^78: 2^-40.3). Each party misses one `r_j`, so `c` hides `x`
//! with statistical distance at most `2^37 / 2^76 = 2^-39` per element.
//!
//! `c >> d = (x' >> d) + sum_j (r_j >> d) + carry`, the carry (two
//! truncations of sums, one of two terms and one of three) lying in
//! `{0, 1, 2, 3}`; we subtract 1, so the result is `floor(x / 2^d) + e` with
//! `e` in `{-1, 0, 1, 2}` last-bit units, and never a large error.
//!
//! # Cost
//!
//! 2 rounds; per party and element one 16-byte MAC reshare and one 16-byte
//! component (+ a 32-byte hash per call): 96 bytes per element in total.

use crate::cheat::Step;
use crate::error::{AramisError, Result};
use crate::party::{Aramis, CHK_OPEN};
use crate::share::{AuthShare, RShare};

/// `x` entering a truncation must satisfy `|x| < 2^TRUNC_VALUE_BITS`.
pub const TRUNC_VALUE_BITS: u32 = 36;
/// Statistical hiding of the masked opening, in bits.
pub const TRUNC_MASK_SLACK_BITS: u32 = 39;
/// Bits of each mask component: `TRUNC_VALUE_BITS + 1 + TRUNC_MASK_SLACK_BITS`.
pub const TRUNC_COMPONENT_BITS: u32 = TRUNC_VALUE_BITS + 1 + TRUNC_MASK_SLACK_BITS;
/// Width of the opening `c < 2^78` (and of the values the MAC check must guarantee).
pub const TRUNC_OPEN_BITS: u32 = TRUNC_COMPONENT_BITS + 2;

impl Aramis {
    /// `[floor(x / 2^d) + e]`, `e` in {-1, 0, 1, 2}, for `|x| < 2^36` and
    /// `1 <= d < 36`. The opening is masked, so it is safe before the next
    /// check; the mask's MAC joins the next batched check.
    pub fn trunc(&mut self, x: &AuthShare, d: u32) -> Result<AuthShare> {
        x.check("trunc")?;
        self.trunc_values(&x.v, d)
    }

    /// [`Aramis::trunc`] of a sharing without MAC: the masked opening uses
    /// the value shares only (a result of `mul_bilinear_values`, checked by
    /// its layer check); the output gets its MAC from the mask's.
    pub fn trunc_values(&mut self, x: &RShare, d: u32) -> Result<AuthShare> {
        self.trunc_inner(x, d, false)
    }

    /// [`Aramis::trunc_values`] with the output's MAC left *additive*
    /// (`AuthShare::mac_is_additive`): the mask's high part gets this
    /// party's local share of `[alpha] [r_hi]` as its MAC, no reshare, so
    /// the truncation costs only its opening (10 B per element and party
    /// plus hashes). The consumer reshares the MAC where it needs a
    /// replicated one (`Aramis::replicate_mac`); sums of such results
    /// (residual additions) need that once, not once per operand.
    pub fn trunc_values_lazy(&mut self, x: &RShare, d: u32) -> Result<AuthShare> {
        self.trunc_inner(x, d, true)
    }

    fn trunc_inner(&mut self, x: &RShare, d: u32, lazy: bool) -> Result<AuthShare> {
        self.enter(Step::Trunc)?;
        x.check("trunc")?;
        if d == 0 || d >= TRUNC_VALUE_BITS {
            return Err(AramisError::Param(format!(
                "truncation by {d} bits (1..{TRUNC_VALUE_BITS})"
            )));
        }
        let n = x.len();
        let id = self.id();
        let cmask = (1u128 << TRUNC_COMPONENT_BITS) - 1;
        let mut r = self.rand_rss(n);
        r.a.iter_mut().chain(r.b.iter_mut()).for_each(|v| *v &= cmask);
        if n > 0 && self.fire_inconsistent() {
            // A mask component different from the other holder's copy.
            r.a[0] ^= 1 << 40;
        }
        let rhi = r.map(|c| c.iter().map(|v| v >> d).collect());
        let rhi = if lazy {
            let mut m = self.alpha_local(&rhi);
            if let Some(f) = m.first_mut() {
                // tag forgery on the mask's additive MAC share
                *f = f.wrapping_add(self.fire_lie());
            }
            AuthShare {
                v: rhi,
                m: RShare { a: m, b: Vec::new() },
            }
        } else {
            self.authenticate(rhi)?
        };

        // x + 2^36 + r, in place of r (the public offset is component 0:
        // party 0's `a`, party 2's `b`)
        let offset = 1u128 << TRUNC_VALUE_BITS;
        let mut masked = r;
        for (m, (xc, on)) in [(&mut masked.a, (&x.a, id == 0)), (&mut masked.b, (&x.b, id == 2))] {
            let off = if on { offset } else { 0 };
            m.iter_mut()
                .zip(xc.iter())
                .for_each(|(m, v)| *m = m.wrapping_add(*v).wrapping_add(off));
        }
        let e = self.fire_add_error().wrapping_add(self.fire_lie());
        let c = self.open_all_raw(&masked, TRUNC_OPEN_BITS, e, 0, CHK_OPEN)?;
        drop(masked);
        let sub = (1u128 << (TRUNC_VALUE_BITS - d)) + 1;
        let out = self.public_minus(c.iter().map(|&c| (c >> d).wrapping_sub(sub)), &rhi);
        self.pending.push(rhi);
        Ok(out)
    }
}
