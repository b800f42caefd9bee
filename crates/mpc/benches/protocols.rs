//! Micro-benchmarks: the AES-CTR PRG, and ReLU / truncated product per
//! element with the three parties on threads over in-memory channels.
//! Run: cargo bench -p cryptflow-mpc --bench protocols

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use cryptflow_mpc::testing::{deal, run3};
use cryptflow_mpc::{mul_trunc, relu, Prg, Seed};

fn prg(c: &mut Criterion) {
    let mut g = c.benchmark_group("prg");
    let n = 1 << 20;
    g.throughput(Throughput::Bytes((n * 8) as u64));
    let mut p = Prg::new(&Seed::from_bytes([7; 16]));
    let mut buf = vec![0u64; n];
    g.bench_function("aes_ctr_fill_8MiB", |b| b.iter(|| p.fill_u64(&mut buf)));
    g.finish();
}

fn protocols(c: &mut Criterion) {
    let n = 1 << 16;
    let mut rng = Prg::new(&Seed::from_bytes([3; 16]));
    let x: Vec<u64> = (0..n)
        .map(|i| (i as u64).wrapping_mul(0x9e37_79b9).wrapping_sub(1 << 20) % (1 << 24))
        .collect();
    let shares = deal(&x, &mut rng);
    let mut g = c.benchmark_group("3pc_per_element");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    for bits in [64u32, 32] {
        g.bench_function(format!("relu_{bits}bit_65536"), |b| {
            b.iter(|| run3(|p| relu(p, &shares[p.id()], bits).map(|r| r.len()).unwrap_or(0)))
        });
    }
    g.bench_function("mul_trunc_65536", |b| {
        b.iter(|| {
            run3(|p| {
                mul_trunc(p, &shares[p.id()], &shares[p.id()], 12)
                    .map(|r| r.len())
                    .unwrap_or(0)
            })
        })
    });
    g.finish();
}

criterion_group!(benches, prg, protocols);
criterion_main!(benches);
