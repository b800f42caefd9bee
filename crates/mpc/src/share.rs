//! 2-out-of-3 replicated secret sharing (Araki et al. CCS 2016; ABY3 §2.2).
//!
//! A value `x` of Z_2^64 is split into three components `x = x0 + x1 + x2`
//! (mod 2^64); party `i` holds the pair `(x_i, x_{i+1})` (indices mod 3):
//! its [`AShare::a`] is `x_i` and its [`AShare::b`] is `x_{i+1}`. Any two
//! parties together know all three components; one party alone learns nothing
//! about `x` as long as the components it lacks are uniformly random.
//!
//! Boolean shares ([`BShare`]) are the same with XOR in place of `+`, one bit
//! per element, **packed 64 elements per `u64` word**: element `j` is bit
//! `j % 64` of word `j / 64`. Bits past `len` in the last word are kept zero.
//!
//! Component `j` is held by parties `j` (as `a`) and `j - 1` (as `b`), the
//! same two parties that hold the PRG seed `k_j` ([`Party::prg_prev`] of `j`,
//! [`Party::prg_next`] of `j - 1`).
//!
//! Threat model: semi-honest, honest majority (at most one corrupt party, no
//! two parties collude).
//!
//! `Debug` prints lengths only, never share values.

use crate::error::{MpcError, Result};
use crate::party::Party;
use crate::prg::mask_tail;
use cryptflow_net::{next, prev, PartyId};

/// One party's arithmetic share of a vector over Z_2^64.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct AShare {
    /// Component `x_i` (party `i` holds components `i` and `i+1`).
    pub a: Vec<u64>,
    /// Component `x_{i+1}`.
    pub b: Vec<u64>,
}

impl std::fmt::Debug for AShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AShare(len={})", self.a.len())
    }
}

fn zip_map(x: &[u64], y: &[u64], f: impl Fn(u64, u64) -> u64) -> Vec<u64> {
    assert_eq!(x.len(), y.len(), "share length mismatch");
    x.iter().zip(y).map(|(&p, &q)| f(p, q)).collect()
}

impl AShare {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.a.len()
    }

    pub fn is_empty(&self) -> bool {
        self.a.is_empty()
    }

    /// Sharing of `n` zeros (no randomness; every party holds zeros).
    pub fn zeros(n: usize) -> AShare {
        AShare {
            a: vec![0; n],
            b: vec![0; n],
        }
    }

    /// Sharing of public values `c`: component 0 is `c`, the others 0.
    pub fn from_public(id: PartyId, c: &[u64]) -> AShare {
        let z = vec![0; c.len()];
        match id {
            0 => AShare { a: c.to_vec(), b: z },
            2 => AShare {
                a: z.clone(),
                b: c.to_vec(),
            },
            _ => AShare { a: z.clone(), b: z },
        }
    }

    /// `self + other`. Panics if the lengths differ.
    pub fn add(&self, other: &AShare) -> AShare {
        AShare {
            a: zip_map(&self.a, &other.a, u64::wrapping_add),
            b: zip_map(&self.b, &other.b, u64::wrapping_add),
        }
    }

    /// `self - other`. Panics if the lengths differ.
    pub fn sub(&self, other: &AShare) -> AShare {
        AShare {
            a: zip_map(&self.a, &other.a, u64::wrapping_sub),
            b: zip_map(&self.b, &other.b, u64::wrapping_sub),
        }
    }

    /// `-self`.
    pub fn neg(&self) -> AShare {
        AShare {
            a: self.a.iter().map(|v| v.wrapping_neg()).collect(),
            b: self.b.iter().map(|v| v.wrapping_neg()).collect(),
        }
    }

    /// `self + c` for a public scalar (party `id` says which components change).
    pub fn add_const(&self, id: PartyId, c: u64) -> AShare {
        let mut r = self.clone();
        match id {
            0 => r.a.iter_mut().for_each(|v| *v = v.wrapping_add(c)),
            2 => r.b.iter_mut().for_each(|v| *v = v.wrapping_add(c)),
            _ => {}
        }
        r
    }

    /// `self + c` element-wise for a public vector. Panics if the lengths differ.
    pub fn add_public(&self, id: PartyId, c: &[u64]) -> AShare {
        self.add(&AShare::from_public(id, c))
    }

    /// `self * c` for a public scalar.
    pub fn mul_const(&self, c: u64) -> AShare {
        AShare {
            a: self.a.iter().map(|v| v.wrapping_mul(c)).collect(),
            b: self.b.iter().map(|v| v.wrapping_mul(c)).collect(),
        }
    }

    /// `self * c` element-wise for a public vector. Panics if the lengths differ.
    pub fn mul_public(&self, c: &[u64]) -> AShare {
        AShare {
            a: zip_map(&self.a, c, u64::wrapping_mul),
            b: zip_map(&self.b, c, u64::wrapping_mul),
        }
    }

    /// Elements `range` of the vector.
    pub fn slice(&self, range: std::ops::Range<usize>) -> AShare {
        AShare {
            a: self.a[range.clone()].to_vec(),
            b: self.b[range].to_vec(),
        }
    }

    /// Concatenation of several shares.
    pub fn concat(parts: &[&AShare]) -> AShare {
        let mut r = AShare::default();
        for p in parts {
            r.a.extend_from_slice(&p.a);
            r.b.extend_from_slice(&p.b);
        }
        r
    }

    fn check_same_len(&self) -> Result<()> {
        if self.a.len() != self.b.len() {
            return Err(MpcError::Shape(format!(
                "share components have {} and {} elements",
                self.a.len(),
                self.b.len()
            )));
        }
        Ok(())
    }
}

/// One party's XOR share of a vector of bits, packed 64 per word.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct BShare {
    /// Component `i` (packed bits).
    pub a: Vec<u64>,
    /// Component `i+1` (packed bits).
    pub b: Vec<u64>,
    /// Number of bits (elements).
    pub len: usize,
}

impl std::fmt::Debug for BShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BShare(len={})", self.len)
    }
}

impl BShare {
    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of packed words.
    pub fn words(&self) -> usize {
        self.len.div_ceil(64)
    }

    /// Sharing of public packed bits (component 0 = `bits`).
    pub fn from_public(id: PartyId, bits: &[u64], len: usize) -> BShare {
        let mut c = bits.to_vec();
        c.resize(len.div_ceil(64), 0);
        mask_tail(&mut c, len);
        let z = vec![0; c.len()];
        match id {
            0 => BShare { a: c, b: z, len },
            2 => BShare { a: z, b: c, len },
            _ => BShare {
                a: z.clone(),
                b: z,
                len,
            },
        }
    }

    /// `self ^ other`. Panics if the lengths differ.
    pub fn xor(&self, other: &BShare) -> BShare {
        assert_eq!(self.len, other.len, "bit share length mismatch");
        BShare {
            a: zip_map(&self.a, &other.a, |p, q| p ^ q),
            b: zip_map(&self.b, &other.b, |p, q| p ^ q),
            len: self.len,
        }
    }

    /// `!self` (flips component 0).
    pub fn not(&self, id: PartyId) -> BShare {
        let mut ones = vec![u64::MAX; self.words()];
        mask_tail(&mut ones, self.len);
        self.xor(&BShare::from_public(id, &ones, self.len))
    }

    /// `self & c` for public packed bits `c`.
    pub fn and_public(&self, c: &[u64]) -> BShare {
        let mut r = BShare {
            a: zip_map(&self.a, c, |p, q| p & q),
            b: zip_map(&self.b, c, |p, q| p & q),
            len: self.len,
        };
        mask_tail(&mut r.a, r.len);
        mask_tail(&mut r.b, r.len);
        r
    }
}

/// Packs booleans into words (element `j` -> bit `j % 64` of word `j / 64`).
pub fn pack_bools(bits: &[bool]) -> Vec<u64> {
    let mut w = vec![0u64; bits.len().div_ceil(64)];
    for (j, &b) in bits.iter().enumerate() {
        w[j / 64] |= (b as u64) << (j % 64);
    }
    w
}

/// Unpacks `len` booleans from packed words.
pub fn unpack_bools(words: &[u64], len: usize) -> Vec<bool> {
    (0..len).map(|j| (words[j / 64] >> (j % 64)) & 1 == 1).collect()
}

// ---- input and output ---------------------------------------------------------

/// Shares `n` ring elements owned by party `owner`. The owner passes
/// `Some(values)`, the others `None`.
///
/// Protocol (1 round, `n` elements sent in total, by the owner to `next(owner)`):
/// component `owner+2` is 0, component `owner` is `F(k_owner)` (known to the
/// owner and `prev(owner)` through their shared stream), component
/// `owner+1 = x - F(k_owner)` is sent to `next(owner)`. `next(owner)` sees a
/// value masked by a stream it does not know; `prev(owner)` sees only PRG
/// output. (The structurally-zero component is public; the shares each
/// non-owner holds are still independent of `x`.)
pub fn share_input(p: &mut Party, owner: PartyId, values: Option<&[u64]>, n: usize) -> Result<AShare> {
    if owner > 2 {
        return Err(MpcError::Param(format!("owner {owner} is not a party")));
    }
    let me = p.id();
    p.tick();
    if me == owner {
        let x = values.ok_or_else(|| MpcError::Param("the owner must supply its input".into()))?;
        if x.len() != n {
            return Err(MpcError::Shape(format!("input has {} elements, expected {n}", x.len())));
        }
        let r = p.prg_prev().gen_u64(n);
        let c1 = zip_map(x, &r, u64::wrapping_sub);
        p.send_u64s(next(me), &c1)?;
        Ok(AShare { a: r, b: c1 })
    } else if me == prev(owner) {
        let r = p.prg_next().gen_u64(n);
        Ok(AShare { a: vec![0; n], b: r })
    } else {
        let c1 = p.recv_u64s(owner, n)?;
        Ok(AShare { a: c1, b: vec![0; n] })
    }
}

/// Boolean version of [`share_input`]: `n` bits packed in words, owned by
/// `owner`. 1 round, `ceil(n/8)` bytes sent by the owner.
pub fn share_input_bits(p: &mut Party, owner: PartyId, bits: Option<&[u64]>, n: usize) -> Result<BShare> {
    if owner > 2 {
        return Err(MpcError::Param(format!("owner {owner} is not a party")));
    }
    let me = p.id();
    let nw = n.div_ceil(64);
    p.tick();
    if me == owner {
        let x = bits.ok_or_else(|| MpcError::Param("the owner must supply its input".into()))?;
        if x.len() != nw {
            return Err(MpcError::Shape(format!("input has {} words, expected {nw}", x.len())));
        }
        let r = p.prg_prev().gen_bits(n);
        let mut c1 = zip_map(x, &r, |u, v| u ^ v);
        mask_tail(&mut c1, n);
        p.send_bits(next(me), &c1, n)?;
        Ok(BShare { a: r, b: c1, len: n })
    } else if me == prev(owner) {
        let r = p.prg_next().gen_bits(n);
        Ok(BShare {
            a: vec![0; nw],
            b: r,
            len: n,
        })
    } else {
        let c1 = p.recv_bits(owner, 1, n)?;
        Ok(BShare {
            a: c1,
            b: vec![0; nw],
            len: n,
        })
    }
}

/// Opens `x` to party `to` only; returns `Some(x)` there and `None` elsewhere.
/// 1 round; `next(to)` sends its `b` (the component `to` lacks): `n` elements.
pub fn reveal_to(p: &mut Party, to: PartyId, x: &AShare) -> Result<Option<Vec<u64>>> {
    if to > 2 {
        return Err(MpcError::Param(format!("party {to} does not exist")));
    }
    x.check_same_len()?;
    let me = p.id();
    p.tick();
    if me == next(to) {
        p.send_u64s(to, &x.b)?;
        Ok(None)
    } else if me == to {
        let c = p.recv_u64s(next(to), x.len())?;
        Ok(Some(
            x.a.iter()
                .zip(&x.b)
                .zip(&c)
                .map(|((u, v), w)| u.wrapping_add(*v).wrapping_add(*w))
                .collect(),
        ))
    } else {
        Ok(None)
    }
}

/// Opens `x` to all three parties. 1 round; every party sends its `a` to
/// `next`: `n` elements per party, `3n` in total.
pub fn reveal_all(p: &mut Party, x: &AShare) -> Result<Vec<u64>> {
    x.check_same_len()?;
    let me = p.id();
    p.tick();
    p.send_u64s(next(me), &x.a)?;
    let c = p.recv_u64s(prev(me), x.len())?;
    Ok(x.a
        .iter()
        .zip(&x.b)
        .zip(&c)
        .map(|((u, v), w)| u.wrapping_add(*v).wrapping_add(*w))
        .collect())
}

/// Opens packed bits to all parties. 1 round, `ceil(n/8)` bytes per party.
pub fn reveal_bits_all(p: &mut Party, x: &BShare) -> Result<Vec<u64>> {
    let me = p.id();
    let nw = x.words();
    if x.a.len() != nw || x.b.len() != nw {
        return Err(MpcError::Shape("bit share words do not match its length".into()));
    }
    p.tick();
    p.send_bits(next(me), &x.a, x.len)?;
    let c = p.recv_bits(prev(me), 1, x.len)?;
    let mut r: Vec<u64> = (0..nw).map(|j| x.a[j] ^ x.b[j] ^ c[j]).collect();
    mask_tail(&mut r, x.len);
    Ok(r)
}

/// Opens packed bits to party `to` only. 1 round, `ceil(n/8)` bytes.
pub fn reveal_bits_to(p: &mut Party, to: PartyId, x: &BShare) -> Result<Option<Vec<u64>>> {
    if to > 2 {
        return Err(MpcError::Param(format!("party {to} does not exist")));
    }
    let me = p.id();
    let nw = x.words();
    if x.a.len() != nw || x.b.len() != nw {
        return Err(MpcError::Shape("bit share words do not match its length".into()));
    }
    p.tick();
    if me == next(to) {
        p.send_bits(to, &x.b, x.len)?;
        Ok(None)
    } else if me == to {
        let c = p.recv_bits(next(to), 1, x.len)?;
        let mut r: Vec<u64> = (0..nw).map(|j| x.a[j] ^ x.b[j] ^ c[j]).collect();
        mask_tail(&mut r, x.len);
        Ok(Some(r))
    } else {
        Ok(None)
    }
}
