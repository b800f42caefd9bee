//! The mod-2 domain of the comparisons: authenticated replicated sharings
//! over Z_2^64 whose value matters **mod 2 only** (SPDZ2k with k = 1,
//! s = 63), so that XOR is a local addition and only AND costs a product
//! (16 bytes per party instead of 32 in the 128-bit domain).
//!
//! The MAC key is `alpha mod 2^64` (the components of the session key,
//! reduced). A small sharing `(v, m)` satisfies `m = alpha v mod 2^64`; the
//! batched check of `protocols.rs` covers it by lifting both halves by
//! `2^64` into Z_2^128, where the relation becomes `2^64 m = alpha 2^64 v
//! mod 2^128`. An error that is odd (the only kind that changes a bit) then
//! has 2-adic valuation 64, so the bound of the check is `(K+1)(K+2)/2 ·
//! 2^-K` with `K = 64`: 2^-52.9.
//!
//! Sharings are made from **pair-known values** (`pair_bits`): a bit of a
//! share component, or of the stream `k_j`, is known to both holders of
//! component `j`, so the sharing with that bit as component `j` (others 0)
//! is consistent for free; only its MAC costs a reshare. A holder that uses
//! another bit than its partner holds an inconsistent share, which every
//! later product turns into an additive error and every opening into a
//! redundancy failure.

use crate::error::Result;
use crate::party::Aramis;
use cryptflow_net::prev;

/// One party's authenticated sharing over Z_2^64 (value mod 2).
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

fn zip(x: &[u64], y: &[u64], f: impl Fn(u64, u64) -> u64) -> Vec<u64> {
    x.iter().zip(y).map(|(&p, &q)| f(p, q)).collect()
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

    /// `self xor o` (mod 2 the sum is the XOR): local.
    pub fn xor(&self, o: &BitShare) -> BitShare {
        BitShare {
            va: zip(&self.va, &o.va, u64::wrapping_add),
            vb: zip(&self.vb, &o.vb, u64::wrapping_add),
            ma: zip(&self.ma, &o.ma, u64::wrapping_add),
            mb: zip(&self.mb, &o.mb, u64::wrapping_add),
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
    fn small_alpha(&self) -> (u64, u64) {
        (self.alpha.a[0] as u64, self.alpha.b[0] as u64)
    }

    /// Additive zero sharing over Z_2^64 from the pairwise streams.
    fn small_zero_share(&mut self, n: usize) -> Vec<u64> {
        let a = self.p.prg_prev().gen_u64(n);
        let b = self.p.prg_next().gen_u64(n);
        zip(&a, &b, u64::wrapping_sub)
    }

    /// Reshare of 3-out-of-3 shares over Z_2^64 (1 round, 8 bytes per
    /// element); the first `vals` elements are value products (cheat hooks
    /// as in the 128-bit `reshare`).
    fn small_reshare(&mut self, z: Vec<u64>, vals: usize) -> Result<(Vec<u64>, Vec<u64>)> {
        let me = self.id();
        let mut msg = z.clone();
        // Only bit 0 of a value matters here, so an even error would change
        // nothing (and need not be caught): the hooks add an odd one.
        let odd = |e: u128| if e == 0 { 0 } else { e as u64 | 1 };
        if vals > 0 {
            let e = odd(self.fire_add_error());
            msg[0] = msg[0].wrapping_add(e);
        }
        if msg.len() > vals {
            let e = odd(self.fire_lie());
            msg[vals] = msg[vals].wrapping_add(e);
        }
        self.tick();
        let bytes = crate::party::u64s_to_bytes(&msg);
        self.send(prev(me), bytes)?;
        let got = self.recv(cryptflow_net::next(me), z.len() * 8)?;
        Ok((z, crate::party::u64s_from(&got)))
    }

    /// Authenticates value sharings `(va, vb)` made of pair-known components:
    /// one reshare of the MAC (8 bytes per element and party). The result
    /// joins the next batched check.
    pub(crate) fn small_auth(&mut self, va: Vec<u64>, vb: Vec<u64>) -> Result<BitShare> {
        let (aa, ab) = self.small_alpha();
        let n = va.len();
        let zs = self.small_zero_share(n);
        let z: Vec<u64> = (0..n)
            .map(|j| {
                aa.wrapping_mul(va[j].wrapping_add(vb[j]))
                    .wrapping_add(ab.wrapping_mul(va[j]))
                    .wrapping_add(zs[j])
            })
            .collect();
        let (ma, mb) = self.small_reshare(z, 0)?;
        let s = BitShare { va, vb, ma, mb };
        self.pending_small.push(s.clone());
        Ok(s)
    }

    /// `x AND y` (mod 2): `[xy]` and `[alpha x y] = [alpha x][y]`, both in
    /// one reshare: 1 round, 16 bytes per element and party. Secure up to
    /// additive attacks; the result joins the next batched check.
    pub(crate) fn and(&mut self, x: &BitShare, y: &BitShare) -> Result<BitShare> {
        let n = x.len();
        let mut xa = x.va.clone();
        if let Some(j) = (0..n).find(|&j| y.va[j].wrapping_add(y.vb[j]) & 1 != 0) {
            if self.fire_inconsistent() {
                xa[j] = xa[j].wrapping_add(1);
            }
        }
        let zs = self.small_zero_share(2 * n);
        let mut z = Vec::with_capacity(2 * n);
        for j in 0..n {
            let ys = y.va[j].wrapping_add(y.vb[j]);
            z.push(
                xa[j]
                    .wrapping_mul(ys)
                    .wrapping_add(x.vb[j].wrapping_mul(y.va[j]))
                    .wrapping_add(zs[j]),
            );
        }
        for j in 0..n {
            let ys = y.va[j].wrapping_add(y.vb[j]);
            z.push(
                x.ma[j]
                    .wrapping_mul(ys)
                    .wrapping_add(x.mb[j].wrapping_mul(y.va[j]))
                    .wrapping_add(zs[n + j]),
            );
        }
        let (za, zb) = self.small_reshare(z, n)?;
        let s = BitShare {
            va: za[..n].to_vec(),
            vb: zb[..n].to_vec(),
            ma: za[n..].to_vec(),
            mb: zb[n..].to_vec(),
        };
        self.pending_small.push(s.clone());
        Ok(s)
    }

    /// Number of small-domain elements awaiting the batched check.
    pub(crate) fn pending_small_elements(&self) -> usize {
        self.pending_small.iter().map(|x| x.len()).sum()
    }
}
