//! Linear ops: local products plus one reshare, fused with the truncation
//! (see `trunc::bilinear_trunc`); additions are local. Conv and MatMul send
//! one ring element per output element whatever the weights' size.

use super::{mpc_err, on_components, Shared, ThreePcBackend};
use crate::{bilinear_trunc, mul_trunc, trunc, AShare};
use cryptflow_exec::fixedpoint::encode;
use cryptflow_exec::float::add_channel_bias;
use cryptflow_exec::{ring, Error, Result};
use cryptflow_ir::layout::{self, ConvGeom, PoolWindows};
use cryptflow_ir::{ConvParams, Node, PoolParams};

fn shared(shape: Vec<usize>, s: AShare) -> Shared {
    Shared {
        shape,
        s,
        input_of: None,
    }
}

pub fn conv(b: &mut ThreePcBackend, node: &Node, x: &[&Shared], p: &ConvParams) -> Result<Shared> {
    let g = ConvGeom::new(&x[0].shape, &x[1].shape, p)?;
    let n_out = g.n * g.o * g.out_pixels();
    let f = |xv: &[u64], wv: &[u64]| ring::conv(&g, xv, wv);
    let mut y = bilinear_trunc(&mut b.party, &x[0].s, &x[1].s, x[1].input_of, n_out, f, b.scale)
        .map_err(|e| mpc_err(node, e))?;
    if let Some(bias) = x.get(2) {
        add_channel_bias(&mut y.a, &bias.s.a, g.out_pixels());
        add_channel_bias(&mut y.b, &bias.s.b, g.out_pixels());
    }
    Ok(shared(g.out_shape(), y))
}

pub fn matmul(b: &mut ThreePcBackend, node: &Node, x: &[&Shared]) -> Result<Shared> {
    let (m, k, n) = (x[0].shape[0], x[0].shape[1], x[1].shape[1]);
    let f = |xv: &[u64], wv: &[u64]| ring::gemm(m, k, n, xv, wv);
    let mut y = bilinear_trunc(&mut b.party, &x[0].s, &x[1].s, x[1].input_of, m * n, f, b.scale)
        .map_err(|e| mpc_err(node, e))?;
    if let Some(bias) = x.get(2) {
        for comp in [(&mut y.a, &bias.s.a), (&mut y.b, &bias.s.b)] {
            for row in comp.0.chunks_mut(n) {
                row.iter_mut().zip(comp.1).for_each(|(v, c)| *v = v.wrapping_add(*c));
            }
        }
    }
    Ok(shared(vec![m, n], y))
}

fn broadcast(x: &Shared, shape: &[usize]) -> Result<AShare> {
    Ok(on_components(x, |t| Ok(layout::broadcast_to(t, shape)))?.s)
}

pub fn add_sub(_b: &mut ThreePcBackend, node: &Node, x: &[&Shared]) -> Result<Shared> {
    let (l, r) = (broadcast(x[0], &node.shape)?, broadcast(x[1], &node.shape)?);
    let s = match node.op {
        cryptflow_ir::Op::Add => l.add(&r),
        _ => l.sub(&r),
    };
    Ok(shared(node.shape.clone(), s))
}

pub fn mul(b: &mut ThreePcBackend, node: &Node, x: &[&Shared]) -> Result<Shared> {
    let (l, r) = (broadcast(x[0], &node.shape)?, broadcast(x[1], &node.shape)?);
    let s = mul_trunc(&mut b.party, &l, &r, b.scale).map_err(|e| mpc_err(node, e))?;
    Ok(shared(node.shape.clone(), s))
}

/// trunc(window sum * enc(1/count)): local sums and products, one truncation.
pub fn avg_pool(b: &mut ThreePcBackend, node: &Node, x: &Shared, p: &PoolParams, include_pad: bool) -> Result<Shared> {
    let w = PoolWindows::new(&x.shape, p)?;
    let counts = w.valid_counts();
    let inv: Vec<u64> = (0..w.n_out)
        .map(|j| encode(1.0 / if include_pad { w.cells } else { counts[j] } as f64, b.scale))
        .collect();
    let sum = |comp: &[u64]| -> Vec<u64> {
        (0..w.n_out)
            .map(|j| {
                (0..w.cells)
                    .filter_map(|k| w.idx[k * w.n_out + j])
                    .fold(0u64, |a, i| a.wrapping_add(comp[i]))
            })
            .collect()
    };
    let s = AShare {
        a: sum(&x.s.a),
        b: sum(&x.s.b),
    }
    .mul_public(&inv);
    let y = trunc(&mut b.party, &s, b.scale).map_err(|e| mpc_err(node, e))?;
    Ok(shared(w.out_shape, y))
}

pub fn global_avg_pool(b: &mut ThreePcBackend, node: &Node, x: &Shared) -> Result<Shared> {
    if x.shape.len() != 4 {
        return Err(Error::node(node, "expects NCHW"));
    }
    let hw = x.shape[2] * x.shape[3];
    let inv = encode(1.0 / hw as f64, b.scale);
    let sum = |c: &[u64]| -> Vec<u64> {
        c.chunks(hw)
            .map(|ch| ch.iter().fold(0u64, |a, &v| a.wrapping_add(v)))
            .collect()
    };
    let s = AShare {
        a: sum(&x.s.a),
        b: sum(&x.s.b),
    }
    .mul_const(inv);
    let y = trunc(&mut b.party, &s, b.scale).map_err(|e| mpc_err(node, e))?;
    Ok(shared(vec![x.shape[0], x.shape[1], 1, 1], y))
}
