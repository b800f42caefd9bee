//! Bytes and rounds per element, measured from the channel counters.
//! Run with `--nocapture` to see the table used in docs/PROTOCOLS.md.
#![allow(clippy::unwrap_used)]

use cryptflow_mpc::compare::{drelu, relu, select};
use cryptflow_mpc::mul::mul;
use cryptflow_mpc::testing::{deal, deal_bits, ok, run3};
use cryptflow_mpc::trunc::{mul_trunc, trunc};
use cryptflow_mpc::{AShare, BShare, Party, Prg, Seed};

const N: usize = 4096;

/// Total bytes over the three parties per element, and rounds, of `f`.
fn measure<F>(f: F) -> (f64, u64)
where
    F: Fn(&mut Party, &AShare, &BShare) + Sync,
{
    let mut g = Prg::new(&Seed::from_bytes([9; 16]));
    let x: Vec<u64> = g.gen_u64(N).iter().map(|v| ((*v as i64) >> 34) as u64).collect();
    let sx = deal(&x, &mut g);
    let bits = g.gen_bits(N);
    let sb = deal_bits(&bits, N, &mut g);
    let r = run3(|p| {
        let i = p.id();
        let before = p.counters();
        f(p, &sx[i], &sb[i]);
        let after = p.counters();
        (after.bytes_sent - before.bytes_sent, after.rounds - before.rounds)
    });
    assert!(r.iter().all(|ri| ri.1 == r[0].1), "round counters agree");
    let total: u64 = r.iter().map(|ri| ri.0).sum();
    (total as f64 / N as f64, r[0].1)
}

#[test]
fn bytes_and_rounds_per_element() {
    let rows: Vec<(&str, (f64, u64))> = vec![
        ("mul", measure(|p, x, _| drop(ok(mul(p, x, x))))),
        ("trunc", measure(|p, x, _| drop(ok(trunc(p, x, 12))))),
        ("mul_trunc", measure(|p, x, _| drop(ok(mul_trunc(p, x, x, 12))))),
        ("select", measure(|p, x, b| drop(ok(select(p, b, x))))),
        ("drelu64", measure(|p, x, _| drop(ok(drelu(p, x, 64))))),
        ("drelu32", measure(|p, x, _| drop(ok(drelu(p, x, 32))))),
        ("relu64", measure(|p, x, _| drop(ok(relu(p, x, 64))))),
        ("relu32", measure(|p, x, _| drop(ok(relu(p, x, 32))))),
    ];
    println!("{:<10} {:>14} {:>7}", "protocol", "bytes/elem", "rounds");
    for (name, (b, r)) in &rows {
        println!("{name:<10} {b:>14.3} {r:>7}");
    }
    let get = |n: &str| rows.iter().find(|r| r.0 == n).unwrap().1;
    assert_eq!(get("mul"), (24.0, 1));
    assert_eq!(get("trunc"), (16.0, 1));
    assert_eq!(get("mul_trunc"), (24.0, 2));
    assert_eq!(get("select"), (32.0, 2));
    // DReLU on 64 bits: 64 input bits + 3 * (63 + 118) AND bits (the last one is the final reshare).
    assert_eq!(get("drelu64"), ((64.0 + 3.0 * 181.0) / 8.0, 8));
    // 32 bits: 32 + 3 * (31 + 55) AND bits.
    assert_eq!(get("drelu32"), ((32.0 + 3.0 * 86.0) / 8.0, 7));
    // ReLU = DReLU (last reshare replaced by a 2-bit swap) + selection.
    let (r64, rr64) = get("relu64");
    let (r32, rr32) = get("relu32");
    assert_eq!((r64, rr64), ((64.0 + 3.0 * 180.0 + 2.0) / 8.0 + 32.0, 9));
    assert_eq!((r32, rr32), ((32.0 + 3.0 * 85.0 + 2.0) / 8.0 + 32.0, 8));
    // Porthos sends ~536 B per ReLU; the target is well under half of that.
    assert!(r64 < 120.0 && r32 < 80.0);
}

/// Wall time of the big protocols on 2^20 elements (three parties on one
/// machine). Ignored by default: `cargo test -p cryptflow-mpc --test cost -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput_one_million() {
    let n = 1 << 20;
    let mut g = Prg::new(&Seed::from_bytes([5; 16]));
    let x: Vec<u64> = g.gen_u64(n).iter().map(|v| ((*v as i64) >> 34) as u64).collect();
    let sx = deal(&x, &mut g);
    for (name, bits) in [("relu64", 64u32), ("relu32", 32)] {
        let t = std::time::Instant::now();
        run3(|p| drop(ok(relu(p, &sx[p.id()], bits))));
        println!("{name}: {:.3} s for {n} elements", t.elapsed().as_secs_f64());
    }
    let t = std::time::Instant::now();
    run3(|p| drop(ok(mul_trunc(p, &sx[p.id()], &sx[p.id()], 12))));
    println!("mul_trunc: {:.3} s for {n} elements", t.elapsed().as_secs_f64());
}
