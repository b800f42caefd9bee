//! `cryptflow demo`: secure inference of the bundled digits model over the
//! bundled test images, beside float and cleartext fixed point.

use crate::CliError;
use cryptflow_exec::calibrate::argmax_rows;
use cryptflow_exec::executor::run_batched;
use cryptflow_exec::passes::simplify;
use cryptflow_exec::{FixedBackend, FloatBackend};
use cryptflow_import::{import_model, ImportOptions};
use cryptflow_ir::{npy, Program, Tensor};
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

pub fn run(json: bool, protocol: crate::secure::Protocol) -> Result<(), CliError> {
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
    let (scale, reports) = cryptflow_exec::calibrate::choose_scale(&g, &w, &d.calib, crate::model::SCALE_CANDIDATES)?;
    let yf = run_batched(&mut FloatBackend::default(), &g, Some(&w), &d.x, &mut |_| {})?;
    let yx = run_batched(&mut FixedBackend::new(scale), &g, Some(&w), &d.x, &mut |_| {})?;
    let bits = reports
        .iter()
        .find(|r| r.scale == scale)
        .map(|r| r.compare_bits)
        .unwrap_or(63);
    let program = Program::new(g, scale).with_compare_bits(bits + 1 + crate::model::COMPARE_MARGIN_BITS);
    let t0 = Instant::now();
    let run = crate::secure::run_loopback(&program, &w, &d.x, json, protocol, None)?;
    let secs = t0.elapsed().as_secs_f64();
    let (pf, px, ps) = (argmax_rows(&yf), argmax_rows(&yx), argmax_rows(&run.output));
    let (af, ax, asec) = (
        accuracy(&pf, &d.labels),
        accuracy(&px, &d.labels),
        accuracy(&ps, &d.labels),
    );
    if json {
        let v = serde_json::json!({
            "images": d.labels.len(),
            "backend": protocol.name(),
            "accuracy_secure": asec,
            "accuracy_float": af,
            "accuracy_fixed": ax,
            "seconds": secs,
            "protocol_seconds": run.seconds,
            "bytes_sent": run.bytes_sent(),
            "rounds": run.rounds(),
            "scale": scale,
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "cryptflow demo: digits CNN on scikit-learn's 8x8 digits, {} test images in one batch",
        d.labels.len()
    );
    let security = match protocol {
        crate::secure::Protocol::SemiHonest => "semi-honest 3PC",
        crate::secure::Protocol::Malicious => "3PC secure against one malicious party, with abort",
    };
    println!("three parties over loopback TLS: model owner, data owner, helper ({security})");
    println!();
    println!("  image  truth  secure  float");
    for i in 0..8.min(d.labels.len()) {
        println!("  {:5}  {:5}  {:6}  {:5}", i, d.labels[i], ps[i], pf[i]);
    }
    println!();
    println!(
        "  accuracy: secure {:.2}%, float {:.2}% (cleartext fixed point {:.2}%, scale {scale})",
        100.0 * asec,
        100.0 * af,
        100.0 * ax
    );
    let mb: Vec<String> = run
        .bytes_sent()
        .iter()
        .map(|b| format!("{:.2} MB", *b as f64 / 1e6))
        .collect();
    println!(
        "  secure inference: {secs:.2} s ({:.2} s protocol), sent {}, {} rounds",
        run.seconds,
        mb.join(" / "),
        run.rounds()
    );
    Ok(())
}
