//! Bilinear maps over Z_2^128 (GEMM, convolution) for
//! [`crate::Aramis::mul_bilinear`], with the rank-one structure its check
//! needs (Freivalds, 1977): for output weights `rho = r ⊗ s`,
//! `<rho, f(x, y)> = <u(x; s), v(y; r)>`, where `u` and `v` each take one
//! pass over their operand instead of a GEMM. So a layer's result can be
//! checked through one short inner product (see `protocols::verify_inner`).

use crate::error::{AramisError, Result};
use crate::share::RShare;
use cryptflow_exec::kernel::{self, Width};
use cryptflow_exec::ring;
use cryptflow_ir::layout::ConvGeom;
use rayon::prelude::*;

/// Rank-one output weights: output element `(i, j)` of the map's
/// `rows x cols` view weighs `r[i] * s[j]`. 64-bit coefficients are as
/// strong as 128-bit ones for the check (`docs/PROTOCOLS.md`, soundness)
/// and take two word products per term instead of three.
pub struct Weights {
    pub r: Vec<u64>,
    pub s: Vec<u64>,
}

/// Independent rank-one weightings per map in the check: the chance that
/// they all miss a wrong result has a factor below 7/6 over a single
/// uniform coefficient per element (see `docs/PROTOCOLS.md`, soundness).
pub const FREIVALDS_REPS: usize = 3;

/// A bilinear map `f(x, y)` over Z_2^128 whose outputs form a
/// `rows x cols` grid (for the rank-one weights).
pub trait Bilinear: Send + Sync {
    /// How many weightings the check draws.
    fn reps(&self) -> usize {
        FREIVALDS_REPS
    }
    /// Lengths of `x`, `y` and `f(x, y)`.
    fn lens(&self) -> (usize, usize, usize);
    /// `(rows, cols)` of the output grid: the lengths of `r` and `s`.
    fn grid(&self) -> (usize, usize);
    /// `f(x, y)` mod 2^`bits` (`bits` <= 128; the bits above may be
    /// anything): a map may take a faster path when fewer bits are wanted.
    fn eval(&self, x: &[u128], y: &[u128], bits: u32) -> Vec<u128>;
    /// [`Bilinear::eval`] by the party that holds `y` in the clear (the
    /// weights' owner): a map may take a faster path for small values.
    fn eval_known_y(&self, x: &[u128], y: &[u128], bits: u32) -> Vec<u128> {
        self.eval(x, y, bits)
    }
    /// `<r ⊗ s, z>` for every weight pair.
    fn weigh(&self, z: &[u128], w: &[Weights]) -> Vec<u128>;
    /// `u(x)` for every weight pair, with `<u(x), v(y)> = <r ⊗ s, f(x, y)>`.
    fn contract_x(&self, x: &[u128], w: &[Weights]) -> Vec<Vec<u128>>;
    /// `v(y)` for every weight pair (same length as `u`).
    fn contract_y(&self, y: &[u128], w: &[Weights]) -> Vec<Vec<u128>>;

    /// Fails with a shape error unless `x` and `y` have the lengths the map takes.
    fn check_lens(&self, x: usize, y: usize) -> Result<()> {
        let (lx, ly, _) = self.lens();
        if (x, y) != (lx, ly) {
            return Err(AramisError::Shape(format!(
                "bilinear map takes {lx} and {ly} elements, got {x} and {y}"
            )));
        }
        Ok(())
    }
}

/// A bilinear layer awaiting its check: the map, this party's components of
/// the first operand's MAC, of the second operand and of the result.
pub(crate) struct LayerClaim {
    pub map: Box<dyn Bilinear>,
    pub xm: RShare,
    pub yv: RShare,
    pub zv: RShare,
    /// Cheat hook: what this party adds to its share of the check.
    pub lie: u128,
}

impl LayerClaim {
    /// Elements held (counted against the checkpoint limit).
    pub fn elements(&self) -> usize {
        self.xm.len() + self.yv.len() + self.zv.len()
    }
}

/// Wrapping inner product over Z_2^128.
pub fn dot(x: &[u128], y: &[u128]) -> u128 {
    x.iter()
        .zip(y)
        .fold(0u128, |a, (p, q)| a.wrapping_add(p.wrapping_mul(*q)))
}

/// Wrapping inner product of a vector over Z_2^128 with 64-bit weights
/// (over the shorter length).
pub fn dot_w(x: &[u128], w: &[u64]) -> u128 {
    let n = x.len().min(w.len());
    kernel::dot_u128_u64(&x[..n], [w])[0]
}

/// `f(t, dot_w(x, &w[t].s[at]))` for every weighting `t`: one pass over
/// `x` for the check's [`FREIVALDS_REPS`] weightings, and no vector per
/// call.
fn dot_weightings(x: &[u128], w: &[Weights], at: std::ops::Range<usize>, mut f: impl FnMut(usize, u128)) {
    match w {
        [a, b, c] => {
            let d = kernel::dot_u128_u64(x, [&a.s[at.clone()], &b.s[at.clone()], &c.s[at]]);
            d.into_iter().enumerate().for_each(|(t, d)| f(t, d));
        }
        _ => w
            .iter()
            .enumerate()
            .for_each(|(t, wt)| f(t, dot_w(x, &wt.s[at.clone()]))),
    }
}

/// `acc += c * x` (wrapping), `c` a 64-bit weight.
fn axpy(acc: &mut [u128], c: u64, x: &[u128]) {
    let c = c as u128;
    for (a, v) in acc.iter_mut().zip(x) {
        *a = a.wrapping_add(c.wrapping_mul(*v));
    }
}

/// The element-wise product of two vectors of length `n`. Its weights are
/// `s` alone (one uniform coefficient per element, `r` is ignored), so one
/// weighting is as strong as the MAC check's coefficients.
#[derive(Clone, Debug)]
pub struct Hadamard {
    pub n: usize,
}

impl Bilinear for Hadamard {
    fn reps(&self) -> usize {
        1
    }

    fn lens(&self) -> (usize, usize, usize) {
        (self.n, self.n, self.n)
    }

    fn grid(&self) -> (usize, usize) {
        (1, self.n)
    }

    fn eval(&self, x: &[u128], y: &[u128], _bits: u32) -> Vec<u128> {
        x.iter().zip(y).map(|(p, q)| p.wrapping_mul(*q)).collect()
    }

    fn weigh(&self, z: &[u128], w: &[Weights]) -> Vec<u128> {
        w.iter().map(|w| dot_w(z, &w.s)).collect()
    }

    fn contract_x(&self, x: &[u128], w: &[Weights]) -> Vec<Vec<u128>> {
        w.iter()
            .map(|w| x.iter().zip(&w.s).map(|(p, &q)| p.wrapping_mul(q as u128)).collect())
            .collect()
    }

    fn contract_y(&self, y: &[u128], w: &[Weights]) -> Vec<Vec<u128>> {
        w.iter().map(|_| y.to_vec()).collect()
    }
}

/// `C = A B` with `A` `m x k` and `B` `k x n`, row-major; outputs are the
/// `m x n` grid.
#[derive(Clone, Debug)]
pub struct Gemm {
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

impl Bilinear for Gemm {
    fn lens(&self) -> (usize, usize, usize) {
        (self.m * self.k, self.k * self.n, self.m * self.n)
    }

    fn grid(&self) -> (usize, usize) {
        (self.m, self.n)
    }

    fn eval(&self, x: &[u128], y: &[u128], bits: u32) -> Vec<u128> {
        ring::gemm_u128(Width::for_bits(bits), self.m, self.k, self.n, x, y)
    }

    fn weigh(&self, z: &[u128], w: &[Weights]) -> Vec<u128> {
        w.iter()
            .map(|w| {
                (0..self.m).fold(0u128, |a, i| {
                    a.wrapping_add((w.r[i] as u128).wrapping_mul(dot_w(&z[i * self.n..(i + 1) * self.n], &w.s)))
                })
            })
            .collect()
    }

    /// `r^T A`.
    fn contract_x(&self, x: &[u128], w: &[Weights]) -> Vec<Vec<u128>> {
        w.iter()
            .map(|w| {
                let mut u = vec![0u128; self.k];
                for (i, &ri) in w.r.iter().enumerate() {
                    axpy(&mut u, ri, &x[i * self.k..(i + 1) * self.k]);
                }
                u
            })
            .collect()
    }

    /// `B s`.
    fn contract_y(&self, y: &[u128], w: &[Weights]) -> Vec<Vec<u128>> {
        w.iter()
            .map(|w| {
                (0..self.k)
                    .map(|p| dot_w(&y[p * self.n..(p + 1) * self.n], &w.s))
                    .collect()
            })
            .collect()
    }
}

/// Convolution without bias: `x` NCHW activations, `y` OIHW weights, output
/// `N x O x pixels` (as `ring::conv`); the grid is `O x (N * pixels)`.
#[derive(Clone, Debug)]
pub struct Conv {
    pub g: ConvGeom,
}

impl Bilinear for Conv {
    fn lens(&self) -> (usize, usize, usize) {
        let g = &self.g;
        (g.n * g.c * g.h * g.w, g.o * g.k_rows(), g.n * g.o * g.out_pixels())
    }

    fn grid(&self) -> (usize, usize) {
        (self.g.o, self.g.n * self.g.out_pixels())
    }

    fn eval(&self, x: &[u128], y: &[u128], bits: u32) -> Vec<u128> {
        ring::conv_u128(&self.g, x, y, Width::for_bits(bits))
    }

    /// Fixed-point weights fit in one 52-bit limb: the IFMA GEMM takes
    /// five multiply-adds per step instead of nine, three instead of four
    /// mod 2^104 (`ring::conv_small_weights`).
    fn eval_known_y(&self, x: &[u128], y: &[u128], bits: u32) -> Vec<u128> {
        let w = Width::for_bits(bits);
        ring::conv_small_weights(&self.g, x, y, w).unwrap_or_else(|| ring::conv_u128(&self.g, x, y, w))
    }

    fn weigh(&self, z: &[u128], w: &[Weights]) -> Vec<u128> {
        let (o, pix) = (self.g.o, self.g.out_pixels());
        let mut acc = vec![0u128; w.len()];
        // plane by plane, every weighting in one pass
        for (idx, plane) in z.chunks_exact(pix.max(1)).enumerate().take(self.g.n * o) {
            let (n, oc) = (idx / o, idx % o);
            dot_weightings(plane, w, n * pix..(n + 1) * pix, |t, d| {
                acc[t] = acc[t].wrapping_add((w[t].r[oc] as u128).wrapping_mul(d));
            });
        }
        acc
    }

    /// `u[grp, q] = sum over images n and pixels p of s[n, p] * cols_(n, grp)[q, p]`,
    /// `cols` the im2col patches (one im2col per image and group, shared by
    /// all weight pairs).
    fn contract_x(&self, x: &[u128], w: &[Weights]) -> Vec<Vec<u128>> {
        let g = &self.g;
        let (kr, pix) = (g.k_rows(), g.out_pixels());
        let mut u = vec![vec![0u128; g.groups * kr]; w.len()];
        if pix == 0 {
            return u;
        }
        // images in runs of up to 2^16 patch-row elements: a patch row of
        // every image of the run is built into one buffer that stays in
        // cache (never the whole patch matrix) and weighed in one pass,
        // every weighting at once; rows in parallel when there is enough work
        let per = ((1usize << 16) / pix).clamp(1, g.n.max(1));
        for n0 in (0..g.n).step_by(per) {
            let n1 = (n0 + per).min(g.n);
            for grp in 0..g.groups {
                let row = |buf: &mut Vec<u128>, q: usize| {
                    for (n, seg) in (n0..n1).zip(buf.chunks_exact_mut(pix)) {
                        ring::im2col_row(g, x, n, grp, q, seg);
                    }
                    let mut d = vec![0u128; w.len()];
                    dot_weightings(buf, w, n0 * pix..n1 * pix, |t, v| d[t] = v);
                    d
                };
                let init = || vec![0u128; (n1 - n0) * pix];
                let sums: Vec<Vec<u128>> = if kr * (n1 - n0) * pix >= 1 << 16 {
                    (0..kr).into_par_iter().map_init(init, row).collect()
                } else {
                    let mut buf = init();
                    (0..kr).map(|q| row(&mut buf, q)).collect()
                };
                for (q, d) in sums.iter().enumerate() {
                    for (ui, v) in u.iter_mut().zip(d) {
                        ui[grp * kr + q] = ui[grp * kr + q].wrapping_add(*v);
                    }
                }
            }
        }
        u
    }

    /// `v[grp, q] = sum over the group's output channels o of r[o] * y[o, q]`.
    fn contract_y(&self, y: &[u128], w: &[Weights]) -> Vec<Vec<u128>> {
        let g = &self.g;
        let (kr, og) = (g.k_rows(), g.o / g.groups);
        let mut v = vec![vec![0u128; g.groups * kr]; w.len()];
        // channel by channel, every weighting while the channel's weights
        // are in cache
        for oc in 0..g.o.min(y.len() / kr.max(1)) {
            let grp = oc / og.max(1);
            let row = &y[oc * kr..(oc + 1) * kr];
            for (v, w) in v.iter_mut().zip(w) {
                axpy(&mut v[grp * kr..(grp + 1) * kr], w.r[oc], row);
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptflow_ir::ConvParams;

    fn rng(seed: u64) -> impl FnMut() -> u128 {
        let mut g = cryptflow_exec::testdata::Xorshift::new(seed | 1);
        move || g.next_u128()
    }

    #[test]
    fn dot_w_is_the_wrapping_inner_product_at_every_length() {
        let mut r = rng(11);
        // around the four running sums, long, and with all-ones entries
        for n in (0..12).chain([15, 16, 17, 8192, 20000]) {
            let x: Vec<u128> = (0..n).map(|i| if i % 3 == 0 { u128::MAX } else { r() }).collect();
            let w: Vec<u64> = (0..n + 1)
                .map(|i| if i % 5 == 0 { u64::MAX } else { r() as u64 })
                .collect();
            let want = x
                .iter()
                .zip(&w)
                .fold(0u128, |a, (p, &q)| a.wrapping_add(p.wrapping_mul(q as u128)));
            // (the longer weight vector's extra entry is ignored)
            assert_eq!(dot_w(&x, &w), want, "n {n}");
        }
    }

    /// `<u, v> = <r ⊗ s, f(x, y)>` for random operands and weights, and a
    /// changed output element changes the weighted sum.
    fn check_identity(f: &dyn Bilinear, seed: u64) {
        let mut r = rng(seed);
        let (lx, ly, lz) = f.lens();
        let x: Vec<u128> = (0..lx).map(|_| r()).collect();
        let y: Vec<u128> = (0..ly).map(|_| r()).collect();
        let (rows, cols) = f.grid();
        // (the check's count: the one-pass path for every weighting)
        let w: Vec<Weights> = (0..FREIVALDS_REPS)
            .map(|_| Weights {
                r: (0..rows).map(|_| r() as u64).collect(),
                s: (0..cols).map(|_| r() as u64).collect(),
            })
            .collect();
        let mut z = f.eval(&x, &y, 128);
        assert_eq!(z.len(), lz);
        let (u, v) = (f.contract_x(&x, &w), f.contract_y(&y, &w));
        let zw = f.weigh(&z, &w);
        for t in 0..w.len() {
            assert_eq!(u[t].len(), v[t].len());
            assert_eq!(dot(&u[t], &v[t]), zw[t], "weight pair {t}");
        }
        // fewer bits: the same low bits, also by the weights' owner (small y)
        let small_y: Vec<u128> = y.iter().map(|&v| ((v as i128) >> 100) as u128).collect();
        let z_small = f.eval(&x, &small_y, 128);
        for bits in [78, 104] {
            let low = |v: &[u128]| -> Vec<u128> { v.iter().map(|x| x & ((1 << bits) - 1)).collect() };
            assert_eq!(low(&f.eval(&x, &y, bits)), low(&z), "{bits} bits");
            assert_eq!(
                low(&f.eval_known_y(&x, &small_y, bits)),
                low(&z_small),
                "{bits} bits, known y"
            );
        }
        z[lz / 2] = z[lz / 2].wrapping_add(1);
        assert_ne!(f.weigh(&z, &w), zw);
    }

    #[test]
    fn hadamard_contractions_match_the_weighted_output() {
        for n in [1, 2, 17, 100] {
            check_identity(&Hadamard { n }, 30 + n as u64);
        }
    }

    #[test]
    fn gemm_contractions_match_the_weighted_output() {
        // (the last two large enough for the SIMD kernels)
        for (i, &(m, k, n)) in [(1, 5, 3), (4, 7, 1), (6, 9, 11), (32, 40, 24), (40, 300, 17)]
            .iter()
            .enumerate()
        {
            check_identity(&Gemm { m, k, n }, i as u64 + 1);
        }
    }

    #[test]
    fn conv_contractions_match_the_weighted_output() {
        let cases = [
            // (x shape, kernel shape, strides, dilations, pads, groups)
            ([2, 4, 5, 7], [6, 2, 3, 2], [2, 1], [1, 2], [1, 0, 2, 1], 2),
            ([1, 3, 8, 8], [5, 3, 3, 3], [1, 1], [1, 1], [1, 1, 1, 1], 1),
            ([1, 4, 6, 6], [4, 1, 3, 3], [2, 2], [1, 1], [0, 0, 1, 1], 4),
            ([3, 2, 4, 4], [3, 2, 1, 1], [1, 1], [1, 1], [0, 0, 0, 0], 1),
            // large enough for the SIMD kernels
            ([1, 16, 12, 12], [16, 16, 3, 3], [1, 1], [1, 1], [1, 1, 1, 1], 1),
            // enough patch rows x pixels for contract_x's parallel rows
            ([1, 8, 40, 40], [4, 8, 3, 3], [1, 1], [1, 1], [1, 1, 0, 1], 1),
        ];
        for (i, (xs, ks, strides, dilations, pads, groups)) in cases.into_iter().enumerate() {
            let p = ConvParams {
                strides,
                dilations,
                pads,
                groups,
            };
            let g = ConvGeom::new(&xs, &ks, &p).unwrap();
            check_identity(&Conv { g }, 10 + i as u64);
        }
    }
}
