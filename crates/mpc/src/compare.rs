//! Comparison: DReLU (sign bit), bit selection, ReLU, pairwise max.
//!
//! Threat model: semi-honest, honest majority; no two parties collude.
//!
//! # DReLU on `bits` low bits ([`drelu`])
//!
//! Follows the arithmetic-to-boolean conversion (bit decomposition) of ABY3
//! (Mohassel-Rindal, CCS 2018, §5.3), computing only the most significant
//! bit, with a log-depth carry tree (the carry-out half of a
//! Brent-Kung/Sklansky parallel-prefix adder over generate/propagate pairs)
//! instead of a full adder. Two changes, both ours and both semi-honest only:
//!
//! 1. **Fewer bits.** If `|x| < 2^(bits-1)` then `x' = x + 2^(bits-1)` lies in
//!    `[1, 2^bits)`, and bit `bits-1` of `x' mod 2^bits` is 1 exactly when
//!    `x >= 0`. That bit depends only on the low `bits` bits of the three
//!    components, so everything below runs on `bits` bits (for `bits = 64`
//!    the condition always holds: `x' = x + 2^63` flips the sign bit).
//! 2. **3 shares to 2 operands without AND gates.** Party 1 holds both
//!    `x'_1` and `x'_2`, so it adds them in the clear, `y = x'_1 + x'_2`, and
//!    inputs `y` as a boolean sharing (1 round, `bits` bits sent by party 1
//!    only; component 0 of `y` is 0, component 1 comes from the 0-1 stream).
//!    `a = x'_0` is held by parties 0 and 2 and is locally a boolean sharing
//!    `(a, 0, 0)`. This replaces the carry-save full-adder layer of the
//!    generic 3-operand conversion (which costs `bits` AND gates) by `bits`
//!    input bits sent once.
//! 3. **Carry tree.** `G_j = a_j & y_j` for `j < bits-1` (one layer of AND
//!    gates), `P_j = a_j ^ y_j` (local). Adjacent groups are merged,
//!    `(G, P) = (G_hi ^ P_hi & G_lo, P_hi & P_lo)`, halving the number of
//!    groups per round; the lowest group never needs its `P`. After
//!    `ceil(log2(bits-1))` rounds the single group's `G` is the carry into bit
//!    `bits-1`, and `drelu = a_{bits-1} ^ y_{bits-1} ^ carry`.
//!
//! AND gates on replicated boolean shares (Araki et al. CCS 2016) cost 1 bit
//! sent per party per gate. Gate count for `m = bits - 1` carry positions:
//! `m` for the G layer plus about `2m` in the tree (exactly 181 for 64 bits,
//! 86 for 32 bits).
//!
//! Rounds of [`drelu`]: `2 + ceil(log2(bits - 1))` (8 for 64 bits, 7 for 32).
//!
//! # Selection ([`select`]), a semi-honest 3PC bit injection
//!
//! Replaces ABY3 §5.4's OT-based bit injection by a cheaper 2-round variant
//! that exploits who knows which component. Write the bit `b = c ^ e` with
//! `c = b_0 ^ b_1` (known to party 0) and `e = b_2` (known to parties 1
//! and 2), and `s = 1 - 2e` (±1, known to 1 and 2). Then
//! `b * x = s * c * (x_0 + x_1) + s * c * x_2 + e * x`.
//!
//! - Round 1: party 0 sends `w + r_a` and `c + r_b` to party 1, where
//!   `w = c * (x_0 + x_1)` and `r_a, r_b` come from the 0-2 stream. Party 1
//!   computes `z_1 = s (w + r_a) + s (c + r_b) x_2 + e (x_1 + x_2)`, party 2
//!   computes `z_2 = -s r_a - s r_b x_2 + e x_0`; `z_1 + z_2 = b x`.
//! - Round 2: `u_0, u_1` are drawn from the 0-2 and 0-1 streams (party 0
//!   holds both); party 1 sends `z_1 - u_1` to party 2, party 2 sends
//!   `z_2 - u_0` to party 1, and both set `u_2 = (z_1 - u_1) + (z_2 - u_0)`.
//!
//! Every message is masked by a stream the receiver does not hold.
//! Cost: 2 rounds, 4 ring elements in total per element (32 bytes).
//!
//! # ReLU ([`relu`])
//!
//! DReLU and selection fused: the DReLU's last AND layer is not reshared;
//! its 3-out-of-3 output is split as `c = delta_0` (party 0 knows it at once)
//! and `e = delta_1 ^ delta_2`, which parties 1 and 2 swap in the same round
//! as selection's round 1. Rounds: `2 + ceil(log2(bits-1)) + 1` (9 for
//! 64 bits, 8 for 32 bits). Bytes: see `docs/PROTOCOLS.md` and the tests.

use crate::error::{MpcError, Result};
use crate::mul::{and_local, and_planes};
use crate::party::Party;
use crate::prg::mask_tail;
use crate::share::{AShare, BShare};
use cryptflow_net::{next, prev};

/// Transposes a 64x64 bit matrix in place: afterwards bit `e` of `m[j]` is
/// bit `j` of the original `m[e]`.
pub fn transpose64(m: &mut [u64; 64]) {
    let mut j = 32usize;
    let mut mask = 0x0000_0000_FFFF_FFFFu64;
    while j != 0 {
        for k in 0..64 {
            if k & j == 0 {
                let t = ((m[k] >> j) ^ m[k + j]) & mask;
                m[k + j] ^= t;
                m[k] ^= t << j;
            }
        }
        j >>= 1;
        mask ^= mask << j;
    }
}

/// Bit planes of the low `bits` bits of `vals`: plane `j` (words
/// `j*nw .. (j+1)*nw`, `nw = ceil(n/64)`) packs bit `j` of every element.
pub fn to_planes(vals: &[u64], bits: usize) -> Vec<u64> {
    let n = vals.len();
    let nw = n.div_ceil(64);
    let mut out = vec![0u64; bits * nw];
    for w in 0..nw {
        let mut blk = [0u64; 64];
        let chunk = &vals[w * 64..n.min(w * 64 + 64)];
        blk[..chunk.len()].copy_from_slice(chunk);
        transpose64(&mut blk);
        for j in 0..bits {
            out[j * nw + w] = blk[j];
        }
    }
    out
}

fn xor_vec(x: &[u64], y: &[u64]) -> Vec<u64> {
    x.iter().zip(y).map(|(a, b)| a ^ b).collect()
}

fn check_bits(bits: u32) -> Result<()> {
    if !(2..=64).contains(&bits) {
        return Err(MpcError::Param(format!("comparison on {bits} bits (must be 2..=64)")));
    }
    Ok(())
}

fn check_share(x: &AShare) -> Result<()> {
    if x.a.len() != x.b.len() {
        return Err(MpcError::Shape("share components differ in length".into()));
    }
    Ok(())
}

/// One replicated boolean vector of `nw` words: (component i, component i+1).
type Rb = (Vec<u64>, Vec<u64>);

/// Runs the DReLU circuit up to, but not including, the reshare of its last
/// AND layer. Returns this party's 3-out-of-3 share of the DReLU bits
/// (packed, garbage past `n` not yet masked).
fn drelu_3of3(p: &mut Party, x: &AShare, bits: u32) -> Result<Vec<u64>> {
    check_bits(bits)?;
    check_share(x)?;
    let id = p.id();
    let n = x.len();
    let nw = n.div_ceil(64);
    let l = bits as usize;
    let m = l - 1;
    let half = 1u64 << (l - 1);
    let zeros = vec![0u64; l * nw];

    // Local: a = x'_0 (parties 0 and 2), y = x'_1 + x'_2 (party 1).
    // Round 1: party 1 inputs y as boolean planes (component 1 from the 0-1 stream).
    p.tick();
    let (a_planes, y_a, y_b) = match id {
        0 => {
            let a: Vec<u64> = x.a.iter().map(|v| v.wrapping_add(half)).collect();
            let y1 = p.prg_next().gen_u64(l * nw);
            (to_planes(&a, l), zeros.clone(), y1)
        }
        1 => {
            let y: Vec<u64> = x.a.iter().zip(&x.b).map(|(u, v)| u.wrapping_add(*v)).collect();
            let y1 = p.prg_prev().gen_u64(l * nw);
            let y2 = xor_vec(&to_planes(&y, l), &y1);
            p.send_bits(2, &y2, n)?;
            (zeros.clone(), y1, y2)
        }
        _ => {
            let a: Vec<u64> = x.b.iter().map(|v| v.wrapping_add(half)).collect();
            let y2 = p.recv_bits(1, l, n)?;
            (to_planes(&a, l), y2, zeros.clone())
        }
    };
    // Replicated boolean shares of a: party 0 (a, 0), party 1 (0, 0), party 2 (0, a).
    let (a_a, a_b) = match id {
        0 => (a_planes, zeros.clone()),
        1 => (zeros.clone(), zeros.clone()),
        _ => (zeros.clone(), a_planes),
    };
    let plane = |v: &[u64], j: usize| v[j * nw..(j + 1) * nw].to_vec();

    // Bit l-1 of a and y, as 3-out-of-3 (component i).
    let top = xor_vec(&plane(&a_a, m), &plane(&y_a, m));

    // G layer on planes 0..m.
    let r = m * nw;
    if m == 1 {
        // The G layer is the last AND: keep it 3-out-of-3.
        let t = and_local(p, &a_a[..r], &a_b[..r], &y_a[..r], &y_b[..r]);
        return Ok(xor_vec(&t, &top));
    }
    let (g_a, g_b) = and_planes(p, (&a_a[..r], &a_b[..r]), (&y_a[..r], &y_b[..r]), m, n)?;
    // Groups: (G, P); the lowest group carries no P.
    let mut groups: Vec<(Rb, Option<Rb>)> = (0..m)
        .map(|j| {
            let g = (plane(&g_a, j), plane(&g_b, j));
            let pp = if j == 0 {
                None
            } else {
                Some((
                    xor_vec(&plane(&a_a, j), &plane(&y_a, j)),
                    xor_vec(&plane(&a_b, j), &plane(&y_b, j)),
                ))
            };
            (g, pp)
        })
        .collect();

    loop {
        if groups.len() == 2 {
            // Last merge: carry = G_hi ^ (P_hi & G_lo); keep the AND 3-out-of-3.
            let (lo, hi) = (&groups[0], &groups[1]);
            let (ph_a, ph_b) =
                hi.1.as_ref()
                    .ok_or_else(|| MpcError::Param("internal: missing P".into()))?;
            let t = and_local(p, ph_a, ph_b, &lo.0 .0, &lo.0 .1);
            let carry = xor_vec(&t, &hi.0 .0);
            return Ok(xor_vec(&carry, &top));
        }
        // Collect this level's AND gates: P_hi & G_lo, and P_hi & P_lo when lo has P.
        let pairs = groups.len() / 2;
        let (mut l_a, mut l_b, mut r_a, mut r_b) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut jobs = 0;
        for t in 0..pairs {
            let (lo, hi) = (&groups[2 * t], &groups[2 * t + 1]);
            let ph =
                hi.1.as_ref()
                    .ok_or_else(|| MpcError::Param("internal: missing P".into()))?;
            l_a.extend_from_slice(&ph.0);
            l_b.extend_from_slice(&ph.1);
            r_a.extend_from_slice(&lo.0 .0);
            r_b.extend_from_slice(&lo.0 .1);
            jobs += 1;
            if let Some(pl) = &lo.1 {
                l_a.extend_from_slice(&ph.0);
                l_b.extend_from_slice(&ph.1);
                r_a.extend_from_slice(&pl.0);
                r_b.extend_from_slice(&pl.1);
                jobs += 1;
            }
        }
        let (o_a, o_b) = and_planes(p, (&l_a, &l_b), (&r_a, &r_b), jobs, n)?;
        let mut next_groups = Vec::with_capacity(pairs + 1);
        let mut k = 0;
        for t in 0..pairs {
            let (lo, hi) = (&groups[2 * t], &groups[2 * t + 1]);
            let g = (xor_vec(&hi.0 .0, &plane(&o_a, k)), xor_vec(&hi.0 .1, &plane(&o_b, k)));
            k += 1;
            let pp = if lo.1.is_some() {
                let v = (plane(&o_a, k), plane(&o_b, k));
                k += 1;
                Some(v)
            } else {
                None
            };
            next_groups.push((g, pp));
        }
        if groups.len() % 2 == 1 {
            if let Some(last) = groups.pop() {
                next_groups.push(last);
            }
        }
        groups = next_groups;
    }
}

/// `[x >= 0]` as a boolean sharing, computed on the low `bits` bits: exact
/// whenever `|x as i64| < 2^(bits-1)` (always for `bits = 64`).
/// Rounds: `2 + ceil(log2(bits-1))`.
pub fn drelu(p: &mut Party, x: &AShare, bits: u32) -> Result<BShare> {
    let n = x.len();
    let mut d = drelu_3of3(p, x, bits)?;
    mask_tail(&mut d, n);
    let me = p.id();
    p.tick();
    p.send_bits(prev(me), &d, n)?;
    let r = p.recv_bits(next(me), 1, n)?;
    Ok(BShare { a: d, b: r, len: n })
}

/// `[x < 0]` (the sign bit), same cost and condition as [`drelu`].
pub fn msb(p: &mut Party, x: &AShare, bits: u32) -> Result<BShare> {
    let id = p.id();
    Ok(drelu(p, x, bits)?.not(id))
}

/// How the selection bit `b = c ^ e` is split.
enum Split {
    /// Party 0: `c`.
    C(Vec<u64>),
    /// Parties 1 and 2: `e` known.
    E(Vec<u64>),
    /// Parties 1 and 2: own 3-out-of-3 share; `e` = XOR with the other's.
    Swap(Vec<u64>),
}

fn select_inner(p: &mut Party, x: &AShare, split: Split) -> Result<AShare> {
    let id = p.id();
    let n = x.len();
    let bit = |w: &[u64], j: usize| (w[j / 64] >> (j % 64)) & 1;
    // Round 1.
    p.tick();
    let z: Vec<u64> = match (id, split) {
        (0, Split::C(c)) => {
            let mut msg = p.prg_prev().gen_u64(2 * n); // r_a then r_b
            for j in 0..n {
                let cj = bit(&c, j);
                let w = cj.wrapping_mul(x.a[j].wrapping_add(x.b[j]));
                msg[j] = msg[j].wrapping_add(w);
                msg[n + j] = msg[n + j].wrapping_add(cj);
            }
            p.send_u64s(1, &msg)?;
            Vec::new()
        }
        (1 | 2, s) => {
            let e = match s {
                Split::E(e) => e,
                Split::Swap(mut d) => {
                    let other = 3 - id;
                    mask_tail(&mut d, n);
                    p.send_bits(other, &d, n)?;
                    let o = p.recv_bits(other, 1, n)?;
                    xor_vec(&d, &o)
                }
                Split::C(_) => return Err(MpcError::Param("internal: party 1/2 given c".into())),
            };
            if id == 1 {
                let msg = p.recv_u64s(0, 2 * n)?;
                (0..n)
                    .map(|j| {
                        let ej = bit(&e, j);
                        let s = 1u64.wrapping_sub(ej << 1);
                        let (x1, x2) = (x.a[j], x.b[j]);
                        s.wrapping_mul(msg[j])
                            .wrapping_add(s.wrapping_mul(msg[n + j]).wrapping_mul(x2))
                            .wrapping_add(ej.wrapping_mul(x1.wrapping_add(x2)))
                    })
                    .collect()
            } else {
                let r = p.prg_next().gen_u64(2 * n);
                (0..n)
                    .map(|j| {
                        let ej = bit(&e, j);
                        let s = 1u64.wrapping_sub(ej << 1);
                        let (x2, x0) = (x.a[j], x.b[j]);
                        ej.wrapping_mul(x0)
                            .wrapping_sub(s.wrapping_mul(r[j]))
                            .wrapping_sub(s.wrapping_mul(r[n + j]).wrapping_mul(x2))
                    })
                    .collect()
            }
        }
        _ => return Err(MpcError::Param("internal: party 0 not given c".into())),
    };
    // Round 2: 2-out-of-2 (parties 1, 2) to replicated.
    p.tick();
    match id {
        0 => {
            let u0 = p.prg_prev().gen_u64(n);
            let u1 = p.prg_next().gen_u64(n);
            Ok(AShare { a: u0, b: u1 })
        }
        1 => {
            let u1 = p.prg_prev().gen_u64(n);
            let mine: Vec<u64> = z.iter().zip(&u1).map(|(a, b)| a.wrapping_sub(*b)).collect();
            p.send_u64s(2, &mine)?;
            let o = p.recv_u64s(2, n)?;
            let u2 = mine.iter().zip(&o).map(|(a, b)| a.wrapping_add(*b)).collect();
            Ok(AShare { a: u1, b: u2 })
        }
        _ => {
            let u0 = p.prg_next().gen_u64(n);
            let mine: Vec<u64> = z.iter().zip(&u0).map(|(a, b)| a.wrapping_sub(*b)).collect();
            p.send_u64s(1, &mine)?;
            let o = p.recv_u64s(1, n)?;
            let u2 = mine.iter().zip(&o).map(|(a, b)| a.wrapping_add(*b)).collect();
            Ok(AShare { a: u2, b: u0 })
        }
    }
}

/// `b ? x : 0` element-wise. 2 rounds; 4 ring elements in total per element.
pub fn select(p: &mut Party, b: &BShare, x: &AShare) -> Result<AShare> {
    check_share(x)?;
    let nw = b.words();
    if b.len != x.len() || b.a.len() != nw || b.b.len() != nw {
        return Err(MpcError::Shape(format!(
            "select: {} bits for {} elements",
            b.len,
            x.len()
        )));
    }
    let split = match p.id() {
        0 => Split::C(xor_vec(&b.a, &b.b)),
        1 => Split::E(b.b.clone()),
        _ => Split::E(b.a.clone()),
    };
    select_inner(p, x, split)
}

/// Boolean to arithmetic sharing of bits (`b ? 1 : 0`). Same cost as [`select`].
pub fn b2a(p: &mut Party, b: &BShare) -> Result<AShare> {
    let one = AShare::from_public(p.id(), &vec![1u64; b.len]);
    select(p, b, &one)
}

/// `max(x, 0)` computed with a DReLU on the low `bits` bits: exact whenever
/// `|x as i64| < 2^(bits-1)`. Rounds: `3 + ceil(log2(bits-1))`.
pub fn relu(p: &mut Party, x: &AShare, bits: u32) -> Result<AShare> {
    let d = drelu_3of3(p, x, bits)?;
    let split = match p.id() {
        0 => Split::C(d),
        _ => Split::Swap(d),
    };
    select_inner(p, x, split)
}

/// `max(x, y)` = `y + relu(x - y)`; exact whenever `|x - y| < 2^(bits-1)`.
pub fn max_pairwise(p: &mut Party, x: &AShare, y: &AShare, bits: u32) -> Result<AShare> {
    check_share(x)?;
    check_share(y)?;
    if x.len() != y.len() {
        return Err(MpcError::Shape(format!("max of {} and {} elements", x.len(), y.len())));
    }
    let diff = x.sub(y);
    Ok(y.add(&relu(p, &diff, bits)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_matches_naive() {
        let mut m = [0u64; 64];
        let mut s = 0x1234_5678_9abc_def0u64;
        for v in m.iter_mut() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            *v = s;
        }
        let orig = m;
        transpose64(&mut m);
        for (j, row) in m.iter().enumerate() {
            for (e, o) in orig.iter().enumerate() {
                assert_eq!((row >> e) & 1, (o >> j) & 1);
            }
        }
    }

    #[test]
    fn planes_of_partial_block() {
        let vals: Vec<u64> = (0..70u64).map(|i| i * 3 + 1).collect();
        let pl = to_planes(&vals, 10);
        let nw = 2;
        for (e, v) in vals.iter().enumerate() {
            for j in 0..10 {
                assert_eq!((pl[j * nw + e / 64] >> (e % 64)) & 1, (v >> j) & 1);
            }
        }
    }
}
