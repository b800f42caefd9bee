//! Layout ops on shares: each component moves like a cleartext tensor; a
//! constant pad value is added by the parties that hold the public share.

use super::{on_components, Shared, ThreePcBackend};
use crate::AShare;
use cryptflow_exec::fixedpoint::encode;
use cryptflow_exec::{Error, Result};
use cryptflow_ir::layout;
use cryptflow_ir::{Node, Op, Tensor};

pub fn eval(b: &mut ThreePcBackend, node: &Node, x: &[&Shared]) -> Result<Shared> {
    match &node.op {
        Op::Reshape => Ok(Shared {
            shape: node.shape.clone(),
            s: x[0].s.clone(),
            input_of: x[0].input_of,
        }),
        Op::Transpose { perm } => on_components(x[0], |t| Ok(layout::transpose(t, perm))),
        Op::Concat { axis } => {
            let comp = |pick: fn(&AShare) -> &Vec<u64>| -> Vec<u64> {
                let ts: Vec<Tensor<u64>> = x
                    .iter()
                    .map(|v| Tensor {
                        shape: v.shape.clone(),
                        data: pick(&v.s).clone(),
                    })
                    .collect();
                let refs: Vec<&Tensor<u64>> = ts.iter().collect();
                layout::concat(&refs, *axis).data
            };
            Ok(Shared {
                shape: node.shape.clone(),
                s: AShare {
                    a: comp(|s| &s.a),
                    b: comp(|s| &s.b),
                },
                input_of: None,
            })
        }
        Op::Pad { pads, value } => {
            let mut y = on_components(x[0], |t| Ok(layout::pad(t, pads, 0u64)))?;
            let v = encode(*value as f64, b.scale);
            if v != 0 {
                // the padded cells hold the public constant, the rest 0
                let zeros = Tensor::filled(x[0].shape.clone(), 0u64);
                let c = layout::pad(&zeros, pads, v);
                y.s = y.s.add_public(b.id(), &c.data);
            }
            Ok(y)
        }
        _ => Err(Error::node(node, "not a layout op")),
    }
}
