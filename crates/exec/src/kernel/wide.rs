//! GEMM over Z_2^128 (wrapping) in one blocked pass over u64 limbs.
//!
//! Packing splits each u128 into u64 limbs small enough for a SIMD multiply
//! whose products, summed over one KC block, cannot overflow a u64 in the
//! classes where carries matter. The micro-kernel keeps one accumulator per
//! class (limb products with the same shift, summed together); after each
//! KC block a tile's classes are shifted into place and added to C in u128.
//! Only bits below 2^128 are kept, so products landing at or above 2^64
//! (2^104 for IFMA) are summed mod 2^64 and never need to be exact.
//!
//! Two formats, chosen at run time:
//! * IFMA (AVX-512 IFMA): 52-bit limbs a0, a1, a2 of A and b0, b1, b2 of B;
//!   `vpmadd52luq`/`vpmadd52huq` add the low/high 52 bits of a 104-bit
//!   product, so nine multiply-adds per lane and step cover every product
//!   below 2^128: class 0 = lo(a0 b0); class 52 = hi(a0 b0) + lo(a0 b1) +
//!   lo(a1 b0) (three values below 2^52 per step, exact for KC < 1365);
//!   class 104 = hi(a0 b1) + hi(a1 b0) + lo(a0 b2 + a1 b1 + a2 b0), mod 2^64.
//!   A consumer that needs C mod 2^104 only ([`Width::Low`]) packs limbs
//!   0 and 1 and drops class 104: four multiply-adds.
//! * mul32 (AVX-512 F and DQ): A's low word A0 in 16-bit limbs e0..e3,
//!   B0 in 32-bit halves f0, f1; `vpmuludq` (32 x 32 -> 64 bits) gives the
//!   exact classes 0, 16, 32, 48: e0 f0, e1 f0, e2 f0 + e0 f1, e3 f0 + e1 f1
//!   (products below 2^48, exact for KC < 2^15); class 64, mod 2^64, is
//!   hi(A0) f1 + A0 B1 + A1 B0, the last two by `vpmullq`. Seven `vpmuludq`
//!   and two `vpmullq` per lane and step.
//!
//! Either does fewer multiplies than the ten u64 GEMMs (each a `vpmullq`
//! per lane and step) it replaces, packs A and B once instead of ten times,
//! and needs no u64 product matrices or widening passes. Without AVX-512
//! the generic loop of [`crate::ring::gemm_generic_into`] runs.

use super::simd::{self, Avx512, Ifma};
use super::{auto_path, run_jobs, Job, Path, MC, SMALL_M};

/// Which micro-kernel a u128 GEMM runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum U128Kernel {
    /// The fastest the CPU has (IFMA, then mul32), unless
    /// `CRYPTFLOW_NO_SIMD` turns SIMD off ([`Path::Auto`]); the generic loop
    /// without AVX-512.
    Auto,
    /// IFMA; mul32 or the generic loop where the CPU lacks it.
    Ifma,
    /// mul32 (`vpmuludq`); the generic loop without AVX-512.
    Mul32,
    /// The generic u128 loop.
    Generic,
}

/// Depth of a packed block: both formats' exact classes have room for it.
const KC: usize = 256;
/// Columns of B packed at once.
const NC: usize = 512;
// IFMA's class 52 takes three values below 2^52 per step, mul32's exact
// classes two below 2^48: neither may reach 2^64 within one block.
const _: () = assert!(3 * KC < 1 << 12 && 2 * KC < 1 << 16);

/// Shift of each accumulator class of the mul32 format.
pub const MUL32_SHIFTS: [u32; 5] = [0, 16, 32, 48, 64];
/// Shift of each accumulator class of the IFMA format.
pub const IFMA_SHIFTS: [u32; 3] = [0, 52, 104];

/// A limb format and its micro-kernel. Packing, the tile loop and the
/// combination into C are monomorphised per format.
trait Format: Copy + Send + Sync {
    /// Limbs per packed element of A and of B (at most 8 and 4).
    const LA: usize;
    const LB: usize;
    /// Accumulator classes of a tile.
    const CLASSES: usize;
    /// (MR, NR) of the tile: one row when the GEMM has very few.
    fn tile(small: bool) -> (usize, usize);
    fn split_a(x: u128, out: &mut [u64; 8]);
    fn split_b(x: u128, out: &mut [u64; 4]);
    /// The u128 value of one tile element from its classes `t(0..CLASSES)`.
    fn combine(t: impl Fn(usize) -> u64) -> u128;
    fn micro(self, mr: usize, kc: usize, a: &[u64], b: &[u64], tile: &mut [u64]);
}

/// The IFMA format on `L` limbs of A and B: `L = 3` gives C mod 2^128,
/// `L = 2` C mod 2^104 (four multiply-adds per lane and step instead of
/// nine; [`Width::Low`]).
#[derive(Clone, Copy)]
struct IfmaFormat<const L: usize>(Ifma);

impl<const L: usize> Format for IfmaFormat<L> {
    const LA: usize = L;
    const LB: usize = L;
    const CLASSES: usize = L;
    fn tile(small: bool) -> (usize, usize) {
        if small {
            simd::IFMA_ROW
        } else {
            simd::IFMA_BIG
        }
    }
    #[inline(always)]
    fn split_a(x: u128, out: &mut [u64; 8]) {
        out[..L].copy_from_slice(&ifma_limbs(x)[..L]);
    }
    #[inline(always)]
    fn split_b(x: u128, out: &mut [u64; 4]) {
        out[..L].copy_from_slice(&ifma_limbs(x)[..L]);
    }
    #[inline(always)]
    fn combine(t: impl Fn(usize) -> u64) -> u128 {
        // Classes 0 and 52 are exact (below 2^64); 104 counts mod 2^24.
        let low = (t(0) as u128).wrapping_add((t(1) as u128) << IFMA_SHIFTS[1]);
        if L == 3 {
            low.wrapping_add((t(2) as u128) << IFMA_SHIFTS[2])
        } else {
            low
        }
    }
    #[inline(always)]
    fn micro(self, mr: usize, kc: usize, a: &[u64], b: &[u64], tile: &mut [u64]) {
        self.0.micro(mr, (L, L), kc, a, b, tile)
    }
}

/// The IFMA format for an A whose entries are below 2^52 (one limb), on
/// `L` limbs of B: five multiply-adds per lane and step instead of nine
/// (three instead of four for `L = 2`), a third of A's panel.
#[derive(Clone, Copy)]
struct IfmaSmallA<const L: usize>(Ifma);

impl<const L: usize> Format for IfmaSmallA<L> {
    const LA: usize = 1;
    const LB: usize = L;
    const CLASSES: usize = L;
    fn tile(small: bool) -> (usize, usize) {
        IfmaFormat::<L>::tile(small)
    }
    #[inline(always)]
    fn split_a(x: u128, out: &mut [u64; 8]) {
        // (the caller checked x < 2^52)
        out[0] = x as u64;
    }
    #[inline(always)]
    fn split_b(x: u128, out: &mut [u64; 4]) {
        IfmaFormat::<L>::split_b(x, out)
    }
    #[inline(always)]
    fn combine(t: impl Fn(usize) -> u64) -> u128 {
        IfmaFormat::<L>::combine(t)
    }
    #[inline(always)]
    fn micro(self, mr: usize, kc: usize, a: &[u64], b: &[u64], tile: &mut [u64]) {
        self.0.micro(mr, (1, L), kc, a, b, tile)
    }
}

#[derive(Clone, Copy)]
struct Mul32Format(Avx512);

impl Format for Mul32Format {
    const LA: usize = 7;
    const LB: usize = 3;
    const CLASSES: usize = MUL32_SHIFTS.len();
    fn tile(small: bool) -> (usize, usize) {
        if small {
            simd::MUL32_ROW
        } else {
            simd::MUL32_BIG
        }
    }
    #[inline(always)]
    fn split_a(x: u128, out: &mut [u64; 8]) {
        let (lo, hi) = (x as u64, (x >> 64) as u64);
        *out = [
            lo & 0xffff,
            (lo >> 16) & 0xffff,
            (lo >> 32) & 0xffff,
            lo >> 48,
            lo,
            lo >> 32,
            hi,
            0,
        ];
    }
    #[inline(always)]
    fn split_b(x: u128, out: &mut [u64; 4]) {
        let (lo, hi) = (x as u64, (x >> 64) as u64);
        out[..3].copy_from_slice(&[lo, lo >> 32, hi]);
    }
    #[inline(always)]
    fn combine(t: impl Fn(usize) -> u64) -> u128 {
        // Four exact classes below 2^64, then one mod 2^64 at 2^64.
        let low = (t(0) as u128) + ((t(1) as u128) << 16) + ((t(2) as u128) << 32) + ((t(3) as u128) << 48);
        low.wrapping_add((t(4) as u128) << 64)
    }
    #[inline(always)]
    fn micro(self, mr: usize, kc: usize, a: &[u64], b: &[u64], tile: &mut [u64]) {
        self.0.micro_mul32(mr, kc, a, b, tile)
    }
}

const M52: u64 = (1 << 52) - 1;

#[inline(always)]
fn ifma_limbs(x: u128) -> [u64; 3] {
    [x as u64 & M52, (x >> 52) as u64 & M52, (x >> 104) as u64]
}

/// How many low bits of a u128 GEMM's result are wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// All 128: C over Z_2^128.
    Full,
    /// The low [`LOW_BITS`] (= 104) only, C mod 2^104 (the bits above are
    /// zero): two 52-bit limbs, four IFMA multiply-adds per lane and step
    /// instead of nine. For a consumer that reads the result mod 2^w,
    /// w <= 104 (Aramis's masked opening of a layer's result, mod 2^78).
    Low,
}

/// Bits of C that [`Width::Low`] computes.
pub const LOW_BITS: u32 = 104;

impl Width {
    /// The width that serves a consumer of the low `bits` bits.
    pub fn for_bits(bits: u32) -> Width {
        if bits <= LOW_BITS {
            Width::Low
        } else {
            Width::Full
        }
    }

    /// Keeps the bits this width computes (for paths that compute more).
    pub fn trim(self, c: &mut [u128]) {
        if self == Width::Low {
            c.iter_mut().for_each(|v| *v &= (1 << LOW_BITS) - 1);
        }
    }
}

/// C[m,n] = A[m,k] * B[k,n] over Z_2^128 (or mod 2^104, `width`) into `c`
/// (overwritten), row-major, with the chosen micro-kernel (see the module
/// docs).
#[allow(clippy::too_many_arguments)]
pub fn gemm_u128_with(
    kernel: U128Kernel,
    width: Width,
    m: usize,
    k: usize,
    n: usize,
    a: &[u128],
    b: &[u128],
    c: &mut [u128],
) {
    assert_eq!(a.len(), m * k, "gemm: A has the wrong size");
    assert_eq!(b.len(), k * n, "gemm: B has the wrong size");
    assert_eq!(c.len(), m * n, "gemm: C has the wrong size");
    let simd = match kernel {
        U128Kernel::Generic => false,
        U128Kernel::Auto => auto_path() == Path::Simd,
        U128Kernel::Ifma | U128Kernel::Mul32 => true,
    };
    let ifma = if kernel == U128Kernel::Mul32 {
        None
    } else {
        Ifma::detect()
    };
    match (simd, ifma, Avx512::detect(), width) {
        (true, Some(i), _, Width::Full) => run(IfmaFormat::<3>(i), m, k, n, a, b, c),
        (true, Some(i), _, Width::Low) => run(IfmaFormat::<2>(i), m, k, n, a, b, c),
        (true, None, Some(x), _) => run(Mul32Format(x), m, k, n, a, b, c),
        _ => crate::ring::gemm_generic_into(m, k, n, a, b, c),
    }
    width.trim(c);
}

/// [`gemm_u128_with`] (`Auto`) for an A whose entries are all below 2^52
/// (checked: panics otherwise), such as a party's own fixed-point weights
/// shifted to be non-negative: with IFMA, A is packed as one 52-bit limb
/// and each step takes five multiply-adds per lane instead of nine (three
/// instead of four for [`Width::Low`]). The same result as
/// [`gemm_u128_with`] on every path.
pub fn gemm_u128_small_a(width: Width, m: usize, k: usize, n: usize, a: &[u128], b: &[u128], c: &mut [u128]) {
    assert!(a.iter().all(|&v| v >> 52 == 0), "gemm: A entries must be below 2^52");
    match (auto_path() == Path::Simd, Ifma::detect()) {
        (true, Some(i)) => {
            assert_eq!(a.len(), m * k, "gemm: A has the wrong size");
            assert_eq!(b.len(), k * n, "gemm: B has the wrong size");
            assert_eq!(c.len(), m * n, "gemm: C has the wrong size");
            match width {
                Width::Full => run(IfmaSmallA::<3>(i), m, k, n, a, b, c),
                Width::Low => run(IfmaSmallA::<2>(i), m, k, n, a, b, c),
            }
            width.trim(c);
        }
        _ => gemm_u128_with(U128Kernel::Auto, width, m, k, n, a, b, c),
    }
}

fn run<F: Format>(f: F, m: usize, k: usize, n: usize, a: &[u128], b: &[u128], c: &mut [u128]) {
    c.fill(0);
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let small = m < SMALL_M;
    let (mr, nr) = F::tile(small);
    run_jobs(m, k, n, mr, nr, c, |job| packed_job(f, small, k, n, a, b, job));
}

/// The blocked GEMM of one job, as `super::packed_job` but on limb panels:
/// loops jc (NC) > pc (KC, pack B) > ic (MC, pack A) > jr (NR) > ir (MR,
/// micro-kernel), adding each tile's classes into C.
fn packed_job<F: Format>(f: F, small: bool, k: usize, n: usize, a: &[u128], b: &[u128], mut job: Job<u128>) {
    let (mr, nr) = F::tile(small);
    let (la, lb) = (F::LA, F::LB);
    let (mj, nj) = (job.rows.len(), job.rows.first().map_or(0, |r| r.len()));
    if nj == 0 {
        return;
    }
    let kcap = KC.min(k);
    let mut bpack = vec![0u64; kcap * lb * NC.min(nj).next_multiple_of(nr)];
    let mut apack = vec![0u64; kcap * la * MC.min(mj).next_multiple_of(mr)];
    let size = mr * nr;
    let mut tile = vec![0u64; F::CLASSES * size];
    for jc in (0..nj).step_by(NC) {
        let nc = NC.min(nj - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            pack_b::<F>(b, n, pc, kc, job.j0 + jc, nc, nr, &mut bpack);
            for ic in (0..mj).step_by(MC) {
                let mc = MC.min(mj - ic);
                pack_a::<F>(a, k, job.i0 + ic, mc, pc, kc, mr, &mut apack);
                for jr in 0..nc.div_ceil(nr) {
                    let bp = &bpack[jr * nr * lb * kc..(jr + 1) * nr * lb * kc];
                    let ncols = nr.min(nc - jr * nr);
                    let col = jc + jr * nr;
                    for ir in 0..mc.div_ceil(mr) {
                        let ap = &apack[ir * mr * la * kc..(ir + 1) * mr * la * kc];
                        f.micro(mr, kc, ap, bp, &mut tile);
                        let nrows = mr.min(mc - ir * mr);
                        let crows = &mut job.rows[ic + ir * mr..ic + ir * mr + nrows];
                        for (i, crow) in crows.iter_mut().enumerate() {
                            for (j, cv) in crow[col..col + ncols].iter_mut().enumerate() {
                                *cv = cv.wrapping_add(F::combine(|t| tile[t * size + i * nr + j]));
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Packs A[row0..row0+mc, pc..pc+kc] into MR-row micro-panels of limbs:
/// limb l of element (r, p) of panel q at `(q*kc + p)*LA*mr + l*mr + r`,
/// zero rows past `mc`.
#[allow(clippy::too_many_arguments)]
fn pack_a<F: Format>(a: &[u128], k: usize, row0: usize, mc: usize, pc: usize, kc: usize, mr: usize, out: &mut [u64]) {
    let la = F::LA;
    let mut limbs = [0u64; 8];
    for q in 0..mc.div_ceil(mr) {
        let panel = &mut out[q * mr * la * kc..(q + 1) * mr * la * kc];
        for r in 0..mr {
            let i = q * mr + r;
            if i >= mc {
                panel.iter_mut().skip(r).step_by(mr).for_each(|d| *d = 0);
                continue;
            }
            let src = &a[(row0 + i) * k + pc..(row0 + i) * k + pc + kc];
            for (step, &x) in panel.chunks_exact_mut(la * mr).zip(src) {
                F::split_a(x, &mut limbs);
                for (l, &v) in limbs[..la].iter().enumerate() {
                    step[l * mr + r] = v;
                }
            }
        }
    }
}

/// Packs B[pc..pc+kc, col0..col0+nc] into NR-column micro-panels of limbs:
/// limb l of element (p, j) of panel q at `(q*kc + p)*LB*nr + l*nr + j`,
/// zero columns past `nc`. Row by row of B, so that reads stream (a
/// panel-by-panel walk strides a whole row of B per element and stalls).
#[allow(clippy::too_many_arguments)]
fn pack_b<F: Format>(b: &[u128], n: usize, pc: usize, kc: usize, col0: usize, nc: usize, nr: usize, out: &mut [u64]) {
    let lb = F::LB;
    let mut limbs = [0u64; 4];
    for p in 0..kc {
        let src = &b[(pc + p) * n + col0..(pc + p) * n + col0 + nc];
        for (q, cols) in src.chunks(nr).enumerate() {
            let step = &mut out[((q * kc) + p) * lb * nr..((q * kc) + p + 1) * lb * nr];
            for (j, &x) in cols.iter().enumerate() {
                F::split_b(x, &mut limbs);
                for (l, &v) in limbs[..lb].iter().enumerate() {
                    step[l * nr + j] = v;
                }
            }
            for j in cols.len()..nr {
                for l in 0..lb {
                    step[l * nr + j] = 0;
                }
            }
        }
    }
}
