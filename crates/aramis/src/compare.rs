//! Comparisons: authenticated random bits and daBits, DReLU, ReLU, max.
//!
//! DReLU is the most significant bit of `x' = x + 2^L` (`|x| < 2^L`,
//! `L = bits - 1`), computed in the Boolean domain of [`crate::small`] from
//! the bits of the three **share components** of `x'` (the ABY3 local
//! decomposition, Mohassel-Rindal CCS 2018 §5.3, made malicious-secure by
//! the replication: each component's bits are known to its two holders, so
//! the bit sharings are consistent unless a holder deviates, which the
//! AND-gate proofs and the opening's redundancy catch):
//!
//! 1. `Step::BitGen`: the component bits (no communication), one daBit
//!    per element (`b_0 xor b_1 xor b_2` from the pair streams, in both
//!    domains), and P1's own sum of components 1 and 2, whose carries it
//!    shares with P0 (stream) and P2 (message) and proves alone (the
//!    adder proof, `small::Aramis::prove_one`);
//! 2. `Step::CmpChain`: the ripple carry of component 0 plus that sum into
//!    bit L (one AND per bit, sequential); the gates are proved at the
//!    next checkpoint;
//! 3. `Step::CmpOpen`: open `msb xor d` mod 2 and convert to an exact 0/1
//!    value with the daBit's 128-bit half;
//! 4. `Step::Select`: `relu(x) = DReLU(x) * x` (one 128-bit product).
//!
//! Cost per element for `w = bits`: per party `w - 1` AND bits and the
//! opened bit, P1's `w - 1` carry bits to P2, the daBit's 112 bytes over
//! the three parties; rounds `w + 4` (docs/PROTOCOLS.md).

use crate::bilinear::dot_w;
use crate::cheat::Step;
use crate::error::{AramisError, Result};
use crate::party::{Aramis, CHK_OPEN};
use crate::protocols::coin_blocks;
use crate::share::{AuthShare, RShare};
use crate::small::{mask_tails, words, xor, AndLog, Bits, ADDER_PROVER};
use cryptflow_mpc::party::{pack_bits, unpack_bits};
use cryptflow_mpc::Prg;
use cryptflow_net::{next, prev};

/// Elements per comparison round trip (bounds the memory of the bit sharings).
pub const COMPARE_CHUNK: usize = 1 << 18;
/// After each comparison chunk everything awaiting the MAC check is folded
/// into the check's sums (`Aramis::checkpoint_if_over`) where more than
/// this many elements wait (a daBit counts 4): the chunk's daBit batch and
/// the sharings before it go before the select's product is made.
pub const FOLD_LIMIT: usize = 1 << 16;

/// Bits `0..w` of each element as `w` planes of packed bits (plane `t`,
/// word `e / 64`, bit `e % 64` = bit `t` of `v[e]`), by 64 x 64 bit-matrix
/// transposes (six rounds of masked swaps per 64 elements instead of a
/// shift per bit and element).
fn bit_planes(v: &[u128], w: usize, offset: u128) -> Vec<u64> {
    let wp = words(v.len());
    let mut out = vec![0u64; w * wp];
    for (blk, chunk) in v.chunks(64).enumerate() {
        let mut m = [0u64; 64];
        for (d, x) in m.iter_mut().zip(chunk) {
            *d = x.wrapping_add(offset) as u64;
        }
        transpose64(&mut m);
        for (t, row) in m.iter().take(w).enumerate() {
            out[t * wp + blk] = *row;
        }
    }
    out
}

/// In-place transpose of a 64 x 64 bit matrix, row `i` = word `i`, column
/// `j` = bit `j`: swap the off-diagonal blocks of halves, then quarters, ...
fn transpose64(a: &mut [u64; 64]) {
    let mut j = 32;
    let mut mask: u64 = 0x0000_0000_ffff_ffff;
    while j != 0 {
        let mut k = 0;
        while k < 64 {
            let t = ((a[k] >> j) ^ a[k + j]) & mask;
            a[k] ^= t << j;
            a[k + j] ^= t;
            k = (k + j + 1) & !j;
        }
        j >>= 1;
        mask ^= mask << j;
    }
}

/// A batch of daBits awaiting the checkpoint: the anchors `[alpha b_0]`,
/// `[alpha b_2]` (their MAC relations) and the claims `z1 = b_0 b_1`,
/// `z2 = u b_2` (`u = b_0 + b_1 - 2 z1`), checked as element-wise products
/// against the anchors (`Hadamard` claims). The sharings `S_j` (pair bit
/// `b_j` as component `j`, zeros elsewhere) and `u` are rebuilt from this
/// party's two packed pair-bit vectors, so the claim holds about 128 bytes
/// per bit instead of 256.
pub(crate) struct DaBitClaim {
    /// This party's pair bits, packed: component `id` (`own`) and `id + 1`.
    pub own: Vec<u64>,
    pub next_bits: Vec<u64>,
    pub m0: RShare,
    pub m2: RShare,
    pub z1: RShare,
    pub z2: RShare,
}

impl DaBitClaim {
    /// Elements counted against the checkpoint limit, by the memory held:
    /// about four of the 32-byte replicated elements a logged layer's
    /// operands count in (counted as the six sharings they stand for, they
    /// filled the limit sooner for the same memory: ResNet50 6,091 -> 5,968
    /// rounds, 14.7 -> 14.1 s in alternating runs, the same peak).
    pub fn elements(&self) -> usize {
        4 * self.z1.len()
    }

    /// Adds this batch's terms to the checkpoint's sums (see
    /// `protocols::verify_inner`): the anchors' MAC relations (`u` gets
    /// `sum rho [alpha b_j]`, `w` gets `sum rho S_j`) and the claims
    /// `z1 = S_0 S_1`, `z2 = S_2 u` against the anchors, one weight `s_e`
    /// per element (`w` gets `sum s z`, `uv` this party's 3-out-of-3 share
    /// of `sum s_e [alpha b_j]_e y_e`, `y = S_1` or `u`). `S_j` and `u` come
    /// from the packed pair bits: a pair bit selects instead of multiplying.
    pub(crate) fn add_check_terms(
        &self,
        id: usize,
        g: &mut Prg,
        rho: &mut [u64],
        u: &mut RShare,
        w: &mut RShare,
        uv: &mut u128,
    ) {
        let n = self.z1.len();
        let (own, nxt) = (&self.own, &self.next_bits);
        // whether this party's `a` / `b` of S_j is its pair bit (else 0)
        let on = |j: usize| (j == id, j == (id + 1) % 3);
        let add = |acc: &mut u128, v: u128| *acc = acc.wrapping_add(v);
        for (j, m) in [(0, &self.m0), (2, &self.m2)] {
            let (on_a, on_b) = on(j);
            coin_blocks(g, n, rho, |start, end, rho| {
                add(&mut u.a[0], dot_w(&m.a[start..end], rho));
                add(&mut u.b[0], dot_w(&m.b[start..end], rho));
                if on_a {
                    add(&mut w.a[0], masked_sum(own, start, rho));
                }
                if on_b {
                    add(&mut w.b[0], masked_sum(nxt, start, rho));
                }
            });
        }
        // one element's share of [alpha b_j] y: m_a (y_a + y_b) + m_b y_a
        let term = |m: &RShare, e: usize, ya: u128, yb: u128| {
            m.a[e]
                .wrapping_mul(ya.wrapping_add(yb))
                .wrapping_add(m.b[e].wrapping_mul(ya))
        };
        let (s1a, s1b) = on(1);
        let (z1, z2) = (&self.z1, &self.z2);
        coin_blocks(g, n, rho, |start, end, s| {
            add(&mut w.a[0], dot_w(&z1.a[start..end], s));
            add(&mut w.b[0], dot_w(&z1.b[start..end], s));
            if !(s1a || s1b) {
                // (this party holds no component of S_1: its terms are 0)
                return;
            }
            let m0 = &self.m0;
            for (k, &sk) in s.iter().enumerate() {
                let e = start + k;
                // y = S_1, bits: the term selects instead of multiplying,
                // (y_a ? m_a + m_b : 0) + (y_b ? m_a : 0)
                let ya = ((s1a as u64 & bit(own, e)) as u128).wrapping_neg();
                let yb = ((s1b as u64 & bit(nxt, e)) as u128).wrapping_neg();
                let t = (m0.a[e].wrapping_add(m0.b[e]) & ya).wrapping_add(m0.a[e] & yb);
                add(uv, t.wrapping_mul(sk as u128));
            }
        });
        // y = u = S_0 + S_1 - 2 z1 (S_0 and S_1 never both use the same bit)
        let (s0a, s0b) = on(0);
        let (ua_on, ub_on) = ((s0a || s1a) as u64, (s0b || s1b) as u64);
        coin_blocks(g, n, rho, |start, end, s| {
            add(&mut w.a[0], dot_w(&z2.a[start..end], s));
            add(&mut w.b[0], dot_w(&z2.b[start..end], s));
            for (k, &sk) in s.iter().enumerate() {
                let e = start + k;
                let ya = ((ua_on & bit(own, e)) as u128).wrapping_sub(z1.a[e].wrapping_mul(2));
                let yb = ((ub_on & bit(nxt, e)) as u128).wrapping_sub(z1.b[e].wrapping_mul(2));
                add(uv, term(&self.m2, e, ya, yb).wrapping_mul(sk as u128));
            }
        });
    }
}

/// `sum_k rho[k] * bit(bits, start + k)`: a weighted count of set bits.
fn masked_sum(bits: &[u64], start: usize, rho: &[u64]) -> u128 {
    rho.iter()
        .enumerate()
        .map(|(k, &r)| (r & bit(bits, start + k).wrapping_neg()) as u128)
        .fold(0u128, u128::wrapping_add)
}

/// Bit `e` of a packed bit vector.
#[inline]
fn bit(v: &[u64], e: usize) -> u64 {
    (v[e / 64] >> (e % 64)) & 1
}

/// `k` where bit `e` of `v` is set, else 0.
#[inline]
fn if_bit(v: &[u64], e: usize, k: u128) -> u128 {
    k & (bit(v, e) as u128).wrapping_neg()
}

impl Aramis {
    /// `n` random bits as exact 0/1 values in the 128-bit domain (value
    /// shares, no MAC), uniform and unknown to every single party (runs
    /// inside the caller's step), with this party's two packed pair-bit
    /// vectors (`b_id`, `b_(id+1)`), which are the same bits' Boolean
    /// sharing. `b = b_0 ^ b_1 ^ b_2` takes two element-wise
    /// products, `u = b_0 + b_1 - 2 b_0 b_1` and `b = u + b_2 - 2 u b_2`, each
    /// checked at the next checkpoint against one authenticated operand
    /// (`[alpha b_0]`, `[alpha b_2]`); `b_0 b_1`, which P0 knows, is P0's
    /// input to P1; the anchors and `u b_2`, where one party's local share
    /// is zero, are made by the other two alone. Over the three parties:
    /// 64 (anchors) + 16 (`b_0 b_1`) + 32 (`u b_2`) = 112 bytes per bit.
    /// The `S_j` are never written out: every vector below is computed from
    /// the packed bits in one pass.
    fn random_bits_raw(&mut self, n: usize) -> Result<(Vec<u64>, Vec<u64>, RShare)> {
        let mut own = self.p.prg_prev().gen_bits(n);
        let next_bits = self.p.prg_next().gen_bits(n);
        if n > 0 && self.fire_inconsistent() {
            // a pair bit that the other holder does not have
            own[0] ^= 1;
        }
        // Party i holds component i (from k_i, its `a`) and i+1 (its `b`).
        // Sharing S_j has component j = b_j and zeros elsewhere.
        let id = self.id();
        let (aa, ab) = (self.alpha.a[0], self.alpha.b[0]);
        // this party's local share of alpha S_j: aa (a + b) + ab a with
        // a = [j = id] b_id, b = [j = id + 1] b_(id+1)
        let alpha_s = |j: usize| -> Vec<u128> {
            let ka = if j == id { aa.wrapping_add(ab) } else { 0 };
            let kb = if j == (id + 1) % 3 { aa } else { 0 };
            (0..n)
                .map(|e| if_bit(&own, e, ka).wrapping_add(if_bit(&next_bits, e, kb)))
                .collect()
        };
        // The anchors [alpha b_0], [alpha b_2]: the local key product of S_0
        // is zero at P1 (its components 1 and 2 of S_0 are 0), that of S_2
        // at P0, so each is made by the other two parties
        // alone (32 B instead of a 48 B reshare), both in one round. Their
        // MAC relations join the check, so that a forged MAC share is caught
        // even where the product it anchors is by 0.
        let (t0, t2) = (
            if id != 1 { alpha_s(0) } else { Vec::new() },
            if id != 0 { alpha_s(2) } else { Vec::new() },
        );
        let lie = |me: &mut Aramis, o: usize| if id != o { me.fire_lie() } else { 0 };
        self.tick();
        let e = lie(self, 1);
        let h0 = self.reshare_without_send(1, n, t0, e)?;
        let e = lie(self, 0);
        let h2 = self.reshare_without_send(0, n, t2, e)?;
        let m0 = self.reshare_without_recv(h0)?;
        let m2 = self.reshare_without_recv(h2)?;
        // b_0 b_1 is known to P0 (it holds components 0 and 1): P0 shares it
        // like an input, to P1 alone (16 B per bit instead of a reshare by
        // all three), and the claim checks it like any product
        let mut b01: Option<Vec<u128>> =
            (id == 0).then(|| (0..n).map(|e| if_bit(&own, e, bit(&next_bits, e) as u128)).collect());
        if let Some(v) = b01.as_mut().filter(|v| !v.is_empty()) {
            // P0's additive attack: a wrong product, which its claim catches
            v[0] = v[0].wrapping_add(self.fire_add_error());
        }
        // (a bit: shared in the small form, 10 B instead of 16)
        let z1 = self.input_one_receiver(0, b01.as_deref(), n, true)?;
        // u = S_0 + S_1 - 2 z1: this party's `a` of S_0 + S_1 is b_id where
        // id is 0 or 1, its `b` is b_(id+1) where id + 1 is 0 or 1
        let (ua_on, ub_on) = (id != 2, id != 1);
        let mut u = RShare {
            a: (0..n)
                .map(|e| if_bit(&own, e, ua_on as u128).wrapping_sub(z1.a[e].wrapping_mul(2)))
                .collect(),
            b: (0..n)
                .map(|e| if_bit(&next_bits, e, ub_on as u128).wrapping_sub(z1.b[e].wrapping_mul(2)))
                .collect(),
        };
        // u b_2: u has no component 2 and S_2 only component 2, so P0's
        // local share of the product is zero and P1, P2 make the sharing
        // alone (32 B instead of a 48 B reshare); checked like any product.
        // The local share S_2.a (u.a + u.b) + S_2.b u.a: P2's S_2.a is b_2
        // (its own), P1's S_2.b is b_2 (its next)
        let local: Vec<u128> = match id {
            2 => (0..n).map(|e| if_bit(&own, e, u.a[e].wrapping_add(u.b[e]))).collect(),
            1 => (0..n).map(|e| if_bit(&next_bits, e, u.a[e])).collect(),
            _ => Vec::new(),
        };
        let e = if id != 0 { self.fire_add_error() } else { 0 };
        let z2 = self.reshare_without(0, n, local, e)?;
        // b = u + S_2 - 2 z2, in place over u
        let (sa_on, sb_on) = (id == 2, id == 1);
        let (ua, ub): (&mut Vec<u128>, &mut Vec<u128>) = (&mut u.a, &mut u.b);
        for e in 0..n {
            ua[e] = ua[e]
                .wrapping_add(if_bit(&own, e, sa_on as u128))
                .wrapping_sub(z2.a[e].wrapping_mul(2));
            ub[e] = ub[e]
                .wrapping_add(if_bit(&next_bits, e, sb_on as u128))
                .wrapping_sub(z2.b[e].wrapping_mul(2));
        }
        // the anchors' MAC relations and the two products join the check,
        // kept compactly: the pair bits (from which the checkpoint rebuilds
        // S_0, S_1, S_2 and u), the anchors' MACs and the two products
        self.dabit_claims.push(DaBitClaim {
            own: own.clone(),
            next_bits: next_bits.clone(),
            m0,
            m2,
            z1,
            z2,
        });
        Ok((own, next_bits, u))
    }

    /// `n` random bits held both as exact 0/1 values (128-bit domain, no
    /// MAC) and in the Boolean domain (daBits, Rotaru-Wood INDOCRYPT 2019,
    /// here from the same pair bits: consistent by the replication).
    fn dabits(&mut self, n: usize) -> Result<(RShare, Bits)> {
        let (own, next_bits, big) = self.random_bits_raw(n)?;
        Ok((
            big,
            Bits {
                a: own,
                b: next_bits,
                len: n,
                planes: 1,
            },
        ))
    }

    /// `n` authenticated random bits (`Step::BitGen`).
    pub fn random_bits(&mut self, n: usize) -> Result<AuthShare> {
        self.enter(Step::BitGen)?;
        let b = self.random_bits_raw(n)?.2;
        self.authenticated(b)
    }

    /// `[x >= 0]` as an authenticated 0/1 value, for `|x| < 2^(bits-1)`,
    /// `2 <= bits <= 64` (values outside give a wrong bit, never a leak).
    ///
    /// Long vectors run in chunks of [`COMPARE_CHUNK`] elements, each
    /// followed by a fold of the checks once [`FOLD_LIMIT`] elements await
    /// them, so memory stays bounded (each element of a 28-bit comparison
    /// leaves a daBit batch of six 128-bit sharings to check, 27 logged AND
    /// gates and 27 carry statements of the adder to prove).
    pub fn drelu(&mut self, x: &AuthShare, bits: u32) -> Result<AuthShare> {
        let d = self.drelu_values(x, bits)?;
        self.authenticated(d)
    }

    /// [`Aramis::drelu`] without the final MAC (value shares; the products
    /// that made them are checked at the next checkpoint).
    fn drelu_values(&mut self, x: &AuthShare, bits: u32) -> Result<RShare> {
        // (only the values are read: the MAC may be of either kind)
        x.v.check("drelu")?;
        let n = x.len();
        // (each chunk reads its slice of the value components and appends
        // its DReLU values: no copy of the chunk, none of the results)
        let mut out = [Vec::with_capacity(n), Vec::with_capacity(n)];
        for start in (0..n.max(1)).step_by(COMPARE_CHUNK) {
            let end = (start + COMPARE_CHUNK).min(n);
            self.drelu_chunk(&x.v.a[start..end], &x.v.b[start..end], bits, &mut out)?;
            // the chunk's daBit batch, and everything else awaiting the
            // check, into the check's sums now, not at the next verdict
            self.checkpoint_if_over(FOLD_LIMIT)?;
        }
        let [a, b] = out;
        Ok(RShare {
            a: a.into(),
            b: b.into(),
        })
    }

    fn drelu_chunk(&mut self, xa: &[u128], xb: &[u128], bits: u32, out: &mut [Vec<u128>; 2]) -> Result<()> {
        if !(2..=64).contains(&bits) {
            return Err(AramisError::Param(format!("comparison width {bits} (2..64)")));
        }
        let n = xa.len();
        let w = bits as usize;
        let l = w - 1;
        let id = self.id();

        // Stage 1 (bitgen): bits 0..=L of the three share components of
        // x' = x + 2^L, each known to the component's two holders (so their
        // sharings cost nothing); P1's own sum of components 1 and 2, its
        // carries proved by P1 alone (`component_sum`); daBits for the
        // final conversion.
        self.enter(Step::BitGen)?;
        // (the public 2^L is component 0: party 0's `a`, party 2's `b`)
        let on = |holds: bool| if holds { 1u128 << l } else { 0 };
        let wp = words(n);
        let (mut own, nxt) = (bit_planes(xa, w, on(id == 0)), bit_planes(xb, w, on(id == 2)));
        if n > 0 && self.fire_inconsistent() {
            // bit L of element 0 enters the opened bit directly
            own[l * wp] ^= 1;
        }
        let (a, y) = self.component_sum(xa, xb, &own, &nxt, w)?;
        let (d_big, d_small) = self.dabits(n)?;

        // Stage 2 (cmp-chain): the ripple carry of a + y into bit L,
        // carries maj(a, y, c) = a ^ ((a ^ y) & (a ^ c)), one AND per bit,
        // sequential: L ANDs (the first, c_1 = a_0 y_0, is the AND itself).
        self.enter(Step::CmpChain)?;
        let mut carry = self.and(&a.planes(0..1), &y.planes(0..1))?;
        for t in 1..l {
            let (at, yt) = (a.planes(t..t + 1), y.planes(t..t + 1));
            let q = self.and(&at.xor(&yt), &at.xor(&carry))?;
            carry = at.xor(&q);
        }
        let msb = a.planes(l..l + 1).xor(&y.planes(l..l + 1)).xor(&carry);

        // Stage 3 (cmp-open): open msb ^ d mod 2 (uniform: d is a random bit).
        self.enter(Step::CmpOpen)?;
        let masked = msb.xor(&d_small);
        let mut r = RShare {
            a: (0..n).map(|e| masked.bit(0, e).0 as u128).collect(),
            b: (0..n).map(|e| masked.bit(0, e).1 as u128).collect(),
        };
        if n > 0 && self.fire_inconsistent() {
            r.a[0] ^= 1;
        }
        let e_add = self.fire_add_error();
        let e_lie = self.fire_lie();
        let e = self.open_all_raw(&r, 1, e_add.wrapping_add(e_lie), e_lie, CHK_OPEN)?;

        // DReLU = msb as an exact 0/1 value: e ^ d = e + d (1 - 2e), that is
        // d where e = 0 and 1 - d where e = 1 (the public 1 as component 0)
        let side = |o: &mut Vec<u128>, c: &[u128], holds_one: bool| {
            let one = holds_one as u128;
            o.extend(
                c.iter()
                    .zip(&e)
                    .map(|(&d, &e)| if e & 1 == 1 { one.wrapping_sub(d) } else { d }),
            );
        };
        let [oa, ob] = out;
        side(oa, &d_big.a, id == 0);
        side(ob, &d_big.b, id == 2);
        Ok(())
    }

    /// The two addends of the comparison's ripple carry, as Boolean
    /// sharings of `w` planes: `a`, component 0 (`x_0 + 2^L`), and `y`,
    /// the sum of components 1 and 2 that P1 computes itself (bit t is
    /// `x1_t ^ x2_t ^ c_t`, its carries `c` with `c_0 = 0` shared as `k'`,
    /// from the stream P0 and P1 hold, `^ k''`, sent to P2: `y` is component
    /// 1 = `x1 ^ k'` and component 2 = `x2 ^ k''`). The carry statements
    /// join the adder's log, which P1 proves alone (`small::Aramis::
    /// prove_one`). `own` and `nxt` are this party's component bit planes.
    fn component_sum(&mut self, xa: &[u128], xb: &[u128], own: &[u64], nxt: &[u64], w: usize) -> Result<(Bits, Bits)> {
        // (the roles below are those of P1 as the adder's prover)
        const _: () = assert!(ADDER_PROVER == 1);
        let (n, l, id) = (xa.len(), w - 1, self.id());
        let wp = words(n);
        // P1 holds components 1 and 2 and adds them itself: bit t of the
        // sum is x1_t ^ x2_t ^ c_t with its carries c (c_0 = 0), shared as
        // k' (from the stream P0 and P1 hold) ^ k'' (sent to P2). The
        // carries are proved by P1 alone (`small::Aramis::prove_one`).
        let kprime = |me: &mut Aramis, from_next: bool| -> Vec<u64> {
            let mut k = vec![0u64; w * wp];
            let g = if from_next { me.p.prg_next() } else { me.p.prg_prev() };
            g.fill_u64(&mut k[wp..]);
            mask_tails(&mut k, n);
            k
        };
        let k1 = match id {
            0 => kprime(self, true),
            1 => kprime(self, false),
            _ => Vec::new(),
        };
        let mut k2 = Vec::new();
        if id == ADDER_PROVER {
            let sum: Vec<u128> = xa.iter().zip(xb).map(|(p, q)| p.wrapping_add(*q)).collect();
            let mut carries = xor(&xor(&bit_planes(&sum, w, 0), own), nxt);
            if n > 0 && self.fire_add_error() != 0 {
                // a wrong carry into bit 1 of element 0, used consistently
                // (in its own component and in what P2 gets): only the
                // adder's proof can see it
                carries[wp] ^= 1;
            }
            k2 = xor(&carries, &k1);
            self.send(next(id), pack_bits(&k2[wp..], n))?;
        }
        if id == next(ADDER_PROVER) {
            // (before the daBits' messages from P1, which follow it on the
            // link; P1 sent it without waiting, so it shares their round)
            let got = self.recv(prev(id), l * n.div_ceil(8))?;
            k2 = vec![0u64; wp];
            k2.extend(unpack_bits(&got, l, n));
        }
        // the sharings (this party's `a` and `b` components): a = component
        // 0 (x0 + 2^L), y = x1 + x2 as component 1 = x1 ^ k', component 2 =
        // x2 ^ k''
        let zeros = || vec![0u64; w * wp];
        let (a_a, a_b, y_a, y_b) = match id {
            0 => (own.to_vec(), zeros(), zeros(), xor(nxt, &k1)),
            1 => (zeros(), zeros(), xor(own, &k1), xor(nxt, &k2)),
            _ => (zeros(), nxt.to_vec(), xor(own, &k2), zeros()),
        };
        let bits = |a, b| Bits {
            a,
            b,
            len: n,
            planes: w,
        };
        let (a, y) = (bits(a_a, a_b), bits(y_a, y_b));
        // the carry statements t = 0..L: c_(t+1) = maj(x1_t, x2_t, c_t), as
        // u = (x1 ^ k', x1) at P0, v = (x2, k'') at P2, right side shared
        // as k'_(t+1) ^ k'_t x1_t (P0) and k''_(t+1) ^ k''_t x2_t (P2)
        let span = l * wp;
        let and_ = |p: &[u64], q: &[u64]| -> Vec<u64> { p.iter().zip(q).map(|(a, b)| a & b).collect() };
        let (x1, x2): (&[u64], &[u64]) = match id {
            0 => (nxt, &[]),
            1 => (own, nxt),
            _ => (&[], own),
        };
        // (each party logs the columns its role uses: the prover u and v,
        // V1 = P0 u and its share, V2 = P2 v and its share)
        let (xa, ya) = if id != 2 {
            (xor(&x1[..span], &k1[..span]), x1[..span].to_vec())
        } else {
            (Vec::new(), Vec::new())
        };
        let (yb, xb) = if id != 0 {
            (x2[..span].to_vec(), k2[..span].to_vec())
        } else {
            (Vec::new(), Vec::new())
        };
        let c_v1 = if id == 0 {
            xor(&k1[wp..], &and_(&k1[..span], &x1[..span]))
        } else {
            Vec::new()
        };
        let c_v2 = if id == 2 {
            xor(&k2[wp..], &and_(&k2[..span], &x2[..span]))
        } else {
            Vec::new()
        };
        self.log_adder(AndLog {
            words: span,
            xa,
            ya,
            yb,
            xb,
            c_v1,
            c_v2,
        })?;
        Ok((a, y))
    }

    /// `max(x, 0)` for `|x| < 2^(bits-1)`: DReLU, then one product (`Step::Select`).
    pub fn relu(&mut self, x: &AuthShare, bits: u32) -> Result<AuthShare> {
        self.relu_with(x, bits, false)
    }

    /// [`Aramis::relu`] with the result's MAC left additive
    /// ([`Aramis::mul_lazy`]): 16 bytes per element and party less, for a
    /// result that feeds a convolution or matrix product (anything else
    /// takes [`Aramis::replicate_mac`] first, which costs them back).
    pub fn relu_lazy(&mut self, x: &AuthShare, bits: u32) -> Result<AuthShare> {
        self.relu_with(x, bits, true)
    }

    fn relu_with(&mut self, x: &AuthShare, bits: u32, lazy: bool) -> Result<AuthShare> {
        if lazy {
            let d = self.select_operand(x, bits)?;
            self.mul_lazy(x, &d)
        } else {
            let d = self.select_operand(x, bits)?;
            self.mul_raw(x, &d)
        }
    }

    /// DReLU of `x` as the select's operand, in `Step::Select`.
    fn select_operand(&mut self, x: &AuthShare, bits: u32) -> Result<AuthShare> {
        let d = self.drelu_values(x, bits)?;
        self.enter(Step::Select)?;
        // the MAC comes from `x`'s: `[alpha x] d`; `d` needs none
        Ok(AuthShare {
            v: d,
            m: RShare::default(),
        })
    }

    /// Element-wise `max(x, y) = y + relu(x - y)` for `|x - y| < 2^(bits-1)`,
    /// with a replicated MAC ([`Aramis::max_pairwise_lazy`], then
    /// [`Aramis::replicate_mac`]).
    pub fn max_pairwise(&mut self, x: &AuthShare, y: &AuthShare, bits: u32) -> Result<AuthShare> {
        // (a clone shares the buffers: the difference copies them once)
        let m = self.max_pairwise_lazy(x.clone(), y, bits)?;
        self.replicate_mac(&m)
    }

    /// [`Aramis::max_pairwise`] with the result's MAC left additive, taking
    /// `x`, whose buffers hold `x - y` (no new vectors where `x` holds them
    /// alone). `x` and `y` have MACs of the same kind, replicated or
    /// additive. DReLU reads only the difference's values; the select's
    /// product alone needs a replicated MAC, the difference's
    /// ([`Aramis::replicate_mac`], free where it is one already), and leaves
    /// its own additive ([`Aramis::mul_lazy`]). A max-pool tree of
    /// `2 x 2` windows on a conv result (additive) so reshares 16 B per
    /// element and party on 2 + 1 differences per output, plus one for the
    /// consumer that needs it, instead of the 4 inputs and 2 + 1 products.
    pub fn max_pairwise_lazy(&mut self, mut x: AuthShare, y: &AuthShare, bits: u32) -> Result<AuthShare> {
        let additive = x.mac_is_additive();
        if x.len() != y.len() || additive != y.mac_is_additive() {
            return Err(AramisError::Shape(format!(
                "max of {} and {} elements, or of an additive and a replicated MAC",
                x.len(),
                y.len()
            )));
        }
        if !additive {
            x.check("max")?;
            y.check("max")?;
        }
        x.sub_assign(y);
        let d = self.select_operand(&x, bits)?;
        let x = self.replicate_mac(&x)?;
        let r = self.mul_lazy(&x, &d)?;
        Ok(y.add_additive(&r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cheat::{Cheat, Deviation};
    use crate::testing::run3;

    /// P1 adds its two components itself and proves the carries alone: a
    /// wrong carry that it uses consistently (`AddError` in `bitgen`: its
    /// own component and the share P2 gets agree, so no redundancy check
    /// sees it) makes both honest parties abort at the AND-gate proof;
    /// honest runs give the right DReLU. Both ways the adder's proof runs:
    /// in the AND proofs' rounds (batches of one size) and alone (an extra
    /// AND makes the AND batch larger).
    #[test]
    fn the_adder_prover_cannot_send_wrong_carries() {
        for extra_and in [false, true] {
            adder_cheat_aborts(extra_and);
        }
    }

    fn adder_cheat_aborts(extra_and: bool) {
        let vals: Vec<u64> = (0..300u64)
            .map(|i| (i * 7919) % 4001)
            .map(|v| v.wrapping_sub(2000))
            .collect();
        let program = |a: &mut Aramis| -> Result<Option<Vec<u64>>> {
            let me = a.id();
            let x = a.input(1, (me == 1).then_some(&vals[..]), vals.len())?;
            let d = a.drelu(&x, 16)?;
            if extra_and {
                // 200 words more: the AND batch of 2^15, the adder's of 2^13
                let z = Bits::zeros(200, 64);
                a.and(&z, &z)?;
            }
            a.output_to(1, &d)
        };
        let honest = run3(Some(3), [None; 3], program);
        let want: Vec<u64> = vals.iter().map(|&v| ((v as i64) >= 0) as u64).collect();
        assert_eq!(honest[1].as_ref().ok().cloned().flatten(), Some(want));
        let cheats = [None, Some(Cheat::new(Step::BitGen, Deviation::AddError(1))), None];
        let r = run3(Some(3), cheats, program);
        for id in [0, 2] {
            assert!(
                matches!(r[id], Err(AramisError::CheatingDetected { step: "AND-gate proof" })),
                "party {id}: {:?}",
                r[id]
            );
        }
    }

    /// A comparison past `FOLD_LIMIT` folds its daBit batch into the
    /// check's sums at once (none is left waiting for the checkpoint); a
    /// wrong daBit product (P0's `AddError` in `bitgen`, on `b_0 b_1`) is
    /// still caught at the checkpoint, from the folded sums.
    #[test]
    fn a_folded_dabit_batch_is_still_checked() {
        let n = FOLD_LIMIT / 4 + 100;
        let vals: Vec<u64> = (0..n as u64).map(|i| ((i * 7919) % 4001).wrapping_sub(2000)).collect();
        let program = |a: &mut Aramis| -> Result<Option<Vec<u64>>> {
            let me = a.id();
            let x = a.input(1, (me == 1).then_some(&vals[..]), n)?;
            let d = a.drelu(&x, 16)?;
            assert!(a.dabit_claims.is_empty(), "the daBit batch was not folded");
            a.output_to(1, &d)
        };
        let honest = run3(Some(4), [None; 3], program);
        let want: Vec<u64> = vals.iter().map(|&v| ((v as i64) >= 0) as u64).collect();
        assert_eq!(honest[1].as_ref().ok().cloned().flatten(), Some(want));
        let cheats = [Some(Cheat::new(Step::BitGen, Deviation::AddError(1))), None, None];
        let r = run3(Some(4), cheats, program);
        for id in [1, 2] {
            assert!(
                matches!(r[id], Err(AramisError::CheatingDetected { .. })),
                "party {id}: {:?}",
                r[id]
            );
        }
    }

    #[test]
    fn bit_planes_match_the_bitwise_definition() {
        let mut g = cryptflow_exec::testdata::Xorshift::new(0x2545_f491_4f6c_dd1d);
        for n in [0usize, 1, 63, 64, 65, 200] {
            let v: Vec<u128> = (0..n).map(|_| g.next_u128()).collect();
            for (w, offset) in [(1usize, 0u128), (28, 0), (28, 1 << 27), (64, u128::MAX)] {
                let got = bit_planes(&v, w, offset);
                let wp = words(n);
                for t in 0..w {
                    for e in 0..n {
                        let bit = (got[t * wp + e / 64] >> (e % 64)) & 1;
                        let want = (v[e].wrapping_add(offset) >> t) & 1;
                        assert_eq!(bit as u128, want, "n {n}, w {w}, t {t}, e {e}");
                    }
                }
            }
        }
    }
}
