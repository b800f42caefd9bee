//! ONNX loading through tract-onnx, with the input shape bound.

use crate::{tract_msg, Error, ImportOptions, Result};
use std::path::Path;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

pub fn load(path: &Path, opts: &ImportOptions) -> Result<TypedModel> {
    let err = |e: TractError| Error::Load {
        path: path.display().to_string(),
        msg: tract_msg(&e),
    };
    let mut model = tract_onnx::onnx().model_for_path(path).map_err(err)?;
    bind_inputs(&mut model, opts)?;
    model.into_typed().map_err(err)
}

/// Replaces every input fact by a concrete f32 shape.
pub(crate) fn bind_inputs(model: &mut InferenceModel, opts: &ImportOptions) -> Result<()> {
    let n_inputs = model.input_outlets().map_err(|e| Error::Invalid(tract_msg(&e)))?.len();
    for i in 0..n_inputs {
        let fact = model.input_fact(i).map_err(|e| Error::Invalid(tract_msg(&e)))?.clone();
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
                        "the model's input rank is unknown; give --input-shape".into(),
                    ))
                }
            },
        };
        let shape = bind_shape(&dims, opts, i)?;
        model
            .set_input_fact(i, f32::fact(&shape).into())
            .map_err(|e| Error::Invalid(tract_msg(&e)))?;
    }
    Ok(())
}

/// Concrete dims from the model, `--input-shape`, or the batch size.
pub(crate) fn bind_shape(dims: &[Option<usize>], opts: &ImportOptions, input: usize) -> Result<Vec<usize>> {
    if let Some(s) = &opts.input_shape {
        if s.len() != dims.len() {
            return Err(Error::Invalid(format!(
                "input {input} has rank {}, --input-shape gives {:?}",
                dims.len(),
                s
            )));
        }
        for (k, (d, g)) in dims.iter().zip(s).enumerate() {
            if let Some(d) = d {
                if d != g && !(k == 0 && *d == 1) {
                    return Err(Error::Invalid(format!(
                        "input {input} dimension {k} is fixed to {d} in the model, not {g}"
                    )));
                }
            }
        }
        // a model fixed to batch 1 keeps batch 1: samples then run one by one
        let mut out = s.clone();
        if let Some(Some(1)) = dims.first() {
            out[0] = 1;
        }
        return Ok(out);
    }
    dims.iter()
        .enumerate()
        .map(|(k, d)| match d {
            Some(d) => Ok(*d),
            None if k == 0 => Ok(opts.batch.unwrap_or(1)),
            None => Err(Error::Invalid(format!(
                "input {input} dimension {k} is symbolic; bind it with --input-shape"
            ))),
        })
        .collect()
}
