//! Bad input of every kind: one clear line on stderr, exit code 2, no panic.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

fn tmpdir(name: &str) -> PathBuf {
    // (in the target directory, replaced by the next run: nothing piles up in /tmp)
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cryptflow-test-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

/// Runs the CLI; asserts exit code 2 and a one-line error containing `needle`.
fn fails_with(args: &[&str], needle: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_cryptflow"))
        .args(args)
        .output()
        .expect("run cryptflow");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "args {args:?}: stderr {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(
        err.to_lowercase().contains(&needle.to_lowercase()),
        "expected '{needle}' in: {err}"
    );
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn missing_model_file() {
    let x = fixture("digits/x_test.npy");
    fails_with(&["run", "/nonexistent/model.onnx", "-i", p(&x)], "no such file");
}

#[test]
fn missing_input_file() {
    let m = fixture("digits/digits.onnx");
    fails_with(&["run", p(&m), "-i", "/nonexistent/x.npy"], "x.npy");
}

#[test]
fn corrupt_and_truncated_models() {
    let d = tmpdir("corrupt");
    let x = fixture("digits/x_test.npy");
    let garbage = d.join("garbage.onnx");
    std::fs::write(&garbage, b"\x08\x07this is not a protobuf model at all \xff\xfe").expect("write");
    fails_with(&["run", p(&garbage), "-i", p(&x)], "garbage.onnx");
    let bytes = std::fs::read(fixture("digits/digits.onnx")).expect("fixture");
    let cut = d.join("cut.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    fails_with(&["run", p(&cut), "-i", p(&x)], "cut.onnx");
    let pb = std::fs::read(fixture("digits/digits.pb")).expect("fixture");
    let cut_pb = d.join("cut.pb");
    std::fs::write(&cut_pb, &pb[..pb.len() / 3]).expect("write");
    fails_with(&["run", p(&cut_pb), "-i", p(&x)], "cut.pb");
    let unknown = d.join("model.xyz");
    std::fs::write(&unknown, b"hello").expect("write");
    fails_with(
        &["compile", p(&unknown), "-o", p(&d.join("out"))],
        "unknown model format",
    );
}

#[test]
fn unsupported_op_names_op_and_node() {
    let d = tmpdir("lrn");
    let m = fixture("ops/unsupported_lrn.onnx");
    fails_with(&["compile", p(&m), "-o", p(&d.join("out"))], "unsupported op");
}

#[test]
fn wrong_input_shape_and_dtype() {
    let d = tmpdir("shape");
    let m = fixture("digits/digits.onnx");
    // compile for [1,8,8,1], then feed 7x7 images
    let dir = d.join("compiled");
    let out = Command::new(env!("CARGO_BIN_EXE_cryptflow"))
        .args(["compile", p(&m), "-o", p(&dir), "--scale", "12"])
        .output()
        .expect("compile");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = d.join("bad.npy");
    let t = cryptflow_ir::Tensor::new(vec![2, 7, 7, 1], vec![0.5; 98]).expect("tensor");
    cryptflow_ir::npy::write(&bad, &t).expect("write");
    fails_with(&["run", p(&dir), "-i", p(&bad)], "expects");
    // a complex64 array
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<c8', 'fortran_order': False, 'shape': (1, 8, 8, 1), }          \n";
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(std::iter::repeat_n(0u8, 64 * 8));
    let cplx = d.join("complex.npy");
    std::fs::write(&cplx, bytes).expect("write");
    fails_with(&["run", p(&dir), "-i", p(&cplx)], "unsupported dtype");
    // wrong rank for --input-shape
    let x = fixture("digits/x_test.npy");
    fails_with(&["run", p(&m), "-i", p(&x), "--input-shape", "8,8"], "rank");
}

#[test]
fn tampered_program_and_foreign_weights() {
    let d = tmpdir("tamper");
    let m = fixture("digits/digits.onnx");
    let x = fixture("digits/calib.npy");
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_cryptflow"))
            .args(args)
            .output()
            .expect("run");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let a = d.join("a");
    let b = d.join("b");
    run(&["compile", p(&m), "-o", p(&a), "--scale", "12"]);
    run(&["compile", p(&m), "-o", p(&b), "--scale", "13"]);
    // weights of program b next to program a
    std::fs::copy(b.join("weights.bin"), a.join("weights.bin")).expect("copy");
    fails_with(&["run", p(&a), "-i", p(&x)], "different program");
    // an edited program
    let text = std::fs::read_to_string(b.join("program.json")).expect("read");
    std::fs::write(
        b.join("program.json"),
        text.replacen("\"scale\": 13", "\"scale\": 14", 1),
    )
    .expect("write");
    fails_with(&["run", p(&b), "-i", p(&x)], "hash");
    // a truncated weights file
    run(&["compile", p(&m), "-o", p(&a), "--scale", "12"]);
    let w = std::fs::read(a.join("weights.bin")).expect("read");
    std::fs::write(a.join("weights.bin"), &w[..w.len() - 10]).expect("write");
    fails_with(&["run", p(&a), "-i", p(&x)], "truncated");
}

#[test]
fn float_and_fixed_runs_write_outputs_and_json() {
    let d = tmpdir("ok");
    let m = fixture("digits/digits.onnx");
    let x = fixture("digits/x_test.npy");
    let y = d.join("y.npy");
    let out = Command::new(env!("CARGO_BIN_EXE_cryptflow"))
        .args(["run", p(&m), "-i", p(&x), "-o", p(&y), "--backend", "fixed", "--json"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["backend"], "fixed");
    assert_eq!(v["output_shape"], serde_json::json!([360, 10]));
    assert!(v["seconds"].as_f64().is_some());
    let t = cryptflow_ir::npy::read(&y).expect("output npy");
    assert_eq!(t.shape, [360, 10]);
}

#[test]
fn unbound_symbolic_dimension() {
    let d = tmpdir("symbolic");
    let m = fixture("ops/symbolic_hw.onnx");
    fails_with(&["compile", p(&m), "-o", p(&d.join("out"))], "--input-shape");
    let out = Command::new(env!("CARGO_BIN_EXE_cryptflow"))
        .args([
            "compile",
            p(&m),
            "-o",
            p(&d.join("out")),
            "--input-shape",
            "1,3,5,7",
            "--json",
        ])
        .output()
        .expect("compile");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn keras_without_tf2onnx_names_the_pip_command() {
    let d = tmpdir("keras");
    let k = d.join("model.keras");
    std::fs::write(&k, b"PK\x03\x04 not really a keras file").expect("write");
    let x = fixture("digits/x_test.npy");
    let out = Command::new(env!("CARGO_BIN_EXE_cryptflow"))
        .args(["run", p(&k), "-i", p(&x)])
        .env("CRYPTFLOW_PYTHON", "/nonexistent/python3")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("pip install") && err.contains("tf2onnx"), "{err}");
}
