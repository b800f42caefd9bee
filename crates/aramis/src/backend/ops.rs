//! The ops of the `3pc-malicious` backend, each the Aramis counterpart of
//! the semi-honest backend's op (same fixed-point arithmetic as the
//! cleartext `fixed` backend, truncation error as documented in `trunc`).

use super::{node_err, MShared, MaliciousBackend};
use crate::{AuthShare, Conv, Gemm, RShare};
use cryptflow_exec::fixedpoint::{encode, PiecewiseLinear};
use cryptflow_exec::float::add_channel_bias;
use cryptflow_exec::{Error, Result};
use cryptflow_ir::layout::{self, ConvGeom, PoolWindows};
use cryptflow_ir::{ConvParams, Node, Op, PoolParams, Tensor};

fn mshared(shape: Vec<usize>, s: AuthShare) -> MShared {
    MShared {
        shape,
        s,
        input_of: None,
    }
}

/// Applies a layout map to the four components (value and MAC, both
/// halves; the MAC only where present).
fn on_components(x: &MShared, f: impl Fn(&Tensor<u128>) -> Tensor<u128>) -> MShared {
    let apply = |c: &[u128]| {
        f(&Tensor {
            shape: x.shape.clone(),
            data: c.to_vec(),
        })
    };
    let va = apply(&x.s.v.a);
    let shape = va.shape;
    let m = if x.s.mac_is_additive() {
        RShare {
            a: apply(&x.s.m.a).data.into(),
            b: Vec::new().into(),
        }
    } else if x.has_mac() {
        RShare {
            a: apply(&x.s.m.a).data.into(),
            b: apply(&x.s.m.b).data.into(),
        }
    } else {
        RShare::default()
    };
    let s = AuthShare {
        v: RShare {
            a: va.data.into(),
            b: apply(&x.s.v.b).data.into(),
        },
        m,
    };
    mshared(shape, s)
}

fn trunc(b: &mut MaliciousBackend, node: &Node, x: &AuthShare) -> Result<AuthShare> {
    let s = b.scale;
    b.aramis.trunc(x, s).map_err(|e| node_err(node, e))
}

/// Adds a (replicated) bias to `y`, whose MAC may be additive: then the
/// bias MAC's `a` half, this party's additive share of it, is what adds.
fn add_bias(y: &mut AuthShare, bias: &AuthShare, pixels: usize) {
    let additive = y.mac_is_additive();
    add_channel_bias(&mut y.v.a, &bias.v.a, pixels);
    add_channel_bias(&mut y.v.b, &bias.v.b, pixels);
    add_channel_bias(&mut y.m.a, &bias.m.a, pixels);
    if !additive {
        add_channel_bias(&mut y.m.b, &bias.m.b, pixels);
    }
}

pub fn conv(b: &mut MaliciousBackend, node: &Node, x: &[&MShared], p: &ConvParams) -> Result<MShared> {
    let g = ConvGeom::new(&x[0].shape, &x[1].shape, p)?;
    let (pixels, out_shape) = (g.out_pixels(), g.out_shape());
    let mut y = b
        .aramis
        .bilinear_trunc_lazy(&x[0].s, &x[1].s.v, x[1].input_of, Conv { g }, b.scale)
        .map_err(|e| node_err(node, e))?;
    if let Some(bias) = x.get(2) {
        add_bias(&mut y, &bias.s, pixels);
    }
    Ok(mshared(out_shape, y))
}

pub fn matmul(b: &mut MaliciousBackend, node: &Node, x: &[&MShared]) -> Result<MShared> {
    let (m, k, n) = (x[0].shape[0], x[0].shape[1], x[1].shape[1]);
    let mut y = b
        .aramis
        .bilinear_trunc_lazy(&x[0].s, &x[1].s.v, x[1].input_of, Gemm { m, k, n }, b.scale)
        .map_err(|e| node_err(node, e))?;
    if let Some(bias) = x.get(2) {
        // a row bias is a channel bias with m "images" of n channels, 1 pixel
        add_bias(&mut y, &bias.s, 1);
    }
    Ok(mshared(vec![m, n], y))
}

fn broadcast(x: &MShared, shape: &[usize]) -> AuthShare {
    on_components(x, |t| layout::broadcast_to(t, shape)).s
}

/// `l + r` or `l - r`. If either MAC is additive so is the result's: a
/// replicated MAC's `a` half is this party's additive share of it, so a sum
/// of conv results and ReLU results (a residual addition) pays for one
/// replicated MAC downstream, not one per operand.
pub fn add_sub(node: &Node, x: &[&MShared]) -> Result<MShared> {
    let sub = !matches!(node.op, Op::Add);
    let (l, r) = (x[0], x[1]);
    // each component through the broadcast index: no broadcast copies
    let comb = |p: &[u128], q: &[u128]| -> Vec<u128> {
        let g = |a: u128, b: u128| if sub { a.wrapping_sub(b) } else { a.wrapping_add(b) };
        layout::zip_broadcast_data((p, &l.shape), (q, &r.shape), &node.shape, g)
    };
    let additive = l.s.mac_is_additive() || r.s.mac_is_additive();
    let s = AuthShare {
        v: RShare {
            a: comb(&l.s.v.a, &r.s.v.a).into(),
            b: comb(&l.s.v.b, &r.s.v.b).into(),
        },
        m: RShare {
            a: comb(&l.s.m.a, &r.s.m.a).into(),
            b: if additive {
                Vec::new().into()
            } else {
                comb(&l.s.m.b, &r.s.m.b).into()
            },
        },
    };
    Ok(mshared(node.shape.clone(), s))
}

pub fn mul(b: &mut MaliciousBackend, node: &Node, x: &[&MShared]) -> Result<MShared> {
    let (l, r) = (broadcast(x[0], &node.shape), broadcast(x[1], &node.shape));
    let p = b.aramis.mul(&l, &r).map_err(|e| node_err(node, e))?;
    Ok(mshared(node.shape.clone(), trunc(b, node, &p)?))
}

/// trunc(window sum * enc(1/count)).
pub fn avg_pool(
    b: &mut MaliciousBackend,
    node: &Node,
    x: &MShared,
    p: &PoolParams,
    include_pad: bool,
) -> Result<MShared> {
    let w = PoolWindows::new(&x.shape, p)?;
    let counts = w.valid_counts();
    let inv: Vec<u64> = (0..w.n_out)
        .map(|j| encode(1.0 / if include_pad { w.cells } else { counts[j] } as f64, b.scale))
        .collect();
    let sum = |comp: &[u128]| -> Vec<u128> {
        (0..w.n_out)
            .map(|j| {
                (0..w.cells)
                    .filter_map(|k| w.idx[k * w.n_out + j])
                    .fold(0u128, |a, i| a.wrapping_add(comp[i]))
            })
            .collect()
    };
    let s = x.s.map(sum).mul_public(&inv);
    Ok(mshared(w.out_shape, trunc(b, node, &s)?))
}

pub fn global_avg_pool(b: &mut MaliciousBackend, node: &Node, x: &MShared) -> Result<MShared> {
    if x.shape.len() != 4 {
        return Err(Error::node(node, "expects NCHW"));
    }
    let hw = x.shape[2] * x.shape[3];
    let inv = encode(1.0 / hw as f64, b.scale);
    let sum = |c: &[u128]| -> Vec<u128> {
        c.chunks(hw)
            .map(|ch| ch.iter().fold(0u128, |a, &v| a.wrapping_add(v)))
            .collect()
    };
    let s = x.s.map(sum).mul_const(inv);
    Ok(mshared(vec![x.shape[0], x.shape[1], 1, 1], trunc(b, node, &s)?))
}

fn relu_of(b: &mut MaliciousBackend, node: &Node, x: &AuthShare) -> Result<AuthShare> {
    let bits = b.compare_bits;
    b.aramis.relu(x, bits).map_err(|e| node_err(node, e))
}

/// The result's MAC stays additive (`relu_lazy`): a Conv or MatMul uses it
/// as it is, any other consumer reshares it (`with_macs`).
pub fn relu(b: &mut MaliciousBackend, node: &Node, x: &MShared) -> Result<MShared> {
    let bits = b.compare_bits;
    let y = b.aramis.relu_lazy(&x.s, bits).map_err(|e| node_err(node, e))?;
    Ok(mshared(x.shape.clone(), y))
}

/// lo + relu(x-lo) - relu(x-hi), or the one-sided forms (as the `3pc` backend).
pub fn clip(b: &mut MaliciousBackend, node: &Node, x: &MShared, min: f32, max: f32) -> Result<MShared> {
    let (lo, hi) = (encode(min as f64, b.scale), encode(max as f64, b.scale));
    let n = x.s.len();
    let a = &b.aramis;
    let y = match (min.is_finite(), max.is_finite()) {
        (true, true) => {
            let both = AuthShare::concat(&[
                &a.add_const(&x.s, lo.wrapping_neg()),
                &a.add_const(&x.s, hi.wrapping_neg()),
            ]);
            let r = relu_of(b, node, &both)?;
            let d = r.slice(0..n).sub(&r.slice(n..2 * n));
            b.aramis.add_const(&d, lo)
        }
        (true, false) => {
            let r = relu_of(b, node, &a.add_const(&x.s, lo.wrapping_neg()))?;
            b.aramis.add_const(&r, lo)
        }
        (false, true) => {
            let r = relu_of(b, node, &a.add_const(&x.s.neg(), hi))?;
            b.aramis.add_const(&r.neg(), hi)
        }
        (false, false) => x.s.clone(),
    };
    Ok(mshared(x.shape.clone(), y))
}

/// trunc(enc(a) * x + enc(1 - a) * relu(x)).
pub fn leaky_relu(b: &mut MaliciousBackend, node: &Node, x: &MShared, alpha: f32) -> Result<MShared> {
    let r = relu_of(b, node, &x.s)?;
    let a = encode(alpha as f64, b.scale);
    let c = encode(1.0 - alpha as f64, b.scale);
    let lin = x.s.mul_const(a).add(&r.mul_const(c));
    Ok(mshared(x.shape.clone(), trunc(b, node, &lin)?))
}

/// y0 + trunc(sum_i enc(d_i) * relu(x - enc(b_i))), all ReLUs in one call.
pub fn piecewise(b: &mut MaliciousBackend, node: &Node, x: &MShared, t: &PiecewiseLinear) -> Result<MShared> {
    let n = x.s.len();
    let shifted: Vec<AuthShare> = t
        .breaks
        .iter()
        .map(|&bk| b.aramis.add_const(&x.s, encode(bk, b.scale).wrapping_neg()))
        .collect();
    let refs: Vec<&AuthShare> = shifted.iter().collect();
    let r = relu_of(b, node, &AuthShare::concat(&refs))?;
    let mut acc = AuthShare {
        v: RShare::zeros(n),
        m: RShare::zeros(n),
    };
    for (i, &d) in t.deltas.iter().enumerate() {
        acc = acc.add(&r.slice(i * n..(i + 1) * n).mul_const(encode(d, b.scale)));
    }
    let y = trunc(b, node, &acc)?;
    let y = b.aramis.add_const(&y, encode(t.y0, b.scale));
    Ok(mshared(x.shape.clone(), y))
}

/// A tree of pairwise maxima over the window cells, each level one vector:
/// the rows of a level are kept one after the other in one sharing, the
/// first half compared with the second (an odd last row waits a level).
pub fn max_pool(b: &mut MaliciousBackend, node: &Node, x: &MShared, p: &PoolParams) -> Result<MShared> {
    let w = PoolWindows::new(&x.shape, p)?;
    if w.cells == 0 {
        return Err(Error::node(node, "pooling window is empty"));
    }
    let gather = w.max_gather();
    // (a component an additive MAC lacks stays empty)
    let rows = |r: std::ops::Range<usize>| {
        let idx = &gather[r.start * w.n_out..r.end * w.n_out];
        x.s.map(|c| {
            if c.is_empty() {
                Vec::new()
            } else {
                idx.iter().map(|&i| c[i]).collect()
            }
        })
    };
    // Each level's maxima have additive MACs (`max_pairwise_lazy`), so an
    // odd cell out joins them with an additive MAC too
    let bits = b.compare_bits;
    let (mut k, mut level) = (w.cells, None::<AuthShare>);
    while k > 1 {
        let half = k / 2;
        let (l, r, tail) = match level.take() {
            // the first level straight from the input
            None => (
                rows(0..half),
                rows(half..2 * half),
                (k % 2 == 1).then(|| rows(k - 1..k).into_additive()),
            ),
            Some(mut cur) => {
                let tail = (k % 2 == 1).then(|| cur.split_off((k - 1) * w.n_out));
                let r = cur.split_off(half * w.n_out);
                (cur, r, tail)
            }
        };
        let m = b.aramis.max_pairwise_lazy(l, &r, bits).map_err(|e| node_err(node, e))?;
        level = Some(match tail {
            Some(t) => AuthShare::concat(&[&m, &t]),
            None => m,
        });
        k = half + k % 2;
    }
    let y = match level {
        Some(y) => y,
        None => rows(0..1),
    };
    Ok(mshared(w.out_shape, y))
}

/// Layout ops: local on the four components; a pad constant is a public value.
pub fn movement(b: &mut MaliciousBackend, node: &Node, x: &[&MShared]) -> Result<MShared> {
    match &node.op {
        Op::Reshape => Ok(MShared {
            shape: node.shape.clone(),
            s: x[0].s.clone(),
            input_of: x[0].input_of,
        }),
        Op::Transpose { perm } => Ok(on_components(x[0], |t| layout::transpose(t, perm))),
        Op::Concat { axis } => {
            let comp = |pick: fn(&AuthShare) -> &Vec<u128>| -> Vec<u128> {
                let ts: Vec<Tensor<u128>> = x
                    .iter()
                    .map(|v| Tensor {
                        shape: v.shape.clone(),
                        data: pick(&v.s).clone(),
                    })
                    .collect();
                let refs: Vec<&Tensor<u128>> = ts.iter().collect();
                layout::concat(&refs, *axis).data
            };
            // additive if any part's MAC is (see `add_sub`)
            let additive = x.iter().any(|v| v.s.mac_is_additive());
            let s = AuthShare {
                v: RShare {
                    a: comp(|s| &s.v.a).into(),
                    b: comp(|s| &s.v.b).into(),
                },
                m: RShare {
                    a: comp(|s| &s.m.a).into(),
                    b: if additive {
                        Vec::new().into()
                    } else {
                        comp(|s| &s.m.b).into()
                    },
                },
            };
            Ok(mshared(node.shape.clone(), s))
        }
        Op::Pad { pads, value } => {
            let mut y = on_components(x[0], |t| layout::pad(t, pads, 0u128));
            let v = encode(*value as f64, b.scale);
            if v != 0 {
                let zeros = Tensor::filled(x[0].shape.clone(), 0u64);
                let c = layout::pad(&zeros, pads, v);
                y.s = b.aramis.add_public(&y.s, &c.data);
            }
            Ok(y)
        }
        _ => Err(Error::node(node, "not a layout op")),
    }
}
