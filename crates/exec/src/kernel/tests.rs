use super::*;
use crate::ring;
use crate::testdata::Xorshift;
use cryptflow_ir::layout::ConvGeom;
use cryptflow_ir::ConvParams;
use proptest::prelude::*;

/// `len` pseudo-random ring elements from `seed`, about one in `1 << special`
/// replaced by an edge value (u64::MAX, 0, 1, 2^63, small negatives).
/// Generated here rather than element by element by proptest, which is slow
/// for tens of thousands of elements.
fn ring_values(len: usize, seed: u64, special: u32) -> Vec<u64> {
    const EDGE: [u64; 6] = [u64::MAX, 0, 1, 1 << 63, u64::MAX - 1, u64::MAX - 15];
    let mut g = Xorshift::new(seed | 1);
    (0..len)
        .map(|_| {
            let s = g.next_u64();
            if (s >> 32) & ((1 << special) - 1) == 0 {
                EDGE[(s >> 56) as usize % EDGE.len()]
            } else {
                s
            }
        })
        .collect()
}

type Case = (usize, usize, usize, Vec<u64>, Vec<u64>);

/// (m, k, n, A, B) with sizes around the micro-tiles and the KC block edge.
fn u64_case(max_m: usize, max_k: usize, max_n: usize) -> impl Strategy<Value = Case> {
    (1..=max_m, 0..=max_k, 1..=max_n, any::<u64>(), 0u32..4).prop_map(|(m, k, n, seed, special)| {
        let a = ring_values(m * k, seed, special);
        let b = ring_values(k * n, seed.rotate_left(17) ^ 0x5555, special);
        (m, k, n, a, b)
    })
}

fn check_all_paths(m: usize, k: usize, n: usize, a: &[u64], b: &[u64]) {
    let want = gemm_u64_naive(m, k, n, a, b);
    for path in [Path::Simd, Path::Portable, Path::Auto] {
        assert_eq!(gemm_u64_with(path, m, k, n, a, b), want, "{path:?} m={m} k={k} n={n}");
    }
    assert_eq!(ring::gemm(m, k, n, a, b), want, "ring::gemm m={m} k={k} n={n}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn u64_simd_matches_naive((m, k, n, a, b) in u64_case(40, 300, 70)) {
        prop_assert_eq!(gemm_u64_with(Path::Simd, m, k, n, &a, &b), gemm_u64_naive(m, k, n, &a, &b));
    }

    #[test]
    fn u64_portable_matches_naive((m, k, n, a, b) in u64_case(40, 300, 70)) {
        prop_assert_eq!(gemm_u64_with(Path::Portable, m, k, n, &a, &b), gemm_u64_naive(m, k, n, &a, &b));
    }

    #[test]
    fn u64_ring_gemm_matches_naive((m, k, n, a, b) in u64_case(12, 40, 40)) {
        prop_assert_eq!(ring::gemm(m, k, n, &a, &b), gemm_u64_naive(m, k, n, &a, &b));
    }

    #[test]
    fn f32_matches_f64_reference(
        (m, k, n, a, b) in (1usize..=70, 0usize..=300, 1usize..=70).prop_flat_map(|(m, k, n)| (
            Just(m), Just(k), Just(n),
            prop::collection::vec(-1000.0f32..1000.0, m * k),
            prop::collection::vec(-1000.0f32..1000.0, k * n),
        ))
    ) {
        let c = ring::gemm(m, k, n, &a, &b);
        for i in 0..m {
            for j in 0..n {
                let (mut exact, mut mag) = (0f64, 0f64);
                for p in 0..k {
                    let t = a[i * k + p] as f64 * b[p * n + j] as f64;
                    exact += t;
                    mag += t.abs();
                }
                let got = c[i * n + j] as f64;
                prop_assert!((got - exact).abs() <= 1e-4 * mag.max(f64::MIN_POSITIVE), "({i},{j}): {got} vs {exact}");
            }
        }
    }
}

#[test]
fn u64_empty_and_degenerate_shapes() {
    for (m, k, n) in [(0, 0, 0), (0, 5, 3), (3, 5, 0), (3, 0, 4), (1, 1, 1), (1, 0, 1)] {
        let a: Vec<u64> = (0..m * k)
            .map(|i| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let b: Vec<u64> = (0..k * n).map(|i| u64::MAX - i as u64).collect();
        check_all_paths(m, k, n, &a, &b);
    }
    assert_eq!(gemm_u64(1, 1, 1, &[u64::MAX], &[u64::MAX]), vec![1]);
}

/// Shapes past every blocking constant (MC, KC, NC) and big enough to run in
/// parallel, including the few-rows and one-column cases.
#[test]
fn u64_past_block_edges_and_parallel() {
    let mut g = Xorshift::new(0x2545_f491_4f6c_dd1d);
    let mut rnd = |len: usize| g.words(len);
    for (m, k, n) in [
        (MC + 9, KC + 3, 37),
        (11, 2 * KC + 1, NC + 17),
        (2, 700, 1500),
        (3, 300, 2 * NC + 5),
        (300, 200, 1),
        (1, 5000, 3),
    ] {
        let (a, b) = (rnd(m * k), rnd(k * n));
        check_all_paths(m, k, n, &a, &b);
    }
}

#[test]
fn u64_conv_matches_im2col_and_naive_gemm() {
    let p = ConvParams {
        strides: [1, 2],
        dilations: [1, 1],
        pads: [1, 1, 1, 0],
        groups: 2,
    };
    let (n, c, h, w, o, kh, kw) = (3, 6, 9, 8, 10, 3, 3);
    let g = ConvGeom::new(&[n, c, h, w], &[o, c / 2, kh, kw], &p).expect("geometry");
    let x: Vec<u64> = (0..n * c * h * w)
        .map(|i| (i as u64).wrapping_mul(0xdead_beef_cafe_f00d))
        .collect();
    let k: Vec<u64> = (0..o * c / 2 * kh * kw).map(|i| u64::MAX - 3 * i as u64).collect();
    let y = ring::conv(&g, &x, &k);
    let (og, kr, pix) = (o / 2, g.k_rows(), g.out_pixels());
    let mut cols = Vec::new();
    for ni in 0..n {
        for grp in 0..2 {
            g.im2col(&x, ni, grp, 0, &mut cols);
            let want = gemm_u64_naive(og, kr, pix, &k[grp * og * kr..(grp + 1) * og * kr], &cols);
            let base = (ni * o + grp * og) * pix;
            assert_eq!(&y[base..base + og * pix], &want[..], "image {ni} group {grp}");
        }
    }
}

#[test]
fn auto_path_is_resolved() {
    let p = auto_path();
    assert!(p == Path::Simd || p == Path::Portable);
    if !simd_available() {
        assert_eq!(p, Path::Portable);
    }
}

/// `CRYPTFLOW_NO_SIMD=1` makes [`Path::Auto`] portable: checked in a child
/// run of this test binary with the variable set (it is read once per process).
#[test]
fn no_simd_env_forces_portable() {
    const NAME: &str = "kernel::tests::no_simd_env_forces_portable";
    if std::env::var_os("CRYPTFLOW_NO_SIMD").is_some() {
        assert_eq!(auto_path(), Path::Portable);
        let (a, b) = (ring_values(37 * 45, 7, 2), ring_values(45 * 29, 8, 2));
        assert_eq!(gemm_u64(37, 45, 29, &a, &b), gemm_u64_naive(37, 45, 29, &a, &b));
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let out = std::process::Command::new(exe)
        .args(["--exact", NAME, "--test-threads", "1"])
        .env("CRYPTFLOW_NO_SIMD", "1")
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("1 passed"), "{stdout}");
}

#[test]
fn carry_less_products_agree_with_the_portable_loop() {
    let mut g = Xorshift::new(0x2545_f491_4f6c_dd1d);
    let mut r = || g.next_u64();
    // (x + 1)(x + 1) = x^2 + 1; x^63 * x = x^64
    assert_eq!(super::clmul_portable(3, 3), (5, 0));
    assert_eq!(super::clmul_portable(1 << 63, 2), (0, 1));
    let a: Vec<u64> = (0..1000).map(|_| r()).collect();
    let b: Vec<u64> = (0..1000).map(|_| r()).collect();
    let want = a.iter().zip(&b).fold((0, 0), |(l, h), (&x, &y)| {
        let (pl, ph) = super::clmul_portable(x, y);
        (l ^ pl, h ^ ph)
    });
    assert_eq!(super::clmul_xor_sum(&a, &b), want);
    // bilinear over GF(2): (a + a') b = ab + a'b
    let (x, x2, y) = (r(), r(), r());
    let (l1, h1) = super::clmul_portable(x ^ x2, y);
    let (l2, h2) = super::clmul_portable(x, y);
    let (l3, h3) = super::clmul_portable(x2, y);
    assert_eq!((l1, h1), (l2 ^ l3, h2 ^ h3));
    // element-wise and by-scalar products match the portable one
    let (mut lo, mut hi) = (vec![0u64; 1000], vec![0u64; 1000]);
    super::clmul_pairs(&a, &b, &mut lo, &mut hi);
    for j in 0..1000 {
        assert_eq!((lo[j], hi[j]), super::clmul_portable(a[j], b[j]));
    }
    super::clmul_scalar(&a, b[7], &mut lo, &mut hi);
    for j in 0..1000 {
        assert_eq!((lo[j], hi[j]), super::clmul_portable(a[j], b[7]));
    }
}

/// `len` u128 ring elements: pseudo-random, about one in `1 << special`
/// replaced by an edge value (all ones, 0, 1, one word all ones).
fn wide_values(len: usize, seed: u64, special: u32) -> Vec<u128> {
    const EDGE: [u128; 6] = [u128::MAX, 0, 1, u64::MAX as u128, u128::MAX << 64, u128::MAX - 1];
    let (lo, hi) = (ring_values(len, seed, 40), ring_values(len, seed ^ 0x1234_5678, 40));
    lo.iter()
        .zip(&hi)
        .map(|(&l, &h)| {
            if special > 0 && (l ^ h) >> 58 & ((1 << special) - 1) == 0 {
                EDGE[(h % 6) as usize]
            } else {
                (h as u128) << 64 | l as u128
            }
        })
        .collect()
}

fn gemm_u128_naive(m: usize, k: usize, n: usize, a: &[u128], b: &[u128]) -> Vec<u128> {
    let mut c = vec![0u128; m * n];
    for i in 0..m {
        for p in 0..k {
            for j in 0..n {
                c[i * n + j] = c[i * n + j].wrapping_add(a[i * k + p].wrapping_mul(b[p * n + j]));
            }
        }
    }
    c
}

/// Every u128 kernel (those the CPU lacks fall back) against `want`.
fn check_u128(m: usize, k: usize, n: usize, a: &[u128], b: &[u128], want: &[u128]) {
    for kern in [
        U128Kernel::Auto,
        U128Kernel::Ifma,
        U128Kernel::Mul32,
        U128Kernel::Generic,
    ] {
        let mut c = vec![7u128; m * n];
        gemm_u128_with(kern, Width::Full, m, k, n, a, b, &mut c);
        assert!(c == want, "{kern:?} m={m} k={k} n={n}");
        // mod 2^104: the low bits of the same product, the rest zero
        let mut c = vec![7u128; m * n];
        gemm_u128_with(kern, Width::Low, m, k, n, a, b, &mut c);
        let low = |v: &u128| v & ((1 << LOW_BITS) - 1);
        assert!(
            c.iter().eq(want.iter().map(low).collect::<Vec<_>>().iter()),
            "{kern:?} low m={m} k={k} n={n}"
        );
    }
    let mut c = vec![7u128; m * n];
    ring::gemm_u128_into(m, k, n, a, b, &mut c);
    assert!(c == want, "ring::gemm_u128_into m={m} k={k} n={n}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn u128_kernels_match_naive(m in 1usize..=20, k in 0usize..=600, n in 1usize..=40, seed in any::<u64>(), special in 0u32..4) {
        let (a, b) = (wide_values(m * k, seed, special), wide_values(k * n, !seed, special));
        check_u128(m, k, n, &a, &b, &gemm_u128_naive(m, k, n, &a, &b));
    }
}

/// Edge shapes: k off the KC block, n below a tile, one to three rows (the
/// row tiles), past MC and in parallel, empty, and k past 2^16, where the
/// u64-limb GEMMs this replaced could not keep their sums exact.
#[test]
fn u128_edge_shapes() {
    for (m, k, n) in [
        (0, 5, 3),
        (3, 0, 4),
        (1, 1, 1),
        (1, 2048, 100),
        (2, 300, 70),
        (3, 257, 33),
        (4, 513, 9),
        (5, 255, 1),
        (9, 1000, 15),
        (MC + 9, 259, 17),
        (64, 147, 200),
        (17, 40, 1100),
        (2, (1 << 16) - 1, 3),
        (5, (1 << 16) + 3, 2),
    ] {
        let (a, b) = (wide_values(m * k, 11, 3), wide_values(k * n, 12, 3));
        let mut want = vec![0u128; m * n];
        ring::gemm_generic_into(m, k, n, &a, &b, &mut want);
        check_u128(m, k, n, &a, &b, &want);
    }
}

/// All-ones operands make every limb (and so every class sum) as large as
/// it gets; one word all ones isolates the cross terms.
#[test]
fn u128_all_ones_operands() {
    for (m, k, n) in [(8, 1024, 24), (1, 777, 40), (6, 70_000, 2)] {
        for (x, y) in [
            (u128::MAX, u128::MAX),
            (u64::MAX as u128, u64::MAX as u128),
            (u128::MAX << 64, u64::MAX as u128),
            (u128::MAX, (1u128 << 104) - 1),
        ] {
            let (a, b) = (vec![x; m * k], vec![y; k * n]);
            // Every entry is k * x * y.
            let want = vec![(k as u128).wrapping_mul(x).wrapping_mul(y); m * n];
            check_u128(m, k, n, &a, &b, &want);
        }
    }
}

/// The check's weighted sums: the IFMA kernel (where the CPU has it) and the
/// plain loop equal the naive sum mod 2^128, at lengths around the eight-term
/// step and past the kernel's flush interval, with all-ones operands.
#[test]
fn weighted_u128_dots_are_exact() {
    let mut g = Xorshift::new(77);
    for n in (0..20).chain([63, 64, 65, 8191, 8192, 8200, 3 * 8192 + 5]) {
        let x: Vec<u128> = (0..n)
            .map(|i| if i % 7 == 0 { u128::MAX } else { g.next_u128() })
            .collect();
        let w: Vec<Vec<u64>> = (0..3)
            .map(|t| {
                (0..n + t)
                    .map(|i| if i % 5 == t { u64::MAX } else { g.next_u64() })
                    .collect()
            })
            .collect();
        let want: Vec<u128> = w
            .iter()
            .map(|w| {
                x.iter()
                    .zip(w)
                    .fold(0u128, |a, (&p, &q)| a.wrapping_add(p.wrapping_mul(q as u128)))
            })
            .collect();
        let ws = [&w[0][..], &w[1][..], &w[2][..]];
        for simd in [false, true] {
            assert_eq!(dot_u128_u64_with(simd, &x, ws).to_vec(), want, "n {n}, simd {simd}");
            assert_eq!(
                dot_u128_u64_with(simd, &x, [ws[1]])[0],
                want[1],
                "n {n}, simd {simd}, one"
            );
        }
    }
}
