//! Non-linear ops, all built from the secure ReLU (`compare::relu`) on
//! `compare_bits` bits, public products and at most one truncation, exactly
//! as the cleartext `fixed` backend computes them. Several ReLUs of one op
//! run as one vector so the op costs the rounds of a single ReLU.

use super::{mpc_err, Shared, ThreePcBackend};
use crate::{max_pairwise, relu as secure_relu, trunc, AShare};
use cryptflow_exec::fixedpoint::{encode, PiecewiseLinear};
use cryptflow_exec::Result;
use cryptflow_ir::layout::PoolWindows;
use cryptflow_ir::{Node, PoolParams};

fn shared(shape: &[usize], s: AShare) -> Shared {
    Shared {
        shape: shape.to_vec(),
        s,
        input_of: None,
    }
}

pub fn relu(b: &mut ThreePcBackend, node: &Node, x: &Shared) -> Result<Shared> {
    let bits = b.compare_bits;
    let y = secure_relu(&mut b.party, &x.s, bits).map_err(|e| mpc_err(node, e))?;
    Ok(shared(&x.shape, y))
}

/// lo + relu(x-lo) - relu(x-hi), or the one-sided forms.
pub fn clip(b: &mut ThreePcBackend, node: &Node, x: &Shared, min: f32, max: f32) -> Result<Shared> {
    let (lo, hi) = (encode(min as f64, b.scale), encode(max as f64, b.scale));
    let id = b.id();
    let bits = b.compare_bits;
    let n = x.s.len();
    let y = match (min.is_finite(), max.is_finite()) {
        (true, true) => {
            let both = AShare::concat(&[
                &x.s.add_const(id, lo.wrapping_neg()),
                &x.s.add_const(id, hi.wrapping_neg()),
            ]);
            let r = secure_relu(&mut b.party, &both, bits).map_err(|e| mpc_err(node, e))?;
            r.slice(0..n).sub(&r.slice(n..2 * n)).add_const(id, lo)
        }
        (true, false) => secure_relu(&mut b.party, &x.s.add_const(id, lo.wrapping_neg()), bits)
            .map_err(|e| mpc_err(node, e))?
            .add_const(id, lo),
        (false, true) => secure_relu(&mut b.party, &x.s.neg().add_const(id, hi), bits)
            .map_err(|e| mpc_err(node, e))?
            .neg()
            .add_const(id, hi),
        (false, false) => x.s.clone(),
    };
    Ok(shared(&x.shape, y))
}

/// trunc(enc(a) * x + enc(1 - a) * relu(x)).
pub fn leaky_relu(b: &mut ThreePcBackend, node: &Node, x: &Shared, alpha: f32) -> Result<Shared> {
    let r = secure_relu(&mut b.party, &x.s, b.compare_bits).map_err(|e| mpc_err(node, e))?;
    let a = encode(alpha as f64, b.scale);
    let c = encode(1.0 - alpha as f64, b.scale);
    let lin = x.s.mul_const(a).add(&r.mul_const(c));
    let y = trunc(&mut b.party, &lin, b.scale).map_err(|e| mpc_err(node, e))?;
    Ok(shared(&x.shape, y))
}

/// y0 + trunc(sum_i enc(d_i) * relu(x - enc(b_i))), all ReLUs in one call.
pub fn piecewise(b: &mut ThreePcBackend, node: &Node, x: &Shared, t: &PiecewiseLinear) -> Result<Shared> {
    let id = b.id();
    let n = x.s.len();
    let shifted: Vec<AShare> = t
        .breaks
        .iter()
        .map(|&bk| x.s.add_const(id, encode(bk, b.scale).wrapping_neg()))
        .collect();
    let refs: Vec<&AShare> = shifted.iter().collect();
    let r = secure_relu(&mut b.party, &AShare::concat(&refs), b.compare_bits).map_err(|e| mpc_err(node, e))?;
    let mut acc = AShare::zeros(n);
    for (i, &d) in t.deltas.iter().enumerate() {
        acc = acc.add(&r.slice(i * n..(i + 1) * n).mul_const(encode(d, b.scale)));
    }
    let y = trunc(&mut b.party, &acc, b.scale)
        .map_err(|e| mpc_err(node, e))?
        .add_const(id, encode(t.y0, b.scale));
    Ok(shared(&x.shape, y))
}

/// A tree of pairwise maxima over the window cells: ceil(log2(k*k)) secure
/// comparisons, each over all windows at once.
pub fn max_pool(b: &mut ThreePcBackend, node: &Node, x: &Shared, p: &PoolParams) -> Result<Shared> {
    let w = PoolWindows::new(&x.shape, p)?;
    let gather = w.max_gather();
    let row = |k: usize| AShare {
        a: gather[k * w.n_out..(k + 1) * w.n_out]
            .iter()
            .map(|&i| x.s.a[i])
            .collect(),
        b: gather[k * w.n_out..(k + 1) * w.n_out]
            .iter()
            .map(|&i| x.s.b[i])
            .collect(),
    };
    let mut rows: Vec<AShare> = (0..w.cells).map(row).collect();
    while rows.len() > 1 {
        let half = rows.len() / 2;
        let tail = if rows.len() % 2 == 1 { rows.pop() } else { None };
        let right = rows.split_off(half);
        let l: Vec<&AShare> = rows.iter().collect();
        let r: Vec<&AShare> = right.iter().collect();
        let m = max_pairwise(&mut b.party, &AShare::concat(&l), &AShare::concat(&r), b.compare_bits)
            .map_err(|e| mpc_err(node, e))?;
        rows = (0..half).map(|i| m.slice(i * w.n_out..(i + 1) * w.n_out)).collect();
        if let Some(t) = tail {
            rows.push(t);
        }
    }
    let y = rows.pop().unwrap_or_default();
    Ok(shared(&w.out_shape, y))
}
