//! The Aramis party context: the semi-honest [`Party`] plumbing (pairwise PRG
//! seeds, channel), the shared MAC key, the list of MAC relations still to
//! check, the local check flags, the cheat hook and the counters.
//!
//! # Abort agreement
//!
//! A failed redundancy check (hash mismatch, malformed message) does not stop
//! a party at once: it is recorded as a constant-time flag and the party goes
//! on with the message schedule. At every checkpoint ([`Aramis::verify`], the
//! end of [`Aramis::output_to`]) each party sends a one-byte verdict to both
//! others and continues only if its own flags are clear **and** both verdicts
//! it received are "ok". An honest party that saw cheating therefore makes the
//! other honest party abort too (channels are authenticated), and nothing is
//! released to anyone before a checkpoint that all honest parties passed.

use crate::cheat::{Cheat, Deviation, Step};
use crate::error::{AramisError, Result};
use crate::share::{AuthShare, RShare};
use cryptflow_mpc::{MpcError, Party};
use cryptflow_net::{next, prev, Channel, PartyId};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// Names of the checks; a verdict byte `1 + index` reports a failure of `CHECKS[index]`.
pub(crate) const CHECKS: [&str; 7] = [
    "input sharing (receivers' cross-check)",
    "opening (redundant component check)",
    "MAC check",
    "output opening (redundant component check)",
    "malformed message",
    "abort verdict",
    "AND-gate proof",
];
pub(crate) const CHK_INPUT: usize = 0;
pub(crate) const CHK_OPEN: usize = 1;
pub(crate) const CHK_MAC: usize = 2;
pub(crate) const CHK_OUTPUT: usize = 3;
const CHK_MALFORMED: usize = 4;
const CHK_VERDICT: usize = 5;
pub(crate) const CHK_AND: usize = 6;

const VERDICT_OK: u8 = 0;

/// Hash length of the redundant-component digests.
pub(crate) const HASH_LEN: usize = 32;

/// Traffic and round counters of one party since setup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub messages_sent: u64,
    /// Communication steps (equal at the three parties).
    pub rounds: u64,
}

/// One party's Aramis context.
pub struct Aramis {
    pub(crate) p: Party,
    /// This party's components of the MAC key `alpha` (a sharing of length 1).
    pub(crate) alpha: RShare,
    /// Authenticated sharings whose MAC relation the next check covers.
    pub(crate) pending: Vec<AuthShare>,
    /// Bilinear layers awaiting their check (see `protocols::verify_inner`).
    pub(crate) layers: Vec<crate::bilinear::LayerClaim>,
    /// The fused layers' mask high parts awaiting their MAC check, kept as
    /// what they are recomputed from (`trunc::FusedMask`).
    pub(crate) fused_masks: Vec<crate::trunc::FusedMask>,
    /// daBit batches awaiting their check (`compare::DaBitClaim`).
    pub(crate) dabit_claims: Vec<crate::compare::DaBitClaim>,
    /// The check's sums over the batches folded since the last test, each
    /// under its own coin (`protocols::Aramis::fold_checks`).
    pub(crate) folded: Option<crate::protocols::CheckSums>,
    /// AND gates of the Boolean domain awaiting their proof (see `small`).
    pub(crate) and_log: crate::small::AndLog,
    /// Carry statements of the comparisons' adders, proved by
    /// `small::ADDER_PROVER` alone (see `compare.rs`).
    pub(crate) adder_log: crate::small::AndLog,
    /// Local redundancy checks not yet settled by a verdict: (check, passed).
    flags: Vec<(usize, Choice)>,
    /// Set once the session aborted; every later call fails with it.
    aborted: Option<&'static str>,
    /// The public step being run (for the cheat hook).
    step: Step,
    cheat: Option<Cheat>,
    fired: bool,
    released: u64,
    /// Digests of the opened sums that `next` and `prev` sent to both
    /// their neighbours since the last check (`trunc::bilinear_trunc_lazy`):
    /// the two receivers of each compare them at the checkpoint.
    pub(crate) sole_openings: Option<SoleOpenings>,
    /// Fused layer openings so far: layer `k` is opened through party
    /// `k mod 3` (`trunc::bilinear_trunc_lazy`).
    pub(crate) fused_openings: usize,
}

/// See [`Aramis::sole_openings`]: keyed digests of the masked shares
/// received from each neighbour, `sum_j k_j m_j` over GF(2^64) on the
/// messages' 8-byte words, each key from the stream this party shares
/// with the message's other receiver (never known to its sender).
#[derive(Default)]
pub(crate) struct SoleOpenings {
    pub from_next: u64,
    pub from_prev: u64,
}

impl SoleOpenings {
    /// `sum_j k_j m_j` for the 8-byte little-endian words `m_j` of `msg`
    /// (the last one zero-padded), `keys` one per word. Two different
    /// messages of one length collide with probability 2^-64 over the keys.
    pub(crate) fn digest(msg: &[u8], keys: &[u64]) -> u64 {
        let full = msg.chunks_exact(8);
        let tail = full.remainder();
        let mut words: Vec<u64> = Vec::with_capacity(msg.len().div_ceil(8));
        words.extend(full.map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))));
        if !tail.is_empty() {
            let mut w = [0u8; 8];
            w[..tail.len()].copy_from_slice(tail);
            words.push(u64::from_le_bytes(w));
        }
        crate::gf64::dot(keys, &words)
    }
}

impl std::fmt::Debug for Aramis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aramis")
            .field("id", &self.id())
            .field("rounds", &self.p.rounds())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Aramis {
    /// The MAC-key components are secret: wipe them (the PRG seeds are
    /// wiped by `cryptflow_mpc::Prg`'s own drop).
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.alpha.a);
        zeroize::Zeroize::zeroize(&mut self.alpha.b);
    }
}

/// Domain-separated digest of a component sent in an opening.
pub(crate) fn digest(tag: &[u8], bytes: &[u8]) -> [u8; HASH_LEN] {
    let mut h = Sha256::new();
    h.update(b"cryptflow-aramis/v1/");
    h.update(tag);
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
    h.finalize().into()
}

pub(crate) fn u128s_to_bytes(v: &[u128]) -> Vec<u8> {
    // (reserved once and filled by 16-byte appends: a zeroed buffer would
    // be written twice)
    let mut m = Vec::with_capacity(v.len() * 16);
    for x in v {
        m.extend_from_slice(&x.to_le_bytes());
    }
    m
}

pub(crate) fn u64s_to_bytes(v: &[u64]) -> Vec<u8> {
    let mut m = Vec::with_capacity(v.len() * 8);
    for x in v {
        m.extend_from_slice(&x.to_le_bytes());
    }
    m
}

fn bytes_to_u128s(m: &[u8]) -> Vec<u128> {
    // (collected from an exact-size iterator: one allocation, no zeroing)
    m.chunks_exact(16)
        .map(|c| {
            let mut w = [0u8; 16];
            w.copy_from_slice(c);
            u128::from_le_bytes(w)
        })
        .collect()
}

pub(crate) fn u64s_from(m: &[u8]) -> Vec<u64> {
    m.chunks_exact(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            u64::from_le_bytes(w)
        })
        .collect()
}

impl Aramis {
    /// Pairwise seed setup over `chan` with OS seeds (1 round, 48 bytes per
    /// party, from `cryptflow_mpc::Party::setup`), then the MAC key.
    pub fn setup(chan: Box<dyn Channel>) -> Result<Aramis> {
        Ok(Aramis::from_party(Party::setup(chan)?))
    }

    /// Builds the context on a semi-honest party whose seeds are set up, and
    /// draws the MAC key: `alpha = alpha_0 + alpha_1 + alpha_2` with component
    /// `j` from the stream keyed by `k_j`, which only its two holders know. No
    /// communication; uniform to any single party; never opened.
    ///
    /// A malicious party may have sent garbage seeds at setup: that only makes
    /// its copies of the components disagree with its neighbours', which the
    /// checks catch like any other inconsistent share.
    pub fn from_party(mut p: Party) -> Aramis {
        let a = p.prg_prev().gen_u128(1);
        let b = p.prg_next().gen_u128(1);
        Aramis {
            p,
            alpha: RShare {
                a: a.into(),
                b: b.into(),
            },
            pending: Vec::new(),
            layers: Vec::new(),
            fused_masks: Vec::new(),
            dabit_claims: Vec::new(),
            folded: None,
            and_log: Default::default(),
            adder_log: Default::default(),
            flags: Vec::new(),
            aborted: None,
            step: Step::Input,
            cheat: None,
            fired: false,
            released: 0,
            sole_openings: None,
            fused_openings: 0,
        }
    }

    /// Starts accounting traffic and rounds under `label` (a layer name).
    pub fn set_label(&mut self, label: &str) {
        self.p.set_label(label);
    }

    /// Per-label counters (see `cryptflow_mpc::Party::label_counters`).
    pub fn label_counters(&mut self) -> std::collections::BTreeMap<String, cryptflow_mpc::Counters> {
        self.p.label_counters()
    }

    /// The whole-run counters in the semi-honest crate's type (for reports).
    pub fn mpc_counters(&self) -> cryptflow_mpc::Counters {
        self.p.counters()
    }

    /// This party's number.
    pub fn id(&self) -> PartyId {
        self.p.id()
    }

    /// Configures this party to deviate (tests, `--simulate-cheater`).
    pub fn set_cheat(&mut self, cheat: Option<Cheat>) {
        self.cheat = cheat;
        self.fired = false;
    }

    /// Counters since setup.
    pub fn counters(&self) -> Counters {
        let c = self.p.counters();
        Counters {
            bytes_sent: c.bytes_sent,
            bytes_received: c.bytes_received,
            messages_sent: c.messages_sent,
            rounds: self.p.rounds(),
        }
    }

    /// Number of output-share messages this party sent to an output receiver.
    pub fn released(&self) -> u64 {
        self.released
    }

    /// Number of authenticated elements whose MAC relation awaits the next
    /// check, plus the elements bilinear layers and daBits hold for theirs.
    /// (The AND logs, under 2^24 gates each, wait for their own proof.)
    pub fn pending_elements(&self) -> usize {
        self.pending.iter().map(|x| x.len()).sum::<usize>()
            + self.fused_masks.iter().map(|f| f.len()).sum::<usize>()
            + self.layers.iter().map(|l| l.elements()).sum::<usize>()
            + self.dabit_claims.iter().map(|c| c.elements()).sum::<usize>()
    }

    // ---- session state ----------------------------------------------------

    /// Fails if the session aborted; otherwise enters public step `s`.
    pub(crate) fn enter(&mut self, s: Step) -> Result<()> {
        if let Some(step) = self.aborted {
            return Err(AramisError::CheatingDetected { step });
        }
        self.step = s;
        Ok(())
    }

    /// Whether anything awaits a verdict: a relation to check (held or
    /// folded) or a redundancy check's flag.
    pub(crate) fn unsettled(&self) -> bool {
        !self.flags.is_empty() || self.folded.is_some() || self.pending_elements() > 0 || self.sole_openings.is_some()
    }

    /// Runs `f` in public step `s`, then goes back to the caller's step.
    pub(crate) fn within_step<R>(&mut self, s: Step, f: impl FnOnce(&mut Aramis) -> Result<R>) -> Result<R> {
        let saved = self.step;
        self.enter(s)?;
        let r = f(self);
        self.step = saved;
        r
    }

    /// Runs the AND-gate proofs as part of the comparison step they prove
    /// (so that a `Lie` cheat aimed at `cmp-chain` lies in the proof).
    pub(crate) fn and_proofs_in_step(&mut self) -> Result<()> {
        let saved = std::mem::replace(&mut self.step, Step::CmpChain);
        let r = self.and_proofs();
        self.step = saved;
        r
    }

    pub(crate) fn flag(&mut self, check: usize, ok: Choice) {
        self.flags.push((check, ok));
    }

    pub(crate) fn released_one(&mut self) {
        self.released += 1;
    }

    /// Whether the configured cheat applies now (and marks it fired).
    fn fire(&mut self, want: fn(&Deviation) -> bool) -> Option<Deviation> {
        match self.cheat {
            Some(c) if !self.fired && c.step == self.step && want(&c.deviation) => {
                self.fired = true;
                Some(c.deviation)
            }
            _ => None,
        }
    }

    pub(crate) fn fire_inconsistent(&mut self) -> bool {
        self.fire(|d| matches!(d, Deviation::InconsistentShare)).is_some()
    }

    pub(crate) fn fire_add_error(&mut self) -> u128 {
        match self.fire(|d| matches!(d, Deviation::AddError(_))) {
            Some(Deviation::AddError(e)) => e,
            _ => 0,
        }
    }

    pub(crate) fn fire_lie(&mut self) -> u128 {
        match self.fire(|d| matches!(d, Deviation::Lie(_))) {
            Some(Deviation::Lie(e)) => e,
            _ => 0,
        }
    }

    // ---- randomness -------------------------------------------------------

    /// A random sharing of `n` elements (component `j` from the stream `k_j`); no communication.
    pub(crate) fn rand_rss(&mut self, n: usize) -> RShare {
        let a = self.p.prg_prev().gen_u128(n);
        let b = self.p.prg_next().gen_u128(n);
        RShare {
            a: a.into(),
            b: b.into(),
        }
    }

    /// Adds an additive zero sharing `F(k_i) - F(k_{i+1})` to `z` in place.
    pub(crate) fn add_zero_share(&mut self, z: &mut [u128]) {
        let mut buf = [0u128; 256];
        for c in z.chunks_mut(buf.len()) {
            let t = &mut buf[..c.len()];
            self.p.prg_prev().fill_u128(t);
            c.iter_mut().zip(t.iter()).for_each(|(v, r)| *v = v.wrapping_add(*r));
            self.p.prg_next().fill_u128(t);
            c.iter_mut().zip(t.iter()).for_each(|(v, r)| *v = v.wrapping_sub(*r));
        }
    }

    // ---- messaging --------------------------------------------------------

    pub(crate) fn tick(&mut self) {
        self.p.tick();
    }

    /// Sends a message; the `FlipBit` cheat flips a bit of the first one of its step.
    pub(crate) fn send(&mut self, to: PartyId, mut msg: Vec<u8>) -> Result<()> {
        if !msg.is_empty() && self.fire(|d| matches!(d, Deviation::FlipBit)).is_some() {
            msg[0] ^= 1;
        }
        Ok(self.p.send_bytes(to, msg)?)
    }

    /// Receives exactly `len` bytes. A message of another length is a
    /// deviation: it is flagged and zeros stand in for it (the checkpoint aborts).
    pub(crate) fn recv(&mut self, from: PartyId, len: usize) -> Result<Vec<u8>> {
        match self.p.recv_bytes(from, len) {
            Ok(m) => Ok(m),
            Err(MpcError::BadLength { .. }) => {
                self.flag(CHK_MALFORMED, Choice::from(0));
                Ok(vec![0; len])
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn send_u128s(&mut self, to: PartyId, v: &[u128]) -> Result<()> {
        self.send(to, u128s_to_bytes(v))
    }

    pub(crate) fn recv_u128s(&mut self, from: PartyId, n: usize) -> Result<Vec<u128>> {
        Ok(bytes_to_u128s(&self.recv(from, n * 16)?))
    }

    pub(crate) fn recv_hash(&mut self, from: PartyId) -> Result<[u8; HASH_LEN]> {
        let m = self.recv(from, HASH_LEN)?;
        let mut h = [0u8; HASH_LEN];
        h.copy_from_slice(&m);
        Ok(h)
    }

    /// Products: sends this party's 3-out-of-3 shares `z` (which include a
    /// zero sharing) to `prev`, receives `next`'s: 1 round. The first `vals`
    /// elements are value products, the rest MAC products (for the cheat hook).
    pub(crate) fn reshare(&mut self, z: Vec<u128>, vals: usize) -> Result<RShare> {
        let me = self.id();
        let mut msg = u128s_to_bytes(&z);
        let mut bump = |j: usize, e: u128| {
            if e != 0 {
                let at = &mut msg[16 * j..16 * j + 16];
                let mut w = [0u8; 16];
                w.copy_from_slice(at);
                at.copy_from_slice(&u128::from_le_bytes(w).wrapping_add(e).to_le_bytes());
            }
        };
        if vals > 0 {
            bump(0, self.fire_add_error());
        }
        if z.len() > vals {
            bump(vals, self.fire_lie());
        }
        self.tick();
        self.send(prev(me), msg)?;
        let b = self.recv_u128s(next(me), z.len())?;
        Ok(RShare {
            a: z.into(),
            b: b.into(),
        })
    }

    /// A replicated sharing of `t`, given local 3-out-of-3 shares that are
    /// zero at party `o` (a product where `o`'s local share vanishes): `o`'s
    /// components `o` and `o+1` come from the streams `k_o` and `k_(o+1)`,
    /// and the other two make component `o+2 = t_(o+1) + t_(o+2) - r_o -
    /// r_(o+1)` by sending each other their share masked by the stream they
    /// hold with `o`. 1 round, 16 bytes per element from each of the two,
    /// none from `o`. `n` elements; `o` passes no `t` (empty), the others
    /// `n` local shares. `e` is a cheat hook: added to the first element sent.
    pub(crate) fn reshare_without(&mut self, o: PartyId, n: usize, t: Vec<u128>, e: u128) -> Result<RShare> {
        self.tick();
        let half = self.reshare_without_send(o, n, t, e)?;
        self.reshare_without_recv(half)
    }

    /// The sending half of [`Aramis::reshare_without`] (several can share a round).
    pub(crate) fn reshare_without_send(
        &mut self,
        o: PartyId,
        n: usize,
        mut t: Vec<u128>,
        e: u128,
    ) -> Result<HalfReshare> {
        let me = self.id();
        if me == o {
            return Ok(HalfReshare::Done(self.rand_rss(n)));
        }
        if t.len() != n {
            return Err(AramisError::Param(format!(
                "reshare of {} local shares, {n} expected",
                t.len()
            )));
        }
        // next(o) masks with k_(o+1) (its `a`), prev(o) with k_o (its `b`)
        let first = me == next(o);
        let r = if first {
            self.p.prg_prev().gen_u128(n)
        } else {
            self.p.prg_next().gen_u128(n)
        };
        t.iter_mut().zip(&r).for_each(|(v, m)| *v = v.wrapping_sub(*m));
        if let Some(v) = t.first_mut() {
            *v = v.wrapping_add(e);
        }
        let other = if first { prev(o) } else { next(o) };
        self.send_u128s(other, &t)?;
        Ok(HalfReshare::Wait {
            r,
            sent: t,
            other,
            first,
        })
    }

    /// The receiving half of [`Aramis::reshare_without`].
    pub(crate) fn reshare_without_recv(&mut self, half: HalfReshare) -> Result<RShare> {
        match half {
            HalfReshare::Done(s) => Ok(s),
            HalfReshare::Wait { r, sent, other, first } => {
                let mut c = self.recv_u128s(other, r.len())?;
                c.iter_mut().zip(&sent).for_each(|(v, m)| *v = v.wrapping_add(*m));
                Ok(if first {
                    RShare {
                        a: r.into(),
                        b: c.into(),
                    }
                } else {
                    RShare {
                        a: c.into(),
                        b: r.into(),
                    }
                })
            }
        }
    }

    // ---- checkpoints ------------------------------------------------------

    /// Settles all pending local flags: one round in which every party sends
    /// a one-byte verdict to both others. Continues only if this party's flags
    /// are clear and both peers say "ok"; otherwise the session aborts.
    pub(crate) fn verdict(&mut self) -> Result<()> {
        let ok = self.flags.iter().fold(Choice::from(1), |acc, (_, c)| acc & *c);
        let local = if bool::from(ok) {
            None
        } else {
            // Abort path only: which check failed is no secret.
            self.flags.iter().find(|(_, c)| !bool::from(*c)).map(|(k, _)| *k)
        };
        self.flags.clear();
        let code = local.map_or(VERDICT_OK, |k| 1 + k as u8);
        let me = self.id();
        self.tick();
        self.send(next(me), vec![code])?;
        self.send(prev(me), vec![code])?;
        let mut failed = local;
        for from in [prev(me), next(me)] {
            let v = self.p.recv_bytes(from, 1);
            let peer = match v {
                Ok(m) if m[0] == VERDICT_OK => None,
                Ok(m) => Some(
                    (m[0] as usize)
                        .checked_sub(1)
                        .filter(|k| *k < CHECKS.len())
                        .unwrap_or(CHK_VERDICT),
                ),
                Err(MpcError::BadLength { .. }) => Some(CHK_VERDICT),
                Err(e) => return Err(e.into()),
            };
            failed = failed.or(peer);
        }
        match failed {
            None => Ok(()),
            Some(k) => {
                let step = CHECKS[k];
                self.aborted = Some(step);
                self.pending.clear();
                self.fused_masks.clear();
                self.layers.clear();
                self.dabit_claims.clear();
                self.folded = None;
                self.and_log.clear();
                self.adder_log.clear();
                Err(AramisError::CheatingDetected { step })
            }
        }
    }

    pub(crate) fn ct_eq_hash(a: &[u8; HASH_LEN], b: &[u8; HASH_LEN]) -> Choice {
        a.ct_eq(b)
    }
}

/// A [`Aramis::reshare_without`] whose message is out and whose reply is awaited.
pub(crate) enum HalfReshare {
    /// The party whose share is zero: its components need no message.
    Done(RShare),
    Wait {
        r: Vec<u128>,
        sent: Vec<u128>,
        other: PartyId,
        first: bool,
    },
}

/// Local 3-out-of-3 share of the product: `x_i y_i + x_i y_{i+1} + x_{i+1} y_i`.
pub(crate) fn mul_local(x: &RShare, y: &RShare) -> Vec<u128> {
    mul_local_iter(x, y).collect()
}

/// [`mul_local`] element by element (to fill a buffer shared with other products).
pub(crate) fn mul_local_iter<'a>(x: &'a RShare, y: &'a RShare) -> impl Iterator<Item = u128> + 'a {
    (0..x.len()).map(|j| {
        x.a[j]
            .wrapping_mul(y.a[j].wrapping_add(y.b[j]))
            .wrapping_add(x.b[j].wrapping_mul(y.a[j]))
    })
}
