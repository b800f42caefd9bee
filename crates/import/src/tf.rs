//! TensorFlow frozen GraphDef loading through tract-tensorflow, with two
//! load-time workarounds for what TF 2.x writes:
//! - `FusedBatchNormV3` is registered as tract's FusedBatchNorm (in inference
//!   the extra outputs are unused);
//! - all-zero Const tensors stored with no values get explicit zeros.
//!
//! Outputs: the names given, or every sink that carries data (TF 2.x graphs
//! end in a NoOp that must not be taken as the output).

use crate::onnx::bind_shape;
use crate::{tract_msg, Error, ImportOptions, Result};
use std::path::Path;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;
use tract_tensorflow::tfpb::tensorflow::{attr_value, GraphDef};

pub fn load(path: &Path, opts: &ImportOptions) -> Result<TypedModel> {
    let err = |e: TractError| Error::Load {
        path: path.display().to_string(),
        msg: tract_msg(&e),
    };
    let mut tf = tract_tensorflow::tensorflow();
    tf.op_register.insert(
        "FusedBatchNormV3",
        tract_tensorflow::ops::nn::fused_batch_norm::fused_batch_norm,
    );
    let mut graph = tf.read_frozen_from_path(path).map_err(err)?;
    if graph.node.is_empty() {
        return Err(Error::Load {
            path: path.display().to_string(),
            msg: "not a TensorFlow GraphDef (no nodes)".into(),
        });
    }
    fill_empty_zero_consts(&mut graph);
    let mut model = tf.model_for_proto_model(&graph).map_err(err)?;
    choose_outputs(&mut model, opts).map_err(err)?;
    let n_inputs = model.input_outlets().map_err(err)?.len();
    for i in 0..n_inputs {
        let fact = model.input_fact(i).map_err(err)?.clone();
        let dims: Vec<Option<usize>> = match fact.shape.is_open() {
            false => fact
                .shape
                .dims()
                .map(|d| {
                    d.concretize()
                        .and_then(|t| t.as_i64().and_then(|v| usize::try_from(v).ok()))
                })
                .collect(),
            true => match &opts.input_shape {
                Some(s) => vec![None; s.len()],
                None => {
                    return Err(Error::Invalid(
                        "the graph's input shape is unknown; give --input-shape".into(),
                    ))
                }
            },
        };
        let shape = bind_shape(&dims, opts, i)?;
        model.set_input_fact(i, f32::fact(&shape).into()).map_err(err)?;
    }
    model.into_typed().map_err(err)
}

fn fill_empty_zero_consts(graph: &mut GraphDef) {
    for node in &mut graph.node {
        if node.op != "Const" {
            continue;
        }
        let Some(attr) = node.attr.get_mut("value") else {
            continue;
        };
        let Some(attr_value::Value::Tensor(t)) = attr.value.as_mut() else {
            continue;
        };
        // DT_FLOAT = 1, DT_INT32 = 3, DT_INT64 = 9
        let (width, empty) = match t.dtype {
            1 => (4, t.float_val.is_empty()),
            3 => (4, t.int_val.is_empty()),
            9 => (8, t.int64_val.is_empty()),
            _ => continue,
        };
        if !empty || !t.tensor_content.is_empty() {
            continue;
        }
        let n: i64 = t
            .tensor_shape
            .as_ref()
            .map(|s| s.dim.iter().map(|d| d.size.max(0)).product())
            .unwrap_or(1);
        if n > 0 && n < 1 << 28 {
            t.tensor_content = vec![0u8; n as usize * width];
        }
    }
}

fn choose_outputs(model: &mut InferenceModel, opts: &ImportOptions) -> TractResult<()> {
    if !opts.outputs.is_empty() {
        let names: Vec<&str> = opts.outputs.iter().map(|s| s.as_str()).collect();
        return model.select_outputs_by_name(&names);
    }
    let mut sinks = Vec::new();
    for node in model.nodes() {
        let op = node.op.name();
        if matches!(&*op, "NoOp" | "Noop" | "Const" | "Source" | "Placeholder") {
            continue;
        }
        if node.outputs.iter().all(|o| o.successors.is_empty()) {
            sinks.push(OutletId::new(node.id, 0));
        }
    }
    if sinks.is_empty() {
        return Err(TractError::msg("no output found; name one with --output-name"));
    }
    model.select_output_outlets(&sinks)
}
