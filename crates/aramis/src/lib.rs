//! Aramis: three-party computation with **malicious security with abort**,
//! achieved cryptographically (no trusted hardware), for cryptflow's
//! secure inference (P0 model owner, P1 data owner, P2 helper).
//!
//! # Threat model
//!
//! Three parties, at most one corrupt (honest majority), the corrupt one
//! **malicious**: it may deviate arbitrarily (wrong or malformed messages,
//! inconsistent shares, wrong products, lies in openings). Channels are
//! private and authenticated (TLS in `cryptflow-net`). Guarantee: the honest
//! parties either obtain the correct result, or all abort with
//! [`AramisError::CheatingDetected`] before any output is released; the
//! adversary learns nothing beyond its own inputs and (if no abort) its
//! outputs, except with statistical error below 2^-40 per check (values
//! are checked mod 2^78, see `trunc`) and a masking distance of 2^-39 per
//! truncated element. Not
//! guaranteed: output delivery or fairness (a cheater can always force an
//! abort), and hiding which check failed.
//!
//! # Construction
//!
//! SPDZ-wise replicated secret sharing over Z_2^128 (arithmetic in `u128`,
//! values sign-extended from Z_2^64): a secret `x` is held as replicated
//! shares of `x` and of `alpha * x`, `alpha` a random shared MAC key never
//! opened; products whose results need no MAC (linear layers before their
//! truncation, the daBit's products) are logged instead and checked at the
//! checkpoint against one authenticated operand by Freivalds' weighting
//! ([`bilinear`]). Chida et al. CRYPTO 2018 §3 ported to rings with SPDZ2k (Cramer
//! et al. CRYPTO 2018 §3); Boolean values (comparisons) are XOR-shared
//! packed bits with semi-honest AND gates, each proved at the next
//! checkpoint by a distributed zero-knowledge proof over GF(2^64) (Boneh et
//! al. CRYPTO 2019; Boyle et al. CCS 2019), at most `(4m-1)/2^64` soundness
//! error for `2^(m-1)` gates. See [`protocols`] and `docs/PROTOCOLS.md`.
//!
//! # Modules
//!
//! - [`share`]: [`RShare`] / [`AuthShare`] and local linear operations;
//! - [`party`]: the [`Aramis`] context (seeds, MAC key, flags, verdicts, counters);
//! - [`protocols`]: input, `mul`, `mul_bilinear`, openings, `verify`, `output_to`;
//! - [`bilinear`]: GEMM and convolution with the Freivalds contractions their check uses;
//! - [`trunc`]: probabilistic truncation with masks from the pairwise streams;
//! - [`small`], [`gf64`], `dzkp`: the Boolean domain (XOR-shared packed bits,
//!   AND gates, their distributed sum-check proofs over GF(2^64));
//! - [`compare`]: random bits, daBits, DReLU / ReLU / max;
//! - [`backend`]: the `3pc-malicious` executor backend and its runners;
//! - [`cheat`]: deliberate deviations for tests and `--simulate-cheater`;
//! - [`testing`]: three-thread harness over in-memory channels.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod backend;
pub mod bilinear;
pub mod cheat;
pub mod compare;
pub(crate) mod dzkp;
pub mod error;
pub mod gf64;
pub(crate) mod one_prover;
pub mod party;
pub mod protocols;
mod scratch;
pub mod share;
pub mod small;
pub mod testing;
pub mod trunc;

pub use bilinear::{Bilinear, Conv, Gemm};
pub use cheat::{Cheat, Deviation, Step};
/// The AND-gate proofs run locally (prover and both verifiers in one
/// process), for the benchmark `benches/gf64.rs`; not an API.
#[doc(hidden)]
pub use dzkp::LocalBatch;
pub use error::{AramisError, Result};
pub use party::{Aramis, Counters};
pub use share::{lift, sx, AuthShare, RShare};
