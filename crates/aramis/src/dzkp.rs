//! Distributed zero-knowledge proofs that every AND gate of the Boolean
//! domain was computed correctly (Boneh, Boyle, Corrigan-Gibbs, Gilboa, Ishai,
//! CRYPTO 2019; Boyle, Gilboa, Ishai, Nof, CCS 2019: semi-honest replicated
//! AND gates made malicious-secure by a sublinear proof per batch).
//!
//! # Statement
//!
//! In a replicated AND (Araki et al. CCS 2016) prover `P_i` sends
//! `t = x_i (y_i + y_{i+1}) + x_{i+1} y_i + F(k_i) + F(k_{i+1})` to
//! `V1 = P_{i-1}`. Moving what one verifier knows to one side:
//!
//! `c := [t + F(k_i) + x_i y_i]_{V1} + [F(k_{i+1})]_{V2} = x_i y_{i+1} + x_{i+1} y_i`
//!
//! where `V1` holds `x_i, y_i`, `V2 = P_{i+1}` holds `x_{i+1}, y_{i+1}`. With
//! `u = (x_i || y_i)` (known to `V1`) and `v = (y_{i+1} || x_{i+1})` (known
//! to `V2`), every gate `g` of a batch of `n` satisfies
//! `u_g v_g + u_{n+g} v_{n+g} = c_g`, and the prover knows `u` and `v`.
//!
//! # Proof (a distributed sum-check over GF(2^64))
//!
//! 1. Gate `n - 1` is a pad: `u` and `v` there are random field elements
//!    (from the prover's stream with `V1`, resp. `V2`); the prover shares
//!    `c_pad = u_pad v_pad` (one element to `V2`, `V1`'s share from their stream).
//! 2. `V2` sends the prover `tau` in GF(2^64)^(m-1) (`2n = 2^m`), drawn from the
//!    stream the two verifiers share and the prover does not know. The
//!    claim: `sum_j W_j u_j v_j = C := sum_g eq(tau, g) c_g` with
//!    `W_j = eq(tau, j mod n)`; a wrong gate makes the two sides differ
//!    except with probability `(m-1)/2^64` (a non-zero multilinear
//!    polynomial at a random point).
//! 3. Sum-check over the `m` index bits, lowest first: in round `t` the prover
//!    sends `q_t` (degree 2, `s_t(X) = K_t (1 + tau_t + X) q_t(X)` with the
//!    eq factors of the bound variables split off, as in Gruen 2024) as
//!    XOR shares: `V1`'s from their stream, `V2`'s in the message. `V2`
//!    answers with the challenge `r_t` from the verifiers' stream.
//! 4. Each verifier computes its shares of `s_t(0) + s_t(1) + s_{t-1}(r_{t-1})`
//!    (should be 0) and of the last claim, and the extension of its own
//!    vector at `r`: `V1` reveals `u~(r)`, `V2` reveals `v~(r)` (uniform
//!    thanks to the pads), both check `claim = eq(tau, r) u~(r) v~(r)` and
//!    that their zero-shares agree, in constant time.
//!
//! Soundness: a prover with one wrong gate passes with probability at most
//! `(4m - 1) / 2^64` (below `2^-57` for batches of up to `2^30` gates).
//! Zero knowledge against one verifier: every share it receives is masked by
//! a stream it does not hold, and the revealed extensions are masked by the
//! pads (their weight `eq(r, pad)` is non-zero since challenges avoid 0 and 1).
//!
//! # Cost
//!
//! Communication per batch and party: `8 (m + 1) + 24 m + 8 (2m + 1)` bytes in
//! `2m + 3` rounds, independent of the gate count apart from `m = log2(2n)`.
//! Computation: the first three rounds work on bytes of the bit vectors
//! (each block of 8 entries is one of 2^16 patterns; the prover accumulates
//! the eq weights per pattern); round 3 reads each block's value at the
//! bound point from a 256-entry table and round 4 each pair of blocks'
//! from a 2^16-entry one (nothing of table size written out), and the
//! folded tables of `n / 16` entries start at round 5. So a gate costs the
//! prover well under one field multiplication; a verifier buckets its bytes'
//! eq weights per pattern and block of 4096 bytes, then weighs the 256
//! buckets (well under one multiplication per gate).

use crate::{gf64, scratch};
use cryptflow_mpc::Prg;
use rayon::prelude::*;
use subtle::{Choice, ConstantTimeEq};

/// Entries per pattern block (the first three variables).
const BLOCK_BITS: usize = 3;
const PATTERNS: usize = 256;
/// Variables of the eq-weight blocks of [`extension`] (2^12 weights, 32 KiB).
const EXT_BLOCK_VARS: usize = 12;
/// Pairs per half in a chunk of the round-3 and round-4 virtual tables
/// (built on the fly from the lookup table, 16 KiB per vector).
const PATTERN_CHUNK: usize = 256;

/// Gates per batch: a power of two with room for the pad gate, at least 64.
pub(crate) fn batch_size(gates: usize) -> usize {
    (gates + 1).next_power_of_two().max(64)
}

/// The 8 entries of byte pattern `p` as field elements (0 or 1).
fn pattern(p: usize) -> [u64; 8] {
    let mut v = [0u64; 8];
    for (e, x) in v.iter_mut().enumerate() {
        *x = ((p >> e) & 1) as u64;
    }
    v
}

/// Binds the first `rs.len()` variables of 8 values.
fn fold_block(vals: &[u64; 8], rs: &[u64]) -> Vec<u64> {
    let mut v = vals.to_vec();
    for &r in rs {
        v = v.chunks_exact(2).map(|c| c[0] ^ gf64::mul(r, c[0] ^ c[1])).collect();
    }
    v
}

/// Byte `b` of a packed bit vector.
#[inline]
fn byte(bits: &[u64], b: usize) -> usize {
    ((bits[b / 8] >> (8 * (b % 8))) & 0xff) as usize
}

/// `(q(0), q(1), leading)` to coefficients `(c0, c1, c2)` of a quadratic.
fn coefficients(q0: u64, q1: u64, c2: u64) -> [u64; 3] {
    [q0, q0 ^ q1 ^ c2, c2]
}

/// The prover of one batch. `u` and `v` are packed bit vectors of `2n`
/// entries (the pad entry `n - 1` must be 0 in them; its field values are
/// `u_pad`, `v_pad`).
pub(crate) struct Prover {
    n: usize,
    m: usize,
    tau: Vec<u64>,
    rs: Vec<u64>,
    ubits: Vec<u64>,
    vbits: Vec<u64>,
    pad_u: [u64; 8],
    pad_v: [u64; 8],
    /// Eq weight of every (u byte, v byte) pattern pair over the high variables.
    buckets: Vec<u64>,
    /// The eq weights over the variables above the current round's: those
    /// of `tau[3..]` in the byte rounds, then each round's table round
    /// weights, derived from the previous ones without multiplications.
    w: Vec<u64>,
    pad_weight: u64,
    /// Rounds 3 and 4 read virtual tables: entry `j` is `lookup[chunk j
    /// of the bits]`, chunks of 8 bits with 256 entries in round 3 (the
    /// value at the bound point of every byte), of 16 bits with 2^16 in
    /// round 4 (of every pair of bytes), except the pad blocks' entry
    /// `pad_at`, worth `pads`. Nothing of table size is written.
    lookup: Vec<u64>,
    pads: (u64, u64),
    pad_at: usize,
    /// Folded tables from round 5 on (`n / 16` entries).
    u: Vec<u64>,
    v: Vec<u64>,
}

impl Drop for Prover {
    /// The tables go back for the next proof on this thread (`scratch`).
    fn drop(&mut self) {
        for t in [&mut self.w, &mut self.u, &mut self.v, &mut self.buckets] {
            scratch::give(std::mem::take(t));
        }
    }
}

/// Proof tables from this many words on are worked on by two threads:
/// the party that proves more (P1, which also proves the adder) or that
/// is behind otherwise leaves the other parties waiting, and on a machine
/// with idle cores then the second thread takes half of its work.
const PAR_WORDS: usize = 1 << 14;

/// Adds the eq weight of every block of words `first..` to the bucket of its
/// (u byte, v byte) pattern; eight blocks per word, both halves of the
/// tables take the same weights.
fn add_buckets(ubits: &[u64], vbits: &[u64], first: usize, ehi: &[u64], buckets: &mut [u64]) {
    for (i, (&uw, &vw)) in ubits.iter().zip(vbits).enumerate() {
        let ws = &ehi[(8 * (first + i)) % ehi.len()..][..8];
        for (k, &wt) in ws.iter().enumerate() {
            let (ub, vb) = ((uw >> (8 * k)) & 0xff, (vw >> (8 * k)) & 0xff);
            buckets[(ub << 8 | vb) as usize] ^= wt;
        }
    }
}

/// [`gf64::quad_sums`], the two halves of the pairs side by side for large
/// tables (weights repeat with their period, so each half takes the first
/// half of them where there is one weight per pair, all of them otherwise).
fn quad_sums_par(u: &[u64], v: &[u64], w: &[u64]) -> [u64; 3] {
    let pairs = u.len() / 2;
    if u.len() < 2 * PAR_WORDS || !pairs.is_multiple_of(2) {
        return gf64::quad_sums(u, v, w);
    }
    let (wl, wh) = if w.len() == pairs {
        w.split_at(pairs / 2)
    } else {
        (w, w)
    };
    let (ul, uh) = u.split_at(pairs);
    let (vl, vh) = v.split_at(pairs);
    let (a, b) = rayon::join(|| gf64::quad_sums(ul, vl, wl), || gf64::quad_sums(uh, vh, wh));
    xor3(a, b)
}

/// `a + b` for the three sums of a round.
fn xor3(a: [u64; 3], b: [u64; 3]) -> [u64; 3] {
    [a[0] ^ b[0], a[1] ^ b[1], a[2] ^ b[2]]
}

impl Prover {
    pub(crate) fn new(ubits: Vec<u64>, vbits: Vec<u64>, n: usize, u_pad: u64, v_pad: u64, tau: Vec<u64>) -> Prover {
        let m = (2 * n).trailing_zeros() as usize;
        debug_assert_eq!(tau.len(), m - 1);
        let pad_block = n / 8 - 1;
        let mut pad_u = pattern(byte(&ubits, pad_block));
        let mut pad_v = pattern(byte(&vbits, pad_block));
        pad_u[7] = u_pad;
        pad_v[7] = v_pad;
        let ehi = gf64::eq_table(&tau[BLOCK_BITS..]);
        let mut buckets = scratch::zeroed(PATTERNS * PATTERNS);
        let words = ubits.len().min(vbits.len());
        if words >= PAR_WORDS {
            // two halves side by side, on tables of their own (see PAR_WORDS)
            let mid = words / 2;
            let mut upper = scratch::zeroed(PATTERNS * PATTERNS);
            rayon::join(
                || add_buckets(&ubits[..mid], &vbits[..mid], 0, &ehi, &mut buckets),
                || add_buckets(&ubits[mid..], &vbits[mid..], mid, &ehi, &mut upper),
            );
            buckets.iter_mut().zip(&upper).for_each(|(b, u)| *b ^= u);
            scratch::give(upper);
        } else {
            add_buckets(&ubits, &vbits, 0, &ehi, &mut buckets);
        }
        // the pad block's bit pattern went in above; take it out again
        let pad_weight = ehi[pad_block % ehi.len()];
        buckets[byte(&ubits, pad_block) << 8 | byte(&vbits, pad_block)] ^= pad_weight;
        Prover {
            n,
            m,
            pad_weight,
            w: ehi,
            tau,
            rs: Vec::new(),
            ubits,
            vbits,
            pad_u,
            pad_v,
            buckets,
            lookup: Vec::new(),
            pads: (0, 0),
            pad_at: 0,
            u: Vec::new(),
            v: Vec::new(),
        }
    }

    /// The coefficients of `q_t` for the next round `t = rs.len()`.
    pub(crate) fn round(&self) -> [u64; 3] {
        let t = self.rs.len();
        if t < BLOCK_BITS {
            self.byte_round(t)
        } else if t <= BLOCK_BITS + 1 {
            self.virtual_round((self.n / 4) >> (t - BLOCK_BITS))
        } else {
            self.table_round(t)
        }
    }

    fn byte_round(&self, t: usize) -> [u64; 3] {
        let rs = &self.rs[..t];
        let uf: Vec<Vec<u64>> = (0..PATTERNS).map(|p| fold_block(&pattern(p), rs)).collect();
        let wts = gf64::eq_table(&self.tau[t + 1..BLOCK_BITS]);
        let pu = fold_block(&self.pad_u, rs);
        let pv = fold_block(&self.pad_v, rs);
        let (mut q0, mut q1, mut c2) = (0u64, 0u64, 0u64);
        let (mut a0, mut a1, mut ad) = (vec![0u64; PATTERNS], vec![0u64; PATTERNS], vec![0u64; PATTERNS]);
        for (j, &w) in wts.iter().enumerate() {
            let at = |f: &Vec<u64>, x: usize| f[2 * j + x];
            let u0: Vec<u64> = uf.iter().map(|f| at(f, 0)).collect();
            let u1: Vec<u64> = uf.iter().map(|f| at(f, 1)).collect();
            let du: Vec<u64> = u0.iter().zip(&u1).map(|(a, b)| a ^ b).collect();
            // v uses the same pattern folds
            let (v0, v1) = (&u0, &u1);
            // a0[Pu] = sum_Pv A[Pu][Pv] v0[Pv]; a1 with v1, ad with dv = v0 + v1
            for p in 0..PATTERNS {
                let row = &self.buckets[p * PATTERNS..(p + 1) * PATTERNS];
                a0[p] = gf64::dot(row, v0);
                a1[p] = gf64::dot(row, v1);
                ad[p] = a0[p] ^ a1[p];
            }
            let mut s0 = gf64::dot(&u0, &a0);
            let mut s1 = gf64::dot(&u1, &a1);
            let mut s2 = gf64::dot(&du, &ad);
            // the pad block, with its field entries
            let pw = self.pad_weight;
            let (pu0, pu1, pv0, pv1) = (pu[2 * j], pu[2 * j + 1], pv[2 * j], pv[2 * j + 1]);
            s0 ^= gf64::mul(pw, gf64::mul(pu0, pv0));
            s1 ^= gf64::mul(pw, gf64::mul(pu1, pv1));
            s2 ^= gf64::mul(pw, gf64::mul(pu0 ^ pu1, pv0 ^ pv1));
            q0 ^= gf64::mul(w, s0);
            q1 ^= gf64::mul(w, s1);
            c2 ^= gf64::mul(w, s2);
        }
        coefficients(q0, q1, c2)
    }

    /// Round 3 or 4 on the virtual table of `len` entries, a chunk of
    /// pairs of both halves at a time (the halves share the weights).
    fn virtual_round(&self, len: usize) -> [u64; 3] {
        let half = len / 2;
        let chunk = PATTERN_CHUNK.min(self.w.len());
        let tables = || (vec![0u64; 4 * chunk], vec![0u64; 4 * chunk]);
        let one = |(ub, vb): &mut (Vec<u64>, Vec<u64>), (c, w): (usize, &[u64])| {
            let from = 2 * chunk * c;
            for (h, off) in [0, half].into_iter().enumerate() {
                let at = h * 2 * chunk..(h + 1) * 2 * chunk;
                self.virtual_into(&self.ubits, self.pads.0, off + from, &mut ub[at.clone()]);
                self.virtual_into(&self.vbits, self.pads.1, off + from, &mut vb[at]);
            }
            gf64::quad_sums(ub, vb, w)
        };
        let acc = if self.w.len() >= PAR_WORDS {
            self.w
                .par_chunks_exact(chunk)
                .enumerate()
                .map_init(tables, one)
                .reduce(|| [0; 3], xor3)
        } else {
            let mut t = tables();
            self.w
                .chunks_exact(chunk)
                .enumerate()
                .map(|cw| one(&mut t, cw))
                .fold([0; 3], xor3)
        };
        coefficients(acc[0], acc[1], acc[2])
    }

    /// Entries `from..from + out.len()` of the virtual table of `bits`
    /// (`from` and the length multiples of the chunks per word).
    fn virtual_into(&self, bits: &[u64], pad: u64, from: usize, out: &mut [u64]) {
        // (the chunk width, from the table's size, as a constant: unrolled
        // shifts, and a table of known size, so no bounds checks)
        if let Ok(t) = <&[u64; 256]>::try_from(self.lookup.as_slice()) {
            lookup_chunks::<8, 256>(t, bits, from, out);
        } else if let Ok(t) = <&[u64; 1 << 16]>::try_from(self.lookup.as_slice()) {
            lookup_chunks::<16, { 1 << 16 }>(t, bits, from, out);
        }
        if (from..from + out.len()).contains(&self.pad_at) {
            out[self.pad_at - from] = pad;
        }
    }

    /// The first real tables (`len / 2` entries each): the round-4 virtual
    /// table of `len` entries folded at `r`, chunk by chunk.
    fn folded_virtual_table(&self, bits: &[u64], pad: u64, len: usize, r: u64) -> Vec<u64> {
        let chunk = 2 * PATTERN_CHUNK.min(len / 2);
        let mut out = scratch::zeroed(len / 2);
        let one = |buf: &mut Vec<u64>, (c, o): (usize, &mut [u64])| {
            self.virtual_into(bits, pad, c * chunk, buf);
            gf64::fold_slice(buf, r);
            o.copy_from_slice(&buf[..chunk / 2]);
        };
        if len / 2 >= PAR_WORDS {
            out.par_chunks_mut(chunk / 2)
                .enumerate()
                .for_each_init(|| vec![0u64; chunk], one);
        } else {
            let mut buf = vec![0u64; chunk];
            out.chunks_mut(chunk / 2).enumerate().for_each(|co| one(&mut buf, co));
        }
        out
    }

    fn table_round(&self, t: usize) -> [u64; 3] {
        // the weights are eq(tau[t + 1..], .) (just [1] in the last two rounds)
        debug_assert_eq!(self.w.len(), 1 << (self.m - 1).saturating_sub(t + 1));
        let [q0, q1, c2] = quad_sums_par(&self.u, &self.v, &self.w);
        coefficients(q0, q1, c2)
    }

    /// Takes the challenge of the round just answered.
    pub(crate) fn bind(&mut self, r: u64) {
        self.rs.push(r);
        let t = self.rs.len();
        if t == BLOCK_BITS {
            // round 3 reads bytes: their pattern values at the bound point
            self.lookup = pattern_values(&self.rs);
            self.pads = (
                fold_block(&self.pad_u, &self.rs)[0],
                fold_block(&self.pad_v, &self.rs)[0],
            );
            self.pad_at = self.n / 8 - 1;
            scratch::give(std::mem::take(&mut self.buckets));
        } else if t == BLOCK_BITS + 1 {
            // round 4 reads pairs of bytes: the pair values folded at r
            let (n, tu) = (self.n, &self.lookup);
            let mut d: Vec<u64> = (0..1usize << 16).map(|p| tu[p & 0xff] ^ tu[p >> 8]).collect();
            gf64::scale(&mut d, r);
            d.iter_mut().enumerate().for_each(|(p, x)| *x ^= tu[p & 0xff]);
            // the pad block is the upper entry of pair n/16 - 1
            let fold_pad = |bits: &[u64], pad: u64| {
                let lo = tu[byte(bits, n / 8 - 2)];
                lo ^ gf64::mul(r, lo ^ pad)
            };
            self.pads = (fold_pad(&self.ubits, self.pads.0), fold_pad(&self.vbits, self.pads.1));
            self.lookup = d;
            self.pad_at = n / 16 - 1;
        } else if t == BLOCK_BITS + 2 {
            let len = self.n / 8;
            self.u = self.folded_virtual_table(&self.ubits, self.pads.0, len, r);
            self.v = self.folded_virtual_table(&self.vbits, self.pads.1, len, r);
            self.ubits = Vec::new();
            self.vbits = Vec::new();
            self.lookup = Vec::new();
        } else if t > BLOCK_BITS + 2 {
            gf64::fold_in_place(&mut self.u, r);
            gf64::fold_in_place(&mut self.v, r);
        }
        if t >= BLOCK_BITS {
            gf64::eq_drop_first(&mut self.w);
        }
    }
}

/// `out[j] = table[chunk from + j of width W of bits]` (`from` and the
/// length multiples of the chunks per word; `table` has `T = 2^W` entries).
fn lookup_chunks<const W: usize, const T: usize>(table: &[u64; T], bits: &[u64], from: usize, out: &mut [u64]) {
    let per_word = 64 / W;
    for (o, &wd) in out.chunks_exact_mut(per_word).zip(&bits[from / per_word..]) {
        for (k, x) in o.iter_mut().enumerate() {
            *x = table[((wd >> (W * k)) as usize) & (T - 1)];
        }
    }
}

/// The multilinear extension at `point` of the `2^len(point)`-entry bit
/// vector `bits`, with the field value `pad` added at entry `pad_at` (the
/// pad gate, 0 in `bits`): `sum_j eq(point, j) bits_j + eq(point, pad_at) pad`.
/// Bytes are bucketed, so the cost is one eq table over the high variables.
/// A verifier's share of the claim is this for its `c` bits at `tau`
/// (`n` entries), and the value it reveals is this for its `u` or `v` at `r`.
pub(crate) fn extension(bits: &[u64], point: &[u64], pad_at: usize, pad: u64) -> u64 {
    // eq(high, b) = eq(low part, b mod 2^k) eq(rest, b >> k): the low
    // weights are bucketed per pattern within each block of 2^k bytes, and
    // the buckets take the block's high factor: 256 products per block
    // instead of one per byte
    let high = &point[BLOCK_BITS..];
    let (elo, ehi) = high.split_at(high.len().min(EXT_BLOCK_VARS));
    let (elo, ehi) = (gf64::eq_table(elo), gf64::eq_table(ehi));
    // (four sets of buckets, so that repeated patterns, as runs of zero
    // bytes, do not chain every update through one memory slot)
    let one_block = |block: &mut [[u64; PATTERNS]; 4], (&x, words): (&u64, &[u64])| -> [u64; PATTERNS] {
        block.iter_mut().for_each(|b| b.fill(0));
        for (&wd, ws) in words.iter().zip(elo.chunks_exact(8)) {
            for (k, &w) in ws.iter().enumerate() {
                block[k % 4][((wd >> (8 * k)) & 0xff) as usize] ^= w;
            }
        }
        let [b0, b1, b2, b3] = block;
        for (((a, b), c), d) in b0.iter_mut().zip(&*b1).zip(&*b2).zip(&*b3) {
            *a ^= b ^ c ^ d;
        }
        gf64::scale(b0, x);
        *b0
    };
    let add = |mut a: [u64; PATTERNS], b: [u64; PATTERNS]| {
        a.iter_mut().zip(&b).for_each(|(a, b)| *a ^= b);
        a
    };
    let acc = if bits.len() >= PAR_WORDS {
        ehi.par_iter()
            .zip(bits.par_chunks(elo.len() / 8))
            .map_init(|| [[0u64; PATTERNS]; 4], one_block)
            .reduce(|| [0u64; PATTERNS], add)
    } else {
        let mut block = [[0u64; PATTERNS]; 4];
        ehi.iter()
            .zip(bits.chunks(elo.len() / 8))
            .map(|xw| one_block(&mut block, xw))
            .fold([0u64; PATTERNS], add)
    };
    scratch::give(elo);
    scratch::give(ehi);
    gf64::dot(&acc, &pattern_values(&point[..BLOCK_BITS])) ^ gf64::mul(pad, gf64::eq_at(point, pad_at))
}

/// The extension of every byte pattern at the 3-variable point `low`.
fn pattern_values(low: &[u64]) -> Vec<u64> {
    let lo = gf64::eq_table(low);
    (0..PATTERNS)
        .map(|p| (0..8).fold(0, |s, e| s ^ if (p >> e) & 1 == 1 { lo[e] } else { 0 }))
        .collect()
}

/// The prover's round message: `q_t` masked by the stream it holds with
/// V1 (whose share that mask is), plus `lie` (the cheat hook; 0 when
/// honest) on its first word.
pub(crate) fn masked_round(prover: &Prover, g_v1: &mut Prg, lie: u64) -> [u64; 3] {
    let q = prover.round();
    let r = g_v1.gen_u64(3);
    [q[0] ^ r[0] ^ lie, q[1] ^ r[1], q[2] ^ r[2]]
}

/// A verifier's last check, in constant time: with its own last-claim
/// share `f`, factor `k`, extension `ext` and zero-shares `z`, and the
/// other verifier's `[ext, f, z..]`, the two claim shares must add up to
/// `k * ext * ext_other` and the zero-shares must agree.
pub(crate) fn final_check(f: u64, k: u64, ext: u64, z: &[u64], other: &[u64]) -> Choice {
    if other.len() != z.len() + 2 {
        return Choice::from(0);
    }
    let bytes = |v: &[u64]| v.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>();
    (f ^ other[1]).ct_eq(&gf64::mul(k, gf64::mul(ext, other[0]))) & bytes(z).ct_eq(&bytes(&other[2..]))
}

/// A verifier's shares of the round checks `s_t(0) + s_t(1) + claim_{t-1}`
/// (zero when the prover is honest) and of the final claim, from its shares
/// of the `q_t` and of the initial claim. Also returns `eq(tau, r)`.
pub(crate) fn round_checks(q: &[[u64; 3]], claim0: u64, tau: &[u64], rs: &[u64]) -> (Vec<u64>, u64, u64) {
    let m = rs.len();
    let mut k = 1u64;
    let mut claim = claim0;
    let mut zeros = Vec::with_capacity(m);
    for t in 0..m {
        let [c0, c1, c2] = q[t];
        let (q0, q1) = (c0, c0 ^ c1 ^ c2);
        let r = rs[t];
        let qr = c0 ^ gf64::mul(c1, r) ^ gf64::mul(c2, gf64::mul(r, r));
        let (sum, factor) = if t + 1 < m {
            let tt = tau[t];
            (gf64::mul(1 ^ tt, q0) ^ gf64::mul(tt, q1), 1 ^ tt ^ r)
        } else {
            (q0 ^ q1, 1)
        };
        zeros.push(gf64::mul(k, sum) ^ claim);
        claim = gf64::mul(gf64::mul(k, factor), qr);
        k = gf64::mul(k, factor);
    }
    (zeros, claim, k)
}

/// One batch of random AND relations with everything the prover and both
/// verifiers need, run in one process: the unit tests and the benchmark
/// (`benches/gf64.rs`, through a hidden re-export in `lib.rs`).
#[doc(hidden)]
pub struct LocalBatch {
    n: usize,
    u: Vec<u64>,
    v: Vec<u64>,
    c1: Vec<u64>,
    c2: Vec<u64>,
    u_pad: u64,
    v_pad: u64,
    rho: u64,
    pad_c2: u64,
    tau: Vec<u64>,
    rs: Vec<u64>,
    /// `V1`'s shares of the `q_t`.
    share1: Vec<[u64; 3]>,
}

impl LocalBatch {
    /// `gates` random AND gates (xorshift from `seed`), with the gates in
    /// `wrong` flipped in `c`.
    pub fn random(gates: usize, wrong: &[usize], seed: u64) -> LocalBatch {
        let mut g = cryptflow_exec::testdata::Xorshift::new(seed | 1);
        let mut r = move || g.next_u64();
        let n = batch_size(gates);
        let words = n / 64;
        let bits = |r: &mut dyn FnMut() -> u64| -> Vec<u64> {
            let mut v: Vec<u64> = (0..words).map(|_| r()).collect();
            // gates >= `gates` are zero
            for (w, x) in v.iter_mut().enumerate() {
                let live = gates.saturating_sub(w * 64).min(64);
                *x &= if live == 64 { !0 } else { (1u64 << live) - 1 };
            }
            v
        };
        let (xa, ya, xb, yb) = (bits(&mut r), bits(&mut r), bits(&mut r), bits(&mut r));
        let mut c: Vec<u64> = (0..words).map(|w| (xa[w] & yb[w]) ^ (ya[w] & xb[w])).collect();
        for &g in wrong {
            c[g / 64] ^= 1 << (g % 64);
        }
        // c split into V1 and V2 shares
        let c2: Vec<u64> = (0..words).map(|_| r()).collect();
        let c1: Vec<u64> = c.iter().zip(&c2).map(|(a, b)| a ^ b).collect();
        let (u_pad, v_pad, rho) = (r(), r(), r());
        let m = (2 * n).trailing_zeros() as usize;
        LocalBatch {
            n,
            u: [xa.clone(), ya.clone()].concat(),
            v: [yb, xb].concat(),
            c1,
            c2,
            u_pad,
            v_pad,
            rho,
            pad_c2: gf64::mul(u_pad, v_pad) ^ rho,
            tau: (0..m - 1).map(|_| r()).collect(),
            rs: (0..m).map(|_| r()).collect(),
            share1: (0..m).map(|_| [r(), r(), r()]).collect(),
        }
    }

    /// The messages (the prover's: `V2`'s shares of the `q_t`, with the
    /// middle coefficient of round `lie_round` flipped; then each
    /// verifier's extension, last-claim share and zero-shares) and whether
    /// both verifiers accept. Also checks that the prover's folded tables
    /// end at the extensions the verifiers reveal.
    pub fn prove_and_verify(&self, lie_round: Option<usize>) -> (Vec<u64>, bool) {
        let n = self.n;
        let mut p = Prover::new(
            self.u.clone(),
            self.v.clone(),
            n,
            self.u_pad,
            self.v_pad,
            self.tau.clone(),
        );
        let mut q2 = Vec::with_capacity(self.rs.len());
        for (t, &rt) in self.rs.iter().enumerate() {
            let q = p.round();
            let s1 = self.share1[t];
            let mut s2 = [q[0] ^ s1[0], q[1] ^ s1[1], q[2] ^ s1[2]];
            if lie_round == Some(t) {
                s2[1] ^= 1;
            }
            q2.push(s2);
            p.bind(rt);
        }
        let cl1 = extension(&self.c1, &self.tau, n - 1, self.rho);
        let cl2 = extension(&self.c2, &self.tau, n - 1, self.pad_c2);
        let (z1, f1, k) = round_checks(&self.share1, cl1, &self.tau, &self.rs);
        let (z2, f2, _) = round_checks(&q2, cl2, &self.tau, &self.rs);
        let ue = extension(&self.u, &self.rs, n - 1, self.u_pad);
        let ve = extension(&self.v, &self.rs, n - 1, self.v_pad);
        assert_eq!((p.u[0], p.v[0]), (ue, ve), "the folded tables end at the extensions");
        let ok = z1 == z2 && f1 ^ f2 == gf64::mul(k, gf64::mul(ue, ve));
        let msgs = [q2.concat(), vec![ue, f1], z1, vec![ve, f2], z2].concat();
        (msgs, ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A digest of a batch's proof messages (FNV-1a over the words).
    fn digest(q: &[u64]) -> u64 {
        q.iter()
            .fold(0xcbf2_9ce4_8422_2325, |h, &w| (h ^ w).wrapping_mul(0x100_0000_01b3))
    }

    /// The proof messages are those of the first implementation (one field
    /// product and one reduction at a time), bit for bit: the faster kernels
    /// and the reordered sums must not change the protocol.
    #[test]
    fn proof_messages_are_unchanged() {
        let got: Vec<(usize, u64, u64)> = [(1, 1), (1000, 2), (70_000, 3), (1 << 18, 4), (1 << 20, 5)]
            .into_iter()
            .map(|(gates, seed)| {
                let (q, ok) = LocalBatch::random(gates, &[], seed).prove_and_verify(None);
                assert!(ok);
                (gates, seed, digest(&q))
            })
            .collect();
        let want = [
            (1, 1, 12313572411818989200),
            (1000, 2, 15556264956165704336),
            (70_000, 3, 9008046434272668837),
            (1 << 18, 4, 13073234168309200616),
            // (past PAR_WORDS: the tables worked on by two threads; the
            // digest is the one-thread code's)
            (1 << 20, 5, 3753842984406317482),
        ];
        assert_eq!(got, want);
    }

    /// Runs prover and both verifiers locally on `gates` random AND
    /// relations (with `wrong` gates flipped in `c`); returns whether the
    /// verifiers accept.
    fn run(gates: usize, wrong: &[usize], lie_round: Option<usize>, seed: u64) -> bool {
        LocalBatch::random(gates, wrong, seed).prove_and_verify(lie_round).1
    }

    #[test]
    fn honest_batches_are_accepted() {
        for (g, s) in [(1, 1), (63, 2), (64, 3), (200, 4), (1000, 5), (4095, 6)] {
            assert!(run(g, &[], None, s), "{g} gates");
        }
    }

    #[test]
    fn one_wrong_gate_or_one_false_round_is_rejected() {
        for (g, s) in [(1, 7), (200, 8), (1000, 9)] {
            for w in [0, g / 2, g - 1] {
                assert!(!run(g, &[w], None, s + w as u64), "{g} gates, wrong {w}");
            }
            if g > 1 {
                assert!(!run(g, &[0, g - 1], None, s), "two wrong");
            }
            let m = (2 * batch_size(g)).trailing_zeros() as usize;
            for t in [0, 2, 3, m - 1] {
                assert!(!run(g, &[], Some(t), s), "lie in round {t}");
            }
        }
    }
}
