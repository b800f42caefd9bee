//! Data movement shared by every backend: transposes, padding, concatenation,
//! broadcasting, im2col and pooling windows. Generic over the element type,
//! so floats, ring elements and secret shares move the same way.

use crate::graph::{broadcast_shape, window_out};
use crate::op::{ConvParams, PoolParams};
use crate::tensor::{numel, strides, Tensor};
use crate::{Error, Result};

pub fn transpose<T: Copy>(x: &Tensor<T>, perm: &[usize]) -> Tensor<T> {
    let in_strides = strides(&x.shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    let src_strides: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let mut data = Vec::with_capacity(x.data.len());
    let mut idx = vec![0usize; out_shape.len()];
    for _ in 0..x.data.len() {
        let off: usize = idx.iter().zip(&src_strides).map(|(i, s)| i * s).sum();
        data.push(x.data[off]);
        for ax in (0..idx.len()).rev() {
            idx[ax] += 1;
            if idx[ax] < out_shape[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
    Tensor { shape: out_shape, data }
}

pub fn pad<T: Copy>(x: &Tensor<T>, pads: &[(usize, usize)], value: T) -> Tensor<T> {
    let out_shape: Vec<usize> = x.shape.iter().zip(pads).map(|(d, (a, b))| d + a + b).collect();
    let mut out = Tensor::filled(out_shape.clone(), value);
    let os = strides(&out_shape);
    // whole rows of the last axis at a time: each is one contiguous run
    // in both tensors
    let row = x.shape.last().copied().unwrap_or(1);
    if row == 0 || x.data.is_empty() {
        return out;
    }
    let outer = &x.shape[..x.shape.len().saturating_sub(1)];
    let last_pad = pads.last().map_or(0, |p| p.0);
    let mut idx = vec![0usize; outer.len()];
    for src in x.data.chunks_exact(row) {
        let off: usize = idx
            .iter()
            .zip(pads)
            .zip(&os)
            .map(|((i, (a, _)), s)| (i + a) * s)
            .sum::<usize>()
            + last_pad;
        out.data[off..off + row].copy_from_slice(src);
        for ax in (0..idx.len()).rev() {
            idx[ax] += 1;
            if idx[ax] < outer[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
    out
}

pub fn concat<T: Copy>(xs: &[&Tensor<T>], axis: usize) -> Tensor<T> {
    let outer: usize = xs[0].shape[..axis].iter().product();
    let mut shape = xs[0].shape.clone();
    shape[axis] = xs.iter().map(|x| x.shape[axis]).sum();
    let mut data = Vec::with_capacity(numel(&shape));
    for o in 0..outer {
        for x in xs {
            let inner: usize = x.shape[axis..].iter().product();
            data.extend_from_slice(&x.data[o * inner..(o + 1) * inner]);
        }
    }
    Tensor { shape, data }
}

/// For each element of `out_shape`, the index into a tensor of shape `shape`
/// that numpy broadcasting reads.
pub fn broadcast_index(shape: &[usize], out_shape: &[usize]) -> Vec<usize> {
    let n = out_shape.len();
    let st = strides(shape);
    // stride 0 on broadcast axes
    let eff: Vec<usize> = (0..n)
        .map(|i| {
            if i + shape.len() < n {
                0
            } else {
                let j = i + shape.len() - n;
                if shape[j] == 1 {
                    0
                } else {
                    st[j]
                }
            }
        })
        .collect();
    let mut out = Vec::with_capacity(numel(out_shape));
    let mut idx = vec![0usize; n];
    for _ in 0..numel(out_shape) {
        out.push(idx.iter().zip(&eff).map(|(i, s)| i * s).sum());
        for ax in (0..n).rev() {
            idx[ax] += 1;
            if idx[ax] < out_shape[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
    out
}

pub fn broadcast_to<T: Copy>(x: &Tensor<T>, out_shape: &[usize]) -> Tensor<T> {
    if x.shape == out_shape {
        return x.clone();
    }
    let idx = broadcast_index(&x.shape, out_shape);
    Tensor {
        shape: out_shape.to_vec(),
        data: idx.into_iter().map(|i| x.data[i]).collect(),
    }
}

/// Element-wise `f(a, b)` with numpy broadcasting.
pub fn zip_broadcast<A: Copy, B: Copy, U>(a: &Tensor<A>, b: &Tensor<B>, f: impl Fn(A, B) -> U) -> Result<Tensor<U>> {
    let shape = broadcast_shape(&a.shape, &b.shape)?;
    let data = zip_broadcast_data((&a.data, &a.shape), (&b.data, &b.shape), &shape, f);
    Ok(Tensor { shape, data })
}

/// [`zip_broadcast`] on raw data with their shapes, into `shape` (the two
/// shapes' broadcast, which the caller has): one zipped pass when no
/// operand is broadcast.
pub fn zip_broadcast_data<A: Copy, B: Copy, U>(
    (a, a_shape): (&[A], &[usize]),
    (b, b_shape): (&[B], &[usize]),
    shape: &[usize],
    f: impl Fn(A, B) -> U,
) -> Vec<U> {
    if a_shape == shape && b_shape == shape {
        return a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect();
    }
    let ia = broadcast_index(a_shape, shape);
    let ib = broadcast_index(b_shape, shape);
    ia.into_iter().zip(ib).map(|(i, j)| f(a[i], b[j])).collect()
}

/// Geometry of one convolution, computed once and shared by all backends.
#[derive(Clone, Debug)]
pub struct ConvGeom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub oh: usize,
    pub ow: usize,
    pub groups: usize,
    pub p: ConvParams,
}

impl ConvGeom {
    pub fn new(x: &[usize], k: &[usize], p: &ConvParams) -> Result<Self> {
        if x.len() != 4 || k.len() != 4 || p.groups == 0 || x[1] != k[1] * p.groups || !k[0].is_multiple_of(p.groups) {
            return Err(Error::invalid(format!("conv of {x:?} by {k:?}")));
        }
        let oh = window_out(x[2], k[2], p.strides[0], p.dilations[0], p.pads[0], p.pads[2])?;
        let ow = window_out(x[3], k[3], p.strides[1], p.dilations[1], p.pads[1], p.pads[3])?;
        Ok(ConvGeom {
            n: x[0],
            c: x[1],
            h: x[2],
            w: x[3],
            o: k[0],
            kh: k[2],
            kw: k[3],
            oh,
            ow,
            groups: p.groups,
            p: p.clone(),
        })
    }
    /// Rows of one group's patch matrix: (C/groups) * kh * kw.
    pub fn k_rows(&self) -> usize {
        self.c / self.groups * self.kh * self.kw
    }
    pub fn out_pixels(&self) -> usize {
        self.oh * self.ow
    }
    pub fn out_shape(&self) -> Vec<usize> {
        vec![self.n, self.o, self.oh, self.ow]
    }

    /// The patch matrix [k_rows, oh*ow] of image `n`, group `g`: zero where
    /// the window reads padding. Writes into `out` (cleared first).
    pub fn im2col<T: Copy>(&self, x: &[T], n: usize, g: usize, zero: T, out: &mut Vec<T>) {
        let cg = self.c / self.groups;
        let (oh, ow) = (self.oh, self.ow);
        out.clear();
        out.reserve(self.k_rows() * oh * ow);
        let [sh, sw] = self.p.strides;
        let [dh, dw] = self.p.dilations;
        let (pt, pl) = (self.p.pads[0] as isize, self.p.pads[1] as isize);
        for ci in 0..cg {
            let c = g * cg + ci;
            let plane = &x[(n * self.c + c) * self.h * self.w..(n * self.c + c + 1) * self.h * self.w];
            for ki in 0..self.kh {
                for kj in 0..self.kw {
                    for y in 0..oh {
                        let iy = (y * sh + ki * dh) as isize - pt;
                        if iy < 0 || iy >= self.h as isize {
                            out.extend(std::iter::repeat_n(zero, ow));
                            continue;
                        }
                        let row = &plane[iy as usize * self.w..(iy as usize + 1) * self.w];
                        for xo in 0..ow {
                            let ix = (xo * sw + kj * dw) as isize - pl;
                            out.push(if ix < 0 || ix >= self.w as isize {
                                zero
                            } else {
                                row[ix as usize]
                            });
                        }
                    }
                }
            }
        }
    }
}

/// Pooling windows as a gather map: `idx[k * n_out + j]` is the input index
/// of cell k of output j's window, or `None` where the window reads padding.
/// Laying cells out as k rows of n_out lets a backend reduce a window as a
/// tree of whole-row operations (log2(k) rounds in MPC).
pub struct PoolWindows {
    pub out_shape: Vec<usize>,
    pub cells: usize,
    pub n_out: usize,
    pub idx: Vec<Option<usize>>,
}

impl PoolWindows {
    pub fn new(x_shape: &[usize], p: &PoolParams) -> Result<Self> {
        if x_shape.len() != 4 {
            return Err(Error::invalid("pooling takes an NCHW tensor"));
        }
        let (n, c, h, w) = (x_shape[0], x_shape[1], x_shape[2], x_shape[3]);
        let oh = window_out(h, p.kernel[0], p.strides[0], 1, p.pads[0], p.pads[2])?;
        let ow = window_out(w, p.kernel[1], p.strides[1], 1, p.pads[1], p.pads[3])?;
        let n_out = n * c * oh * ow;
        let cells = p.kernel[0] * p.kernel[1];
        let mut idx = vec![None; cells * n_out];
        for plane in 0..n * c {
            for y in 0..oh {
                for xo in 0..ow {
                    let j = (plane * oh + y) * ow + xo;
                    for ki in 0..p.kernel[0] {
                        for kj in 0..p.kernel[1] {
                            let iy = (y * p.strides[0] + ki) as isize - p.pads[0] as isize;
                            let ix = (xo * p.strides[1] + kj) as isize - p.pads[1] as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                idx[(ki * p.kernel[1] + kj) * n_out + j] =
                                    Some((plane * h + iy as usize) * w + ix as usize);
                            }
                        }
                    }
                }
            }
        }
        Ok(PoolWindows {
            out_shape: vec![n, c, oh, ow],
            cells,
            n_out,
            idx,
        })
    }

    /// Number of real (non-padding) cells of each output window.
    pub fn valid_counts(&self) -> Vec<usize> {
        let mut cnt = vec![0; self.n_out];
        for k in 0..self.cells {
            for (j, c) in cnt.iter_mut().enumerate() {
                if self.idx[k * self.n_out + j].is_some() {
                    *c += 1;
                }
            }
        }
        cnt
    }

    /// Gather map for MaxPool: padding cells repeat a real cell of the same
    /// window, which leaves the maximum unchanged without a -infinity value.
    pub fn max_gather(&self) -> Vec<usize> {
        let mut out = vec![0; self.idx.len()];
        for j in 0..self.n_out {
            let first = (0..self.cells).find_map(|k| self.idx[k * self.n_out + j]).unwrap_or(0);
            for k in 0..self.cells {
                out[k * self.n_out + j] = self.idx[k * self.n_out + j].unwrap_or(first);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The element-by-element definition.
    fn pad_reference(x: &Tensor<i32>, pads: &[(usize, usize)], value: i32) -> Tensor<i32> {
        let out_shape: Vec<usize> = x.shape.iter().zip(pads).map(|(d, (a, b))| d + a + b).collect();
        let mut out = Tensor::filled(out_shape.clone(), value);
        let (xs, os) = (strides(&x.shape), strides(&out_shape));
        for (flat, &v) in x.data.iter().enumerate() {
            let off: usize = (0..x.shape.len())
                .map(|ax| ((flat / xs[ax]) % x.shape[ax] + pads[ax].0) * os[ax])
                .sum();
            out.data[off] = v;
        }
        out
    }

    #[test]
    fn pad_copies_rows_to_the_same_places_as_the_definition() {
        type Case<'a> = (&'a [usize], &'a [(usize, usize)]);
        let cases: [Case; 6] = [
            (&[2, 3, 4], &[(0, 1), (2, 0), (1, 3)]),
            (&[1, 2, 5, 5], &[(0, 0), (0, 0), (1, 1), (1, 1)]),
            (&[5], &[(2, 3)]),
            (&[], &[]),
            (&[2, 0, 3], &[(1, 0), (0, 2), (1, 1)]),
            (&[3, 1], &[(0, 0), (0, 0)]),
        ];
        for (shape, pads) in cases {
            let n: usize = shape.iter().product();
            let x = Tensor {
                shape: shape.to_vec(),
                data: (0..n as i32).collect(),
            };
            assert_eq!(pad(&x, pads, -7), pad_reference(&x, pads, -7), "shape {shape:?}");
        }
    }
}
