//! `cryptflow demo`: the bundled digits model over the bundled test images.

use crate::CliError;
use cryptflow_exec::calibrate::argmax_rows;
use cryptflow_exec::executor::run_batched;
use cryptflow_exec::passes::simplify;
use cryptflow_exec::{FixedBackend, FloatBackend};
use cryptflow_import::{import_model, ImportOptions};
use cryptflow_ir::{npy, Tensor};
use std::time::Instant;

const MODEL: &[u8] = include_bytes!("../../../fixtures/digits/digits.onnx");
const X_TEST: &[u8] = include_bytes!("../../../fixtures/digits/x_test.npy");
const Y_TEST: &[u8] = include_bytes!("../../../fixtures/digits/y_test.npy");
const CALIB: &[u8] = include_bytes!("../../../fixtures/digits/calib.npy");

pub struct DemoData {
    pub x: Tensor<f32>,
    pub labels: Vec<usize>,
    pub calib: Tensor<f32>,
}

pub fn data() -> Result<DemoData, CliError> {
    let parse = |b: &[u8]| npy::parse(b).map_err(|e| CliError::Io(format!("bundled data: {e}")));
    let x = parse(X_TEST)?;
    let labels = parse(Y_TEST)?.data.iter().map(|&v| v as usize).collect();
    Ok(DemoData {
        x,
        labels,
        calib: parse(CALIB)?,
    })
}

/// Writes the bundled model to a temporary file (tract reads from paths).
pub fn model_file() -> Result<std::path::PathBuf, CliError> {
    let p = std::env::temp_dir().join(format!("cryptflow-demo-{}.onnx", std::process::id()));
    std::fs::write(&p, MODEL).map_err(|e| CliError::Io(format!("{}: {e}", p.display())))?;
    Ok(p)
}

pub fn accuracy(pred: &[usize], labels: &[usize]) -> f64 {
    pred.iter().zip(labels).filter(|(a, b)| a == b).count() as f64 / labels.len().max(1) as f64
}

pub fn run(json: bool) -> Result<(), CliError> {
    let d = data()?;
    let path = model_file()?;
    let opts = ImportOptions {
        input_shape: Some(d.x.shape.clone()),
        ..Default::default()
    };
    let imported = import_model(&path, &opts);
    let _ = std::fs::remove_file(&path);
    let (g, w) = imported?;
    let (g, w) = simplify(&g, &w)?;
    let (scale, _) = cryptflow_exec::calibrate::choose_scale(&g, &w, &d.calib, crate::model::SCALE_CANDIDATES)?;
    let yf = run_batched(&mut FloatBackend::default(), &g, Some(&w), &d.x, &mut |_| {})?;
    let t0 = Instant::now();
    let yx = run_batched(&mut FixedBackend::new(scale), &g, Some(&w), &d.x, &mut |_| {})?;
    let secs = t0.elapsed().as_secs_f64();
    let (pf, px) = (argmax_rows(&yf), argmax_rows(&yx));
    let (af, ax) = (accuracy(&pf, &d.labels), accuracy(&px, &d.labels));
    if json {
        let v = serde_json::json!({
            "images": d.labels.len(),
            "backend": "fixed",
            "accuracy_fixed": ax,
            "accuracy_float": af,
            "seconds": secs,
            "scale": scale,
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "cryptflow demo: digits CNN (scikit-learn digits, 8x8), {} test images, scale {scale}",
        d.labels.len()
    );
    println!();
    println!("  image  truth  fixed-point  float");
    for i in 0..8.min(d.labels.len()) {
        println!("  {:5}  {:5}  {:11}  {:5}", i, d.labels[i], px[i], pf[i]);
    }
    println!();
    println!("  accuracy: fixed-point {:.2}%, float {:.2}%", 100.0 * ax, 100.0 * af);
    println!("  fixed-point inference of all images: {secs:.3} s");
    Ok(())
}
