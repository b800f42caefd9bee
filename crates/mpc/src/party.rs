//! The party context: identity, channel, correlated randomness, counters.
//!
//! # Correlated randomness (Araki, Furukawa, Lindell, Nof, Ohara, CCS 2016, §2.2; ABY3 §2.2)
//!
//! At [`Party::setup`] party `i` samples a seed `k_i` and sends it to
//! `prev(i)`, so party `i` ends up holding `k_i` and `k_{i+1}`:
//!
//! - `k_i` is shared with `prev(i)`: stream [`Party::prg_prev`];
//! - `k_{i+1}` is shared with `next(i)`: stream [`Party::prg_next`].
//!
//! Each unordered pair of parties therefore shares exactly one key, unknown to
//! the third party. The zero sharing `alpha_i = F(k_i) - F(k_{i+1})` (or XOR
//! for bits) sums to zero over the three parties ([`Party::zero_share`]).
//! Each party also sends a 16-byte contribution to both others; the XOR of the
//! three is the seed of [`Party::prg_all`], a stream all three parties know.
//! [`Party::prg_own`] is private randomness.
//!
//! Invariant kept by every protocol of this crate: every draw from a shared
//! stream is made by all holders of that stream, in the same order, with the
//! same length; draws depend only on public data (lengths, party numbers).
//!
//! # Rounds
//!
//! `rounds` counts communication steps: every protocol step in which some
//! message is sent advances every party's counter by one, whether or not that
//! party itself sends in the step. The three counters are therefore equal.
//! Each protocol function documents how many rounds it adds.
//!
//! Setup costs 1 round and 48 bytes sent per party; counters are reset after
//! setup so that they report protocol traffic only.

use crate::error::{MpcError, Result};
use crate::prg::{Prg, Seed, SEED_LEN};
use cryptflow_net::{next, prev, Channel, PartyId, Stats};
use std::collections::BTreeMap;

/// Traffic and round counters of one party (or of one label).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub messages_sent: u64,
    pub rounds: u64,
}

impl Counters {
    fn sub(&self, base: &Counters) -> Counters {
        Counters {
            bytes_sent: self.bytes_sent - base.bytes_sent,
            bytes_received: self.bytes_received - base.bytes_received,
            messages_sent: self.messages_sent - base.messages_sent,
            rounds: self.rounds - base.rounds,
        }
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Counters) {
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.messages_sent += other.messages_sent;
        self.rounds += other.rounds;
    }
}

/// One party's protocol context.
pub struct Party {
    id: PartyId,
    chan: Box<dyn Channel>,
    prg_prev: Prg,
    prg_next: Prg,
    prg_all: Prg,
    prg_own: Prg,
    rounds: u64,
    /// Channel stats right after setup (subtracted from all reports).
    base: Stats,
    label: String,
    label_base: Counters,
    labels: BTreeMap<String, Counters>,
}

impl std::fmt::Debug for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Party")
            .field("id", &self.id)
            .field("rounds", &self.rounds)
            .finish_non_exhaustive()
    }
}

/// Label that counters accumulate under before [`Party::set_label`] is called.
pub const DEFAULT_LABEL: &str = "";

impl Party {
    /// Runs the one-round seed setup over `chan` with seeds from the OS CSPRNG.
    pub fn setup(chan: Box<dyn Channel>) -> Result<Party> {
        let own = Seed::from_os()?;
        let mine = Seed::from_os()?;
        let contrib = Seed::from_os()?;
        Party::setup_with(chan, mine, contrib, own)
    }

    /// Setup with all of this party's seeds derived from `master` (tests,
    /// reproducible runs). Never use a guessable `master` in deployment.
    pub fn setup_seeded(chan: Box<dyn Channel>, master: &Seed) -> Result<Party> {
        let mut g = Prg::new(master);
        let own = g.gen_seed();
        let mine = g.gen_seed();
        let contrib = g.gen_seed();
        Party::setup_with(chan, mine, contrib, own)
    }

    fn setup_with(mut chan: Box<dyn Channel>, k_i: Seed, contrib: Seed, own: Seed) -> Result<Party> {
        let id = chan.id();
        if id > 2 {
            return Err(MpcError::Param(format!("party id {id} is not 0, 1 or 2")));
        }
        let (p, n) = (prev(id), next(id));
        let mut to_prev = Vec::with_capacity(2 * SEED_LEN);
        to_prev.extend_from_slice(k_i.as_bytes());
        to_prev.extend_from_slice(contrib.as_bytes());
        chan.send(p, to_prev)?;
        chan.send(n, contrib.as_bytes().to_vec())?;
        let mut from_next = chan.recv(n)?;
        let mut from_prev = chan.recv(p)?;
        if from_next.len() != 2 * SEED_LEN {
            return Err(MpcError::BadLength {
                peer: n,
                expected: 2 * SEED_LEN,
                got: from_next.len(),
            });
        }
        if from_prev.len() != SEED_LEN {
            return Err(MpcError::BadLength {
                peer: p,
                expected: SEED_LEN,
                got: from_prev.len(),
            });
        }
        let mut k_next = [0u8; SEED_LEN];
        k_next.copy_from_slice(&from_next[..SEED_LEN]);
        let mut c_next = [0u8; SEED_LEN];
        c_next.copy_from_slice(&from_next[SEED_LEN..]);
        let mut c_prev = [0u8; SEED_LEN];
        c_prev.copy_from_slice(&from_prev);
        zeroize::Zeroize::zeroize(&mut from_next);
        zeroize::Zeroize::zeroize(&mut from_prev);
        let k_next = Seed::from_bytes(k_next);
        let common = contrib.xor(&Seed::from_bytes(c_next)).xor(&Seed::from_bytes(c_prev));
        let base = chan.stats();
        Ok(Party {
            id,
            chan,
            prg_prev: Prg::new(&k_i),
            prg_next: Prg::new(&k_next),
            prg_all: Prg::new(&common),
            prg_own: Prg::new(&own),
            rounds: 0,
            base,
            label: DEFAULT_LABEL.to_string(),
            label_base: Counters::default(),
            labels: BTreeMap::new(),
        })
    }

    /// This party's number (0, 1 or 2).
    pub fn id(&self) -> PartyId {
        self.id
    }

    /// Stream shared with `prev(id)` (seed `k_id`).
    pub fn prg_prev(&mut self) -> &mut Prg {
        &mut self.prg_prev
    }

    /// Stream shared with `next(id)` (seed `k_{id+1}`).
    pub fn prg_next(&mut self) -> &mut Prg {
        &mut self.prg_next
    }

    /// Stream shared with party `other` (which must differ from `id`).
    pub fn prg_with(&mut self, other: PartyId) -> &mut Prg {
        if other == next(self.id) {
            &mut self.prg_next
        } else {
            debug_assert_eq!(other, prev(self.id));
            &mut self.prg_prev
        }
    }

    /// Stream known to all three parties.
    pub fn prg_all(&mut self) -> &mut Prg {
        &mut self.prg_all
    }

    /// Private stream of this party.
    pub fn prg_own(&mut self) -> &mut Prg {
        &mut self.prg_own
    }

    /// Additive zero sharing: `F(k_i) - F(k_{i+1})`, summing to 0 mod 2^64 over the parties.
    pub fn zero_share(&mut self, n: usize) -> Vec<u64> {
        let mut z = self.prg_prev.gen_u64(n);
        let mut t = vec![0u64; n];
        self.prg_next.fill_u64(&mut t);
        for (a, b) in z.iter_mut().zip(t.iter()) {
            *a = a.wrapping_sub(*b);
        }
        z
    }

    /// XOR zero sharing of `words` 64-bit words.
    pub fn zero_share_bits(&mut self, words: usize) -> Vec<u64> {
        let mut z = self.prg_prev.gen_u64(words);
        let mut t = vec![0u64; words];
        self.prg_next.fill_u64(&mut t);
        for (a, b) in z.iter_mut().zip(t.iter()) {
            *a ^= *b;
        }
        z
    }

    /// Marks the start of a new communication step (every party calls it;
    /// public for protocol crates built on this party, such as Aramis).
    pub fn tick(&mut self) {
        self.rounds += 1;
    }

    /// Counters since setup.
    pub fn counters(&self) -> Counters {
        let s = self.chan.stats();
        Counters {
            bytes_sent: s.bytes_sent - self.base.bytes_sent,
            bytes_received: s.bytes_received - self.base.bytes_received,
            messages_sent: s.messages_sent - self.base.messages_sent,
            rounds: self.rounds,
        }
    }

    /// Communication rounds since setup.
    pub fn rounds(&self) -> u64 {
        self.rounds
    }

    /// Starts accounting traffic under `label` (e.g. a layer name); what was
    /// counted since the previous call goes to the previous label.
    pub fn set_label(&mut self, label: &str) {
        self.flush_label();
        self.label = label.to_string();
    }

    fn flush_label(&mut self) {
        let now = self.counters();
        let delta = now.sub(&self.label_base);
        self.labels.entry(self.label.clone()).or_default().add(&delta);
        self.label_base = now;
    }

    /// Per-label counters, including the label in use now.
    pub fn label_counters(&mut self) -> BTreeMap<String, Counters> {
        self.flush_label();
        self.labels.clone()
    }

    // ---- messaging ------------------------------------------------------

    /// Sends raw bytes to `to`.
    pub fn send_bytes(&mut self, to: PartyId, msg: Vec<u8>) -> Result<()> {
        Ok(self.chan.send(to, msg)?)
    }

    /// Receives a message of exactly `len` bytes from `from`.
    pub fn recv_bytes(&mut self, from: PartyId, len: usize) -> Result<Vec<u8>> {
        let m = self.chan.recv(from)?;
        if m.len() != len {
            return Err(MpcError::BadLength {
                peer: from,
                expected: len,
                got: m.len(),
            });
        }
        Ok(m)
    }

    /// Sends ring elements (8 bytes each, little-endian).
    pub fn send_u64s(&mut self, to: PartyId, v: &[u64]) -> Result<()> {
        let mut m = Vec::with_capacity(v.len() * 8);
        for x in v {
            m.extend_from_slice(&x.to_le_bytes());
        }
        self.send_bytes(to, m)
    }

    /// Receives exactly `n` ring elements.
    pub fn recv_u64s(&mut self, from: PartyId, n: usize) -> Result<Vec<u64>> {
        let m = self.recv_bytes(from, n * 8)?;
        Ok(m.chunks_exact(8)
            .map(|c| {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                u64::from_le_bytes(w)
            })
            .collect())
    }

    /// Sends `planes` packed bit vectors of `nbits` bits each, stored as
    /// consecutive runs of `nbits.div_ceil(64)` words; `ceil(nbits / 8)` bytes
    /// per plane go on the wire (bits past `nbits` are not sent).
    pub fn send_bits(&mut self, to: PartyId, words: &[u64], nbits: usize) -> Result<()> {
        let m = pack_bits(words, nbits);
        self.send_bytes(to, m)
    }

    /// Receives what [`Party::send_bits`] sent: `planes` planes of `nbits` bits.
    pub fn recv_bits(&mut self, from: PartyId, planes: usize, nbits: usize) -> Result<Vec<u64>> {
        let m = self.recv_bytes(from, planes * nbits.div_ceil(8))?;
        Ok(unpack_bits(&m, planes, nbits))
    }
}

/// Wire format of bit planes: each plane as `ceil(nbits/8)` little-endian
/// bytes (bits past `nbits` cleared). Public for protocol crates that send
/// bit planes through their own checked channel (Aramis).
pub fn pack_bits(words: &[u64], nbits: usize) -> Vec<u8> {
    let nw = nbits.div_ceil(64);
    let nbytes = nbits.div_ceil(8);
    if nw == 0 {
        return Vec::new();
    }
    let planes = words.len() / nw;
    let mut out = Vec::with_capacity(planes * nbytes);
    for plane in words.chunks_exact(nw) {
        let mut left = nbytes;
        for (wi, w) in plane.iter().enumerate() {
            let mut w = *w;
            if wi == nw - 1 && !nbits.is_multiple_of(64) {
                w &= (1u64 << (nbits % 64)) - 1;
            }
            let take = left.min(8);
            out.extend_from_slice(&w.to_le_bytes()[..take]);
            left -= take;
        }
    }
    out
}

/// Inverse of [`pack_bits`]: `planes` planes of `nbits` bits, tails cleared.
pub fn unpack_bits(bytes: &[u8], planes: usize, nbits: usize) -> Vec<u64> {
    let nw = nbits.div_ceil(64);
    let nbytes = nbits.div_ceil(8);
    let mut out = vec![0u64; planes * nw];
    if nbytes == 0 {
        return out;
    }
    for (p, plane) in bytes.chunks_exact(nbytes).enumerate() {
        for (wi, chunk) in plane.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            let mut v = u64::from_le_bytes(w);
            if wi == nw - 1 && !nbits.is_multiple_of(64) {
                v &= (1u64 << (nbits % 64)) - 1;
            }
            out[p * nw + wi] = v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_packing_roundtrip() {
        for nbits in [1usize, 7, 8, 9, 63, 64, 65, 130] {
            let nw = nbits.div_ceil(64);
            let words: Vec<u64> = (0..3 * nw as u64)
                .map(|i| 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i + 1))
                .collect();
            let packed = pack_bits(&words, nbits);
            assert_eq!(packed.len(), 3 * nbits.div_ceil(8));
            let back = unpack_bits(&packed, 3, nbits);
            for p in 0..3 {
                let mut want = words[p * nw..(p + 1) * nw].to_vec();
                crate::prg::mask_tail(&mut want, nbits);
                assert_eq!(&back[p * nw..(p + 1) * nw], &want[..]);
            }
        }
    }
}
