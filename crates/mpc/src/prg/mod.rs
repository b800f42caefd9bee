//! Pseudo-random generator: AES-128 in counter mode.
//!
//! Every piece of correlated randomness in the protocols (zero sharings,
//! masks known to a pair of parties, masks known to all three) comes from a
//! [`Prg`] whose 16-byte seed is held by exactly the parties meant to know the
//! stream. Two parties holding the same seed get the same stream as long as
//! they draw the same amounts in the same order; every protocol in this crate
//! keeps that invariant (see `party`).
//!
//! Construction: block `j` of the stream is `AES_k(j)` with `j` a 128-bit
//! little-endian counter starting at 0; the output words are the blocks'
//! bytes read as little-endian `u64`s. This is a PRF in counter mode, secure as
//! long as AES-128 is a PRP and fewer than 2^64 blocks are drawn per key.
//! Where the CPU has VAES and AVX-512 the blocks come from [`vaes`] (four
//! blocks per instruction); elsewhere the `aes` crate, which picks AES-NI at
//! run time when the CPU has it. Both give the same stream.
//!
//! Seeds and buffered output are wiped on drop ([`zeroize`]); the `aes`
//! crate's `zeroize` feature and [`vaes`]'s `Drop` wipe the expanded round
//! keys.

#[cfg(target_arch = "x86_64")]
mod vaes;

use crate::error::{MpcError, Result};
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockEncrypt, KeyInit};
use aes::{Aes128, Block};
use zeroize::Zeroize;

/// Seed (AES-128 key) length in bytes.
pub const SEED_LEN: usize = 16;

/// A PRG seed. Wiped from memory on drop; `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Seed(pub(crate) [u8; SEED_LEN]);

impl Seed {
    /// A fresh seed from the operating system's CSPRNG.
    pub fn from_os() -> Result<Seed> {
        let mut s = [0u8; SEED_LEN];
        getrandom::getrandom(&mut s).map_err(|e| MpcError::Rng(e.to_string()))?;
        Ok(Seed(s))
    }

    /// A seed from explicit bytes (tests and deterministic replays).
    pub fn from_bytes(bytes: [u8; SEED_LEN]) -> Seed {
        Seed(bytes)
    }

    /// The raw bytes (to send the seed to the party that must share it).
    pub fn as_bytes(&self) -> &[u8; SEED_LEN] {
        &self.0
    }

    /// XOR of two seeds (combining contributions into a common seed).
    pub fn xor(&self, other: &Seed) -> Seed {
        let mut s = [0u8; SEED_LEN];
        for (o, (a, b)) in s.iter_mut().zip(self.0.iter().zip(other.0.iter())) {
            *o = a ^ b;
        }
        Seed(s)
    }
}

impl Drop for Seed {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(<redacted>)")
    }
}

/// Number of AES blocks encrypted per refill.
const BATCH_BLOCKS: usize = 64;
const BUF_WORDS: usize = BATCH_BLOCKS * 2;

/// The block cipher in counter mode: block `j` is `AES_k(j)`.
struct Keystream {
    cipher: Aes128,
    #[cfg(target_arch = "x86_64")]
    fast: Option<vaes::VaesKey>,
    counter: u128,
}

impl Keystream {
    /// Fills `out` with the next `out.len() / 2` blocks as pairs of words
    /// (a trailing odd word is left as is).
    fn blocks_u64(&mut self, out: &mut [u64]) {
        let n = out.len() / 2;
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = &self.fast {
            k.ctr_u64(self.counter, out);
            self.counter = self.counter.wrapping_add(n as u128);
            return;
        }
        let mut blocks = [Block::default(); BATCH_BLOCKS];
        for chunk in out[..2 * n].chunks_mut(2 * BATCH_BLOCKS) {
            let blocks = &mut blocks[..chunk.len() / 2];
            self.encrypt_next(blocks);
            for (pair, blk) in chunk.chunks_exact_mut(2).zip(blocks.iter()) {
                let v = u128::from_le_bytes((*blk).into());
                pair[0] = v as u64;
                pair[1] = (v >> 64) as u64;
            }
        }
        blocks.iter_mut().for_each(|b| b.as_mut_slice().zeroize());
    }

    /// Fills `out` with the next `out.len()` blocks.
    fn blocks_u128(&mut self, out: &mut [u128]) {
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = &self.fast {
            k.ctr_u128(self.counter, out);
            self.counter = self.counter.wrapping_add(out.len() as u128);
            return;
        }
        let mut blocks = [Block::default(); BATCH_BLOCKS];
        for chunk in out.chunks_mut(BATCH_BLOCKS) {
            let blocks = &mut blocks[..chunk.len()];
            self.encrypt_next(blocks);
            for (o, blk) in chunk.iter_mut().zip(blocks.iter()) {
                *o = u128::from_le_bytes((*blk).into());
            }
        }
        blocks.iter_mut().for_each(|b| b.as_mut_slice().zeroize());
    }

    /// The next `blocks.len()` counter blocks, encrypted by the `aes` crate.
    fn encrypt_next(&mut self, blocks: &mut [Block]) {
        for blk in blocks.iter_mut() {
            *blk = GenericArray::from(self.counter.to_le_bytes());
            self.counter = self.counter.wrapping_add(1);
        }
        self.cipher.encrypt_blocks(blocks);
    }
}

/// Words per chunk of `gen_u64` (half as many `u128`s per chunk of `gen_u128`).
const GEN_CHUNK: usize = 512;

/// `n` values of the stream that `fill` writes, chunk by chunk through
/// `buf` (wiped afterwards): a zeroed vector would be written twice, once
/// by the memset and once by the stream.
fn gen_chunked<T: Copy + zeroize::DefaultIsZeroes>(n: usize, buf: &mut [T], mut fill: impl FnMut(&mut [T])) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        let k = (n - v.len()).min(buf.len());
        fill(&mut buf[..k]);
        v.extend_from_slice(&buf[..k]);
    }
    buf.zeroize();
    v
}

/// AES-128-CTR stream of `u64` words.
pub struct Prg {
    ks: Keystream,
    buf: [u64; BUF_WORDS],
    pos: usize,
}

impl Prg {
    /// The stream keyed by `seed`.
    pub fn new(seed: &Seed) -> Prg {
        Prg {
            ks: Keystream {
                cipher: Aes128::new(GenericArray::from_slice(&seed.0)),
                #[cfg(target_arch = "x86_64")]
                fast: vaes::VaesKey::new(&seed.0),
                counter: 0,
            },
            buf: [0; BUF_WORDS],
            pos: BUF_WORDS,
        }
    }

    /// A stream keyed by a fresh seed from the OS CSPRNG (private randomness).
    pub fn from_os() -> Result<Prg> {
        Ok(Prg::new(&Seed::from_os()?))
    }

    fn refill(&mut self) {
        self.ks.blocks_u64(&mut self.buf);
        self.pos = 0;
    }

    /// The next pseudo-random word.
    pub fn next_u64(&mut self) -> u64 {
        if self.pos == BUF_WORDS {
            self.refill();
        }
        let w = self.buf[self.pos];
        self.pos += 1;
        w
    }

    /// Fills `out` with pseudo-random words. Whole blocks after the
    /// buffered words are encrypted straight into `out`.
    pub fn fill_u64(&mut self, out: &mut [u64]) {
        let mut rest = out;
        // words left in the buffer first
        let take = rest.len().min(BUF_WORDS - self.pos);
        let (head, tail) = rest.split_at_mut(take);
        head.copy_from_slice(&self.buf[self.pos..self.pos + take]);
        self.pos += take;
        rest = tail;
        if rest.is_empty() {
            return;
        }
        // (the buffer is empty now: the stream goes on at `counter`)
        let whole = rest.len() & !1;
        let (body, odd) = rest.split_at_mut(whole);
        self.ks.blocks_u64(body);
        if let Some(w) = odd.first_mut() {
            *w = self.next_u64();
        }
    }

    /// Fills `out` with the stream read as 128-bit little-endian words
    /// (word `2j` low, `2j + 1` high: the same values as two `fill_u64`
    /// words each). Whole blocks are encrypted straight into `out`,
    /// without the word buffer's copies.
    pub fn fill_u128(&mut self, out: &mut [u128]) {
        let mut rest = out;
        // words left in the buffer first (an odd count leaves one word
        // straddling: take it through `next_u64`)
        while !rest.is_empty() && self.pos != BUF_WORDS {
            let lo = self.next_u64() as u128;
            rest[0] = lo | (self.next_u64() as u128) << 64;
            rest = &mut rest[1..];
        }
        self.ks.blocks_u128(rest);
    }

    /// `n` pseudo-random 128-bit words (see [`Prg::fill_u128`]).
    pub fn gen_u128(&mut self, n: usize) -> Vec<u128> {
        gen_chunked(n, &mut [0u128; GEN_CHUNK / 2], |b| self.fill_u128(b))
    }

    /// `n` pseudo-random words.
    pub fn gen_u64(&mut self, n: usize) -> Vec<u64> {
        gen_chunked(n, &mut [0u64; GEN_CHUNK], |b| self.fill_u64(b))
    }

    /// `n` pseudo-random bits packed 64 per word, least significant bit
    /// first; bits at positions `>= n` of the last word are zero. Consumes
    /// `ceil(n / 64)` words of the stream.
    pub fn gen_bits(&mut self, n: usize) -> Vec<u64> {
        let mut v = self.gen_u64(n.div_ceil(64));
        mask_tail(&mut v, n);
        v
    }

    /// A uniformly random bit (consumes one word).
    pub fn next_bit(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    /// An independent sub-stream: keyed by the next 128 bits of this stream.
    /// Both holders of this stream get the same sub-stream if they fork at
    /// the same point.
    pub fn fork(&mut self) -> Prg {
        let a = self.next_u64();
        let b = self.next_u64();
        let mut s = [0u8; SEED_LEN];
        s[..8].copy_from_slice(&a.to_le_bytes());
        s[8..].copy_from_slice(&b.to_le_bytes());
        let seed = Seed(s);
        Prg::new(&seed)
    }

    /// A fresh seed drawn from this stream.
    pub fn gen_seed(&mut self) -> Seed {
        let mut s = [0u8; SEED_LEN];
        s[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        s[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        Seed(s)
    }
}

impl Drop for Prg {
    fn drop(&mut self) {
        self.buf.zeroize();
        self.ks.counter.zeroize();
    }
}

impl std::fmt::Debug for Prg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prg(<redacted>)")
    }
}

/// Clears the bits at positions `>= n` in a packed bit vector.
pub(crate) fn mask_tail(words: &mut [u64], n: usize) {
    let full = n / 64;
    let rem = n % 64;
    if rem != 0 {
        if let Some(w) = words.get_mut(full) {
            *w &= (1u64 << rem) - 1;
        }
        for w in words.iter_mut().skip(full + 1) {
            *w = 0;
        }
    } else {
        for w in words.iter_mut().skip(full) {
            *w = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gen_in_chunks_is_the_stream_fill_gives() {
        for n in [0usize, 1, 255, 256, 257, 511, 512, 513, 5000] {
            for skip in [0usize, 1, 2] {
                let (mut a, mut b) = (Prg::new(&Seed([7; 16])), Prg::new(&Seed([7; 16])));
                for _ in 0..skip {
                    assert_eq!(a.next_u64(), b.next_u64());
                }
                let mut want = vec![0u128; n];
                b.fill_u128(&mut want);
                assert_eq!(a.gen_u128(n), want, "u128, n {n}, skip {skip}");
                let mut want = vec![0u64; n];
                b.fill_u64(&mut want);
                assert_eq!(a.gen_u64(n), want, "u64, n {n}, skip {skip}");
                assert_eq!(a.next_u64(), b.next_u64(), "the streams go on together");
            }
        }
    }

    #[test]
    fn same_seed_same_stream_and_fill_matches_next() {
        let s = Seed::from_bytes([7; 16]);
        let mut a = Prg::new(&s);
        let mut b = Prg::new(&s);
        let v = a.gen_u64(1000);
        let w: Vec<u64> = (0..1000).map(|_| b.next_u64()).collect();
        assert_eq!(v, w);
        let mut c = Prg::new(&Seed::from_bytes([8; 16]));
        assert_ne!(c.gen_u64(4), v[..4].to_vec());
    }

    #[test]
    fn u128_words_are_pairs_of_u64_words_at_any_offset() {
        let s = Seed::from_bytes([9; 16]);
        for skip in [0usize, 1, 2, 127, 128, 129] {
            for n in [0usize, 1, 63, 64, 65, 300] {
                let (mut a, mut b) = (Prg::new(&s), Prg::new(&s));
                a.gen_u64(skip);
                b.gen_u64(skip);
                let got = a.gen_u128(n);
                let w = b.gen_u64(2 * n);
                let want: Vec<u128> = w.chunks(2).map(|c| c[0] as u128 | (c[1] as u128) << 64).collect();
                assert_eq!(got, want, "skip {skip}, n {n}");
                assert_eq!(a.next_u64(), b.next_u64(), "streams stay in step");
            }
        }
    }

    /// The same stream from the `aes` crate alone (no VAES).
    fn portable(seed: &Seed) -> Prg {
        let mut p = Prg::new(seed);
        #[cfg(target_arch = "x86_64")]
        {
            p.ks.fast = None;
        }
        p
    }

    #[test]
    fn vaes_and_aes_crate_give_one_stream_through_every_call() {
        let s = Seed::from_bytes([0x3c; 16]);
        let (mut a, mut b) = (Prg::new(&s), portable(&s));
        // sizes that leave the buffer at every parity and cross batches
        for n in [1usize, 2, 3, 31, 64, 127, 128, 129, 255, 1000, 4097] {
            assert_eq!(a.gen_u64(n), b.gen_u64(n), "u64 n {n}");
            assert_eq!(a.next_u64(), b.next_u64());
            assert_eq!(a.gen_u128(n), b.gen_u128(n), "u128 n {n}");
            assert_eq!(a.gen_bits(n), b.gen_bits(n));
        }
        assert_eq!(a.fork().gen_u128(77), b.fork().gen_u128(77));
    }

    #[test]
    fn aes_ctr_known_answer() {
        // FIPS-197 appendix C.1 key with plaintext = counter 0 would differ; instead check
        // against the cipher directly: block 0 = AES_k(0^128).
        let key = [0u8; 16];
        let mut p = Prg::new(&Seed::from_bytes(key));
        let first = p.next_u64();
        // AES-128 with all-zero key of the all-zero block is 66e94bd4ef8a2c3b884cfa59ca342b2e.
        assert_eq!(first.to_le_bytes(), [0x66, 0xe9, 0x4b, 0xd4, 0xef, 0x8a, 0x2c, 0x3b]);
    }

    #[test]
    fn bits_are_masked_and_balanced() {
        let mut p = Prg::new(&Seed::from_bytes([1; 16]));
        let v = p.gen_bits(70);
        assert_eq!(v.len(), 2);
        assert_eq!(v[1] >> 6, 0);
        let words = p.gen_u64(1 << 14);
        let ones: u32 = words.iter().map(|w| w.count_ones()).sum();
        let frac = ones as f64 / (64.0 * (1 << 14) as f64);
        assert!((frac - 0.5).abs() < 0.01, "{frac}");
    }

    #[test]
    fn fork_is_deterministic() {
        let s = Seed::from_bytes([3; 16]);
        let mut a = Prg::new(&s);
        let mut b = Prg::new(&s);
        assert_eq!(a.fork().gen_u64(3), b.fork().gen_u64(3));
        assert_eq!(a.next_u64(), b.next_u64());
        assert_eq!(format!("{:?}", s), "Seed(<redacted>)");
    }
}
