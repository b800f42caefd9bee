//! The digits CNN (scikit-learn's real 8x8 digits): float vs onnxruntime,
//! fixed point vs float on the whole test split, ONNX vs TF import, and the
//! compiled program/weights round trip.

mod common;
use common::*;
use cryptflow_exec::calibrate::choose_scale;
use cryptflow_ir::{Program, Weights};

fn accuracy(y: &cryptflow_ir::Tensor<f32>, labels: &cryptflow_ir::Tensor<f32>) -> f64 {
    let p = argmax(y);
    p.iter().zip(&labels.data).filter(|(a, b)| **a == **b as usize).count() as f64 / p.len() as f64
}

#[test]
fn fixed_point_keeps_float_accuracy_on_the_whole_test_split() {
    let x = load("digits/x_test.npy");
    let labels = load("digits/y_test.npy");
    let ort = load("digits/onnx_out.npy");
    assert_eq!(x.shape, [360, 8, 8, 1]);
    let (g, w) = import_for("digits/digits.onnx", &x);
    let yf = float(&g, &w, &x);
    assert!(max_abs_diff(&yf, &ort) < 1e-4, "float vs onnxruntime");
    let calib = load("digits/calib.npy");
    let (scale, reports) = choose_scale(&g, &w, &calib, 6..=20).expect("scale");
    assert!(reports.iter().any(|r| r.scale == scale && r.accepted));
    let yx = fixed(&g, &w, &x, scale);
    let (af, ax) = (accuracy(&yf, &labels), accuracy(&yx, &labels));
    let differ = argmax(&yf).iter().zip(argmax(&yx)).filter(|(a, b)| **a != *b).count();
    assert!(af >= 0.95 && ax >= 0.95, "float {af}, fixed {ax}");
    assert!(differ <= 1, "{differ} images change class in fixed point");
}

#[test]
fn onnx_and_tensorflow_imports_agree() {
    let x = load("digits/x_test.npy");
    let (g1, w1) = import_for("digits/digits.onnx", &x);
    let (g2, w2) = import_for("digits/digits.pb", &x);
    let d = max_abs_diff(&float(&g1, &w1, &x), &float(&g2, &w2, &x));
    assert!(d < 1e-4, "ONNX vs TF differ by {d}");
}

#[test]
fn compiled_files_round_trip() {
    let x = load("digits/calib.npy");
    let (g, w) = import_for("digits/digits.onnx", &x);
    let p = Program::new(g, 12);
    let p2 = Program::from_json(&p.to_json()).expect("program parses");
    let (w2, hash) = Weights::from_bytes(&w.to_bytes(&p.hash_bytes())).expect("weights parse");
    assert_eq!(hash, p2.hash_bytes());
    w2.check_against(&p2).expect("weights fit");
    let a = fixed(&p.graph, &w, &x, 12);
    let b = fixed(&p2.graph, &w2, &x, 12);
    assert_eq!(a, b);
}
