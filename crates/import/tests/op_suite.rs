//! Every supported op, in small ONNX graphs with awkward shapes, against
//! onnxruntime's stored outputs: float to 1e-4, fixed point (scale 16) to
//! 5e-3, or the documented approximation error for Sigmoid/Tanh.

mod common;
use common::*;

fn cases() -> Vec<String> {
    let manifest = std::fs::read_to_string(fixture("ops/MANIFEST.txt")).expect("manifest");
    let mut names: Vec<String> = manifest
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| !n.starts_with('#') && fixture(&format!("ops/{n}.input.npy")).exists())
        .map(String::from)
        .collect();
    names.dedup();
    names
}

#[test]
fn op_suite_float_and_fixed_match_onnxruntime() {
    let names = cases();
    assert!(names.len() >= 40, "op suite has only {} cases", names.len());
    let mut failures = Vec::new();
    for n in &names {
        let x = load(&format!("ops/{n}.input.npy"));
        let want = load(&format!("ops/{n}.output.npy"));
        let (g, w) = import_for(&format!("ops/{n}.onnx"), &x);
        let yf = float(&g, &w, &x);
        let ef = max_abs_diff(&yf, &want);
        let scale = max_abs(&want).max(1.0);
        if ef > 1e-4 * scale {
            failures.push(format!("{n}: float error {ef}"));
        }
        let yx = fixed(&g, &w, &x, 16);
        let tol = if n.contains("sigmoid") || n.contains("tanh") {
            0.0085
        } else {
            5e-3 * scale
        };
        let ex = max_abs_diff(&yx, &want);
        if ex > tol {
            failures.push(format!("{n}: fixed error {ex} > {tol}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn max_abs(t: &cryptflow_ir::Tensor<f32>) -> f32 {
    t.data.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

#[test]
fn unsupported_op_is_named() {
    let e = cryptflow_import::import_model(&fixture("ops/unsupported_lrn.onnx"), &Default::default())
        .expect_err("LRN is not supported");
    let msg = e.to_string();
    assert!(msg.contains("unsupported op") && msg.contains("node"), "{msg}");
    assert!(!msg.contains('\n'));
}

#[test]
fn batchnorm_is_folded_into_the_conv() {
    let x = load("ops/batchnorm_after_conv.input.npy");
    let (g, _) = import_for("ops/batchnorm_after_conv.onnx", &x);
    let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).filter(|k| *k != "Weight").collect();
    assert_eq!(kinds, ["Input", "Conv"], "{kinds:?}");
}

#[test]
fn relu_after_maxpool_is_reordered() {
    let x = load("ops/small_cnn_nchw.input.npy");
    let (g, _) = import_for("ops/small_cnn_nchw.onnx", &x);
    let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).filter(|k| *k != "Weight").collect();
    let pool = kinds.iter().position(|k| *k == "MaxPool").expect("a maxpool");
    assert_eq!(kinds[pool + 1], "Relu", "{kinds:?}");
}
