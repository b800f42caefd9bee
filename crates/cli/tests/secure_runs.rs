//! `run --backend 3pc` and `demo` through the binary: three parties over
//! loopback TLS, outputs against the cleartext fixed-point reference.

use std::path::PathBuf;
use std::process::Command;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

fn run_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_cryptflow"))
        .args(args)
        .output()
        .expect("run cryptflow");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

#[test]
fn secure_run_matches_fixed_point() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cryptflow-secure");
    std::fs::create_dir_all(&dir).expect("tmp");
    let m = fixture("digits/digits.onnx");
    let x = fixture("digits/x_test.npy");
    let (ys, yx) = (dir.join("secure.npy"), dir.join("fixed.npy"));
    let s = |p: &PathBuf| p.to_str().expect("utf-8").to_string();
    let v = run_json(&["run", &s(&m), "-i", &s(&x), "-o", &s(&ys), "--backend", "3pc", "--json"]);
    assert_eq!(v["backend"], "3pc");
    assert_eq!(v["bytes_sent"].as_array().map(|a| a.len()), Some(3));
    assert!(v["rounds"].as_u64().unwrap_or(0) > 0);
    let scale = v["scale"].as_u64().expect("scale").to_string();
    run_json(&[
        "run",
        &s(&m),
        "-i",
        &s(&x),
        "-o",
        &s(&yx),
        "--backend",
        "fixed",
        "--scale",
        &scale,
        "--json",
    ]);
    let a = cryptflow_ir::npy::read(&ys).expect("secure output");
    let b = cryptflow_ir::npy::read(&yx).expect("fixed output");
    assert_eq!(a.shape, [360, 10]);
    let ulp = 1.0 / (1u64 << scale.parse::<u32>().expect("int")) as f32;
    let worst = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(p, q)| (p - q).abs() / ulp)
        .fold(0.0, f32::max);
    assert!(worst <= 64.0, "secure differs from fixed point by {worst} ulps");
}

#[test]
fn demo_reports_equal_secure_and_float_accuracy() {
    let v = run_json(&["demo", "--json"]);
    assert_eq!(v["images"], 360);
    let (s, f) = (
        v["accuracy_secure"].as_f64().expect("secure"),
        v["accuracy_float"].as_f64().expect("float"),
    );
    assert!(s >= 0.9 && f >= 0.9, "{v}");
    assert_eq!(s, f, "{v}");
    assert_eq!(v["bytes_sent"].as_array().map(|a| a.len()), Some(3));
}

#[test]
fn bench_reports_layers_totals_checks_and_a_chart() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cryptflow-bench");
    std::fs::create_dir_all(&dir).expect("tmp");
    let chart = dir.join("chart.svg");
    let m = fixture("digits/digits.onnx");
    let s = |p: &PathBuf| p.to_str().expect("utf-8").to_string();
    let v = run_json(&["bench", &s(&m), "--json", "--chart", &s(&chart)]);
    for key in [
        "model",
        "seconds",
        "bytes_total",
        "peak_rss_bytes",
        "top1_match",
        "rounds",
    ] {
        assert!(!v[key].is_null(), "missing {key}: {v}");
    }
    assert_eq!(v["top1_match"], true, "{v}");
    assert!(v["bytes_total"].as_u64().unwrap_or(0) > 0);
    let layers = v["layers"].as_array().expect("layers");
    assert!(
        layers
            .iter()
            .any(|l| l["op"] == "Conv" && l["bytes"].as_u64().unwrap_or(0) > 0),
        "{v}"
    );
    let svg = std::fs::read_to_string(&chart).expect("chart written");
    assert!(svg.starts_with("<svg") && svg.contains("<rect"));
    // per-party memory from three processes: each party smaller than the
    // in-process run that holds all three (and the references)
    let per: Vec<u64> = v["peak_rss_bytes_per_party"]
        .as_array()
        .expect("per party")
        .iter()
        .map(|b| b.as_u64().unwrap_or(0))
        .collect();
    assert_eq!(per.len(), 3);
    assert!(per.iter().all(|&b| b > 1 << 20), "{v}");
    assert_eq!(v["peak_rss_bytes"].as_u64(), per.iter().copied().max());
    assert!(v["peak_rss_in_process_bytes"].as_u64().unwrap_or(0) > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_overhead_alternates_both_backends_and_reports_medians() {
    let m = fixture("digits/digits.onnx");
    let m = m.to_str().expect("utf-8");
    let v = run_json(&["bench", m, "--overhead", "2", "--json"]);
    let pairs = v["pairs"].as_array().expect("pairs");
    assert_eq!(pairs.len(), 2, "{v}");
    for p in pairs {
        for key in ["3pc_seconds", "3pc_malicious_seconds", "3pc_protocol_seconds"] {
            assert!(p[key].as_f64().unwrap_or(0.0) > 0.0, "{key}: {v}");
        }
    }
    // the median of two is their mean
    let mean = |k: &str| pairs.iter().map(|p| p[k].as_f64().unwrap_or(0.0)).sum::<f64>() / 2.0;
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(1.0);
    assert!(
        close(v["median_3pc_seconds"].as_f64().unwrap_or(-1.0), mean("3pc_seconds")),
        "{v}"
    );
    assert!(
        close(
            v["median_3pc_malicious_seconds"].as_f64().unwrap_or(-1.0),
            mean("3pc_malicious_seconds")
        ),
        "{v}"
    );
    assert_eq!(v["same_top1"], true, "{v}");
    // zero pairs: a usage error
    let out = Command::new(env!("CARGO_BIN_EXE_cryptflow"))
        .args(["bench", m, "--overhead", "0"])
        .output()
        .expect("run cryptflow");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least one pair"));
}
