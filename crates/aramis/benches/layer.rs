//! One fused linear layer of the `3pc-malicious` backend
//! (`Aramis::bilinear_trunc_lazy`: the GEMM mod 2^104, the masked opening
//! with its truncation, the claim and the output), three parties on three
//! threads over in-memory channels. The time is party 0's for
//! `iters` layers; "elem/s" is output elements per second.
//!
//! `cargo bench -p cryptflow-aramis --bench layer`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use cryptflow_aramis::testing::run3;
use cryptflow_aramis::Gemm;
use std::time::{Duration, Instant};

/// A 1x1 convolution of a 56x56x256 activation to 64 channels, as a GEMM
/// (ResNet50's stage 2): 3136 x 256 by 256 x 64.
fn fused_layer(c: &mut Criterion) {
    let (m, k, n) = (3136usize, 256usize, 64usize);
    let data: Vec<u64> = (0..m * k).map(|i| ((i * 7919) % 8191) as u64).collect();
    let weights: Vec<u64> = (0..k * n).map(|i| ((i * 104_729) % 4095) as u64).collect();
    let mut g = c.benchmark_group("layer");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements((m * n) as u64));
    g.bench_function("bilinear_trunc_lazy/3136x256x64", |bn| {
        bn.iter_custom(|iters| {
            let [t, _, _] = run3(Some(7), [None; 3], |a| {
                let me = a.id();
                let x = a.input(1, (me == 1).then_some(&data[..]), m * k).expect("input");
                let y = a
                    .input_values(0, (me == 0).then_some(&weights[..]), k * n)
                    .expect("weights");
                let mut t = Duration::ZERO;
                for i in 0..iters {
                    let start = Instant::now();
                    let out = a
                        .bilinear_trunc_lazy(&x, &y, Some(0), Gemm { m, k, n }, 13)
                        .expect("layer");
                    t += start.elapsed();
                    assert_eq!(out.len(), m * n);
                    if i % 4 == 3 {
                        // (untimed: the check keeps the logged claims bounded)
                        a.verify().expect("check");
                    }
                }
                t
            });
            t
        })
    });
    g.finish();
}

criterion_group!(benches, fused_layer);
criterion_main!(benches);
