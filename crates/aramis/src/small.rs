//! The Boolean domain of the comparisons: replicated XOR-sharings of bits
//! with MACs in GF(2^64) (Chida et al. CRYPTO 2018 §5: a Boolean circuit is
//! verified in an extension field). XOR is local; AND is the Chida et al.
//! product `[xy]`, `[beta x][y]` in one reshare: one bit for the value and
//! 8 bytes for the MAC per element and party. Multiplying a field element
//! by a bit is a select, so products need no field multiplication; only the
//! batched check multiplies in GF(2^64) ([`crate::gf64`]).
//!
//! The MAC key `beta = beta_0 + beta_1 + beta_2` in GF(2^64) is drawn like
//! `alpha` (component j from the stream `k_j`) and never opened. The check
//! runs inside every checkpoint, with coefficients from the same coin as the
//! 128-bit check: `T = sum rho_j m_j + beta sum rho_j v_j`, then `T r` for a
//! random `r`, opened redundantly and compared with 0. Over a field the
//! undetected-cheating probability is below `2 / 2^64` per check.
//!
//! Sharings are made from **pair-known bits** (`Aramis::small_auth`): a
//! bit of a share component, or of the stream `k_j`, is known to both
//! holders of component `j`, so the sharing with that bit as component `j`
//! (others 0) is consistent for free; only its MAC costs a reshare. A holder
//! that uses another bit than its partner holds an inconsistent share, which
//! every later product turns into an additive error and every opening into
//! a redundancy failure.

use crate::error::Result;
use crate::gf64;
use crate::party::{digest, u64s_from, Aramis, CHK_MAC};
use cryptflow_mpc::Prg;
use cryptflow_net::{next, prev};
use subtle::ConstantTimeEq;

/// One party's authenticated XOR-sharing of bits (values 0/1, MACs in GF(2^64)).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct BitShare {
    pub va: Vec<u64>,
    pub vb: Vec<u64>,
    pub ma: Vec<u64>,
    pub mb: Vec<u64>,
}

impl std::fmt::Debug for BitShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BitShare(len={})", self.va.len())
    }
}

fn xor(x: &[u64], y: &[u64]) -> Vec<u64> {
    x.iter().zip(y).map(|(&p, &q)| p ^ q).collect()
}

/// `v` if `bit` is 1, else 0 (constant time).
#[inline(always)]
fn sel(v: u64, bit: u64) -> u64 {
    v & 0u64.wrapping_sub(bit & 1)
}

fn pack_bits(v: &[u64]) -> Vec<u8> {
    let mut out = vec![0u8; v.len().div_ceil(8)];
    for (j, &b) in v.iter().enumerate() {
        out[j / 8] |= ((b & 1) as u8) << (j % 8);
    }
    out
}

fn unpack_bits(m: &[u8], n: usize) -> Vec<u64> {
    (0..n).map(|j| ((m[j / 8] >> (j % 8)) & 1) as u64).collect()
}

impl BitShare {
    pub fn len(&self) -> usize {
        self.va.len()
    }

    pub fn is_empty(&self) -> bool {
        self.va.is_empty()
    }

    pub fn zeros(n: usize) -> BitShare {
        BitShare {
            va: vec![0; n],
            vb: vec![0; n],
            ma: vec![0; n],
            mb: vec![0; n],
        }
    }

    /// `self xor o`: local, MACs add.
    pub fn xor(&self, o: &BitShare) -> BitShare {
        BitShare {
            va: xor(&self.va, &o.va),
            vb: xor(&self.vb, &o.vb),
            ma: xor(&self.ma, &o.ma),
            mb: xor(&self.mb, &o.mb),
        }
    }

    pub fn slice(&self, r: std::ops::Range<usize>) -> BitShare {
        BitShare {
            va: self.va[r.clone()].to_vec(),
            vb: self.vb[r.clone()].to_vec(),
            ma: self.ma[r.clone()].to_vec(),
            mb: self.mb[r].to_vec(),
        }
    }
}

impl Aramis {
    /// Additive (XOR) zero sharing of `n` words from the pairwise streams.
    fn xor_zero_share(&mut self, n: usize) -> Vec<u64> {
        let a = self.p.prg_prev().gen_u64(n);
        let b = self.p.prg_next().gen_u64(n);
        xor(&a, &b)
    }

    /// XOR zero sharing of `n` bits (one PRG word per 64 bits).
    fn xor_zero_bits(&mut self, n: usize) -> Vec<u64> {
        let w = self.xor_zero_share(n.div_ceil(64));
        (0..n).map(|j| (w[j / 64] >> (j % 64)) & 1).collect()
    }

    /// Reshare of 3-out-of-3 XOR shares: the first `bits` elements are value
    /// bits (sent packed, one bit each), the rest GF(2^64) MAC words (8
    /// bytes each). 1 round. Cheat hooks as in the 128-bit `reshare`: an
    /// additive error flips the first value bit, a lie adds a non-zero
    /// element to the first MAC word.
    fn bin_reshare(&mut self, z: Vec<u64>, bits: usize) -> Result<(Vec<u64>, Vec<u64>)> {
        let me = self.id();
        let words = z.len() - bits;
        let nb = bits.div_ceil(8);
        let mut bytes = pack_bits(&z[..bits]);
        bytes.reserve(8 * words);
        for w in &z[bits..] {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        if bits > 0 && self.fire_add_error() != 0 {
            bytes[0] ^= 1;
        }
        if words > 0 {
            let e = self.fire_lie();
            if e != 0 {
                let first = (e as u64).max(1).to_le_bytes();
                bytes[nb..nb + 8].iter_mut().zip(first).for_each(|(b, f)| *b ^= f);
            }
        }
        self.tick();
        self.send(prev(me), bytes)?;
        let got = self.recv(next(me), nb + 8 * words)?;
        let mut other = unpack_bits(&got[..nb], bits);
        other.extend(u64s_from(&got[nb..]));
        Ok((z, other))
    }

    /// Authenticates value sharings `(va, vb)` of bits made of pair-known
    /// components: one reshare of the MAC (8 bytes per element and party).
    /// The result joins the next batched check.
    pub(crate) fn small_auth(&mut self, va: Vec<u64>, vb: Vec<u64>) -> Result<BitShare> {
        let (va, vb): (Vec<u64>, Vec<u64>) = (va.iter().map(|b| b & 1).collect(), vb.iter().map(|b| b & 1).collect());
        let (ba, bb) = self.beta;
        let n = va.len();
        let zs = self.xor_zero_share(n);
        let z: Vec<u64> = (0..n)
            .map(|j| sel(ba, va[j] ^ vb[j]) ^ sel(bb, va[j]) ^ zs[j])
            .collect();
        let (ma, mb) = self.bin_reshare(z, 0)?;
        let s = BitShare { va, vb, ma, mb };
        self.pending_small.push(s.clone());
        Ok(s)
    }

    /// `x AND y`: `[xy]` and `[beta x y] = [beta x][y]` in one reshare:
    /// 1 round, one bit and 8 bytes per element and party. Secure up to
    /// additive attacks; the result joins the next batched check.
    pub(crate) fn and(&mut self, x: &BitShare, y: &BitShare) -> Result<BitShare> {
        let n = x.len();
        // An inconsistent x component changes this party's product only
        // where y_i + y_(i+1) = 1; elsewhere it changes no message.
        let mut flip = usize::MAX;
        if let Some(j) = (0..n).find(|&j| (y.va[j] ^ y.vb[j]) & 1 == 1) {
            if self.fire_inconsistent() {
                flip = j;
            }
        }
        let zv = self.xor_zero_bits(n);
        let zm = self.xor_zero_share(n);
        let mut z = Vec::with_capacity(2 * n);
        z.extend((0..n).map(|j| {
            let xa = x.va[j] ^ (j == flip) as u64;
            ((xa & (y.va[j] ^ y.vb[j])) ^ (x.vb[j] & y.va[j]) ^ zv[j]) & 1
        }));
        z.extend((0..n).map(|j| sel(x.ma[j], y.va[j] ^ y.vb[j]) ^ sel(x.mb[j], y.va[j]) ^ zm[j]));
        let (mut va, mut vb) = self.bin_reshare(z, n)?;
        let (ma, mb) = (va.split_off(n), vb.split_off(n));
        let s = BitShare { va, vb, ma, mb };
        self.pending_small.push(s.clone());
        Ok(s)
    }

    /// Number of Boolean-domain elements awaiting the batched check.
    pub(crate) fn pending_small_elements(&self) -> usize {
        self.pending_small.iter().map(|x| x.len()).sum()
    }

    /// Redundant opening of one XOR-shared word (1 round): the missing
    /// component from `prev`, its hash from `next`, compared in constant time.
    fn open_word(&mut self, a: u64, b: u64) -> Result<u64> {
        let me = self.id();
        self.tick();
        self.send(next(me), a.to_le_bytes().to_vec())?;
        self.send(prev(me), digest(b"open-gf", &b.to_le_bytes()).to_vec())?;
        let c = self.recv(prev(me), 8)?;
        let h = self.recv_hash(next(me))?;
        self.flag(CHK_MAC, Aramis::ct_eq_hash(&digest(b"open-gf", &c), &h));
        Ok(a ^ b ^ u64s_from(&c)[0])
    }

    /// The GF(2^64) half of a checkpoint (3 rounds), with coefficients from
    /// `g` (seeded by the checkpoint's coin, drawn after every checked
    /// value was fixed): flags `CHK_MAC` unless `T r = 0`.
    pub(crate) fn bin_check(&mut self, g: &mut Prg) -> Result<()> {
        if self.pending_small.is_empty() {
            return Ok(());
        }
        let (mut ua, mut ub, mut wa, mut wb) = (0u64, 0u64, 0u64, 0u64);
        for x in std::mem::take(&mut self.pending_small) {
            let rho = g.gen_u64(x.len());
            ua ^= gf64::dot(&rho, &x.ma);
            ub ^= gf64::dot(&rho, &x.mb);
            for (j, &r) in rho.iter().enumerate() {
                wa ^= sel(r, x.va[j]);
                wb ^= sel(r, x.vb[j]);
            }
        }
        // [beta w]: replicated product with the key (one reshare)
        let (ba, bb) = self.beta;
        let z = gf64::mul(ba, wa ^ wb) ^ gf64::mul(bb, wa) ^ self.xor_zero_share(1)[0];
        let (bw_a, bw_b) = self.bin_reshare(vec![z], 0)?;
        let (ta, tb) = (ua ^ bw_a[0], ub ^ bw_b[0]);
        // [T r] for a fresh random [r], opened: 0 unless someone cheated
        let ra = self.p.prg_prev().gen_u64(1)[0];
        let rb = self.p.prg_next().gen_u64(1)[0];
        let z = gf64::mul(ta, ra ^ rb) ^ gf64::mul(tb, ra) ^ self.xor_zero_share(1)[0];
        let (tr_a, tr_b) = self.bin_reshare(vec![z], 0)?;
        let opened = self.open_word(tr_a[0], tr_b[0])?;
        self.flag(CHK_MAC, opened.ct_eq(&0));
        Ok(())
    }
}
