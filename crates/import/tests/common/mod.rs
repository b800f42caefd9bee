#![allow(dead_code)]
use cryptflow_exec::executor::run_batched;
use cryptflow_exec::passes::simplify;
use cryptflow_exec::{Backend, FixedBackend, FloatBackend};
use cryptflow_import::{import_model, ImportOptions};
use cryptflow_ir::{npy, Graph, Tensor, Weights};
use std::path::PathBuf;

pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

pub fn load(rel: &str) -> Tensor<f32> {
    npy::read(&fixture(rel)).expect("fixture .npy")
}

/// Imports with the input shape bound to `x`'s and runs the passes.
pub fn import_for(rel: &str, x: &Tensor<f32>) -> (Graph, Weights) {
    let opts = ImportOptions {
        input_shape: Some(x.shape.clone()),
        ..Default::default()
    };
    let (g, w) = import_model(&fixture(rel), &opts).unwrap_or_else(|e| panic!("{rel}: {e}"));
    simplify(&g, &w).expect("passes")
}

pub fn run<B: Backend>(b: &mut B, g: &Graph, w: &Weights, x: &Tensor<f32>) -> Tensor<f32> {
    run_batched(b, g, Some(w), x, &mut |_| {}).expect("run")
}

pub fn float(g: &Graph, w: &Weights, x: &Tensor<f32>) -> Tensor<f32> {
    run(&mut FloatBackend::default(), g, w, x)
}

pub fn fixed(g: &Graph, w: &Weights, x: &Tensor<f32>, scale: u32) -> Tensor<f32> {
    run(&mut FixedBackend::new(scale), g, w, x)
}

pub fn max_abs_diff(a: &Tensor<f32>, b: &Tensor<f32>) -> f32 {
    assert_eq!(a.shape, b.shape);
    a.data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn argmax(t: &Tensor<f32>) -> Vec<usize> {
    cryptflow_exec::calibrate::argmax_rows(t)
}
