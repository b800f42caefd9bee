//! Deterministic pseudo-random words for tests and benchmarks (xorshift64,
//! Marsaglia 2003): reproducible inputs of every crate's tests and benches,
//! never randomness for the protocols.

/// A xorshift64 stream (shifts 13, 7, 17).
#[derive(Clone, Debug)]
pub struct Xorshift(u64);

impl Xorshift {
    /// The stream from `seed`; a zero seed stays zero (callers pass `seed | 1`
    /// where the seed may be 0).
    pub fn new(seed: u64) -> Xorshift {
        Xorshift(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Two words, the first as the high half.
    pub fn next_u128(&mut self) -> u128 {
        let hi = self.next_u64();
        (hi as u128) << 64 | self.next_u64() as u128
    }

    /// The next `len` words.
    pub fn words(&mut self, len: usize) -> Vec<u64> {
        (0..len).map(|_| self.next_u64()).collect()
    }
}

/// `len` words of the stream from `seed | 1`.
pub fn words(len: usize, seed: u64) -> Vec<u64> {
    Xorshift::new(seed | 1).words(len)
}
