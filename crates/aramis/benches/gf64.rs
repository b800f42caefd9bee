//! The AND-gate proofs (`dzkp`) and the GF(2^64) vector operations under
//! them. "dzkp" runs the prover and both verifiers of one batch in one
//! process (the work of `Aramis::and_proofs` without the messages);
//! criterion's "elem/s" is gates per second there and field elements per
//! second in "gf64".
//!
//! `cargo bench -p cryptflow-aramis --bench gf64`.

use criterion::measurement::WallTime;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use cryptflow_aramis::gf64;
use cryptflow_aramis::LocalBatch;
use cryptflow_exec::kernel::Gf64;
use std::time::Duration;

use cryptflow_exec::testdata::words as values;

/// Batches of 2^20 and 2^22 gates (2^20 - 1 real ones and the pad).
fn dzkp(c: &mut Criterion) {
    let mut g = c.benchmark_group("dzkp");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    for log in [20, 22] {
        let gates = (1usize << log) - 1;
        let batch = LocalBatch::random(gates, &[], 1);
        g.throughput(Throughput::Elements(gates as u64));
        g.bench_function(BenchmarkId::new("prove_and_verify", format!("2^{log}")), |bn| {
            bn.iter(|| assert!(black_box(&batch).prove_and_verify(None).1))
        });
    }
    g.finish();
}

/// A group of short measurements (the kernels take microseconds).
fn short_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    g
}

/// Two 2^18-element vectors and 2^16 weights: the length and the operands.
fn operands() -> (usize, Vec<u64>, Vec<u64>, Vec<u64>) {
    let len = 1 << 18;
    (len, values(len, 1), values(len, 2), values(len / 4, 3))
}

fn vector_ops(c: &mut Criterion) {
    let mut g = short_group(c, "gf64");
    let (len, a, b, w) = operands();
    let tau = values(18, 4);
    let mut out = vec![0u64; len];
    g.throughput(Throughput::Elements(len as u64));
    g.bench_function("mul_into", |bn| bn.iter(|| gf64::mul_into(black_box(&a), &b, &mut out)));
    g.bench_function("dot", |bn| bn.iter(|| gf64::dot(black_box(&a), &b)));
    g.bench_function("fold", |bn| bn.iter(|| gf64::fold(black_box(&a), 12345)));
    g.bench_function("eq_table", |bn| bn.iter(|| gf64::eq_table(black_box(&tau))));
    g.bench_function("quad_sums", |bn| bn.iter(|| gf64::quad_sums(black_box(&a), &b, &w)));
    g.finish();
}

/// The same kernels side by side in one run: "blocks" (PCLMULQDQ, one
/// reduction per product: the path the proofs took before the VPCLMULQDQ
/// kernels) and "vpclmul".
fn kernels(c: &mut Criterion) {
    let mut g = short_group(c, "gf64_kernel");
    let (len, a, b, w) = operands();
    let mut out = vec![0u64; len];
    g.throughput(Throughput::Elements(len as u64));
    let ks = [("blocks", Some(Gf64::blocks())), ("vpclmul", Gf64::vpclmul())];
    for (name, k) in ks.into_iter().filter_map(|(n, k)| Some((n, k?))) {
        g.bench_function(BenchmarkId::new("mul_into", name), |bn| {
            bn.iter(|| k.mul_into(black_box(&a), &b, &mut out))
        });
        g.bench_function(BenchmarkId::new("dot", name), |bn| bn.iter(|| k.dot(black_box(&a), &b)));
        g.bench_function(BenchmarkId::new("fold_in_place", name), |bn| {
            bn.iter(|| {
                out.copy_from_slice(&a);
                k.fold_in_place(black_box(&mut out), 12345)
            })
        });
        g.bench_function(BenchmarkId::new("quad_sums", name), |bn| {
            bn.iter(|| k.quad_sums(black_box(&a), &b, &w))
        });
    }
    g.finish();
}

criterion_group!(benches, dzkp, vector_ops, kernels);
criterion_main!(benches);
