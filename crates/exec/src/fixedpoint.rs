//! Fixed-point encoding over Z_2^64 with one global scale (as in Athos).
//!
//! A real x is the ring element round(x * 2^s) (two's complement). After a
//! product of two encoded values (scale 2s) the result is truncated by s bits
//! with an arithmetic shift; secure truncation matches this within ±1 in the
//! last bit (see docs/PROTOCOLS.md).

/// Encodes a real at scale `s`; saturates at the ends of the i64 range.
pub fn encode(x: f64, s: u32) -> u64 {
    let v = (x * (1u64 << s) as f64).round();
    (v.clamp(i64::MIN as f64, i64::MAX as f64) as i64) as u64
}

pub fn decode(v: u64, s: u32) -> f64 {
    (v as i64) as f64 / (1u64 << s) as f64
}

/// Arithmetic shift right by `s`: floor(v / 2^s) on the signed value.
#[inline(always)]
pub fn trunc(v: u64, s: u32) -> u64 {
    ((v as i64) >> s) as u64
}

#[inline(always)]
pub fn relu(v: u64) -> u64 {
    if (v as i64) < 0 {
        0
    } else {
        v
    }
}

/// Bits needed for the magnitude of a signed ring element.
pub fn magnitude_bits(v: u64) -> u32 {
    let m = (v as i64).unsigned_abs();
    64 - m.leading_zeros()
}

/// A piecewise-linear function written as a sum of ReLUs,
/// f(x) = y0 + sum_i d_i * relu(x - b_i), which every backend can evaluate
/// with ReLUs, public products and one truncation.
#[derive(Clone, Debug)]
pub struct PiecewiseLinear {
    pub y0: f64,
    pub breaks: Vec<f64>,
    pub deltas: Vec<f64>,
}

impl PiecewiseLinear {
    /// Interpolates `f` at `n + 1` equally spaced knots on [lo, hi]; constant
    /// outside.
    pub fn interpolate(f: impl Fn(f64) -> f64, lo: f64, hi: f64, n: usize) -> Self {
        let h = (hi - lo) / n as f64;
        let knots: Vec<f64> = (0..=n).map(|i| lo + h * i as f64).collect();
        let ys: Vec<f64> = knots.iter().map(|&x| f(x)).collect();
        let slopes: Vec<f64> = (0..n).map(|i| (ys[i + 1] - ys[i]) / h).collect();
        let mut deltas = Vec::with_capacity(n + 1);
        let mut prev = 0.0;
        for &s in &slopes {
            deltas.push(s - prev);
            prev = s;
        }
        deltas.push(-prev);
        PiecewiseLinear {
            y0: ys[0],
            breaks: knots,
            deltas,
        }
    }

    pub fn eval(&self, x: f64) -> f64 {
        self.y0
            + self
                .breaks
                .iter()
                .zip(&self.deltas)
                .map(|(b, d)| d * (x - b).max(0.0))
                .sum::<f64>()
    }

    /// The fixed-point evaluation all backends share: the ReLUs are exact,
    /// the weighted sum is truncated once.
    pub fn eval_fixed(&self, x: u64, s: u32) -> u64 {
        let mut acc = 0u64;
        for (b, d) in self.breaks.iter().zip(&self.deltas) {
            let r = relu(x.wrapping_sub(encode(*b, s)));
            acc = acc.wrapping_add(encode(*d, s).wrapping_mul(r));
        }
        encode(self.y0, s).wrapping_add(trunc(acc, s))
    }
}

/// Sigmoid: 32 segments on [-8, 8]; max error 0.0035 (see tests).
pub fn sigmoid_table() -> PiecewiseLinear {
    PiecewiseLinear::interpolate(|x| 1.0 / (1.0 + (-x).exp()), -8.0, 8.0, 32)
}

/// Tanh: 32 segments on [-4, 4]; max error 0.0075 (see tests).
pub fn tanh_table() -> PiecewiseLinear {
    PiecewiseLinear::interpolate(f64::tanh, -4.0, 4.0, 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_trunc() {
        assert_eq!(decode(encode(-1.5, 12), 12), -1.5);
        assert_eq!(trunc(encode(-1.5, 12), 12), encode(-2.0, 0));
        assert_eq!(magnitude_bits(encode(-1.0, 4)), 5);
        assert_eq!(relu(encode(-0.25, 8)), 0);
    }

    fn max_err(t: &PiecewiseLinear, f: impl Fn(f64) -> f64, s: u32) -> (f64, f64) {
        let (mut ef, mut ex) = (0f64, 0f64);
        for i in -2000..=2000 {
            let x = i as f64 / 100.0;
            ef = ef.max((t.eval(x) - f(x)).abs());
            ex = ex.max((decode(t.eval_fixed(encode(x, s), s), s) - f(x)).abs());
        }
        (ef, ex)
    }

    #[test]
    fn documented_approximation_errors() {
        let (ef, ex) = max_err(&sigmoid_table(), |x| 1.0 / (1.0 + (-x).exp()), 12);
        assert!(ef < 0.0035 && ex < 0.0045, "sigmoid error {ef} / fixed {ex}");
        let (ef, ex) = max_err(&tanh_table(), f64::tanh, 12);
        assert!(ef < 0.0075 && ex < 0.0085, "tanh error {ef} / fixed {ex}");
    }
}
