//! The batched check's passes over a convolution (`Bilinear::weigh`,
//! `contract_x`, `contract_y`, with the check's three weightings) and a
//! pending sharing's inner product (`dot_w`), one thread. These are the
//! work a `verify` does per logged layer and per checked element.
//!
//! `cargo bench -p cryptflow-aramis --bench check`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use cryptflow_aramis::bilinear::{dot_w, Bilinear, Conv, Weights, FREIVALDS_REPS};
use cryptflow_aramis::testing::run3;
use cryptflow_exec::testdata::Xorshift;
use cryptflow_ir::layout::ConvGeom;
use cryptflow_ir::ConvParams;
use std::time::{Duration, Instant};

fn conv_passes(c: &mut Criterion) {
    let mut g = c.benchmark_group("check");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    let mut rng = Xorshift::new(5);
    // ResNet50 stage 2: a 3x3 64 -> 64 and a 1x1 64 -> 256 convolution on 56x56
    for (name, xs, ks, pad) in [
        ("conv3x3_64_56", [1, 64, 56, 56], [64, 64, 3, 3], 1),
        ("conv1x1_64to256_56", [1, 64, 56, 56], [256, 64, 1, 1], 0),
    ] {
        let p = ConvParams {
            strides: [1, 1],
            dilations: [1, 1],
            pads: [pad; 4],
            groups: 1,
        };
        let geom = ConvGeom::new(&xs, &ks, &p).expect("geometry");
        let conv = Conv { g: geom };
        let (lx, ly, lz) = conv.lens();
        let (rows, cols) = conv.grid();
        let x: Vec<u128> = (0..lx).map(|_| rng.next_u128()).collect();
        let y: Vec<u128> = (0..ly).map(|_| rng.next_u128()).collect();
        let z: Vec<u128> = (0..lz).map(|_| rng.next_u128()).collect();
        let w: Vec<Weights> = (0..FREIVALDS_REPS)
            .map(|_| Weights {
                r: (0..rows).map(|_| rng.next_u128() as u64).collect(),
                s: (0..cols).map(|_| rng.next_u128() as u64).collect(),
            })
            .collect();
        g.throughput(Throughput::Elements(lz as u64));
        g.bench_function(format!("weigh/{name}"), |b| b.iter(|| conv.weigh(black_box(&z), &w)));
        g.throughput(Throughput::Elements(lx as u64));
        g.bench_function(format!("contract_x/{name}"), |b| {
            b.iter(|| conv.contract_x(black_box(&x), &w))
        });
        g.throughput(Throughput::Elements(ly as u64));
        g.bench_function(format!("contract_y/{name}"), |b| {
            b.iter(|| conv.contract_y(black_box(&y), &w))
        });
    }
    let n = 1 << 20;
    let x: Vec<u128> = (0..n).map(|_| rng.next_u128()).collect();
    let s: Vec<u64> = (0..n).map(|_| rng.next_u128() as u64).collect();
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("dot_w/2^20", |b| b.iter(|| dot_w(black_box(&x), &s)));
    g.finish();
}

/// A memory checkpoint (the MAC check without the AND-gate proofs) after a
/// 28-bit ReLU of 2^18 values: mostly the daBit claims' sums. Three parties
/// on three threads over in-memory channels; party 0's time.
fn relu_checkpoint(c: &mut Criterion) {
    let n = 1usize << 18;
    let vals: Vec<u64> = (0..n as u64)
        .map(|i| (i * 7919 % 100_003).wrapping_sub(50_000))
        .collect();
    let mut g = c.benchmark_group("check");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(6));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("checkpoint_after_relu/2^18", |bn| {
        bn.iter_custom(|iters| {
            let [t, _, _] = run3(Some(9), [None; 3], |a| {
                let me = a.id();
                let x = a.input(1, (me == 1).then_some(&vals[..]), n).expect("input");
                a.verify().expect("check");
                let mut t = Duration::ZERO;
                for _ in 0..iters {
                    let y = a.relu_lazy(&x, 28).expect("relu");
                    let start = Instant::now();
                    a.checkpoint_if_over(0).expect("checkpoint");
                    t += start.elapsed();
                    drop(y);
                }
                t
            });
            t
        })
    });
    g.finish();
}

criterion_group!(benches, conv_passes, relu_checkpoint);
criterion_main!(benches);
