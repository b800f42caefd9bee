//! GEMM and convolution throughput of the ring kernels. Criterion's
//! "elem/s" is multiply-adds per second (throughput = m * k * n).
//!
//! `cargo bench -p cryptflow-exec --bench ring`; `RAYON_NUM_THREADS=1` for
//! one core.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use cryptflow_exec::kernel::{self, Path, U128Kernel, Width};
use cryptflow_exec::ring;
use cryptflow_ir::layout::ConvGeom;
use cryptflow_ir::ConvParams;
use std::time::Duration;

use cryptflow_exec::testdata::words as values;

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

/// The u128 GEMM this crate had before the limb kernels (ten u64 GEMMs:
/// two cross terms, eight 32 x 16-bit limb products of the low words),
/// kept here as the baseline the new one is measured against.
fn gemm_u128_ten_u64(path: Path, m: usize, k: usize, n: usize, a: &[u128], b: &[u128], c: &mut [u128]) {
    assert!(k < 1 << 16);
    let part = |v: &[u128], shift: u32| -> Vec<u64> { v.iter().map(|x| (*x >> shift) as u64).collect() };
    let (a0, a1, b0, b1) = (part(a, 0), part(a, 64), part(b, 0), part(b, 64));
    let mut p = vec![0u64; m * n];
    let acc = |c: &mut [u128], p: &[u64], shift: u32| {
        for (cv, &pv) in c.iter_mut().zip(p) {
            *cv = cv.wrapping_add((pv as u128) << shift);
        }
    };
    c.fill(0);
    kernel::gemm_u64_into(path, m, k, n, &a0, &b1, &mut p);
    acc(c, &p, 64);
    kernel::gemm_u64_into(path, m, k, n, &a1, &b0, &mut p);
    acc(c, &p, 64);
    let a_limbs: Vec<Vec<u64>> = (0..2)
        .map(|i| a0.iter().map(|x| (x >> (32 * i)) & 0xffff_ffff).collect())
        .collect();
    for j in 0..4u32 {
        let bj: Vec<u64> = b0.iter().map(|x| (x >> (16 * j)) & 0xffff).collect();
        for (i, ai) in a_limbs.iter().enumerate() {
            kernel::gemm_u64_into(path, m, k, n, ai, &bj, &mut p);
            acc(c, &p, 32 * i as u32 + 16 * j);
        }
    }
}

/// Z_2^128 (the malicious backend's shares) on ResNet-50 shapes: the
/// baseline of ten u64 GEMMs, the limb kernels (IFMA where the CPU has it,
/// and mul32), and one u64 GEMM of the same shape for scale.
fn gemm_u128(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm_u128");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let wide = |v: Vec<u64>, w: Vec<u64>| -> Vec<u128> {
        v.iter().zip(w).map(|(&x, y)| (x as u128) << 64 | y as u128).collect()
    };
    let shapes = [(128, 1152, 784), (512, 4608, 49), (64, 147, 12544), (1, 2048, 1000)];
    for (m, k, n) in shapes {
        let a = wide(values(m * k, 1), values(m * k, 2));
        let b = wide(values(k * n, 3), values(k * n, 4));
        g.throughput(Throughput::Elements((m * k * n) as u64));
        let id = format!("{m}x{k}x{n}");
        let mut out = vec![0u128; m * n];
        let mut want = vec![0u128; m * n];
        gemm_u128_ten_u64(Path::Auto, m, k, n, &a, &b, &mut want);
        if m == 128 {
            g.bench_function(BenchmarkId::new("generic", &id), |bn| {
                bn.iter(|| ring::gemm_generic_into(m, k, n, black_box(&a), black_box(&b), &mut out))
            });
            g.bench_function(BenchmarkId::new("ten_u64_portable", &id), |bn| {
                bn.iter(|| gemm_u128_ten_u64(Path::Portable, m, k, n, black_box(&a), black_box(&b), &mut out))
            });
        }
        g.bench_function(BenchmarkId::new("ten_u64", &id), |bn| {
            bn.iter(|| gemm_u128_ten_u64(Path::Auto, m, k, n, black_box(&a), black_box(&b), &mut out))
        });
        for kern in [U128Kernel::Auto, U128Kernel::Ifma, U128Kernel::Mul32] {
            kernel::gemm_u128_with(kern, Width::Full, m, k, n, &a, &b, &mut out);
            assert!(out == want, "{kern:?} {id}");
            g.bench_function(BenchmarkId::new(format!("{kern:?}"), &id), |bn| {
                bn.iter(|| kernel::gemm_u128_with(kern, Width::Full, m, k, n, black_box(&a), black_box(&b), &mut out))
            });
        }
        // mod 2^104 (a result read mod 2^78): two limbs
        g.bench_function(BenchmarkId::new("low", &id), |bn| {
            bn.iter(|| {
                kernel::gemm_u128_with(
                    U128Kernel::Auto,
                    Width::Low,
                    m,
                    k,
                    n,
                    black_box(&a),
                    black_box(&b),
                    &mut out,
                )
            })
        });
        // A below 2^52 (a party's own shifted weights): one limb of A
        let small: Vec<u128> = a.iter().map(|x| x >> 76).collect();
        for width in [Width::Full, Width::Low] {
            let name = if width == Width::Full { "small_a" } else { "small_a_low" };
            g.bench_function(BenchmarkId::new(name, &id), |bn| {
                bn.iter(|| kernel::gemm_u128_small_a(width, m, k, n, black_box(&small), black_box(&b), &mut out))
            });
        }
        let (a64, b64) = (values(m * k, 5), values(k * n, 6));
        let mut out64 = vec![0u64; m * n];
        g.bench_function(BenchmarkId::new("one_u64", &id), |bn| {
            bn.iter(|| kernel::gemm_u64_into(Path::Auto, m, k, n, black_box(&a64), black_box(&b64), &mut out64))
        });
    }
    g.finish();
}

criterion_group!(benches, gemm_u64, gemm_f32, conv, gemm_u128);
criterion_main!(benches);
