//! Comparisons with MACs: authenticated random bits, DReLU, ReLU, max.
//!
//! DReLU follows the masked-opening comparison of Catrina and de Hoogh
//! (SCN 2010, §3-4: open `x + r` for a mask with shared bits, compare the
//! public opening with the bits) in its ring form (Escudero, Ghosh, Keller,
//! Rachuri, Scholl, CRYPTO 2020, §5: MSB of a bounded value from one masked
//! opening mod 2^L), with every product an authenticated multiplication of
//! Chida et al. (so every stage is covered by the batched MAC check) and the
//! random bits made from the pairwise PRG streams:
//!
//! 1. **bits** (`Step::BitGen`): a random bit is `b_0 xor b_1 xor b_2`, `b_j`
//!    a bit of the stream `k_j`, known to the two holders of component `j`
//!    (so `[b_j]` is a valid sharing for free; any single party misses one
//!    `b_j`, so the XOR is uniform to it). Cost: the three MACs (one reshare)
//!    and two authenticated products for the XORs. A holder that uses a
//!    non-bit or another bit than its partner holds an inconsistent share,
//!    which every later product turns into an additive error (caught by the
//!    MAC check) and every opening into a redundancy failure.
//! 2. **masked opening** (`Step::CmpOpen`): for `|x| < 2^L` (`L = bits - 1`),
//!    `x' = x + 2^L` lies in `[0, 2^(L+1))`; open `u = x' + r mod 2^(L+1)`
//!    with `r = sum_i 2^i [r_i]` (perfectly uniform, so `u` reveals nothing).
//! 3. **borrow chain** (`Step::CmpChain`): `t = [u mod 2^L < r mod 2^L]` by
//!    the scan `t_(i+1) = u_i ? r_i t_i : r_i + t_i - r_i t_i` (one product
//!    per bit), then `x >= 0  <=>  bit L of x' = u_L xor r_L xor t`.
//! 4. **select** (`Step::Select`): `relu(x) = DReLU(x) * x`, one product.
//!
//! Rounds: 3 + 1 + L + 1. Bytes per element (all parties): 336 per random
//! bit, 24 for the opening, 96 per chain step and for the select.

use crate::cheat::Step;
use crate::error::{AramisError, Result};
use crate::party::{Aramis, CHK_OPEN};
use crate::share::{AuthShare, RShare};

/// Elements per comparison round trip (bounds the memory of the bit sharings).
pub const COMPARE_CHUNK: usize = 1 << 13;
/// A checkpoint runs once this many elements await the MAC check.
pub const PENDING_LIMIT: usize = 1 << 21;

impl Aramis {
    /// `n` authenticated random bits, uniform and unknown to every single
    /// party (runs inside the caller's step).
    fn random_bits_raw(&mut self, n: usize) -> Result<AuthShare> {
        let mut own: Vec<u128> = self.p.prg_prev().gen_u64(n).iter().map(|w| (w & 1) as u128).collect();
        let next_bits: Vec<u128> = self.p.prg_next().gen_u64(n).iter().map(|w| (w & 1) as u128).collect();
        if n > 0 && self.fire_inconsistent() {
            // A "bit" of 1 or 2 that the other holder does not have.
            own[0] += 1;
        }
        // Party i holds component i (from k_i, its `a`) and i+1 (its `b`).
        // Sharing S_j has component j = b_j and zeros elsewhere.
        let id = self.id();
        let zeros = vec![0u128; n];
        let share_of = |j: usize| -> RShare {
            if j == id {
                RShare {
                    a: own.clone(),
                    b: zeros.clone(),
                }
            } else if j == (id + 1) % 3 {
                RShare {
                    a: zeros.clone(),
                    b: next_bits.clone(),
                }
            } else {
                RShare::zeros(n)
            }
        };
        let s = [share_of(0), share_of(1), share_of(2)];
        let all = RShare::concat(&[&s[0], &s[1], &s[2]]);
        let mut z = self.alpha_local(&all);
        let zs = self.zero_share(3 * n);
        z.iter_mut().zip(&zs).for_each(|(a, b)| *a = a.wrapping_add(*b));
        let m = self.reshare(z, 0)?;
        let auth: Vec<AuthShare> = (0..3)
            .map(|j| AuthShare {
                v: s[j].clone(),
                m: m.slice(j * n..(j + 1) * n),
            })
            .collect();
        self.pending.extend(auth.iter().cloned());
        let t = self.xor(&auth[0], &auth[1])?;
        self.xor(&t, &auth[2])
    }

    /// `x xor y = x + y - 2xy` for authenticated bits (one product).
    fn xor(&mut self, x: &AuthShare, y: &AuthShare) -> Result<AuthShare> {
        let p = self.mul_raw(x, y)?;
        Ok(x.add(y).sub(&p.mul_const(2)))
    }

    /// `n` authenticated random bits (`Step::BitGen`).
    pub fn random_bits(&mut self, n: usize) -> Result<AuthShare> {
        self.enter(Step::BitGen)?;
        self.random_bits_raw(n)
    }

    /// `[x >= 0]` as an authenticated 0/1 value, for `|x| < 2^(bits-1)`,
    /// `2 <= bits <= 64` (values outside give a wrong bit, never a leak).
    ///
    /// Long vectors run in chunks of [`COMPARE_CHUNK`] elements with a
    /// checkpoint whenever [`PENDING_LIMIT`] elements await the MAC check,
    /// so memory stays bounded (each element of a 28-bit comparison leaves
    /// about 140 sharings to check).
    pub fn drelu(&mut self, x: &AuthShare, bits: u32) -> Result<AuthShare> {
        x.check("drelu")?;
        let n = x.len();
        if n <= COMPARE_CHUNK {
            return self.drelu_chunk(x, bits);
        }
        let mut parts = Vec::with_capacity(n.div_ceil(COMPARE_CHUNK));
        for start in (0..n).step_by(COMPARE_CHUNK) {
            parts.push(self.drelu_chunk(&x.slice(start..(start + COMPARE_CHUNK).min(n)), bits)?);
            self.checkpoint_if_over(PENDING_LIMIT)?;
        }
        let refs: Vec<&AuthShare> = parts.iter().collect();
        Ok(AuthShare::concat(&refs))
    }

    fn drelu_chunk(&mut self, x: &AuthShare, bits: u32) -> Result<AuthShare> {
        if !(2..=64).contains(&bits) {
            return Err(AramisError::Param(format!("comparison width {bits} (2..64)")));
        }
        let n = x.len();
        let l = (bits - 1) as usize;
        let w = bits as usize;

        self.enter(Step::BitGen)?;
        // Bit i of element e's mask at index i * n + e (bit-major: each chain
        // step works on one contiguous slice).
        let rb = self.random_bits_raw(w * n)?;
        let bit = |i: usize| rb.slice(i * n..(i + 1) * n);

        self.enter(Step::CmpOpen)?;
        let mut r = bit(0);
        for i in 1..w {
            r = r.add(&bit(i).mul_const(1u64 << i));
        }
        let mut masked = x.v.add(&RShare::from_public(self.id(), &vec![1u128 << l; n])).add(&r.v);
        if n > 0 && self.fire_inconsistent() {
            masked.a[0] = masked.a[0].wrapping_add(1);
        }
        let e_add = self.fire_add_error();
        let e_lie = self.fire_lie();
        let u = self.open_all_raw(&masked, bits, e_add.wrapping_add(e_lie), e_lie, CHK_OPEN)?;
        let ubit = |i: usize| -> Vec<u64> { u.iter().map(|&v| ((v >> i) & 1) as u64).collect() };

        self.enter(Step::CmpChain)?;
        // t_1 = (1 - u_0) r_0; t_(i+1) = u_i r_i t_i + (1 - u_i)(r_i + t_i - r_i t_i).
        let u0 = ubit(0);
        let mut t = bit(0).mul_public(&u0.iter().map(|&b| 1 - b).collect::<Vec<_>>());
        for i in 1..l {
            let ri = bit(i);
            let p = self.mul_raw(&ri, &t)?;
            let ui = ubit(i);
            let not_ui: Vec<u64> = ui.iter().map(|&b| 1 - b).collect();
            t = p.mul_public(&ui).add(&ri.add(&t).sub(&p).mul_public(&not_ui));
        }
        let rl_xor_t = self.xor(&bit(l), &t)?;
        // bit L of x' = u_L xor (r_L xor t)
        let ul = ubit(l);
        let flip: Vec<u64> = ul.iter().map(|&b| (1u64).wrapping_sub(2 * b)).collect();
        Ok(self.public(&ul).add(&rl_xor_t.mul_public(&flip)))
    }

    /// `max(x, 0)` for `|x| < 2^(bits-1)`: DReLU, then one product (`Step::Select`).
    pub fn relu(&mut self, x: &AuthShare, bits: u32) -> Result<AuthShare> {
        let d = self.drelu(x, bits)?;
        self.enter(Step::Select)?;
        self.mul_raw(&d, x)
    }

    /// Element-wise `max(x, y) = y + relu(x - y)` for `|x - y| < 2^(bits-1)`.
    pub fn max_pairwise(&mut self, x: &AuthShare, y: &AuthShare, bits: u32) -> Result<AuthShare> {
        Ok(y.add(&self.relu(&x.sub(y), bits)?))
    }
}
