//! The `3pc` backend against the cleartext `fixed` backend: every op of the
//! op suite, and the digits CNN on its whole test split in one batch.

use cryptflow_exec::calibrate::{argmax_rows, choose_scale};
use cryptflow_exec::executor::run_batched;
use cryptflow_exec::passes::simplify;
use cryptflow_exec::{FixedBackend, FloatBackend};
use cryptflow_import::{import_model, ImportOptions};
use cryptflow_ir::{npy, Program, Tensor, Weights};
use cryptflow_mpc::backend::local::run_local;
use cryptflow_net::{memory, Channel};
use std::path::PathBuf;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

fn compile(rel: &str, x: &Tensor<f32>, scale: u32) -> (Program, Weights) {
    let opts = ImportOptions {
        input_shape: Some(x.shape.clone()),
        ..Default::default()
    };
    let (g, w) = import_model(&fixture(rel), &opts).expect("import");
    let (g, w) = simplify(&g, &w).expect("passes");
    (Program::new(g, scale).with_compare_bits(40), w)
}

fn secure(p: &Program, w: &Weights, x: &Tensor<f32>) -> (Tensor<f32>, Vec<cryptflow_mpc::backend::local::PartyReport>) {
    let chans: Vec<Box<dyn Channel>> = memory::triple()
        .into_iter()
        .map(|c| Box::new(c) as Box<dyn Channel>)
        .collect();
    let reports = run_local(chans, p, w, x).expect("secure run");
    let y = reports[1].output.clone().expect("data owner gets the output");
    assert!(
        reports[0].output.is_none() && reports[2].output.is_none(),
        "only the data owner learns the output"
    );
    (y, reports)
}

fn max_ulps(a: &Tensor<f32>, b: &Tensor<f32>, scale: u32) -> f64 {
    let ulp = 1.0 / (1u64 << scale) as f64;
    a.data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| ((x - y) as f64).abs() / ulp)
        .fold(0.0, f64::max)
}

#[test]
fn every_op_matches_the_fixed_backend() {
    let manifest = std::fs::read_to_string(fixture("ops/MANIFEST.txt")).expect("manifest");
    let mut bad = Vec::new();
    for name in manifest
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| !n.starts_with('#'))
    {
        let xin = fixture(&format!("ops/{name}.input.npy"));
        if !xin.exists() {
            continue;
        }
        let x = npy::read(&xin).expect("input");
        let (p, w) = compile(&format!("ops/{name}.onnx"), &x, 14);
        let fixed = run_batched(&mut FixedBackend::new(14), &p.graph, Some(&w), &x, &mut |_| {}).expect("fixed");
        let (y, _) = secure(&p, &w, &x);
        // each truncation may be off by one ulp; errors add up through layers
        let ulps = max_ulps(&y, &fixed, 14);
        if ulps > 64.0 {
            bad.push(format!("{name}: {ulps} ulps"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn digits_whole_test_split_in_one_batch() {
    let x = npy::read(&fixture("digits/x_test.npy")).expect("x");
    let labels = npy::read(&fixture("digits/y_test.npy")).expect("y");
    let calib = npy::read(&fixture("digits/calib.npy")).expect("calib");
    let opts = ImportOptions {
        input_shape: Some(x.shape.clone()),
        ..Default::default()
    };
    let (g, w) = import_model(&fixture("digits/digits.onnx"), &opts).expect("import");
    let (g, w) = simplify(&g, &w).expect("passes");
    let (scale, reports) = choose_scale(&g, &w, &calib, 6..=20).expect("scale");
    let bits = reports
        .iter()
        .find(|r| r.scale == scale)
        .map(|r| r.compare_bits + 9)
        .expect("report");
    let p = Program::new(g, scale).with_compare_bits(bits);
    let fixed = run_batched(&mut FixedBackend::new(scale), &p.graph, Some(&w), &x, &mut |_| {}).expect("fixed");
    let float = run_batched(&mut FloatBackend::default(), &p.graph, Some(&w), &x, &mut |_| {}).expect("float");
    let (y, reps) = secure(&p, &w, &x);
    assert_eq!(y.shape, [360, 10]);
    let ulps = max_ulps(&y, &fixed, scale);
    assert!(ulps <= 64.0, "secure vs fixed: {ulps} ulps");
    let acc = |t: &Tensor<f32>| {
        argmax_rows(t)
            .iter()
            .zip(&labels.data)
            .filter(|(a, b)| **a == **b as usize)
            .count()
    };
    assert_eq!(acc(&y), acc(&float), "secure and float accuracy differ");
    assert!(acc(&y) as f64 / 360.0 >= 0.95);
    for r in &reps {
        assert!(r.counters.bytes_sent > 0 && r.counters.rounds > 0);
    }
}
