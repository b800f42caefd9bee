//! `--backend 3pc-malicious` and `--simulate-cheater` through the binary:
//! an honest run equals the semi-honest one on a few digits; a simulated
//! cheater makes the run fail with "cheating detected" at both honest
//! parties, exit code 2, and no output file.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

fn cryptflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cryptflow"))
        .args(args)
        .output()
        .expect("run cryptflow")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cryptflow-mal-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("tmp");
    d.join(name)
}

/// The first 3 test images, as their own .npy.
fn three_images() -> PathBuf {
    let x = cryptflow_ir::npy::read(&fixture("digits/x_test.npy")).expect("x");
    let t = cryptflow_ir::Tensor::new(vec![3, 8, 8, 1], x.data[..3 * 64].to_vec()).expect("tensor");
    let p = tmp("x3.npy");
    cryptflow_ir::npy::write(&p, &t).expect("write");
    p
}

fn s(p: &std::path::Path) -> String {
    p.to_str().expect("utf-8").to_string()
}

#[test]
fn honest_malicious_run_equals_the_semi_honest_run() {
    let (m, x) = (fixture("digits/digits.onnx"), three_images());
    let (ym, ys) = (tmp("mal.npy"), tmp("semi.npy"));
    for (backend, out) in [("3pc-malicious", &ym), ("3pc", &ys)] {
        let o = cryptflow(&[
            "run",
            &s(&m),
            "-i",
            &s(&x),
            "-o",
            &s(out),
            "--backend",
            backend,
            "--json",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["backend"], backend);
    }
    let a = cryptflow_ir::npy::read(&ym).expect("malicious output");
    let b = cryptflow_ir::npy::read(&ys).expect("semi-honest output");
    assert_eq!(a.shape, b.shape);
    let argmax = |t: &cryptflow_ir::Tensor<f32>| -> Vec<usize> {
        t.data
            .chunks(10)
            .map(|r| (0..10).max_by(|&i, &j| r[i].total_cmp(&r[j])).unwrap_or(0))
            .collect()
    };
    assert_eq!(argmax(&a), argmax(&b));
    let worst = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f32::max);
    assert!(worst < 0.01, "outputs differ by {worst}");
}

#[test]
fn a_simulated_cheater_aborts_the_run_with_no_output() {
    let (m, x) = (fixture("digits/digits.onnx"), three_images());
    for spec in [
        "2",
        "0:cmp-open:lie",
        "helper:trunc:flip-bit",
        "data-owner:select:inconsistent",
    ] {
        let y = tmp(&format!("cheat-{}.npy", spec.replace(':', "_")));
        let o = cryptflow(&[
            "run",
            &s(&m),
            "-i",
            &s(&x),
            "-o",
            &s(&y),
            "--backend",
            "3pc-malicious",
            "--simulate-cheater",
            spec,
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{spec}: {err}");
        assert_eq!(err.lines().count(), 1, "{spec}: one line: {err}");
        assert!(err.contains("simulated cheater party"), "{spec}: {err}");
        assert_eq!(
            err.matches("cheating detected").count(),
            2,
            "{spec}: both honest parties: {err}"
        );
        assert!(!y.exists(), "{spec}: an output was written");
    }
}

#[test]
fn simulate_cheater_needs_the_malicious_backend_and_a_valid_spec() {
    let (m, x) = (fixture("digits/digits.onnx"), three_images());
    for (backend, spec, want) in [
        ("3pc", "1", "needs --backend 3pc-malicious"),
        ("3pc-malicious", "7", "unknown party"),
        ("3pc-malicious", "1:sideways", "unknown step"),
        ("3pc-malicious", "1:mul:shout", "unknown deviation"),
    ] {
        let o = cryptflow(&[
            "run",
            &s(&m),
            "-i",
            &s(&x),
            "--backend",
            backend,
            "--simulate-cheater",
            spec,
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{spec}: {err}");
    }
}

#[test]
fn a_cheat_at_a_step_the_model_never_runs_is_reported_as_such() {
    // the digits CNN has no element-wise product of two secrets
    let (m, x) = (fixture("digits/digits.onnx"), three_images());
    let o = cryptflow(&[
        "run",
        &s(&m),
        "-i",
        &s(&x),
        "--backend",
        "3pc-malicious",
        "--simulate-cheater",
        "1:mul",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("never took effect"), "{err}");
}
