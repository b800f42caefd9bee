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

    /// `[sum_j x[j] * w[t][j] mod 2^128; N]` over `j < 8 * (x.len() / 8)`
    /// (the caller adds the rest); every `w[t]` at least as long as `x`.
    pub fn dot_w<const N: usize>(self, x: &[u128], w: [&[u64]; N]) -> [u128; N] {
        assert!(w.iter().all(|v| v.len() >= x.len()), "dot_w: weight vector too short");
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `self` proves the features; the callee reads 8 * blocks
        // entries of `x` and of each `w[t]`, which the assert covers.
        unsafe {
            dot_w_ifma::<N>(x.len() / 8, x.as_ptr().cast(), w.map(<[u64]>::as_ptr))
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("{x:?}{w:?}")
    }

    /// The u128 limb tile of [`super::wide`]'s 52-bit formats: for the
    /// packed panels `a` (kc x `a_limbs` x rows) and `b` (kc x `b_limbs` x
    /// cols), `tile[t*rows*cols + i*cols + j]` is class `t` of the
    /// `b_limbs` first in `wide::IFMA_SHIFTS`. `(rows, cols)` is
    /// [`IFMA_BIG`] or [`IFMA_ROW`]. `b_limbs` is 3 (results mod 2^128) or
    /// 2 (mod 2^104); `a_limbs` is `b_limbs`, or 1 for an A below 2^52
    /// packed with its low limb.
    pub fn micro(
        self,
        rows: usize,
        (a_limbs, b_limbs): (usize, usize),
        kc: usize,
        a: &[u64],
        b: &[u64],
        tile: &mut [u64],
    ) {
        let cols = if rows == IFMA_BIG.0 { IFMA_BIG.1 } else { IFMA_ROW.1 };
        assert!((rows, cols) == IFMA_BIG || (rows, cols) == IFMA_ROW, "ifma tile shape");
        assert!(b_limbs == 2 || b_limbs == 3, "ifma B limbs");
        assert!(a_limbs == 1 || a_limbs == b_limbs, "ifma A limbs");
        assert!(
            a.len() >= kc * a_limbs * rows && b.len() >= kc * b_limbs * cols && tile.len() >= b_limbs * rows * cols
        );
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `self` exists only if `detect` found avx512f and
        // avx512ifma; the asserts give the callee the sizes it touches.
        unsafe {
            let (a, b, t) = (a.as_ptr(), b.as_ptr(), tile.as_mut_ptr());
            match (rows == IFMA_BIG.0, a_limbs, b_limbs) {
                (true, 1, 3) => ifma_tile::<8, 1, 1, 3>(kc, a, b, t),
                (true, 1, _) => ifma_tile::<8, 1, 1, 2>(kc, a, b, t),
                (true, _, 3) => ifma_tile::<8, 1, 3, 3>(kc, a, b, t),
                (true, _, _) => ifma_tile::<8, 1, 2, 2>(kc, a, b, t),
                (false, 1, 3) => ifma_tile::<1, 4, 1, 3>(kc, a, b, t),
                (false, 1, _) => ifma_tile::<1, 4, 1, 2>(kc, a, b, t),
                (false, _, 3) => ifma_tile::<1, 4, 3, 3>(kc, a, b, t),
                (false, _, _) => ifma_tile::<1, 4, 2, 2>(kc, a, b, t),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("{rows}{a_limbs}{b_limbs}{kc}{a:?}{b:?}{tile:?}")
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

/// `LB` accumulators per 8 lanes of an R x 8V tile (see
/// `wide::IFMA_SHIFTS`). A and B limbs: bits 0..52, 52..104 and 104..128
/// of the u128. With `LB = 3`, nine IFMA multiply-adds per step and lane
/// cover every product below 2^128; with `LB = 2` (limbs 0 and 1 only),
/// four cover those below 2^104. With `LA = 1`, A has its low limb only
/// (entries below 2^52: a party's cleartext weights): five, or three.
///
/// # Safety
/// The CPU must support avx512f and avx512ifma; `a` must be valid for
/// `kc * LA * R` reads, `b` for `kc * LB * 8V` reads and `c` for
/// `LB * R * 8V` writes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn ifma_tile<const R: usize, const V: usize, const LA: usize, const LB: usize>(
    kc: usize,
    a: *const u64,
    b: *const u64,
    c: *mut u64,
) {
    let z = _mm512_setzero_si512();
    let mut acc = [[[z; LB]; V]; R];
    let (mut ap, mut bp) = (a, b);
    let lo = |s, x, y| _mm512_madd52lo_epu64(s, x, y);
    let hi = |s, x, y| _mm512_madd52hi_epu64(s, x, y);
    for _ in 0..kc {
        let mut bv = [[z; LB]; V];
        for (v, bl) in bv.iter_mut().enumerate() {
            for (l, x) in bl.iter_mut().enumerate() {
                // SAFETY: below LB * 8V past `bp`, which has advanced LB * 8V
                // per finished step of the kc the caller guarantees.
                *x = unsafe { _mm512_loadu_si512(bp.add(l * 8 * V + v * 8).cast()) };
            }
        }
        for (r, row) in acc.iter_mut().enumerate() {
            // SAFETY: limb l of row r of this step is at l * R + r < LA * R.
            let s = |l: usize| _mm512_set1_epi64(unsafe { *ap.add(l * R + r) } as i64);
            let a0 = s(0);
            for (t, bl) in row.iter_mut().zip(&bv) {
                t[0] = lo(t[0], a0, bl[0]);
                t[1] = lo(hi(t[1], a0, bl[0]), a0, bl[1]);
                if LB == 3 {
                    t[2] = lo(hi(t[2], a0, bl[1]), a0, bl[2]);
                }
            }
            if LA == 1 {
                continue;
            }
            let a1 = s(1);
            for (t, bl) in row.iter_mut().zip(&bv) {
                t[1] = lo(t[1], a1, bl[0]);
                if LB == 3 {
                    t[2] = lo(lo(hi(t[2], a1, bl[0]), a1, bl[1]), s(2), bl[0]);
                }
            }
        }
        // SAFETY: stays within (or one past the end of) the panels.
        unsafe {
            ap = ap.add(LA * R);
            bp = bp.add(LB * 8 * V);
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, cls) in row.iter().enumerate() {
            for (t, x) in cls.iter().enumerate() {
                // SAFETY: t < LB, r < R, v < V: below LB * R * 8V.
                unsafe { _mm512_storeu_si512(c.add((t * R + r) * 8 * V + v * 8).cast(), *x) };
            }
        }
    }
}

/// Eight terms per step: `x = x0 + 2^52 x1 + 2^104 x2` and `w = w0 + 2^52 w1`
/// in 52-bit limbs, so `x w` mod 2^128 is `x0 w0` (both halves),
/// `2^52 (x0 w1 + x1 w0)` (both halves) and `2^104 (x1 w1 + x2 w0)` (low
/// halves: only 24 bits of that class count): eight IFMA multiply-adds into
/// three classes per weight vector. Class 2 may wrap (its low 24 bits are
/// what counts); classes 0 and 1 take at most three values below 2^52 per
/// step and are folded into the 128-bit sums every `FLUSH` steps.
///
/// # Safety
/// The CPU must support avx512f and avx512ifma; `x` must be valid for
/// `16 * blocks` reads (u64 words: `8 * blocks` u128) and each `w[t]` for
/// `8 * blocks`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn dot_w_ifma<const N: usize>(blocks: usize, x: *const u64, w: [*const u64; N]) -> [u128; N] {
    const FLUSH: usize = 1024;
    const _: () = assert!(3 * FLUSH < 1 << 12);
    let z = _mm512_setzero_si512();
    let m52 = _mm512_set1_epi64((1i64 << 52) - 1);
    // the low and high words of eight consecutive u128 (two vectors)
    let even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
    let odd = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
    let lo = |s, a, b| _mm512_madd52lo_epu64(s, a, b);
    let hi = |s, a, b| _mm512_madd52hi_epu64(s, a, b);
    let mut out = [0u128; N];
    let mut done = 0;
    while done < blocks {
        let steps = (blocks - done).min(FLUSH);
        let mut acc = [[z; 3]; N];
        for b in done..done + steps {
            // SAFETY: block b < blocks: words 16b .. 16b + 16 of x.
            let (p, q) = unsafe {
                (
                    _mm512_loadu_si512(x.add(16 * b).cast()),
                    _mm512_loadu_si512(x.add(16 * b + 8).cast()),
                )
            };
            let (xl, xh) = (
                _mm512_permutex2var_epi64(p, even, q),
                _mm512_permutex2var_epi64(p, odd, q),
            );
            let x0 = _mm512_and_si512(xl, m52);
            let x1 = _mm512_and_si512(
                _mm512_or_si512(_mm512_srli_epi64::<52>(xl), _mm512_slli_epi64::<12>(xh)),
                m52,
            );
            let x2 = _mm512_srli_epi64::<40>(xh);
            for (a, wt) in acc.iter_mut().zip(&w) {
                // SAFETY: entries 8b .. 8b + 8 of w[t].
                let wv = unsafe { _mm512_loadu_si512(wt.add(8 * b).cast()) };
                let (w0, w1) = (_mm512_and_si512(wv, m52), _mm512_srli_epi64::<52>(wv));
                a[0] = lo(a[0], x0, w0);
                a[1] = lo(lo(hi(a[1], x0, w0), x0, w1), x1, w0);
                a[2] = lo(lo(hi(hi(a[2], x0, w1), x1, w0), x1, w1), x2, w0);
            }
        }
        for (o, a) in out.iter_mut().zip(&acc) {
            let mut c = [[0u64; 8]; 3];
            for (cl, v) in c.iter_mut().zip(a) {
                // SAFETY: eight u64 into an eight-word array.
                unsafe { _mm512_storeu_si512(cl.as_mut_ptr().cast(), *v) };
            }
            for ((&c0, &c1), &c2) in c[0].iter().zip(&c[1]).zip(&c[2]) {
                let t = (c0 as u128)
                    .wrapping_add((c1 as u128) << 52)
                    .wrapping_add((c2 as u128) << 104);
                *o = o.wrapping_add(t);
            }
        }
        done += steps;
    }
    out
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

/// Proof that the running CPU has AVX-512 F and VPCLMULQDQ (four 64 x 64
/// carry-less products per instruction): the GF(2^64) vector kernels of
/// [`super::Gf64`], which reduce by the pentanomial x^64 + x^4 + x^3 + x + 1
/// in the vector registers.
#[derive(Clone, Copy, Debug)]
pub struct Vpclmul(());

impl Vpclmul {
    pub fn detect() -> Option<Vpclmul> {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("vpclmulqdq") {
                return Some(Vpclmul(()));
            }
        }
        None
    }

    /// `out[j] = a[j] * b[j]` (or `a[j] * s` when `b` is `None`) in
    /// GF(2^64). `out` may be `a` itself (`None` for `a`: in place).
    pub fn mul(self, a: Option<&[u64]>, b: Option<&[u64]>, s: u64, out: &mut [u64]) {
        let n = out.len();
        assert!(
            a.is_none_or(|a| a.len() == n) && b.is_none_or(|b| b.len() == n),
            "gf64: lengths differ"
        );
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `self` exists only if `detect` found avx512f and
        // vpclmulqdq; the assert gives every slice `n` elements.
        unsafe {
            let ap = a.map_or(out.as_ptr(), |a| a.as_ptr());
            gf_mul_vp(n, ap, b.map(|b| b.as_ptr()), s, out.as_mut_ptr())
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("{a:?}{b:?}{s}{out:?}")
    }

    /// `b[j] = a[j] * x; a[j] += b[j]` (one level of an eq table).
    pub fn eq_expand(self, a: &mut [u64], b: &mut [u64], x: u64) {
        assert_eq!(a.len(), b.len(), "gf64: lengths differ");
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `mul`; `a` and `b` are distinct `&mut` slices of
        // the same length.
        unsafe {
            gf_eq_expand_vp(a.len(), a.as_mut_ptr(), b.as_mut_ptr(), x)
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("{a:?}{b:?}{x}")
    }

    /// `v[p] = v[2p] + r (v[2p] + v[2p+1])` for `p < v.len() / 2`.
    pub fn fold_in_place(self, v: &mut [u64], r: u64) {
        assert!(v.len().is_multiple_of(2), "gf64: odd table");
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `mul`; the callee reads and writes inside `v`.
        unsafe {
            gf_fold_vp(v.len() / 2, v.as_mut_ptr(), r)
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("{v:?}{r}")
    }

    /// XOR over `j` of the 128-bit carry-less products `a[j] * b[j]`.
    pub fn clmul_xor_sum(self, a: &[u64], b: &[u64]) -> (u64, u64) {
        assert_eq!(a.len(), b.len(), "clmul: lengths differ");
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `mul`.
        unsafe {
            clmul_xor_sum_vp(a.len(), a.as_ptr(), b.as_ptr())
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("{a:?}{b:?}")
    }

    /// The unreduced sums of [`super::Gf64::quad_sums`] over the positions
    /// `p < 8 * (w.len() / 8)` of the weight period (the caller adds the
    /// rest): for each class `c` (pair products at 0, at 1, of the
    /// differences), `sum_p w_p * reduce(sum_i prod_c(p + i w.len()))`.
    pub fn quad_sums(self, u: &[u64], v: &[u64], w: &[u64]) -> [(u64, u64); 3] {
        let (pairs, period) = (u.len() / 2, w.len());
        assert!(
            u.len() == v.len() && period > 0 && pairs.is_multiple_of(period) && u.len().is_multiple_of(2),
            "gf64: quad_sums shapes"
        );
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `mul`; the callee reads pairs `p + i * period` for
        // `p < period - period % 8`, `i < pairs / period`: below `pairs`.
        unsafe {
            quad_sums_vp(pairs / period, period, u.as_ptr(), v.as_ptr(), w.as_ptr())
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("{u:?}{v:?}{w:?}")
    }
}

/// The mask of the first `k <= 8` lanes.
#[cfg(target_arch = "x86_64")]
fn lanes(k: usize) -> __mmask8 {
    (0xffu16 >> (8 - k.min(8))) as __mmask8
}

/// Reduces eight 128-bit polynomials `hi x^64 + lo` modulo the field
/// polynomial (as `gf64::reduce`): `x^64 = x^4 + x^3 + x + 1`, and the at
/// most four bits that shifts past x^63 come back once more through `t`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn reduce8(lo: __m512i, hi: __m512i) -> __m512i {
    const XOR3: i32 = 0x96;
    let t = _mm512_ternarylogic_epi64::<XOR3>(
        _mm512_srli_epi64::<63>(hi),
        _mm512_srli_epi64::<61>(hi),
        _mm512_srli_epi64::<60>(hi),
    );
    // (hi + t)(1 + x + x^3 + x^4): the shifts are linear, so t rides along
    let g = _mm512_xor_si512(hi, t);
    let x = _mm512_ternarylogic_epi64::<XOR3>(lo, g, _mm512_slli_epi64::<1>(g));
    _mm512_ternarylogic_epi64::<XOR3>(x, _mm512_slli_epi64::<3>(g), _mm512_slli_epi64::<4>(g))
}

/// The reduced products of eight lanes: even lanes by one instruction, odd
/// lanes by another, re-interleaved into (low, high) words.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,vpclmulqdq")]
#[inline]
fn mul8(a: __m512i, b: __m512i) -> __m512i {
    let even = _mm512_clmulepi64_epi128::<0x00>(a, b);
    let odd = _mm512_clmulepi64_epi128::<0x11>(a, b);
    reduce8(_mm512_unpacklo_epi64(even, odd), _mm512_unpackhi_epi64(even, odd))
}

/// XOR of the four 128-bit lanes, as (low, high).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn xor_lanes(x: __m512i) -> (u64, u64) {
    let mut w = [0u64; 8];
    // SAFETY: `w` holds 64 bytes.
    unsafe { _mm512_storeu_si512(w.as_mut_ptr().cast(), x) };
    (w[0] ^ w[2] ^ w[4] ^ w[6], w[1] ^ w[3] ^ w[5] ^ w[7])
}

/// # Safety
/// The CPU must support avx512f and vpclmulqdq; `a`, `out` (and `b` if
/// some) must be valid for `n` elements; `a` may equal `out`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,vpclmulqdq")]
unsafe fn gf_mul_vp(n: usize, a: *const u64, b: Option<*const u64>, s: u64, out: *mut u64) {
    let sv = _mm512_set1_epi64(s as i64);
    for j in (0..n).step_by(8) {
        let m = lanes(n - j);
        // SAFETY: the masked lanes are below `n`; masked-off ones are not
        // touched. Each block is read before it is written.
        unsafe {
            let x = _mm512_maskz_loadu_epi64(m, a.add(j).cast());
            let y = match b {
                Some(b) => _mm512_maskz_loadu_epi64(m, b.add(j).cast()),
                None => sv,
            };
            _mm512_mask_storeu_epi64(out.add(j).cast(), m, mul8(x, y));
        }
    }
}

/// # Safety
/// The CPU must support avx512f and vpclmulqdq; `a` and `b` must be valid,
/// non-overlapping, for `n` elements.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,vpclmulqdq")]
unsafe fn gf_eq_expand_vp(n: usize, a: *mut u64, b: *mut u64, x: u64) {
    let xv = _mm512_set1_epi64(x as i64);
    for j in (0..n).step_by(8) {
        let m = lanes(n - j);
        // SAFETY: the masked lanes are below `n`.
        unsafe {
            let e = _mm512_maskz_loadu_epi64(m, a.add(j).cast());
            let ex = mul8(e, xv);
            _mm512_mask_storeu_epi64(b.add(j).cast(), m, ex);
            _mm512_mask_storeu_epi64(a.add(j).cast(), m, _mm512_xor_si512(e, ex));
        }
    }
}

/// # Safety
/// The CPU must support avx512f and vpclmulqdq; `v` must be valid for
/// `2 * half` elements.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,vpclmulqdq")]
unsafe fn gf_fold_vp(half: usize, v: *mut u64, r: u64) {
    let rv = _mm512_set1_epi64(r as i64);
    let even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
    let odd = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
    for p in (0..half).step_by(8) {
        let k = (half - p).min(8);
        // SAFETY: reads entries 2p .. 2p + 2k < 2 half, writes p .. p + k.
        // In place: block p reads [2p, 2p + 16) before writing [p, p + 8),
        // and later blocks read from 2(p + 8) >= p + 8 on, so no entry is
        // read after it is overwritten.
        unsafe {
            let x0 = _mm512_maskz_loadu_epi64(lanes(2 * k), v.add(2 * p).cast());
            let x1 = _mm512_maskz_loadu_epi64(lanes((2 * k).saturating_sub(8)), v.add(2 * p + 8).cast());
            let e = _mm512_permutex2var_epi64(x0, even, x1);
            let o = _mm512_permutex2var_epi64(x0, odd, x1);
            let f = _mm512_xor_si512(e, mul8(_mm512_xor_si512(e, o), rv));
            _mm512_mask_storeu_epi64(v.add(p).cast(), lanes(k), f);
        }
    }
}

/// # Safety
/// The CPU must support avx512f and vpclmulqdq; `a` and `b` must be valid
/// for `n` elements.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,vpclmulqdq")]
unsafe fn clmul_xor_sum_vp(n: usize, a: *const u64, b: *const u64) -> (u64, u64) {
    let mut acc = _mm512_setzero_si512();
    for j in (0..n).step_by(8) {
        let m = lanes(n - j);
        // SAFETY: the masked lanes are below `n` (masked-off lanes are 0
        // and add nothing).
        let (x, y) = unsafe {
            (
                _mm512_maskz_loadu_epi64(m, a.add(j).cast()),
                _mm512_maskz_loadu_epi64(m, b.add(j).cast()),
            )
        };
        let p = _mm512_xor_si512(
            _mm512_clmulepi64_epi128::<0x00>(x, y),
            _mm512_clmulepi64_epi128::<0x11>(x, y),
        );
        acc = _mm512_xor_si512(acc, p);
    }
    xor_lanes(acc)
}

/// Eight weight positions per step, as two halves of four pairs (one pair
/// per 128-bit lane, so the pair's two entries are the lane's two words and
/// need no shuffling). The products of the `reps` pairs that share a weight
/// are XORed unreduced, reduced once, and multiplied by the weight with the
/// result left unreduced.
///
/// # Safety
/// The CPU must support avx512f and vpclmulqdq; `u` and `v` must be valid
/// for `2 * reps * period` elements and `w` for `period`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,vpclmulqdq")]
unsafe fn quad_sums_vp(reps: usize, period: usize, u: *const u64, v: *const u64, w: *const u64) -> [(u64, u64); 3] {
    let z = _mm512_setzero_si512();
    let mut acc = [z; 3];
    // within each 128-bit lane: swap the two words
    let swap = |x: __m512i| _mm512_shuffle_epi32::<0x4e>(x);
    let dup_a = _mm512_set_epi64(3, 3, 2, 2, 1, 1, 0, 0);
    let dup_b = _mm512_set_epi64(7, 7, 6, 6, 5, 5, 4, 4);
    let mix = _mm512_set_epi64(7, 3, 6, 2, 5, 1, 4, 0);
    for p in (0..period - period % 8).step_by(8) {
        // s[h][c]: class c of positions p + 4h .. p + 4h + 4, one per lane
        let mut s = [[z; 3]; 2];
        for i in 0..reps {
            for (h, sh) in s.iter_mut().enumerate() {
                let at = 2 * (p + 4 * h + i * period);
                // SAFETY: pairs p + 4h + i period .. + 4 are below
                // reps * period since p + 8 <= period.
                let (x, y) = unsafe {
                    (
                        _mm512_loadu_si512(u.add(at).cast()),
                        _mm512_loadu_si512(v.add(at).cast()),
                    )
                };
                sh[0] = _mm512_xor_si512(sh[0], _mm512_clmulepi64_epi128::<0x00>(x, y));
                sh[1] = _mm512_xor_si512(sh[1], _mm512_clmulepi64_epi128::<0x11>(x, y));
                let (dx, dy) = (_mm512_xor_si512(x, swap(x)), _mm512_xor_si512(y, swap(y)));
                sh[2] = _mm512_xor_si512(sh[2], _mm512_clmulepi64_epi128::<0x00>(dx, dy));
            }
        }
        // SAFETY: p + 8 <= period.
        let w8 = unsafe { _mm512_loadu_si512(w.add(p).cast()) };
        // lane l of half h: (class 0, class 1) of position p + 4h + l,
        // weighted by w[p + 4h + l] (the low word of the weight lane)
        for (h, dup) in [dup_a, dup_b].into_iter().enumerate() {
            let r01 = reduce8(
                _mm512_unpacklo_epi64(s[h][0], s[h][1]),
                _mm512_unpackhi_epi64(s[h][0], s[h][1]),
            );
            let wd = _mm512_permutexvar_epi64(dup, w8);
            acc[0] = _mm512_xor_si512(acc[0], _mm512_clmulepi64_epi128::<0x00>(r01, wd));
            acc[1] = _mm512_xor_si512(acc[1], _mm512_clmulepi64_epi128::<0x01>(r01, wd));
        }
        // lane l: class 2 of positions p + l and p + 4 + l
        let r2 = reduce8(
            _mm512_unpacklo_epi64(s[0][2], s[1][2]),
            _mm512_unpackhi_epi64(s[0][2], s[1][2]),
        );
        let wm = _mm512_permutexvar_epi64(mix, w8);
        let w2 = _mm512_xor_si512(
            _mm512_clmulepi64_epi128::<0x00>(r2, wm),
            _mm512_clmulepi64_epi128::<0x11>(r2, wm),
        );
        acc[2] = _mm512_xor_si512(acc[2], w2);
    }
    [xor_lanes(acc[0]), xor_lanes(acc[1]), xor_lanes(acc[2])]
}
