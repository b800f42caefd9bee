//! The cheat matrix: for every step x deviation x cheating party, both honest
//! parties end with `CheatingDetected` and the data owner gets no value.
#![allow(clippy::unwrap_used)]

use cryptflow_aramis::testing::run3;
use cryptflow_aramis::{Aramis, AramisError, AuthShare, Cheat, Deviation, Gemm, Result, Step};

const DATA_OWNER: usize = 1;

/// Exercises every public step once, in order: input (P0's weights, P1's
/// data), multiplication, bilinear map, opening, output to the data owner.
fn program(a: &mut Aramis) -> Result<Option<Vec<u64>>> {
    let me = a.id();
    let w = [3u64, u64::MAX, 1 << 40, 7, 11, 13];
    let x = [5u64, 2, 1 << 33, 9, 1, 0];
    let sw = a.input(0, (me == 0).then_some(&w[..]), 6)?;
    let sx = a.input(1, (me == 1).then_some(&x[..]), 6)?;
    let p = a.mul(&sx, &sw)?;
    // (2 x 3) · (3 x 2)
    let y = a.mul_bilinear(&sw, &sx, Gemm { m: 2, k: 3, n: 2 })?;
    let r = a.input(2, (me == 2).then_some(&[99u64; 4][..]), 4)?;
    let masked = a.open_all(&y.add(&r))?;
    assert_eq!(masked.len(), 4);
    // the fixed-point steps, on small values
    let s = a.input(1, (me == 1).then_some(&SMALL[..]), 6)?;
    let sq = a.mul(&s, &s)?;
    let t = a.trunc(&sq, 4)?;
    let relu = a.relu(&s, 24)?;
    let max = a.max_pairwise(&s, &s.neg(), 24)?;
    let exact = p.slice(0..4).add(&y).add(&relu.slice(0..4)).add(&max.slice(0..4));
    a.output_to(DATA_OWNER, &AuthShare::concat(&[&exact, &t]))
}

const SMALL: [u64; 6] = [5, 3u64.wrapping_neg(), 1000, 70000u64.wrapping_neg(), 0, 123456];

fn expected() -> Vec<u64> {
    let w = [3u64, u64::MAX, 1 << 40, 7, 11, 13];
    let x = [5u64, 2, 1 << 33, 9, 1, 0];
    let y: Vec<u64> = (0..2)
        .flat_map(|i| {
            (0..2).map(move |j| (0..3).fold(0u64, |s, l| s.wrapping_add(w[i * 3 + l].wrapping_mul(x[l * 2 + j]))))
        })
        .collect();
    (0..4)
        .map(|j| {
            let sj = SMALL[j] as i64;
            x[j].wrapping_mul(w[j])
                .wrapping_add(y[j])
                .wrapping_add(sj.max(0) as u64)
                .wrapping_add(sj.unsigned_abs())
        })
        .collect()
}

#[test]
fn honest_program_outputs_the_right_value() {
    let r = run3(Some(1), [None; 3], |a| (program(a).unwrap(), a.released()));
    let got = r[1].0.clone().unwrap();
    assert_eq!(got[..4], expected()[..]);
    for (g, v) in got[4..].iter().zip(SMALL) {
        let want = ((v as i64) * (v as i64)) >> 4;
        assert!((-1..=2).contains(&(*g as i64 - want)), "trunc: {} vs {want}", *g as i64);
    }
    assert_eq!(r[0].0, None);
    assert_eq!((r[0].1, r[1].1, r[2].1), (1, 0, 1));
}

/// Runs one cell of the matrix; returns what went wrong, or the checks the honest parties report.
fn cell(cheater: usize, cheat: Cheat, seed: u64) -> std::result::Result<Vec<&'static str>, String> {
    let mut seen = Vec::new();
    let mut cheats = [None; 3];
    cheats[cheater] = Some(cheat);
    let res = run3(Some(seed), cheats, |a| (program(a), a.released()));
    for (id, (r, released)) in res.iter().enumerate() {
        if id == cheater {
            if id == DATA_OWNER {
                if let Ok(Some(_)) = r {
                    return Err(format!("cheating data owner got a value: {cheat:?}"));
                }
            }
            continue;
        }
        match r {
            Err(AramisError::CheatingDetected { step }) => {
                let msg = r.as_ref().unwrap_err().to_string();
                assert!(
                    msg.contains("cheating detected in") && msg.contains("no output released"),
                    "{msg}"
                );
                seen.push(*step);
            }
            other => {
                return Err(format!(
                    "party {id} (honest) ended with {other:?} when party {cheater} ran {cheat:?}"
                ))
            }
        }
        if cheater == DATA_OWNER && *released != 0 {
            return Err(format!(
                "party {id} released output shares to the cheating data owner: {cheat:?}"
            ));
        }
    }
    Ok(seen)
}

/// Runs `program` with `cheat` at party `cheater` alone and returns the two
/// honest parties' errors; panics if one of them finished.
fn honest_errors<T: std::fmt::Debug + Send>(
    seed: u64,
    cheater: usize,
    cheat: Cheat,
    program: impl Fn(&mut Aramis) -> Result<T> + Sync,
) -> Vec<AramisError> {
    let mut cheats = [None; 3];
    cheats[cheater] = Some(cheat);
    run3(Some(seed), cheats, program)
        .into_iter()
        .enumerate()
        .filter(|(id, _)| *id != cheater)
        .map(|(id, r)| match r {
            Err(e) => e,
            Ok(v) => panic!("party {id} finished ({v:?}) with P{cheater} running {cheat:?}"),
        })
        .collect()
}

#[test]
fn every_deviation_in_every_step_by_every_party_is_detected() {
    let mut failures = Vec::new();
    let mut cells = 0u64;
    for step in Step::ALL {
        for e in [1u128, 1 << 63, (1 << 64) | 1] {
            for dev in Deviation::all(e) {
                if e != 1 && matches!(dev, Deviation::FlipBit | Deviation::InconsistentShare) {
                    continue;
                }
                for cheater in 0..3 {
                    cells += 1;
                    match cell(cheater, Cheat::new(step, dev), 1000 + cells) {
                        Err(f) => failures.push(f),
                        Ok(seen) => println!("{step:?} | {dev:?} | P{cheater} | {}", seen.join(" / ")),
                    }
                }
            }
        }
    }
    assert_eq!(cells as usize, Step::ALL.len() * 8 * 3);
    assert!(
        failures.is_empty(),
        "{} of {cells} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn an_aborted_session_stays_aborted() {
    let mut cheats = [None; 3];
    cheats[2] = Some(Cheat::new(Step::Mul, Deviation::AddError(1)));
    let res = run3(Some(5), cheats, |a| {
        let me = a.id();
        let x = a.input(0, (me == 0).then_some(&[1u64, 2][..]), 2).unwrap();
        let y = a.mul(&x, &x).unwrap();
        let first = a.verify();
        let again = a.mul(&y, &y);
        (first, again)
    });
    for r in &res[..2] {
        assert!(
            matches!(r.0, Err(AramisError::CheatingDetected { step: "MAC check" })),
            "{:?}",
            r.0
        );
        assert!(matches!(r.1, Err(AramisError::CheatingDetected { .. })));
    }
}

#[test]
fn open_to_lies_are_detected() {
    for cheater in [0usize, 2] {
        let errs = honest_errors(9, cheater, Cheat::new(Step::Open, Deviation::Lie(1)), |a| {
            let me = a.id();
            let x = a.input(0, (me == 0).then_some(&[1u64, 2][..]), 2)?;
            a.open_to(1, &x)?;
            a.verify()
        });
        for e in errs {
            assert!(matches!(e, AramisError::CheatingDetected { .. }), "{e:?}");
        }
    }
}

/// A bilinear layer's result is checked through Freivalds' weighting at
/// the checkpoint: errors anywhere in the 78 bits that matter, up to the
/// top one, and in more than one output element, are caught.
#[test]
fn wrong_bilinear_results_are_caught_by_the_layer_check() {
    for (i, e) in [1u128 << 77, 3 << 76, 1 << 70, (1 << 77) | 1].into_iter().enumerate() {
        for cheater in 0..3 {
            let cheat = Cheat::new(Step::Bilinear, Deviation::AddError(e));
            let errs = honest_errors(40 + i as u64, cheater, cheat, |a| {
                let me = a.id();
                let w: Vec<u64> = (0..12).map(|j| j * 7 + 1).collect();
                let sw = a.input(0, (me == 0).then_some(&w[..]), 12)?;
                let sx = a.input(1, (me == 1).then_some(&w[..]), 12)?;
                // (3 x 4) · (4 x 3), then a second, honest layer on its result
                let y = a.mul_bilinear(&sw, &sx, Gemm { m: 3, k: 4, n: 3 })?;
                let y2 = a.mul_bilinear(&y, &sx.slice(0..9), Gemm { m: 3, k: 3, n: 3 })?;
                a.output_to(DATA_OWNER, &y2)
            });
            for r in errs {
                assert!(
                    matches!(r, AramisError::CheatingDetected { step: "MAC check" }),
                    "error {e:#x} by P{cheater}: {r:?}"
                );
            }
        }
    }
}

/// A ReLU whose result keeps an additive MAC (`relu_lazy`), then a layer
/// on it: honest runs give the right product; a wrong select value, a
/// forged additive MAC share or a wrong layer result, by any party, aborts
/// (the layer's check reshares the additive MAC's contraction).
#[test]
fn a_layer_on_a_relu_result_with_an_additive_mac_is_checked() {
    let xs: Vec<u64> = (0..12i64).map(|j| (j * 5 - 30) as u64).collect();
    let w: Vec<u64> = (0..12).map(|j| j * 3 + 1).collect();
    let program = |a: &mut Aramis| -> Result<Option<Vec<u64>>> {
        let me = a.id();
        let sx = a.input(1, (me == 1).then_some(&xs[..]), 12)?;
        let sw = a.input(0, (me == 0).then_some(&w[..]), 12)?;
        let r = a.relu_lazy(&sx, 16)?;
        assert!(r.mac_is_additive());
        // (3 x 4) · (4 x 3)
        let y = a.mul_bilinear(&r, &sw, Gemm { m: 3, k: 4, n: 3 })?;
        a.output_to(DATA_OWNER, &y)
    };
    let relu: Vec<i64> = xs.iter().map(|&v| (v as i64).max(0)).collect();
    let want: Vec<u64> = (0..9)
        .map(|o| {
            (0..4)
                .map(|k| relu[(o / 3) * 4 + k] * w[k * 3 + o % 3] as i64)
                .sum::<i64>() as u64
        })
        .collect();
    let honest = run3(Some(70), [None; 3], program);
    assert_eq!(honest[DATA_OWNER].as_ref().unwrap().as_deref(), Some(&want[..]));
    let cheats = [
        Cheat::new(Step::Select, Deviation::AddError(1 << 77)),
        Cheat::new(Step::Select, Deviation::AddError(1)),
        Cheat::new(Step::Select, Deviation::Lie(1)),
        Cheat::new(Step::Bilinear, Deviation::AddError(1 << 77)),
        Cheat::new(Step::Bilinear, Deviation::Lie(1)),
    ];
    for (i, c) in cheats.into_iter().enumerate() {
        for cheater in 0..3 {
            for r in honest_errors(71 + i as u64, cheater, c, program) {
                assert!(
                    matches!(r, AramisError::CheatingDetected { .. }),
                    "{c:?} by P{cheater}: {r:?}"
                );
            }
        }
    }
}

/// Layers with their truncation in one opening (`bilinear_trunc_lazy`, the
/// backend's Conv/MatMul), opened through one party per layer (the king,
/// layer k: party k mod 3): a king that sends its two neighbours different
/// sums is caught by their digest comparison at the checkpoint, whichever
/// copy it alters; a wrong share sent to the king, and every other
/// deviation in the layers or the truncations, aborts too (2 steps x 5
/// deviations x 3 parties). Three layers, so that every party is king once;
/// and again with each layer's check folded into the check's sums right
/// after it (`checkpoint_if_over(0)`), which the output's check then tests.
#[test]
fn a_fused_layer_opening_is_checked() {
    for fold in [false, true] {
        fused_layer_opening_is_checked(fold);
    }
}

fn fused_layer_opening_is_checked(fold: bool) {
    const LAYERS: usize = 3;
    let program = |a: &mut Aramis| -> Result<Option<Vec<u64>>> {
        let me = a.id();
        let x: Vec<u64> = (0..12u64).map(|i| i.wrapping_mul(37).wrapping_sub(200)).collect();
        let w: Vec<u64> = (0..8u64).map(|i| i * 3 + 1).collect();
        let sx = a.input(1, (me == 1).then_some(&x[..]), 12)?;
        let sw = a.input_values(0, (me == 0).then_some(&w[..]), 8)?;
        let mut ys = Vec::new();
        for _ in 0..LAYERS {
            let y = a.bilinear_trunc_lazy(&sx, &sw, Some(0), Gemm { m: 3, k: 4, n: 2 }, 2)?;
            ys.push(a.replicate_mac(&y)?);
            if fold {
                a.checkpoint_if_over(0)?;
            }
        }
        let refs: Vec<&AuthShare> = ys.iter().collect();
        a.output_to(DATA_OWNER, &AuthShare::concat(&refs))
    };
    // honest: floor(x w / 4) up to the truncation's last-bit error, each layer
    let res = run3(Some(21), [None; 3], program);
    let got = res[1].as_ref().unwrap().clone().unwrap();
    assert_eq!(got.len(), 6 * LAYERS);
    let (x, w): (Vec<i64>, Vec<i64>) = (
        (0..12i64).map(|i| i * 37 - 200).collect(),
        (0..8i64).map(|i| i * 3 + 1).collect(),
    );
    for (l, got) in got.chunks(6).enumerate() {
        for i in 0..3 {
            for j in 0..2 {
                let z: i64 = (0..4).map(|k| x[i * 4 + k] * w[k * 2 + j]).sum();
                let e = got[i * 2 + j] as i64 - z.div_euclid(4);
                assert!(
                    (-1..=2).contains(&e),
                    "layer {l} ({i}, {j}): {} vs {}",
                    got[i * 2 + j] as i64,
                    z >> 2
                );
            }
        }
    }
    // Where a FlipBit fires: the first layer in which the cheater sends a
    // message of the step (the king sends its sum to `next` in `Bilinear`
    // and to `prev` in `Trunc`; the others send their share to the king,
    // in `Bilinear` if it is their `next`, else in `Trunc`). It alters a
    // copy of the sum if the cheater is that layer's king.
    let flips_a_copy = |cheater: usize, step: Step| {
        (0..LAYERS)
            .find(|&l| l % 3 == cheater || ((l % 3 == (cheater + 1) % 3) == (step == Step::Bilinear)))
            .is_some_and(|l| l % 3 == cheater)
    };
    // (an error that vanishes mod 2^78 on the wire still reaches it)
    let devs: Vec<Deviation> = Deviation::all(1 << 63 | 1)
        .into_iter()
        .chain([Deviation::AddError(1 << 100)])
        .collect();
    for cheater in 0..3 {
        for step in [Step::Bilinear, Step::Trunc] {
            for &dev in &devs {
                let errs: Vec<String> = honest_errors(22, cheater, Cheat::new(step, dev), program)
                    .iter()
                    .map(|e| e.to_string())
                    .collect();
                for e in &errs {
                    assert!(e.contains("cheating detected"), "P{cheater} {step:?} {dev:?}: {e}");
                }
                if dev == Deviation::FlipBit && flips_a_copy(cheater, step) {
                    // the receiver of the true copy holds the digest of the
                    // altered one (from the other receiver): it names the
                    // comparison, its first check at the checkpoint
                    assert!(
                        errs.iter().any(|e| e.contains("opening (redundant")),
                        "P{cheater} {step:?}: {errs:?}"
                    );
                }
            }
        }
    }
}

/// Nothing unchecked reaches a truncation's masked opening, which hides a
/// value only while it is in range: a cheater's error on a wire (an
/// inconsistent input, a wrong daBit product behind a ReLU) would show
/// through the mask once a later product multiplies it by a secret. So a
/// layer checks everything before it first, and the honest parties abort
/// in the layer call itself, before its opening; the program never reaches
/// an output here.
#[test]
fn nothing_unchecked_reaches_a_truncation_opening() {
    let program = |a: &mut Aramis| -> Result<()> {
        let me = a.id();
        let x: Vec<u64> = (0..12u64).map(|i| i.wrapping_mul(37).wrapping_sub(200)).collect();
        let w: Vec<u64> = (0..8u64).map(|i| i * 3 + 1).collect();
        let sx = a.input(1, (me == 1).then_some(&x[..]), 12)?;
        let r = a.relu_lazy(&sx, 24)?;
        let sw = a.input_values(0, (me == 0).then_some(&w[..]), 8)?;
        a.bilinear_trunc_lazy(&r, &sw, Some(0), Gemm { m: 3, k: 4, n: 2 }, 2)?;
        Ok(())
    };
    for r in run3(Some(31), [None; 3], program) {
        assert!(r.is_ok(), "{r:?}");
    }
    let cheats = [
        (1, Cheat::new(Step::Input, Deviation::InconsistentShare)),
        (0, Cheat::new(Step::BitGen, Deviation::AddError(1 << 60))),
        (2, Cheat::new(Step::Select, Deviation::AddError(1 << 60))),
    ];
    for (cheater, cheat) in cheats {
        for e in honest_errors(32, cheater, cheat, program) {
            assert!(
                matches!(e, AramisError::CheatingDetected { .. }),
                "P{cheater} {cheat:?}: {e}"
            );
        }
    }
}
