//! Automatic choice of the global fixed-point scale (`--scale auto`).
//!
//! Like Athos, we sweep candidate scales over calibration inputs and compare
//! the fixed-point backend with the float backend. The rule, in order:
//! 1. discard scales whose largest pre-truncation product leaves fewer than
//!    [`MIN_HEADROOM_BITS`] bits of headroom in the 64-bit ring (overflow and
//!    secure-truncation failures become likely);
//! 2. keep the scales with the highest top-1 agreement with float;
//! 3. among those, take the smallest mean absolute output error;
//! 4. ties go to the smaller scale (more headroom).

use crate::executor::run_batched;
use crate::{FixedBackend, FloatBackend, Result};
use cryptflow_ir::{Graph, Tensor, Weights};

/// Bits that must stay free above the largest product. The secure
/// truncation (docs/PROTOCOLS.md) fails with probability |v| / 2^64 for a
/// product v, so 30 free bits (|v| < 2^33) keep that under 2^-31 even for the
/// largest product seen in calibration; typical products are far smaller.
pub const MIN_HEADROOM_BITS: u32 = 30;

#[derive(Clone, Debug)]
pub struct ScaleReport {
    pub scale: u32,
    pub top1_agreement: f64,
    pub mean_abs_error: f64,
    pub max_abs_error: f64,
    /// Largest magnitude of a product before truncation, in bits.
    pub product_bits: u32,
    /// Largest magnitude entering a comparison, in bits.
    pub compare_bits: u32,
    /// 63 - product_bits.
    pub headroom_bits: i64,
    pub accepted: bool,
}

/// Deterministic calibration inputs when the user gives none: `n` samples
/// uniform in [-1, 1) in the model's input shape.
pub fn generated_inputs(input_shape: &[usize], n: usize) -> Tensor<f32> {
    let mut shape = input_shape.to_vec();
    shape[0] = n;
    let len: usize = shape.iter().product();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let data = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    Tensor { shape, data }
}

/// Index of the largest value in each row of an [N, ...] output.
pub fn argmax_rows(t: &Tensor<f32>) -> Vec<usize> {
    let per = t.data.len() / t.shape[0].max(1);
    t.data
        .chunks(per.max(1))
        .map(|r| {
            r.iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) },
                )
                .0
        })
        .collect()
}

/// Evaluates one scale.
pub fn evaluate_scale(
    graph: &Graph,
    weights: &Weights,
    calib: &Tensor<f32>,
    float_out: &Tensor<f32>,
    scale: u32,
) -> Result<ScaleReport> {
    let mut fixed = FixedBackend::new(scale);
    let y = run_batched(&mut fixed, graph, Some(weights), calib, &mut |_| {})?;
    let (a, b) = (argmax_rows(&y), argmax_rows(float_out));
    let agree = a.iter().zip(&b).filter(|(x, y)| x == y).count() as f64 / a.len().max(1) as f64;
    let errs: Vec<f64> = y
        .data
        .iter()
        .zip(&float_out.data)
        .map(|(p, q)| (p - q).abs() as f64)
        .collect();
    let mean = errs.iter().sum::<f64>() / errs.len().max(1) as f64;
    let max = errs.iter().cloned().fold(0.0, f64::max);
    let headroom = 63 - fixed.seen.product_bits as i64;
    Ok(ScaleReport {
        scale,
        top1_agreement: agree,
        mean_abs_error: if mean.is_finite() { mean } else { f64::INFINITY },
        max_abs_error: max,
        product_bits: fixed.seen.product_bits,
        compare_bits: fixed.seen.compare_bits,
        headroom_bits: headroom,
        accepted: headroom >= MIN_HEADROOM_BITS as i64,
    })
}

/// Sweeps `candidates` and picks a scale by the rule above.
pub fn choose_scale(
    graph: &Graph,
    weights: &Weights,
    calib: &Tensor<f32>,
    candidates: impl IntoIterator<Item = u32>,
) -> Result<(u32, Vec<ScaleReport>)> {
    let float_out = run_batched(&mut FloatBackend::default(), graph, Some(weights), calib, &mut |_| {})?;
    let mut reports = Vec::new();
    for s in candidates {
        reports.push(evaluate_scale(graph, weights, calib, &float_out, s)?);
    }
    let best = reports
        .iter()
        .filter(|r| r.accepted)
        .min_by(|a, b| {
            b.top1_agreement
                .total_cmp(&a.top1_agreement)
                .then(a.mean_abs_error.total_cmp(&b.mean_abs_error))
                .then(a.scale.cmp(&b.scale))
        })
        .map(|r| r.scale)
        .ok_or_else(|| {
            crate::Error::Backend(format!(
                "no fixed-point scale keeps {MIN_HEADROOM_BITS} bits of headroom: the model's values are too large for a 64-bit ring"
            ))
        })?;
    Ok((best, reports))
}
