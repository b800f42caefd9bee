//! SavedModel and Keras files are converted to ONNX by tf2onnx in one
//! subprocess (Python), when it is installed.

use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const INSTALL_HINT: &str = "pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0";

/// A converted file, deleted on drop.
pub struct TempOnnx(PathBuf);

impl TempOnnx {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempOnnx {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const SCRIPT: &str = r#"
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
try:
    import tensorflow as tf, tf2onnx
except Exception as e:
    print("MISSING", e); sys.exit(3)
src, dst = sys.argv[1], sys.argv[2]
if os.path.isdir(src):
    m = tf.saved_model.load(src)
    f = m.signatures.get("serving_default") if hasattr(m, "signatures") else None
    if f is None:
        print("no serving_default signature"); sys.exit(4)
    spec = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in f.structured_input_signature[1].values()]
    fn = tf.function(lambda *a: f(**{s.name: x for s, x in zip(spec, a)}))
    tf2onnx.convert.from_function(fn, input_signature=spec, opset=13, output_path=dst)
else:
    import keras
    m = keras.models.load_model(src, compile=False)
    spec = [tf.TensorSpec((None,) + tuple(i.shape[1:]), tf.float32, name="input") for i in m.inputs]
    fn = tf.function(lambda *a: m(*a, training=False))
    tf2onnx.convert.from_function(fn, input_signature=spec, opset=13, output_path=dst)
"#;

pub fn to_onnx(src: &Path) -> Result<TempOnnx> {
    let python = std::env::var("CRYPTFLOW_PYTHON").unwrap_or_else(|_| "python3".into());
    let dst = std::env::temp_dir().join(format!("cryptflow-convert-{}.onnx", std::process::id()));
    let out = Command::new(&python).arg("-c").arg(SCRIPT).arg(src).arg(&dst).output();
    let load_err = |msg: String| Error::Load {
        path: src.display().to_string(),
        msg,
    };
    let out = out.map_err(|_| {
        load_err(format!(
            "converting TensorFlow/Keras models needs Python with tf2onnx ({python} not found); run: {INSTALL_HINT}"
        ))
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.code() == Some(3) || stdout.contains("MISSING") {
        return Err(load_err(format!(
            "converting TensorFlow/Keras models needs tf2onnx; run: {INSTALL_HINT}"
        )));
    }
    if !out.status.success() || !dst.exists() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_string();
        return Err(load_err(format!(
            "tf2onnx conversion failed: {}{}",
            stdout.trim(),
            last
        )));
    }
    Ok(TempOnnx(dst))
}
