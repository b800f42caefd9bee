//! The only `unsafe` code of the kernels: the AVX-512 micro-kernel and row
//! kernel for u64, and the call into `matrixmultiply` for f32.
//!
//! Every public function here is safe: it checks slice lengths itself and is
//! only reachable through [`Avx512::detect`], which proves at run time that
//! the CPU has the features the `#[target_feature]` functions are compiled for.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Rows of the AVX-512 micro-kernel's C tile.
pub const MR: usize = 8;
/// Columns of the AVX-512 micro-kernel's C tile (two 512-bit vectors).
pub const NR: usize = 16;

/// Proof that the running CPU has AVX-512 F and DQ. Only [`Avx512::detect`]
/// makes one, so holding a value means the feature check has passed.
#[derive(Clone, Copy, Debug)]
pub struct Avx512(());

impl Avx512 {
    pub fn detect() -> Option<Avx512> {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq") {
                return Some(Avx512(()));
            }
        }
        None
    }

    /// `tile[i*NR + j] = sum_p a[p*MR + i] * b[p*NR + j]` (wrapping) for the
    /// packed panels `a` (kc x MR) and `b` (kc x NR), for `j < cols`; with
    /// `cols <= 8` only the first 8 columns of `tile` are written.
    #[inline]
    pub fn micro(self, kc: usize, a: &[u64], b: &[u64], tile: &mut [u64], cols: usize) {
        assert!(a.len() >= kc * MR && b.len() >= kc * NR && tile.len() >= MR * NR);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `self` exists only if `detect` found avx512f and avx512dq;
        // the assert above guarantees every pointer offset `micro_8xv` forms
        // (a: < kc*MR, b: < kc*NR, tile: < MR*NR) is in bounds.
        unsafe {
            if cols <= 8 {
                micro_8xv::<1>(kc, a.as_ptr(), b.as_ptr(), tile.as_mut_ptr())
            } else {
                micro_8xv::<2>(kc, a.as_ptr(), b.as_ptr(), tile.as_mut_ptr())
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("{kc}{a:?}{b:?}{tile:?}{cols}")
    }

    /// `c[j] += sum_p a[p] * b[p*ldb + j]` for `j < c.len()`: one row of C
    /// for a GEMM with very few rows, where packing would not pay.
    #[inline]
    pub fn row(self, a: &[u64], b: &[u64], ldb: usize, c: &mut [u64]) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `self` proves avx512f/avx512dq are present; the callee is
        // plain safe Rust compiled with those features enabled.
        unsafe {
            row_avx512(a, b, ldb, c)
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("{a:?}{b:?}{ldb}{c:?}")
    }
}

/// The register-blocked micro-kernel for an 8 x (8*V) tile, V = 1 or 2:
/// 8*V zmm accumulators, V vectors of B and one broadcast A value per step,
/// `vpmullq` + `vpaddq` per 8 lanes. B panels are NR wide whatever V is;
/// V = 1 serves the last, narrow panel of a matrix and writes the first 8
/// columns of each tile row only.
///
/// # Safety
/// The CPU must support avx512f and avx512dq; `a` must be valid for
/// `kc * MR` reads, `b` for `kc * NR` reads and `c` for `MR * NR` writes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn micro_8xv<const V: usize>(kc: usize, a: *const u64, b: *const u64, c: *mut u64) {
    let mut acc = [[_mm512_setzero_si512(); V]; MR];
    let mut ap = a;
    let mut bp = b;
    for _ in 0..kc {
        let mut bv = [_mm512_setzero_si512(); V];
        for (v, x) in bv.iter_mut().enumerate() {
            // SAFETY: the caller guarantees `b` holds kc * NR values; `bp`
            // has advanced by NR per finished step and v * 8 + 8 <= NR.
            *x = unsafe { _mm512_loadu_si512(bp.add(v * 8).cast()) };
        }
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: `ap` points at the MR values of this step (the caller
            // guarantees kc * MR values in `a`), and i < MR.
            let av = _mm512_set1_epi64(unsafe { *ap.add(i) } as i64);
            for (r, &x) in row.iter_mut().zip(&bv) {
                *r = _mm512_add_epi64(*r, _mm512_mullo_epi64(av, x));
            }
        }
        // SAFETY: stays within (or one past the end of) the panels.
        unsafe {
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (v, x) in row.iter().enumerate() {
            // SAFETY: i < MR and v * 8 + 8 <= NR, so the 8 values written lie
            // in the MR * NR the caller guarantees writable.
            unsafe { _mm512_storeu_si512(c.add(i * NR + v * 8).cast(), *x) };
        }
    }
}

/// Rows and columns of the u128 limb micro-kernels' tiles: `_BIG` for
/// ordinary GEMMs, `_ROW` (one row, wider) for GEMMs with very few rows.
pub const MUL32_BIG: (usize, usize) = (4, 8);
pub const MUL32_ROW: (usize, usize) = (1, 24);
pub const IFMA_BIG: (usize, usize) = (8, 8);
pub const IFMA_ROW: (usize, usize) = (1, 32);

impl Avx512 {
    /// The u128 limb tile of [`super::wide`]'s mul32 format, mostly
    /// `vpmuludq` (32 x 32 -> 64 bits, one uop where `vpmullq` is three on
    /// Intel): for the packed panels `a` (kc x 7 limbs x rows) and `b`
    /// (kc x 3 limbs x cols), `tile[t*rows*cols + i*cols + j]` is class `t`
    /// of the five in `wide::MUL32_SHIFTS`. `(rows, cols)` is [`MUL32_BIG`]
    /// or [`MUL32_ROW`].
    pub fn micro_mul32(self, rows: usize, kc: usize, a: &[u64], b: &[u64], tile: &mut [u64]) {
        let cols = if rows == MUL32_BIG.0 { MUL32_BIG.1 } else { MUL32_ROW.1 };
        assert!(
            (rows, cols) == MUL32_BIG || (rows, cols) == MUL32_ROW,
            "mul32 tile shape"
        );
        assert!(a.len() >= kc * 7 * rows && b.len() >= kc * 3 * cols && tile.len() >= 5 * rows * cols);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `self` exists only if `detect` found avx512f and avx512dq;
        // the asserts give the callee the panel and tile sizes it touches.
        unsafe {
            if rows == MUL32_BIG.0 {
                mul32_tile::<4, 1>(kc, a.as_ptr(), b.as_ptr(), tile.as_mut_ptr())
            } else {
                mul32_tile::<1, 3>(kc, a.as_ptr(), b.as_ptr(), tile.as_mut_ptr())
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("{rows}{kc}{a:?}{b:?}{tile:?}")
    }
}

/// Proof that the running CPU has AVX-512 F and IFMA (52-bit multiply-add).
#[derive(Clone, Copy, Debug)]
pub struct Ifma(());

impl Ifma {
    pub fn detect() -> Option<Ifma> {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512ifma") {
                return Some(Ifma(()));
            }
        }
        None
    }

    /// The u128 limb tile of [`super::wide`]'s 52-bit format: for the packed
    /// panels `a` (kc x 3 limbs x rows) and `b` (kc x 3 limbs x cols),
    /// `tile[t*rows*cols + i*cols + j]` is class `t` of the three in
    /// `wide::IFMA_SHIFTS`. `(rows, cols)` is [`IFMA_BIG`] or [`IFMA_ROW`].
    pub fn micro(self, rows: usize, kc: usize, a: &[u64], b: &[u64], tile: &mut [u64]) {
        let cols = if rows == IFMA_BIG.0 { IFMA_BIG.1 } else { IFMA_ROW.1 };
        assert!((rows, cols) == IFMA_BIG || (rows, cols) == IFMA_ROW, "ifma tile shape");
        assert!(a.len() >= kc * 3 * rows && b.len() >= kc * 3 * cols && tile.len() >= 3 * rows * cols);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `self` exists only if `detect` found avx512f and
        // avx512ifma; the asserts give the callee the sizes it touches.
        unsafe {
            if rows == IFMA_BIG.0 {
                ifma_tile::<8, 1>(kc, a.as_ptr(), b.as_ptr(), tile.as_mut_ptr())
            } else {
                ifma_tile::<1, 4>(kc, a.as_ptr(), b.as_ptr(), tile.as_mut_ptr())
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("{rows}{kc}{a:?}{b:?}{tile:?}")
    }
}

/// Five accumulators per 8 lanes of an R x 8V tile; per step and lane,
/// seven `vpmuludq` and two `vpmullq` (see `wide::MUL32_SHIFTS`). A limbs:
/// e0..e3 (16-bit limbs of A's low word A0), A0, hi(A0) = A0 >> 32, A1;
/// B limbs: B0, hi(B0), B1. `vpmuludq` reads only the low 32 bits of A0
/// and B0.
///
/// # Safety
/// The CPU must support avx512f and avx512dq; `a` must be valid for
/// `kc * 7 * R` reads, `b` for `kc * 3 * 8V` reads and `c` for
/// `5 * R * 8V` writes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn mul32_tile<const R: usize, const V: usize>(kc: usize, a: *const u64, b: *const u64, c: *mut u64) {
    let z = _mm512_setzero_si512();
    let mut acc = [[[z; 5]; V]; R];
    let (mut ap, mut bp) = (a, b);
    let mul = |x, y| _mm512_mul_epu32(x, y);
    let add = |x, y| _mm512_add_epi64(x, y);
    for _ in 0..kc {
        let mut bv = [[z; 3]; V];
        for (v, bl) in bv.iter_mut().enumerate() {
            for (l, x) in bl.iter_mut().enumerate() {
                // SAFETY: limb l of lanes v*8.. of this step lies below
                // 3 * 8V past `bp`, which has advanced 3 * 8V per finished
                // step of the kc the caller guarantees.
                *x = unsafe { _mm512_loadu_si512(bp.add(l * 8 * V + v * 8).cast()) };
            }
        }
        for (r, row) in acc.iter_mut().enumerate() {
            // SAFETY: limb l of row r of this step is at l * R + r < 7R.
            let s = |l: usize| _mm512_set1_epi64(unsafe { *ap.add(l * R + r) } as i64);
            let (e0, e1, e2, e3) = (s(0), s(1), s(2), s(3));
            let (a0, a0h, a1) = (s(4), s(5), s(6));
            for (t, &[f0, f1, g]) in row.iter_mut().zip(&bv) {
                t[0] = add(t[0], mul(e0, f0));
                t[1] = add(t[1], mul(e1, f0));
                t[2] = add(t[2], add(mul(e2, f0), mul(e0, f1)));
                t[3] = add(t[3], add(mul(e3, f0), mul(e1, f1)));
                let cross = add(_mm512_mullo_epi64(a0, g), _mm512_mullo_epi64(a1, f0));
                t[4] = add(t[4], add(cross, mul(a0h, f1)));
            }
        }
        // SAFETY: stays within (or one past the end of) the panels.
        unsafe {
            ap = ap.add(7 * R);
            bp = bp.add(3 * 8 * V);
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, cls) in row.iter().enumerate() {
            for (t, x) in cls.iter().enumerate() {
                // SAFETY: t < 5, r < R, v < V: below 5 * R * 8V.
                unsafe { _mm512_storeu_si512(c.add((t * R + r) * 8 * V + v * 8).cast(), *x) };
            }
        }
    }
}

/// Three accumulators per 8 lanes of an R x 8V tile; per step and lane,
/// nine IFMA multiply-adds (see `wide::IFMA_SHIFTS`). A and B limbs: bits
/// 0..52, 52..104 and 104..128 of the u128.
///
/// # Safety
/// The CPU must support avx512f and avx512ifma; `a` must be valid for
/// `kc * 3 * R` reads, `b` for `kc * 3 * 8V` reads and `c` for
/// `3 * R * 8V` writes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn ifma_tile<const R: usize, const V: usize>(kc: usize, a: *const u64, b: *const u64, c: *mut u64) {
    let z = _mm512_setzero_si512();
    let mut acc = [[[z; 3]; V]; R];
    let (mut ap, mut bp) = (a, b);
    let lo = |s, x, y| _mm512_madd52lo_epu64(s, x, y);
    let hi = |s, x, y| _mm512_madd52hi_epu64(s, x, y);
    for _ in 0..kc {
        let mut bv = [[z; 3]; V];
        for (v, bl) in bv.iter_mut().enumerate() {
            for (l, x) in bl.iter_mut().enumerate() {
                // SAFETY: below 3 * 8V past `bp`, which has advanced 3 * 8V
                // per finished step of the kc the caller guarantees.
                *x = unsafe { _mm512_loadu_si512(bp.add(l * 8 * V + v * 8).cast()) };
            }
        }
        for (r, row) in acc.iter_mut().enumerate() {
            // SAFETY: limb l of row r of this step is at l * R + r < 3R.
            let s = |l: usize| _mm512_set1_epi64(unsafe { *ap.add(l * R + r) } as i64);
            let (a0, a1, a2) = (s(0), s(1), s(2));
            for (t, &[b0, b1, b2]) in row.iter_mut().zip(&bv) {
                t[0] = lo(t[0], a0, b0);
                t[1] = lo(lo(hi(t[1], a0, b0), a0, b1), a1, b0);
                t[2] = lo(lo(lo(hi(hi(t[2], a0, b1), a1, b0), a0, b2), a1, b1), a2, b0);
            }
        }
        // SAFETY: stays within (or one past the end of) the panels.
        unsafe {
            ap = ap.add(3 * R);
            bp = bp.add(3 * 8 * V);
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, cls) in row.iter().enumerate() {
            for (t, x) in cls.iter().enumerate() {
                // SAFETY: t < 3, r < R, v < V: below 3 * R * 8V.
                unsafe { _mm512_storeu_si512(c.add((t * R + r) * 8 * V + v * 8).cast(), *x) };
            }
        }
    }
}

/// [`super::portable::row`] compiled for AVX-512 (LLVM vectorises its inner
/// loops with `vpmullq`).
///
/// # Safety
/// The CPU must support avx512f and avx512dq.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn row_avx512(a: &[u64], b: &[u64], ldb: usize, c: &mut [u64]) {
    super::portable::row(a, b, ldb, c)
}

/// `c[m, n] = a[m, k] * b[k, n]` in f32, all row-major and contiguous,
/// single-threaded, by `matrixmultiply` (run-time AVX/FMA detection inside).
pub fn sgemm(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() == m * k && b.len() == k * n && c.len() == m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.fill(0.0);
        return;
    }
    // SAFETY: the assert above makes all three matrices exactly as large as
    // the row-major strides (k,1), (n,1), (n,1) address; with beta = 0
    // `c` is only written, and `c` does not alias `a` or `b` (&mut).
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            n as isize,
            1,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    }
}

/// Proof that the running CPU has PCLMULQDQ (carry-less multiplication).
#[derive(Clone, Copy, Debug)]
pub struct Pclmul(());

impl Pclmul {
    pub fn detect() -> Option<Pclmul> {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("pclmulqdq") && is_x86_feature_detected!("sse2") {
                return Some(Pclmul(()));
            }
        }
        None
    }

    /// XOR over `j` of the 128-bit carry-less products `a[j] * b[j]`, as
    /// (low, high) words. Panics if the lengths differ.
    pub fn clmul_xor_sum(self, a: &[u64], b: &[u64]) -> (u64, u64) {
        assert_eq!(a.len(), b.len(), "clmul: lengths differ");
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `self` exists only if `detect` found pclmulqdq and sse2;
        // the callee reads the slices through safe indexing only.
        unsafe {
            clmul_xor_sum_pclmul(a, b)
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("{a:?}{b:?}")
    }

    /// Element-wise carry-less products `a[j] * b[j]` (or `a[j] * s` when
    /// `b` is `None`) into `(lo[j], hi[j])`. Panics if the lengths differ.
    pub fn clmul_pairs(self, a: &[u64], b: Option<&[u64]>, s: u64, lo: &mut [u64], hi: &mut [u64]) {
        assert!(a.len() == lo.len() && a.len() == hi.len(), "clmul: lengths differ");
        if let Some(b) = b {
            assert_eq!(a.len(), b.len(), "clmul: lengths differ");
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `self` exists only if `detect` found pclmulqdq and sse2;
        // the callee indexes the slices safely.
        unsafe {
            clmul_pairs_pclmul(a, b, s, lo, hi)
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("{a:?}{b:?}{s}{lo:?}{hi:?}")
    }
}

/// # Safety
/// The CPU must support pclmulqdq and sse2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq,sse2")]
unsafe fn clmul_pairs_pclmul(a: &[u64], b: Option<&[u64]>, s: u64, lo: &mut [u64], hi: &mut [u64]) {
    use std::arch::x86_64::{__m128i, _mm_clmulepi64_si128, _mm_set_epi64x, _mm_storeu_si128};
    let mut out = [0u64; 2];
    for j in 0..a.len() {
        let y = match b {
            Some(b) => b[j],
            None => s,
        };
        let p = _mm_clmulepi64_si128::<0>(_mm_set_epi64x(0, a[j] as i64), _mm_set_epi64x(0, y as i64));
        _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, p);
        lo[j] = out[0];
        hi[j] = out[1];
    }
}

/// # Safety
/// The CPU must support pclmulqdq and sse2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq,sse2")]
unsafe fn clmul_xor_sum_pclmul(a: &[u64], b: &[u64]) -> (u64, u64) {
    use std::arch::x86_64::{
        __m128i, _mm_clmulepi64_si128, _mm_set_epi64x, _mm_setzero_si128, _mm_storeu_si128, _mm_xor_si128,
    };
    let mut acc = _mm_setzero_si128();
    for (&x, &y) in a.iter().zip(b) {
        let p = _mm_clmulepi64_si128::<0>(_mm_set_epi64x(0, x as i64), _mm_set_epi64x(0, y as i64));
        acc = _mm_xor_si128(acc, p);
    }
    let mut out = [0u64; 2];
    _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, acc);
    (out[0], out[1])
}
