//! Dense kernels over a scalar type: f32 for the float backend, u64 with
//! wrapping arithmetic (the ring Z_2^64) for fixed point and secret shares.
//!
//! Convolution is im2col followed by a GEMM; both parallelise over rows with
//! rayon.

use cryptflow_ir::layout::ConvGeom;
use rayon::prelude::*;

/// Element type of the kernels.
pub trait Scalar: Copy + Send + Sync + Default + 'static {
    /// acc + a * b (wrapping for ring elements).
    fn mul_add(acc: Self, a: Self, b: Self) -> Self;
    fn add(a: Self, b: Self) -> Self;
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
}

/// C[m,n] = A[m,k] * B[k,n], all row-major.
pub fn gemm<T: Scalar>(m: usize, k: usize, n: usize, a: &[T], b: &[T]) -> Vec<T> {
    assert_eq!(a.len(), m * k, "gemm: A has the wrong size");
    assert_eq!(b.len(), k * n, "gemm: B has the wrong size");
    let mut c = vec![T::default(); m * n];
    if n == 0 {
        return c;
    }
    // Rows of C are independent; the inner loop over n auto-vectorises.
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
    c
}

/// Convolution without bias: x NCHW, w OIHW; returns N x O x OH x OW.
pub fn conv<T: Scalar>(g: &ConvGeom, x: &[T], w: &[T]) -> Vec<T> {
    let og = g.o / g.groups;
    let kr = g.k_rows();
    let pix = g.out_pixels();
    let mut out = vec![T::default(); g.n * g.o * pix];
    let mut cols = Vec::new();
    for n in 0..g.n {
        for grp in 0..g.groups {
            g.im2col(x, n, grp, T::default(), &mut cols);
            let wg = &w[grp * og * kr..(grp + 1) * og * kr];
            let y = gemm(og, kr, pix, wg, &cols);
            let base = (n * g.o + grp * og) * pix;
            out[base..base + og * pix].copy_from_slice(&y);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptflow_ir::ConvParams;

    #[test]
    fn gemm_small() {
        let a = [1u64, 2, 3, 4, 5, 6];
        let b = [7u64, 8, 9, 10, 11, 12];
        assert_eq!(gemm(2, 3, 2, &a, &b), vec![58, 64, 139, 154]);
        let neg = [u64::MAX]; // -1
        assert_eq!(gemm(1, 1, 1, &neg, &[5]), vec![5u64.wrapping_neg()]);
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
