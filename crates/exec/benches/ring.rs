//! GEMM and convolution throughput of the ring kernels. Criterion's
//! "elem/s" is multiply-adds per second (throughput = m * k * n).
//!
//! `cargo bench -p cryptflow-exec --bench ring`; `RAYON_NUM_THREADS=1` for
//! one core.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use cryptflow_exec::kernel::{self, Path};
use cryptflow_exec::ring;
use cryptflow_ir::layout::ConvGeom;
use cryptflow_ir::ConvParams;
use std::time::Duration;

fn values(len: usize, seed: u64) -> Vec<u64> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        })
        .collect()
}

/// (m, k, n): ResNet-50 convolutions as GEMMs (out channels, patch rows,
/// pixels) and its final dense layer at batch 1.
const SHAPES: [(usize, usize, usize); 4] = [(64, 576, 3136), (256, 2304, 196), (512, 4608, 49), (1, 2048, 1000)];

fn gemm_u64(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm_u64");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (m, k, n) in SHAPES {
        let (a, b) = (values(m * k, 1), values(k * n, 2));
        let mut out = vec![0u64; m * n];
        let id = format!("{m}x{k}x{n}");
        g.throughput(Throughput::Elements((m * k * n) as u64));
        g.bench_function(BenchmarkId::new("naive", &id), |bn| {
            bn.iter(|| ring::gemm_generic_into(m, k, n, black_box(&a), black_box(&b), &mut out))
        });
        if kernel::simd_available() {
            g.bench_function(BenchmarkId::new("simd", &id), |bn| {
                bn.iter(|| kernel::gemm_u64_into(Path::Simd, m, k, n, black_box(&a), black_box(&b), &mut out))
            });
        }
        g.bench_function(BenchmarkId::new("portable", &id), |bn| {
            bn.iter(|| kernel::gemm_u64_into(Path::Portable, m, k, n, black_box(&a), black_box(&b), &mut out))
        });
    }
    g.finish();
}

fn gemm_f32(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm_f32");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (m, k, n) in SHAPES {
        let a: Vec<f32> = values(m * k, 3).iter().map(|&v| (v >> 40) as f32 / 1e7).collect();
        let b: Vec<f32> = values(k * n, 4).iter().map(|&v| (v >> 40) as f32 / 1e7).collect();
        let mut out = vec![0f32; m * n];
        let id = format!("{m}x{k}x{n}");
        g.throughput(Throughput::Elements((m * k * n) as u64));
        g.bench_function(BenchmarkId::new("naive", &id), |bn| {
            bn.iter(|| ring::gemm_generic_into(m, k, n, black_box(&a), black_box(&b), &mut out))
        });
        g.bench_function(BenchmarkId::new("fast", &id), |bn| {
            bn.iter(|| kernel::gemm_f32_into(m, k, n, black_box(&a), black_box(&b), &mut out))
        });
    }
    g.finish();
}

/// ResNet-50's 3x3, 64 -> 64 convolution on 56 x 56 (pad 1), batch 1.
fn conv(c: &mut Criterion) {
    let p = ConvParams {
        strides: [1, 1],
        dilations: [1, 1],
        pads: [1, 1, 1, 1],
        groups: 1,
    };
    let geom = ConvGeom::new(&[1, 64, 56, 56], &[64, 64, 3, 3], &p).expect("geometry");
    let x = values(64 * 56 * 56, 5);
    let w = values(64 * 64 * 9, 6);
    let mut g = c.benchmark_group("conv_u64");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements((64 * 576 * 3136) as u64));
    g.bench_function("resnet_3x3_64_56x56", |bn| {
        bn.iter(|| ring::conv(&geom, black_box(&x), black_box(&w)))
    });
    g.finish();
}

/// Z_2^128 (the malicious backend's shares): generic loop vs ten u64 GEMMs.
fn gemm_u128(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm_u128");
    g.sample_size(10);
    let (m, k, n) = (256, 2304, 196);
    let wide = |v: Vec<u64>, w: Vec<u64>| -> Vec<u128> {
        v.iter().zip(w).map(|(&x, y)| (x as u128) << 64 | y as u128).collect()
    };
    let a = wide(values(m * k, 1), values(m * k, 2));
    let b = wide(values(k * n, 3), values(k * n, 4));
    g.throughput(Throughput::Elements((m * k * n) as u64));
    let id = format!("{m}x{k}x{n}");
    let mut out = vec![0u128; m * n];
    g.bench_function(BenchmarkId::new("generic", &id), |bn| {
        bn.iter(|| ring::gemm_generic_into(m, k, n, black_box(&a), black_box(&b), &mut out))
    });
    g.bench_function(BenchmarkId::new("u64_limbs", &id), |bn| {
        bn.iter(|| ring::gemm_u128_into(m, k, n, black_box(&a), black_box(&b), &mut out))
    });
    g.finish();
}

criterion_group!(benches, gemm_u64, gemm_f32, conv, gemm_u128);
criterion_main!(benches);
