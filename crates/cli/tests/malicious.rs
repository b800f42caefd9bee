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
    // (in the target directory, overwritten by the next run: nothing piles up in /tmp)
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cryptflow-mal");
    std::fs::create_dir_all(&d).expect("tmp");
    d.join(name)
}

/// The first 3 test images, as their own .npy, written once per test
/// process (the tests run in parallel: rewriting the file while another
/// test's run reads it made that run see a truncated file).
fn three_images() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let x = cryptflow_ir::npy::read(&fixture("digits/x_test.npy")).expect("x");
        let t = cryptflow_ir::Tensor::new(vec![3, 8, 8, 1], x.data[..3 * 64].to_vec()).expect("tensor");
        let p = tmp("x3.npy");
        cryptflow_ir::npy::write(&p, &t).expect("write");
        p
    })
    .clone()
}

fn s(p: &std::path::Path) -> String {
    p.to_str().expect("utf-8").to_string()
}

/// `cryptflow run` of the digits CNN on three images with `backend`, an
/// optional output file and `extra` arguments.
fn run_digits(backend: &str, out: Option<&std::path::Path>, extra: &[&str]) -> Output {
    let (m, x) = (s(&fixture("digits/digits.onnx")), s(&three_images()));
    let mut args = vec!["run".to_string(), m, "-i".into(), x];
    if let Some(o) = out {
        args.extend(["-o".to_string(), s(o)]);
    }
    args.extend(["--backend".to_string(), backend.to_string()]);
    args.extend(extra.iter().map(|a| a.to_string()));
    cryptflow(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn honest_malicious_run_equals_the_semi_honest_run() {
    let (ym, ys) = (tmp("mal.npy"), tmp("semi.npy"));
    for (backend, out) in [("3pc-malicious", &ym), ("3pc", &ys)] {
        let o = run_digits(backend, Some(out), &["--json"]);
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
    for spec in [
        "2",
        "0:cmp-open:lie",
        "helper:trunc:flip-bit",
        "data-owner:select:inconsistent",
    ] {
        let y = tmp(&format!("cheat-{}.npy", spec.replace(':', "_")));
        let o = run_digits("3pc-malicious", Some(&y), &["--simulate-cheater", spec]);
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
    for (backend, spec, want) in [
        ("3pc", "1", "needs --backend 3pc-malicious"),
        ("3pc-malicious", "7", "unknown party"),
        ("3pc-malicious", "1:sideways", "unknown step"),
        ("3pc-malicious", "1:mul:shout", "unknown deviation"),
    ] {
        let o = run_digits(backend, None, &["--simulate-cheater", spec]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(want), "{spec}: {err}");
    }
}

#[test]
fn a_cheat_at_a_step_the_model_never_runs_is_reported_as_such() {
    // the digits CNN has no element-wise product of two secrets
    let o = run_digits("3pc-malicious", None, &["--simulate-cheater", "1:mul"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("never took effect"), "{err}");
}
