//! Plain-Rust kernels, written so that LLVM vectorises them for whatever the
//! target offers. They are the fallback without AVX-512, and [`row`] is also
//! the body of the AVX-512 row kernel (compiled there with the features on).

/// Rows of the portable micro-kernel's C tile.
pub const MR: usize = 4;
/// Columns of the portable micro-kernel's C tile.
pub const NR: usize = 4;

/// `tile[i*NR + j] = sum_p a[p*MR + i] * b[p*NR + j]` (wrapping) for the
/// packed panels `a` (kc x MR) and `b` (kc x NR).
#[inline(always)]
pub fn micro(kc: usize, a: &[u64], b: &[u64], tile: &mut [u64]) {
    let mut acc = [[0u64; NR]; MR];
    let (a, _) = a.as_chunks::<MR>();
    let (b, _) = b.as_chunks::<NR>();
    for (ap, bp) in a[..kc].iter().zip(&b[..kc]) {
        for (row, &av) in acc.iter_mut().zip(ap) {
            for (c, &bv) in row.iter_mut().zip(bp) {
                *c = c.wrapping_add(av.wrapping_mul(bv));
            }
        }
    }
    for (dst, row) in tile.chunks_exact_mut(NR).zip(&acc) {
        dst.copy_from_slice(row);
    }
}

/// Columns of C a row kernel pass keeps hot in L1.
const ROW_CHUNK: usize = 1024;

/// `c[j] += sum_p a[p] * b[p*ldb + j]` for `j < c.len()` (wrapping): one row
/// of C when there are too few rows to pack. Four rows of B per pass over C.
#[inline(always)]
pub fn row(a: &[u64], b: &[u64], ldb: usize, c: &mut [u64]) {
    let w_all = c.len();
    for (ci, cc) in c.chunks_mut(ROW_CHUNK).enumerate() {
        let j0 = ci * ROW_CHUNK;
        let w = cc.len();
        debug_assert!(j0 + w <= w_all);
        let brow = |p: usize| &b[p * ldb + j0..p * ldb + j0 + w];
        let mut quads = a.chunks_exact(4);
        let mut p = 0;
        for q in &mut quads {
            let (a0, a1, a2, a3) = (q[0], q[1], q[2], q[3]);
            let (b0, b1, b2, b3) = (brow(p), brow(p + 1), brow(p + 2), brow(p + 3));
            for ((((c, &x0), &x1), &x2), &x3) in cc.iter_mut().zip(b0).zip(b1).zip(b2).zip(b3) {
                let s = a0
                    .wrapping_mul(x0)
                    .wrapping_add(a1.wrapping_mul(x1))
                    .wrapping_add(a2.wrapping_mul(x2).wrapping_add(a3.wrapping_mul(x3)));
                *c = c.wrapping_add(s);
            }
            p += 4;
        }
        for &ap in quads.remainder() {
            for (c, &x) in cc.iter_mut().zip(brow(p)) {
                *c = c.wrapping_add(ap.wrapping_mul(x));
            }
            p += 1;
        }
    }
}

/// `sum_j x[j] * w[j]` mod 2^128 over the shorter length, with four running
/// sums (one sum's 128-bit add chain was the bound).
pub fn dot_w(x: &[u128], w: &[u64]) -> u128 {
    let term = |p: u128, q: u64| p.wrapping_mul(q as u128);
    let n = x.len().min(w.len());
    let (xs, ws) = (x[..n].chunks_exact(4), w[..n].chunks_exact(4));
    let tail = xs
        .remainder()
        .iter()
        .zip(ws.remainder())
        .fold(0u128, |a, (&p, &q)| a.wrapping_add(term(p, q)));
    let mut acc = [0u128; 4];
    for (p, q) in xs.zip(ws) {
        for k in 0..4 {
            acc[k] = acc[k].wrapping_add(term(p[k], q[k]));
        }
    }
    acc.iter().fold(tail, |a, &s| a.wrapping_add(s))
}
