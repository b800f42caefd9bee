//! Dense kernels over a scalar type: f32 for the float backend, u64 with
//! wrapping arithmetic (the ring Z_2^64) for fixed point and secret shares.
//!
//! Convolution is im2col followed by a GEMM. The GEMM dispatches on the
//! scalar type ([`Scalar::gemm_into`]): u64, u128 and f32 run the blocked kernels
//! of [`crate::kernel`]; convolution runs images and groups in parallel.

use crate::kernel::{self, Width};
use cryptflow_ir::layout::ConvGeom;
use rayon::prelude::*;

/// Element type of the kernels.
pub trait Scalar: Copy + Send + Sync + Default + 'static {
    /// acc + a * b (wrapping for ring elements).
    fn mul_add(acc: Self, a: Self, b: Self) -> Self;
    fn add(a: Self, b: Self) -> Self;

    /// C[m,n] = A[m,k] * B[k,n] into `c` (overwritten), all row-major. The
    /// default is the generic row loop; u64 and f32 run [`crate::kernel`].
    fn gemm_into(m: usize, k: usize, n: usize, a: &[Self], b: &[Self], c: &mut [Self]) {
        gemm_generic_into(m, k, n, a, b, c)
    }
}

impl Scalar for f32 {
    #[inline(always)]
    fn mul_add(acc: f32, a: f32, b: f32) -> f32 {
        acc + a * b
    }
    #[inline(always)]
    fn add(a: f32, b: f32) -> f32 {
        a + b
    }
    fn gemm_into(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
        kernel::gemm_f32_into(m, k, n, a, b, c)
    }
}

impl Scalar for u64 {
    #[inline(always)]
    fn mul_add(acc: u64, a: u64, b: u64) -> u64 {
        acc.wrapping_add(a.wrapping_mul(b))
    }
    #[inline(always)]
    fn add(a: u64, b: u64) -> u64 {
        a.wrapping_add(b)
    }
    fn gemm_into(m: usize, k: usize, n: usize, a: &[u64], b: &[u64], c: &mut [u64]) {
        kernel::gemm_u64_into(kernel::Path::Auto, m, k, n, a, b, c)
    }
}

/// Z_2^128, for the Aramis backend's MAC-carrying shares.
impl Scalar for u128 {
    #[inline(always)]
    fn mul_add(acc: u128, a: u128, b: u128) -> u128 {
        acc.wrapping_add(a.wrapping_mul(b))
    }
    #[inline(always)]
    fn add(a: u128, b: u128) -> u128 {
        a.wrapping_add(b)
    }
    fn gemm_into(m: usize, k: usize, n: usize, a: &[u128], b: &[u128], c: &mut [u128]) {
        gemm_u128_into(m, k, n, a, b, c)
    }
}

/// GEMM over Z_2^128 (wrapping), `c` overwritten: the limb kernels of
/// [`kernel::gemm_u128_with`] (one blocked pass with AVX-512 IFMA or
/// `vpmuludq`, exact for any `k`); small products, and CPUs without
/// AVX-512, take the generic loop.
pub fn gemm_u128_into(m: usize, k: usize, n: usize, a: &[u128], b: &[u128], c: &mut [u128]) {
    gemm_u128_width_into(Width::Full, m, k, n, a, b, c)
}

/// [`gemm_u128_into`], or C mod 2^104 with [`Width::Low`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_u128_width_into(width: Width, m: usize, k: usize, n: usize, a: &[u128], b: &[u128], c: &mut [u128]) {
    if m * k * n < 1 << 14 {
        gemm_generic_into(m, k, n, a, b, c);
        return width.trim(c);
    }
    kernel::gemm_u128_with(kernel::U128Kernel::Auto, width, m, k, n, a, b, c)
}

/// [`gemm`] over Z_2^128, or mod 2^104 with [`Width::Low`].
pub fn gemm_u128(width: Width, m: usize, k: usize, n: usize, a: &[u128], b: &[u128]) -> Vec<u128> {
    let mut c = vec![0; m * n];
    gemm_u128_width_into(width, m, k, n, a, b, &mut c);
    c
}

/// C[m,n] = A[m,k] * B[k,n], all row-major.
pub fn gemm<T: Scalar>(m: usize, k: usize, n: usize, a: &[T], b: &[T]) -> Vec<T> {
    let mut c = vec![T::default(); m * n];
    T::gemm_into(m, k, n, a, b, &mut c);
    c
}

/// The generic GEMM (rows of C in parallel, the inner loop over n
/// auto-vectorised): the default of [`Scalar::gemm_into`], and a baseline.
pub fn gemm_generic_into<T: Scalar>(m: usize, k: usize, n: usize, a: &[T], b: &[T], c: &mut [T]) {
    assert_eq!(a.len(), m * k, "gemm: A has the wrong size");
    assert_eq!(b.len(), k * n, "gemm: B has the wrong size");
    assert_eq!(c.len(), m * n, "gemm: C has the wrong size");
    c.fill(T::default());
    if n == 0 {
        return;
    }
    let work = m * k * n;
    let body = |(i, row): (usize, &mut [T])| {
        let ai = &a[i * k..(i + 1) * k];
        for (p, &aip) in ai.iter().enumerate() {
            let bp = &b[p * n..(p + 1) * n];
            for (cv, &bv) in row.iter_mut().zip(bp) {
                *cv = T::mul_add(*cv, aip, bv);
            }
        }
    };
    if work > 1 << 16 {
        c.par_chunks_mut(n).enumerate().for_each(body);
    } else {
        c.chunks_mut(n).enumerate().for_each(body);
    }
}

/// The patch matrix [k_rows, oh*ow] of image `n`, group `grp`, zero where the
/// window reads padding: the same matrix as [`ConvGeom::im2col`], built row
/// by row (in parallel when large) with each row's in-bounds run copied
/// as a slice. `cols` is resized to fit and every element overwritten.
pub fn im2col<T: Scalar>(g: &ConvGeom, x: &[T], n: usize, grp: usize, cols: &mut Vec<T>) {
    let (kr, pix) = (g.k_rows(), g.out_pixels());
    if cols.len() != kr * pix {
        cols.clear();
        cols.resize(kr * pix, T::default());
    }
    if pix == 0 {
        return;
    }
    let row = |(r, out): (usize, &mut [T])| im2col_row(g, x, n, grp, r, out);
    if kr * pix >= 1 << 16 {
        cols.par_chunks_mut(pix).enumerate().for_each(row);
    } else {
        cols.chunks_mut(pix).enumerate().for_each(row);
    }
}

/// Row `r` of [`im2col`]'s patch matrix (kernel row `r = (ci, ki, kj)`),
/// `out` of length `oh * ow`, every element overwritten.
pub fn im2col_row<T: Scalar>(g: &ConvGeom, x: &[T], n: usize, grp: usize, r: usize, out: &mut [T]) {
    let cg = g.c / g.groups;
    let [sh, sw] = g.p.strides;
    let [dh, dw] = g.p.dilations;
    let (pt, pl) = (g.p.pads[0], g.p.pads[1]);
    let (ci, ki, kj) = (r / (g.kh * g.kw), r / g.kw % g.kh, r % g.kw);
    let c = grp * cg + ci;
    let plane = &x[(n * g.c + c) * g.h * g.w..(n * g.c + c + 1) * g.h * g.w];
    // Input column of output column xo: xo * sw + off - pl, in bounds
    // for xo in lo..hi.
    let off = kj * dw;
    let lo = pl.saturating_sub(off).div_ceil(sw).min(g.ow);
    let hi = (g.w + pl).saturating_sub(off).div_ceil(sw).clamp(lo, g.ow);
    for (y, orow) in out.chunks_exact_mut(g.ow).enumerate() {
        let iy = y * sh + ki * dh;
        if iy < pt || iy - pt >= g.h {
            orow.fill(T::default());
            continue;
        }
        let src = &plane[(iy - pt) * g.w..(iy - pt + 1) * g.w];
        orow[..lo].fill(T::default());
        orow[hi..].fill(T::default());
        let first = lo * sw + off - pl;
        if sw == 1 {
            orow[lo..hi].copy_from_slice(&src[first..first + (hi - lo)]);
        } else {
            for (o, &v) in orow[lo..hi].iter_mut().zip(src[first..].iter().step_by(sw)) {
                *o = v;
            }
        }
    }
}

/// Convolution without bias: x NCHW, w OIHW; returns N x O x OH x OW.
///
/// Each (image, group) pair is an im2col into a reused patch buffer and one
/// GEMM W[og, kr] x cols[kr, pixels] written straight into the output. The
/// pairs run in parallel when there are several and each GEMM is small
/// enough that splitting it would not already keep every thread busy.
pub fn conv<T: Scalar>(g: &ConvGeom, x: &[T], w: &[T]) -> Vec<T> {
    conv_with(g, x, w, T::gemm_into)
}

/// [`conv`] over Z_2^128, or mod 2^104 with [`Width::Low`] (the GEMM on
/// two 52-bit limbs: about half the multiply-adds).
pub fn conv_u128(g: &ConvGeom, x: &[u128], w: &[u128], width: Width) -> Vec<u128> {
    conv_with(g, x, w, |m, k, n, a, b, c| {
        gemm_u128_width_into(width, m, k, n, a, b, c)
    })
}

/// Offset that makes weights in `[-2^51, 2^51)` non-negative and below 2^52.
const SMALL_WEIGHT_OFFSET: u128 = 1 << 51;

/// [`conv_u128`] for weights that are small signed values, `w` in
/// `[-2^51, 2^51)` as two's complement mod 2^128 (a party's own fixed-point
/// weights, in the clear): the GEMM takes `w + 2^51`, below 2^52, through
/// [`kernel::gemm_u128_small_a`] (one 52-bit limb of A, five IFMA
/// multiply-adds per step instead of nine, three for [`Width::Low`]), and
/// `2^51` times each patch column's sum is taken off again. `None` if a
/// weight is out of range.
pub fn conv_small_weights(g: &ConvGeom, x: &[u128], w: &[u128], width: Width) -> Option<Vec<u128>> {
    // shifted and range-checked in one pass (None at the first weight out of range)
    let shifted: Vec<u128> = w
        .iter()
        .map(|v| Some(v.wrapping_add(SMALL_WEIGHT_OFFSET)).filter(|s| s >> 52 == 0))
        .collect::<Option<_>>()?;
    Some(conv_with(g, x, &shifted, |m, k, n, a, b, c| {
        kernel::gemm_u128_small_a(width, m, k, n, a, b, c);
        let mut sums = vec![0u128; n];
        for row in b.chunks_exact(n.max(1)).take(k) {
            sums.iter_mut().zip(row).for_each(|(s, v)| *s = s.wrapping_add(*v));
        }
        sums.iter_mut().for_each(|s| *s = s.wrapping_mul(SMALL_WEIGHT_OFFSET));
        for crow in c.chunks_exact_mut(n.max(1)).take(m) {
            crow.iter_mut().zip(&sums).for_each(|(c, s)| *c = c.wrapping_sub(*s));
        }
        width.trim(c);
    }))
}

/// [`conv`] with the GEMM `gemm(m, k, n, a, b, c)` given.
fn conv_with<T: Scalar>(
    g: &ConvGeom,
    x: &[T],
    w: &[T],
    gemm: impl Fn(usize, usize, usize, &[T], &[T], &mut [T]) + Sync,
) -> Vec<T> {
    let og = g.o / g.groups;
    let kr = g.k_rows();
    let pix = g.out_pixels();
    let mut out = vec![T::default(); g.n * g.o * pix];
    if og * pix == 0 {
        return out;
    }
    let pairs = g.n * g.groups;
    let body = |cols: &mut Vec<T>, (idx, y): (usize, &mut [T])| {
        let (n, grp) = (idx / g.groups, idx % g.groups);
        im2col(g, x, n, grp, cols);
        let wg = &w[grp * og * kr..(grp + 1) * og * kr];
        gemm(og, kr, pix, wg, cols, y);
    };
    let threads = rayon::current_num_threads();
    let per_pair = og * kr * pix;
    if pairs > 1 && threads > 1 && (pairs >= 2 * threads || per_pair < kernel::PAR_WORK) {
        out.par_chunks_mut(og * pix).enumerate().for_each_init(Vec::new, body);
    } else {
        let mut cols = Vec::new();
        out.chunks_mut(og * pix)
            .enumerate()
            .for_each(|job| body(&mut cols, job));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn u128_gemm_from_u64_limbs_equals_the_generic_loop() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut r = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let hi = s;
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (hi as u128) << 64 | s as u128
        };
        for (m, k, n) in [(7, 300, 33), (16, 1000, 64), (3, 5000, 40)] {
            let a: Vec<u128> = (0..m * k).map(|i| if i % 7 == 0 { u128::MAX } else { r() }).collect();
            let b: Vec<u128> = (0..k * n).map(|_| r()).collect();
            let mut want = vec![0u128; m * n];
            super::gemm_generic_into(m, k, n, &a, &b, &mut want);
            let mut got = vec![1u128; m * n];
            super::gemm_u128_into(m, k, n, &a, &b, &mut got);
            assert_eq!(got, want, "{m}x{k}x{n}");
        }
    }

    use super::*;
    use cryptflow_ir::ConvParams;

    fn rng128(seed: u64) -> impl FnMut() -> u128 {
        let mut g = crate::testdata::Xorshift::new(seed | 1);
        move || g.next_u128()
    }

    fn low104(v: &[u128]) -> Vec<u128> {
        v.iter().map(|x| x & ((1 << kernel::LOW_BITS) - 1)).collect()
    }

    #[test]
    fn small_a_gemm_equals_the_generic_loop() {
        let mut r = rng128(5);
        // row tiles (m < SMALL_M), several KC blocks, ragged NR panels
        for (m, k, n) in [(1, 40, 70), (3, 300, 33), (9, 600, 17), (16, 257, 64)] {
            let a: Vec<u128> = (0..m * k)
                .map(|i| match i % 5 {
                    0 => (1 << 52) - 1,
                    1 => 0,
                    _ => r() >> 76,
                })
                .collect();
            let b: Vec<u128> = (0..k * n).map(|i| if i % 11 == 0 { u128::MAX } else { r() }).collect();
            let mut want = vec![0u128; m * n];
            gemm_generic_into(m, k, n, &a, &b, &mut want);
            let mut got = vec![1u128; m * n];
            kernel::gemm_u128_small_a(Width::Full, m, k, n, &a, &b, &mut got);
            assert_eq!(got, want, "{m}x{k}x{n}");
            kernel::gemm_u128_small_a(Width::Low, m, k, n, &a, &b, &mut got);
            assert_eq!(got, low104(&want), "{m}x{k}x{n} mod 2^104");
        }
    }

    #[test]
    fn conv_with_small_weights_equals_conv() {
        let mut r = rng128(9);
        let p = ConvParams {
            strides: [2, 1],
            dilations: [1, 1],
            pads: [1, 0, 1, 1],
            groups: 2,
        };
        let g = ConvGeom::new(&[2, 4, 6, 5], &[8, 2, 3, 3], &p).expect("geometry");
        let x: Vec<u128> = (0..2 * 4 * 6 * 5).map(|_| r()).collect();
        let edge = 1i128 << 51;
        let w: Vec<u128> = (0..8 * 2 * 3 * 3)
            .map(|i| match i % 6 {
                0 => (-edge) as u128,
                1 => (edge - 1) as u128,
                2 => (-1i128) as u128,
                _ => ((r() as i128) >> 90) as u128,
            })
            .collect();
        let want = conv(&g, &x, &w);
        assert_eq!(conv_small_weights(&g, &x, &w, Width::Full), Some(want.clone()));
        assert_eq!(conv_small_weights(&g, &x, &w, Width::Low), Some(low104(&want)));
        assert_eq!(conv_u128(&g, &x, &w, Width::Full), want);
        assert_eq!(conv_u128(&g, &x, &w, Width::Low), low104(&want));
        let mut big = w.clone();
        big[5] = edge as u128;
        assert_eq!(
            conv_small_weights(&g, &x, &big, Width::Full),
            None,
            "2^51 is out of range"
        );
    }

    #[test]
    fn gemm_small() {
        let a = [1u64, 2, 3, 4, 5, 6];
        let b = [7u64, 8, 9, 10, 11, 12];
        assert_eq!(gemm(2, 3, 2, &a, &b), vec![58, 64, 139, 154]);
        let neg = [u64::MAX]; // -1
        assert_eq!(gemm(1, 1, 1, &neg, &[5]), vec![5u64.wrapping_neg()]);
    }

    #[test]
    fn im2col_matches_layout_im2col() {
        let shapes = [
            ([1, 1], [1, 1], [0, 0, 0, 0], 1, [2, 3, 6, 7], [4, 3, 3, 3]),
            ([2, 1], [1, 2], [1, 0, 2, 1], 2, [2, 4, 5, 7], [6, 2, 3, 2]),
            ([2, 3], [1, 1], [1, 1, 1, 1], 1, [1, 3, 9, 10], [2, 3, 3, 3]),
            ([3, 2], [2, 3], [4, 5, 3, 6], 3, [1, 6, 5, 4], [3, 2, 2, 3]),
            ([1, 4], [1, 1], [0, 3, 0, 0], 1, [1, 1, 2, 3], [1, 1, 1, 2]),
        ];
        for (strides, dilations, pads, groups, xs, ks) in shapes {
            let p = ConvParams {
                strides,
                dilations,
                pads,
                groups,
            };
            let g = ConvGeom::new(&xs, &ks, &p).expect("geometry");
            let x: Vec<u64> = (1..=xs.iter().product::<usize>() as u64).collect();
            let (mut want, mut got) = (Vec::new(), vec![7u64; 3]);
            for n in 0..xs[0] {
                for grp in 0..groups {
                    g.im2col(&x, n, grp, 0, &mut want);
                    im2col(&g, &x, n, grp, &mut got);
                    assert_eq!(got, want, "{p:?} {xs:?} {ks:?} image {n} group {grp}");
                }
            }
        }
    }

    #[test]
    fn conv_matches_direct_loops() {
        let p = ConvParams {
            strides: [2, 1],
            dilations: [1, 2],
            pads: [1, 0, 2, 1],
            groups: 2,
        };
        let (n, c, h, w, o, kh, kw) = (2, 4, 5, 7, 6, 3, 2);
        let g = ConvGeom::new(&[n, c, h, w], &[o, c / 2, kh, kw], &p).unwrap();
        let x: Vec<f32> = (0..n * c * h * w).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let k: Vec<f32> = (0..o * c / 2 * kh * kw).map(|i| ((i * 5) % 7) as f32 - 3.0).collect();
        let y = conv(&g, &x, &k);
        for ni in 0..n {
            for oi in 0..o {
                let grp = oi / (o / 2);
                for yi in 0..g.oh {
                    for xi in 0..g.ow {
                        let mut acc = 0.0;
                        for ci in 0..c / 2 {
                            for a in 0..kh {
                                for b in 0..kw {
                                    let iy = (yi * 2 + a) as isize - 1;
                                    let ix = (xi + b * 2) as isize;
                                    if iy >= 0 && iy < h as isize && ix < w as isize {
                                        let xv = x[((ni * c + grp * 2 + ci) * h + iy as usize) * w + ix as usize];
                                        acc += xv * k[((oi * 2 + ci) * kh + a) * kw + b];
                                    }
                                }
                            }
                        }
                        assert_eq!(y[((ni * o + oi) * g.oh + yi) * g.ow + xi], acc);
                    }
                }
            }
        }
    }
}
