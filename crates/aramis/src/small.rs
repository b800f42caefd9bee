//! The Boolean domain of the comparisons: replicated XOR-sharings of packed
//! bits with semi-honest AND gates (Araki et al. CCS 2016: one bit per gate
//! and party), every one of which is proved correct at the next checkpoint
//! by a distributed zero-knowledge proof (`dzkp.rs`).
//!
//! Sharings are made from **pair-known bits**: a bit of a share component,
//! or of the stream `k_j`, is known to both holders of component `j`, so the
//! sharing with that bit as component `j` (others 0) is consistent for free.
//! A holder that uses another bit than its partner holds an inconsistent
//! share: its AND messages then disagree with what the honest verifiers
//! hold (the proof fails) and its openings with its partner's (the
//! redundancy check fails).

use crate::dzkp::{self, Prover};
use crate::error::Result;
use crate::one_prover::OneProof;
use crate::party::{u64s_from, u64s_to_bytes, Aramis, CHK_AND};
use cryptflow_mpc::party::{pack_bits, unpack_bits};
use cryptflow_mpc::{Prg, Seed};
use cryptflow_net::{next, prev, PartyId};
use subtle::Choice;

/// One party's XOR-sharing of `planes` planes of `len` bits, packed: plane
/// `p` is words `p * w .. (p + 1) * w` with `w = ceil(len / 64)`; bits past
/// `len` are 0.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Bits {
    pub a: Vec<u64>,
    pub b: Vec<u64>,
    pub len: usize,
    pub planes: usize,
}

impl std::fmt::Debug for Bits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bits(planes={}, len={})", self.planes, self.len)
    }
}

pub(crate) fn xor(x: &[u64], y: &[u64]) -> Vec<u64> {
    x.iter().zip(y).map(|(&p, &q)| p ^ q).collect()
}

/// Words per plane of `len` bits.
pub(crate) fn words(len: usize) -> usize {
    len.div_ceil(64)
}

/// Mask of the valid bits of the last word of a plane.
fn tail_mask(len: usize) -> u64 {
    match len % 64 {
        0 => u64::MAX,
        r => (1u64 << r) - 1,
    }
}

pub(crate) fn mask_tails(v: &mut [u64], len: usize) {
    let w = words(len);
    if w == 0 {
        return;
    }
    for plane in v.chunks_mut(w) {
        plane[w - 1] &= tail_mask(len);
    }
}

impl Bits {
    pub fn zeros(planes: usize, len: usize) -> Bits {
        Bits {
            a: vec![0; planes * words(len)],
            b: vec![0; planes * words(len)],
            len,
            planes,
        }
    }

    /// `self xor o` (local).
    pub fn xor(&self, o: &Bits) -> Bits {
        Bits {
            a: xor(&self.a, &o.a),
            b: xor(&self.b, &o.b),
            len: self.len,
            planes: self.planes,
        }
    }

    /// Planes `r` of this sharing.
    pub fn planes(&self, r: std::ops::Range<usize>) -> Bits {
        let w = words(self.len);
        Bits {
            a: self.a[r.start * w..r.end * w].to_vec(),
            b: self.b[r.start * w..r.end * w].to_vec(),
            len: self.len,
            planes: r.len(),
        }
    }

    /// Bit `e` of plane `p` of each component, as (a, b).
    pub fn bit(&self, p: usize, e: usize) -> (u64, u64) {
        let i = p * words(self.len) + e / 64;
        ((self.a[i] >> (e % 64)) & 1, (self.b[i] >> (e % 64)) & 1)
    }
}

/// The most AND gates one proof covers: an AND that would reach it first
/// proves the gates logged so far (their verdict comes at the next
/// checkpoint). Batches then stay just under a power of two, the proof's
/// domain, and its tables bounded. Each proof takes `2m + 3` rounds
/// whatever its size, so larger batches save rounds: 2^24 instead of 2^22
/// gates took ResNet50 from 14.7k to 6.4k rounds (about 1 s) for about
/// 50 MB more per party. Memory checkpoints leave the logs alone (session
/// 8), so the proofs run at this cap and before outputs only: 48 proofs
/// and 5,131 rounds -> 19 proofs and 3.8k rounds on ResNet50.
pub const AND_BATCH: usize = (1 << 24) - 1;

/// The party that adds its two share components itself in a comparison
/// and proves the adder's carries alone (`compare.rs`): P1 holds
/// components 1 and 2.
pub(crate) const ADDER_PROVER: PartyId = 1;

/// What one party keeps of every AND gate for the proofs (one bit per gate
/// and column, word-aligned per call): its components of both operands, as
/// prover; `t_next + F(k_{i+1}) + x_{i+1} y_{i+1}` as first verifier of
/// `next`; `F(k_i)` as second verifier of `prev`.
/// The statement's columns: `u = (xa, ya)` (the prover's and V1's),
/// `v = (yb, xb)` (the prover's and V2's), and the two verifiers' shares
/// `c_v1`, `c_v2` of the right side.
#[derive(Default)]
pub(crate) struct AndLog {
    /// Words logged per column (a column this party's role does not know
    /// stays empty: the adder's log).
    pub words: usize,
    pub xa: Vec<u64>,
    pub ya: Vec<u64>,
    pub xb: Vec<u64>,
    pub yb: Vec<u64>,
    pub c_v1: Vec<u64>,
    pub c_v2: Vec<u64>,
}

impl AndLog {
    /// Logged gates (a multiple of 64).
    pub(crate) fn gates(&self) -> usize {
        64 * self.words
    }

    pub(crate) fn clear(&mut self) {
        *self = AndLog::default();
    }

    /// Appends `other`'s gates (columns its role leaves empty stay empty).
    pub(crate) fn append(&mut self, mut other: AndLog) {
        self.words += other.words;
        for (col, part) in self.columns().into_iter().zip(other.columns()) {
            col.append(part);
        }
    }

    /// The six columns, in one order for every use.
    fn columns(&mut self) -> [&mut Vec<u64>; 6] {
        [
            &mut self.xa,
            &mut self.ya,
            &mut self.xb,
            &mut self.yb,
            &mut self.c_v1,
            &mut self.c_v2,
        ]
    }
}

/// `n` uniform challenges from `g`, avoiding 0 and 1 (so that no eq weight vanishes).
pub(crate) fn challenges(g: &mut Prg, n: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.extend(g.gen_u64(n - out.len()).into_iter().filter(|&x| x > 1));
    }
    out
}

/// A proof vector in one allocation: `lo` and `hi`, each padded with zeros
/// to `half` words.
pub(crate) fn joined(lo: &[u64], hi: &[u64], half: usize) -> Vec<u64> {
    let mut v = Vec::with_capacity(2 * half);
    for part in [lo, hi] {
        v.extend_from_slice(part);
        v.resize(v.len() + half - part.len(), 0);
    }
    v
}

impl Aramis {
    /// `x AND y` on packed sharings of equal shape: 1 round, `ceil(len/8)`
    /// bytes per plane sent by each party. The gate joins the next proof.
    pub(crate) fn and(&mut self, x: &Bits, y: &Bits) -> Result<Bits> {
        let n = x.a.len();
        debug_assert!(
            x.len == y.len && x.planes == y.planes && [x.b.len(), y.a.len(), y.b.len()].iter().all(|&l| l == n)
        );
        if self.and_log.gates() > 0 && self.and_log.gates() + 64 * n > AND_BATCH {
            self.and_proofs_in_step()?;
        }
        let me = self.id();
        let mut xa = x.a.clone();
        // An inconsistent x component changes this party's message only
        // where y_i + y_(i+1) = 1.
        if let Some(w) = (0..n).find(|&w| y.a[w] ^ y.b[w] != 0) {
            if self.fire_inconsistent() {
                xa[w] ^= 1 << (y.a[w] ^ y.b[w]).trailing_zeros();
            }
        }
        let mut fp = self.p.prg_prev().gen_u64(n);
        let mut fnx = self.p.prg_next().gen_u64(n);
        mask_tails(&mut fp, x.len);
        mask_tails(&mut fnx, x.len);
        let mut t: Vec<u64> = (0..n)
            .map(|w| (xa[w] & (y.a[w] ^ y.b[w])) ^ (x.b[w] & y.a[w]) ^ fp[w] ^ fnx[w])
            .collect();
        if n > 0 && self.fire_add_error() != 0 {
            t[0] ^= 1;
        }
        self.tick();
        self.send(prev(me), pack_bits(&t, x.len))?;
        let got = self.recv(next(me), x.planes * x.len.div_ceil(8))?;
        let r = unpack_bits(&got, x.planes, x.len);
        let log = &mut self.and_log;
        log.words += n;
        log.c_v1.extend((0..n).map(|w| r[w] ^ fnx[w] ^ (x.b[w] & y.b[w])));
        log.c_v2.extend_from_slice(&fp);
        log.xa.extend_from_slice(&xa);
        log.ya.extend_from_slice(&y.a);
        log.xb.extend_from_slice(&x.b);
        log.yb.extend_from_slice(&y.b);
        Ok(Bits {
            a: t,
            b: r,
            len: x.len,
            planes: x.planes,
        })
    }

    /// Proves every logged AND gate to its two verifiers and verifies the
    /// other two parties' gates (`dzkp.rs`): the three proofs run side
    /// by side, `2m + 3` rounds for `2^(m-1)` gates. Flags `CHK_AND` unless
    /// all checks this party makes pass; clears the log.
    pub(crate) fn and_proofs(&mut self) -> Result<()> {
        let log = std::mem::take(&mut self.and_log);
        let adder = std::mem::take(&mut self.adder_log);
        self.prove_logs(log, adder)
    }

    /// The AND gates' proofs and the adder's: in the same rounds where the
    /// two batches have the same size (they grow together, so they mostly
    /// do), one after the other otherwise.
    fn prove_logs(&mut self, log: AndLog, adder: AndLog) -> Result<()> {
        let same =
            log.gates() > 0 && adder.gates() > 0 && dzkp::batch_size(log.gates()) == dzkp::batch_size(adder.gates());
        if same {
            return self.prove_log(log, Some(adder));
        }
        self.prove_log(log, None)?;
        self.prove_one(ADDER_PROVER, adder)
    }

    /// Logs the comparison adder's carry statements (`compare.rs`), proving
    /// the log first (inside `cmp-chain`) if it would pass [`AND_BATCH`].
    pub(crate) fn log_adder(&mut self, gates: AndLog) -> Result<()> {
        if self.adder_log.gates() > 0 && self.adder_log.gates() + gates.gates() > AND_BATCH {
            // (both logs, so that their batches keep one size and one round set)
            self.and_proofs_in_step()?;
        }
        self.adder_log.append(gates);
        Ok(())
    }

    /// One proof of the gates that `prover` alone logged (the comparison's
    /// adder, see `compare.rs`), in rounds of its own (`one_prover.rs`);
    /// `2m + 3` rounds.
    pub(crate) fn prove_one(&mut self, prover: PartyId, log: AndLog) -> Result<()> {
        if log.gates() == 0 {
            return Ok(());
        }
        let (me, nx, pv) = (self.id(), next(self.id()), prev(self.id()));
        let (sp, sn) = (
            Prg::new(&self.p.prg_prev().gen_seed()),
            Prg::new(&self.p.prg_next().gen_seed()),
        );
        let mut one = OneProof::new(me, prover, log, sp, sn);
        self.tick();
        let got = self.swap_words(nx, one.pad_out(), pv, one.pad_in_len())?;
        one.pad_in(&got);
        self.tick();
        let got = self.swap_words(pv, one.tau_out(), nx, one.tau_in_len())?;
        one.tau_in(&got);
        for t in 0..one.m() {
            let lie = if t == 0 { self.fire_lie() as u64 } else { 0 };
            let out = one.q_out(lie);
            self.tick();
            let got = self.swap_words(nx, out, pv, one.q_in_len())?;
            one.q_in(&got);
            self.tick();
            let got = self.swap_words(pv, one.r_out(t), nx, one.r_in_len())?;
            one.r_in(&got);
        }
        let (to_pv, to_nx) = one.final_out();
        let (from_pv, from_nx) = one.final_in_len();
        self.tick();
        if !to_pv.is_empty() {
            self.send(pv, u64s_to_bytes(&to_pv))?;
        }
        if !to_nx.is_empty() {
            self.send(nx, u64s_to_bytes(&to_nx))?;
        }
        let got = if from_pv > 0 {
            u64s_from(&self.recv(pv, 8 * from_pv)?)
        } else if from_nx > 0 {
            u64s_from(&self.recv(nx, 8 * from_nx)?)
        } else {
            Vec::new()
        };
        let ok = one.final_in(&got);
        self.flag(CHK_AND, ok);
        Ok(())
    }

    /// Sends `out` to `to` unless it is empty, then receives `n_in` words
    /// from `from` (none if 0).
    fn swap_words(&mut self, to: PartyId, out: Vec<u64>, from: PartyId, n_in: usize) -> Result<Vec<u64>> {
        if !out.is_empty() {
            self.send(to, u64s_to_bytes(&out))?;
        }
        if n_in == 0 {
            return Ok(Vec::new());
        }
        Ok(u64s_from(&self.recv(from, 8 * n_in)?))
    }

    /// The three AND proofs side by side (each party proves its gates to
    /// its neighbours and checks theirs); `adder`, a batch of the same size
    /// for `ADDER_PROVER`'s proof, rides in the same messages.
    fn prove_log(&mut self, mut log: AndLog, adder: Option<AndLog>) -> Result<()> {
        if log.gates() == 0 {
            return Ok(());
        }
        let n = dzkp::batch_size(log.gates());
        let m = (2 * n).trailing_zeros() as usize;
        let hw = n / 64;
        let (me, nx, pv) = (self.id(), next(self.id()), prev(self.id()));
        // Three sub-streams per pair stream, one per proof (indexed by prover).
        let sp: Vec<Seed> = (0..3).map(|_| self.p.prg_prev().gen_seed()).collect();
        let sn: Vec<Seed> = (0..3).map(|_| self.p.prg_next().gen_seed()).collect();
        // as prover: with V1 = prev, with V2 = next
        let (mut g_v1, mut g_v2) = (Prg::new(&sp[me]), Prg::new(&sn[me]));
        // as V1 of next: with the prover, with V2 = prev
        let (mut h_p, mut h_v2) = (Prg::new(&sn[nx]), Prg::new(&sp[nx]));
        // as V2 of prev: with the prover, with V1 = next
        let (mut k_p, mut k_v1) = (Prg::new(&sp[pv]), Prg::new(&sn[pv]));

        let (u_pad, rho) = (g_v1.gen_u64(1)[0], g_v1.gen_u64(1)[0]);
        let v_pad = g_v2.gen_u64(1)[0];
        let (v1_upad, v1_rho) = (h_p.gen_u64(1)[0], h_p.gen_u64(1)[0]);
        let v1_tau = challenges(&mut h_v2, m - 1);
        let v1_rs = challenges(&mut h_v2, m);
        let v2_vpad = k_p.gen_u64(1)[0];
        let v2_tau = challenges(&mut k_v1, m - 1);
        let v2_rs = challenges(&mut k_v1, m);
        // the adder's proof: its own sub-streams, its words after ours
        let mut one = match adder {
            Some(a) => {
                let (sp, sn) = (
                    Prg::new(&self.p.prg_prev().gen_seed()),
                    Prg::new(&self.p.prg_next().gen_seed()),
                );
                Some(OneProof::new(me, ADDER_PROVER, a, sp, sn))
            }
            None => None,
        };
        let extra = |one: &Option<OneProof>, f: fn(&OneProof) -> usize| one.as_ref().map_or(0, f);

        // 1. the pad gate's product, shared (to V2 = next)
        self.tick();
        let mut out = vec![crate::gf64::mul(u_pad, v_pad) ^ rho];
        out.extend(one.as_ref().map(|o| o.pad_out()).unwrap_or_default());
        self.send(nx, u64s_to_bytes(&out))?;
        let got = u64s_from(&self.recv(pv, 8 * (1 + extra(&one, OneProof::pad_in_len)))?);
        let v2_padc = got[0];
        if let Some(o) = one.as_mut() {
            o.pad_in(&got[1..]);
        }
        // 2. tau from V2 to the prover
        self.tick();
        let mut out = v2_tau.clone();
        out.extend(one.as_ref().map(|o| o.tau_out()).unwrap_or_default());
        self.send(pv, u64s_to_bytes(&out))?;
        let got = u64s_from(&self.recv(nx, 8 * (m - 1 + extra(&one, OneProof::tau_in_len)))?);
        let tau = got[..m - 1].to_vec();
        if let Some(o) = one.as_mut() {
            o.tau_in(&got[m - 1..]);
        }

        let u = joined(&log.xa, &log.ya, hw);
        let v = joined(&log.yb, &log.xb, hw);
        let mut prover = Prover::new(u, v, n, u_pad, v_pad, tau);
        let (mut q_v1, mut q_v2) = (Vec::with_capacity(m), Vec::with_capacity(m));
        for t in 0..m {
            // 3. q_t shares: V1's from its stream, V2's in the message
            // (the `Lie` cheat alters round 0 of this party's own proof)
            let lie = if t == 0 { self.fire_lie() as u64 } else { 0 };
            let mut msg = dzkp::masked_round(&prover, &mut g_v1, lie).to_vec();
            if let Some(o) = one.as_mut() {
                msg.extend(o.q_out(0));
            }
            self.tick();
            self.send(nx, u64s_to_bytes(&msg))?;
            let s = h_p.gen_u64(3);
            q_v1.push([s[0], s[1], s[2]]);
            let got = u64s_from(&self.recv(pv, 8 * (3 + extra(&one, OneProof::q_in_len)))?);
            q_v2.push([got[0], got[1], got[2]]);
            if let Some(o) = one.as_mut() {
                o.q_in(&got[3..]);
            }
            // the challenge, from V2 to the prover
            self.tick();
            let mut out = v2_rs[t..t + 1].to_vec();
            out.extend(one.as_ref().map(|o| o.r_out(t)).unwrap_or_default());
            self.send(pv, u64s_to_bytes(&out))?;
            let got = u64s_from(&self.recv(nx, 8 * (1 + extra(&one, OneProof::r_in_len)))?);
            prover.bind(got[0]);
            if let Some(o) = one.as_mut() {
                o.r_in(&got[1..]);
            }
        }

        // 4. each verifier's zero-shares, last claim and extension, exchanged
        // (the log is ours: pad its claim shares in place)
        let (mut c_v1, mut c_v2) = (std::mem::take(&mut log.c_v1), std::mem::take(&mut log.c_v2));
        c_v1.resize(hw, 0);
        c_v2.resize(hw, 0);
        let u1 = joined(&log.xb, &log.yb, hw);
        let v2 = joined(&log.ya, &log.xa, hw);
        let cl1 = dzkp::extension(&c_v1, &v1_tau, n - 1, v1_rho);
        let (z1, f1, k1) = dzkp::round_checks(&q_v1, cl1, &v1_tau, &v1_rs);
        let ue = dzkp::extension(&u1, &v1_rs, n - 1, v1_upad);
        let cl2 = dzkp::extension(&c_v2, &v2_tau, n - 1, v2_padc);
        let (z2, f2, k2) = dzkp::round_checks(&q_v2, cl2, &v2_tau, &v2_rs);
        let ve = dzkp::extension(&v2, &v2_rs, n - 1, v2_vpad);
        let ((one_pv, one_nx), (in_pv, in_nx)) = match one.as_mut() {
            Some(o) => (o.final_out(), o.final_in_len()),
            None => ((Vec::new(), Vec::new()), (0, 0)),
        };
        self.tick();
        self.send(pv, u64s_to_bytes(&[&[ue, f1][..], &z1, &one_pv].concat()))?;
        self.send(nx, u64s_to_bytes(&[&[ve, f2][..], &z2, &one_nx].concat()))?;
        let from_v2 = u64s_from(&self.recv(pv, 8 * (m + 2 + in_pv))?);
        let from_v1 = u64s_from(&self.recv(nx, 8 * (m + 2 + in_nx))?);
        let (from_v2, one_pv) = from_v2.split_at(m + 2);
        let (from_v1, one_nx) = from_v1.split_at(m + 2);
        let ok_one = match &one {
            Some(o) => o.final_in(if in_pv > 0 { one_pv } else { one_nx }),
            None => Choice::from(1),
        };
        // as V1 of next (V2's extension, last-claim share and zero-shares),
        // and as V2 of prev
        let ok1 = dzkp::final_check(f1, k1, ue, &z1, from_v2);
        let ok2 = dzkp::final_check(f2, k2, ve, &z2, from_v1);
        self.flag(CHK_AND, ok1 & ok2 & ok_one);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cheat::{Cheat, Deviation, Step};
    use crate::testing::run3;
    use crate::AramisError;

    /// A memory-bound checkpoint proves no AND gates (they wait for a full
    /// batch or the output): a wrong gate passes that checkpoint and is
    /// caught at the output; honest runs pass both.
    #[test]
    fn gates_left_by_a_checkpoint_are_proved_before_the_output() {
        let program = |a: &mut Aramis| -> crate::Result<Option<Vec<u64>>> {
            let id = a.id();
            // component 0 all ones (held by P0 and P2)
            let mut x = Bits::zeros(1, 64);
            if id == 0 {
                x.a.fill(u64::MAX);
            } else if id == 2 {
                x.b.fill(u64::MAX);
            }
            a.enter(Step::Input)?;
            a.and(&x, &x)?;
            a.enter(Step::CmpChain)?;
            a.and(&x, &x)?;
            assert_eq!(a.and_log.gates(), 128);
            a.checkpoint_if_over(0)?;
            assert_eq!(a.and_log.gates(), 128, "the gates wait");
            let v = a.input(1, (id == 1).then_some(&[5u64][..]), 1)?;
            a.output_to(1, &v)
        };
        let honest = run3(Some(8), [None; 3], program);
        assert_eq!(honest[1].as_ref().unwrap().as_deref(), Some(&[5u64][..]));
        every_cheater_fails_the_proof(9, program);
    }

    /// Two ANDs of 63/64 of `AND_BATCH` gates each: the second proves the first before
    /// it runs (a batch boundary), the checkpoint proves the second. Honest
    /// runs pass with the right values; an error in the first batch aborts.
    #[test]
    fn a_batch_boundary_inside_a_run_is_proved_too() {
        let (planes, len) = (63, (AND_BATCH + 1) / 64);
        let program = |a: &mut Aramis| -> crate::Result<Vec<u64>> {
            a.enter(Step::CmpChain)?;
            // x: component 0 all ones (its holders P0 and P2), y: component 1 all ones
            let id = a.id();
            let mut x = Bits::zeros(planes, len);
            let mut y = Bits::zeros(planes, len);
            if id == 0 {
                x.a.fill(u64::MAX);
                y.b.fill(u64::MAX);
            } else if id == 2 {
                x.b.fill(u64::MAX);
            } else {
                y.a.fill(u64::MAX);
            }
            let z = a.and(&x, &y)?;
            let z2 = a.and(&z, &y)?;
            assert!(a.and_log.gates() < AND_BATCH);
            a.verify()?;
            Ok(z2.a)
        };
        let honest = run3(Some(5), [None; 3], program);
        // x = y = 1 everywhere: so is x AND y AND y (component i is party i's `a`)
        let [p0, p1, p2] = honest.map(|r| r.unwrap());
        assert!((0..p0.len()).all(|w| p0[w] ^ p1[w] ^ p2[w] == u64::MAX));
        every_cheater_fails_the_proof(6, program);
    }

    /// An `AddError` in `cmp-chain` by each party in turn makes both
    /// honest parties abort at an AND-gate proof.
    fn every_cheater_fails_the_proof<T: Send + std::fmt::Debug>(
        seed: u64,
        program: impl Fn(&mut Aramis) -> crate::Result<T> + Sync,
    ) {
        for cheater in 0..3 {
            let mut cheats = [None; 3];
            cheats[cheater] = Some(Cheat::new(Step::CmpChain, Deviation::AddError(1)));
            let r = run3(Some(seed), cheats, &program);
            for (id, res) in r.iter().enumerate() {
                if id != cheater {
                    assert!(
                        matches!(res, Err(AramisError::CheatingDetected { step: "AND-gate proof" })),
                        "party {id}: {res:?}"
                    );
                }
            }
        }
    }
}
