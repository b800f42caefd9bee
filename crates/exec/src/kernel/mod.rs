//! Fast dense kernels behind [`crate::ring::gemm`] and [`crate::ring::conv`].
//!
//! The u64 GEMM (the ring Z_2^64, wrapping) is blocked in the usual way: a
//! KC x NC block of B and an MC x KC block of A are packed into micro-panels
//! (zero-padded at the edges), and a register-blocked micro-kernel computes
//! one MR x NR tile of C per call. The micro-kernel is AVX-512 (`vpmullq`,
//! 8 x 16) when the CPU has it, chosen at run time, and plain Rust otherwise
//! (also when `CRYPTFLOW_NO_SIMD=1`). GEMMs with fewer than [`SMALL_M`] rows
//! skip packing and stream B through a row kernel. Large GEMMs are split
//! into row or column blocks of C run in parallel by rayon.
//!
//! The u128 GEMM (Z_2^128, the malicious backend's shares) packs limbs of
//! its operands into the same blocking with its own micro-kernels (AVX-512
//! IFMA or `vpmuludq`); see `wide.rs`.
//!
//! Wrapping arithmetic is exact, so every path gives bit-identical results.
//! The f32 GEMM is `matrixmultiply`'s, split over row blocks by rayon.
//!
//! Carry-less multiplication (for GF(2^64) arithmetic in the malicious
//! protocols) uses PCLMULQDQ when present, a constant-time shift-and-xor
//! loop otherwise ([`clmul_xor_sum`]). The GF(2^64) vector operations of
//! the Boolean proofs ([`Gf64`]) run on AVX-512 VPCLMULQDQ where the CPU
//! has it (four products per instruction, reduced in the vector
//! registers) and through those block kernels otherwise.
//!
//! All `unsafe` code is in `simd.rs`.

mod portable;
mod simd;
mod wide;

use rayon::prelude::*;
use simd::{Avx512, Pclmul, Vpclmul};
use std::sync::OnceLock;
pub use wide::{gemm_u128_small_a, gemm_u128_with, U128Kernel, Width, LOW_BITS};

/// Which implementation a u64 GEMM runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// AVX-512 if the CPU has it and `CRYPTFLOW_NO_SIMD` is not set to
    /// something other than `0`; the portable kernels otherwise.
    Auto,
    /// The AVX-512 kernels (the portable ones when the CPU lacks AVX-512).
    Simd,
    /// The plain-Rust kernels.
    Portable,
}

/// Depth of a packed block (rows of B, columns of A).
pub const KC: usize = 256;
/// Rows of A packed at once (a multiple of both kernels' MR).
pub const MC: usize = 128;
/// Columns of B packed at once (a multiple of both kernels' NR).
pub const NC: usize = 2048;
/// GEMMs with fewer rows than this use the row kernel, without packing.
pub const SMALL_M: usize = 4;
/// Multiply-adds from which a GEMM is split across rayon's threads.
pub const PAR_WORK: usize = 1 << 19;

/// Whether the CPU has the AVX-512 features the SIMD micro-kernel needs.
pub fn simd_available() -> bool {
    Avx512::detect().is_some()
}

/// The path [`Path::Auto`] resolves to in this process: [`Path::Simd`] or
/// [`Path::Portable`]. Reads `CRYPTFLOW_NO_SIMD` once.
pub fn auto_path() -> Path {
    static AUTO: OnceLock<Path> = OnceLock::new();
    *AUTO.get_or_init(|| {
        let off = std::env::var("CRYPTFLOW_NO_SIMD").is_ok_and(|v| !v.is_empty() && v != "0");
        if !off && simd_available() {
            Path::Simd
        } else {
            Path::Portable
        }
    })
}

/// `[sum_j x[j] * w[t][j] mod 2^128; N]` for `j < x.len()` (each `w[t]` at
/// least that long; the rest of it is ignored): the weighted sums of the
/// malicious protocols' checks, `N` weightings in one pass over `x`. AVX-512
/// IFMA when the CPU has it and [`auto_path`] allows SIMD, the plain loop
/// otherwise; both exact.
pub fn dot_u128_u64<const N: usize>(x: &[u128], w: [&[u64]; N]) -> [u128; N] {
    static HW: OnceLock<Option<simd::Ifma>> = OnceLock::new();
    let hw = *HW.get_or_init(|| {
        if auto_path() == Path::Simd {
            simd::Ifma::detect()
        } else {
            None
        }
    });
    dot_u128_u64_with(hw.is_some(), x, w)
}

/// [`dot_u128_u64`] on the IFMA kernel (where the CPU has it) or on the
/// plain loop: for tests and benchmarks.
pub fn dot_u128_u64_with<const N: usize>(simd: bool, x: &[u128], w: [&[u64]; N]) -> [u128; N] {
    let n = x.len();
    assert!(w.iter().all(|v| v.len() >= n), "dot_u128_u64: weight vector too short");
    let (mut out, from) = match simd.then(simd::Ifma::detect).flatten() {
        Some(k) => (k.dot_w(x, w), n - n % 8),
        None => ([0u128; N], 0),
    };
    for (o, wt) in out.iter_mut().zip(&w) {
        *o = o.wrapping_add(portable::dot_w(&x[from..], &wt[from..n]));
    }
    out
}

#[derive(Clone, Copy)]
enum Kern {
    Avx(Avx512),
    Portable,
}

impl Kern {
    fn new(path: Path) -> Kern {
        let path = if path == Path::Auto { auto_path() } else { path };
        match (path, Avx512::detect()) {
            (Path::Simd, Some(k)) => Kern::Avx(k),
            _ => Kern::Portable,
        }
    }
    fn mr(self) -> usize {
        match self {
            Kern::Avx(_) => simd::MR,
            Kern::Portable => portable::MR,
        }
    }
    fn nr(self) -> usize {
        match self {
            Kern::Avx(_) => simd::NR,
            Kern::Portable => portable::NR,
        }
    }
    /// One tile of which only the first `cols` columns are used.
    fn micro(self, kc: usize, a: &[u64], b: &[u64], tile: &mut [u64], cols: usize) {
        match self {
            Kern::Avx(k) => k.micro(kc, a, b, tile, cols),
            Kern::Portable => portable::micro(kc, a, b, tile),
        }
    }
    fn row(self, a: &[u64], b: &[u64], ldb: usize, c: &mut [u64]) {
        match self {
            Kern::Avx(k) => k.row(a, b, ldb, c),
            Kern::Portable => portable::row(a, b, ldb, c),
        }
    }
}

/// C[m,n] = A[m,k] * B[k,n] over Z_2^64, row-major, on the [`Path::Auto`] path.
pub fn gemm_u64(m: usize, k: usize, n: usize, a: &[u64], b: &[u64]) -> Vec<u64> {
    gemm_u64_with(Path::Auto, m, k, n, a, b)
}

/// [`gemm_u64`] on a chosen path.
pub fn gemm_u64_with(path: Path, m: usize, k: usize, n: usize, a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut c = vec![0; m * n];
    gemm_u64_into(path, m, k, n, a, b, &mut c);
    c
}

/// The textbook triple loop (i, p, j), serial: the reference the fast paths
/// are tested and benchmarked against.
pub fn gemm_u64_naive(m: usize, k: usize, n: usize, a: &[u64], b: &[u64]) -> Vec<u64> {
    assert!(a.len() == m * k && b.len() == k * n, "gemm: operand sizes");
    let mut c = vec![0u64; m * n];
    for i in 0..m {
        for p in 0..k {
            let aip = a[i * k + p];
            for j in 0..n {
                c[i * n + j] = c[i * n + j].wrapping_add(aip.wrapping_mul(b[p * n + j]));
            }
        }
    }
    c
}

/// One parallel task: the C block of rows `i0..i0 + rows.len()` and columns
/// `j0..j0 + rows[0].len()`, one slice per row.
struct Job<'c, T> {
    i0: usize,
    j0: usize,
    rows: Vec<&'c mut [T]>,
}

/// C[m,n] = A[m,k] * B[k,n] over Z_2^64 into `c` (overwritten), row-major.
pub fn gemm_u64_into(path: Path, m: usize, k: usize, n: usize, a: &[u64], b: &[u64], c: &mut [u64]) {
    assert_eq!(a.len(), m * k, "gemm: A has the wrong size");
    assert_eq!(b.len(), k * n, "gemm: B has the wrong size");
    assert_eq!(c.len(), m * n, "gemm: C has the wrong size");
    c.fill(0);
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let kern = Kern::new(path);
    let small = m < SMALL_M;
    let (mr, nr) = if small { (1, kern.nr()) } else { (kern.mr(), kern.nr()) };
    run_jobs(m, k, n, mr, nr, c, |job| {
        if small {
            row_job(kern, k, n, a, b, job)
        } else {
            packed_job(kern, k, n, a, b, job)
        }
    });
}

/// Splits C (m x n, row-major) into blocks whose sides are multiples of
/// `mr` x `nr` and runs `run` on each: about two tasks per thread when the
/// product is large (along the longer side first: a row split repacks B per
/// task, a column split repacks A), one task otherwise.
fn run_jobs<T: Send>(
    m: usize,
    k: usize,
    n: usize,
    mr: usize,
    nr: usize,
    c: &mut [T],
    run: impl Fn(Job<T>) + Sync + Send,
) {
    let threads = if m * k * n >= PAR_WORK {
        rayon::current_num_threads()
    } else {
        1
    };
    let target = if threads > 1 { 2 * threads } else { 1 };
    let (row_units, col_units) = (m.div_ceil(mr), n.div_ceil(nr));
    let (rparts, cparts) = if m >= n {
        let r = target.min(row_units);
        (r, target.div_ceil(r).min(col_units))
    } else {
        let cp = target.min(col_units);
        (target.div_ceil(cp).min(row_units), cp)
    };
    let rows_per = row_units.div_ceil(rparts) * mr;
    let cols_per = col_units.div_ceil(cparts) * nr;

    let mut jobs = Vec::new();
    for (ri, block) in c.chunks_mut(rows_per * n).enumerate() {
        let mut parts: Vec<Vec<&mut [T]>> = (0..n.div_ceil(cols_per)).map(|_| Vec::new()).collect();
        for row in block.chunks_mut(n) {
            let mut rest = row;
            for part in &mut parts {
                let w = cols_per.min(rest.len());
                let (head, tail) = std::mem::take(&mut rest).split_at_mut(w);
                part.push(head);
                rest = tail;
            }
        }
        for (cj, rows) in parts.into_iter().enumerate() {
            jobs.push(Job {
                i0: ri * rows_per,
                j0: cj * cols_per,
                rows,
            });
        }
    }
    if jobs.len() == 1 {
        jobs.into_iter().for_each(run);
    } else {
        jobs.into_par_iter().for_each(run);
    }
}

fn row_job(kern: Kern, k: usize, n: usize, a: &[u64], b: &[u64], mut job: Job<u64>) {
    for (i, crow) in job.rows.iter_mut().enumerate() {
        let ai = &a[(job.i0 + i) * k..(job.i0 + i + 1) * k];
        kern.row(ai, &b[job.j0..], n, crow);
    }
}

/// The blocked GEMM of one job: loops jc (NC) > pc (KC, pack B) > ic (MC,
/// pack A) > jr (NR) > ir (MR, micro-kernel), adding each tile into C.
fn packed_job(kern: Kern, k: usize, n: usize, a: &[u64], b: &[u64], mut job: Job<u64>) {
    let (mr, nr) = (kern.mr(), kern.nr());
    let (mj, nj) = (job.rows.len(), job.rows.first().map_or(0, |r| r.len()));
    if nj == 0 {
        return;
    }
    let kcap = KC.min(k);
    let mut bpack = vec![0u64; kcap * NC.min(nj).next_multiple_of(nr)];
    let mut apack = vec![0u64; kcap * MC.min(mj).next_multiple_of(mr)];
    let mut tile = [0u64; simd::MR * simd::NR];
    for jc in (0..nj).step_by(NC) {
        let nc = NC.min(nj - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            pack_b(b, n, pc, kc, job.j0 + jc, nc, nr, &mut bpack);
            for ic in (0..mj).step_by(MC) {
                let mc = MC.min(mj - ic);
                pack_a(a, k, job.i0 + ic, mc, pc, kc, mr, &mut apack);
                for jr in 0..nc.div_ceil(nr) {
                    let bp = &bpack[jr * nr * kc..(jr + 1) * nr * kc];
                    let ncols = nr.min(nc - jr * nr);
                    let col = jc + jr * nr;
                    for ir in 0..mc.div_ceil(mr) {
                        let ap = &apack[ir * mr * kc..(ir + 1) * mr * kc];
                        kern.micro(kc, ap, bp, &mut tile, ncols);
                        let nrows = mr.min(mc - ir * mr);
                        let crows = &mut job.rows[ic + ir * mr..ic + ir * mr + nrows];
                        for (crow, t) in crows.iter_mut().zip(tile.chunks_exact(nr)) {
                            for (cv, &tv) in crow[col..col + ncols].iter_mut().zip(t) {
                                *cv = cv.wrapping_add(tv);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Packs A[row0..row0+mc, pc..pc+kc] into MR-row micro-panels: element
/// (r, p) of panel q at `q*mr*kc + p*mr + r`, zero rows past `mc`.
#[allow(clippy::too_many_arguments)]
fn pack_a(a: &[u64], k: usize, row0: usize, mc: usize, pc: usize, kc: usize, mr: usize, out: &mut [u64]) {
    for q in 0..mc.div_ceil(mr) {
        let panel = &mut out[q * mr * kc..(q + 1) * mr * kc];
        for r in 0..mr {
            let i = q * mr + r;
            if i < mc {
                let src = &a[(row0 + i) * k + pc..(row0 + i) * k + pc + kc];
                for (dst, &v) in panel.iter_mut().skip(r).step_by(mr).zip(src) {
                    *dst = v;
                }
            } else {
                panel.iter_mut().skip(r).step_by(mr).for_each(|d| *d = 0);
            }
        }
    }
}

/// Packs B[pc..pc+kc, col0..col0+nc] into NR-column micro-panels: element
/// (p, j) of panel q at `q*nr*kc + p*nr + j`, zero columns past `nc`.
#[allow(clippy::too_many_arguments)]
fn pack_b(b: &[u64], n: usize, pc: usize, kc: usize, col0: usize, nc: usize, nr: usize, out: &mut [u64]) {
    for q in 0..nc.div_ceil(nr) {
        let panel = &mut out[q * nr * kc..(q + 1) * nr * kc];
        let c0 = col0 + q * nr;
        let w = nr.min(nc - q * nr);
        for (p, dst) in panel.chunks_exact_mut(nr).enumerate() {
            let src = &b[(pc + p) * n + c0..(pc + p) * n + c0 + w];
            dst[..w].copy_from_slice(src);
            dst[w..].fill(0);
        }
    }
}

/// C[m,n] = A[m,k] * B[k,n] in f32 into `c` (overwritten), row-major;
/// split over row blocks by rayon when large. Fewer than [`SMALL_M`] rows
/// take the generic row loop.
pub fn gemm_f32_into(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert_eq!(a.len(), m * k, "gemm: A has the wrong size");
    assert_eq!(b.len(), k * n, "gemm: B has the wrong size");
    assert_eq!(c.len(), m * n, "gemm: C has the wrong size");
    if m == 0 || n == 0 {
        return;
    }
    if m < SMALL_M {
        // matrixmultiply is slow for a few rows; the row loop streams B.
        return crate::ring::gemm_generic_into(m, k, n, a, b, c);
    }
    let threads = rayon::current_num_threads();
    if m * k * n < PAR_WORK || threads == 1 || m < 2 * simd::MR {
        simd::sgemm(m, k, n, a, b, c);
        return;
    }
    let rows = m.div_ceil(2 * threads).next_multiple_of(simd::MR);
    c.par_chunks_mut(rows * n)
        .zip(a.par_chunks(rows * k))
        .for_each(|(cb, ab)| {
            simd::sgemm(cb.len() / n, k, n, ab, b, cb);
        });
}

/// [`gemm_f32_into`] returning a new matrix.
pub fn gemm_f32(m: usize, k: usize, n: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
    let mut c = vec![0.0; m * n];
    gemm_f32_into(m, k, n, a, b, &mut c);
    c
}

#[cfg(test)]
mod tests;

/// The 128-bit carry-less product of `a` and `b` in plain Rust, constant
/// time (no branch on the operands), as (low, high).
pub fn clmul_portable(a: u64, b: u64) -> (u64, u64) {
    let (mut lo, mut hi) = (0u64, 0u64);
    for i in 0..64 {
        let m = 0u64.wrapping_sub((b >> i) & 1);
        lo ^= (a << i) & m;
        hi ^= a.checked_shr(64 - i).unwrap_or(0) & m;
    }
    (lo, hi)
}

/// XOR over `j` of the carry-less products `a[j] * b[j]` (the linear part of
/// a GF(2^64) inner product, before reduction), as (low, high): PCLMULQDQ
/// when the CPU has it, [`clmul_portable`] otherwise.
pub fn clmul_xor_sum(a: &[u64], b: &[u64]) -> (u64, u64) {
    assert_eq!(a.len(), b.len(), "clmul: lengths differ");
    if let Some(v) = Gf64::auto().hw {
        return v.clmul_xor_sum(a, b);
    }
    clmul_xor_sum_scalar(a, b)
}

/// [`clmul_xor_sum`] without VPCLMULQDQ.
fn clmul_xor_sum_scalar(a: &[u64], b: &[u64]) -> (u64, u64) {
    static HW: OnceLock<Option<Pclmul>> = OnceLock::new();
    match HW.get_or_init(Pclmul::detect) {
        Some(p) => p.clmul_xor_sum(a, b),
        None => a.iter().zip(b).fold((0, 0), |(l, h), (&x, &y)| {
            let (pl, ph) = clmul_portable(x, y);
            (l ^ pl, h ^ ph)
        }),
    }
}

/// Element-wise carry-less products `a[j] * b[j]` into `(lo[j], hi[j])`
/// (PCLMULQDQ when present). Panics if the lengths differ.
pub fn clmul_pairs(a: &[u64], b: &[u64], lo: &mut [u64], hi: &mut [u64]) {
    assert!(
        a.len() == b.len() && a.len() == lo.len() && a.len() == hi.len(),
        "clmul: lengths differ"
    );
    static HW: OnceLock<Option<Pclmul>> = OnceLock::new();
    match HW.get_or_init(Pclmul::detect) {
        Some(p) => p.clmul_pairs(a, Some(b), 0, lo, hi),
        None => {
            for j in 0..a.len() {
                (lo[j], hi[j]) = clmul_portable(a[j], b[j]);
            }
        }
    }
}

/// Carry-less products `a[j] * s` by one scalar into `(lo[j], hi[j])`.
pub fn clmul_scalar(a: &[u64], s: u64, lo: &mut [u64], hi: &mut [u64]) {
    assert!(a.len() == lo.len() && a.len() == hi.len(), "clmul: lengths differ");
    static HW: OnceLock<Option<Pclmul>> = OnceLock::new();
    match HW.get_or_init(Pclmul::detect) {
        Some(p) => p.clmul_pairs(a, None, s, lo, hi),
        None => {
            for j in 0..a.len() {
                (lo[j], hi[j]) = clmul_portable(a[j], s);
            }
        }
    }
}

/// Reduces the 128-bit polynomial `hi x^64 + lo` modulo the GF(2^64)
/// pentanomial x^64 + x^4 + x^3 + x + 1 (constant time).
#[inline]
pub fn gf64_reduce(lo: u64, hi: u64) -> u64 {
    // hi x^64 = hi (x^4 + x^3 + x + 1); the bits shifted past x^63 come
    // back once more (at most 4 of them, so no third round).
    let t = (hi >> 63) ^ (hi >> 61) ^ (hi >> 60);
    lo ^ hi ^ (hi << 1) ^ (hi << 3) ^ (hi << 4) ^ t ^ (t << 1) ^ (t << 3) ^ (t << 4)
}

/// Scratch length of the block kernels below (on the stack).
const GF_BLOCK: usize = 512;

/// The GF(2^64) vector operations of the Boolean proofs (field
/// GF(2)\[x\] / (x^64 + x^4 + x^3 + x + 1)), on one implementation:
/// AVX-512 VPCLMULQDQ with the reduction in the vector registers, or the
/// block kernels ([`clmul_pairs`]: PCLMULQDQ or the portable loop) with a
/// scalar reduction per product. Both give the same field elements.
#[derive(Clone, Copy, Debug)]
pub struct Gf64 {
    hw: Option<Vpclmul>,
}

impl Gf64 {
    /// VPCLMULQDQ when the CPU has it (detected once), the block kernels
    /// otherwise.
    pub fn auto() -> Gf64 {
        static HW: OnceLock<Option<Vpclmul>> = OnceLock::new();
        Gf64 {
            hw: *HW.get_or_init(Vpclmul::detect),
        }
    }

    /// The VPCLMULQDQ kernels, if the CPU has them.
    pub fn vpclmul() -> Option<Gf64> {
        Vpclmul::detect().map(|v| Gf64 { hw: Some(v) })
    }

    /// The block kernels (PCLMULQDQ or portable, one reduction per product):
    /// the reference the vector kernels are tested and benchmarked against.
    pub fn blocks() -> Gf64 {
        Gf64 { hw: None }
    }

    /// Whether this runs the VPCLMULQDQ kernels.
    pub fn is_vector(self) -> bool {
        self.hw.is_some()
    }

    /// `out[j] = a[j] * b[j]`.
    pub fn mul_into(self, a: &[u64], b: &[u64], out: &mut [u64]) {
        assert!(a.len() == b.len() && a.len() == out.len(), "gf64: lengths differ");
        if let Some(v) = self.hw {
            return v.mul(Some(a), Some(b), 0, out);
        }
        let (mut lo, mut hi) = ([0u64; GF_BLOCK], [0u64; GF_BLOCK]);
        for ((x, y), o) in a.chunks(GF_BLOCK).zip(b.chunks(GF_BLOCK)).zip(out.chunks_mut(GF_BLOCK)) {
            let k = x.len();
            clmul_pairs(x, y, &mut lo[..k], &mut hi[..k]);
            for j in 0..k {
                o[j] = gf64_reduce(lo[j], hi[j]);
            }
        }
    }

    /// `v[j] = v[j] * s`.
    pub fn scale(self, v: &mut [u64], s: u64) {
        if let Some(hw) = self.hw {
            return hw.mul(None, None, s, v);
        }
        let (mut lo, mut hi) = ([0u64; GF_BLOCK], [0u64; GF_BLOCK]);
        for o in v.chunks_mut(GF_BLOCK) {
            let k = o.len();
            clmul_scalar(o, s, &mut lo[..k], &mut hi[..k]);
            for j in 0..k {
                o[j] = gf64_reduce(lo[j], hi[j]);
            }
        }
    }

    /// One level of an eq table: `b[j] = a[j] * x`, then `a[j] += b[j]`
    /// (`a (1 + x)`).
    pub fn eq_expand(self, a: &mut [u64], b: &mut [u64], x: u64) {
        assert_eq!(a.len(), b.len(), "gf64: lengths differ");
        if let Some(v) = self.hw {
            return v.eq_expand(a, b, x);
        }
        let (mut lo, mut hi) = ([0u64; GF_BLOCK], [0u64; GF_BLOCK]);
        for (ac, bc) in a.chunks_mut(GF_BLOCK).zip(b.chunks_mut(GF_BLOCK)) {
            let k = ac.len();
            clmul_scalar(ac, x, &mut lo[..k], &mut hi[..k]);
            for j in 0..k {
                bc[j] = gf64_reduce(lo[j], hi[j]);
                ac[j] ^= bc[j];
            }
        }
    }

    /// Binds the lowest variable of the multilinear table `v` (even length)
    /// to `r`, in place: `v[p] = v[2p] + r (v[2p] + v[2p+1])` for
    /// `p < v.len() / 2`; the upper half is left as scratch.
    pub fn fold_in_place(self, v: &mut [u64], r: u64) {
        assert!(v.len().is_multiple_of(2), "gf64: odd table");
        if let Some(hw) = self.hw {
            return hw.fold_in_place(v, r);
        }
        let (mut d, mut lo, mut hi) = ([0u64; GF_BLOCK], [0u64; GF_BLOCK], [0u64; GF_BLOCK]);
        for p0 in (0..v.len() / 2).step_by(GF_BLOCK) {
            let k = GF_BLOCK.min(v.len() / 2 - p0);
            for j in 0..k {
                d[j] = v[2 * (p0 + j)] ^ v[2 * (p0 + j) + 1];
            }
            clmul_scalar(&d[..k], r, &mut lo[..k], &mut hi[..k]);
            // entry p is written after entries 2p, 2p + 1 (>= p) were read
            for j in 0..k {
                v[p0 + j] = v[2 * (p0 + j)] ^ gf64_reduce(lo[j], hi[j]);
            }
        }
    }

    /// `sum_j a[j] b[j]`, reduced once.
    pub fn dot(self, a: &[u64], b: &[u64]) -> u64 {
        assert_eq!(a.len(), b.len(), "gf64: lengths differ");
        let (lo, hi) = match self.hw {
            Some(v) => v.clmul_xor_sum(a, b),
            None => clmul_xor_sum_scalar(a, b),
        };
        gf64_reduce(lo, hi)
    }

    /// For the pairs `(u_2p, u_2p+1)`, `(v_2p, v_2p+1)` and weights
    /// `w[p mod w.len()]` (`w.len()` divides the pair count):
    /// `[sum_p w u_2p v_2p, sum_p w u_2p+1 v_2p+1, sum_p w (u_2p + u_2p+1)(v_2p + v_2p+1)]`.
    /// The pairs that share a weight are summed unreduced and reduced once
    /// before the weight multiplies them; the weighted products are summed
    /// unreduced too (two reductions per weight instead of two per pair).
    pub fn quad_sums(self, u: &[u64], v: &[u64], w: &[u64]) -> [u64; 3] {
        assert!(u.len() == v.len() && u.len().is_multiple_of(2), "gf64: lengths differ");
        let (pairs, period) = (u.len() / 2, w.len());
        assert!(
            period > 0 && pairs.is_multiple_of(period),
            "gf64: weights do not divide the pairs"
        );
        let (mut acc, from) = match self.hw {
            Some(hw) => (hw.quad_sums(u, v, w), period - period % 8),
            None => ([(0, 0); 3], 0),
        };
        let rest = quad_sums_blocks(u, v, w, from);
        for (a, r) in acc.iter_mut().zip(rest) {
            *a = (a.0 ^ r.0, a.1 ^ r.1);
        }
        acc.map(|(lo, hi)| gf64_reduce(lo, hi))
    }
}

/// The unreduced sums of [`Gf64::quad_sums`] over the weight positions
/// `from..w.len()`, by the block kernels.
fn quad_sums_blocks(u: &[u64], v: &[u64], w: &[u64], from: usize) -> [(u64, u64); 3] {
    const B: usize = GF_BLOCK / 2;
    let period = w.len();
    let reps = u.len() / 2 / period;
    let (mut x, mut y) = ([0u64; B], [0u64; B]);
    let (mut lo, mut hi) = ([0u64; B], [0u64; B]);
    let mut acc = [(0u64, 0u64); 3];
    for p0 in (from..period).step_by(B) {
        let k = B.min(period - p0);
        for (c, a) in acc.iter_mut().enumerate() {
            // class c of positions p0.. summed over the repetitions
            let (mut sl, mut sh) = ([0u64; B], [0u64; B]);
            for i in 0..reps {
                for j in 0..k {
                    let q = 2 * (p0 + j + i * period);
                    (x[j], y[j]) = match c {
                        0 => (u[q], v[q]),
                        1 => (u[q + 1], v[q + 1]),
                        _ => (u[q] ^ u[q + 1], v[q] ^ v[q + 1]),
                    };
                }
                clmul_pairs(&x[..k], &y[..k], &mut lo[..k], &mut hi[..k]);
                for j in 0..k {
                    sl[j] ^= lo[j];
                    sh[j] ^= hi[j];
                }
            }
            for j in 0..k {
                x[j] = gf64_reduce(sl[j], sh[j]);
            }
            let (l, h) = clmul_xor_sum_scalar(&w[p0..p0 + k], &x[..k]);
            *a = (a.0 ^ l, a.1 ^ h);
        }
    }
    acc
}

#[cfg(test)]
mod gf64_tests {
    use super::{clmul_portable, gf64_reduce, Gf64};
    use crate::testdata::words;

    /// One product at a time: the reference.
    fn mul(a: u64, b: u64) -> u64 {
        let (lo, hi) = clmul_portable(a, b);
        gf64_reduce(lo, hi)
    }

    /// The block kernels and, where the CPU has them, the VPCLMULQDQ ones.
    fn kernels() -> Vec<Gf64> {
        [Some(Gf64::blocks()), Gf64::vpclmul()].into_iter().flatten().collect()
    }

    const LENS: [usize; 13] = [0, 1, 2, 3, 5, 7, 8, 9, 16, 17, 31, 100, 1000];

    #[test]
    fn reduction_matches_the_modulus() {
        // x^127 = x^63 (x^4 + x^3 + x + 1) = x^67 + x^66 + x^64 + x^63, and
        // x^67 + x^66 + x^64 = x^7 + x^5 + x^3 + x^2 + x + 1
        assert_eq!(gf64_reduce(0, 1 << 63), 1 << 63 | 0b1010_1111);
        assert_eq!(gf64_reduce(0, 1), 0b1_1011);
        assert_eq!(mul(1 << 63, 2), 0b1_1011);
    }

    #[test]
    fn element_wise_kernels_match_the_reference() {
        for (i, &n) in LENS.iter().enumerate() {
            let (a, b) = (words(n, 3 * i as u64 + 1), words(n, 3 * i as u64 + 2));
            let s = words(1, i as u64 + 99)[0];
            for k in kernels() {
                let mut out = vec![0; n];
                k.mul_into(&a, &b, &mut out);
                assert!((0..n).all(|j| out[j] == mul(a[j], b[j])), "mul_into {n} {k:?}");
                let mut v = a.clone();
                k.scale(&mut v, s);
                assert!((0..n).all(|j| v[j] == mul(a[j], s)), "scale {n} {k:?}");
                let (mut x, mut y) = (a.clone(), vec![0; n]);
                k.eq_expand(&mut x, &mut y, s);
                assert!(
                    (0..n).all(|j| y[j] == mul(a[j], s) && x[j] == a[j] ^ y[j]),
                    "eq_expand {n}"
                );
                let want = (0..n).fold(0, |acc, j| acc ^ mul(a[j], b[j]));
                assert_eq!(k.dot(&a, &b), want, "dot {n} {k:?}");
                // fold: `n` pairs
                let t = [a.clone(), b.clone()].concat();
                let mut f = t.clone();
                k.fold_in_place(&mut f, s);
                assert!(
                    (0..n).all(|p| f[p] == t[2 * p] ^ mul(s, t[2 * p] ^ t[2 * p + 1])),
                    "fold {n} {k:?}"
                );
            }
        }
    }

    #[test]
    fn quad_sums_match_the_reference() {
        for period in [1, 3, 5, 8, 9, 16, 17, 24, 100] {
            for reps in [1, 2, 3] {
                let pairs = period * reps;
                let seed = (period * 10 + reps) as u64;
                let (u, v, w) = (
                    words(2 * pairs, seed),
                    words(2 * pairs, seed + 1),
                    words(period, seed + 2),
                );
                let mut want = [0u64; 3];
                for p in 0..pairs {
                    let wp = w[p % period];
                    let (u0, u1, v0, v1) = (u[2 * p], u[2 * p + 1], v[2 * p], v[2 * p + 1]);
                    want[0] ^= mul(wp, mul(u0, v0));
                    want[1] ^= mul(wp, mul(u1, v1));
                    want[2] ^= mul(wp, mul(u0 ^ u1, v0 ^ v1));
                }
                for k in kernels() {
                    assert_eq!(k.quad_sums(&u, &v, &w), want, "{period} x {reps} {k:?}");
                }
            }
        }
    }

    #[test]
    fn vector_kernels_are_found_where_the_cpu_has_them() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            Gf64::auto().is_vector(),
            is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("vpclmulqdq")
        );
        assert!(!Gf64::blocks().is_vector());
    }
}
