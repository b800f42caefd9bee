//! Model import: tract parses a model file and infers static shapes and
//! types; [`lower`] turns the typed tract graph into cryptflow's IR.
//!
//! Formats: ONNX (`.onnx`), TensorFlow frozen GraphDef (`.pb`), and, through
//! a `tf2onnx` subprocess when it is installed, TensorFlow SavedModel
//! directories and Keras `.keras`/`.h5` files.

mod convert;
pub mod lower;
mod onnx;
mod tf;

use cryptflow_ir::{Graph, Weights};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {msg}")]
    Load { path: String, msg: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Ir(#[from] cryptflow_ir::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// How to bind what the model file leaves open.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Full input shape (overrides the model's, must agree with fixed dims).
    pub input_shape: Option<Vec<usize>>,
    /// Batch size for a symbolic batch axis when no input shape is given.
    pub batch: Option<usize>,
    /// Output names for TensorFlow graphs (default: the sinks carrying data).
    pub outputs: Vec<String>,
}

/// The supported model formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Onnx,
    TfFrozen,
    TfSavedModel,
    Keras,
}

pub fn detect_format(path: &Path) -> Result<Format> {
    let load_err = |msg: &str| Error::Load {
        path: path.display().to_string(),
        msg: msg.into(),
    };
    if !path.exists() {
        return Err(load_err("no such file or directory"));
    }
    if path.is_dir() {
        if path.join("saved_model.pb").exists() {
            return Ok(Format::TfSavedModel);
        }
        return Err(load_err(
            "a directory, but neither a SavedModel nor a compiled cryptflow model",
        ));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "onnx" => Ok(Format::Onnx),
        "pb" => Ok(Format::TfFrozen),
        "keras" | "h5" | "hdf5" => Ok(Format::Keras),
        _ => Err(load_err(
            "unknown model format (expected .onnx, .pb, .keras, .h5 or a SavedModel directory)",
        )),
    }
}

/// Imports a model file into an IR graph (float) and its weights.
pub fn import_model(path: &Path, opts: &ImportOptions) -> Result<(Graph, Weights)> {
    let wrap = |e: Error| match e {
        Error::Unsupported(m) | Error::Invalid(m) => Error::Load {
            path: path.display().to_string(),
            msg: m,
        },
        other => other,
    };
    let typed = match detect_format(path)? {
        Format::Onnx => onnx::load(path, opts),
        Format::TfFrozen => tf::load(path, opts),
        Format::TfSavedModel | Format::Keras => {
            let tmp = convert::to_onnx(path)?;
            let r = onnx::load(tmp.path(), opts);
            drop(tmp);
            r
        }
    }
    .map_err(wrap)?;
    lower::lower(&typed).map_err(wrap)
}

/// One line from a tract error chain.
pub(crate) fn tract_msg(e: &tract_onnx::prelude::TractError) -> String {
    let mut s = format!("{e:#}");
    s = s.replace('\n', " ");
    if s.len() > 400 {
        s.truncate(400);
        s.push('…');
    }
    s
}
