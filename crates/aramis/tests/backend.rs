//! The `3pc-malicious` backend against the cleartext `fixed` backend and the
//! semi-honest `3pc` backend: every op of the op suite, the digits CNN on its
//! test split, and an end-to-end abort with `--simulate-cheater`'s hook.
#![allow(clippy::unwrap_used)]

use cryptflow_aramis::backend::local::{first_error, run_local};
use cryptflow_aramis::{Cheat, Deviation, Step};
use cryptflow_exec::calibrate::{argmax_rows, choose_scale};
use cryptflow_exec::executor::run_batched;
use cryptflow_exec::passes::simplify;
use cryptflow_exec::{FixedBackend, FloatBackend};
use cryptflow_import::{import_model, ImportOptions};
use cryptflow_ir::{npy, Program, Tensor, Weights};
use cryptflow_net::{memory, Channel};
use std::path::PathBuf;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

fn compile(rel: &str, x: &Tensor<f32>, scale: u32, bits: u32) -> (Program, Weights) {
    let opts = ImportOptions {
        input_shape: Some(x.shape.clone()),
        ..Default::default()
    };
    let (g, w) = import_model(&fixture(rel), &opts).expect("import");
    let (g, w) = simplify(&g, &w).expect("passes");
    (Program::new(g, scale).with_compare_bits(bits), w)
}

fn chans() -> Vec<Box<dyn Channel>> {
    memory::triple()
        .into_iter()
        .map(|c| Box::new(c) as Box<dyn Channel>)
        .collect()
}

fn secure(p: &Program, w: &Weights, x: &Tensor<f32>) -> Tensor<f32> {
    let reports = first_error(run_local(chans(), p, w, x, [None; 3]).unwrap()).expect("secure run");
    assert!(reports[0].output.is_none() && reports[2].output.is_none());
    reports[1].output.clone().expect("data owner gets the output")
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
    let mut ran = 0;
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
        let (p, w) = compile(&format!("ops/{name}.onnx"), &x, 14, 32);
        let fixed = run_batched(&mut FixedBackend::new(14), &p.graph, Some(&w), &x, &mut |_| {}).expect("fixed");
        let y = secure(&p, &w, &x);
        ran += 1;
        // each truncation is off by -1..2 ulps; errors add up through layers
        let ulps = max_ulps(&y, &fixed, 14);
        if ulps > 64.0 {
            bad.push(format!("{name}: {ulps} ulps"));
        }
    }
    assert!(ran >= 40, "only {ran} op cases ran");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The digits CNN compiled for batches of `batch` (all 360 test images when None).
fn digits(batch: Option<usize>) -> (Program, Weights, Tensor<f32>, Tensor<f32>) {
    let mut x = npy::read(&fixture("digits/x_test.npy")).expect("x");
    if let Some(b) = batch {
        x = Tensor::new(vec![b, 8, 8, 1], x.data[..b * 64].to_vec()).unwrap();
    }
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
    (Program::new(g, scale).with_compare_bits(bits), w, x, labels)
}

#[test]
fn digits_test_split_equals_fixed_float_and_semi_honest() {
    let (p, w, x, labels) = digits(None);
    let fixed = run_batched(&mut FixedBackend::new(p.scale), &p.graph, Some(&w), &x, &mut |_| {}).expect("fixed");
    let float = run_batched(&mut FloatBackend::default(), &p.graph, Some(&w), &x, &mut |_| {}).expect("float");
    let semi = cryptflow_mpc::backend::local::run_local(chans(), &p, &w, &x).expect("3pc")[1]
        .output
        .clone()
        .unwrap();
    let y = secure(&p, &w, &x);
    assert_eq!(y.shape, [360, 10]);
    let ulps = max_ulps(&y, &fixed, p.scale);
    assert!(ulps <= 64.0, "malicious vs fixed: {ulps} ulps");
    assert_eq!(
        argmax_rows(&y),
        argmax_rows(&semi),
        "3pc-malicious and 3pc predictions differ"
    );
    let acc = |t: &Tensor<f32>| {
        argmax_rows(t)
            .iter()
            .zip(&labels.data)
            .filter(|(a, b)| **a == **b as usize)
            .count()
    };
    assert_eq!(acc(&y), acc(&float));
}

#[test]
fn a_cheater_in_a_real_network_makes_every_honest_party_abort() {
    let (p, w, x, _) = digits(Some(2));
    // Every step the backend runs (the CNN has no element-wise Mul, and the
    // backend opens only inside truncations, comparisons and the output),
    // from every party, with every kind of deviation: 8 x 3 x 4 = 96 runs.
    let steps = [
        Step::Input,
        Step::Bilinear,
        Step::Trunc,
        Step::BitGen,
        Step::CmpChain,
        Step::CmpOpen,
        Step::Select,
        Step::Output,
    ];
    let mut runs = 0;
    for step in steps {
        for (cheater, dev) in (0..3).flat_map(|c| Deviation::all(1 << 63 | 1).map(|d| (c, d))) {
            runs += 1;
            let mut cheats = [None; 3];
            cheats[cheater] = Some(Cheat::new(step, dev));
            let res = run_local(chans(), &p, &w, &x, cheats).unwrap();
            for (id, r) in res.iter().enumerate() {
                if id == cheater {
                    continue;
                }
                match r {
                    Err(e) => assert!(
                        e.to_string().contains("cheating detected"),
                        "party {id}, P{cheater} {step:?} {dev:?}: {e}"
                    ),
                    Ok(rep) => panic!(
                        "party {id} finished (output {}) with P{cheater} cheating: {step:?} {dev:?}",
                        rep.output.is_some()
                    ),
                }
            }
        }
    }
    assert_eq!(runs, 96);
}
