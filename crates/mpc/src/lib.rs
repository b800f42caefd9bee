//! Semi-honest 3-party protocols over 2-out-of-3 replicated secret sharing
//! (the Porthos role in cryptflow).
//!
//! # Threat model
//!
//! Three parties, at most one of them corrupt, and that one semi-honest
//! (follows the protocol, tries to learn from what it sees); no two parties
//! collude (honest majority). Channels are assumed private and authenticated
//! (the TLS transport of `cryptflow-net` provides that). Outputs are secret
//! shared unless a reveal is called. Correctness and privacy do not hold
//! against a malicious party.
//!
//! # Modules
//!
//! - [`prg`]: AES-128-CTR pseudo-random generator;
//! - [`party`]: the per-party context (channel, correlated randomness,
//!   counters);
//! - [`share`]: replicated arithmetic and boolean shares, input and reveal,
//!   local linear operations;
//! - [`mul`]: multiplication, bilinear maps (GEMM, convolution), AND;
//! - [`trunc`]: fixed-point truncation, standalone or fused with a product;
//! - [`compare`]: DReLU, selection (bit injection), ReLU, pairwise max;
//! - [`testing`]: three-thread harness over in-memory channels;
//! - [`backend`]: the `3pc` backend of the executor, and a local runner.
//!
//! Every protocol function is vectorised: its round count is constant in the
//! vector length. See `docs/PROTOCOLS.md` for the costs.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod backend;
pub mod compare;
pub mod error;
pub mod mul;
pub mod party;
pub mod prg;
pub mod share;
pub mod testing;
pub mod trunc;

pub use compare::{b2a, drelu, max_pairwise, msb, relu, select};
pub use error::{MpcError, Result};
pub use mul::{and, mul, mul_bilinear, reshare, ring_gemm_naive};
pub use party::{Counters, Party};
pub use prg::{Prg, Seed};
pub use share::{
    reveal_all, reveal_bits_all, reveal_bits_to, reveal_to, share_input, share_input_bits, AShare, BShare,
};
pub use trunc::{bilinear_trunc, mul_trunc, trunc};
