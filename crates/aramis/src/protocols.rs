//! The Aramis protocols: input, linear operations with public values,
//! multiplication, bilinear maps, openings, the batched MAC check and output.
//!
//! Construction: Chida, Genkin, Hamada, Ikarashi, Kikuchi, Lindell, Nof,
//! "Fast Large-Scale Honest-Majority MPC for Malicious Adversaries",
//! CRYPTO 2018, §3 (every wire carries `[x]` and `[alpha x]`; products by a
//! multiplication that is secure up to additive attacks; one verification
//! with random coefficients before any output), instantiated with the
//! 3-party replicated multiplication of Araki et al. (CCS 2016 §2.2-2.3,
//! secure up to additive attacks, Chida et al. §5 / Furukawa et al. EC 2017),
//! and ported from a field to the ring Z_2^(k+s) as in SPDZ2k (Cramer,
//! Damgård, Escudero, Scholl, Xing, CRYPTO 2018, §3: values are meaningful
//! mod 2^k, MACs are checked mod 2^(k+s)). This is the "SPDZ-wise replicated"
//! protocol of Dalskov, Escudero, Keller (PETS 2020; USENIX Security 2021).
//! See `docs/PROTOCOLS.md`, section "Aramis", for the soundness analysis.

use crate::bilinear::{dot_w, Bilinear, LayerClaim, Weights};
use crate::cheat::Step;
use crate::compare::DaBitClaim;
use crate::error::{AramisError, Result};
use crate::party::{
    digest, mul_local, mul_local_iter, u128s_to_bytes, u64s_from, u64s_to_bytes, Aramis, CHK_INPUT, CHK_MAC, CHK_OPEN,
    CHK_OUTPUT,
};
use crate::share::{lift, sx, zip, AuthShare, RShare};
use cryptflow_mpc::{Prg, Seed};
use cryptflow_net::{next, prev, PartyId};
use rayon::prelude::*;
use std::borrow::Cow;
use subtle::ConstantTimeEq;

fn add_assign(z: &mut [u128], y: &[u128]) {
    for (a, b) in z.iter_mut().zip(y) {
        *a = a.wrapping_add(*b);
    }
}

/// This party's 3-out-of-3 share of `<u, v>` for replicated `u`, `v`.
fn uv_local(ua: &[u128], ub: &[u128], va: &[u128], vb: &[u128]) -> u128 {
    (0..ua.len()).fold(0u128, |acc, j| acc.wrapping_add(uv_term(ua[j], ub[j], va[j], vb[j])))
}

/// One element's term of [`uv_local`]: `u_i (v_i + v_(i+1)) + u_(i+1) v_i`
/// (with `u` the key: this party's local share of `alpha * v`).
#[inline(always)]
pub(crate) fn uv_term(ua: u128, ub: u128, va: u128, vb: u128) -> u128 {
    ua.wrapping_mul(va.wrapping_add(vb)).wrapping_add(ub.wrapping_mul(va))
}

fn narrow(v: &[u128]) -> Vec<u64> {
    v.iter().map(|&x| x as u64).collect()
}

/// `2^bits - 1` (all ones for 128 bits).
fn width_mask(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// Bytes that `n` elements of `bits` bits take on the wire (see [`encode_width`]).
pub(crate) fn width_len(n: usize, bits: u32) -> usize {
    if bits == 1 {
        n.div_ceil(8)
    } else {
        n * bits.div_ceil(8) as usize
    }
}

/// Elements reduced mod 2^bits on the wire: packed bits for `bits == 1`,
/// else `ceil(bits / 8)` little-endian bytes each.
pub(crate) fn encode_width(v: &[u128], bits: u32) -> Vec<u8> {
    let mask = width_mask(bits);
    if bits == 1 {
        let mut out = vec![0u8; v.len().div_ceil(8)];
        for (j, x) in v.iter().enumerate() {
            out[j / 8] |= ((x & 1) as u8) << (j % 8);
        }
        return out;
    }
    let w = bits.div_ceil(8) as usize;
    let mut out = vec![0u8; v.len() * w + 16];
    for (j, x) in v.iter().enumerate() {
        put_width(&mut out, j, w, x & mask);
    }
    out.truncate(v.len() * w);
    out
}

/// Writes element `j` (already reduced to `w` bytes) of a `w`-byte-per-element
/// message into `out`, which has 16 spare bytes at its end: a fixed 16-byte
/// store that overlaps the next element's bytes, which its own store then
/// writes (a copy of `w` bytes, `w` known only at run time, was a library
/// call per element).
#[inline(always)]
pub(crate) fn put_width(out: &mut [u8], j: usize, w: usize, v: u128) {
    out[j * w..j * w + 16].copy_from_slice(&v.to_le_bytes());
}

/// Element `j` of an [`encode_width`] message of `bits`-bit elements
/// (`1 < bits <= 128`): a fixed 16-byte load where 16 bytes remain,
/// masked to the element's bytes.
#[inline(always)]
pub(crate) fn read_width(m: &[u8], j: usize, bits: u32) -> u128 {
    let w = bits.div_ceil(8) as usize;
    let at = j * w;
    let mut b = [0u8; 16];
    if at + 16 <= m.len() {
        b.copy_from_slice(&m[at..at + 16]);
        let keep = if w >= 16 { u128::MAX } else { (1u128 << (8 * w)) - 1 };
        u128::from_le_bytes(b) & keep
    } else {
        b[..w].copy_from_slice(&m[at..at + w]);
        u128::from_le_bytes(b)
    }
}

/// The inverse of [`encode_width`] (`m` has [`width_len`] bytes; a shorter
/// one gives its whole elements only).
pub(crate) fn decode_width(m: &[u8], n: usize, bits: u32) -> Vec<u128> {
    if bits == 1 {
        return (0..n).map(|j| ((m[j / 8] >> (j % 8)) & 1) as u128).collect();
    }
    let whole = m.len() / bits.div_ceil(8) as usize;
    (0..n.min(whole)).map(|j| read_width(m, j, bits)).collect()
}

/// Bound on the values of [`Aramis::input_small_values`]: `|x| < 2^28`
/// (fixed-point weights: at 14 fractional bits, below 16384).
pub const SMALL_INPUT_BITS: u32 = 28;
/// Their stream component is uniform below 2^78 (statistical distance
/// 2^29 / 2^78 = 2^-49 per element between two values in range) ...
const SMALL_MASK_BITS: u32 = 78;
/// ... and the sent one, `x - c` in `(-2^78, 2^28)`, an 80-bit
/// two's-complement integer on the wire (10 bytes).
const SMALL_WIRE_BITS: u32 = 80;
const _: () = assert!(SMALL_MASK_BITS + 1 < SMALL_WIRE_BITS && SMALL_INPUT_BITS < SMALL_MASK_BITS);

/// `v mod 2^bits` read as a `bits`-bit two's-complement integer, in Z_2^128.
fn sign_extend(v: u128, bits: u32) -> u128 {
    (((v << (128 - bits)) as i128) >> (128 - bits)) as u128
}

/// The owner's own input values, which it must supply, `n` of them.
fn owner_values<T>(values: Option<&[T]>, n: usize) -> Result<&[T]> {
    let x = values.ok_or_else(|| AramisError::Param("the owner must supply its input".into()))?;
    if x.len() != n {
        return Err(AramisError::Shape(format!(
            "input has {} elements, expected {n}",
            x.len()
        )));
    }
    Ok(x)
}

fn check_party(to: PartyId) -> Result<()> {
    if to > 2 {
        return Err(AramisError::Param(format!("party {to} does not exist")));
    }
    Ok(())
}

impl Aramis {
    /// Local 3-out-of-3 share of `alpha * x` (no zero sharing yet).
    pub(crate) fn alpha_local(&self, x: &RShare) -> Vec<u128> {
        let (aa, ab) = (self.alpha.a[0], self.alpha.b[0]);
        (0..x.len()).map(|j| uv_term(aa, ab, x.a[j], x.b[j])).collect()
    }

    // ---- public values ----------------------------------------------------

    /// Public values `c` as an authenticated sharing (`alpha * c` from the key shares; local).
    pub fn public(&self, c: &[u64]) -> AuthShare {
        self.public_wide(&lift(c))
    }

    /// Public elements of Z_2^128 as an authenticated sharing (local).
    pub(crate) fn public_wide(&self, c: &[u128]) -> AuthShare {
        let (aa, ab) = (self.alpha.a[0], self.alpha.b[0]);
        AuthShare {
            v: RShare::from_public(self.id(), c),
            m: RShare {
                a: c.iter().map(|x| x.wrapping_mul(aa)).collect(),
                b: c.iter().map(|x| x.wrapping_mul(ab)).collect(),
            },
        }
    }

    /// `c - x` for public `c` (local, one pass, no intermediate sharings);
    /// the MAC stays additive if `x`'s is (`alpha c` then enters as `c`
    /// times this party's `a` share of the key, an additive sharing of it).
    pub(crate) fn public_minus(&self, c: impl Iterator<Item = u128>, x: &AuthShare) -> AuthShare {
        let n = x.len();
        let additive = x.mac_is_additive();
        let (aa, ab) = (self.alpha.a[0], self.alpha.b[0]);
        let (on_a, on_b) = (self.id() == 0, self.id() == 2);
        let (mut va, mut vb, mut ma) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let mut mb = Vec::with_capacity(if additive { 0 } else { n });
        for (j, c) in c.take(n).enumerate() {
            let keep = |on: bool| if on { c } else { 0 };
            va.push(keep(on_a).wrapping_sub(x.v.a[j]));
            vb.push(keep(on_b).wrapping_sub(x.v.b[j]));
            ma.push(c.wrapping_mul(aa).wrapping_sub(x.m.a[j]));
            if !additive {
                mb.push(c.wrapping_mul(ab).wrapping_sub(x.m.b[j]));
            }
        }
        AuthShare {
            v: RShare {
                a: va.into(),
                b: vb.into(),
            },
            m: RShare {
                a: ma.into(),
                b: mb.into(),
            },
        }
    }

    /// `x + c` element-wise for public `c` (local). Panics if the lengths differ.
    pub fn add_public(&self, x: &AuthShare, c: &[u64]) -> AuthShare {
        x.add(&self.public(c))
    }

    /// `x + c` for a public scalar (local).
    pub fn add_const(&self, x: &AuthShare, c: u64) -> AuthShare {
        self.add_public(x, &vec![c; x.len()])
    }

    /// Authenticates a sharing whose components the holders got without
    /// communication (from the pairwise streams): `[alpha * v]` by one
    /// replicated product with the key, 1 round, 16 bytes per element and
    /// party. The caller adds the result to the pending check.
    pub(crate) fn authenticate(&mut self, v: RShare) -> Result<AuthShare> {
        let mut z = self.alpha_local(&v);
        self.add_zero_share(&mut z);
        let m = self.reshare(z, 0)?;
        Ok(AuthShare { v, m })
    }

    /// [`Aramis::authenticate`], with the result's MAC relation added to the
    /// pending check.
    pub(crate) fn authenticated(&mut self, v: RShare) -> Result<AuthShare> {
        let x = self.authenticate(v)?;
        self.pending.push(x.clone());
        Ok(x)
    }

    // ---- input ------------------------------------------------------------

    /// Shares `n` elements of Z_2^64 owned by party `owner` (which passes
    /// `Some(values)`; the others pass `None`), with their MACs.
    ///
    /// Round 1: component `owner` comes from the stream `k_owner` (held by the
    /// owner and `prev(owner)`), component `owner+1` from `k_{owner+1}` (owner
    /// and `next(owner)`); the owner sends component `owner+2 = x - c_o - c_{o+1}`
    /// to **both** its holders, `next(owner)` and `prev(owner)`.
    /// Round 2: these two exchange a hash of what they received and compare
    /// in constant time (an owner that sends them different components is
    /// caught at the next checkpoint), and all three compute `[alpha x]` with
    /// one replicated multiplication by `[alpha]`.
    /// Cost: 2 rounds; the owner sends `2n` elements, every party `n`
    /// elements of the MAC product (16 bytes each) and each receiver one hash.
    pub fn input(&mut self, owner: PartyId, values: Option<&[u64]>, n: usize) -> Result<AuthShare> {
        check_party(owner)?;
        self.enter(Step::Input)?;
        let me = self.id();
        let (r1, r2) = (next(owner), prev(owner));
        self.tick();
        let v = if me == owner {
            let x = owner_values(values, n)?;
            let c0 = self.p.prg_prev().gen_u128(n);
            let c1 = self.p.prg_next().gen_u128(n);
            let c2: Vec<u128> = (0..n)
                .map(|j| sx(x[j]).wrapping_sub(c0[j]).wrapping_sub(c1[j]))
                .collect();
            // (a copy only when the cheat hook fires)
            let second = (n > 0 && self.fire_inconsistent()).then(|| {
                let mut s = c2.clone();
                s[0] = s[0].wrapping_add(1);
                s
            });
            self.send_u128s(r1, &c2)?;
            self.send_u128s(r2, second.as_ref().unwrap_or(&c2))?;
            RShare {
                a: c0.into(),
                b: c1.into(),
            }
        } else {
            let own = if me == r1 {
                self.p.prg_prev().gen_u128(n)
            } else {
                self.p.prg_next().gen_u128(n)
            };
            let mut c2 = self.recv_u128s(owner, n)?;
            if n > 0 && self.fire_inconsistent() {
                c2[0] = c2[0].wrapping_add(1);
            }
            // Round 2 (no tick: same step as the MAC product): cross-check.
            let other = if me == r1 { r2 } else { r1 };
            let mine = digest(b"input", &u128s_to_bytes(&c2));
            let e = if n > 0 { self.fire_lie() } else { 0 };
            let claimed = if e == 0 {
                mine
            } else {
                let mut c = c2.clone();
                c[0] = c[0].wrapping_add(e);
                digest(b"input", &u128s_to_bytes(&c))
            };
            self.send(other, claimed.to_vec())?;
            let theirs = self.recv_hash(other)?;
            self.flag(CHK_INPUT, Aramis::ct_eq_hash(&mine, &theirs));
            if me == r1 {
                RShare {
                    a: own.into(),
                    b: c2.into(),
                }
            } else {
                RShare {
                    a: c2.into(),
                    b: own.into(),
                }
            }
        };
        let mut z = self.alpha_local(&v);
        self.add_zero_share(&mut z);
        if me == owner && n > 0 {
            let e = self.fire_lie();
            z[n - 1] = z[n - 1].wrapping_add(e);
        }
        let m = self.reshare(z, n)?;
        let x = AuthShare { v, m };
        self.pending.push(x.clone());
        Ok(x)
    }

    /// Shares `n` elements owned by `owner` without MACs, for a tensor that
    /// only ever enters as the second operand of [`Aramis::mul_bilinear`]
    /// (weights), whose check uses that operand's value shares alone
    /// ([`Aramis::authenticate_values`] adds the MAC later if another op
    /// needs it). Component `owner` comes from the stream `k_owner` (owner
    /// and `prev(owner)`), component `owner+2` is 0, and the owner sends
    /// component `owner+1 = x - c_owner` to its only other holder,
    /// `next(owner)` (as the semi-honest input does): each receiver misses a
    /// uniform component, and since every sent component has a single
    /// receiver, the owner cannot hand the honest parties inconsistent
    /// copies (a copy it keeps itself that differs is an inconsistent share,
    /// caught by the checks of the products that use it). Cost: 1 round,
    /// `n` elements of 16 bytes sent by the owner.
    pub fn input_values(&mut self, owner: PartyId, values: Option<&[u64]>, n: usize) -> Result<RShare> {
        check_party(owner)?;
        self.enter(Step::Input)?;
        // (the length is checked on the lifted values)
        let wide = values.map(lift);
        self.input_one_receiver(owner, wide.as_deref(), n, false)
    }

    /// [`Aramis::input_values`] for values below 2^28 in magnitude (read
    /// as signed; fixed-point weights): the stream component is uniform
    /// below 2^78 instead of over Z_2^128, and the sent one, `x - c`, an
    /// 80-bit two's-complement integer, goes in 10 bytes instead of 16.
    /// It hides `x` within statistical distance 2^-49 per element
    /// (instead of perfectly); the sum of the components is `x` exactly,
    /// as before. Fails (at the owner, before anything is sent) if a value
    /// is out of range.
    pub fn input_small_values(&mut self, owner: PartyId, values: Option<&[u64]>, n: usize) -> Result<RShare> {
        check_party(owner)?;
        self.enter(Step::Input)?;
        let wide = values.map(lift);
        if let Some(w) = &wide {
            let bound = 1i128 << SMALL_INPUT_BITS;
            if w.iter().any(|&v| (v as i128).abs() >= bound) {
                return Err(AramisError::Param(format!(
                    "an input value of magnitude 2^{SMALL_INPUT_BITS} or more cannot be shared this way"
                )));
            }
        }
        self.input_one_receiver(owner, wide.as_deref(), n, true)
    }

    /// The sharing of [`Aramis::input_values`] for elements of Z_2^128,
    /// inside the current step (also the daBit's product that P0 alone
    /// can compute).
    /// With `small`, the statistical form of [`Aramis::input_small_values`]
    /// (the caller keeps the values below 2^28, or accepts that an
    /// out-of-range value is shared as another one: the owner keeps the
    /// copy it sent, so the sharing stays consistent either way).
    pub(crate) fn input_one_receiver(
        &mut self,
        owner: PartyId,
        values: Option<&[u128]>,
        n: usize,
        small: bool,
    ) -> Result<RShare> {
        let me = self.id();
        self.tick();
        let fire = |a: &mut Aramis, v: &mut [u128]| {
            if !v.is_empty() && a.fire_inconsistent() {
                v[0] = v[0].wrapping_add(1);
            }
        };
        let narrow = |c: &mut Vec<u128>| {
            if small {
                c.iter_mut().for_each(|v| *v &= (1u128 << SMALL_MASK_BITS) - 1);
            }
        };
        if me == owner {
            let x = owner_values(values, n)?;
            let mut c = self.p.prg_prev().gen_u128(n);
            narrow(&mut c);
            let mut d: Vec<u128> = (0..n).map(|j| x[j].wrapping_sub(c[j])).collect();
            // Not through `send`: a flipped bit here would only change the
            // owner's input consistently, which no protocol can detect.
            let msg = if small {
                // (the owner keeps what the receiver will read)
                d.iter_mut().for_each(|v| *v = sign_extend(*v, SMALL_WIRE_BITS));
                encode_width(&d, SMALL_WIRE_BITS)
            } else {
                u128s_to_bytes(&d)
            };
            self.p.send_bytes(next(me), msg)?;
            fire(self, &mut d);
            Ok(RShare {
                a: c.into(),
                b: d.into(),
            })
        } else if me == prev(owner) {
            let mut c = self.p.prg_next().gen_u128(n);
            narrow(&mut c);
            fire(self, &mut c);
            Ok(RShare {
                a: vec![0; n].into(),
                b: c.into(),
            })
        } else {
            let mut d = if small {
                let m = self.recv(owner, width_len(n, SMALL_WIRE_BITS))?;
                (0..n)
                    .map(|j| sign_extend(read_width(&m, j, SMALL_WIRE_BITS), SMALL_WIRE_BITS))
                    .collect()
            } else {
                self.recv_u128s(owner, n)?
            };
            fire(self, &mut d);
            Ok(RShare {
                a: d.into(),
                b: vec![0; n].into(),
            })
        }
    }

    /// The MAC of a sharing from [`Aramis::input_values`] (`Step::Input`):
    /// one product by `[alpha]`, 1 round, 16 bytes per element and party;
    /// its relation joins the next check.
    pub fn authenticate_values(&mut self, v: &RShare) -> Result<AuthShare> {
        self.enter(Step::Input)?;
        v.check("authenticate")?;
        self.authenticated(v.clone())
    }

    // ---- products ---------------------------------------------------------

    /// Element-wise product with MACs: `[x y] = mult([x], [y])` and
    /// `[alpha x y] = mult([alpha x], [y])`, the two semi-honest replicated
    /// multiplications sent together. 1 round; 2 elements of Z_2^128 (32
    /// bytes) sent per party per output element. The result's MAC relation is
    /// checked at the next checkpoint.
    pub fn mul(&mut self, x: &AuthShare, y: &AuthShare) -> Result<AuthShare> {
        self.enter(Step::Mul)?;
        self.mul_raw(x, y)
    }

    /// Checks a product's operands (`y`'s MAC is not used: it may be empty
    /// where `y` is checked otherwise) and returns `x`'s value components
    /// to multiply, changed by the `InconsistentShare` cheat. The cheat
    /// needs an element where a different x component changes this party's
    /// product (y_i + y_(i+1) != 0); a product by zero components leaves
    /// every message unchanged, so it waits.
    fn mul_operands<'a>(&mut self, x: &'a AuthShare, y: &AuthShare) -> Result<Cow<'a, RShare>> {
        x.check("mul lhs")?;
        y.v.check("mul rhs")?;
        if x.len() != y.len() {
            return Err(AramisError::Shape(format!(
                "mul of {} and {} elements",
                x.len(),
                y.len()
            )));
        }
        let mut xv = Cow::Borrowed(&x.v);
        if let Some(j) = (0..x.len()).find(|&j| y.v.a[j].wrapping_add(y.v.b[j]) != 0) {
            if self.fire_inconsistent() {
                xv.to_mut().a[j] = xv.a[j].wrapping_add(1);
            }
        }
        Ok(xv)
    }

    /// [`Aramis::mul`] inside the current step (comparisons, bit
    /// generation); the result also joins the pending list (its buffers
    /// shared, not copied).
    pub(crate) fn mul_raw(&mut self, x: &AuthShare, y: &AuthShare) -> Result<AuthShare> {
        let xv = self.mul_operands(x, y)?;
        let n = x.len();
        let mut z = Vec::with_capacity(2 * n);
        z.extend(mul_local_iter(&xv, &y.v));
        z.extend(mul_local_iter(&x.m, &y.v));
        self.add_zero_share(&mut z);
        let mut v = self.reshare(z, n)?;
        let m = RShare {
            a: v.a.split_off(n).into(),
            b: v.b.split_off(n).into(),
        };
        let out = AuthShare { v, m };
        self.pending.push(out.clone());
        Ok(out)
    }

    /// [`Aramis::mul_raw`] with the MAC left *additive* (see
    /// [`AuthShare::mac_is_additive`]): the value is reshared as usual, the
    /// MAC is this party's local 3-out-of-3 share of `[alpha x] y`, which
    /// costs no message and no zero sharing. The pair joins the check (its
    /// additive MAC share enters the check's 3-out-of-3 part); a bilinear
    /// layer can use the additive MAC directly (its contraction, K
    /// elements, is reshared at the checkpoint), any other op reshares it
    /// first ([`Aramis::replicate_mac`], the 16 B per element and party
    /// saved here). 1 round, 16 bytes per element and party.
    pub(crate) fn mul_lazy(&mut self, x: &AuthShare, y: &AuthShare) -> Result<AuthShare> {
        let xv = self.mul_operands(x, y)?;
        let n = x.len();
        let mut z: Vec<u128> = mul_local_iter(&xv, &y.v).collect();
        self.add_zero_share(&mut z);
        let v = self.reshare(z, n)?;
        let mut m: Vec<u128> = mul_local_iter(&x.m, &y.v).collect();
        if let Some(f) = m.first_mut() {
            // tag forgery: a wrong additive MAC share
            *f = f.wrapping_add(self.fire_lie());
        }
        let out = AuthShare {
            v,
            m: RShare {
                a: m.into(),
                b: Vec::new().into(),
            },
        };
        self.pending.push(out.clone());
        Ok(out)
    }

    /// A replicated MAC for a sharing whose MAC is additive: the MAC shares
    /// (plus a zero sharing) reshared, 1 round, 16 bytes per element and
    /// party; the new pair joins the check. Sharings with a replicated MAC
    /// are returned as they are.
    pub fn replicate_mac(&mut self, x: &AuthShare) -> Result<AuthShare> {
        if !x.mac_is_additive() {
            return Ok(x.clone());
        }
        self.enter(Step::Select)?;
        let mut z = x.m.a.to_vec();
        self.add_zero_share(&mut z);
        let m = self.reshare(z, 0)?;
        let out = AuthShare { v: x.v.clone(), m };
        out.check("replicate MAC")?;
        self.pending.push(out.clone());
        Ok(out)
    }

    /// Secure evaluation of a bilinear map over Z_2^128 (a ring GEMM or a
    /// convolution with the weights as second operand), `[f(x, y)]` with its
    /// MAC: [`Aramis::mul_bilinear_values`], then the MAC by one elementwise
    /// product by `[alpha]` (`authenticate`, 1 round, 16 bytes per
    /// party and output element). `y`'s MAC is not used and may be empty.
    pub fn mul_bilinear<B: Bilinear + 'static>(&mut self, x: &AuthShare, y: &AuthShare, map: B) -> Result<AuthShare> {
        let v = self.mul_bilinear_values(x, &y.v, None, map)?;
        self.authenticated(v)
    }

    /// `[f(x, y)]` without a MAC (for a result that only enters a
    /// truncation, whose masked opening needs none): the value
    /// `f(x_i, y_i + y_{i+1}) + f(x_{i+1}, y_i)` plus a zero sharing,
    /// reshared (two local evaluations of `f`, 1 round, 16 bytes per party
    /// and **output** element). The layer is logged, and the next checkpoint
    /// checks `f` itself by Freivalds' rank-one weighting of the outputs
    /// against `[alpha x]` and `y` (see [`Aramis::verify`]); this replaces
    /// the two evaluations of `f([alpha x], y)` a MAC product would take.
    /// `y_input_of = Some(o)`: `y` is a sharing from
    /// [`Aramis::input_values`] by party `o` (component `o + 2` zero), and
    /// every party evaluates `f` once (as `cryptflow_mpc`'s bilinear
    /// layers: `P_o` takes `f(x_o + x_(o+1), y_o + y_(o+1))`, `P_(o+1)`
    /// `f(x_(o+2), y_(o+1))`, `P_(o+2)` `f(x_(o+2), y_o)`; 3 evaluations
    /// over the parties instead of 4); the two holders of the zero
    /// component check it.
    pub fn mul_bilinear_values<B: Bilinear + 'static>(
        &mut self,
        x: &AuthShare,
        y: &RShare,
        y_input_of: Option<PartyId>,
        map: B,
    ) -> Result<RShare> {
        self.enter(Step::Bilinear)?;
        self.bilinear_raw(x, y, y_input_of, Box::new(map))
    }

    /// [`Aramis::mul_bilinear_values`] inside the current step.
    pub(crate) fn bilinear_raw(
        &mut self,
        x: &AuthShare,
        y: &RShare,
        y_input_of: Option<PartyId>,
        map: Box<dyn Bilinear>,
    ) -> Result<RShare> {
        let mut z = self.bilinear_local(x, y, y_input_of, map.as_ref(), 128)?;
        let out_len = z.len();
        self.add_zero_share(&mut z);
        let v = self.reshare(z, out_len)?;
        // a `Lie` here is a false share of this layer's check
        let lie = self.fire_lie();
        self.claim(map, x, y, v.clone(), lie);
        Ok(v)
    }

    /// This party's local (3-out-of-3) share of `f(x, y)`, without the zero
    /// sharing, after the operand checks (the `InconsistentShare` hook
    /// alters a component the evaluation uses), correct mod 2^`bits` (the
    /// caller reads no more: a layer opened with its truncation needs 78).
    pub(crate) fn bilinear_local(
        &mut self,
        x: &AuthShare,
        y: &RShare,
        y_input_of: Option<PartyId>,
        map: &dyn Bilinear,
        bits: u32,
    ) -> Result<Vec<u128>> {
        if x.mac_is_additive() {
            x.v.check("bilinear lhs")?;
        } else {
            x.check("bilinear lhs")?;
        }
        y.check("bilinear rhs")?;
        map.check_lens(x.len(), y.len())?;
        let out_len = map.lens().2;
        let me = self.id();
        let zero = |c: &[u128]| c.iter().all(|&v| v == 0);
        if let Some(o) = y_input_of {
            check_party(o)?;
            let held = (me == next(o) && zero(&y.b)) || (me == prev(o) && zero(&y.a)) || me == o;
            if !held {
                return Err(AramisError::Param(format!(
                    "bilinear rhs: not shared by party {o} with a zero component"
                )));
            }
        }
        let mut xv = Cow::Borrowed(&x.v);
        if !xv.is_empty() && self.fire_inconsistent() {
            // a component this party's evaluation uses (P_(o+1) uses only x_(o+2))
            let xv = xv.to_mut();
            let c = if y_input_of.is_some_and(|o| me == next(o)) {
                &mut xv.b
            } else {
                &mut xv.a
            };
            c[0] = c[0].wrapping_add(1);
        }
        let z = match y_input_of {
            // the six cross terms x_j y_k with y_k non-zero, one evaluation
            // per party (see `mul_bilinear_values`)
            // (the owner holds y in the clear)
            Some(o) if me == o => map.eval_known_y(
                &zip(&xv.a, &xv.b, u128::wrapping_add),
                &zip(&y.a, &y.b, u128::wrapping_add),
                bits,
            ),
            Some(o) if me == next(o) => map.eval(&xv.b, &y.a, bits),
            Some(_) => map.eval(&xv.a, &y.b, bits),
            // x_i (y_i + y_(i+1)) + x_(i+1) y_i, once where this party holds
            // a zero component of y
            None if zero(&y.a) => map.eval(&xv.a, &y.b, bits),
            None if zero(&y.b) => map.eval(&zip(&xv.a, &xv.b, u128::wrapping_add), &y.a, bits),
            None => {
                let mut z = map.eval(&xv.a, &zip(&y.a, &y.b, u128::wrapping_add), bits);
                add_assign(&mut z, &map.eval(&xv.b, &y.a, bits));
                z
            }
        };
        if z.len() != out_len {
            return Err(AramisError::Shape(format!(
                "bilinear map returned {} elements, expected {out_len}",
                z.len()
            )));
        }
        Ok(z)
    }

    /// Logs the claim `z = f(x, y)` for the next checkpoint's check.
    pub(crate) fn claim(&mut self, map: Box<dyn Bilinear>, x: &AuthShare, y: &RShare, z: RShare, lie: u128) {
        self.layers.push(LayerClaim {
            map,
            xm: x.m.clone(),
            yv: y.clone(),
            zv: z,
            lie,
        });
    }

    // ---- openings -----------------------------------------------------------

    /// Redundant opening to all: party `i` lacks component `x_{i+2}`; it gets
    /// it from `prev(i)` (its `a`) and a hash of it from `next(i)` (its `b`),
    /// and compares in constant time. Components are reduced mod 2^bits and
    /// sent in that width (bits packed for `bits == 1`, else whole bytes):
    /// nothing above is revealed. `comp_err`/`hash_err` are cheat hooks. 1 round.
    pub(crate) fn open_all_raw(
        &mut self,
        x: &RShare,
        bits: u32,
        comp_err: u128,
        hash_err: u128,
        chk: usize,
    ) -> Result<Vec<u128>> {
        let me = self.id();
        let n = x.len();
        let mask = width_mask(bits);
        // The cheat hooks add their error after the reduction so that it
        // always reaches the wire (an error that vanishes mod 2^bits becomes 1).
        let enc = |v: &[u128], err: u128| {
            let mut m = encode_width(v, bits);
            if let (Some(&f), true) = (v.first(), err != 0) {
                let e = if err & mask == 0 { 1 } else { err };
                let one = encode_width(&[f.wrapping_add(e)], bits);
                if bits == 1 {
                    m[0] = (m[0] & !1) | one[0];
                } else {
                    m[..one.len()].copy_from_slice(&one);
                }
            }
            m
        };
        let (comp, hb) = (&x.a, &x.b);
        self.tick();
        self.send(next(me), enc(comp, comp_err))?;
        self.send(prev(me), digest(b"open", &enc(hb, hash_err)).to_vec())?;
        let c_bytes = self.recv(prev(me), width_len(n, bits))?;
        let h = self.recv_hash(next(me))?;
        self.flag(chk, Aramis::ct_eq_hash(&digest(b"open", &c_bytes), &h));
        let mut c = decode_width(&c_bytes, n, bits);
        for (j, v) in c.iter_mut().enumerate() {
            *v = x.a[j].wrapping_add(x.b[j]).wrapping_add(*v) & mask;
        }
        Ok(c)
    }

    /// Redundant opening mod 2^64 to `to` only: `next(to)` sends the missing
    /// component (its `b`), `prev(to)` a hash of its copy (its `a`). 1 round.
    fn open_to_raw(
        &mut self,
        to: PartyId,
        x: &RShare,
        err: u128,
        chk: usize,
        release: bool,
    ) -> Result<Option<Vec<u64>>> {
        let me = self.id();
        let n = x.len();
        self.tick();
        if me == next(to) || me == prev(to) {
            let mut v = narrow(if me == next(to) { &x.b } else { &x.a });
            if n > 0 {
                v[0] = v[0].wrapping_add(err as u64);
            }
            let bytes = u64s_to_bytes(&v);
            let msg = if me == next(to) {
                bytes
            } else {
                digest(b"open-to", &bytes).to_vec()
            };
            self.send(to, msg)?;
            if release {
                self.released_one();
            }
            return Ok(None);
        }
        let c_bytes = self.recv(next(to), n * 8)?;
        let h = self.recv_hash(prev(to))?;
        self.flag(chk, Aramis::ct_eq_hash(&digest(b"open-to", &c_bytes), &h));
        let c = u64s_from(&c_bytes);
        Ok(Some(
            (0..n)
                .map(|j| (x.a[j] as u64).wrapping_add(x.b[j] as u64).wrapping_add(c[j]))
                .collect(),
        ))
    }

    /// Opens `x` mod 2^64 to all parties, redundantly (every missing
    /// component comes from one holder and its hash from the other): 1 round,
    /// `n` ring elements of 8 bytes plus one 32-byte hash sent per party.
    ///
    /// The value is **provisional**: a mismatch is recorded, not reported, and
    /// settles at the next checkpoint ([`Aramis::verify`] or
    /// [`Aramis::output_to`]), which aborts the session. `x`'s MAC relation
    /// joins the next batched check. Only open values that may be revealed
    /// even if a product feeding them was attacked, i.e. values masked by
    /// fresh randomness (truncation, comparison) or values computed before
    /// the last `verify`; final results go through [`Aramis::output_to`].
    pub fn open_all(&mut self, x: &AuthShare) -> Result<Vec<u64>> {
        self.enter(Step::Open)?;
        x.check("open")?;
        let mut xv = Cow::Borrowed(&x.v);
        if !xv.is_empty() && self.fire_inconsistent() {
            xv.to_mut().a[0] = xv.a[0].wrapping_add(1);
        }
        let e_add = self.fire_add_error();
        let e_lie = self.fire_lie();
        let r = self.open_all_raw(&xv, 64, e_add.wrapping_add(e_lie), e_lie, CHK_OPEN)?;
        self.pending.push(x.clone());
        Ok(narrow(&r))
    }

    /// Opens `x` mod 2^64 to party `to` only (provisional, as [`Aramis::open_all`]):
    /// 1 round, `n` elements of 8 bytes plus a 32-byte hash sent in total.
    pub fn open_to(&mut self, to: PartyId, x: &AuthShare) -> Result<Option<Vec<u64>>> {
        check_party(to)?;
        self.enter(Step::Open)?;
        x.check("open")?;
        let mut xv = Cow::Borrowed(&x.v);
        if !xv.is_empty() && self.fire_inconsistent() {
            xv.to_mut().a[0] = xv.a[0].wrapping_add(1);
        }
        let e = self.fire_add_error().wrapping_add(self.fire_lie());
        let r = self.open_to_raw(to, &xv, e, CHK_OPEN, false)?;
        self.pending.push(x.clone());
        Ok(r)
    }

    // ---- checks and output ------------------------------------------------

    /// Checkpoint: batched MAC check of every authenticated sharing produced
    /// or opened since the last check, then the verdict round. Fails with
    /// [`AramisError::CheatingDetected`] at every honest party if any party
    /// deviated (except with probability below 2^-40, see the docs). 5 rounds,
    /// independent of how many elements are checked.
    pub fn verify(&mut self) -> Result<()> {
        self.enter(Step::Output)?;
        self.verify_inner(None, false, true)
    }

    /// Folds everything awaiting the MAC check into the check's running
    /// sums ([`Aramis::fold_checks`]) if more than `limit` elements wait:
    /// this bounds the memory the held sharings and claims take, for one
    /// round (two with a lazy layer), in the caller's step (the coin's
    /// opening counts as `Step::Output` for the cheat hook). The test of
    /// the sums, the verdict and the AND gates' proof wait for the next
    /// [`Aramis::verify`] (before any output); the AND proof also runs when
    /// a log would pass [`crate::small::AND_BATCH`]. Nothing computed
    /// before that verdict is released: a deviation until then can only
    /// change values that stay shared, and every opening in between is
    /// masked by fresh randomness (truncation masks, daBits).
    pub fn checkpoint_if_over(&mut self, limit: usize) -> Result<()> {
        if self.pending_elements() > limit {
            self.within_step(Step::Output, |a| a.fold_checks(None))?;
        }
        Ok(())
    }

    /// Runs the batched check and its verdict (not the AND proofs) if
    /// anything awaits one: before a truncation's masked opening. That
    /// opening hides a value only while it is in range (|x| < 2^36), and a
    /// value computed from an unchecked wrong one need not be: an error
    /// `e` that a cheater put on a wire (an inconsistent input, a wrong
    /// daBit product, a wrong reshare) is known to it, but multiplied by a
    /// secret (a weight, a DReLU bit, an honest party's component) in a
    /// later product it is not, and its top bits would show through the
    /// mask. So every value a truncation opens is checked first, except the
    /// opening layer's own product, whose errors the cheater computes from
    /// what it holds. The AND gates may wait for their proof: a wrong gate
    /// only flips a DReLU bit, and the selected value stays in range.
    pub(crate) fn settle_before_opening(&mut self) -> Result<()> {
        if self.unsettled() {
            self.within_step(Step::Output, |a| a.verify_inner(None, false, false))?;
        }
        Ok(())
    }

    /// The batched check (Chida et al. §3 verification stage, over Z_2^128):
    /// 1. fresh common coin: a random sharing (from the pairwise streams, so
    ///    unknown to any single party and fixed only now) opened redundantly;
    ///    it seeds public coefficients `rho_j` in Z_2^64, one per checked element;
    /// 2. `[u] = sum rho_j [alpha x_j]`, `[w] = sum rho_j [x_j]` (local);
    ///    for every logged bilinear layer `z = f(x, y)` and three rank-one
    ///    weightings `r ⊗ s` from the coin (one per-element weighting for an
    ///    element-wise product), `u` also gets the local
    ///    3-out-of-3 product `<u_f([alpha x]), v_f([y])> = <r ⊗ s, f([alpha x], y)>`
    ///    and `w` gets `<r ⊗ s, [z]>` (Freivalds: a wrong `z` no longer
    ///    matches `alpha` times the right one);
    /// 3. `[T] = [u] - [alpha] [w]` (one multiplication; alpha is never opened);
    /// 4. `[T r]` for a fresh random `[r]` (one multiplication), opened
    ///    redundantly to all: honest runs give 0; on cheating the opening
    ///    reveals at most the 2-adic valuation of `T`;
    /// 5. verdict round.
    fn verify_inner(&mut self, extra: Option<&AuthShare>, lie_here: bool, prove_ands: bool) -> Result<()> {
        // the two receivers of every fused layer's opened sum (sent by the
        // layer's king to both) compare their digests of it, in the coin's
        // round; every party takes part once any layer was opened
        if let Some(s) = self.sole_openings.take() {
            let me = self.id();
            self.send(prev(me), s.from_next.to_le_bytes().to_vec())?;
            let theirs = self.recv(next(me), 8)?;
            self.flag(CHK_OPEN, theirs.ct_eq(&s.from_prev.to_le_bytes()[..]));
        }
        self.fold_checks(extra)?;
        // the sums of every batch folded since the last verdict, each
        // under its own coin
        let CheckSums { u, w, uv } = self.folded.take().unwrap_or_else(CheckSums::new);
        let mut z = self.alpha_local(&w);
        z[0] = z[0].wrapping_sub(uv);
        self.add_zero_share(&mut z);
        let aw = self.reshare(z, 1)?;
        let t = u.sub(&aw);
        let rr = self.rand_rss(1);
        let mut z = mul_local(&t, &rr);
        self.add_zero_share(&mut z);
        let tr = self.reshare(z, 1)?;
        let e = if lie_here { self.fire_lie() } else { 0 };
        let opened = self.open_all_raw(&tr, 128, e, e, CHK_MAC)?[0];
        self.flag(CHK_MAC, opened.ct_eq(&0));
        // the proofs of the Boolean domain's AND gates (2m + 3 rounds when there are any)
        if prove_ands {
            self.and_proofs_in_step()?;
        }
        self.verdict()
    }

    /// The check's sums, under a fresh coin, over the pending sharings,
    /// `extra`, the fused layers' masks and the daBit batches (all dropped)
    /// and over `layers`, with the lazy layers' parts still to reshare.
    /// 1 round.
    fn check_sums(
        &mut self,
        extra: Option<&AuthShare>,
        layers: Vec<LayerClaim>,
    ) -> Result<(CheckSums, Vec<LazyLayer>)> {
        let r = self.rand_rss(1);
        let coin = self.open_all_raw(&r, 128, 0, 0, CHK_MAC)?[0];
        // One coefficient stream per checked item (pending sharing, daBit
        // batch, layer), seeded in order from the coin, so that the items'
        // sums run side by side: the parties' shares of this work differ
        // (zero weight components, pair bits), and the one with more then
        // takes an idle core. The results are added in the items' order.
        let mut seeds = Prg::new(&Seed::from_bytes(coin.to_le_bytes()));
        let pending = std::mem::take(&mut self.pending);
        let fused = std::mem::take(&mut self.fused_masks);
        let dabits = std::mem::take(&mut self.dabit_claims);
        let id = self.id();
        let jobs: Vec<(CheckItem, Prg)> = pending
            .iter()
            .chain(extra)
            .map(CheckItem::Pending)
            .chain(fused.iter().map(CheckItem::FusedMask))
            .chain(dabits.iter().map(CheckItem::DaBits))
            .chain(layers.into_iter().map(CheckItem::Layer))
            .map(|item| (item, seeds.fork()))
            .collect();
        let alpha = (self.alpha.a[0], self.alpha.b[0]);
        let parts: Vec<(CheckSums, Vec<LazyLayer>)> =
            jobs.into_par_iter().map(|(item, g)| item.sums(id, alpha, g)).collect();
        let mut sums = CheckSums::new();
        let mut lazy = Vec::new();
        for (s, l) in parts {
            sums.add(&s);
            lazy.extend(l);
        }
        Ok((sums, lazy))
    }

    /// Folds everything awaiting the MAC check (pending sharings, `extra`,
    /// fused layers' masks, daBit batches, bilinear layers) into the
    /// check's running sums (`self.folded`) under a coin of its own, and
    /// drops it. 1 round (the coin's opening), plus one where a layer's
    /// MAC operand is additive (its contraction, reshared). Sound as one
    /// check: each batch is fixed before its coin is drawn, so for the
    /// last batch with an error the total is that batch's random
    /// combination plus terms fixed before its coin (the bound of
    /// [`Aramis::verify`]).
    fn fold_checks(&mut self, extra: Option<&AuthShare>) -> Result<()> {
        let layers = std::mem::take(&mut self.layers);
        let (mut s, lazy) = self.check_sums(extra, layers)?;
        if !lazy.is_empty() {
            let mut flat: Vec<u128> = Vec::with_capacity(lazy.iter().map(|l| l.0.len()).sum());
            lazy.iter().for_each(|l| flat.extend_from_slice(&l.0));
            self.add_zero_share(&mut flat);
            let me = self.id();
            self.tick();
            self.send_u128s(prev(me), &flat)?;
            let b = self.recv_u128s(next(me), flat.len())?;
            let mut off = 0;
            for (ua, va, vb) in &lazy {
                let k = ua.len();
                s.uv =
                    s.uv.wrapping_add(uv_local(&flat[off..off + k], &b[off..off + k], va, vb));
                off += k;
            }
        }
        self.folded.get_or_insert_with(CheckSums::new).add(&s);
        Ok(())
    }

    /// Releases `x` mod 2^64 to party `to` (the data owner in inference):
    /// checkpoint first (batched MAC check covering `x` and everything
    /// pending, verdict round), then the redundant opening to `to`, then a
    /// confirmation verdict round so that all honest parties agree on the
    /// outcome. Returns `Some(values)` at `to`, `None` elsewhere; on any
    /// deviation every honest party gets [`AramisError::CheatingDetected`] and
    /// `to` gets no value (if the check fails, no share is even sent to it).
    /// Cost: 7 rounds; per party 130 bytes for the check (two 128-bit
    /// openings with hashes, two products, verdicts) and 1 byte for the
    /// confirmation, plus `8n` bytes and a 32-byte hash for the release.
    pub fn output_to(&mut self, to: PartyId, x: &AuthShare) -> Result<Option<Vec<u64>>> {
        check_party(to)?;
        self.enter(Step::Output)?;
        x.check("output")?;
        let me = self.id();
        let mut xs = x.clone();
        if !xs.is_empty() && self.fire_inconsistent() {
            xs.v.a[0] = xs.v.a[0].wrapping_add(1);
        }
        self.verify_inner(Some(&xs), me == to, true)?;
        let e = if me != to { self.fire_lie() } else { 0 };
        let y = self.open_to_raw(to, &xs.v, e, CHK_OUTPUT, true)?;
        self.verdict()?;
        Ok(y)
    }
}

/// This party's shares of the batched check's sums: `u` and `w`
/// (replicated), `uv` (3-out-of-3: additive MACs, the layers' `<u, v>`).
pub(crate) struct CheckSums {
    u: RShare,
    w: RShare,
    uv: u128,
}

impl CheckSums {
    pub(crate) fn new() -> CheckSums {
        CheckSums {
            u: RShare::zeros(1),
            w: RShare::zeros(1),
            uv: 0,
        }
    }

    fn add(&mut self, o: &CheckSums) {
        self.u = self.u.add(&o.u);
        self.w = self.w.add(&o.w);
        self.uv = self.uv.wrapping_add(o.uv);
    }

    /// A pending sharing's MAC relation, one coefficient per element
    /// (`rho` drawn block by block into a buffer: no vector as long as the
    /// sharing). 64-bit coefficients suffice: for an error `B_j` of 2-adic
    /// valuation `v >= 64` a coefficient uniform mod 2^64 makes `rho_j B_j`
    /// uniform among the multiples of 2^v mod 2^128, as a 128-bit one would,
    /// and the bound's worst case is `v = 77`; for `v < 64` the sum vanishes
    /// beyond bit `v + 64` with probability at most 2^-64
    /// (`docs/PROTOCOLS.md`, soundness).
    fn of_pending(x: &AuthShare, mut g: Prg) -> CheckSums {
        let mut c = CheckSums::new();
        let mut rho = [0u64; 512];
        let (mut ua, mut ub, mut wa, mut wb, mut uv) = (0u128, 0u128, 0u128, 0u128, 0u128);
        let additive = x.mac_is_additive();
        coin_blocks(&mut g, x.len(), &mut rho, |start, end, rho| {
            let ma = &x.m.a[start..end];
            if additive {
                uv = uv.wrapping_add(dot_w(ma, rho));
            } else {
                ua = ua.wrapping_add(dot_w(ma, rho));
                ub = ub.wrapping_add(dot_w(&x.m.b[start..end], rho));
            }
            wa = wa.wrapping_add(dot_w(&x.v.a[start..end], rho));
            wb = wb.wrapping_add(dot_w(&x.v.b[start..end], rho));
        });
        (c.u.a[0], c.u.b[0], c.w.a[0], c.w.b[0], c.uv) = (ua, ub, wa, wb, uv);
        c
    }

    /// A daBit batch: the anchors' MAC relations, as above, and the
    /// products z1 = S_0 S_1 and z2 = S_2 u (u = S_0 + S_1 - 2 z1) as
    /// element-wise claims against the anchors (one weight per element),
    /// with S_0, S_1, S_2 and u rebuilt from the pair bits.
    fn of_dabits(id: usize, dc: &DaBitClaim, mut g: Prg) -> CheckSums {
        let mut c = CheckSums::new();
        let mut rho = [0u64; 512];
        dc.add_check_terms(id, &mut g, &mut rho, &mut c.u, &mut c.w, &mut c.uv);
        c
    }

    /// A bilinear layer (Freivalds): with rank-one output weights r ⊗ s
    /// from the coin, `<u([alpha x]), v([y])> - alpha <r ⊗ s, [z]>` is 0
    /// for a right `z`; `<u, v>` is a local 3-out-of-3 product, it joins
    /// `uv`, `<r ⊗ s, [z]>` joins `w`. Where `x`'s MAC is additive, `u`
    /// must first be reshared (K elements per weighting, all such layers in
    /// one extra round): those contractions come back, with their `v`.
    fn of_layer(l: LayerClaim, mut g: Prg) -> (CheckSums, Vec<LazyLayer>) {
        let mut c = CheckSums::new();
        let (rows, cols) = l.map.grid();
        c.uv = c.uv.wrapping_add(l.lie);
        let ws: Vec<Weights> = (0..l.map.reps())
            .map(|_| Weights {
                r: g.gen_u64(rows),
                s: g.gen_u64(cols),
            })
            .collect();
        // (a weights component that is zero, as at two of the parties,
        // contracts to zero: skip the pass)
        let zero = |c: &[u128]| c.iter().all(|&v| v == 0);
        let (va, vb) = match (zero(&l.yv.a), zero(&l.yv.b)) {
            (true, false) => {
                let vb = l.map.contract_y(&l.yv.b, &ws);
                (vb.iter().map(|v| vec![0; v.len()]).collect(), vb)
            }
            (false, true) => {
                let va = l.map.contract_y(&l.yv.a, &ws);
                let vb = va.iter().map(|v| vec![0; v.len()]).collect();
                (va, vb)
            }
            _ => (l.map.contract_y(&l.yv.a, &ws), l.map.contract_y(&l.yv.b, &ws)),
        };
        let (za, zb) = (l.map.weigh(&l.zv.a, &ws), l.map.weigh(&l.zv.b, &ws));
        for t in 0..ws.len() {
            c.w.a[0] = c.w.a[0].wrapping_add(za[t]);
            c.w.b[0] = c.w.b[0].wrapping_add(zb[t]);
        }
        let xm = &l.xm;
        if xm.b.is_empty() && !xm.a.is_empty() {
            let ua = l.map.contract_x(&xm.a, &ws);
            return (c, ua.into_iter().zip(va).zip(vb).map(|((u, a), b)| (u, a, b)).collect());
        }
        let (ua, ub) = (l.map.contract_x(&xm.a, &ws), l.map.contract_x(&xm.b, &ws));
        for t in 0..ws.len() {
            c.uv = c.uv.wrapping_add(uv_local(&ua[t], &ub[t], &va[t], &vb[t]));
        }
        (c, Vec::new())
    }
}

/// A layer's contraction of an additive MAC (`u`, to be reshared) with
/// its `v` halves.
type LazyLayer = (Vec<u128>, Vec<u128>, Vec<u128>);

/// One item of the batched check.
enum CheckItem<'a> {
    Pending(&'a AuthShare),
    FusedMask(&'a crate::trunc::FusedMask),
    DaBits(&'a DaBitClaim),
    Layer(LayerClaim),
}

impl CheckItem<'_> {
    fn sums(self, id: usize, alpha: (u128, u128), mut g: Prg) -> (CheckSums, Vec<LazyLayer>) {
        match self {
            CheckItem::Pending(x) => (CheckSums::of_pending(x, g), Vec::new()),
            CheckItem::FusedMask(f) => {
                // (its MAC is additive: `uv`, as for a pending sharing)
                let mut c = CheckSums::new();
                (c.w.a[0], c.w.b[0], c.uv) = f.check_sums(id, alpha, &mut g);
                (c, Vec::new())
            }
            CheckItem::DaBits(dc) => (CheckSums::of_dabits(id, dc, g), Vec::new()),
            CheckItem::Layer(l) => CheckSums::of_layer(l, g),
        }
    }
}

/// Runs `f(start, end, coefficients)` over `0..n` in blocks of the
/// buffer's length, drawing each block's coefficients from the check's
/// coin stream `g` (the same stream at every party, no vector as long as
/// the sharing).
pub(crate) fn coin_blocks(g: &mut Prg, n: usize, buf: &mut [u64], mut f: impl FnMut(usize, usize, &[u64])) {
    for start in (0..n).step_by(buf.len()) {
        let end = (start + buf.len()).min(n);
        let c = &mut buf[..end - start];
        g.fill_u64(c);
        f(start, end, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openings_take_their_width_on_the_wire_and_round_trip() {
        let mut g = cryptflow_exec::testdata::Xorshift::new(0x9e37_79b9_7f4a_7c15);
        let mut next = || g.next_u128();
        for bits in [1u32, 2, 7, 8, 9, 64, 78, 127, 128] {
            for n in [0usize, 1, 7, 8, 9, 100] {
                let v: Vec<u128> = (0..n).map(|_| next() & width_mask(bits)).collect();
                let m = encode_width(&v, bits);
                let high: Vec<u128> = v.iter().map(|x| x | !width_mask(bits)).collect();
                assert_eq!(encode_width(&high, bits), m, "bits above the width are dropped");
                assert_eq!(m.len(), width_len(n, bits), "bits {bits}, n {n}");
                assert_eq!(decode_width(&m, n, bits), v, "bits {bits}, n {n}");
            }
        }
        assert_eq!(width_len(4096, 1), 512);
        assert_eq!(width_len(10, 78), 100);
    }
}
