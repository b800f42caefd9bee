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

/// Per-bit-position frequencies (8 positions) over all bytes.
fn bit_freqs(bytes: &[u8]) -> [f64; 8] {
    let mut c = [0u64; 8];
    for b in bytes {
        for (i, ci) in c.iter_mut().enumerate() {
            *ci += ((b >> i) & 1) as u64;
        }
    }
    c.map(|v| v as f64 / bytes.len().max(1) as f64)
}

/// Bytes received by each party over one secure run with input `x`.
fn received(p: &Program, w: &Weights, x: &Tensor<f32>) -> Vec<Vec<u8>> {
    use cryptflow_mpc::testing::Recorder;
    let mut logs = Vec::new();
    let chans: Vec<Box<dyn Channel>> = memory::triple()
        .into_iter()
        .map(|c| {
            let (r, log, on) = Recorder::new(Box::new(c));
            on.store(true, std::sync::atomic::Ordering::SeqCst);
            logs.push(log);
            Box::new(r) as Box<dyn Channel>
        })
        .collect();
    run_local(chans, p, w, x).expect("secure run");
    logs.iter()
        .map(|l| {
            l.lock()
                .map(|v| v.iter().flat_map(|(_, m)| m.clone()).collect())
                .unwrap_or_default()
        })
        .collect()
}

/// What the model owner and the helper receive while the data owner's
/// input is processed has the same distribution whatever the input: a
/// two-sample test on bit frequencies over many runs with two different
/// secrets. The same statistic on the cleartext encodings (what a kernel
/// sending its input in the clear would send) tells the secrets apart.
#[test]
fn parties_without_the_input_see_the_same_distribution_whatever_the_input() {
    let xa = npy::read(&fixture("ops/small_cnn_nchw.input.npy")).expect("input");
    let xb = Tensor::filled(xa.shape.clone(), 0.75f32);
    let (p, w) = compile("ops/small_cnn_nchw.onnx", &xa, 12);
    let runs = 12;
    let collect = |x: &Tensor<f32>| -> [Vec<u8>; 2] {
        let mut acc = [Vec::new(), Vec::new()];
        for _ in 0..runs {
            let r = received(&p, &w, x);
            acc[0].extend(&r[0]);
            acc[1].extend(&r[2]);
        }
        acc
    };
    let (a, b) = (collect(&xa), collect(&xb));
    for (who, (va, vb)) in ["model owner", "helper"].iter().zip(a.iter().zip(&b)) {
        assert_eq!(va.len(), vb.len(), "{who}: message sizes depend on the input");
        let (fa, fb) = (bit_freqs(va), bit_freqs(vb));
        let sigma = (0.5 / va.len() as f64).sqrt();
        for i in 0..8 {
            assert!(
                (fa[i] - fb[i]).abs() < 6.0 * sigma,
                "{who}: bit {i}: {} vs {}",
                fa[i],
                fb[i]
            );
        }
    }
    // negative control: the inputs in the clear are told apart at once
    let enc = |x: &Tensor<f32>| -> Vec<u8> {
        x.data
            .iter()
            .flat_map(|&v| cryptflow_exec::fixedpoint::encode(v as f64, 12).to_le_bytes())
            .collect()
    };
    let (ea, eb) = (enc(&xa), enc(&xb));
    let (fa, fb) = (bit_freqs(&ea), bit_freqs(&eb));
    let sigma = (0.5 / ea.len() as f64).sqrt();
    assert!(
        (0..8).any(|i| (fa[i] - fb[i]).abs() > 6.0 * sigma),
        "the test could not catch a leak"
    );
}
