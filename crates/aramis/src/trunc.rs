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

use crate::bilinear::{dot_w, Bilinear};
use crate::cheat::Step;
use crate::error::{AramisError, Result};
use crate::party::{Aramis, SoleOpenings, CHK_OPEN};
use crate::protocols::{put_width, read_width, uv_term, width_len};
use crate::share::{AuthShare, RShare};
use cryptflow_mpc::Prg;
use cryptflow_net::{next, prev, PartyId};

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
    /// `1 <= d < 36`. Everything awaiting the check is checked first
    /// ([`Aramis::settle_before_opening`]: the masked opening hides only
    /// values in range); the mask's MAC joins the next batched check.
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
        // (x and everything before it are checked before the opening)
        self.settle_before_opening()?;
        self.enter(Step::Trunc)?;
        x.check("trunc")?;
        check_shift(d)?;
        let id = self.id();
        let (r, rhi) = self.trunc_mask(x.len(), d, lazy)?;

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
        Ok(self.trunc_output(&c, d, rhi))
    }

    /// The mask `[r]` (components below 2^76 from the pair streams) and
    /// `[r >> d]` with its MAC: this party's additive share of
    /// `[alpha] [r >> d]` if `lazy`, else a reshared one.
    fn trunc_mask(&mut self, n: usize, d: u32, lazy: bool) -> Result<(RShare, AuthShare)> {
        let (ra, rb) = self.mask_components(n);
        let r = RShare {
            a: ra.into(),
            b: rb.into(),
        };
        let rhi = r.map(|c| c.iter().map(|v| v >> d).collect());
        let rhi = if lazy {
            let mut m = self.alpha_local(&rhi);
            if let Some(f) = m.first_mut() {
                // tag forgery on the mask's additive MAC share
                *f = f.wrapping_add(self.fire_lie());
            }
            AuthShare {
                v: rhi,
                m: RShare {
                    a: m.into(),
                    b: Vec::new().into(),
                },
            }
        } else {
            self.authenticate(rhi)?
        };
        Ok((r, rhi))
    }

    /// This party's two mask components, below 2^76, from the pair streams
    /// (all of `prev`'s, then all of `next`'s), with the cheat hook of a
    /// component that differs from the other holder's copy.
    fn mask_components(&mut self, n: usize) -> (Vec<u128>, Vec<u128>) {
        let cmask = (1u128 << TRUNC_COMPONENT_BITS) - 1;
        let mut ra = self.p.prg_prev().gen_u128(n);
        let mut rb = self.p.prg_next().gen_u128(n);
        ra.iter_mut().chain(rb.iter_mut()).for_each(|v| *v &= cmask);
        if n > 0 && self.fire_inconsistent() {
            ra[0] ^= 1 << 40;
        }
        (ra, rb)
    }

    /// `(c >> d) - 2^(36-d) - 1 - [r_hi]` from the opened `c`; the mask's
    /// high part joins the next check.
    fn trunc_output(&mut self, c: &[u128], d: u32, rhi: AuthShare) -> AuthShare {
        let sub = (1u128 << (TRUNC_VALUE_BITS - d)) + 1;
        let out = self.public_minus(c.iter().map(|&c| (c >> d).wrapping_sub(sub)), &rhi);
        self.pending.push(rhi);
        out
    }

    /// A bilinear layer and its truncation in one opening (the backend's
    /// Conv/MatMul): the result of [`Aramis::mul_bilinear_values`] then
    /// [`Aramis::trunc_values_lazy`], without resharing `f(x, y)`. Each
    /// party forms its masked 3-out-of-3 share `c_i = z_i + a_i + r_i
    /// (+ 2^36 at party 0)` mod 2^78 (`z_i` its local share of `f(x, y)`,
    /// `a_i` its share of a zero sharing, which hides `c_i` from its
    /// receiver, `r_i` its own mask component); the layer's king (party
    /// `k mod 3` for the session's `k`-th such layer) receives the other
    /// two, and sends the sum `c = f(x, y) + 2^36 + r` (it never wraps, as
    /// in [`Aramis::trunc`]) to both. The two receivers compare digests of
    /// every sum they got this way at the next checkpoint (keyed GF(2^64)
    /// digests, [`crate::party::SoleOpenings`]), and the layer's check
    /// takes `c - 2^36 - [r]`, the value the truncation actually used, as
    /// the layer's result: a wrong `c_i`, or a wrong or inconsistent sum,
    /// is caught there. 2 rounds, 40 bytes per output element in all
    /// (against 48 + 30 and 2 rounds for a reshare and a truncation), plus
    /// an 8-byte digest per party at the checkpoint. For the cheat hook a
    /// message to `next` is the layer's (`Step::Bilinear`), one to `prev`
    /// the truncation's (`Step::Trunc`).
    pub fn bilinear_trunc_lazy<B: Bilinear + 'static>(
        &mut self,
        x: &AuthShare,
        y: &RShare,
        y_input_of: Option<PartyId>,
        map: B,
        d: u32,
    ) -> Result<AuthShare> {
        check_shift(d)?;
        // (everything before this layer is checked before its opening)
        self.settle_before_opening()?;
        self.enter(Step::Bilinear)?;
        // (c is sent and used mod 2^78 only: the map may skip the bits above)
        let mut c = self.bilinear_local(x, y, y_input_of, &map, TRUNC_OPEN_BITS)?;
        let n = c.len();
        self.add_zero_share(&mut c);
        // an additive attack on the layer's product (applied below)
        let e_product = self.fire_add_error();
        // a `Lie` here is a false share of this layer's check
        let lie = self.fire_lie();

        self.enter(Step::Trunc)?;
        // The mask's components (their high parts and the high part's
        // additive MAC are computed in the last pass below)
        let (ra, rb) = self.mask_components(n);
        // tag forgery on the mask's additive MAC share (element 0)
        let forged = self.fire_lie();
        let me = self.id();
        let offset = if me == 0 { 1u128 << TRUNC_VALUE_BITS } else { 0 };
        let open_mask = (1u128 << TRUNC_OPEN_BITS) - 1;
        // the product's or the opened share's error on element 0 (one that
        // would vanish mod 2^78 on the wire becomes 1)
        let e = e_product.wrapping_add(self.fire_add_error());
        let e = if e != 0 && e & open_mask == 0 { 1 } else { e };
        // The opening goes through one party, the king (layer k: party k
        // mod 3, so the work rotates): the other two send it their c_i, it
        // sends back the sum c (40 B per element over the parties instead
        // of 60 B with everyone sending everyone its share; one more
        // round). A king that sends its two neighbours different sums is
        // caught by their digests at the next checkpoint; a consistent
        // wrong sum, or a wrong c_i, is an error in the layer's result,
        // which the layer's check catches. The steps of the cheat hook: a
        // message to `next` is `Bilinear`, one to `prev` is `Trunc`.
        let king = self.fused_openings % 3;
        self.fused_openings += 1;
        // c_i = z_i + a_i + r_i (+ 2^36), mod 2^78 on the wire, encoded in
        // the same pass (by the other two; the king encodes the sum)
        let w = TRUNC_OPEN_BITS.div_ceil(8) as usize;
        let mut msg = vec![0u8; n * w + 16];
        for (j, (c, a)) in c.iter_mut().zip(&ra).enumerate() {
            let err = if j == 0 { e } else { 0 };
            *c = c.wrapping_add(*a).wrapping_add(offset).wrapping_add(err);
            if me != king {
                put_width(&mut msg, j, w, *c & open_mask);
            }
        }
        let len = width_len(n, TRUNC_OPEN_BITS);
        let step_to = |to: PartyId| if to == next(me) { Step::Bilinear } else { Step::Trunc };
        self.tick();
        // `opened`: the encoded sum c, as the king sends it and as the others
        // receive it (also kept for the mask's check)
        let opened = if me == king {
            let from_prev = self.recv(prev(me), len)?;
            let from_next = self.recv(next(me), len)?;
            // the public sum, encoded over this party's own share
            for (j, c) in c.iter().enumerate() {
                let sum = c
                    .wrapping_add(read_width(&from_prev, j, TRUNC_OPEN_BITS))
                    .wrapping_add(read_width(&from_next, j, TRUNC_OPEN_BITS));
                put_width(&mut msg, j, w, sum & open_mask);
            }
            drop((from_prev, from_next));
            msg.truncate(n * w);
            // (it receives no sum, but takes part in the digests' round at
            // the checkpoint like every party: its digest slots stay 0)
            self.sole_openings.get_or_insert_with(SoleOpenings::default);
            self.tick();
            self.enter(Step::Bilinear)?;
            self.send(next(me), msg.clone())?;
            self.enter(Step::Trunc)?;
            self.send(prev(me), msg.clone())?;
            msg
        } else {
            msg.truncate(n * w);
            self.enter(step_to(king))?;
            self.send(king, msg)?;
            self.enter(Step::Trunc)?;
            self.tick();
            let got = self.recv(king, len)?;
            // keyed digest of the king's sum, the keys from the stream
            // shared with its other receiver (which the king never sees)
            let words = len.div_ceil(8);
            let king_is_prev = king == prev(me);
            let keys = if king_is_prev {
                self.p.prg_next().gen_u64(words)
            } else {
                self.p.prg_prev().gen_u64(words)
            };
            let d = SoleOpenings::digest(&got, &keys);
            let s = self.sole_openings.get_or_insert_with(SoleOpenings::default);
            if king_is_prev {
                s.from_prev ^= d;
            } else {
                s.from_next ^= d;
            }
            got
        };

        // One pass over the elements: the opened c (the king's sum);
        // the layer's result as the truncation used it, c - 2^36 - [r] (the
        // claim; the public part is component 0: party 0's `a`, party 2's
        // `b`); the mask's high part [r_hi] = [r >> d] and this party's
        // additive share of its MAC, `alpha_local`; the output
        // (c >> d) - 2^(36-d) - 1 - [r_hi], whose MAC is `alpha` times the
        // public part minus the mask's ([`Aramis::public_minus`])
        let (on_a, on_b) = (me == 0, me == 2);
        let base = 1u128 << TRUNC_VALUE_BITS;
        let sub = (1u128 << (TRUNC_VALUE_BITS - d)) + 1;
        let (aa, ab) = (self.alpha.a[0], self.alpha.b[0]);
        let keep = |on: bool, v: u128| if on { v } else { 0 };
        // (filled by push: zero-filled buffers cost a memset each)
        let cap = || Vec::with_capacity(n);
        let (mut za, mut zb) = (cap(), cap());
        let (mut va, mut vb, mut ma) = (cap(), cap(), cap());
        for (j, (&a, &b)) in ra.iter().zip(&rb).enumerate() {
            let cj = read_width(&opened, j, TRUNC_OPEN_BITS);
            za.push(keep(on_a, cj.wrapping_sub(base)).wrapping_sub(a));
            zb.push(keep(on_b, cj.wrapping_sub(base)).wrapping_sub(b));
            let (h, k, m) = mask_high(a, b, d, (aa, ab));
            let t = (cj >> d).wrapping_sub(sub);
            va.push(keep(on_a, t).wrapping_sub(h));
            vb.push(keep(on_b, t).wrapping_sub(k));
            ma.push(t.wrapping_mul(aa).wrapping_sub(m));
        }
        if n > 0 && forged != 0 {
            ma[0] = ma[0].wrapping_sub(forged);
        }
        drop((c, ra, rb));
        let zv = RShare {
            a: za.into(),
            b: zb.into(),
        };
        // the mask's high part, with its additive MAC, joins the next
        // check, kept as the claim's result and the opened sum, from which
        // the check recomputes it (42 B per element instead of 48 more)
        self.fused_masks.push(FusedMask {
            z: zv.clone(),
            c: opened,
            d,
            forged,
        });
        self.claim(Box::new(map), x, y, zv, lie);
        Ok(AuthShare {
            v: RShare {
                a: va.into(),
                b: vb.into(),
            },
            m: RShare {
                a: ma.into(),
                b: Vec::new().into(),
            },
        })
    }
}

/// A fused layer's mask high part `[r >> d]` and its additive MAC
/// awaiting the check (`Aramis::bilinear_trunc_lazy`), kept as what they
/// are recomputed from: this party's components of the layer's result
/// `z = c - 2^36 - [r]` (shared with the layer's claim) and the opened sum
/// `c`, so `r_j = [public part] (c - 2^36) - z_j`, exactly as the layer
/// pass had them (a cheat's altered component included).
pub(crate) struct FusedMask {
    pub z: RShare,
    /// The opened sums, 78-bit elements as on the wire (public).
    pub c: Vec<u8>,
    pub d: u32,
    /// Cheat hook: what this party added to element 0's MAC share.
    pub forged: u128,
}

impl FusedMask {
    pub fn len(&self) -> usize {
        self.z.len()
    }

    /// This party's `(sum rho_j h_j, sum rho_j k_j, sum rho_j m_j)` over the
    /// high parts' components `(h, k)` and additive MAC shares `m`, with
    /// `rho` drawn block by block from `g` (as `coin_blocks`).
    pub fn check_sums(&self, me: PartyId, alpha: (u128, u128), g: &mut Prg) -> (u128, u128, u128) {
        const B: usize = 512;
        let (on_a, on_b) = (me == 0, me == 2);
        let base = 1u128 << TRUNC_VALUE_BITS;
        let keep = |on: bool, v: u128| if on { v } else { 0 };
        let (mut rho, mut h, mut k, mut m) = ([0u64; B], [0u128; B], [0u128; B], [0u128; B]);
        let (mut wa, mut wb, mut uv) = (0u128, 0u128, 0u128);
        crate::protocols::coin_blocks(g, self.len(), &mut rho, |start, end, rho| {
            for (i, j) in (start..end).enumerate() {
                let cj = read_width(&self.c, j, TRUNC_OPEN_BITS).wrapping_sub(base);
                let a = keep(on_a, cj).wrapping_sub(self.z.a[j]);
                let b = keep(on_b, cj).wrapping_sub(self.z.b[j]);
                (h[i], k[i], m[i]) = mask_high(a, b, self.d, alpha);
            }
            if start == 0 && end > 0 {
                m[0] = m[0].wrapping_add(self.forged);
            }
            let len = end - start;
            uv = uv.wrapping_add(dot_w(&m[..len], rho));
            wa = wa.wrapping_add(dot_w(&h[..len], rho));
            wb = wb.wrapping_add(dot_w(&k[..len], rho));
        });
        (wa, wb, uv)
    }
}

/// A mask's high part `(a >> d, b >> d)` from this party's components
/// `(a, b)`, and its local share of `alpha` times it (the additive MAC),
/// alike in the layer's pass and in the check that recomputes them.
#[inline(always)]
fn mask_high(a: u128, b: u128, d: u32, (aa, ab): (u128, u128)) -> (u128, u128, u128) {
    let (h, k) = (a >> d, b >> d);
    (h, k, uv_term(aa, ab, h, k))
}

/// Shifts the truncation takes: `1..TRUNC_VALUE_BITS`.
fn check_shift(d: u32) -> Result<()> {
    if d == 0 || d >= TRUNC_VALUE_BITS {
        return Err(AramisError::Param(format!(
            "truncation by {d} bits (1..{TRUNC_VALUE_BITS})"
        )));
    }
    Ok(())
}
